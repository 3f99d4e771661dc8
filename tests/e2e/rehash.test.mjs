// PASSWORD_REHASH_ON_SIGNIN (docs/extensions.md, "Password rehash on sign-in") in the built Worker
// under workerd, with each user store: a user whose password is stored under the second
// configured algorithm signs in through @faroe/client, and afterwards the stored hash is the
// first algorithm's (read back from D1 / the mock user server's store).
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { argon2id } from "hash-wasm";
import { startWorker, startUserServer, faroeClient, d1Query, SECRET } from "./harness.mjs";

const FIRST = "argon2id.2048.1.1.32";
const SECOND = "argon2id.1024.1.1.32";
const PASSWORD = "rehash-password-1";
const VARS = {
  ACTION_INVOCATION_ENDPOINT_SECRET: SECRET,
  PASSWORD_HASH_ALGORITHMS: `${FIRST},${SECOND}`,
  TEMPORARY_PASSWORD_HASH_ALGORITHM: "argon2id.512.1.1.32",
  ALLOW_WEAK_PASSWORD_HASHING: "true",
  PASSWORD_REHASH_ON_SIGNIN: "true",
};

/** Argon2id of PASSWORD under an algorithm id and salt (hash-wasm, independent of the Worker). */
async function hashUnder(algorithmId, salt) {
  const [, m, t, p, len] = algorithmId.split(".").map(Number);
  return Buffer.from(await argon2id({
    password: PASSWORD, salt, memorySize: m, iterations: t, parallelism: p, hashLength: len, outputType: "binary",
  }));
}

/** A user whose password is stored under SECOND, as the Worker's user stores hold it (Base64). */
async function userUnderSecond(address) {
  const salt = randomBytes(16);
  return {
    id: randomBytes(12).toString("hex"),
    email_address: address,
    password_hash: (await hashUnder(SECOND, salt)).toString("base64"),
    password_salt: salt.toString("base64"),
    password_hash_algorithm_id: SECOND,
  };
}

/** Create, verify, complete through the JS client; the session must validate. */
async function signIn(client, address) {
  const signin = await client.createSignin(address);
  assert.equal(signin.ok, true, JSON.stringify(signin));
  const verified = await client.verifySigninUserPassword(signin.signinToken, PASSWORD);
  assert.equal(verified.ok, true, JSON.stringify(verified));
  const completed = await client.completeSignin(signin.signinToken);
  assert.equal(completed.ok, true, JSON.stringify(completed));
  assert.equal((await client.getSession(completed.sessionToken)).ok, true);
}

/** The stored record is a hash under FIRST of the same password, one password change later. */
async function assertRehashed(stored, before) {
  assert.equal(stored.password_hash_algorithm_id, FIRST);
  assert.equal(Number(stored.password_hash_counter), 1);
  assert.notEqual(stored.password_salt, before.password_salt);
  const salt = Buffer.from(stored.password_salt, "base64");
  assert.equal(stored.password_hash, (await hashUnder(FIRST, salt)).toString("base64"));
}

test("rehash on sign-in with the D1 user store", async () => {
  const worker = await startWorker({ vars: VARS });
  try {
    const address = "rehash-d1@example.com";
    const user = await userUnderSecond(address);
    await d1Query(worker, `INSERT INTO users (id, email_address, password_hash, password_salt, password_hash_algorithm_id, created_at)
      VALUES ('${user.id}', '${address}', '${user.password_hash}', '${user.password_salt}', '${SECOND}', 1700000000)`);
    const client = faroeClient(worker.url);
    await signIn(client, address);
    const select = `SELECT password_hash, password_salt, password_hash_algorithm_id, password_hash_counter FROM users WHERE id = '${user.id}'`;
    const [stored] = await d1Query(worker, select);
    await assertRehashed(stored, user);
    // Under the first algorithm now: the next sign-in stores nothing.
    await signIn(client, address);
    assert.deepEqual(await d1Query(worker, select), [stored]);
  } finally {
    await worker.stop();
  }
});

test("rehash on sign-in with the user-server user store", async () => {
  const users = await startUserServer();
  let worker;
  try {
    worker = await startWorker({ vars: { ...VARS, ...users.vars } });
    const address = "rehash-server@example.com";
    const user = await userUnderSecond(address);
    users.users.set(user.id, {
      ...user, display_name: "", disabled: false, email_address_counter: 0, password_hash_counter: 0,
      disabled_counter: 0, sessions_counter: 0,
    });
    const client = faroeClient(worker.url);
    await signIn(client, address);
    const stored = { ...users.users.get(user.id) };
    await assertRehashed(stored, user);
    assert.equal(users.state.calls.filter((c) => c === "update_user_password_hash").length, 1);
    await signIn(client, address);
    assert.equal(users.state.calls.filter((c) => c === "update_user_password_hash").length, 1);
    assert.deepEqual(users.users.get(user.id), stored);
  } finally {
    await worker?.stop();
    await users.close();
  }
});
