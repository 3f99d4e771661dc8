// Concurrency in workerd with real Durable Objects and D1: every race resolves to one winner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startEmailCapture, invoke, SECRET, FAST_ALGORITHMS, d1Query } from "./harness.mjs";

let worker, email;
before(async () => {
  email = await startEmailCapture();
  worker = await startWorker({ vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
});
after(async () => {
  await worker?.stop();
  await email?.close();
});

const call = async (action, args) => (await invoke(worker.url, action, args)).json;
const codes = (results) => results.map((r) => (r.ok ? "ok" : r.error_code));
const count = (list, value) => list.filter((x) => x === value).length;

async function d1UsersWithEmail(address) {
  const rows = await d1Query(worker, `SELECT COUNT(*) AS n FROM users WHERE email_address = '${address}'`);
  return rows[0].n;
}

async function signupUntilPassword(address, password = "race-password-1") {
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  return { token, code, password };
}

async function readyUser(address) {
  const s = await signupUntilPassword(address);
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: s.token, email_address_verification_code: s.code })).ok, true);
  assert.equal((await call("set_signup_password", { signup_token: s.token, password: s.password })).ok, true);
  const done = await call("complete_signup", { signup_token: s.token });
  assert.equal(done.ok, true);
  return { ...s, session: done.values.session_token };
}

test("20 concurrent complete_signin on one signin yield exactly one session (FIX-10)", async () => {
  const address = `race-signin-${Date.now()}@example.com`;
  await readyUser(address);
  const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
  assert.equal((await call("verify_signin_user_password", { signin_token: signin, password: "race-password-1" })).ok, true);
  const results = await Promise.all(Array.from({ length: 20 }, () => call("complete_signin", { signin_token: signin })));
  const c = codes(results);
  assert.equal(count(c, "ok"), 1, c.join(","));
  assert.equal(count(c, "invalid_signin_token"), 19, c.join(","));
  const session = results.find((r) => r.ok).values.session_token;
  assert.equal((await call("get_session", { session_token: session })).ok, true);
  assert.equal((await call("get_signin", { signin_token: signin })).error_code, "invalid_signin_token");
  assert.equal(email.messages.filter((m) => m.type === "user_signed_in_notification" && m.to === address).length, 2,
    "one for the signup, one for the single winning signin");
});

test("20 concurrent complete_signup on one signup yield exactly one user and one session", async () => {
  const address = `race-signup-${Date.now()}@example.com`;
  const s = await signupUntilPassword(address);
  await call("verify_signup_email_address_verification_code", { signup_token: s.token, email_address_verification_code: s.code });
  await call("set_signup_password", { signup_token: s.token, password: s.password });
  const results = await Promise.all(Array.from({ length: 20 }, () => call("complete_signup", { signup_token: s.token })));
  const c = codes(results);
  assert.equal(count(c, "ok"), 1, c.join(","));
  assert.ok(c.every((x) => x === "ok" || x === "invalid_signup_token"), c.join(","));
  assert.equal(await d1UsersWithEmail(address), 1);
  assert.equal((await call("get_signup", { signup_token: s.token })).error_code, "invalid_signup_token");
});

test("10 concurrent correct code verifications: exactly one ok", async () => {
  const address = `race-code-${Date.now()}@example.com`;
  const s = await signupUntilPassword(address);
  const results = await Promise.all(Array.from({ length: 10 }, () =>
    call("verify_signup_email_address_verification_code", { signup_token: s.token, email_address_verification_code: s.code })));
  const c = codes(results);
  assert.equal(count(c, "ok"), 1, c.join(","));
  // The losers either lost the compare-and-set, found it verified, or met the 5-token bucket.
  assert.ok(c.every((x) => ["ok", "internal_conflict", "email_address_already_verified", "rate_limited"].includes(x)), c.join(","));
  assert.equal((await call("get_signup", { signup_token: s.token })).values.signup.email_address_verified, true);
});

test("20 concurrent wrong passwords: never more than the bucket's 5 evaluated", async () => {
  const address = `race-password-${Date.now()}@example.com`;
  await readyUser(address);
  const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
  const results = await Promise.all(Array.from({ length: 20 }, () =>
    call("verify_signin_user_password", { signin_token: signin, password: "wrong-password" })));
  const c = codes(results);
  assert.ok(count(c, "incorrect_password") <= 5, c.join(","));
  assert.ok(count(c, "incorrect_password") >= 1, c.join(","));
  // The rest were refused before any hashing: out of tokens, or a lost compare-and-set on the bucket.
  assert.ok(c.every((x) => ["incorrect_password", "rate_limited", "internal_conflict"].includes(x)), c.join(","));
  // Across the burst and what follows, exactly 5 passwords are ever evaluated.
  let evaluated = count(c, "incorrect_password");
  for (let i = 0; i < 6; i++) {
    const r = await call("verify_signin_user_password", { signin_token: signin, password: "wrong-password" });
    if (r.error_code === "rate_limited") break;
    assert.equal(r.error_code, "incorrect_password");
    evaluated++;
  }
  assert.equal(evaluated, 5, c.join(","));
  const after = await call("verify_signin_user_password", { signin_token: signin, password: "race-password-1" });
  assert.equal(after.error_code, "rate_limited");
});

test("10 concurrent set_signup_password: one winner", async () => {
  const address = `race-setpw-${Date.now()}@example.com`;
  const s = await signupUntilPassword(address);
  await call("verify_signup_email_address_verification_code", { signup_token: s.token, email_address_verification_code: s.code });
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    call("set_signup_password", { signup_token: s.token, password: `candidate-password-${i}` })));
  const c = codes(results);
  assert.equal(count(c, "ok"), 1, c.join(","));
  assert.ok(c.every((x) => ["ok", "internal_conflict", "password_already_set"].includes(x)), c.join(","));
  const winner = results.findIndex((r) => r.ok);
  assert.equal((await call("complete_signup", { signup_token: s.token })).ok, true);
  // Only the winning password signs in.
  const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
  const loser = (winner + 1) % 10;
  assert.equal((await call("verify_signin_user_password", { signin_token: signin, password: `candidate-password-${loser}` })).error_code, "incorrect_password");
  assert.equal((await call("verify_signin_user_password", { signin_token: signin, password: `candidate-password-${winner}` })).ok, true);
  assert.equal(await d1UsersWithEmail(address), 1);
});
