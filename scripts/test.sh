#!/usr/bin/env bash
# Sets up a fresh machine and runs every test: the core natively, the same tests in wasm (Node), then
# the built Worker end to end in workerd, then the js/ package and the example app in Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each step says how long the previous one took (bash's SECONDS), so CI logs show where time goes.
step_started=$SECONDS
step() {
  if [ -n "${step_name:-}" ]; then echo "== ${step_name}: $((SECONDS - step_started)) s"; fi
  step_name="$1"
  step_started=$SECONDS
  echo "== $1"
}
step "setup"
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"

step "cargo test (core, native)"
cargo test --all-targets
step "cargo build --target wasm32-unknown-unknown (core + Worker glue)"
cargo build --target wasm32-unknown-unknown
step "wasm-pack test --node (the same unit and conformance tests, compiled to wasm, in Node)"
wasm-pack test --node
step "Worker bundles (worker-build --release; build-test adds the test-only fault switches and the bench counters)"
bash scripts/build.sh
FAROE_FEATURES=test-faults,bench FAROE_OUT_DIR=build-test bash scripts/build.sh
step "end-to-end in workerd (wrangler dev, @faroe/client)"
npm run --silent test:e2e
if [ -f js/package.json ]; then
  # The browser test installs Debian's chromium itself when it is missing.
  step "js/ client and example app (Node test runner, Chromium)"
  npm run --silent test:js
fi
step "done"
