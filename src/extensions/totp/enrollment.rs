//! Enrollment: password again, then the key is shown once, then one correct code, then the
//! credential and ten recovery codes are stored (docs/extensions.md).

use super::code;
use super::entities::UserTotpEnrollment;
use super::keys::SealedKey;
use super::record::{generate_recovery_codes, SecondFactors, TotpCredential};
use super::SECOND_FACTOR_NAME;
use crate::crypto;
use crate::flows::{seconds, ActionResult, Entity, Failure, Invocation, Values};
use crate::ports::StorageError;
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::Value;
use zeroize::Zeroizing;

const INVALID: &str = "invalid_user_totp_enrollment_token";

impl Server {
    async fn validate_totp_enrollment(
        &self,
        session_id: &str,
        token: &str,
    ) -> Result<UserTotpEnrollment, Failure> {
        let (enrollment, _) = self
            .validate_user_entity_token::<UserTotpEnrollment>(token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        if enrollment.session_id != session_id {
            return Err(Failure::Code("session_mismatch"));
        }
        Ok(enrollment)
    }

    fn enrollment_values(enrollment: &UserTotpEnrollment) -> Values {
        let mut values = Values::new();
        values.insert("user_totp_enrollment".into(), enrollment.model());
        values
    }

    pub(crate) async fn create_user_totp_enrollment(&self, session_token: &str) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        if let Some(stored) = self.read_second_factors(&user.id).await? {
            if stored.record.totp.is_some() {
                return Err(Failure::Code("totp_already_enabled"));
            }
        }
        let secret = crypto::generate_secret();
        let enrollment = UserTotpEnrollment {
            id: crypto::generate_id(),
            user_id: session.user_id.clone(),
            session_id: session.id.clone(),
            secret_hash: crypto::hash_secret(&secret),
            user_identity_verified: false,
            key: SealedKey::default(),
            totp_code_verified: false,
            verified_step: 0,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&enrollment).await?;
        let mut values = Self::enrollment_values(&enrollment);
        values.insert(
            "user_totp_enrollment_token".into(),
            crypto::format_token(&enrollment.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_user_totp_enrollment(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let enrollment = self.validate_totp_enrollment(&session.id, token).await?;
        Ok(Self::enrollment_values(&enrollment))
    }

    pub(crate) async fn delete_user_totp_enrollment(
        &self,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let enrollment = self.validate_totp_enrollment(&session.id, token).await?;
        self.delete_entity_on_request(&UserTotpEnrollment::key_for(&enrollment.id), INVALID)
            .await
    }

    pub(crate) async fn verify_user_totp_enrollment_user_password(
        &self,
        session_token: &str,
        token: &str,
        password: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let enrollment = self.validate_totp_enrollment(&session.id, token).await?;
        if enrollment.user_identity_verified {
            return Err(Failure::Code("user_identity_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        let config = self.totp_config()?;
        let mut key = Zeroizing::new([0u8; code::KEY_SIZE]);
        crypto::random_bytes(key.as_mut_slice());
        let sealed = config.keys.seal(&enrollment.user_id, key.as_slice());
        self.update_entity_flag::<UserTotpEnrollment>(
            &enrollment.id,
            |e| e.user_identity_verified,
            |e| {
                e.user_identity_verified = true;
                e.key = sealed;
            },
        )
        .await?;
        let mut values = Values::new();
        values.insert("totp_key".into(), code::base32(key.as_slice()).into());
        values.insert(
            "totp_key_uri".into(),
            code::otpauth_uri(&config.issuer, &user.email_address, key.as_slice()).into(),
        );
        Ok(values)
    }

    pub(crate) async fn verify_user_totp_enrollment_totp_code(
        &self,
        session_token: &str,
        token: &str,
        totp_code: &str,
    ) -> ActionResult {
        let session = self.require_session(session_token).await?;
        let enrollment = self.validate_totp_enrollment(&session.id, token).await?;
        if !enrollment.user_identity_verified {
            return Err(Failure::Code("user_identity_not_verified"));
        }
        if enrollment.totp_code_verified {
            return Err(Failure::Code("totp_code_already_verified"));
        }
        self.consume_token(Bucket::VerifySecondFactor, &enrollment.user_id)
            .await?;
        let key = self
            .totp_config()?
            .keys
            .open(&enrollment.user_id, &enrollment.key)
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let step = code::verify_code(&key, totp_code, code::step_at(self.now()), -1)
            .ok_or(Failure::Code("incorrect_totp_code"))?;
        self.update_entity_flag::<UserTotpEnrollment>(
            &enrollment.id,
            |e| e.totp_code_verified,
            |e| {
                e.totp_code_verified = true;
                e.verified_step = step;
            },
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_user_totp_enrollment(
        &self,
        invocation: &Invocation,
        session_token: &str,
        token: &str,
    ) -> ActionResult {
        let (session, user) = self.require_session_and_user(session_token).await?;
        let enrollment = self.validate_totp_enrollment(&session.id, token).await?;
        if !enrollment.totp_code_verified {
            return Err(Failure::Code("totp_code_not_verified"));
        }
        // Spend the one-time enrollment first: of concurrent completes, one gets past here.
        match self
            .ports
            .main_storage
            .delete(&UserTotpEnrollment::key_for(&enrollment.id))
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code(INVALID)),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "failed to delete the TOTP enrollment: {e}"
                )))
            }
        }
        let now = seconds(self.now());
        let totp = TotpCredential {
            key: enrollment.key.clone(),
            enabled_at: now,
            last_used_step: enrollment.verified_step,
        };
        let (mut codes, stored_codes) = generate_recovery_codes(&enrollment.user_id);
        let record = match self.read_second_factors(&enrollment.user_id).await? {
            Some(stored) if stored.record.totp.is_some() => {
                return Err(Failure::Code("totp_already_enabled"))
            }
            // The record exists without TOTP only while the user has passkeys: their recovery
            // codes stay, and none are issued.
            Some(stored) => {
                let record = SecondFactors {
                    totp: Some(totp),
                    ..stored.record
                };
                self.update_second_factors(&enrollment.user_id, record.clone(), stored.counter)
                    .await?;
                codes.clear();
                record
            }
            None => {
                let mut record = SecondFactors {
                    totp: Some(totp),
                    recovery_codes: stored_codes,
                    recovery_codes_created_at: now,
                };
                if let Some(totp) = &mut record.totp {
                    totp.key = self
                        .totp_config()?
                        .keys
                        .reseal_for_write(&enrollment.user_id, &totp.key);
                }
                self.add_second_factors(&enrollment.user_id, &record)
                    .await?;
                record
            }
        };
        if let Err(e) = self
            .email_sender_for(Some(&user))
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
        values.insert(
            "user_second_factors".into(),
            self.second_factors_model(&enrollment.user_id, Some(&record))
                .await?,
        );
        values.insert(
            "recovery_codes".into(),
            Value::Array(codes.into_iter().map(Value::from).collect()),
        );
        Ok(values)
    }
}
