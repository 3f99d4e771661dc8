// Emails from templates in workerd (docs/emails.md): the language of each message from the app's
// X-Faroe-Email-Language header (also through js/'s emailLanguage option), from D1's
// email_language column and from the user server's member, with the default otherwise; hostile
// display names escaped in the HTML that leaves the Worker; and EMAIL_PROVIDER=cloudflare through
// the send_email binding that `wrangler dev` simulates, read back from what it wrote.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { Client } from "@faroe/client";
import {
  startWorker, startEmailCapture, startUserServer, invoke, d1Query, faroeClient, sleep,
  FAST_ALGORITHMS, SECRET, MISCONFIGURED,
} from "./harness.mjs";
import { HttpsEndpointClient } from "../../js/src/index.js";

const LANGUAGE = "X-Faroe-Email-Language";
const HOSTILE = `<script>alert("x")</script> & 'q'`;

/** Signs up `address` (the code from the captured email) and returns the session token. */
async function signUp(client, email, address) {
  const signup = await client.createSignup(address);
  assert.equal(signup.ok, true, JSON.stringify(signup));
  const code = email.last("signup_email_address_verification_code", address).data.email_address_verification_code;
  assert.equal((await client.verifySignupEmailAddressVerificationCode(signup.signupToken, code)).ok, true);
  assert.equal((await client.setSignupPassword(signup.signupToken, "first-password-1")).ok, true);
  const completed = await client.completeSignup(signup.signupToken);
  assert.equal(completed.ok, true, JSON.stringify(completed));
  return completed;
}

/** Signs in with raw invocations, `headers` on each; returns the signed-in notification. */
async function signIn(worker, email, address, headers = {}) {
  const before = email.messages.length;
  const call = async (action, args) => {
    const r = await invoke(worker.url, action, args, { headers });
    assert.equal(r.json?.ok, true, `${action}: ${r.text}`);
    return r.json.values;
  };
  const { signin_token } = await call("create_signin", { user_email_address: address });
  await call("verify_signin_user_password", { signin_token, password: "first-password-1" });
  await call("complete_signin", { signin_token });
  const sent = email.messages.slice(before).filter((m) => m.type === "user_signed_in_notification");
  assert.equal(sent.length, 1);
  return sent[0];
}

test("D1: the language comes from the user's column, else the request header, else the default", async () => {
  const email = await startEmailCapture();
  let worker;
  try {
    worker = await startWorker({ vars: { ...email.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET } });
    // No hint: English, the default.
    const plain = await invoke(worker.url, "create_signup", { email_address: "plain@example.com" });
    assert.equal(plain.json.ok, true, plain.text);
    let m = email.last("signup_email_address_verification_code", "plain@example.com");
    assert.equal(m.language, "en");
    assert.equal(m.subject, "Your Faroe verification code");
    // The header: German, in every part.
    const german = await invoke(worker.url, "create_signup", { email_address: "de@example.com" }, { headers: { [LANGUAGE]: "de-CH" } });
    assert.equal(german.json.ok, true, german.text);
    m = email.last("signup_email_address_verification_code", "de@example.com");
    const code = m.data.email_address_verification_code;
    assert.equal(m.language, "de");
    assert.equal(m.subject, "Ihr Bestätigungscode für Faroe");
    assert.match(m.text, new RegExp(`^Hallo,\\n\\nIhr Bestätigungscode für die Registrierung bei Faroe lautet ${code}\\.`));
    assert.match(m.html, /^<!doctype html>\n<html lang="de">/);
    assert.ok(m.html.includes(`lautet ${code}.`));
    // Unknown and malformed languages are ignored, never an error.
    for (const value of ["tlh", "<script>", "x".repeat(36)]) {
      const address = `ignored-${value.length}-${value.charCodeAt(0)}@example.com`;
      const r = await invoke(worker.url, "create_signup", { email_address: address }, { headers: { [LANGUAGE]: value } });
      assert.equal(r.json?.ok, true, r.text);
      assert.equal(email.last("signup_email_address_verification_code", address).language, "en", value);
    }

    // js/'s client option sends the header: a whole sign-up in German.
    const client = new Client(new HttpsEndpointClient(worker.url, SECRET, { emailLanguage: "de" }));
    await signUp(client, email, "ada@example.com");
    assert.equal(email.last("signup_email_address_verification_code", "ada@example.com").language, "de");
    // A second user, for sign-ins past the first one's five password attempts.
    await signUp(faroeClient(worker.url), email, "cy@example.com");
    assert.equal(email.last("signup_email_address_verification_code", "cy@example.com").language, "en");

    // A hostile display name (set in D1; Faroe has no action for it) is escaped in the HTML.
    await d1Query(worker, `UPDATE users SET display_name = '${HOSTILE.replaceAll("'", "''")}' WHERE email_address = 'ada@example.com'`);
    m = await signIn(worker, email, "ada@example.com");
    assert.equal(m.language, "en");
    assert.ok(m.text.startsWith(`Hello ${HOSTILE},`), m.text);
    assert.ok(m.html.includes("<p>Hello &lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt; &amp; &#x27;q&#x27;,</p>"), m.html);
    assert.ok(!m.html.includes("<script>") && !m.html.includes(`"x"`), m.html);
    assert.equal(m.data.display_name, HOSTILE);

    // The user's column beats the header; the header decides where the column is empty.
    m = await signIn(worker, email, "ada@example.com", { [LANGUAGE]: "de" });
    assert.equal(m.language, "de");
    await d1Query(worker, "UPDATE users SET email_language = 'de' WHERE email_address = 'ada@example.com'");
    m = await signIn(worker, email, "ada@example.com", { [LANGUAGE]: "en" });
    assert.equal(m.language, "de");
    assert.ok(m.text.startsWith(`Hallo ${HOSTILE},`), m.text);
    assert.equal(m.subject, "Neue Anmeldung bei Ihrem Faroe-Konto");
    m = await signIn(worker, email, "ada@example.com");
    assert.equal(m.language, "de");
    // A column value without templates falls through to the header, then the default.
    await d1Query(worker, "UPDATE users SET email_language = 'tlh' WHERE email_address = 'ada@example.com'");
    assert.equal((await signIn(worker, email, "ada@example.com", { [LANGUAGE]: "de" })).language, "de");

    // Without migration 0002's column the store works as before (new isolate: the column is
    // read where it exists, never required).
    await d1Query(worker, "ALTER TABLE users DROP COLUMN email_language");
    assert.equal((await signIn(worker, email, "cy@example.com", { [LANGUAGE]: "de" })).language, "de");
    assert.equal((await signIn(worker, email, "cy@example.com")).language, "en");
  } finally {
    await worker?.stop();
    await email.close();
  }
});

test("user server: an optional email_language member chooses the language; Faroe's model without it works", async () => {
  const email = await startEmailCapture();
  const users = await startUserServer();
  let worker;
  try {
    worker = await startWorker({
      vars: { ...email.vars, ...users.vars, ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, EMAIL_DEFAULT_LANGUAGE: "de" },
    });
    const completed = await signUp(faroeClient(worker.url), email, "bo@example.com");
    // EMAIL_DEFAULT_LANGUAGE=de, no member, no header.
    assert.equal(email.last("signup_email_address_verification_code", "bo@example.com").language, "de");
    assert.equal((await signIn(worker, email, "bo@example.com", { [LANGUAGE]: "en" })).language, "en");
    users.users.get(completed.session.userId).email_language = "en";
    const m = await signIn(worker, email, "bo@example.com", { [LANGUAGE]: "de" });
    assert.equal(m.language, "en");
    assert.equal(m.subject, "New sign-in to your Faroe account");
  } finally {
    await worker?.stop();
    await Promise.all([email.close(), users.close()]);
  }
});

/** wrangler.toml with the Email Service binding the repository's file leaves commented out. */
const withSendEmail = (toml) => `${toml}\n[[send_email]]\nname = "SEND_EMAIL"\n`;

/** The MessageBuilder blocks `wrangler dev` logs for send_email calls, with their files read. */
async function sentThroughBinding(logs) {
  const text = logs.join("\n").replace(/\x1b\[[0-9;]*m/g, "");
  const out = [];
  for (const block of text.split("send_email binding called with MessageBuilder:").slice(1)) {
    const header = (name) => new RegExp(`^${name}: (.*)$`, "m").exec(block)?.[1];
    const file = async (name) => {
      const path = header(name);
      return path === undefined ? undefined : readFile(path.trim(), "utf8");
    };
    out.push({ from: header("From"), to: header("To"), subject: header("Subject"), text: await file("Text"), html: await file("HTML") });
  }
  return out;
}

test("EMAIL_PROVIDER=cloudflare sends through the send_email binding: To, From, Subject and both bodies", async () => {
  let worker;
  try {
    worker = await startWorker({
      editConfig: withSendEmail,
      vars: { ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, EMAIL_PROVIDER: "cloudflare", EMAIL_FROM: "auth@example.com" },
    });
    const r = await invoke(worker.url, "create_signup", { email_address: "cf@example.com" }, { headers: { [LANGUAGE]: "de" } });
    assert.equal(r.json?.ok, true, r.text);
    let sent = [];
    for (let i = 0; i < 40 && !(sent.length === 1 && sent[0].html !== undefined); i++) {
      await sleep(250);
      sent = await sentThroughBinding(worker.logs);
    }
    assert.equal(sent.length, 1, worker.logs.join("\n"));
    const [m] = sent;
    assert.equal(m.from, "auth@example.com");
    assert.equal(m.to, "cf@example.com");
    assert.equal(m.subject, "Ihr Bestätigungscode für Faroe");
    const code = /lautet ([A-Z0-9]{8})\./.exec(m.text)?.[1];
    assert.ok(code, m.text);
    assert.match(m.text, /^Hallo,\n\nIhr Bestätigungscode für die Registrierung bei Faroe lautet/);
    assert.match(m.html, /^<!doctype html>\n<html lang="de">/);
    assert.ok(m.html.includes(`lautet ${code}.`), m.html);
    // The code in the email is the signup's: it verifies.
    const verified = await invoke(worker.url, "verify_signup_email_address_verification_code", {
      signup_token: r.json.values.signup_token, email_address_verification_code: code,
    });
    assert.equal(verified.json?.ok, true, verified.text);
  } finally {
    await worker?.stop();
  }
});

test("EMAIL_PROVIDER=cloudflare without the send_email binding is a configuration error", async () => {
  let worker;
  try {
    worker = await startWorker({
      vars: { ...FAST_ALGORITHMS, ACTION_INVOCATION_ENDPOINT_SECRET: SECRET, EMAIL_PROVIDER: "cloudflare", EMAIL_FROM: "auth@example.com" },
    });
    const r = await invoke(worker.url, "get_session", { session_token: "a.b" });
    assert.equal(r.status, 500);
    assert.match(r.text, /cloudflare needs a send_email binding named SEND_EMAIL/);
    const anonymous = await invoke(worker.url, "get_session", { session_token: "a.b" }, { secret: "x".repeat(40) });
    assert.equal(anonymous.text, MISCONFIGURED);
  } finally {
    await worker?.stop();
  }
});
