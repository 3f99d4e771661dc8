// Faults: the user server answering 500, timing out or sending malformed JSON; the email provider,
// Pwned Passwords, KV, and a Durable Object failing. Each yields the spec's error code, logs exactly
// once, leaves no half-written state, and a retry succeeds. KV and Durable Object failures use the
// test-only `X-Faroe-Test-Fault` switch, compiled only into the `build-test` bundle.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker, startEmailCapture, startPwnedMock, startUserServer, invoke, jsonLogLines, SECRET,
  FAST_ALGORITHMS, sleep,
} from "./harness.mjs";

let worker, email, pwned, users;
before(async () => {
  email = await startEmailCapture();
  pwned = await startPwnedMock();
  users = await startUserServer();
  worker = await startWorker({
    bundle: "build-test",
    vars: {
      ...email.vars, ...pwned.vars, ...users.vars, ...FAST_ALGORITHMS,
      ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, UPSTREAM_TIMEOUT_MS: "1500",
    },
  });
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), pwned?.close(), users?.close()]);
});

const call = async (action, args, headers = {}) => (await invoke(worker.url, action, args, { headers })).json;

/** Waits for the log line of an invocation and asserts there is exactly one. */
async function loggedOnce(result, action) {
  assert.equal(result.ok, false);
  for (let i = 0; i < 40; i++) {
    const lines = jsonLogLines(worker.logs).filter((l) => l.event !== "action" && l.action_invocation_id === result.action_invocation_id);
    if (lines.length > 0) {
      await sleep(200);
      const again = jsonLogLines(worker.logs).filter((l) => l.event !== "action" && l.action_invocation_id === result.action_invocation_id);
      assert.equal(again.length, 1, JSON.stringify(again));
      assert.equal(again[0].action, action);
      assert.equal(again[0].level, "error");
      assert.equal(typeof again[0].timestamp, "number");
      assert.equal(typeof again[0].message, "string");
      return again[0];
    }
    await sleep(100);
  }
  assert.fail(`no log line for ${result.action_invocation_id}`);
}

async function signedUpUser(address) {
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code })).ok, true);
  assert.equal((await call("set_signup_password", { signup_token: token, password: "fault-password-1" })).ok, true);
  const done = await call("complete_signup", { signup_token: token });
  assert.equal(done.ok, true, JSON.stringify(done));
  return done.values.session_token;
}

for (const fault of ["500", "malformed", "timeout"]) {
  test(`user server ${fault} → internal_error logged once, then a retry succeeds`, async () => {
    const address = `us-${fault}-${Date.now()}@example.com`;
    await signedUpUser(address);
    const before = users.users.size;
    users.state.failNext = fault;
    const failed = await call("create_signin", { user_email_address: address });
    assert.equal(failed.error_code, "internal_error");
    await loggedOnce(failed, "create_signin");
    assert.equal(users.users.size, before);
    const retry = await call("create_signin", { user_email_address: address });
    assert.equal(retry.ok, true, JSON.stringify(retry));
  });
}

test("user server failing during complete_signup keeps the signup for a retry", async () => {
  const address = `us-create-${Date.now()}@example.com`;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
  await call("set_signup_password", { signup_token: token, password: "fault-password-1" });
  users.state.failNext = "500";
  const failed = await call("complete_signup", { signup_token: token });
  assert.equal(failed.error_code, "internal_error");
  await loggedOnce(failed, "complete_signup");
  assert.ok(![...users.users.values()].some((u) => u.email_address === address), "no user was created");
  assert.equal((await call("complete_signup", { signup_token: token })).ok, true);
});

test("email provider failing → internal_error logged once; the retry sends the same code", async () => {
  const address = `mail-${Date.now()}@example.com`;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  email.state.failNext = 1;
  const failed = await call("send_signup_email_address_verification_code", { signup_token: token });
  assert.equal(failed.error_code, "internal_error");
  await loggedOnce(failed, "send_signup_email_address_verification_code");
  assert.equal((await call("send_signup_email_address_verification_code", { signup_token: token })).ok, true);
  const sent = email.messages.filter((m) => m.to === address);
  assert.equal(sent.length, 2);
  assert.equal(sent[0].data.email_address_verification_code, sent[1].data.email_address_verification_code);
});

test("a failing notification email is logged once and does not fail the action", async () => {
  const address = `notify-${Date.now()}@example.com`;
  await signedUpUser(address);
  const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
  await call("verify_signin_user_password", { signin_token: signin, password: "fault-password-1" });
  email.state.failNext = 1;
  const done = await invoke(worker.url, "complete_signin", { signin_token: signin });
  assert.equal(done.json.ok, true);
  await sleep(300);
  const lines = jsonLogLines(worker.logs).filter((l) => l.event !== "action" && l.action_invocation_id === done.json.action_invocation_id);
  assert.equal(lines.length, 1);
  assert.equal(lines[0].action, "complete_signin");
});

test("Pwned Passwords failing → internal_error logged once; the retry sets the password", async () => {
  const address = `pwned-${Date.now()}@example.com`;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
  pwned.state.failNext = 1;
  const failed = await call("set_signup_password", { signup_token: token, password: "fault-password-1" });
  assert.equal(failed.error_code, "internal_error");
  await loggedOnce(failed, "set_signup_password");
  assert.equal((await call("get_signup", { signup_token: token })).values.signup.password_set, false);
  assert.equal((await call("set_signup_password", { signup_token: token, password: "fault-password-1" })).ok, true);
});

test("KV failing: actions still succeed from main storage", async () => {
  const address = `kv-${Date.now()}@example.com`;
  const session = await signedUpUser(address);
  const kv = { "X-Faroe-Test-Fault": "kv" };
  const got = await call("get_session", { session_token: session }, kv);
  assert.equal(got.ok, true, JSON.stringify(got));
  const signin = (await call("create_signin", { user_email_address: address }, kv)).values.signin_token;
  await call("verify_signin_user_password", { signin_token: signin, password: "fault-password-1" }, kv);
  const created = await call("complete_signin", { signin_token: signin }, kv);
  assert.equal(created.ok, true, "a session is created although KV refuses the write");
  assert.equal((await call("get_session", { session_token: created.values.session_token }, kv)).ok, true);
  assert.equal((await call("delete_session", { session_token: created.values.session_token }, kv)).ok, true);
  assert.equal((await call("get_session", { session_token: created.values.session_token })).error_code, "invalid_session_token");
  assert.ok(jsonLogLines(worker.logs).some((l) => l.component === "kv_session_cache"), "KV failures are logged");
});

test("a Durable Object call failing → internal_error logged once, no state written, retry succeeds", async () => {
  const address = `do-${Date.now()}@example.com`;
  const session = await signedUpUser(address);
  const main = { "X-Faroe-Test-Fault": "main-storage" };
  const failed = await call("create_user_password_update", { session_token: session }, main);
  // The cached session validated; storing the new entry failed.
  assert.equal(failed.error_code, "internal_error");
  await loggedOnce(failed, "create_user_password_update");
  assert.equal((await call("create_user_password_update", { session_token: session })).ok, true);

  const rate = { "X-Faroe-Test-Fault": "rate-limit-storage" };
  const other = `do-rate-${Date.now()}@example.com`;
  const limited = await call("create_signup", { email_address: other }, rate);
  assert.equal(limited.error_code, "internal_error");
  await loggedOnce(limited, "create_signup");
  assert.equal(email.messages.filter((m) => m.to === other).length, 0, "no email for a failed signup");
  // Nothing was consumed: 5 signups still fit.
  for (let i = 0; i < 5; i++) assert.equal((await call("create_signup", { email_address: other })).ok, true);
  assert.equal((await call("create_signup", { email_address: other })).error_code, "rate_limited");
});

test("N parallel set-password requests on one entity run one Argon2id hash; the rest answer internal_conflict or password_already_set", async () => {
  // `count-hashes` (build-test only) logs a test-hash line per user password hash.
  const counted = { "X-Faroe-Test-Fault": "count-hashes" };
  const hashLines = () => jsonLogLines(worker.logs).filter((l) => l.component === "test-hash").length;
  const parallel = 12;
  const address = `hash-race-${Date.now()}@example.com`;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code })).ok, true);

  const before = hashLines();
  const results = await Promise.all(Array.from({ length: parallel }, (_, i) =>
    call("set_signup_password", { signup_token: token, password: `hash-race-password-${i}` }, counted)));
  const outcomes = results.map((r) => (r.ok ? "ok" : r.error_code));
  await sleep(500);
  const hashes = hashLines() - before;
  const ok = outcomes.filter((c) => c === "ok").length;
  const conflicts = outcomes.filter((c) => c === "internal_conflict").length;
  const late = outcomes.filter((c) => c === "password_already_set").length;
  console.log(`${parallel} parallel set_signup_password on one signup: ${hashes} hash(es) run, ${ok} ok, ${conflicts} internal_conflict, ${late} password_already_set`);
  assert.equal(ok, 1, outcomes.join(","));
  // A request that overlaps the winner loses the lease (internal_conflict); one that workerd
  // happens to run after it finds the password set. How many overlap is up to the scheduler
  // (tests/hashing_lease.rs interleaves them deterministically); neither kind hashes.
  assert.equal(conflicts + late, parallel - 1, outcomes.join(","));
  assert.equal(hashes, 1, "exactly one hash ran");
  assert.equal(jsonLogLines(worker.logs).filter((l) => l.event !== "action" && results.some((r) => r.action_invocation_id === l.action_invocation_id)).length, 0,
    "internal_conflict is not logged");

  // The lease is gone: the winner's password is set, a later request answers password_already_set.
  assert.equal((await call("set_signup_password", { signup_token: token, password: "hash-race-password-x" }, counted)).error_code, "password_already_set");
  const winner = results.findIndex((r) => r.ok);
  assert.equal((await call("complete_signup", { signup_token: token })).ok, true);
  const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
  assert.equal((await call("verify_signin_user_password", { signin_token: signin, password: `hash-race-password-${winner}` })).ok, true);

  // Control: the same requests on separate signups each hash (the lease is per entity).
  const tokens = [];
  for (let i = 0; i < 4; i++) {
    const other = `hash-race-${i}-${Date.now()}@example.com`;
    const t = (await call("create_signup", { email_address: other })).values.signup_token;
    const c = email.last("signup_email_address_verification_code", other).data.email_address_verification_code;
    await call("verify_signup_email_address_verification_code", { signup_token: t, email_address_verification_code: c });
    tokens.push(t);
  }
  const beforeControl = hashLines();
  const control = await Promise.all(tokens.map((t) => call("set_signup_password", { signup_token: t, password: "hash-race-password-1" }, counted)));
  assert.ok(control.every((r) => r.ok), JSON.stringify(control));
  await sleep(500);
  assert.equal(hashLines() - beforeControl, tokens.length);
});
