// Hand-written types for @faroe-worker/client (the package ships plain JavaScript, no build step).
import type { ActionInvocationEndpointClient } from "@faroe/client";

/** Anything with a `fetch(request)` method, e.g. a Workers service binding (`env.FAROE`). */
export interface RequestFetcher {
  fetch(request: Request): Promise<Response>;
}

/**
 * Thrown when the endpoint answers with a status other than 200 (400 request error, 401 bad
 * secret, 405, 413, 500 configuration error, …). Network failures and timeouts are not wrapped.
 */
export declare class EndpointError extends Error {
  constructor(status: number, reason: string);
  readonly name: "EndpointError";
  /** The HTTP status of the answer. */
  readonly status: number;
  /** The endpoint's plain-text reason (trimmed, at most 1000 characters; may be empty). */
  readonly reason: string;
}

/** faroe-worker's header for the end user's address (honoured only from a caller with the secret). */
export declare const CLIENT_ADDRESS_HEADER: "X-Faroe-Client-Address";
/** The header that carries a Turnstile token to `POST /captcha`. */
export declare const CAPTCHA_TOKEN_HEADER: "X-Captcha-Token";
/** The header that names the language for emails of this request. */
export declare const EMAIL_LANGUAGE_HEADER: "X-Faroe-Email-Language";
/** The header that labels a session this request creates (sessions extension). */
export declare const CLIENT_LABEL_HEADER: "X-Faroe-Client-Label";

/** Per-request context: who the end user is, their Turnstile token and email language. */
export interface RequestContext {
  /**
   * The end user's IP address (IPv4 or IPv6, e.g. your Worker's own `CF-Connecting-IP`), sent as
   * `X-Faroe-Client-Address` for faroe-worker's per-IP limit and Turnstile. The endpoint honours
   * it only with the bearer secret and answers 400 to a malformed one.
   */
  clientAddress?: string | null;
  /** A Turnstile token: the request goes to `/captcha` with `X-Captcha-Token`. */
  captchaToken?: string | null;
  /**
   * The language for emails this request sends (e.g. your UI's, `"de"`), sent as
   * `X-Faroe-Email-Language`. A hint: faroe-worker ignores a language it has no templates for,
   * and a language stored with the user comes first by default (docs/emails.md).
   */
  emailLanguage?: string | null;
  /**
   * A short name of the end user's client (e.g. `"Firefox on Linux"`), sent as
   * `X-Faroe-Client-Label` on a session-creating call; the sessions extension shows it in
   * `getUserSessions`. 1–64 characters without control characters (else ignored); as an HTTP
   * header value it must be ISO-8859-1.
   */
  clientLabel?: string | null;
}

export interface ServiceBindingEndpointClientOptions extends RequestContext {
  /** Sent as `Authorization: Bearer <secret>`; omit when the endpoint runs unauthenticated. */
  secret?: string | null;
  /** Request URL; a service binding only uses its path. Default `https://faroe-worker.internal/`. */
  url?: string | URL;
}

/** Sends action invocations through a service binding (`new ServiceBindingEndpointClient(env.FAROE)`). */
export declare class ServiceBindingEndpointClient implements ActionInvocationEndpointClient {
  constructor(fetcher: RequestFetcher, options?: ServiceBindingEndpointClientOptions);
  readonly fetcher: RequestFetcher;
  readonly url: string;
  readonly secret: string | null;
  /** A copy of this client with `context` in place of its own (one per end-user request). */
  forRequest(context: RequestContext): ServiceBindingEndpointClient;
  /** Resolves with the body of a 200 answer; rejects with `EndpointError` on any other status. */
  sendActionInvocationEndpointRequest(body: string): Promise<string>;
}

export interface HttpsEndpointClientOptions extends RequestContext {
  /** Replaces `globalThis.fetch` (tests, custom agents). */
  fetch?: (request: Request) => Promise<Response>;
  /** Abort the request after this many milliseconds; 0 disables. Default 30000. */
  timeout?: number;
}

/**
 * Sends action invocations over HTTPS with a bearer secret. `http:` is accepted only for
 * `localhost`, `127.0.0.1` and `[::1]`.
 */
export declare class HttpsEndpointClient implements ActionInvocationEndpointClient {
  constructor(url: string | URL, secret: string | null, options?: HttpsEndpointClientOptions);
  readonly url: string;
  readonly secret: string | null;
  readonly timeout: number;
  /** A copy of this client with `context` in place of its own (one per end-user request). */
  forRequest(context: RequestContext): HttpsEndpointClient;
  /** Resolves with the body of a 200 answer; rejects with `EndpointError` on any other status. */
  sendActionInvocationEndpointRequest(body: string): Promise<string>;
}

export * from "./extensions.js";
