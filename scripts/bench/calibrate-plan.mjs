// The parameter search of `npm run calibrate`, kept free of I/O so it can be tested on synthetic
// measurements (scripts/bench/calibrate.test.mjs). calibrate.mjs measures whatever `nextStep` asks
// for and calls it again with the new measurement, until it answers `done`.
//
// Method (after Kratos's `hashers argon2 calibrate`): memory first, then time. Start at the largest
// memory allowed with the fewest iterations OWASP accepts for it; while that takes longer than the
// target, move to the largest memory a linear model (time ∝ memory × iterations, fitted to the last
// measurement) predicts to fit, down to OWASP's floor. With the memory fixed, raise the iterations
// one at a time while the measured median stays within the target.

/** Bounds `Argon2id::new` enforces (src/password.rs: MAX_MEMORY_KIB, MAX_ITERATIONS). */
export const MAX_MEMORY_KIB = 96 * 1024;
export const MAX_ITERATIONS = 10;
/** src/password.rs OWASP_MINIMUMS: (memory KiB, iterations) pairs OWASP rates equally strong. */
export const OWASP_MINIMUMS = [[47104, 1], [19456, 2], [12288, 3], [9216, 4], [7168, 5]];
/** src/password.rs DEFAULT_USER_PASSWORD_ALGORITHM, which existing deployments hash with. */
export const DEFAULT_USER_PASSWORD_ALGORITHM = "argon2id.65536.3.1.32";
/** Memory moves in whole MiB (plus OWASP's own figures), the unit people configure. */
const STEP_KIB = 1024;
/** Below OWASP (only with `belowOwasp`) the search stops at 1 MiB, t=1. */
const BELOW_OWASP_FLOOR_KIB = 1024;
/** An iteration step predicted this far over the target is not measured. */
const SKIP_FACTOR = 1.5;

/** The project's algorithm id for one lane and a 32-byte tag. */
export const algorithmId = (memoryKiB, iterations) => `argon2id.${memoryKiB}.${iterations}.1.32`;

/** Whether (memory, iterations) reaches one of OWASP's minimums (`Argon2id::meets_owasp_minimum`). */
export const meetsOwasp = (memoryKiB, iterations) =>
  OWASP_MINIMUMS.some(([m, t]) => memoryKiB >= m && iterations >= t);

/** The fewest iterations OWASP accepts at this memory, or null below its smallest memory. */
export function owaspMinIterations(memoryKiB) {
  const ts = OWASP_MINIMUMS.filter(([m]) => memoryKiB >= m).map(([, t]) => t);
  return ts.length ? Math.min(...ts) : null;
}

/** Checks and completes the options; throws on values the Worker could never use. */
export function normalizeOptions({ targetMs, maxMemoryKiB = MAX_MEMORY_KIB, belowOwasp = false, maxMeasurements = 16 }) {
  if (!(Number.isFinite(targetMs) && targetMs > 0)) throw new Error("the target time must be a positive number of ms");
  if (!Number.isInteger(maxMemoryKiB) || maxMemoryKiB > MAX_MEMORY_KIB) {
    throw new Error(`the memory limit must be a whole number of KiB, at most ${MAX_MEMORY_KIB} (96 MiB, the Worker's bound)`);
  }
  const floor = belowOwasp ? BELOW_OWASP_FLOOR_KIB : OWASP_MINIMUMS.at(-1)[0];
  if (maxMemoryKiB < floor) {
    throw new Error(`the memory limit must be at least ${floor} KiB${belowOwasp ? "" : " (OWASP's smallest minimum, 7 MiB at t=5)"}`);
  }
  if (!(Number.isInteger(maxMeasurements) && maxMeasurements >= 1)) throw new Error("maxMeasurements must be a positive integer");
  return { targetMs, maxMemoryKiB, belowOwasp, maxMeasurements, floorKiB: floor };
}

/** The fewest iterations the search allows at this memory (OWASP's, or 1 below OWASP). */
function minIterations(options, memoryKiB) {
  if (memoryKiB < options.floorKiB) return null;
  return options.belowOwasp ? 1 : owaspMinIterations(memoryKiB);
}

/**
 * Memory values below `belowKiB` the search may move to: whole MiB and OWASP's own figures, each
 * with its fewest allowed iterations, largest memory first.
 */
function memoryCandidates(options, belowKiB) {
  const values = new Set(OWASP_MINIMUMS.map(([m]) => m));
  for (let m = Math.floor((belowKiB - 1) / STEP_KIB) * STEP_KIB; m >= options.floorKiB; m -= STEP_KIB) values.add(m);
  return [...values]
    .filter((m) => m < belowKiB && m >= options.floorKiB)
    .sort((a, b) => b - a)
    .map((memoryKiB) => ({ memoryKiB, iterations: minIterations(options, memoryKiB) }));
}

/** Time per KiB-pass from one measurement: the model's only parameter. */
const msPerKiBPass = (m) => m.medianMs / (m.memoryKiB * m.iterations);

/**
 * The next step of the search, from the options (`targetMs` per hash, `maxMemoryKiB`,
 * `belowOwasp`, `maxMeasurements`) and the measurements so far (`{memoryKiB, iterations,
 * medianMs}`, in any order). Returns `{ measure: {memoryKiB, iterations} }` or `{ done: true,
 * recommended, reason }`, where `recommended` is the measurement chosen (with `id` and
 * `meetsOwasp`) or null when nothing allowed meets the target; then `cheapest` is the cheapest
 * allowed setting measured. Deterministic: the same measurements give the same answer.
 */
export function nextStep(rawOptions, measurements) {
  const options = normalizeOptions(rawOptions);
  const { targetMs } = options;
  const lookup = (memoryKiB, iterations) =>
    measurements.find((m) => m.memoryKiB === memoryKiB && m.iterations === iterations);
  const fits = (m) => m.medianMs <= targetMs;
  const result = (m) => (m ? { ...m, id: algorithmId(m.memoryKiB, m.iterations), meetsOwasp: meetsOwasp(m.memoryKiB, m.iterations) } : null);
  const done = (recommended, reason, extra = {}) => ({ done: true, recommended: result(recommended), reason, ...extra });
  // Once the measurements run out, the best setting measured so far that fits: most memory, then
  // most iterations.
  const bestSoFar = () => measurements
    .filter((m) => fits(m) && m.memoryKiB <= options.maxMemoryKiB && m.iterations <= MAX_ITERATIONS &&
      minIterations(options, m.memoryKiB) !== null && m.iterations >= minIterations(options, m.memoryKiB))
    .sort((a, b) => b.memoryKiB - a.memoryKiB || b.iterations - a.iterations)[0];
  const measure = (memoryKiB, iterations) =>
    measurements.length >= options.maxMeasurements
      ? done(bestSoFar(), `stopped after ${options.maxMeasurements} measurements`)
      : { measure: { memoryKiB, iterations } };

  // Memory: walk down from the largest allowed until one fits at its fewest iterations.
  let memoryKiB = options.maxMemoryKiB;
  let iterations = minIterations(options, memoryKiB);
  for (;;) {
    const m = lookup(memoryKiB, iterations);
    if (!m) return measure(memoryKiB, iterations);
    if (fits(m)) break;
    const candidates = memoryCandidates(options, memoryKiB);
    if (candidates.length === 0) {
      return done(null, `even the cheapest allowed setting, ${algorithmId(memoryKiB, iterations)}, takes ${m.medianMs.toFixed(1)} ms, over the ${targetMs} ms target`, { cheapest: result(m) });
    }
    const k = msPerKiBPass(m);
    const predictedFit = candidates.find((c) => k * c.memoryKiB * c.iterations <= targetMs);
    // Nothing is predicted to fit: measure the cheapest allowed setting (least memory × iterations,
    // then most memory) to know for sure, and stop there if it does not fit either.
    const cheapest = [...candidates].sort((a, b) => a.memoryKiB * a.iterations - b.memoryKiB * b.iterations || b.memoryKiB - a.memoryKiB)[0];
    const next = predictedFit ?? cheapest;
    const cheaperThanCurrent = next.memoryKiB * next.iterations < memoryKiB * iterations;
    if (!cheaperThanCurrent) {
      return done(null, `even the cheapest allowed setting, ${algorithmId(memoryKiB, iterations)}, takes ${m.medianMs.toFixed(1)} ms, over the ${targetMs} ms target`, { cheapest: result(m) });
    }
    memoryKiB = next.memoryKiB;
    iterations = next.iterations;
  }

  // Iterations: raise while the measured median stays within the target.
  for (;;) {
    const current = lookup(memoryKiB, iterations);
    if (iterations >= MAX_ITERATIONS) return done(current, `reached the Worker's iteration bound (t=${MAX_ITERATIONS})`);
    const next = lookup(memoryKiB, iterations + 1);
    if (!next) {
      const predicted = msPerKiBPass(current) * memoryKiB * (iterations + 1);
      if (predicted > SKIP_FACTOR * targetMs) {
        return done(current, `t=${iterations + 1} is predicted at ${predicted.toFixed(0)} ms, well over the target`);
      }
      return measure(memoryKiB, iterations + 1);
    }
    if (!fits(next)) return done(current, `t=${iterations + 1} took ${next.medianMs.toFixed(1)} ms, over the ${targetMs} ms target`);
    iterations += 1;
  }
}
