#!/usr/bin/env bash
# One command for local development: installs what is missing, builds, applies the D1 schema
# locally and serves on http://localhost:8787 with local Durable Objects, KV and D1, the `log`
# email provider (codes are printed here) and the unauthenticated dev endpoint (.dev.vars).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
bash scripts/build.sh
# Apply the schema to the same local state wrangler dev will use (honours --persist-to).
persist=()
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --persist-to) persist=(--persist-to "${args[$((i + 1))]}") ;;
    --persist-to=*) persist=(--persist-to "${args[$i]#--persist-to=}") ;;
  esac
done
wrangler d1 migrations apply DB --local "${persist[@]}" >/dev/null
FAROE_SKIP_BUILD=1 exec wrangler dev --port 8787 "$@"
