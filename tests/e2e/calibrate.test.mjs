// The parameter search of `npm run calibrate` (scripts/bench/calibrate-plan.mjs) on synthetic
// measurements: no Worker, no timing. Each test runs the search against a model machine (ms per
// hash as a function of memory and iterations) and checks what it measures and recommends.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DEFAULT_USER_PASSWORD_ALGORITHM, MAX_ITERATIONS, MAX_MEMORY_KIB, OWASP_MINIMUMS, algorithmId, meetsOwasp, nextStep, normalizeOptions, owaspMinIterations,
} from "../../scripts/bench/calibrate-plan.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Runs the search to the end against `machine(memoryKiB, iterations) → ms`. */
function calibrate(options, machine) {
  const measurements = [];
  for (let guard = 0; guard < 100; guard++) {
    const step = nextStep(options, measurements);
    if (step.done) return { step, measured: measurements.map((m) => algorithmId(m.memoryKiB, m.iterations)), measurements };
    const { memoryKiB, iterations } = step.measure;
    assert.ok(!measurements.some((m) => m.memoryKiB === memoryKiB && m.iterations === iterations), "measures a setting twice");
    measurements.push({ memoryKiB, iterations, medianMs: machine(memoryKiB, iterations) });
  }
  assert.fail("the search did not stop within 100 steps");
}

/** A machine where time is proportional to memory × iterations: 64 MiB at t=3 takes `ms64x3`. */
const linear = (ms64x3, overheadMs = 0) => (memoryKiB, iterations) => overheadMs + (ms64x3 * memoryKiB * iterations) / (65536 * 3);

test("the search's bounds and OWASP minimums are the ones src/password.rs enforces", () => {
  const rust = readFileSync(join(root, "src", "password.rs"), "utf8");
  const maxMemory = /pub const MAX_MEMORY_KIB: u32 = ([\d *]+);/.exec(rust)[1].split("*").reduce((a, b) => a * Number(b), 1);
  assert.equal(MAX_MEMORY_KIB, maxMemory);
  assert.equal(MAX_ITERATIONS, Number(/pub const MAX_ITERATIONS: u32 = (\d+);/.exec(rust)[1]));
  const owasp = /pub const OWASP_MINIMUMS: [^=]+=([^;]+);/.exec(rust)[1];
  const pairs = [...owasp.matchAll(/\((\d+), (\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  assert.deepEqual(OWASP_MINIMUMS, pairs);
  assert.equal(DEFAULT_USER_PASSWORD_ALGORITHM, /pub const DEFAULT_USER_PASSWORD_ALGORITHM: &str = "([^"]+)";/.exec(rust)[1]);
  assert.equal(owaspMinIterations(65536), 1);
  assert.equal(owaspMinIterations(47103), 2);
  assert.equal(owaspMinIterations(19456), 2);
  assert.equal(owaspMinIterations(16384), 3);
  assert.equal(owaspMinIterations(7168), 5);
  assert.equal(owaspMinIterations(7167), null);
  assert.ok(meetsOwasp(19456, 2) && !meetsOwasp(19455, 2) && !meetsOwasp(16384, 2));
});

test("at the largest memory, iterations rise until the next one would miss the target", () => {
  // 64 MiB t=3 = 100 ms, so 96 MiB costs 50 ms per pass: t=5 is 250 ms, t=6 300 ms.
  const { step, measured } = calibrate({ targetMs: 250 }, linear(100));
  assert.deepEqual(measured, [1, 2, 3, 4, 5, 6].map((t) => algorithmId(98304, t)));
  assert.equal(step.recommended.id, "argon2id.98304.5.1.32");
  assert.equal(step.recommended.medianMs, 250);
  assert.equal(step.recommended.meetsOwasp, true);
  assert.match(step.reason, /t=6 took 300\.0 ms/);
});

test("the memory limit caps the search and an iteration predicted far over the target is not measured", () => {
  // 64 MiB costs 100 ms per pass: t=1 100, t=2 200 fit 250; t=3 (300 ms) is within 1.5× and measured.
  const { step, measured } = calibrate({ targetMs: 250, maxMemoryKiB: 65536 }, linear(300));
  assert.deepEqual(measured, ["argon2id.65536.1.1.32", "argon2id.65536.2.1.32", "argon2id.65536.3.1.32"]);
  assert.equal(step.recommended.id, "argon2id.65536.2.1.32");
  // 200 ms per pass: t=2 is predicted at 400 ms, more than 1.5 × 250.
  const skipped = calibrate({ targetMs: 250, maxMemoryKiB: 65536 }, linear(600));
  assert.deepEqual(skipped.measured, ["argon2id.65536.1.1.32"]);
  assert.match(skipped.step.reason, /t=2 is predicted at 400 ms/);
  assert.equal(skipped.step.recommended.id, "argon2id.65536.1.1.32");
});

test("when the largest memory misses the target at t=1, memory comes down to what fits", () => {
  // 96 MiB t=1 = 500 ms: the largest whole MiB predicted within 260 ms is 49 MiB (255 ms), and
  // t=2 there (510 ms) is not worth measuring.
  const { step, measured } = calibrate({ targetMs: 260 }, linear(1000));
  assert.deepEqual(measured, ["argon2id.98304.1.1.32", "argon2id.50176.1.1.32"]);
  assert.equal(step.recommended.id, "argon2id.50176.1.1.32");
  // 96 MiB t=1 = 400 ms, target 160 ms: below 46 MiB OWASP wants t=2, and 19 MiB t=2 (158 ms) is
  // the most memory that fits; t=3 there (237 ms) is measured and misses.
  const twoPasses = calibrate({ targetMs: 160 }, linear(800));
  assert.deepEqual(twoPasses.measured, ["argon2id.98304.1.1.32", "argon2id.19456.2.1.32", "argon2id.19456.3.1.32"]);
  assert.equal(twoPasses.step.recommended.id, "argon2id.19456.2.1.32");
  assert.ok(twoPasses.step.recommended.meetsOwasp);
});

test("a fixed cost per hash the model does not know: the search still ends on a measured fit", () => {
  const machine = linear(100, 40); // 40 ms on top of every hash
  for (const targetMs of [60, 120, 250, 700]) {
    const { step, measurements } = calibrate({ targetMs }, machine);
    assert.ok(step.recommended, `target ${targetMs}`);
    assert.ok(step.recommended.medianMs <= targetMs);
    assert.ok(step.recommended.meetsOwasp);
    assert.ok(measurements.every((m) => meetsOwasp(m.memoryKiB, m.iterations) && m.memoryKiB <= MAX_MEMORY_KIB && m.iterations <= MAX_ITERATIONS));
  }
});

test("when even OWASP's cheapest minimum misses the target, nothing is recommended and nothing below OWASP is measured", () => {
  // 64 MiB t=3 = 100 ms: 7 MiB t=5 is 18.2 ms, over a 10 ms target (the Workers Free plan's CPU).
  const { step, measurements } = calibrate({ targetMs: 10 }, linear(100));
  assert.equal(step.recommended, null);
  assert.equal(step.cheapest.id, "argon2id.7168.5.1.32");
  assert.ok(step.cheapest.medianMs > 10);
  assert.match(step.reason, /cheapest allowed setting, argon2id\.7168\.5\.1\.32/);
  assert.ok(measurements.every((m) => meetsOwasp(m.memoryKiB, m.iterations)));
});

test("with belowOwasp the search may go under OWASP's minimum and says so", () => {
  const { step } = calibrate({ targetMs: 10, belowOwasp: true }, linear(100));
  assert.ok(step.recommended);
  assert.ok(step.recommended.medianMs <= 10);
  assert.equal(step.recommended.meetsOwasp, false);
  // 1 MiB t=1 is the floor: a target nothing reaches ends there.
  const none = calibrate({ targetMs: 0.1, belowOwasp: true }, linear(100));
  assert.equal(none.step.recommended, null);
  assert.equal(none.step.cheapest.id, "argon2id.1024.1.1.32");
});

test("on a fast machine the iterations stop at the Worker's bound", () => {
  const { step, measured } = calibrate({ targetMs: 250 }, linear(10));
  assert.equal(step.recommended.id, `argon2id.98304.${MAX_ITERATIONS}.1.32`);
  assert.equal(measured.length, MAX_ITERATIONS);
  assert.match(step.reason, /iteration bound/);
});

test("the measurement limit stops the search with the best fit measured so far", () => {
  const { step, measured } = calibrate({ targetMs: 250, maxMeasurements: 3 }, linear(100));
  assert.equal(measured.length, 3);
  assert.equal(step.recommended.id, "argon2id.98304.3.1.32");
  assert.match(step.reason, /stopped after 3 measurements/);
  const nothingYet = calibrate({ targetMs: 250, maxMeasurements: 1 }, linear(1000));
  assert.equal(nothingYet.step.recommended, null);
});

test("options the Worker could never use are refused", () => {
  assert.throws(() => normalizeOptions({ targetMs: 0 }), /positive/);
  assert.throws(() => normalizeOptions({ targetMs: 250, maxMemoryKiB: MAX_MEMORY_KIB + 1024 }), /at most 98304/);
  assert.throws(() => normalizeOptions({ targetMs: 250, maxMemoryKiB: 4096 }), /OWASP/);
  assert.equal(normalizeOptions({ targetMs: 250, maxMemoryKiB: 4096, belowOwasp: true }).maxMemoryKiB, 4096);
  assert.throws(() => nextStep({ targetMs: 250, maxMemoryKiB: 1.5 }, []), /whole number/);
});
