//! Managing second factors from a session: status, recovery-code regeneration and TOTP removal
//! (both with the password again), and the operator's removal by user id.

use super::entities::{
    ConfirmationKind, PasswordConfirmation, UserRecoveryCodeRegeneration, UserTotpDeletion,
};
use super::record::{generate_recovery_codes, SecondFactors, RECORD_KEY};
use super::SECOND_FACTOR_NAME;
use crate::crypto;
use crate::extensions::passkeys::SECOND_FACTOR_NAME as PASSKEY_SECOND_FACTOR_NAME;
use crate::flows::{seconds, ActionResult, Entity, Failure, Invocation, Values};
use crate::ports::{StorageError, User, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::Value;
use std::marker::PhantomData;

const INVALID_REGENERATION: &str = "invalid_user_recovery_code_regeneration_token";
const INVALID_DELETION: &str = "invalid_user_totp_deletion_token";

/// How often the operator's removal re-reads a record that changed under it before giving up.
const OPERATOR_ATTEMPTS: usize = 3;

impl Server {
    async fn second_factors_values(
        &self,
        user_id: &str,
        record: Option<&SecondFactors>,
    ) -> Result<Values, Failure> {
        let mut values = Values::new();
        values.insert(
            "user_second_factors".into(),
            self.second_factors_model(user_id, record).await?,
        );
        Ok(values)
    }

    // ---- the password-confirmed entities, shared by regeneration and deletion ----

    async fn validate_confirmation<K: ConfirmationKind>(
        &self,
        session_id: &str,
        token: &str,
        invalid: &'static str,
    ) -> Result<PasswordConfirmation<K>, Failure> {
        let (entity, _) = self
            .validate_user_entity_token::<PasswordConfirmation<K>>(token)
            .await
            .map_err(|e| e.into_failure(invalid))?;
        if entity.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(entity)
    }

    async fn create_confirmation<K: ConfirmationKind>(
        &self,
        session_id: &str,
        user: &User,
        model_name: &str,
    ) -> ActionResult {
        let secret = crypto::generate_secret();
        let entity = PasswordConfirmation::<K> {
            id: crypto::generate_id(),
            user_id: user.id.clone(),
            session_id: session_id.to_string(),
            secret_hash: crypto::hash_secret(&secret),
            user_identity_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
            kind: PhantomData,
        };
        self.store_new_entity(&entity).await?;
        let mut values = Values::new();
        values.insert(model_name.into(), entity.model());
        values.insert(
            format!("{model_name}_token"),
            crypto::format_token(&entity.id, &secret).into(),
        );
        Ok(values)
    }

    async fn get_confirmation<K: ConfirmationKind>(
        &self,
        session_token: &str,
        token: &str,
        invalid: &'static str,
        model_name: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let entity = self
            .validate_confirmation::<K>(&session.id, token, invalid)
            .await?;
        let mut values = Values::new();
        values.insert(model_name.into(), entity.model());
        Ok(values)
    }

    async fn delete_confirmation<K: ConfirmationKind>(
        &self,
        session_token: &str,
        token: &str,
        invalid: &'static str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let entity = self
            .validate_confirmation::<K>(&session.id, token, invalid)
            .await?;
        self.delete_entity_on_request(&PasswordConfirmation::<K>::key_for(&entity.id), invalid)
            .await
    }

    async fn verify_confirmation_password<K: ConfirmationKind>(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
        invalid: &'static str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let entity = self
            .validate_confirmation::<K>(&session.id, token, invalid)
            .await?;
        if entity.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.update_entity_flag::<PasswordConfirmation<K>>(
            &entity.id,
            |e| e.user_identity_verified,
            |e| e.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    /// The start of a complete action: validated, verified, and spent (deleted) so that of
    /// concurrent completes only one goes on.
    async fn spend_confirmation<K: ConfirmationKind>(
        &self,
        session_token: &str,
        token: &str,
        invalid: &'static str,
    ) -> Result<(PasswordConfirmation<K>, User), Failure> {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let entity = self
            .validate_confirmation::<K>(&session.id, token, invalid)
            .await?;
        if !entity.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        match self
            .ports
            .main_storage
            .delete(&PasswordConfirmation::<K>::key_for(&entity.id))
            .await
        {
            Ok(()) => Ok((entity, user)),
            Err(StorageError::NotFound) => Err(Failure::Code(invalid)),
            Err(e) => Err(Failure::Internal(format!("failed to delete entity: {e}"))),
        }
    }

    pub(crate) async fn notify_second_factor_removed(
        &self,
        invocation: &Invocation,
        user: &User,
        second_factor: &str,
    ) {
        if let Err(e) = self
            .email_sender_for(Some(user))
            .send_user_second_factor_removed_notification(
                &user.email_address,
                &user.display_name,
                second_factor,
                self.now(),
            )
            .await
        {
            self.log_failed_notification(invocation, "second factor removed notification", e);
        }
    }

    // ---- status ----

    pub(crate) async fn get_user_second_factors(&self, session_token: &str) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let stored = self.read_second_factors(&session.user_id).await?;
        self.second_factors_values(&session.user_id, stored.as_ref().map(|s| &s.record))
            .await
    }

    // ---- recovery-code regeneration ----

    pub(crate) async fn create_user_recovery_code_regeneration(
        &self,
        session_token: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        if !self.has_second_factor(&user.id).await? {
            return Err(Failure::Code("second_factor_not_enabled"));
        }
        self.create_confirmation::<super::entities::RecoveryCodeRegenerationKind>(
            &session.id,
            &user,
            "user_recovery_code_regeneration",
        )
        .await
    }

    pub(crate) async fn get_user_recovery_code_regeneration(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        self.get_confirmation::<super::entities::RecoveryCodeRegenerationKind>(
            session_token,
            token,
            INVALID_REGENERATION,
            "user_recovery_code_regeneration",
        )
        .await
    }

    pub(crate) async fn delete_user_recovery_code_regeneration(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        self.delete_confirmation::<super::entities::RecoveryCodeRegenerationKind>(
            session_token,
            token,
            INVALID_REGENERATION,
        )
        .await
    }

    pub(crate) async fn verify_user_recovery_code_regeneration_user_password(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
    ) -> ActionResult {
        self.verify_confirmation_password::<super::entities::RecoveryCodeRegenerationKind>(
            session_token,
            token,
            password,
            INVALID_REGENERATION,
        )
        .await
    }

    pub(crate) async fn complete_user_recovery_code_regeneration(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let (entity, _): (UserRecoveryCodeRegeneration, _) = self
            .spend_confirmation(session_token, token, INVALID_REGENERATION)
            .await?;
        let stored = match self.read_second_factors(&entity.user_id).await? {
            Some(stored)
                if self
                    .record_has_second_factor(&entity.user_id, Some(&stored.record))
                    .await? =>
            {
                stored
            }
            _ => return Err(Failure::Code("second_factor_not_enabled")),
        };
        let (codes, stored_codes) = generate_recovery_codes(&entity.user_id);
        let record = SecondFactors {
            recovery_codes: stored_codes,
            recovery_codes_created_at: seconds(self.now()),
            ..stored.record
        };
        self.update_second_factors(&entity.user_id, record.clone(), stored.counter)
            .await?;
        let mut values = self
            .second_factors_values(&entity.user_id, Some(&record))
            .await?;
        values.insert(
            "recovery_codes".into(),
            Value::Array(codes.into_iter().map(Value::from).collect()),
        );
        Ok(values)
    }

    // ---- TOTP removal ----

    pub(crate) async fn create_user_totp_deletion(&self, session_token: &str) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let enabled = self
            .read_second_factors(&user.id)
            .await?
            .is_some_and(|s| s.record.totp.is_some());
        if !enabled {
            return Err(Failure::Code("totp_not_enabled"));
        }
        self.create_confirmation::<super::entities::TotpDeletionKind>(
            &session.id,
            &user,
            "user_totp_deletion",
        )
        .await
    }

    pub(crate) async fn get_user_totp_deletion(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        self.get_confirmation::<super::entities::TotpDeletionKind>(
            session_token,
            token,
            INVALID_DELETION,
            "user_totp_deletion",
        )
        .await
    }

    pub(crate) async fn delete_user_totp_deletion(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        self.delete_confirmation::<super::entities::TotpDeletionKind>(
            session_token,
            token,
            INVALID_DELETION,
        )
        .await
    }

    pub(crate) async fn verify_user_totp_deletion_user_password(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
    ) -> ActionResult {
        self.verify_confirmation_password::<super::entities::TotpDeletionKind>(
            session_token,
            token,
            password,
            INVALID_DELETION,
        )
        .await
    }

    pub(crate) async fn complete_user_totp_deletion(
        &self,
        invocation: &Invocation,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let (entity, user): (UserTotpDeletion, _) = self
            .spend_confirmation(session_token, token, INVALID_DELETION)
            .await?;
        let stored = match self.read_second_factors(&entity.user_id).await? {
            Some(stored) if stored.record.totp.is_some() => stored,
            _ => return Err(Failure::Code("totp_not_enabled")),
        };
        let remaining = SecondFactors {
            totp: None,
            ..stored.record
        };
        let other_second_factor = self
            .record_has_second_factor(&entity.user_id, Some(&remaining))
            .await?;
        // SECOND_FACTOR_REQUIRED: the last second factor stays.
        if !other_second_factor && self.extensions.second_factor_required {
            return Err(Failure::Code("second_factor_required"));
        }
        // The update (or delete) is a compare-and-set on the record, which every passkey
        // registration and removal also writes: of a TOTP removal and a passkey removal racing
        // for the last factor, one loses with internal_conflict.
        let remaining = if other_second_factor {
            self.update_second_factors(&entity.user_id, remaining.clone(), stored.counter)
                .await?;
            Some(remaining)
        } else {
            // No second factor left: the recovery codes go with the record.
            match self
                .ports
                .account_storage
                .delete(&entity.user_id, RECORD_KEY, stored.counter)
                .await
            {
                Ok(()) => None,
                Err(StorageError::NotFound) => return Err(Failure::Code("internal_conflict")),
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "account storage delete failed: {e}"
                    )))
                }
            }
        };
        self.notify_second_factor_removed(invocation, &user, SECOND_FACTOR_NAME)
            .await;
        self.second_factors_values(&entity.user_id, remaining.as_ref())
            .await
    }

    // ---- operator ----

    /// Support's "lost my phone and my codes": removes every second factor of `user_id`.
    pub(crate) async fn delete_user_second_factors(
        &self,
        invocation: &Invocation,
        user_id: &str,
    ) -> ActionResult {
        let user = match self.ports.user_store.get_user(user_id).await {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("user_not_found")),
            Err(e) => return Err(Failure::Internal(format!("failed to get user: {e}"))),
        };
        // Passkeys first (their records and index entries), then the record with TOTP and the
        // recovery codes.
        if self.delete_all_passkeys(invocation, &user.id).await? > 0 {
            self.notify_second_factor_removed(invocation, &user, PASSKEY_SECOND_FACTOR_NAME)
                .await;
        }
        // The record may change under us (a sign-in storing its step): read it again then.
        for _ in 0..OPERATOR_ATTEMPTS {
            let Some(stored) = self.read_second_factors(&user.id).await? else {
                return Ok(Values::new());
            };
            match self
                .ports
                .account_storage
                .delete(&user.id, RECORD_KEY, stored.counter)
                .await
            {
                Ok(()) => {
                    if stored.record.totp.is_some() {
                        self.notify_second_factor_removed(invocation, &user, SECOND_FACTOR_NAME)
                            .await;
                    }
                    return Ok(Values::new());
                }
                Err(StorageError::NotFound) => continue,
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "account storage delete failed: {e}"
                    )))
                }
            }
        }
        Err(Failure::Internal(format!(
            "the second factors record kept changing during {OPERATOR_ATTEMPTS} attempts to delete it"
        )))
    }
}
