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

/** The header that names the end user's address; faroe-worker honours it only with the secret. */
export const CLIENT_ADDRESS_HEADER = "X-Faroe-Client-Address";
/** The header that carries a Turnstile token to `POST /captcha`. */
export const CAPTCHA_TOKEN_HEADER = "X-Captcha-Token";
/** The header that names the language for emails of this request (docs/emails.md). */
export const EMAIL_LANGUAGE_HEADER = "X-Faroe-Email-Language";
/** The header that labels a session this request creates (sessions extension, docs/extensions.md). */
export const CLIENT_LABEL_HEADER = "X-Faroe-Client-Label";

/**
 * The per-request context of a client: the end user's address and a Turnstile token, each a
 * non-empty string or absent. Anything else is a `TypeError` (an address is checked by the
 * endpoint, which refuses a malformed one with 400).
 */
function checkContext(options, who) {
  const context = {};
  for (const name of ["clientAddress", "captchaToken", "emailLanguage", "clientLabel"]) {
    const value = options[name];
    if (value === undefined || value === null || value === "") continue;
    if (typeof value !== "string") throw new TypeError(`${who}: ${name} must be a string, null or undefined`);
    context[name] = value;
  }
  return context;
}

/** A Turnstile token sends the request to `/captcha` of the same origin instead of `/`. */
function endpointUrl(url, context) {
  return context.captchaToken ? new URL("/captcha", url).href : url;
}

function buildRequest(url, secret, context, body, signal) {
  if (typeof body !== "string") {
    throw new TypeError("sendActionInvocationEndpointRequest: body must be a string");
  }
  const headers = new Headers({ "Content-Type": "application/json" });
  if (secret) headers.set("Authorization", `Bearer ${secret}`);
  if (context.clientAddress) headers.set(CLIENT_ADDRESS_HEADER, context.clientAddress);
  if (context.captchaToken) headers.set(CAPTCHA_TOKEN_HEADER, context.captchaToken);
  if (context.emailLanguage) headers.set(EMAIL_LANGUAGE_HEADER, context.emailLanguage);
  if (context.clientLabel) headers.set(CLIENT_LABEL_HEADER, context.clientLabel);
  return new Request(endpointUrl(url, context), { method: "POST", headers, body, ...(signal ? { signal } : {}) });
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
   * @param {{ secret?: string | null, url?: string | URL, clientAddress?: string | null, captchaToken?: string | null, emailLanguage?: string | null, clientLabel?: string | null }} [options]
   */
  constructor(fetcher, options = {}) {
    if (!fetcher || typeof fetcher.fetch !== "function") {
      throw new TypeError("ServiceBindingEndpointClient: fetcher must have a fetch(request) method");
    }
    this.fetcher = fetcher;
    this.url = new URL(options.url ?? DEFAULT_SERVICE_URL).href;
    this.secret = checkSecret(options.secret, "ServiceBindingEndpointClient");
    this.context = checkContext(options, "ServiceBindingEndpointClient");
  }

  /**
   * A copy of this client for one end-user request: `clientAddress` (the user's IP, e.g. the
   * app's own `CF-Connecting-IP`), `captchaToken`, `emailLanguage` and `clientLabel` replace this client's.
   * @param {{ clientAddress?: string | null, captchaToken?: string | null, emailLanguage?: string | null, clientLabel?: string | null }} context
   */
  forRequest(context) {
    return new ServiceBindingEndpointClient(this.fetcher, { secret: this.secret, url: this.url, ...checkContext(context ?? {}, "forRequest") });
  }

  /**
   * @param {string} body
   * @returns {Promise<string>}
   */
  async sendActionInvocationEndpointRequest(body) {
    const request = buildRequest(this.url, this.secret, this.context, body);
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
   * @param {{ fetch?: (request: Request) => Promise<Response>, timeout?: number, clientAddress?: string | null, captchaToken?: string | null, emailLanguage?: string | null, clientLabel?: string | null }} [options]
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
    this.context = checkContext(options, "HttpsEndpointClient");
  }

  /**
   * A copy of this client for one end-user request (see ServiceBindingEndpointClient#forRequest).
   * @param {{ clientAddress?: string | null, captchaToken?: string | null, emailLanguage?: string | null, clientLabel?: string | null }} context
   */
  forRequest(context) {
    return new HttpsEndpointClient(this.url, this.secret, {
      fetch: this.fetch, timeout: this.timeout, ...checkContext(context ?? {}, "forRequest"),
    });
  }

  /**
   * @param {string} body
   * @returns {Promise<string>}
   */
  async sendActionInvocationEndpointRequest(body) {
    const signal = this.timeout > 0 ? AbortSignal.timeout(this.timeout) : undefined;
    const request = buildRequest(this.url, this.secret, this.context, body, signal);
    const response = await this.fetch(request);
    return readResult(response);
  }
}

export * from "./extensions.js";
