//! User deletion (spec §3.6): the user's password, then the user is deleted from the user store.

use super::{seconds, timestamp, ActionResult, Entity, Failure, Invocation, UserEntity, Values};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, User, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

const INVALID: &str = "invalid_user_deletion_token";

/// A user deletion, stored under `aaag.<id>` for 10 minutes (valid at the boundary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UserDeletion {
    pub id: String,
    pub user_id: String,
    pub session_id: String,
    pub secret_hash: Vec<u8>,
    pub user_identity_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
}

impl Entity for UserDeletion {
    const KEY_PREFIX: &'static str = "aaag.";
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
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at)
            .finish()
    }

    super::entity_accessors!();
}

impl UserEntity for UserDeletion {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl UserDeletion {
    fn model(&self) -> Value {
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

impl Server {
    async fn validate_user_deletion(
        &self,
        session_id: &str,
        deletion_token: &str,
    ) -> Result<UserDeletion, Failure> {
        let (deletion, _) = self
            .validate_user_entity_token::<UserDeletion>(deletion_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        if deletion.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(deletion)
    }

    pub(crate) async fn create_user_deletion(&self, session_token: &str) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let secret = crypto::generate_secret();
        let deletion = UserDeletion {
            id: crypto::generate_id(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            user_identity_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&deletion).await?;
        let mut values = Values::new();
        values.insert("user_deletion".into(), deletion.model());
        values.insert(
            "user_deletion_token".into(),
            crypto::format_token(&deletion.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_deletion(
        &self,
        session_token: &str,
        deletion_token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let deletion = self
            .validate_user_deletion(&session.id, deletion_token)
            .await?;
        let mut values = Values::new();
        values.insert("user_deletion".into(), deletion.model());
        Ok(values)
    }

    pub(crate) async fn delete_user_deletion(
        &self,
        session_token: &str,
        deletion_token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let deletion = self
            .validate_user_deletion(&session.id, deletion_token)
            .await?;
        self.delete_entity_on_request(&UserDeletion::key_for(&deletion.id), INVALID)
            .await
    }

    pub(crate) async fn verify_user_deletion_user_password(
        &self,
        session_token: &str,
        deletion_token: &str,
        password: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let deletion = self
            .validate_user_deletion(&session.id, deletion_token)
            .await?;
        if deletion.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.update_entity_flag::<UserDeletion>(
            &deletion.id,
            |d| d.user_identity_verified,
            |d| d.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_deletion(
        &self,
        invocation: &Invocation,
        session_token: &str,
        deletion_token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let deletion = self
            .validate_user_deletion(&session.id, deletion_token)
            .await?;
        if !deletion.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        match self.ports.user_store.delete_user(&deletion.user_id).await {
            Ok(()) => {}
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("internal_conflict")),
            Err(e) => return Err(Failure::Internal(format!("failed to delete user: {e}"))),
        }
        // Extensions: the user's account storage goes with the user (a failure only logged);
        // first the passkeys' credential index entries, which live in main storage.
        if self.extensions.passkeys.is_some() {
            self.delete_credential_index_entries_of_user(invocation, &deletion.user_id)
                .await;
        }
        if self.extensions.uses_account_storage() {
            if let Err(e) = self
                .ports
                .account_storage
                .delete_all(&deletion.user_id)
                .await
            {
                self.log(
                    invocation,
                    &format!("failed to delete the user's account storage: {e}"),
                );
            }
        }
        self.delete_entity_logging_errors(invocation, &UserDeletion::key_for(&deletion.id))
            .await;
        Ok(Values::new())
    }
}
