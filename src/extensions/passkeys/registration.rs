//! Registration: creation options with a fresh challenge, the password (or a TOTP code) again,
//! then the browser's credential is verified and stored (docs/extensions.md).

use super::entities::UserPasskeyRegistration;
use super::record::{CredentialIndexEntry, PasskeyRecord, USER_HANDLE_KEY, USER_HANDLE_LEN};
use super::{normalize_passkey_name, PASSKEY_LIMIT, SECOND_FACTOR_NAME};
use crate::crypto;
use crate::extensions::totp::record::{generate_recovery_codes, SecondFactors};
use crate::flows::{seconds, ActionResult, Entity, Failure, Invocation, Values};
use crate::ports::{StorageError, User};
use crate::rate_limit::Bucket;
use crate::server::Server;
use crate::webauthn::{self, CredentialDescriptor};
use serde_json::Value;

const INVALID: &str = "invalid_user_passkey_registration_token";

impl Server {
    async fn validate_passkey_registration(
        &self,
        session_id: &str,
        token: &str,
    ) -> Result<UserPasskeyRegistration, Failure> {
        let (registration, _) = self
            .validate_user_entity_token::<UserPasskeyRegistration>(token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        if registration.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(registration)
    }

    fn registration_values(registration: &UserPasskeyRegistration) -> Values {
        let mut values = Values::new();
        values.insert("user_passkey_registration".into(), registration.model());
        values
    }

    /// The user's WebAuthn user handle (32 random bytes), created on first use. Of two first
    /// uses, the second reads the first's.
    pub(crate) async fn passkey_user_handle(&self, user_id: &str) -> Result<Vec<u8>, Failure> {
        let storage = &self.ports.account_storage;
        match storage.get(user_id, USER_HANDLE_KEY).await {
            Ok(entry) => return Ok(entry.value),
            Err(StorageError::NotFound) => {}
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "account storage get failed: {e}"
                )))
            }
        }
        let mut handle = vec![0u8; USER_HANDLE_LEN];
        crypto::random_bytes(&mut handle);
        match storage
            .add(user_id, USER_HANDLE_KEY, handle.clone(), 0)
            .await
        {
            Ok(()) => Ok(handle),
            Err(StorageError::AlreadyExists) => storage
                .get(user_id, USER_HANDLE_KEY)
                .await
                .map(|entry| entry.value)
                .map_err(|e| Failure::Internal(format!("account storage get failed: {e}"))),
            Err(e) => Err(Failure::Internal(format!(
                "account storage add failed: {e}"
            ))),
        }
    }

    pub(crate) async fn create_user_passkey_registration(
        &self,
        session_token: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let passkeys = self.list_passkeys(&user.id).await?;
        if passkeys.len() >= PASSKEY_LIMIT {
            return Err(Failure::Code("passkey_limit_reached"));
        }
        let handle = self.passkey_user_handle(&user.id).await?;
        let mut challenge = vec![0u8; webauthn::CHALLENGE_LEN];
        crypto::random_bytes(&mut challenge);
        let secret = crypto::generate_secret();
        let registration = UserPasskeyRegistration {
            id: crypto::generate_id(),
            user_id: user.id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            challenge,
            user_identity_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        let display_name = if user.display_name.is_empty() {
            &user.email_address
        } else {
            &user.display_name
        };
        let options = self.passkeys_config()?.relying_party.creation_options(
            &registration.challenge,
            &webauthn::User {
                id: &handle,
                name: &user.email_address,
                display_name,
            },
            passkeys
                .iter()
                .map(|p| CredentialDescriptor::new(&p.record.credential_id, &p.record.transports))
                .collect(),
        );
        let options = serde_json::to_string(&options)
            .map_err(|e| Failure::Internal(format!("failed to encode creation options: {e}")))?;
        self.store_new_entity(&registration).await?;
        let mut values = Self::registration_values(&registration);
        values.insert(
            "user_passkey_registration_token".into(),
            crypto::format_token(&registration.id, &secret).into(),
        );
        values.insert("credential_creation_options".into(), options.into());
        Ok(values)
    }

    pub(crate) async fn get_user_passkey_registration(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let registration = self
            .validate_passkey_registration(&session.id, token)
            .await?;
        Ok(Self::registration_values(&registration))
    }

    pub(crate) async fn delete_user_passkey_registration(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let registration = self
            .validate_passkey_registration(&session.id, token)
            .await?;
        self.delete_entity_on_request(&UserPasskeyRegistration::key_for(&registration.id), INVALID)
            .await
    }

    pub(crate) async fn verify_user_passkey_registration_user_password(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let registration = self
            .validate_passkey_registration(&session.id, token)
            .await?;
        if registration.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        self.mark_passkey_registration_verified(&registration.id)
            .await
    }

    pub(crate) async fn verify_user_passkey_registration_totp_code(
        &self,
        session_token: &str,
        token: &str,
        totp_code: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let registration = self
            .validate_passkey_registration(&session.id, token)
            .await?;
        if registration.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.use_totp_code(&user.id, totp_code).await?;
        self.mark_passkey_registration_verified(&registration.id)
            .await
    }

    async fn mark_passkey_registration_verified(&self, id: &str) -> ActionResult {
        self.update_entity_flag::<UserPasskeyRegistration>(
            id,
            |r| r.user_identity_verified,
            |r| r.user_identity_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_passkey_registration(
        &self,
        invocation: &Invocation,
        session_token: &str,
        token: &str,
        passkey_name: &str,
        credential: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let registration = self
            .validate_passkey_registration(&session.id, token)
            .await?;
        if !registration.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        let name =
            normalize_passkey_name(passkey_name).ok_or(Failure::Code("invalid_passkey_name"))?;
        // Spend the one-time registration first: of concurrent completes, one gets past here.
        match self
            .ports
            .main_storage
            .delete(&UserPasskeyRegistration::key_for(&registration.id))
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code(INVALID)),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "failed to delete the passkey registration: {e}"
                )))
            }
        }
        let registered = self
            .passkeys_config()?
            .relying_party
            .verify_registration(&registration.challenge, credential)
            .map_err(|e| {
                Failure::LoggedCode(
                    "invalid_passkey_credential",
                    format!("passkey registration refused: {e}"),
                )
            })?;
        let passkeys = self.list_passkeys(&user.id).await?;
        if passkeys.len() >= PASSKEY_LIMIT {
            return Err(Failure::Code("passkey_limit_reached"));
        }
        let stored_second_factors = self.read_second_factors(&user.id).await?;
        let first_second_factor = !self
            .record_has_second_factor(&user.id, stored_second_factors.as_ref().map(|s| &s.record))
            .await?;

        let now = seconds(self.now());
        let passkey = PasskeyRecord {
            id: crypto::generate_id(),
            credential_id: registered.id,
            public_key: registered.public_key,
            algorithm: registered.algorithm,
            sign_count: registered.sign_count,
            transports: registered.transports,
            backup_eligible: registered.backup_eligible,
            backed_up: registered.backed_up,
            aaguid: registered.aaguid,
            name,
            created_at: now,
            last_used_at: 0,
        };
        // 1. The credential index, create-if-absent: a credential id is registered once, across
        // all users.
        let index_key = CredentialIndexEntry::key_for(&passkey.credential_id);
        let index_entry = CredentialIndexEntry {
            user_id: user.id.clone(),
            passkey_id: passkey.id.clone(),
        };
        match self
            .ports
            .main_storage
            .add(&index_key, index_entry.encode(), 0)
            .await
        {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => {
                return Err(Failure::Code("passkey_already_registered"))
            }
            Err(e) => return Err(Failure::Internal(format!("main storage add failed: {e}"))),
        }
        // 2. The passkey record, then 3. a compare-and-set on the second_factors record (created
        // with recovery codes for the first second factor), which serializes every change of a
        // user's second factors: of two registrations racing for the last free place, or a
        // registration racing a removal, one loses and is undone.
        let recovery_codes = match self
            .store_registered_passkey(
                invocation,
                &user,
                &passkey,
                stored_second_factors,
                first_second_factor,
            )
            .await
        {
            Ok(codes) => codes,
            Err(failure) => {
                self.delete_credential_index_logging_errors(invocation, &passkey.credential_id)
                    .await;
                return Err(failure);
            }
        };
        if let Err(e) = self
            .ports
            .email_sender
            .send_user_second_factor_added_notification(
                &user.email_address,
                &user.display_name,
                SECOND_FACTOR_NAME,
                now * 1000,
            )
            .await
        {
            self.log_failed_notification(invocation, "second factor added notification", e);
        }
        let mut values = Values::new();
        values.insert("user_passkey".into(), passkey.model(&user.id));
        values.insert(
            "recovery_codes".into(),
            Value::Array(recovery_codes.into_iter().map(Value::from).collect()),
        );
        Ok(values)
    }

    /// Steps 2 and 3 of the completion; returns the new recovery codes (none unless this is the
    /// user's first second factor). On failure the passkey record is removed again.
    async fn store_registered_passkey(
        &self,
        invocation: &Invocation,
        user: &User,
        passkey: &PasskeyRecord,
        stored: Option<crate::extensions::totp::StoredSecondFactors>,
        first_second_factor: bool,
    ) -> Result<Vec<String>, Failure> {
        let key = PasskeyRecord::key_for(&passkey.id);
        match self
            .ports
            .account_storage
            .add(&user.id, &key, passkey.encode(), 0)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "account storage add failed: {e}"
                )))
            }
        }
        let (codes, result) = match stored {
            Some(stored) => {
                let mut record = stored.record;
                let mut codes = Vec::new();
                if first_second_factor {
                    let (new_codes, stored_codes) = generate_recovery_codes(&user.id);
                    record.recovery_codes = stored_codes;
                    record.recovery_codes_created_at = passkey.created_at;
                    codes = new_codes;
                }
                let result = self
                    .update_second_factors(&user.id, record, stored.counter)
                    .await;
                (codes, result)
            }
            None => {
                let (codes, stored_codes) = generate_recovery_codes(&user.id);
                let record = SecondFactors {
                    totp: None,
                    recovery_codes: stored_codes,
                    recovery_codes_created_at: passkey.created_at,
                };
                let result = self.add_second_factors(&user.id, &record).await;
                (codes, result)
            }
        };
        if let Err(failure) = result {
            // Undo: the record was just added with counter 0 and nobody else knows its key.
            if let Err(e) = self.ports.account_storage.delete(&user.id, &key, 0).await {
                self.log(
                    invocation,
                    &format!("failed to remove a passkey record after a lost race: {e}"),
                );
            }
            return Err(failure);
        }
        Ok(codes)
    }
}
