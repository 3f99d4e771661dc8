// Hand-written types for the extension actions (docs/extensions.md). Results have @faroe/client's
// shape: a success with the action's values, or `ActionErrorResult` with the error code.
import type { ActionErrorResult, ActionInvocationEndpointClient, ActionResult, ActionSuccessResult, Session } from "@faroe/client";

/** `user_totp_enrollment`: lives 10 minutes, bound to the session that created it. */
export interface UserTOTPEnrollment {
  id: string;
  userId: string;
  sessionId: string;
  userIdentityVerified: boolean;
  totpCodeVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

/** `user_recovery_code_regeneration`: lives 10 minutes, bound to its session. */
export interface UserRecoveryCodeRegeneration {
  id: string;
  userId: string;
  sessionId: string;
  userIdentityVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

/** `user_totp_deletion`: lives 10 minutes, bound to its session. */
export interface UserTOTPDeletion {
  id: string;
  userId: string;
  sessionId: string;
  userIdentityVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

/** `user_second_factors`: the user's second-factor status. */
export interface UserSecondFactors {
  userId: string;
  totpEnabled: boolean;
  totpEnabledAt: Date | null;
  /** Unused recovery codes left. */
  recoveryCodeCount: number;
  recoveryCodesCreatedAt: Date | null;
  /** With `EXTENSIONS` containing `passkeys` only. */
  passkeyCount?: number;
}

/** `user_passkey`: one of the user's passkeys (no key material). */
export interface UserPasskey {
  id: string;
  userId: string;
  name: string;
  algorithm: "ES256" | "EdDSA" | "RS256";
  /** The authenticator's backup-state flag (a synced passkey). */
  backedUp: boolean;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** `user_passkey_registration`: lives 10 minutes, bound to its session. */
export interface UserPasskeyRegistration {
  id: string;
  userId: string;
  sessionId: string;
  userIdentityVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

/** `user_passkey_deletion`: lives 10 minutes, bound to its session. */
export interface UserPasskeyDeletion {
  id: string;
  userId: string;
  sessionId: string;
  userPasskeyId: string;
  userIdentityVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

/** `passkey_signin`: a passwordless sign-in attempt (no user until it completes); lives 5 minutes. */
export interface PasskeySignin {
  id: string;
  createdAt: Date;
  expiresAt: Date;
}

/**
 * A credential for the passkey actions: the `PublicKeyCredential` from `navigator.credentials`,
 * its `toJSON()` object, or that object's JSON string (sent as is).
 */
export type PasskeyCredential = string | { toJSON(): unknown } | Record<string, unknown>;

/** What `user_security_event.type` may be (docs/extensions.md, "Events"). */
export type UserSecurityEventType =
  | "signin_succeeded"
  | "signin_password_incorrect"
  | "second_factor_used"
  | "second_factor_failed"
  | "password_updated"
  | "password_reset"
  | "email_address_updated"
  | "second_factor_added"
  | "second_factor_removed"
  | "sessions_revoked";

/** `user_security_event`: one recorded outcome of the user's account. */
export interface UserSecurityEvent {
  id: string;
  type: UserSecurityEventType | (string & {});
  /** `totp` | `recovery_code` | `passkey` for second factors, `all` | `one` for revocations, else "". */
  detail: string;
  createdAt: Date;
  /** The end user's address when the event happened, "" when unknown. */
  clientAddress: string;
}

/** Faroe's signin model with the two fields an enabled extension adds. */
export interface SigninWithSecondFactor {
  id: string;
  userId: string;
  userFirstFactorVerified: boolean;
  userSecondFactorRequired: boolean;
  userSecondFactorVerified: boolean;
  createdAt: Date;
  expiresAt: Date;
}

export type GetSigninWithSecondFactorActionResult = (ActionSuccessResult & { signin: SigninWithSecondFactor }) | ActionErrorResult;
export type CreateUserTOTPEnrollmentActionResult =
  | (ActionSuccessResult & { userTOTPEnrollment: UserTOTPEnrollment; userTOTPEnrollmentToken: string })
  | ActionErrorResult;
export type GetUserTOTPEnrollmentActionResult = (ActionSuccessResult & { userTOTPEnrollment: UserTOTPEnrollment }) | ActionErrorResult;
/** The key is returned here only, once: base32 (RFC 4648, no padding) and as an `otpauth://` URI. */
export type VerifyUserTOTPEnrollmentUserPasswordActionResult =
  | (ActionSuccessResult & { totpKey: string; totpKeyURI: string })
  | ActionErrorResult;
/** The 10 recovery codes are returned here and by regeneration only. */
export type CompleteUserTOTPEnrollmentActionResult =
  | (ActionSuccessResult & { userSecondFactors: UserSecondFactors; recoveryCodes: string[] })
  | ActionErrorResult;
export type CreateUserRecoveryCodeRegenerationActionResult =
  | (ActionSuccessResult & { userRecoveryCodeRegeneration: UserRecoveryCodeRegeneration; userRecoveryCodeRegenerationToken: string })
  | ActionErrorResult;
export type GetUserRecoveryCodeRegenerationActionResult =
  | (ActionSuccessResult & { userRecoveryCodeRegeneration: UserRecoveryCodeRegeneration })
  | ActionErrorResult;
export type CompleteUserRecoveryCodeRegenerationActionResult = CompleteUserTOTPEnrollmentActionResult;
export type CreateUserTOTPDeletionActionResult =
  | (ActionSuccessResult & { userTOTPDeletion: UserTOTPDeletion; userTOTPDeletionToken: string })
  | ActionErrorResult;
export type GetUserTOTPDeletionActionResult = (ActionSuccessResult & { userTOTPDeletion: UserTOTPDeletion }) | ActionErrorResult;
/** `credentialCreationOptions`: a PublicKeyCredentialCreationOptionsJSON string (for `PublicKeyCredential.parseCreationOptionsFromJSON`). */
export type CreateUserPasskeyRegistrationActionResult =
  | (ActionSuccessResult & {
      userPasskeyRegistration: UserPasskeyRegistration;
      userPasskeyRegistrationToken: string;
      credentialCreationOptions: string;
    })
  | ActionErrorResult;
export type GetUserPasskeyRegistrationActionResult =
  | (ActionSuccessResult & { userPasskeyRegistration: UserPasskeyRegistration })
  | ActionErrorResult;
/** `recoveryCodes`: 10 new codes when this passkey is the user's first second factor, else empty. */
export type CompleteUserPasskeyRegistrationActionResult =
  | (ActionSuccessResult & { userPasskey: UserPasskey; recoveryCodes: string[] })
  | ActionErrorResult;
/** `credentialRequestOptions`: a PublicKeyCredentialRequestOptionsJSON string (for `PublicKeyCredential.parseRequestOptionsFromJSON`). */
export type CreatePasskeySigninActionResult =
  | (ActionSuccessResult & { passkeySignin: PasskeySignin; passkeySigninToken: string; credentialRequestOptions: string })
  | ActionErrorResult;
export type GetPasskeySigninActionResult = (ActionSuccessResult & { passkeySignin: PasskeySignin }) | ActionErrorResult;
export type CompletePasskeySigninActionResult = (ActionSuccessResult & { session: Session; sessionToken: string }) | ActionErrorResult;
export type GetSigninPasskeyCredentialRequestOptionsActionResult =
  | (ActionSuccessResult & { credentialRequestOptions: string })
  | ActionErrorResult;
export type GetUserPasskeysActionResult = (ActionSuccessResult & { userPasskeys: UserPasskey[] }) | ActionErrorResult;
export type UserPasskeyActionResult = (ActionSuccessResult & { userPasskey: UserPasskey }) | ActionErrorResult;
export type CreateUserPasskeyDeletionActionResult =
  | (ActionSuccessResult & { userPasskeyDeletion: UserPasskeyDeletion; userPasskeyDeletionToken: string })
  | ActionErrorResult;
export type GetUserPasskeyDeletionActionResult = (ActionSuccessResult & { userPasskeyDeletion: UserPasskeyDeletion }) | ActionErrorResult;
export type GetUserSecurityEventsActionResult =
  | (ActionSuccessResult & { userSecurityEvents: UserSecurityEvent[] })
  | ActionErrorResult;
export type UserSecondFactorsActionResult = (ActionSuccessResult & { userSecondFactors: UserSecondFactors }) | ActionErrorResult;

/** One of the user's live sessions (sessions extension). */
export interface UserSession {
  id: string;
  createdAt: Date;
  lastActiveAt: Date;
  /** The earlier of the inactivity and the absolute expiry. */
  expiresAt: Date;
  /** It is the session whose token made the call. */
  current: boolean;
  /** The `clientLabel` given when the session was created; `""` when none. */
  clientLabel: string;
}
/** Newest first. */
export type GetUserSessionsActionResult = (ActionSuccessResult & { userSessions: UserSession[] }) | ActionErrorResult;

/**
 * faroe-worker's extension actions (`EXTENSIONS=totp`, `passkeys`, `sessions`), over the same endpoint client as
 * `new Client(endpointClient)` from @faroe/client. Action errors resolve with `ok: false`; an
 * endpoint failure rejects (`EndpointError`), and so does a malformed answer. With the extension
 * off, the endpoint answers its actions with HTTP 400 "unknown action" (an `EndpointError`).
 */
export declare class ExtensionClient {
  constructor(actionInvocationEndpointClient: ActionInvocationEndpointClient);
  readonly actionInvocationEndpointClient: ActionInvocationEndpointClient;

  /** `get_signin` with `userSecondFactorRequired` / `userSecondFactorVerified` (extension on only). */
  getSignin(signinToken: string): Promise<GetSigninWithSecondFactorActionResult>;

  createUserTOTPEnrollment(sessionToken: string): Promise<CreateUserTOTPEnrollmentActionResult>;
  getUserTOTPEnrollment(sessionToken: string, userTOTPEnrollmentToken: string): Promise<GetUserTOTPEnrollmentActionResult>;
  deleteUserTOTPEnrollment(sessionToken: string, userTOTPEnrollmentToken: string): Promise<ActionResult>;
  verifyUserTOTPEnrollmentUserPassword(sessionToken: string, userTOTPEnrollmentToken: string, password: string): Promise<VerifyUserTOTPEnrollmentUserPasswordActionResult>;
  verifyUserTOTPEnrollmentTOTPCode(sessionToken: string, userTOTPEnrollmentToken: string, totpCode: string): Promise<ActionResult>;
  completeUserTOTPEnrollment(sessionToken: string, userTOTPEnrollmentToken: string): Promise<CompleteUserTOTPEnrollmentActionResult>;

  createUserRecoveryCodeRegeneration(sessionToken: string): Promise<CreateUserRecoveryCodeRegenerationActionResult>;
  getUserRecoveryCodeRegeneration(sessionToken: string, userRecoveryCodeRegenerationToken: string): Promise<GetUserRecoveryCodeRegenerationActionResult>;
  deleteUserRecoveryCodeRegeneration(sessionToken: string, userRecoveryCodeRegenerationToken: string): Promise<ActionResult>;
  verifyUserRecoveryCodeRegenerationUserPassword(sessionToken: string, userRecoveryCodeRegenerationToken: string, password: string): Promise<ActionResult>;
  completeUserRecoveryCodeRegeneration(sessionToken: string, userRecoveryCodeRegenerationToken: string): Promise<CompleteUserRecoveryCodeRegenerationActionResult>;

  createUserTOTPDeletion(sessionToken: string): Promise<CreateUserTOTPDeletionActionResult>;
  getUserTOTPDeletion(sessionToken: string, userTOTPDeletionToken: string): Promise<GetUserTOTPDeletionActionResult>;
  deleteUserTOTPDeletion(sessionToken: string, userTOTPDeletionToken: string): Promise<ActionResult>;
  verifyUserTOTPDeletionUserPassword(sessionToken: string, userTOTPDeletionToken: string, password: string): Promise<ActionResult>;
  completeUserTOTPDeletion(sessionToken: string, userTOTPDeletionToken: string): Promise<UserSecondFactorsActionResult>;

  getUserSecondFactors(sessionToken: string): Promise<UserSecondFactorsActionResult>;

  verifySigninTOTPCode(signinToken: string, totpCode: string): Promise<ActionResult>;
  verifySigninRecoveryCode(signinToken: string, recoveryCode: string): Promise<ActionResult>;

  /** Sessions extension: the caller's user's live sessions, newest first. */
  getUserSessions(sessionToken: string): Promise<GetUserSessionsActionResult>;
  /** Sessions extension: signs one session of the caller's user out (`session_not_found` when it is not theirs or gone). */
  deleteUserSession(sessionToken: string, userSessionId: string): Promise<ActionResult>;

  // Passkeys (`EXTENSIONS` containing `passkeys`). Registration needs the password again, or a TOTP
  // code for a user with TOTP (`totp` on too).
  createUserPasskeyRegistration(sessionToken: string): Promise<CreateUserPasskeyRegistrationActionResult>;
  getUserPasskeyRegistration(sessionToken: string, userPasskeyRegistrationToken: string): Promise<GetUserPasskeyRegistrationActionResult>;
  deleteUserPasskeyRegistration(sessionToken: string, userPasskeyRegistrationToken: string): Promise<ActionResult>;
  verifyUserPasskeyRegistrationUserPassword(sessionToken: string, userPasskeyRegistrationToken: string, password: string): Promise<ActionResult>;
  verifyUserPasskeyRegistrationTOTPCode(sessionToken: string, userPasskeyRegistrationToken: string, totpCode: string): Promise<ActionResult>;
  completeUserPasskeyRegistration(
    sessionToken: string,
    userPasskeyRegistrationToken: string,
    passkeyName: string,
    credential: PasskeyCredential,
  ): Promise<CompleteUserPasskeyRegistrationActionResult>;

  /** Passwordless sign-in with a discoverable passkey (per-IP gated like `create_signin`). */
  createPasskeySignin(): Promise<CreatePasskeySigninActionResult>;
  getPasskeySignin(passkeySigninToken: string): Promise<GetPasskeySigninActionResult>;
  deletePasskeySignin(passkeySigninToken: string): Promise<ActionResult>;
  completePasskeySignin(passkeySigninToken: string, credential: PasskeyCredential): Promise<CompletePasskeySigninActionResult>;

  /** A passkey as the second factor of a password sign-in. */
  getSigninPasskeyCredentialRequestOptions(signinToken: string): Promise<GetSigninPasskeyCredentialRequestOptionsActionResult>;
  verifySigninPasskey(signinToken: string, credential: PasskeyCredential): Promise<ActionResult>;

  /** Oldest first. */
  getUserPasskeys(sessionToken: string): Promise<GetUserPasskeysActionResult>;
  updateUserPasskeyName(sessionToken: string, userPasskeyId: string, passkeyName: string): Promise<UserPasskeyActionResult>;
  createUserPasskeyDeletion(sessionToken: string, userPasskeyId: string): Promise<CreateUserPasskeyDeletionActionResult>;
  getUserPasskeyDeletion(sessionToken: string, userPasskeyDeletionToken: string): Promise<GetUserPasskeyDeletionActionResult>;
  deleteUserPasskeyDeletion(sessionToken: string, userPasskeyDeletionToken: string): Promise<ActionResult>;
  verifyUserPasskeyDeletionUserPassword(sessionToken: string, userPasskeyDeletionToken: string, password: string): Promise<ActionResult>;
  verifyUserPasskeyDeletionTOTPCode(sessionToken: string, userPasskeyDeletionToken: string, totpCode: string): Promise<ActionResult>;
  completeUserPasskeyDeletion(sessionToken: string, userPasskeyDeletionToken: string): Promise<ActionResult>;
  /** `get_user_security_events` (`EXTENSIONS=security_events`): newest first, the last 100 or 90 days. */
  getUserSecurityEvents(sessionToken: string): Promise<GetUserSecurityEventsActionResult>;

  /** Operator/support action (needs only a user id): keep it off untrusted callers with ACTION_BLOCKLIST. */
  deleteUserSecondFactors(userId: string): Promise<ActionResult>;
}

export declare function mapJSONObjectToUserTOTPEnrollment(json: unknown): UserTOTPEnrollment;
export declare function mapJSONObjectToUserRecoveryCodeRegeneration(json: unknown): UserRecoveryCodeRegeneration;
export declare function mapJSONObjectToUserTOTPDeletion(json: unknown): UserTOTPDeletion;
export declare function mapJSONObjectToUserSecondFactors(json: unknown): UserSecondFactors;
export declare function mapJSONObjectToUserSession(json: unknown): UserSession;
export declare function mapJSONObjectToUserSecurityEvent(json: unknown): UserSecurityEvent;
export declare function mapJSONObjectToSignin(json: unknown): SigninWithSecondFactor;
export declare function mapJSONObjectToUserPasskey(json: unknown): UserPasskey;
export declare function mapJSONObjectToUserPasskeyRegistration(json: unknown): UserPasskeyRegistration;
export declare function mapJSONObjectToUserPasskeyDeletion(json: unknown): UserPasskeyDeletion;
export declare function mapJSONObjectToPasskeySignin(json: unknown): PasskeySignin;
export declare function mapJSONObjectToSession(json: unknown): Session;
