// Request context for the example app: cookies, the CSRF token, signed values and HTML pages.
import { Client } from "@faroe/client";
import { ExtensionClient, ServiceBindingEndpointClient } from "../../../js/src/index.js";
import { noticeMessage } from "./messages.js";
import { clientLabelFrom } from "./devices.js";
import { emailLanguageFrom } from "./language.js";

/**
 * Every cookie the app sets. All are HttpOnly, Secure and SameSite=Lax, with `Path=/` and no
 * Domain; the `__Host-` prefix makes browsers enforce that, so a sibling subdomain or a plain-http
 * page cannot plant or overwrite them (cookie tossing).
 */
export const COOKIES = {
  session: "__Host-fw_session",
  email: "__Host-fw_email",
  csrf: "__Host-fw_csrf",
  signup: "__Host-fw_signup",
  emailUpdate: "__Host-fw_email_update",
  passwordUpdate: "__Host-fw_password_update",
  deletion: "__Host-fw_deletion",
  reset: "__Host-fw_reset",
  /** A signin waiting for its second factor (token, "remember me", address). */
  signin: "__Host-fw_signin",
  totpEnrollment: "__Host-fw_totp_enrollment",
  passkeyRegistration: "__Host-fw_passkey_registration",
  /** A passwordless sign-in waiting for the browser's passkey. */
  passkeySignin: "__Host-fw_passkey_signin",
};

/** Cookie lifetimes in seconds (flow cookies match the Faroe entity lifetimes). */
export const LIFETIMES = {
  session: 30 * 24 * 3600,
  signup: 20 * 60,
  emailUpdate: 20 * 60,
  passwordUpdate: 10 * 60,
  deletion: 10 * 60,
  reset: 20 * 60,
  signin: 10 * 60,
  totpEnrollment: 10 * 60,
  passkeyRegistration: 10 * 60,
  passkeySignin: 5 * 60,
};

export class ConfigError extends Error {}

const encoder = new TextEncoder();
const keys = new Map();

async function hmacKey(secret) {
  let key = keys.get(secret);
  if (!key) {
    key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keys.set(secret, key);
  }
  return key;
}

export function base64url(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function fromBase64url(text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text)) return null;
  try {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

function randomToken() {
  return base64url(crypto.getRandomValues(new Uint8Array(32)));
}

function parseCookies(header) {
  const out = {};
  for (const part of (header ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name && !(name in out)) out[name] = part.slice(i + 1).trim();
  }
  return out;
}

export function escapeHtml(value) {
  return String(value)
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** Tagged template that escapes interpolations unless they are `raw()` values. */
export function html(strings, ...values) {
  let out = strings[0];
  values.forEach((v, i) => {
    const items = Array.isArray(v) ? v : [v];
    for (const item of items) {
      if (item === null || item === undefined || item === false) continue;
      out += item instanceof Raw ? item.value : escapeHtml(item);
    }
    out += strings[i + 1];
  });
  return new Raw(out);
}

class Raw {
  constructor(value) {
    this.value = value;
  }
}

export function formatTime(date) {
  if (!date) return "never";
  return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

const CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/** Pages with a passkey button also run /passkeys.js (same origin; still nothing inline). */
const CSP_WITH_PASSKEYS_SCRIPT = `${CSP}; script-src 'self'`;

const SECURITY_HEADERS = {
  "Content-Security-Policy": CSP,
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "same-origin",
  "Cache-Control": "no-store",
};

const STYLE = `
  :root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
  body { margin: 0; background: #f2f4f7; color: #1d2433; }
  header { background: #1d3557; color: #fff; padding: 12px 24px; display: flex; justify-content: space-between; align-items: center; }
  header a { color: #fff; text-decoration: none; font-weight: 600; }
  main { max-width: 480px; margin: 32px auto; background: #fff; border-radius: 10px; padding: 24px 32px 32px;
         box-shadow: 0 1px 4px rgba(0,0,0,.12); }
  h1 { font-size: 1.5rem; margin-top: 0; }
  label { display: block; margin: 14px 0 4px; font-weight: 600; }
  input[type=email], input[type=password], input[type=text] { width: 100%; box-sizing: border-box; padding: 9px 10px;
         font-size: 1rem; border: 1px solid #b8c0cc; border-radius: 6px; }
  button { margin-top: 18px; padding: 9px 18px; font-size: 1rem; border: 0; border-radius: 6px; background: #2a6fdb;
           color: #fff; cursor: pointer; }
  button.secondary { background: #e4e8ee; color: #1d2433; }
  button.danger { background: #c62828; }
  form.inline { display: inline-block; margin-right: 8px; }
  label.check { font-weight: 400; margin-top: 16px; }
  .qr { display: block; width: 208px; height: 208px; margin: 12px 0; }
  .qr svg { width: 100%; height: 100%; }
  code.key { display: block; font-size: 1.05rem; letter-spacing: .08em; word-break: break-all; background: #f2f4f7; padding: 8px 10px; border-radius: 6px; }
  ol.codes { columns: 2; font-family: ui-monospace, monospace; font-size: 1.05rem; line-height: 1.8; background: #f2f4f7; border-radius: 6px; padding: 10px 10px 10px 36px; }
  a.button { display: inline-block; margin-top: 14px; padding: 9px 18px; border-radius: 6px; background: #e4e8ee; color: #1d2433; text-decoration: none; }
  hr { border: 0; border-top: 1px solid #e4e8ee; margin: 24px 0; }
  .error { background: #fdecea; color: #8a1c1c; border: 1px solid #f5c2c0; padding: 10px 12px; border-radius: 6px; }
  .notice { background: #e7f4ea; color: #1e5128; border: 1px solid #b7dfc0; padding: 10px 12px; border-radius: 6px; }
  .hint { color: #5b6475; font-size: .9rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 6px 16px; }
  dt { font-weight: 600; } dd { margin: 0; font-family: ui-monospace, monospace; font-size: .9rem; word-break: break-all; }
  ul.actions { padding-left: 18px; line-height: 1.9; }
  ul.devices { list-style: none; padding: 0; }
  ul.devices li { border: 1px solid #d9dee8; border-radius: 6px; padding: 10px 12px; margin-bottom: 10px; }
  ul.devices form.inline { display: block; margin-top: 8px; }
  ul.passkeys { list-style: none; padding: 0; }
  ul.passkeys > li { border: 1px solid #e4e8ee; border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
  ul.passkeys input[type=text], ul.passkeys input[type=password] { width: auto; }
  .passkey-name { font-weight: 600; }
  table.activity { width: 100%; border-collapse: collapse; font-size: .92rem; }
  table.activity th, table.activity td { text-align: left; padding: 7px 8px; border-bottom: 1px solid #e4e8ee; vertical-align: top; }
  table.activity td.when, table.activity td.from { font-family: ui-monospace, monospace; font-size: .85rem; white-space: nowrap; }
  table.activity tr.warn td.what { color: #8a1c1c; }
`;

/** One request: parsed cookies, outgoing Set-Cookie headers, the Faroe client and the CSRF token. */
export class Context {
  constructor(request, env) {
    this.request = request;
    this.env = env;
    this.url = new URL(request.url);
    this.cookies = parseCookies(request.headers.get("Cookie"));
    this.setCookies = [];
    if (!env.APP_SECRET || env.APP_SECRET.length < 16) {
      throw new ConfigError("APP_SECRET is not set (at least 16 characters): `wrangler secret put APP_SECRET`, or `--var APP_SECRET:…` for local development.");
    }
    if (!env.FAROE || typeof env.FAROE.fetch !== "function") {
      throw new ConfigError("The FAROE service binding is missing: add [[services]] binding = \"FAROE\" to wrangler.toml.");
    }
    // The user's own address (Cloudflare sets CF-Connecting-IP on the app's request) drives
    // faroe-worker's per-IP limit; the service-binding call would otherwise carry none.
    const endpoint = new ServiceBindingEndpointClient(env.FAROE, {
      secret: env.FAROE_ENDPOINT_SECRET || null,
      clientAddress: request.headers.get("CF-Connecting-IP"),
      // The device list's name for a session this request creates (sessions extension).
      clientLabel: clientLabelFrom(request.headers.get("User-Agent")),
      // The emails this request causes are written in the visitor's language where faroe-worker
      // has templates for it (English and German built in), in its default language otherwise.
      emailLanguage: emailLanguageFrom(request.headers.get("Accept-Language")),
    });
    this.faroe = new Client(endpoint);
    // faroe-worker's extension actions (two-factor authentication), over the same endpoint client.
    this.extensions = new ExtensionClient(endpoint);
  }

  cookie(name) {
    return this.cookies[name] || null;
  }

  /** `maxAge` in seconds; without it the cookie is a browser-session cookie. */
  setCookie(name, value, maxAge) {
    const expiry = maxAge === undefined ? "" : `; Max-Age=${maxAge}`;
    this.setCookies.push(`${name}=${value}; Path=/; HttpOnly; Secure; SameSite=Lax${expiry}`);
    this.cookies[name] = value;
  }

  clearCookie(name) {
    this.setCookies.push(`${name}=; Path=/; HttpOnly; Secure; SameSite=Lax; Max-Age=0`);
    delete this.cookies[name];
  }

  /** Clears the session and every flow cookie (sign-out, deletion). */
  clearAll() {
    for (const name of Object.values(COOKIES)) if (name !== COOKIES.csrf && this.cookies[name]) this.clearCookie(name);
  }

  async sign(purpose, value) {
    const mac = await crypto.subtle.sign("HMAC", await hmacKey(this.env.APP_SECRET), encoder.encode(`${purpose}\n${value}`));
    return base64url(new Uint8Array(mac));
  }

  async verify(purpose, value, signature) {
    const mac = fromBase64url(signature);
    if (!mac || mac.length !== 32) return false;
    return crypto.subtle.verify("HMAC", await hmacKey(this.env.APP_SECRET), mac, encoder.encode(`${purpose}\n${value}`));
  }

  /**
   * Signed double-submit CSRF token: a random HttpOnly cookie, and in each form an HMAC of it under
   * APP_SECRET. A cross-site page can neither read the cookie nor forge the HMAC.
   */
  async csrfToken() {
    let value = this.cookie(COOKIES.csrf);
    if (!value || !/^[A-Za-z0-9_-]{43}$/.test(value)) {
      value = randomToken();
      this.setCookie(COOKIES.csrf, value);
    }
    return this.sign("csrf", value);
  }

  /** Checks the form's CSRF token against the cookie, and the Origin header when one is sent. */
  async checkCsrf(form) {
    const origin = this.request.headers.get("Origin");
    if (origin && origin !== "null") {
      let host;
      try {
        host = new URL(origin).host;
      } catch {
        return false;
      }
      if (host !== this.url.host) return false;
    }
    if (this.request.headers.get("Sec-Fetch-Site") === "cross-site") return false;
    const cookie = this.cookie(COOKIES.csrf);
    const field = form.get("csrf");
    if (!cookie || typeof field !== "string") return false;
    return this.verify("csrf", cookie, field);
  }

  /**
   * Remembers the address to show on the account page and whether this browser asked to be
   * remembered, bound to the user id. The cookie lasts as long as the session cookie
   * (`persistent`: the session lifetime; otherwise until the browser closes).
   */
  async rememberEmail(userId, email, persistent) {
    const encoded = base64url(encoder.encode(email));
    const flag = persistent ? "p" : "b";
    const signature = await this.sign("email", `${userId}\n${email}\n${flag}`);
    this.setCookie(COOKIES.email, `${encoded}.${flag}.${signature}`, persistent ? LIFETIMES.session : undefined);
  }

  /** `{ email, persistent }` from the signed cookie, or null. */
  async rememberedSignin(userId) {
    const [encoded, flag, signature] = (this.cookie(COOKIES.email) ?? "").split(".");
    const bytes = fromBase64url(encoded);
    if (!bytes || !["p", "b"].includes(flag) || !signature) return null;
    const email = new TextDecoder().decode(bytes);
    if (!(await this.verify("email", `${userId}\n${email}\n${flag}`, signature))) return null;
    return { email, persistent: flag === "p" };
  }

  async rememberedEmail(userId) {
    return (await this.rememberedSignin(userId))?.email ?? null;
  }

  redirect(location) {
    const headers = new Headers({ Location: location, ...SECURITY_HEADERS });
    for (const c of this.setCookies) headers.append("Set-Cookie", c);
    return new Response(null, { status: 303, headers });
  }

  /** A full HTML page; `options.error` / the `?notice=` parameter show a message box. */
  async page(title, body, { status = 200, error = null, notice = undefined, signedIn = false, passkeysScript = false } = {}) {
    const noticeText = notice === undefined ? noticeMessage(this.url.searchParams.get("notice")) : notice;
    const csrf = await this.csrfToken();
    const nav = signedIn
      ? html`<a href="/account">Account</a>`
      : html`<span><a href="/signin">Sign in</a> &nbsp; <a href="/signup">Sign up</a></span>`;
    const document = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${this.env.APP_NAME || "Faroe example"}</title>
<style>${raw(STYLE)}</style>
${passkeysScript ? html`<script src="/passkeys.js" defer></script>` : ""}
</head>
<body>
<header><a href="/">${this.env.APP_NAME || "Faroe example"}</a>${nav}</header>
<main>
<h1>${title}</h1>
${noticeText ? html`<p class="notice" role="status">${noticeText}</p>` : ""}
${error ? html`<p class="error" role="alert">${error}</p>` : ""}
${typeof body === "function" ? body(csrf) : body}
</main>
</body>
</html>`;
    const headers = new Headers({ "Content-Type": "text/html; charset=utf-8", ...SECURITY_HEADERS });
    if (passkeysScript) headers.set("Content-Security-Policy", CSP_WITH_PASSKEYS_SCRIPT);
    for (const c of this.setCookies) headers.append("Set-Cookie", c);
    return new Response(document.value, { status, headers });
  }
}

export function raw(value) {
  return new Raw(value);
}

/** A static script with the app's headers (its own CSP allows nothing: it is not a document). */
export function scriptResponse(source) {
  return new Response(source, {
    headers: { ...SECURITY_HEADERS, "Content-Type": "text/javascript; charset=utf-8", "Cache-Control": "public, max-age=300" },
  });
}

/**
 * A JSON data block for the page's script (not executed, so the CSP does not apply to it). `<`
 * is escaped so no value can close the element.
 */
export function jsonBlock(id, value) {
  return raw(`<script type="application/json" id="${escapeHtml(id)}">${JSON.stringify(value).replace(/</g, "\\u003c")}</script>`);
}

/** The hidden CSRF field for a form. */
export function csrfField(token) {
  return html`<input type="hidden" name="csrf" value="${token}">`;
}

/** A standalone error page for failures before a Context exists (configuration errors). */
export function plainErrorPage(status, message) {
  return new Response(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head><body><h1>Error</h1><p>${escapeHtml(message)}</p></body></html>`,
    { status, headers: { "Content-Type": "text/html; charset=utf-8", ...SECURITY_HEADERS } },
  );
}
