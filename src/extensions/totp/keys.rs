//! TOTP keys at rest: AES-256-GCM under the keys of `TOTP_ENCRYPTION_KEYS`, each ciphertext tagged
//! with the id of the key that sealed it so that keys can be rotated (docs/extensions.md).

use crate::crypto;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine;
use zeroize::Zeroizing;

/// AES-GCM's 96-bit nonce, random per encryption and stored in front of the ciphertext.
const NONCE_SIZE: usize = 12;

/// One key of `TOTP_ENCRYPTION_KEYS`: `<id>:<base64 of 32 bytes>`.
#[derive(Clone)]
pub struct EncryptionKey {
    id: String,
    key: Zeroizing<[u8; 32]>,
}

impl EncryptionKey {
    /// `id` must be `[a-z0-9]{1,16}`.
    pub fn new(id: &str, key: [u8; 32]) -> Result<Self, String> {
        if !is_valid_key_id(id) {
            return Err(format!(
                "key id \"{id}\" is not 1 to 16 characters of a-z and 0-9"
            ));
        }
        Ok(Self {
            id: id.to_string(),
            key: Zeroizing::new(key),
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(self.key.as_slice()))
    }
}

impl std::fmt::Debug for EncryptionKey {
    /// Names the key, never shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptionKey({:?})", self.id)
    }
}

fn is_valid_key_id(id: &str) -> bool {
    (1..=16).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Parses `TOTP_ENCRYPTION_KEYS`: comma-separated `<key id>:<base64 of exactly 32 bytes>`, ids
/// unique, at least one. Errors never echo key material.
pub fn parse_encryption_keys(raw: &str) -> Result<Vec<EncryptionKey>, String> {
    let mut keys: Vec<EncryptionKey> = Vec::new();
    for (index, item) in raw.split(',').map(str::trim).enumerate() {
        let position = index + 1;
        if item.is_empty() {
            return Err(format!("key {position} is empty"));
        }
        let Some((id, encoded)) = item.split_once(':') else {
            return Err(format!(
                "key {position} is not <key id>:<base64 of 32 bytes>"
            ));
        };
        let id = id.trim();
        if !is_valid_key_id(id) {
            return Err(format!(
                "key {position}: the key id is not 1 to 16 characters of a-z and 0-9"
            ));
        }
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|_| format!("key \"{id}\" is not valid base64"))?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            format!(
                "key \"{id}\" decodes to {} bytes, not 32 (generate one with `openssl rand -base64 32`)",
                bytes.len()
            )
        })?;
        if keys.iter().any(|k| k.id == id) {
            return Err(format!("key id \"{id}\" appears twice"));
        }
        keys.push(EncryptionKey::new(id, key)?);
    }
    Ok(keys)
}

/// A TOTP key as stored: the id of the key that sealed it, then `nonce ‖ ciphertext ‖ tag`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SealedKey {
    pub key_id: String,
    pub sealed: Vec<u8>,
}

/// Why a sealed key could not be opened: always an internal error (a configuration or storage
/// problem, never the user's input).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpenError {
    /// The key id is not in `TOTP_ENCRYPTION_KEYS` any more.
    UnknownKeyId(String),
    /// Wrong key, another user's ciphertext or a damaged record.
    Undecryptable(String),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpenError::UnknownKeyId(id) => write!(
                f,
                "the TOTP key is sealed with key id \"{id}\", which TOTP_ENCRYPTION_KEYS no longer lists"
            ),
            OpenError::Undecryptable(id) => {
                write!(f, "the TOTP key does not decrypt with key id \"{id}\"")
            }
        }
    }
}

/// The configured keys: the first seals, any opens.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<EncryptionKey>,
}

impl KeyRing {
    /// `keys` must not be empty (checked by [`KeyRing::validate`]).
    pub fn new(keys: Vec<EncryptionKey>) -> Self {
        Self { keys }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.keys.is_empty() {
            return Err("the TOTP extension needs at least one key in TOTP_ENCRYPTION_KEYS".into());
        }
        for (i, key) in self.keys.iter().enumerate() {
            if self.keys[..i].iter().any(|k| k.id == key.id) {
                return Err(format!("TOTP key id \"{}\" appears twice", key.id));
            }
        }
        Ok(())
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `plaintext` for `user_id` (the associated data) with the first key and a fresh nonce.
    pub fn seal(&self, user_id: &str, plaintext: &[u8]) -> SealedKey {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_SIZE];
        crypto::random_bytes(&mut nonce);
        let ciphertext = key
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: user_id.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short message cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        SealedKey {
            key_id: key.id.clone(),
            sealed,
        }
    }

    /// Opens a key sealed for `user_id` with whichever configured key its id names.
    pub fn open(&self, user_id: &str, sealed: &SealedKey) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let key = self
            .keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKeyId(sealed.key_id.clone()))?;
        let undecryptable = || OpenError::Undecryptable(sealed.key_id.clone());
        if sealed.sealed.len() < NONCE_SIZE {
            return Err(undecryptable());
        }
        let (nonce, ciphertext) = sealed.sealed.split_at(NONCE_SIZE);
        key.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: user_id.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| undecryptable())
    }

    /// The sealed key as it is written back: re-sealed with the first key when another (still
    /// configured) key sealed it, so that old keys can be retired (docs/extensions.md). A key
    /// whose id is no longer configured is kept as it is: the write (a recovery-code use, say)
    /// must not fail for it.
    pub fn reseal_for_write(&self, user_id: &str, sealed: &SealedKey) -> SealedKey {
        if sealed.key_id == self.current_key_id() {
            return sealed.clone();
        }
        match self.open(user_id, sealed) {
            Ok(plaintext) => self.seal(user_id, &plaintext),
            Err(_) => sealed.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

    #[test]
    fn parsing_accepts_ids_and_32_byte_keys_only() {
        let keys = parse_encryption_keys(&format!(" new:{K2} , old:{K1}")).unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys[0].id(), "new");
        for (raw, problem) in [
            (format!("Upper:{K1}"), "key id"),
            (format!(":{K1}"), "key id"),
            (format!("a234567890abcdefg:{K1}"), "key id"),
            (K1.to_string(), "is not <key id>"),
            ("a:not base64!".to_string(), "not valid base64"),
            ("a:AQEB".to_string(), "3 bytes, not 32"),
            (format!("a:{K1},a:{K2}"), "appears twice"),
            (format!("a:{K1},,b:{K2}"), "key 2 is empty"),
        ] {
            let e = parse_encryption_keys(&raw).unwrap_err();
            assert!(e.contains(problem), "{raw}: {e}");
            assert!(!e.contains(K1) && !e.contains(K2), "no key material in {e}");
        }
    }

    #[test]
    fn sealing_binds_the_user_and_rotation_reseals_with_the_first_key() {
        let old = KeyRing::new(parse_encryption_keys(&format!("old:{K1}")).unwrap());
        let both = KeyRing::new(parse_encryption_keys(&format!("new:{K2},old:{K1}")).unwrap());
        let secret = b"12345678901234567890";
        let sealed = old.seal("u1", secret);
        assert_eq!(sealed.key_id, "old");
        assert_eq!(sealed.sealed.len(), 12 + 20 + 16);
        assert!(!sealed.sealed.windows(20).any(|w| w == secret));
        assert_eq!(old.open("u1", &sealed).unwrap().as_slice(), secret);
        // Another user's ciphertext does not decrypt (the user id is the associated data).
        assert_eq!(
            old.open("u2", &sealed),
            Err(OpenError::Undecryptable("old".into()))
        );
        // Fresh nonce per encryption.
        assert_ne!(old.seal("u1", secret).sealed, sealed.sealed);
        // Rotation: the old key still opens; a write re-seals with the new first key.
        assert_eq!(both.open("u1", &sealed).unwrap().as_slice(), secret);
        let resealed = both.reseal_for_write("u1", &sealed);
        assert_eq!(resealed.key_id, "new");
        assert_eq!(both.open("u1", &resealed).unwrap().as_slice(), secret);
        assert_eq!(both.reseal_for_write("u1", &resealed), resealed);
        // Once the old key is gone, its ciphertexts cannot be opened and are kept as they are.
        let new_only = KeyRing::new(parse_encryption_keys(&format!("new:{K2}")).unwrap());
        assert_eq!(
            new_only.open("u1", &sealed),
            Err(OpenError::UnknownKeyId("old".into()))
        );
        assert_eq!(new_only.reseal_for_write("u1", &sealed), sealed);
        // A damaged record is not a panic.
        let mut damaged = resealed.clone();
        damaged.sealed.truncate(5);
        assert!(both.open("u1", &damaged).is_err());
    }

    #[test]
    fn debug_never_shows_key_material() {
        let keys = parse_encryption_keys(&format!("k1:{K1}")).unwrap();
        let shown = format!("{:?}", KeyRing::new(keys));
        assert!(
            shown.contains("k1") && !shown.contains("1, 1, 1"),
            "{shown}"
        );
    }
}
