// The pure half of `npm run scale` (scripts/bench/scale.mjs): turning the per-request counts the
// bench Worker reports (`X-Faroe-Bench-Counts`, src/edge/bench.rs) into billed units, summarising
// samples per action, and the flat/grows verdicts. No I/O, so tests/e2e/scale.test.mjs and
// scripts/bench/cost.mjs use it as is.

/** Percentile (nearest rank) of numbers; NaN for none. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.max(0, Math.ceil((p / 100) * v.length) - 1))];
}

const sum = (counts, prefix) =>
  Object.entries(counts).filter(([k]) => k.startsWith(prefix)).reduce((n, [, v]) => n + v, 0);

/**
 * The billed units of one request's counts. With the D1 user store every `users.*` call is one D1
 * query; with the log email provider no email is a fetch (`fetchesPerEmail` 0), with webhook,
 * Resend or Postmark each is one; the breached-password check is a fetch only when it is on
 * (`breachCheckFetches`; the scale run has it off). `objectsCreated` counts the writes that start an object (a
 * `main.set` writes a new entity or session under a fresh random id, a `rate_limit.add` a new
 * bucket or hashing lease) and subtracts the objects emptied by `deleteAll()`.
 */
export function units(counts, { fetchesPerEmail = 1, breachCheckFetches = false } = {}) {
  const c = (k) => counts[k] ?? 0;
  const mainCalls = sum(counts, "main.");
  const rateLimitCalls = sum(counts, "rate_limit.");
  return {
    doCalls: mainCalls + rateLimitCalls,
    doMainReads: c("main.get"),
    doMainWrites: mainCalls - c("main.get"),
    doRateLimitReads: c("rate_limit.get"),
    doRateLimitWrites: rateLimitCalls - c("rate_limit.get"),
    doRowsRead: c("do.rows_read"),
    // Cloudflare bills each setAlarm() as one row written (Durable Objects pricing, footnote 3).
    doRowsWritten: c("do.rows_written") + c("do.alarms_set"),
    doAlarmsSet: c("do.alarms_set"),
    // The Durable Object calls' round trips as the Worker saw them (an upper bound of the time
    // the objects were active for this request: what duration bills).
    doCallMs: c("do.call_ms"),
    objectsCreated: c("main.set") + c("rate_limit.add") - c("do.delete_alls"),
    kvReads: c("kv.get"),
    kvWrites: c("kv.set"),
    kvDeletes: c("kv.delete"),
    d1Queries: sum(counts, "users."),
    d1Writes: c("users.create_user") + c("users.update_user_email_address") + c("users.update_user_password_hash") +
      c("users.increment_user_sessions_counter") + c("users.delete_user"),
    emails: sum(counts, "email."),
    fetches: sum(counts, "email.") * fetchesPerEmail + (breachCheckFetches ? c("breach_check") : 0),
    hashes: c("hash.user") + c("hash.temporary"),
  };
}

export const UNIT_NAMES = Object.keys(units({}));
/** The units that are call counts (the same on every call of one path), not measured times. */
const COUNT_UNITS = ["doCalls", "kvReads", "kvWrites", "kvDeletes", "d1Queries", "emails", "hashes"];

/**
 * The label a sample is reported under: the action, and for `get_session` the path it took (a
 * cache hit makes no Durable Object call; a miss reads the session's object; a miss whose session
 * was last verified SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS or more ago also writes its activity).
 */
export function label(action, counts) {
  if (action !== "get_session") return action;
  if (sum(counts, "main.") === 0) return "get_session (cache hit)";
  // Only the main path fills the cache.
  const path = counts["kv.set"] ? "cache miss" : "cache hit";
  return counts["main.update"] ? `get_session (${path}, activity update)` : `get_session (${path})`;
}

/** Mean units, latency percentiles, CPU per call and error count of one action's samples. */
export function summarise(samples) {
  const n = samples.length;
  const mean = {};
  for (const name of UNIT_NAMES) mean[name] = samples.reduce((a, s) => a + s.units[name], 0) / n;
  // The mean of every raw count (`users.get_user`, `main.set`, …): what the cost model needs
  // beyond the units (D1 rows differ per query).
  const meanCounts = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.counts ?? {})) meanCounts[k] = (meanCounts[k] ?? 0) + v / n;
  const withCpu = samples.filter((s) => s.cpuMs !== undefined);
  const ms = samples.map((s) => s.ms);
  return {
    calls: n,
    errors: samples.filter((s) => s.error).length,
    units: mean,
    meanCounts,
    // Whether every sample made the same calls (a path that varies shows as `false`).
    unitsConstant: samples.every((s) => COUNT_UNITS.every((k) => s.units[k] === samples[0].units[k])),
    cpuMs: withCpu.length ? withCpu.reduce((a, s) => a + s.cpuMs, 0) / withCpu.length : null,
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
  };
}

/** Groups samples ({ label, … }) by label and summarises each. */
export function byLabel(samples) {
  const groups = new Map();
  for (const s of samples) {
    if (!groups.has(s.label)) groups.set(s.label, []);
    groups.get(s.label).push(s);
  }
  return Object.fromEntries([...groups].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, summarise(v)]));
}

/**
 * Flat or grows: the figure at the largest size over the one at the smallest. Counts are exact, so
 * any change is growth; measured times are noisy on a shared machine, so they count as flat
 * within `tolerance` (±35 % by default).
 */
export function verdict(first, last, { exact = false, tolerance = 0.35 } = {}) {
  if (first === null || last === null || Number.isNaN(first) || Number.isNaN(last)) return { ratio: null, verdict: "n/a" };
  if (first === 0 && last === 0) return { ratio: 1, verdict: "flat" };
  if (first === 0) return { ratio: Infinity, verdict: "grows" };
  const ratio = last / first;
  if (exact) return { ratio, verdict: Math.abs(ratio - 1) < 1e-9 ? "flat" : ratio > 1 ? "grows" : "shrinks" };
  return { ratio, verdict: ratio > 1 + tolerance ? "grows" : ratio < 1 / (1 + tolerance) ? "shrinks" : "flat" };
}

/** A markdown table. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fmt = (x, digits = 1) =>
  x === null || x === undefined || Number.isNaN(x) ? "–" : Number.isInteger(x) ? String(x) : x.toFixed(digits);
