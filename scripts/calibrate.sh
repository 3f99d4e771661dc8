#!/usr/bin/env bash
# `npm run calibrate`: measures Argon2id in local workerd (the bench Worker under target/bench, the
# same bundle `npm run bench` uses; build/ is never touched) and recommends parameters for a target
# time per hash, like Kratos's `hashers argon2 calibrate`. See docs/benchmarks.md, "Calibration".
# Arguments go to scripts/bench/calibrate.mjs (`npm run calibrate -- --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export BENCH_LOG_PREFIX=calibrate
# shellcheck source=scripts/bench/build-lib.sh
source scripts/bench/build-lib.sh
build_worker O3 worker-bench bench
export BENCH_OUT="$out"
exec node scripts/bench/calibrate.mjs "$@"
