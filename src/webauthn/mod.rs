//! WebAuthn Level 3 relying-party ceremonies, verification side only: the options the browser
//! passes to `navigator.credentials.create()` / `.get()` (as `PublicKeyCredentialCreationOptionsJSON`
//! / `…RequestOptionsJSON`), and the verification of what `PublicKeyCredential.toJSON()` returns.
//!
//! Pure and synchronous: no I/O, no clock, no randomness (the caller draws the challenge, stores
//! it with its ceremony, and stores the credential). Algorithms: ES256, EdDSA (Ed25519), RS256.
//! Attestation: `none`, and `packed` self attestation; any other format (and `packed` with a
//! certificate chain) is refused, since options always ask for `attestation: "none"`.

mod authenticator_data;
mod cose;
mod error;

pub use cose::{Algorithm, PublicKey};
pub use error::WebAuthnError;

use authenticator_data::AuthenticatorData;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use ciborium::value::Value;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// base64url as WebAuthn's JSON uses it: encoded without padding, decoded with or without.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn base64url_encode(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

fn base64url_decode(text: &str, member: &'static str) -> Result<Vec<u8>, WebAuthnError> {
    BASE64URL
        .decode(text)
        .map_err(|_| WebAuthnError::InvalidBase64Url(member))
}

/// Bytes of a fresh challenge (the caller draws them from its CSPRNG).
pub const CHALLENGE_LEN: usize = 32;

/// `userVerification` in the options, and whether the UV flag is then required.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    /// UV flag required; authenticators that cannot verify the user are not used.
    Required,
    /// Asked for, not required (WebAuthn's default).
    Preferred,
    Discouraged,
}

impl UserVerification {
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
            UserVerification::Discouraged => "discouraged",
        }
    }
}

/// The relying party: who the credentials are scoped to and where ceremonies may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The RP ID: a registrable domain suffix of the origins' hosts, e.g. `example.com`.
    pub id: String,
    /// Shown by some authenticators next to the credential.
    pub name: String,
    /// Exact origins (`https://example.com`, `https://app.example.com:8443`) whose client data
    /// is accepted.
    pub origins: Vec<String>,
    /// Top-level origins allowed to embed a ceremony in a cross-origin iframe; empty refuses
    /// every cross-origin ceremony.
    pub top_origins: Vec<String>,
    pub user_verification: UserVerification,
    /// The ceremony's `timeout` hint to the browser.
    pub timeout_ms: u32,
}

/// The user a credential is created for. `id` is the opaque user handle (at most 64 bytes,
/// never personal data): authenticators return it in discoverable sign-in.
#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub id: &'a [u8],
    pub name: &'a str,
    pub display_name: &'a str,
}

/// `PublicKeyCredentialDescriptorJSON`: a credential to exclude (registration) or allow
/// (authentication).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialDescriptor {
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// base64url of the credential id.
    pub id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl CredentialDescriptor {
    pub fn new(credential_id: &[u8], transports: &[String]) -> CredentialDescriptor {
        CredentialDescriptor {
            kind: "public-key",
            id: base64url_encode(credential_id),
            transports: transports.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RpEntity {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntity {
    /// base64url of the user handle.
    pub id: String,
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CredentialParameter {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub alg: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelection {
    pub resident_key: &'static str,
    /// Level 1 spelling of `residentKey: "required"`, for older browsers.
    pub require_resident_key: bool,
    pub user_verification: &'static str,
}

/// `PublicKeyCredentialCreationOptionsJSON`, for `PublicKeyCredential.parseCreationOptionsFromJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptions {
    pub rp: RpEntity,
    pub user: UserEntity,
    pub challenge: String,
    pub pub_key_cred_params: Vec<CredentialParameter>,
    pub timeout: u32,
    pub exclude_credentials: Vec<CredentialDescriptor>,
    pub authenticator_selection: AuthenticatorSelection,
    pub attestation: &'static str,
}

/// `PublicKeyCredentialRequestOptionsJSON`, for `PublicKeyCredential.parseRequestOptionsFromJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptions {
    pub challenge: String,
    pub timeout: u32,
    pub rp_id: String,
    /// Empty (and then omitted) for discoverable sign-in: the authenticator offers its passkeys.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_credentials: Vec<CredentialDescriptor>,
    pub user_verification: &'static str,
}

/// What a successful registration yields, to be stored with the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredCredential {
    pub id: Vec<u8>,
    /// The COSE_Key as the authenticator encoded it; [`PublicKey::from_cose`] parses it again.
    pub public_key: Vec<u8>,
    pub algorithm: Algorithm,
    pub sign_count: u32,
    /// `response.transports`, keeping only the values WebAuthn defines (for allow/exclude lists).
    pub transports: Vec<String>,
    pub aaguid: [u8; 16],
    pub attestation_format: AttestationFormat,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationFormat {
    None,
    /// `packed` with a signature by the credential key itself (no certificate).
    PackedSelf,
}

/// An authentication response, decoded but not yet verified: the caller finds the credential by
/// `credential_id` (or the user by `user_handle`) and then calls
/// [`RelyingParty::verify_authentication`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticationResponse {
    /// `rawId`, already checked equal to `id`.
    pub credential_id: Vec<u8>,
    /// `userHandle`; `None` when absent, null or empty.
    pub user_handle: Option<Vec<u8>>,
    /// The decoded `response` members, unverified.
    pub client_data_json: Vec<u8>,
    pub authenticator_data: Vec<u8>,
    pub signature: Vec<u8>,
}

/// The stored credential an assertion is verified against.
#[derive(Debug, Clone, Copy)]
pub struct StoredCredential<'a> {
    pub id: &'a [u8],
    pub public_key: &'a PublicKey,
    pub sign_count: u32,
}

/// What a successful assertion yields: the counter to store and the flags of this use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedAuthentication {
    pub sign_count: u32,
    pub user_handle: Option<Vec<u8>>,
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backed_up: bool,
}

/// The transports WebAuthn defines (§5.8.4); others are dropped.
const KNOWN_TRANSPORTS: [&str; 7] = [
    "ble",
    "cable",
    "hybrid",
    "internal",
    "nfc",
    "smart-card",
    "usb",
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationResponseJson {
    id: String,
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: AttestationResponseJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AttestationResponseJson {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    attestation_object: String,
    #[serde(default)]
    transports: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthenticationResponseJson {
    id: String,
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: AssertionResponseJson,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssertionResponseJson {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    authenticator_data: String,
    signature: String,
    #[serde(default)]
    user_handle: Option<String>,
}

/// `CollectedClientData` (§5.8.1); other members (browsers add some) are ignored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
    #[serde(default)]
    cross_origin: Option<bool>,
    #[serde(default)]
    top_origin: Option<String>,
}

/// The credential's `id` and `rawId` decoded; they must be the same bytes.
fn credential_id(kind: &str, id: &str, raw_id: &str) -> Result<Vec<u8>, WebAuthnError> {
    if kind != "public-key" {
        return Err(WebAuthnError::WrongCredentialType);
    }
    let raw_id = base64url_decode(raw_id, "rawId")?;
    if base64url_decode(id, "id")? != raw_id {
        return Err(WebAuthnError::CredentialIdMismatch);
    }
    Ok(raw_id)
}

impl RelyingParty {
    /// Options for `navigator.credentials.create()`: a discoverable credential (passkey),
    /// attestation `none`, the three algorithms in preference order.
    pub fn creation_options(
        &self,
        challenge: &[u8],
        user: &User<'_>,
        exclude_credentials: Vec<CredentialDescriptor>,
    ) -> CreationOptions {
        CreationOptions {
            rp: RpEntity {
                id: self.id.clone(),
                name: self.name.clone(),
            },
            user: UserEntity {
                id: base64url_encode(user.id),
                name: user.name.to_string(),
                display_name: user.display_name.to_string(),
            },
            challenge: base64url_encode(challenge),
            pub_key_cred_params: Algorithm::ALL
                .iter()
                .map(|a| CredentialParameter {
                    kind: "public-key",
                    alg: a.cose_id(),
                })
                .collect(),
            timeout: self.timeout_ms,
            exclude_credentials,
            authenticator_selection: AuthenticatorSelection {
                resident_key: "required",
                require_resident_key: true,
                user_verification: self.user_verification.as_str(),
            },
            attestation: "none",
        }
    }

    /// Options for `navigator.credentials.get()`. An empty `allow_credentials` asks for a
    /// discoverable credential (sign-in without a user name).
    pub fn request_options(
        &self,
        challenge: &[u8],
        allow_credentials: Vec<CredentialDescriptor>,
    ) -> RequestOptions {
        RequestOptions {
            challenge: base64url_encode(challenge),
            timeout: self.timeout_ms,
            rp_id: self.id.clone(),
            allow_credentials,
            user_verification: self.user_verification.as_str(),
        }
    }

    /// Checks client data (§7.1 steps 7–10, §7.2 steps 11–14): type, challenge (constant time),
    /// origin, cross-origin. Returns SHA-256 of the exact bytes for the signature.
    fn verify_client_data(
        &self,
        client_data_json: &[u8],
        expected_type: &str,
        expected_challenge: &[u8],
    ) -> Result<[u8; 32], WebAuthnError> {
        let client_data: ClientData = serde_json::from_slice(client_data_json)
            .map_err(|_| WebAuthnError::MalformedClientData)?;
        if client_data.kind != expected_type {
            return Err(WebAuthnError::WrongClientDataType);
        }
        let challenge = base64url_decode(&client_data.challenge, "clientDataJSON.challenge")?;
        // An empty expected challenge (a caller's bug) must never match an empty one.
        if expected_challenge.is_empty()
            || !crate::crypto::constant_time_eq(&challenge, expected_challenge)
        {
            return Err(WebAuthnError::ChallengeMismatch);
        }
        if !self.origins.contains(&client_data.origin) {
            return Err(WebAuthnError::OriginNotAllowed);
        }
        let cross_origin = client_data.cross_origin == Some(true)
            || client_data
                .top_origin
                .as_ref()
                .is_some_and(|top| *top != client_data.origin);
        if cross_origin
            && !client_data
                .top_origin
                .as_ref()
                .is_some_and(|top| self.top_origins.contains(top))
        {
            return Err(WebAuthnError::CrossOriginNotAllowed);
        }
        Ok(Sha256::digest(client_data_json).into())
    }

    /// rpIdHash, UP, UV when required, BE/BS consistency (§7.1 steps 13–16, §7.2 steps 15–18).
    fn verify_authenticator_flags(
        &self,
        data: &AuthenticatorData<'_>,
    ) -> Result<(), WebAuthnError> {
        if !crate::crypto::constant_time_eq(data.rp_id_hash, &Sha256::digest(self.id.as_bytes())) {
            return Err(WebAuthnError::RpIdHashMismatch);
        }
        if !data.user_present() {
            return Err(WebAuthnError::UserNotPresent);
        }
        if self.user_verification == UserVerification::Required && !data.user_verified() {
            return Err(WebAuthnError::UserNotVerified);
        }
        if data.backed_up() && !data.backup_eligible() {
            return Err(WebAuthnError::InvalidBackupFlags);
        }
        Ok(())
    }

    /// Verifies a registration response (the JSON of `PublicKeyCredential.toJSON()` after
    /// `navigator.credentials.create()`) against the challenge issued for it (WebAuthn §7.1).
    /// Credential id uniqueness across users is the caller's check.
    pub fn verify_registration(
        &self,
        expected_challenge: &[u8],
        response_json: &str,
    ) -> Result<RegisteredCredential, WebAuthnError> {
        let response: RegistrationResponseJson =
            serde_json::from_str(response_json).map_err(|_| WebAuthnError::MalformedJson)?;
        let raw_id = credential_id(&response.kind, &response.id, &response.raw_id)?;
        let client_data_json =
            base64url_decode(&response.response.client_data_json, "clientDataJSON")?;
        let attestation_object =
            base64url_decode(&response.response.attestation_object, "attestationObject")?;
        let client_data_hash =
            self.verify_client_data(&client_data_json, "webauthn.create", expected_challenge)?;

        let AttestationObject {
            format,
            statement,
            auth_data: auth_data_bytes,
        } = parse_attestation_object(&attestation_object)?;
        let auth_data = AuthenticatorData::parse(&auth_data_bytes)?;
        self.verify_authenticator_flags(&auth_data)?;
        let Some(attested) = &auth_data.attested else {
            return Err(WebAuthnError::MissingAttestedCredentialData);
        };
        if attested.credential_id != raw_id.as_slice() {
            return Err(WebAuthnError::CredentialIdMismatch);
        }

        let attestation_format = match format.as_str() {
            "none" => {
                if !statement.is_empty() {
                    return Err(WebAuthnError::InvalidAttestationStatement(
                        "none with a non-empty attStmt",
                    ));
                }
                AttestationFormat::None
            }
            "packed" => {
                verify_packed_self_attestation(
                    &statement,
                    &attested.public_key,
                    &auth_data_bytes,
                    &client_data_hash,
                )?;
                AttestationFormat::PackedSelf
            }
            _ => return Err(WebAuthnError::UnsupportedAttestationFormat(format)),
        };

        let transports = response
            .response
            .transports
            .unwrap_or_default()
            .into_iter()
            .filter(|t| KNOWN_TRANSPORTS.contains(&t.as_str()))
            .fold(Vec::new(), |mut kept, t| {
                if !kept.contains(&t) {
                    kept.push(t);
                }
                kept
            });
        Ok(RegisteredCredential {
            id: raw_id,
            public_key: attested.public_key_cose.to_vec(),
            algorithm: attested.public_key.algorithm(),
            sign_count: auth_data.sign_count,
            transports,
            aaguid: attested.aaguid,
            attestation_format,
            user_verified: auth_data.user_verified(),
            backup_eligible: auth_data.backup_eligible(),
            backed_up: auth_data.backed_up(),
        })
    }

    /// Verifies an assertion (WebAuthn §7.2) made with `credential` for the challenge issued for
    /// it. On success the caller stores the returned `sign_count`. A
    /// [`WebAuthnError::CounterWentBackwards`] is checked last, after the signature, so it only
    /// ever reports a genuine assertion with a stale counter (a possible clone): log it.
    pub fn verify_authentication(
        &self,
        expected_challenge: &[u8],
        response: &AuthenticationResponse,
        credential: &StoredCredential<'_>,
    ) -> Result<VerifiedAuthentication, WebAuthnError> {
        if !crate::crypto::constant_time_eq(&response.credential_id, credential.id) {
            return Err(WebAuthnError::CredentialIdMismatch);
        }
        let client_data_hash = self.verify_client_data(
            &response.client_data_json,
            "webauthn.get",
            expected_challenge,
        )?;
        let auth_data = AuthenticatorData::parse(&response.authenticator_data)?;
        if auth_data.attested.is_some() {
            return Err(WebAuthnError::MalformedAuthenticatorData);
        }
        self.verify_authenticator_flags(&auth_data)?;

        let mut signed = Vec::with_capacity(response.authenticator_data.len() + 32);
        signed.extend_from_slice(&response.authenticator_data);
        signed.extend_from_slice(&client_data_hash);
        credential.public_key.verify(&signed, &response.signature)?;

        let (stored, received) = (credential.sign_count, auth_data.sign_count);
        if (stored != 0 || received != 0) && received <= stored {
            return Err(WebAuthnError::CounterWentBackwards { stored, received });
        }
        Ok(VerifiedAuthentication {
            sign_count: received,
            user_handle: response.user_handle.clone(),
            user_verified: auth_data.user_verified(),
            backup_eligible: auth_data.backup_eligible(),
            backed_up: auth_data.backed_up(),
        })
    }
}

/// Decodes an authentication response (the JSON of `PublicKeyCredential.toJSON()` after
/// `navigator.credentials.get()`): checks its shape and base64url, that `type` is `public-key`
/// and that `id` equals `rawId`. Verification follows with [`RelyingParty::verify_authentication`].
pub fn parse_authentication_response(
    response_json: &str,
) -> Result<AuthenticationResponse, WebAuthnError> {
    let response: AuthenticationResponseJson =
        serde_json::from_str(response_json).map_err(|_| WebAuthnError::MalformedJson)?;
    let credential_id = credential_id(&response.kind, &response.id, &response.raw_id)?;
    let user_handle = match response.response.user_handle.as_deref() {
        None | Some("") => None,
        Some(handle) => Some(base64url_decode(handle, "userHandle")?),
    };
    Ok(AuthenticationResponse {
        credential_id,
        user_handle,
        client_data_json: base64url_decode(&response.response.client_data_json, "clientDataJSON")?,
        authenticator_data: base64url_decode(
            &response.response.authenticator_data,
            "authenticatorData",
        )?,
        signature: base64url_decode(&response.response.signature, "signature")?,
    })
}

/// The members of an attestation object (§6.5.4).
struct AttestationObject {
    format: String,
    statement: Vec<(Value, Value)>,
    auth_data: Vec<u8>,
}

/// Exactly the three members `fmt`, `attStmt` and `authData`, each once.
fn parse_attestation_object(bytes: &[u8]) -> Result<AttestationObject, WebAuthnError> {
    const MALFORMED: WebAuthnError = WebAuthnError::MalformedAttestationObject;
    let Some(Value::Map(entries)) = cose::decode_cbor(bytes) else {
        return Err(MALFORMED);
    };
    let (mut format, mut statement, mut auth_data) = (None, None, None);
    for (key, value) in entries {
        let slot_filled = match (key.as_text(), value) {
            (Some("fmt"), Value::Text(text)) => format.replace(text).is_some(),
            (Some("attStmt"), Value::Map(map)) => statement.replace(map).is_some(),
            (Some("authData"), Value::Bytes(data)) => auth_data.replace(data).is_some(),
            _ => return Err(MALFORMED),
        };
        if slot_filled {
            return Err(MALFORMED);
        }
    }
    match (format, statement, auth_data) {
        (Some(format), Some(statement), Some(auth_data)) => Ok(AttestationObject {
            format,
            statement,
            auth_data,
        }),
        _ => Err(MALFORMED),
    }
}

/// `packed` attestation (§8.2) without `x5c`: self attestation, signed by the credential key.
fn verify_packed_self_attestation(
    statement: &[(Value, Value)],
    credential_key: &PublicKey,
    auth_data: &[u8],
    client_data_hash: &[u8; 32],
) -> Result<(), WebAuthnError> {
    let (mut alg, mut sig) = (None, None);
    for (key, value) in statement {
        match (key.as_text(), value) {
            (Some("alg"), Value::Integer(i)) if alg.is_none() => alg = Some(i128::from(*i)),
            (Some("sig"), Value::Bytes(b)) if sig.is_none() => sig = Some(b),
            (Some("x5c"), _) => {
                return Err(WebAuthnError::UnsupportedAttestationFormat(
                    "packed with x5c".to_string(),
                ))
            }
            _ => {
                return Err(WebAuthnError::InvalidAttestationStatement(
                    "packed attStmt not {alg, sig}",
                ))
            }
        }
    }
    let (Some(alg), Some(sig)) = (alg, sig) else {
        return Err(WebAuthnError::InvalidAttestationStatement(
            "packed attStmt not {alg, sig}",
        ));
    };
    if alg != i128::from(credential_key.algorithm().cose_id()) {
        return Err(WebAuthnError::InvalidAttestationStatement(
            "packed self attestation alg is not the credential's",
        ));
    }
    let mut signed = Vec::with_capacity(auth_data.len() + 32);
    signed.extend_from_slice(auth_data);
    signed.extend_from_slice(client_data_hash);
    credential_key.verify(&signed, sig).map_err(|_| {
        WebAuthnError::InvalidAttestationStatement("packed self attestation signature")
    })
}
