// The example app's "Recent activity" page (faroe-worker's security_events extension) in headless
// Debian Chromium: a user signs up, turns two-factor authentication on, is refused a wrong
// password, signs in with a code, changes the password, signs out everywhere and signs in again;
// the page then lists those events newest first with their time and address. Screenshots go to
// test-artifacts/screenshots/ (50-…).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { chromium } from "playwright-core";
import { root, SECRET, FAST_ALGORITHMS, startEmailCapture, startExampleApp } from "../../tests/e2e/harness.mjs";
import { base32Decode, currentStep, hotp } from "../../tests/e2e/totp-codes.mjs";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const SCREENSHOTS = join(root, "test-artifacts", "screenshots");
const run = Date.now().toString(36);
const EMAIL = `grace-${run}@example.com`;
const PASSWORD = "correct horse battery 1";
const NEW_PASSWORD = "second staple tango 22";

let capture, app, browser, page;

const pathOf = (p) => new URL(p.url()).pathname;
const shot = (name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });

async function submit(name) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), page.getByRole("button", { name, exact: true }).click()]);
}

async function signIn(password) {
  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(EMAIL);
  await page.getByLabel("Password").fill(password);
  await submit("Sign in");
}

/** The activity table as [type, detail, what, from] rows, newest first. */
async function activityRows() {
  return page.locator("#activity tbody tr").evaluateAll((rows) => rows.map((r) => [
    r.dataset.type, r.dataset.detail, r.querySelector(".what").textContent.trim(), r.querySelector(".from").textContent.trim(),
  ]));
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    execFileSync("sh", ["-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"], { stdio: "inherit" });
  }
  if (!existsSync(join(root, "build", "index.js"))) execFileSync("bash", ["scripts/build.sh"], { cwd: root, stdio: "inherit" });
  await mkdir(SCREENSHOTS, { recursive: true });
  capture = await startEmailCapture();
  const started = await startExampleApp({
    faroeVars: {
      ...capture.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, PASSWORD_BREACH_CHECK: "off",
      SESSION_CACHE_EXPIRATION_SECONDS: "0",
      EXTENSIONS: "totp,security_events", TOTP_ENCRYPTION_KEYS: `activity:${randomBytes(32).toString("base64")}`,
    },
    appVars: { APP_SECRET: `activity-test-app-secret-${run}` },
  });
  // Served as localhost: a secure context, so Chromium keeps the app's Secure cookies on http.
  app = { ...started, url: new URL(started.url).origin.replace("127.0.0.1", "localhost") };
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  page = await (await browser.newContext({ viewport: { width: 900, height: 760 } })).newPage();
}, { timeout: 600_000 });

after(async () => {
  await browser?.close();
  if (app) await writeFile(join(root, "test-artifacts", "activity-wrangler.log"), app.logs.join("\n") + "\n");
  await app?.stop();
  await capture?.close();
});

test("recent activity lists sign-ins, a refused password, two-factor use and account changes, newest first", { timeout: 180_000 }, async () => {
  // Sign up: nothing recorded yet.
  await page.goto(`${app.url}/signup`);
  await page.getByLabel("Email address").fill(EMAIL);
  await submit("Continue");
  await page.getByLabel("Verification code").fill(capture.last("signup_email_address_verification_code", EMAIL).data.email_address_verification_code);
  await submit("Confirm");
  await page.getByLabel("Password").fill(PASSWORD);
  await submit("Create account");
  assert.equal(pathOf(page), "/account");
  await Promise.all([page.waitForURL("**/account/activity"), page.getByRole("link", { name: "Recent activity" }).click()]);
  assert.equal(await page.locator("h1").textContent(), "Recent activity");
  assert.equal(await page.locator("#activity-empty").textContent(), "Nothing yet.");
  await shot("57-activity-empty");

  // Password checks of this user are limited to 5 a minute: this test uses exactly 5.
  // 1: two-factor authentication on.
  await page.goto(`${app.url}/account/security`);
  await page.getByLabel("Current password").fill(PASSWORD);
  await submit("Turn on two-factor authentication");
  const key = base32Decode((await page.locator("#totp-key").textContent()).replace(/\s+/g, ""));
  const step = currentStep();
  await page.getByLabel("6-digit code from the app").fill(hotp(key, step));
  await submit("Turn on");
  assert.equal(await page.locator("h1").textContent(), "Two-factor authentication is on");
  await page.goto(`${app.url}/account`);
  await submit("Sign out");
  // 2: a wrong password. 3: the right one, then a code (the step after the enrollment's).
  await signIn("not my password 0");
  assert.equal(pathOf(page), "/signin");
  await signIn(PASSWORD);
  assert.equal(pathOf(page), "/signin/second-factor");
  await page.getByLabel("Authentication code").fill(hotp(key, step + 1));
  await submit("Verify");
  assert.equal(pathOf(page), "/account");
  // 4: password change; then sign out everywhere.
  await page.goto(`${app.url}/account/password`);
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill(NEW_PASSWORD);
  await submit("Change password");
  assert.equal(pathOf(page), "/account");
  await submit("Sign out everywhere");
  assert.equal(pathOf(page), "/signin");
  // 5: back in with a code of a later step (each step's code works once): wait for the next step.
  while (currentStep() < step + 1) await new Promise((r) => setTimeout(r, 500));
  await signIn(NEW_PASSWORD);
  await page.getByLabel("Authentication code").fill(hotp(key, step + 2));
  await submit("Verify");
  assert.equal(pathOf(page), "/account");
  await Promise.all([page.waitForURL("**/account/activity"), page.getByRole("link", { name: "Recent activity" }).click()]);
  const rows = await activityRows();
  assert.deepEqual(rows.map(([type, detail]) => detail ? `${type}:${detail}` : type), [
    "signin_succeeded",
    "second_factor_used:totp",
    "sessions_revoked:all",
    "password_updated",
    "signin_succeeded",
    "second_factor_used:totp",
    "signin_password_incorrect",
    "second_factor_added:totp",
  ]);
  assert.equal(rows[6][2], "Sign-in refused: wrong password");
  assert.equal(rows[2][2], "Signed out everywhere");
  assert.equal(rows[1][2], "Second sign-in step passed with the authenticator app");
  // The app passes the browser's address (CF-Connecting-IP) to faroe-worker with each call.
  const from = new Set(rows.map((r) => r[3]));
  assert.equal(from.size, 1, [...from].join(", "));
  assert.match([...from][0], /^(127\.0\.0\.1|::1|unknown)$/);
  assert.equal(await page.locator("#activity tr.warn").count(), 1, "the refused password stands out");
  const times = await page.locator("#activity td.when").allTextContents();
  assert.ok(times.every((t) => /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/.test(t)), times.join(" | "));
  await shot("58-activity");
});
