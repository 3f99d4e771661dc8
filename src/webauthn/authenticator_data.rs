//! Authenticator data (WebAuthn §6.1): rpIdHash ‖ flags ‖ signCount ‖ [attested credential data]
//! ‖ [extensions], parsed with bounds checks on every length.

use super::cose::{decode_cbor_prefix, PublicKey};
use super::WebAuthnError;
use ciborium::value::Value;

pub(crate) const FLAG_UP: u8 = 0x01;
pub(crate) const FLAG_UV: u8 = 0x04;
pub(crate) const FLAG_BE: u8 = 0x08;
pub(crate) const FLAG_BS: u8 = 0x10;
pub(crate) const FLAG_AT: u8 = 0x40;
pub(crate) const FLAG_ED: u8 = 0x80;

/// WebAuthn §5.8.3: credential ids are at most 1023 bytes.
pub(crate) const MAX_CREDENTIAL_ID_LEN: usize = 1023;

pub(crate) struct AttestedCredentialData<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    /// The COSE_Key exactly as the authenticator encoded it.
    pub public_key_cose: &'a [u8],
    pub public_key: PublicKey,
}

pub(crate) struct AuthenticatorData<'a> {
    pub rp_id_hash: &'a [u8],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredentialData<'a>>,
}

impl<'a> AuthenticatorData<'a> {
    pub fn parse(bytes: &'a [u8]) -> Result<AuthenticatorData<'a>, WebAuthnError> {
        const MALFORMED: WebAuthnError = WebAuthnError::MalformedAuthenticatorData;
        if bytes.len() < 37 {
            return Err(MALFORMED);
        }
        let (rp_id_hash, rest) = bytes.split_at(32);
        let flags = rest[0];
        let sign_count = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]);
        let mut rest = &rest[5..];

        let attested = if flags & FLAG_AT != 0 {
            if rest.len() < 18 {
                return Err(MALFORMED);
            }
            let aaguid: [u8; 16] = rest[..16].try_into().map_err(|_| MALFORMED)?;
            let id_len = u16::from_be_bytes([rest[16], rest[17]]) as usize;
            if id_len > MAX_CREDENTIAL_ID_LEN {
                return Err(WebAuthnError::CredentialIdTooLong);
            }
            rest = &rest[18..];
            if rest.len() < id_len {
                return Err(MALFORMED);
            }
            let (credential_id, after_id) = rest.split_at(id_len);
            // The COSE key has no length prefix: its CBOR encoding says where it ends.
            let (key_value, key_len) = decode_cbor_prefix(after_id).ok_or(MALFORMED)?;
            let public_key = PublicKey::from_cose_value(&key_value)?;
            let (public_key_cose, after_key) = after_id.split_at(key_len);
            rest = after_key;
            Some(AttestedCredentialData {
                aaguid,
                credential_id,
                public_key_cose,
                public_key,
            })
        } else {
            None
        };

        if flags & FLAG_ED != 0 {
            // Extension outputs are tolerated (not interpreted) but must be one CBOR map.
            match decode_cbor_prefix(rest) {
                Some((Value::Map(_), used)) => rest = &rest[used..],
                _ => return Err(MALFORMED),
            }
        }
        if !rest.is_empty() {
            return Err(MALFORMED);
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }

    pub fn user_present(&self) -> bool {
        self.flags & FLAG_UP != 0
    }

    pub fn user_verified(&self) -> bool {
        self.flags & FLAG_UV != 0
    }

    pub fn backup_eligible(&self) -> bool {
        self.flags & FLAG_BE != 0
    }

    pub fn backed_up(&self) -> bool {
        self.flags & FLAG_BS != 0
    }
}
