// The cost model of `npm run cost` (scripts/bench/cost.mjs) recomputes known numbers from a
// fixture scale run (tests/e2e/fixtures/scale-run.json): every component worked out by hand below
// from the fixture and the published prices in PRICES.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { monthlyCost, withD1Rows, liveSessionsPerUser, PRICES, TRAFFIC_MODEL } from "../../scripts/bench/cost.mjs";
import { units, label, verdict } from "../../scripts/bench/scale-lib.mjs";
import { root } from "./harness.mjs";

const fixture = join(root, "tests", "e2e", "fixtures", "scale-run.json");
const scale = JSON.parse(readFileSync(fixture, "utf8"));
/** 100 page views (cache hits) and 2 sign-ins' password checks per user a month. */
const model = {
  views: { perUser: 100, actions: ["get_session (cache hit)"] },
  checks: { perUser: 2, actions: ["verify_signin_user_password"], sessions: 1 },
};
const near = (actual, expected, what) => assert.ok(Math.abs(actual - expected) < 1e-6, `${what}: ${actual} ≠ ${expected}`);

test("a month for 1M MAU: each component from the fixture's counts and the published prices", () => {
  const m = monthlyCost(withD1Rows(scale), { mau: 1e6, parameterSet: "argon2id.65536.3.1.32", model });
  // 100 M + 2 M requests; 10 M included, then $0.30 per million.
  near(m.use.workersRequests, 102e6, "requests");
  near(m.cost.workersRequests, 92 * 0.3, "requests $");
  // 100 M × 2 ms + 2 M × 150 ms (the hash at the default set, not the batch's 5 ms).
  near(m.use.workersCpuMs, 500e6, "CPU ms");
  near(m.cost.workersCpuMs, 470 * 0.02, "CPU $");
  // 2 M × (5 calls + 1 alarm for the object it created); 1 M included, $0.15 per million.
  near(m.use.doRequests, 12e6, "DO requests");
  near(m.cost.doRequests, 11 * 0.15, "DO requests $");
  // 2 M × 10 ms × 128 MB: 2,500 GB-s, inside the 400,000 included.
  near(m.use.doGbSeconds, 2500, "GB-s");
  near(m.cost.doGbSeconds, 0, "GB-s $");
  near(m.use.doRowsWritten, 2e6 * 9, "rows written (8 + the alarm's 1)");
  near(m.cost.doRowsWritten, 0, "rows written $ (inside 50 M)");
  near(m.use.kvReads, 100e6, "KV reads");
  near(m.cost.kvReads, 90 * 0.5, "KV reads $");
  // One users.get_user per check × 1 row read (the fixture's D1 meta).
  near(m.use.d1RowsRead, 2e6, "D1 rows read");
  // 2 live sessions per user × 30,000 bytes per main object: 60 GB, 5 included, $0.20 per GB.
  near(liveSessionsPerUser(model), 2, "live sessions");
  near(m.use.doStorageGbMonth, 60, "DO storage GB");
  near(m.cost.doStorageGbMonth, 55 * 0.2, "DO storage $");
  // 1,000 bytes of D1 per user: 1 GB, inside the 5 GB included.
  near(m.use.d1StorageGbMonth, 1, "D1 GB");
  near(m.total, 5 + 27.6 + 9.4 + 1.65 + 45 + 11, "total");
  assert.deepEqual(m.missing, []);
});

test("small accounts pay the subscription only; actions missing from the run are reported", () => {
  const m = monthlyCost(withD1Rows(scale), { mau: 10_000, parameterSet: "argon2id.65536.3.1.32", model: { ...model, other: { perUser: 1, actions: ["get_signin"] } } });
  near(m.total, PRICES.subscription.usd, "total");
  assert.deepEqual(m.missing, ["get_signin"]);
  assert.throws(() => monthlyCost(scale, { mau: 1, parameterSet: "argon2id.19456.2.1.32", model }), /no hashing figures/);
  // The stated model signs users in more often than they sign out.
  assert.ok(liveSessionsPerUser(TRAFFIC_MODEL) > 0);
});

test("units: Durable Object calls, alarms as rows written, objects created, fetches", () => {
  const u = units({ "main.get": 2, "main.update": 1, "rate_limit.get": 1, "rate_limit.add": 1, "users.get_user": 1, "hash.user": 1,
    "do.rows_read": 7, "do.rows_written": 3, "do.alarms_set": 2, "do.delete_alls": 0, "email.signed_in": 1, breach_check: 1 });
  assert.equal(u.doCalls, 5);
  assert.equal(u.doRowsWritten, 5, "setAlarm() is billed as a row written");
  assert.equal(u.objectsCreated, 1);
  assert.equal(u.d1Queries, 1);
  assert.equal(u.fetches, 1, "the breach check is a fetch only when it is on");
  assert.equal(units({ breach_check: 1 }, { breachCheckFetches: true }).fetches, 1);
  assert.equal(label("get_session", { "kv.get": 1 }), "get_session (cache hit)");
  assert.equal(label("get_session", { "kv.get": 1, "main.get": 2, "kv.set": 1 }), "get_session (cache miss)");
  assert.equal(label("get_session", { "kv.get": 1, "main.get": 3, "main.update": 1, "kv.set": 1, "kv.delete": 1 }), "get_session (cache miss, activity update)");
  assert.equal(verdict(4, 4, { exact: true }).verdict, "flat");
  assert.equal(verdict(4, 5, { exact: true }).verdict, "grows");
  assert.equal(verdict(10, 12).verdict, "flat");
  assert.equal(verdict(10, 20).verdict, "grows");
});

test("npm run cost prints the model and a table per parameter set from a scale run's JSON", () => {
  const out = execFileSync(process.execPath, [join(root, "scripts", "bench", "cost.mjs"), fixture, "--mau", "1000000"], { encoding: "utf8" });
  assert.match(out, /Traffic model/);
  assert.match(out, /User passwords at argon2id\.65536\.3\.1\.32/);
  assert.match(out, /\*\*total per month\*\*/);
});
