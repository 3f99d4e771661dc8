//! Managing passkeys from a session: the list, renaming, and removal (with the password or a TOTP
//! code again); and the operator's removal of every passkey of a user.

use super::entities::UserPasskeyDeletion;
use super::record::PasskeyRecord;
use super::{normalize_passkey_name, SECOND_FACTOR_NAME};
use crate::crypto;
use crate::extensions::totp::record::RECORD_KEY;
use crate::flows::{seconds, ActionResult, Entity, Failure, Invocation, Values};
use crate::ports::StorageError;
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::Value;

const INVALID_DELETION: &str = "invalid_user_passkey_deletion_token";

impl Server {
    pub(crate) async fn get_user_passkeys(&self, session_token: &str) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let passkeys = self.list_passkeys(&session.user_id).await?;
        let mut values = Values::new();
        values.insert(
            "user_passkeys".into(),
            Value::Array(
                passkeys
                    .iter()
                    .map(|p| p.record.model(&session.user_id))
                    .collect(),
            ),
        );
        Ok(values)
    }

    pub(crate) async fn update_user_passkey_name(
        &self,
        session_token: &str,
        passkey_id: &str,
        passkey_name: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let name =
            normalize_passkey_name(passkey_name).ok_or(Failure::Code("invalid_passkey_name"))?;
        let Some(passkey) = self.read_passkey(&session.user_id, passkey_id).await? else {
            return Err(Failure::Code("passkey_not_found"));
        };
        let record = PasskeyRecord {
            name,
            ..passkey.record
        };
        match self
            .ports
            .account_storage
            .update(
                &session.user_id,
                &PasskeyRecord::key_for(&record.id),
                record.encode(),
                0,
                passkey.counter,
            )
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code("internal_conflict")),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "account storage update failed: {e}"
                )))
            }
        }
        let mut values = Values::new();
        values.insert("user_passkey".into(), record.model(&session.user_id));
        Ok(values)
    }

    // ---- removal ----

    async fn validate_passkey_deletion(
        &self,
        session_id: &str,
        token: &str,
    ) -> Result<UserPasskeyDeletion, Failure> {
        let (deletion, _) = self
            .validate_user_entity_token::<UserPasskeyDeletion>(token)
            .await
            .map_err(|e| e.into_failure(INVALID_DELETION))?;
        if deletion.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(deletion)
    }

    fn deletion_values(deletion: &UserPasskeyDeletion) -> Values {
        let mut values = Values::new();
        values.insert("user_passkey_deletion".into(), deletion.model());
        values
    }

    pub(crate) async fn create_user_passkey_deletion(
        &self,
        session_token: &str,
        passkey_id: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        if self.read_passkey(&user.id, passkey_id).await?.is_none() {
            return Err(Failure::Code("passkey_not_found"));
        }
        let secret = crypto::generate_secret();
        let deletion = UserPasskeyDeletion {
            id: crypto::generate_id(),
            user_id: user.id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            user_passkey_id: passkey_id.to_string(),
            user_identity_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&deletion).await?;
        let mut values = Self::deletion_values(&deletion);
        values.insert(
            "user_passkey_deletion_token".into(),
            crypto::format_token(&deletion.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_passkey_deletion(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let deletion = self.validate_passkey_deletion(&session.id, token).await?;
        Ok(Self::deletion_values(&deletion))
    }

    pub(crate) async fn delete_user_passkey_deletion(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let deletion = self.validate_passkey_deletion(&session.id, token).await?;
        self.delete_entity_on_request(
            &UserPasskeyDeletion::key_for(&deletion.id),
            INVALID_DELETION,
        )
        .await
    }

    pub(crate) async fn verify_user_passkey_deletion_user_password(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let deletion = self.validate_passkey_deletion(&session.id, token).await?;
        if deletion.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.mark_passkey_deletion_verified(&deletion.id).await
    }

    pub(crate) async fn verify_user_passkey_deletion_totp_code(
        &self,
        session_token: &str,
        token: &str,
        totp_code: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let deletion = self.validate_passkey_deletion(&session.id, token).await?;
        if deletion.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.use_totp_code(&user.id, totp_code).await?;
        self.mark_passkey_deletion_verified(&deletion.id).await
    }

    async fn mark_passkey_deletion_verified(&self, id: &str) -> ActionResult {
        self.update_entity_flag::<UserPasskeyDeletion>(
            id,
            |d| d.user_identity_verified,
            |d| d.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_passkey_deletion(
        &self,
        invocation: &Invocation,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let deletion = self.validate_passkey_deletion(&session.id, token).await?;
        if !deletion.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        // Spend the one-time deletion first: of concurrent completes, one gets past here.
        match self
            .ports
            .main_storage
            .delete(&UserPasskeyDeletion::key_for(&deletion.id))
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code(INVALID_DELETION)),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "failed to delete the passkey deletion: {e}"
                )))
            }
        }
        let passkeys = self.list_passkeys(&user.id).await?;
        let Some(passkey) = passkeys
            .iter()
            .find(|p| p.record.id == deletion.user_passkey_id)
        else {
            return Err(Failure::Code("passkey_not_found"));
        };
        let stored = self.read_second_factors(&user.id).await?;
        let totp_enabled = stored.as_ref().is_some_and(|s| s.record.totp.is_some());
        let last_second_factor = passkeys.len() == 1 && !totp_enabled;
        if last_second_factor && self.extensions.second_factor_required {
            return Err(Failure::Code("second_factor_required"));
        }
        // A compare-and-set on the second_factors record first (see registration): of removals
        // racing for the last factors, one loses. The last factor takes the recovery codes along.
        if let Some(stored) = stored {
            let result = if last_second_factor {
                self.ports
                    .account_storage
                    .delete(&user.id, RECORD_KEY, stored.counter)
                    .await
            } else {
                self.ports
                    .account_storage
                    .update(
                        &user.id,
                        RECORD_KEY,
                        stored.record.encode(),
                        0,
                        stored.counter,
                    )
                    .await
            };
            match result {
                Ok(()) => {}
                Err(StorageError::NotFound) => return Err(Failure::Code("internal_conflict")),
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "account storage write failed: {e}"
                    )))
                }
            }
        }
        // The record's write decided the removal; a sign-in that stored a counter meanwhile
        // must not undo it, so the passkey record is deleted over whatever counter it has now.
        self.delete_passkey_record(&user.id, &passkey.record.id, passkey.counter)
            .await?;
        self.delete_credential_index_logging_errors(invocation, &passkey.record.credential_id)
            .await;
        self.notify_second_factor_removed(invocation, &user, SECOND_FACTOR_NAME)
            .await;
        Ok(Values::new())
    }

    /// Deletes a passkey record, re-reading its counter when it changed (at most 3 attempts);
    /// `Ok(false)` when it is already gone.
    async fn delete_passkey_record(
        &self,
        user_id: &str,
        passkey_id: &str,
        mut counter: i32,
    ) -> Result<bool, Failure> {
        let key = PasskeyRecord::key_for(passkey_id);
        for _ in 0..3 {
            match self
                .ports
                .account_storage
                .delete(user_id, &key, counter)
                .await
            {
                Ok(()) => return Ok(true),
                Err(StorageError::NotFound) => {
                    match self.ports.account_storage.get(user_id, &key).await {
                        Ok(entry) => counter = entry.counter,
                        Err(StorageError::NotFound) => return Ok(false),
                        Err(e) => {
                            return Err(Failure::Internal(format!(
                                "account storage get failed: {e}"
                            )))
                        }
                    }
                }
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "account storage delete failed: {e}"
                    )))
                }
            }
        }
        Err(Failure::Code("internal_conflict"))
    }

    /// The operator's removal: every passkey record of the user and its index entry. Returns how
    /// many were removed.
    pub(crate) async fn delete_all_passkeys(
        &self,
        invocation: &Invocation,
        user_id: &str,
    ) -> Result<usize, Failure> {
        let passkeys = self.list_passkeys(user_id).await?;
        let mut removed = 0;
        for passkey in passkeys {
            if self
                .delete_passkey_record(user_id, &passkey.record.id, passkey.counter)
                .await
                .map_err(|failure| match failure {
                    Failure::Code(_) => Failure::Internal(
                        "a passkey record kept changing during 3 attempts to delete it".into(),
                    ),
                    other => other,
                })?
            {
                removed += 1;
            }
            self.delete_credential_index_logging_errors(invocation, &passkey.record.credential_id)
                .await;
        }
        Ok(removed)
    }
}
