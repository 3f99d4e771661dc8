//! The three short-lived, session-bound entities of the TOTP extension (main storage, 10 minutes,
//! still valid at the boundary, bound to the user's password-hash and disabled counters).

use super::keys::SealedKey;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::flows::{entity_accessors, timestamp, Entity, UserEntity};
use crate::ports::{Millis, User};
use serde_json::{json, Value};
use std::marker::PhantomData;

const LIFETIME: Millis = 10 * 60 * 1000;

/// A TOTP enrollment, stored under `totp_enrollment.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserTotpEnrollment {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub user_identity_verified: bool,
    /// Empty until the identity is verified.
    pub key: SealedKey,
    pub totp_code_verified: bool,
    /// The step of the code that verified the enrollment (0 until then).
    pub verified_step: i64,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserTotpEnrollment {
    const KEY_PREFIX: &'static str = "totp_enrollment.";
    const LIFETIME: Millis = LIFETIME;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            user_identity_verified: r.bool()?,
            key: SealedKey {
                key_id: r.string()?,
                sealed: r.byte_vec()?,
            },
            totp_code_verified: r.bool()?,
            verified_step: r.int64()?,
            user_password_hash_counter: r.int32()?,
            user_disabled_counter: r.int32()?,
            created_at: r.int64()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .string(&self.session_id)
            .bytes(&self.secret_hash)
            .bool(self.user_identity_verified)
            .string(&self.key.key_id)
            .bytes(&self.key.sealed)
            .bool(self.totp_code_verified)
            .int64(self.verified_step)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    entity_accessors!();
}

impl UserEntity for UserTotpEnrollment {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserTotpEnrollment {
    pub fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "user_identity_verified": self.user_identity_verified,
            "totp_code_verified": self.totp_code_verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + LIFETIME / 1000),
        })
    }
}

/// What tells the two password-confirmed entities apart: key prefix and model name.
pub(crate) trait ConfirmationKind {
    const KEY_PREFIX: &'static str;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecoveryCodeRegenerationKind;
impl ConfirmationKind for RecoveryCodeRegenerationKind {
    const KEY_PREFIX: &'static str = "recovery_code_regeneration.";
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TotpDeletionKind;
impl ConfirmationKind for TotpDeletionKind {
    const KEY_PREFIX: &'static str = "totp_deletion.";
}

/// A change that needs the password again (the layout of Faroe's user deletion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasswordConfirmation<K> {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub user_identity_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
    pub kind: PhantomData<K>,
}

/// `user_recovery_code_regeneration`, stored under `recovery_code_regeneration.<id>`.
pub(crate) type UserRecoveryCodeRegeneration = PasswordConfirmation<RecoveryCodeRegenerationKind>;
/// `user_totp_deletion`, stored under `totp_deletion.<id>`.
pub(crate) type UserTotpDeletion = PasswordConfirmation<TotpDeletionKind>;

impl<K: ConfirmationKind> Entity for PasswordConfirmation<K> {
    const KEY_PREFIX: &'static str = K::KEY_PREFIX;
    const LIFETIME: Millis = LIFETIME;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            user_identity_verified: r.bool()?,
            user_password_hash_counter: r.int32()?,
            user_disabled_counter: r.int32()?,
            created_at: r.int64()?,
            kind: PhantomData,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .string(&self.session_id)
            .bytes(&self.secret_hash)
            .bool(self.user_identity_verified)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    entity_accessors!();
}

impl<K: ConfirmationKind> UserEntity for PasswordConfirmation<K> {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl<K> PasswordConfirmation<K> {
    pub fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "user_identity_verified": self.user_identity_verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + LIFETIME / 1000),
        })
    }
}
