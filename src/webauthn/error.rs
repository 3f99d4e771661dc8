//! Every way a WebAuthn response can fail verification, one variant each, so the caller can log
//! exactly what went wrong and map it to its own error codes.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebAuthnError {
    /// The response is not JSON of the `PublicKeyCredential.toJSON()` shape (a member missing, of
    /// the wrong JSON type, duplicated, or the text not JSON at all).
    MalformedJson,
    /// A member that must be base64url (RFC 4648 §5, padding optional) is not. Names the member.
    InvalidBase64Url(&'static str),
    /// `type` of the credential is not `"public-key"`.
    WrongCredentialType,
    /// `id` and `rawId` differ, or the attested credential id differs from `rawId`, or an
    /// assertion's credential is not the stored credential it is verified against.
    CredentialIdMismatch,
    /// `clientDataJSON` is not a UTF-8 JSON object with string `type`, `challenge`, `origin`.
    MalformedClientData,
    /// `clientDataJSON.type` is not the ceremony's (`webauthn.create` / `webauthn.get`).
    WrongClientDataType,
    /// `clientDataJSON.challenge` is not the challenge this ceremony issued.
    ChallengeMismatch,
    /// `clientDataJSON.origin` is not one of the configured origins.
    OriginNotAllowed,
    /// The ceremony ran in a cross-origin iframe (`crossOrigin: true` or a `topOrigin` other than
    /// the origin) whose top origin is not configured.
    CrossOriginNotAllowed,
    /// `attestationObject` is not a CBOR map of exactly `fmt` (text), `attStmt` (map) and
    /// `authData` (bytes).
    MalformedAttestationObject,
    /// An attestation statement format this server does not verify (anything but `none` and
    /// `packed` self attestation). Names the format.
    UnsupportedAttestationFormat(String),
    /// The attestation statement does not verify: `none` with a non-empty `attStmt`, or `packed`
    /// self attestation with another algorithm or a bad signature. Says which.
    InvalidAttestationStatement(&'static str),
    /// Authenticator data too short, with trailing bytes, with undecodable attested credential
    /// data or extensions, or (in an assertion) with attested credential data.
    MalformedAuthenticatorData,
    /// `rpIdHash` in the authenticator data is not SHA-256 of the configured RP ID.
    RpIdHashMismatch,
    /// The user-present (UP) flag is not set.
    UserNotPresent,
    /// The user-verified (UV) flag is not set and the configuration requires user verification.
    UserNotVerified,
    /// The backed-up (BS) flag is set without the backup-eligible (BE) flag.
    InvalidBackupFlags,
    /// A registration whose authenticator data has no attested credential data (AT flag).
    MissingAttestedCredentialData,
    /// The credential id is longer than 1023 bytes.
    CredentialIdTooLong,
    /// A COSE algorithm other than ES256 (-7), EdDSA (-8) and RS256 (-257); `i64::MIN` stands for
    /// an identifier outside the i64 range.
    UnsupportedAlgorithm(i64),
    /// The COSE key is not a well-formed key of its algorithm (labels missing, duplicated, of the
    /// wrong type or length, kty/crv not matching alg, private key material). Says which.
    MalformedCoseKey(&'static str),
    /// The key is well-formed but not a valid public key: a point not on the curve, a weak
    /// Ed25519 point, an RSA modulus under 2048 or over 4096 bits or a bad exponent.
    InvalidPublicKey,
    /// The signature is not encoded as its algorithm requires (ES256: DER; EdDSA: 64 bytes;
    /// RS256: the modulus length).
    MalformedSignature,
    /// The signature does not verify with the stored public key.
    BadSignature,
    /// The signature counter did not increase although one of the two counters is non-zero: the
    /// credential may have been cloned. The caller refuses the assertion and logs this.
    CounterWentBackwards { stored: u32, received: u32 },
}

impl fmt::Display for WebAuthnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use WebAuthnError::*;
        match self {
            MalformedJson => f.write_str("malformed credential JSON"),
            InvalidBase64Url(member) => write!(f, "{member} is not base64url"),
            WrongCredentialType => f.write_str("credential type is not public-key"),
            CredentialIdMismatch => f.write_str("credential id mismatch"),
            MalformedClientData => f.write_str("malformed clientDataJSON"),
            WrongClientDataType => f.write_str("wrong clientDataJSON type"),
            ChallengeMismatch => f.write_str("challenge mismatch"),
            OriginNotAllowed => f.write_str("origin not allowed"),
            CrossOriginNotAllowed => f.write_str("cross-origin ceremony not allowed"),
            MalformedAttestationObject => f.write_str("malformed attestationObject"),
            UnsupportedAttestationFormat(fmt) => {
                write!(f, "unsupported attestation format {fmt:?}")
            }
            InvalidAttestationStatement(why) => write!(f, "invalid attestation statement: {why}"),
            MalformedAuthenticatorData => f.write_str("malformed authenticator data"),
            RpIdHashMismatch => f.write_str("RP ID hash mismatch"),
            UserNotPresent => f.write_str("user not present"),
            UserNotVerified => f.write_str("user not verified"),
            InvalidBackupFlags => f.write_str("backed up without being backup eligible"),
            MissingAttestedCredentialData => f.write_str("no attested credential data"),
            CredentialIdTooLong => f.write_str("credential id longer than 1023 bytes"),
            UnsupportedAlgorithm(alg) => write!(f, "unsupported COSE algorithm {alg}"),
            MalformedCoseKey(why) => write!(f, "malformed COSE key: {why}"),
            InvalidPublicKey => f.write_str("invalid public key"),
            MalformedSignature => f.write_str("malformed signature"),
            BadSignature => f.write_str("bad signature"),
            CounterWentBackwards { stored, received } => write!(
                f,
                "signature counter went backwards (stored {stored}, received {received})"
            ),
        }
    }
}

impl std::error::Error for WebAuthnError {}
