//! The passkeys extension's entities in main storage: registration and deletion (session-bound,
//! 10 minutes, still valid at the boundary, bound to the user's password-hash and disabled
//! counters) and the passwordless sign-in (no user, 5 minutes, expired at the boundary).

use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::flows::{entity_accessors, timestamp, Entity, UserEntity};
use crate::ports::{Millis, User};
use serde_json::{json, Value};

const SESSION_BOUND_LIFETIME: Millis = 10 * 60 * 1000;

/// `user_passkey_registration`, stored under `passkey_registration.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserPasskeyRegistration {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    /// The 32 random bytes of the creation options.
    pub challenge: Vec<u8>,
    pub user_identity_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserPasskeyRegistration {
    const KEY_PREFIX: &'static str = "passkey_registration.";
    const LIFETIME: Millis = SESSION_BOUND_LIFETIME;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            challenge: r.byte_vec()?,
            user_identity_verified: r.bool()?,
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
            .bytes(&self.challenge)
            .bool(self.user_identity_verified)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    entity_accessors!();
}

impl UserEntity for UserPasskeyRegistration {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserPasskeyRegistration {
    pub fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "user_identity_verified": self.user_identity_verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

/// `user_passkey_deletion`, stored under `passkey_deletion.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserPasskeyDeletion {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub user_passkey_id: String,
    pub user_identity_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserPasskeyDeletion {
    const KEY_PREFIX: &'static str = "passkey_deletion.";
    const LIFETIME: Millis = SESSION_BOUND_LIFETIME;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            user_passkey_id: r.string()?,
            user_identity_verified: r.bool()?,
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
            .string(&self.user_passkey_id)
            .bool(self.user_identity_verified)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    entity_accessors!();
}

impl UserEntity for UserPasskeyDeletion {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserPasskeyDeletion {
    pub fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "user_passkey_id": self.user_passkey_id,
            "user_identity_verified": self.user_identity_verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

/// `passkey_signin`, stored under `passkey_signin.<id>`: a passwordless sign-in, no user yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasskeySignin {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub challenge: Vec<u8>,
    pub created_at: i64,
}

impl Entity for PasskeySignin {
    const KEY_PREFIX: &'static str = "passkey_signin.";
    const LIFETIME: Millis = 5 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = true;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            secret_hash: r.byte_vec()?,
            challenge: r.byte_vec()?,
            created_at: r.int64()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .bytes(&self.secret_hash)
            .bytes(&self.challenge)
            .int64(self.created_at)
            .finish()
    }

    entity_accessors!();
}

impl PasskeySignin {
    pub fn model(&self) -> Value {
        json!({
            "id": self.id,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}
