#!/usr/bin/env bash
# Runs the example app and faroe-worker together in one `wrangler dev` (multi-config): the app
# (examples/app/wrangler.toml, the primary, served on http://localhost:${PORT:-8788}) reaches
# faroe-worker (wrangler.toml) through its FAROE service binding. faroe-worker reads .dev.vars:
# EMAIL_PROVIDER=log prints every email, with its code or temporary password, in this terminal.
# Local state (Durable Objects, KV, D1) lives in .wrangler/example-state.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$PATH"

if [ -f scripts/setup.sh ] && [ "${FAROE_SKIP_SETUP:-}" != "1" ]; then
  bash scripts/setup.sh
fi
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars

# Build when the bundle is missing or older than the Rust sources.
if [ ! -f build/index.js ] || [ -n "$(find src Cargo.toml Cargo.lock -newer build/index.js -print -quit)" ]; then
  echo "example: building faroe-worker"
  bash scripts/build.sh
fi
export FAROE_SKIP_BUILD=1 WRANGLER_SEND_METRICS=false

state=.wrangler/example-state
mkdir -p "$state"
CI=true wrangler d1 migrations apply DB --local --persist-to "$state"

# The app signs its CSRF tokens with APP_SECRET; keep one per checkout so restarts keep forms valid.
if [ ! -s "$state/app-secret" ]; then
  node -e 'process.stdout.write(require("node:crypto").randomBytes(32).toString("hex"))' > "$state/app-secret"
fi

port="${PORT:-8788}"
echo "example: app on http://localhost:$port (faroe-worker behind the FAROE service binding)"
exec wrangler dev \
  -c examples/app/wrangler.toml -c wrangler.toml \
  --ip localhost --port "$port" \
  --persist-to "$state" \
  --var "APP_SECRET:$(cat "$state/app-secret")" \
  "$@"
