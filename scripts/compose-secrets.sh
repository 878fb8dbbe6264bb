#!/bin/sh
# Prints random passwords for every secret docker-compose.yml requires, as a .env file:
#   scripts/compose-secrets.sh > .env && chmod 600 .env && docker compose up -d
# (.env is ignored by git.) Rotate one by editing .env and recreating the services that use it
# (docs/security.md, "Rotating").
set -eu
pw() { openssl rand -base64 24 | tr -d '/+=' | cut -c1-24; }
for v in NATS_DAEMON_PASSWORD NATS_PRODUCER_PASSWORD NATS_NOTIFIER_PASSWORD NATS_OPS_PASSWORD NATS_DEMO_PASSWORD \
         REDIS_PASSWORD CLICKHOUSE_PASSWORD GF_ADMIN_PASSWORD; do
  echo "$v=$(pw)"
done
