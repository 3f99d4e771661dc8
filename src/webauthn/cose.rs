//! CBOR decoding (ciborium) and COSE_Key public keys (RFC 9052/9053, RFC 8230) for the three
//! algorithms this server verifies, with strict checks: every label an integer and at most once,
//! `kty`/`crv` matching `alg`, exact coordinate lengths, the point on the curve, no private key
//! material.

use super::WebAuthnError;
use ciborium::value::Value;
use sha2::{Digest, Sha256};

/// Nesting limit for every CBOR value decoded here. Attestation objects nest three deep
/// (`attStmt.x5c[i]`), COSE keys one; extensions rarely more. Keeps recursion bounded on input.
const CBOR_MAX_DEPTH: usize = 16;

/// Decodes one CBOR data item at the start of `bytes`; returns it and how many bytes it took.
pub(crate) fn decode_cbor_prefix(bytes: &[u8]) -> Option<(Value, usize)> {
    let mut rest = bytes;
    let value: Value =
        ciborium::de::from_reader_with_recursion_limit(&mut rest, CBOR_MAX_DEPTH).ok()?;
    Some((value, bytes.len() - rest.len()))
}

/// Decodes `bytes` as exactly one CBOR data item (no trailing bytes).
pub(crate) fn decode_cbor(bytes: &[u8]) -> Option<Value> {
    match decode_cbor_prefix(bytes)? {
        (value, used) if used == bytes.len() => Some(value),
        _ => None,
    }
}

/// The signature algorithms a credential may use, by COSE algorithm identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256 (COSE -7): platform authenticators, security keys.
    Es256,
    /// EdDSA with Ed25519 (COSE -8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE -257): Windows Hello.
    Rs256,
}

impl Algorithm {
    /// In the order offered in `pubKeyCredParams` (the authenticator takes the first it supports).
    pub const ALL: [Algorithm; 3] = [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256];

    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Rs256 => -257,
        }
    }

    pub fn from_cose_id(id: i64) -> Option<Algorithm> {
        Algorithm::ALL.into_iter().find(|a| a.cose_id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Es256 => "ES256",
            Algorithm::EdDsa => "EdDSA",
            Algorithm::Rs256 => "RS256",
        }
    }
}

/// A credential public key, parsed and validated, ready to verify signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
    Rs256(rsa::RsaPublicKey),
}

// COSE labels (RFC 9052 §7.1, RFC 9053 §7, RFC 8230 §4).
const LABEL_KTY: i128 = 1;
const LABEL_ALG: i128 = 3;
const LABEL_CRV_OR_N: i128 = -1;
const LABEL_X_OR_E: i128 = -2;
const LABEL_Y: i128 = -3;
const LABEL_EC_D: i128 = -4;
const KTY_OKP: i128 = 1;
const KTY_EC2: i128 = 2;
const KTY_RSA: i128 = 3;
const CRV_P256: i128 = 1;
const CRV_ED25519: i128 = 6;
const RSA_MIN_BITS: usize = 2048;

/// The integer-labelled members of a COSE_Key map.
struct CoseMap<'a>(Vec<(i128, &'a Value)>);

impl<'a> CoseMap<'a> {
    fn new(value: &'a Value) -> Result<Self, WebAuthnError> {
        let Value::Map(entries) = value else {
            return Err(WebAuthnError::MalformedCoseKey("not a CBOR map"));
        };
        let mut members = Vec::with_capacity(entries.len());
        for (label, value) in entries {
            let Value::Integer(label) = label else {
                return Err(WebAuthnError::MalformedCoseKey("label is not an integer"));
            };
            let label = i128::from(*label);
            if members.iter().any(|(l, _)| *l == label) {
                return Err(WebAuthnError::MalformedCoseKey("duplicate label"));
            }
            members.push((label, value));
        }
        Ok(CoseMap(members))
    }

    fn get(&self, label: i128) -> Option<&'a Value> {
        self.0.iter().find(|(l, _)| *l == label).map(|(_, v)| *v)
    }

    fn int(&self, label: i128, missing: &'static str) -> Result<i128, WebAuthnError> {
        match self.get(label) {
            Some(Value::Integer(i)) => Ok(i128::from(*i)),
            _ => Err(WebAuthnError::MalformedCoseKey(missing)),
        }
    }

    fn bytes(&self, label: i128, missing: &'static str) -> Result<&'a [u8], WebAuthnError> {
        match self.get(label) {
            Some(Value::Bytes(b)) => Ok(b),
            _ => Err(WebAuthnError::MalformedCoseKey(missing)),
        }
    }

    fn require_kty(&self, kty: i128) -> Result<(), WebAuthnError> {
        if self.int(LABEL_KTY, "kty missing")? != kty {
            return Err(WebAuthnError::MalformedCoseKey("kty does not match alg"));
        }
        Ok(())
    }
}

impl PublicKey {
    /// Parses a COSE_Key: `bytes` must be exactly one CBOR map.
    pub fn from_cose(bytes: &[u8]) -> Result<PublicKey, WebAuthnError> {
        let value = decode_cbor(bytes).ok_or(WebAuthnError::MalformedCoseKey("not CBOR"))?;
        PublicKey::from_cose_value(&value)
    }

    pub(crate) fn from_cose_value(value: &Value) -> Result<PublicKey, WebAuthnError> {
        let map = CoseMap::new(value)?;
        let alg = map.int(LABEL_ALG, "alg missing")?;
        let algorithm = i64::try_from(alg)
            .ok()
            .and_then(Algorithm::from_cose_id)
            .ok_or(WebAuthnError::UnsupportedAlgorithm(
                i64::try_from(alg).unwrap_or(i64::MIN),
            ))?;
        match algorithm {
            Algorithm::Es256 => {
                map.require_kty(KTY_EC2)?;
                if map.int(LABEL_CRV_OR_N, "crv missing")? != CRV_P256 {
                    return Err(WebAuthnError::MalformedCoseKey("crv does not match alg"));
                }
                if map.get(LABEL_EC_D).is_some() {
                    return Err(WebAuthnError::MalformedCoseKey("private key present"));
                }
                let x = map.bytes(LABEL_X_OR_E, "x missing")?;
                // A boolean y (compressed point) is refused: WebAuthn keys are uncompressed.
                let y = map.bytes(LABEL_Y, "y missing")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(WebAuthnError::MalformedCoseKey("coordinate not 32 bytes"));
                }
                let mut sec1 = [0u8; 65];
                sec1[0] = 0x04;
                sec1[1..33].copy_from_slice(x);
                sec1[33..].copy_from_slice(y);
                // Refuses the identity and any point not on the curve.
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&sec1)
                    .map(PublicKey::Es256)
                    .map_err(|_| WebAuthnError::InvalidPublicKey)
            }
            Algorithm::EdDsa => {
                map.require_kty(KTY_OKP)?;
                if map.int(LABEL_CRV_OR_N, "crv missing")? != CRV_ED25519 {
                    return Err(WebAuthnError::MalformedCoseKey("crv does not match alg"));
                }
                if map.get(LABEL_EC_D).is_some() {
                    return Err(WebAuthnError::MalformedCoseKey("private key present"));
                }
                let x: &[u8; 32] = map
                    .bytes(LABEL_X_OR_E, "x missing")?
                    .try_into()
                    .map_err(|_| WebAuthnError::MalformedCoseKey("x not 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(x)
                    .map_err(|_| WebAuthnError::InvalidPublicKey)?;
                // Small-order points would let one signature verify for many messages.
                if key.is_weak() {
                    return Err(WebAuthnError::InvalidPublicKey);
                }
                Ok(PublicKey::EdDsa(key))
            }
            Algorithm::Rs256 => {
                map.require_kty(KTY_RSA)?;
                // d, p, q, dP, dQ, qInv, other: private key material (RFC 8230 §4).
                if (-12..=-3).any(|label| map.get(label).is_some()) {
                    return Err(WebAuthnError::MalformedCoseKey("private key present"));
                }
                let n = map.bytes(LABEL_CRV_OR_N, "n missing")?;
                let e = map.bytes(LABEL_X_OR_E, "e missing")?;
                if n.first().is_none_or(|b| *b == 0) || e.first().is_none_or(|b| *b == 0) {
                    return Err(WebAuthnError::MalformedCoseKey("n or e not minimal"));
                }
                if e.len() > 8 || e[e.len() - 1] & 1 == 0 {
                    return Err(WebAuthnError::InvalidPublicKey);
                }
                let n = rsa::BigUint::from_bytes_be(n);
                if n.bits() < RSA_MIN_BITS {
                    return Err(WebAuthnError::InvalidPublicKey);
                }
                // Also bounds the modulus (at most 4096 bits) and the exponent (2 ≤ e < 2^33).
                rsa::RsaPublicKey::new(n, rsa::BigUint::from_bytes_be(e))
                    .map(PublicKey::Rs256)
                    .map_err(|_| WebAuthnError::InvalidPublicKey)
            }
        }
    }

    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::EdDsa(_) => Algorithm::EdDsa,
            PublicKey::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// Verifies `signature` over `message` as WebAuthn encodes it for the algorithm: ES256 as an
    /// ASN.1 DER `Ecdsa-Sig-Value` (high S accepted, as authenticators do not normalise),
    /// EdDSA as 64 raw bytes (strict verification: canonical S, no small-order R or key),
    /// RS256 as PKCS#1 v1.5 of SHA-256 of the message.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WebAuthnError> {
        match self {
            PublicKey::Es256(key) => {
                use p256::ecdsa::signature::Verifier;
                let signature = p256::ecdsa::Signature::from_der(signature)
                    .map_err(|_| WebAuthnError::MalformedSignature)?;
                key.verify(message, &signature)
                    .map_err(|_| WebAuthnError::BadSignature)
            }
            PublicKey::EdDsa(key) => {
                let signature: &[u8; 64] = signature
                    .try_into()
                    .map_err(|_| WebAuthnError::MalformedSignature)?;
                key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                    .map_err(|_| WebAuthnError::BadSignature)
            }
            PublicKey::Rs256(key) => {
                use rsa::traits::PublicKeyParts;
                if signature.len() != key.size() {
                    return Err(WebAuthnError::MalformedSignature);
                }
                key.verify(
                    rsa::Pkcs1v15Sign::new::<Sha256>(),
                    &Sha256::digest(message),
                    signature,
                )
                .map_err(|_| WebAuthnError::BadSignature)
            }
        }
    }
}
