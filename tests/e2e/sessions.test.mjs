// The sessions extension (issue #14 item 1) in workerd, through the JS clients (@faroe/client for
// Faroe's actions, ExtensionClient for the extension's, `clientLabel` for X-Faroe-Client-Label):
// concurrent sign-ins all indexed, concurrent revocations (one winner per session), a list racing
// delete_all_sessions, and what the user's AccountStore object holds after each (one row per live
// session, key `session.<id>`, expiry = the inactivity expiry; nothing else). A second Worker
// without EXTENSIONS shows the actions are unknown and no AccountStore object is touched.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { ExtensionClient, HttpsEndpointClient, EndpointError } from "../../js/src/index.js";
import { Client } from "@faroe/client";
import { inspectObject, objectEntries, objectIds } from "./objects.mjs";
import { startWorker, startEmailCapture, startUserServer, invoke, SECRET, FAST_ALGORITHMS } from "./harness.mjs";

const PASSWORD = "sessions-e2e-password-1";
/** The default SESSION_INACTIVITY_TIMEOUT_SECONDS (30 days), the index records' lifetime. */
const INACTIVITY_MS = 30 * 24 * 3600 * 1000;

let worker, email, users, endpoint, faroe, extensions;
before(async () => {
  email = await startEmailCapture();
  users = await startUserServer();
  worker = await startWorker({
    vars: { ...email.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, EXTENSIONS: "sessions" },
  });
  endpoint = new HttpsEndpointClient(worker.url, SECRET);
  faroe = new Client(endpoint);
  extensions = new ExtensionClient(endpoint);
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), users?.close()]);
});

/** A Faroe client whose session-creating calls carry `label`. */
const labelled = (label) => new Client(endpoint.forRequest({ clientLabel: label }));

let counter = 0;
async function signedUp(label = "Signup browser") {
  const address = `sessions-${Date.now()}-${counter++}@example.com`;
  const created = await faroe.createSignup(address);
  assert.equal(created.ok, true, JSON.stringify(created));
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await faroe.verifySignupEmailAddressVerificationCode(created.signupToken, code)).ok, true);
  assert.equal((await faroe.setSignupPassword(created.signupToken, PASSWORD)).ok, true);
  const done = await labelled(label).completeSignup(created.signupToken);
  assert.equal(done.ok, true, JSON.stringify(done));
  return { address, session: done.sessionToken, sessionId: done.session.id, userId: done.session.userId };
}

/** Password-verified signins (each user's password bucket holds 5 tokens: at most 4 here). */
async function verifiedSignins(address, n) {
  const tokens = [];
  for (let i = 0; i < n; i++) {
    const signin = await faroe.createSignin(address);
    assert.equal(signin.ok, true);
    assert.equal((await faroe.verifySigninUserPassword(signin.signinToken, PASSWORD)).ok, true);
    tokens.push(signin.signinToken);
  }
  return tokens;
}

/** The one AccountStore object named after `userId` (miniflare records each object's name). */
function accountObject(userId) {
  const ids = [...objectIds(worker.persistTo, "AccountStore")].filter((id) => inspectObject(worker.persistTo, "AccountStore", id).name === userId);
  assert.ok(ids.length <= 1);
  return ids[0] ?? null;
}

/**
 * The user's index rows: session id → { value, counter, expires_at }. `objectId` for an object
 * that was emptied (deleteAll() also drops miniflare's name table, so it is found by id only).
 */
function indexRows(userId, objectId = accountObject(userId)) {
  const id = objectId;
  if (id === null) return new Map();
  const rows = objectEntries(worker.persistTo, "AccountStore", id);
  for (const row of rows) assert.match(row.key, /^session\.[a-z0-9]{24}$/, "only index records");
  return new Map(rows.map((row) => [row.key.slice("session.".length), row]));
}

describe("EXTENSIONS=sessions", () => {
  test("concurrent sign-ins are all indexed with their labels; the list and the AccountStore agree", async (t) => {
    const user = await signedUp();
    const signins = await verifiedSignins(user.address, 4);
    const done = await Promise.all(signins.map((token, i) => labelled(`Device ${i}`).completeSignin(token)));
    for (const d of done) assert.equal(d.ok, true, JSON.stringify(d));
    const ids = [user.sessionId, ...done.map((d) => d.session.id)];

    const listed = await extensions.getUserSessions(done[2].sessionToken);
    assert.equal(listed.ok, true, JSON.stringify(listed));
    assert.deepEqual(new Set(listed.userSessions.map((s) => s.id)), new Set(ids));
    const byId = new Map(listed.userSessions.map((s) => [s.id, s]));
    assert.equal(byId.get(user.sessionId).clientLabel, "Signup browser");
    done.forEach((d, i) => assert.equal(byId.get(d.session.id).clientLabel, `Device ${i}`));
    assert.deepEqual(listed.userSessions.filter((s) => s.current).map((s) => s.id), [done[2].session.id]);
    const created = listed.userSessions.map((s) => s.createdAt.getTime());
    assert.deepEqual(created, [...created].sort((a, b) => b - a), "newest first");

    const rows = indexRows(user.userId);
    assert.deepEqual(new Set(rows.keys()), new Set(ids), "one AccountStore row per session");
    for (const [id, row] of rows) {
      const session = byId.get(id);
      assert.equal(row.expires_at, session.lastActiveAt.getTime() + INACTIVITY_MS, "the record expires with the session");
      assert.equal(session.expiresAt.getTime(), row.expires_at);
      assert.ok(row.value.includes(Buffer.from(session.clientLabel)), "the label is stored");
    }
    t.diagnostic(`index record: ${rows.get(user.sessionId).value.length} bytes; object ${inspectObject(worker.persistTo, "AccountStore", accountObject(user.userId)).bytes} bytes on disk for ${rows.size} sessions`);
  });

  test("concurrent revocations: one winner per session, the rest session_not_found; the records go", async () => {
    const user = await signedUp();
    const done = await Promise.all((await verifiedSignins(user.address, 3)).map((token) => faroe.completeSignin(token)));
    const [a, b, c] = done.map((d) => ({ token: d.sessionToken, id: d.session.id }));
    const results = await Promise.all([
      extensions.deleteUserSession(user.session, b.id),
      extensions.deleteUserSession(a.token, b.id),
      extensions.deleteUserSession(a.token, c.id),
      extensions.deleteUserSession(user.session, c.id),
      faroe.deleteSession(c.token),
    ]);
    const outcome = (r) => (r.ok ? "ok" : r.errorCode);
    assert.deepEqual([outcome(results[0]), outcome(results[1])].sort(), ["ok", "session_not_found"], "b: exactly one revocation wins");
    const cOutcomes = results.slice(2, 4).map(outcome);
    assert.ok(cOutcomes.filter((o) => o === "ok").length <= 1, `c: ${cOutcomes}`);
    assert.ok(cOutcomes.every((o) => o === "ok" || o === "session_not_found"), `c: ${cOutcomes}`);
    assert.ok(results[4].ok || results[4].errorCode === "invalid_session_token");
    for (const gone of [b, c]) assert.equal((await faroe.getSession(gone.token)).errorCode, "invalid_session_token");

    const listed = await extensions.getUserSessions(a.token);
    assert.deepEqual(new Set(listed.userSessions.map((s) => s.id)), new Set([user.sessionId, a.id]));
    assert.deepEqual(new Set(indexRows(user.userId).keys()), new Set([user.sessionId, a.id]), "the AccountStore holds only the live sessions");
    // Another user's session is not found, and a malformed id changes nothing.
    const other = await signedUp();
    assert.equal((await extensions.deleteUserSession(a.token, other.sessionId)).errorCode, "session_not_found");
    assert.equal((await faroe.getSession(other.session)).ok, true);
    assert.equal((await extensions.deleteUserSession(a.token, "../not-an-id")).errorCode, "session_not_found");
    // Signing this device out.
    assert.equal((await extensions.deleteUserSession(a.token, a.id)).ok, true);
    assert.equal((await faroe.getSession(a.token)).errorCode, "invalid_session_token");
    assert.deepEqual([...indexRows(user.userId).keys()], [user.sessionId]);
  });

  test("a list racing delete_all_sessions shows all or nothing; afterwards nothing revoked is listed or stored", async () => {
    const user = await signedUp();
    const done = await Promise.all((await verifiedSignins(user.address, 3)).map((token) => faroe.completeSignin(token)));
    const tokens = [user.session, ...done.map((d) => d.sessionToken)];
    const objectId = accountObject(user.userId);
    assert.equal(indexRows(user.userId, objectId).size, 4);
    const [revoked, listed] = await Promise.all([faroe.deleteAllSessions(tokens[1]), extensions.getUserSessions(tokens[2])]);
    assert.equal(revoked.ok, true);
    if (listed.ok) {
      assert.ok([0, 4].includes(listed.userSessions.length), `a partial list: ${listed.userSessions.length}`);
    } else {
      assert.equal(listed.errorCode, "invalid_session_token");
    }
    assert.equal(indexRows(user.userId, objectId).size, 0, "delete_all_sessions emptied the index");
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, {}, "the emptied object keeps no table and no alarm");
    const [fresh] = await verifiedSignins(user.address, 1);
    const session = await faroe.completeSignin(fresh);
    const after = await extensions.getUserSessions(session.sessionToken);
    assert.deepEqual(after.userSessions.map((s) => s.id), [session.session.id]);
    for (const token of tokens) {
      // The KV copy may outlive a sign-out-everywhere for its TTL (§6.3); the list never shows them.
      const got = await faroe.getSession(token);
      if (got.ok) assert.ok(!after.userSessions.some((s) => s.id === got.session.id));
    }
    assert.deepEqual([...indexRows(user.userId, objectId).keys()], [session.session.id]);
  });

  test("delete_session and user deletion prune the index", async () => {
    const user = await signedUp();
    const [signin] = await verifiedSignins(user.address, 1);
    const second = await faroe.completeSignin(signin);
    assert.equal((await faroe.deleteSession(second.sessionToken)).ok, true);
    const objectId = accountObject(user.userId);
    assert.deepEqual([...indexRows(user.userId, objectId).keys()], [user.sessionId]);
    const deletion = await faroe.createUserDeletion(user.session);
    assert.equal((await faroe.verifyUserDeletionUserPassword(user.session, deletion.userDeletionToken, PASSWORD)).ok, true);
    assert.equal((await faroe.completeUserDeletion(user.session, deletion.userDeletionToken)).ok, true);
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, {}, "the deleted user's object is empty");
  });
});

describe("without EXTENSIONS", () => {
  let plain, plainEmail;
  before(async () => {
    plainEmail = await startEmailCapture();
    plain = await startWorker({ vars: { ...plainEmail.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
  });
  after(async () => {
    await plain?.stop();
    await plainEmail?.close();
  });

  test("get_user_sessions and delete_user_session are unknown; a client label changes nothing; no AccountStore object", async () => {
    const client = new ExtensionClient(new HttpsEndpointClient(plain.url, SECRET));
    const refused = await client.getUserSessions("a.b").catch((e) => e);
    assert.ok(refused instanceof EndpointError);
    assert.deepEqual({ status: refused.status, reason: refused.reason }, { status: 400, reason: "unknown action" });
    for (const action of ["get_user_sessions", "delete_user_session"]) {
      const r = await invoke(plain.url, action, {});
      assert.deepEqual({ status: r.status, text: r.text }, { status: 400, text: "unknown action" });
    }
    const address = `plain-sessions-${Date.now()}@example.com`;
    const label = { headers: { "X-Faroe-Client-Label": "Firefox on Linux" } };
    const token = (await invoke(plain.url, "create_signup", { email_address: address })).json.values.signup_token;
    const code = plainEmail.last("signup_email_address_verification_code", address).data.email_address_verification_code;
    await invoke(plain.url, "verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
    await invoke(plain.url, "set_signup_password", { signup_token: token, password: PASSWORD });
    const done = (await invoke(plain.url, "complete_signup", { signup_token: token }, label)).json;
    assert.equal(done.ok, true);
    assert.deepEqual(Object.keys(done.values.session).sort(), ["created_at", "expires_at", "id", "user_id"]);
    assert.equal((await invoke(plain.url, "delete_all_sessions", { session_token: done.values.session_token })).json.ok, true);
    assert.equal(objectIds(plain.persistTo, "AccountStore").size, 0, "no AccountStore object was touched");
  });
});
