// Example app for faroe-worker: a Worker that serves HTML pages and talks to the auth server
// through the FAROE service binding. Tokens live only in HttpOnly cookies; every POST carries a
// CSRF token. Pages: sign-up, sign-in (with "remember me" and a second-factor step), account,
// sign-out (here / everywhere), email change, password change, password reset, account deletion,
// two-factor authentication (TOTP with recovery codes, faroe-worker's `totp` extension), passkeys
// (faroe-worker's `passkeys` extension: passwordless sign-in, or a second factor), the devices
// signed in with "sign out this device" (faroe-worker's `sessions` extension), recent
// activity (faroe-worker's `security_events` extension).
import QRCode from "qrcode";
import { EndpointError } from "../../../js/src/index.js";
import { SIGNIN_FAILED, errorMessage } from "./messages.js";
import { PASSKEYS_SCRIPT } from "./passkeys-script.js";
import { COOKIES, LIFETIMES, ConfigError, Context, csrfField, formatTime, html, jsonBlock, plainErrorPage, raw, scriptResponse } from "./web.js";

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

/**
 * Sets the session cookie: persistent (Max-Age = the session lifetime) only when the user asked to
 * be remembered, otherwise a browser-session cookie that ends when the browser closes.
 */
async function startSession(ctx, session, sessionToken, email, { persistent = false } = {}) {
  ctx.setCookie(COOKIES.session, sessionToken, persistent ? LIFETIMES.session : undefined);
  if (email) await ctx.rememberEmail(session.userId, email, persistent);
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

function signinPage(ctx, { email = "", remember = false, error = null, status = 200 } = {}) {
  return ctx.page("Sign in", (csrf) => html`
<form method="post" action="/signin">
  ${csrfField(csrf)}
  <label for="email">Email address</label>
  <input id="email" name="email" type="email" autocomplete="username" required value="${email}">
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <label class="check"><input type="checkbox" id="remember" name="remember" value="1"${raw(remember ? " checked" : "")}> Remember me</label>
  <p class="hint">Keeps you signed in on this device for 30 days. Leave it unchecked on a shared computer: you are signed out when the browser closes.</p>
  <button type="submit">Sign in</button>
</form>
<p class="hint"><a href="/reset">Forgot your password?</a> · <a href="/signup">Create an account</a></p>
${passkeySigninOffered(ctx) ? html`<div data-passkey-only hidden>
<hr>
<form method="post" action="/signin/passkey">
  ${csrfField(csrf)}
  <p>Have a passkey for this site? Sign in with it alone, no password needed.</p>
  <button type="submit" class="secondary">Sign in with a passkey</button>
</form>
</div>` : ""}`, { error, status, passkeysScript: passkeySigninOffered(ctx) });
}

/** The sign-in page offers passwordless sign-in when the app's PASSKEYS var is "true" (faroe-worker has EXTENSIONS=passkeys). */
const passkeySigninOffered = (ctx) => ctx.env.PASSKEYS === "true";

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
  const remember = field(form, "remember") === "1";
  const fail = (code) => signinPage(ctx, { email, remember, error: errorMessage(code), status: statusFor(code) });
  // Same sentence, status and timing whether or not the address has an account.
  const failIndistinguishably = async () => {
    await sleep(SIGNIN_FAILURE_FLOOR_MS - (Date.now() - started));
    return signinPage(ctx, { email, remember, error: SIGNIN_FAILED, status: 400 });
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
  if (!done.ok && done.errorCode === "user_second_factor_not_verified") {
    // The password was right and the account has two-factor authentication: the signin waits
    // (in an HttpOnly cookie, for its 10 minutes) for a code on the next page.
    ctx.setCookie(COOKIES.signin, encodePendingSignin(signin.signinToken, remember, email), LIFETIMES.signin);
    return ctx.redirect("/signin/second-factor");
  }
  if (!done.ok) return fail(done.errorCode);
  await startSession(ctx, done.session, done.sessionToken, email, { persistent: remember });
  return ctx.redirect("/account?notice=signed-in");
}

// ---------------------------------------------------------------------------------------------
// Sign-in, second step: a code from the authenticator app or a recovery code
// ---------------------------------------------------------------------------------------------

const toBase64 = (text) => btoa(String.fromCharCode(...new TextEncoder().encode(text))).replace(/=+$/, "");
function fromBase64(text) {
  try {
    return new TextDecoder().decode(Uint8Array.from(atob(text ?? ""), (c) => c.charCodeAt(0)));
  } catch {
    return "";
  }
}

/** The pending signin cookie: `<token>~<1 | 0 for remember me>~<base64 address>`. */
function encodePendingSignin(token, remember, email) {
  return `${token}~${remember ? 1 : 0}~${toBase64(email)}`;
}

async function loadPendingSignin(ctx) {
  const value = ctx.cookie(COOKIES.signin);
  if (!value) return { redirect: ctx.redirect("/signin") };
  const [token, remember, encodedEmail] = value.split("~");
  const expired = () => {
    ctx.clearCookie(COOKIES.signin);
    return { redirect: ctx.redirect("/signin?notice=signin-expired") };
  };
  const result = await ctx.extensions.getSignin(token);
  if (!result.ok) {
    if (result.errorCode !== "invalid_signin_token") throw new ActionFailure(result.errorCode);
    return expired();
  }
  if (!result.signin.userFirstFactorVerified) return expired();
  return { token, remember: remember === "1", email: fromBase64(encodedEmail), signin: result.signin };
}

/** The passkey options of a signin waiting for its second factor, or null (no passkeys, or the extension off). */
async function signinPasskeyOptions(ctx, signinToken) {
  const result = await orUnknownAction(() => ctx.extensions.getSigninPasskeyCredentialRequestOptions(signinToken));
  if (!result) return null;
  if (result.ok) return JSON.parse(result.credentialRequestOptions);
  if (["passkey_not_found", "invalid_signin_token", "user_first_factor_not_verified"].includes(result.errorCode)) return null;
  throw new ActionFailure(result.errorCode);
}

/**
 * A passkey ceremony on a page: the options as a JSON data block, a form with the hidden
 * `credential` field that /passkeys.js fills, and the button that starts it. Hidden until the
 * script finds WebAuthn in the browser.
 */
function passkeySection(csrf, { ceremony, options, action, button, intro, fields = "" }) {
  return html`<section data-passkey="${ceremony}" hidden>
${jsonBlock(`passkey-options-${ceremony}`, options)}
<form method="post" action="${action}">
  ${csrfField(csrf)}
  ${intro}
  ${fields}
  <input type="hidden" name="credential" value="">
  <button type="button" data-passkey-start>${button}</button>
  <p class="hint" data-passkey-status role="status"></p>
</form>
</section>`;
}

async function secondFactorPage(ctx, token, { error = null, status = 200 } = {}) {
  const options = await signinPasskeyOptions(ctx, token);
  return ctx.page("Two-factor authentication", (csrf) => html`
${options ? html`${passkeySection(csrf, {
    ceremony: "get", options, action: "/signin/second-factor", button: "Use my passkey",
    intro: html`<p>Confirm it's you with one of your passkeys.</p>`,
  })}
<hr data-passkey-only hidden>` : ""}
<p>Enter the 6-digit code from your authenticator app.</p>
<form method="post" action="/signin/second-factor">
  ${csrfField(csrf)}
  <label for="totp-code">Authentication code</label>
  <input id="totp-code" name="totp_code" type="text" inputmode="numeric" pattern="[0-9 ]*" autocomplete="one-time-code" spellcheck="false" required>
  <button type="submit">Verify</button>
</form>
<hr>
<p>No access to your authenticator app? Use one of your recovery codes. Each works once.</p>
<form method="post" action="/signin/second-factor">
  ${csrfField(csrf)}
  <label for="recovery-code">Recovery code</label>
  <input id="recovery-code" name="recovery_code" type="text" autocomplete="off" spellcheck="false" required>
  <button type="submit" class="secondary">Use recovery code</button>
</form>
<p class="hint"><a href="/signin">Cancel and start again</a></p>`, { error, status, passkeysScript: Boolean(options) });
}

async function secondFactorForm(ctx) {
  const { redirect, token } = await loadPendingSignin(ctx);
  if (redirect) return redirect;
  return secondFactorPage(ctx, token);
}

async function secondFactorSubmit(ctx, form) {
  const { redirect, token, remember, email, signin } = await loadPendingSignin(ctx);
  if (redirect) return redirect;
  const recoveryCode = field(form, "recovery_code");
  const credential = field(form, "credential");
  if (!signin.userSecondFactorVerified) {
    const verified = credential
      ? await ctx.extensions.verifySigninPasskey(token, credential)
      : recoveryCode
        ? await ctx.extensions.verifySigninRecoveryCode(token, recoveryCode)
        : await ctx.extensions.verifySigninTOTPCode(token, field(form, "totp_code").replace(/\s+/g, ""));
    if (!verified.ok && verified.errorCode !== "user_second_factor_already_verified") {
      if (verified.errorCode === "invalid_signin_token") {
        ctx.clearCookie(COOKIES.signin);
        return ctx.redirect("/signin?notice=signin-expired");
      }
      return secondFactorPage(ctx, token, { error: errorMessage(verified.errorCode), status: statusFor(verified.errorCode) });
    }
  }
  const done = await ctx.faroe.completeSignin(token);
  if (!done.ok) {
    ctx.clearCookie(COOKIES.signin);
    return signinPage(ctx, { email, remember, error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  }
  ctx.clearCookie(COOKIES.signin);
  await startSession(ctx, done.session, done.sessionToken, email, { persistent: remember });
  return ctx.redirect(`/account?notice=${recoveryCode ? "signed-in-recovery-code" : "signed-in"}`);
}

// ---------------------------------------------------------------------------------------------
// Sign-in with a passkey alone (discoverable credential; faroe-worker's `passkeys` extension)
// ---------------------------------------------------------------------------------------------

/** Starts a passwordless sign-in: its token waits in an HttpOnly cookie for the browser's passkey. */
async function passkeySigninStart(ctx) {
  const started = await orUnknownAction(() => ctx.extensions.createPasskeySignin());
  if (!started) return signinPage(ctx, { error: "Passkeys are not turned on for this server.", status: 404 });
  if (!started.ok) return signinPage(ctx, { error: errorMessage(started.errorCode), status: statusFor(started.errorCode) });
  ctx.setCookie(COOKIES.passkeySignin, started.passkeySigninToken, LIFETIMES.passkeySignin);
  const options = JSON.parse(started.credentialRequestOptions);
  return ctx.page("Sign in with a passkey", (csrf) => html`
${passkeySection(csrf, {
    ceremony: "get", options, action: "/signin/passkey/complete", button: "Continue with my passkey",
    intro: html`<p>Your browser will ask you to choose a passkey and unlock it (fingerprint, face, PIN or security key).</p>`,
    fields: html`<label class="check"><input type="checkbox" id="passkey-remember" name="remember" value="1"> Remember me</label>`,
  })}
<p data-passkey-fallback>This browser cannot use passkeys. Sign in with your password instead.</p>
<p class="hint"><a href="/signin">Sign in with your password instead</a></p>`, { passkeysScript: true });
}

async function passkeySigninComplete(ctx, form) {
  const token = ctx.cookie(COOKIES.passkeySignin);
  ctx.clearCookie(COOKIES.passkeySignin);
  if (!token) return ctx.redirect("/signin?notice=signin-expired");
  const done = await ctx.extensions.completePasskeySignin(token, field(form, "credential"));
  if (!done.ok) {
    if (done.errorCode === "invalid_passkey_signin_token") return ctx.redirect("/signin?notice=signin-expired");
    return signinPage(ctx, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  }
  // The address is not known here (no password form): the account page says so.
  await startSession(ctx, done.session, done.sessionToken, null, { persistent: field(form, "remember") === "1" });
  return ctx.redirect("/account?notice=signed-in-passkey");
}

// ---------------------------------------------------------------------------------------------
// Account, sign-out
// ---------------------------------------------------------------------------------------------

async function accountPage(ctx, form, { token, session }, { error = null, status = 200 } = {}) {
  const email = await ctx.rememberedEmail(session.userId);
  const factors = await secondFactors(ctx, token);
  const devices = await userSessions(ctx, token);
  return ctx.page("Your account", (csrf) => html`
<dl>
  <dt>Email address</dt><dd id="account-email">${email ?? "(sign in again to show it)"}</dd>
  <dt>User ID</dt><dd id="user-id">${session.userId}</dd>
  <dt>Session ID</dt><dd id="session-id">${session.id}</dd>
  <dt>Signed in at</dt><dd id="session-created">${formatTime(session.createdAt)}</dd>
  <dt>Session expires</dt><dd id="session-expires">${session.expiresAt ? formatTime(session.expiresAt) : "after 30 days without use"}</dd>
  ${factors ? html`<dt>Two-factor authentication</dt><dd id="two-factor-status">${factors.totpEnabled ? `on since ${formatTime(factors.totpEnabledAt)}` : "off"}</dd>` : ""}
  ${factors?.passkeyCount !== undefined ? html`<dt>Passkeys</dt><dd id="passkey-count">${String(factors.passkeyCount)}</dd>` : ""}
</dl>
<ul class="actions">
  ${factors ? html`<li><a href="/account/security">Two-factor authentication</a></li>` : ""}
  ${devices ? html`<li><a href="/account/devices" id="devices-link">Devices (${String(devices.length)})</a></li>` : ""}
  <li><a href="/account/activity">Recent activity</a></li>
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
async function signOutEverywhereElse(ctx, sessionToken, email, password, successNotice, { persistent = false } = {}) {
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
  await startSession(ctx, done.session, done.sessionToken, email, { persistent });
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
// Devices: where the account is signed in (faroe-worker's `sessions` extension)
// ---------------------------------------------------------------------------------------------

/** The user's live sessions (newest first), or null when the server has no `sessions` extension. */
async function userSessions(ctx, sessionToken) {
  try {
    const result = await ctx.extensions.getUserSessions(sessionToken);
    if (!result.ok) throw new ActionFailure(result.errorCode);
    return result.userSessions;
  } catch (e) {
    if (e instanceof EndpointError && e.status === 400 && e.reason === "unknown action") return null;
    throw e;
  }
}

async function devicesPage(ctx, form, { token }, { error = null, status = 200 } = {}) {
  const sessions = await userSessions(ctx, token);
  if (!sessions) {
    return ctx.page("Devices", html`<p>The device list is not turned on for this server (faroe-worker's <code>EXTENSIONS=sessions</code>).</p>
<p class="hint"><a href="/account">Back to your account</a></p>`, { signedIn: true, status: 404 });
  }
  return ctx.page("Devices", (csrf) => html`
<p>Your account is signed in on these devices. Sign out any you do not recognise, then change your password.</p>
<ul class="devices" id="devices">
${sessions.map((s) => html`  <li class="device" data-session-id="${s.id}">
    <strong class="device-label">${s.clientLabel || "Unknown device"}</strong>${s.current ? html` <span class="this-device">(this device)</span>` : ""}<br>
    <span class="hint">Signed in ${formatTime(s.createdAt)} · last active ${formatTime(s.lastActiveAt)} · expires ${formatTime(s.expiresAt)}</span>
    ${s.current ? "" : html`<form method="post" action="/account/devices/signout" class="inline">
      ${csrfField(csrf)}
      <input type="hidden" name="session_id" value="${s.id}">
      <button type="submit" class="secondary">Sign out this device</button>
    </form>`}
  </li>
`)}</ul>
<p class="hint"><a href="/account">Back to your account</a></p>`, { error, status, signedIn: true });
}

async function devicesForm(ctx, form, current) {
  return devicesPage(ctx, form, current);
}

async function deviceSignout(ctx, form, current) {
  const sessionId = field(form, "session_id");
  const result = await ctx.extensions.deleteUserSession(current.token, sessionId);
  if (result.ok && sessionId === current.session.id) {
    ctx.clearAll();
    return ctx.redirect("/?notice=signed-out");
  }
  if (result.ok) return ctx.redirect("/account/devices?notice=device-signed-out");
  if (result.errorCode === "session_not_found") return ctx.redirect("/account/devices?notice=device-already-signed-out");
  return devicesPage(ctx, form, current, { error: errorMessage(result.errorCode), status: statusFor(result.errorCode) });
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
  const remembered = await ctx.rememberedSignin(session.userId);
  await ctx.rememberEmail(session.userId, update.newEmailAddress, remembered?.persistent ?? false);
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
    const remembered = await ctx.rememberedSignin(session.userId);
    return signOutEverywhereElse(ctx, sessionToken, remembered?.email, field(form, "new_password"), "password-updated-others-signed-out", {
      persistent: remembered?.persistent ?? false,
    });
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
// Recent activity (faroe-worker's `security_events` extension)
// ---------------------------------------------------------------------------------------------

const FACTOR_NAMES = { totp: "authenticator app", recovery_code: "recovery code", passkey: "passkey" };

/** A sentence for one security event; `warn` marks what the user should look at twice. */
function describeEvent({ type, detail }) {
  const factor = FACTOR_NAMES[detail] ?? detail;
  switch (type) {
    case "signin_succeeded": return { text: "Signed in" };
    case "signin_password_incorrect": return { text: "Sign-in refused: wrong password", warn: true };
    case "second_factor_used": return { text: `Second sign-in step passed with ${factor === "authenticator app" ? "the authenticator app" : `a ${factor}`}` };
    case "second_factor_failed": return { text: `Second sign-in step refused: wrong ${factor === "authenticator app" ? "authenticator code" : factor}`, warn: true };
    case "password_updated": return { text: "Password changed" };
    case "password_reset": return { text: "Password reset with an emailed temporary password" };
    case "email_address_updated": return { text: "Email address changed" };
    case "second_factor_added": return { text: detail === "passkey" ? "Passkey added" : "Two-factor authentication turned on" };
    case "second_factor_removed": return { text: detail === "passkey" ? "Passkey removed" : "Two-factor authentication turned off" };
    case "sessions_revoked": return { text: detail === "one" ? "Signed out one device" : "Signed out everywhere" };
    default: return { text: type };
  }
}

/** The user's security events (newest first), or null when faroe-worker runs without the extension. */
async function securityEvents(ctx, sessionToken) {
  try {
    const result = await ctx.extensions.getUserSecurityEvents(sessionToken);
    if (!result.ok) throw new ActionFailure(result.errorCode);
    return result.userSecurityEvents;
  } catch (e) {
    if (e instanceof EndpointError && e.status === 400 && e.reason === "unknown action") return null;
    throw e;
  }
}

async function activityPage(ctx, form, { token }) {
  const events = await securityEvents(ctx, token);
  if (!events) {
    return ctx.page("Recent activity", html`<p>Activity is not recorded on this server (faroe-worker's <code>EXTENSIONS=security_events</code>).</p>
<p class="hint"><a href="/account">Back to your account</a></p>`, { signedIn: true, status: 404 });
  }
  return ctx.page("Recent activity", html`
<p class="hint">Sign-ins and changes to your account: the last 100, from the past 90 days. If you do not recognise something, change your password and sign out everywhere.</p>
${events.length === 0
    ? html`<p id="activity-empty">Nothing yet.</p>`
    : html`<table class="activity" id="activity">
  <thead><tr><th>When</th><th>What</th><th>From</th></tr></thead>
  <tbody>${events.map((e) => {
    const { text, warn } = describeEvent(e);
    return html`<tr class="${warn ? "warn" : ""}" data-type="${e.type}" data-detail="${e.detail}"><td class="when">${formatTime(e.createdAt)}</td><td class="what">${text}</td><td class="from">${e.clientAddress || "unknown"}</td></tr>`;
  })}</tbody>
</table>`}
<p class="hint"><a href="/account">Back to your account</a></p>`, { signedIn: true });
}

// ---------------------------------------------------------------------------------------------
// Two-factor authentication: TOTP with recovery codes (faroe-worker's `totp` extension)
// ---------------------------------------------------------------------------------------------

/**
 * The user's second factors, or null when faroe-worker runs without the `totp` extension (its
 * actions are then unknown: HTTP 400), so the pages leave two-factor authentication out.
 */
async function secondFactors(ctx, sessionToken) {
  const result = await orUnknownAction(() => ctx.extensions.getUserSecondFactors(sessionToken));
  if (!result) return null;
  if (!result.ok) throw new ActionFailure(result.errorCode);
  return result.userSecondFactors;
}

/** An extension action's result, or null when faroe-worker runs without that extension (HTTP 400 "unknown action"). */
async function orUnknownAction(call) {
  try {
    return await call();
  } catch (e) {
    if (e instanceof EndpointError && e.status === 400 && e.reason === "unknown action") return null;
    throw e;
  }
}

/** The QR code of the otpauth:// URI as inline SVG (no image request, so the strict CSP holds). */
async function qrSvg(uri) {
  return QRCode.toString(uri, { type: "svg", errorCorrectionLevel: "M", margin: 2 });
}

/** The base32 key in groups of four, easier to type into an app by hand. */
const groupedKey = (key) => key.match(/.{1,4}/g).join(" ");

/** The recovery codes as a text file in a data: URL (the codes are shown once, never stored here). */
function recoveryCodesDownload(ctx, codes) {
  const text = `${ctx.env.APP_NAME || "Faroe example"} recovery codes\n` +
    "Each code signs you in once when you cannot use your authenticator app.\n\n" + codes.join("\n") + "\n";
  return `data:text/plain;charset=utf-8,${encodeURIComponent(text)}`;
}

function recoveryCodesPage(ctx, codes, { title, intro }) {
  return ctx.page(title, html`
<p>${intro}</p>
<p><strong>Save these recovery codes now: they are shown only once.</strong> Each one signs you in once if you lose your authenticator app.</p>
<ol class="codes" id="recovery-codes">${codes.map((c) => html`<li>${c}</li>`)}</ol>
<a class="button" id="download-codes" href="${recoveryCodesDownload(ctx, codes)}" download="recovery-codes.txt">Download codes</a>
<p><a href="/account/security">Done, I saved them</a></p>`, { signedIn: true });
}

async function securityPage(ctx, { token }, { error = null, status = 200 } = {}) {
  const factors = await secondFactors(ctx, token);
  const passkeys = factors ? await userPasskeys(ctx, token) : null;
  if (!factors) {
    return ctx.page("Two-factor authentication", html`<p>Two-factor authentication is not turned on for this server (faroe-worker's <code>EXTENSIONS=totp</code> or <code>passkeys</code>).</p>
<p class="hint"><a href="/account">Back to your account</a></p>`, { signedIn: true, status: 404 });
  }
  const pending = await existingEnrollment(ctx, token);
  if (!factors.totpEnabled && pending?.enrollment.userIdentityVerified) return totpConfirmPage(ctx, { started: true });
  return ctx.page("Two-factor authentication", (csrf) => html`${factors.totpEnabled
    ? html`
<p class="notice" id="two-factor-on">Two-factor authentication is <strong>on</strong> since ${formatTime(factors.totpEnabledAt)}.</p>
<dl>
  <dt>Recovery codes left</dt><dd id="recovery-code-count">${String(factors.recoveryCodeCount)}</dd>
  <dt>Created</dt><dd>${formatTime(factors.recoveryCodesCreatedAt)}</dd>
</dl>
<form method="post" action="/account/security/recovery-codes">
  ${csrfField(csrf)}
  <h2>New recovery codes</h2>
  <p class="hint">Replaces all your recovery codes; the old ones stop working.</p>
  <label for="regenerate-password">Current password</label>
  <input id="regenerate-password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" class="secondary">Create new recovery codes</button>
</form>
<form method="post" action="/account/security/disable">
  ${csrfField(csrf)}
  <h2>Turn off</h2>
  <label for="disable-password">Current password</label>
  <input id="disable-password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit" class="danger">Turn off two-factor authentication</button>
</form>
<p class="hint"><a href="/account">Back to your account</a></p>`
    : html`
<p id="two-factor-off">Two-factor authentication is <strong>off</strong>. Turn it on to ask for a code from an authenticator app (such as Google Authenticator, 1Password or Aegis) after your password when you sign in.</p>
<form method="post" action="/account/security/enable">
  ${csrfField(csrf)}
  <label for="password">Current password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Turn on two-factor authentication</button>
</form>
<p class="hint"><a href="/account">Back to your account</a></p>`}
${passkeys ? passkeysSection(csrf, passkeys) : ""}`, { error, status, signedIn: true });
}

// ---------------------------------------------------------------------------------------------
// Passkeys on the security page (faroe-worker's `passkeys` extension)
// ---------------------------------------------------------------------------------------------

/** The user's passkeys, or null when faroe-worker runs without the `passkeys` extension. */
async function userPasskeys(ctx, sessionToken) {
  const result = await orUnknownAction(() => ctx.extensions.getUserPasskeys(sessionToken));
  if (!result) return null;
  if (!result.ok) throw new ActionFailure(result.errorCode);
  return result.userPasskeys;
}

/** The list with rename and remove (password again), and the form that starts adding one; no JavaScript needed up to the browser's prompt. */
function passkeysSection(csrf, passkeys) {
  return html`<hr>
<h2 id="passkeys">Passkeys</h2>
<p class="hint">A passkey signs you in with your device's screen lock or a security key, without your password, and counts as a second factor after your password.</p>
${passkeys.length === 0 ? html`<p id="no-passkeys">You have no passkeys yet.</p>` : html`<ul class="passkeys" id="passkey-list">${passkeys.map((p) => html`<li data-passkey-id="${p.id}">
  <span class="passkey-name">${p.name}</span>
  <span class="hint">${p.algorithm}${p.backedUp ? " · synced" : ""} · added ${formatTime(p.createdAt)} · last used ${formatTime(p.lastUsedAt)}</span>
  <form method="post" action="/account/security/passkeys/rename">
    ${csrfField(csrf)}
    <input type="hidden" name="passkey_id" value="${p.id}">
    <label for="rename-${p.id}">New name</label>
    <input id="rename-${p.id}" name="passkey_name" type="text" maxlength="64" required value="${p.name}">
    <button type="submit" class="secondary">Rename</button>
  </form>
  <form method="post" action="/account/security/passkeys/remove">
    ${csrfField(csrf)}
    <input type="hidden" name="passkey_id" value="${p.id}">
    <label for="remove-password-${p.id}">Current password</label>
    <input id="remove-password-${p.id}" name="password" type="password" autocomplete="current-password" required>
    <button type="submit" class="danger">Remove</button>
  </form>
</li>`)}</ul>`}
<form method="post" action="/account/security/passkeys/add">
  ${csrfField(csrf)}
  <h3>Add a passkey</h3>
  <label for="passkey-name">Passkey name</label>
  <input id="passkey-name" name="passkey_name" type="text" maxlength="64" required value="Passkey ${String(passkeys.length + 1)}">
  <label for="passkey-add-password">Current password</label>
  <input id="passkey-add-password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Add a passkey</button>
</form>`;
}

/** Adding, step 1 (password again): the registration's token goes into an HttpOnly cookie, the options into the page. */
async function passkeyAdd(ctx, form, current) {
  const { token: sessionToken } = current;
  const fail = (code) => securityPage(ctx, current, { error: errorMessage(code), status: statusFor(code) });
  const previous = ctx.cookie(COOKIES.passkeyRegistration);
  if (previous) await ctx.extensions.deleteUserPasskeyRegistration(sessionToken, previous);
  const created = await ctx.extensions.createUserPasskeyRegistration(sessionToken);
  if (!created.ok) return fail(created.errorCode);
  const registrationToken = created.userPasskeyRegistrationToken;
  const verified = await ctx.extensions.verifyUserPasskeyRegistrationUserPassword(sessionToken, registrationToken, field(form, "password"));
  if (!verified.ok) {
    await ctx.extensions.deleteUserPasskeyRegistration(sessionToken, registrationToken);
    ctx.clearCookie(COOKIES.passkeyRegistration);
    return fail(verified.errorCode);
  }
  ctx.setCookie(COOKIES.passkeyRegistration, registrationToken, LIFETIMES.passkeyRegistration);
  const name = field(form, "passkey_name").trim() || "Passkey";
  const options = JSON.parse(created.credentialCreationOptions);
  return ctx.page("Add a passkey", (csrf) => html`
${passkeySection(csrf, {
    ceremony: "create", options, action: "/account/security/passkeys/complete", button: "Create passkey",
    intro: html`<p>Password confirmed. Your browser will now ask where to save the passkey “${name}”: this device, your phone or a security key.</p>`,
    fields: html`<input type="hidden" name="passkey_name" value="${name}">`,
  })}
<p data-passkey-fallback>This browser cannot create passkeys.</p>
<p class="hint"><a href="/account/security">Cancel</a></p>`, { signedIn: true, passkeysScript: true });
}

/** Adding, step 2: the browser's new credential. The first second factor also brings recovery codes. */
async function passkeyComplete(ctx, form, current) {
  const registrationToken = ctx.cookie(COOKIES.passkeyRegistration);
  if (!registrationToken) return ctx.redirect("/account/security?notice=passkey-setup-expired");
  ctx.clearCookie(COOKIES.passkeyRegistration);
  const done = await ctx.extensions.completeUserPasskeyRegistration(current.token, registrationToken, field(form, "passkey_name"), field(form, "credential"));
  if (!done.ok) {
    if (done.errorCode === "invalid_user_passkey_registration_token") return ctx.redirect("/account/security?notice=passkey-setup-expired");
    return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  }
  if (done.recoveryCodes.length === 0) return ctx.redirect("/account/security?notice=passkey-added");
  return recoveryCodesPage(ctx, done.recoveryCodes, {
    title: "Passkey added",
    intro: `Your passkey “${done.userPasskey.name}” is your first second factor: signing in with your password now also asks for it.`,
  });
}

async function passkeyRename(ctx, form, current) {
  const done = await ctx.extensions.updateUserPasskeyName(current.token, field(form, "passkey_id"), field(form, "passkey_name"));
  if (!done.ok) return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  return ctx.redirect("/account/security?notice=passkey-renamed");
}

async function passkeyRemove(ctx, form, current) {
  const x = ctx.extensions;
  const passkeyId = field(form, "passkey_id");
  const done = await withPasswordAgain(ctx, current.token, field(form, "password"), {
    create: (s) => x.createUserPasskeyDeletion(s, passkeyId),
    tokenOf: (r) => r.userPasskeyDeletionToken,
    verify: (s, t, p) => x.verifyUserPasskeyDeletionUserPassword(s, t, p),
    remove: (s, t) => x.deleteUserPasskeyDeletion(s, t),
    complete: (s, t) => x.completeUserPasskeyDeletion(s, t),
  });
  if (!done.ok) return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  return ctx.redirect("/account/security?notice=passkey-removed");
}

async function securityForm(ctx, form, current) {
  return securityPage(ctx, current);
}

async function existingEnrollment(ctx, sessionToken) {
  const token = ctx.cookie(COOKIES.totpEnrollment);
  if (!token) return null;
  const result = await ctx.extensions.getUserTOTPEnrollment(sessionToken, token);
  if (result.ok) return { token, enrollment: result.userTOTPEnrollment };
  if (!["invalid_user_totp_enrollment_token", "session_mismatch"].includes(result.errorCode)) throw new ActionFailure(result.errorCode);
  ctx.clearCookie(COOKIES.totpEnrollment);
  return null;
}

/**
 * The page that confirms the authenticator app: the QR code and the key (only right after the
 * password, the one time faroe-worker returns the key), then a field for the first code.
 */
async function totpConfirmPage(ctx, { key = null, uri = null, started = false, error = null, status = 200 } = {}) {
  const svg = uri ? await qrSvg(uri) : null;
  return ctx.page("Set up your authenticator app", (csrf) => html`
${svg
    ? html`<p>Scan this QR code with your authenticator app, or type the key into it.</p>
<div class="qr" id="totp-qr" role="img" aria-label="QR code for your authenticator app">${raw(svg)}</div>
<p>Key</p>
<code class="key" id="totp-key">${groupedKey(key)}</code>`
    : html`<p>${started ? "You started setting up two-factor authentication. " : ""}Enter the code your authenticator app shows for this account.
If you did not add the account to your app, start again to see a new QR code.</p>`}
<form method="post" action="/account/security/confirm">
  ${csrfField(csrf)}
  <label for="totp-code">6-digit code from the app</label>
  <input id="totp-code" name="totp_code" type="text" inputmode="numeric" pattern="[0-9 ]*" autocomplete="one-time-code" spellcheck="false" required>
  <button type="submit">Turn on</button>
</form>
<form method="post" action="/account/security/restart" class="inline">
  ${csrfField(csrf)}
  <button type="submit" class="secondary">Start again</button>
</form>
<p class="hint"><a href="/account">Cancel</a></p>`, { error, status, signedIn: true });
}

async function totpEnable(ctx, form, current) {
  const { token: sessionToken } = current;
  let existing = await existingEnrollment(ctx, sessionToken);
  if (existing?.enrollment.userIdentityVerified) {
    // The key was shown already (it is returned once): start a fresh enrollment for a new one.
    await ctx.extensions.deleteUserTOTPEnrollment(sessionToken, existing.token);
    ctx.clearCookie(COOKIES.totpEnrollment);
    existing = null;
  }
  if (!existing) {
    const created = await ctx.extensions.createUserTOTPEnrollment(sessionToken);
    if (!created.ok) return securityPage(ctx, current, { error: errorMessage(created.errorCode), status: statusFor(created.errorCode) });
    existing = { token: created.userTOTPEnrollmentToken, enrollment: created.userTOTPEnrollment };
    ctx.setCookie(COOKIES.totpEnrollment, existing.token, LIFETIMES.totpEnrollment);
  }
  const verified = await ctx.extensions.verifyUserTOTPEnrollmentUserPassword(sessionToken, existing.token, field(form, "password"));
  if (!verified.ok) return securityPage(ctx, current, { error: errorMessage(verified.errorCode), status: statusFor(verified.errorCode) });
  return totpConfirmPage(ctx, { key: verified.totpKey, uri: verified.totpKeyURI });
}

async function totpRestart(ctx, form, current) {
  const existing = await existingEnrollment(ctx, current.token);
  if (existing) await ctx.extensions.deleteUserTOTPEnrollment(current.token, existing.token);
  ctx.clearCookie(COOKIES.totpEnrollment);
  return ctx.redirect("/account/security");
}

async function totpConfirm(ctx, form, current) {
  const { token: sessionToken } = current;
  const existing = await existingEnrollment(ctx, sessionToken);
  if (!existing || !existing.enrollment.userIdentityVerified) return ctx.redirect("/account/security?notice=two-factor-setup-expired");
  if (!existing.enrollment.totpCodeVerified) {
    const code = field(form, "totp_code").replace(/\s+/g, "");
    const verified = await ctx.extensions.verifyUserTOTPEnrollmentTOTPCode(sessionToken, existing.token, code);
    if (!verified.ok && verified.errorCode !== "totp_code_already_verified") {
      return totpConfirmPage(ctx, { error: errorMessage(verified.errorCode), status: statusFor(verified.errorCode) });
    }
  }
  const done = await ctx.extensions.completeUserTOTPEnrollment(sessionToken, existing.token);
  ctx.clearCookie(COOKIES.totpEnrollment);
  if (!done.ok) return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  return recoveryCodesPage(ctx, done.recoveryCodes, {
    title: "Two-factor authentication is on",
    intro: "From now on, signing in asks for a code from your authenticator app after your password.",
  });
}

/**
 * Runs a password-confirmed change in one request (create → verify the password → complete), so
 * its token never leaves the Worker; a wrong password deletes the entity. Returns the completion
 * result, or `{ ok: false, errorCode }` from the first step that failed.
 */
async function withPasswordAgain(ctx, sessionToken, password, { create, tokenOf, verify, remove, complete }) {
  const created = await create(sessionToken);
  if (!created.ok) return created;
  const token = tokenOf(created);
  const verified = await verify(sessionToken, token, password);
  if (!verified.ok) {
    await remove(sessionToken, token);
    return verified;
  }
  return complete(sessionToken, token);
}

async function recoveryCodesRegenerate(ctx, form, current) {
  const x = ctx.extensions;
  const done = await withPasswordAgain(ctx, current.token, field(form, "password"), {
    create: (s) => x.createUserRecoveryCodeRegeneration(s),
    tokenOf: (r) => r.userRecoveryCodeRegenerationToken,
    verify: (s, t, p) => x.verifyUserRecoveryCodeRegenerationUserPassword(s, t, p),
    remove: (s, t) => x.deleteUserRecoveryCodeRegeneration(s, t),
    complete: (s, t) => x.completeUserRecoveryCodeRegeneration(s, t),
  });
  if (!done.ok) return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  return recoveryCodesPage(ctx, done.recoveryCodes, {
    title: "New recovery codes",
    intro: "Your old recovery codes no longer work.",
  });
}

async function totpDisable(ctx, form, current) {
  const x = ctx.extensions;
  const done = await withPasswordAgain(ctx, current.token, field(form, "password"), {
    create: (s) => x.createUserTOTPDeletion(s),
    tokenOf: (r) => r.userTOTPDeletionToken,
    verify: (s, t, p) => x.verifyUserTOTPDeletionUserPassword(s, t, p),
    remove: (s, t) => x.deleteUserTOTPDeletion(s, t),
    complete: (s, t) => x.completeUserTOTPDeletion(s, t),
  });
  if (!done.ok) return securityPage(ctx, current, { error: errorMessage(done.errorCode), status: statusFor(done.errorCode) });
  return ctx.redirect("/account/security?notice=two-factor-off");
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
  "POST /signin/passkey": passkeySigninStart,
  "POST /signin/passkey/complete": passkeySigninComplete,
  "GET /passkeys.js": () => scriptResponse(PASSKEYS_SCRIPT),
  "GET /signin/second-factor": secondFactorForm,
  "POST /signin/second-factor": secondFactorSubmit,
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
  "GET /account/activity": signedIn(activityPage),
  "GET /account/security": signedIn(securityForm),
  "POST /account/security/enable": signedIn(totpEnable),
  "POST /account/security/confirm": signedIn(totpConfirm),
  "POST /account/security/restart": signedIn(totpRestart),
  "POST /account/security/recovery-codes": signedIn(recoveryCodesRegenerate),
  "POST /account/security/disable": signedIn(totpDisable),
  "GET /account/devices": signedIn(devicesForm),
  "POST /account/devices/signout": signedIn(deviceSignout),
  "POST /account/security/passkeys/add": signedIn(passkeyAdd),
  "POST /account/security/passkeys/complete": signedIn(passkeyComplete),
  "POST /account/security/passkeys/rename": signedIn(passkeyRename),
  "POST /account/security/passkeys/remove": signedIn(passkeyRemove),
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
