#!/usr/bin/env bash
# Builds the Worker bundle (build/index.js + build/index_bg.wasm) fully offline: worker-build is
# pointed at the local wasm-bindgen (installed by scripts/setup.sh at Cargo.lock's version),
# binaryen's wasm-opt and esbuild from node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# Test runners build once and then start wrangler many times.
out_dir="${FAROE_OUT_DIR:-build}"
# build/ is what `wrangler deploy` uploads (wrangler.toml's main): the bench routes and the test
# fault switches must never be compiled into it. Those variants go to their own directories.
features=",${FAROE_FEATURES:-},"
features="${features// /,}"
# Cargo also takes a feature as `<package>/<feature>`.
features="${features//,faroe-worker\//,}"
features="${features//,faroe_worker\//,}"
if [ "$(realpath -m "$out_dir")" = "$(realpath -m build)" ]; then
  for forbidden in bench test-faults; do
    if [[ "$features" == *",$forbidden,"* ]]; then
      echo "build.sh: refusing to build the '$forbidden' feature into build/, the directory" \
        "wrangler deploy uploads; set FAROE_OUT_DIR to another directory" >&2
      exit 1
    fi
  done
fi
if [ "${FAROE_SKIP_BUILD:-}" = "1" ] && [ -f "$out_dir/index.js" ]; then exit 0; fi
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$(command -v wasm-bindgen)}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
# FAROE_OUT_DIR / FAROE_FEATURES build variants (the test-faults bundle for the end-to-end fault
# tests, the bench bundle) next to the deployable build/.
args=(--release --out-dir "$out_dir")
if [ -n "${FAROE_FEATURES:-}" ]; then
  args+=(--features "$FAROE_FEATURES")
fi
exec worker-build "${args[@]}"
