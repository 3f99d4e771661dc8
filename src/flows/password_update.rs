//! User password update (spec §3.5): the current password, a new one, then the swap.
//! The error code spelling differs per action on purpose (KEEP).

use super::{
    seconds, timestamp, ActionResult, Entity, Failure, Invocation, NewPasswordHash, UserEntity,
    Values,
};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, User};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

/// Used by get_, verify_, set_ and complete_.
const INVALID: &str = "invalid_password_update_token";
/// Used by delete_ only.
const INVALID_ON_DELETE: &str = "invalid_user_password_update_token";

/// A password update, stored under `aaae.<id>` for 10 minutes (valid at the boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserPasswordUpdate {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub user_identity_verified: bool,
    pub new_password: NewPasswordHash,
    pub new_password_set: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserPasswordUpdate {
    const KEY_PREFIX: &'static str = "aaae.";
    const LIFETIME: Millis = 10 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = false;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            session_id: r.string()?,
            secret_hash: r.byte_vec()?,
            user_identity_verified: r.bool()?,
            new_password: NewPasswordHash {
                hash: r.byte_vec()?,
                algorithm_id: r.string()?,
                salt: r.byte_vec()?,
            },
            new_password_set: r.bool()?,
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
            .bytes(&self.new_password.hash)
            .string(&self.new_password.algorithm_id)
            .bytes(&self.new_password.salt)
            .bool(self.new_password_set)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    super::entity_accessors!();
}

impl UserEntity for UserPasswordUpdate {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserPasswordUpdate {
    fn model(&self) -> Value {
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "session_id": self.session_id,
            "user_identity_verified": self.user_identity_verified,
            "new_password_set": self.new_password_set,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

impl Server {
    /// Validates the update token for a session that was already validated.
    async fn validate_password_update(
        &self,
        session_id: &str,
        update_token: &str,
        invalid_code: &'static str,
    ) -> Result<UserPasswordUpdate, Failure> {
        let (update, _) = self
            .validate_user_entity_token::<UserPasswordUpdate>(update_token)
            .await
            .map_err(|e| e.into_failure(invalid_code))?;
        if update.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(update)
    }

    pub(crate) async fn create_user_password_update(&self, session_token: &str) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        if user.password_hash_counter == i32::MAX {
            return Err(Failure::Internal(
                "user password hash counter limit reached".into(),
            ));
        }
        let secret = crypto::generate_secret();
        let update = UserPasswordUpdate {
            id: crypto::generate_id(),
            user_id: user.id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            user_identity_verified: false,
            new_password: NewPasswordHash::default(),
            new_password_set: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&update).await?;
        let mut values = Values::new();
        values.insert("user_password_update".into(), update.model());
        values.insert(
            "user_password_update_token".into(),
            crypto::format_token(&update.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_password_update(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let update = self
            .validate_password_update(&session.id, update_token, INVALID)
            .await?;
        let mut values = Values::new();
        values.insert("user_password_update".into(), update.model());
        Ok(values)
    }

    pub(crate) async fn delete_user_password_update(
        &self,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let update = self
            .validate_password_update(&session.id, update_token, INVALID_ON_DELETE)
            .await?;
        self.delete_entity_on_request(&UserPasswordUpdate::key_for(&update.id), INVALID_ON_DELETE)
            .await
    }

    pub(crate) async fn verify_user_password_update_user_password(
        &self,
        session_token: &str,
        update_token: &str,
        password: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let update = self
            .validate_password_update(&session.id, update_token, INVALID)
            .await?;
        if update.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.update_entity_flag::<UserPasswordUpdate>(
            &update.id,
            |u| u.user_identity_verified,
            |u| u.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn set_user_password_update_new_password(
        &self,
        invocation: &Invocation,
        session_token: &str,
        update_token: &str,
        password: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let update = self
            .validate_password_update(&session.id, update_token, INVALID)
            .await?;
        // FIX-3: identity first, then "already set".
        if !update.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        if update.new_password_set {
            return Err(Failure::Code("new_password_already_set"));
        }
        self.check_new_password(password).await?;
        self.set_entity_password::<UserPasswordUpdate>(
            invocation,
            &update.id,
            password,
            |u| u.new_password_set,
            |u, new_hash| {
                u.new_password = new_hash;
                u.new_password_set = true;
            },
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_password_update(
        &self,
        invocation: &Invocation,
        session_token: &str,
        update_token: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let update = self
            .validate_password_update(&session.id, update_token, INVALID)
            .await?;
        if !update.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        if !update.new_password_set {
            return Err(Failure::Code("new_password_not_set"));
        }
        self.store_new_password(
            invocation,
            &user,
            &update.user_id,
            &update.new_password,
            user.password_hash_counter,
            &UserPasswordUpdate::key_for(&update.id),
        )
        .await?;
        Ok(Values::new())
    }
}
