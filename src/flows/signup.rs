//! Sign-up (spec §3.1): an email address, a verification code, a password, then a user and a session.

use super::{
    is_valid_email_address, seconds, timestamp, user_store_failure, ActionResult, Entity, Failure,
    Invocation, NewPasswordHash, TokenError, Values,
};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use serde_json::{json, Value};

const INVALID: &str = "invalid_signup_token";

/// A pending sign-up, stored under `aaab.<id>` for 20 minutes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Signup {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub email_address: String,
    pub email_address_verification_code: String,
    pub email_address_verified: bool,
    pub password: NewPasswordHash,
    pub password_set: bool,
    pub created_at: i64,
}

impl Entity for Signup {
    const KEY_PREFIX: &'static str = "aaab.";
    const LIFETIME: Millis = 20 * 60 * 1000;
    const EXPIRED_AT_BOUNDARY: bool = true;

    fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            secret_hash: r.byte_vec()?,
            email_address: r.string()?,
            email_address_verification_code: r.string()?,
            email_address_verified: r.bool()?,
            password: NewPasswordHash {
                hash: r.byte_vec()?,
                algorithm_id: r.string()?,
                salt: r.byte_vec()?,
            },
            password_set: r.bool()?,
            created_at: r.int64()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .bytes(&self.secret_hash)
            .string(&self.email_address)
            .string(&self.email_address_verification_code)
            .bool(self.email_address_verified)
            .bytes(&self.password.hash)
            .string(&self.password.algorithm_id)
            .bytes(&self.password.salt)
            .bool(self.password_set)
            .int64(self.created_at)
            .finish()
    }

    super::entity_accessors!();
}

impl Signup {
    fn model(&self) -> Value {
        json!({
            "id": self.id,
            "unregistered_user_id": "",
            "email_address": self.email_address,
            "email_address_verified": self.email_address_verified,
            "password_set": self.password_set,
            "created_at": timestamp(self.created_at),
            "expires_at": timestamp(self.created_at + Self::LIFETIME / 1000),
        })
    }
}

impl Server {
    async fn validate_signup(&self, token: &str) -> Result<Signup, Failure> {
        self.validate_entity_token::<Signup>(token)
            .await
            .map_err(|e: TokenError| e.into_failure(INVALID))
    }

    pub(crate) async fn create_signup(&self, email_address: &str) -> ActionResult {
        if !is_valid_email_address(email_address) {
            return Err(Failure::Code("invalid_email_address"));
        }
        match self
            .ports
            .user_store
            .get_user_by_email_address(email_address)
            .await
        {
            Ok(_) => return Err(Failure::Code("email_address_already_used")),
            Err(UserStoreError::UserNotFound) => {}
            Err(e) => return Err(user_store_failure("failed to get user by email address", e)),
        }
        if !self.is_email_address_allowed(email_address).await? {
            return Err(Failure::Code("email_address_not_allowed"));
        }
        self.check_tokens(Bucket::VerifyEmailCode, email_address)
            .await?;
        self.consume_send_email_tokens(email_address).await?;

        let secret = crypto::generate_secret();
        let signup = Signup {
            id: crypto::generate_id(),
            secret_hash: crypto::hash_secret(&secret),
            email_address: email_address.to_string(),
            email_address_verification_code: crypto::generate_email_address_verification_code(),
            email_address_verified: false,
            password: NewPasswordHash::default(),
            password_set: false,
            created_at: seconds(self.now()),
        };
        self.store_new_entity(&signup).await?;
        self.email_sender_for(None)
            .send_signup_email_address_verification_code(
                email_address,
                &signup.email_address_verification_code,
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to send verification code: {e}")))?;

        let mut values = Values::new();
        values.insert("signup".into(), signup.model());
        values.insert(
            "signup_token".into(),
            crypto::format_token(&signup.id, &secret).into(),
        );
        Ok(values)
    }

    pub(crate) async fn get_signup(&self, signup_token: &str) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        let mut values = Values::new();
        values.insert("signup".into(), signup.model());
        Ok(values)
    }

    pub(crate) async fn delete_signup(&self, signup_token: &str) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        self.delete_entity_on_request(&Signup::key_for(&signup.id), INVALID)
            .await
    }

    pub(crate) async fn send_signup_email_address_verification_code(
        &self,
        signup_token: &str,
    ) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        if signup.email_address_verified {
            return Err(Failure::Code("email_address_already_verified"));
        }
        self.check_tokens(Bucket::VerifyEmailCode, &signup.email_address)
            .await?;
        self.consume_send_email_tokens(&signup.email_address)
            .await?;
        self.email_sender_for(None)
            .send_signup_email_address_verification_code(
                &signup.email_address,
                &signup.email_address_verification_code,
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to send verification code: {e}")))?;
        Ok(Values::new())
    }

    pub(crate) async fn verify_signup_email_address_verification_code(
        &self,
        signup_token: &str,
        code: &str,
    ) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        if signup.email_address_verified {
            return Err(Failure::Code("email_address_already_verified"));
        }
        self.consume_token(Bucket::VerifyEmailCode, &signup.email_address)
            .await?;
        if !crypto::constant_time_eq(
            signup.email_address_verification_code.as_bytes(),
            code.as_bytes(),
        ) {
            return Err(Failure::Code("incorrect_email_address_verification_code"));
        }
        self.update_entity_flag::<Signup>(
            &signup.id,
            |s| s.email_address_verified,
            |s| s.email_address_verified = true,
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn set_signup_password(
        &self,
        invocation: &Invocation,
        signup_token: &str,
        password: &str,
    ) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        if !signup.email_address_verified {
            return Err(Failure::Code("email_address_not_verified"));
        }
        if signup.password_set {
            return Err(Failure::Code("password_already_set"));
        }
        self.check_new_password(password).await?;
        self.set_entity_password::<Signup>(
            invocation,
            &signup.id,
            password,
            |s| s.password_set,
            |s, new_hash| {
                s.password = new_hash;
                s.password_set = true;
            },
        )
        .await?;
        Ok(Values::new())
    }

    pub(crate) async fn complete_signup(
        &self,
        invocation: &Invocation,
        signup_token: &str,
    ) -> ActionResult {
        let signup = self.validate_signup(signup_token).await?;
        if !signup.email_address_verified {
            return Err(Failure::Code("email_address_not_verified"));
        }
        if !signup.password_set {
            return Err(Failure::Code("password_not_set"));
        }
        let key = Signup::key_for(&signup.id);
        if !self.is_email_address_allowed(&signup.email_address).await? {
            self.delete_entity_logging_errors(invocation, &key).await;
            return Err(Failure::Code(INVALID));
        }
        let user = match self
            .ports
            .user_store
            .create_user(
                &signup.email_address,
                &signup.password.hash,
                &signup.password.algorithm_id,
                &signup.password.salt,
            )
            .await
        {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("internal_conflict")),
            Err(UserStoreError::EmailAddressAlreadyUsed) => {
                self.delete_entity_logging_errors(invocation, &key).await;
                return Err(Failure::Code(INVALID));
            }
            Err(e) => return Err(user_store_failure("failed to create user", e)),
        };
        self.delete_entity_logging_errors(invocation, &key).await;

        self.sign_in(invocation, &user, |e| {
            Failure::LoggedCode(
                "session_not_created",
                format!("failed to create session: {e}"),
            )
        })
        .await
    }
}
