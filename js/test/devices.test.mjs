// The example app's devices page (faroe-worker's `sessions` extension) in headless Debian Chromium
// through playwright-core: a "laptop" and a "phone" browser context (different User-Agents, so
// different client labels) sign in to one account; the laptop lists both, signs the phone out
// with "Sign out this device", the phone finds itself signed out; a stale button answers "already
// signed out"; a hostile User-Agent is shown as text. Screenshots go to test-artifacts/screenshots/
// (devices-*.png). Also unit tests of the app's User-Agent → label rule.
import { test, before, after, describe } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { root, FAST_ALGORITHMS, startEmailCapture, startExampleApp } from "../../tests/e2e/harness.mjs";
import { clientLabelFrom } from "../../examples/app/src/devices.js";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];
const SCREENSHOTS = join(root, "test-artifacts", "screenshots");
const IPHONE =
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const HOSTILE = "<img src=x onerror=alert(1)> bot";

describe("the app's client label from the User-Agent", () => {
  test("browser on system, shortened, printable", () => {
    assert.equal(clientLabelFrom(IPHONE), "Safari on iPhone");
    assert.equal(clientLabelFrom(FIREFOX_LINUX), "Firefox on Linux");
    assert.equal(clientLabelFrom("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"), "Edge on Windows");
    assert.equal(clientLabelFrom("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"), "Chrome on macOS");
    assert.equal(clientLabelFrom("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36"), "Chrome on Android");
    assert.equal(clientLabelFrom("curl/8.5.0"), "curl/8.5.0");
    assert.equal(clientLabelFrom("x".repeat(300)).length, 48);
    assert.equal(clientLabelFrom("tool\u0007\u00e9/1"), "tool/1");
    assert.equal(clientLabelFrom(""), null);
    assert.equal(clientLabelFrom(null), null);
  });
});

const run = Date.now().toString(36);
const EMAIL = `grace-${run}@example.com`;
const PASSWORD = "devices page password 1";

let capture, app, browser;
let laptop, phone;

function ensureChromium() {
  if (existsSync(CHROMIUM)) return;
  console.log(`devices test: ${CHROMIUM} is missing; installing it with apt-get`);
  execFileSync("sh", ["-c", "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium"], { stdio: "inherit" });
  assert.ok(existsSync(CHROMIUM));
}

async function newPage(userAgent) {
  const context = await browser.newContext({ viewport: { width: 900, height: 760 }, ...(userAgent ? { userAgent } : {}) });
  return context.newPage();
}

const pathOf = (page) => new URL(page.url()).pathname;
const shot = (page, name) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
const noticeText = async (page) => (await page.locator("p.notice").textContent())?.trim();

async function submit(page, locator) {
  await Promise.all([page.waitForNavigation({ waitUntil: "load" }), locator.click()]);
}
const button = (page, name) => page.getByRole("button", { name, exact: true });

async function signUp(page) {
  await page.goto(`${app.url}/signup`);
  await page.getByLabel("Email address").fill(EMAIL);
  await submit(page, button(page, "Continue"));
  const code = capture.last("signup_email_address_verification_code", EMAIL).data.email_address_verification_code;
  await page.getByLabel("Verification code").fill(code);
  await submit(page, button(page, "Confirm"));
  await page.getByLabel("Password").fill(PASSWORD);
  await submit(page, button(page, "Create account"));
  assert.equal(pathOf(page), "/account");
}

async function signIn(page) {
  await page.goto(`${app.url}/signin`);
  await page.getByLabel("Email address").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await submit(page, button(page, "Sign in"));
  assert.equal(pathOf(page), "/account");
}

/** The devices page's rows: { label, current, hasButton }. */
async function rows(page) {
  return page.locator("li.device").evaluateAll((items) => items.map((li) => ({
    label: li.querySelector(".device-label").textContent,
    current: li.querySelector(".this-device") !== null,
    hasButton: li.querySelector("button") !== null,
  })));
}

describe("devices page", () => {
  before(async () => {
    ensureChromium();
    if (!existsSync(join(root, "build", "index.js"))) execFileSync("bash", ["scripts/build.sh"], { cwd: root, stdio: "inherit" });
    await mkdir(SCREENSHOTS, { recursive: true });
    capture = await startEmailCapture();
    const started = await startExampleApp({
      faroeVars: { ...capture.vars, ...FAST_ALGORITHMS, SESSION_CACHE_EXPIRATION_SECONDS: "0", EXTENSIONS: "sessions" },
      appVars: { APP_SECRET: `devices-test-app-secret-${run}` },
    });
    // Served as localhost: a secure context, so Chromium keeps the app's Secure cookies on http.
    app = { ...started, url: new URL(started.url).origin.replace("127.0.0.1", "localhost") };
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    laptop = await newPage(FIREFOX_LINUX);
    phone = await newPage(IPHONE);
  }, { timeout: 600_000 });

  after(async () => {
    await browser?.close();
    if (app) await writeFile(join(root, "test-artifacts", "devices-wrangler.log"), app.logs.join("\n") + "\n");
    await app?.stop();
    await capture?.close();
  });

  const T = { timeout: 120_000 };

  test("the account page links to the device list; both devices are listed with their labels", T, async () => {
    await signUp(laptop);
    assert.equal((await laptop.locator("#devices-link").textContent()).trim(), "Devices (1)");
    // Sessions are listed newest first by creation time in whole seconds: sign the phone in a
    // later second, so the order below does not depend on a tie.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await signIn(phone);
    await laptop.goto(`${app.url}/account`);
    assert.equal((await laptop.locator("#devices-link").textContent()).trim(), "Devices (2)");
    await shot(laptop, "devices-01-account-link");
    await submit(laptop, laptop.locator("#devices-link"));
    assert.equal(pathOf(laptop), "/account/devices");
    assert.deepEqual(await rows(laptop), [
      { label: "Safari on iPhone", current: false, hasButton: true },
      { label: "Firefox on Linux", current: true, hasButton: false },
    ]);
    await shot(laptop, "devices-02-list");
  });

  test("sign out this device: the phone's session ends, the laptop stays", T, async () => {
    await laptop.goto(`${app.url}/account/devices`);
    await submit(laptop, laptop.locator("li.device", { hasText: "Safari on iPhone" }).getByRole("button", { name: "Sign out this device" }));
    assert.equal(pathOf(laptop), "/account/devices");
    assert.equal(await noticeText(laptop), "That device has been signed out.");
    assert.deepEqual(await rows(laptop), [{ label: "Firefox on Linux", current: true, hasButton: false }]);
    await shot(laptop, "devices-03-signed-out-other");
    await phone.goto(`${app.url}/account`);
    assert.equal(pathOf(phone), "/signin");
    assert.equal(await noticeText(phone), "Your session has ended. Please sign in again.");
    await shot(phone, "devices-04-phone-signed-out");
  });

  test("a stale button for a device that already signed out says so and changes nothing", T, async () => {
    await signIn(phone);
    await laptop.goto(`${app.url}/account/devices`);
    assert.equal((await rows(laptop)).length, 2);
    // The phone signs itself out while the laptop's page still shows it.
    await submit(phone, button(phone, "Sign out"));
    await submit(laptop, laptop.locator("li.device", { hasText: "Safari on iPhone" }).getByRole("button", { name: "Sign out this device" }));
    assert.equal(await noticeText(laptop), "That device was already signed out.");
    assert.deepEqual(await rows(laptop), [{ label: "Firefox on Linux", current: true, hasButton: false }]);
    await shot(laptop, "devices-05-already-signed-out");
  });

  test("a hostile User-Agent is shown as text, never as markup", T, async () => {
    const odd = await newPage(HOSTILE);
    await signIn(odd);
    await laptop.goto(`${app.url}/account/devices`);
    const labels = (await rows(laptop)).map((r) => r.label);
    assert.ok(labels.includes(HOSTILE), JSON.stringify(labels));
    assert.equal(await laptop.locator("li.device img").count(), 0);
    await shot(laptop, "devices-06-hostile-label-escaped");
    await odd.context().close();
  });
});
