// Unit tests for ExtensionClient (the extension actions' typed methods): a fake endpoint client
// records each body and answers a canned result. No network.
import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@faroe/client";
import { ExtensionClient, ServiceBindingEndpointClient, EndpointError } from "../src/index.js";

const INVOCATION = "abcdefghijkmnpqrstuvwxyz2";
const T = 1700000000;
const ENTITY = { id: "e".repeat(24), user_id: "u".repeat(24), session_id: "s".repeat(24), user_identity_verified: true, created_at: T, expires_at: T + 600 };
const ENROLLMENT = { ...ENTITY, totp_code_verified: false };
const SECOND_FACTORS = { user_id: "u".repeat(24), totp_enabled: true, totp_enabled_at: T, recovery_code_count: 10, recovery_codes_created_at: T };
const CODES = Array.from({ length: 10 }, (_, i) => `CODE${String(i).padStart(8, "0")}`);

/** An endpoint client that answers `values` (or an error code) and records every request. */
function fakeEndpoint(answer) {
  const seen = [];
  return {
    seen,
    async sendActionInvocationEndpointRequest(body) {
      seen.push(JSON.parse(body));
      return JSON.stringify(answer);
    },
  };
}
const ok = (values = {}) => ({ ok: true, action_invocation_id: INVOCATION, values });

// [method, arguments, action, wire arguments, wire values, expected result fields]
const CASES = [
  ["createUserTOTPEnrollment", ["st"], "create_user_totp_enrollment", { session_token: "st" },
    { user_totp_enrollment: ENROLLMENT, user_totp_enrollment_token: "a.b" }, ["userTOTPEnrollment", "userTOTPEnrollmentToken"]],
  ["getUserTOTPEnrollment", ["st", "et"], "get_user_totp_enrollment", { session_token: "st", user_totp_enrollment_token: "et" },
    { user_totp_enrollment: ENROLLMENT }, ["userTOTPEnrollment"]],
  ["deleteUserTOTPEnrollment", ["st", "et"], "delete_user_totp_enrollment", { session_token: "st", user_totp_enrollment_token: "et" }, {}, []],
  ["verifyUserTOTPEnrollmentUserPassword", ["st", "et", "pw"], "verify_user_totp_enrollment_user_password",
    { session_token: "st", user_totp_enrollment_token: "et", password: "pw" },
    { totp_key: "JBSWY3DPEHPK3PXP", totp_key_uri: "otpauth://totp/A:b?secret=JBSWY3DPEHPK3PXP" }, ["totpKey", "totpKeyURI"]],
  ["verifyUserTOTPEnrollmentTOTPCode", ["st", "et", "123456"], "verify_user_totp_enrollment_totp_code",
    { session_token: "st", user_totp_enrollment_token: "et", totp_code: "123456" }, {}, []],
  ["completeUserTOTPEnrollment", ["st", "et"], "complete_user_totp_enrollment", { session_token: "st", user_totp_enrollment_token: "et" },
    { user_second_factors: SECOND_FACTORS, recovery_codes: CODES }, ["userSecondFactors", "recoveryCodes"]],
  ["createUserRecoveryCodeRegeneration", ["st"], "create_user_recovery_code_regeneration", { session_token: "st" },
    { user_recovery_code_regeneration: ENTITY, user_recovery_code_regeneration_token: "a.b" },
    ["userRecoveryCodeRegeneration", "userRecoveryCodeRegenerationToken"]],
  ["getUserRecoveryCodeRegeneration", ["st", "rt"], "get_user_recovery_code_regeneration",
    { session_token: "st", user_recovery_code_regeneration_token: "rt" }, { user_recovery_code_regeneration: ENTITY }, ["userRecoveryCodeRegeneration"]],
  ["deleteUserRecoveryCodeRegeneration", ["st", "rt"], "delete_user_recovery_code_regeneration",
    { session_token: "st", user_recovery_code_regeneration_token: "rt" }, {}, []],
  ["verifyUserRecoveryCodeRegenerationUserPassword", ["st", "rt", "pw"], "verify_user_recovery_code_regeneration_user_password",
    { session_token: "st", user_recovery_code_regeneration_token: "rt", password: "pw" }, {}, []],
  ["completeUserRecoveryCodeRegeneration", ["st", "rt"], "complete_user_recovery_code_regeneration",
    { session_token: "st", user_recovery_code_regeneration_token: "rt" },
    { user_second_factors: SECOND_FACTORS, recovery_codes: CODES }, ["userSecondFactors", "recoveryCodes"]],
  ["createUserTOTPDeletion", ["st"], "create_user_totp_deletion", { session_token: "st" },
    { user_totp_deletion: ENTITY, user_totp_deletion_token: "a.b" }, ["userTOTPDeletion", "userTOTPDeletionToken"]],
  ["getUserTOTPDeletion", ["st", "dt"], "get_user_totp_deletion", { session_token: "st", user_totp_deletion_token: "dt" },
    { user_totp_deletion: ENTITY }, ["userTOTPDeletion"]],
  ["deleteUserTOTPDeletion", ["st", "dt"], "delete_user_totp_deletion", { session_token: "st", user_totp_deletion_token: "dt" }, {}, []],
  ["verifyUserTOTPDeletionUserPassword", ["st", "dt", "pw"], "verify_user_totp_deletion_user_password",
    { session_token: "st", user_totp_deletion_token: "dt", password: "pw" }, {}, []],
  ["completeUserTOTPDeletion", ["st", "dt"], "complete_user_totp_deletion", { session_token: "st", user_totp_deletion_token: "dt" },
    { user_second_factors: { ...SECOND_FACTORS, totp_enabled: false, totp_enabled_at: null, recovery_code_count: 0, recovery_codes_created_at: null } },
    ["userSecondFactors"]],
  ["getUserSecondFactors", ["st"], "get_user_second_factors", { session_token: "st" }, { user_second_factors: SECOND_FACTORS }, ["userSecondFactors"]],
  ["verifySigninTOTPCode", ["si", "123456"], "verify_signin_totp_code", { signin_token: "si", totp_code: "123456" }, {}, []],
  ["verifySigninRecoveryCode", ["si", "ABCD"], "verify_signin_recovery_code", { signin_token: "si", recovery_code: "ABCD" }, {}, []],
  ["deleteUserSecondFactors", ["u1"], "delete_user_second_factors", { user_id: "u1" }, {}, []],
];
const USER_SESSION = { id: "s".repeat(24), created_at: T, last_active_at: T + 60, expires_at: T + 86400, current: true, client_label: "Firefox on Linux" };
// The sessions extension's two actions.
const SESSIONS_CASES = [
  ["getUserSessions", ["st"], "get_user_sessions", { session_token: "st" }, { user_sessions: [USER_SESSION] }, ["userSessions"]],
  ["deleteUserSession", ["st", "s".repeat(24)], "delete_user_session", { session_token: "st", user_session_id: "s".repeat(24) }, {}, []],
];

describe("ExtensionClient", () => {
  test("has a method for each of the 20 TOTP extension actions", () => {
    assert.equal(CASES.length, 20);
    assert.equal(new Set(CASES.map((c) => c[2])).size, 20);
    for (const [method] of CASES) assert.equal(typeof ExtensionClient.prototype[method], "function", method);
  });

  for (const [method, args, action, wireArgs, values, fields] of [...CASES, ...SESSIONS_CASES]) {
    test(`${method} sends ${action} and reads its values`, async () => {
      const endpoint = fakeEndpoint(ok(values));
      const result = await new ExtensionClient(endpoint)[method](...args);
      assert.deepEqual(endpoint.seen, [{ action, arguments: wireArgs }]);
      assert.equal(result.ok, true);
      assert.equal(result.actionInvocationId, INVOCATION);
      assert.deepEqual(Object.keys(result).sort(), ["actionInvocationId", "ok", ...fields].sort());
    });
  }

  test("maps the models: Unix seconds to Dates, null timestamps kept", async () => {
    const client = new ExtensionClient(fakeEndpoint(ok({ user_totp_enrollment: ENROLLMENT, user_totp_enrollment_token: "a.b" })));
    const created = await client.createUserTOTPEnrollment("st");
    assert.deepEqual(created.userTOTPEnrollment, {
      id: ENROLLMENT.id, userId: ENROLLMENT.user_id, sessionId: ENROLLMENT.session_id,
      userIdentityVerified: true, totpCodeVerified: false, createdAt: new Date(T * 1000), expiresAt: new Date((T + 600) * 1000),
    });
    const none = { user_id: "u", totp_enabled: false, totp_enabled_at: null, recovery_code_count: 0, recovery_codes_created_at: null };
    const status = await new ExtensionClient(fakeEndpoint(ok({ user_second_factors: none }))).getUserSecondFactors("st");
    assert.deepEqual(status.userSecondFactors, { userId: "u", totpEnabled: false, totpEnabledAt: null, recoveryCodeCount: 0, recoveryCodesCreatedAt: null });
    const completed = await new ExtensionClient(fakeEndpoint(ok({ user_second_factors: SECOND_FACTORS, recovery_codes: CODES }))).completeUserTOTPEnrollment("st", "et");
    assert.deepEqual(completed.recoveryCodes, CODES);
    assert.deepEqual(completed.userSecondFactors.totpEnabledAt, new Date(T * 1000));
  });

  test("getUserSessions maps each user_session (Unix seconds to Dates) and refuses a non-array", async () => {
    const result = await new ExtensionClient(fakeEndpoint(ok({ user_sessions: [USER_SESSION, { ...USER_SESSION, id: "t".repeat(24), current: false, client_label: "" }] }))).getUserSessions("st");
    assert.deepEqual(result.userSessions, [
      { id: "s".repeat(24), createdAt: new Date(T * 1000), lastActiveAt: new Date((T + 60) * 1000), expiresAt: new Date((T + 86400) * 1000), current: true, clientLabel: "Firefox on Linux" },
      { id: "t".repeat(24), createdAt: new Date(T * 1000), lastActiveAt: new Date((T + 60) * 1000), expiresAt: new Date((T + 86400) * 1000), current: false, clientLabel: "" },
    ]);
    await assert.rejects(new ExtensionClient(fakeEndpoint(ok({ user_sessions: {} }))).getUserSessions("st"), /user_sessions/);
    await assert.rejects(new ExtensionClient(fakeEndpoint(ok({ user_sessions: [{ ...USER_SESSION, current: "yes" }] }))).getUserSessions("st"), /current/);
  });

  test("getSignin reads the signin model's second-factor fields", async () => {
    const signin = { id: "i", user_id: "u", user_first_factor_verified: true, user_second_factor_required: true, user_second_factor_verified: false, created_at: T, expires_at: T + 600 };
    const endpoint = fakeEndpoint(ok({ signin }));
    const result = await new ExtensionClient(endpoint).getSignin("si");
    assert.deepEqual(endpoint.seen, [{ action: "get_signin", arguments: { signin_token: "si" } }]);
    assert.equal(result.signin.userSecondFactorRequired, true);
    assert.equal(result.signin.userSecondFactorVerified, false);
  });

  test("an action error resolves with ok: false and the error code", async () => {
    const endpoint = fakeEndpoint({ ok: false, action_invocation_id: INVOCATION, error_code: "incorrect_totp_code" });
    assert.deepEqual(await new ExtensionClient(endpoint).verifySigninTOTPCode("si", "000000"), {
      ok: false, actionInvocationId: INVOCATION, errorCode: "incorrect_totp_code",
    });
  });

  test("a malformed answer throws, naming the field", async () => {
    const missing = new ExtensionClient(fakeEndpoint(ok({ user_totp_enrollment: ENROLLMENT })));
    await assert.rejects(missing.createUserTOTPEnrollment("st"), /user_totp_enrollment_token/);
    const wrongType = new ExtensionClient(fakeEndpoint(ok({ user_second_factors: { ...SECOND_FACTORS, recovery_code_count: "10" } })));
    await assert.rejects(wrongType.getUserSecondFactors("st"), /recovery_code_count/);
    const notCodes = new ExtensionClient(fakeEndpoint(ok({ user_second_factors: SECOND_FACTORS, recovery_codes: [1, 2] })));
    await assert.rejects(notCodes.completeUserTOTPEnrollment("st", "et"), /recovery_codes/);
    const noOk = new ExtensionClient(fakeEndpoint({ action_invocation_id: INVOCATION }));
    await assert.rejects(noOk.deleteUserSecondFactors("u"), /'ok'/);
  });

  test("needs an endpoint client", () => {
    assert.throws(() => new ExtensionClient({}), TypeError);
    assert.throws(() => new ExtensionClient(), TypeError);
  });

  test("shares an endpoint client with @faroe/client; an endpoint failure rejects with EndpointError", async () => {
    const binding = { async fetch(request) {
      const { action } = await request.json();
      return action === "verify_signin_totp_code" ? new Response("unknown action", { status: 400 }) : new Response(JSON.stringify(ok()));
    } };
    const endpoint = new ServiceBindingEndpointClient(binding, { secret: "s" });
    const faroe = new Client(endpoint);
    const extensions = new ExtensionClient(endpoint);
    assert.equal((await faroe.deleteSession("a.b")).ok, true);
    const refused = await extensions.verifySigninTOTPCode("si", "123456").catch((e) => e);
    assert.ok(refused instanceof EndpointError);
    assert.equal(refused.status, 400);
    assert.equal(refused.reason, "unknown action");
  });
});

// ---------------------------------------------------------------- passkeys (EXTENSIONS=passkeys)

const PASSKEY = { id: "p".repeat(24), user_id: "u".repeat(24), name: "Laptop", algorithm: "ES256", backed_up: false, created_at: T, last_used_at: null };
const PK_REGISTRATION = ENTITY;
const PK_DELETION = { ...ENTITY, user_passkey_id: "p".repeat(24) };
const PK_SIGNIN = { id: "i".repeat(24), created_at: T, expires_at: T + 300 };
const SESSION = { id: "s".repeat(24), user_id: "u".repeat(24), created_at: T, expires_at: T + 86400 };
const CREATION_OPTIONS = JSON.stringify({ rp: { id: "example.com", name: "E" }, challenge: "AAAA" });
const REQUEST_OPTIONS = JSON.stringify({ rpId: "example.com", challenge: "AAAA", allowCredentials: [] });
const CREDENTIAL = { id: "Y3JlZA", rawId: "Y3JlZA", type: "public-key", response: { clientDataJSON: "e30", attestationObject: "oA" } };
const CREDENTIAL_JSON = JSON.stringify(CREDENTIAL);

const PASSKEY_CASES = [
  ["createUserPasskeyRegistration", ["st"], "create_user_passkey_registration", { session_token: "st" },
    { user_passkey_registration: PK_REGISTRATION, user_passkey_registration_token: "a.b", credential_creation_options: CREATION_OPTIONS },
    ["userPasskeyRegistration", "userPasskeyRegistrationToken", "credentialCreationOptions"]],
  ["getUserPasskeyRegistration", ["st", "rt"], "get_user_passkey_registration", { session_token: "st", user_passkey_registration_token: "rt" },
    { user_passkey_registration: PK_REGISTRATION }, ["userPasskeyRegistration"]],
  ["deleteUserPasskeyRegistration", ["st", "rt"], "delete_user_passkey_registration", { session_token: "st", user_passkey_registration_token: "rt" }, {}, []],
  ["verifyUserPasskeyRegistrationUserPassword", ["st", "rt", "pw"], "verify_user_passkey_registration_user_password",
    { session_token: "st", user_passkey_registration_token: "rt", password: "pw" }, {}, []],
  ["verifyUserPasskeyRegistrationTOTPCode", ["st", "rt", "123456"], "verify_user_passkey_registration_totp_code",
    { session_token: "st", user_passkey_registration_token: "rt", totp_code: "123456" }, {}, []],
  ["completeUserPasskeyRegistration", ["st", "rt", "Laptop", CREDENTIAL_JSON], "complete_user_passkey_registration",
    { session_token: "st", user_passkey_registration_token: "rt", passkey_name: "Laptop", credential: CREDENTIAL_JSON },
    { user_passkey: PASSKEY, recovery_codes: CODES }, ["userPasskey", "recoveryCodes"]],
  ["createPasskeySignin", [], "create_passkey_signin", {},
    { passkey_signin: PK_SIGNIN, passkey_signin_token: "a.b", credential_request_options: REQUEST_OPTIONS },
    ["passkeySignin", "passkeySigninToken", "credentialRequestOptions"]],
  ["getPasskeySignin", ["pt"], "get_passkey_signin", { passkey_signin_token: "pt" }, { passkey_signin: PK_SIGNIN }, ["passkeySignin"]],
  ["deletePasskeySignin", ["pt"], "delete_passkey_signin", { passkey_signin_token: "pt" }, {}, []],
  ["completePasskeySignin", ["pt", CREDENTIAL_JSON], "complete_passkey_signin", { passkey_signin_token: "pt", credential: CREDENTIAL_JSON },
    { session: SESSION, session_token: "a.b" }, ["session", "sessionToken"]],
  ["getSigninPasskeyCredentialRequestOptions", ["si"], "get_signin_passkey_credential_request_options", { signin_token: "si" },
    { credential_request_options: REQUEST_OPTIONS }, ["credentialRequestOptions"]],
  ["verifySigninPasskey", ["si", CREDENTIAL_JSON], "verify_signin_passkey", { signin_token: "si", credential: CREDENTIAL_JSON }, {}, []],
  ["getUserPasskeys", ["st"], "get_user_passkeys", { session_token: "st" }, { user_passkeys: [PASSKEY] }, ["userPasskeys"]],
  ["updateUserPasskeyName", ["st", "pid", "Phone"], "update_user_passkey_name", { session_token: "st", user_passkey_id: "pid", passkey_name: "Phone" },
    { user_passkey: { ...PASSKEY, name: "Phone" } }, ["userPasskey"]],
  ["createUserPasskeyDeletion", ["st", "pid"], "create_user_passkey_deletion", { session_token: "st", user_passkey_id: "pid" },
    { user_passkey_deletion: PK_DELETION, user_passkey_deletion_token: "a.b" }, ["userPasskeyDeletion", "userPasskeyDeletionToken"]],
  ["getUserPasskeyDeletion", ["st", "dt"], "get_user_passkey_deletion", { session_token: "st", user_passkey_deletion_token: "dt" },
    { user_passkey_deletion: PK_DELETION }, ["userPasskeyDeletion"]],
  ["deleteUserPasskeyDeletion", ["st", "dt"], "delete_user_passkey_deletion", { session_token: "st", user_passkey_deletion_token: "dt" }, {}, []],
  ["verifyUserPasskeyDeletionUserPassword", ["st", "dt", "pw"], "verify_user_passkey_deletion_user_password",
    { session_token: "st", user_passkey_deletion_token: "dt", password: "pw" }, {}, []],
  ["verifyUserPasskeyDeletionTOTPCode", ["st", "dt", "123456"], "verify_user_passkey_deletion_totp_code",
    { session_token: "st", user_passkey_deletion_token: "dt", totp_code: "123456" }, {}, []],
  ["completeUserPasskeyDeletion", ["st", "dt"], "complete_user_passkey_deletion", { session_token: "st", user_passkey_deletion_token: "dt" }, {}, []],
];

describe("ExtensionClient: passkeys", () => {
  test("has a method for each of the 20 passkey actions", () => {
    assert.equal(PASSKEY_CASES.length, 20);
    assert.equal(new Set(PASSKEY_CASES.map((c) => c[2])).size, 20);
    for (const [method] of PASSKEY_CASES) assert.equal(typeof ExtensionClient.prototype[method], "function", method);
  });

  for (const [method, args, action, wireArgs, values, fields] of PASSKEY_CASES) {
    test(`${method} sends ${action} and reads its values`, async () => {
      const endpoint = fakeEndpoint(ok(values));
      const result = await new ExtensionClient(endpoint)[method](...args);
      assert.deepEqual(endpoint.seen, [{ action, arguments: wireArgs }]);
      assert.equal(result.ok, true);
      assert.deepEqual(Object.keys(result).sort(), ["actionInvocationId", "ok", ...fields].sort());
    });
  }

  test("maps the passkey models: Dates, null last use, the algorithm, a session without expiry", async () => {
    const listed = await new ExtensionClient(fakeEndpoint(ok({ user_passkeys: [PASSKEY, { ...PASSKEY, id: "q", algorithm: "EdDSA", backed_up: true, last_used_at: T + 5 }] })))
      .getUserPasskeys("st");
    assert.deepEqual(listed.userPasskeys, [
      { id: PASSKEY.id, userId: PASSKEY.user_id, name: "Laptop", algorithm: "ES256", backedUp: false, createdAt: new Date(T * 1000), lastUsedAt: null },
      { id: "q", userId: PASSKEY.user_id, name: "Laptop", algorithm: "EdDSA", backedUp: true, createdAt: new Date(T * 1000), lastUsedAt: new Date((T + 5) * 1000) },
    ]);
    const deletion = await new ExtensionClient(fakeEndpoint(ok({ user_passkey_deletion: PK_DELETION }))).getUserPasskeyDeletion("st", "dt");
    assert.equal(deletion.userPasskeyDeletion.userPasskeyId, "p".repeat(24));
    assert.deepEqual(deletion.userPasskeyDeletion.expiresAt, new Date((T + 600) * 1000));
    const signin = await new ExtensionClient(fakeEndpoint(ok({ passkey_signin: PK_SIGNIN }))).getPasskeySignin("pt");
    assert.deepEqual(signin.passkeySignin, { id: PK_SIGNIN.id, createdAt: new Date(T * 1000), expiresAt: new Date((T + 300) * 1000) });
    const noExpiry = await new ExtensionClient(fakeEndpoint(ok({ session: { ...SESSION, expires_at: undefined }, session_token: "a.b" })))
      .completePasskeySignin("pt", CREDENTIAL_JSON);
    assert.deepEqual(noExpiry.session, { id: SESSION.id, userId: SESSION.user_id, createdAt: new Date(T * 1000), expiresAt: null });
    const status = await new ExtensionClient(fakeEndpoint(ok({ user_second_factors: { ...SECOND_FACTORS, passkey_count: 2 } }))).getUserSecondFactors("st");
    assert.equal(status.userSecondFactors.passkeyCount, 2);
  });

  test("a credential may be passed as a PublicKeyCredential-like object or its JSON; it is sent as a JSON string", async () => {
    const endpoint = fakeEndpoint(ok());
    const client = new ExtensionClient(endpoint);
    await client.verifySigninPasskey("si", { toJSON: () => CREDENTIAL });
    await client.verifySigninPasskey("si", CREDENTIAL);
    assert.deepEqual(endpoint.seen.map((b) => b.arguments.credential), [CREDENTIAL_JSON, CREDENTIAL_JSON]);
    assert.throws(() => client.verifySigninPasskey("si", 42), TypeError);
    assert.equal(endpoint.seen.length, 2);
  });

  test("a malformed passkey answer throws, naming the field", async () => {
    const badAlgorithm = new ExtensionClient(fakeEndpoint(ok({ user_passkey: { ...PASSKEY, algorithm: "HS256" } })));
    await assert.rejects(badAlgorithm.updateUserPasskeyName("st", "p", "x"), /algorithm/);
    const notList = new ExtensionClient(fakeEndpoint(ok({ user_passkeys: PASSKEY })));
    await assert.rejects(notList.getUserPasskeys("st"), /user_passkeys/);
    const noOptions = new ExtensionClient(fakeEndpoint(ok({ passkey_signin: PK_SIGNIN, passkey_signin_token: "a.b" })));
    await assert.rejects(noOptions.createPasskeySignin(), /credential_request_options/);
    const badCount = new ExtensionClient(fakeEndpoint(ok({ user_second_factors: { ...SECOND_FACTORS, passkey_count: -1 } })));
    await assert.rejects(badCount.getUserSecondFactors("st"), /passkey_count/);
  });
});
