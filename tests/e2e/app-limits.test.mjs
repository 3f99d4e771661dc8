// Abuse limits through the recommended integration: the example app (examples/app) calling
// faroe-worker through its FAROE service binding with the bearer secret, as scripts/example.sh
// runs it. The app forwards its own CF-Connecting-IP as X-Faroe-Client-Address; faroe-worker's
// per-IP gate keys by it (IPv6 by /64), and its mailbox bucket caps code emails per mailbox.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startExampleApp, startEmailCapture, rateLimitWindowWithRoom, FAST_ALGORITHMS } from "./harness.mjs";

/** Tier 1 (the IP_RATE_LIMITER binding) lets this many through per minute, storage-free … */
const ALLOWANCE = 3;
/** … then the exact Durable Object bucket this many more. */
const BURST = 2;

let app, email;
before(async () => {
  email = await startEmailCapture();
  app = await startExampleApp({
    faroeVars: { ...email.vars, ...FAST_ALGORITHMS, IP_RATE_LIMIT_PER_MINUTE: "1", IP_RATE_LIMIT_BURST: String(BURST) },
    editFaroeConfig: (toml) => {
      const edited = toml.replace(/^simple = \{[^}]*\}$/m, `simple = { limit = ${ALLOWANCE}, period = 60 }`);
      assert.notEqual(edited, toml, "wrangler.toml has the IP_RATE_LIMITER binding");
      return edited;
    },
  });
});
after(async () => {
  await app?.stop();
  await email?.close();
});

/** A browser of the app at `address` (what Cloudflare puts in the app's CF-Connecting-IP),
 * sending `extraHeaders` with every request. */
function browserAt(address, extraHeaders = {}) {
  const cookies = new Map();
  const send = async (path, init = {}) => {
    const headers = { ...extraHeaders, "CF-Connecting-IP": address, ...init.headers };
    if (cookies.size) headers.cookie = [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
    const r = await fetch(new URL(path, app.url), { ...init, headers, redirect: "manual" });
    for (const c of r.headers.getSetCookie()) {
      const [pair] = c.split(";");
      const i = pair.indexOf("=");
      cookies.set(pair.slice(0, i), pair.slice(i + 1));
    }
    return { status: r.status, html: await r.text() };
  };
  return {
    /** GETs the form at `path`, then POSTs `fields` to it with the form's CSRF token. */
    async submit(path, fields) {
      const page = await send(path);
      const csrf = /name="csrf" value="([^"]+)"/.exec(page.html)?.[1];
      assert.ok(csrf, `${path} has a CSRF field`);
      return send(path, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", origin: new URL(app.url).origin },
        body: new URLSearchParams({ csrf, ...fields }).toString(),
      });
    },
  };
}

/** Sign-in attempts for unknown users from `address` until the app answers 429; the statuses. */
async function signinsUntilRefused(address, max = 12) {
  const browser = browserAt(address);
  const statuses = [];
  for (let i = 0; i < max; i++) {
    const r = await browser.submit("/signin", { email: `nobody-${i}@example.com`, password: "irrelevant password" });
    statuses.push(r.status);
    if (r.status === 429) {
      assert.match(r.html, /Too many attempts/);
      break;
    }
    assert.equal(r.status, 400, "create_signin answered user_not_found");
  }
  return statuses;
}

test("per-IP limit through the service binding: one address is refused, another is not", async () => {
  await rateLimitWindowWithRoom(30_000);
  const statuses = await signinsUntilRefused("203.0.113.7");
  console.log(`per-IP gate via the app: 203.0.113.7 got ${statuses.length - 1} sign-in attempts, then 429`);
  assert.equal(statuses.at(-1), 429);
  assert.equal(statuses.length - 1, ALLOWANCE + BURST);
  // Still refused on the next attempt; another address is unaffected.
  assert.equal((await browserAt("203.0.113.7").submit("/signin", { email: "a@example.com", password: "x" })).status, 429);
  assert.equal((await browserAt("198.51.100.8").submit("/signin", { email: "a@example.com", password: "x" })).status, 400);
  // A user cannot pick an address: the app forwards only its CF-Connecting-IP.
  const spoofing = browserAt("203.0.113.7", { "X-Faroe-Client-Address": "198.51.100.99" });
  assert.equal((await spoofing.submit("/signin", { email: "a@example.com", password: "x" })).status, 429);
});

test("IPv6 addresses in one /64 share a bucket; the next /64 has its own", async () => {
  await rateLimitWindowWithRoom(30_000);
  const statuses = await signinsUntilRefused("2001:db8:aa:1::1");
  assert.equal(statuses.length - 1, ALLOWANCE + BURST);
  const sameNetwork = await browserAt("2001:db8:aa:1:ffff:ffff:ffff:fffe").submit("/signin", { email: "a@example.com", password: "x" });
  assert.equal(sameNetwork.status, 429, "another address in the same /64");
  const nextNetwork = await browserAt("2001:db8:aa:2::1").submit("/signin", { email: "a@example.com", password: "x" });
  assert.equal(nextNetwork.status, 400, "the neighbouring /64");
  console.log("per-IP gate via the app: 2001:db8:aa:1:ffff:ffff:ffff:fffe refused after 2001:db8:aa:1::1 used the /64's budget; 2001:db8:aa:2::1 served");
});

test("eight spellings of one address get at most five code emails", async () => {
  const spellings = [
    "zoe@example.com", "Zoe@example.com", "ZOE@example.com", "zoe@Example.com",
    "zOe@EXAMPLE.COM", "ZoE@example.Com", "zoE@exAmple.com", "ZOE@EXAMPLE.COM",
  ];
  const statuses = [];
  for (const [i, spelling] of spellings.entries()) {
    // A different user address each time, so the per-IP limit is not what refuses.
    const r = await browserAt(`192.0.2.${10 + i}`).submit("/signup", { email: spelling });
    statuses.push(r.status);
  }
  const delivered = email.messages.filter((m) => m.to.toLowerCase() === "zoe@example.com").length;
  console.log(`mailbox limit via the app: 8 spellings of zoe@example.com → ${delivered} code emails delivered; statuses ${statuses.join(" ")}`);
  assert.equal(delivered, 5);
  assert.deepEqual(statuses, [303, 303, 303, 303, 303, 429, 429, 429]);
});
