// Argon2id in Node, run by scripts/bench/run.mjs in a child process of its own:
//   node node-hash.mjs time '<json config>'   → timings of the project's wasm builds and hash-wasm
//   node node-hash.mjs memory <pkg dir> <sync|fresh> <id,id,…> [planned id,id,…]
//                                                            → wasm linear memory after each hash
//   node --allow-natives-syntax node-hash.mjs trap-handler   → whether V8 guards wasm memory with
//                                                            its trap handler in this process
// Prints one JSON object on stdout.
import { createRequire } from "node:module";
import { argon2id } from "hash-wasm";

const require = createRequire(import.meta.url);
const PASSWORD = "benchmark-password";

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const n = v.length;
  return n % 2 ? v[(n - 1) / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

function numbers(id) {
  const [, m, t, p, len] = id.split(".").map(Number);
  return { m, t, p, len };
}

function hashWasmHash(id) {
  const { m, t, p, len } = numbers(id);
  const salt = new Uint8Array(16);
  globalThis.crypto.getRandomValues(salt);
  return argon2id({
    password: PASSWORD,
    salt,
    parallelism: p,
    iterations: t,
    memorySize: m,
    hashLength: len,
    outputType: "binary",
  });
}

async function time(fn) {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/**
 * Each implementation is timed round-robin (one call of each in turn) so drift and background load
 * hit them alike: a first call in a fresh instance, `warmup` untimed calls, then `runs` timed.
 */
async function timeAll({ variants, algorithms, runs, warmup, fresh, hashWasm = true, crates = true }) {
  const impls = [];
  for (const { name, dir } of variants) {
    const pkg = require(`${dir}/faroe_worker.js`);
    impls.push({ name, call: (id) => pkg.bench_hash(id) });
    if (fresh && name === "O3") {
      // Same instance: the fresh path allocates its own buffer per call and leaves the kept one be.
      impls.push({ name: "O3-fresh", call: (id) => pkg.bench_hash_fresh(id) });
    }
    if (name === "O3" && crates) {
      // The maintained crates in the same build (simd128): argon2-rust (its simd128 fill, pooled
      // arena wiped after each hash) and RustCrypto's argon2 (kept buffer, autovectorised).
      impls.push({ name: "O3-argon2-rust", call: (id) => pkg.bench_hash_argon2_rust(id) });
      impls.push({ name: "O3-argon2-crate", call: (id) => pkg.bench_hash_argon2_crate(id) });
    }
    if (name === "nosimd" && pkg.bench_hash_argon2_crate) {
      // The argon2 crate in a build without simd128: the wasm hashing before src/argon2id.rs.
      impls.push({ name: "nosimd-crate", call: (id) => pkg.bench_hash_argon2_crate(id) });
    }
  }
  if (hashWasm) impls.push({ name: "hash-wasm", call: (id) => hashWasmHash(id) });
  // Every build must compute the same Argon2id as hash-wasm before its time means anything.
  const check = "argon2id.256.2.1.32";
  const { m, t, p, len } = numbers(check);
  const expected = await argon2id({ password: PASSWORD, salt: "fixed-salt-0123456", parallelism: p, iterations: t, memorySize: m, hashLength: len, outputType: "hex" });
  for (const { name, dir } of variants) {
    const pkg = require(`${dir}/faroe_worker.js`);
    const got = pkg.bench_hash_hex(check, PASSWORD, "fixed-salt-0123456");
    if (got !== expected) throw new Error(`${name}: ${check} gives ${got}, hash-wasm ${expected}`);
    if (name === "O3" && crates) {
      const rust = pkg.bench_hash_hex_argon2_rust(check, PASSWORD, "fixed-salt-0123456");
      if (rust !== expected) throw new Error(`argon2-rust: ${check} gives ${rust}, hash-wasm ${expected}`);
    }
  }
  const result = {};
  for (const id of algorithms) {
    const first = {};
    const samples = Object.fromEntries(impls.map((i) => [i.name, []]));
    for (const impl of impls) first[impl.name] = await time(() => impl.call(id));
    for (let i = 0; i < warmup; i++) for (const impl of impls) await impl.call(id);
    for (let i = 0; i < runs; i++) {
      for (const impl of impls) samples[impl.name].push(await time(() => impl.call(id)));
    }
    result[id] = Object.fromEntries(
      impls.map((i) => [i.name, { first_ms: first[i.name], median_ms: median(samples[i.name]), runs_ms: samples[i.name] }]),
    );
  }
  return result;
}

/**
 * Linear memory of a fresh instance before and after each hash of a sequence of algorithm ids;
 * with `planned` (ids), the kept block buffer is first sized for them, as the Worker does.
 */
function memory(dir, mode, sequence, planned) {
  const pkg = require(`${dir}/faroe_worker.js`);
  const hash = mode === "fresh" ? pkg.bench_hash_fresh : pkg.bench_hash;
  if (planned) pkg.bench_plan_block_memory(planned);
  const before = pkg.bench_memory_bytes();
  const steps = [];
  for (const id of sequence) {
    hash(id);
    steps.push({ id, memory_bytes: pkg.bench_memory_bytes() });
  }
  return { mode, before_bytes: before, steps, peak_bytes: Math.max(...steps.map((s) => s.memory_bytes)) };
}

const [mode, ...args] = process.argv.slice(2);
let out;
if (mode === "time") out = await timeAll(JSON.parse(args[0]));
else if (mode === "memory") out = memory(args[0], args[1], args[2].split(","), args[3]);
// `%`-syntax only parses under --allow-natives-syntax, so it is compiled only in this mode.
else if (mode === "trap-handler") out = { trap_handler: new Function("return %IsWasmTrapHandlerEnabled()")() };
else throw new Error(`unknown mode ${mode}`);
process.stdout.write(JSON.stringify(out) + "\n");
