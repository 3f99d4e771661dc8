// The security events extension (issue #14 item 2) in workerd, through the JS clients: the event
// of each flow (sign-in, wrong password, TOTP used/failed/added/removed, recovery codes, email and
// password changes, revocation, reset, deletion) listed by get_user_security_events with the
// client address the app passed; the same events (and user_deleted) received by a queue consumer
// Worker through the SECURITY_EVENTS_QUEUE producer binding and the queue `wrangler dev` simulates
// (one multi-config `wrangler dev`: faroe-worker + tests/e2e/fixtures/queue-consumer); the per-action
// log line in the Worker's output, never a secret. A second Worker without the extension shows the
// action unknown.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@faroe/client";
import { ExtensionClient, HttpsEndpointClient } from "../../js/src/index.js";
import { base32Decode, currentStep, hotp } from "./totp-codes.mjs";
import { root, startEmailCapture, startWorker, tempDir, freePort, invoke, jsonLogLines, sleep, SECRET, FAST_ALGORITHMS } from "./harness.mjs";
import { startWranglerDev, writeBundleConfig, wranglerEnv, wrangler } from "../../scripts/wrangler-dev.mjs";

const run = promisify(execFile);
const PASSWORD = "events-e2e-password-1";
const CLIENT_ADDRESS = "203.0.113.77";
const QUEUE = "faroe-security-events";

/** Records every batch the consumer forwards. */
async function startQueueRecorder() {
  const batches = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    batches.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
    res.writeHead(200).end("{}");
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${server.address().port}/queue`,
    batches,
    messages: () => batches.flatMap((b) => b.messages.map((m) => m.body)),
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * faroe-worker (build/, EXTENSIONS=security_events,totp, the queue producer bound) and the queue
 * consumer in one `wrangler dev -c faroe -c consumer`; the queue lives in that process.
 */
async function startWithQueue(vars, recorderUrl) {
  const dir = await tempDir("faroe-events-");
  const persistTo = join(dir, "state");
  const faroeToml = join(dir, "faroe-worker.wrangler.toml");
  await writeBundleConfig({ main: join(root, "build", "index.js"), path: faroeToml, vars });
  await writeFile(faroeToml, (await readFile(faroeToml, "utf8"))
    + `\n[[queues.producers]]\nbinding = "SECURITY_EVENTS_QUEUE"\nqueue = "${QUEUE}"\n`);
  const consumerToml = join(dir, "consumer.wrangler.toml");
  const fixture = join(root, "tests", "e2e", "fixtures", "queue-consumer");
  await writeFile(consumerToml, (await readFile(join(fixture, "wrangler.toml"), "utf8"))
    .replace('main = "index.js"', `main = ${JSON.stringify(join(fixture, "index.js"))}`)
    + `\n[vars]\nRECORDER_URL = ${JSON.stringify(recorderUrl)}\n`);
  const env = wranglerEnv({ WRANGLER_REGISTRY_PATH: join(dir, "registry") });
  await run(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, "-c", faroeToml], { cwd: root, env });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const dev = await startWranglerDev([
    "-c", faroeToml, "-c", consumerToml,
    "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(await freePort()),
    "--persist-to", persistTo, "--show-interactive-dev-session=false", "--log-level", "log",
  ], { env, readyUrl: url, timeoutMs: 90_000 });
  return { url, logs: dev.logs, async stop() { await dev.stop(); await rm(dir, { recursive: true, force: true }); } };
}

let email, recorder, worker, faroe, extensions;
/** The invocation id of every answer the clients got (each must have exactly one log line). */
const answered = [];
before(async () => {
  email = await startEmailCapture();
  recorder = await startQueueRecorder();
  worker = await startWithQueue({
    ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, PASSWORD_BREACH_CHECK: "off",
    EXTENSIONS: "totp,security_events", TOTP_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString("base64")}`,
  }, recorder.url);
  // The app names the end user's address with X-Faroe-Client-Address (an authenticated caller).
  const https = new HttpsEndpointClient(worker.url, SECRET, { clientAddress: CLIENT_ADDRESS });
  const endpoint = {
    async sendActionInvocationEndpointRequest(body) {
      const text = await https.sendActionInvocationEndpointRequest(body);
      answered.push(JSON.parse(text).action_invocation_id);
      return text;
    },
  };
  faroe = new Client(endpoint);
  extensions = new ExtensionClient(endpoint);
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), recorder?.close()]);
});

async function signedUp(address) {
  const created = await faroe.createSignup(address);
  assert.equal(created.ok, true, JSON.stringify(created));
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await faroe.verifySignupEmailAddressVerificationCode(created.signupToken, code)).ok, true);
  assert.equal((await faroe.setSignupPassword(created.signupToken, PASSWORD)).ok, true);
  const done = await faroe.completeSignup(created.signupToken);
  assert.equal(done.ok, true, JSON.stringify(done));
  return { address, session: done.sessionToken, userId: done.session.userId };
}

async function passwordVerified(address, password = PASSWORD) {
  const signin = await faroe.createSignin(address);
  assert.equal(signin.ok, true);
  assert.equal((await faroe.verifySigninUserPassword(signin.signinToken, password)).ok, true);
  return signin.signinToken;
}

async function listed(session) {
  const result = await extensions.getUserSecurityEvents(session);
  assert.equal(result.ok, true, JSON.stringify(result));
  return result.userSecurityEvents;
}

const kinds = (events) => events.map((e) => `${e.type}${e.detail ? `:${e.detail}` : ""}`);

/** Waits until the consumer has received messages for `userId` of every kind in `expected`. */
async function queued(userId, expected) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = recorder.messages().filter((m) => m.user_id === userId);
    if (got.length >= expected.length || Date.now() > deadline) return got;
    await sleep(200);
  }
}

// Each user's verify-user-password bucket holds 5 tokens (1 per minute): each test counts them.
describe("EXTENSIONS=security_events with the queue", () => {
  test("sign-in and second-factor events: listed newest first with the app's client address, and queued", async () => {
    const user = await signedUp(`events-a-${Date.now()}@example.com`);
    assert.deepEqual(await listed(user.session), [], "sign-up records nothing");
    // 1: a wrong password.
    const refused = await faroe.createSignin(user.address);
    assert.equal((await faroe.verifySigninUserPassword(refused.signinToken, "wrong-password-0")).errorCode, "incorrect_password");
    // 2: TOTP enrollment.
    const enrollment = await extensions.createUserTOTPEnrollment(user.session);
    const verified = await extensions.verifyUserTOTPEnrollmentUserPassword(user.session, enrollment.userTOTPEnrollmentToken, PASSWORD);
    assert.equal(verified.ok, true);
    const key = base32Decode(verified.totpKey);
    const step = currentStep();
    assert.equal((await extensions.verifyUserTOTPEnrollmentTOTPCode(user.session, enrollment.userTOTPEnrollmentToken, hotp(key, step))).ok, true);
    const enrolled = await extensions.completeUserTOTPEnrollment(user.session, enrollment.userTOTPEnrollmentToken);
    assert.equal(enrolled.ok, true);
    // 3: password + a wrong then a right TOTP code, signed in.
    const withCode = await passwordVerified(user.address);
    const right = hotp(key, step + 1);
    const wrong = right === "000000" ? "000001" : "000000";
    assert.equal((await extensions.verifySigninTOTPCode(withCode, wrong)).errorCode, "incorrect_totp_code");
    assert.equal((await extensions.verifySigninTOTPCode(withCode, right)).ok, true);
    assert.equal((await faroe.completeSignin(withCode)).ok, true);
    // 4: password + a wrong then a right recovery code.
    const withRecovery = await passwordVerified(user.address);
    assert.equal((await extensions.verifySigninRecoveryCode(withRecovery, "AAAAAAAAAAAA")).errorCode, "incorrect_recovery_code");
    assert.equal((await extensions.verifySigninRecoveryCode(withRecovery, enrolled.recoveryCodes[0])).ok, true);
    const signedIn = await faroe.completeSignin(withRecovery);
    assert.equal(signedIn.ok, true);
    // 5: TOTP removed.
    const deletion = await extensions.createUserTOTPDeletion(signedIn.sessionToken);
    assert.equal((await extensions.verifyUserTOTPDeletionUserPassword(signedIn.sessionToken, deletion.userTOTPDeletionToken, PASSWORD)).ok, true);
    assert.equal((await extensions.completeUserTOTPDeletion(signedIn.sessionToken, deletion.userTOTPDeletionToken)).ok, true);

    const expected = [
      "second_factor_removed:totp", "signin_succeeded", "second_factor_used:recovery_code", "second_factor_failed:recovery_code",
      "signin_succeeded", "second_factor_used:totp", "second_factor_failed:totp", "second_factor_added:totp", "signin_password_incorrect",
    ];
    const events = await listed(user.session);
    // One request may share a millisecond with the next only in theory; order within one is undefined.
    assert.deepEqual(kinds(events).sort(), [...expected].sort());
    assert.deepEqual(kinds(events), expected, "newest first");
    for (const e of events) {
      assert.match(e.id, /^[a-z2-9]{24}$/);
      assert.equal(e.clientAddress, CLIENT_ADDRESS);
      assert.ok(e.createdAt instanceof Date && Math.abs(e.createdAt - Date.now()) < 120_000);
    }
    // The queue consumer got the same events, as documented.
    const messages = await queued(user.userId, expected);
    assert.deepEqual(messages.map((m) => `${m.type}${m.detail ? `:${m.detail}` : ""}`).sort(), [...expected].sort());
    for (const m of messages) {
      assert.deepEqual(Object.keys(m), ["type", "detail", "user_id", "created_at", "action_invocation_id", "client_address"]);
      assert.equal(m.client_address, CLIENT_ADDRESS);
      assert.match(m.action_invocation_id, /^[a-z2-9]{24}$/);
      assert.ok(Number.isInteger(m.created_at));
    }
    const byType = new Map(events.map((e) => [e.type + e.detail, e]));
    const removed = messages.find((m) => m.type === "second_factor_removed");
    assert.equal(removed.created_at, byType.get("second_factor_removedtotp").createdAt.getTime() / 1000);
  });

  test("account changes, revocation, reset and deletion: listed and queued (user_deleted to the queue only)", async () => {
    const user = await signedUp(`events-b-${Date.now()}@example.com`);
    const newAddress = `events-b2-${Date.now()}@example.com`;
    // Email address update (1 password check).
    const update = await faroe.createUserEmailAddressUpdate(user.session, newAddress);
    assert.equal(update.ok, true);
    const code = email.last("user_email_address_update_email_address_verification_code", newAddress).data.email_address_verification_code;
    assert.equal((await faroe.verifyUserEmailAddressUpdateEmailAddressVerificationCode(user.session, update.userEmailAddressUpdateToken, code)).ok, true);
    assert.equal((await faroe.verifyUserEmailAddressUpdateUserPassword(user.session, update.userEmailAddressUpdateToken, PASSWORD)).ok, true);
    assert.equal((await faroe.completeUserEmailAddressUpdate(user.session, update.userEmailAddressUpdateToken)).ok, true);
    // Password update (2).
    const newPassword = "events-e2e-password-2";
    const pu = await faroe.createUserPasswordUpdate(user.session);
    assert.equal((await faroe.verifyUserPasswordUpdateUserPassword(user.session, pu.userPasswordUpdateToken, PASSWORD)).ok, true);
    assert.equal((await faroe.setUserPasswordUpdateNewPassword(user.session, pu.userPasswordUpdateToken, newPassword)).ok, true);
    assert.equal((await faroe.completeUserPasswordUpdate(user.session, pu.userPasswordUpdateToken)).ok, true);
    // Every session revoked.
    assert.equal((await faroe.deleteAllSessions(user.session)).ok, true);
    // Password reset (temporary-password bucket).
    const reset = await faroe.createUserPasswordReset(newAddress);
    assert.equal(reset.ok, true, JSON.stringify(reset));
    const temporary = email.last("user_password_reset_temporary_password", newAddress).data.temporary_password;
    assert.equal((await faroe.verifyUserPasswordResetTemporaryPassword(reset.userPasswordResetToken, temporary)).ok, true);
    const finalPassword = "events-e2e-password-3";
    assert.equal((await faroe.setUserPasswordResetNewPassword(reset.userPasswordResetToken, finalPassword)).ok, true);
    const afterReset = await faroe.completeUserPasswordReset(reset.userPasswordResetToken);
    assert.equal(afterReset.ok, true);

    const expected = ["password_reset", "sessions_revoked:all", "password_updated", "email_address_updated"];
    assert.deepEqual(kinds(await listed(afterReset.sessionToken)), expected);

    // Deletion (3): the events go with the user; user_deleted reaches the queue.
    const deletion = await faroe.createUserDeletion(afterReset.sessionToken);
    assert.equal((await faroe.verifyUserDeletionUserPassword(afterReset.sessionToken, deletion.userDeletionToken, finalPassword)).ok, true);
    const deleted = await faroe.completeUserDeletion(afterReset.sessionToken, deletion.userDeletionToken);
    assert.equal(deleted.ok, true);
    const messages = await queued(user.userId, [...expected, "user_deleted"]);
    assert.deepEqual(messages.map((m) => `${m.type}${m.detail ? `:${m.detail}` : ""}`).sort(), [...expected, "user_deleted"].sort());
    const last = messages.find((m) => m.type === "user_deleted");
    assert.equal(last.action_invocation_id, deleted.actionInvocationId);
    assert.equal(last.client_address, CLIENT_ADDRESS);
  });

  test("every invocation wrote one action log line; none holds a secret, token or email address", async (t) => {
    // The two tests above ran; check the lines of everything the Worker answered.
    const lines = jsonLogLines(worker.logs).filter((l) => l.event === "action");
    await sleep(300);
    assert.ok(answered.length >= 40, `${answered.length} invocations`);
    assert.deepEqual(lines.map((l) => l.action_invocation_id).sort(), [...answered].sort(), "one line per invocation, no more");
    for (const l of lines) {
      assert.deepEqual(Object.keys(l), ["event", "action", "action_invocation_id", "result", "user_id"]);
      assert.match(l.action_invocation_id, /^[a-z2-9]{24}$/);
      assert.ok(l.user_id === null || typeof l.user_id === "string");
    }
    assert.equal(new Set(lines.map((l) => l.action_invocation_id)).size, lines.length, "one line per invocation");
    const wrong = lines.find((l) => l.result === "incorrect_password");
    assert.equal(wrong.action, "verify_signin_user_password");
    assert.equal(typeof wrong.user_id, "string");
    assert.ok(lines.some((l) => l.action === "create_signup" && l.user_id === null && l.result === "ok"));
    const raw = worker.logs.filter((l) => l.includes('"event":"action"')).join("\n");
    assert.equal(/@/.test(raw), false, "no email address");
    for (const secret of [PASSWORD, "wrong-password-0", "events-e2e-password-2", "events-e2e-password-3"]) {
      assert.equal(raw.includes(secret), false, secret);
    }
    // No token: every 24-character id in the lines is an invocation id (or a user id).
    const ids = new Set(lines.flatMap((l) => [l.action_invocation_id, l.user_id]));
    for (const id of raw.match(/[a-z2-9]{24}/g) ?? []) assert.ok(ids.has(id), `unexplained id ${id}`);
    t.diagnostic(`${lines.length} action log lines; e.g. ${JSON.stringify(lines[0])}`);
  });
});

describe("recording failures (test-faults build)", () => {
  test("account storage failing: complete_signin still succeeds, the failure is logged with its invocation id, no record", async () => {
    const faulty = await startWorker({
      bundle: "build-test",
      vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, EXTENSIONS: "security_events" },
    });
    try {
      const call = async (action, args, headers = {}) => (await invoke(faulty.url, action, args, { headers })).json;
      const address = `events-fault-${Date.now()}@example.com`;
      const signup = await call("create_signup", { email_address: address });
      const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
      await call("verify_signup_email_address_verification_code", { signup_token: signup.values.signup_token, email_address_verification_code: code });
      await call("set_signup_password", { signup_token: signup.values.signup_token, password: PASSWORD });
      const session = (await call("complete_signup", { signup_token: signup.values.signup_token })).values.session_token;
      const signin = (await call("create_signin", { user_email_address: address })).values.signin_token;
      assert.equal((await call("verify_signin_user_password", { signin_token: signin, password: PASSWORD })).ok, true);
      // Only this request's account storage fails: the event cannot be recorded.
      const done = await call("complete_signin", { signin_token: signin }, { "X-Faroe-Test-Fault": "account-storage" });
      assert.equal(done.ok, true, JSON.stringify(done));
      let errors = [];
      for (let i = 0; i < 40 && errors.length === 0; i++) {
        await sleep(100);
        errors = jsonLogLines(faulty.logs).filter((l) => l.level === "error" && l.action_invocation_id === done.action_invocation_id);
      }
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0].action, "complete_signin");
      assert.match(errors[0].message, /^failed to record security event signin_succeeded: /);
      const listed = await call("get_user_security_events", { session_token: session });
      assert.deepEqual(listed.values.user_security_events, [], "nothing was recorded");
      // Reading fails with internal_error while storage fails.
      assert.equal((await call("get_user_security_events", { session_token: session }, { "X-Faroe-Test-Fault": "account-storage" })).error_code, "internal_error");
    } finally {
      await faulty.stop();
    }
  });
});

describe("without the extension", () => {
  test("get_user_security_events is an unknown action; the action log runs anyway and ACTION_LOG=off silences it", async () => {
    const plain = await startWorker({ vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
    try {
      const r = await invoke(plain.url, "get_user_security_events", { session_token: "a.b" });
      assert.equal(r.status, 400);
      assert.equal(r.text, "unknown action");
      // The action log is on regardless of extensions.
      const s = await invoke(plain.url, "get_session", { session_token: "a.b" });
      assert.equal(s.json.error_code, "invalid_session_token");
      await sleep(300);
      const lines = jsonLogLines(plain.logs).filter((l) => l.event === "action");
      assert.deepEqual(lines.map((l) => [l.action, l.result, l.user_id]), [["get_session", "invalid_session_token", null]]);
    } finally {
      await plain.stop();
    }
    const off = await startWorker({ vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, ACTION_LOG: "off" } });
    try {
      await invoke(off.url, "get_session", { session_token: "a.b" });
      await sleep(300);
      assert.deepEqual(jsonLogLines(off.logs).filter((l) => l.event === "action"), [], "ACTION_LOG=off");
    } finally {
      await off.stop();
    }
  });
});
