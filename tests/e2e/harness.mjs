// End-to-end harness: starts the built Worker in workerd through `wrangler dev` (local Durable
// Objects, KV and D1), plus the in-test servers the Worker talks to: an email webhook capture, a
// Pwned Passwords range mock and a Faroe user server. Nothing leaves 127.0.0.1.
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Client } from "@faroe/client";
import { root, wrangler, freePort, wranglerEnv, startWranglerDev, writeBundleConfig } from "../../scripts/wrangler-dev.mjs";

export { root, freePort };
const run = promisify(execFile);

/** At least the 32 characters the Worker requires of ACTION_INVOCATION_ENDPOINT_SECRET. */
export const SECRET = "e2e-endpoint-secret-0123456789abcdef";
/**
 * Cheap Argon2id for most tests (below OWASP's minimum, hence ALLOW_WEAK_PASSWORD_HASHING); one
 * suite keeps the real defaults.
 */
export const FAST_ALGORITHMS = {
  PASSWORD_HASH_ALGORITHMS: "argon2id.1024.1.1.32",
  TEMPORARY_PASSWORD_HASH_ALGORITHM: "argon2id.512.1.1.32",
  ALLOW_WEAK_PASSWORD_HASHING: "true",
};
/** The generic 500 body of a refused configuration (src/edge/mod.rs MISCONFIGURED). */
export const MISCONFIGURED = "faroe-worker is misconfigured; see the Worker logs";

export async function tempDir(prefix = "faroe-e2e-") {
  return mkdtemp(join(tmpdir(), prefix));
}

/**
 * A wrangler config for a prebuilt bundle variant (e.g. `build-test`, compiled with the
 * `test-faults` feature): the project's wrangler.toml with `main` pointed at it and no build step.
 */
function configFor(bundle) {
  return writeBundleConfig({
    main: join(root, bundle, "index.js"),
    path: join(root, `wrangler.${bundle}.generated.toml`),
  });
}

/** `wrangler dev` flags for a test run: 127.0.0.1 on `port`, state in `persistTo`, full logs. */
async function localDevArgs(port, persistTo) {
  return [
    "--ip", "127.0.0.1",
    "--port", String(port),
    "--inspector-port", String(await freePort()),
    "--persist-to", persistTo,
    "--show-interactive-dev-session=false",
    "--log-level", "log",
  ];
}

/**
 * Starts `wrangler dev` on the prebuilt bundle; resolves once it answers. `editConfig(text)` may
 * rewrite the generated wrangler.toml (e.g. to add a binding the repository's file leaves out).
 */
export async function startWorker({ vars = {}, persistTo, port, bundle, editConfig } = {}) {
  const ownsState = persistTo === undefined;
  persistTo ??= await tempDir();
  port ??= await freePort();
  const env = wranglerEnv();
  let config = bundle ? ["-c", await configFor(bundle)] : [];
  if (editConfig) {
    // Beside the state, so concurrent workers never share an edited file.
    const path = await writeBundleConfig({
      main: join(root, bundle ?? "build", "index.js"),
      path: join(persistTo, "wrangler.edited.toml"),
    });
    await writeFile(path, editConfig(await readFile(path, "utf8")));
    config = ["-c", path];
  }
  await run(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, ...config], {
    cwd: root,
    env,
  });
  const args = [...config, ...(await localDevArgs(port, persistTo))];
  const allVars = { ALLOW_UNAUTHENTICATED_ENDPOINT: "false", PASSWORD_BREACH_CHECK: "off", EMAIL_PROVIDER: "log", ...vars };
  // The log email provider is refused outside development mode; suites with another provider
  // run as production does.
  if (allVars.EMAIL_PROVIDER === "log" && !("DEVELOPMENT_MODE" in vars)) allVars.DEVELOPMENT_MODE = "true";
  for (const [k, v] of Object.entries(allVars)) args.push("--var", `${k}:${v}`);
  const url = `http://127.0.0.1:${port}/`;
  const dev = await startWranglerDev(args, { env, readyUrl: url, timeoutMs: 60_000 });
  return {
    url,
    port,
    persistTo,
    logs: dev.logs,
    /** wrangler's process group (workerd runs in it): for CPU figures read from /proc. */
    pgid: dev.pid,
    async stop() {
      await dev.stop();
      // State the caller did not ask to keep goes with the worker.
      if (ownsState) await rm(persistTo, { recursive: true, force: true });
    },
  };
}

/** The result rows of one SQL statement run on a started worker's local D1 database. */
export async function d1Query(worker, sql) {
  const { stdout } = await run(wrangler, [
    "d1", "execute", "DB", "--local", "--persist-to", worker.persistTo, "--json", "--command", sql,
  ], { cwd: root, env: wranglerEnv() });
  return JSON.parse(stdout)[0].results;
}

/** POSTs a raw body; returns { status, text, json }. */
export async function post(url, body, { secret = SECRET, contentType = "application/json", headers = {}, signal } = {}) {
  const h = { ...headers };
  if (contentType) h["content-type"] = contentType;
  if (secret) h["authorization"] = `Bearer ${secret}`;
  const r = await fetch(url, { method: "POST", headers: h, body, signal });
  const text = await r.text();
  let json;
  try { json = JSON.parse(text); } catch {}
  return { status: r.status, text, json, headers: r.headers };
}

export async function invoke(url, action, args, options) {
  return post(url, JSON.stringify({ action, arguments: args }), options);
}

/** The public @faroe/client over HTTPS-style bearer auth. */
export function faroeClient(url, secret = SECRET) {
  return new Client({
    async sendActionInvocationEndpointRequest(body) {
      const r = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${secret}` },
        body,
      });
      const text = await r.text();
      if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${text}`);
      return text;
    },
  });
}

function listen(handler) {
  return new Promise((resolve) => {
    const server = createServer(handler);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

/**
 * Upstream misbehaviour for the strict-upstream tests; answers `res` and returns true when `fault`
 * is one: "trickle" (headers, then one byte every 100 ms for as long as the connection lasts),
 * "huge" (5 MiB, chunked, no length), "huge-declared" (5 MiB with its Content-Length) or
 * { redirect: url, status } (a 3xx to another server). `stats` records bytes sent and whether the
 * client closed the connection before the body ended (the Worker aborting).
 */
export function misbehave(res, fault, stats = {}) {
  const HUGE = 5 * 1024 * 1024;
  if (!(fault === "trickle" || fault === "huge" || fault === "huge-declared" || fault?.redirect)) return false;
  stats.bytesSent = 0;
  stats.closedEarly = false;
  res.on("close", () => { if (!res.writableFinished) stats.closedEarly = true; });
  if (fault === "trickle") {
    res.writeHead(200, { "content-type": "application/json" });
    res.write("{");
    const timer = setInterval(() => { stats.bytesSent++; res.write(" "); }, 100);
    res.on("close", () => clearInterval(timer));
    return true;
  }
  if (fault === "huge" || fault === "huge-declared") {
    const headers = { "content-type": "text/plain" };
    if (fault === "huge-declared") headers["content-length"] = String(HUGE);
    res.writeHead(200, headers);
    const chunk = Buffer.alloc(64 * 1024, "A");
    const pump = () => {
      while (stats.bytesSent < HUGE && !res.destroyed) {
        stats.bytesSent += chunk.length;
        if (!res.write(chunk)) return res.once("drain", pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
    return true;
  }
  res.writeHead(fault.status ?? 302, { location: fault.redirect }).end();
  return true;
}

/** A server that only records the requests it gets (a redirect target that must stay unvisited). */
export async function startRecorder() {
  const requests = [];
  const server = await listen((req, res) => {
    requests.push({ method: req.method, url: req.url, authorization: req.headers.authorization });
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  return { url: `http://127.0.0.1:${server.address().port}/elsewhere`, requests, close: () => new Promise((r) => server.close(r)) };
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8");
}

/** Captures webhook emails; `failNext` makes the next delivery answer 500. */
export async function startEmailCapture(secret = "email-webhook-secret") {
  const messages = [];
  const state = { failNext: 0, fault: null, stats: {} };
  const server = await listen(async (req, res) => {
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${secret}`) {
      res.writeHead(401).end();
      return;
    }
    const fault = state.fault;
    state.fault = null;
    if (misbehave(res, fault, state.stats)) return;
    if (state.failNext > 0) {
      state.failNext--;
      res.writeHead(500).end("injected failure");
      return;
    }
    messages.push(JSON.parse(body));
    res.writeHead(200, { "content-type": "application/json" }).end("{}");
  });
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  return {
    url,
    secret,
    messages,
    state,
    vars: { EMAIL_PROVIDER: "webhook", EMAIL_WEBHOOK_URL: url, EMAIL_WEBHOOK_SECRET: secret },
    last(type, to) {
      const found = messages.filter((m) => m.type === type && (to === undefined || m.to === to));
      return found[found.length - 1];
    },
    close: () => new Promise((r) => server.close(r)),
  };
}

/** A Pwned Passwords range API that lists the given passwords as breached. */
export async function startPwnedMock(weak = ["password123", "weakweakweak"]) {
  const state = { failNext: 0, fault: null, stats: {}, requests: [] };
  const bySuffix = new Map();
  for (const p of weak) {
    const h = createHash("sha1").update(p).digest("hex").toUpperCase();
    bySuffix.set(h.slice(0, 5), [...(bySuffix.get(h.slice(0, 5)) ?? []), `${h.slice(5)}:42`]);
  }
  const server = await listen((req, res) => {
    state.requests.push(req.url);
    const fault = state.fault;
    state.fault = null;
    if (misbehave(res, fault, state.stats)) return;
    if (state.failNext > 0) {
      state.failNext--;
      res.writeHead(503).end();
      return;
    }
    const m = /^\/range\/([0-9a-fA-F]{5})$/.exec(req.url);
    if (!m) return res.writeHead(404).end();
    const lines = ["0018A45C4D1DEF81644B54AB7F969B88D65:1", ...(bySuffix.get(m[1].toUpperCase()) ?? [])];
    res.writeHead(200, { "content-type": "text/plain" }).end(lines.join("\r\n"));
  });
  const url = `http://127.0.0.1:${server.address().port}`;
  return { url, state, vars: { PASSWORD_BREACH_CHECK: "on", PWNED_PASSWORDS_URL: url }, close: () => new Promise((r) => server.close(r)) };
}

/**
 * A Faroe user server (spec §10.2) over an in-memory map, with bearer auth and fault switches.
 * `pause(action)` holds the answer of the next call of `action` (computed at once, sent when
 * released): a slow user store, to widen a race window.
 */
export async function startUserServer(secret = "user-server-secret") {
  const users = new Map();
  const state = { failNext: null, calls: [], stats: {} };
  const pauses = [];
  const id = () => randomBytes(12).toString("hex");
  const result = (values) => ({ ok: true, action_invocation_id: id(), values });
  const error = (code) => ({ ok: false, action_invocation_id: id(), error_code: code });
  const model = (u) => ({ ...u });
  const byEmail = (e) => [...users.values()].find((u) => u.email_address === e);
  const handlers = {
    create_user(a) {
      if (byEmail(a.email_address)) return error("email_address_already_used");
      const u = {
        id: id(), email_address: a.email_address, password_hash: a.password_hash,
        password_hash_algorithm_id: a.password_hash_algorithm_id, password_salt: a.password_salt,
        display_name: "", disabled: false, email_address_counter: 0, password_hash_counter: 0,
        disabled_counter: 0, sessions_counter: 0,
      };
      users.set(u.id, u);
      return result({ user: model(u) });
    },
    get_user: (a) => (users.has(a.user_id) ? result({ user: model(users.get(a.user_id)) }) : error("user_not_found")),
    get_user_by_email_address: (a) => (byEmail(a.email_address) ? result({ user: model(byEmail(a.email_address)) }) : error("user_not_found")),
    update_user_email_address(a) {
      const u = users.get(a.user_id);
      if (!u || u.email_address_counter !== a.user_email_address_counter) return error("user_not_found");
      if (byEmail(a.email_address)) return error("email_address_already_used");
      u.email_address = a.email_address;
      u.email_address_counter++;
      return result({});
    },
    update_user_password_hash(a) {
      const u = users.get(a.user_id);
      if (!u || u.password_hash_counter !== a.user_password_hash_counter) return error("user_not_found");
      Object.assign(u, { password_hash: a.password_hash, password_hash_algorithm_id: a.password_hash_algorithm_id, password_salt: a.password_salt });
      u.password_hash_counter++;
      return result({});
    },
    increment_user_sessions_counter(a) {
      const u = users.get(a.user_id);
      if (!u || u.sessions_counter !== a.user_sessions_counter) return error("user_not_found");
      u.sessions_counter++;
      return result({});
    },
    delete_user: (a) => (users.delete(a.user_id) ? result({}) : error("user_not_found")),
  };
  const server = await listen(async (req, res) => {
    const body = await readBody(req);
    if (req.headers.authorization !== `Bearer ${secret}`) return res.writeHead(401).end();
    const { action, arguments: args } = JSON.parse(body);
    state.calls.push(action);
    const fault = state.failNext;
    if (fault) {
      state.failNext = null;
      if (fault === "500") return res.writeHead(500).end("injected");
      if (fault === "malformed") return res.writeHead(200, { "content-type": "application/json" }).end("{\"ok\":tru");
      if (fault === "timeout") return; // never answers; the Worker's upstream timeout fires
      if (misbehave(res, fault, state.stats)) return;
    }
    const handler = handlers[action];
    const out = handler ? handler(args) : error("internal_error");
    const pause = pauses.findIndex((p) => p.action === action);
    if (pause >= 0) {
      const [held] = pauses.splice(pause, 1);
      held.reach();
      await held.released;
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(out));
  });
  const url = `http://127.0.0.1:${server.address().port}/`;
  const pause = (action) => {
    const held = { action };
    held.reached = new Promise((r) => { held.reach = r; });
    held.released = new Promise((r) => { held.release = r; });
    pauses.push(held);
    return { reached: held.reached, release: () => held.release() };
  };
  return {
    url, users, state, pause,
    vars: { USER_STORE: "user_server", USER_SERVER_URL: url, USER_SERVER_SECRET: secret },
    close: () => { server.closeAllConnections?.(); return new Promise((r) => server.close(r)); },
  };
}

/** Worker log lines that are JSON objects (the action error logger, warnings). */
export function jsonLogLines(logs) {
  const out = [];
  for (const raw of logs) {
    const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
    const start = line.indexOf("{");
    const end = line.lastIndexOf("}");
    if (start < 0 || end < start) continue;
    try { out.push(JSON.parse(line.slice(start, end + 1))); } catch {}
  }
  return out;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * The example app setup (scripts/example.sh) for a test: one multi-config `wrangler dev` serving
 * examples/app on 127.0.0.1, with faroe-worker (the prebuilt build/ bundle, `faroeVars` over the
 * repository's wrangler.toml) behind the app's FAROE service binding, called with the bearer
 * secret SECRET. `editFaroeConfig(text)` may rewrite faroe-worker's generated wrangler.toml.
 */
export async function startExampleApp({ faroeVars = {}, appVars = {}, editFaroeConfig = (t) => t, port } = {}) {
  const dir = await tempDir("faroe-app-");
  const persistTo = join(dir, "state");
  const faroeToml = join(dir, "faroe-worker.wrangler.toml");
  await writeBundleConfig({
    main: join(root, "build", "index.js"),
    path: faroeToml,
    vars: { ALLOW_UNAUTHENTICATED_ENDPOINT: "false", PASSWORD_BREACH_CHECK: "off", ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, ...faroeVars },
  });
  await writeFile(faroeToml, editFaroeConfig(await readFile(faroeToml, "utf8")));
  // A private dev registry: no other local `wrangler dev` can answer for faroe-worker.
  const env = wranglerEnv({ WRANGLER_REGISTRY_PATH: join(dir, "registry") });
  await run(wrangler, ["d1", "migrations", "apply", "DB", "--local", "--persist-to", persistTo, "-c", faroeToml], { cwd: root, env });
  // `port` when the caller must know the app's origin beforehand (WEBAUTHN_ALLOWED_ORIGINS).
  port ??= await freePort();
  const args = [
    "-c", join(root, "examples", "app", "wrangler.toml"),
    "-c", faroeToml,
    ...(await localDevArgs(port, persistTo)),
  ];
  const allAppVars = { APP_SECRET: `app-test-secret-${randomBytes(8).toString("hex")}`, FAROE_ENDPOINT_SECRET: SECRET, ...appVars };
  for (const [k, v] of Object.entries(allAppVars)) args.push("--var", `${k}:${v}`);
  const url = `http://127.0.0.1:${port}/`;
  const dev = await startWranglerDev(args, { env, readyUrl: url, isReady: (r) => r.status === 200 });
  return {
    url,
    logs: dev.logs,
    async stop() {
      await dev.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Waits, if needed, until the current minute has at least `room` ms left. `wrangler dev`
 * simulates the `[[ratelimits]]` binding with wall-clock-aligned windows (60 s here); a test that
 * counts what one address gets must not straddle a window's end.
 */
export async function rateLimitWindowWithRoom(room = 20_000) {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < room) await sleep(left + 50);
}
