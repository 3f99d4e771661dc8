#!/usr/bin/env bash
# Installs everything the project needs on a fresh machine, skipping what is already in place:
# the wasm32 target, wasm-bindgen-cli at exactly Cargo.lock's wasm-bindgen version, worker-build,
# wasm-pack (all from crates.io), and the npm packages (Node 22, wrangler, binaryen, esbuild).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

rustup target add wasm32-unknown-unknown >/dev/null

lock_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}
[ -f Cargo.lock ] || cargo generate-lockfile
wbg_version="$(lock_version wasm-bindgen)"
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$wbg_version" ]; then
  echo "setup: installing wasm-bindgen-cli $wbg_version"
  cargo install wasm-bindgen-cli --version "=$wbg_version" --force
fi
if ! command -v worker-build >/dev/null; then
  echo "setup: installing worker-build"
  cargo install worker-build --version "^0.8.7"
fi
if ! command -v wasm-pack >/dev/null; then
  echo "setup: installing wasm-pack"
  cargo install wasm-pack
fi

if [ ! -x node_modules/.bin/wrangler ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  # `npm install` rather than `npm ci`: the lock cannot list workerd's macOS/Windows builds (the
  # registry mirror lacks them), which `npm ci` refuses; install still honours the lock.
  npm install --no-audit --no-fund
fi
[ -f .dev.vars ] || cp .dev.vars.example .dev.vars
if ! grep -q '^DEVELOPMENT_MODE=true' .dev.vars; then
  echo "setup: .dev.vars has no DEVELOPMENT_MODE=true, so the Worker refuses EMAIL_PROVIDER=log" \
    "and ALLOW_UNAUTHENTICATED_ENDPOINT=true; compare it with .dev.vars.example" >&2
fi
echo "setup: done"
