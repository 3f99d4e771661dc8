#!/usr/bin/env bash
# `npm run bench`: builds everything the benchmarks need under target/bench/ (the deployable
# build/ is never touched), then runs scripts/bench/run.mjs, which measures side by side and
# prints one table. It never fails because something is slow; it fails only if a build or a
# benchmark cannot run at all. See docs/benchmarks.md.
#
# Environment knobs (defaults in brackets):
#   BENCH_RUNS [7]         timed runs per hash measurement (median reported)
#   BENCH_DURATION [10]    seconds per endpoint load run
#   BENCH_CONNECTIONS [10] concurrent connections per endpoint load run
#   BENCH_VARIANTS ["O3 nosimd s z"]  wasm builds to compare in Node (O3 is required)
#   BENCH_REBUILD=1        rebuild even when the outputs are newer than the sources
#   BENCH_ONLY=hash        only the Argon2id figures (native, Node, workerd): no endpoints, memory
#                          or bundle sizes
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# shellcheck source=scripts/bench/build-lib.sh
source scripts/bench/build-lib.sh
variants="${BENCH_VARIANTS:-O3 nosimd s z}"
case " $variants " in *" O3 "*) ;; *) variants="O3 $variants" ;; esac

log "building the native benchmark (release)"
cargo build --quiet --release --example bench_native

for v in $variants; do build_node "$v"; done
# Bench Worker for workerd (release profile, bench routes), and without simd128 for comparison.
build_worker O3 worker-bench bench
case " $variants " in *" nosimd "*) build_worker nosimd worker-bench-nosimd bench ;; esac
# Deployable bundles (no bench feature) for the size figures, at each opt-level.
if [ "${BENCH_ONLY:-}" != hash ]; then
  for v in $variants; do
    case "$v" in O3 | s | z) build_worker "$v" "bundle-$v" "" ;; esac
  done
fi

export BENCH_OUT="$out" BENCH_VARIANTS_BUILT="$variants"
exec node scripts/bench/run.mjs
