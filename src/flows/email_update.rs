//! User email address update (spec §3.4): new address, its code, the user's password, then the swap.

use super::{
    is_valid_email_address, seconds, timestamp, user_store_failure, ActionResult, Entity, Failure,
    Invocation, UserEntity, Values,
};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, User, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

const INVALID: &str = "invalid_user_email_address_update_token";

/// An email address update, stored under `aaad.<id>` for 20 minutes (valid at the boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserEmailAddressUpdate {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub new_email_address: String,
    pub email_address_verification_code: String,
    pub new_email_address_verified: bool,
    pub user_identity_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_email_address_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserEmailAddressUpdate {
    const KEY_PREFIX: &'static str = "aaad.";
    const LIFETIME: Millis = 20 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            new_email_address: r.string()?,
            email_address_verification_code: r.string()?,
            new_email_address_verified: r.bool()?,
            user_identity_verified: r.bool()?,
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
            .string(&self.session_id)
            .bytes(&self.secret_hash)
            .string(&self.new_email_address)
            .string(&self.email_address_verification_code)
            .bool(self.new_email_address_verified)
            .bool(self.user_identity_verified)
            .int32(self.user_password_hash_counter)
            .int32(self.user_email_address_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    super::entity_accessors!();
}

impl UserEntity for UserEmailAddressUpdate {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_email_address_counter == user.email_address_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserEmailAddressUpdate {
    fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "new_email_address": self.new_email_address,
            "new_email_address_verified": self.new_email_address_verified,
            "user_identity_verified": self.user_identity_verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

impl Server {
    /// PREFIX of every action but create: session, update token, same session.
    async fn validate_email_update(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> Result<(UserEmailAddressUpdate, User), Failure> {
        let session = self.require_session(session_token).await?;
        let (update, user) = self
            .validate_user_entity_token::<UserEmailAddressUpdate>(update_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        if update.session_id != session.id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok((update, user))
    }

    pub(crate) async fn create_user_email_address_update(
        &self,
        session_token: &str,
        new_email_address: &str,
    ) -> ActionResult {
        if !is_valid_email_address(new_email_address) {
            return Err(Failure::Code("invalid_email_address"));
        }
        let (session, user) = self.require_session_and_user(session_token).await?;
        if user.email_address_counter == i32::MAX {
            return Err(Failure::Internal(
                "user email address counter limit reached".into(),
            ));
        }
        match self
            .ports
            .user_store
            .get_user_by_email_address(new_email_address)
            .await
        {
            Ok(_) => return Err(Failure::Code("email_address_already_used")),
            Err(UserStoreError::UserNotFound) => {}
            Err(e) => return Err(user_store_failure("failed to get user by email address", e)),
        }
        if !self.is_email_address_allowed(new_email_address).await? {
            return Err(Failure::Code("email_address_not_allowed"));
        }
        self.check_tokens(Bucket::VerifyEmailCode, new_email_address)
            .await?;
        self.consume_send_email_tokens(new_email_address).await?;

        let secret = crypto::generate_secret();
        let update = UserEmailAddressUpdate {
            id: crypto::generate_id(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            new_email_address: new_email_address.to_string(),
            email_address_verification_code: crypto::generate_email_address_verification_code(),
            new_email_address_verified: false,
            user_identity_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_email_address_counter: user.email_address_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&update).await?;
        self.email_sender_for(Some(&user))
            .send_user_email_address_update_email_address_verification_code(
                new_email_address,
                &user.display_name,
                &update.email_address_verification_code,
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to send verification code: {e}")))?;

        let mut values = Values::new();
        values.insert("user_email_address_update".into(), update.model());
        values.insert(
            "user_email_address_update_token".into(),
            crypto::format_token(&update.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_email_address_update(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let (update, _) = self
            .validate_email_update(session_token, update_token)
            .await?;
        let mut values = Values::new();
        values.insert("user_email_address_update".into(), update.model());
        Ok(values)
    }

    pub(crate) async fn delete_user_email_address_update(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let (update, _) = self
            .validate_email_update(session_token, update_token)
            .await?;
        self.delete_entity_on_request(&UserEmailAddressUpdate::key_for(&update.id), INVALID)
            .await
    }

    pub(crate) async fn send_user_email_address_update_email_address_verification_code(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let (update, user) = self
            .validate_email_update(session_token, update_token)
            .await?;
        if update.new_email_address_verified {
            return Err(Failure::Code("email_address_already_verified"));
        }
        self.check_tokens(Bucket::VerifyEmailCode, &update.new_email_address)
            .await?;
        self.consume_send_email_tokens(&update.new_email_address)
            .await?;
        self.email_sender_for(Some(&user))
            .send_user_email_address_update_email_address_verification_code(
                &update.new_email_address,
                &user.display_name,
                &update.email_address_verification_code,
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to send verification code: {e}")))?;
        Ok(Values::new())
    }

    pub(crate) async fn verify_user_email_address_update_email_address_verification_code(
        &self,
        session_token: &str,
        update_token: &str,
        code: &str,
    ) -> ActionResult {
        let (update, _) = self
            .validate_email_update(session_token, update_token)
            .await?;
        if update.new_email_address_verified {
            return Err(Failure::Code("email_address_already_verified"));
        }
        self.consume_token(Bucket::VerifyEmailCode, &update.new_email_address)
            .await?;
        if !crypto::constant_time_eq(
            update.email_address_verification_code.as_bytes(),
            code.as_bytes(),
        ) {
            return Err(Failure::Code("incorrect_email_address_verification_code"));
        }
        self.update_entity_flag::<UserEmailAddressUpdate>(
            &update.id,
            |u| u.new_email_address_verified,
            |u| u.new_email_address_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn verify_user_email_address_update_user_password(
        &self,
        session_token: &str,
        update_token: &str,
        password: &str,
    ) -> ActionResult {
        let (update, user) = self
            .validate_email_update(session_token, update_token)
            .await?;
        if !update.new_email_address_verified {
            return Err(Failure::Code("email_address_not_verified"));
        }
        if update.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.update_entity_flag::<UserEmailAddressUpdate>(
            &update.id,
            |u| u.user_identity_verified,
            |u| u.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_email_address_update(
        &self,
        invocation: &Invocation,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let (update, user) = self
            .validate_email_update(session_token, update_token)
            .await?;
        if !update.new_email_address_verified {
            return Err(Failure::Code("email_address_not_verified"));
        }
        if !update.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        let key = UserEmailAddressUpdate::key_for(&update.id);
        if !self
            .is_email_address_allowed(&update.new_email_address)
            .await?
        {
            self.delete_entity_logging_errors(invocation, &key).await;
            return Err(Failure::Code(INVALID));
        }
        match self
            .ports
            .user_store
            .update_user_email_address(
                &update.user_id,
                &update.new_email_address,
                user.email_address_counter,
            )
            .await
        {
            Ok(()) => {}
            Err(UserStoreError::EmailAddressAlreadyUsed) => {
                self.delete_entity_logging_errors(invocation, &key).await;
                return Err(Failure::Code(INVALID));
            }
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("internal_conflict")),
            Err(e) => return Err(user_store_failure("failed to update user email address", e)),
        }
        let updated_at = self.now();
        self.delete_entity_logging_errors(invocation, &key).await;
        if let Err(e) = self
            .email_sender_for(Some(&user))
            .send_user_email_address_updated_notification(
                &user.email_address,
                &user.display_name,
                &update.new_email_address,
                updated_at,
            )
            .await
        {
            self.log_failed_notification(invocation, "email address updated notification", e);
        }
        Ok(Values::new())
    }
}
