// Strict upstream calls (issue #11 item 5) in workerd: one deadline covers headers and body and
// aborts the subrequest, bodies are read with a 1 MiB cap, and redirects are refused, never
// followed. Each misbehaviour yields what any upstream failure yields (internal_error, logged once
// with the reason), the Worker stays up, and the next call succeeds.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import {
  startWorker, startEmailCapture, startPwnedMock, startUserServer, startRecorder, invoke, jsonLogLines,
  SECRET, FAST_ALGORITHMS, sleep, root, freePort, tempDir,
} from "./harness.mjs";
import { wrangler, wranglerEnv, startWranglerDev, writeBundleConfig } from "../../scripts/wrangler-dev.mjs";

const run = promisify(execFile);

const TIMEOUT_MS = 1000;
/** Generous: a call must return well before this, however slow the machine. */
const BOUND_MS = 15_000;

let worker, email, pwned, users, elsewhere;
before(async () => {
  email = await startEmailCapture();
  pwned = await startPwnedMock();
  users = await startUserServer();
  elsewhere = await startRecorder();
  worker = await startWorker({
    vars: {
      ...email.vars, ...pwned.vars, ...users.vars, ...FAST_ALGORITHMS,
      ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS),
    },
  });
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), pwned?.close(), users?.close(), elsewhere?.close()]);
});

/** Invokes an action with a client-side bound; returns the result and the elapsed milliseconds. */
async function timed(action, args) {
  const started = Date.now();
  const { json } = await invoke(worker.url, action, args, { signal: AbortSignal.timeout(BOUND_MS) });
  return { result: json, elapsed: Date.now() - started };
}

/** The one error log line of an invocation. */
async function logLine(result) {
  for (let i = 0; i < 50; i++) {
    const lines = jsonLogLines(worker.logs).filter((l) => l.event !== "action" && l.action_invocation_id === result.action_invocation_id);
    if (lines.length > 0) {
      assert.equal(lines.length, 1, JSON.stringify(lines));
      return lines[0];
    }
    await sleep(100);
  }
  assert.fail(`no log line for ${result.action_invocation_id}`);
}

async function until(condition, what) {
  for (let i = 0; i < 100; i++) {
    if (condition()) return;
    await sleep(100);
  }
  assert.fail(`timed out waiting for ${what}`);
}

async function signedUpUser(address) {
  const call = async (a, x) => (await invoke(worker.url, a, x)).json;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
  assert.equal((await call("set_signup_password", { signup_token: token, password: "upstream-password-1" })).ok, true);
  const done = await call("complete_signup", { signup_token: token });
  assert.equal(done.ok, true, JSON.stringify(done));
}

/** A signup whose email is verified, ready for set_signup_password (which asks Pwned Passwords). */
async function verifiedSignup(address) {
  const call = async (a, x) => (await invoke(worker.url, a, x)).json;
  const token = (await call("create_signup", { email_address: address })).values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
  return token;
}

test("user server: headers, then a body trickling past the timeout → internal_error at the deadline, subrequest aborted", async () => {
  const address = `trickle-${Date.now()}@example.com`;
  await signedUpUser(address);
  users.state.failNext = "trickle";
  const { result, elapsed } = await timed("create_signin", { user_email_address: address });
  assert.equal(result.error_code, "internal_error", JSON.stringify(result));
  assert.ok(elapsed >= TIMEOUT_MS && elapsed < BOUND_MS, `returned after ${elapsed} ms`);
  assert.match((await logLine(result)).message, /timed out after 1000 ms/);
  // The abort closes the upstream connection; a Worker that only stopped waiting would keep it open.
  await until(() => users.state.stats.closedEarly, "the trickling connection to be closed");
  const retry = await timed("create_signin", { user_email_address: address });
  assert.equal(retry.result.ok, true, JSON.stringify(retry.result));
});

test("Pwned Passwords: a body trickling past the timeout → internal_error, password not set", async () => {
  const token = await verifiedSignup(`pwned-trickle-${Date.now()}@example.com`);
  pwned.state.fault = "trickle";
  const { result, elapsed } = await timed("set_signup_password", { signup_token: token, password: "upstream-password-1" });
  assert.equal(result.error_code, "internal_error", JSON.stringify(result));
  assert.ok(elapsed < BOUND_MS, `returned after ${elapsed} ms`);
  assert.match((await logLine(result)).message, /timed out/);
  await until(() => pwned.state.stats.closedEarly, "the trickling connection to be closed");
  assert.equal((await invoke(worker.url, "get_signup", { signup_token: token })).json.values.signup.password_set, false);
  assert.equal((await timed("set_signup_password", { signup_token: token, password: "upstream-password-1" })).result.ok, true);
});

for (const fault of ["huge", "huge-declared"]) {
  test(`Pwned Passwords: a 5 MiB body (${fault === "huge" ? "chunked, no length" : "with its Content-Length"}) is refused past 1 MiB`, async (t) => {
    const token = await verifiedSignup(`pwned-${fault}-${Date.now()}@example.com`);
    pwned.state.fault = fault;
    const { result, elapsed } = await timed("set_signup_password", { signup_token: token, password: "upstream-password-1" });
    assert.equal(result.error_code, "internal_error", JSON.stringify(result));
    assert.ok(elapsed < BOUND_MS, `returned after ${elapsed} ms`);
    assert.match((await logLine(result)).message, /larger than 1048576 bytes/);
    await until(() => pwned.state.stats.closedEarly || pwned.state.stats.bytesSent >= 5 * 1024 * 1024, "the body to end");
    t.diagnostic(`mock sent ${pwned.state.stats.bytesSent} bytes; connection closed early: ${pwned.state.stats.closedEarly}`);
    // The Worker is still up and the next check succeeds.
    assert.equal((await timed("set_signup_password", { signup_token: token, password: "upstream-password-1" })).result.ok, true);
  });
}

test("user server: a 5 MiB answer is refused, no user created, the retry succeeds", async () => {
  const address = `us-huge-${Date.now()}@example.com`;
  await signedUpUser(address);
  users.state.failNext = "huge";
  const { result } = await timed("create_signin", { user_email_address: address });
  assert.equal(result.error_code, "internal_error");
  assert.match((await logLine(result)).message, /larger than 1048576 bytes/);
  assert.equal((await timed("create_signin", { user_email_address: address })).result.ok, true);
});

test("user server: a 302 to another server is refused and not followed", async () => {
  const address = `us-redirect-${Date.now()}@example.com`;
  await signedUpUser(address);
  users.state.failNext = { redirect: elsewhere.url };
  const { result } = await timed("create_signin", { user_email_address: address });
  assert.equal(result.error_code, "internal_error");
  const line = await logLine(result);
  assert.match(line.message, /refused a redirect \(HTTP 302 to "http:\/\/127\.0\.0\.1:\d+\/elsewhere"\)/);
  assert.doesNotMatch(line.message, /user-server-secret/);
  await sleep(300);
  assert.deepEqual(elsewhere.requests, [], "the redirect target received no request");
  assert.equal((await timed("create_signin", { user_email_address: address })).result.ok, true);
});

test("email webhook: a 307 (which would resend the bearer secret and the code) is refused and not followed", async () => {
  const address = `mail-redirect-${Date.now()}@example.com`;
  const token = (await invoke(worker.url, "create_signup", { email_address: address })).json.values.signup_token;
  email.state.fault = { redirect: elsewhere.url, status: 307 };
  const { result } = await timed("send_signup_email_address_verification_code", { signup_token: token });
  assert.equal(result.error_code, "internal_error", JSON.stringify(result));
  assert.match((await logLine(result)).message, /refused a redirect \(HTTP 307/);
  await sleep(300);
  assert.deepEqual(elsewhere.requests, [], "the redirect target received no request");
  assert.equal((await timed("send_signup_email_address_verification_code", { signup_token: token })).result.ok, true);
});

test("Pwned Passwords: a 301 is refused and not followed", async () => {
  const token = await verifiedSignup(`pwned-redirect-${Date.now()}@example.com`);
  pwned.state.fault = { redirect: elsewhere.url, status: 301 };
  const { result } = await timed("set_signup_password", { signup_token: token, password: "upstream-password-1" });
  assert.equal(result.error_code, "internal_error");
  assert.match((await logLine(result)).message, /refused a redirect \(HTTP 301/);
  await sleep(300);
  assert.deepEqual(elsewhere.requests, []);
});

// The same rules over a service binding: faroe-worker and a misbehaving email Worker
// (fixtures/misbehaving-email.mjs) in one multi-config `wrangler dev`.
test("service binding (EMAIL): trickle → timeout and the stream is cancelled, 5 MiB → refused, 302 → refused; then mail flows", async () => {
  const dir = await tempDir("faroe-upstream-binding-");
  const persistTo = join(dir, "state");
  const env = wranglerEnv({ WRANGLER_REGISTRY_PATH: join(dir, "registry") });
  const faroeToml = await writeBundleConfig({
    main: join(root, "build", "index.js"),
    path: join(dir, "faroe-worker.toml"),
    vars: {
      EMAIL_PROVIDER: "service", PASSWORD_BREACH_CHECK: "off", ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      UPSTREAM_TIMEOUT_MS: String(TIMEOUT_MS), ...FAST_ALGORITHMS,
    },
  });
  await appendFile(faroeToml, '\n[[services]]\nbinding = "EMAIL"\nservice = "misbehaving-email"\n');
  const mockToml = join(dir, "misbehaving-email.toml");
  await writeFile(mockToml, `name = "misbehaving-email"\nmain = ${JSON.stringify(join(root, "tests", "e2e", "fixtures", "misbehaving-email.mjs"))}\ncompatibility_date = "2026-11-01"\n`);
  await run(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, "-c", faroeToml], { cwd: root, env });
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const dev = await startWranglerDev([
    "-c", faroeToml, "-c", mockToml, "--ip", "127.0.0.1", "--port", String(port),
    "--inspector-port", String(await freePort()), "--persist-to", persistTo,
    "--show-interactive-dev-session=false", "--log-level", "log",
  ], { env, readyUrl: url });
  try {
    const signup = async (to) => {
      const started = Date.now();
      const { json } = await invoke(url, "create_signup", { email_address: to }, { signal: AbortSignal.timeout(BOUND_MS) });
      return { result: json, elapsed: Date.now() - started };
    };
    const logOf = async (result) => {
      for (let i = 0; i < 50; i++) {
        const line = jsonLogLines(dev.logs).find((l) => l.event !== "action" && l.action_invocation_id === result.action_invocation_id);
        if (line) return line;
        await sleep(100);
      }
      assert.fail(`no log line for ${result.action_invocation_id}`);
    };
    const tag = Date.now();

    const trickle = await signup(`trickle-${tag}@example.com`);
    assert.equal(trickle.result.error_code, "internal_error", JSON.stringify(trickle.result));
    assert.ok(trickle.elapsed >= TIMEOUT_MS && trickle.elapsed < BOUND_MS, `returned after ${trickle.elapsed} ms`);
    assert.match((await logOf(trickle.result)).message, /timed out after 1000 ms/);
    await until(() => dev.logs.some((l) => l.includes(`stream to trickle-${tag}@example.com cancelled`)), "the trickling stream to be cancelled");

    const huge = await signup(`huge-${tag}@example.com`);
    assert.equal(huge.result.error_code, "internal_error");
    assert.match((await logOf(huge.result)).message, /larger than 1048576 bytes/);

    const redirect = await signup(`redirect-${tag}@example.com`);
    assert.equal(redirect.result.error_code, "internal_error");
    assert.match((await logOf(redirect.result)).message, /refused a redirect \(HTTP 302/);

    assert.equal((await signup(`fine-${tag}@example.com`)).result.ok, true);
  } finally {
    await dev.stop();
    await rm(dir, { recursive: true, force: true });
  }
});
