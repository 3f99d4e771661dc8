//! The account-storage record `second_factors`: the TOTP credential and the recovery codes of one
//! user together, so that every use (a code's step, a recovery code) is one compare-and-set.

use super::keys::SealedKey;
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The record's key in account storage.
pub const RECORD_KEY: &str = "second_factors";
/// Recovery codes issued at a time.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters per recovery code (uppercase alphabet, 5 bits each: 60 bits).
pub const RECOVERY_CODE_LENGTH: usize = 12;
const HASH_SIZE: usize = 32;

/// An active TOTP credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpCredential {
    pub key: SealedKey,
    /// Unix seconds.
    pub enabled_at: i64,
    /// The highest time step accepted so far; codes of this step or older are refused.
    pub last_used_step: i64,
}

/// One recovery code: `SHA-256(user_id ‖ 0x00 ‖ code)` and whether it was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    pub hash: [u8; HASH_SIZE],
    pub used: bool,
}

/// The record. It exists only while the user has a second factor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecondFactors {
    pub totp: Option<TotpCredential>,
    pub recovery_codes: Vec<RecoveryCode>,
    /// Unix seconds; 0 when there are no recovery codes.
    pub recovery_codes_created_at: i64,
}

/// The hash stored for a recovery code of `user_id` (input already normalized).
pub fn recovery_code_hash(user_id: &str, normalized_code: &str) -> [u8; HASH_SIZE] {
    let mut hasher = Sha256::new();
    hasher.update(user_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(normalized_code.as_bytes());
    hasher.finalize().into()
}

/// A presented recovery code as compared: `-` and spaces removed, ASCII letters upper-cased.
pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| *c != '-' && *c != ' ')
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// Ten fresh codes: the plaintexts to show once, and their stored form.
pub fn generate_recovery_codes(user_id: &str) -> (Vec<String>, Vec<RecoveryCode>) {
    let codes: Vec<String> = (0..RECOVERY_CODE_COUNT)
        .map(|_| crypto::random_uppercase(RECOVERY_CODE_LENGTH))
        .collect();
    let stored = codes
        .iter()
        .map(|code| RecoveryCode {
            hash: recovery_code_hash(user_id, code),
            used: false,
        })
        .collect();
    (codes, stored)
}

impl SecondFactors {
    /// The second factor the record holds itself (TOTP). Passkeys are records of their own: the
    /// server asks `record_has_second_factor`, which counts them too.
    pub fn has_any_second_factor(&self) -> bool {
        self.totp.is_some()
    }

    pub fn unused_recovery_code_count(&self) -> usize {
        self.recovery_codes.iter().filter(|c| !c.used).count()
    }

    /// The index of the unused code matching `presented`: hashed once, compared with every
    /// unused hash in constant time, without an early exit.
    pub fn find_unused_recovery_code(&self, user_id: &str, presented: &str) -> Option<usize> {
        let hash = recovery_code_hash(user_id, &normalize_recovery_code(presented));
        let mut found = subtle::Choice::from(0);
        let mut index = 0u32;
        for (i, code) in self.recovery_codes.iter().enumerate() {
            let matches = code.hash.ct_eq(&hash) & subtle::Choice::from(u8::from(!code.used));
            index = u32::conditional_select(&index, &(i as u32), matches);
            found |= matches;
        }
        bool::from(found).then_some(index as usize)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut hashes = Vec::with_capacity(self.recovery_codes.len() * HASH_SIZE);
        let mut used = Vec::with_capacity(self.recovery_codes.len());
        for code in &self.recovery_codes {
            hashes.extend_from_slice(&code.hash);
            used.push(u8::from(code.used));
        }
        let empty = SealedKey::default();
        let totp_key = self.totp.as_ref().map_or(&empty, |t| &t.key);
        SequenceWriter::new()
            .bool(self.totp.is_some())
            .string(&totp_key.key_id)
            .bytes(&totp_key.sealed)
            .int64(self.totp.as_ref().map_or(0, |t| t.enabled_at))
            .int64(self.totp.as_ref().map_or(0, |t| t.last_used_step))
            .bytes(&hashes)
            .bytes(&used)
            .int64(self.recovery_codes_created_at)
            .finish()
    }

    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        let totp_enabled = r.bool()?;
        let key = SealedKey {
            key_id: r.string()?,
            sealed: r.byte_vec()?,
        };
        let enabled_at = r.int64()?;
        let last_used_step = r.int64()?;
        let hashes = r.bytes()?;
        let used = r.bytes()?;
        let recovery_codes_created_at = r.int64()?;
        if hashes.len() != used.len() * HASH_SIZE {
            return Err(DecodeError(
                "recovery code hashes and flags differ in number",
            ));
        }
        let recovery_codes = hashes
            .chunks_exact(HASH_SIZE)
            .zip(used)
            .map(|(hash, used)| match used {
                0 | 1 => Ok(RecoveryCode {
                    hash: hash.try_into().expect("chunks are HASH_SIZE long"),
                    used: *used == 1,
                }),
                _ => Err(DecodeError("invalid recovery code flag")),
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            totp: totp_enabled.then_some(TotpCredential {
                key,
                enabled_at,
                last_used_step,
            }),
            recovery_codes,
            recovery_codes_created_at,
        })
    }

    /// The `user_second_factors` model (docs/extensions.md).
    pub fn model(user_id: &str, record: Option<&SecondFactors>) -> Value {
        let totp = record.and_then(|r| r.totp.as_ref());
        let codes_created_at = record
            .filter(|r| !r.recovery_codes.is_empty())
            .map(|r| r.recovery_codes_created_at);
        json!({
            "user_id": user_id,
            "totp_enabled": totp.is_some(),
            "totp_enabled_at": totp.map(|t| t.enabled_at),
            "recovery_code_count": record.map_or(0, |r| r.unused_recovery_code_count()),
            "recovery_codes_created_at": codes_created_at,
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
    fn record_round_trip_and_damage() {
        let (codes, stored) = generate_recovery_codes("u1");
        assert_eq!(codes.len(), 10);
        assert!(codes
            .iter()
            .all(|c| c.len() == 12 && c.bytes().all(|b| crypto::UPPERCASE_ALPHABET.contains(&b))));
        let record = SecondFactors {
            totp: Some(TotpCredential {
                key: SealedKey {
                    key_id: "k1".into(),
                    sealed: vec![7; 48],
                },
                enabled_at: 1_700_000_000,
                last_used_step: 56_666_666,
            }),
            recovery_codes: stored,
            recovery_codes_created_at: 1_700_000_001,
        };
        let encoded = record.encode();
        assert_eq!(SecondFactors::decode(&encoded).unwrap(), record);
        for code in &codes {
            assert!(!encoded.windows(12).any(|w| w == code.as_bytes()));
        }
        assert!(SecondFactors::decode(&encoded[..encoded.len() - 3]).is_err());
        assert!(SecondFactors::decode(&[]).is_err());
    }

    #[test]
    fn recovery_codes_are_case_and_hyphen_insensitive_and_per_user() {
        let (codes, stored) = generate_recovery_codes("u1");
        let mut record = SecondFactors {
            recovery_codes: stored,
            ..SecondFactors::default()
        };
        let code = &codes[3];
        let grouped = format!(
            "{}-{} {}",
            &code[..4].to_lowercase(),
            &code[4..8],
            &code[8..]
        );
        assert_eq!(record.find_unused_recovery_code("u1", &grouped), Some(3));
        assert_eq!(record.find_unused_recovery_code("u2", code), None);
        record.recovery_codes[3].used = true;
        assert_eq!(record.find_unused_recovery_code("u1", code), None);
        assert_eq!(record.unused_recovery_code_count(), 9);
    }
}
