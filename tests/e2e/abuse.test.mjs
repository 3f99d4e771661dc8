// Abuse limits beyond Faroe (off by default): the per-IP token bucket for the unauthenticated
// entry points, and the Turnstile-protected `/captcha` endpoint (siteverify mocked locally).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { startWorker, startEmailCapture, invoke, post, SECRET, FAST_ALGORITHMS } from "./harness.mjs";

let worker, email, siteverify;
const verifications = [];
before(async () => {
  siteverify = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const form = new URLSearchParams(body);
    verifications.push(Object.fromEntries(form));
    const success = form.get("secret") === "turnstile-secret" && form.get("response") === "good-token";
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success }));
  });
  await new Promise((r) => siteverify.listen(0, "127.0.0.1", r));
  email = await startEmailCapture();
  worker = await startWorker({
    vars: {
      ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      IP_RATE_LIMIT_PER_MINUTE: "1", IP_RATE_LIMIT_BURST: "3",
      TURNSTILE_SECRET_KEY: "turnstile-secret",
      TURNSTILE_SITEVERIFY_URL: `http://127.0.0.1:${siteverify.address().port}/siteverify`,
      ACTION_BLOCKLIST: "create_signup",
    },
  });
});
after(async () => {
  await worker?.stop();
  await email?.close();
  await new Promise((r) => siteverify.close(r));
});

const captchaUrl = () => new URL("/captcha", worker.url).toString();

test("per-IP bucket: the unauthenticated entry points are limited per address, others are not", async () => {
  const ip = { "CF-Connecting-IP": "203.0.113.9" };
  const results = [];
  for (let i = 0; i < 4; i++) {
    results.push(await invoke(worker.url, "create_signin", { user_email_address: `nobody${i}@example.com` }, { headers: ip }));
  }
  assert.deepEqual(results.slice(0, 3).map((r) => r.json?.error_code), ["user_not_found", "user_not_found", "user_not_found"]);
  assert.equal(results[3].status, 429);
  assert.equal(results[3].headers.get("retry-after"), "60");
  assert.equal(results[3].json, undefined);
  // The same address is limited for password resets too (one bucket per IP).
  assert.equal((await invoke(worker.url, "create_user_password_reset", { user_email_address: "nobody@example.com" }, { headers: ip })).status, 429);
  // Token-bearing actions are not limited.
  const s = await invoke(worker.url, "get_session", { session_token: "a.b" }, { headers: ip });
  assert.equal(s.json.error_code, "invalid_session_token");
});

test("/captcha: requires a valid X-Captcha-Token, and serves what the plain endpoint blocks", async () => {
  const body = JSON.stringify({ action: "create_signup", arguments: { email_address: `captcha-${Date.now()}@example.com` } });
  const plain = await post(worker.url, body);
  assert.equal(plain.status, 400, "create_signup is blocklisted on the plain endpoint");
  const missing = await post(captchaUrl(), body);
  assert.equal(missing.status, 403);
  const bad = await post(captchaUrl(), body, { headers: { "X-Captcha-Token": "bad-token" } });
  assert.equal(bad.status, 403);
  const good = await post(captchaUrl(), body, { headers: { "X-Captcha-Token": "good-token" } });
  assert.equal(good.status, 200);
  assert.equal(good.json.ok, true, good.text);
  const last = verifications[verifications.length - 1];
  assert.equal(last.secret, "turnstile-secret");
  assert.equal(last.response, "good-token");
  // The bearer secret is still required on /captcha.
  assert.equal((await post(captchaUrl(), body, { secret: null, headers: { "X-Captcha-Token": "good-token" } })).status, 401);
  assert.equal((await fetch(captchaUrl())).status, 405);
});
