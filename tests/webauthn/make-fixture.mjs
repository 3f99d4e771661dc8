// Writes tests/webauthn/chromium-fixture.json: real browser output for tests/webauthn.rs.
//
//   node tests/webauthn/make-fixture.mjs
//
// Serves an empty page on 127.0.0.1 (opened as http://localhost:<port>, a secure context), gives
// Debian's Chromium a DevTools virtual authenticator (CTAP2, internal transport, resident keys,
// user verification) and, per algorithm, registers a passkey and signs in with it (discoverable:
// no allowCredentials). The challenges are fixed so the Rust test knows what was issued.
// Nothing leaves 127.0.0.1.

import { createServer } from "node:http";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "chromium-fixture.json");
const ALGORITHMS = [
  { name: "ES256", alg: -7 },
  { name: "EdDSA", alg: -8 },
  { name: "RS256", alg: -257 },
];
const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const pattern = (seed) => Array.from({ length: 32 }, (_, i) => (seed * 31 + i * 7) & 0xff);

const server = createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<!doctype html><title>webauthn fixture</title>");
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://localhost:${server.address().port}`;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  await page.goto(origin + "/");
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const cases = [];
  for (const [index, { name, alg }] of ALGORITHMS.entries()) {
    const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2", transport: "internal", hasResidentKey: true,
        hasUserVerification: true, isUserVerified: true,
      },
    });
    const userId = b64url(pattern(100 + index).slice(0, 16));
    const registrationChallenge = b64url(pattern(2 * index + 1));
    const authenticationChallenge = b64url(pattern(2 * index + 2));
    const result = await page.evaluate(async ({ alg, userId, registrationChallenge, authenticationChallenge }) => {
      try {
        const created = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON({
            rp: { id: "localhost", name: "faroe-worker fixture" },
            user: { id: userId, name: "fixture@example.com", displayName: "Fixture" },
            challenge: registrationChallenge,
            pubKeyCredParams: [{ type: "public-key", alg }],
            timeout: 60000,
            excludeCredentials: [],
            authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "required" },
            attestation: "none",
          }),
        });
        const asserted = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON({
            challenge: authenticationChallenge, timeout: 60000, rpId: "localhost", userVerification: "required",
          }),
        });
        return { registration: created.toJSON(), authentication: asserted.toJSON() };
      } catch (e) {
        return { error: `${e.name}: ${e.message}` };
      }
    }, { alg, userId, registrationChallenge, authenticationChallenge });
    await cdp.send("WebAuthn.removeVirtualAuthenticator", { authenticatorId });
    if (result.error) {
      console.log(`${name}: not supported by this Chromium's virtual authenticator (${result.error})`);
      continue;
    }
    console.log(`${name}: registered and asserted`);
    cases.push({
      algorithm: name, userId,
      registration: { challenge: registrationChallenge, response: result.registration },
      authentication: { challenge: authenticationChallenge, response: result.authentication },
    });
  }
  const fixture = {
    generatedBy: "tests/webauthn/make-fixture.mjs",
    browser: `Chromium ${browser.version()} (DevTools virtual authenticator, ctap2, internal)`,
    rpId: "localhost",
    origin,
    cases,
  };
  writeFileSync(out, JSON.stringify(fixture, null, 2) + "\n");
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  server.close();
}
