// The TOTP extension (issue #12) in workerd, through the JS clients (@faroe/client for Faroe's
// actions, ExtensionClient for the extension's): enrollment with codes computed here from the
// returned key (RFC 6238), sign-in with password + TOTP and with a recovery code, replay refused,
// regeneration, removal, the operator action, and what the Worker leaves in its Durable Objects
// (no plaintext key or recovery code; the user's AccountStore object gone after deletion). A second
// Worker without EXTENSIONS shows the extension's actions are unknown there.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { ExtensionClient, HttpsEndpointClient, EndpointError } from "../../js/src/index.js";
import { Client } from "@faroe/client";
import { inspectObject, objectEntries, objectIds } from "./objects.mjs";
import { base32Decode, currentStep, hotp } from "./totp-codes.mjs";
import { startWorker, startEmailCapture, startUserServer, invoke, SECRET, FAST_ALGORITHMS } from "./harness.mjs";

// ---------------------------------------------------------------- RFC 6238 (the test's own)

test("the test's own TOTP matches RFC 6238's SHA-1 vectors", () => {
  const key = Buffer.from("12345678901234567890");
  // Appendix B: 8-digit codes; our 6 digits are their last six.
  for (const [time, code] of [[59, "94287082"], [1111111109, "07081804"], [1234567890, "89005924"], [20000000000, "65353130"]]) {
    assert.equal(hotp(key, Math.floor(time / 30)), code.slice(2));
  }
  assert.deepEqual(base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"), key);
});

// ---------------------------------------------------------------- the workers

const TOTP_KEYS = `k1:${randomBytes(32).toString("base64")}`;
const PASSWORD = "totp-e2e-password-1";

let worker, email, users, faroe, extensions;
before(async () => {
  email = await startEmailCapture();
  users = await startUserServer();
  worker = await startWorker({
    vars: {
      ...email.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      EXTENSIONS: "totp", TOTP_ENCRYPTION_KEYS: TOTP_KEYS, APP_NAME: "Faroe E2E",
    },
  });
  const endpoint = new HttpsEndpointClient(worker.url, SECRET);
  faroe = new Client(endpoint);
  extensions = new ExtensionClient(endpoint);
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), users?.close()]);
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

/**
 * Enrolls TOTP from `session`; returns the key (bytes and base32), URI, step used and codes.
 * `wrongPassword` also tries a wrong password first: each user's verify-user-password bucket holds
 * 5 tokens (1 per minute), so every test counts its password checks.
 */
async function enrolled(user, { wrongPassword = false } = {}) {
  const created = await extensions.createUserTOTPEnrollment(user.session);
  assert.equal(created.ok, true, JSON.stringify(created));
  const token = created.userTOTPEnrollmentToken;
  assert.deepEqual(
    { userId: created.userTOTPEnrollment.userId, identity: created.userTOTPEnrollment.userIdentityVerified, code: created.userTOTPEnrollment.totpCodeVerified },
    { userId: user.userId, identity: false, code: false },
  );
  assert.equal((await extensions.verifyUserTOTPEnrollmentTOTPCode(user.session, token, "123456")).errorCode, "user_identity_not_verified");
  if (wrongPassword) {
    assert.equal((await extensions.verifyUserTOTPEnrollmentUserPassword(user.session, token, "wrong-password-0")).errorCode, "incorrect_password");
  }
  const verified = await extensions.verifyUserTOTPEnrollmentUserPassword(user.session, token, PASSWORD);
  assert.equal(verified.ok, true, JSON.stringify(verified));
  assert.match(verified.totpKey, /^[A-Z2-7]{32}$/, "20 bytes as unpadded upper-case base32");
  const uri = new URL(verified.totpKeyURI);
  assert.equal(uri.protocol, "otpauth:");
  assert.equal(uri.host, "totp");
  assert.equal(decodeURIComponent(uri.pathname.slice(1)), `Faroe E2E:${user.address}`);
  assert.ok(verified.totpKeyURI.startsWith(`otpauth://totp/Faroe%20E2E:${encodeURIComponent(user.address)}?`), verified.totpKeyURI);
  assert.deepEqual(Object.fromEntries(uri.searchParams), {
    secret: verified.totpKey, issuer: "Faroe E2E", algorithm: "SHA1", digits: "6", period: "30",
  });
  assert.equal((await extensions.completeUserTOTPEnrollment(user.session, token)).errorCode, "totp_code_not_verified");
  const key = base32Decode(verified.totpKey);
  assert.equal(key.length, 20);
  const step = currentStep();
  assert.equal((await extensions.verifyUserTOTPEnrollmentTOTPCode(user.session, token, hotp(key, step))).ok, true);
  const done = await extensions.completeUserTOTPEnrollment(user.session, token);
  assert.equal(done.ok, true, JSON.stringify(done));
  assert.equal(done.recoveryCodes.length, 10);
  for (const code of done.recoveryCodes) assert.match(code, /^[A-HJ-NP-Z2-9]{12}$/);
  assert.equal(new Set(done.recoveryCodes).size, 10);
  assert.equal(done.userSecondFactors.totpEnabled, true);
  assert.equal(done.userSecondFactors.recoveryCodeCount, 10);
  assert.equal((await extensions.getUserTOTPEnrollment(user.session, token)).errorCode, "invalid_user_totp_enrollment_token", "the enrollment is spent");
  return { key, base32: verified.totpKey, uri: verified.totpKeyURI, step, recoveryCodes: done.recoveryCodes };
}

/** create_signin + password; returns the signin token. */
async function passwordVerified(address) {
  const signin = await faroe.createSignin(address);
  assert.equal(signin.ok, true);
  assert.equal((await faroe.verifySigninUserPassword(signin.signinToken, PASSWORD)).ok, true);
  return signin.signinToken;
}

/** The one AccountStore object named after `userId` (miniflare records each object's name). */
function accountObject(userId) {
  const ids = [...objectIds(worker.persistTo, "AccountStore")].filter((id) => inspectObject(worker.persistTo, "AccountStore", id).name === userId);
  assert.ok(ids.length <= 1);
  return ids[0] ?? null;
}

/** Every value in every object of every class, for the plaintext search. */
function everyStoredValue() {
  const out = [];
  for (const className of ["MainStore", "RateLimitStore", "AccountStore"]) {
    for (const id of objectIds(worker.persistTo, className)) {
      for (const entry of objectEntries(worker.persistTo, className, id)) out.push({ className, ...entry });
    }
  }
  return out;
}

function assertNowhereStored(secrets, what) {
  const values = everyStoredValue();
  assert.ok(values.length > 0);
  for (const secret of secrets) {
    const bytes = Buffer.isBuffer(secret) ? secret : Buffer.from(secret);
    for (const v of values) assert.equal(v.value.includes(bytes), false, `${what} found in ${v.className} ${v.key}`);
  }
}

describe("EXTENSIONS=totp", () => {
  test("enroll; sign in with password + TOTP (replay refused) and with a recovery code; storage holds no plaintext; deletion removes the object", async (t) => {
    const user = await signedUp(`totp-a-${Date.now()}@example.com`);
    const status = await extensions.getUserSecondFactors(user.session);
    assert.deepEqual(status.userSecondFactors, { userId: user.userId, totpEnabled: false, totpEnabledAt: null, recoveryCodeCount: 0, recoveryCodesCreatedAt: null });
    assert.equal(accountObject(user.userId) === null || inspectObject(worker.persistTo, "AccountStore", accountObject(user.userId)).tables.entry === undefined, true,
      "reading the status of a user without second factors writes nothing");

    const totp = await enrolled(user);
    assert.ok(email.messages.some((m) => /second_factor_added/.test(m.type) && m.to === user.address), "added-notification sent");
    assert.equal((await extensions.createUserTOTPEnrollment(user.session)).errorCode, "totp_already_enabled");

    // Sign-in: password, then complete_signin refuses until a second factor is verified.
    const signinToken = await passwordVerified(user.address);
    const signin = await extensions.getSignin(signinToken);
    assert.equal(signin.signin.userSecondFactorRequired, true);
    assert.equal(signin.signin.userSecondFactorVerified, false);
    assert.equal((await faroe.completeSignin(signinToken)).errorCode, "user_second_factor_not_verified");
    // The step after the enrollment's (the enrollment's own step is used up): accepted as ±1.
    const nextCode = hotp(totp.key, totp.step + 1);
    assert.equal((await extensions.verifySigninTOTPCode(signinToken, nextCode)).ok, true);
    assert.equal((await extensions.verifySigninTOTPCode(signinToken, nextCode)).errorCode, "user_second_factor_already_verified");
    assert.equal((await extensions.getSignin(signinToken)).signin.userSecondFactorVerified, true);
    const signedIn = await faroe.completeSignin(signinToken);
    assert.equal(signedIn.ok, true, JSON.stringify(signedIn));

    // Replay: the same code on another signin is refused; a recovery code then signs in.
    const second = await passwordVerified(user.address);
    assert.equal((await extensions.verifySigninTOTPCode(second, nextCode)).errorCode, "incorrect_totp_code");
    const [firstCode] = totp.recoveryCodes;
    const typed = `${firstCode.slice(0, 4).toLowerCase()}-${firstCode.slice(4, 8)} ${firstCode.slice(8)}`;
    assert.equal((await extensions.verifySigninRecoveryCode(second, typed)).ok, true, "case, hyphens and spaces are ignored");
    assert.equal((await faroe.completeSignin(second)).ok, true);
    const third = await passwordVerified(user.address);
    assert.equal((await extensions.verifySigninRecoveryCode(third, firstCode)).errorCode, "incorrect_recovery_code", "a recovery code is single-use");
    assert.equal((await faroe.deleteSignin(third)).ok, true);
    assert.equal((await extensions.getUserSecondFactors(user.session)).userSecondFactors.recoveryCodeCount, 9);

    // Storage: one record in the user's own object; no plaintext key or code anywhere.
    const objectId = accountObject(user.userId);
    assert.ok(objectId, "the user's AccountStore object exists");
    const entries = objectEntries(worker.persistTo, "AccountStore", objectId);
    assert.deepEqual(entries.map((e) => [e.key, e.expires_at]), [["second_factors", 0]], "one record, no expiry");
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, { entry: 1 }, "no alarm for a record without expiry");
    assertNowhereStored([totp.key, totp.base32, ...totp.recoveryCodes], "a TOTP secret");
    t.diagnostic(`AccountStore record: ${entries[0].value.length} bytes; object ${inspectObject(worker.persistTo, "AccountStore", objectId).bytes} bytes on disk`);

    // User deletion removes the object's data.
    const deletion = await faroe.createUserDeletion(signedIn.sessionToken);
    assert.equal((await faroe.verifyUserDeletionUserPassword(signedIn.sessionToken, deletion.userDeletionToken, PASSWORD)).ok, true);
    assert.equal((await faroe.completeUserDeletion(signedIn.sessionToken, deletion.userDeletionToken)).ok, true);
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, {}, "the deleted user's AccountStore object is empty");
  });

  // Password checks of this user: enrollment, regeneration, one signin, removal, one signin (5).
  test("regenerate recovery codes (old ones refused), remove TOTP with the password", async () => {
    const user = await signedUp(`totp-b-${Date.now()}@example.com`);
    assert.equal((await extensions.createUserRecoveryCodeRegeneration(user.session)).errorCode, "second_factor_not_enabled");
    assert.equal((await extensions.createUserTOTPDeletion(user.session)).errorCode, "totp_not_enabled");
    const totp = await enrolled(user);
    // Found by name while it holds data (deleteAll() also drops miniflare's name table).
    const objectId = accountObject(user.userId);
    assert.ok(objectId);

    // Regeneration: password again; the old codes stop working at once.
    const regeneration = await extensions.createUserRecoveryCodeRegeneration(user.session);
    assert.equal(regeneration.ok, true);
    const regenerationToken = regeneration.userRecoveryCodeRegenerationToken;
    assert.equal((await extensions.completeUserRecoveryCodeRegeneration(user.session, regenerationToken)).errorCode, "user_identity_not_verified");
    assert.equal((await extensions.verifyUserRecoveryCodeRegenerationUserPassword(user.session, regenerationToken, PASSWORD)).ok, true);
    const regenerated = await extensions.completeUserRecoveryCodeRegeneration(user.session, regenerationToken);
    assert.equal(regenerated.ok, true);
    assert.equal(regenerated.recoveryCodes.length, 10);
    assert.equal(regenerated.recoveryCodes.some((c) => totp.recoveryCodes.includes(c)), false);
    const signinToken = await passwordVerified(user.address);
    assert.equal((await extensions.verifySigninRecoveryCode(signinToken, totp.recoveryCodes[0])).errorCode, "incorrect_recovery_code");
    assert.equal((await extensions.verifySigninRecoveryCode(signinToken, regenerated.recoveryCodes[0])).ok, true);
    assert.equal((await faroe.completeSignin(signinToken)).ok, true);

    // Removal: password again; then signing in needs the password only.
    const removal = await extensions.createUserTOTPDeletion(user.session);
    assert.equal(removal.ok, true);
    assert.equal((await extensions.verifyUserTOTPDeletionUserPassword(user.session, removal.userTOTPDeletionToken, PASSWORD)).ok, true);
    const removed = await extensions.completeUserTOTPDeletion(user.session, removal.userTOTPDeletionToken);
    assert.equal(removed.ok, true);
    assert.deepEqual({ totp: removed.userSecondFactors.totpEnabled, codes: removed.userSecondFactors.recoveryCodeCount }, { totp: false, codes: 0 });
    assert.ok(email.messages.some((m) => /second_factor_removed/.test(m.type) && m.to === user.address), "removed-notification sent");
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, {}, "the last record gone, the object is empty");
    const plain = await passwordVerified(user.address);
    assert.equal((await extensions.getSignin(plain)).signin.userSecondFactorRequired, false);
    assert.equal((await faroe.completeSignin(plain)).ok, true);
  });

  test("the operator action removes a user's second factors", async () => {
    const user = await signedUp(`totp-c-${Date.now()}@example.com`);
    await enrolled(user, { wrongPassword: true });
    const objectId = accountObject(user.userId);
    assert.equal((await extensions.deleteUserSecondFactors("abcdefghijkmnpqrstuvwxyz")).errorCode, "user_not_found");
    assert.equal((await extensions.deleteUserSecondFactors(user.userId)).ok, true);
    assert.equal((await extensions.getUserSecondFactors(user.session)).userSecondFactors.totpEnabled, false);
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", objectId).tables, {});
    const afterSupport = await passwordVerified(user.address);
    assert.equal((await faroe.completeSignin(afterSupport)).ok, true, "no second factor needed after the operator removed them");
  });
});

describe("EXTENSIONS unset", () => {
  let plain, plainEmail;
  before(async () => {
    plainEmail = await startEmailCapture();
    plain = await startWorker({ vars: { ...plainEmail.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
  });
  after(async () => {
    await plain?.stop();
    await plainEmail?.close();
  });

  test("the extension's actions are unknown (400); the signin model is Faroe's; no AccountStore object", async () => {
    const client = new ExtensionClient(new HttpsEndpointClient(plain.url, SECRET));
    const refused = await client.createUserTOTPEnrollment("a.b").catch((e) => e);
    assert.ok(refused instanceof EndpointError);
    assert.deepEqual({ status: refused.status, reason: refused.reason }, { status: 400, reason: "unknown action" });
    for (const action of [
      "create_user_totp_enrollment", "get_user_totp_enrollment", "delete_user_totp_enrollment", "verify_user_totp_enrollment_user_password",
      "verify_user_totp_enrollment_totp_code", "complete_user_totp_enrollment", "create_user_recovery_code_regeneration",
      "get_user_recovery_code_regeneration", "delete_user_recovery_code_regeneration", "verify_user_recovery_code_regeneration_user_password",
      "complete_user_recovery_code_regeneration", "create_user_totp_deletion", "get_user_totp_deletion", "delete_user_totp_deletion",
      "verify_user_totp_deletion_user_password", "complete_user_totp_deletion", "get_user_second_factors", "verify_signin_totp_code",
      "verify_signin_recovery_code", "delete_user_second_factors",
    ]) {
      const r = await invoke(plain.url, action, {});
      assert.deepEqual({ action, status: r.status, text: r.text }, { action, status: 400, text: "unknown action" });
    }
    const address = `plain-${Date.now()}@example.com`;
    const created = await invoke(plain.url, "create_signup", { email_address: address });
    const token = created.json.values.signup_token;
    const code = plainEmail.last("signup_email_address_verification_code", address).data.email_address_verification_code;
    await invoke(plain.url, "verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
    await invoke(plain.url, "set_signup_password", { signup_token: token, password: PASSWORD });
    assert.equal((await invoke(plain.url, "complete_signup", { signup_token: token })).json.ok, true);
    const signin = (await invoke(plain.url, "create_signin", { user_email_address: address })).json;
    assert.deepEqual(Object.keys(signin.values.signin).sort(), ["created_at", "expires_at", "id", "user_first_factor_verified", "user_id"]);
    assert.equal((await invoke(plain.url, "verify_signin_user_password", { signin_token: signin.values.signin_token, password: PASSWORD })).json.ok, true);
    assert.equal((await invoke(plain.url, "complete_signin", { signin_token: signin.values.signin_token })).json.ok, true);
    assert.equal(objectIds(plain.persistTo, "AccountStore").size, 0, "no AccountStore object was touched");
  });
});

describe("the AccountStore object protocol (test-faults build's /__test/account-storage)", () => {
  let probeWorker;
  before(async () => {
    probeWorker = await startWorker({ bundle: "build-test", vars: { ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
  });
  after(async () => {
    await probeWorker?.stop();
  });
  const probe = async (body) => {
    const r = await fetch(new URL("/__test/account-storage", probeWorker.url), {
      method: "POST", headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" }, body: JSON.stringify(body),
    });
    assert.equal(r.status, 200, await r.clone().text());
    return r.json();
  };
  const objectOf = (userId) => [...objectIds(probeWorker.persistTo, "AccountStore")]
    .find((id) => inspectObject(probeWorker.persistTo, "AccountStore", id).name === userId);

  test("counters, AlreadyExists, isolation per user, list by prefix in key order without expired records, alarm, delete_all", async (t) => {
    const alice = `alice${randomBytes(6).toString("hex")}`;
    const bob = `bob${randomBytes(6).toString("hex")}`;
    // Reads of a user without records write nothing.
    assert.deepEqual(await probe({ op: "get", user_id: alice, key: "second_factors" }), { ok: false, error: "not_found" });
    assert.deepEqual(await probe({ op: "list", user_id: alice, key: "" }), { ok: true, entries: [] });
    assert.deepEqual(await probe({ op: "delete_all", user_id: alice }), { ok: true });
    const id = objectOf(alice);
    assert.ok(id);
    assert.deepEqual(inspectObject(probeWorker.persistTo, "AccountStore", id).tables, {}, "reads and delete_all of an absent user leave no table");

    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "b.2", value: "two" }), { ok: true });
    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "b.2", value: "again" }), { ok: false, error: "already_exists" });
    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "b.1", value: "one" }), { ok: true });
    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "a", value: "other" }), { ok: true });
    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "b%_", value: "wildcards are literal" }), { ok: true });
    assert.deepEqual(inspectObject(probeWorker.persistTo, "AccountStore", id).tables, { entry: 4 }, "records without expiry set no alarm");
    assert.deepEqual(await probe({ op: "get", user_id: bob, key: "b.1" }), { ok: false, error: "not_found" }, "another user's object is separate");

    assert.deepEqual(await probe({ op: "update", user_id: alice, key: "b.1", value: "uno", counter: 1 }), { ok: false, error: "not_found" });
    assert.deepEqual(await probe({ op: "update", user_id: alice, key: "b.1", value: "uno", counter: 0 }), { ok: true });
    assert.deepEqual(await probe({ op: "get", user_id: alice, key: "b.1" }), { ok: true, value: "uno", counter: 1 });
    assert.deepEqual(await probe({ op: "list", user_id: alice, key: "b." }), {
      ok: true, entries: [{ key: "b.1", value: "uno", counter: 1 }, { key: "b.2", value: "two", counter: 0 }],
    });
    assert.deepEqual((await probe({ op: "list", user_id: alice, key: "b%" })).entries.map((e) => e.key), ["b%_"]);

    // A record with an expiry: listed until then, left out after, removed by the alarm.
    const expiresAt = Date.now() + 1500;
    assert.deepEqual(await probe({ op: "add", user_id: alice, key: "b.3", value: "short", expires_at: expiresAt }), { ok: true });
    assert.deepEqual((await probe({ op: "list", user_id: alice, key: "b." })).entries.map((e) => e.key), ["b.1", "b.2", "b.3"]);
    assert.equal(inspectObject(probeWorker.persistTo, "AccountStore", id).tables._cf_METADATA, 1, "the expiry set an alarm");
    await new Promise((r) => setTimeout(r, Math.max(0, expiresAt - Date.now()) + 300));
    assert.deepEqual((await probe({ op: "list", user_id: alice, key: "b." })).entries.map((e) => e.key), ["b.1", "b.2"]);
    const deadline = Date.now() + 15_000;
    while (inspectObject(probeWorker.persistTo, "AccountStore", id).tables.entry !== 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    assert.equal(inspectObject(probeWorker.persistTo, "AccountStore", id).tables.entry, 4, "the alarm removed the expired record");

    assert.deepEqual(await probe({ op: "delete", user_id: alice, key: "b.1", counter: 0 }), { ok: false, error: "not_found" });
    assert.deepEqual(await probe({ op: "delete", user_id: alice, key: "b.1", counter: 1 }), { ok: true });
    assert.deepEqual(await probe({ op: "delete", user_id: alice, key: "b.1", counter: 1 }), { ok: false, error: "not_found" });
    assert.deepEqual(await probe({ op: "delete_all", user_id: alice }), { ok: true });
    assert.deepEqual(await probe({ op: "list", user_id: alice, key: "" }), { ok: true, entries: [] });
    assert.deepEqual(inspectObject(probeWorker.persistTo, "AccountStore", id).tables, {}, "delete_all leaves nothing (deleteAll())");

    // The last record deleted one by one also empties the object.
    assert.deepEqual(await probe({ op: "add", user_id: bob, key: "x", value: "1" }), { ok: true });
    const bobId = objectOf(bob);
    assert.deepEqual(await probe({ op: "delete", user_id: bob, key: "x", counter: 0 }), { ok: true });
    assert.deepEqual(inspectObject(probeWorker.persistTo, "AccountStore", bobId).tables, {});
    t.diagnostic("AccountStore protocol checked on the built Worker in workerd");
  });

  test("the probe needs the bearer secret", async () => {
    const r = await fetch(new URL("/__test/account-storage", probeWorker.url), { method: "POST", body: "{}" });
    assert.equal(r.status, 401);
  });
});
