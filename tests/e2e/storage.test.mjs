// Storage lifecycle in workerd (issue #11, items 1 and 7), inspected in the local Durable Object
// SQLite files under wrangler's --persist-to directory:
// - reads of unknown keys (sessions, signups, a fresh rate-limit bucket) leave no table behind;
// - a signup, a signin and a session that were deleted leave their objects empty;
// - the expiry alarm empties an object whose last entry expired;
// - a delete_session racing a slow get_session's cache fill stays revoked.
// Locally every object that is touched gets a .sqlite file, even on a read, so the checks look at
// what a file holds (its tables and rows), not at whether it exists. The figures (objects touched,
// objects holding data, bytes, workerd CPU per action) are printed as test diagnostics.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { workerdCpuMs } from "../../scripts/bench/workerd.mjs";
import { holdsData, inspectObject, objectIds } from "./objects.mjs";
import {
  startWorker, startEmailCapture, startUserServer, invoke, SECRET, FAST_ALGORITHMS, sleep,
} from "./harness.mjs";

const N = 20;
const ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";
const randomId = () => Array.from(randomBytes(24), (b) => ALPHABET[b % 32]).join("");
const randomToken = () => `${randomId()}.${randomId()}`;

// ---------------------------------------------------------------- local object files

/** What an object holding one entry has: the entry, and its expiry alarm (`_cf_METADATA`). */
const ONE_ENTRY = { entry: 1, _cf_METADATA: 1 };

/** Objects of both classes, by class. */
function snapshot(persistTo) {
  return { MainStore: objectIds(persistTo, "MainStore"), RateLimitStore: objectIds(persistTo, "RateLimitStore") };
}

/** The objects that got a file since `before`, by class, with what each holds. */
function touchedSince(persistTo, before) {
  const out = {};
  for (const className of ["MainStore", "RateLimitStore"]) {
    out[className] = [...objectIds(persistTo, className)]
      .filter((id) => !before[className].has(id))
      .map((id) => ({ id, ...inspectObject(persistTo, className, id) }));
  }
  return out;
}

function summary(touched) {
  return Object.entries(touched)
    .map(([className, objects]) => {
      const holding = objects.filter(holdsData).length;
      const bytes = objects.reduce((n, o) => n + o.bytes, 0);
      return `${className}: ${objects.length} files, ${holding} holding tables, ${bytes} bytes`;
    })
    .join("; ");
}

/** Polls `inspect` until `done(result)` or the deadline; returns the last result. */
async function until(inspect, done, deadlineMs = 30_000) {
  const deadline = Date.now() + deadlineMs;
  let last = inspect();
  while (!done(last) && Date.now() < deadline) {
    await sleep(250);
    last = inspect();
  }
  return last;
}

// ---------------------------------------------------------------- the worker

let worker, email, users;
before(async () => {
  email = await startEmailCapture();
  users = await startUserServer();
  worker = await startWorker({
    vars: {
      ...email.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      // Activity updates (which delete the cached copy) become due after 1 s: the race test
      // uses one to make the next get_session a cache miss.
      SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS: "1",
    },
  });
});
after(async () => {
  await worker?.stop();
  await Promise.all([email?.close(), users?.close()]);
});

const call = async (action, args) => (await invoke(worker.url, action, args)).json;

async function signedUp(address, password = "storage-password-1") {
  const created = await call("create_signup", { email_address: address });
  assert.equal(created.ok, true, JSON.stringify(created));
  const token = created.values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code })).ok, true);
  assert.equal((await call("set_signup_password", { signup_token: token, password })).ok, true);
  const done = await call("complete_signup", { signup_token: token });
  assert.equal(done.ok, true, JSON.stringify(done));
  return { signupToken: token, session: done.values.session_token, password };
}

/** Runs `action` and returns the objects it touched (new files) with what they hold. */
async function touchedBy(action) {
  const before = snapshot(worker.persistTo);
  const result = await action();
  return { result, touched: touchedSince(worker.persistTo, before) };
}

// ---------------------------------------------------------------- item 1: reads write nothing

test(`${N} get_session and ${N} get_signup with unknown tokens leave no table in any object`, async (t) => {
  // Warm the isolate first (the first requests compile and instantiate the Worker).
  for (let i = 0; i < 5; i++) await call("get_session", { session_token: randomToken() });
  for (const [action, argument, code, prefix] of [
    ["get_session", "session_token", "invalid_session_token", "aaaa."],
    ["get_signup", "signup_token", "invalid_signup_token", "aaab."],
  ]) {
    const before = snapshot(worker.persistTo);
    const keys = new Set();
    const cpuBefore = await workerdCpuMs(worker.pgid);
    for (let i = 0; i < N; i++) {
      const token = randomToken();
      keys.add(prefix + token.split(".")[0]);
      const r = await call(action, { [argument]: token });
      assert.equal(r.error_code, code);
    }
    const cpu = (await workerdCpuMs(worker.pgid)) - cpuBefore;
    const touched = touchedSince(worker.persistTo, before);
    t.diagnostic(`${N} × ${action} (unknown token): ${summary(touched)}; workerd CPU ${(cpu / N).toFixed(1)} ms per call`);
    // Every read reached its own object (locally each gets a file), and none of them holds a table.
    assert.equal(touched.MainStore.length, N, "one object per key was read");
    assert.deepEqual(new Set(touched.MainStore.map((o) => o.name)), keys, "each named after its key");
    for (const object of touched.MainStore) assert.deepEqual(object.tables, {}, `object ${object.id}`);
    assert.equal(touched.RateLimitStore.length, 0);
  }
  // For comparison, the same read N times on one object that already exists (no new object).
  const token = randomToken();
  await call("get_session", { session_token: token });
  const cpuBefore = await workerdCpuMs(worker.pgid);
  for (let i = 0; i < N; i++) assert.equal((await call("get_session", { session_token: token })).error_code, "invalid_session_token");
  t.diagnostic(`${N} × get_session of one unknown token (object already instantiated): workerd CPU ${(((await workerdCpuMs(worker.pgid)) - cpuBefore) / N).toFixed(1)} ms per call`);
});

test("a rate-limit CHECK of a fresh bucket writes nothing; each consumed bucket holds one row", async (t) => {
  // create_signup CHECKs the verify-email-code bucket of the address (read only) and CONSUMEs
  // its send-email bucket and its mailbox bucket (writes).
  const address = `check-${Date.now()}@example.com`;
  const { result, touched } = await touchedBy(() => call("create_signup", { email_address: address }));
  assert.equal(result.ok, true);
  t.diagnostic(`create_signup: ${summary(touched)}`);
  const buckets = touched.RateLimitStore;
  assert.equal(buckets.length, 3, "the checked and the two consumed buckets");
  assert.deepEqual(buckets.filter(holdsData).map((b) => b.tables), [ONE_ENTRY, ONE_ENTRY], "only the consumed buckets hold data");
  assert.deepEqual(
    buckets.filter(holdsData).map((b) => b.name).sort(),
    [`aaab.${address}`, `mailbox.${address}`],
    "the send-email bucket and the mailbox bucket",
  );
  assert.deepEqual(buckets.find((b) => !holdsData(b)).name, `aaac.${address}`, "the checked verify-email-code bucket");
  assert.deepEqual(touched.MainStore.map((o) => o.tables), [ONE_ENTRY], "the signup");
});

// ---------------------------------------------------------------- item 1: deletion empties objects

test("objects of a completed signup, a completed signin and a deleted session hold no table", async (t) => {
  const address = `lifecycle-${Date.now()}@example.com`;
  const figures = [];

  // Signup: create_signup writes the signup's object; complete_signup deletes it.
  const created = await touchedBy(() => call("create_signup", { email_address: address }));
  const [signupObject] = created.touched.MainStore;
  assert.equal(created.touched.MainStore.length, 1);
  assert.equal(signupObject.name, `aaab.${created.result.values.signup.id}`);
  assert.deepEqual(signupObject.tables, ONE_ENTRY);
  figures.push(`create_signup ${summary(created.touched)}`);
  const signupToken = created.result.values.signup_token;
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await call("verify_signup_email_address_verification_code", { signup_token: signupToken, email_address_verification_code: code })).ok, true);
  // The hashing lease (one hash per entity at a time) is a rate-limit object of its own, deleted
  // after the compare-and-set: it leaves nothing.
  const passwordSet = await touchedBy(() => call("set_signup_password", { signup_token: signupToken, password: "storage-password-1" }));
  assert.equal(passwordSet.result.ok, true);
  // Its only new object is the lease's; emptied by deleteAll(), it no longer holds even
  // miniflare's name table, so it is identified by being the one object the action created.
  assert.equal(passwordSet.touched.RateLimitStore.length, 1, "set_signup_password took one hashing lease");
  assert.deepEqual(passwordSet.touched.RateLimitStore[0].tables, {}, "the released lease's object holds nothing");
  figures.push(`set_signup_password ${summary(passwordSet.touched)}`);
  const completed = await touchedBy(() => call("complete_signup", { signup_token: signupToken }));
  assert.equal(completed.result.ok, true);
  figures.push(`complete_signup ${summary(completed.touched)}`);
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", signupObject.id).tables, {}, "the completed signup's object is empty");
  assert.equal(completed.touched.MainStore.length, 1, "complete_signup creates the session's object");
  const [firstSessionObject] = completed.touched.MainStore;
  assert.deepEqual(firstSessionObject.tables, ONE_ENTRY);

  // Signin: the same through complete_signin; a second signin is deleted by delete_signin.
  const signin = await touchedBy(() => call("create_signin", { user_email_address: address }));
  const [signinObject] = signin.touched.MainStore;
  assert.deepEqual(signinObject.tables, ONE_ENTRY);
  const signinToken = signin.result.values.signin_token;
  const verified = await touchedBy(() => call("verify_signin_user_password", { signin_token: signinToken, password: "storage-password-1" }));
  figures.push(`verify_signin_user_password ${summary(verified.touched)}`);
  const signedIn = await touchedBy(() => call("complete_signin", { signin_token: signinToken }));
  assert.equal(signedIn.result.ok, true);
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", signinObject.id).tables, {}, "the completed signin's object is empty");
  const session = signedIn.result.values.session_token;
  const [sessionObject] = signedIn.touched.MainStore;
  assert.deepEqual(sessionObject.tables, ONE_ENTRY);
  assert.equal(sessionObject.name, `aaaa.${signedIn.result.values.session.id}`);
  const abandoned = await touchedBy(() => call("create_signin", { user_email_address: address }));
  assert.equal((await call("delete_signin", { signin_token: abandoned.result.values.signin_token })).ok, true);
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", abandoned.touched.MainStore[0].id).tables, {}, "the deleted signin's object is empty");

  // Session: delete_session empties its object; later reads leave it empty.
  assert.equal((await call("delete_session", { session_token: session })).ok, true);
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", sessionObject.id).tables, {}, "the deleted session's object is empty");
  assert.equal((await call("get_session", { session_token: session })).error_code, "invalid_session_token");
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", sessionObject.id).tables, {});
  // The first session is still live: its object keeps its one row.
  assert.deepEqual(inspectObject(worker.persistTo, "MainStore", firstSessionObject.id).tables, ONE_ENTRY);
  for (const line of figures) t.diagnostic(line);
  t.diagnostic(`bytes left: completed signup ${inspectObject(worker.persistTo, "MainStore", signupObject.id).bytes}, ` +
    `completed signin ${inspectObject(worker.persistTo, "MainStore", signinObject.id).bytes}, ` +
    `deleted session ${inspectObject(worker.persistTo, "MainStore", sessionObject.id).bytes}, ` +
    `live session ${inspectObject(worker.persistTo, "MainStore", firstSessionObject.id).bytes}`);
});

// ---------------------------------------------------------------- item 7: prompt revocation

test("delete_session racing a slow get_session's cache fill stays revoked", async () => {
  const { session } = await signedUp(`race-${Date.now()}@example.com`);
  // One activity update (due after 1 s) deletes the cached copy: the next get_session misses.
  await sleep(1100);
  assert.equal((await call("get_session", { session_token: session })).ok, true);
  // The slow request: a cache miss, the session read from its object, then the user server
  // holds its get_user answer.
  const held = users.pause("get_user");
  const slow = call("get_session", { session_token: session });
  await held.reached;
  // Meanwhile the session is deleted (main storage, then the cache).
  assert.equal((await call("delete_session", { session_token: session })).ok, true);
  held.release();
  // The slow request read a live session; its cache fill comes after the revocation.
  assert.equal((await slow).ok, true);
  // Revoked: not served from the cache, now or later within the cache TTL.
  for (let i = 0; i < 3; i++) {
    assert.equal((await call("get_session", { session_token: session })).error_code, "invalid_session_token");
    await sleep(300);
  }
});

// ---------------------------------------------------------------- item 1: the expiry alarm

test("the expiry alarm empties the object of an expired session", async (t) => {
  const shortEmail = await startEmailCapture();
  const short = await startWorker({
    vars: {
      ...shortEmail.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
      SESSION_INACTIVITY_TIMEOUT_SECONDS: "3",
    },
  });
  try {
    const address = `alarm-${Date.now()}@example.com`;
    const shortCall = async (action, args) => (await invoke(short.url, action, args)).json;
    const token = (await shortCall("create_signup", { email_address: address })).values.signup_token;
    const code = shortEmail.last("signup_email_address_verification_code", address).data.email_address_verification_code;
    await shortCall("verify_signup_email_address_verification_code", { signup_token: token, email_address_verification_code: code });
    await shortCall("set_signup_password", { signup_token: token, password: "storage-password-1" });
    const before = snapshot(short.persistTo);
    const done = await shortCall("complete_signup", { signup_token: token });
    assert.equal(done.ok, true);
    const [sessionObject] = touchedSince(short.persistTo, before).MainStore;
    assert.deepEqual(sessionObject.tables, ONE_ENTRY, "the session's object");
    // Nobody touches the session again: only its alarm (due 3 s after creation) can empty it.
    const started = Date.now();
    const after = await until(() => inspectObject(short.persistTo, "MainStore", sessionObject.id), (o) => !holdsData(o));
    t.diagnostic(`session object emptied by its alarm ${((Date.now() - started) / 1000).toFixed(1)} s after creation; ${after.bytes} bytes left`);
    assert.deepEqual(after.tables, {}, "the alarm emptied the object");
    assert.equal((await shortCall("get_session", { session_token: done.values.session_token })).error_code, "invalid_session_token");
    assert.deepEqual(inspectObject(short.persistTo, "MainStore", sessionObject.id).tables, {});
  } finally {
    await short.stop();
    await shortEmail.close();
  }
});
