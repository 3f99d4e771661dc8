// CPU per WebAuthn assertion verification inside local workerd, for the two designs of
// docs/extensions.md ("Passkeys: verification dependencies"): Rust crates in wasm, or WebCrypto
// (crypto.subtle) from the Worker.
//
//   bash scripts/bench/webauthn.sh      (builds target/bench/worker-bench, then runs this)
//
// Serves target/bench/worker-bench (the Worker with the `bench` feature) under wrangler dev on
// 127.0.0.1 and requests GET /__bench/webauthn?algorithm=…&via=…&count=N. Timers inside a Worker
// do not advance during computation, so each figure is taken from outside: per verification =
// (median wall time of a request with N verifications − median of the same request with 0) ÷ N,
// and the workerd processes' CPU time (/proc) over those requests, with the count=0 requests'
// CPU subtracted, ÷ the verifications.

import { join } from "node:path";
import { root } from "../wrangler-dev.mjs";
import { median, startWorker, workerdCpuMs } from "./workerd.mjs";

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const COUNT = Number(process.env.BENCH_WEBAUTHN_COUNT ?? 200);
const ALGORITHMS = ["ES256", "EdDSA", "RS256"];
const VIAS = [
  ["rust", "Rust, whole assertion (JSON, COSE key, client data, flags, signature, counter)"],
  ["rust-signature", "Rust, signature alone (PublicKey::verify)"],
  ["subtle", "crypto.subtle importKey + verify (signature alone)"],
  ["subtle-verify", "crypto.subtle verify with the key imported once"],
];

async function timed(url) {
  const start = performance.now();
  const response = await fetch(url);
  const body = await response.text();
  const ms = performance.now() - start;
  if (response.status !== 200) throw new Error(`${url}: HTTP ${response.status} ${body}`);
  return ms;
}

const worker = await startWorker(join(root, "target", "bench", "worker-bench"), {});
const rows = [];
try {
  for (const algorithm of ALGORITHMS) {
    for (const [via, label] of VIAS) {
      const url = (count) =>
        `${worker.url}/__bench/webauthn?algorithm=${algorithm}&via=${via}&count=${count}`;
      await timed(url(COUNT)); // warm-up: compile, first import, caches
      const empty = [];
      const full = [];
      let emptyCpu = 0;
      let fullCpu = 0;
      for (let i = 0; i < RUNS; i++) {
        let cpu = await workerdCpuMs(worker.pgid);
        empty.push(await timed(url(0)));
        emptyCpu += (await workerdCpuMs(worker.pgid)) - cpu;
        cpu = await workerdCpuMs(worker.pgid);
        full.push(await timed(url(COUNT)));
        fullCpu += (await workerdCpuMs(worker.pgid)) - cpu;
      }
      const wallUs = ((median(full) - median(empty)) / COUNT) * 1000;
      const cpuUs = ((fullCpu - emptyCpu) / (RUNS * COUNT)) * 1000;
      rows.push({ algorithm, via, label, wallUs, cpuUs });
      console.log(`| ${algorithm} | ${label} | ${wallUs.toFixed(1)} | ${cpuUs.toFixed(1)} |`);
    }
  }
} finally {
  await worker.stop();
}
console.log(`\n${COUNT} verifications per request, ${RUNS} runs; wall = (median(N) − median(0)) ÷ N;`
  + " CPU = workerd user+system time from /proc (10 ms ticks), count=0 requests subtracted.");
console.log(JSON.stringify(rows));
