//! User password reset (spec §3.7): a temporary password by email, a new password, then a session.

use super::{
    is_valid_email_address, seconds, timestamp, user_store_failure, ActionResult, Entity, Failure,
    Invocation, NewPasswordHash, UserEntity, Values,
};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, User, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

/// FIX-1: every invalid reset token is this code, never `internal_error`.
const INVALID: &str = "invalid_user_password_reset_token";

/// A password reset, stored under `aaaf.<id>` for 20 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserPasswordReset {
    pub id: String,
    pub user_id: String,
    pub secret_hash: Vec<u8>,
    pub temporary_password: NewPasswordHash,
    pub user_first_factor_verified: bool,
    pub new_password: NewPasswordHash,
    pub new_password_set: bool,
    pub user_password_hash_counter: i32,
    pub user_email_address_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserPasswordReset {
    const KEY_PREFIX: &'static str = "aaaf.";
    const LIFETIME: Millis = 20 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = true;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            secret_hash: r.byte_vec()?,
            temporary_password: NewPasswordHash {
                hash: r.byte_vec()?,
                algorithm_id: r.string()?,
                salt: r.byte_vec()?,
            },
            user_first_factor_verified: r.bool()?,
            new_password: NewPasswordHash {
                hash: r.byte_vec()?,
                algorithm_id: r.string()?,
                salt: r.byte_vec()?,
            },
            new_password_set: r.bool()?,
            user_password_hash_counter: r.int32()?,
            user_email_address_counter: r.int32()?,
            user_disabled_counter: r.int32()?,
            created_at: r.int64()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .bytes(&self.secret_hash)
            .bytes(&self.temporary_password.hash)
            .string(&self.temporary_password.algorithm_id)
            .bytes(&self.temporary_password.salt)
            .bool(self.user_first_factor_verified)
            .bytes(&self.new_password.hash)
            .string(&self.new_password.algorithm_id)
            .bytes(&self.new_password.salt)
            .bool(self.new_password_set)
            .int32(self.user_password_hash_counter)
            .int32(self.user_email_address_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    super::entity_accessors!();
}

impl UserEntity for UserPasswordReset {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    /// KEEP: the password-hash counter is not compared; a stale reset fails at completion instead.
    fn counters_match(&self, user: &User) -> bool {
        self.user_email_address_counter == user.email_address_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserPasswordReset {
    fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "user_first_factor_verified": self.user_first_factor_verified,
            "new_password_set": self.new_password_set,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

impl Server {
    async fn validate_password_reset(
        &self,
        token: &str,
    ) -> Result<(UserPasswordReset, User), Failure> {
        self.validate_user_entity_token::<UserPasswordReset>(token)
            .await
            .map_err(|e| e.into_failure(INVALID))
    }

    pub(crate) async fn create_user_password_reset(
        &self,
        user_email_address: &str,
    ) -> ActionResult {
        if !is_valid_email_address(user_email_address) {
            return Err(Failure::Code("invalid_email_address"));
        }
        let user = match self
            .ports
            .user_store
            .get_user_by_email_address(user_email_address)
            .await
        {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("user_not_found")),
            Err(e) => return Err(user_store_failure("failed to get user by email address", e)),
        };
        if user.disabled {
            return Err(Failure::Code("user_disabled"));
        }
        if user.password_hash_counter == i32::MAX {
            return Err(Failure::Internal(
                "user password hash counter limit reached".into(),
            ));
        }
        self.check_tokens(Bucket::VerifyTemporaryPassword, &user.id)
            .await?;
        self.consume_send_email_tokens(user_email_address).await?;

        let secret = crypto::generate_secret();
        let temporary_password = crypto::generate_temporary_password();
        let algorithm = &self.temporary_password_algorithm;
        let salt = crypto::generate_salt(algorithm.salt_size());
        let hash = algorithm
            .hash(&temporary_password, &salt)
            .await
            .map_err(|e| Failure::Internal(format!("temporary password hashing failed: {e}")))?;
        let reset = UserPasswordReset {
            id: crypto::generate_id(),
            user_id: user.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            temporary_password: NewPasswordHash {
                hash,
                algorithm_id: algorithm.id().to_string(),
                salt,
            },
            user_first_factor_verified: false,
            new_password: NewPasswordHash::default(),
            new_password_set: false,
            user_password_hash_counter: user.password_hash_counter,
            user_email_address_counter: user.email_address_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&reset).await?;
        self.email_sender_for(Some(&user))
            .send_user_password_reset_temporary_password(
                &user.email_address,
                &user.display_name,
                &temporary_password,
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to send temporary password: {e}")))?;

        let mut values = Values::new();
        values.insert("user_password_reset".into(), reset.model());
        values.insert(
            "user_password_reset_token".into(),
            crypto::format_token(&reset.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_password_reset(&self, reset_token: &str) -> ActionResult {
        let (reset, _) = self.validate_password_reset(reset_token).await?;
        let mut values = Values::new();
        values.insert("user_password_reset".into(), reset.model());
        Ok(values)
    }

    pub(crate) async fn delete_user_password_reset(&self, reset_token: &str) -> ActionResult {
        let (reset, _) = self.validate_password_reset(reset_token).await?;
        // FIX-2: only "already gone" is an invalid token; other storage errors are internal.
        self.delete_entity_on_request(&UserPasswordReset::key_for(&reset.id), INVALID)
            .await
    }

    pub(crate) async fn verify_user_password_reset_temporary_password(
        &self,
        invocation: &Invocation,
        reset_token: &str,
        temporary_password: &str,
    ) -> ActionResult {
        let (reset, _) = self.validate_password_reset(reset_token).await?;
        if reset.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_already_verified"));
        }
        self.consume_token(Bucket::VerifyTemporaryPassword, &reset.user_id)
            .await?;
        let algorithm = &self.temporary_password_algorithm;
        if reset.temporary_password.algorithm_id != algorithm.id() {
            self.delete_entity_logging_errors(invocation, &UserPasswordReset::key_for(&reset.id))
                .await;
            return Err(Failure::Code(INVALID));
        }
        let hash = algorithm
            .hash(temporary_password, &reset.temporary_password.salt)
            .await
            .map_err(|e| Failure::Internal(format!("temporary password hashing failed: {e}")))?;
        if !crypto::constant_time_eq(&hash, &reset.temporary_password.hash) {
            return Err(Failure::Code("incorrect_temporary_password"));
        }
        self.update_entity_flag::<UserPasswordReset>(
            &reset.id,
            |r| r.user_first_factor_verified,
            |r| r.user_first_factor_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn set_user_password_reset_new_password(
        &self,
        invocation: &Invocation,
        reset_token: &str,
        password: &str,
    ) -> ActionResult {
        let (reset, _) = self.validate_password_reset(reset_token).await?;
        if !reset.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_not_verified"));
        }
        if reset.new_password_set {
            return Err(Failure::Code("new_password_already_set"));
        }
        self.check_new_password(password).await?;
        self.set_entity_password::<UserPasswordReset>(
            invocation,
            &reset.id,
            password,
            |r| r.new_password_set,
            |r, new_hash| {
                r.new_password = new_hash;
                r.new_password_set = true;
            },
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_password_reset(
        &self,
        invocation: &Invocation,
        reset_token: &str,
    ) -> ActionResult {
        let (reset, user) = self.validate_password_reset(reset_token).await?;
        if !reset.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_not_verified"));
        }
        if !reset.new_password_set {
            return Err(Failure::Code("new_password_not_set"));
        }
        self.store_new_password(
            invocation,
            &user,
            &reset.user_id,
            &reset.new_password,
            reset.user_password_hash_counter,
            &UserPasswordReset::key_for(&reset.id),
        )
        .await?;
        self.sign_in(invocation, &user, |e| {
            Failure::LoggedCode(
                "session_not_created",
                format!("failed to create session: {e}"),
            )
        })
        .await
    }
}
