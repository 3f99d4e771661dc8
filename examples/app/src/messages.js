// Faroe error codes and page notices → sentences for people. Unknown codes fall back to a generic
// message; the code itself is logged, never shown.

const ERRORS = {
  rate_limited: "Too many attempts. Please wait a few minutes and try again.",
  incorrect_password: "That password is not correct.",
  incorrect_temporary_password: "That temporary password is not correct. Check the email we sent you.",
  incorrect_email_address_verification_code: "That code is not correct. Check the email we sent you.",
  weak_password: "That password has appeared in a data breach. Please choose a different one.",
  invalid_password_length: "Passwords must be between 10 and 100 characters long.",
  invalid_email_address: "Please enter a valid email address.",
  email_address_already_used: "An account already uses that email address.",
  email_address_not_allowed: "That email address cannot be used here.",
  email_address_not_verified: "Please confirm your email address first.",
  email_address_already_verified: "Your email address is already confirmed.",
  user_not_found: "No account uses that email address.",
  user_disabled: "This account has been disabled.",
  password_not_set: "Please choose a password first.",
  new_password_not_set: "Please choose a new password first.",
  user_identity_not_verified: "Please enter your current password.",
  user_first_factor_not_verified: "Please enter the temporary password from the email first.",
  internal_conflict: "Something changed while we were working on it. Please try again.",
  session_not_created: "Your password was saved, but we could not sign you in. Please sign in.",
  invalid_session_token: "Your session has ended. Please sign in again.",
  session_mismatch: "This change was started in another session. Please start again.",
  invalid_signup_token: "This sign-up has expired. Please start again.",
  invalid_signin_token: "This sign-in has expired. Please try again.",
  invalid_user_email_address_update_token: "This email change has expired. Please start again.",
  invalid_password_update_token: "This password change has expired. Please start again.",
  invalid_user_password_update_token: "This password change has expired. Please start again.",
  invalid_user_deletion_token: "This request has expired. Please start again.",
  invalid_user_password_reset_token: "This password reset has expired. Please start again.",
  incorrect_totp_code: "That code is not correct. Enter the current code from your authenticator app (each code works once).",
  incorrect_recovery_code: "That recovery code is not correct or was already used.",
  totp_already_enabled: "Two-factor authentication is already on.",
  totp_not_enabled: "Two-factor authentication is off.",
  second_factor_not_enabled: "Two-factor authentication is off.",
  totp_code_not_verified: "Please enter a code from your authenticator app first.",
  user_second_factor_not_verified: "Please enter a code from your authenticator app.",
  invalid_user_totp_enrollment_token: "This setup has expired. Please start again.",
  invalid_user_recovery_code_regeneration_token: "This request has expired. Please start again.",
  invalid_user_totp_deletion_token: "This request has expired. Please start again.",
  invalid_passkey_credential: "That passkey could not be verified. Please try again.",
  invalid_passkey_name: "Passkey names are 1 to 64 characters long.",
  passkey_already_registered: "That passkey is already registered.",
  passkey_limit_reached: "You have the maximum of 20 passkeys. Remove one to add another.",
  passkey_not_found: "That passkey is not registered here (it may have been removed). Sign in with your password.",
  second_factor_required: "This account needs at least one second factor: add another one before removing this one.",
  invalid_user_passkey_registration_token: "This passkey setup has expired. Please start again.",
  invalid_user_passkey_deletion_token: "This request has expired. Please start again.",
  invalid_passkey_signin_token: "This passkey sign-in has expired. Please try again.",
};

/**
 * Every sign-in failure that depends on whether the address has an account (unknown address,
 * disabled account, wrong password, the per-account attempt limit) shows this one sentence.
 */
export const SIGNIN_FAILED =
  "That email address and password do not match an account. After several failed attempts, wait a few minutes before trying again.";

export function errorMessage(code) {
  return ERRORS[code] ?? "Something went wrong on our side. Please try again in a moment.";
}

const NOTICES = {
  "welcome": "Welcome! Your account is ready and you are signed in.",
  "signed-in": "You are signed in.",
  "signed-in-recovery-code":
    "You are signed in with a recovery code, which is now used up. Running low? Create new ones under Two-factor authentication.",
  "signin-expired": ERRORS.invalid_signin_token,
  "two-factor-off": "Two-factor authentication is off. Signing in now needs only your password.",
  "two-factor-setup-expired": "This setup has expired. Please start again.",
  "passkey-added": "Your passkey has been added. You can use it to sign in.",
  "passkey-renamed": "Your passkey has been renamed.",
  "passkey-removed": "Your passkey has been removed.",
  "passkey-setup-expired": ERRORS.invalid_user_passkey_registration_token,
  "signed-in-passkey": "You are signed in with your passkey.",
  "signed-out": "You have been signed out.",
  "signed-out-everywhere": "You have been signed out on all devices. Other devices are signed out within a minute.",
  "signin-required": "Please sign in to continue.",
  "session-ended": "Your session has ended. Please sign in again.",
  "code-sent": "We sent the code again.",
  "signup-expired": ERRORS.invalid_signup_token,
  "email-update-expired": ERRORS.invalid_user_email_address_update_token,
  "password-update-expired": ERRORS.invalid_password_update_token,
  "reset-expired": ERRORS.invalid_user_password_reset_token,
  "email-updated": "Your email address has been changed.",
  "password-updated": "Your password has been changed.",
  "password-reset": "Your password has been reset and you are signed in.",
  "password-updated-others-signed-out":
    "Your password has been changed. You are still signed in here; every other device has been signed out (within a minute).",
  "password-reset-others-signed-out":
    "Your password has been reset and you are signed in here; every other device has been signed out (within a minute).",
  "others-not-signed-out":
    "Your password has been changed, but other devices could not be signed out. Use “Sign out everywhere” below.",
  "signed-out-everywhere-sign-in-again":
    "Your password has been changed and every device has been signed out. Please sign in with your new password.",
  "account-deleted": "Your account has been deleted.",
  "device-signed-out": "That device has been signed out.",
  "device-already-signed-out": "That device was already signed out.",
};

/** The text for a `?notice=` key; unknown keys show nothing (no reflected text). */
export function noticeMessage(key) {
  return key && Object.hasOwn(NOTICES, key) ? NOTICES[key] : null;
}
