#!/usr/bin/env bash
# WebAuthn verification cost: natively (examples/bench_webauthn.rs) and in local workerd for the
# Rust-crates and the WebCrypto designs (scripts/bench/webauthn.mjs). See docs/extensions.md,
# "Passkeys: verification dependencies". build/ is never touched.
set -euo pipefail
cd "$(dirname "$0")/../.."
export BENCH_LOG_PREFIX=webauthn
# shellcheck source=scripts/bench/build-lib.sh
source scripts/bench/build-lib.sh
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "## native (release)"
cargo run --quiet --release --example bench_webauthn
build_worker O3 worker-bench bench
echo "## workerd (bench Worker, wrangler dev)"
echo "| algorithm | what | wall µs per verification | workerd CPU µs per verification |"
echo "|---|---|---|---|"
node scripts/bench/webauthn.mjs
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
