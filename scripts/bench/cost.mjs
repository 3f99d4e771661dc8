// `npm run cost [-- <scale.json>] [--mau 10000,100000,1000000]`: the monthly Cloudflare bill of
// faroe-worker under a stated traffic model, from the counts and CPU times a scale run measured
// (`npm run scale` writes target/bench/scale.json; docs/scale-run.json is the run docs/cost.md
// quotes) and Cloudflare's published prices (PRICES, each with its source and the date it was
// read). Prints the tables of docs/cost.md. The arithmetic is `monthlyCost`, tested by
// tests/e2e/cost.test.mjs on a fixture.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { table } from "./scale-lib.mjs";

const root = join(fileURLToPath(new URL(".", import.meta.url)), "..", "..");

/**
 * Workers Paid (Standard usage model) prices in USD, read 2026-11-30. `included` is per account
 * per month; usage above it is billed at `per` for each `unit`.
 */
export const PRICES = {
  read: "2026-11-30",
  subscription: { usd: 5, source: "https://developers.cloudflare.com/workers/platform/pricing/" },
  workersRequests: { included: 10e6, usd: 0.30, unit: 1e6, source: "https://developers.cloudflare.com/workers/platform/pricing/" },
  workersCpuMs: { included: 30e6, usd: 0.02, unit: 1e6, source: "https://developers.cloudflare.com/workers/platform/pricing/" },
  doRequests: { included: 1e6, usd: 0.15, unit: 1e6, source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  doGbSeconds: { included: 400e3, usd: 12.50, unit: 1e6, source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  doRowsRead: { included: 25e9, usd: 0.001, unit: 1e6, source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  doRowsWritten: { included: 50e6, usd: 1.00, unit: 1e6, source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  doStorageGbMonth: { included: 5, usd: 0.20, unit: 1, source: "https://developers.cloudflare.com/durable-objects/platform/pricing/" },
  kvReads: { included: 10e6, usd: 0.50, unit: 1e6, source: "https://developers.cloudflare.com/kv/platform/pricing/" },
  kvWrites: { included: 1e6, usd: 5.00, unit: 1e6, source: "https://developers.cloudflare.com/kv/platform/pricing/" },
  kvDeletes: { included: 1e6, usd: 5.00, unit: 1e6, source: "https://developers.cloudflare.com/kv/platform/pricing/" },
  d1RowsRead: { included: 25e9, usd: 0.001, unit: 1e6, source: "https://developers.cloudflare.com/d1/platform/pricing/" },
  d1RowsWritten: { included: 50e6, usd: 1.00, unit: 1e6, source: "https://developers.cloudflare.com/d1/platform/pricing/" },
  d1StorageGbMonth: { included: 5, usd: 0.75, unit: 1, source: "https://developers.cloudflare.com/d1/platform/pricing/" },
};

/**
 * D1 rows per user-store query (src/edge/d1_user_store.rs on migrations/0001_users.sql), from
 * D1's documented counting (D1 pricing, "Definitions"): a lookup through the primary key or the
 * UNIQUE email index reads one row; a write writes the row plus one row per index whose column it
 * writes (the id primary key and the email index are both indexes). Not measured: wrangler's local
 * D1 reports only a query's duration. The scale run's `d1RowsPerQuery`, when present, replaces it.
 */
export const D1_ROWS_BY_RULE = {
  "users.create_user": { rowsRead: 0, rowsWritten: 3 },
  "users.get_user": { rowsRead: 1, rowsWritten: 0 },
  "users.get_user_by_email_address": { rowsRead: 1, rowsWritten: 0 },
  "users.update_user_email_address": { rowsRead: 1, rowsWritten: 2 },
  "users.update_user_password_hash": { rowsRead: 1, rowsWritten: 1 },
  "users.increment_user_sessions_counter": { rowsRead: 1, rowsWritten: 1 },
  "users.delete_user": { rowsRead: 1, rowsWritten: 3 },
};

/** A Durable Object's billed memory: 128 MB whatever it uses (Durable Objects pricing, footnote 5). */
export const DO_GB = 128 / 1024;

/**
 * The traffic model: what one monthly active user does in a month, as flows of actions. Each
 * flow lists its actions (labels of the scale run). `get_session` is split by path: a visit's
 * first call misses the 60 s cache and, more than 60 s after the last verification, writes the
 * activity (which drops the cached copy), so the second call misses too; the rest of the visit
 * hits. 3 visits a day of about 3 to 4 calls each, 30 days: 90 + 90 misses, 120 hits.
 */
export const TRAFFIC_MODEL = {
  "page views (get_session, cache hit)": { perUser: 120, actions: ["get_session (cache hit)"] },
  "first call of a visit (get_session, cache miss, activity update)": { perUser: 90, actions: ["get_session (cache miss, activity update)"] },
  "second call of a visit (get_session, cache miss)": { perUser: 90, actions: ["get_session (cache miss)"] },
  "sign-ins": { perUser: 4, actions: ["create_signin", "verify_signin_user_password", "complete_signin"], sessions: 1 },
  "wrong passwords": { perUser: 0.5, actions: ["verify_signin_user_password"] },
  "sign-outs": { perUser: 1, actions: ["delete_session"], sessions: -1 },
  "sign-ups (new users: 10 % of MAU)": { perUser: 0.1, actions: ["create_signup", "verify_signup_email_address_verification_code", "set_signup_password", "complete_signup"], sessions: 1 },
  "password resets": { perUser: 0.1, actions: ["create_user_password_reset", "verify_user_password_reset_temporary_password", "set_user_password_reset_new_password", "complete_user_password_reset"], sessions: 1 },
  "password updates": { perUser: 0.05, actions: ["create_user_password_update", "verify_user_password_update_user_password", "set_user_password_update_new_password", "complete_user_password_update"] },
  "email address updates": { perUser: 0.02, actions: ["create_user_email_address_update", "verify_user_email_address_update_email_address_verification_code", "verify_user_email_address_update_user_password", "complete_user_email_address_update"] },
  "account deletions": { perUser: 0.01, actions: ["create_user_deletion", "verify_user_deletion_user_password", "complete_user_deletion"] },
};

/**
 * The same month with `SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS` at one day instead of 60 s: every
 * visit's first call still misses the 60 s cache, but only the day's first visit writes the
 * activity (and drops the cached copy, so only then does a second miss follow): 30 misses with a
 * write, 30 + 60 without, 180 hits. Sessions then expire up to a day later than the 30 days.
 */
export const LONG_ACTIVITY_INTERVAL_MODEL = {
  ...TRAFFIC_MODEL,
  "page views (get_session, cache hit)": { perUser: 180, actions: ["get_session (cache hit)"] },
  "first call of a visit (get_session, cache miss, activity update)": { perUser: 30, actions: ["get_session (cache miss, activity update)"] },
  "second call of a visit (get_session, cache miss)": { perUser: 90, actions: ["get_session (cache miss)"] },
};

/**
 * Live sessions per MAU at any time: each flow that signs in makes one (`sessions: 1`), a
 * sign-out ends one (`-1`); the others end 30 days after their last use
 * (SESSION_INACTIVITY_TIMEOUT_SECONDS' default), so about a month's worth exists at once.
 */
export function liveSessionsPerUser(model = TRAFFIC_MODEL) {
  return Math.max(0, Object.values(model).reduce((n, f) => n + f.perUser * (f.sessions ?? 0), 0));
}

/** Per-action figures from a scale run: the largest size's batch, hashing actions from `set`. */
export function actionFigures(scale, parameterSet) {
  const figures = {};
  // The largest size's batch first; an action (path) its batch did not meet comes from the
  // largest size whose batch did, else from a load phase (counts only: no CPU per call there).
  for (const size of [...scale.sizes].reverse()) {
    for (const [label, s] of Object.entries(size.batch)) figures[label] ??= { units: s.units, cpuMs: s.cpuMs, from: `batch N=${size.n}` };
  }
  for (const [label, s] of Object.entries(scale.sessionPaths ?? {})) figures[label] ??= { units: s.units, cpuMs: s.cpuMs, from: "session paths" };
  for (const size of [...scale.sizes].reverse()) {
    for (const [label, s] of Object.entries(size.load ?? {})) figures[label] ??= { units: s.units, cpuMs: null, from: `load N=${size.n}` };
  }
  const hashing = parameterSet && scale.hashing?.find((h) => h.algorithm === parameterSet);
  if (parameterSet && !hashing) throw new Error(`the scale run has no hashing figures for ${parameterSet}`);
  for (const [label, s] of Object.entries(hashing?.actions ?? {})) {
    if (figures[label]) figures[label] = { ...figures[label], cpuMs: s.cpuMs };
  }
  return figures;
}

const billed = (price, quantity) => Math.max(0, quantity - price.included) / price.unit * price.usd;

/**
 * The month for `mau` users: usage per component (requests, CPU-ms, …) and its cost in USD after
 * the included allowances. D1 rows come from the measured rows per query (`scale.d1RowsPerQuery`);
 * storage from the local bytes per object and per user (an upper bound: see docs/cost.md).
 */
export function monthlyCost(scale, { mau, parameterSet, model = TRAFFIC_MODEL, prices = PRICES }) {
  const figures = actionFigures(scale, parameterSet);
  const use = { workersRequests: 0, workersCpuMs: 0, doRequests: 0, doGbSeconds: 0, doRowsRead: 0, doRowsWritten: 0, doStorageGbMonth: 0,
    kvReads: 0, kvWrites: 0, kvDeletes: 0, d1RowsRead: 0, d1RowsWritten: 0, d1StorageGbMonth: 0 };
  const missing = new Set();
  const noCpu = new Set();
  for (const { perUser, actions } of Object.values(model)) {
    for (const action of actions) {
      const f = figures[action];
      if (!f) { missing.add(action); continue; }
      const n = perUser * mau;
      const u = f.units;
      use.workersRequests += n;
      if (f.cpuMs === null || f.cpuMs === undefined) noCpu.add(action);
      use.workersCpuMs += n * (f.cpuMs ?? 0);
      // Each object written is later woken once by its expiry alarm (a billed request, one row
      // written) unless the action that ends it emptied it first: modelled, not measured.
      const alarms = Math.max(0, u.objectsCreated);
      use.doRequests += n * (u.doCalls + alarms);
      use.doGbSeconds += n * (u.doCallMs / 1000) * DO_GB;
      use.doRowsRead += n * (u.doRowsRead + alarms);
      use.doRowsWritten += n * (u.doRowsWritten + alarms);
      use.kvReads += n * u.kvReads;
      use.kvWrites += n * u.kvWrites;
      use.kvDeletes += n * u.kvDeletes;
      use.d1RowsRead += n * (u.d1RowsRead ?? 0);
      use.d1RowsWritten += n * (u.d1RowsWritten ?? 0);
    }
  }
  const last = scale.sizes[scale.sizes.length - 1];
  const mainObjects = last.stored.MainStore;
  const bytesPerObject = mainObjects.holding ? mainObjects.holdingBytes / mainObjects.holding : 0;
  use.doStorageGbMonth = (liveSessionsPerUser(model) * mau * bytesPerObject) / 1e9;
  use.d1StorageGbMonth = (mau * (last.stored.d1Bytes / last.users)) / 1e9;
  const cost = Object.fromEntries(Object.keys(use).map((k) => [k, billed(prices[k], use[k])]));
  const total = prices.subscription.usd + Object.values(cost).reduce((a, b) => a + b, 0);
  return { mau, parameterSet, use, cost, subscription: prices.subscription.usd, total, bytesPerObject, missing: [...missing], noCpu: [...noCpu] };
}

/**
 * D1 rows of each action: its `users.*` calls (the batch's mean counts) times the rows each query
 * reads and writes (D1_ROWS_BY_RULE unless the run measured them).
 */
export function withD1Rows(scale) {
  const measured = Object.values(scale.d1RowsPerQuery ?? {}).some((r) => r.rowsRead !== null && r.rowsRead !== undefined);
  const rows = measured ? scale.d1RowsPerQuery : D1_ROWS_BY_RULE;
  const copy = structuredClone(scale);
  const groups = [...copy.sizes.flatMap((size) => [size.batch, size.load ?? {}]), copy.sessionPaths ?? {}];
  for (const group of groups) {
    for (const s of Object.values(group)) {
      let read = 0, written = 0;
      for (const [query, r] of Object.entries(rows)) {
        const calls = s.meanCounts?.[query] ?? 0;
        read += calls * (r.rowsRead ?? 0);
        written += calls * (r.rowsWritten ?? 0);
      }
      s.units = { ...s.units, d1RowsRead: read, d1RowsWritten: written };
    }
  }
  return copy;
}

const money = (x) => (x < 0.005 ? "0.00" : x.toFixed(2));
const big = (x) => (x >= 1e9 ? `${(x / 1e9).toFixed(2)} B` : x >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : x >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(x < 10 ? 2 : 0));

export const COMPONENTS = [
  ["Workers requests", "workersRequests", big], ["Workers CPU ms", "workersCpuMs", big], ["DO requests", "doRequests", big],
  ["DO duration GB-s", "doGbSeconds", big], ["DO rows read", "doRowsRead", big], ["DO rows written", "doRowsWritten", big],
  ["DO storage GB-month", "doStorageGbMonth", (x) => x.toFixed(2)], ["KV reads", "kvReads", big], ["KV writes", "kvWrites", big],
  ["KV deletes", "kvDeletes", big], ["D1 rows read", "d1RowsRead", big], ["D1 rows written", "d1RowsWritten", big],
  ["D1 storage GB-month", "d1StorageGbMonth", (x) => x.toFixed(3)],
];

/** The cost table of one parameter set for several MAU figures: usage and USD per component. */
export function costTable(scale, parameterSet, maus, model = TRAFFIC_MODEL) {
  const months = maus.map((mau) => monthlyCost(withD1Rows(scale), { mau, parameterSet, model }));
  const rows = COMPONENTS.map(([name, key, f]) => [name, ...months.map((m) => `${f(m.use[key])} → $${money(m.cost[key])}`)]);
  rows.push(["subscription", ...months.map((m) => `$${money(m.subscription)}`)]);
  rows.push(["**total per month**", ...months.map((m) => `**$${money(m.total)}**`)]);
  rows.push(["per 1,000 MAU", ...months.map((m) => `$${(m.total / (m.mau / 1000)).toFixed(3)}`)]);
  return { months, text: table(["component (usage → cost)", ...maus.map((m) => `${m.toLocaleString("en-US")} MAU`)], rows) };
}

function main() {
  const argv = process.argv.slice(2);
  const file = argv.find((a) => !a.startsWith("--") && !/^[\d,]+$/.test(a)) ?? join(root, "target", "bench", "scale.json");
  const i = argv.indexOf("--mau");
  const maus = (i >= 0 ? argv[i + 1] : "10000,100000,1000000").split(",").map(Number);
  const scale = JSON.parse(readFileSync(file, "utf8"));
  console.log(`Scale run ${scale.date} (${file}); prices read ${PRICES.read}.\n`);
  console.log("Traffic model, per monthly active user per month:\n");
  console.log(table(["flow", "per MAU", "actions"], Object.entries(TRAFFIC_MODEL).map(([name, f]) => [name, f.perUser, f.actions.join(", ")])));
  console.log(`\nLive sessions per MAU: ${liveSessionsPerUser().toFixed(2)}.`);
  // The per-action inputs: counts and CPU of the largest size, CPU of the hashing actions per set.
  const last = withD1Rows(scale).sizes[scale.sizes.length - 1];
  const sets = (scale.hashing ?? []).map((h) => h.algorithm);
  const perSet = sets.map((id) => actionFigures(scale, id));
  const used = [...new Set(Object.values(TRAFFIC_MODEL).flatMap((f) => f.actions))];
  const merged = actionFigures(withD1Rows(scale), null);
  const f1 = (x) => (x === null || x === undefined ? "–" : Number.isInteger(x) ? String(x) : x.toFixed(1));
  console.log(`\nPer action (mean over the calls; CPU: workerd ms per call, one call at a time):\n`);
  console.log(table(
    ["action", "DO calls", "DO call ms", "DO rows read / written", "objects +", "KV r/w/d", "D1 queries", "D1 rows r/w", "CPU ms (cheap hash)", "from", ...sets.map((id) => `CPU ms at ${id}`)],
    used.map((a) => {
      const s = merged[a];
      if (!s) return [a, "not measured", "", "", "", "", "", "", "", "", ...sets.map(() => "")];
      const u = s.units;
      return [a, f1(u.doCalls), f1(u.doCallMs), `${f1(u.doRowsRead)} / ${f1(u.doRowsWritten)}`, f1(u.objectsCreated), `${f1(u.kvReads)}/${f1(u.kvWrites)}/${f1(u.kvDeletes)}`,
        f1(u.d1Queries), `${f1(u.d1RowsRead)} / ${f1(u.d1RowsWritten)}`, f1(s.cpuMs), s.from, ...perSet.map((f) => (u.hashes > 0 ? f1(f[a]?.cpuMs) : "same"))];
    }),
  ));
  const main = last.stored.MainStore;
  console.log(`\nStorage at N = ${last.n}: ${main.holding} main objects hold data, ${(main.holdingBytes / Math.max(1, main.holding)).toFixed(0)} bytes each locally; ` +
    `D1 ${(last.stored.d1Bytes / last.users).toFixed(0)} bytes per user.`);
  for (const [name, id] of Object.entries(scale.hashing?.length ? Object.fromEntries(scale.hashing.map((h) => [h.algorithm, h.algorithm])) : { "cheap test algorithm": null })) {
    const { months, text } = costTable(scale, id, maus);
    console.log(`\n### User passwords at ${name}\n`);
    console.log(text);
    const missing = new Set(months.flatMap((m) => m.missing));
    if (missing.size) console.log(`\n(not in the scale run, left out: ${[...missing].join(", ")})`);
    const noCpu = new Set(months.flatMap((m) => m.noCpu));
    if (noCpu.size) console.log(`\n(no CPU figure, counted as 0 ms: ${[...noCpu].join(", ")})`);
  }
  const first = scale.hashing?.[0]?.algorithm ?? null;
  console.log(`\n### Variant: SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS=86400, user passwords at ${first ?? "the cheap test algorithm"}\n`);
  console.log(table(["flow", "per MAU"], Object.entries(LONG_ACTIVITY_INTERVAL_MODEL).slice(0, 3).map(([name, f]) => [name, f.perUser])));
  console.log("");
  console.log(costTable(scale, first, maus, LONG_ACTIVITY_INTERVAL_MODEL).text);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
