// Example app for faroe-worker: a Worker that serves HTML pages and talks to the auth server
// through the FAROE service binding. Tokens live only in HttpOnly cookies; every POST carries a
// CSRF token. Pages: sign-up, sign-in, account, sign-out (here / everywhere), email change,
// password change, password reset, account deletion.
import { EndpointError } from "../../../js/src/index.js";
import { SIGNIN_FAILED, errorMessage } from "./messages.js";
import { COOKIES, LIFETIMES, ConfigError, Context, csrfField, formatTime, html, plainErrorPage } from "./web.js";

/** An action error that ends the request with a message page. */
class ActionFailure extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

/** Status for a page re-rendered after an action error. */
const statusFor = (code) => (code === "rate_limited" ? 429 : 400);

/** The valid session from the cookie, or null (the stale cookie is cleared). */
async function currentSession(ctx) {
  const token = ctx.cookie(COOKIES.session);
  if (!token) return null;
  const result = await ctx.faroe.getSession(token);
  if (result.ok) return { token, session: result.session };
  if (result.errorCode !== "invalid_session_token") throw new ActionFailure(result.errorCode);
  ctx.clearAll();
  return null;
}

async function startSession(ctx, session, sessionToken, email) {
  ctx.setCookie(COOKIES.session, sessionToken, LIFETIMES.session);
  if (email) await ctx.rememberEmail(session.userId, email);
}

/** Wraps a handler that needs a signed-in user. */
function signedIn(handler) {
  return async (ctx, form) => {
    const hadCookie = ctx.cookie(COOKIES.session) !== null;
    const current = await currentSession(ctx);
    if (!current) return ctx.redirect(`/signin?notice=${hadCookie ? "session-ended" : "signin-required"}`);
    return handler(ctx, form, current);
  };
}

function field(form, name) {
  const v = form?.get(name);
  return typeof v === "string" ? v : "";
}

/** Codes and temporary passwords use an upper-case alphabet; accept them typed in any case. */
const normalizeCode = (value) => value.replace(/\s+/g, "").toUpperCase();

// ---------------------------------------------------------------------------------------------
// Home
// ---------------------------------------------------------------------------------------------

async function home(ctx) {
  if (await currentSession(ctx)) return ctx.redirect("/account");
  return ctx.page("Welcome", html`
<p>This example app signs you in through <strong>faroe-worker</strong>.</p>
<ul class="actions">
  <li><a href="/signup">Create an account</a></li>
  <li><a href="/signin">Sign in</a></li>
  <li><a href="/reset">Forgot your password?</a></li>
</ul>`);
}

// ---------------------------------------------------------------------------------------------
// Sign-up: email → code → password
// ---------------------------------------------------------------------------------------------

function signupEmailPage(ctx, { email = "", error = null, status = 200 } = {}) {
  return ctx.page("Create an account", (csrf) => html`
<form method="post" action="/signup">
  ${csrfField(csrf)}
  <label for="email">Email address</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="${email}">
  <button type="submit">Continue</button>
</form>
<p class="hint">Already have an account? <a href="/signin">Sign in</a>.</p>`, { error, status });
}

async function signupForm(ctx) {
  if (await currentSession(ctx)) return ctx.redirect("/account");
  return signupEmailPage(ctx);
}

async function signupSubmit(ctx, form) {
  const email = field(form, "email").trim();
  const result = await ctx.faroe.createSignup(email);
  if (!result.ok) return signupEmailPage(ctx, { email, error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  ctx.setCookie(COOKIES.signup, result.signupToken, LIFETIMES.signup);
  return ctx.redirect("/signup/verify");
}

/** The signup from the cookie, or a redirect back to the start. */
async function loadSignup(ctx) {
  const token = ctx.cookie(COOKIES.signup);
  if (!token) return { redirect: ctx.redirect("/signup") };
  const result = await ctx.faroe.getSignup(token);
  if (result.ok) return { token, signup: result.signup };
  if (result.errorCode !== "invalid_signup_token") throw new ActionFailure(result.errorCode);
  ctx.clearCookie(COOKIES.signup);
  return { redirect: ctx.redirect("/signup?notice=signup-expired") };
}

function signupCodePage(ctx, signup, { error = null, status = 200 } = {}) {
  return ctx.page("Confirm your email address", (csrf) => html`
<p>We sent an 8-character code to <strong>${signup.emailAddress}</strong>. Enter it below.</p>
<form method="post" action="/signup/verify">
  ${csrfField(csrf)}
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" autocomplete="one-time-code" spellcheck="false" required>
  <button type="submit">Confirm</button>
</form>
<form method="post" action="/signup/resend" class="inline">
  ${csrfField(csrf)}
  <button type="submit" class="secondary">Send the code again</button>
</form>`, { error, status });
}

async function signupCodeForm(ctx) {
  const { redirect, signup } = await loadSignup(ctx);
  if (redirect) return redirect;
  if (signup.emailAddressVerified) return ctx.redirect("/signup/password");
  return signupCodePage(ctx, signup);
}

async function signupCodeSubmit(ctx, form) {
  const { redirect, token, signup } = await loadSignup(ctx);
  if (redirect) return redirect;
  if (signup.emailAddressVerified) return ctx.redirect("/signup/password");
  const result = await ctx.faroe.verifySignupEmailAddressVerificationCode(token, normalizeCode(field(form, "code")));
  if (!result.ok && result.errorCode !== "email_address_already_verified") {
    return signupCodePage(ctx, signup, { error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  }
  return ctx.redirect("/signup/password");
}

async function signupResend(ctx) {
  const { redirect, token, signup } = await loadSignup(ctx);
  if (redirect) return redirect;
  const result = await ctx.faroe.sendSignupEmailAddressVerificationCode(token);
  if (!result.ok) {
    if (result.errorCode === "email_address_already_verified") return ctx.redirect("/signup/password");
    return signupCodePage(ctx, signup, { error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  }
  return ctx.redirect("/signup/verify?notice=code-sent");
}

function signupPasswordPage(ctx, signup, { error = null, status = 200 } = {}) {
  return ctx.page("Choose a password", (csrf) => html`
<p>Email address <strong>${signup.emailAddress}</strong> confirmed.</p>
<form method="post" action="/signup/password">
  ${csrfField(csrf)}
  <input type="email" name="username" autocomplete="username" value="${signup.emailAddress}" hidden>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="new-password" minlength="10" maxlength="100" required>
  <p class="hint">10 to 100 characters. Passwords found in data breaches are refused.</p>
  <button type="submit">Create account</button>
</form>`, { error, status });
}

async function signupPasswordForm(ctx) {
  const { redirect, signup } = await loadSignup(ctx);
  if (redirect) return redirect;
  if (!signup.emailAddressVerified) return ctx.redirect("/signup/verify");
  return signupPasswordPage(ctx, signup);
}

async function signupPasswordSubmit(ctx, form) {
  const { redirect, token, signup } = await loadSignup(ctx);
  if (redirect) return redirect;
  if (!signup.emailAddressVerified) return ctx.redirect("/signup/verify");
  if (!signup.passwordSet) {
    const set = await ctx.faroe.setSignupPassword(token, field(form, "password"));
    if (!set.ok && set.errorCode !== "password_already_set") {
      return signupPasswordPage(ctx, signup, { error: errorMessage(set.errorCode), status: statusFor(set.errorCode) });
    }
  }
  const done = await ctx.faroe.completeSignup(token);
  if (!done.ok) {
    if (done.errorCode === "invalid_signup_token") {
      ctx.clearCookie(COOKIES.signup);
      return signupEmailPage(ctx, { email: signup.emailAddress, error: errorMessage(done.errorCode), status: 400 });
    }
    return signupPasswordPage(ctx, signup, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  }
  ctx.clearCookie(COOKIES.signup);
  await startSession(ctx, done.session, done.sessionToken, signup.emailAddress);
  return ctx.redirect("/account?notice=welcome");
}

// ---------------------------------------------------------------------------------------------
// Sign-in (one form; the signin token never leaves this request)
// ---------------------------------------------------------------------------------------------

function signinPage(ctx, { email = "", error = null, status = 200 } = {}) {
  return ctx.page("Sign in", (csrf) => html`
<form method="post" action="/signin">
  ${csrfField(csrf)}
  <label for="email">Email address</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${email}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="hint"><a href="/reset">Forgot your password?</a> · <a href="/signup">Create an account</a></p>`, { error, status });
}

async function signinForm(ctx) {
  if (await currentSession(ctx)) return ctx.redirect("/account");
  return signinPage(ctx);
}

/**
 * A failed sign-in answers no sooner than this after the form arrived. An unknown address fails
 * after one quick lookup, a known one only after hashing the password; the floor (above the
 * hashing time of faroe-worker's default Argon2id) hides that difference.
 */
const SIGNIN_FAILURE_FLOOR_MS = 1000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function signinSubmit(ctx, form) {
  const started = Date.now();
  const email = field(form, "email").trim();
  const fail = (code) => signinPage(ctx, { email, error: errorMessage(code), status: statusFor(code) });
  // Same sentence, status and timing whether or not the address has an account.
  const failIndistinguishably = async () => {
    await sleep(SIGNIN_FAILURE_FLOOR_MS - (Date.now() - started));
    return signinPage(ctx, { email, error: SIGNIN_FAILED, status: 400 });
  };
  const signin = await ctx.faroe.createSignin(email);
  if (!signin.ok) {
    // rate_limited here is the per-IP limit, which applies to every address alike.
    if (["user_not_found", "user_disabled"].includes(signin.errorCode)) return failIndistinguishably();
    return fail(signin.errorCode);
  }
  const verified = await ctx.faroe.verifySigninUserPassword(signin.signinToken, field(form, "password"));
  if (!verified.ok) {
    await ctx.faroe.deleteSignin(signin.signinToken);
    // rate_limited here is the per-account password limit: only an existing account reaches it.
    if (["incorrect_password", "rate_limited"].includes(verified.errorCode)) return failIndistinguishably();
    return fail(verified.errorCode);
  }
  const done = await ctx.faroe.completeSignin(signin.signinToken);
  if (!done.ok) return fail(done.errorCode);
  await startSession(ctx, done.session, done.sessionToken, email);
  return ctx.redirect("/account?notice=signed-in");
}

// ---------------------------------------------------------------------------------------------
// Account, sign-out
// ---------------------------------------------------------------------------------------------

async function accountPage(ctx, form, { session }, { error = null, status = 200 } = {}) {
  const email = await ctx.rememberedEmail(session.userId);
  return ctx.page("Your account", (csrf) => html`
<dl>
  <dt>Email address</dt><dd id="account-email">${email ?? "(sign in again to show it)"}</dd>
  <dt>User ID</dt><dd id="user-id">${session.userId}</dd>
  <dt>Session ID</dt><dd id="session-id">${session.id}</dd>
  <dt>Signed in at</dt><dd id="session-created">${formatTime(session.createdAt)}</dd>
  <dt>Session expires</dt><dd id="session-expires">${session.expiresAt ? formatTime(session.expiresAt) : "after 30 days without use"}</dd>
</dl>
<ul class="actions">
  <li><a href="/account/email">Change email address</a></li>
  <li><a href="/account/password">Change password</a></li>
  <li><a href="/account/delete">Delete account</a></li>
</ul>
<form method="post" action="/signout" class="inline">
  ${csrfField(csrf)}
  <button type="submit">Sign out</button>
</form>
<form method="post" action="/signout-everywhere" class="inline">
  ${csrfField(csrf)}
  <button type="submit" class="secondary">Sign out everywhere</button>
</form>`, { error, status, signedIn: true });
}

async function signout(ctx) {
  const token = ctx.cookie(COOKIES.session);
  // This browser is signed out even if the auth server fails to delete the session.
  ctx.clearAll();
  if (token) {
    const result = await ctx.faroe.deleteSession(token);
    if (!result.ok && result.errorCode !== "invalid_session_token") throw new ActionFailure(result.errorCode);
  }
  return ctx.redirect("/?notice=signed-out");
}

/**
 * "Sign out everywhere else", offered with a password change or reset. Faroe's
 * delete_all_sessions ends every session of the user through the user's sessions counter, this
 * one included, so this browser then signs in again with the password just set and gets a fresh
 * session. Returns the redirect that ends the request.
 */
async function signOutEverywhereElse(ctx, sessionToken, email, password, successNotice) {
  const ended = await ctx.faroe.deleteAllSessions(sessionToken);
  if (!ended.ok) return ctx.redirect("/account?notice=others-not-signed-out");
  const signin = email ? await ctx.faroe.createSignin(email) : { ok: false };
  const verified = signin.ok ? await ctx.faroe.verifySigninUserPassword(signin.signinToken, password) : { ok: false };
  const done = verified.ok ? await ctx.faroe.completeSignin(signin.signinToken) : { ok: false };
  if (!done.ok) {
    if (signin.ok) await ctx.faroe.deleteSignin(signin.signinToken);
    ctx.clearAll();
    return ctx.redirect("/signin?notice=signed-out-everywhere-sign-in-again");
  }
  await startSession(ctx, done.session, done.sessionToken, email);
  return ctx.redirect(`/account?notice=${successNotice}`);
}

/** The opt-in checkbox on the password change and reset forms. */
const signOutOthersField = () => html`<label class="check"><input type="checkbox" id="signout-others" name="signout_others" value="1"> Sign out everywhere else</label>
  <p class="hint">Ends every other session of your account; this browser stays signed in.</p>`;

async function signoutEverywhere(ctx, form, current) {
  const result = await ctx.faroe.deleteAllSessions(current.token);
  if (!result.ok) return accountPage(ctx, form, current, { error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  ctx.clearAll();
  return ctx.redirect("/signin?notice=signed-out-everywhere");
}

// ---------------------------------------------------------------------------------------------
// Email address change: new address → code + current password
// ---------------------------------------------------------------------------------------------

function emailFormPage(ctx, { email = "", error = null, status = 200 } = {}) {
  return ctx.page("Change email address", (csrf) => html`
<form method="post" action="/account/email">
  ${csrfField(csrf)}
  <label for="email">New email address</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="${email}">
  <button type="submit">Send code</button>
</form>
<p class="hint"><a href="/account">Back to your account</a></p>`, { error, status, signedIn: true });
}

async function emailForm(ctx) {
  return emailFormPage(ctx);
}

async function emailSubmit(ctx, form, { token }) {
  const email = field(form, "email").trim();
  const result = await ctx.faroe.createUserEmailAddressUpdate(token, email);
  if (!result.ok) return emailFormPage(ctx, { email, error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  ctx.setCookie(COOKIES.emailUpdate, result.userEmailAddressUpdateToken, LIFETIMES.emailUpdate);
  return ctx.redirect("/account/email/verify");
}

async function loadEmailUpdate(ctx, sessionToken) {
  const token = ctx.cookie(COOKIES.emailUpdate);
  if (!token) return { redirect: ctx.redirect("/account/email") };
  const result = await ctx.faroe.getUserEmailAddressUpdate(sessionToken, token);
  if (result.ok) return { token, update: result.userEmailAddressUpdate };
  if (!["invalid_user_email_address_update_token", "session_mismatch"].includes(result.errorCode)) {
    throw new ActionFailure(result.errorCode);
  }
  ctx.clearCookie(COOKIES.emailUpdate);
  return { redirect: ctx.redirect("/account/email?notice=email-update-expired") };
}

function emailVerifyPage(ctx, update, { error = null, status = 200 } = {}) {
  return ctx.page("Confirm your new email address", (csrf) => html`
<form method="post" action="/account/email/verify">
  ${csrfField(csrf)}
  ${update.newEmailAddressVerified
    ? html`<p>New address <strong>${update.newEmailAddress}</strong> confirmed.</p>`
    : html`<p>We sent an 8-character code to <strong>${update.newEmailAddress}</strong>.</p>
  <label for="code">Verification code</label>
  <input id="code" name="code" type="text" autocomplete="one-time-code" spellcheck="false" required>`}
  ${update.userIdentityVerified ? "" : html`<label for="password">Current password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>`}
  <button type="submit">Change email address</button>
</form>
${update.newEmailAddressVerified ? "" : html`<form method="post" action="/account/email/resend" class="inline">
  ${csrfField(csrf)}
  <button type="submit" class="secondary">Send the code again</button>
</form>`}`, { error, status, signedIn: true });
}

async function emailVerifyForm(ctx, form, { token: sessionToken }) {
  const { redirect, update } = await loadEmailUpdate(ctx, sessionToken);
  if (redirect) return redirect;
  return emailVerifyPage(ctx, update);
}

async function emailResend(ctx, form, { token: sessionToken }) {
  const { redirect, token, update } = await loadEmailUpdate(ctx, sessionToken);
  if (redirect) return redirect;
  const result = await ctx.faroe.sendUserEmailAddressUpdateEmailAddressVerificationCode(sessionToken, token);
  if (!result.ok && result.errorCode !== "email_address_already_verified") {
    return emailVerifyPage(ctx, update, { error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  }
  return ctx.redirect("/account/email/verify?notice=code-sent");
}

async function emailVerifySubmit(ctx, form, { token: sessionToken, session }) {
  const { redirect, token, update } = await loadEmailUpdate(ctx, sessionToken);
  if (redirect) return redirect;
  const fail = (code, current = update) => emailVerifyPage(ctx, current, { error: errorMessage(code), status: statusFor(code) });
  let state = update;
  if (!state.newEmailAddressVerified) {
    const r = await ctx.faroe.verifyUserEmailAddressUpdateEmailAddressVerificationCode(sessionToken, token, normalizeCode(field(form, "code")));
    if (!r.ok && r.errorCode !== "email_address_already_verified") return fail(r.errorCode);
    state = { ...state, newEmailAddressVerified: true };
  }
  if (!state.userIdentityVerified) {
    const r = await ctx.faroe.verifyUserEmailAddressUpdateUserPassword(sessionToken, token, field(form, "password"));
    if (!r.ok && r.errorCode !== "user_identity_already_verified") return fail(r.errorCode, state);
    state = { ...state, userIdentityVerified: true };
  }
  const done = await ctx.faroe.completeUserEmailAddressUpdate(sessionToken, token);
  if (!done.ok) {
    if (done.errorCode === "invalid_user_email_address_update_token") {
      ctx.clearCookie(COOKIES.emailUpdate);
      return emailFormPage(ctx, { error: errorMessage(done.errorCode), status: 400 });
    }
    return fail(done.errorCode, state);
  }
  ctx.clearCookie(COOKIES.emailUpdate);
  await ctx.rememberEmail(session.userId, update.newEmailAddress);
  return ctx.redirect("/account?notice=email-updated");
}

// ---------------------------------------------------------------------------------------------
// Password change: current password + new password
// ---------------------------------------------------------------------------------------------

function passwordPage(ctx, { identityVerified = false, error = null, status = 200 } = {}) {
  return ctx.page("Change password", (csrf) => html`
<form method="post" action="/account/password">
  ${csrfField(csrf)}
  ${identityVerified ? html`<p>Current password confirmed.</p>` : html`<label for="current-password">Current password</label>
  <input id="current-password" name="current_password" type="password" autocomplete="current-password" required>`}
  <label for="new-password">New password</label>
  <input id="new-password" name="new_password" type="password" autocomplete="new-password" minlength="10" maxlength="100" required>
  <p class="hint">10 to 100 characters. Passwords found in data breaches are refused.</p>
  ${signOutOthersField()}
  <button type="submit">Change password</button>
</form>
<p class="hint"><a href="/account">Back to your account</a></p>`, { error, status, signedIn: true });
}

/** The password update from the cookie if it is still usable with this session. */
async function existingPasswordUpdate(ctx, sessionToken) {
  const token = ctx.cookie(COOKIES.passwordUpdate);
  if (!token) return null;
  const result = await ctx.faroe.getUserPasswordUpdate(sessionToken, token);
  if (result.ok) return { token, update: result.userPasswordUpdate };
  if (!["invalid_password_update_token", "session_mismatch"].includes(result.errorCode)) throw new ActionFailure(result.errorCode);
  ctx.clearCookie(COOKIES.passwordUpdate);
  return null;
}

async function passwordForm(ctx, form, { token: sessionToken }) {
  const existing = await existingPasswordUpdate(ctx, sessionToken);
  return passwordPage(ctx, { identityVerified: existing?.update.userIdentityVerified ?? false });
}

async function passwordSubmit(ctx, form, { token: sessionToken, session }) {
  let existing = await existingPasswordUpdate(ctx, sessionToken);
  if (!existing) {
    const created = await ctx.faroe.createUserPasswordUpdate(sessionToken);
    if (!created.ok) throw new ActionFailure(created.errorCode);
    existing = { token: created.userPasswordUpdateToken, update: created.userPasswordUpdate };
    ctx.setCookie(COOKIES.passwordUpdate, existing.token, LIFETIMES.passwordUpdate);
  }
  const { token } = existing;
  let identityVerified = existing.update.userIdentityVerified;
  const fail = (code) => passwordPage(ctx, { identityVerified, error: errorMessage(code), status: statusFor(code) });
  if (!identityVerified) {
    const r = await ctx.faroe.verifyUserPasswordUpdateUserPassword(sessionToken, token, field(form, "current_password"));
    if (!r.ok && r.errorCode !== "user_identity_already_verified") return fail(r.errorCode);
    identityVerified = true;
  }
  if (!existing.update.newPasswordSet) {
    const r = await ctx.faroe.setUserPasswordUpdateNewPassword(sessionToken, token, field(form, "new_password"));
    if (!r.ok && r.errorCode !== "new_password_already_set") return fail(r.errorCode);
  }
  const done = await ctx.faroe.completeUserPasswordUpdate(sessionToken, token);
  if (!done.ok) {
    if (done.errorCode === "invalid_password_update_token") ctx.clearCookie(COOKIES.passwordUpdate);
    return fail(done.errorCode);
  }
  ctx.clearCookie(COOKIES.passwordUpdate);
  if (field(form, "signout_others")) {
    const email = await ctx.rememberedEmail(session.userId);
    return signOutEverywhereElse(ctx, sessionToken, email, field(form, "new_password"), "password-updated-others-signed-out");
  }
  return ctx.redirect("/account?notice=password-updated");
}

// ---------------------------------------------------------------------------------------------
// Password reset: email → temporary password (emailed) + new password
// ---------------------------------------------------------------------------------------------

function resetEmailPage(ctx, { email = "", error = null, status = 200 } = {}) {
  return ctx.page("Reset your password", (csrf) => html`
<p>We will email you a temporary password.</p>
<form method="post" action="/reset">
  ${csrfField(csrf)}
  <label for="email">Email address</label>
  <input id="email" name="email" type="email" autocomplete="email" required value="${email}">
  <button type="submit">Send temporary password</button>
</form>
<p class="hint"><a href="/signin">Back to sign in</a></p>`, { error, status });
}

async function resetForm(ctx) {
  return resetEmailPage(ctx);
}

/** The reset cookie holds the token and the address it was sent to (for display). */
function readResetCookie(ctx) {
  const value = ctx.cookie(COOKIES.reset);
  if (!value) return null;
  const [token, encodedEmail] = value.split("~");
  let email = "";
  try {
    email = new TextDecoder().decode(Uint8Array.from(atob(encodedEmail ?? ""), (c) => c.charCodeAt(0)));
  } catch {}
  return { token, email };
}

async function resetSubmit(ctx, form) {
  const email = field(form, "email").trim();
  const result = await ctx.faroe.createUserPasswordReset(email);
  if (!result.ok) return resetEmailPage(ctx, { email, error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
  const encoded = btoa(String.fromCharCode(...new TextEncoder().encode(email))).replace(/=+$/, "");
  ctx.setCookie(COOKIES.reset, `${result.userPasswordResetToken}~${encoded}`, LIFETIMES.reset);
  return ctx.redirect("/reset/verify");
}

async function loadReset(ctx) {
  const cookie = readResetCookie(ctx);
  if (!cookie) return { redirect: ctx.redirect("/reset") };
  const result = await ctx.faroe.getUserPasswordReset(cookie.token);
  if (result.ok) return { ...cookie, reset: result.userPasswordReset };
  if (result.errorCode !== "invalid_user_password_reset_token") throw new ActionFailure(result.errorCode);
  ctx.clearCookie(COOKIES.reset);
  return { redirect: ctx.redirect("/reset?notice=reset-expired") };
}

function resetVerifyPage(ctx, email, reset, { error = null, status = 200 } = {}) {
  return ctx.page("Choose a new password", (csrf) => html`
<form method="post" action="/reset/verify">
  ${csrfField(csrf)}
  <input type="email" name="username" autocomplete="username" value="${email}" hidden>
  ${reset.userFirstFactorVerified
    ? html`<p>Temporary password confirmed.</p>`
    : html`<p>We sent a temporary password to <strong>${email}</strong>.</p>
  <label for="temporary-password">Temporary password</label>
  <input id="temporary-password" name="temporary_password" type="text" autocomplete="one-time-code" spellcheck="false" required>`}
  <label for="new-password">New password</label>
  <input id="new-password" name="new_password" type="password" autocomplete="new-password" minlength="10" maxlength="100" required>
  <p class="hint">10 to 100 characters. Passwords found in data breaches are refused.</p>
  ${signOutOthersField()}
  <button type="submit">Reset password</button>
</form>`, { error, status });
}

async function resetVerifyForm(ctx) {
  const { redirect, email, reset } = await loadReset(ctx);
  if (redirect) return redirect;
  return resetVerifyPage(ctx, email, reset);
}

async function resetVerifySubmit(ctx, form) {
  const { redirect, token, email, reset } = await loadReset(ctx);
  if (redirect) return redirect;
  let state = reset;
  const fail = (code) => resetVerifyPage(ctx, email, state, { error: errorMessage(code), status: statusFor(code) });
  if (!state.userFirstFactorVerified) {
    const r = await ctx.faroe.verifyUserPasswordResetTemporaryPassword(token, normalizeCode(field(form, "temporary_password")));
    if (!r.ok && r.errorCode !== "user_first_factor_already_verified") return fail(r.errorCode);
    state = { ...state, userFirstFactorVerified: true };
  }
  if (!state.newPasswordSet) {
    const r = await ctx.faroe.setUserPasswordResetNewPassword(token, field(form, "new_password"));
    if (!r.ok && r.errorCode !== "new_password_already_set") return fail(r.errorCode);
  }
  const done = await ctx.faroe.completeUserPasswordReset(token);
  if (!done.ok) {
    if (done.errorCode === "session_not_created") {
      ctx.clearCookie(COOKIES.reset);
      return ctx.redirect("/signin?notice=password-reset");
    }
    return fail(done.errorCode);
  }
  ctx.clearCookie(COOKIES.reset);
  await startSession(ctx, done.session, done.sessionToken, email);
  if (field(form, "signout_others")) {
    return signOutEverywhereElse(ctx, done.sessionToken, email, field(form, "new_password"), "password-reset-others-signed-out");
  }
  return ctx.redirect("/account?notice=password-reset");
}

// ---------------------------------------------------------------------------------------------
// Account deletion: current password
// ---------------------------------------------------------------------------------------------

function deletePage(ctx, { identityVerified = false, error = null, status = 200 } = {}) {
  return ctx.page("Delete your account", (csrf) => html`
<p>This deletes your account permanently. You will be signed out.</p>
<form method="post" action="/account/delete">
  ${csrfField(csrf)}
  ${identityVerified ? html`<p>Password confirmed.</p>` : html`<label for="password">Current password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>`}
  <button type="submit" class="danger">Delete my account</button>
</form>
<p class="hint"><a href="/account">Back to your account</a></p>`, { error, status, signedIn: true });
}

async function existingDeletion(ctx, sessionToken) {
  const token = ctx.cookie(COOKIES.deletion);
  if (!token) return null;
  const result = await ctx.faroe.getUserDeletion(sessionToken, token);
  if (result.ok) return { token, deletion: result.userDeletion };
  if (!["invalid_user_deletion_token", "session_mismatch"].includes(result.errorCode)) throw new ActionFailure(result.errorCode);
  ctx.clearCookie(COOKIES.deletion);
  return null;
}

async function deleteForm(ctx, form, { token: sessionToken }) {
  const existing = await existingDeletion(ctx, sessionToken);
  return deletePage(ctx, { identityVerified: existing?.deletion.userIdentityVerified ?? false });
}

async function deleteSubmit(ctx, form, { token: sessionToken }) {
  let existing = await existingDeletion(ctx, sessionToken);
  if (!existing) {
    const created = await ctx.faroe.createUserDeletion(sessionToken);
    if (!created.ok) throw new ActionFailure(created.errorCode);
    existing = { token: created.userDeletionToken, deletion: created.userDeletion };
    ctx.setCookie(COOKIES.deletion, existing.token, LIFETIMES.deletion);
  }
  let identityVerified = existing.deletion.userIdentityVerified;
  const fail = (code) => deletePage(ctx, { identityVerified, error: errorMessage(code), status: statusFor(code) });
  if (!identityVerified) {
    const r = await ctx.faroe.verifyUserDeletionUserPassword(sessionToken, existing.token, field(form, "password"));
    if (!r.ok && r.errorCode !== "user_identity_already_verified") return fail(r.errorCode);
    identityVerified = true;
  }
  const done = await ctx.faroe.completeUserDeletion(sessionToken, existing.token);
  if (!done.ok) return fail(done.errorCode);
  // Remove this session too: cached copies of the user's sessions could otherwise outlive the user
  // for up to the session cache lifetime.
  await ctx.faroe.deleteSession(sessionToken);
  ctx.clearAll();
  return ctx.redirect("/?notice=account-deleted");
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

const ROUTES = {
  "GET /": home,
  "GET /signup": signupForm,
  "POST /signup": signupSubmit,
  "GET /signup/verify": signupCodeForm,
  "POST /signup/verify": signupCodeSubmit,
  "POST /signup/resend": signupResend,
  "GET /signup/password": signupPasswordForm,
  "POST /signup/password": signupPasswordSubmit,
  "GET /signin": signinForm,
  "POST /signin": signinSubmit,
  "GET /account": signedIn(accountPage),
  "POST /signout": signout,
  "POST /signout-everywhere": signedIn(signoutEverywhere),
  "GET /account/email": signedIn(emailForm),
  "POST /account/email": signedIn(emailSubmit),
  "GET /account/email/verify": signedIn(emailVerifyForm),
  "POST /account/email/verify": signedIn(emailVerifySubmit),
  "POST /account/email/resend": signedIn(emailResend),
  "GET /account/password": signedIn(passwordForm),
  "POST /account/password": signedIn(passwordSubmit),
  "GET /account/delete": signedIn(deleteForm),
  "POST /account/delete": signedIn(deleteSubmit),
  "GET /reset": resetForm,
  "POST /reset": resetSubmit,
  "GET /reset/verify": resetVerifyForm,
  "POST /reset/verify": resetVerifySubmit,
};

/** The largest form body accepted; every form here is well under 2 KiB. */
const MAX_FORM_BYTES = 8 * 1024;

class BodyTooLarge extends Error {}

/**
 * The POST body as a form. The size is checked before anything is read: a declared
 * Content-Length over the limit is refused at once, and a body without one (chunked) is read as a
 * stream and refused as soon as it passes the limit, so a large body is never buffered.
 */
async function readForm(request) {
  const declared = request.headers.get("Content-Length");
  if (declared !== null && !(/^\d+$/.test(declared.trim()) && Number(declared) <= MAX_FORM_BYTES)) {
    throw new BodyTooLarge();
  }
  const type = (request.headers.get("Content-Type") ?? "").split(";")[0].trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded" || !request.body) return new URLSearchParams();
  const reader = request.body.getReader();
  const chunks = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_FORM_BYTES) {
      await reader.cancel();
      throw new BodyTooLarge();
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

export default {
  async fetch(request, env) {
    let ctx;
    try {
      ctx = new Context(request, env);
    } catch (e) {
      if (e instanceof ConfigError) return plainErrorPage(500, e.message);
      throw e;
    }
    const path = ctx.url.pathname.length > 1 ? ctx.url.pathname.replace(/\/+$/, "") : "/";
    const method = request.method === "HEAD" ? "GET" : request.method;
    const handler = ROUTES[`${method} ${path}`];
    try {
      if (!handler) {
        const known = ["GET", "POST"].some((m) => ROUTES[`${m} ${path}`]);
        return ctx.page(known ? "Method not allowed" : "Page not found", html`<p><a href="/">Go to the start page</a></p>`, {
          status: known ? 405 : 404,
        });
      }
      let form = null;
      if (method === "POST") {
        form = await readForm(request);
        if (!(await ctx.checkCsrf(form))) {
          return ctx.page("Please try again", html`<p>This form expired or was sent from another site. Go back, reload the page and submit it again.</p>`, {
            status: 403,
          });
        }
      }
      return await handler(ctx, form);
    } catch (e) {
      if (e instanceof BodyTooLarge) {
        return ctx.page("Form too large", html`<p>That form was larger than ${MAX_FORM_BYTES} bytes. Go back and try again.</p>`, {
          status: 413,
        });
      }
      if (e instanceof ActionFailure) {
        console.error(`faroe action failed: ${e.code}`);
        return ctx.page("Something went wrong", html`<p><a href="/">Go to the start page</a></p>`, {
          status: e.code === "rate_limited" ? 429 : 500,
          error: errorMessage(e.code),
        });
      }
      if (e instanceof EndpointError && e.status === 429) {
        // faroe-worker's per-IP limit refused this user's address.
        return ctx.page("Too many attempts", html`<p><a href="/">Go to the start page</a></p>`, {
          status: 429,
          error: errorMessage("rate_limited"),
        });
      }
      if (e instanceof EndpointError) {
        console.error(`faroe-worker endpoint error ${e.status}: ${e.reason}`);
        return ctx.page("Service unavailable", html`<p>Please try again in a moment.</p>`, {
          status: 503,
          error: "The sign-in service is not available right now.",
        });
      }
      console.error("unexpected error", e);
      return ctx.page("Something went wrong", html`<p>Please try again in a moment.</p>`, { status: 500 });
    }
  },
};
