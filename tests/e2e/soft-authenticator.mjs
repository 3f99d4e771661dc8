// A software WebAuthn authenticator for the e2e tests: it answers the Worker's creation and request
// options as a browser + platform authenticator would (PublicKeyCredential.toJSON()), with ES256
// (P-256) keys from node:crypto, `none` attestation and a hand-written CBOR encoder. The client
// data's origin is the one the test says the page ran on. Nothing here talks to the network.
import { createHash, generateKeyPairSync, randomBytes, sign } from "node:crypto";

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");
const sha256 = (bytes) => createHash("sha256").update(bytes).digest();

// ---------------------------------------------------------------- CBOR (RFC 8949), the subset needed

function head(major, n) {
  if (n < 24) return Buffer.from([(major << 5) | n]);
  if (n < 0x100) return Buffer.from([(major << 5) | 24, n]);
  if (n < 0x10000) return Buffer.from([(major << 5) | 25, n >> 8, n & 0xff]);
  const b = Buffer.alloc(5);
  b[0] = (major << 5) | 26;
  b.writeUInt32BE(n, 1);
  return b;
}

/** Integers, byte strings (Buffer/Uint8Array), text, and maps given as arrays of [key, value]. */
export function cbor(value) {
  if (typeof value === "number") return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === "string") {
    const text = Buffer.from(value, "utf8");
    return Buffer.concat([head(3, text.length), text]);
  }
  if (value instanceof Uint8Array) return Buffer.concat([head(2, value.length), Buffer.from(value)]);
  if (value instanceof Map) return Buffer.concat([head(5, value.size), ...[...value].flatMap(([k, v]) => [cbor(k), cbor(v)])]);
  throw new TypeError(`cbor: unsupported value ${value}`);
}

// ---------------------------------------------------------------- the authenticator

const FLAG_UP = 0x01;
const FLAG_UV = 0x04;
const FLAG_AT = 0x40;

export class SoftAuthenticator {
  /** @param {{ origin: string, rpId?: string, aaguid?: Buffer }} options */
  constructor({ origin, rpId = "localhost", aaguid = Buffer.alloc(16) }) {
    this.origin = origin;
    this.rpId = rpId;
    this.aaguid = aaguid;
    /** Discoverable credentials: { id, privateKey, publicKey, userHandle, rpId, signCount }. */
    this.credentials = [];
  }

  authenticatorData(rpId, flags, signCount, attested = null) {
    const counter = Buffer.alloc(4);
    counter.writeUInt32BE(signCount);
    return Buffer.concat([sha256(Buffer.from(rpId)), Buffer.from([flags]), counter, ...(attested ? [attested] : [])]);
  }

  clientData(type, challenge, origin) {
    return Buffer.from(JSON.stringify({ type, challenge, origin, crossOrigin: false }));
  }

  /**
   * `navigator.credentials.create()` with these options (a PublicKeyCredentialCreationOptionsJSON
   * string or object). Options: `userVerified` (UV flag), `origin` (client data), `credentialId`
   * (reuse one, for the duplicate test), `rpId` (the one hashed into authenticator data).
   */
  create(optionsJSON, { userVerified = true, origin = this.origin, credentialId, rpId } = {}) {
    const options = typeof optionsJSON === "string" ? JSON.parse(optionsJSON) : optionsJSON;
    if (!options.pubKeyCredParams.some((p) => p.alg === -7)) throw new Error("the options do not offer ES256");
    const excluded = new Set((options.excludeCredentials ?? []).map((c) => c.id));
    const id = credentialId ?? randomBytes(16);
    if (excluded.has(b64url(id))) throw new Error("InvalidStateError: the credential is excluded");
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const jwk = publicKey.export({ format: "jwk" });
    const coseKey = cbor(new Map([[1, 2], [3, -7], [-1, 1], [-2, Buffer.from(jwk.x, "base64url")], [-3, Buffer.from(jwk.y, "base64url")]]));
    const idLength = Buffer.from([id.length >> 8, id.length & 0xff]);
    const attested = Buffer.concat([this.aaguid, idLength, id, coseKey]);
    const flags = FLAG_UP | (userVerified ? FLAG_UV : 0) | FLAG_AT;
    const credentialRpId = rpId ?? options.rp.id;
    const authData = this.authenticatorData(credentialRpId, flags, 0, attested);
    const attestationObject = cbor(new Map([["fmt", "none"], ["attStmt", new Map()], ["authData", authData]]));
    const clientDataJSON = this.clientData("webauthn.create", options.challenge, origin);
    const credential = { id, privateKey, publicKey, userHandle: options.user.id, rpId: credentialRpId, signCount: 0 };
    this.credentials.push(credential);
    return {
      credential,
      json: {
        id: b64url(id),
        rawId: b64url(id),
        type: "public-key",
        authenticatorAttachment: "platform",
        clientExtensionResults: {},
        response: {
          clientDataJSON: b64url(clientDataJSON),
          attestationObject: b64url(attestationObject),
          authenticatorData: b64url(authData),
          transports: ["internal"],
          publicKeyAlgorithm: -7,
          publicKey: b64url(publicKey.export({ format: "der", type: "spki" })),
        },
      },
    };
  }

  /**
   * `navigator.credentials.get()`: signs with `credential` (default: the first one allowed, or any
   * one for a discoverable request). `signCount` overrides the counter (each call otherwise adds 1).
   */
  get(optionsJSON, { credential, userVerified = true, origin = this.origin, signCount, userHandle = true } = {}) {
    const options = typeof optionsJSON === "string" ? JSON.parse(optionsJSON) : optionsJSON;
    const allowed = (options.allowCredentials ?? []).map((c) => c.id);
    const candidates = this.credentials.filter((c) => c.rpId === options.rpId && (allowed.length === 0 || allowed.includes(b64url(c.id))));
    const chosen = credential ?? candidates[0];
    if (!chosen) throw new Error("NotAllowedError: no credential for these options");
    chosen.signCount = signCount ?? chosen.signCount + 1;
    const authData = this.authenticatorData(options.rpId, FLAG_UP | (userVerified ? FLAG_UV : 0), chosen.signCount);
    const clientDataJSON = this.clientData("webauthn.get", options.challenge, origin);
    const signature = sign("sha256", Buffer.concat([authData, sha256(clientDataJSON)]), chosen.privateKey);
    return {
      id: b64url(chosen.id),
      rawId: b64url(chosen.id),
      type: "public-key",
      authenticatorAttachment: "platform",
      clientExtensionResults: {},
      response: {
        clientDataJSON: b64url(clientDataJSON),
        authenticatorData: b64url(authData),
        signature: b64url(signature),
        ...(userHandle ? { userHandle: chosen.userHandle } : {}),
      },
    };
  }
}
