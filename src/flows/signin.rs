//! Sign-in (spec §3.2): email address, password, then a session.

use super::{
    is_valid_email_address, seconds, timestamp, user_store_failure, ActionResult, Entity, Failure,
    Invocation, UserEntity, Values,
};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, StorageError, User, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

const INVALID: &str = "invalid_signin_token";

/// A sign-in attempt, stored under `aaac.<id>` for 10 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signin {
    pub id: String,
    pub user_id: String,
    pub secret_hash: Vec<u8>,
    pub user_first_factor_verified: bool,
    pub user_password_hash_counter: i32,
    pub user_disabled_counter: i32,
    pub created_at: i64,
    /// The TOTP extension's two trailing items (docs/extensions.md); `None` for signins created
    /// with it off, which are encoded exactly as Faroe's.
    pub second_factor: Option<SigninSecondFactor>,
    /// The passkeys extension's third trailing item: the challenge of
    /// `get_signin_passkey_credential_request_options` (32 bytes; empty with passkeys off).
    pub passkey_challenge: Vec<u8>,
}

/// The second-factor state of a signin (TOTP extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SigninSecondFactor {
    /// Snapshot at `create_signin`: the user had a second factor then.
    pub required: bool,
    pub verified: bool,
}

impl Entity for Signin {
    const KEY_PREFIX: &'static str = "aaac.";
    const LIFETIME: Millis = 10 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = true;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            secret_hash: r.byte_vec()?,
            user_first_factor_verified: r.bool()?,
            user_password_hash_counter: r.int32()?,
            user_disabled_counter: r.int32()?,
            created_at: r.int64()?,
            second_factor: if r.is_at_end() {
                None
            } else {
                Some(SigninSecondFactor {
                    required: r.bool()?,
                    verified: r.bool()?,
                })
            },
            passkey_challenge: if r.is_at_end() {
                Vec::new()
            } else {
                r.byte_vec()?
            },
        })
    }

    fn encode(&self) -> Vec<u8> {
        let writer = SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .bytes(&self.secret_hash)
            .bool(self.user_first_factor_verified)
            .int32(self.user_password_hash_counter)
            .int32(self.user_disabled_counter)
            .int64(self.created_at);
        match self.second_factor {
            None => writer.finish(),
            Some(f) if self.passkey_challenge.is_empty() => {
                writer.bool(f.required).bool(f.verified).finish()
            }
            Some(f) => writer
                .bool(f.required)
                .bool(f.verified)
                .bytes(&self.passkey_challenge)
                .finish(),
        }
    }

    super::entity_accessors!();
}

impl UserEntity for Signin {
    fn user_id(&self) -> &str {
        &self.user_id
    }
    fn counters_match(&self, user: &User) -> bool {
        self.user_password_hash_counter == user.password_hash_counter
            && self.user_disabled_counter == user.disabled_counter
    }
}

impl Signin {
    /// Faroe's model; with a second-factor extension on (TOTP or passkeys), two more members
    /// after `user_first_factor_verified`.
    fn model(&self, second_factors_on: bool) -> Value {
        if !second_factors_on {
            return json!({
                "id": self.id,
                "user_id": self.user_id,
                "user_first_factor_verified": self.user_first_factor_verified,
                "created_at": timestamp(self.created_at),
                "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
            });
        }
        let second_factor = self.second_factor.unwrap_or(SigninSecondFactor {
            required: false,
            verified: false,
        });
        json!({
            "id": self.id,
            "user_id": self.user_id,
            "user_first_factor_verified": self.user_first_factor_verified,
            "user_second_factor_required": second_factor.required,
            "user_second_factor_verified": second_factor.verified,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

impl Server {
    async fn validate_signin(&self, token: &str) -> Result<(Signin, User), Failure> {
        self.validate_user_entity_token::<Signin>(token)
            .await
            .map_err(|e| e.into_failure(INVALID))
    }

    pub(crate) async fn create_signin(&self, user_email_address: &str) -> ActionResult {
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
        // TOTP / passkeys extensions: snapshot whether this sign-in needs a second factor.
        let second_factor = if self.extensions.second_factors_on() {
            Some(SigninSecondFactor {
                required: self.has_second_factor(&user.id).await?,
                verified: false,
            })
        } else {
            None
        };
        let mut passkey_challenge = Vec::new();
        if self.extensions.passkeys.is_some() {
            passkey_challenge = vec![0u8; crate::webauthn::CHALLENGE_LEN];
            crypto::random_bytes(&mut passkey_challenge);
        }
        let secret = crypto::generate_secret();
        let signin = Signin {
            id: crypto::generate_id(),
            user_id: user.id,
            secret_hash: crypto::hash_secret(&secret),
            user_first_factor_verified: false,
            user_password_hash_counter: user.password_hash_counter,
            user_disabled_counter: user.disabled_counter,
            created_at: seconds(self.now()),
            second_factor,
            passkey_challenge,
        };
        self.store_new_entity(&signin).await?;
        let mut values = Values::new();
        values.insert(
            "signin".into(),
            signin.model(self.extensions.second_factors_on()),
        );
        values.insert(
            "signin_token".into(),
            crypto::format_token(&signin.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_signin(&self, signin_token: &str) -> ActionResult {
        let (signin, _) = self.validate_signin(signin_token).await?;
        let mut values = Values::new();
        values.insert(
            "signin".into(),
            signin.model(self.extensions.second_factors_on()),
        );
        Ok(values)
    }

    pub(crate) async fn delete_signin(&self, signin_token: &str) -> ActionResult {
        let (signin, _) = self.validate_signin(signin_token).await?;
        self.delete_entity_on_request(&Signin::key_for(&signin.id), INVALID)
            .await
    }

    pub(crate) async fn verify_signin_user_password(
        &self,
        invocation: &Invocation,
        signin_token: &str,
        password: &str,
    ) -> ActionResult {
        let (signin, user) = self.validate_signin(signin_token).await?;
        if signin.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_already_verified"));
        }
        self.consume_token(Bucket::VerifyUserPassword, &user.id)
            .await?;
        self.verify_user_password(&user, password).await?;
        // PASSWORD_REHASH_ON_SIGNIN (src/extensions/password_rehash.rs); off, nothing changes.
        if self
            .rehash_password_on_signin(invocation, &user, password)
            .await
        {
            self.mark_signin_first_factor_after_rehash(&signin.id, user.password_hash_counter)
                .await?;
            return Ok(Values::new());
        }
        self.update_entity_flag::<Signin>(
            &signin.id,
            |s| s.user_first_factor_verified,
            |s| s.user_first_factor_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_signin(
        &self,
        invocation: &Invocation,
        signin_token: &str,
    ) -> ActionResult {
        let (signin, user) = self.validate_signin(signin_token).await?;
        if !signin.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_not_verified"));
        }
        // TOTP / passkeys extensions: the second factors are read again, so a second factor enabled after
        // `create_signin` counts too; the signin is kept for the second factor's verification.
        if self.extensions.second_factors_on()
            && !signin.second_factor.is_some_and(|f| f.verified)
            && self.has_second_factor(&user.id).await?
        {
            return Err(Failure::Code("user_second_factor_not_verified"));
        }
        // FIX-10: spend the one-time signin before creating the session, so exactly one of
        // several concurrent completes wins.
        match self
            .ports
            .main_storage
            .delete(&Signin::key_for(&signin.id))
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code(INVALID)),
            Err(e) => return Err(Failure::Internal(format!("failed to delete signin: {e}"))),
        }
        self.sign_in(invocation, &user, |e| {
            Failure::Internal(format!("failed to create session: {e}"))
        })
        .await
    }
}
