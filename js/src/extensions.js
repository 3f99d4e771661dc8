// Typed methods for faroe-worker's extension actions (docs/extensions.md), next to @faroe/client's
// `Client` and over the same endpoint client. Results have @faroe/client's shape:
// `{ ok: true, actionInvocationId, …values }` or `{ ok: false, actionInvocationId, errorCode }`.
// A malformed answer throws, as @faroe/client does.

function fail(message) {
  throw new Error(`faroe-worker extension result: ${message}`);
}

function object(value, name) {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`Invalid or missing '${name}' field`);
  return value;
}

function string(o, name) {
  if (typeof o[name] !== "string") fail(`Invalid or missing '${name}' field`);
  return o[name];
}

function boolean(o, name) {
  if (typeof o[name] !== "boolean") fail(`Invalid or missing '${name}' field`);
  return o[name];
}

function count(o, name) {
  const v = o[name];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) fail(`Invalid or missing '${name}' field`);
  return v;
}

/** A Unix timestamp in seconds as a Date; `nullable` accepts null. */
function time(o, name, nullable = false) {
  const v = o[name];
  if (nullable && v === null) return null;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) fail(`Invalid or missing '${name}' field`);
  return new Date(v * 1000);
}

function stringArray(o, name) {
  const v = o[name];
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(`Invalid or missing '${name}' field`);
  return [...v];
}

/** Fields every session-bound extension entity has. */
function sessionBoundEntity(json, name) {
  const o = object(json, name);
  return {
    id: string(o, "id"),
    userId: string(o, "user_id"),
    sessionId: string(o, "session_id"),
    userIdentityVerified: boolean(o, "user_identity_verified"),
  };
}

function withTimes(entity, o) {
  return { ...entity, createdAt: time(o, "created_at"), expiresAt: time(o, "expires_at") };
}

export function mapJSONObjectToUserTOTPEnrollment(json) {
  const o = object(json, "user_totp_enrollment");
  return withTimes({ ...sessionBoundEntity(o, "user_totp_enrollment"), totpCodeVerified: boolean(o, "totp_code_verified") }, o);
}

export function mapJSONObjectToUserRecoveryCodeRegeneration(json) {
  const o = object(json, "user_recovery_code_regeneration");
  return withTimes(sessionBoundEntity(o, "user_recovery_code_regeneration"), o);
}

export function mapJSONObjectToUserTOTPDeletion(json) {
  const o = object(json, "user_totp_deletion");
  return withTimes(sessionBoundEntity(o, "user_totp_deletion"), o);
}

export function mapJSONObjectToUserSecondFactors(json) {
  const o = object(json, "user_second_factors");
  const factors = {
    userId: string(o, "user_id"),
    totpEnabled: boolean(o, "totp_enabled"),
    totpEnabledAt: time(o, "totp_enabled_at", true),
    recoveryCodeCount: count(o, "recovery_code_count"),
    recoveryCodesCreatedAt: time(o, "recovery_codes_created_at", true),
  };
  // Present when the passkeys extension is on.
  if ("passkey_count" in o) factors.passkeyCount = count(o, "passkey_count");
  return factors;
}

const PASSKEY_ALGORITHMS = ["ES256", "EdDSA", "RS256"];

export function mapJSONObjectToUserPasskey(json) {
  const o = object(json, "user_passkey");
  if (!PASSKEY_ALGORITHMS.includes(o.algorithm)) fail("Invalid or missing 'algorithm' field");
  return {
    id: string(o, "id"),
    userId: string(o, "user_id"),
    name: string(o, "name"),
    algorithm: o.algorithm,
    backedUp: boolean(o, "backed_up"),
    createdAt: time(o, "created_at"),
    lastUsedAt: time(o, "last_used_at", true),
  };
}

export function mapJSONObjectToUserPasskeyRegistration(json) {
  const o = object(json, "user_passkey_registration");
  return withTimes(sessionBoundEntity(o, "user_passkey_registration"), o);
}

export function mapJSONObjectToUserPasskeyDeletion(json) {
  const o = object(json, "user_passkey_deletion");
  return withTimes({ ...sessionBoundEntity(o, "user_passkey_deletion"), userPasskeyId: string(o, "user_passkey_id") }, o);
}

export function mapJSONObjectToPasskeySignin(json) {
  const o = object(json, "passkey_signin");
  return { id: string(o, "id"), createdAt: time(o, "created_at"), expiresAt: time(o, "expires_at") };
}

/** @faroe/client's session model: `expires_at` absent or 0 = no expiry. */
export function mapJSONObjectToSession(json) {
  const o = object(json, "session");
  const expires = o.expires_at;
  if (expires !== undefined && expires !== null && (typeof expires !== "number" || !Number.isInteger(expires) || expires < 0)) {
    fail("Invalid or missing 'expires_at' field");
  }
  return {
    id: string(o, "id"),
    userId: string(o, "user_id"),
    createdAt: time(o, "created_at"),
    expiresAt: expires ? new Date(expires * 1000) : null,
  };
}

/** A credential as the passkey actions take it: the JSON string of `PublicKeyCredential.toJSON()`. */
function credentialArgument(credential) {
  if (typeof credential === "string") return credential;
  if (typeof credential === "object" && credential !== null) {
    return JSON.stringify(typeof credential.toJSON === "function" ? credential.toJSON() : credential);
  }
  throw new TypeError("ExtensionClient: a passkey credential is a PublicKeyCredential, its toJSON() object, or that object's JSON string");
}

export function mapJSONObjectToUserSession(json) {
  const o = object(json, "user_session");
  return {
    id: string(o, "id"),
    createdAt: time(o, "created_at"),
    lastActiveAt: time(o, "last_active_at"),
    expiresAt: time(o, "expires_at"),
    current: boolean(o, "current"),
    clientLabel: string(o, "client_label"),
  };
}

/** `user_security_event` (security events extension). */
export function mapJSONObjectToUserSecurityEvent(json) {
  const o = object(json, "user_security_event");
  return {
    id: string(o, "id"),
    type: string(o, "type"),
    detail: string(o, "detail"),
    createdAt: time(o, "created_at"),
    clientAddress: string(o, "client_address"),
  };
}

/** The signin model with the extension's two fields (present when an extension is on). */
export function mapJSONObjectToSignin(json) {
  const o = object(json, "signin");
  return {
    id: string(o, "id"),
    userId: string(o, "user_id"),
    userFirstFactorVerified: boolean(o, "user_first_factor_verified"),
    userSecondFactorRequired: boolean(o, "user_second_factor_required"),
    userSecondFactorVerified: boolean(o, "user_second_factor_verified"),
    createdAt: time(o, "created_at"),
    expiresAt: time(o, "expires_at"),
  };
}

/** How each result value is read: [wire name, result name, mapper]. */
const value = {
  token: (wire, name) => [wire, name, (v) => (typeof v === "string" ? v : fail(`Invalid or missing '${wire}' field`))],
  model: (wire, name, map) => [wire, name, map],
  strings: (wire, name) => [wire, name, (v) => stringArray({ [wire]: v }, wire)],
};
const ENROLLMENT = value.model("user_totp_enrollment", "userTOTPEnrollment", mapJSONObjectToUserTOTPEnrollment);
const REGENERATION = value.model("user_recovery_code_regeneration", "userRecoveryCodeRegeneration", mapJSONObjectToUserRecoveryCodeRegeneration);
const DELETION = value.model("user_totp_deletion", "userTOTPDeletion", mapJSONObjectToUserTOTPDeletion);
const SECOND_FACTORS = value.model("user_second_factors", "userSecondFactors", mapJSONObjectToUserSecondFactors);
const RECOVERY_CODES = value.strings("recovery_codes", "recoveryCodes");
const USER_SESSIONS = value.model("user_sessions", "userSessions", (v) =>
  Array.isArray(v) ? v.map(mapJSONObjectToUserSession) : fail("Invalid or missing 'user_sessions' field"));
const PASSKEY = value.model("user_passkey", "userPasskey", mapJSONObjectToUserPasskey);
const PASSKEY_REGISTRATION = value.model("user_passkey_registration", "userPasskeyRegistration", mapJSONObjectToUserPasskeyRegistration);
const PASSKEY_DELETION = value.model("user_passkey_deletion", "userPasskeyDeletion", mapJSONObjectToUserPasskeyDeletion);
const PASSKEY_SIGNIN = value.model("passkey_signin", "passkeySignin", mapJSONObjectToPasskeySignin);
const PASSKEYS = value.model("user_passkeys", "userPasskeys", (v) =>
  Array.isArray(v) ? v.map(mapJSONObjectToUserPasskey) : fail("Invalid or missing 'user_passkeys' field"));
const REQUEST_OPTIONS = value.token("credential_request_options", "credentialRequestOptions");
const SECURITY_EVENTS = value.model("user_security_events", "userSecurityEvents", (v) => {
  if (!Array.isArray(v)) fail("Invalid or missing 'user_security_events' field");
  return v.map(mapJSONObjectToUserSecurityEvent);
});

/**
 * The extension actions, for a deployment with `EXTENSIONS` set (docs/extensions.md). Construct it
 * with the same endpoint client as @faroe/client's `Client`.
 */
export class ExtensionClient {
  /** @param {{ sendActionInvocationEndpointRequest(body: string): Promise<string> }} actionInvocationEndpointClient */
  constructor(actionInvocationEndpointClient) {
    if (!actionInvocationEndpointClient || typeof actionInvocationEndpointClient.sendActionInvocationEndpointRequest !== "function") {
      throw new TypeError("ExtensionClient: the endpoint client must have a sendActionInvocationEndpointRequest(body) method");
    }
    this.actionInvocationEndpointClient = actionInvocationEndpointClient;
  }

  /**
   * Sends one action and reads its result: the error code, or each of `values` through its mapper.
   * @param {string} action
   * @param {Record<string, string>} args
   * @param {Array<[string, string, (v: unknown) => unknown]>} values
   */
  async invoke(action, args, values = []) {
    const text = await this.actionInvocationEndpointClient.sendActionInvocationEndpointRequest(JSON.stringify({ action, arguments: args }));
    const result = object(JSON.parse(text), "result");
    const actionInvocationId = string(result, "action_invocation_id");
    if (typeof result.ok !== "boolean") fail("Invalid or missing 'ok' field");
    if (!result.ok) return { ok: false, actionInvocationId, errorCode: string(result, "error_code") };
    const out = { ok: true, actionInvocationId };
    if (values.length === 0) return out;
    const received = object(result.values, "values");
    for (const [wire, name, map] of values) {
      if (!(wire in received)) fail(`Invalid or missing '${wire}' field`);
      out[name] = map(received[wire]);
    }
    return out;
  }

  // Signin (the model with the second-factor fields)
  getSignin(signinToken) {
    return this.invoke("get_signin", { signin_token: signinToken }, [value.model("signin", "signin", mapJSONObjectToSignin)]);
  }

  // TOTP enrollment
  createUserTOTPEnrollment(sessionToken) {
    return this.invoke("create_user_totp_enrollment", { session_token: sessionToken }, [
      ENROLLMENT,
      value.token("user_totp_enrollment_token", "userTOTPEnrollmentToken"),
    ]);
  }
  getUserTOTPEnrollment(sessionToken, userTOTPEnrollmentToken) {
    return this.invoke("get_user_totp_enrollment", { session_token: sessionToken, user_totp_enrollment_token: userTOTPEnrollmentToken }, [ENROLLMENT]);
  }
  deleteUserTOTPEnrollment(sessionToken, userTOTPEnrollmentToken) {
    return this.invoke("delete_user_totp_enrollment", { session_token: sessionToken, user_totp_enrollment_token: userTOTPEnrollmentToken });
  }
  verifyUserTOTPEnrollmentUserPassword(sessionToken, userTOTPEnrollmentToken, password) {
    return this.invoke(
      "verify_user_totp_enrollment_user_password",
      { session_token: sessionToken, user_totp_enrollment_token: userTOTPEnrollmentToken, password },
      [value.token("totp_key", "totpKey"), value.token("totp_key_uri", "totpKeyURI")],
    );
  }
  verifyUserTOTPEnrollmentTOTPCode(sessionToken, userTOTPEnrollmentToken, totpCode) {
    return this.invoke("verify_user_totp_enrollment_totp_code", {
      session_token: sessionToken, user_totp_enrollment_token: userTOTPEnrollmentToken, totp_code: totpCode,
    });
  }
  completeUserTOTPEnrollment(sessionToken, userTOTPEnrollmentToken) {
    return this.invoke("complete_user_totp_enrollment", { session_token: sessionToken, user_totp_enrollment_token: userTOTPEnrollmentToken }, [
      SECOND_FACTORS,
      RECOVERY_CODES,
    ]);
  }

  // Recovery-code regeneration
  createUserRecoveryCodeRegeneration(sessionToken) {
    return this.invoke("create_user_recovery_code_regeneration", { session_token: sessionToken }, [
      REGENERATION,
      value.token("user_recovery_code_regeneration_token", "userRecoveryCodeRegenerationToken"),
    ]);
  }
  getUserRecoveryCodeRegeneration(sessionToken, userRecoveryCodeRegenerationToken) {
    return this.invoke("get_user_recovery_code_regeneration", {
      session_token: sessionToken, user_recovery_code_regeneration_token: userRecoveryCodeRegenerationToken,
    }, [REGENERATION]);
  }
  deleteUserRecoveryCodeRegeneration(sessionToken, userRecoveryCodeRegenerationToken) {
    return this.invoke("delete_user_recovery_code_regeneration", {
      session_token: sessionToken, user_recovery_code_regeneration_token: userRecoveryCodeRegenerationToken,
    });
  }
  verifyUserRecoveryCodeRegenerationUserPassword(sessionToken, userRecoveryCodeRegenerationToken, password) {
    return this.invoke("verify_user_recovery_code_regeneration_user_password", {
      session_token: sessionToken, user_recovery_code_regeneration_token: userRecoveryCodeRegenerationToken, password,
    });
  }
  completeUserRecoveryCodeRegeneration(sessionToken, userRecoveryCodeRegenerationToken) {
    return this.invoke("complete_user_recovery_code_regeneration", {
      session_token: sessionToken, user_recovery_code_regeneration_token: userRecoveryCodeRegenerationToken,
    }, [SECOND_FACTORS, RECOVERY_CODES]);
  }

  // TOTP removal
  createUserTOTPDeletion(sessionToken) {
    return this.invoke("create_user_totp_deletion", { session_token: sessionToken }, [
      DELETION,
      value.token("user_totp_deletion_token", "userTOTPDeletionToken"),
    ]);
  }
  getUserTOTPDeletion(sessionToken, userTOTPDeletionToken) {
    return this.invoke("get_user_totp_deletion", { session_token: sessionToken, user_totp_deletion_token: userTOTPDeletionToken }, [DELETION]);
  }
  deleteUserTOTPDeletion(sessionToken, userTOTPDeletionToken) {
    return this.invoke("delete_user_totp_deletion", { session_token: sessionToken, user_totp_deletion_token: userTOTPDeletionToken });
  }
  verifyUserTOTPDeletionUserPassword(sessionToken, userTOTPDeletionToken, password) {
    return this.invoke("verify_user_totp_deletion_user_password", {
      session_token: sessionToken, user_totp_deletion_token: userTOTPDeletionToken, password,
    });
  }
  completeUserTOTPDeletion(sessionToken, userTOTPDeletionToken) {
    return this.invoke("complete_user_totp_deletion", { session_token: sessionToken, user_totp_deletion_token: userTOTPDeletionToken }, [
      SECOND_FACTORS,
    ]);
  }

  // Status
  getUserSecondFactors(sessionToken) {
    return this.invoke("get_user_second_factors", { session_token: sessionToken }, [SECOND_FACTORS]);
  }

  // Sign-in second step
  verifySigninTOTPCode(signinToken, totpCode) {
    return this.invoke("verify_signin_totp_code", { signin_token: signinToken, totp_code: totpCode });
  }
  verifySigninRecoveryCode(signinToken, recoveryCode) {
    return this.invoke("verify_signin_recovery_code", { signin_token: signinToken, recovery_code: recoveryCode });
  }

  // Security events (EXTENSIONS=security_events): newest first, the last 100 or 90 days.
  getUserSecurityEvents(sessionToken) {
    return this.invoke("get_user_security_events", { session_token: sessionToken }, [SECURITY_EVENTS]);
  }

  // Sessions extension: where the user is signed in, and signing one session out
  getUserSessions(sessionToken) {
    return this.invoke("get_user_sessions", { session_token: sessionToken }, [USER_SESSIONS]);
  }
  deleteUserSession(sessionToken, userSessionId) {
    return this.invoke("delete_user_session", { session_token: sessionToken, user_session_id: userSessionId });
  }

  // Passkey registration (EXTENSIONS=passkeys)
  createUserPasskeyRegistration(sessionToken) {
    return this.invoke("create_user_passkey_registration", { session_token: sessionToken }, [
      PASSKEY_REGISTRATION,
      value.token("user_passkey_registration_token", "userPasskeyRegistrationToken"),
      value.token("credential_creation_options", "credentialCreationOptions"),
    ]);
  }
  getUserPasskeyRegistration(sessionToken, userPasskeyRegistrationToken) {
    return this.invoke("get_user_passkey_registration", {
      session_token: sessionToken, user_passkey_registration_token: userPasskeyRegistrationToken,
    }, [PASSKEY_REGISTRATION]);
  }
  deleteUserPasskeyRegistration(sessionToken, userPasskeyRegistrationToken) {
    return this.invoke("delete_user_passkey_registration", {
      session_token: sessionToken, user_passkey_registration_token: userPasskeyRegistrationToken,
    });
  }
  verifyUserPasskeyRegistrationUserPassword(sessionToken, userPasskeyRegistrationToken, password) {
    return this.invoke("verify_user_passkey_registration_user_password", {
      session_token: sessionToken, user_passkey_registration_token: userPasskeyRegistrationToken, password,
    });
  }
  verifyUserPasskeyRegistrationTOTPCode(sessionToken, userPasskeyRegistrationToken, totpCode) {
    return this.invoke("verify_user_passkey_registration_totp_code", {
      session_token: sessionToken, user_passkey_registration_token: userPasskeyRegistrationToken, totp_code: totpCode,
    });
  }
  completeUserPasskeyRegistration(sessionToken, userPasskeyRegistrationToken, passkeyName, credential) {
    return this.invoke("complete_user_passkey_registration", {
      session_token: sessionToken, user_passkey_registration_token: userPasskeyRegistrationToken,
      passkey_name: passkeyName, credential: credentialArgument(credential),
    }, [PASSKEY, RECOVERY_CODES]);
  }

  // Passwordless sign-in with a discoverable passkey
  createPasskeySignin() {
    return this.invoke("create_passkey_signin", {}, [
      PASSKEY_SIGNIN,
      value.token("passkey_signin_token", "passkeySigninToken"),
      REQUEST_OPTIONS,
    ]);
  }
  getPasskeySignin(passkeySigninToken) {
    return this.invoke("get_passkey_signin", { passkey_signin_token: passkeySigninToken }, [PASSKEY_SIGNIN]);
  }
  deletePasskeySignin(passkeySigninToken) {
    return this.invoke("delete_passkey_signin", { passkey_signin_token: passkeySigninToken });
  }
  completePasskeySignin(passkeySigninToken, credential) {
    return this.invoke("complete_passkey_signin", { passkey_signin_token: passkeySigninToken, credential: credentialArgument(credential) }, [
      value.model("session", "session", mapJSONObjectToSession),
      value.token("session_token", "sessionToken"),
    ]);
  }

  // A passkey as the second factor of a password sign-in
  getSigninPasskeyCredentialRequestOptions(signinToken) {
    return this.invoke("get_signin_passkey_credential_request_options", { signin_token: signinToken }, [REQUEST_OPTIONS]);
  }
  verifySigninPasskey(signinToken, credential) {
    return this.invoke("verify_signin_passkey", { signin_token: signinToken, credential: credentialArgument(credential) });
  }

  // Passkey management
  getUserPasskeys(sessionToken) {
    return this.invoke("get_user_passkeys", { session_token: sessionToken }, [PASSKEYS]);
  }
  updateUserPasskeyName(sessionToken, userPasskeyId, passkeyName) {
    return this.invoke("update_user_passkey_name", { session_token: sessionToken, user_passkey_id: userPasskeyId, passkey_name: passkeyName }, [
      PASSKEY,
    ]);
  }
  createUserPasskeyDeletion(sessionToken, userPasskeyId) {
    return this.invoke("create_user_passkey_deletion", { session_token: sessionToken, user_passkey_id: userPasskeyId }, [
      PASSKEY_DELETION,
      value.token("user_passkey_deletion_token", "userPasskeyDeletionToken"),
    ]);
  }
  getUserPasskeyDeletion(sessionToken, userPasskeyDeletionToken) {
    return this.invoke("get_user_passkey_deletion", {
      session_token: sessionToken, user_passkey_deletion_token: userPasskeyDeletionToken,
    }, [PASSKEY_DELETION]);
  }
  deleteUserPasskeyDeletion(sessionToken, userPasskeyDeletionToken) {
    return this.invoke("delete_user_passkey_deletion", { session_token: sessionToken, user_passkey_deletion_token: userPasskeyDeletionToken });
  }
  verifyUserPasskeyDeletionUserPassword(sessionToken, userPasskeyDeletionToken, password) {
    return this.invoke("verify_user_passkey_deletion_user_password", {
      session_token: sessionToken, user_passkey_deletion_token: userPasskeyDeletionToken, password,
    });
  }
  verifyUserPasskeyDeletionTOTPCode(sessionToken, userPasskeyDeletionToken, totpCode) {
    return this.invoke("verify_user_passkey_deletion_totp_code", {
      session_token: sessionToken, user_passkey_deletion_token: userPasskeyDeletionToken, totp_code: totpCode,
    });
  }
  completeUserPasskeyDeletion(sessionToken, userPasskeyDeletionToken) {
    return this.invoke("complete_user_passkey_deletion", { session_token: sessionToken, user_passkey_deletion_token: userPasskeyDeletionToken });
  }

  // Operator (support) action: block it with ACTION_BLOCKLIST where untrusted callers reach the endpoint.
  deleteUserSecondFactors(userId) {
    return this.invoke("delete_user_second_factors", { user_id: userId });
  }
}
