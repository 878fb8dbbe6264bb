# The reconciliation daemon (and the notifier and demo generator: same image, other command).
# Two stages: the build stage compiles TypeScript to dist/ with the dev dependencies; the runtime
# stage holds dist/, the files read at run time and the production dependencies only (no tsx, no
# TypeScript, no test tooling). `npm run verify:runtime` does the same without Docker and checks it.

# ---- build: tsc src/ -> dist/ (Lua scripts copied beside the modules that read them) ----
FROM node:20-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
COPY package.json package-lock.json ./
RUN npm ci --include=dev
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/build.mjs
COPY src ./src
RUN node scripts/build.mjs dist

# ---- runtime: production dependencies, dist/, config ----
FROM node:20-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false \
    NPM_CONFIG_AUDIT=false

# --omit=dev, then the devDependencies npm still installs as optional peers of production packages
# (typescript, an optional peer of viem: types only, never loaded at run time) are removed.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev \
    && node -e "for (const n of Object.keys(require('./package.json').devDependencies ?? {})) require('fs').rmSync('node_modules/' + n, { recursive: true, force: true })" \
    && rm -f node_modules/.bin/tsc node_modules/.bin/tsserver \
    && npm cache clean --force

COPY --from=build /app/dist ./dist
# Read at run time relative to dist/: Avro schemas (config/schemas), example and AML rule files,
# the compose configurations.
COPY config ./config
COPY deploy/recon ./deploy/recon

# Writable by the runtime user: the demo (generator service) keeps local state under .data.
RUN mkdir -p /app/.data && chown node:node /app/.data

# Metrics, /healthz and /readyz.
EXPOSE 9464
USER node
# The embedded chdb fallback writes under .data; the compose stack uses the ClickHouse server.
ENV CHDB_PATH=/tmp/chdb

CMD ["node", "--max-semi-space-size=64", "dist/cli/recon.js", "run"]
