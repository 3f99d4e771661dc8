// The measuring half of `npm run calibrate` (scripts/calibrate.sh builds the bench Worker first):
// starts the bench Worker in local workerd (wrangler dev, 127.0.0.1 only), times Argon2id through
// its `/__bench/hash` route as calibrate-plan.mjs asks, and prints the table and the recommended
// PASSWORD_HASH_ALGORITHMS / TEMPORARY_PASSWORD_HASH_ALGORITHM values. See docs/benchmarks.md.
import { parseArgs } from "node:util";
import { cpus, loadavg } from "node:os";
import { join } from "node:path";
import { root } from "../wrangler-dev.mjs";
import { median, startWorker, workerdCpuMs } from "./workerd.mjs";
import { DEFAULT_USER_PASSWORD_ALGORITHM, MAX_ITERATIONS, MAX_MEMORY_KIB, algorithmId, meetsOwasp, nextStep, normalizeOptions } from "./calibrate-plan.mjs";

const USAGE = `npm run calibrate -- [options]
  --target-ms N            time per password hash to aim for (default 250)
  --temporary-target-ms N  the same for temporary passwords (default a quarter of --target-ms)
  --max-memory-mib N       the most memory per hash (default 96, the Worker's bound)
  --below-owasp            also consider settings below OWASP's minimum (the Worker refuses them;
                           this only shows what would fit)
  --runs N                 timed requests per setting (default 5; median reported)
  --max-measurements N     settings measured at most, both searches together (default 16)
  --budget-seconds N       stop measuring after this long (default 150)
  --measure ID[,ID...]     only time these algorithm ids, no search
  --json                   print the results as JSON too`;

const options = {
  "target-ms": { type: "string", default: "250" },
  "temporary-target-ms": { type: "string" },
  "max-memory-mib": { type: "string", default: String(MAX_MEMORY_KIB / 1024) },
  "below-owasp": { type: "boolean", default: false },
  runs: { type: "string", default: "5" },
  "max-measurements": { type: "string", default: "16" },
  "budget-seconds": { type: "string", default: "150" },
  measure: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
};
let args;
try {
  ({ values: args } = parseArgs({ options }));
} catch (e) {
  console.error(`calibrate: ${e.message}\n\n${USAGE}`);
  process.exit(2);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const log = (...a) => console.error("calibrate:", ...a);
const fail = (message) => {
  console.error(`calibrate: ${message}\n\n${USAGE}`);
  process.exit(2);
};
const number = (name) => {
  const n = Number(args[name]);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number`);
  return n;
};
const targetMs = number("target-ms");
const temporaryTargetMs = args["temporary-target-ms"] === undefined ? targetMs / 4 : number("temporary-target-ms");
const maxMemoryKiB = Math.round(number("max-memory-mib") * 1024);
const RUNS = Math.round(number("runs"));
const maxMeasurements = Math.round(number("max-measurements"));
const budgetMs = number("budget-seconds") * 1000;
const search = { maxMemoryKiB, belowOwasp: args["below-owasp"], maxMeasurements };
let onlyIds = null;
try {
  normalizeOptions({ ...search, targetMs });
  normalizeOptions({ ...search, targetMs: temporaryTargetMs });
  if (args.measure) {
    onlyIds = args.measure.split(",").map((id) => {
      const m = /^argon2id\.([1-9]\d*)\.([1-9]\d*)\.1\.32$/.exec(id.trim());
      if (!m) throw new Error(`--measure takes ids like argon2id.65536.3.1.32 (one lane, 32-byte tag), not "${id}"`);
      const setting = { memoryKiB: Number(m[1]), iterations: Number(m[2]) };
      if (setting.memoryKiB < 8 || setting.memoryKiB > MAX_MEMORY_KIB || setting.iterations > MAX_ITERATIONS) {
        throw new Error(`--measure: ${id} is outside the Worker's bounds (8 KiB to 96 MiB, t=1 to ${MAX_ITERATIONS})`);
      }
      return setting;
    });
  }
} catch (e) {
  fail(e.message);
}

/** Hashes per timed request: about this many ms of hashing, so the request's own cost weighs little. */
const BATCH_MS = 300;
const out = process.env.BENCH_OUT ?? join(root, "target", "bench");

/** Median wall time of a request that does nothing: subtracted from every hash request. */
async function baselineMs(url) {
  const runs = [];
  for (let i = 0; i < 12; i++) {
    const start = performance.now();
    const r = await fetch(`${url}/__bench/baseline`);
    await r.text();
    if (i >= 2) runs.push(performance.now() - start);
  }
  return median(runs);
}

/**
 * One setting: a warm-up request with one hash (it also grows the kept block buffer), then RUNS
 * requests of `count` hashes each. Per hash: (request wall time − baseline) / count; CPU: the
 * workerd processes' CPU time over the timed requests / hashes.
 */
async function measure(worker, baseline, { memoryKiB, iterations }) {
  const id = algorithmId(memoryKiB, iterations);
  const request = async (count) => {
    const start = performance.now();
    const r = await fetch(`${worker.url}/__bench/hash?algorithm=${id}&count=${count}`);
    const body = await r.text();
    if (r.status !== 200 || JSON.parse(body).hashes !== count) throw new Error(`${id}: HTTP ${r.status}: ${body}`);
    return Math.max(0, performance.now() - start - baseline) / count;
  };
  const first = await request(1);
  const count = Math.min(16, Math.max(1, Math.round(BATCH_MS / Math.max(first, 1))));
  const runs = [];
  const cpuBefore = await workerdCpuMs(worker.pgid);
  for (let i = 0; i < RUNS; i++) runs.push(await request(count));
  const cpuMs = ((await workerdCpuMs(worker.pgid)) - cpuBefore) / (RUNS * count);
  const m = { memoryKiB, iterations, medianMs: median(runs), minMs: Math.min(...runs), maxMs: Math.max(...runs), cpuMs, hashesPerRequest: count, firstMs: first };
  log(`${id}: median ${m.medianMs.toFixed(1)} ms (${m.minMs.toFixed(1)}–${m.maxMs.toFixed(1)}), workerd CPU ${cpuMs.toFixed(1)} ms per hash`);
  return m;
}

const f1 = (x) => x.toFixed(1);
const mib = (kib) => (kib % 1024 ? (kib / 1024).toFixed(2) : String(kib / 1024));

function printTable(measurements, target) {
  console.log(`| algorithm id | memory MiB | t | hashes/request | median ms | min–max ms | workerd CPU ms/hash | OWASP | ≤ ${target} ms |`);
  console.log("|---|---|---|---|---|---|---|---|---|");
  for (const m of measurements) {
    console.log(`| \`${algorithmId(m.memoryKiB, m.iterations)}\` | ${mib(m.memoryKiB)} | ${m.iterations} | ${m.hashesPerRequest} | ${f1(m.medianMs)} | ${f1(m.minMs)}–${f1(m.maxMs)} | ${f1(m.cpuMs)} | ${meetsOwasp(m.memoryKiB, m.iterations) ? "yes" : "no"} | ${m.medianMs <= target ? "yes" : "no"} |`);
  }
}

const started = Date.now();
const measurements = [];
const results = { started: new Date(started).toISOString(), cpu: cpus()[0]?.model ?? "?", nproc: cpus().length, loadavg_start: loadavg() };
log(`starting the bench Worker in local workerd (${join(out, "worker-bench")})`);
const worker = await startWorker(join(out, "worker-bench"), { EMAIL_PROVIDER: "log" });
try {
  const baseline = await baselineMs(worker.url);
  results.baseline_ms = baseline;
  log(`a request that does nothing: ${baseline.toFixed(1)} ms (subtracted from every figure)`);
  const measured = async (setting) => {
    const known = measurements.find((m) => m.memoryKiB === setting.memoryKiB && m.iterations === setting.iterations);
    if (known) return known;
    const m = await measure(worker, baseline, setting);
    measurements.push(m);
    return m;
  };
  if (onlyIds) {
    for (const setting of onlyIds) await measured(setting);
  } else {
    // Both searches share the measurements; the time budget ends either one where it stands.
    const run = async (target) => {
      for (;;) {
        const outOfTime = Date.now() - started > budgetMs;
        const step = nextStep({ ...search, targetMs: target, maxMeasurements: outOfTime ? Math.max(1, measurements.length) : search.maxMeasurements }, measurements);
        if (step.done) return outOfTime && step.reason.startsWith("stopped after") ? { ...step, reason: `${step.reason} (time budget of ${budgetMs / 1000} s used up)` } : step;
        await measured(step.measure);
      }
    };
    results.user = await run(targetMs);
    results.temporary = await run(temporaryTargetMs);
  }
} finally {
  await worker.stop();
}
results.measurements = measurements;
results.loadavg_end = loadavg();
results.seconds = (Date.now() - started) / 1000;

console.log("");
console.log(`Argon2id (p=1, 32-byte tag) in local workerd, bench Worker (release, kept block buffer); ms per hash, median of ${RUNS} requests minus an empty request's ${f1(results.baseline_ms)} ms`);
console.log(`machine: ${results.nproc} CPUs, ${results.cpu}; load average at start ${results.loadavg_start.map(f1).join(" ")}, at end ${results.loadavg_end.map(f1).join(" ")}; ${results.seconds.toFixed(0)} s`);
console.log("");
printTable(measurements, targetMs);
if (!onlyIds) {
  const describe = (label, target, step) => {
    console.log("");
    if (step.recommended) {
      const r = step.recommended;
      console.log(`${label} (target ${target} ms): ${r.id} — ${mib(r.memoryKiB)} MiB, t=${r.iterations}, ${f1(r.medianMs)} ms here (${step.reason})`);
      if (!r.meetsOwasp) console.log("  below OWASP's minimum: the Worker refuses it; shown only because of --below-owasp");
    } else {
      console.log(`${label} (target ${target} ms): nothing allowed fits: ${step.reason}`);
    }
  };
  describe("user passwords", targetMs, results.user);
  describe("temporary passwords", temporaryTargetMs, results.temporary);
  const user = results.user.recommended;
  const temporary = results.temporary.recommended;
  if (user?.meetsOwasp && temporary?.meetsOwasp) {
    console.log("");
    // Hashes made with the defaults must still verify: the default id stays in the list, after
    // the new first one. Any other ids used before belong there too.
    const verifying = user.id === DEFAULT_USER_PASSWORD_ALGORITHM ? "" : `,${DEFAULT_USER_PASSWORD_ALGORITHM}`;
    console.log("Recommended (wrangler.toml [vars]; after the first id, list every id used before so existing hashes still verify):");
    console.log(`  PASSWORD_HASH_ALGORITHMS = "${user.id}${verifying}"`);
    console.log(`  TEMPORARY_PASSWORD_HASH_ALGORITHM = "${temporary.id}"`);
  }
  const slowest = Math.max(user?.medianMs ?? 0, temporary?.medianMs ?? 0);
  console.log("");
  console.log(`These are this machine's times in local workerd, not Cloudflare's edge CPUs; the Workers Free plan allows 10 ms of CPU per request${slowest > 10 ? `, which the recommended settings (${f1(slowest)} ms here) exceed` : ""}.`);
}
if (args.json) console.log(JSON.stringify(results));
