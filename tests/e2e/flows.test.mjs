// Every Faroe flow over HTTP against the built Worker in workerd, driven by @faroe/client:
// sign-up → sign-in → session → email update → password update → password reset → deletion,
// once with the D1 user store (real default Argon2id parameters) and once with a user server.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  startWorker, startEmailCapture, startPwnedMock, startUserServer, faroeClient, FAST_ALGORITHMS, SECRET,
} from "./harness.mjs";
import { journey } from "./journey.mjs";

test("every flow with the D1 user store and the default Argon2id parameters", async (t) => {
  const email = await startEmailCapture();
  const pwned = await startPwnedMock();
  let worker;
  try {
    worker = await startWorker({ vars: { ...email.vars, ...pwned.vars, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
    await journey(faroeClient(worker.url), email, null);
    assert.ok(pwned.state.requests.every((u) => /^\/range\/[0-9a-f]{5}$/.test(u)), "only 5-hex prefixes leave the Worker");
  } finally {
    await worker?.stop();
    await email.close();
    await pwned.close();
  }
});

test("every flow with the user-server user store", async (t) => {
  const email = await startEmailCapture();
  const pwned = await startPwnedMock();
  const users = await startUserServer();
  let worker;
  try {
    worker = await startWorker({
      vars: { ...email.vars, ...pwned.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET },
    });
    await journey(faroeClient(worker.url), email, users);
    assert.ok(users.state.calls.includes("create_user"));
    assert.ok(users.state.calls.includes("delete_user"));
  } finally {
    await worker?.stop();
    await Promise.all([email.close(), pwned.close(), users.close()]);
  }
});
