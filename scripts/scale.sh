#!/usr/bin/env bash
# `npm run scale`: builds the bench Worker for the scale run (the `bench` feature, which reports
# each request's subrequests; into target/bench/worker-scale, never build/), then runs
# scripts/bench/scale.mjs, which prints the tables and writes target/bench/scale.json (the input
# of `npm run cost`). Arguments go to scale.mjs: --quick, --sizes 500,1000,2000, --no-hot-key,
# --hot-key-only, --out FILE, --bundle DIR (a prebuilt bundle with the bench feature; no build).
# See docs/benchmarks.md § Scale and docs/cost.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/node_modules/.bin:$HOME/.cargo/bin:$PATH"
case " $* " in
  *" --bundle "*) ;;
  *)
    out=target/bench/worker-scale
    if [ "${BENCH_REBUILD:-}" = "1" ] || [ ! -e "$out/index_bg.wasm" ] ||
      [ -n "$(find src .cargo Cargo.toml Cargo.lock -newer "$out/index_bg.wasm" -print -quit)" ]; then
      echo "scale: building the bench Worker into $out" >&2
      mkdir -p target/bench
      FAROE_SKIP_BUILD= FAROE_OUT_DIR="$out" FAROE_FEATURES=bench bash scripts/build.sh \
        >target/bench/worker-scale.build.log 2>&1 || { cat target/bench/worker-scale.build.log >&2; exit 1; }
    fi
    ;;
esac
exec node --no-warnings scripts/bench/scale.mjs "$@"
