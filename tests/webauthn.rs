//! `faroe_worker::webauthn`: options JSON, registration and assertion verification for ES256,
//! EdDSA and RS256 with keys made here and encoded as browsers encode them, every error variant,
//! real Chromium output (tests/webauthn/chromium-fixture.json, made by
//! tests/webauthn/make-fixture.mjs), and property tests that no input panics.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ciborium::value::Value;
use faroe_worker::webauthn::{
    parse_authentication_response, Algorithm, AttestationFormat, CredentialDescriptor, PublicKey,
    RelyingParty, StoredCredential, User, UserVerification, WebAuthnError,
};
use proptest::prelude::*;
use rsa::pkcs1::DecodeRsaPrivateKey;
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};

const RP_ID: &str = "example.com";
const ORIGIN: &str = "https://example.com";
const CHALLENGE: [u8; 32] = [0x42; 32];
const CREDENTIAL_ID: [u8; 32] = [0xc1; 32];
const AAGUID: [u8; 16] = [0xaa; 16];
const USER_HANDLE: [u8; 16] = [0x75; 16];

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;
const ED: u8 = 0x80;

fn rp() -> RelyingParty {
    RelyingParty {
        id: RP_ID.to_string(),
        name: "Example".to_string(),
        origins: vec![ORIGIN.to_string(), "https://app.example.com".to_string()],
        top_origins: vec![],
        user_verification: UserVerification::Required,
        timeout_ms: 300_000,
    }
}

fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn cbor(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out).unwrap();
    out
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(b.to_vec())
}

fn map(entries: Vec<(Value, Value)>) -> Value {
    Value::Map(entries)
}

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// A test-only RSA-2048 key (generating one in a debug build, let alone in wasm, is slow).
fn rsa_private_key() -> rsa::RsaPrivateKey {
    static KEY: std::sync::OnceLock<rsa::RsaPrivateKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let file = include_str!("webauthn/rsa2048-test-key.txt");
        let der = STANDARD
            .decode(file.lines().nth(1).unwrap().trim())
            .unwrap();
        rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap()
    })
    .clone()
}

enum TestKey {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

impl TestKey {
    fn new(algorithm: Algorithm) -> TestKey {
        match algorithm {
            Algorithm::Es256 => {
                TestKey::Es256(p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap())
            }
            Algorithm::EdDsa => TestKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[9u8; 32])),
            Algorithm::Rs256 => TestKey::Rs256(Box::new(rsa_private_key())),
        }
    }

    /// Another key of the same algorithm (ES256 and EdDSA; RS256 uses the same test key).
    fn other(algorithm: Algorithm) -> TestKey {
        match algorithm {
            Algorithm::Es256 => {
                TestKey::Es256(p256::ecdsa::SigningKey::from_bytes(&[8u8; 32].into()).unwrap())
            }
            Algorithm::EdDsa => TestKey::EdDsa(ed25519_dalek::SigningKey::from_bytes(&[10u8; 32])),
            Algorithm::Rs256 => unreachable!("one RSA test key"),
        }
    }

    /// The COSE_Key map as authenticators encode it (labels in CTAP2 canonical order).
    fn cose_value(&self) -> Value {
        match self {
            TestKey::Es256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                map(vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), bytes(point.x().unwrap())),
                    (int(-3), bytes(point.y().unwrap())),
                ])
            }
            TestKey::EdDsa(key) => map(vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), bytes(key.verifying_key().as_bytes())),
            ]),
            TestKey::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                map(vec![
                    (int(1), int(3)),
                    (int(3), int(-257)),
                    (int(-1), bytes(&key.n().to_bytes_be())),
                    (int(-2), bytes(&key.e().to_bytes_be())),
                ])
            }
        }
    }

    fn cose(&self) -> Vec<u8> {
        cbor(&self.cose_value())
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

// ---------------------------------------------------------------------------------------------
// Encodings, as browsers and authenticators produce them
// ---------------------------------------------------------------------------------------------

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    format!(
        r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}","crossOrigin":false}}"#,
        b64url(challenge)
    )
    .into_bytes()
}

fn auth_data(
    rp_id: &str,
    flags: u8,
    sign_count: u32,
    attested: Option<(&[u8], &[u8])>,
    extensions: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Sha256::digest(rp_id.as_bytes()).to_vec();
    out.push(flags);
    out.extend_from_slice(&sign_count.to_be_bytes());
    if let Some((credential_id, cose_key)) = attested {
        out.extend_from_slice(&AAGUID);
        out.extend_from_slice(&(credential_id.len() as u16).to_be_bytes());
        out.extend_from_slice(credential_id);
        out.extend_from_slice(cose_key);
    }
    if let Some(extensions) = extensions {
        out.extend_from_slice(extensions);
    }
    out
}

fn attestation_object(format: &str, statement: Value, auth_data: &[u8]) -> Vec<u8> {
    cbor(&map(vec![
        (text("fmt"), text(format)),
        (text("attStmt"), statement),
        (text("authData"), bytes(auth_data)),
    ]))
}

fn registration_json(raw_id: &[u8], client_data: &[u8], attestation_object: &[u8]) -> String {
    json!({
        "id": b64url(raw_id),
        "rawId": b64url(raw_id),
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": {
            "clientDataJSON": b64url(client_data),
            "attestationObject": b64url(attestation_object),
            "transports": ["internal", "hybrid", "quantum", "internal"],
        }
    })
    .to_string()
}

fn assertion_json(
    raw_id: &[u8],
    client_data: &[u8],
    auth_data: &[u8],
    signature: &[u8],
    user_handle: Option<&[u8]>,
) -> String {
    json!({
        "id": b64url(raw_id),
        "rawId": b64url(raw_id),
        "type": "public-key",
        "authenticatorAttachment": "platform",
        "clientExtensionResults": {},
        "response": {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
            "userHandle": user_handle.map(b64url),
        }
    })
    .to_string()
}

// ---------------------------------------------------------------------------------------------
// Scenarios: a valid ceremony by default, each field overridable
// ---------------------------------------------------------------------------------------------

struct Registration {
    key: TestKey,
    credential_id: Vec<u8>,
    raw_id: Vec<u8>,
    client_type: &'static str,
    challenge: Vec<u8>,
    origin: String,
    client_data: Option<Vec<u8>>,
    rp_id: String,
    flags: u8,
    sign_count: u32,
    cose_key: Option<Vec<u8>>,
    format: &'static str,
    statement: Option<Value>,
    extensions: Option<Vec<u8>>,
}

impl Registration {
    fn new(algorithm: Algorithm) -> Registration {
        Registration {
            key: TestKey::new(algorithm),
            credential_id: CREDENTIAL_ID.to_vec(),
            raw_id: CREDENTIAL_ID.to_vec(),
            client_type: "webauthn.create",
            challenge: CHALLENGE.to_vec(),
            origin: ORIGIN.to_string(),
            client_data: None,
            rp_id: RP_ID.to_string(),
            flags: UP | UV | BE | BS | AT,
            sign_count: 0,
            cose_key: None,
            format: "none",
            statement: None,
            extensions: None,
        }
    }

    fn client_data(&self) -> Vec<u8> {
        self.client_data
            .clone()
            .unwrap_or_else(|| client_data(self.client_type, &self.challenge, &self.origin))
    }

    fn auth_data(&self) -> Vec<u8> {
        let cose = self.cose_key.clone().unwrap_or_else(|| self.key.cose());
        let attested = (self.flags & AT != 0).then_some((&self.credential_id[..], &cose[..]));
        auth_data(
            &self.rp_id,
            self.flags,
            self.sign_count,
            attested,
            self.extensions.as_deref(),
        )
    }

    /// `packed` self attestation over this registration's authenticator data and client data.
    fn packed_statement(&self, alg: i64) -> Value {
        let mut signed = self.auth_data();
        signed.extend_from_slice(&Sha256::digest(self.client_data()));
        map(vec![
            (text("alg"), int(alg)),
            (text("sig"), bytes(&self.key.sign(&signed))),
        ])
    }

    fn attestation_object(&self) -> Vec<u8> {
        let statement = self.statement.clone().unwrap_or(map(vec![]));
        attestation_object(self.format, statement, &self.auth_data())
    }

    fn json(&self) -> String {
        registration_json(
            &self.raw_id,
            &self.client_data(),
            &self.attestation_object(),
        )
    }

    fn verify(&self) -> Result<faroe_worker::webauthn::RegisteredCredential, WebAuthnError> {
        rp().verify_registration(&CHALLENGE, &self.json())
    }
}

struct Assertion {
    key: TestKey,
    raw_id: Vec<u8>,
    client_type: &'static str,
    challenge: Vec<u8>,
    origin: String,
    client_data: Option<Vec<u8>>,
    rp_id: String,
    flags: u8,
    sign_count: u32,
    signature: Option<Vec<u8>>,
    user_handle: Option<Vec<u8>>,
}

impl Assertion {
    fn new(algorithm: Algorithm) -> Assertion {
        Assertion {
            key: TestKey::new(algorithm),
            raw_id: CREDENTIAL_ID.to_vec(),
            client_type: "webauthn.get",
            challenge: CHALLENGE.to_vec(),
            origin: ORIGIN.to_string(),
            client_data: None,
            rp_id: RP_ID.to_string(),
            flags: UP | UV | BE | BS,
            sign_count: 6,
            signature: None,
            user_handle: Some(USER_HANDLE.to_vec()),
        }
    }

    fn client_data(&self) -> Vec<u8> {
        self.client_data
            .clone()
            .unwrap_or_else(|| client_data(self.client_type, &self.challenge, &self.origin))
    }

    fn auth_data(&self) -> Vec<u8> {
        auth_data(&self.rp_id, self.flags, self.sign_count, None, None)
    }

    fn json(&self) -> String {
        let (client_data, auth_data) = (self.client_data(), self.auth_data());
        let signature = self.signature.clone().unwrap_or_else(|| {
            let mut signed = auth_data.clone();
            signed.extend_from_slice(&Sha256::digest(&client_data));
            self.key.sign(&signed)
        });
        assertion_json(
            &self.raw_id,
            &client_data,
            &auth_data,
            &signature,
            self.user_handle.as_deref(),
        )
    }

    /// Verified against the stored credential of [`TestKey::new`] with counter 5.
    fn verify(&self) -> Result<faroe_worker::webauthn::VerifiedAuthentication, WebAuthnError> {
        let algorithm = match self.key {
            TestKey::Es256(_) => Algorithm::Es256,
            TestKey::EdDsa(_) => Algorithm::EdDsa,
            TestKey::Rs256(_) => Algorithm::Rs256,
        };
        verify_assertion_json(&rp(), &self.json(), algorithm, &CREDENTIAL_ID, 5)
    }
}

fn verify_assertion_json(
    rp: &RelyingParty,
    json: &str,
    algorithm: Algorithm,
    stored_id: &[u8],
    stored_sign_count: u32,
) -> Result<faroe_worker::webauthn::VerifiedAuthentication, WebAuthnError> {
    let public_key = PublicKey::from_cose(&TestKey::new(algorithm).cose()).unwrap();
    let response = parse_authentication_response(json)?;
    rp.verify_authentication(
        &CHALLENGE,
        &response,
        &StoredCredential {
            id: stored_id,
            public_key: &public_key,
            sign_count: stored_sign_count,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------

#[test]
fn creation_options_are_the_level_3_json_shape() {
    let user = User {
        id: &USER_HANDLE,
        name: "ada@example.com",
        display_name: "Ada",
    };
    let exclude = vec![CredentialDescriptor::new(
        &CREDENTIAL_ID,
        &["internal".to_string(), "hybrid".to_string()],
    )];
    let options = rp().creation_options(&CHALLENGE, &user, exclude);
    assert_eq!(
        serde_json::to_value(&options).unwrap(),
        json!({
            "rp": {"id": "example.com", "name": "Example"},
            "user": {"id": b64url(&USER_HANDLE), "name": "ada@example.com", "displayName": "Ada"},
            "challenge": b64url(&CHALLENGE),
            "pubKeyCredParams": [
                {"type": "public-key", "alg": -7},
                {"type": "public-key", "alg": -8},
                {"type": "public-key", "alg": -257},
            ],
            "timeout": 300000,
            "excludeCredentials": [
                {"type": "public-key", "id": b64url(&CREDENTIAL_ID), "transports": ["internal", "hybrid"]},
            ],
            "authenticatorSelection": {
                "residentKey": "required",
                "requireResidentKey": true,
                "userVerification": "required",
            },
            "attestation": "none",
        })
    );
    // Member order as listed (serde_json's preserve_order), challenge without padding.
    let text = serde_json::to_string(&options).unwrap();
    assert!(text.starts_with(r#"{"rp":{"id":"example.com","name":"Example"},"user":"#));
    assert!(!text.contains('='));
}

#[test]
fn request_options_are_the_level_3_json_shape() {
    let mut rp = rp();
    rp.user_verification = UserVerification::Preferred;
    // Discoverable sign-in: no allowCredentials member at all.
    assert_eq!(
        serde_json::to_value(rp.request_options(&CHALLENGE, vec![])).unwrap(),
        json!({
            "challenge": b64url(&CHALLENGE),
            "timeout": 300000,
            "rpId": "example.com",
            "userVerification": "preferred",
        })
    );
    let allow = vec![CredentialDescriptor::new(&[1, 2, 3], &[])];
    assert_eq!(
        serde_json::to_value(rp.request_options(&CHALLENGE, allow)).unwrap()["allowCredentials"],
        json!([{"type": "public-key", "id": "AQID"}])
    );
    rp.user_verification = UserVerification::Discouraged;
    let options = rp.request_options(&CHALLENGE, vec![]);
    assert_eq!(options.user_verification, "discouraged");
}

// ---------------------------------------------------------------------------------------------
// Success paths
// ---------------------------------------------------------------------------------------------

#[test]
fn registration_and_assertion_succeed_for_every_algorithm() {
    for algorithm in Algorithm::ALL {
        let registration = Registration::new(algorithm);
        let credential = registration
            .verify()
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert_eq!(credential.id, CREDENTIAL_ID);
        assert_eq!(credential.algorithm, algorithm);
        assert_eq!(credential.public_key, registration.key.cose());
        assert_eq!(credential.sign_count, 0);
        assert_eq!(credential.aaguid, AAGUID);
        assert_eq!(credential.attestation_format, AttestationFormat::None);
        // Unknown transports dropped, duplicates once.
        assert_eq!(credential.transports, ["internal", "hybrid"]);
        assert!(credential.user_verified && credential.backup_eligible && credential.backed_up);

        // The stored COSE bytes parse back into the key that verifies the assertion.
        let public_key = PublicKey::from_cose(&credential.public_key).unwrap();
        assert_eq!(public_key.algorithm(), algorithm);
        let assertion = Assertion::new(algorithm);
        let response = parse_authentication_response(&assertion.json()).unwrap();
        assert_eq!(response.credential_id, CREDENTIAL_ID);
        let verified = rp()
            .verify_authentication(
                &CHALLENGE,
                &response,
                &StoredCredential {
                    id: &credential.id,
                    public_key: &public_key,
                    sign_count: 5,
                },
            )
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert_eq!(verified.sign_count, 6);
        assert_eq!(verified.user_handle.as_deref(), Some(&USER_HANDLE[..]));
        assert!(verified.user_verified && verified.backup_eligible && verified.backed_up);
    }
}

#[test]
fn packed_self_attestation_is_verified_for_every_algorithm() {
    for algorithm in Algorithm::ALL {
        let mut registration = Registration::new(algorithm);
        registration.format = "packed";
        registration.statement = Some(registration.packed_statement(algorithm.cose_id()));
        let credential = registration
            .verify()
            .unwrap_or_else(|e| panic!("{algorithm:?}: {e}"));
        assert_eq!(credential.attestation_format, AttestationFormat::PackedSelf);
    }
}

#[test]
fn user_verification_is_only_required_when_configured() {
    let mut registration = Registration::new(Algorithm::Es256);
    registration.flags = UP | AT;
    let mut preferred = rp();
    preferred.user_verification = UserVerification::Preferred;
    let credential = preferred
        .verify_registration(&CHALLENGE, &registration.json())
        .unwrap();
    assert!(!credential.user_verified && !credential.backup_eligible && !credential.backed_up);

    let mut assertion = Assertion::new(Algorithm::Es256);
    assertion.flags = UP;
    let verified = verify_assertion_json(
        &preferred,
        &assertion.json(),
        Algorithm::Es256,
        &CREDENTIAL_ID,
        5,
    )
    .unwrap();
    assert!(!verified.user_verified);
}

#[test]
fn the_second_listed_origin_is_accepted_too() {
    let mut registration = Registration::new(Algorithm::EdDsa);
    registration.origin = "https://app.example.com".to_string();
    assert!(registration.verify().is_ok());
}

#[test]
fn cross_origin_is_accepted_only_from_a_configured_top_origin() {
    let cross = |top: &str| {
        format!(
            r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":"{top}"}}"#,
            b64url(&CHALLENGE)
        )
        .into_bytes()
    };
    let mut registration = Registration::new(Algorithm::Es256);
    registration.client_data = Some(cross("https://portal.example.net"));
    assert_eq!(
        registration.verify(),
        Err(WebAuthnError::CrossOriginNotAllowed)
    );
    let mut allowing = rp();
    allowing.top_origins = vec!["https://portal.example.net".to_string()];
    assert!(allowing
        .verify_registration(&CHALLENGE, &registration.json())
        .is_ok());
    // Another top origin than the configured one.
    registration.client_data = Some(cross("https://evil.example.org"));
    assert_eq!(
        allowing.verify_registration(&CHALLENGE, &registration.json()),
        Err(WebAuthnError::CrossOriginNotAllowed)
    );
    // crossOrigin true without a topOrigin.
    registration.client_data = Some(
        format!(
            r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","crossOrigin":true}}"#,
            b64url(&CHALLENGE)
        )
        .into_bytes(),
    );
    assert_eq!(
        registration.verify(),
        Err(WebAuthnError::CrossOriginNotAllowed)
    );
    // A topOrigin other than the origin, crossOrigin omitted.
    registration.client_data = Some(
        format!(
            r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}","topOrigin":"https://evil.example.org"}}"#,
            b64url(&CHALLENGE)
        )
        .into_bytes(),
    );
    assert_eq!(
        registration.verify(),
        Err(WebAuthnError::CrossOriginNotAllowed)
    );
}

#[test]
fn client_data_members_browsers_add_and_padding_are_tolerated() {
    let mut registration = Registration::new(Algorithm::Es256);
    registration.client_data = Some(
        format!(
            r#"{{"type":"webauthn.create","challenge":"{}=","origin":"{ORIGIN}","crossOrigin":false,"other_keys_can_be_added_here":"do not compare clientDataJSON against a template. See https://goo.gl/yabPex"}}"#,
            b64url(&CHALLENGE)
        )
        .into_bytes(),
    );
    assert!(registration.verify().is_ok());
}

#[test]
fn extension_outputs_in_authenticator_data_are_tolerated() {
    let extensions = cbor(&map(vec![(text("credProtect"), int(2))]));
    let mut registration = Registration::new(Algorithm::Es256);
    registration.flags |= ED;
    registration.extensions = Some(extensions.clone());
    let credential = registration.verify().unwrap();
    // The stored key is the COSE key alone, not the extensions after it.
    assert_eq!(credential.public_key, registration.key.cose());
}

#[test]
fn credential_ids_up_to_1023_bytes_are_accepted() {
    let mut registration = Registration::new(Algorithm::EdDsa);
    registration.credential_id = vec![0x5a; 1023];
    registration.raw_id = vec![0x5a; 1023];
    assert_eq!(registration.verify().unwrap().id.len(), 1023);
}

#[test]
fn counters_of_zero_on_both_sides_are_accepted_and_any_increase_is() {
    let mut assertion = Assertion::new(Algorithm::Es256);
    assertion.sign_count = 0;
    let verified = verify_assertion_json(
        &rp(),
        &assertion.json(),
        Algorithm::Es256,
        &CREDENTIAL_ID,
        0,
    )
    .unwrap();
    assert_eq!(verified.sign_count, 0);
    assertion.sign_count = 1;
    assert!(verify_assertion_json(
        &rp(),
        &assertion.json(),
        Algorithm::Es256,
        &CREDENTIAL_ID,
        0
    )
    .is_ok());
    assertion.sign_count = u32::MAX;
    assert!(verify_assertion_json(
        &rp(),
        &assertion.json(),
        Algorithm::Es256,
        &CREDENTIAL_ID,
        7
    )
    .is_ok());
}

#[test]
fn user_handle_absent_null_or_empty_is_none() {
    let mut assertion = Assertion::new(Algorithm::EdDsa);
    assertion.user_handle = None;
    assert_eq!(assertion.verify().unwrap().user_handle, None);
    let mut value: Json = serde_json::from_str(&assertion.json()).unwrap();
    value["response"]["userHandle"] = json!("");
    assert_eq!(
        parse_authentication_response(&value.to_string())
            .unwrap()
            .user_handle,
        None
    );
    value["response"]
        .as_object_mut()
        .unwrap()
        .remove("userHandle");
    assert_eq!(
        parse_authentication_response(&value.to_string())
            .unwrap()
            .user_handle,
        None
    );
}

#[test]
fn es256_signatures_with_high_s_verify() {
    let assertion = Assertion::new(Algorithm::Es256);
    let (client_data, auth_data) = (assertion.client_data(), assertion.auth_data());
    let mut signed = auth_data.clone();
    signed.extend_from_slice(&Sha256::digest(&client_data));
    let TestKey::Es256(key) = &assertion.key else {
        unreachable!()
    };
    use p256::ecdsa::signature::Signer;
    let signature: p256::ecdsa::Signature = key.sign(&signed);
    let (r, s) = signature.split_scalars();
    // Whichever of s and n − s the signer produced, the other one verifies too.
    let flipped = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes()).unwrap();
    for signature in [signature, flipped] {
        let json = assertion_json(
            &CREDENTIAL_ID,
            &client_data,
            &auth_data,
            signature.to_der().as_bytes(),
            None,
        );
        verify_assertion_json(&rp(), &json, Algorithm::Es256, &CREDENTIAL_ID, 5).unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Registration errors
// ---------------------------------------------------------------------------------------------

fn member_at<'a>(value: &'a mut Json, path: &[&str]) -> &'a mut Json {
    path.iter().fold(value, |v, k| &mut v[*k])
}

#[test]
fn registration_json_that_is_not_the_tojson_shape_is_malformed_json() {
    let valid: Json = serde_json::from_str(&Registration::new(Algorithm::Es256).json()).unwrap();
    let mut cases = vec![
        "".to_string(),
        "{".to_string(),
        "[]".to_string(),
        "null".to_string(),
    ];
    for path in [
        &["id"][..],
        &["rawId"],
        &["type"],
        &["response"],
        &["response", "clientDataJSON"],
        &["response", "attestationObject"],
    ] {
        let (parent, last) = path.split_at(path.len() - 1);
        let mut missing = valid.clone();
        member_at(&mut missing, parent)
            .as_object_mut()
            .unwrap()
            .remove(last[0]);
        cases.push(missing.to_string());
        let mut wrong_type = valid.clone();
        *member_at(&mut wrong_type, path) = json!(42);
        cases.push(wrong_type.to_string());
    }
    let mut transports_not_strings = valid.clone();
    transports_not_strings["response"]["transports"] = json!([1]);
    cases.push(transports_not_strings.to_string());
    // A duplicated member.
    let text = valid.to_string();
    cases.push(text.replacen("{", r#"{"type":"public-key","#, 1));
    for case in cases {
        assert_eq!(
            rp().verify_registration(&CHALLENGE, &case),
            Err(WebAuthnError::MalformedJson),
            "{case}"
        );
    }
}

#[test]
fn registration_members_that_are_not_base64url_are_named() {
    let valid: Json = serde_json::from_str(&Registration::new(Algorithm::Es256).json()).unwrap();
    for (member, error) in [
        (&["rawId"][..], "rawId"),
        (&["id"], "id"),
        (&["response", "clientDataJSON"], "clientDataJSON"),
        (&["response", "attestationObject"], "attestationObject"),
    ] {
        for bad in ["a+b/", "abc$", "A"] {
            let mut value = valid.clone();
            *member_at(&mut value, member) = json!(bad);
            assert_eq!(
                rp().verify_registration(&CHALLENGE, &value.to_string()),
                Err(WebAuthnError::InvalidBase64Url(error)),
                "{member:?} = {bad}"
            );
        }
    }
    let mut registration = Registration::new(Algorithm::Es256);
    registration.client_data = Some(
        format!(r#"{{"type":"webauthn.create","challenge":"***","origin":"{ORIGIN}"}}"#)
            .into_bytes(),
    );
    assert_eq!(
        registration.verify(),
        Err(WebAuthnError::InvalidBase64Url("clientDataJSON.challenge"))
    );
}

#[test]
fn registration_errors_each_have_their_variant() {
    type Tweak = fn(&mut Registration);
    let cases: Vec<(&str, Tweak, WebAuthnError)> = vec![
        (
            "credential type",
            |r| r.client_type = "webauthn.get",
            WebAuthnError::WrongClientDataType,
        ),
        (
            "challenge",
            |r| r.challenge = vec![0x43; 32],
            WebAuthnError::ChallengeMismatch,
        ),
        (
            "short challenge",
            |r| r.challenge = vec![0x42; 31],
            WebAuthnError::ChallengeMismatch,
        ),
        (
            "origin",
            |r| r.origin = "https://evil.example".into(),
            WebAuthnError::OriginNotAllowed,
        ),
        (
            "origin with port",
            |r| r.origin = "https://example.com:8443".into(),
            WebAuthnError::OriginNotAllowed,
        ),
        (
            "http origin",
            |r| r.origin = "http://example.com".into(),
            WebAuthnError::OriginNotAllowed,
        ),
        (
            "client data not JSON",
            |r| r.client_data = Some(b"not json".to_vec()),
            WebAuthnError::MalformedClientData,
        ),
        (
            "client data not UTF-8",
            |r| r.client_data = Some(b"{\"type\":\"\xff\"}".to_vec()),
            WebAuthnError::MalformedClientData,
        ),
        (
            "client data without origin",
            |r| {
                r.client_data = Some(
                    format!(
                        r#"{{"type":"webauthn.create","challenge":"{}"}}"#,
                        b64url(&CHALLENGE)
                    )
                    .into_bytes(),
                )
            },
            WebAuthnError::MalformedClientData,
        ),
        (
            "rp id",
            |r| r.rp_id = "evil.example".into(),
            WebAuthnError::RpIdHashMismatch,
        ),
        (
            "rp id of a subdomain",
            |r| r.rp_id = "app.example.com".into(),
            WebAuthnError::RpIdHashMismatch,
        ),
        (
            "user present",
            |r| r.flags &= !UP,
            WebAuthnError::UserNotPresent,
        ),
        (
            "user verified",
            |r| r.flags &= !UV,
            WebAuthnError::UserNotVerified,
        ),
        (
            "backup flags",
            |r| r.flags &= !BE,
            WebAuthnError::InvalidBackupFlags,
        ),
        (
            "attested credential data",
            |r| r.flags &= !AT,
            WebAuthnError::MissingAttestedCredentialData,
        ),
        (
            "credential id vs rawId",
            |r| r.credential_id = vec![0xc2; 32],
            WebAuthnError::CredentialIdMismatch,
        ),
        (
            "credential id 1024 bytes",
            |r| {
                r.credential_id = vec![1; 1024];
                r.raw_id = vec![1; 1024];
            },
            WebAuthnError::CredentialIdTooLong,
        ),
        (
            "format",
            |r| r.format = "tpm",
            WebAuthnError::UnsupportedAttestationFormat("tpm".into()),
        ),
        (
            "format fido-u2f",
            |r| r.format = "fido-u2f",
            WebAuthnError::UnsupportedAttestationFormat("fido-u2f".into()),
        ),
        (
            "none with a statement",
            |r| r.statement = Some(map(vec![(text("alg"), int(-7))])),
            WebAuthnError::InvalidAttestationStatement("none with a non-empty attStmt"),
        ),
        (
            "packed with x5c",
            |r| {
                r.format = "packed";
                r.statement = Some(map(vec![
                    (text("alg"), int(-7)),
                    (text("sig"), bytes(&[0x30])),
                    (text("x5c"), Value::Array(vec![bytes(&[0x30])])),
                ]));
            },
            WebAuthnError::UnsupportedAttestationFormat("packed with x5c".into()),
        ),
        (
            "packed with another alg",
            |r| {
                r.format = "packed";
                r.statement = Some(r.packed_statement(-8));
            },
            WebAuthnError::InvalidAttestationStatement(
                "packed self attestation alg is not the credential's",
            ),
        ),
        (
            "packed with a bad signature",
            |r| {
                r.format = "packed";
                let s = r.packed_statement(-7);
                r.sign_count = 1;
                r.statement = Some(s);
            },
            WebAuthnError::InvalidAttestationStatement("packed self attestation signature"),
        ),
        (
            "packed without sig",
            |r| {
                r.format = "packed";
                r.statement = Some(map(vec![(text("alg"), int(-7))]));
            },
            WebAuthnError::InvalidAttestationStatement("packed attStmt not {alg, sig}"),
        ),
        (
            "packed with ecdaaKeyId",
            |r| {
                r.format = "packed";
                r.statement = Some(map(vec![(text("ecdaaKeyId"), bytes(&[1]))]));
            },
            WebAuthnError::InvalidAttestationStatement("packed attStmt not {alg, sig}"),
        ),
        (
            "unsupported algorithm",
            |r| {
                r.cose_key = Some(cbor(&map(vec![
                    (int(1), int(2)),
                    (int(3), int(-35)),
                    (int(-1), int(2)),
                ])))
            },
            WebAuthnError::UnsupportedAlgorithm(-35),
        ),
        (
            "malformed COSE key",
            |r| r.cose_key = Some(cbor(&map(vec![(int(1), int(2)), (int(3), int(-7))]))),
            WebAuthnError::MalformedCoseKey("crv missing"),
        ),
        (
            "COSE key not CBOR",
            |r| r.cose_key = Some(vec![0xff]),
            WebAuthnError::MalformedAuthenticatorData,
        ),
        (
            "trailing bytes after the key",
            |r| {
                let mut k = r.key.cose();
                k.push(0);
                r.cose_key = Some(k);
            },
            WebAuthnError::MalformedAuthenticatorData,
        ),
        (
            "extensions flag without extensions",
            |r| r.flags |= ED,
            WebAuthnError::MalformedAuthenticatorData,
        ),
        (
            "extensions not a map",
            |r| {
                r.flags |= ED;
                r.extensions = Some(cbor(&int(1)));
            },
            WebAuthnError::MalformedAuthenticatorData,
        ),
    ];
    for (name, tweak, expected) in cases {
        let mut registration = Registration::new(Algorithm::Es256);
        tweak(&mut registration);
        assert_eq!(registration.verify(), Err(expected), "{name}");
    }
}

#[test]
fn an_empty_expected_challenge_never_matches() {
    let mut registration = Registration::new(Algorithm::Es256);
    registration.challenge = vec![];
    assert_eq!(
        rp().verify_registration(&[], &registration.json()),
        Err(WebAuthnError::ChallengeMismatch)
    );
    let mut assertion = Assertion::new(Algorithm::Es256);
    assertion.challenge = vec![];
    let public_key = PublicKey::from_cose(&assertion.key.cose()).unwrap();
    let response = parse_authentication_response(&assertion.json()).unwrap();
    let stored = StoredCredential {
        id: &CREDENTIAL_ID,
        public_key: &public_key,
        sign_count: 5,
    };
    assert_eq!(
        rp().verify_authentication(&[], &response, &stored),
        Err(WebAuthnError::ChallengeMismatch)
    );
}

#[test]
fn registration_credential_type_and_id_are_checked_first() {
    let registration = Registration::new(Algorithm::Es256);
    let mut value: Json = serde_json::from_str(&registration.json()).unwrap();
    value["type"] = json!("password");
    assert_eq!(
        rp().verify_registration(&CHALLENGE, &value.to_string()),
        Err(WebAuthnError::WrongCredentialType)
    );
    let mut value: Json = serde_json::from_str(&registration.json()).unwrap();
    value["id"] = json!(b64url(&[0xc2; 32]));
    assert_eq!(
        rp().verify_registration(&CHALLENGE, &value.to_string()),
        Err(WebAuthnError::CredentialIdMismatch)
    );
}

#[test]
fn attestation_objects_that_are_not_exactly_fmt_attstmt_authdata_are_malformed() {
    let registration = Registration::new(Algorithm::Es256);
    let auth_data = registration.auth_data();
    let good = [
        (text("fmt"), text("none")),
        (text("attStmt"), map(vec![])),
        (text("authData"), bytes(&auth_data)),
    ];
    let mut objects = vec![
        vec![],
        vec![0xa3],
        cbor(&Value::Array(vec![])),
        cbor(&map(good[..2].to_vec())),
        cbor(&map(good[1..].to_vec())),
        cbor(&map(vec![good[0].clone(), good[2].clone()])),
        cbor(&map([&good[..], &[(text("extra"), int(1))]].concat())),
        cbor(&map([&good[..], &[good[0].clone()]].concat())),
        cbor(&map(vec![
            good[0].clone(),
            good[1].clone(),
            (text("authData"), text("x")),
        ])),
        cbor(&map(vec![
            (text("fmt"), int(1)),
            good[1].clone(),
            good[2].clone(),
        ])),
        cbor(&map(vec![
            good[0].clone(),
            (text("attStmt"), int(0)),
            good[2].clone(),
        ])),
        cbor(&map(vec![
            (int(1), text("none")),
            good[1].clone(),
            good[2].clone(),
        ])),
    ];
    let mut trailing = cbor(&map(good.to_vec()));
    trailing.push(0);
    objects.push(trailing);
    for object in objects {
        let json = registration_json(&CREDENTIAL_ID, &registration.client_data(), &object);
        assert_eq!(
            rp().verify_registration(&CHALLENGE, &json),
            Err(WebAuthnError::MalformedAttestationObject),
            "{object:02x?}"
        );
    }
}

#[test]
fn truncated_authenticator_data_is_malformed() {
    let registration = Registration::new(Algorithm::Es256);
    let auth_data = registration.auth_data();
    // Every proper prefix: too short, cut inside the aaguid, the id length, the id or the key.
    for len in 0..auth_data.len() {
        let object = attestation_object("none", map(vec![]), &auth_data[..len]);
        let json = registration_json(&CREDENTIAL_ID, &registration.client_data(), &object);
        let result = rp().verify_registration(&CHALLENGE, &json);
        assert_eq!(
            result,
            Err(WebAuthnError::MalformedAuthenticatorData),
            "length {len}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// COSE keys
// ---------------------------------------------------------------------------------------------

#[test]
fn cose_keys_are_checked_strictly() {
    let es256 = TestKey::new(Algorithm::Es256);
    let Value::Map(es) = es256.cose_value() else {
        unreachable!()
    };
    let ed = TestKey::new(Algorithm::EdDsa);
    let Value::Map(ed) = ed.cose_value() else {
        unreachable!()
    };
    let rs = TestKey::new(Algorithm::Rs256);
    let Value::Map(rs) = rs.cose_value() else {
        unreachable!()
    };
    let with = |base: &[(Value, Value)], label: i64, value: Value| -> Vec<u8> {
        let mut entries: Vec<(Value, Value)> = base
            .iter()
            .filter(|(l, _)| *l != int(label))
            .cloned()
            .collect();
        entries.push((int(label), value));
        cbor(&map(entries))
    };
    let without = |base: &[(Value, Value)], label: i64| -> Vec<u8> {
        cbor(&map(base
            .iter()
            .filter(|(l, _)| *l != int(label))
            .cloned()
            .collect()))
    };
    let mut off_curve_y = es256
        .cose_value()
        .as_map()
        .unwrap()
        .iter()
        .find(|(l, _)| *l == int(-3))
        .unwrap()
        .1
        .as_bytes()
        .unwrap()
        .clone();
    off_curve_y[31] ^= 1;
    let mut not_on_curve25519 = [0u8; 32];
    not_on_curve25519[0] = 2; // y = 2 has no x on the curve
    let mut small_order = [0u8; 32];
    small_order[0] = 1; // the identity
    use rsa::traits::PublicKeyParts;
    let TestKey::Rs256(rsa_key) = &rs256_key() else {
        unreachable!()
    };
    let mut n_with_leading_zero = vec![0];
    n_with_leading_zero.extend(rsa_key.n().to_bytes_be());

    let cases: Vec<(&str, Vec<u8>, WebAuthnError)> = vec![
        (
            "not CBOR",
            vec![0xff],
            WebAuthnError::MalformedCoseKey("not CBOR"),
        ),
        (
            "trailing bytes",
            [es256.cose(), vec![0]].concat(),
            WebAuthnError::MalformedCoseKey("not CBOR"),
        ),
        (
            "not a map",
            cbor(&int(1)),
            WebAuthnError::MalformedCoseKey("not a CBOR map"),
        ),
        (
            "text label",
            cbor(&map([&es[..], &[(text("x"), int(1))]].concat())),
            WebAuthnError::MalformedCoseKey("label is not an integer"),
        ),
        (
            "duplicate label",
            cbor(&map([&es[..], &[(int(3), int(-7))]].concat())),
            WebAuthnError::MalformedCoseKey("duplicate label"),
        ),
        (
            "no alg",
            without(&es, 3),
            WebAuthnError::MalformedCoseKey("alg missing"),
        ),
        (
            "alg as text",
            with(&es, 3, text("ES256")),
            WebAuthnError::MalformedCoseKey("alg missing"),
        ),
        (
            "ES384",
            with(&es, 3, int(-35)),
            WebAuthnError::UnsupportedAlgorithm(-35),
        ),
        (
            "PS256",
            with(&rs, 3, int(-37)),
            WebAuthnError::UnsupportedAlgorithm(-37),
        ),
        (
            "huge alg",
            with(&es, 3, Value::Integer(u64::MAX.into())),
            WebAuthnError::UnsupportedAlgorithm(i64::MIN),
        ),
        (
            "no kty",
            without(&es, 1),
            WebAuthnError::MalformedCoseKey("kty missing"),
        ),
        (
            "EC2 alg with OKP kty",
            with(&es, 1, int(1)),
            WebAuthnError::MalformedCoseKey("kty does not match alg"),
        ),
        (
            "EdDSA alg with EC2 kty",
            with(&ed, 1, int(2)),
            WebAuthnError::MalformedCoseKey("kty does not match alg"),
        ),
        (
            "RS256 alg with EC2 kty",
            with(&rs, 1, int(2)),
            WebAuthnError::MalformedCoseKey("kty does not match alg"),
        ),
        (
            "P-384 curve",
            with(&es, -1, int(2)),
            WebAuthnError::MalformedCoseKey("crv does not match alg"),
        ),
        (
            "X25519 curve",
            with(&ed, -1, int(4)),
            WebAuthnError::MalformedCoseKey("crv does not match alg"),
        ),
        (
            "no crv",
            without(&ed, -1),
            WebAuthnError::MalformedCoseKey("crv missing"),
        ),
        (
            "x 31 bytes",
            with(&es, -2, bytes(&[1; 31])),
            WebAuthnError::MalformedCoseKey("coordinate not 32 bytes"),
        ),
        (
            "compressed y",
            with(&es, -3, Value::Bool(true)),
            WebAuthnError::MalformedCoseKey("y missing"),
        ),
        (
            "EC private key",
            with(&es, -4, bytes(&[7; 32])),
            WebAuthnError::MalformedCoseKey("private key present"),
        ),
        (
            "OKP private key",
            with(&ed, -4, bytes(&[9; 32])),
            WebAuthnError::MalformedCoseKey("private key present"),
        ),
        (
            "RSA private key",
            with(&rs, -3, bytes(&[9; 256])),
            WebAuthnError::MalformedCoseKey("private key present"),
        ),
        (
            "Ed25519 x 33 bytes",
            with(&ed, -2, bytes(&[1; 33])),
            WebAuthnError::MalformedCoseKey("x not 32 bytes"),
        ),
        (
            "no n",
            without(&rs, -1),
            WebAuthnError::MalformedCoseKey("n missing"),
        ),
        (
            "no e",
            without(&rs, -2),
            WebAuthnError::MalformedCoseKey("e missing"),
        ),
        (
            "n with a leading zero",
            with(&rs, -1, bytes(&n_with_leading_zero)),
            WebAuthnError::MalformedCoseKey("n or e not minimal"),
        ),
        (
            "empty e",
            with(&rs, -2, bytes(&[])),
            WebAuthnError::MalformedCoseKey("n or e not minimal"),
        ),
        (
            "point not on the curve",
            with(&es, -3, bytes(&off_curve_y)),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "identity as P-256 point",
            with(&with_bytes(&es, -2, &[0; 32]), -3, bytes(&[0; 32])),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "Ed25519 point not on the curve",
            with(&ed, -2, bytes(&not_on_curve25519)),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "Ed25519 small-order point",
            with(&ed, -2, bytes(&small_order)),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "RSA-1024",
            with(&rs, -1, bytes(&[0xc3; 128])),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "RSA-8192",
            with(&rs, -1, bytes(&[0xc3; 1024])),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "RSA even exponent",
            with(&rs, -2, bytes(&[1, 0, 0])),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "RSA exponent 1",
            with(&rs, -2, bytes(&[1])),
            WebAuthnError::InvalidPublicKey,
        ),
        (
            "RSA exponent over 8 bytes",
            with(&rs, -2, bytes(&[1; 9])),
            WebAuthnError::InvalidPublicKey,
        ),
    ];
    for (name, key, expected) in cases {
        assert_eq!(PublicKey::from_cose(&key), Err(expected), "{name}");
    }
    // Extra labels that are not key material (kid, key_ops) are tolerated.
    let kid = with(&es, 2, bytes(b"kid"));
    assert_eq!(
        PublicKey::from_cose(&kid).unwrap().algorithm(),
        Algorithm::Es256
    );
    assert_eq!(
        PublicKey::from_cose(&cbor(&map(rs.clone())))
            .unwrap()
            .algorithm(),
        Algorithm::Rs256
    );
}

fn with_bytes(base: &[(Value, Value)], label: i64, value: &[u8]) -> Vec<(Value, Value)> {
    base.iter()
        .map(|(l, v)| {
            if *l == int(label) {
                (l.clone(), bytes(value))
            } else {
                (l.clone(), v.clone())
            }
        })
        .collect()
}

fn rs256_key() -> TestKey {
    TestKey::new(Algorithm::Rs256)
}

// ---------------------------------------------------------------------------------------------
// Assertion errors
// ---------------------------------------------------------------------------------------------

#[test]
fn assertion_errors_each_have_their_variant() {
    type Tweak = fn(&mut Assertion);
    for algorithm in Algorithm::ALL {
        let cases: Vec<(&str, Tweak, WebAuthnError)> = vec![
            (
                "client data type",
                |a| a.client_type = "webauthn.create",
                WebAuthnError::WrongClientDataType,
            ),
            (
                "challenge",
                |a| a.challenge = vec![0x41; 32],
                WebAuthnError::ChallengeMismatch,
            ),
            (
                "origin",
                |a| a.origin = "https://example.org".into(),
                WebAuthnError::OriginNotAllowed,
            ),
            (
                "client data",
                |a| a.client_data = Some(b"[]".to_vec()),
                WebAuthnError::MalformedClientData,
            ),
            (
                "rp id",
                |a| a.rp_id = "example.org".into(),
                WebAuthnError::RpIdHashMismatch,
            ),
            (
                "user present",
                |a| a.flags &= !UP,
                WebAuthnError::UserNotPresent,
            ),
            (
                "user verified",
                |a| a.flags &= !UV,
                WebAuthnError::UserNotVerified,
            ),
            (
                "backup flags",
                |a| a.flags = UP | UV | BS,
                WebAuthnError::InvalidBackupFlags,
            ),
            (
                "attested data in an assertion",
                |a| a.flags |= AT,
                WebAuthnError::MalformedAuthenticatorData,
            ),
            (
                "extensions flag without extensions",
                |a| a.flags |= ED,
                WebAuthnError::MalformedAuthenticatorData,
            ),
            (
                "counter equal",
                |a| a.sign_count = 5,
                WebAuthnError::CounterWentBackwards {
                    stored: 5,
                    received: 5,
                },
            ),
            (
                "counter lower",
                |a| a.sign_count = 3,
                WebAuthnError::CounterWentBackwards {
                    stored: 5,
                    received: 3,
                },
            ),
            (
                "counter reset",
                |a| a.sign_count = 0,
                WebAuthnError::CounterWentBackwards {
                    stored: 5,
                    received: 0,
                },
            ),
            (
                "signature over other data",
                |a| {
                    let mut signed = a.auth_data();
                    signed.extend_from_slice(&Sha256::digest(b"other client data"));
                    a.signature = Some(a.key.sign(&signed));
                },
                WebAuthnError::BadSignature,
            ),
            (
                "empty signature",
                |a| a.signature = Some(vec![]),
                WebAuthnError::MalformedSignature,
            ),
        ];
        for (name, tweak, expected) in cases {
            let mut assertion = Assertion::new(algorithm);
            tweak(&mut assertion);
            assert_eq!(assertion.verify(), Err(expected), "{algorithm:?}: {name}");
        }
    }
}

#[test]
fn signatures_of_the_wrong_encoding_or_key_are_refused() {
    let signed_by = |key: TestKey, algorithm: Algorithm| {
        // Verified against the stored key of `algorithm`, whatever key signed.
        let mut assertion = Assertion::new(algorithm);
        assertion.key = key;
        verify_assertion_json(&rp(), &assertion.json(), algorithm, &CREDENTIAL_ID, 5)
    };
    for algorithm in [Algorithm::Es256, Algorithm::EdDsa] {
        assert_eq!(
            signed_by(TestKey::other(algorithm), algorithm),
            Err(WebAuthnError::BadSignature),
            "{algorithm:?}"
        );
    }
    // Another algorithm's encoding.
    assert_eq!(
        signed_by(TestKey::new(Algorithm::EdDsa), Algorithm::Es256),
        Err(WebAuthnError::MalformedSignature)
    );
    assert_eq!(
        signed_by(TestKey::new(Algorithm::Es256), Algorithm::EdDsa),
        Err(WebAuthnError::MalformedSignature)
    );
    assert_eq!(
        signed_by(TestKey::new(Algorithm::Es256), Algorithm::Rs256),
        Err(WebAuthnError::MalformedSignature)
    );
    // ES256 as raw r ‖ s (WebCrypto's encoding) instead of DER.
    let mut assertion = Assertion::new(Algorithm::Es256);
    let der = {
        let mut signed = assertion.auth_data();
        signed.extend_from_slice(&Sha256::digest(assertion.client_data()));
        assertion.key.sign(&signed)
    };
    let raw = p256::ecdsa::Signature::from_der(&der).unwrap().to_bytes();
    assertion.signature = Some(raw.to_vec());
    assert_eq!(assertion.verify(), Err(WebAuthnError::MalformedSignature));
    // RS256 with one bit flipped.
    let mut assertion = Assertion::new(Algorithm::Rs256);
    let mut signed = assertion.auth_data();
    signed.extend_from_slice(&Sha256::digest(assertion.client_data()));
    let mut signature = assertion.key.sign(&signed);
    signature[100] ^= 0x10;
    assertion.signature = Some(signature);
    assert_eq!(assertion.verify(), Err(WebAuthnError::BadSignature));
}

#[test]
fn assertion_for_another_credential_than_the_stored_one_is_refused() {
    let assertion = Assertion::new(Algorithm::Es256);
    assert_eq!(
        verify_assertion_json(&rp(), &assertion.json(), Algorithm::Es256, &[0xc2; 32], 5),
        Err(WebAuthnError::CredentialIdMismatch)
    );
}

#[test]
fn assertion_json_errors_each_have_their_variant() {
    let valid: Json = serde_json::from_str(&Assertion::new(Algorithm::Es256).json()).unwrap();
    for member in ["clientDataJSON", "authenticatorData", "signature"] {
        let mut missing = valid.clone();
        missing["response"].as_object_mut().unwrap().remove(member);
        assert_eq!(
            parse_authentication_response(&missing.to_string()),
            Err(WebAuthnError::MalformedJson),
            "{member}"
        );
    }
    for (member, name) in [
        ("clientDataJSON", "clientDataJSON"),
        ("authenticatorData", "authenticatorData"),
        ("signature", "signature"),
        ("userHandle", "userHandle"),
    ] {
        let mut bad = valid.clone();
        bad["response"][member] = json!("!!");
        assert_eq!(
            parse_authentication_response(&bad.to_string()),
            Err(WebAuthnError::InvalidBase64Url(name)),
            "{member}"
        );
    }
    let mut bad = valid.clone();
    bad["type"] = json!("public-key ");
    assert_eq!(
        parse_authentication_response(&bad.to_string()),
        Err(WebAuthnError::WrongCredentialType)
    );
    let mut bad = valid.clone();
    bad["id"] = json!("AAAA");
    assert_eq!(
        parse_authentication_response(&bad.to_string()),
        Err(WebAuthnError::CredentialIdMismatch)
    );
    assert_eq!(
        parse_authentication_response("{\"id\":1}"),
        Err(WebAuthnError::MalformedJson)
    );
}

#[test]
fn errors_have_messages() {
    let all = [
        WebAuthnError::MalformedJson,
        WebAuthnError::InvalidBase64Url("rawId"),
        WebAuthnError::WrongCredentialType,
        WebAuthnError::CredentialIdMismatch,
        WebAuthnError::MalformedClientData,
        WebAuthnError::WrongClientDataType,
        WebAuthnError::ChallengeMismatch,
        WebAuthnError::OriginNotAllowed,
        WebAuthnError::CrossOriginNotAllowed,
        WebAuthnError::MalformedAttestationObject,
        WebAuthnError::UnsupportedAttestationFormat("tpm".into()),
        WebAuthnError::InvalidAttestationStatement("x"),
        WebAuthnError::MalformedAuthenticatorData,
        WebAuthnError::RpIdHashMismatch,
        WebAuthnError::UserNotPresent,
        WebAuthnError::UserNotVerified,
        WebAuthnError::InvalidBackupFlags,
        WebAuthnError::MissingAttestedCredentialData,
        WebAuthnError::CredentialIdTooLong,
        WebAuthnError::UnsupportedAlgorithm(-35),
        WebAuthnError::MalformedCoseKey("x"),
        WebAuthnError::InvalidPublicKey,
        WebAuthnError::MalformedSignature,
        WebAuthnError::BadSignature,
        WebAuthnError::CounterWentBackwards {
            stored: 5,
            received: 3,
        },
    ];
    let messages: std::collections::HashSet<String> = all.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        messages.len(),
        all.len(),
        "every variant has its own message"
    );
    assert_eq!(
        all[24].to_string(),
        "signature counter went backwards (stored 5, received 3)"
    );
}

// ---------------------------------------------------------------------------------------------
// Real browser output
// ---------------------------------------------------------------------------------------------

fn chromium_fixture() -> Json {
    serde_json::from_str(include_str!("webauthn/chromium-fixture.json")).unwrap()
}

fn fixture_rp(fixture: &Json) -> RelyingParty {
    RelyingParty {
        id: fixture["rpId"].as_str().unwrap().to_string(),
        name: "faroe-worker fixture".to_string(),
        origins: vec![fixture["origin"].as_str().unwrap().to_string()],
        top_origins: vec![],
        user_verification: UserVerification::Required,
        timeout_ms: 60_000,
    }
}

#[test]
fn chromium_virtual_authenticator_output_verifies_for_every_algorithm() {
    let fixture = chromium_fixture();
    let rp = fixture_rp(&fixture);
    let cases = fixture["cases"].as_array().unwrap();
    let algorithms: Vec<&str> = cases
        .iter()
        .map(|c| c["algorithm"].as_str().unwrap())
        .collect();
    assert_eq!(algorithms, ["ES256", "EdDSA", "RS256"]);
    for case in cases {
        let name = case["algorithm"].as_str().unwrap();
        let decode = |v: &Json| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
        let registration = &case["registration"];
        let credential = rp
            .verify_registration(
                &decode(&registration["challenge"]),
                &registration["response"].to_string(),
            )
            .unwrap_or_else(|e| panic!("{name} registration: {e}"));
        assert_eq!(credential.algorithm.name(), name);
        assert_eq!(credential.id, decode(&registration["response"]["rawId"]));
        assert_eq!(credential.transports, ["internal"]);
        assert_eq!(credential.attestation_format, AttestationFormat::None);
        assert!(credential.user_verified);

        let authentication = &case["authentication"];
        let challenge = decode(&authentication["challenge"]);
        let response =
            parse_authentication_response(&authentication["response"].to_string()).unwrap();
        assert_eq!(response.user_handle, Some(decode(&case["userId"])));
        let public_key = PublicKey::from_cose(&credential.public_key).unwrap();
        let stored = StoredCredential {
            id: &credential.id,
            public_key: &public_key,
            sign_count: credential.sign_count,
        };
        let verified = rp
            .verify_authentication(&challenge, &response, &stored)
            .unwrap_or_else(|e| panic!("{name} assertion: {e}"));
        assert!(verified.sign_count > credential.sign_count, "{name}");
        assert!(verified.user_verified);

        // The same real assertion replayed: its counter is no longer ahead of the stored one.
        let replay = StoredCredential {
            sign_count: verified.sign_count,
            ..stored
        };
        assert_eq!(
            rp.verify_authentication(&challenge, &response, &replay),
            Err(WebAuthnError::CounterWentBackwards {
                stored: verified.sign_count,
                received: verified.sign_count
            })
        );
        // For another ceremony's challenge, and at another origin, it is refused.
        assert_eq!(
            rp.verify_authentication(&[0; 32], &response, &stored),
            Err(WebAuthnError::ChallengeMismatch)
        );
        let mut elsewhere = rp.clone();
        elsewhere.origins = vec!["http://localhost".to_string()];
        assert_eq!(
            elsewhere.verify_authentication(&challenge, &response, &stored),
            Err(WebAuthnError::OriginNotAllowed)
        );
        // The registration response is not an assertion, nor the other way round.
        assert_eq!(
            rp.verify_registration(&challenge, &authentication["response"].to_string()),
            Err(WebAuthnError::MalformedJson)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Robustness: no input panics, no changed input verifies
// ---------------------------------------------------------------------------------------------

/// xorshift64*: deterministic mutation choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Flips, replaces, inserts or deletes a few bytes, or truncates.
fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = if out.is_empty() {
            0
        } else {
            rng.below(out.len())
        };
        match rng.below(5) {
            0 if !out.is_empty() => out[at] ^= 1 << rng.below(8),
            1 if !out.is_empty() => {
                out[at] = [0x00, 0xff, 0x7f, 0x80, 0x18, 0x19, 0x1b, 0x9f, 0xbf][rng.below(9)]
            }
            2 => out.insert(at, rng.next() as u8),
            3 if !out.is_empty() => {
                out.remove(at);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Mutations of every part of valid ceremonies of all three algorithms: registrations either
/// fail or (when only an unsigned part changed) still describe the same key; assertions never
/// verify once a signed part or the signature changed.
#[test]
fn mutated_ceremonies_never_panic_and_never_verify_with_changed_signed_data() {
    let mut rng = Rng(0x5eed_0000_7ebe_a171);
    for algorithm in Algorithm::ALL {
        let registration = Registration::new(algorithm);
        let (client_data, object) = (
            registration.client_data(),
            registration.attestation_object(),
        );
        for _ in 0..300 {
            let (c, o) = match rng.below(2) {
                0 => (mutate(&mut rng, &client_data), object.clone()),
                _ => (client_data.clone(), mutate(&mut rng, &object)),
            };
            let json = registration_json(&CREDENTIAL_ID, &c, &o);
            if let Ok(credential) = rp().verify_registration(&CHALLENGE, &json) {
                // Only what no signature covers in `none` attestation may change unnoticed.
                assert_eq!(
                    PublicKey::from_cose(&credential.public_key)
                        .unwrap()
                        .algorithm(),
                    credential.algorithm
                );
            }
        }

        let assertion = Assertion::new(algorithm);
        let parsed: Json = serde_json::from_str(&assertion.json()).unwrap();
        let part = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(parsed["response"][name].as_str().unwrap())
                .unwrap()
        };
        let (client_data, auth_data, signature) = (
            part("clientDataJSON"),
            part("authenticatorData"),
            part("signature"),
        );
        for _ in 0..300 {
            let (mut c, mut a, mut s) = (client_data.clone(), auth_data.clone(), signature.clone());
            match rng.below(3) {
                0 => c = mutate(&mut rng, &c),
                1 => a = mutate(&mut rng, &a),
                _ => s = mutate(&mut rng, &s),
            }
            if (&c, &a, &s) == (&client_data, &auth_data, &signature) {
                continue;
            }
            let json = assertion_json(&CREDENTIAL_ID, &c, &a, &s, Some(&USER_HANDLE));
            let result = verify_assertion_json(&rp(), &json, algorithm, &CREDENTIAL_ID, 5);
            assert!(
                result.is_err(),
                "{algorithm:?}: a changed assertion verified"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Arbitrary text as a response: an error, never a panic.
    #[test]
    fn arbitrary_text_is_refused_without_panicking(text in ".{0,200}") {
        prop_assert!(rp().verify_registration(&CHALLENGE, &text).is_err());
        prop_assert!(parse_authentication_response(&text).is_err());
    }

    /// Arbitrary bytes in each binary member of well-shaped JSON: an error, never a panic.
    #[test]
    fn arbitrary_binary_members_are_refused_without_panicking(
        client_data in proptest::collection::vec(any::<u8>(), 0..300),
        object in proptest::collection::vec(any::<u8>(), 0..300),
        auth_data in proptest::collection::vec(any::<u8>(), 0..300),
        signature in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let json = registration_json(&CREDENTIAL_ID, &client_data, &object);
        prop_assert!(rp().verify_registration(&CHALLENGE, &json).is_err());
        let json = assertion_json(&CREDENTIAL_ID, &client_data, &auth_data, &signature, None);
        for algorithm in Algorithm::ALL {
            prop_assert!(verify_assertion_json(&rp(), &json, algorithm, &CREDENTIAL_ID, 0).is_err());
        }
    }

    /// Arbitrary bytes as a COSE key, and arbitrary CBOR-ish bytes after a valid prefix.
    #[test]
    fn arbitrary_cose_keys_are_refused_without_panicking(
        key in proptest::collection::vec(any::<u8>(), 0..400),
        cut in 0usize..80,
    ) {
        let _ = PublicKey::from_cose(&key);
        let valid = TestKey::new(Algorithm::Es256).cose();
        let mut spliced = valid[..cut.min(valid.len())].to_vec();
        spliced.extend_from_slice(&key);
        let _ = PublicKey::from_cose(&spliced);
    }
}

#[test]
fn deeply_nested_cbor_is_refused_without_exhausting_the_stack() {
    // 10 000 nested arrays, as a COSE key and as extension data.
    let nested: Vec<u8> = std::iter::repeat_n(0x81u8, 10_000).chain([0x00]).collect();
    assert!(PublicKey::from_cose(&nested).is_err());
    let mut registration = Registration::new(Algorithm::Es256);
    registration.flags |= ED;
    let mut extensions = vec![0xa1, 0x61, b'x'];
    extensions.extend_from_slice(&nested);
    registration.extensions = Some(extensions);
    assert_eq!(
        registration.verify(),
        Err(WebAuthnError::MalformedAuthenticatorData)
    );
    // Indefinite-length arrays that never end.
    let endless: Vec<u8> = std::iter::repeat_n(0x9fu8, 10_000).collect();
    assert!(PublicKey::from_cose(&endless).is_err());
}
