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
  return { cookie: cookiesOf(page).fw_csrf, field: /name="csrf" value="([^"]+)"/.exec(html)[1] };
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
  const response = await app.fetch(post("/signin", { csrf: field, email: "a@example.com", password: "x" }, { cookie: `fw_csrf=${cookie}` }), e);
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
  const response = await app.fetch(post("/signup", { csrf: field, email: "a@example.com" }, { cookie: `fw_csrf=${cookie}` }), e);
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
    post("/signin", { email: "a@example.com" }, { cookie: `fw_csrf=${cookie}` }),
    post("/signin", { csrf: field, email: "a@example.com" }),
    post("/signin", { csrf: field.slice(0, -2) + "AA", email: "a@example.com" }, { cookie: `fw_csrf=${cookie}` }),
    post("/signin", { csrf: field, email: "a@example.com" }, { cookie: `fw_csrf=${cookie}`, origin: "https://evil.example" }),
    new Request(`${ORIGIN}/signin`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie: `fw_csrf=${cookie}`, origin: ORIGIN },
      body: JSON.stringify({ csrf: field }),
    }),
  ];
  for (const request of attempts) assert.equal((await app.fetch(request, e)).status, 403);
  assert.equal(faroe.seen.length, 0);
  // A token signed under another APP_SECRET is refused too.
  const other = await formToken(env(faroe, { APP_SECRET: "another-app-secret-0123456789" }));
  assert.equal((await app.fetch(post("/signin", { csrf: other.field }, { cookie: `fw_csrf=${cookie}` }), e)).status, 403);
});

test("cookies are HttpOnly, Secure and SameSite=Lax; pages are not cacheable", async () => {
  const response = await app.fetch(new Request(`${ORIGIN}/signup`), env(binding(200, "{}")));
  const [csrf] = response.headers.getSetCookie();
  assert.match(csrf, /^fw_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
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
