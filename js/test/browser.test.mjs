// The example app (examples/app) and faroe-worker in one multi-config `wrangler dev`, driven in
// headless Debian Chromium through playwright-core: every page of every flow, with codes and
// temporary passwords read from the emails that faroe-worker's webhook provider posts to an
// in-test capture server. Screenshots of each page go to test-artifacts/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createServer } from "node:http";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { randomBytes } from "node:crypto";
import {
  root, SECRET, FAST_ALGORITHMS, startEmailCapture, startPwnedMock, startExampleApp,
} from "../../tests/e2e/harness.mjs";
import { base32Decode, currentStep, hotp } from "../../tests/e2e/totp-codes.mjs";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const SCREENSHOTS = join(root, "test-artifacts", "screenshots");
/** A Faroe token (`<id>.<secret>`); none may ever appear in a URL. */
const TOKEN = /[a-km-np-z2-9]{24}\.[a-km-np-z2-9]{24}/;

const run = Date.now().toString(36);
const USER = { email: `ada-${run}@example.com`, newEmail: `ada.lovelace-${run}@example.com` };
/** The one answer to every sign-in failure that depends on whether the account exists. */
const SIGNIN_FAILED =
  "That email address and password do not match an account. After several failed attempts, wait a few minutes before trying again.";
const PASSWORDS = {
  first: "correct horse battery 1",
  changed: "second staple tango 22",
  reset: "third lantern orbit 333",
  weak: "password123", // listed as breached by the Pwned Passwords mock
};

let capture, pwned, evil, app, browser;
/** The "laptop" (main) and "phone" (second device) browser contexts. */
let laptop, phone;
const requestedUrls = [];
/** TOTP keys, codes and recovery codes the two-factor tests saw: none may appear in a URL. */
const secondFactorSecrets = [];

/** Installs Debian's Chromium when it is missing (needs root and the package registry). */
function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  console.log(`browser test: ${CHROMIUM} is missing; installing it with apt-get`);
  execFileSync("sh", ["-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"], {
    stdio: "inherit",
  });
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} still missing after apt-get install`);
}

/**
 * The example app setup (the app + faroe-worker behind its binding, one `wrangler dev`, from the
 * e2e harness) with this test's faroe-worker vars (a secret endpoint, webhook email, the
 * breach-check mock, fast Argon2id, no session cache so "sign out everywhere" applies at once).
 */
async function startApp(faroeVars) {
  const app = await startExampleApp({ faroeVars, appVars: { APP_SECRET: `browser-test-app-secret-${run}` } });
  // Served as localhost: a secure context, so Chromium keeps the app's Secure cookies on http.
  return { ...app, url: new URL(app.url).origin.replace("127.0.0.1", "localhost") };
}

/** A page on another origin that auto-submits a form to the app: a cross-site request forgery. */
async function startEvilSite(target) {
  const server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" }).end(`<!doctype html><title>Win a prize</title>
<form id="f" method="post" action="${target}/signout-everywhere"><input name="csrf" value="guess"></form>
<script>document.getElementById("f").submit()</script>`);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${server.address().port}/`, close: () => new Promise((r) => server.close(r)) };
}

async function newContext(options = {}) {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 }, ...options });
  context.on("request", (r) => requestedUrls.push(r.url()));
  return context;
}

const pathOf = (page) => new URL(page.url()).pathname;

async function shot(page, name) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** Clicks a submit button and waits for the resulting page (redirected or re-rendered). */
async function submit(page, name) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    page.getByRole("button", { name, exact: true }).click(),
  ]);
  return response;
}

async function errorText(page) {
  return (await page.locator("p.error").textContent())?.trim();
}

async function noticeText(page) {
  return (await page.locator("p.notice").textContent())?.trim();
}

function lastEmail(type, to) {
  const message = capture.last(type, to);
  assert.ok(message, `no ${type} email to ${to}`);
  return message;
}

async function signUp(page, email, password) {
  await page.goto(`${app.url}/signup`);
  await page.getByLabel("Email address").fill(email);
  await submit(page, "Continue");
  assert.equal(pathOf(page), "/signup/verify");
  const code = lastEmail("signup_email_address_verification_code", email).data.email_address_verification_code;
  await page.getByLabel("Verification code").fill(code);
  await submit(page, "Confirm");
  await page.getByLabel("Password").fill(password);
  await submit(page, "Create account");
  assert.equal(pathOf(page), "/account");
}

async function signIn(page, email, password) {
  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(password);
  return submit(page, "Sign in");
}

before(async () => {
  ensureChromium();
  if (!existsSync(join(root, "build", "index.js"))) {
    execFileSync("bash", ["scripts/build.sh"], { cwd: root, stdio: "inherit" });
  }
  await mkdir(SCREENSHOTS, { recursive: true });
  capture = await startEmailCapture();
  pwned = await startPwnedMock([PASSWORDS.weak]);
  app = await startApp({
    ALLOW_UNAUTHENTICATED_ENDPOINT: "false",
    ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
    ...capture.vars,
    ...pwned.vars,
    ...FAST_ALGORITHMS,
    SESSION_CACHE_EXPIRATION_SECONDS: "0",
    // Two-factor authentication (faroe-worker's totp extension) for the account security page.
    EXTENSIONS: "totp",
    TOTP_ENCRYPTION_KEYS: `browser:${randomBytes(32).toString("base64")}`,
  });
  evil = await startEvilSite(app.url);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  laptop = await (await newContext()).newPage();
  phone = await (await newContext()).newPage();
}, { timeout: 600_000 });

after(async () => {
  await browser?.close();
  // Both Workers' output (faroe-worker's action error log included) for failure analysis.
  if (app) await writeFile(join(root, "test-artifacts", "browser-wrangler.log"), app.logs.join("\n") + "\n");
  await app?.stop();
  await evil?.close();
  await capture?.close();
  await pwned?.close();
});

const T = { timeout: 120_000 };

test("home page links to sign-up, sign-in and reset; /account needs a session", T, async () => {
  const response = await laptop.goto(`${app.url}/`);
  assert.equal(response.status(), 200);
  assert.equal(await laptop.locator("h1").textContent(), "Welcome");
  assert.equal(response.headers()["cache-control"], "no-store");
  assert.match(response.headers()["content-security-policy"], /default-src 'none'/);
  await shot(laptop, "01-home");
  await laptop.goto(`${app.url}/account`);
  assert.equal(pathOf(laptop), "/signin");
  assert.equal(await noticeText(laptop), "Please sign in to continue.");
});

test("sign-up: email → code from the email → password, then the account page", T, async () => {
  const page = laptop;
  await page.goto(`${app.url}/signup`);
  await shot(page, "02-signup-email");
  await page.getByLabel("Email address").fill(USER.email);
  await submit(page, "Continue");
  assert.equal(pathOf(page), "/signup/verify");
  assert.match(await page.locator("main").textContent(), new RegExp(`code to ${USER.email.replace(/\./g, "\\.")}`));
  await shot(page, "03-signup-code");

  await page.getByLabel("Verification code").fill("AAAAAAAA");
  const wrong = await submit(page, "Confirm");
  assert.equal(wrong.status(), 400);
  assert.equal(await errorText(page), "That code is not correct. Check the email we sent you.");
  await shot(page, "04-signup-code-incorrect");

  const code = lastEmail("signup_email_address_verification_code", USER.email).data.email_address_verification_code;
  assert.match(code, /^[A-HJ-NP-Z2-9]{8}$/);
  await page.getByLabel("Verification code").fill(code.toLowerCase()); // typed in any case
  await submit(page, "Confirm");
  assert.equal(pathOf(page), "/signup/password");
  await shot(page, "05-signup-password");

  await page.getByLabel("Password").fill(PASSWORDS.weak);
  await submit(page, "Create account");
  assert.equal(await errorText(page), "That password has appeared in a data breach. Please choose a different one.");
  await shot(page, "06-signup-weak-password");

  await page.getByLabel("Password").fill(PASSWORDS.first);
  await submit(page, "Create account");
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "Welcome! Your account is ready and you are signed in.");
  assert.equal(await page.locator("#account-email").textContent(), USER.email);
  assert.match(await page.locator("#session-id").textContent(), /^[a-km-np-z2-9]{24}$/);
  assert.equal(await page.locator("#session-expires").textContent(), "after 30 days without use");
  await shot(page, "07-account-after-signup");

  // Tokens only in HttpOnly + Secure + SameSite=Lax cookies: invisible to scripts and pages.
  // Chromium keeps the `__Host-` cookies on http://localhost (a secure context).
  const cookies = await page.context().cookies(app.url);
  const session = cookies.find((c) => c.name === "__Host-fw_session");
  assert.ok(session, "no session cookie");
  assert.match(session.value, new RegExp(`^${TOKEN.source}$`));
  assert.deepEqual(cookies.map((c) => c.name).sort(), ["__Host-fw_csrf", "__Host-fw_email", "__Host-fw_session"]);
  for (const c of cookies) {
    assert.equal(c.path, "/", `${c.name} path`);
    assert.equal(c.domain, "localhost", `${c.name} is host-only`);
    assert.equal(c.httpOnly, true, `${c.name} not HttpOnly`);
    assert.equal(c.secure, true, `${c.name} not Secure`);
    assert.equal(c.sameSite, "Lax", `${c.name} not SameSite=Lax`);
  }
  assert.ok(!cookies.some((c) => c.name === "__Host-fw_signup"), "signup cookie left behind");
  assert.equal(await page.evaluate(() => document.cookie), "");
  assert.ok(!(await page.content()).includes(session.value), "session token in the page");
});

test("sign-out, then sign-in", T, async () => {
  const page = laptop;
  await submit(page, "Sign out");
  assert.equal(pathOf(page), "/");
  assert.equal(await noticeText(page), "You have been signed out.");
  assert.ok(!(await page.context().cookies(app.url)).some((c) => c.name === "__Host-fw_session"));
  await shot(page, "08-signed-out");

  await page.goto(`${app.url}/signin`);
  await shot(page, "09-signin");
  await signIn(page, USER.email, PASSWORDS.first);
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "You are signed in.");
  assert.equal(await page.locator("#account-email").textContent(), USER.email);
  await shot(page, "10-account-after-signin");
});

test("CSRF: forged and cross-site POSTs are refused and change nothing", T, async () => {
  const page = laptop;
  const request = page.context().request;
  const noToken = await request.post(`${app.url}/signout-everywhere`, { form: { x: "1" }, maxRedirects: 0 });
  assert.equal(noToken.status(), 403);
  const forged = await request.post(`${app.url}/signout-everywhere`, { form: { csrf: "A".repeat(43) }, maxRedirects: 0 });
  assert.equal(forged.status(), 403);
  await page.goto(`${app.url}/account`);
  const token = await page.locator('form[action="/signout-everywhere"] input[name=csrf]').getAttribute("value");
  const otherOrigin = await request.post(`${app.url}/signout-everywhere`, {
    form: { csrf: token }, headers: { Origin: "http://evil.example" }, maxRedirects: 0,
  });
  assert.equal(otherOrigin.status(), 403);

  // A real cross-site form post from another origin in the same browser.
  await Promise.all([page.waitForURL(`${app.url}/signout-everywhere`), page.goto(evil.url)]);
  await page.waitForLoadState("load");
  assert.equal(await page.locator("h1").textContent(), "Please try again");
  await shot(page, "11-csrf-cross-site-refused");

  await page.goto(`${app.url}/account`);
  assert.equal(pathOf(page), "/account", "the session must survive the forged requests");
});

test("password change: weak new password refused, then changed", T, async () => {
  const page = laptop;
  await page.goto(`${app.url}/account`);
  await Promise.all([page.waitForURL("**/account/password"), page.getByRole("link", { name: "Change password" }).click()]);
  await shot(page, "12-password-change");
  await page.getByLabel("Current password").fill(PASSWORDS.first);
  await page.getByLabel("New password").fill(PASSWORDS.weak);
  await submit(page, "Change password");
  assert.equal(await errorText(page), "That password has appeared in a data breach. Please choose a different one.");
  // The update (kept in an HttpOnly cookie) already has the identity verified.
  assert.equal(await page.getByLabel("Current password").count(), 0);
  await shot(page, "13-password-change-weak");
  await page.getByLabel("New password").fill(PASSWORDS.changed);
  await submit(page, "Change password");
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "Your password has been changed.");
  await shot(page, "14-password-changed");
  assert.ok(lastEmail("user_password_updated_notification", USER.email));
});

test("password reset on a second device with the emailed temporary password", T, async () => {
  const page = phone;
  await page.goto(`${app.url}/signin`);
  await Promise.all([page.waitForURL("**/reset"), page.getByRole("link", { name: "Forgot your password?" }).click()]);
  await shot(page, "15-reset-email");
  await page.getByLabel("Email address").fill(USER.email);
  await submit(page, "Send temporary password");
  assert.equal(pathOf(page), "/reset/verify");
  await shot(page, "16-reset-verify");

  await page.getByLabel("Temporary password").fill("ABCDEFGHJKMN");
  await page.getByLabel("New password").fill(PASSWORDS.reset);
  await submit(page, "Reset password");
  assert.equal(await errorText(page), "That temporary password is not correct. Check the email we sent you.");
  await shot(page, "17-reset-incorrect-temporary-password");

  const temporary = lastEmail("user_password_reset_temporary_password", USER.email).data.temporary_password;
  assert.match(temporary, /^[A-HJ-NP-Z2-9]{12}$/);
  await page.getByLabel("Temporary password").fill(temporary);
  await page.getByLabel("New password").fill(PASSWORDS.reset);
  await submit(page, "Reset password");
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "Your password has been reset and you are signed in.");
  assert.equal(await page.locator("#account-email").textContent(), USER.email);
  await shot(page, "18-account-after-reset");
});

test("email change: new address, code from the email and current password", T, async () => {
  const page = laptop;
  await page.goto(`${app.url}/account`);
  await Promise.all([page.waitForURL("**/account/email"), page.getByRole("link", { name: "Change email address" }).click()]);
  await shot(page, "19-email-change");
  await page.getByLabel("New email address").fill(USER.newEmail);
  await submit(page, "Send code");
  assert.equal(pathOf(page), "/account/email/verify");
  await shot(page, "20-email-verify");
  const code = lastEmail("user_email_address_update_email_address_verification_code", USER.newEmail)
    .data.email_address_verification_code;
  await page.getByLabel("Verification code").fill(code);
  await page.getByLabel("Current password").fill(PASSWORDS.reset);
  await submit(page, "Change email address");
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "Your email address has been changed.");
  assert.equal(await page.locator("#account-email").textContent(), USER.newEmail);
  await shot(page, "21-email-changed");
  assert.equal(lastEmail("user_email_address_updated_notification", USER.email).data.new_email_address, USER.newEmail);
});

test("sign out everywhere ends the other device's session too", T, async () => {
  await phone.goto(`${app.url}/account`);
  assert.equal(pathOf(phone), "/account");

  await laptop.goto(`${app.url}/account`);
  await submit(laptop, "Sign out everywhere");
  assert.equal(pathOf(laptop), "/signin");
  assert.match(await noticeText(laptop), /signed out on all devices/);
  await shot(laptop, "22-signed-out-everywhere");

  await phone.goto(`${app.url}/account`);
  assert.equal(pathOf(phone), "/signin");
  assert.equal(await noticeText(phone), "Your session has ended. Please sign in again.");
  assert.ok(!(await phone.context().cookies(app.url)).some((c) => c.name === "__Host-fw_session"));
  await shot(phone, "23-other-device-signed-out");
});

test("account deletion with the current password", T, async () => {
  const page = laptop;
  await signIn(page, USER.newEmail, PASSWORDS.reset);
  assert.equal(pathOf(page), "/account");
  await Promise.all([page.waitForURL("**/account/delete"), page.getByRole("link", { name: "Delete account" }).click()]);
  await shot(page, "24-account-delete");
  await page.getByLabel("Current password").fill(PASSWORDS.reset);
  await submit(page, "Delete my account");
  assert.equal(pathOf(page), "/");
  assert.equal(await noticeText(page), "Your account has been deleted.");
  assert.deepEqual((await page.context().cookies(app.url)).map((c) => c.name), ["__Host-fw_csrf"]);
  await shot(page, "25-account-deleted");

  await signIn(page, USER.newEmail, PASSWORDS.reset);
  assert.equal(pathOf(page), "/signin");
  assert.equal(await errorText(page), SIGNIN_FAILED, "a deleted account looks like a wrong password");
  await shot(page, "26-signin-after-deletion");
});

test("sign-in errors reveal nothing: unknown address, wrong password and the per-account limit look alike", T, async () => {
  const page = await (await newContext()).newPage();
  const email = `grace-${run}@example.com`;
  await signUp(page, email, PASSWORDS.first);
  await submit(page, "Sign out");
  const unknown = await signIn(page, `nobody-${run}@example.com`, "some password 1");
  assert.equal(unknown.status(), 400);
  assert.equal(await errorText(page), SIGNIN_FAILED);
  // The page as served, with the typed address and the CSRF token blanked.
  const served = async (response) => (await response.text()).replace(/value="[^"]*"/g, 'value=""');
  const unknownPage = await served(unknown);
  // The verify-user-password bucket holds 5 attempts per user.
  for (let i = 1; i <= 5; i++) {
    const response = await signIn(page, email, `wrong password ${i}`);
    assert.equal(response.status(), 400);
    assert.equal(await errorText(page), SIGNIN_FAILED);
    if (i === 1) {
      await shot(page, "27-signin-incorrect-password");
      // The whole page matches the unknown address's, apart from the address typed and the CSRF token.
      assert.equal(await served(response), unknownPage);
    }
  }
  // Limited after 5 attempts: the same answer (a different one would tell that the account exists).
  const limited = await signIn(page, email, PASSWORDS.first);
  assert.equal(limited.status(), 400);
  assert.equal(await errorText(page), SIGNIN_FAILED);
  assert.equal(await page.getByLabel("Email address").inputValue(), email);
  await shot(page, "28-signin-rate-limited");
  await page.context().close();
});

test("sign out everywhere else, after a password change and after a reset: the other device is signed out, this one stays", T, async () => {
  const email = `hopper-${run}@example.com`;
  const desk = await (await newContext()).newPage();
  const tablet = await (await newContext()).newPage();
  await signUp(desk, email, PASSWORDS.first);
  await signIn(tablet, email, PASSWORDS.first);
  assert.equal(pathOf(tablet), "/account");
  const deskSession = await desk.locator("#session-id").textContent();

  await desk.goto(`${app.url}/account/password`);
  await desk.getByLabel("Current password").fill(PASSWORDS.first);
  await desk.getByLabel("New password").fill(PASSWORDS.changed);
  await desk.getByLabel("Sign out everywhere else").check();
  await shot(desk, "29-password-change-sign-out-others");
  await submit(desk, "Change password");
  assert.equal(pathOf(desk), "/account");
  assert.match(await noticeText(desk), /You are still signed in here; every other device has been signed out/);
  assert.notEqual(await desk.locator("#session-id").textContent(), deskSession, "this browser has a fresh session");
  await shot(desk, "30-password-changed-others-signed-out");

  await tablet.goto(`${app.url}/account`);
  assert.equal(pathOf(tablet), "/signin");
  assert.equal(await noticeText(tablet), "Your session has ended. Please sign in again.");
  await desk.goto(`${app.url}/account`);
  assert.equal(pathOf(desk), "/account", "this browser is still signed in");

  // The reset form offers the same, from a signed-out device.
  await tablet.goto(`${app.url}/reset`);
  await tablet.getByLabel("Email address").fill(email);
  await submit(tablet, "Send temporary password");
  const temporary = lastEmail("user_password_reset_temporary_password", email).data.temporary_password;
  await tablet.getByLabel("Temporary password").fill(temporary);
  await tablet.getByLabel("New password").fill(PASSWORDS.reset);
  await tablet.getByLabel("Sign out everywhere else").check();
  await submit(tablet, "Reset password");
  assert.equal(pathOf(tablet), "/account");
  assert.match(await noticeText(tablet), /reset and you are signed in here; every other device has been signed out/);
  await shot(tablet, "31-password-reset-others-signed-out");

  await desk.goto(`${app.url}/account`);
  assert.equal(pathOf(desk), "/signin", "the desk's session ended with the reset");
  await tablet.goto(`${app.url}/account`);
  assert.equal(pathOf(tablet), "/account");
  await desk.context().close();
  await tablet.context().close();
});

/** The session cookie of a page's context (Playwright: `expires` is -1 for a browser-session cookie). */
async function sessionCookie(page) {
  return (await page.context().cookies(app.url)).find((c) => c.name === "__Host-fw_session");
}

/** The Set-Cookie line of `name` in the 303 answer to the form POST that led to `response`. */
async function setCookieOfPost(response, name) {
  const posted = response.request().redirectedFrom();
  assert.ok(posted, "the form POST redirected");
  const lines = (await (await posted.response()).headersArray()).filter((h) => h.name.toLowerCase() === "set-cookie").map((h) => h.value);
  return lines.find((line) => line.startsWith(`${name}=`));
}

/** Signs in with the password (and "Remember me" when asked); ends on the page that follows. */
async function signInWith(page, email, password, { remember = false } = {}) {
  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(password);
  if (remember) await page.getByLabel("Remember me").check();
  return submit(page, "Sign in");
}

test("two-factor authentication: enable with the shown key, sign in with a code and with a recovery code, regenerate, remove", T, async () => {
  const page = await (await newContext()).newPage();
  const email = `turing-${run}@example.com`;
  await signUp(page, email, PASSWORDS.first);
  assert.equal(await page.locator("#two-factor-status").textContent(), "off");

  // Enable: the password again, then the QR code and key, then a code computed from the key.
  await Promise.all([page.waitForURL("**/account/security"), page.getByRole("link", { name: "Two-factor authentication" }).click()]);
  assert.match(await page.locator("#two-factor-off").textContent(), /is off/);
  await shot(page, "32-two-factor-off");
  // (Each user's password attempts are limited to 5 a minute: this test uses exactly 5.)
  await page.getByLabel("Current password").fill(PASSWORDS.first);
  await submit(page, "Turn on two-factor authentication");
  assert.equal(await page.locator("h1").textContent(), "Set up your authenticator app");
  const qr = page.locator("#totp-qr svg");
  assert.equal(await qr.count(), 1, "the QR code is inline SVG");
  assert.ok((await qr.boundingBox()).width >= 150, "the QR code is drawn at a scannable size");
  const key = (await page.locator("#totp-key").textContent()).replace(/\s+/g, "");
  assert.match(key, /^[A-Z2-7]{32}$/);
  secondFactorSecrets.push(key);
  await shot(page, "33-two-factor-setup-qr");
  await page.getByLabel("6-digit code from the app").fill("000000");
  await submit(page, "Turn on");
  assert.match(await errorText(page), /That code is not correct/);
  assert.equal(await page.locator("#totp-qr").count(), 0, "the key is not shown again");
  await shot(page, "34-two-factor-setup-wrong-code");
  const secret = base32Decode(key);
  const step = currentStep();
  await page.getByLabel("6-digit code from the app").fill(hotp(secret, step));
  await submit(page, "Turn on");
  assert.equal(await page.locator("h1").textContent(), "Two-factor authentication is on");
  const codes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[A-HJ-NP-Z2-9]{12}$/);
  secondFactorSecrets.push(...codes);
  const [download] = await Promise.all([page.waitForEvent("download"), page.locator("#download-codes").click()]);
  assert.equal(download.suggestedFilename(), "recovery-codes.txt");
  const downloaded = await readFile(await download.path(), "utf8");
  for (const c of codes) assert.ok(downloaded.includes(c), "the download holds every code");
  await shot(page, "35-two-factor-recovery-codes");
  await page.getByRole("link", { name: "Done, I saved them" }).click();
  await page.waitForURL("**/account/security");
  assert.equal(await page.locator("#recovery-code-count").textContent(), "10");
  await shot(page, "36-two-factor-on");
  assert.ok(capture.messages.some((m) => /second_factor_added/.test(m.type) && m.to === email), "the added-notification email");

  // Sign in: password, then the code (asked on its own page); "Remember me" carries through it.
  await page.goto(`${app.url}/account`);
  await submit(page, "Sign out");
  await signInWith(page, email, PASSWORDS.first, { remember: true });
  assert.equal(pathOf(page), "/signin/second-factor");
  assert.equal(await sessionCookie(page), undefined, "no session before the second factor");
  await shot(page, "37-signin-second-factor");
  await page.getByLabel("Authentication code").fill("000000");
  await submit(page, "Verify");
  assert.match(await errorText(page), /That code is not correct/);
  await shot(page, "38-signin-second-factor-wrong-code");
  // The enrollment used this step's code; the next step's is accepted (±1 step) and not a replay.
  const code = hotp(secret, step + 1);
  secondFactorSecrets.push(code);
  await page.getByLabel("Authentication code").fill(code);
  await submit(page, "Verify");
  assert.equal(pathOf(page), "/account");
  assert.equal(await noticeText(page), "You are signed in.");
  assert.ok((await sessionCookie(page)).expires > Date.now() / 1000 + 29 * 24 * 3600, "remembered: a persistent session cookie");
  assert.ok(!(await page.context().cookies(app.url)).some((c) => c.name === "__Host-fw_signin"), "the pending signin cookie is gone");
  await shot(page, "39-account-after-two-factor-signin");

  // Sign in with a recovery code instead (typed in lower case).
  await submit(page, "Sign out");
  await signInWith(page, email, PASSWORDS.first);
  assert.equal(pathOf(page), "/signin/second-factor");
  await page.getByLabel("Recovery code").fill(codes[0].toLowerCase());
  await shot(page, "40-signin-recovery-code");
  await submit(page, "Use recovery code");
  assert.equal(pathOf(page), "/account");
  assert.match(await noticeText(page), /signed in with a recovery code/);
  assert.equal((await sessionCookie(page)).expires, -1, "not remembered: a browser-session cookie");
  await page.goto(`${app.url}/account/security`);
  assert.equal(await page.locator("#recovery-code-count").textContent(), "9");

  // New recovery codes (password again): the old ones are replaced.
  await page.getByLabel("Current password").first().fill(PASSWORDS.first);
  await submit(page, "Create new recovery codes");
  assert.equal(await page.locator("h1").textContent(), "New recovery codes");
  const newCodes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
  assert.equal(newCodes.length, 10);
  assert.ok(!newCodes.some((c) => codes.includes(c)));
  secondFactorSecrets.push(...newCodes);
  await shot(page, "41-two-factor-new-recovery-codes");

  // Remove (password again).
  await page.goto(`${app.url}/account/security`);
  await page.locator("#disable-password").fill(PASSWORDS.first);
  await submit(page, "Turn off two-factor authentication");
  assert.equal(pathOf(page), "/account/security");
  assert.match(await noticeText(page), /Two-factor authentication is off/);
  assert.equal(await page.locator("#two-factor-off").count(), 1);
  await shot(page, "42-two-factor-removed");
  assert.ok(capture.messages.some((m) => /second_factor_removed/.test(m.type) && m.to === email), "the removed-notification email");
  await page.context().close();
});

test("remember me: a persistent session cookie only when checked", T, async () => {
  const page = await (await newContext()).newPage();
  const email = `lamport-${run}@example.com`;
  await signUp(page, email, PASSWORDS.first);
  await submit(page, "Sign out");

  const plain = await signInWith(page, email, PASSWORDS.first);
  assert.equal(pathOf(page), "/account");
  const plainCookies = await page.context().cookies(app.url);
  for (const name of ["__Host-fw_session", "__Host-fw_email"]) {
    assert.equal(plainCookies.find((c) => c.name === name).expires, -1, `${name} is a browser-session cookie`);
  }
  assert.doesNotMatch(await setCookieOfPost(plain, "__Host-fw_session"), /Max-Age|Expires/i);
  await submit(page, "Sign out");

  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(email);
  await page.getByLabel("Password").fill(PASSWORDS.first);
  await page.getByLabel("Remember me").check();
  await shot(page, "43-signin-remember-me");
  const remembered = await submit(page, "Sign in");
  assert.equal(pathOf(page), "/account");
  const sessionLine = await setCookieOfPost(remembered, "__Host-fw_session");
  assert.match(sessionLine, /; Max-Age=2592000/);
  assert.match(sessionLine, /; Path=\/; HttpOnly; Secure; SameSite=Lax/);
  const cookies = await page.context().cookies(app.url);
  for (const name of ["__Host-fw_session", "__Host-fw_email"]) {
    const cookie = cookies.find((c) => c.name === name);
    assert.ok(cookie.expires > Date.now() / 1000 + 29 * 24 * 3600, `${name} lasts the session lifetime`);
    assert.deepEqual([cookie.httpOnly, cookie.secure, cookie.sameSite, cookie.path], [true, true, "Lax", "/"]);
  }
  await page.context().close();
});

test("emails speak the visitor's language: German and English browsers get the templates of theirs", T, async () => {
  // Chromium sends Accept-Language from the context's locale; the app passes the first choice as
  // emailLanguage (X-Faroe-Email-Language), and faroe-worker renders its German or English templates.
  const cases = [
    { locale: "de-DE", language: "de", subject: /^Ihr Bestätigungscode für /, signedIn: /^Neue Anmeldung/ },
    { locale: "en-US", language: "en", subject: /^Your .* verification code$/, signedIn: /^New sign-in/ },
  ];
  for (const { locale, language, subject, signedIn } of cases) {
    const page = await (await newContext({ locale })).newPage();
    const email = `hopper-${language}-${run}@example.com`;
    await signUp(page, email, PASSWORDS.first);
    const code = lastEmail("signup_email_address_verification_code", email);
    assert.equal(code.language, language);
    assert.match(code.subject, subject);
    assert.ok(code.text.includes(code.data.email_address_verification_code));
    await submit(page, "Sign out");
    await signIn(page, email, PASSWORDS.first);
    assert.equal(pathOf(page), "/account");
    const notice = lastEmail("user_signed_in_notification", email);
    assert.equal(notice.language, language);
    assert.match(notice.subject, signedIn);
    if (language === "de") await shot(page, "56-account-german-browser");
    await page.context().close();
  }
});

test("no token, code or temporary password ever appeared in a URL", () => {
  assert.ok(requestedUrls.length > 50, `only ${requestedUrls.length} requests recorded`);
  const secrets = capture.messages.flatMap((m) => [m.data.email_address_verification_code, m.data.temporary_password]).filter(Boolean);
  secrets.push(...secondFactorSecrets);
  for (const url of requestedUrls) {
    assert.doesNotMatch(url, TOKEN, url);
    for (const s of secrets) assert.ok(!url.includes(s), `${url} contains an emailed secret`);
  }
});
