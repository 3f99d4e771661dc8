// `npm run scale -- --quick` end to end (issue #15 item 4): a small scale run on the build-test
// bundle (it has the bench feature) produces the report and the JSON that `npm run cost` reads,
// with figures of the right shape, and the subrequests it counted per action are the ones
// tests/e2e/subrequests.test.mjs asserts (./subrequest-counts.mjs). Timing figures are only
// checked to exist: speed is measured by benchmarks, never asserted by tests.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { units } from "../../scripts/bench/scale-lib.mjs";
import { root } from "./harness.mjs";
import { MAIN_PATH } from "./subrequest-counts.mjs";

const run = promisify(execFile);
/** The categories that do not depend on whether a bucket existed (add and update are one write). */
const CATEGORIES = ["doCalls", "kvReads", "kvWrites", "kvDeletes", "d1Queries", "emails", "hashes"];

test("npm run scale -- --quick: report, JSON, counts equal to the subrequest test's", { timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "faroe-scale-test-"));
  try {
    const out = join(dir, "scale.json");
    const { stdout } = await run(process.execPath, ["--no-warnings", join(root, "scripts", "bench", "scale.mjs"), "--quick", "--bundle", "build-test", "--out", out],
      { cwd: root, env: { ...process.env, FAROE_SKIP_BUILD: "1" }, maxBuffer: 16 * 1024 * 1024 });
    for (const heading of ["## Per action at N = ", "## Growth with N", "## Storage and load per size", "## Hashing actions at argon2id.65536.3.1.32", "## Hot key"]) {
      assert.ok(stdout.includes(heading), `the report has "${heading}"`);
    }
    const result = JSON.parse(readFileSync(out, "utf8"));
    assert.deepEqual(result.sizes.map((s) => s.n), [10, 20]);
    let compared = 0;
    for (const size of result.sizes) {
      assert.ok(size.users >= size.n);
      assert.equal(size.loadTotals.errors, 0, "normal traffic gets no error");
      assert.ok(size.stored.MainStore.holding > 0 && size.stored.RateLimitStore.holding > 0 && size.stored.d1Bytes > 0);
      for (const [label, s] of Object.entries(size.batch)) {
        assert.equal(s.errors, 0, `${label} failed in the batch`);
        assert.ok(s.cpuMs !== null && s.p50Ms > 0, `${label}: CPU and latency measured`);
        const expected = MAIN_PATH[label];
        if (!expected) continue;
        const want = units(expected.counts);
        for (const k of CATEGORIES) assert.equal(s.units[k], want[k], `N=${size.n} ${label}: ${k} (${expected.why})`);
        compared++;
      }
    }
    assert.ok(compared >= 40, `compared ${compared} action figures with the subrequest test's`);
    // The default parameter set (--quick leaves out the second, which needs one more restart):
    // each hashing action hashed once.
    assert.deepEqual(result.hashing.map((h) => h.algorithm), ["argon2id.65536.3.1.32"]);
    for (const h of result.hashing) {
      for (const [label, s] of Object.entries(h.actions)) assert.equal(s.units.hashes, 1, `${h.algorithm} ${label}`);
      assert.ok(h.actions.verify_signin_user_password && h.actions.set_signup_password);
    }
    // Hot key: the flood was refused by the buckets, nothing was lost, nothing crashed.
    const hk = result.hotKey;
    assert.ok(hk.baseline.requests > 0 && hk.flooded.requests > 0);
    assert.equal(hk.baseline.errors, 0);
    assert.equal(hk.flooded.errors, 0, `other users' errors under the flood: ${JSON.stringify(hk.flooded.errorCodes)}`);
    assert.ok(Number.isFinite(hk.ratio.p99) && hk.ratio.p99 > 0);
    // Before the window, five wrong passwords were checked and the sixth refused: the bucket ran
    // dry, and every wrong password of the flood is refused without a hash.
    assert.deepEqual(hk.drained, ["incorrect_password", "incorrect_password", "incorrect_password", "incorrect_password", "incorrect_password", "rate_limited"]);
    assert.deepEqual(Object.keys(hk.flooded.flood.verify_signin_user_password.codes), ["rate_limited"]);
    assert.equal(hk.invariants.signInFailures, 0);
    assert.equal(hk.invariants.lostSessions, 0);
    assert.ok(hk.invariants.sessionsChecked >= hk.invariants.activeUsersChecked);
    assert.equal(hk.invariants.workerAlive, true);
    assert.deepEqual(hk.invariants.crashLines, []);
    assert.equal(hk.invariants.victimAfterFlood, "rate_limited", "the victim waits for a refill, as the protocol says");
    assert.equal(hk.singleObject.sameKey.length, hk.singleObject.distinctKeys.length);
    assert.ok(hk.singleObject.sameKey.every((s) => s.requests > 0 && s.errors === 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
