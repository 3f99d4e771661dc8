// Secrets never leak: a full run of every flow (plus internal errors, so error lines exist) is
// recorded — every response body and every Worker log line — and no token secret, verification
// code, temporary password, password or password hash appears where it must not.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Client } from "@faroe/client";
import { startWorker, startEmailCapture, startPwnedMock, SECRET, FAST_ALGORITHMS, jsonLogLines, sleep, d1Query } from "./harness.mjs";
import { journey, JOURNEY_PASSWORDS } from "./journey.mjs";


test("no secret appears in logs or in any response but its own", async () => {
  const email = await startEmailCapture();
  const pwned = await startPwnedMock();
  let worker;
  try {
    worker = await startWorker({ vars: { ...email.vars, ...pwned.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
    const responses = [];
    const client = new Client({
      async sendActionInvocationEndpointRequest(body) {
        const r = await fetch(worker.url, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` },
          body,
        });
        const text = await r.text();
        responses.push(text);
        return text;
      },
    });
    await journey(client, email, null);
    // A user that stays, so D1 holds a hash and a salt to look for.
    const kept = `kept-${Date.now()}@example.com`;
    const signup = await client.createSignup(kept);
    const code = email.last("signup_email_address_verification_code", kept).data.email_address_verification_code;
    await client.verifySignupEmailAddressVerificationCode(signup.signupToken, code);
    await client.setSignupPassword(signup.signupToken, "kept-password-9");
    // A failing notification email: logged as an action error, the sign-up still succeeds.
    email.state.failNext = 1;
    assert.equal((await client.completeSignup(signup.signupToken)).ok, true);
    // A failing code email: internal_error.
    email.state.failNext = 1;
    const extra = await client.createSignup(`secrets-${Date.now()}@example.com`);
    assert.equal(extra.ok, false);
    await sleep(500);

    const logs = worker.logs.join("\n");
    const errorLines = jsonLogLines(worker.logs).filter((l) => l.level === "error");
    assert.ok(errorLines.length >= 2, "the run produced action error log lines");
    for (const line of errorLines) {
      assert.deepEqual(Object.keys(line).sort(), ["action", "action_invocation_id", "level", "message", "timestamp"]);
    }

    // Token secrets: the part after the dot of every *_token value.
    const tokenSecrets = [];
    for (const body of responses) {
      const parsed = JSON.parse(body);
      for (const [key, value] of Object.entries(parsed.values ?? {})) {
        if (key.endsWith("_token")) tokenSecrets.push(value.split(".")[1]);
      }
    }
    assert.ok(tokenSecrets.length >= 8, `collected ${tokenSecrets.length} token secrets`);
    const codes = email.messages.map((m) => m.data.email_address_verification_code).filter(Boolean);
    const temporaries = email.messages.map((m) => m.data.temporary_password).filter(Boolean);
    assert.ok(codes.length >= 2 && temporaries.length >= 1);

    const everyResponse = responses.join("\n");
    for (const secret of tokenSecrets) {
      assert.ok(!logs.includes(secret), "token secret in logs");
      assert.equal(everyResponse.split(secret).length - 1, 1, "a token secret appears only in the response that issued it");
    }
    for (const value of [...codes, ...temporaries]) {
      assert.ok(!logs.includes(value), `code or temporary password in logs`);
      assert.ok(!everyResponse.includes(value), `code or temporary password in a response`);
    }
    for (const password of [...JOURNEY_PASSWORDS, "kept-password-9"]) {
      assert.ok(!logs.includes(password), `password ${password} in logs`);
      assert.ok(!everyResponse.includes(password), `password ${password} in a response`);
    }
    // Password hashes and salts as stored in D1.
    const rows = await d1Query(worker, "SELECT password_hash, password_salt FROM users");
    assert.equal(rows.length, 1);
    for (const row of rows) {
      for (const value of [row.password_hash, row.password_salt]) {
        assert.ok(!logs.includes(value) && !everyResponse.includes(value), "hash or salt leaked");
      }
    }
    // The bearer secret is never echoed.
    assert.ok(!logs.includes(SECRET) && !everyResponse.includes(SECRET));
  } finally {
    await worker?.stop();
    await email.close();
    await pwned.close();
  }
});
