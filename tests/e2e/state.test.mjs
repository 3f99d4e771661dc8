// State across restarts (same --persist-to) and the KV session cache: a session is served from
// the cache while stale, and revocation is seen once the cache entry expires.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startEmailCapture, invoke, SECRET, FAST_ALGORITHMS, tempDir, sleep } from "./harness.mjs";

async function newUser(url, email, address) {
  const call = async (action, args) => (await invoke(url, action, args)).json;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code })).ok, true);
  assert.equal((await call("set_signup_password", { signup_token: token, password: "state-password-1" })).ok, true);
  const done = await call("complete_signup", { signup_token: token });
  assert.equal(done.ok, true);
  return done.values.session_token;
}

test("sessions, users and rate limits persist across a restart with the same --persist-to", async () => {
  const email = await startEmailCapture();
  const persistTo = await tempDir();
  const vars = { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET };
  const address = `persist-${Date.now()}@example.com`;
  let worker = await startWorker({ vars, persistTo });
  let session, signin;
  try {
    session = await newUser(worker.url, email, address);
    signin = (await invoke(worker.url, "create_signin", { user_email_address: address })).json.values.signin_token;
    for (let i = 0; i < 3; i++) {
      assert.equal((await invoke(worker.url, "verify_signin_user_password", { signin_token: signin, password: "nope-nope-nope" })).json.error_code, "incorrect_password");
    }
  } finally {
    await worker.stop();
  }
  worker = await startWorker({ vars, persistTo });
  try {
    const got = (await invoke(worker.url, "get_session", { session_token: session })).json;
    assert.equal(got.ok, true, JSON.stringify(got));
    assert.equal((await invoke(worker.url, "get_signin", { signin_token: signin })).json.ok, true);
    // 3 of the 5 password tokens were spent before the restart: 2 remain.
    for (let i = 0; i < 2; i++) {
      assert.equal((await invoke(worker.url, "verify_signin_user_password", { signin_token: signin, password: "nope-nope-nope" })).json.error_code, "incorrect_password");
    }
    assert.equal((await invoke(worker.url, "verify_signin_user_password", { signin_token: signin, password: "state-password-1" })).json.error_code, "rate_limited");
    assert.equal((await invoke(worker.url, "create_signup", { email_address: address })).json.error_code, "email_address_already_used");
  } finally {
    await worker.stop();
    await email.close();
  }
});

test("KV cache: a revoked session is served from the cache until its entry expires", async () => {
  const email = await startEmailCapture();
  const worker = await startWorker({
    vars: {
      ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      SESSION_CACHE_EXPIRATION_SECONDS: "60", SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS: "3600",
    },
  });
  try {
    const address = `cache-${Date.now()}@example.com`;
    const first = await newUser(worker.url, email, address);
    const signin = (await invoke(worker.url, "create_signin", { user_email_address: address })).json.values.signin_token;
    await invoke(worker.url, "verify_signin_user_password", { signin_token: signin, password: "state-password-1" });
    const second = (await invoke(worker.url, "complete_signin", { signin_token: signin })).json.values.session_token;
    const cachedAt = Date.now(); // CREATE_SESSION wrote the cache entry just now
    assert.equal((await invoke(worker.url, "delete_all_sessions", { session_token: first })).json.ok, true);
    // Main storage would now reject `second` (its sessions counter is stale); the cache still serves it.
    const stale = (await invoke(worker.url, "get_session", { session_token: second })).json;
    assert.equal(stale.ok, true, "served from the KV cache");
    // The session-and-user variant fetches the user but not the counters on a cache hit (KEEP).
    await sleep(Math.max(0, cachedAt + 61_000 - Date.now()));
    const revoked = (await invoke(worker.url, "get_session", { session_token: second })).json;
    assert.equal(revoked.error_code, "invalid_session_token", "revocation seen once the cache entry expired");
    assert.equal((await invoke(worker.url, "get_session", { session_token: first })).json.error_code, "invalid_session_token");
  } finally {
    await worker.stop();
    await email.close();
  }
});
