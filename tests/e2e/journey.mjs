// The whole Faroe journey through @faroe/client, shared by the flow and secrets suites:
// sign-up → sign-in → session → email update → password update → password reset → deletion.
import assert from "node:assert/strict";

/** Every password the journey uses (the secrets suite checks none leaks). */
export const JOURNEY_PASSWORDS = ["first-password-1", "second-password-2", "third-password-3", "wrong-password", "password123", "short"];

const TOKEN = /^[a-km-np-z2-9]{24}\.[a-km-np-z2-9]{24}$/;
const CODE = /^[A-HJ-NP-Z2-9]{8}$/;
const TEMPORARY = /^[A-HJ-NP-Z2-9]{12}$/;

export async function journey(client, email, userServer) {
  const address = `journey-${Date.now()}@example.com`;
  const newAddress = `moved-${Date.now()}@example.com`;

  // Sign-up.
  const signup = await client.createSignup(address);
  assert.equal(signup.ok, true, JSON.stringify(signup));
  assert.match(signup.signupToken, TOKEN);
  assert.equal(signup.signup.emailAddress, address);
  const codeMail = email.last("signup_email_address_verification_code", address);
  const code = codeMail.data.email_address_verification_code;
  assert.match(code, CODE);
  assert.ok(codeMail.text.includes(code) && codeMail.html.includes(code));
  assert.equal((await client.verifySignupEmailAddressVerificationCode(signup.signupToken, "AAAAAAAA")).errorCode,
    "incorrect_email_address_verification_code");
  assert.equal((await client.verifySignupEmailAddressVerificationCode(signup.signupToken, code)).ok, true);
  assert.equal((await client.setSignupPassword(signup.signupToken, "password123")).errorCode, "weak_password");
  assert.equal((await client.setSignupPassword(signup.signupToken, "short")).errorCode, "invalid_password_length");
  assert.equal((await client.setSignupPassword(signup.signupToken, "first-password-1")).ok, true);
  const completed = await client.completeSignup(signup.signupToken);
  assert.equal(completed.ok, true, JSON.stringify(completed));
  assert.match(completed.sessionToken, TOKEN);
  const userId = completed.session.userId;
  assert.equal(completed.session.expiresAt, null);
  assert.equal((await client.getSignup(signup.signupToken)).errorCode, "invalid_signup_token");
  if (userServer) assert.ok(userServer.users.has(userId));

  // Session.
  const got = await client.getSession(completed.sessionToken);
  assert.equal(got.ok, true);
  assert.equal(got.session.userId, userId);

  // Sign-in.
  const signin = await client.createSignin(address);
  assert.equal(signin.ok, true);
  assert.equal(signin.signin.userId, userId);
  assert.equal((await client.verifySigninUserPassword(signin.signinToken, "wrong-password")).errorCode, "incorrect_password");
  assert.equal((await client.verifySigninUserPassword(signin.signinToken, "first-password-1")).ok, true);
  const signedIn = await client.completeSignin(signin.signinToken);
  assert.equal(signedIn.ok, true);
  const session = signedIn.sessionToken;
  assert.equal(email.last("user_signed_in_notification", address).data.timestamp,
    Math.floor(signedIn.session.createdAt.getTime() / 1000));

  // Email address update.
  const update = await client.createUserEmailAddressUpdate(session, newAddress);
  assert.equal(update.ok, true, JSON.stringify(update));
  const newCode = email.last("user_email_address_update_email_address_verification_code", newAddress)
    .data.email_address_verification_code;
  assert.equal((await client.verifyUserEmailAddressUpdateEmailAddressVerificationCode(session,
    update.userEmailAddressUpdateToken, newCode)).ok, true);
  assert.equal((await client.verifyUserEmailAddressUpdateUserPassword(session,
    update.userEmailAddressUpdateToken, "first-password-1")).ok, true);
  assert.equal((await client.completeUserEmailAddressUpdate(session, update.userEmailAddressUpdateToken)).ok, true);
  const moved = email.last("user_email_address_updated_notification", address);
  assert.equal(moved.data.new_email_address, newAddress);
  assert.equal((await client.createSignin(address)).errorCode, "user_not_found");

  // Password update.
  const pu = await client.createUserPasswordUpdate(session);
  assert.equal(pu.ok, true);
  assert.equal((await client.setUserPasswordUpdateNewPassword(session, pu.userPasswordUpdateToken,
    "second-password-2")).errorCode, "user_identity_not_verified");
  assert.equal((await client.verifyUserPasswordUpdateUserPassword(session, pu.userPasswordUpdateToken,
    "first-password-1")).ok, true);
  assert.equal((await client.setUserPasswordUpdateNewPassword(session, pu.userPasswordUpdateToken,
    "second-password-2")).ok, true);
  assert.equal((await client.completeUserPasswordUpdate(session, pu.userPasswordUpdateToken)).ok, true);
  assert.ok(email.last("user_password_updated_notification", newAddress));
  assert.equal((await client.getSession(session)).ok, true, "sessions survive a password update");

  // Password reset with the temporary password.
  const reset = await client.createUserPasswordReset(newAddress);
  assert.equal(reset.ok, true, JSON.stringify(reset));
  const temporary = email.last("user_password_reset_temporary_password", newAddress).data.temporary_password;
  assert.match(temporary, TEMPORARY);
  assert.equal((await client.verifyUserPasswordResetTemporaryPassword(reset.userPasswordResetToken,
    temporary.toLowerCase())).errorCode, "incorrect_temporary_password");
  assert.equal((await client.verifyUserPasswordResetTemporaryPassword(reset.userPasswordResetToken, temporary)).ok, true);
  assert.equal((await client.setUserPasswordResetNewPassword(reset.userPasswordResetToken, "third-password-3")).ok, true);
  const resetDone = await client.completeUserPasswordReset(reset.userPasswordResetToken);
  assert.equal(resetDone.ok, true);
  const resetSession = resetDone.sessionToken;

  // Sign out of one session (the verify-user-password bucket holds 5 tokens: keep within it).
  assert.equal((await client.deleteSession(session)).ok, true);
  assert.equal((await client.getSession(session)).errorCode, "invalid_session_token");
  assert.equal((await client.getSession(resetSession)).ok, true);

  // Deletion.
  const deletion = await client.createUserDeletion(resetSession);
  assert.equal(deletion.ok, true);
  assert.equal((await client.completeUserDeletion(resetSession, deletion.userDeletionToken)).errorCode,
    "user_identity_not_verified");
  const verified = await client.verifyUserDeletionUserPassword(resetSession, deletion.userDeletionToken,
    "third-password-3");
  assert.equal(verified.ok, true, JSON.stringify(verified));
  assert.equal((await client.completeUserDeletion(resetSession, deletion.userDeletionToken)).ok, true);
  assert.equal((await client.createSignin(newAddress)).errorCode, "user_not_found");
  assert.equal((await client.createUserPasswordReset(newAddress)).errorCode, "user_not_found");
  if (userServer) assert.ok(!userServer.users.has(userId));
}

