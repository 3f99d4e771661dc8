// The example app's passkey pages in headless Debian Chromium (playwright-core), with the DevTools
// virtual authenticator (CTAP2, internal transport, resident keys, user verification) standing in
// for the device: add a passkey on the security page (password again, then
// navigator.credentials.create), rename it, sign out, sign in with the passkey alone
// (discoverable), sign in with password + the passkey as second factor, remove it. faroe-worker
// runs with EXTENSIONS=totp,passkeys, WEBAUTHN_RP_ID=localhost and DEVELOPMENT_MODE=true; the app
// is opened as http://localhost:<port> (a secure context). Screenshots continue
// test-artifacts/screenshots/ at 44.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";
import { root, FAST_ALGORITHMS, SECRET, freePort, startEmailCapture, startExampleApp } from "../../tests/e2e/harness.mjs";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const SCREENSHOTS = join(root, "test-artifacts", "screenshots");
const TOKEN = /[a-km-np-z2-9]{24}\.[a-km-np-z2-9]{24}/;
const run = Date.now().toString(36);
const EMAIL = `grace-${run}@example.com`;
const PASSWORD = "passkey browser test 1";

let capture, app, browser, context, page, cdp, authenticatorId;
const requestedUrls = [];
const consoleMessages = [];

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (apt-get install -y chromium)`);
  assert.ok(existsSync(join(root, "build", "index.js")), "build/ is missing: bash scripts/build.sh");
  await mkdir(SCREENSHOTS, { recursive: true });
  capture = await startEmailCapture();
  const port = await freePort();
  const origin = `http://localhost:${port}`;
  app = await startExampleApp({
    port,
    faroeVars: {
      ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, ...capture.vars, ...FAST_ALGORITHMS, SESSION_CACHE_EXPIRATION_SECONDS: "0",
      EXTENSIONS: "totp,passkeys", TOTP_ENCRYPTION_KEYS: `browser:${randomBytes(32).toString("base64")}`,
      DEVELOPMENT_MODE: "true", WEBAUTHN_RP_ID: "localhost", WEBAUTHN_ALLOWED_ORIGINS: origin,
    },
    appVars: { APP_SECRET: `passkeys-browser-test-${run}`, PASSKEYS: "true" },
  });
  app.url = origin;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 900, height: 760 } });
  context.on("request", (r) => requestedUrls.push(r.url()));
  page = await context.newPage();
  page.on("console", (m) => consoleMessages.push(m.text()));
  // The device: a platform authenticator that holds discoverable credentials and verifies the user.
  cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  ({ authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: { protocol: "ctap2", transport: "internal", hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
  }));
}, { timeout: 600_000 });

after(async () => {
  await browser?.close();
  if (app) await writeFile(join(root, "test-artifacts", "passkeys-browser-wrangler.log"), app.logs.join("\n") + "\n");
  await app?.stop();
  await capture?.close();
});

const T = { timeout: 180_000 };
const pathOf = () => new URL(page.url()).pathname;
const shot = (name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
const notice = async () => (await page.locator("p.notice").first().textContent())?.trim();

async function submit(name, scope = page) {
  const [response] = await Promise.all([
    page.waitForNavigation({ waitUntil: "load" }),
    scope.getByRole("button", { name, exact: true }).click(),
  ]);
  return response;
}

async function credentials() {
  return (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
}

async function signOut() {
  await page.goto(`${app.url}/account`);
  await submit("Sign out");
  assert.equal(pathOf(), "/");
}

async function signInWithPassword() {
  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await submit("Sign in");
}

test("add a passkey; sign in with it alone and as the second factor; rename; remove", T, async () => {
  // Sign up.
  await page.goto(`${app.url}/signup`);
  await page.getByLabel("Email address").fill(EMAIL);
  await submit("Continue");
  const code = capture.last("signup_email_address_verification_code", EMAIL).data.email_address_verification_code;
  await page.getByLabel("Verification code").fill(code);
  await submit("Confirm");
  await page.getByLabel("Password").fill(PASSWORD);
  await submit("Create account");
  assert.equal(pathOf(), "/account");
  assert.equal((await page.locator("#passkey-count").textContent()).trim(), "0");

  // Add: password again, then the browser's prompt (the virtual authenticator answers it).
  await page.goto(`${app.url}/account/security`);
  assert.equal((await page.locator("#no-passkeys").textContent()).trim(), "You have no passkeys yet.");
  await shot("44-passkeys-none");
  await page.getByLabel("Passkey name").fill("Laptop");
  await page.locator("#passkey-add-password").fill(PASSWORD);
  const addPage = await submit("Add a passkey");
  assert.equal(addPage.status(), 200);
  const csp = addPage.headers()["content-security-policy"];
  assert.match(csp, /default-src 'none'/);
  assert.ok(csp.split(";").map((d) => d.trim()).includes("script-src 'self'"), csp);
  assert.doesNotMatch(csp, /script-src[^;]*unsafe/);
  assert.equal(await page.locator("h1").textContent(), "Add a passkey");
  assert.equal(await page.getByRole("button", { name: "Create passkey" }).isVisible(), true, "the script showed the passkey section");
  await shot("45-passkey-add");
  await submit("Create passkey");
  assert.equal(await page.locator("h1").textContent(), "Passkey added");
  const codes = (await page.locator("#recovery-codes li").allTextContents()).map((c) => c.trim());
  assert.equal(codes.length, 10, "the first second factor brings recovery codes");
  await shot("46-passkey-added-recovery-codes");
  const stored = await credentials();
  assert.equal(stored.length, 1);
  assert.equal(stored[0].isResidentCredential, true, "a discoverable credential");
  assert.equal(stored[0].rpId, "localhost");

  await page.goto(`${app.url}/account/security`);
  const item = page.locator("#passkey-list li");
  assert.equal(await item.count(), 1);
  assert.equal((await item.locator(".passkey-name").textContent()).trim(), "Laptop");
  assert.match(await item.textContent(), /ES256 · added .* · last used never/);
  await shot("47-passkeys-list");

  // Rename.
  await item.getByLabel("New name").fill("  Work laptop ");
  await submit("Rename", item);
  assert.equal(await notice(), "Your passkey has been renamed.");
  assert.equal((await page.locator("#passkey-list .passkey-name").textContent()).trim(), "Work laptop");
  await shot("48-passkey-renamed");

  // Passwordless: sign out, then the passkey alone.
  await signOut();
  await page.goto(`${app.url}/signin`);
  assert.equal(await page.getByRole("button", { name: "Sign in with a passkey" }).isVisible(), true);
  await shot("49-signin-passkey-offered");
  await submit("Sign in with a passkey");
  assert.equal(await page.locator("h1").textContent(), "Sign in with a passkey");
  await shot("50-signin-with-passkey");
  await submit("Continue with my passkey");
  assert.equal(pathOf(), "/account");
  assert.equal(await notice(), "You are signed in with your passkey.");
  assert.equal((await page.locator("#passkey-count").textContent()).trim(), "1");
  await shot("51-account-signed-in-with-passkey");
  assert.equal((await credentials())[0].signCount >= 1, true, "the authenticator signed");

  // Password + passkey as the second factor.
  await signOut();
  await signInWithPassword();
  assert.equal(pathOf(), "/signin/second-factor");
  assert.equal(await page.getByRole("button", { name: "Use my passkey" }).isVisible(), true);
  assert.equal(await page.getByLabel("Recovery code").isVisible(), true, "recovery codes are offered next to the passkey");
  await shot("52-signin-second-factor-passkey");
  await submit("Use my passkey");
  assert.equal(pathOf(), "/account");
  assert.equal(await notice(), "You are signed in.");
  await shot("53-account-after-passkey-second-factor");

  // Remove it (password again): the list is empty, the recovery codes go with the last factor.
  await page.goto(`${app.url}/account/security`);
  const listed = page.locator("#passkey-list li");
  await listed.getByLabel("Current password").fill(PASSWORD);
  await submit("Remove", listed);
  assert.equal(await notice(), "Your passkey has been removed.");
  assert.equal((await page.locator("#no-passkeys").textContent()).trim(), "You have no passkeys yet.");
  await shot("54-passkey-removed");

  // Without a second factor the password alone signs in again; the removed passkey is refused.
  await signOut();
  await signInWithPassword();
  assert.equal(pathOf(), "/account");
  await signOut();
  await page.goto(`${app.url}/signin`);
  await submit("Sign in with a passkey");
  await submit("Continue with my passkey");
  assert.equal(pathOf(), "/signin/passkey/complete");
  assert.match(await page.locator("p.error").textContent(), /not registered here/);
  await shot("55-signin-removed-passkey");

  assert.deepEqual(consoleMessages.filter((m) => /Content Security Policy|Refused to/i.test(m)), [], "no CSP violation");
});

test("without JavaScript the sign-in page hides the passkey button and the password form still works", T, async () => {
  const noScript = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 900, height: 760 } });
  try {
    const p = await noScript.newPage();
    await p.goto(`${app.url}/signin`);
    assert.equal(await p.getByRole("button", { name: "Sign in with a passkey" }).isVisible(), false);
    await p.getByLabel("Email address").fill(EMAIL);
    await p.getByLabel("Password").fill(PASSWORD);
    await Promise.all([p.waitForNavigation(), p.getByRole("button", { name: "Sign in", exact: true }).click()]);
    assert.equal(new URL(p.url()).pathname, "/account");
  } finally {
    await noScript.close();
  }
});

test("the script is a same-origin static file; no token ever appeared in a URL", async () => {
  const r = await fetch(`${app.url.replace("localhost", "127.0.0.1")}/passkeys.js`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type"), /^text\/javascript/);
  assert.match(await r.text(), /navigator\.credentials\.create/);
  assert.ok(requestedUrls.length > 10);
  for (const url of requestedUrls) assert.doesNotMatch(url, TOKEN, url);
});
