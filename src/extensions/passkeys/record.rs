//! What the passkeys extension stores: one account-storage record per passkey
//! (`passkey.<passkey id>`), the user's WebAuthn user handle (`passkey_user`), and in main storage
//! the credential index (`passkey_credential.<hex SHA-256 of the credential id>`).

use crate::encoding::{hex, DecodeError, SequenceReader, SequenceWriter};
use crate::flows::timestamp;
use crate::webauthn::Algorithm;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Key prefix of the passkey records in account storage.
pub const PASSKEY_KEY_PREFIX: &str = "passkey.";
/// Key of the user's WebAuthn user handle in account storage.
pub const USER_HANDLE_KEY: &str = "passkey_user";
/// Key prefix of the credential index in main storage.
pub const CREDENTIAL_INDEX_PREFIX: &str = "passkey_credential.";
/// Bytes of a user handle.
pub const USER_HANDLE_LEN: usize = 32;

/// One passkey of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    pub id: String,
    pub credential_id: Vec<u8>,
    /// The COSE_Key as registered.
    pub public_key: Vec<u8>,
    pub algorithm: Algorithm,
    pub sign_count: u32,
    pub transports: Vec<String>,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub aaguid: [u8; 16],
    pub name: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; 0 = never used.
    pub last_used_at: i64,
}

impl PasskeyRecord {
    pub fn key_for(passkey_id: &str) -> String {
        format!("{PASSKEY_KEY_PREFIX}{passkey_id}")
    }

    pub fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .bytes(&self.credential_id)
            .bytes(&self.public_key)
            .int64(self.algorithm.cose_id())
            .int64(i64::from(self.sign_count))
            .string(&self.transports.join(","))
            .bool(self.backup_eligible)
            .bool(self.backed_up)
            .bytes(&self.aaguid)
            .string(&self.name)
            .int64(self.created_at)
            .int64(self.last_used_at)
            .finish()
    }

    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        let id = r.string()?;
        let credential_id = r.byte_vec()?;
        let public_key = r.byte_vec()?;
        let algorithm =
            Algorithm::from_cose_id(r.int64()?).ok_or(DecodeError("unknown passkey algorithm"))?;
        let sign_count = u32::try_from(r.int64()?)
            .map_err(|_| DecodeError("passkey sign count out of range"))?;
        let transports = r.string()?;
        let transports = transports
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        Ok(Self {
            id,
            credential_id,
            public_key,
            algorithm,
            sign_count,
            transports,
            backup_eligible: r.bool()?,
            backed_up: r.bool()?,
            aaguid: r
                .bytes()?
                .try_into()
                .map_err(|_| DecodeError("aaguid is not 16 bytes"))?,
            name: r.string()?,
            created_at: r.int64()?,
            last_used_at: r.int64()?,
        })
    }

    /// The `user_passkey` model (docs/extensions.md).
    pub fn model(&self, user_id: &str) -> Value {
        json!({
            "id": self.id,
            "user_id": user_id,
            "name": self.name,
            "algorithm": self.algorithm.name(),
            "backed_up": self.backed_up,
            "created_at": timestamp(self.created_at),
            "last_used_at": (self.last_used_at != 0).then(|| timestamp(self.last_used_at)),
        })
    }
}

/// Credential id → (user, passkey): lets a discoverable sign-in find the user, and being created
/// only if absent, makes a credential id registrable once across all users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialIndexEntry {
    pub user_id: String,
    pub passkey_id: String,
}

impl CredentialIndexEntry {
    /// `passkey_credential.<lowercase hex SHA-256 of the credential id>`: fixed length whatever
    /// the credential id's (up to 1023 bytes).
    pub fn key_for(credential_id: &[u8]) -> String {
        format!(
            "{CREDENTIAL_INDEX_PREFIX}{}",
            hex(&Sha256::digest(credential_id))
        )
    }

    pub fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.user_id)
            .string(&self.passkey_id)
            .finish()
    }

    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            user_id: r.string()?,
            passkey_id: r.string()?,
        })
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn passkey_record_round_trip_and_damage() {
        let record = PasskeyRecord {
            id: "a".repeat(24),
            credential_id: vec![1, 2, 3],
            public_key: vec![9; 77],
            algorithm: Algorithm::EdDsa,
            sign_count: u32::MAX,
            transports: vec!["internal".into(), "hybrid".into()],
            backup_eligible: true,
            backed_up: false,
            aaguid: [5; 16],
            name: "Laptop, work".into(),
            created_at: 1_700_000_000,
            last_used_at: 0,
        };
        let encoded = record.encode();
        assert_eq!(PasskeyRecord::decode(&encoded).unwrap(), record);
        assert!(PasskeyRecord::decode(&encoded[..encoded.len() - 1]).is_err());
        assert_eq!(record.model("u")["last_used_at"], Value::Null);
        assert_eq!(record.model("u")["algorithm"], "EdDSA");
        let entry = CredentialIndexEntry {
            user_id: "u".into(),
            passkey_id: "p".into(),
        };
        assert_eq!(
            CredentialIndexEntry::decode(&entry.encode()).unwrap(),
            entry
        );
        let key = CredentialIndexEntry::key_for(b"id");
        assert_eq!(key.len(), CREDENTIAL_INDEX_PREFIX.len() + 64);
        assert_eq!(key, key.to_lowercase());
    }
}
