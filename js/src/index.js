// @faroe-worker/client: action invocation endpoint clients for faroe-worker, for use with
// `new Client(endpointClient)` from @faroe/client. Plain ES modules, no build step; the types are
// hand-written in index.d.ts.

/**
 * The endpoint answered with a status other than 200. `status` is the HTTP status, `reason` the
 * endpoint's plain-text explanation (e.g. "missing or invalid bearer secret").
 */
export class EndpointError extends Error {
  /**
   * @param {number} status
   * @param {string} reason
   */
  constructor(status, reason) {
    super(`faroe-worker endpoint answered HTTP ${status}${reason ? `: ${reason}` : ""}`);
    this.name = "EndpointError";
    this.status = status;
    this.reason = reason;
  }
}

/** The longest `reason` kept from an error body; the endpoint's reasons are one short line. */
const MAX_REASON_LENGTH = 1000;

const DEFAULT_SERVICE_URL = "https://faroe-worker.internal/";

function buildRequest(url, secret, body, signal) {
  if (typeof body !== "string") {
    throw new TypeError("sendActionInvocationEndpointRequest: body must be a string");
  }
  const headers = new Headers({ "Content-Type": "application/json" });
  if (secret) headers.set("Authorization", `Bearer ${secret}`);
  return new Request(url, { method: "POST", headers, body, ...(signal ? { signal } : {}) });
}

async function readResult(response) {
  const text = await response.text();
  if (response.status !== 200) {
    throw new EndpointError(response.status, text.trim().slice(0, MAX_REASON_LENGTH));
  }
  return text;
}

function checkSecret(secret, who) {
  if (secret !== undefined && secret !== null && typeof secret !== "string") {
    throw new TypeError(`${who}: secret must be a string, null or undefined`);
  }
  return secret || null;
}

/**
 * Calls faroe-worker through a Workers service binding (`env.FAROE`), or any object with a
 * `fetch(request)` method. The request goes to `POST /` of the bound Worker; only the path of
 * `url` matters to a service binding.
 */
export class ServiceBindingEndpointClient {
  /**
   * @param {{ fetch(request: Request): Promise<Response> }} fetcher
   * @param {{ secret?: string | null, url?: string | URL }} [options]
   */
  constructor(fetcher, options = {}) {
    if (!fetcher || typeof fetcher.fetch !== "function") {
      throw new TypeError("ServiceBindingEndpointClient: fetcher must have a fetch(request) method");
    }
    this.fetcher = fetcher;
    this.url = new URL(options.url ?? DEFAULT_SERVICE_URL).href;
    this.secret = checkSecret(options.secret, "ServiceBindingEndpointClient");
  }

  /**
   * @param {string} body
   * @returns {Promise<string>}
   */
  async sendActionInvocationEndpointRequest(body) {
    const request = buildRequest(this.url, this.secret, body);
    // Called as a method: a service binding's fetch needs its receiver.
    const response = await this.fetcher.fetch(request);
    return readResult(response);
  }
}

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/**
 * Calls faroe-worker over HTTPS with `Authorization: Bearer <secret>`. Plain `http:` is accepted
 * for loopback addresses only (local development and tests).
 */
export class HttpsEndpointClient {
  /**
   * @param {string | URL} url
   * @param {string | null} secret
   * @param {{ fetch?: (request: Request) => Promise<Response>, timeout?: number }} [options]
   */
  constructor(url, secret, options = {}) {
    const parsed = new URL(url);
    if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && LOOPBACK_HOSTS.has(parsed.hostname))) {
      throw new TypeError(`HttpsEndpointClient: ${parsed.protocol} URLs are only allowed for localhost; use https:`);
    }
    this.url = parsed.href;
    this.secret = checkSecret(secret, "HttpsEndpointClient");
    this.fetch = options.fetch ?? ((request) => globalThis.fetch(request));
    const timeout = options.timeout ?? 30_000;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new TypeError("HttpsEndpointClient: timeout must be a non-negative number of milliseconds");
    }
    this.timeout = timeout;
  }

  /**
   * @param {string} body
   * @returns {Promise<string>}
   */
  async sendActionInvocationEndpointRequest(body) {
    const signal = this.timeout > 0 ? AbortSignal.timeout(this.timeout) : undefined;
    const request = buildRequest(this.url, this.secret, body, signal);
    const response = await this.fetch(request);
    return readResult(response);
  }
}
