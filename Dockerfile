# The reconciliation daemon (and the demo generator: same image, other command).
# TypeScript runs through tsx, so the image installs the dev dependencies too; no build step.
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# Dependencies first, so source edits do not invalidate this layer. --include=dev: tsx runs the
# sources at run time. Falls back to `npm install` only if the lock file is out of sync.
COPY package.json package-lock.json ./
RUN npm ci --include=dev || (echo "npm ci failed: package-lock.json out of sync? falling back to npm install" >&2 \
      && npm install --include=dev) \
    && npm cache clean --force

COPY tsconfig.json ./
COPY src ./src
COPY config ./config
COPY contracts ./contracts
COPY deploy/recon ./deploy/recon

# Metrics, /healthz and /readyz.
# Writable by the runtime user: the demo (generator service) keeps local state under .data.
RUN mkdir -p /app/.data && chown node:node /app/.data

EXPOSE 9464
USER node
# The embedded chdb fallback writes under .data; the compose stack uses the ClickHouse server.
ENV CHDB_PATH=/tmp/chdb

CMD ["node", "--max-semi-space-size=64", "--import", "tsx", "src/cli/recon.ts", "run"]
