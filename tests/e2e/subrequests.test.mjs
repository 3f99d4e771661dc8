// Per-action subrequests at the protocol's minimum (issue #15 item 1): every one of the 39 actions,
// on its main (successful) path, makes exactly the storage, user-store, email and hashing calls
// that /work/shared/faroe-protocol.md's steps require, plus the documented additions of this port,
// and nothing else (the expected calls, each with its derivation: ./subrequest-counts.mjs). A regression (an extra Durable Object read, a second KV write, …) fails here.
//
// The counts come from the Worker itself: the `build-test` bundle has the `bench` feature, whose
// `X-Faroe-Bench-Count` request header runs the request on a server whose ports count every call
// and answers them in `X-Faroe-Bench-Counts` (src/edge/bench.rs). Names: `main.*` one main-storage
// Durable Object request, `rate_limit.*` one rate-limit Durable Object request, `kv.*` one Workers
// KV operation, `users.*` one D1 query (USER_STORE=d1), `email.*` one delivery (one fetch with the
// webhook provider), `hash.*` one Argon2id hash, `breach_check` one password-strength check (a
// fetch only with PASSWORD_BREACH_CHECK=on; off here). The `do.*` figures (SQLite rows inside the
// objects) are left out: they follow from the calls and SQLite's own bookkeeping.
//
// Abbreviations in the comments: VS = VALIDATE_SESSION, VSAU = VALIDATE_SESSION_AND_USER (§2.3),
// both with a warm cache (the session was cached by CREATE_SESSION, so the cache hit is 1 KV read
// and nothing else); "validate X" = §2.2 (main.get, then users.get_user for all but signups);
// CHECK = §7.3 (one rate-limit read); CONSUME = §7.2 (one read, then an add for a fresh bucket or
// an update of an existing one); CAS = §2.6 (re-read, then update); CREATE_SESSION = §2.4
// (main.set, then kv.set). The port's additions, each documented:
// - the mailbox bucket (docs/abuse-limits.md): every action that sends a code or temporary
//   password CONSUMEs `mailbox.<normalized address>` right after the spec's send-email bucket;
// - the hashing lease (src/flows/mod.rs `set_entity_password`): the three set-password actions
//   take a lease (`rate_limit.add`) before their CAS and release it (`rate_limit.delete`) after;
// - the cache fill's re-read (docs/storage.md "Prompt revocation"): MAIN_PATH's cache fill is
//   followed by a second main.get and users.get_user.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startEmailCapture, invoke, SECRET, FAST_ALGORITHMS } from "./harness.mjs";
import { MAIN_PATH } from "./subrequest-counts.mjs";

let worker, email;
before(async () => {
  email = await startEmailCapture();
  worker = await startWorker({
    bundle: "build-test",
    vars: {
      ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      // No activity update may become due during the test: each would add a main.get, a
      // main.update and a kv.delete to whichever validation happens to run it.
      SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS: "3600",
    },
  });
});
after(async () => {
  await worker?.stop();
  await email?.close();
});

/** Calls `action`; returns its result and the counts the Worker reported, `do.*` left out. */
async function counted(action, args, headers = {}) {
  const r = await invoke(worker.url, action, args, { headers: { "X-Faroe-Bench-Count": "1", ...headers } });
  assert.equal(r.status, 200, `${action}: HTTP ${r.status} ${r.text}`);
  const header = r.headers.get("x-faroe-bench-counts");
  assert.ok(header, `${action}: no X-Faroe-Bench-Counts header (is build-test built with the bench feature?)`);
  const counts = Object.fromEntries(Object.entries(JSON.parse(header)).filter(([k, n]) => !k.startsWith("do.") && n > 0));
  return { json: r.json, counts };
}

const seen = new Set();
/** Runs `action`, asserts it succeeded and made exactly the calls MAIN_PATH[key] lists. */
async function expectCalls(action, args, key, headers) {
  const { json, counts } = await counted(action, args, headers);
  assert.equal(json?.ok, true, `${action}: ${JSON.stringify(json)}`);
  assert.deepEqual(counts, MAIN_PATH[key].counts, `${key} (${MAIN_PATH[key].why})`);
  seen.add(action);
  return json.values;
}

const code = (type, to, field) => email.last(type, to).data[field];

test("each of the 39 actions makes the protocol's minimum of subrequests on its main path", async () => {
  const stamp = Date.now();
  const address = `calls-${stamp}@example.com`;
  const password = "subrequest-password-1";

  // ---------------------------------------------------------------- signup (§3.1)
  const signup = await expectCalls("create_signup", { email_address: address }, "create_signup");
  const signupToken = signup.signup_token;
  await expectCalls("get_signup", { signup_token: signupToken }, "get_signup");
  await expectCalls("send_signup_email_address_verification_code", { signup_token: signupToken }, "send_signup_email_address_verification_code");
  await expectCalls("verify_signup_email_address_verification_code", {
    signup_token: signupToken,
    email_address_verification_code: code("signup_email_address_verification_code", address, "email_address_verification_code"),
  }, "verify_signup_email_address_verification_code");
  await expectCalls("set_signup_password", { signup_token: signupToken, password }, "set_signup_password");
  const completed = await expectCalls("complete_signup", { signup_token: signupToken }, "complete_signup");
  let session = completed.session_token;
  // delete_signup on a second signup (a fresh address: its buckets are fresh too).
  const spare = await counted("create_signup", { email_address: `spare-${stamp}@example.com` });
  await expectCalls("delete_signup", { signup_token: spare.json.values.signup_token }, "delete_signup");

  // ---------------------------------------------------------------- sessions (§3.3), warm cache
  await expectCalls("get_session", { session_token: session }, "get_session (cache hit)");
  // The main path (a cache miss): the `kv` test fault makes every KV call of this one request
  // fail, which the cache adapter treats as a miss (reads) and as done (writes).
  await expectCalls("get_session", { session_token: session }, "get_session (cache miss)", { "X-Faroe-Test-Fault": "kv" });

  // ---------------------------------------------------------------- signin (§3.2)
  const signin = await expectCalls("create_signin", { user_email_address: address }, "create_signin");
  await expectCalls("get_signin", { signin_token: signin.signin_token }, "get_signin");
  await expectCalls("verify_signin_user_password", { signin_token: signin.signin_token, password }, "verify_signin_user_password");
  const signedIn = await expectCalls("complete_signin", { signin_token: signin.signin_token }, "complete_signin");
  session = signedIn.session_token;
  const abandoned = await counted("create_signin", { user_email_address: address });
  await expectCalls("delete_signin", { signin_token: abandoned.json.values.signin_token }, "delete_signin");

  // ---------------------------------------------------------------- email address update (§3.4)
  const newAddress = `calls-moved-${stamp}@example.com`;
  const update = await expectCalls("create_user_email_address_update", { session_token: session, new_email_address: newAddress }, "create_user_email_address_update");
  const u = { session_token: session, user_email_address_update_token: update.user_email_address_update_token };
  await expectCalls("get_user_email_address_update", u, "get_user_email_address_update");
  await expectCalls("send_user_email_address_update_email_address_verification_code", u, "send_user_email_address_update_email_address_verification_code");
  await expectCalls("verify_user_email_address_update_email_address_verification_code", {
    ...u, email_address_verification_code: code("user_email_address_update_email_address_verification_code", newAddress, "email_address_verification_code"),
  }, "verify_user_email_address_update_email_address_verification_code");
  await expectCalls("verify_user_email_address_update_user_password", { ...u, password }, "verify_user_email_address_update_user_password");
  await expectCalls("complete_user_email_address_update", u, "complete_user_email_address_update");
  const abandonedUpdate = await counted("create_user_email_address_update", { session_token: session, new_email_address: `calls-other-${stamp}@example.com` });
  await expectCalls("delete_user_email_address_update", {
    session_token: session, user_email_address_update_token: abandonedUpdate.json.values.user_email_address_update_token,
  }, "delete_user_email_address_update");

  // ---------------------------------------------------------------- password update (§3.5)
  const pwUpdate = await expectCalls("create_user_password_update", { session_token: session }, "create_user_password_update");
  const p = { session_token: session, user_password_update_token: pwUpdate.user_password_update_token };
  await expectCalls("get_user_password_update", p, "get_user_password_update");
  await expectCalls("verify_user_password_update_user_password", { ...p, password }, "verify_user_password_update_user_password");
  const newPassword = "subrequest-password-2";
  await expectCalls("set_user_password_update_new_password", { ...p, password: newPassword }, "set_user_password_update_new_password");
  await expectCalls("complete_user_password_update", p, "complete_user_password_update");
  const abandonedPw = await counted("create_user_password_update", { session_token: session });
  await expectCalls("delete_user_password_update", {
    session_token: session, user_password_update_token: abandonedPw.json.values.user_password_update_token,
  }, "delete_user_password_update");

  // ---------------------------------------------------------------- password reset (§3.7)
  const reset = await expectCalls("create_user_password_reset", { user_email_address: newAddress }, "create_user_password_reset");
  const r = { user_password_reset_token: reset.user_password_reset_token };
  await expectCalls("get_user_password_reset", r, "get_user_password_reset");
  await expectCalls("verify_user_password_reset_temporary_password", {
    ...r, temporary_password: code("user_password_reset_temporary_password", newAddress, "temporary_password"),
  }, "verify_user_password_reset_temporary_password");
  const resetPassword = "subrequest-password-3";
  await expectCalls("set_user_password_reset_new_password", { ...r, password: resetPassword }, "set_user_password_reset_new_password");
  const resetDone = await expectCalls("complete_user_password_reset", r, "complete_user_password_reset");
  session = resetDone.session_token;
  const abandonedReset = await counted("create_user_password_reset", { user_email_address: newAddress });
  await expectCalls("delete_user_password_reset", { user_password_reset_token: abandonedReset.json.values.user_password_reset_token }, "delete_user_password_reset");

  // ---------------------------------------------------------------- sessions that end (§3.3)
  const other = await counted("create_signin", { user_email_address: newAddress });
  await counted("verify_signin_user_password", { signin_token: other.json.values.signin_token, password: resetPassword });
  const otherSession = (await counted("complete_signin", { signin_token: other.json.values.signin_token })).json.values.session_token;
  await expectCalls("delete_session", { session_token: otherSession }, "delete_session");

  // ---------------------------------------------------------------- deletion (§3.6)
  const deletion = await expectCalls("create_user_deletion", { session_token: session }, "create_user_deletion");
  const d = { session_token: session, user_deletion_token: deletion.user_deletion_token };
  await expectCalls("get_user_deletion", d, "get_user_deletion");
  await expectCalls("verify_user_deletion_user_password", { ...d, password: resetPassword }, "verify_user_deletion_user_password");
  const abandonedDeletion = await counted("create_user_deletion", { session_token: session });
  await expectCalls("delete_user_deletion", {
    session_token: session, user_deletion_token: abandonedDeletion.json.values.user_deletion_token,
  }, "delete_user_deletion");
  // delete_all_sessions before the user goes: VSAU, then IncrementUserSessionsCounter.
  await expectCalls("delete_all_sessions", { session_token: session }, "delete_all_sessions");
  // The cached copy is still served to VS until the cache TTL (§6.3): complete_user_deletion works.
  await expectCalls("complete_user_deletion", d, "complete_user_deletion");

  assert.equal(seen.size, 39, `actions covered: ${[...seen].sort().join(", ")}`);
});

test("a counted request answers as an uncounted one, and only the counted one carries counts", async () => {
  const token = "abcdefghijkmnpqrstuvwxyz.abcdefghijkmnpqrstuvwxyz";
  const plain = await invoke(worker.url, "get_session", { session_token: token });
  const withCounts = await invoke(worker.url, "get_session", { session_token: token }, { headers: { "X-Faroe-Bench-Count": "1" } });
  assert.equal(plain.headers.get("x-faroe-bench-counts"), null);
  assert.deepEqual({ ...withCounts.json, action_invocation_id: "" }, { ...plain.json, action_invocation_id: "" });
  // An unknown token: the cache read, then the session's object, which holds nothing.
  const counts = JSON.parse(withCounts.headers.get("x-faroe-bench-counts"));
  assert.equal(counts["kv.get"], 1);
  assert.equal(counts["main.get"], 1);
  assert.equal(counts["do.rows_written"] ?? 0, 0, "a read of an absent key writes no row");
});
