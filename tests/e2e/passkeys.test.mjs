// The passkeys extension (issue #13) in workerd, through the JS clients (@faroe/client for Faroe's
// actions, ExtensionClient for the extension's). The browser's part is played by a software
// authenticator (soft-authenticator.mjs: ES256 keys from node:crypto, hand-encoded CBOR), so each
// test controls the origin, the UV flag and the signature counter: registration with the password
// again, passwordless sign-in, a passkey as the second factor of a password sign-in, list / rename
// / remove, one credential id registrable once across users, the counter going backwards refused,
// and what the Worker leaves in its Durable Objects (the credential index object, the AccountStore
// records, no private key material). A second Worker without EXTENSIONS shows the 20 actions are
// unknown there.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { ExtensionClient, HttpsEndpointClient, EndpointError } from "../../js/src/index.js";
import { Client } from "@faroe/client";
import { inspectObject, objectEntries, objectIds } from "./objects.mjs";
import { SoftAuthenticator } from "./soft-authenticator.mjs";
import { base32Decode, currentStep, hotp } from "./totp-codes.mjs";
import { startWorker, startEmailCapture, startUserServer, invoke, SECRET, FAST_ALGORITHMS } from "./harness.mjs";

// The page's origin as the browser would report it; the Worker itself listens on 127.0.0.1.
const ORIGIN = "http://localhost:8788";
const PASSWORD = "passkeys-e2e-password-1";
const TOTP_KEYS = `k1:${randomBytes(32).toString("base64")}`;

const PASSKEY_ACTIONS = [
  "create_user_passkey_registration", "get_user_passkey_registration", "delete_user_passkey_registration",
  "verify_user_passkey_registration_user_password", "verify_user_passkey_registration_totp_code", "complete_user_passkey_registration",
  "create_passkey_signin", "get_passkey_signin", "delete_passkey_signin", "complete_passkey_signin",
  "get_signin_passkey_credential_request_options", "verify_signin_passkey", "get_user_passkeys", "update_user_passkey_name",
  "create_user_passkey_deletion", "get_user_passkey_deletion", "delete_user_passkey_deletion",
  "verify_user_passkey_deletion_user_password", "verify_user_passkey_deletion_totp_code", "complete_user_passkey_deletion",
];

let worker, email, users, faroe, extensions;
before(async () => {
  email = await startEmailCapture();
  users = await startUserServer();
  worker = await startWorker({
    vars: {
      ...email.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, APP_NAME: "Faroe E2E",
      EXTENSIONS: "totp,passkeys", TOTP_ENCRYPTION_KEYS: TOTP_KEYS,
      DEVELOPMENT_MODE: "true", WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ALLOWED_ORIGINS: ORIGIN,
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
 * Registration with the password again (one check of the user's 5-token verify-password bucket);
 * `credentialId` forces the authenticator's credential id. Returns the result and the credential.
 */
async function register(user, authenticator, name, { credentialId, rpId } = {}) {
  const created = await extensions.createUserPasskeyRegistration(user.session);
  assert.equal(created.ok, true, JSON.stringify(created));
  const token = created.userPasskeyRegistrationToken;
  assert.equal((await extensions.verifyUserPasskeyRegistrationUserPassword(user.session, token, PASSWORD)).ok, true);
  const { json, credential } = authenticator.create(created.credentialCreationOptions, { credentialId, rpId });
  const done = await extensions.completeUserPasskeyRegistration(user.session, token, name, json);
  return { done, credential, options: JSON.parse(created.credentialCreationOptions), token };
}

async function passwordVerified(address) {
  const signin = await faroe.createSignin(address);
  assert.equal(signin.ok, true);
  assert.equal((await faroe.verifySigninUserPassword(signin.signinToken, PASSWORD)).ok, true);
  return signin.signinToken;
}

const indexKey = (credentialId) => `passkey_credential.${createHash("sha256").update(credentialId).digest("hex")}`;

/** The one object of `className` named `name` (miniflare records each object's name), or null. */
function namedObject(className, name) {
  const ids = [...objectIds(worker.persistTo, className)].filter((id) => inspectObject(worker.persistTo, className, id).name === name);
  assert.ok(ids.length <= 1);
  return ids[0] ?? null;
}

function everyStoredValue() {
  const out = [];
  for (const className of ["MainStore", "RateLimitStore", "AccountStore"]) {
    for (const id of objectIds(worker.persistTo, className)) {
      for (const entry of objectEntries(worker.persistTo, className, id)) out.push({ className, ...entry });
    }
  }
  return out;
}

describe("EXTENSIONS=totp,passkeys", () => {
  test("register (password again); passwordless sign-in; wrong origin, missing UV and a counter going backwards refused; storage; deletion", async (t) => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const user = await signedUp(`pk-a-${Date.now()}@example.com`);

    // Registration: the identity check comes first; the options name the user and ask for a resident key.
    const created = await extensions.createUserPasskeyRegistration(user.session);
    assert.equal(created.ok, true, JSON.stringify(created));
    assert.deepEqual(
      { userId: created.userPasskeyRegistration.userId, verified: created.userPasskeyRegistration.userIdentityVerified },
      { userId: user.userId, verified: false },
    );
    const options = JSON.parse(created.credentialCreationOptions);
    assert.equal(options.rp.id, "localhost");
    assert.equal(options.user.name, user.address);
    assert.equal(Buffer.from(options.user.id, "base64url").length, 32, "a random 32-byte user handle");
    assert.equal(Buffer.from(options.challenge, "base64url").length, 32);
    assert.equal(options.authenticatorSelection.residentKey, "required");
    assert.deepEqual(options.excludeCredentials ?? [], []);
    assert.ok(options.pubKeyCredParams.some((p) => p.alg === -7));
    const token = created.userPasskeyRegistrationToken;
    const { json, credential } = authenticator.create(options);
    assert.equal((await extensions.completeUserPasskeyRegistration(user.session, token, "Laptop", json)).errorCode, "user_identity_not_verified");
    assert.equal((await extensions.verifyUserPasskeyRegistrationUserPassword(user.session, token, PASSWORD)).ok, true);
    assert.equal((await extensions.getUserPasskeyRegistration(user.session, token)).userPasskeyRegistration.userIdentityVerified, true);
    const done = await extensions.completeUserPasskeyRegistration(user.session, token, "  Laptop  ", json);
    assert.equal(done.ok, true, JSON.stringify(done));
    const passkey = done.userPasskey;
    assert.match(passkey.id, /^[a-z0-9]{24}$/);
    assert.deepEqual({ ...passkey, id: undefined, createdAt: undefined },
      { id: undefined, userId: user.userId, name: "Laptop", algorithm: "ES256", backedUp: false, createdAt: undefined, lastUsedAt: null });
    assert.equal(done.recoveryCodes.length, 10, "the first second factor brings recovery codes");
    assert.equal((await extensions.getUserPasskeyRegistration(user.session, token)).errorCode, "invalid_user_passkey_registration_token", "spent");
    assert.ok(email.messages.some((m) => /second_factor_added/.test(m.type) && m.to === user.address), "added-notification sent");
    const factors = (await extensions.getUserSecondFactors(user.session)).userSecondFactors;
    assert.deepEqual({ passkeys: factors.passkeyCount, codes: factors.recoveryCodeCount, totp: factors.totpEnabled }, { passkeys: 1, codes: 10, totp: false });

    // A second registration excludes the first credential.
    const again = await extensions.createUserPasskeyRegistration(user.session);
    assert.deepEqual(JSON.parse(again.credentialCreationOptions).excludeCredentials.map((c) => c.id), [json.id]);
    assert.equal((await extensions.deleteUserPasskeyRegistration(user.session, again.userPasskeyRegistrationToken)).ok, true);

    // Passwordless sign-in: discoverable (no allowCredentials), user verification required.
    const signin = await extensions.createPasskeySignin();
    assert.equal(signin.ok, true, JSON.stringify(signin));
    const request = JSON.parse(signin.credentialRequestOptions);
    assert.deepEqual({ rpId: request.rpId, allow: request.allowCredentials ?? [], uv: request.userVerification }, { rpId: "localhost", allow: [], uv: "required" });
    assert.equal(signin.passkeySignin.expiresAt - signin.passkeySignin.createdAt, 5 * 60 * 1000, "5 minutes");
    assert.equal((await extensions.getPasskeySignin(signin.passkeySigninToken)).passkeySignin.id, signin.passkeySignin.id);
    const signedIn = await extensions.completePasskeySignin(signin.passkeySigninToken, authenticator.get(request));
    assert.equal(signedIn.ok, true, JSON.stringify(signedIn));
    assert.equal(signedIn.session.userId, user.userId);
    assert.equal((await faroe.getSession(signedIn.sessionToken)).ok, true, "a real session");
    assert.equal((await extensions.completePasskeySignin(signin.passkeySigninToken, authenticator.get(request))).errorCode, "invalid_passkey_signin_token", "spent");
    const used = (await extensions.getUserPasskeys(user.session)).userPasskeys[0];
    assert.ok(used.lastUsedAt instanceof Date, "last use recorded");

    // Refusals, each on a fresh sign-in (a failed completion spends it too).
    const refused = async (answer, code = "invalid_passkey_credential") => {
      const s = await extensions.createPasskeySignin();
      const r = await extensions.completePasskeySignin(s.passkeySigninToken, answer(JSON.parse(s.credentialRequestOptions)));
      assert.equal(r.errorCode, code);
      assert.equal((await extensions.getPasskeySignin(s.passkeySigninToken)).errorCode, "invalid_passkey_signin_token");
    };
    await refused((o) => authenticator.get(o, { origin: "http://localhost:9999" }));
    await refused((o) => authenticator.get(o, { userVerified: false }));
    await refused((o) => ({ ...authenticator.get(o), response: { ...authenticator.get(o).response, signature: "AAAA" } }));
    await refused((o) => authenticator.get(o, { userHandle: true, credential: { ...credential, userHandle: Buffer.alloc(32, 7).toString("base64url") } }));
    // The counter: 5 accepted, then 3 (backwards) refused.
    const five = await extensions.createPasskeySignin();
    assert.equal((await extensions.completePasskeySignin(five.passkeySigninToken, authenticator.get(five.credentialRequestOptions, { signCount: 5 }))).ok, true);
    await refused((o) => authenticator.get(o, { signCount: 3 }));
    await refused((o) => authenticator.get(o, { signCount: 5 }));
    const six = await extensions.createPasskeySignin();
    assert.equal((await extensions.completePasskeySignin(six.passkeySigninToken, authenticator.get(six.credentialRequestOptions, { signCount: 6 }))).ok, true);
    // An unknown credential.
    const stranger = new SoftAuthenticator({ origin: ORIGIN });
    stranger.create(options);
    await refused((o) => stranger.get(o), "passkey_not_found");

    // Storage: the credential index in its own MainStore object without expiry; the user's
    // AccountStore object holds the passkey, the user handle and the recovery codes; the private
    // key is nowhere.
    const indexObject = namedObject("MainStore", indexKey(credential.id));
    assert.ok(indexObject, "the credential index object exists");
    const index = objectEntries(worker.persistTo, "MainStore", indexObject);
    assert.equal(index.length, 1);
    assert.equal(index[0].key, indexKey(credential.id));
    assert.equal(index[0].expires_at, 0, "no expiry");
    assert.ok(index[0].value.includes(Buffer.from(user.userId)) && index[0].value.includes(Buffer.from(passkey.id)), "credential → user, passkey");
    const accountObject = namedObject("AccountStore", user.userId);
    const records = objectEntries(worker.persistTo, "AccountStore", accountObject);
    assert.deepEqual(records.map((r) => [r.key, r.expires_at]), [[`passkey.${passkey.id}`, 0], ["passkey_user", 0], ["second_factors", 0]]);
    const record = records[0].value;
    assert.ok(record.includes(credential.id), "the record holds the credential id");
    const jwk = credential.publicKey.export({ format: "jwk" });
    assert.ok(record.includes(Buffer.from(jwk.x, "base64url")), "and the public key");
    const d = Buffer.from(credential.privateKey.export({ format: "jwk" }).d, "base64url");
    const pkcs8 = credential.privateKey.export({ format: "der", type: "pkcs8" });
    for (const v of everyStoredValue()) {
      assert.equal(v.value.includes(d), false, `private key found in ${v.className} ${v.key}`);
      assert.equal(v.value.includes(pkcs8), false);
      for (const code of done.recoveryCodes) assert.equal(v.value.includes(Buffer.from(code)), false, `a recovery code in ${v.className} ${v.key}`);
    }
    t.diagnostic(`passkey record ${record.length} bytes; credential index entry ${index[0].value.length} bytes`);

    // User deletion removes the index entry and the account records.
    const deletion = await faroe.createUserDeletion(user.session);
    assert.equal((await faroe.verifyUserDeletionUserPassword(user.session, deletion.userDeletionToken, PASSWORD)).ok, true);
    assert.equal((await faroe.completeUserDeletion(user.session, deletion.userDeletionToken)).ok, true);
    assert.deepEqual(objectEntries(worker.persistTo, "MainStore", indexObject), [], "the index entry is gone");
    assert.deepEqual(inspectObject(worker.persistTo, "AccountStore", accountObject).tables, {}, "the account records are gone");
    const after = await extensions.createPasskeySignin();
    assert.equal((await extensions.completePasskeySignin(after.passkeySigninToken, authenticator.get(after.credentialRequestOptions))).errorCode, "passkey_not_found");
  });

  test("a credential id is registrable once across users (the registration is spent, nothing stored)", async () => {
    const a = await signedUp(`pk-dup-a-${Date.now()}@example.com`);
    const b = await signedUp(`pk-dup-b-${Date.now()}@example.com`);
    const first = await register(a, new SoftAuthenticator({ origin: ORIGIN }), "A's key");
    assert.equal(first.done.ok, true, JSON.stringify(first.done));
    const copy = await register(b, new SoftAuthenticator({ origin: ORIGIN }), "copied", { credentialId: first.credential.id });
    assert.equal(copy.done.errorCode, "passkey_already_registered");
    assert.deepEqual((await extensions.getUserPasskeys(b.session)).userPasskeys, []);
    assert.equal((await extensions.getUserSecondFactors(b.session)).userSecondFactors.recoveryCodeCount, 0);
    assert.equal((await extensions.getUserPasskeyRegistration(b.session, copy.token)).errorCode, "invalid_user_passkey_registration_token");
    const indexObject = namedObject("MainStore", indexKey(first.credential.id));
    const [entry] = objectEntries(worker.persistTo, "MainStore", indexObject);
    assert.ok(entry.value.includes(Buffer.from(a.userId)) && !entry.value.includes(Buffer.from(b.userId)), "the index still points at A");
    // A credential scoped to another RP ID is refused; a fresh one for this RP registers.
    const foreign = await register(b, new SoftAuthenticator({ origin: ORIGIN }), "foreign", { rpId: "example.com" });
    assert.equal(foreign.done.errorCode, "invalid_passkey_credential");
    const fresh = await register(b, new SoftAuthenticator({ origin: ORIGIN }), "fresh");
    assert.equal(fresh.done.ok, true, JSON.stringify(fresh.done));
  });

  // Password checks of this user (its verify-password bucket holds 5): 2 registrations, 2 sign-ins,
  // 1 removal. The last passkey's removal is the next test's.
  test("a passkey as second factor at password sign-in; rename; list; remove (recovery codes go with the last)", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const user = await signedUp(`pk-b-${Date.now()}@example.com`);
    const first = await register(user, authenticator, "Phone");
    assert.equal(first.done.ok, true, JSON.stringify(first.done));
    const recoveryCodes = first.done.recoveryCodes;

    // Password sign-in: the passkey is required, and its options allow exactly this credential.
    const signin = await faroe.createSignin(user.address);
    assert.equal((await extensions.getSigninPasskeyCredentialRequestOptions(signin.signinToken)).errorCode, "user_first_factor_not_verified");
    assert.equal((await faroe.verifySigninUserPassword(signin.signinToken, PASSWORD)).ok, true);
    assert.equal((await extensions.getSignin(signin.signinToken)).signin.userSecondFactorRequired, true);
    assert.equal((await faroe.completeSignin(signin.signinToken)).errorCode, "user_second_factor_not_verified");
    const requested = await extensions.getSigninPasskeyCredentialRequestOptions(signin.signinToken);
    assert.equal(requested.ok, true, JSON.stringify(requested));
    const request = JSON.parse(requested.credentialRequestOptions);
    assert.deepEqual(request.allowCredentials.map((c) => c.id), [Buffer.from(first.credential.id).toString("base64url")]);
    assert.equal((await extensions.verifySigninPasskey(signin.signinToken, authenticator.get(request, { origin: "http://localhost:1" }))).errorCode, "invalid_passkey_credential");
    assert.equal((await extensions.verifySigninPasskey(signin.signinToken, authenticator.get(request))).ok, true);
    assert.equal((await extensions.verifySigninPasskey(signin.signinToken, authenticator.get(request))).errorCode, "user_second_factor_already_verified");
    const signedIn = await faroe.completeSignin(signin.signinToken);
    assert.equal(signedIn.ok, true, JSON.stringify(signedIn));

    // A recovery code works in its place.
    const withCode = await passwordVerified(user.address);
    assert.equal((await extensions.verifySigninRecoveryCode(withCode, recoveryCodes[0])).ok, true);
    assert.equal((await faroe.completeSignin(withCode)).ok, true);

    // Rename.
    const id = first.done.userPasskey.id;
    assert.equal((await extensions.updateUserPasskeyName(user.session, id, "  Work phone ")).userPasskey.name, "Work phone");
    assert.equal((await extensions.updateUserPasskeyName(user.session, id, "   ")).errorCode, "invalid_passkey_name");
    assert.equal((await extensions.updateUserPasskeyName(user.session, id, "bell\u0007")).errorCode, "invalid_passkey_name");
    assert.equal((await extensions.updateUserPasskeyName(user.session, id, "x".repeat(65))).errorCode, "invalid_passkey_name");
    assert.equal((await extensions.updateUserPasskeyName(user.session, "abcdefghijkmnpqrstuvwxyz", "x")).errorCode, "passkey_not_found");

    // A second passkey: no new recovery codes; listed oldest first. Creation times are whole
    // seconds (ties are ordered by passkey id), so the second one is made in a later second.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const second = await register(user, authenticator, "Laptop");
    assert.equal(second.done.ok, true);
    assert.deepEqual(second.done.recoveryCodes, []);
    assert.deepEqual((await extensions.getUserPasskeys(user.session)).userPasskeys.map((p) => p.name), ["Work phone", "Laptop"]);

    // Remove the first (password again): its index entry goes, the recovery codes stay.
    const removal = await extensions.createUserPasskeyDeletion(user.session, id);
    assert.equal(removal.ok, true, JSON.stringify(removal));
    assert.equal(removal.userPasskeyDeletion.userPasskeyId, id);
    const removalToken = removal.userPasskeyDeletionToken;
    assert.equal((await extensions.completeUserPasskeyDeletion(user.session, removalToken)).errorCode, "user_identity_not_verified");
    assert.equal((await extensions.verifyUserPasskeyDeletionUserPassword(user.session, removalToken, PASSWORD)).ok, true);
    assert.equal((await extensions.completeUserPasskeyDeletion(user.session, removalToken)).ok, true);
    assert.ok(email.messages.some((m) => /second_factor_removed/.test(m.type) && m.to === user.address), "removed-notification sent");
    assert.deepEqual(objectEntries(worker.persistTo, "MainStore", namedObject("MainStore", indexKey(first.credential.id)) ?? "none"), []);
    let factors = (await extensions.getUserSecondFactors(user.session)).userSecondFactors;
    assert.deepEqual({ passkeys: factors.passkeyCount, codes: factors.recoveryCodeCount }, { passkeys: 1, codes: 9 });
    const gone = await extensions.createPasskeySignin();
    assert.equal((await extensions.completePasskeySignin(gone.passkeySigninToken, authenticator.get(gone.credentialRequestOptions, { credential: first.credential }))).errorCode,
      "passkey_not_found");
    const last = await extensions.createUserPasskeyDeletion(user.session, second.done.userPasskey.id);
    assert.equal((await extensions.getUserPasskeyDeletion(user.session, last.userPasskeyDeletionToken)).userPasskeyDeletion.userIdentityVerified, false);
    assert.equal((await extensions.deleteUserPasskeyDeletion(user.session, last.userPasskeyDeletionToken)).ok, true);
    assert.equal((await extensions.getUserPasskeyDeletion(user.session, last.userPasskeyDeletionToken)).errorCode, "invalid_user_passkey_deletion_token");
  });

  test("removing the last passkey removes the recovery codes; the signin then needs no second factor", async () => {
    const authenticator = new SoftAuthenticator({ origin: ORIGIN });
    const user = await signedUp(`pk-c-${Date.now()}@example.com`);
    const only = await register(user, authenticator, "Key");
    assert.equal(only.done.ok, true);
    assert.equal((await faroe.createSignin(user.address).then((s) => extensions.getSignin(s.signinToken))).signin.userSecondFactorRequired, true);
    const removal = await extensions.createUserPasskeyDeletion(user.session, only.done.userPasskey.id);
    assert.equal((await extensions.verifyUserPasskeyDeletionUserPassword(user.session, removal.userPasskeyDeletionToken, PASSWORD)).ok, true);
    assert.equal((await extensions.completeUserPasskeyDeletion(user.session, removal.userPasskeyDeletionToken)).ok, true);
    const factors = (await extensions.getUserSecondFactors(user.session)).userSecondFactors;
    assert.deepEqual({ passkeys: factors.passkeyCount, codes: factors.recoveryCodeCount }, { passkeys: 0, codes: 0 });
    assert.deepEqual((await extensions.getUserPasskeys(user.session)).userPasskeys, []);
    assert.equal((await faroe.createSignin(user.address).then((s) => extensions.getSignin(s.signinToken))).signin.userSecondFactorRequired, false);
    const accountObject = namedObject("AccountStore", user.userId);
    const keys = accountObject ? objectEntries(worker.persistTo, "AccountStore", accountObject).map((r) => r.key) : [];
    assert.equal(keys.some((k) => k.startsWith("passkey.") || k === "second_factors"), false, `left: ${keys}`);
  });

  test("a user with TOTP registers a passkey with a TOTP code instead of the password; no new recovery codes", async () => {
    const user = await signedUp(`pk-totp-${Date.now()}@example.com`);
    const enrollment = await extensions.createUserTOTPEnrollment(user.session);
    const enrollmentToken = enrollment.userTOTPEnrollmentToken;
    const { totpKey } = await extensions.verifyUserTOTPEnrollmentUserPassword(user.session, enrollmentToken, PASSWORD);
    const key = base32Decode(totpKey);
    const step = currentStep();
    assert.equal((await extensions.verifyUserTOTPEnrollmentTOTPCode(user.session, enrollmentToken, hotp(key, step))).ok, true);
    const enrolled = await extensions.completeUserTOTPEnrollment(user.session, enrollmentToken);
    assert.equal(enrolled.recoveryCodes.length, 10);

    const created = await extensions.createUserPasskeyRegistration(user.session);
    const token = created.userPasskeyRegistrationToken;
    assert.equal((await extensions.verifyUserPasskeyRegistrationTOTPCode(user.session, token, hotp(key, step))).errorCode, "incorrect_totp_code",
      "the enrollment's code is used up");
    assert.equal((await extensions.verifyUserPasskeyRegistrationTOTPCode(user.session, token, hotp(key, step + 1))).ok, true);
    const { json } = new SoftAuthenticator({ origin: ORIGIN }).create(created.credentialCreationOptions);
    const done = await extensions.completeUserPasskeyRegistration(user.session, token, "Key", json);
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.deepEqual(done.recoveryCodes, [], "TOTP already brought the recovery codes");
    const factors = (await extensions.getUserSecondFactors(user.session)).userSecondFactors;
    assert.deepEqual({ totp: factors.totpEnabled, passkeys: factors.passkeyCount, codes: factors.recoveryCodeCount }, { totp: true, passkeys: 1, codes: 10 });
  });
});

describe("EXTENSIONS unset", () => {
  let plain;
  before(async () => {
    plain = await startWorker({ vars: { ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
  });
  after(async () => {
    await plain?.stop();
  });

  test("the 20 passkey actions are unknown (400)", async () => {
    const refused = await new ExtensionClient(new HttpsEndpointClient(plain.url, SECRET)).createPasskeySignin().catch((e) => e);
    assert.ok(refused instanceof EndpointError);
    assert.deepEqual({ status: refused.status, reason: refused.reason }, { status: 400, reason: "unknown action" });
    assert.equal(PASSKEY_ACTIONS.length, 20);
    for (const action of PASSKEY_ACTIONS) {
      const r = await invoke(plain.url, action, {});
      assert.deepEqual({ action, status: r.status, text: r.text }, { action, status: 400, text: "unknown action" });
    }
    assert.equal(objectIds(plain.persistTo, "AccountStore").size, 0);
  });
});
