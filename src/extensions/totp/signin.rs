//! The second step of a sign-in: a TOTP code or a recovery code, after the password.

use super::code;
use crate::flows::signin::{Signin, SigninSecondFactor};
use crate::flows::{ActionResult, Failure, Values};
use crate::ports::User;
use crate::rate_limit::Bucket;
use crate::server::Server;

const INVALID: &str = "invalid_signin_token";

impl Server {
    /// Validation and the two checks both sign-in verifications start with.
    pub(crate) async fn signin_awaiting_second_factor(
        &self,
        signin_token: &str,
    ) -> Result<(Signin, User), Failure> {
        let (signin, user) = self
            .validate_user_entity_token::<Signin>(signin_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        if !signin.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_not_verified"));
        }
        if signin.second_factor.is_some_and(|f| f.verified) {
            return Err(Failure::Code("user_second_factor_already_verified"));
        }
        Ok((signin, user))
    }

    /// The last step of both: mark the signin's second factor verified (compare-and-set).
    pub(crate) async fn mark_signin_second_factor_verified(&self, signin: &Signin) -> ActionResult {
        self.update_entity_flag::<Signin>(
            &signin.id,
            |s| s.second_factor.is_some_and(|f| f.verified),
            |s| {
                let required = s.second_factor.is_some_and(|f| f.required);
                s.second_factor = Some(SigninSecondFactor {
                    required,
                    verified: true,
                });
            },
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn verify_signin_totp_code(
        &self,
        signin_token: &str,
        totp_code: &str,
    ) -> ActionResult {
        let (signin, user) = self.signin_awaiting_second_factor(signin_token).await?;
        self.use_totp_code(&user.id, totp_code).await?;
        self.mark_signin_second_factor_verified(&signin).await
    }

    /// Checks a code of the user's TOTP and stores its step (TOTP's rules: the verify-second-
    /// factor bucket, the window, no replay, a compare-and-set on the record). Shared by sign-in
    /// and the passkeys extension's identity verification.
    pub(crate) async fn use_totp_code(
        &self,
        user_id: &str,
        totp_code: &str,
    ) -> Result<(), Failure> {
        let stored = self.read_second_factors(user_id).await?;
        let Some((mut record, counter, totp)) = stored.and_then(|s| {
            let totp = s.record.totp.clone()?;
            Some((s.record, s.counter, totp))
        }) else {
            return Err(Failure::Code("totp_not_enabled"));
        };
        self.consume_token(Bucket::VerifySecondFactor, user_id)
            .await?;
        let key = self
            .totp_config()?
            .keys
            .open(user_id, &totp.key)
            .map_err(|e| Failure::Internal(e.to_string()))?;
        let step = code::verify_code(
            &key,
            totp_code,
            code::step_at(self.now()),
            totp.last_used_step,
        )
        .ok_or(Failure::Code("incorrect_totp_code"))?;
        // The step is stored by a compare-and-set on the record read above: of two requests with
        // the same code, one writes and the other loses (internal_conflict) or, reading later,
        // finds the step used (incorrect_totp_code).
        if let Some(totp) = &mut record.totp {
            totp.last_used_step = step;
        }
        self.update_second_factors(user_id, record, counter).await
    }

    pub(crate) async fn verify_signin_recovery_code(
        &self,
        signin_token: &str,
        recovery_code: &str,
    ) -> ActionResult {
        let (signin, user) = self.signin_awaiting_second_factor(signin_token).await?;
        let stored = match self.read_second_factors(&user.id).await? {
            Some(stored)
                if self
                    .record_has_second_factor(&user.id, Some(&stored.record))
                    .await? =>
            {
                stored
            }
            _ => return Err(Failure::Code("second_factor_not_enabled")),
        };
        self.consume_token(Bucket::VerifySecondFactor, &user.id)
            .await?;
        let mut record = stored.record;
        let index = record
            .find_unused_recovery_code(&user.id, recovery_code)
            .ok_or(Failure::Code("incorrect_recovery_code"))?;
        record.recovery_codes[index].used = true;
        self.update_second_factors(&user.id, record, stored.counter)
            .await?;
        self.mark_signin_second_factor_verified(&signin).await
    }
}
