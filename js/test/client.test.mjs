// Unit tests for @faroe-worker/client: a fake service-binding fetcher and a local HTTP server on
// 127.0.0.1 stand in for faroe-worker. No network.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { Client } from "@faroe/client";
import { EndpointError, HttpsEndpointClient, ServiceBindingEndpointClient } from "../src/index.js";

const RESULT = '{"ok":true,"action_invocation_id":"abcdefghijkmnpqrstuvwxyz2","values":{}}';
const SESSION_RESULT = JSON.stringify({
  ok: true,
  action_invocation_id: "abcdefghijkmnpqrstuvwxyz2",
  values: { session: { id: "s".repeat(24), user_id: "u1", created_at: 1700000000, expires_at: null } },
});

describe("EndpointError", () => {
  test("carries status and reason", () => {
    const e = new EndpointError(401, "missing or invalid bearer secret");
    assert.ok(e instanceof Error);
    assert.equal(e.name, "EndpointError");
    assert.equal(e.status, 401);
    assert.equal(e.reason, "missing or invalid bearer secret");
    assert.match(e.message, /HTTP 401: missing or invalid bearer secret/);
  });
});

describe("ServiceBindingEndpointClient", () => {
  test("POSTs the body as JSON to / of the binding and returns the 200 body", async () => {
    const fetcher = simpleFetcher();
    const client = new ServiceBindingEndpointClient(fetcher);
    const body = '{"action":"get_session","arguments":{"session_token":"a.b"}}';
    assert.equal(await client.sendActionInvocationEndpointRequest(body), RESULT);
    assert.equal(fetcher.seen.length, 1);
    const [r] = fetcher.seen;
    assert.equal(r.method, "POST");
    assert.equal(new URL(r.url).pathname, "/");
    assert.equal(r.contentType, "application/json");
    assert.equal(r.authorization, null);
    assert.equal(r.body, body);
  });

  test("sends the bearer secret when given, and honours a custom url", async () => {
    const fetcher = simpleFetcher();
    const client = new ServiceBindingEndpointClient(fetcher, { secret: "s3cret", url: "https://auth.example/" });
    await client.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[0].authorization, "Bearer s3cret");
    assert.equal(fetcher.seen[0].url, "https://auth.example/");
  });

  test("calls fetch with the binding as its receiver", async () => {
    const binding = {
      calls: 0,
      async fetch(request) {
        assert.equal(this, binding);
        this.calls++;
        await request.text();
        return new Response(RESULT);
      },
    };
    await new ServiceBindingEndpointClient(binding).sendActionInvocationEndpointRequest("{}");
    assert.equal(binding.calls, 1);
  });

  for (const [status, reason] of [
    [400, "unknown action"],
    [401, "missing or invalid bearer secret"],
    [405, "method not allowed: use POST"],
    [413, "request body is larger than 64 KiB"],
    [500, "EMAIL_PROVIDER is not set"],
  ]) {
    test(`HTTP ${status} rejects with EndpointError carrying the reason`, async () => {
      const client = new ServiceBindingEndpointClient(simpleFetcher(status, `${reason}\n`));
      await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), (e) => {
        assert.ok(e instanceof EndpointError);
        assert.equal(e.status, status);
        assert.equal(e.reason, reason);
        return true;
      });
    });
  }

  test("a 2xx other than 200 is an error too", async () => {
    const client = new ServiceBindingEndpointClient(simpleFetcher(202, ""));
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), { name: "EndpointError", status: 202, reason: "" });
  });

  test("a failing fetcher's error propagates unchanged", async () => {
    const boom = new Error("binding unavailable");
    const client = new ServiceBindingEndpointClient({ fetch: async () => { throw boom; } });
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), (e) => e === boom);
  });

  test("rejects bad arguments", async () => {
    assert.throws(() => new ServiceBindingEndpointClient(), TypeError);
    assert.throws(() => new ServiceBindingEndpointClient({}), TypeError);
    assert.throws(() => new ServiceBindingEndpointClient(simpleFetcher(), { secret: 42 }), TypeError);
    const client = new ServiceBindingEndpointClient(simpleFetcher());
    await assert.rejects(client.sendActionInvocationEndpointRequest({}), TypeError);
  });

  test("works as the endpoint client of @faroe/client", async () => {
    const fetcher = simpleFetcher(200, SESSION_RESULT);
    const faroe = new Client(new ServiceBindingEndpointClient(fetcher, { secret: "x" }));
    const result = await faroe.getSession("aaaa.bbbb");
    assert.equal(result.ok, true);
    assert.equal(result.session.userId, "u1");
    assert.equal(result.session.expiresAt, null);
    assert.deepEqual(JSON.parse(fetcher.seen[0].body), { action: "get_session", arguments: { session_token: "aaaa.bbbb" } });

    const errors = new Client(new ServiceBindingEndpointClient(simpleFetcher(200,
      '{"ok":false,"action_invocation_id":"x","error_code":"invalid_session_token"}')));
    assert.deepEqual(await errors.getSession("a.b"), { ok: false, actionInvocationId: "x", errorCode: "invalid_session_token" });

    const refused = new Client(new ServiceBindingEndpointClient(simpleFetcher(401, "missing or invalid bearer secret")));
    await assert.rejects(refused.getSession("a.b"), { name: "EndpointError", status: 401 });
  });
});

/** A local endpoint: `handler(req, body, res)` decides; every request is recorded. */
function startServer(handler) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks).toString("utf8");
    requests.push({ method: req.method, url: req.url, headers: req.headers, body });
    handler(req, body, res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({
    server,
    requests,
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => { server.closeAllConnections(); return new Promise((r) => server.close(r)); },
  })));
}

describe("HttpsEndpointClient", () => {
  let endpoint;
  const SECRET = "endpoint-secret-0123456789";
  before(async () => {
    endpoint = await startServer((req, body, res) => {
      if (req.url === "/hang") return; // never answers
      if (req.method !== "POST") return res.writeHead(405, { "content-type": "text/plain" }).end("method not allowed: use POST");
      if (req.headers.authorization !== `Bearer ${SECRET}`) {
        return res.writeHead(401, { "content-type": "text/plain" }).end("missing or invalid bearer secret");
      }
      if (req.headers["content-type"] !== "application/json") {
        return res.writeHead(400, { "content-type": "text/plain" }).end("Content-Type must be application/json");
      }
      if (body.length > 64 * 1024) return res.writeHead(413, { "content-type": "text/plain" }).end("request body is larger than 64 KiB");
      let parsed;
      try { parsed = JSON.parse(body); } catch { return res.writeHead(400, { "content-type": "text/plain" }).end("body is not valid JSON"); }
      if (parsed.action === "explode") return res.writeHead(500, { "content-type": "text/plain" }).end("internal failure");
      const out = parsed.action === "get_session" ? SESSION_RESULT : RESULT;
      res.writeHead(200, { "content-type": "application/json" }).end(out);
    });
  });
  after(() => endpoint.close());

  test("POSTs JSON with the bearer secret and returns the 200 body", async () => {
    const client = new HttpsEndpointClient(endpoint.url, SECRET);
    const body = '{"action":"delete_session","arguments":{"session_token":"a.b"}}';
    assert.equal(await client.sendActionInvocationEndpointRequest(body), RESULT);
    const r = endpoint.requests.at(-1);
    assert.equal(r.method, "POST");
    assert.equal(r.url, "/");
    assert.equal(r.headers["content-type"], "application/json");
    assert.equal(r.headers.authorization, `Bearer ${SECRET}`);
    assert.equal(r.body, body);
  });

  test("a wrong secret gives EndpointError 401 with the reason", async () => {
    const client = new HttpsEndpointClient(endpoint.url, "wrong");
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"),
      { name: "EndpointError", status: 401, reason: "missing or invalid bearer secret" });
  });

  test("no secret sends no Authorization header", async () => {
    const client = new HttpsEndpointClient(endpoint.url, null);
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), { status: 401 });
    assert.equal(endpoint.requests.at(-1).headers.authorization, undefined);
  });

  test("400, 413 and 500 answers reject with their status and reason", async () => {
    const client = new HttpsEndpointClient(endpoint.url, SECRET);
    await assert.rejects(client.sendActionInvocationEndpointRequest("not json"),
      { name: "EndpointError", status: 400, reason: "body is not valid JSON" });
    await assert.rejects(client.sendActionInvocationEndpointRequest(`"${"x".repeat(70_000)}"`),
      { name: "EndpointError", status: 413, reason: "request body is larger than 64 KiB" });
    await assert.rejects(client.sendActionInvocationEndpointRequest('{"action":"explode","arguments":{}}'),
      { name: "EndpointError", status: 500, reason: "internal failure" });
  });

  test("works as the endpoint client of @faroe/client", async () => {
    const faroe = new Client(new HttpsEndpointClient(endpoint.url, SECRET));
    const result = await faroe.getSession("aaaa.bbbb");
    assert.equal(result.ok, true);
    assert.equal(result.session.id, "s".repeat(24));
    assert.deepEqual(result.session.createdAt, new Date(1700000000 * 1000));
    const wrong = new Client(new HttpsEndpointClient(endpoint.url, "nope"));
    await assert.rejects(wrong.deleteSession("a.b"), (e) => e instanceof EndpointError && e.status === 401);
  });

  test("the timeout aborts a request that gets no answer", async () => {
    const client = new HttpsEndpointClient(new URL("/hang", endpoint.url), SECRET, { timeout: 200 });
    const started = Date.now();
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), (e) => !(e instanceof EndpointError));
    assert.ok(Date.now() - started < 5000);
  });

  test("a connection error is not an EndpointError", async () => {
    const closed = await startServer(() => {});
    const url = closed.url;
    await closed.close();
    const client = new HttpsEndpointClient(url, SECRET, { timeout: 2000 });
    await assert.rejects(client.sendActionInvocationEndpointRequest("{}"), (e) => !(e instanceof EndpointError));
  });

  test("a custom fetch receives the prepared request", async () => {
    let seen;
    const client = new HttpsEndpointClient("https://auth.example.com/", SECRET, {
      fetch: async (request) => { seen = request; return new Response(RESULT); },
    });
    assert.equal(await client.sendActionInvocationEndpointRequest("{}"), RESULT);
    assert.equal(seen.url, "https://auth.example.com/");
    assert.equal(seen.method, "POST");
    assert.equal(seen.headers.get("authorization"), `Bearer ${SECRET}`);
  });

  test("plain http is refused except on loopback hosts", () => {
    assert.throws(() => new HttpsEndpointClient("http://auth.example.com/", SECRET), TypeError);
    assert.throws(() => new HttpsEndpointClient("ftp://127.0.0.1/", SECRET), TypeError);
    for (const url of ["http://localhost:8787/", "http://127.0.0.1:1/", "http://[::1]:1/", "https://auth.example.com/"]) {
      assert.doesNotThrow(() => new HttpsEndpointClient(url, SECRET));
    }
    assert.throws(() => new HttpsEndpointClient("not a url", SECRET), TypeError);
    assert.throws(() => new HttpsEndpointClient("https://a.example/", 7), TypeError);
    assert.throws(() => new HttpsEndpointClient("https://a.example/", SECRET, { timeout: -1 }), TypeError);
  });
});

describe("per-request context: clientAddress, captchaToken and emailLanguage", () => {
  test("ServiceBindingEndpointClient sends X-Faroe-Client-Address, and /captcha with X-Captcha-Token", async () => {
    const fetcher = simpleFetcher();
    const plain = new ServiceBindingEndpointClient(fetcher, { secret: "s3cret" });
    await plain.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[0].clientAddress, null, "no address unless given");
    const forUser = plain.forRequest({ clientAddress: "2001:db8::7" });
    await forUser.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[1].clientAddress, "2001:db8::7");
    assert.equal(fetcher.seen[1].authorization, "Bearer s3cret");
    assert.equal(new URL(fetcher.seen[1].url).pathname, "/");
    const captcha = plain.forRequest({ clientAddress: "192.0.2.1", captchaToken: "turnstile-token" });
    await captcha.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[2].url, "https://faroe-worker.internal/captcha");
    assert.equal(fetcher.seen[2].captchaToken, "turnstile-token");
    assert.equal(fetcher.seen[2].clientAddress, "192.0.2.1");
    // forRequest returns a copy; the original client is unchanged.
    await plain.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[3].clientAddress, null);
    assert.equal(new URL(fetcher.seen[3].url).pathname, "/");
  });

  test("the constructor takes the context too, and @faroe/client carries it", async () => {
    const fetcher = simpleFetcher(200, SESSION_RESULT);
    const faroe = new Client(new ServiceBindingEndpointClient(fetcher, { clientAddress: "203.0.113.5", captchaToken: "t" }));
    assert.equal((await faroe.getSession("a.b")).ok, true);
    assert.equal(fetcher.seen[0].clientAddress, "203.0.113.5");
    assert.equal(fetcher.seen[0].captchaToken, "t");
    assert.equal(new URL(fetcher.seen[0].url).pathname, "/captcha");
  });

  test("HttpsEndpointClient sends the context to /captcha of the same origin", async () => {
    let seen;
    const client = new HttpsEndpointClient("https://auth.example.com/", "s3cret", {
      fetch: async (request) => { seen = request; return new Response(RESULT); },
      timeout: 1234,
    });
    const copy = client.forRequest({ clientAddress: "198.51.100.4", captchaToken: "tok" });
    assert.equal(copy.timeout, 1234);
    await copy.sendActionInvocationEndpointRequest("{}");
    assert.equal(seen.url, "https://auth.example.com/captcha");
    assert.equal(seen.headers.get("x-faroe-client-address"), "198.51.100.4");
    assert.equal(seen.headers.get("x-captcha-token"), "tok");
    assert.equal(seen.headers.get("authorization"), "Bearer s3cret");
    await client.sendActionInvocationEndpointRequest("{}");
    assert.equal(seen.url, "https://auth.example.com/");
    assert.equal(seen.headers.get("x-faroe-client-address"), null);
  });

  test("emailLanguage is sent as X-Faroe-Email-Language, per client and per request", async () => {
    const fetcher = simpleFetcher();
    const german = new ServiceBindingEndpointClient(fetcher, { emailLanguage: "de" });
    await german.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[0].emailLanguage, "de");
    assert.equal(new URL(fetcher.seen[0].url).pathname, "/", "a language alone keeps the plain endpoint");
    await german.forRequest({ emailLanguage: "fr", clientAddress: "192.0.2.9" }).sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[1].emailLanguage, "fr");
    assert.equal(fetcher.seen[1].clientAddress, "192.0.2.9");
    await german.forRequest({}).sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[2].emailLanguage, null, "forRequest replaces the whole context");
    let seen;
    const https = new HttpsEndpointClient("https://auth.example.com/", null, {
      fetch: async (request) => { seen = request; return new Response(RESULT); },
      emailLanguage: "pt-BR",
    });
    await https.sendActionInvocationEndpointRequest("{}");
    assert.equal(seen.headers.get("x-faroe-email-language"), "pt-BR");
    assert.throws(() => new ServiceBindingEndpointClient(fetcher, { emailLanguage: 49 }), TypeError);
  });

  test("clientLabel is sent as X-Faroe-Client-Label, per client and per request", async () => {
    const fetcher = simpleFetcher();
    const labelled = new ServiceBindingEndpointClient(fetcher, { clientLabel: "Firefox on Linux" });
    await labelled.sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[0].clientLabel, "Firefox on Linux");
    await labelled.forRequest({ clientLabel: "Safari on iPhone" }).sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[1].clientLabel, "Safari on iPhone");
    await labelled.forRequest({}).sendActionInvocationEndpointRequest("{}");
    assert.equal(fetcher.seen[2].clientLabel, null);
    assert.throws(() => new ServiceBindingEndpointClient(fetcher, { clientLabel: 7 }), TypeError);
  });

  test("empty values are absent; non-strings are a TypeError", () => {
    const fetcher = simpleFetcher();
    assert.deepEqual(new ServiceBindingEndpointClient(fetcher, { clientAddress: "", captchaToken: null }).context, {});
    assert.throws(() => new ServiceBindingEndpointClient(fetcher, { clientAddress: 17 }), TypeError);
    assert.throws(() => new HttpsEndpointClient("https://a.example/", null, { captchaToken: {} }), TypeError);
    assert.throws(() => new ServiceBindingEndpointClient(fetcher).forRequest({ clientAddress: ["1.2.3.4"] }), TypeError);
  });
});

/** A recording fetcher answering every request with `status` and `body`. */
function simpleFetcher(status = 200, body = RESULT) {
  const seen = [];
  return {
    seen,
    async fetch(request) {
      seen.push({
        method: request.method,
        url: request.url,
        contentType: request.headers.get("content-type"),
        authorization: request.headers.get("authorization"),
        clientAddress: request.headers.get("x-faroe-client-address"),
        captchaToken: request.headers.get("x-captcha-token"),
        emailLanguage: request.headers.get("x-faroe-email-language"),
        clientLabel: request.headers.get("x-faroe-client-label"),
        body: await request.text(),
      });
      return new Response(body, { status });
    },
  };
}
