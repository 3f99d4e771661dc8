// Abuse limits beyond Faroe (off by default): the per-IP limit for the unauthenticated entry
// points (the IP_RATE_LIMITER binding, then the Durable Object token bucket), where its client
// address comes from, and the Turnstile-protected `/captcha` endpoint (siteverify mocked locally).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { readFileSync } from "node:fs";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import {
  startWorker, startEmailCapture, invoke, post, root, rateLimitWindowWithRoom, SECRET, FAST_ALGORITHMS,
  jsonLogLines, sleep,
} from "./harness.mjs";

/** Sign-ins the IP_RATE_LIMITER binding (wrangler.toml) lets through per minute before the bucket. */
const ALLOWANCE = Number(/^simple = \{ limit = (\d+), period = 60 \}$/m.exec(readFileSync(join(root, "wrangler.toml"), "utf8"))[1]);
const BURST = 3;

let worker, email, siteverify;
const verifications = [];
before(async () => {
  siteverify = createServer(async (req, res) => {
    let body = "";
    for await (const c of req) body += c;
    const form = new URLSearchParams(body);
    verifications.push(Object.fromEntries(form));
    if (form.get("response") === "siteverify-down-token") return res.writeHead(502).end();
    const success = form.get("secret") === "turnstile-secret" && form.get("response") === "good-token";
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ success }));
  });
  await new Promise((r) => siteverify.listen(0, "127.0.0.1", r));
  email = await startEmailCapture();
  worker = await startWorker({
    vars: {
      ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      IP_RATE_LIMIT_PER_MINUTE: "1", IP_RATE_LIMIT_BURST: String(BURST),
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

/** create_signin attempts with `headers` until one is refused with 429; how many were served. */
async function servedUntilRefused(headers, max = 20) {
  for (let i = 0; i < max; i++) {
    const r = await invoke(worker.url, "create_signin", { user_email_address: `nobody${i}@example.com` }, { headers });
    if (r.status === 429) {
      assert.equal(r.headers.get("retry-after"), "60");
      assert.equal(r.headers.get("cache-control"), "no-store");
      assert.equal(r.json, undefined);
      return i;
    }
    assert.equal(r.json?.error_code, "user_not_found", r.text);
  }
  return max;
}

test("per-IP limit: the binding's allowance, then the bucket's burst; then 429 for the entry points only", async () => {
  const ip = { "CF-Connecting-IP": "203.0.113.9" };
  await rateLimitWindowWithRoom();
  assert.equal(await servedUntilRefused(ip), ALLOWANCE + BURST);
  // The same address is limited for password resets too (one bucket per IP).
  assert.equal((await invoke(worker.url, "create_user_password_reset", { user_email_address: "nobody@example.com" }, { headers: ip })).status, 429);
  // Token-bearing actions are not limited.
  const s = await invoke(worker.url, "get_session", { session_token: "a.b" }, { headers: ip });
  assert.equal(s.json.error_code, "invalid_session_token");
});

/** The files of the rate-limit Durable Objects in the worker's local state (one SQLite file per object). */
async function rateLimitObjectFiles() {
  const files = await readdir(worker.persistTo, { recursive: true });
  return files.filter((f) => f.includes("RateLimitStore")).sort();
}

test("an address within the binding's allowance touches no Durable Object; past it, its bucket is written", async () => {
  const fresh = { "CF-Connecting-IP": "203.0.113.123" };
  await rateLimitWindowWithRoom();
  const before = await rateLimitObjectFiles();
  for (let i = 0; i < ALLOWANCE; i++) {
    const r = await invoke(worker.url, "create_signin", { user_email_address: "nobody@example.com" }, { headers: fresh });
    assert.equal(r.json?.error_code, "user_not_found", r.text);
  }
  assert.deepEqual(await rateLimitObjectFiles(), before, `${ALLOWANCE} gated requests created no rate-limit object`);
  const over = await invoke(worker.url, "create_signin", { user_email_address: "nobody@example.com" }, { headers: fresh });
  assert.equal(over.json?.error_code, "user_not_found", "the bucket's burst serves it");
  const after = await rateLimitObjectFiles();
  assert.ok(after.length > before.length, "the request over the allowance wrote its bucket (the check above can see one)");
  console.log(`rate-limit objects: ${before.length} before, ${before.length} after ${ALLOWANCE} requests within the allowance, ${after.length} after one more`);
});

test("an authenticated caller's X-Faroe-Client-Address is the address; IPv6 is keyed by /64", async () => {
  // The caller's own CF-Connecting-IP is the same for every user; the header names the user.
  const via = (address) => ({ "CF-Connecting-IP": "192.0.2.200", "X-Faroe-Client-Address": address });
  await rateLimitWindowWithRoom(30_000);
  assert.equal(await servedUntilRefused(via("2001:db8:5:6::1")), ALLOWANCE + BURST);
  assert.equal(await servedUntilRefused(via("2001:db8:5:6:ab:cd:ef:1")), 0, "same /64");
  assert.equal(await servedUntilRefused(via("2001:db8:5:7::1")), ALLOWANCE + BURST, "next /64");
  // An IPv4-mapped IPv6 address is its IPv4 address.
  assert.equal(await servedUntilRefused(via("198.51.100.20")), ALLOWANCE + BURST);
  assert.equal(await servedUntilRefused(via("::ffff:198.51.100.20")), 0);
});

test("a Worker's subrequest (CF-Worker) is never keyed by its egress address", async () => {
  const egress = { "CF-Connecting-IP": "192.0.2.77", "CF-Worker": "other-app.example" };
  const attempts = ALLOWANCE + BURST + 3;
  assert.equal(await servedUntilRefused(egress, attempts), attempts, "never refused");
  // The operator hears about it, once per isolate rather than per request.
  // Log lines reach the test asynchronously: wait (bounded) for the first one.
  const countWarnings = () => worker.logs.filter((l) => l.includes("per-IP limit skipped: no client address")).length;
  for (let i = 0; i < 50 && countWarnings() === 0; i++) await sleep(100);
  const warnings = countWarnings();
  assert.ok(warnings >= 1 && warnings < attempts, `${warnings} warnings`);
});

test("a malformed X-Faroe-Client-Address is a 400 that changes nothing", async () => {
  const before = email.messages.length;
  const checked = verifications.length;
  for (const bad of ["", "nonsense", "203.0.113.9:443", "[2001:db8::1]", "2001:db8::1%eth0", "203.0.113.9, 10.0.0.1", "1.2.3"]) {
    const r = await post(captchaUrl(), JSON.stringify({ action: "create_signup", arguments: { email_address: "bad-address@example.com" } }), {
      headers: { "X-Faroe-Client-Address": bad, "X-Captcha-Token": "good-token" },
    });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.match(r.text, /X-Faroe-Client-Address must be one IPv4 or IPv6 address/);
  }
  assert.equal(email.messages.length, before, "no code email");
  assert.equal(verifications.length, checked, "refused before the captcha token was spent");
  // The signup was never created: the first real one sends its code and gets a full bucket.
  const ok = await post(captchaUrl(), JSON.stringify({ action: "create_signup", arguments: { email_address: "bad-address@example.com" } }), {
    headers: { "X-Faroe-Client-Address": "203.0.113.44", "X-Captcha-Token": "good-token" },
  });
  assert.equal(ok.json.ok, true, ok.text);
  assert.equal(verifications.at(-1).remoteip, "203.0.113.44", "Turnstile gets the end user's address");
  assert.equal(email.messages.filter((m) => m.to === "bad-address@example.com").length, 1);
});

test("every answer carries Cache-Control: no-store, errors included", async () => {
  const body = JSON.stringify({ action: "get_session", arguments: { session_token: "a.b" } });
  const signup = JSON.stringify({ action: "create_signup", arguments: { email_address: "nostore@example.com" } });
  const limited = { "CF-Connecting-IP": "203.0.113.99" };
  await rateLimitWindowWithRoom();
  await servedUntilRefused(limited);
  const answers = {
    200: await post(worker.url, body),
    400: await post(worker.url, "not json"),
    401: await post(worker.url, body, { secret: null }),
    403: await post(captchaUrl(), signup),
    404: await post(new URL("/nope", worker.url).toString(), body),
    405: await fetch(worker.url),
    413: await post(worker.url, JSON.stringify({ pad: "x".repeat(70 * 1024) })),
    429: await invoke(worker.url, "create_signin", { user_email_address: "a@example.com" }, { headers: limited }),
    503: await post(captchaUrl(), signup, { headers: { "X-Captcha-Token": "siteverify-down-token" } }),
  };
  for (const [status, r] of Object.entries(answers)) {
    assert.equal(r.status, Number(status));
    assert.equal(r.headers.get("cache-control"), "no-store", `HTTP ${status}`);
  }
  // 500 (no secret and no ALLOW_UNAUTHENTICATED_ENDPOINT) is asserted in http.test.mjs.
});

test("without a bearer secret, X-Faroe-Client-Address and CF-Worker are ignored: CF-Connecting-IP counts", async () => {
  const open = await startWorker({
    vars: { ...FAST_ALGORITHMS, ALLOW_UNAUTHENTICATED_ENDPOINT: "true", IP_RATE_LIMIT_PER_MINUTE: "1", IP_RATE_LIMIT_BURST: String(BURST) },
  });
  try {
    let served = 0;
    await rateLimitWindowWithRoom();
    for (let i = 0; i < ALLOWANCE + BURST + 2; i++) {
      // A new spoofed address every time, from one real address; every other request also claims
      // to be a Worker's subrequest, which would switch the limit off if it were believed.
      const headers = { "CF-Connecting-IP": "203.0.113.50", "X-Faroe-Client-Address": `198.18.0.${i + 1}` };
      if (i % 2 === 1) headers["CF-Worker"] = "spoofed.example";
      const r = await invoke(open.url, "create_signin", { user_email_address: "nobody@example.com" }, { secret: null, headers });
      if (r.status === 429) break;
      assert.equal(r.json?.error_code, "user_not_found", r.text);
      served++;
    }
    console.log(`spoofed X-Faroe-Client-Address without the secret: served ${served}, then 429`);
    assert.equal(served, ALLOWANCE + BURST);
  } finally {
    await open.stop();
  }
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

test("siteverify unreachable: /captcha answers 503, logs a turnstile line, and the action does not run", async () => {
  const address = `siteverify-down-${Date.now()}@example.com`;
  const body = JSON.stringify({ action: "create_signup", arguments: { email_address: address } });
  const turnstileLines = () => jsonLogLines(worker.logs).filter((l) => l.component === "turnstile" && l.level === "error").length;
  const linesBefore = turnstileLines();
  const r = await post(captchaUrl(), body, { headers: { "X-Captcha-Token": "siteverify-down-token" } });
  assert.equal(r.status, 503);
  assert.equal(verifications.at(-1).response, "siteverify-down-token", "siteverify was asked");
  for (let i = 0; i < 20 && turnstileLines() === linesBefore; i++) await sleep(100);
  assert.equal(turnstileLines(), linesBefore + 1, "one turnstile error line");
  // The signup was never created: the first real request sends the address its first code.
  const ok = await post(captchaUrl(), body, { headers: { "X-Captcha-Token": "good-token" } });
  assert.equal(ok.json?.ok, true, ok.text);
  assert.equal(email.messages.filter((m) => m.to === address).length, 1);
});
