// The example app's Worker module called directly in Node with a fake FAROE binding: the paths a
// healthy faroe-worker never takes (endpoint failures, missing configuration) and the CSRF gate.
import { test } from "node:test";
import assert from "node:assert/strict";
import app from "../../examples/app/src/index.js";

const ORIGIN = "https://app.example";
const SECRET = "unit-test-app-secret-0123456789";

/** A FAROE binding answering every action invocation with `status` / `body`; records requests. */
function binding(status, body) {
  const seen = [];
  return {
    seen,
    async fetch(request) {
      seen.push({ authorization: request.headers.get("authorization"), body: await request.json() });
      return new Response(body, { status });
    },
  };
}

const env = (FAROE, extra = {}) => ({ APP_SECRET: SECRET, FAROE, ...extra });

function cookiesOf(response) {
  return Object.fromEntries(response.headers.getSetCookie().map((c) => c.split(";")[0].split("=")));
}

/** GETs a form page and returns its CSRF cookie and field. */
async function formToken(e, path = "/signin") {
  const page = await app.fetch(new Request(`${ORIGIN}${path}`), e);
  const html = await page.text();
  return { cookie: cookiesOf(page)["__Host-fw_csrf"], field: /name="csrf" value="([^"]+)"/.exec(html)[1] };
}

function post(path, form, { cookie, origin = ORIGIN } = {}) {
  const headers = { "content-type": "application/x-www-form-urlencoded" };
  if (cookie) headers.cookie = cookie;
  if (origin) headers.origin = origin;
  return new Request(`${ORIGIN}${path}`, { method: "POST", headers, body: new URLSearchParams(form).toString() });
}

test("an endpoint failure (401 from faroe-worker) shows a service-unavailable page", async (t) => {
  const logged = t.mock.method(console, "error", () => {});
  const faroe = binding(401, "missing or invalid bearer secret");
  const e = env(faroe, { FAROE_ENDPOINT_SECRET: "endpoint-secret" });
  const { cookie, field } = await formToken(e);
  const response = await app.fetch(post("/signin", { csrf: field, email: "a@example.com", password: "x" }, { cookie: `__Host-fw_csrf=${cookie}` }), e);
  assert.equal(response.status, 503);
  const html = await response.text();
  assert.match(html, /The sign-in service is not available right now\./);
  assert.doesNotMatch(html, /bearer secret/, "the endpoint's reason is logged, not shown");
  assert.equal(faroe.seen[0].authorization, "Bearer endpoint-secret");
  assert.equal(faroe.seen[0].body.action, "create_signin");
  assert.match(String(logged.mock.calls[0].arguments[0]), /endpoint error 401: missing or invalid bearer secret/);
});

test("action errors become sentences, never codes", async () => {
  const e = env(binding(200, '{"ok":false,"action_invocation_id":"x","error_code":"rate_limited"}'));
  const { cookie, field } = await formToken(e, "/signup");
  const response = await app.fetch(post("/signup", { csrf: field, email: "a@example.com" }, { cookie: `__Host-fw_csrf=${cookie}` }), e);
  assert.equal(response.status, 429);
  const html = await response.text();
  assert.match(html, /Too many attempts\. Please wait a few minutes and try again\./);
  assert.doesNotMatch(html, /rate_limited/);
});

test("POSTs without a valid CSRF token or from another origin are refused before any action", async () => {
  const faroe = binding(200, "{}");
  const e = env(faroe);
  const { cookie, field } = await formToken(e);
  const attempts = [
    post("/signin", { email: "a@example.com" }, { cookie: `__Host-fw_csrf=${cookie}` }),
    post("/signin", { csrf: field, email: "a@example.com" }),
    post("/signin", { csrf: field.slice(0, -2) + "AA", email: "a@example.com" }, { cookie: `__Host-fw_csrf=${cookie}` }),
    post("/signin", { csrf: field, email: "a@example.com" }, { cookie: `__Host-fw_csrf=${cookie}`, origin: "https://evil.example" }),
    new Request(`${ORIGIN}/signin`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: `__Host-fw_csrf=${cookie}`, origin: ORIGIN },
      body: JSON.stringify({ csrf: field }),
    }),
  ];
  for (const request of attempts) assert.equal((await app.fetch(request, e)).status, 403);
  assert.equal(faroe.seen.length, 0);
  // A token signed under another APP_SECRET is refused too.
  const other = await formToken(env(faroe, { APP_SECRET: "another-app-secret-0123456789" }));
  assert.equal((await app.fetch(post("/signin", { csrf: other.field }, { cookie: `__Host-fw_csrf=${cookie}` }), e)).status, 403);
});

test("cookies are __Host- prefixed, HttpOnly, Secure and SameSite=Lax; pages are not cacheable", async () => {
  const response = await app.fetch(new Request(`${ORIGIN}/signup`), env(binding(200, "{}")));
  const [csrf] = response.headers.getSetCookie();
  // `__Host-`: Secure, Path=/ and no Domain, enforced by the browser.
  assert.match(csrf, /^__Host-fw_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
  assert.equal(response.headers.get("cache-control"), "no-store");
  assert.match(response.headers.get("content-security-policy"), /default-src 'none'/);
});

test("missing configuration is named on a 500 page", async () => {
  const noSecret = await app.fetch(new Request(`${ORIGIN}/`), { FAROE: binding(200, "{}") });
  assert.equal(noSecret.status, 500);
  assert.match(await noSecret.text(), /APP_SECRET is not set/);
  const noBinding = await app.fetch(new Request(`${ORIGIN}/`), { APP_SECRET: SECRET });
  assert.equal(noBinding.status, 500);
  assert.match(await noBinding.text(), /FAROE service binding is missing/);
});

test("unknown pages are 404, wrong methods 405, /account without a session redirects", async () => {
  const e = env(binding(200, "{}"));
  assert.equal((await app.fetch(new Request(`${ORIGIN}/nope`), e)).status, 404);
  assert.equal((await app.fetch(new Request(`${ORIGIN}/signout`), e)).status, 405);
  const account = await app.fetch(new Request(`${ORIGIN}/account`), e);
  assert.equal(account.status, 303);
  assert.equal(account.headers.get("location"), "/signin?notice=signin-required");
});

/** A FAROE binding answering each action with `answers[action]` (a result object); records actions. */
function scripted(answers) {
  const seen = [];
  return {
    seen,
    async fetch(request) {
      const { action } = await request.json();
      seen.push(action);
      const answer = answers[action] ?? { ok: false, error_code: "internal_error" };
      return new Response(JSON.stringify({ action_invocation_id: "x", ...answer }), { status: 200 });
    },
  };
}

const NOW = Math.floor(Date.now() / 1000);
const SIGNIN = {
  ok: true,
  values: {
    signin_token: "signin-token",
    signin: { id: "s", user_id: "u", user_first_factor_verified: false, created_at: NOW, expires_at: NOW + 600 },
  },
};

async function signinAttempt(answers) {
  const e = env(scripted(answers));
  const { cookie, field } = await formToken(e);
  const started = Date.now();
  const response = await app.fetch(post("/signin", { csrf: field, email: "a@example.com", password: "wrong password" }, { cookie: `__Host-fw_csrf=${cookie}` }), e);
  const error = /<p class="error" role="alert">([^<]*)<\/p>/.exec(await response.text())?.[1];
  return { status: response.status, error, elapsed: Date.now() - started, actions: e.FAROE.seen };
}

test("sign-in answers the same for an unknown address, a disabled account, a wrong password and the per-account limit", async () => {
  const outcomes = {
    unknown: await signinAttempt({ create_signin: { ok: false, error_code: "user_not_found" } }),
    disabled: await signinAttempt({ create_signin: { ok: false, error_code: "user_disabled" } }),
    wrongPassword: await signinAttempt({
      create_signin: SIGNIN, verify_signin_user_password: { ok: false, error_code: "incorrect_password" }, delete_signin: { ok: true, values: {} },
    }),
    accountLimit: await signinAttempt({
      create_signin: SIGNIN, verify_signin_user_password: { ok: false, error_code: "rate_limited" }, delete_signin: { ok: true, values: {} },
    }),
  };
  for (const [name, o] of Object.entries(outcomes)) {
    assert.equal(o.status, 400, name);
    assert.equal(o.error, "That email address and password do not match an account. After several failed attempts, wait a few minutes before trying again.", name);
    // The response waits for the same floor whether or not a password was hashed (setTimeout may
    // round a millisecond down).
    assert.ok(o.elapsed >= 990, `${name} answered after ${o.elapsed} ms`);
  }
  assert.deepEqual(outcomes.unknown.actions, ["create_signin"]);
  assert.deepEqual(outcomes.wrongPassword.actions, ["create_signin", "verify_signin_user_password", "delete_signin"]);
  // The per-IP limit applies to every address alike, so it keeps its own message.
  const ipLimited = await signinAttempt({ create_signin: { ok: false, error_code: "rate_limited" } });
  assert.equal(ipLimited.status, 429);
  assert.match(ipLimited.error, /Too many attempts/);
});

test("a form body over 8 KiB is refused with 413 before it is read or any action runs", async () => {
  const faroe = binding(200, '{"ok":false,"action_invocation_id":"x","error_code":"rate_limited"}');
  const e = env(faroe);
  const { cookie, field } = await formToken(e);
  const big = { csrf: field, email: "a@example.com", padding: "x".repeat(9 * 1024) };
  // Declared length over the limit (as the runtime passes it on from the wire).
  const withLength = (form, length) => {
    const body = new URLSearchParams(form).toString();
    return new Request(`${ORIGIN}/signin`, {
      method: "POST",
      headers: {
        "content-type": "application/x-www-form-urlencoded", cookie: `__Host-fw_csrf=${cookie}`, origin: ORIGIN,
        "content-length": length ?? String(Buffer.byteLength(body)),
      },
      body,
    });
  };
  const declared = await app.fetch(withLength(big), e);
  assert.equal(declared.status, 413);
  assert.match(await declared.text(), /Form too large/);
  // No length (a chunked stream): refused once the limit is passed, the rest never pulled.
  let pulled = 0;
  const chunk = new TextEncoder().encode(`csrf=${field}&padding=${"x".repeat(1024)}`);
  const endless = new ReadableStream({
    pull(controller) {
      pulled++;
      controller.enqueue(chunk);
    },
  });
  const chunked = new Request(`${ORIGIN}/signin`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", cookie: `__Host-fw_csrf=${cookie}`, origin: ORIGIN },
    body: endless,
    duplex: "half",
  });
  assert.equal(chunked.headers.get("content-length"), null);
  assert.equal((await app.fetch(chunked, e)).status, 413);
  assert.ok(pulled <= 12, `${pulled} chunks pulled`);
  assert.equal(faroe.seen.length, 0, "no action ran");
  // A non-numeric length is refused too; a form under the limit gets through to the CSRF check.
  assert.equal((await app.fetch(withLength({ csrf: field }, "12abc"), e)).status, 413);
  const small = await app.fetch(post("/signup", { csrf: field, email: "a@example.com", padding: "x".repeat(7 * 1024) }, { cookie: `__Host-fw_csrf=${cookie}` }), e);
  assert.equal(small.status, 429, "the small form reached the action");
  assert.equal(faroe.seen.length, 1, "the small form reached the auth server");
});

test("passkeys: /passkeys.js is a same-origin static script; only pages with a passkey button allow it, nothing inline", async () => {
  const faroe = binding(200, "{}");
  const script = await app.fetch(new Request(`${ORIGIN}/passkeys.js`), env(faroe));
  assert.equal(script.status, 200);
  assert.match(script.headers.get("content-type"), /^text\/javascript/);
  assert.match(script.headers.get("content-security-policy"), /^default-src 'none'/);
  const source = await script.text();
  assert.match(source, /navigator\.credentials\.get/);
  assert.doesNotThrow(() => new Function(source), "the script parses");

  const csp = async (e) => {
    const page = await app.fetch(new Request(`${ORIGIN}/signin`), e);
    return { policy: page.headers.get("content-security-policy"), html: await page.text() };
  };
  const plain = await csp(env(faroe));
  assert.doesNotMatch(plain.policy, /script-src/, "without PASSKEYS the sign-in page runs no script");
  assert.doesNotMatch(plain.html, /<script|Sign in with a passkey/);
  const offered = await csp(env(faroe, { PASSKEYS: "true" }));
  const directives = offered.policy.split(";").map((d) => d.trim());
  assert.ok(directives.includes("default-src 'none'") && directives.includes("script-src 'self'"), offered.policy);
  assert.doesNotMatch(offered.policy, /unsafe-inline'[^;]*script|script-src[^;]*unsafe/);
  assert.match(offered.html, /<script src="\/passkeys\.js" defer><\/script>/);
  assert.match(offered.html, /<div data-passkey-only hidden>/, "the passkey button is hidden until the script finds WebAuthn");
  assert.equal(faroe.seen.length, 0, "showing the button starts no passkey sign-in");
});

test("the email language is the browser's most preferred Accept-Language tag", async () => {
  const { emailLanguageFrom } = await import("../../examples/app/src/language.js");
  assert.equal(emailLanguageFrom(null), null);
  assert.equal(emailLanguageFrom(""), null);
  assert.equal(emailLanguageFrom("de-DE,de;q=0.9,en;q=0.8"), "de-DE");
  assert.equal(emailLanguageFrom("en;q=0.5, fr-CH;q=0.9, *;q=1"), "fr-CH");
  assert.equal(emailLanguageFrom("*, de;q=0"), null, "wildcards and q=0 name no language");
  assert.equal(emailLanguageFrom("<script>, en\r\nX: y"), null, "malformed tags are dropped");
  assert.equal(emailLanguageFrom("de;q=abc, en;q=0.1"), "en");
});
