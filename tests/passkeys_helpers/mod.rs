//! Helpers of the passkeys extension tests: a software authenticator (ES256, EdDSA, RS256 keys made
//! here, responses encoded as browsers encode `PublicKeyCredential.toJSON()`, each part of a
//! ceremony overridable to build every refusal), harnesses with the extension on, and flows.
//! The encodings follow tests/webauthn.rs (kept there too so that file stays self-contained).
#![allow(dead_code)]

use super::common::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ciborium::value::Value as Cbor;
use faroe_worker::extensions::{Extensions, PasskeysConfig, TotpConfig};
use faroe_worker::webauthn::Algorithm;
use rsa::pkcs1::DecodeRsaPrivateKey;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::cell::Cell;

pub const RP_ID: &str = "example.com";
pub const ORIGIN: &str = "https://example.com";
pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;
pub const AT: u8 = 0x40;

pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn from_b64url(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

fn cbor(value: &Cbor) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn int(i: i64) -> Cbor {
    Cbor::Integer(i.into())
}

fn text(s: &str) -> Cbor {
    Cbor::Text(s.to_string())
}

fn bytes(b: &[u8]) -> Cbor {
    Cbor::Bytes(b.to_vec())
}

/// The configuration the tests use: RP `example.com`, origin `https://example.com`.
pub fn passkeys_config(user_verification: &str) -> PasskeysConfig {
    let get = |name: &str| match name {
        "WEBAUTHN_RP_ID" => Some(RP_ID.to_string()),
        "WEBAUTHN_ALLOWED_ORIGINS" => Some(format!("{ORIGIN}, https://app.example.com")),
        "WEBAUTHN_USER_VERIFICATION" => Some(user_verification.to_string()),
        _ => None,
    };
    PasskeysConfig::from_vars(&get, "Faroe Test", false).expect("valid passkeys config")
}

/// Passkeys on (UV `preferred`), TOTP on when `totp`, SECOND_FACTOR_REQUIRED as given.
pub fn passkeys_extensions(totp: bool, second_factor_required: bool) -> Extensions {
    Extensions {
        passkeys: Some(passkeys_config("preferred")),
        totp: totp.then(|| {
            TotpConfig::from_keys_variable("Faroe Test", TOTP_KEYS).expect("valid test keys")
        }),
        second_factor_required,
        ..Extensions::default()
    }
}

pub fn harness(extensions: Extensions) -> Harness {
    Harness::with_config(HarnessConfig {
        extensions,
        ..HarnessConfig::default()
    })
}

/// Passkeys on, TOTP off.
pub fn passkeys_harness() -> Harness {
    harness(passkeys_extensions(false, false))
}

/// Passkeys and TOTP on.
pub fn both_harness() -> Harness {
    harness(passkeys_extensions(true, false))
}

fn rsa_private_key() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let file = include_str!("../webauthn/rsa2048-test-key.txt");
        let der = STANDARD
            .decode(file.lines().nth(1).unwrap().trim())
            .unwrap();
        rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap()
    })
    .clone()
}

pub enum TestKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

impl TestKey {
    /// A key of `algorithm`; `seed` varies ES256 and EdDSA keys (one RSA test key).
    pub fn new(algorithm: Algorithm, seed: u8) -> TestKey {
        let seed = seed.max(1);
        match algorithm {
            Algorithm::Es256 => {
                TestKey::Es256(p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap())
            }
            Algorithm::EdDsa => TestKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[seed; 32])),
            Algorithm::Rs256 => TestKey::Rs256(Box::new(rsa_private_key())),
        }
    }

    fn cose(&self) -> Vec<u8> {
        let value = match self {
            TestKey::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                Cbor::Map(vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), bytes(point.x().unwrap())),
                    (int(-3), bytes(point.y().unwrap())),
                ])
            }
            TestKey::EdDsa(key) => Cbor::Map(vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), bytes(key.verifying_key().as_bytes())),
            ]),
            TestKey::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                Cbor::Map(vec![
                    (int(1), int(3)),
                    (int(3), int(-257)),
                    (int(-1), bytes(&key.n().to_bytes_be())),
                    (int(-2), bytes(&key.e().to_bytes_be())),
                ])
            }
        };
        cbor(&value)
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            TestKey::Es256(key) => {
                use p256::ecdsa::signature::Signer;
                let signature: p256::ecdsa::Signature = key.sign(message);
                signature.to_der().as_bytes().to_vec()
            }
            TestKey::EdDsa(key) => {
                use ed25519_dalek::Signer;
                key.sign(message).to_bytes().to_vec()
            }
            TestKey::Rs256(key) => key
                .sign(rsa::Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(message))
                .unwrap(),
        }
    }
}

/// What a ceremony changes from the valid default (the refusals of the tests).
#[derive(Clone)]
pub struct Tweak {
    pub origin: String,
    pub rp_id: String,
    pub flags: u8,
    /// Replaces the challenge from the options.
    pub challenge: Option<Vec<u8>>,
    pub client_type: Option<&'static str>,
    /// Signs something else (assertions).
    pub bad_signature: bool,
    /// Overrides the counter the authenticator reports (assertions).
    pub sign_count: Option<u32>,
    /// `Some(None)` omits the user handle; `Some(Some(h))` sends `h` (assertions).
    pub user_handle: Option<Option<Vec<u8>>>,
}

impl Default for Tweak {
    fn default() -> Self {
        Self {
            origin: ORIGIN.into(),
            rp_id: RP_ID.into(),
            flags: UP | UV | BE,
            challenge: None,
            client_type: None,
            bad_signature: false,
            sign_count: None,
            user_handle: None,
        }
    }
}

/// A software authenticator holding one discoverable credential.
pub struct Authenticator {
    pub key: TestKey,
    pub credential_id: Vec<u8>,
    /// The user handle stored at registration.
    pub user_handle: std::cell::RefCell<Vec<u8>>,
    /// The counter; every assertion increments it first (0 stays 0 when `counting` is false).
    pub counter: Cell<u32>,
    pub counting: bool,
}

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
        b64url(challenge)
    )
    .into_bytes()
}

/// The challenge of an options string (creation or request options JSON).
pub fn options_challenge(options: &str) -> Vec<u8> {
    let options: Value = serde_json::from_str(options).expect("options JSON");
    from_b64url(options["challenge"].as_str().unwrap())
}

impl Authenticator {
    pub fn new(algorithm: Algorithm, seed: u8) -> Self {
        Self {
            key: TestKey::new(algorithm, seed),
            credential_id: vec![seed, 0xc1, 0xc2, 0xc3, algorithm.cose_id() as u8, 7, 7, 7],
            user_handle: std::cell::RefCell::new(Vec::new()),
            counter: Cell::new(0),
            counting: true,
        }
    }

    /// `navigator.credentials.create(options)` → `toJSON()` as a string.
    pub fn register(&self, creation_options: &str, tweak: &Tweak) -> String {
        let options: Value = serde_json::from_str(creation_options).expect("options JSON");
        *self.user_handle.borrow_mut() = from_b64url(options["user"]["id"].as_str().unwrap());
        let challenge = tweak
            .challenge
            .clone()
            .unwrap_or_else(|| options_challenge(creation_options));
        let client_data = client_data(
            tweak.client_type.unwrap_or("webauthn.create"),
            &challenge,
            &tweak.origin,
        );
        let mut auth_data = Sha256::digest(tweak.rp_id.as_bytes()).to_vec();
        auth_data.push(tweak.flags | AT);
        auth_data.extend_from_slice(&self.counter.get().to_be_bytes());
        auth_data.extend_from_slice(&[0xaa; 16]);
        auth_data.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.key.cose());
        let attestation_object = cbor(&Cbor::Map(vec![
            (text("fmt"), text("none")),
            (text("attStmt"), Cbor::Map(vec![])),
            (text("authData"), bytes(&auth_data)),
        ]));
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(&client_data),
                "attestationObject": b64url(&attestation_object),
                "transports": ["internal", "hybrid"],
            }
        })
        .to_string()
    }

    /// `navigator.credentials.get(options)` → `toJSON()` as a string.
    pub fn assert(&self, request_options: &str, tweak: &Tweak) -> String {
        let challenge = tweak
            .challenge
            .clone()
            .unwrap_or_else(|| options_challenge(request_options));
        if self.counting {
            self.counter.set(self.counter.get() + 1);
        }
        let sign_count = tweak.sign_count.unwrap_or(self.counter.get());
        let client_data = client_data(
            tweak.client_type.unwrap_or("webauthn.get"),
            &challenge,
            &tweak.origin,
        );
        let mut auth_data = Sha256::digest(tweak.rp_id.as_bytes()).to_vec();
        auth_data.push(tweak.flags);
        auth_data.extend_from_slice(&sign_count.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        if tweak.bad_signature {
            signed.push(0);
        }
        let signature = self.key.sign(&signed);
        let user_handle = match &tweak.user_handle {
            None => Some(self.user_handle.borrow().clone()),
            Some(handle) => handle.clone(),
        };
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64url(&client_data),
                "authenticatorData": b64url(&auth_data),
                "signature": b64url(&signature),
                "userHandle": user_handle.as_deref().map(b64url),
            }
        })
        .to_string()
    }
}

// ---- argument builders ----

pub fn s_args(s: &str) -> Value {
    json!({ "session_token": s })
}

pub fn reg_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_passkey_registration_token": t })
}

pub fn reg_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_passkey_registration_token": t, "password": password })
}

pub fn reg_code_args(s: &str, t: &str, totp_code: &str) -> Value {
    json!({ "session_token": s, "user_passkey_registration_token": t, "totp_code": totp_code })
}

pub fn complete_reg_args(s: &str, t: &str, name: &str, credential: &str) -> Value {
    json!({
        "session_token": s,
        "user_passkey_registration_token": t,
        "passkey_name": name,
        "credential": credential,
    })
}

pub fn pdel_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_passkey_deletion_token": t })
}

pub fn pdel_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_passkey_deletion_token": t, "password": password })
}

pub fn pdel_code_args(s: &str, t: &str, totp_code: &str) -> Value {
    json!({ "session_token": s, "user_passkey_deletion_token": t, "totp_code": totp_code })
}

pub fn ps_args(t: &str) -> Value {
    json!({ "passkey_signin_token": t })
}

pub fn ps_complete_args(t: &str, credential: &str) -> Value {
    json!({ "passkey_signin_token": t, "credential": credential })
}

pub fn signin_args(t: &str) -> Value {
    json!({ "signin_token": t })
}

pub fn signin_credential_args(t: &str, credential: &str) -> Value {
    json!({ "signin_token": t, "credential": credential })
}

pub fn token(values: &Map<String, Value>, name: &str) -> String {
    values[name].as_str().unwrap().to_string()
}

// ---- flows ----

/// Moves the clock on by 10 minutes: the flows below verify a password (or a second factor), and
/// after that long the per-user buckets are full again, so a test may run them any number of
/// times. (Less than 5 minutes could leave `last_refilled_at` ahead of the clock: spec §7.4's
/// lag quirk.)
pub fn refill_buckets(h: &Harness) {
    advance(h, 600);
}

/// Moves the clock on by `seconds` (the flows move it, so tests never set it back).
pub fn advance(h: &Harness, seconds: i64) {
    use faroe_worker::ports::Clock;
    h.clock.set(h.clock.now() + seconds * SECOND);
}

/// create + password: (registration token, creation options).
pub fn verified_registration(h: &Harness, s: &str, password: &str) -> (String, String) {
    refill_buckets(h);
    let created = h.ok("create_user_passkey_registration", s_args(s));
    let t = token(&created, "user_passkey_registration_token");
    h.ok(
        "verify_user_passkey_registration_user_password",
        reg_password_args(s, &t, password),
    );
    (t, token(&created, "credential_creation_options"))
}

/// A whole registration of `authenticator` for the session's user: the completion's values.
pub fn register(
    h: &Harness,
    s: &str,
    password: &str,
    authenticator: &Authenticator,
    name: &str,
) -> Map<String, Value> {
    let (t, options) = verified_registration(h, s, password);
    let credential = authenticator.register(&options, &Tweak::default());
    h.ok(
        "complete_user_passkey_registration",
        complete_reg_args(s, &t, name, &credential),
    )
}

/// A passwordless sign-in: (token, request options).
pub fn create_passkey_signin(h: &Harness) -> (String, String) {
    let created = h.ok("create_passkey_signin", json!({}));
    (
        token(&created, "passkey_signin_token"),
        token(&created, "credential_request_options"),
    )
}

/// A signin of `email` whose password was verified.
pub fn password_verified_signin(h: &Harness, email: &str, password: &str) -> String {
    refill_buckets(h);
    let t = h.create_signin(email);
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": password }),
    );
    t
}

/// Starts a passkey deletion of `passkey_id` and verifies the password: the token.
pub fn verified_passkey_deletion(h: &Harness, s: &str, passkey_id: &str, password: &str) -> String {
    refill_buckets(h);
    let t = token(
        &h.ok(
            "create_user_passkey_deletion",
            json!({ "session_token": s, "user_passkey_id": passkey_id }),
        ),
        "user_passkey_deletion_token",
    );
    h.ok(
        "verify_user_passkey_deletion_user_password",
        pdel_password_args(s, &t, password),
    );
    t
}
