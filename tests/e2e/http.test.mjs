// The HTTP edge: status codes, authentication, body limits and a corpus of hostile bodies, each
// answered 400/413 without touching storage (proven by the send-email bucket staying full).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startWorker, startEmailCapture, post, invoke, jsonLogLines, sleep, SECRET, FAST_ALGORITHMS, MISCONFIGURED } from "./harness.mjs";

let worker, email;
before(async () => {
  email = await startEmailCapture();
  worker = await startWorker({ vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
});
after(async () => {
  await worker?.stop();
  await email?.close();
});

test("405 for other methods on the endpoint, 404 elsewhere", async () => {
  for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
    const r = await fetch(worker.url, { method });
    assert.equal(r.status, 405, method);
    assert.equal(r.headers.get("allow"), "POST");
    assert.equal(r.headers.get("cache-control"), "no-store", method);
  }
  const r = await fetch(new URL("/nope", worker.url), { method: "POST" });
  assert.equal(r.status, 404);
});

test("the deployed bundle serves no /__bench routes", async () => {
  for (const path of ["__bench/baseline", "__bench/memory", "__bench/hash?algorithm=argon2id.65536.3.1.32"]) {
    for (const method of ["GET", "POST"]) {
      const r = await fetch(new URL(path, worker.url), { method });
      assert.equal(r.status, 404, `${method} /${path}`);
      await r.text();
    }
  }
});

test("401 without or with a wrong bearer secret, compared exactly", async () => {
  const body = JSON.stringify({ action: "get_session", arguments: { session_token: "a.b" } });
  for (const headers of [
    {},
    { authorization: "Bearer wrong" },
    { authorization: `Bearer ${SECRET}x` },
    { authorization: `Bearer ${SECRET.slice(0, -1)}` },
    { authorization: SECRET },
    { authorization: `Basic ${SECRET}` },
  ]) {
    const r = await post(worker.url, body, { secret: null, headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.json, undefined, "no result object");
  }
  const ok = await post(worker.url, body);
  assert.equal(ok.status, 200);
  assert.equal(ok.json.error_code, "invalid_session_token");
  assert.match(ok.json.action_invocation_id, /^[a-km-np-z2-9]{24}$/);
});

test("413 for bodies over 64 KiB, with and without Content-Length", async () => {
  const big = JSON.stringify({ action: "create_signup", arguments: { email_address: "a@b", pad: "x".repeat(70 * 1024) } });
  const r = await post(worker.url, big);
  assert.equal(r.status, 413);
  // A streamed body has no Content-Length: the Worker counts as it reads.
  const stream = new ReadableStream({
    start(c) {
      for (let i = 0; i < 80; i++) c.enqueue(new TextEncoder().encode("x".repeat(1024)));
      c.close();
    },
  });
  const s = await fetch(worker.url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` },
    body: stream,
    duplex: "half",
  });
  assert.equal(s.status, 413);
  await s.text();
  const fits = JSON.stringify({ action: "get_session", arguments: { session_token: "a.b", pad: "x".repeat(60 * 1024) } });
  let fitting = await post(worker.url, fits);
  // The Worker answers 413 without reading the rest of the streamed body, so workerd drops that
  // connection; wrangler's local proxy sometimes hands the next request to the dropped connection
  // and answers 500 "Network connection lost" itself (seen 2 in 10 runs). Only that proxy answer is
  // retried, once; anything else from the Worker fails the test.
  if (fitting.status === 500 && fitting.text.includes("Network connection lost")) {
    fitting = await post(worker.url, fits);
  }
  assert.equal(fitting.status, 200, `a 60 KiB body: HTTP ${fitting.status} ${fitting.text ?? ""}`);
});

test("hostile bodies get 400 with a plain reason and change nothing", async () => {
  const address = `hostile-${Date.now()}@example.com`;
  const signup = (extra = "") => `{"action":"create_signup","arguments":{"email_address":"${address}"${extra}}}`;
  const nested = "[".repeat(5000) + "]".repeat(5000);
  const corpus = [
    ["not json", "not json"],
    ["empty", ""],
    ["array", "[]"],
    ["string", '"x"'],
    ["truncated", signup().slice(0, -2)],
    ["trailing garbage", signup() + "x"],
    ["two objects", signup() + signup()],
    ["duplicate action", `{"action":"create_signup","action":"create_signup","arguments":{"email_address":"${address}"}}`],
    ["duplicate argument", signup(`,"email_address":"${address}"`)],
    ["duplicate deep", signup(`,"x":{"a":1,"a":2}`)],
    ["deeply nested", `{"action":"create_signup","arguments":{"email_address":"${address}"},"x":${nested}}`],
    ["number action", '{"action":5,"arguments":{}}'],
    ["null arguments", '{"action":"create_signup","arguments":null}'],
    ["array arguments", '{"action":"create_signup","arguments":[]}'],
    ["non-string argument", '{"action":"create_signup","arguments":{"email_address":123}}'],
    ["null argument", '{"action":"create_signup","arguments":{"email_address":null}}'],
    ["missing argument", '{"action":"create_signup","arguments":{}}'],
    ["unknown action", `{"action":"CREATE_SIGNUP","arguments":{"email_address":"${address}"}}`],
    ["raw control character", `{"action":"create_signup","arguments":{"email_address":"${address}\u0001"}}`],
  ];
  for (const [name, body] of corpus) {
    const r = await post(worker.url, body);
    assert.equal(r.status, 400, name);
    assert.equal(r.json, undefined, `${name}: no result object`);
    assert.ok(r.text.length > 0 && r.text.length < 200, `${name}: short reason, got ${r.text}`);
    assert.ok(!r.text.includes(address), `${name}: reason does not echo input`);
  }
  // Invalid UTF-8 bytes.
  const bytes = Buffer.concat([Buffer.from(signup().slice(0, 40)), Buffer.from([0xff, 0xfe]), Buffer.from(signup().slice(40))]);
  assert.equal((await post(worker.url, bytes)).status, 400, "invalid UTF-8");
  // Wrong or missing content type.
  for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", null]) {
    const r = await post(worker.url, signup(), { contentType });
    assert.equal(r.status, 400, `content-type ${contentType}`);
  }
  assert.equal((await post(worker.url, signup(), { contentType: "application/json; charset=utf-8" })).status, 200);
  // Nothing above touched the send-email bucket of the address: 4 more signups fit, the 6th is limited.
  for (let i = 0; i < 4; i++) assert.equal((await invoke(worker.url, "create_signup", { email_address: address })).json.ok, true);
  assert.equal((await invoke(worker.url, "create_signup", { email_address: address })).json.error_code, "rate_limited");
  assert.equal(email.messages.filter((m) => m.to === address).length, 5);
});

test("email addresses at and past the length limit, and non-ASCII", async () => {
  const at100 = `${"a".repeat(88)}@example.com`;
  assert.equal(Buffer.byteLength(at100), 100);
  assert.equal((await invoke(worker.url, "create_signup", { email_address: at100 })).json.ok, true);
  assert.equal((await invoke(worker.url, "create_signup", { email_address: "a" + at100 })).json.error_code, "invalid_email_address");
  for (const bad of ["é@example.com", "a@exämple.com", "用户@example.com", "a b@example.com", "a$b@example.com"]) {
    assert.equal((await invoke(worker.url, "create_signup", { email_address: bad })).json.error_code, "invalid_email_address", bad);
  }
});

test("password lengths of 9, 10, 100 and 101 code points, multibyte included", async () => {
  const address = `lengths-${Date.now()}@example.com`;
  const created = (await invoke(worker.url, "create_signup", { email_address: address })).json.values;
  const token = created.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await invoke(worker.url, "verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code })).json.ok, true);
  const set = async (password) => (await invoke(worker.url, "set_signup_password", { signup_token: token, password })).json;
  assert.equal((await set("é".repeat(9))).error_code, "invalid_password_length");
  assert.equal((await set("x".repeat(101))).error_code, "invalid_password_length");
  assert.equal((await set("😀".repeat(101))).error_code, "invalid_password_length");
  assert.equal((await set("😀".repeat(100))).ok, true, "100 four-byte code points (400 bytes) are fine");
  const other = `lengths-b-${Date.now()}@example.com`;
  const t2 = (await invoke(worker.url, "create_signup", { email_address: other })).json.values.signup_token;
  const c2 = email.last("signup_email_address_verification_code", other).data.email_address_verification_code;
  await invoke(worker.url, "verify_signup_email_address_verification_code", { signup_token: t2, email_address_verification_code: c2 });
  assert.equal((await invoke(worker.url, "set_signup_password", { signup_token: t2, password: "é".repeat(10) })).json.ok, true);
});

/** Waits for a `config` log line whose message names `variable`. */
async function configErrorLogged(logs, variable) {
  for (let i = 0; i < 50; i++) {
    const line = jsonLogLines(logs).find((l) => l.component === "config" && l.message.includes(variable));
    if (line) return line;
    await sleep(100);
  }
  assert.fail(`no config error naming ${variable} in the log`);
}

test("a worker without a secret refuses to serve: a generic 500, the variable in the log", async () => {
  const open = await startWorker({ vars: { ALLOW_UNAUTHENTICATED_ENDPOINT: "false" } });
  try {
    const r = await invoke(open.url, "get_session", { session_token: "a.b" }, { secret: null });
    assert.equal(r.status, 500);
    assert.equal(r.text, MISCONFIGURED);
    assert.equal(r.headers.get("cache-control"), "no-store");
    await configErrorLogged(open.logs, "ACTION_INVOCATION_ENDPOINT_SECRET");
  } finally {
    await open.stop();
  }
});

test("production refuses what is dangerous; only the secret's holder reads why", async () => {
  // EMAIL_PROVIDER=log without DEVELOPMENT_MODE, with the endpoint secret set.
  const prod = await startWorker({ vars: { DEVELOPMENT_MODE: "false", ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
  try {
    for (const secret of [null, "wrong-secret-wrong-secret-wrong-secret", SECRET.slice(0, -1)]) {
      const r = await invoke(prod.url, "get_session", { session_token: "a.b" }, { secret });
      assert.equal(r.status, 500);
      assert.equal(r.text, MISCONFIGURED, "no detail without the secret");
    }
    const operator = await invoke(prod.url, "get_session", { session_token: "a.b" });
    assert.equal(operator.status, 500);
    assert.match(operator.text, /EMAIL_PROVIDER/);
    assert.match(operator.text, /DEVELOPMENT_MODE=true/);
    await configErrorLogged(prod.logs, "EMAIL_PROVIDER");
  } finally {
    await prod.stop();
  }
  // A short endpoint secret and cheap Argon2id without ALLOW_WEAK_PASSWORD_HASHING, in turn.
  const short = "short-secret-0123456789";
  const cases = [
    [{ ...email.vars, ACTION_INVOCATION_ENDPOINT_SECRET: short }, short, "ACTION_INVOCATION_ENDPOINT_SECRET"],
    [{ ...email.vars, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, PASSWORD_HASH_ALGORITHMS: "argon2id.1024.1.1.32" }, SECRET, "PASSWORD_HASH_ALGORITHMS"],
    [{ ...email.vars, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, PASSWORD_HASH_ALGORITHMS: "argon2id.1048576.3.1.32", ALLOW_WEAK_PASSWORD_HASHING: "true" }, SECRET, "PASSWORD_HASH_ALGORITHMS"],
  ];
  for (const [vars, secret, variable] of cases) {
    const refused = await startWorker({ vars });
    try {
      const anyone = await invoke(refused.url, "get_session", { session_token: "a.b" }, { secret: null });
      assert.equal(anyone.status, 500);
      assert.equal(anyone.text, MISCONFIGURED);
      const operator = await invoke(refused.url, "get_session", { session_token: "a.b" }, { secret });
      assert.equal(operator.status, 500);
      assert.match(operator.text, new RegExp(variable), operator.text);
      assert.ok(!operator.text.includes(short), "the secret is never echoed");
      await configErrorLogged(refused.logs, variable);
      assert.ok(!refused.logs.join("\n").includes(short), "nor logged");
    } finally {
      await refused.stop();
    }
  }
});
