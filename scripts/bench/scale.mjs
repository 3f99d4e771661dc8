// `npm run scale` (scripts/scale.sh builds the bench Worker, then runs this): what each Faroe
// action costs in local workerd, whether it stays flat as the number of users grows, and what a
// hot key does to everyone else. See docs/benchmarks.md § Scale and docs/cost.md.
//
// Per size N (users in D1 and main storage), on one bench Worker under wrangler dev (127.0.0.1):
//  1. sign-up up to N users (full signup flow, cheap test Argon2id);
//  2. "batch": every flow run one call at a time on distinct users, with the workerd CPU time
//     (/proc) read around each call: per action CPU ms, latency, and the counts the Worker reports;
//  3. "load": a realistic mix over the N users (get_session most of it, sign-ins, sign-outs,
//     sign-ups, password and email updates, resets, deletions) at CONCURRENCY operations at once:
//     per action latency p50/p99 under load, errors, counts;
//  4. the local Durable Object files: objects holding data and their bytes.
// Then, once: the hashing actions at the real default Argon2id and at the lighter OWASP setting
// (a Worker restarted on the same state), and with --hot-key (default on) the hot-key run: other
// users' latency with and without a flood at one user's buckets and one address, invariants after,
// and what one Durable Object sustains. Prints tables; writes the JSON (--out).
//
//   node scripts/bench/scale.mjs [--quick] [--sizes 500,1000,2000] [--no-hot-key | --hot-key-only]
//                                [--bundle DIR] [--out FILE]
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { loadavg, tmpdir, cpus } from "node:os";
import { join, dirname, resolve, basename } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { randomBytes } from "node:crypto";
import { argon2id } from "hash-wasm";
import { startWorker } from "./workerd.mjs";
import { root, wranglerEnv } from "../wrangler-dev.mjs";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { units, label, byLabel, verdict, table, fmt, percentile } from "./scale-lib.mjs";

// ---------------------------------------------------------------- options

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(name);
const option = (name, fallback) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
if (flag("--help")) {
  console.log(readFileSync(new URL(import.meta.url), "utf8").split("\n").filter((l) => l.startsWith("//")).map((l) => l.slice(3)).join("\n"));
  process.exit(0);
}
const QUICK = flag("--quick");
const SIZES = option("--sizes", QUICK ? "10,20" : "500,1000,2000").split(",").map(Number);
const HOT_KEY = !flag("--no-hot-key");
const HOT_KEY_ONLY = flag("--hot-key-only");
const SESSION_PATHS_ONLY = flag("--session-paths-only");
/** Only the phases after the sizes (hot key, session paths, hashing) on N = the last size. */
const NO_SIZES = flag("--no-sizes");
const BUNDLE = resolve(root, option("--bundle", process.env.SCALE_BUNDLE ?? join("target", "bench", "worker-scale")));
const OUT = option("--out", join(root, "target", "bench", QUICK ? "scale-quick.json" : "scale.json"));
/** Sequential samples of each flow per size (CPU per call). */
const BATCH = Number(option("--batch", QUICK ? 1 : 8));
/** Operations of the load mix per size: proportional to N (a user's share of traffic). */
const LOAD_OPS = (n) => (QUICK ? 20 : n / 2);
/**
 * The share of the N users who are active during the run (the rest exist in D1 and are never
 * touched): traffic goes to them, as a day's traffic goes to a part of the monthly users.
 */
const ACTIVE_SHARE = QUICK ? 1 : 0.25;
const CONCURRENCY = Number(option("--concurrency", QUICK ? 4 : 8));
/** Hot key: seconds of normal traffic without, then with, the flood. */
const HOT_SECONDS = Number(option("--hot-seconds", QUICK ? 2 : 15));
const FLOOD_CONCURRENCY = QUICK ? 2 : 4;
/** Single-object ramp: concurrency steps and seconds per step. */
const RAMP = QUICK ? [1, 8] : [1, 2, 4, 8, 16, 32, 64];
const RAMP_SECONDS = QUICK ? 0.5 : 3;

const CHEAP = { PASSWORD_HASH_ALGORITHMS: "argon2id.1024.1.1.32", TEMPORARY_PASSWORD_HASH_ALGORITHM: "argon2id.512.1.1.32", ALLOW_WEAK_PASSWORD_HASHING: "true" };
/** The two recommended settings (README "Which Workers plan", docs/benchmarks.md § Calibration). */
export const PARAMETER_SETS = {
  default: "argon2id.65536.3.1.32",
  owasp19: "argon2id.19456.2.1.32",
};
const DEFAULT_TEMPORARY = "argon2id.16384.3.1.32";

const log = (...a) => console.error("scale:", ...a);
const execFileAsync = promisify(execFile);

// ---------------------------------------------------------------- email capture (webhook)

/** The Worker's email webhook on 127.0.0.1: keeps the latest message per (type, address). */
async function startEmailCapture() {
  const latest = new Map();
  let received = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      try {
        const m = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        latest.set(`${m.type} ${m.to}`, m);
        received++;
      } catch {}
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${server.address().port}/hook`;
  return {
    vars: { EMAIL_PROVIDER: "webhook", EMAIL_WEBHOOK_URL: url, EMAIL_WEBHOOK_SECRET: "scale-webhook-secret" },
    last: (type, to) => latest.get(`${type} ${to}`),
    get received() { return received; },
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}

// ---------------------------------------------------------------- the Worker and its CPU

/**
 * Workerd CPU time (ms) of a wrangler dev group, from /proc/<pid>/stat. The process list is read
 * again on every call: wrangler dev restarts workerd when it reloads, and a kept list would then
 * miss the new process. A call's CPU is the difference of two readings; `cpuDelta` counts only
 * the processes present in both, so a restart between them loses that call's figure (undefined)
 * instead of making it wrong.
 */
function cpuReader(pgid) {
  return () => {
    const ticks = new Map();
    for (const pid of readdirSync("/proc")) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        const close = stat.lastIndexOf(")");
        if (stat.slice(stat.indexOf("(") + 1, close) !== "workerd") continue;
        const fields = stat.slice(close + 2).split(" ");
        if (Number(fields[2]) !== pgid) continue;
        // Starting time (field 22) tells a restarted process from an old one with the same pid.
        ticks.set(`${pid}/${fields[19]}`, Number(fields[11]) + Number(fields[12]));
      } catch {}
    }
    return ticks;
  };
}

/** CPU ms between two readings of `cpuReader`; undefined if a process came or went. */
function cpuDelta(before, after) {
  if (before.size !== after.size) return undefined;
  let ticks = 0;
  for (const [key, t] of after) {
    if (!before.has(key)) return undefined;
    ticks += t - before.get(key);
  }
  return ticks * 10; // USER_HZ = 100
}

/** A started bench Worker with its own state directory kept across restarts (`restart(vars)`). */
async function worker(email, persistTo) {
  // The wrangler config (and wrangler's .wrangler/tmp beside it) in this run's own directory:
  // another run of the same bundle must not rewrite the file this one's wrangler dev watches.
  const configDir = join(persistTo, "..", `${basename(persistTo)}-config`);
  mkdirSync(configDir, { recursive: true });
  const start = async (vars) => {
    const w = await startWorker(BUNDLE, { ...email.vars, SESSION_CACHE_EXPIRATION_SECONDS: "60", ...vars }, { persistTo, configDir });
    return { ...w, cpu: cpuReader(w.pgid) };
  };
  return start;
}

// ---------------------------------------------------------------- calling the endpoint

/**
 * Samples land in `sink` (an array) when set: { action, label, ms, status, error, units, counts,
 * cpuMs? }. `cpu` (a reader) makes the call measure workerd CPU around itself: only meaningful
 * when nothing else runs (the batch phase).
 */
function client(state) {
  return async function call(action, args, { expect = "ok", cpu } = {}) {
    const cpuBefore = cpu?.();
    const t0 = performance.now();
    let status = 0, text = "", countsHeader = null;
    // A kept-alive connection that the server closed while this process was busy (reading the
    // object files takes seconds) fails before the request is sent: one retry on a new one.
    for (let attempt = 0; attempt < 2 && status === 0; attempt++) {
      try {
        const r = await fetch(state.url, {
          method: "POST",
          headers: { "content-type": "application/json", "x-faroe-bench-count": "1" },
          body: JSON.stringify({ action, arguments: args }),
        });
        text = await r.text();
        status = r.status;
        countsHeader = r.headers.get("x-faroe-bench-counts");
      } catch (e) {
        text = String(e);
      }
    }
    const ms = performance.now() - t0;
    const cpuMs = cpu ? cpuDelta(cpuBefore, cpu()) : undefined;
    let json = null;
    try { json = JSON.parse(text); } catch {}
    const counts = countsHeader ? JSON.parse(countsHeader) : {};
    const code = json?.ok ? "ok" : json?.error_code ?? `http_${status}`;
    const error = expect === "any" ? status !== 200 : Array.isArray(expect) ? !expect.includes(code) : code !== expect;
    state.sink?.push({ action, label: label(action, counts), ms, status, code, error, units: units(counts), counts, cpuMs });
    return json ?? { ok: false, error_code: `http_${status}`, text };
  };
}

// ---------------------------------------------------------------- the flows

let serial = 0;
const newAddress = (tag) => `${tag}-${process.pid}-${++serial}@example.com`;
const newPassword = () => `scale-password-${++serial}-${Math.random().toString(36).slice(2, 10)}`;

/** Each flow does one user-facing operation; `opts` go to every call (cpu reader in the batch). */
const flows = {
  async signUp(ctx, _user, opts) {
    const address = newAddress("user");
    const password = newPassword();
    const created = await ctx.call("create_signup", { email_address: address }, opts);
    if (!created.ok) return null;
    const token = created.values.signup_token;
    const code = ctx.email.last("signup_email_address_verification_code", address)?.data.email_address_verification_code;
    await ctx.call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code }, opts);
    await ctx.call("set_signup_password", { signup_token: token, password }, opts);
    const done = await ctx.call("complete_signup", { signup_token: token }, opts);
    if (!done.ok) return null;
    const user = { email: address, password, id: done.values.session.user_id, sessions: [done.values.session_token], busy: false, freshAt: Date.now() };
    ctx.users.push(user);
    ctx.pool.push(user);
    return user;
  },
  async signIn(ctx, user, opts) {
    const signin = await ctx.call("create_signin", { user_email_address: user.email }, opts);
    if (!signin.ok) return;
    const token = signin.values.signin_token;
    await ctx.call("verify_signin_user_password", { signin_token: token, password: user.password }, opts);
    const done = await ctx.call("complete_signin", { signin_token: token }, opts);
    if (done.ok) {
      user.sessions.push(done.values.session_token);
      user.freshAt = Date.now();
    }
  },
  async getSession(ctx, user, opts) {
    await ctx.call("get_session", { session_token: user.sessions[user.sessions.length - 1] }, opts);
  },
  async signOut(ctx, user, opts) {
    // Sign out of the latest of two sessions (a second device), so the user keeps one.
    if (user.sessions.length < 2) await flows.signIn(ctx, user, opts);
    if (user.sessions.length < 2) return;
    const token = user.sessions.pop();
    user.freshAt = 0;
    await ctx.call("delete_session", { session_token: token }, opts);
  },
  async updatePassword(ctx, user, opts) {
    const session_token = user.sessions[user.sessions.length - 1];
    const created = await ctx.call("create_user_password_update", { session_token }, opts);
    if (!created.ok) return;
    const token = created.values.user_password_update_token;
    const password = newPassword();
    await ctx.call("verify_user_password_update_user_password", { session_token, user_password_update_token: token, password: user.password }, opts);
    await ctx.call("set_user_password_update_new_password", { session_token, user_password_update_token: token, password }, opts);
    const done = await ctx.call("complete_user_password_update", { session_token, user_password_update_token: token }, opts);
    if (done.ok) user.password = password;
  },
  async updateEmail(ctx, user, opts) {
    const session_token = user.sessions[user.sessions.length - 1];
    const address = newAddress("moved");
    const created = await ctx.call("create_user_email_address_update", { session_token, new_email_address: address }, opts);
    if (!created.ok) return;
    const token = created.values.user_email_address_update_token;
    const code = ctx.email.last("user_email_address_update_email_address_verification_code", address)?.data.email_address_verification_code;
    const args = { session_token, user_email_address_update_token: token };
    await ctx.call("verify_user_email_address_update_email_address_verification_code", { ...args, email_address_verification_code: code }, opts);
    await ctx.call("verify_user_email_address_update_user_password", { ...args, password: user.password }, opts);
    const done = await ctx.call("complete_user_email_address_update", args, opts);
    if (done.ok) user.email = address;
  },
  async resetPassword(ctx, user, opts) {
    const created = await ctx.call("create_user_password_reset", { user_email_address: user.email }, opts);
    if (!created.ok) return;
    const token = created.values.user_password_reset_token;
    const temporary = ctx.email.last("user_password_reset_temporary_password", user.email)?.data.temporary_password;
    await ctx.call("verify_user_password_reset_temporary_password", { user_password_reset_token: token, temporary_password: temporary }, opts);
    const password = newPassword();
    await ctx.call("set_user_password_reset_new_password", { user_password_reset_token: token, password }, opts);
    const done = await ctx.call("complete_user_password_reset", { user_password_reset_token: token }, opts);
    if (done.ok) {
      user.password = password;
      user.sessions.push(done.values.session_token);
      user.freshAt = Date.now();
    }
  },
  async deleteUser(ctx, user, opts) {
    const session_token = user.sessions[user.sessions.length - 1];
    const created = await ctx.call("create_user_deletion", { session_token }, opts);
    if (!created.ok) return;
    const token = created.values.user_deletion_token;
    await ctx.call("verify_user_deletion_user_password", { session_token, user_deletion_token: token, password: user.password }, opts);
    const done = await ctx.call("complete_user_deletion", { session_token, user_deletion_token: token }, opts);
    if (done.ok) {
      ctx.users.splice(ctx.users.indexOf(user), 1);
      if (ctx.pool.includes(user)) ctx.pool.splice(ctx.pool.indexOf(user), 1);
    }
  },
};

/**
 * The load mix, per operation (not per request): get_session is most of the operations and, as
 * each other operation is several requests, about two thirds of the requests.
 */
export const MIX = [
  ["getSession", 0.85], ["signIn", 0.05], ["signOut", 0.02], ["signUp", 0.02],
  ["updatePassword", 0.015], ["updateEmail", 0.015], ["resetPassword", 0.015], ["deleteUser", 0.005],
];
const MIX_TOTAL = MIX.reduce((a, [, w]) => a + w, 0);

function pickFlow(random) {
  let x = random() * MIX_TOTAL;
  for (const [name, w] of MIX) if ((x -= w) < 0) return name;
  return MIX[0][0];
}

/** A seeded PRNG (mulberry32), so every size runs the same sequence of choices. */
function prng(seed) {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Flows that verify the user's password (a getSession or signOut without a session signs in). */
const PASSWORD_FLOWS = new Set(["signIn", "updatePassword", "updateEmail", "deleteUser"]);

/**
 * Whether a real user would run `name` now: nobody checks their password several times a minute
 * or resets it again and again, which the protocol's per-user and per-address buckets (5 tokens,
 * refilled slowly, spec §7) refuse. The load windows keep each user to 3 password checks and 3
 * resets per 10 minutes, so every bucket keeps a token for the hot-key run's final sign-in of
 * every user, and an error in a load window means something else went wrong (the hot-key run
 * compares them with and without a flood).
 */
function withinUserBuckets(user, name, now = Date.now()) {
  const recent = (list) => (list ?? []).filter((t) => now - t < 10 * 60_000).length;
  const checksPassword = PASSWORD_FLOWS.has(name) || (NEEDS_SESSION.has(name) && user.sessions.length === 0);
  if (checksPassword && recent(user.passwordChecks) >= 3) return false;
  if (name === "resetPassword" && recent(user.resets) >= 3) return false;
  return true;
}

/** Records what `name` will spend of the user's buckets (see withinUserBuckets). */
function noteUserBuckets(user, name, now = Date.now()) {
  if (!user) return;
  if (PASSWORD_FLOWS.has(name) || (NEEDS_SESSION.has(name) && user.sessions.length === 0)) {
    (user.passwordChecks ??= []).push(now);
    if (name !== "signIn" && user.sessions.length === 0) user.passwordChecks.push(now);
  }
  if (name === "resetPassword") (user.resets ??= []).push(now);
}

/** A free active user (not busy, not excluded, `name` within their buckets), marked busy; null if none. */
function takeUser(ctx, random, exclude = new Set(), name = null) {
  for (let tries = 0; tries < 50; tries++) {
    const user = ctx.pool[Math.floor(random() * ctx.pool.length)];
    if (user && !user.busy && !exclude.has(user) && (name === null || withinUserBuckets(user, name))) {
      user.busy = true;
      return user;
    }
  }
  return null;
}

/** The flows that start from a signed-in user's session. */
const NEEDS_SESSION = new Set(["getSession", "signOut", "updatePassword", "updateEmail", "deleteUser"]);

async function runOperation(ctx, name, user, opts) {
  try {
    // A seeded user who has not signed in yet (or signed out of everything) signs in first, as a
    // returning user would.
    if (user && NEEDS_SESSION.has(name) && user.sessions.length === 0) await flows.signIn(ctx, user, opts);
    if (user && NEEDS_SESSION.has(name) && user.sessions.length === 0) return;
    await flows[name](ctx, user, opts);
  } finally {
    if (user) user.busy = false;
  }
}

/** `ops` operations of the mix at `concurrency` at once, or until `until()` says stop. */
async function runMix(ctx, { ops = Infinity, concurrency, random, exclude, until = () => false }) {
  let started = 0;
  const lane = async () => {
    while (started < ops && !until()) {
      started++;
      const name = pickFlow(random);
      const user = name === "signUp" ? null : takeUser(ctx, random, exclude, name);
      if (name !== "signUp" && !user) {
        // Every user busy or at their buckets: yield, so the lanes' requests progress.
        await new Promise((resolve) => setTimeout(resolve, 5));
        continue;
      }
      if (user) noteUserBuckets(user, name);
      await runOperation(ctx, name, user, {});
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

// ---------------------------------------------------------------- local Durable Object files

/** The SQLite files of a class (`MainStore`, `RateLimitStore`) under a persist directory. */
function objectFiles(persistTo, className) {
  const base = join(persistTo, "v3", "do");
  if (!existsSync(base)) return [];
  const dir = readdirSync(base).find((d) => d.endsWith(`-${className}`));
  if (!dir) return [];
  return readdirSync(join(base, dir)).filter((f) => /^[0-9a-f]{64}\.sqlite$/.test(f)).map((f) => join(base, dir, f));
}

/**
 * Objects holding data (any table but miniflare's local `__miniflare_do_name`, tests/e2e/
 * storage.test.mjs), their entry rows and the bytes of their files (database + WAL). Files are
 * copied before they are opened, so workerd's open databases are never touched.
 */
export function storedObjects(persistTo) {
  const out = {};
  const scratch = mkdtempSync(join(tmpdir(), "faroe-scale-do-"));
  try {
    for (const className of ["MainStore", "RateLimitStore"]) {
      let files = 0, holding = 0, holdingBytes = 0, allBytes = 0, rows = 0;
      for (const file of objectFiles(persistTo, className)) {
        files++;
        let bytes = 0;
        for (const suffix of ["", "-wal"]) {
          if (!existsSync(file + suffix)) continue;
          bytes += statSync(file + suffix).size;
          copyFileSync(file + suffix, join(scratch, `db${suffix}`));
        }
        allBytes += bytes;
        const db = new DatabaseSync(join(scratch, "db"));
        try {
          const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name <> '__miniflare_do_name'").all().map((t) => t.name);
          if (tables.length > 0) {
            holding++;
            holdingBytes += bytes;
            if (tables.includes("entry")) rows += db.prepare("SELECT COUNT(*) AS n FROM entry").get().n;
          }
        } finally {
          db.close();
        }
        rmSync(join(scratch, "db-wal"), { force: true });
      }
      out[className] = { files, holding, rows, holdingBytes, allBytes };
    }
    // The local D1 database (the users table): its SQLite files.
    const d1 = join(persistTo, "v3", "d1");
    let d1Bytes = 0;
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (/\.sqlite(-wal)?$/.test(e.name)) d1Bytes += statSync(join(dir, e.name)).size;
      }
    };
    if (existsSync(d1)) walk(d1);
    out.d1Bytes = d1Bytes;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  return out;
}

// ---------------------------------------------------------------- phases

/** Every flow BATCH times, one call at a time, CPU read around each call. */
async function batchPhase(ctx, random) {
  ctx.sink = [];
  const opts = { cpu: ctx.worker.cpu };
  const order = ["signUp", "signIn", "getSession", "getSession", "signOut", "updatePassword", "updateEmail", "resetPassword", "deleteUser"];
  for (let i = 0; i < BATCH; i++) {
    for (const name of order) {
      const user = name === "signUp" ? null : takeUser(ctx, random);
      if (name !== "signUp" && !user) continue;
      noteUserBuckets(user, name);
      // One path per action: a flow that starts from a session starts from a fresh one (its
      // cached copy warm, no activity write due), so its counts do not depend on how long ago
      // this user was last seen. The other session paths: sessionPathsRun.
      // (Fresh: made in the last 45 s, within the 60 s cache and activity interval.)
      const fresh = user !== null && user.sessions.length > 0 && Date.now() - (user.freshAt ?? 0) < 45_000;
      if (NEEDS_SESSION.has(name) && !fresh) await flows.signIn(ctx, user, {});
      await runOperation(ctx, name, user, opts);
    }
  }
  const samples = ctx.sink;
  ctx.sink = null;
  return samples;
}

const ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";
const randomId = () => Array.from(randomBytes(24), (b) => ID_ALPHABET[b % 32]).join("");

/**
 * Brings the users table up to `n` users. They are written straight into the local D1 (what a
 * migration of existing users would do), with real Argon2id hashes at the cheap test setting
 * computed by hash-wasm, so that every user can sign in; signing up thousands of users through
 * the Worker would take most of the run on a shared 2-core machine and measure nothing the batch
 * phase does not already measure (sign-ups are part of it and of the mix). A seeded user has no
 * session until it signs in: the mix signs it in when it first needs one.
 */
async function populate(ctx, n) {
  const started = Date.now();
  const rows = [];
  const seeded = [];
  for (let i = ctx.users.length; i < n; i++) {
    const id = randomId();
    const email = `seed-${i}-${process.pid}@example.com`;
    const password = `seed-password-${i}-${randomId().slice(0, 8)}`;
    const salt = randomBytes(16);
    const hash = await argon2id({ password, salt, parallelism: 1, iterations: 1, memorySize: 1024, hashLength: 32, outputType: "binary" });
    rows.push(`('${id}', '${email}', '${Buffer.from(hash).toString("base64")}', '${salt.toString("base64")}', 'argon2id.1024.1.1.32', ${Math.floor(Date.now() / 1000)})`);
    seeded.push({ email, password, id, sessions: [], busy: false });
  }
  const config = ctx.worker.config;
  const file = join(ctx.persistTo, "..", `seed-${process.pid}.sql`);
  for (let i = 0; i < rows.length; i += 500) {
    writeFileSync(file, `INSERT INTO users (id, email_address, password_hash, password_salt, password_hash_algorithm_id, created_at) VALUES\n${rows.slice(i, i + 500).join(",\n")};\n`);
    await execFileAsync(join(root, "node_modules", ".bin", "wrangler"),
      ["d1", "execute", "DB", "--local", "--persist-to", ctx.persistTo, "-c", config, "--file", file, "--yes"],
      { cwd: root, env: wranglerEnv(), maxBuffer: 16 * 1024 * 1024 });
  }
  rmSync(file, { force: true });
  ctx.users.push(...seeded);
  // Every fourth seeded user is active (ACTIVE_SHARE).
  ctx.pool.push(...seeded.filter((_, i) => i % Math.round(1 / ACTIVE_SHARE) === 0));
  log(`seeded ${seeded.length} users (${ctx.users.length} in all) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function sizeRun(ctx, n, random) {
  await populate(ctx, n);
  log(`N=${n}: batch (${BATCH} of each flow, one call at a time)`);
  const batch = await batchPhase(ctx, random);
  log(`N=${n}: load (${LOAD_OPS(n)} operations, ${CONCURRENCY} at once)`);
  ctx.sink = [];
  const t0 = performance.now();
  const cpu0 = ctx.worker.cpu();
  await runMix(ctx, { ops: LOAD_OPS(n), concurrency: CONCURRENCY, random });
  const seconds = (performance.now() - t0) / 1000;
  const load = ctx.sink;
  const loadCpuMs = cpuDelta(cpu0, ctx.worker.cpu()) ?? NaN;
  ctx.sink = null;
  const stored = storedObjects(ctx.persistTo);
  return {
    n,
    users: ctx.users.length,
    batch: byLabel(batch),
    load: byLabel(load),
    loadTotals: {
      requests: load.length,
      seconds,
      requestsPerSecond: load.length / seconds,
      errors: load.filter((s) => s.error).length,
      cpuMsPerRequest: loadCpuMs / load.length,
      getSessionShare: load.filter((s) => s.action === "get_session").length / load.length,
    },
    stored,
    loadAverage: loadavg(),
  };
}

/** The hashing actions on a Worker restarted with `algorithm` first. */
async function hashingRun(ctx, algorithm, random) {
  log(`hashing actions at ${algorithm}`);
  await ctx.restart({
    PASSWORD_HASH_ALGORITHMS: `${algorithm},${CHEAP.PASSWORD_HASH_ALGORITHMS}`,
    TEMPORARY_PASSWORD_HASH_ALGORITHM: DEFAULT_TEMPORARY,
    ALLOW_WEAK_PASSWORD_HASHING: "true",
  });
  // Warm the isolate (the block buffer is sized at the first request).
  await ctx.call("get_session", { session_token: "abcdefghijkmnpqrstuvwxyz.abcdefghijkmnpqrstuvwxyz" }, { expect: "any" });
  ctx.sink = [];
  const opts = { cpu: ctx.worker.cpu };
  const runs = QUICK ? 1 : 4;
  for (let i = 0; i < runs; i++) {
    // A fresh user, so its stored hash is at `algorithm` when it signs in and verifies.
    const user = await flows.signUp(ctx, null, opts);
    for (const name of ["signIn", "updatePassword", "updateEmail", "resetPassword", "deleteUser"]) {
      user.busy = true;
      await runOperation(ctx, name, user, opts);
    }
  }
  const samples = ctx.sink.filter((s) => s.units.hashes > 0);
  ctx.sink = null;
  return { algorithm, temporaryAlgorithm: DEFAULT_TEMPORARY, actions: byLabel(samples) };
}

/**
 * The session paths a short run cannot meet in its batch. With the activity interval at 1 s
 * (restarted Worker, same state; the cache keeps its 60 s, the least it accepts), a session used
 * again after 1.1 s hits the cache and writes its activity, which drops the cached copy; 1.1 s
 * later the next call misses the cache and writes the activity again (what the first call of a
 * visit does with the 60 s defaults); the call after it misses without a write (a visit's second
 * call); the next hits. Then the user signs out of a second session. CPU read around each call.
 */
async function sessionPathsRun(ctx) {
  log("session paths (activity interval at 1 s)");
  await ctx.restart({ ...CHEAP, SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS: "1" });
  await ctx.call("get_session", { session_token: "abcdefghijkmnpqrstuvwxyz.abcdefghijkmnpqrstuvwxyz" }, { expect: "any" });
  const opts = { cpu: ctx.worker.cpu };
  const users = [];
  for (let i = 0; i < (QUICK ? 2 : 8); i++) {
    const user = takeUser(ctx, Math.random);
    if (!user) break;
    if (user.sessions.length === 0) await flows.signIn(ctx, user, {});
    users.push(user);
  }
  const pause = () => new Promise((r) => setTimeout(r, 1100));
  const latest = (user) => ({ session_token: user.sessions[user.sessions.length - 1] });
  ctx.sink = [];
  await pause();
  for (const user of users) await ctx.call("get_session", latest(user), opts);
  await pause();
  for (const user of users) {
    for (let k = 0; k < 3; k++) await ctx.call("get_session", latest(user), opts);
  }
  for (const user of users) {
    await flows.signOut(ctx, user, opts);
    user.busy = false;
  }
  const samples = ctx.sink.filter((s) => s.action === "get_session" || s.action === "delete_session");
  ctx.sink = null;
  return byLabel(samples);
}

// ---------------------------------------------------------------- hot key

/** Normal traffic for `seconds` (victims excluded); with `flood`, attackers run alongside. */
async function trafficWindow(ctx, seconds, random, exclude, flood) {
  ctx.sink = [];
  const stopAt = performance.now() + seconds * 1000;
  const until = () => performance.now() >= stopAt;
  const normal = runMix(ctx, { concurrency: CONCURRENCY, random, exclude, until });
  const attack = flood ? flood(until) : Promise.resolve([]);
  const [, floodSamples] = await Promise.all([normal, attack]);
  const samples = ctx.sink;
  ctx.sink = null;
  const ms = samples.map((s) => s.ms);
  return {
    requests: samples.length,
    requestsPerSecond: samples.length / seconds,
    errors: samples.filter((s) => s.error).length,
    errorRate: samples.filter((s) => s.error).length / Math.max(1, samples.length),
    errorCodes: Object.fromEntries(Object.entries(samples.filter((s) => s.error).reduce((m, s) => ((m[s.code] = (m[s.code] ?? 0) + 1), m), {}))),
    p50Ms: percentile(ms, 50),
    p99Ms: percentile(ms, 99),
    flood: floodSamples.length ? summariseFlood(floodSamples, seconds) : null,
  };
}

function summariseFlood(samples, seconds) {
  const out = {};
  for (const s of samples) {
    const o = (out[s.action] ??= { requests: 0, codes: {}, ms: [] });
    o.requests++;
    o.codes[s.code] = (o.codes[s.code] ?? 0) + 1;
    o.ms.push(s.ms);
  }
  for (const o of Object.values(out)) {
    o.requestsPerSecond = o.requests / seconds;
    o.p50Ms = percentile(o.ms, 50);
    o.p99Ms = percentile(o.ms, 99);
    delete o.ms;
  }
  return out;
}

/** Concurrency steps against `target(i)` URLs for RAMP_SECONDS each: req/s, p50, p99, errors. */
async function ramp(urlFor) {
  const steps = [];
  for (const concurrency of RAMP) {
    const ms = [];
    let errors = 0, i = 0;
    const stopAt = performance.now() + RAMP_SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < stopAt) {
        const s = performance.now();
        try {
          const r = await fetch(urlFor(i++), { method: "POST", body: "" });
          await r.arrayBuffer();
          if (r.status !== 200) errors++;
        } catch { errors++; }
        ms.push(performance.now() - s);
      }
    }));
    const seconds = (performance.now() - t0) / 1000;
    steps.push({ concurrency, requests: ms.length, requestsPerSecond: ms.length / seconds, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), errors });
  }
  return steps;
}

/** The first step whose throughput grew < 10 % over the previous one while its p99 rose 1.5×. */
export function knee(steps) {
  for (let i = 1; i < steps.length; i++) {
    const [a, b] = [steps[i - 1], steps[i]];
    if (b.requestsPerSecond < a.requestsPerSecond * 1.1 && b.p99Ms > a.p99Ms * 1.5) return a;
  }
  return steps[steps.length - 1];
}

async function hotKeyRun(ctx, random) {
  log("hot key: choosing the victim and the hot address");
  const victim = takeUser(ctx, random);
  const exclude = new Set([victim]);
  // The attacker's handles: a signin of the victim (wrong passwords drain its verify-password
  // bucket), the victim's address (password resets drain its send-email and mailbox buckets), and
  // a signup of one fresh address whose code it asks to resend.
  const hotAddress = newAddress("hot");
  const signup = await ctx.call("create_signup", { email_address: hotAddress }, { expect: "any" });
  const signin = await ctx.call("create_signin", { user_email_address: victim.email }, { expect: "any" });
  if (!signup.ok || !signin.ok) throw new Error(`hot key setup failed: create_signup ${JSON.stringify(signup)}, create_signin ${JSON.stringify(signin)}`);
  // The attack began before the measured window: the first five wrong passwords were checked
  // (five hashes), every later one is refused by the drained bucket without a hash.
  const drained = [];
  for (let i = 0; i < 6; i++) {
    drained.push((await ctx.call("verify_signin_user_password", { signin_token: signin.values.signin_token, password: "wrong-password-123" }, { expect: ["incorrect_password", "rate_limited"] })).error_code);
  }
  const flood = async (until) => {
    const samples = [];
    const sink = { push: (s) => samples.push(s) };
    const floodCall = client({ url: ctx.url, sink });
    const calls = [
      () => floodCall("verify_signin_user_password", { signin_token: signin.values.signin_token, password: "wrong-password-123" }, { expect: ["incorrect_password", "rate_limited"] }),
      () => floodCall("create_user_password_reset", { user_email_address: victim.email }, { expect: ["ok", "rate_limited"] }),
      () => floodCall("send_signup_email_address_verification_code", { signup_token: signup.values.signup_token }, { expect: ["ok", "rate_limited"] }),
    ];
    let k = 0;
    await Promise.all(Array.from({ length: FLOOD_CONCURRENCY }, async () => {
      while (!until()) await calls[k++ % calls.length]();
    }));
    return samples;
  };
  log(`hot key: ${HOT_SECONDS} s of normal traffic without the flood`);
  const baseline = await trafficWindow(ctx, HOT_SECONDS, random, exclude, null);
  log(`hot key: ${HOT_SECONDS} s of normal traffic with the flood`);
  const flooded = await trafficWindow(ctx, HOT_SECONDS, random, exclude, flood);
  log("hot key: invariants (every other user signs in; every held session is valid)");
  ctx.sink = [];
  // Every other user who was active in the run (holds a session), and a sample of the seeded
  // users who never signed in (signing in all of them would add thousands of requests and test
  // nothing the flood could have touched: it reached none of their objects).
  const activeAll = ctx.users.filter((u) => u !== victim && u.sessions.length > 0);
  const idle = ctx.users.filter((u) => u !== victim && u.sessions.length === 0);
  // At most 120 active and 30 idle users, evenly spread (each check is a sign-in: 3 requests).
  const spread = (list, max) => list.filter((_, i) => i % Math.max(1, Math.ceil(list.length / max)) === 0);
  const active = spread(activeAll, QUICK ? 300 : 120);
  const idleSample = spread(idle, QUICK ? 50 : 30);
  const others = [...active, ...idleSample];
  let signInFailures = 0, lostSessions = 0, sessionsChecked = 0;
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < others.length) {
      const user = others[next++];
      for (const token of user.sessions) {
        sessionsChecked++;
        if (!(await ctx.call("get_session", { session_token: token })).ok) lostSessions++;
      }
      const before = user.sessions.length;
      await flows.signIn(ctx, user, {});
      if (user.sessions.length !== before + 1) signInFailures++;
    }
  }));
  const invariantErrors = ctx.sink.filter((s) => s.error).map((s) => `${s.action}: ${s.code}`);
  ctx.sink = null;
  const victimSignin = await ctx.call("create_signin", { user_email_address: victim.email });
  const victimVerify = await ctx.call("verify_signin_user_password", { signin_token: victimSignin.values.signin_token, password: victim.password }, { expect: "any" });
  log("hot key: one Durable Object against many (bench floor read)");
  const sameKey = await ramp(() => `${ctx.url}__bench/floor?do=hot-object-key`);
  const distinctKeys = await ramp((i) => `${ctx.url}__bench/floor?do=object-${i}`);
  const workerAlive = (await fetch(`${ctx.url}__bench/baseline`)).status === 200;
  const crashed = ctx.worker.logs.filter((l) => /panicked|Uncaught|RuntimeError|unreachable/i.test(l));
  return {
    seconds: HOT_SECONDS,
    concurrency: CONCURRENCY,
    floodConcurrency: FLOOD_CONCURRENCY,
    drained,
    baseline,
    flooded,
    ratio: {
      p50: flooded.p50Ms / baseline.p50Ms,
      p99: flooded.p99Ms / baseline.p99Ms,
      errorRate: [baseline.errorRate, flooded.errorRate],
    },
    invariants: {
      usersChecked: others.length,
      activeUsersChecked: active.length,
      activeUsers: activeAll.length,
      idleUsersChecked: idleSample.length,
      idleUsers: idle.length,
      signInFailures,
      sessionsChecked,
      lostSessions,
      errors: invariantErrors.slice(0, 20),
      victimAfterFlood: victimVerify.ok ? "ok" : victimVerify.error_code,
      workerAlive,
      crashLines: crashed.slice(0, 5),
    },
    singleObject: { sameKey, distinctKeys, sameKeyKnee: knee(sameKey), distinctKeysKnee: knee(distinctKeys) },
  };
}

// ---------------------------------------------------------------- report

const SUBREQUEST_COLUMNS = [
  ["DO calls", (u) => u.doCalls], ["DO rows r/w", (u) => `${fmt(u.doRowsRead)}/${fmt(u.doRowsWritten)}`],
  ["KV r/w/d", (u) => `${fmt(u.kvReads)}/${fmt(u.kvWrites)}/${fmt(u.kvDeletes)}`], ["D1 queries", (u) => u.d1Queries],
  ["fetches", (u) => u.fetches], ["hashes", (u) => u.hashes], ["objects +", (u) => u.objectsCreated], ["DO call ms", (u) => u.doCallMs],
];

function report(result) {
  const out = [];
  const sizes = result.sizes;
  if (sizes.length === 0) return [...sessionPathsReport(result.sessionPaths), ...hotKeyReport(result.hotKey)].join("\n");
  const first = sizes[0], last = sizes[sizes.length - 1];
  out.push(`\n## Per action at N = ${last.n} (batch: one call at a time; load: ${CONCURRENCY} operations at once)\n`);
  const labels = Object.keys(last.batch);
  out.push(table(
    ["action", "calls", ...SUBREQUEST_COLUMNS.map(([h]) => h), "workerd CPU ms", "p50 / p99 ms (batch)", "p50 / p99 ms (load)"],
    labels.map((l) => {
      const b = last.batch[l], ld = last.load[l];
      return [l, b.calls, ...SUBREQUEST_COLUMNS.map(([, f]) => (typeof f(b.units) === "number" ? fmt(f(b.units), 2) : f(b.units))),
        fmt(b.cpuMs), `${fmt(b.p50Ms)} / ${fmt(b.p99Ms)}`, ld ? `${fmt(ld.p50Ms)} / ${fmt(ld.p99Ms)}` : "–"];
    }),
  ));
  out.push(`\n## Growth with N (${sizes.map((s) => s.n).join(" → ")}): figure at N=${last.n} ÷ figure at N=${first.n}\n`);
  out.push(table(
    ["action", "DO calls", "KV ops", "D1 queries", "CPU ms", "verdict (counts, CPU)", "p50 ms (load)"],
    labels.filter((l) => first.batch[l]).map((l) => {
      const [a, b] = [first.batch[l], last.batch[l]];
      const kv = (u) => u.kvReads + u.kvWrites + u.kvDeletes;
      const counts = ["doCalls", "d1Queries"].map((k) => verdict(a.units[k], b.units[k], { exact: true }));
      counts.push(verdict(kv(a.units), kv(b.units), { exact: true }));
      const cpu = verdict(a.cpuMs, b.cpuMs);
      const p50 = verdict(first.load[l]?.p50Ms ?? null, last.load[l]?.p50Ms ?? null);
      const countsVerdict = counts.every((v) => v.verdict === "flat") ? "flat" : "grows";
      return [l, sizes.map((s) => fmt(s.batch[l]?.units.doCalls, 2)).join(" → "), sizes.map((s) => fmt(s.batch[l] ? kv(s.batch[l].units) : null, 2)).join(" → "),
        sizes.map((s) => fmt(s.batch[l]?.units.d1Queries, 2)).join(" → "), sizes.map((s) => fmt(s.batch[l]?.cpuMs)).join(" → "),
        `${countsVerdict}, ${cpu.verdict} (${fmt(cpu.ratio, 2)})`, `${sizes.map((s) => fmt(s.load[l]?.p50Ms)).join(" → ")} (${p50.verdict})`];
    }),
  ));
  out.push("\n## Storage and load per size\n");
  out.push(table(
    ["N", "users", "main objects holding data", "rate-limit objects holding data", "bytes (local files)", "bytes / user", "D1 bytes", "load req/s", "load errors", "CPU ms / request (load)", "get_session share", "load average"],
    sizes.map((s) => {
      const bytes = s.stored.MainStore.holdingBytes + s.stored.RateLimitStore.holdingBytes;
      return [s.n, s.users, s.stored.MainStore.holding, s.stored.RateLimitStore.holding, bytes, fmt(bytes / s.users, 0), s.stored.d1Bytes, fmt(s.loadTotals.requestsPerSecond),
        s.loadTotals.errors, fmt(s.loadTotals.cpuMsPerRequest, 2), fmt(s.loadTotals.getSessionShare, 2), s.loadAverage.map((x) => x.toFixed(2)).join(" ")];
    }),
  ));
  out.push(...sessionPathsReport(result.sessionPaths));
  for (const h of result.hashing ?? []) {
    out.push(`\n## Hashing actions at ${h.algorithm} (temporary passwords ${h.temporaryAlgorithm})\n`);
    out.push(table(["action", "calls", "hashes", "workerd CPU ms", "p50 ms"],
      Object.entries(h.actions).map(([l, s]) => [l, s.calls, fmt(s.units.hashes, 2), fmt(s.cpuMs), fmt(s.p50Ms)])));
  }
  out.push(...hotKeyReport(result.hotKey));
  return out.join("\n");
}

function sessionPathsReport(paths) {
  if (!paths) return [];
  return ["\n## Session paths (activity interval at 1 s)\n",
    table(["path", "calls", ...SUBREQUEST_COLUMNS.map(([h]) => h), "workerd CPU ms", "p50 ms"],
      Object.entries(paths).map(([l, b]) => [l, b.calls, ...SUBREQUEST_COLUMNS.map(([, f]) => (typeof f(b.units) === "number" ? fmt(f(b.units), 2) : f(b.units))), fmt(b.cpuMs), fmt(b.p50Ms)]))];
}

function hotKeyReport(hk) {
  const out = [];
  if (hk) {
    out.push(`\n## Hot key (N = ${hk.n}, ${hk.seconds} s each, ${hk.concurrency} normal lanes, ${hk.floodConcurrency} flood lanes)\n`);
    out.push(table(["window", "other users' requests", "req/s", "p50 ms", "p99 ms", "errors"], [
      ["without flood", hk.baseline.requests, fmt(hk.baseline.requestsPerSecond), fmt(hk.baseline.p50Ms), fmt(hk.baseline.p99Ms), `${hk.baseline.errors} (${fmt(hk.baseline.errorRate * 100, 2)} %)`],
      ["with flood", hk.flooded.requests, fmt(hk.flooded.requestsPerSecond), fmt(hk.flooded.p50Ms), fmt(hk.flooded.p99Ms), `${hk.flooded.errors} (${fmt(hk.flooded.errorRate * 100, 2)} %)`],
      ["ratio", "", fmt(hk.flooded.requestsPerSecond / hk.baseline.requestsPerSecond, 2), fmt(hk.ratio.p50, 2), fmt(hk.ratio.p99, 2), ""],
    ]));
    out.push("\nThe flood:\n");
    out.push(table(["attack", "requests", "req/s", "answers", "p50 ms", "p99 ms"],
      Object.entries(hk.flooded.flood ?? {}).map(([a, f]) => [a, f.requests, fmt(f.requestsPerSecond), Object.entries(f.codes).map(([c, n]) => `${c} ${n}`).join(", "), fmt(f.p50Ms), fmt(f.p99Ms)])));
    const inv = hk.invariants;
    out.push(`\nAfter: ${inv.usersChecked} other users signed in (${inv.activeUsersChecked} of the ${inv.activeUsers} active in the run, ${inv.idleUsersChecked} of the ${inv.idleUsers} who never signed in), ${inv.signInFailures} failed; ${inv.sessionsChecked} held sessions checked, ${inv.lostSessions} lost; ` +
      `victim's correct password now: ${inv.victimAfterFlood}; Worker answering: ${inv.workerAlive}; crash lines in its log: ${inv.crashLines.length}.`);
    out.push("\nOne Durable Object (bench floor read of one key) against distinct objects:\n");
    out.push(table(["concurrency", "same key req/s", "p50 / p99 ms", "distinct keys req/s", "p50 / p99 ms"],
      hk.singleObject.sameKey.map((s, i) => {
        const d = hk.singleObject.distinctKeys[i];
        return [s.concurrency, fmt(s.requestsPerSecond), `${fmt(s.p50Ms)} / ${fmt(s.p99Ms)}`, fmt(d.requestsPerSecond), `${fmt(d.p50Ms)} / ${fmt(d.p99Ms)}`];
      })));
  }
  return out;
}

// ---------------------------------------------------------------- main

function writePartial(result) {
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify({ ...result, partial: true }, null, 1) + "\n");
}

async function main() {
  if (!existsSync(join(BUNDLE, "index.js"))) throw new Error(`no bench bundle at ${BUNDLE} (scripts/scale.sh builds it)`);
  const started = Date.now();
  const email = await startEmailCapture();
  const persistTo = mkdtempSync(join(tmpdir(), "faroe-scale-"));
  const start = await worker(email, persistTo);
  const random = prng(15);
  const state = { url: null, sink: null };
  const ctx = {
    email, persistTo, users: [], pool: [], worker: null,
    get url() { return state.url; },
    get sink() { return state.sink; },
    set sink(v) { state.sink = v; },
    call: client(state),
    async restart(vars) {
      await ctx.worker?.stop();
      ctx.worker = await start(vars);
      state.url = ctx.worker.url.endsWith("/") ? ctx.worker.url : `${ctx.worker.url}/`;
    },
  };
  const result = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: { cpus: cpus().length, model: cpus()[0]?.model, loadAverageAtStart: loadavg() },
    wrangler: JSON.parse(readFileSync(join(root, "node_modules", "wrangler", "package.json"), "utf8")).version,
    bundle: BUNDLE,
    cheapAlgorithms: CHEAP,
    batchPerFlow: BATCH,
    concurrency: CONCURRENCY,
    mix: Object.fromEntries(MIX),
    sizes: [],
  };
  try {
    await ctx.restart(CHEAP);
    if (SESSION_PATHS_ONLY) {
      await populate(ctx, 40);
      result.sessionPaths = await sessionPathsRun(ctx);
    } else if (NO_SIZES) {
      await populate(ctx, SIZES[SIZES.length - 1]);
    } else if (!HOT_KEY_ONLY) {
      for (const n of SIZES) {
        result.sizes.push(await sizeRun(ctx, n, random));
        log(`N=${n} done`);
        // Written after each phase too, so a run that fails later keeps what it measured.
        writePartial(result);
      }
    } else {
      await populate(ctx, SIZES[SIZES.length - 1]);
    }
    if (HOT_KEY && !SESSION_PATHS_ONLY) {
      result.hotKey = { n: ctx.users.length, ...(await hotKeyRun(ctx, random)) };
      writePartial(result);
    }
    if (!HOT_KEY_ONLY && !SESSION_PATHS_ONLY) {
      result.hashing = [];
      if (!QUICK) {
        result.sessionPaths = await sessionPathsRun(ctx);
        writePartial(result);
      }
      // --quick: the default set only (each set costs a Worker restart).
      for (const algorithm of Object.values(PARAMETER_SETS).slice(0, QUICK ? 1 : undefined)) result.hashing.push(await hashingRun(ctx, algorithm, random));
    }
  } finally {
    await ctx.worker?.stop();
    await email.close();
    rmSync(persistTo, { recursive: true, force: true });
    rmSync(`${persistTo}-config`, { recursive: true, force: true });
  }
  result.seconds = (Date.now() - started) / 1000;
  result.machine.loadAverageAtEnd = loadavg();
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify(result, null, 1) + "\n");
  console.log(report(result));
  console.log(`\n${result.seconds.toFixed(0)} s; load average ${result.machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(" ")} at start, ` +
    `${result.machine.loadAverageAtEnd.map((x) => x.toFixed(2)).join(" ")} at end; JSON: ${OUT}`);
}

if (import.meta.url === `file://${process.argv[1]}` && flag("--report")) {
  // Prints the report of a saved run (e.g. one merged from two runs) without running anything.
  console.log(report(JSON.parse(readFileSync(option("--report"), "utf8"))));
} else if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
