//! The Faroe flows, one module each, and the machinery they share (spec §2): entity validation,
//! compare-and-set flag updates, rate-limit mapping, password hashing and the error model.

pub mod deletion;
pub mod email_update;
pub mod password_reset;
pub mod password_update;
pub mod session;
pub mod signin;
pub mod signup;

use crate::crypto;
use crate::encoding::DecodeError;
use crate::password;
use crate::ports::{EmailSender, LanguageHints, Millis, StorageError, User, UserStoreError};
use crate::rate_limit::{self, Bucket, Decision, RateLimitError};
use crate::server::Server;
use serde_json::{Map, Value};
use std::rc::Rc;

/// The `values` object of a successful result, members in spec order.
pub type Values = Map<String, Value>;

/// How an action ends when it does not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A client-visible code that is not logged (`invalid_*`, `rate_limited`, `internal_conflict`, …).
    Code(&'static str),
    /// `internal_error`, logged once with this message.
    Internal(String),
    /// A code that is logged too (`session_not_created`).
    LoggedCode(&'static str, String),
}

pub type ActionResult = Result<Values, Failure>;

/// The invocation an action runs in: its name and generated id, for logging.
pub struct Invocation {
    pub action: &'static str,
    pub id: String,
}

/// Why an entity or session token was refused.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The token is not valid (maps to the action's `invalid_*_token` code).
    Invalid,
    /// Storage or user-store failure (→ `internal_error`, logged).
    Failed(String),
}

impl TokenError {
    pub(crate) fn into_failure(self, invalid_code: &'static str) -> Failure {
        match self {
            TokenError::Invalid => Failure::Code(invalid_code),
            TokenError::Failed(message) => Failure::Internal(message),
        }
    }
}

impl From<DecodeError> for TokenError {
    fn from(e: DecodeError) -> Self {
        TokenError::Failed(e.to_string())
    }
}

pub(crate) fn seconds(t: Millis) -> i64 {
    t.div_euclid(1000)
}

/// The accessors every entity has, for its `impl Entity` (each record names these fields alike).
macro_rules! entity_accessors {
    () => {
        fn id(&self) -> &str {
            &self.id
        }
        fn secret_hash(&self) -> &[u8] {
            &self.secret_hash
        }
        fn created_at(&self) -> i64 {
            self.created_at
        }
    };
}
pub(crate) use entity_accessors;

/// One of the six stored entities other than sessions (spec §2.2, §6.1).
pub(crate) trait Entity: Sized {
    const KEY_PREFIX: &'static str;
    const LIFETIME: Millis;
    /// True when the entity is already expired at exactly `created_at + LIFETIME` (signup, signin,
    /// reset); false when it expires one instant later (email update, password update, deletion).
    const EXPIRED_AT_BOUNDARY: bool;
    fn decode(value: &[u8]) -> Result<Self, DecodeError>;
    fn encode(&self) -> Vec<u8>;
    fn id(&self) -> &str;
    fn secret_hash(&self) -> &[u8];
    /// Unix seconds.
    fn created_at(&self) -> i64;

    fn key_for(id: &str) -> String {
        format!("{}{}", Self::KEY_PREFIX, id)
    }

    fn is_expired(&self, now: Millis) -> bool {
        let age = now - self.created_at() * 1000;
        if Self::EXPIRED_AT_BOUNDARY {
            age >= Self::LIFETIME
        } else {
            age > Self::LIFETIME
        }
    }

    /// Storage expiry hint: `created_at + lifetime`.
    fn expires_at(&self) -> Millis {
        self.created_at() * 1000 + Self::LIFETIME
    }
}

/// An entity that belongs to an existing user and snapshots some of the user's counters.
pub(crate) trait UserEntity: Entity {
    fn user_id(&self) -> &str;
    /// Compares the snapshotted counters with the user's current ones (spec §2.2 step 6).
    fn counters_match(&self, user: &User) -> bool;
}

/// Spec §8.2: at most 100 bytes, one `@`, a restricted ASCII local part and domain.
pub fn is_valid_email_address(email_address: &str) -> bool {
    if email_address.len() > 100 {
        return false;
    }
    let mut parts = email_address.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#%&'*+-/=?^_{|}~.".contains(&b));
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    local_ok && domain_ok
}

impl Server {
    pub(crate) fn log(&self, invocation: &Invocation, message: &str) {
        self.ports.error_logger.log_action_error(
            self.now(),
            message,
            &invocation.id,
            invocation.action,
        );
    }

    /// A notification that failed is logged and otherwise ignored (spec §9).
    pub(crate) fn log_failed_notification(&self, invocation: &Invocation, what: &str, e: String) {
        self.log(invocation, &format!("failed to send {what}: {e}"));
    }

    /// Stores a freshly created entity (spec §2.5).
    pub(crate) async fn store_new_entity<E: Entity>(&self, entity: &E) -> Result<(), Failure> {
        self.ports
            .main_storage
            .set(
                &E::key_for(entity.id()),
                entity.encode(),
                entity.expires_at(),
            )
            .await
            .map_err(|e| Failure::Internal(format!("failed to store new entity: {e}")))
    }

    /// Deletes an entity during validation: absent is fine, anything else is an error.
    async fn delete_invalid_entity(&self, key: &str) -> Result<(), TokenError> {
        match self.ports.main_storage.delete(key).await {
            Ok(()) | Err(StorageError::NotFound) => Ok(()),
            Err(e) => Err(TokenError::Failed(format!(
                "failed to delete invalid entity: {e}"
            ))),
        }
    }

    /// Reads and decodes an entity by token id (spec §2.2 steps 2–3).
    async fn load_unexpired_entity<E: Entity>(&self, id: &str) -> Result<E, TokenError> {
        let key = E::key_for(id);
        let entry = match self.ports.main_storage.get(&key).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Err(TokenError::Invalid),
            Err(e) => return Err(TokenError::Failed(format!("main storage get failed: {e}"))),
        };
        let entity = E::decode(&entry.value)?;
        if entity.is_expired(self.now()) {
            self.delete_invalid_entity(&key).await?;
            return Err(TokenError::Invalid);
        }
        Ok(entity)
    }

    /// Generic validation for signups (no user involved).
    pub(crate) async fn validate_entity_token<E: Entity>(
        &self,
        token: &str,
    ) -> Result<E, TokenError> {
        let parsed = crypto::parse_token(token).ok_or(TokenError::Invalid)?;
        let entity: E = self.load_unexpired_entity(parsed.id).await?;
        if !crypto::verify_secret(parsed.secret, entity.secret_hash()) {
            return Err(TokenError::Invalid);
        }
        Ok(entity)
    }

    /// Generic validation for user entities: user lookup, disabled flag and counters before the
    /// secret, exactly in spec §2.2 order.
    pub(crate) async fn validate_user_entity_token<E: UserEntity>(
        &self,
        token: &str,
    ) -> Result<(E, User), TokenError> {
        let parsed = crypto::parse_token(token).ok_or(TokenError::Invalid)?;
        let entity: E = self.load_unexpired_entity(parsed.id).await?;
        let key = E::key_for(parsed.id);
        let user = match self.ports.user_store.get_user(entity.user_id()).await {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => {
                self.delete_invalid_entity(&key).await?;
                return Err(TokenError::Invalid);
            }
            Err(e) => return Err(TokenError::Failed(format!("failed to get user: {e}"))),
        };
        if user.disabled || !entity.counters_match(&user) {
            self.delete_invalid_entity(&key).await?;
            return Err(TokenError::Invalid);
        }
        if !crypto::verify_secret(parsed.secret, entity.secret_hash()) {
            return Err(TokenError::Invalid);
        }
        Ok((entity, user))
    }

    /// The compare-and-set "mark flag" helper (spec §2.6, FIX-4): re-read, refuse if already set,
    /// modify, conditional update. Every lost race is `internal_conflict`.
    pub(crate) async fn update_entity_flag<E: Entity>(
        &self,
        id: &str,
        already_set: impl Fn(&E) -> bool,
        modify: impl FnOnce(&mut E),
    ) -> Result<(), Failure> {
        let (mut entity, counter) = self.reread_unset_entity(id, already_set).await?;
        modify(&mut entity);
        self.update_entity(id, &entity, counter).await
    }

    /// Steps 1–2 of the compare-and-set helper: the entity and its counter, unless it is gone
    /// (CONFLICT), the flag is already set (CONFLICT) or storage fails (ERROR).
    async fn reread_unset_entity<E: Entity>(
        &self,
        id: &str,
        already_set: impl Fn(&E) -> bool,
    ) -> Result<(E, i32), Failure> {
        let entry = match self.ports.main_storage.get(&E::key_for(id)).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Err(Failure::Code("internal_conflict")),
            Err(e) => return Err(Failure::Internal(format!("main storage get failed: {e}"))),
        };
        let entity = E::decode(&entry.value).map_err(|e| Failure::Internal(e.to_string()))?;
        if already_set(&entity) {
            return Err(Failure::Code("internal_conflict"));
        }
        Ok((entity, entry.counter))
    }

    /// Step 4 of the compare-and-set helper: the update guarded by the re-read's counter.
    async fn update_entity<E: Entity>(
        &self,
        id: &str,
        entity: &E,
        counter: i32,
    ) -> Result<(), Failure> {
        match self
            .ports
            .main_storage
            .update(
                &E::key_for(id),
                entity.encode(),
                entity.expires_at(),
                counter,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(Failure::Code("internal_conflict")),
            Err(e) => Err(Failure::Internal(format!(
                "main storage update failed: {e}"
            ))),
        }
    }

    /// Deletes an entity whose token the client presented; absent → the action's invalid code.
    pub(crate) async fn delete_entity_on_request(
        &self,
        key: &str,
        invalid_code: &'static str,
    ) -> ActionResult {
        match self.ports.main_storage.delete(key).await {
            Ok(()) => Ok(Values::new()),
            Err(StorageError::NotFound) => Err(Failure::Code(invalid_code)),
            Err(e) => Err(Failure::Internal(format!(
                "main storage delete failed: {e}"
            ))),
        }
    }

    /// A delete whose failure must not change the outcome: absent is ignored, errors are logged.
    pub(crate) async fn delete_entity_logging_errors(&self, invocation: &Invocation, key: &str) {
        match self.ports.main_storage.delete(key).await {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => self.log(invocation, &format!("failed to delete entity: {e}")),
        }
    }

    /// The end of a password update or reset: stores `new_password` for `user_id` over the hash
    /// that `password_hash_counter` was read with (the user gone or the counter moved on →
    /// `internal_conflict`), deletes the entity at `entity_key` (errors only logged) and sends
    /// `user` the password-updated notification (a failure only logged).
    pub(crate) async fn store_new_password(
        &self,
        invocation: &Invocation,
        user: &User,
        user_id: &str,
        new_password: &NewPasswordHash,
        password_hash_counter: i32,
        entity_key: &str,
    ) -> Result<(), Failure> {
        match self
            .ports
            .user_store
            .update_user_password_hash(
                user_id,
                &new_password.hash,
                &new_password.algorithm_id,
                &new_password.salt,
                password_hash_counter,
            )
            .await
        {
            Ok(()) => {}
            Err(UserStoreError::UserNotFound) => return Err(Failure::Code("internal_conflict")),
            Err(e) => return Err(user_store_failure("failed to update user password hash", e)),
        }
        let updated_at = self.now();
        self.delete_entity_logging_errors(invocation, entity_key)
            .await;
        if let Err(e) = self
            .email_sender_for(Some(user))
            .send_user_password_updated_notification(
                &user.email_address,
                &user.display_name,
                updated_at,
            )
            .await
        {
            self.log_failed_notification(invocation, "password updated notification", e);
        }
        Ok(())
    }

    /// CONSUME with the action mapping of spec §2.7.
    pub(crate) async fn consume_token(&self, bucket: Bucket, subject: &str) -> Result<(), Failure> {
        let storage = self.ports.rate_limit_storage.as_ref();
        match rate_limit::consume(storage, bucket, subject, self.now()).await {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Denied) => Err(Failure::Code("rate_limited")),
            Err(RateLimitError::Conflict) => Err(Failure::Code("internal_conflict")),
            Err(RateLimitError::Failed(message)) => Err(Failure::Internal(message)),
        }
    }

    /// The email sender for one message to `user` (`None` before there is one), told the user's
    /// stored language and the app's for this invocation (docs/emails.md has the rule).
    pub(crate) fn email_sender_for(&self, user: Option<&User>) -> Rc<dyn EmailSender> {
        let hints = LanguageHints {
            user: user.and_then(|u| u.email_language.as_deref()),
            request: self.email_language.as_deref(),
        };
        if hints == LanguageHints::default() {
            return self.ports.email_sender.clone();
        }
        self.ports
            .email_sender
            .for_languages(hints)
            .unwrap_or_else(|| self.ports.email_sender.clone())
    }

    /// CONSUME(send-email bucket, `email_address`) as the spec says, then the same CONSUME of the
    /// address's mailbox bucket (faroe-worker's addition, see [`rate_limit::mailbox`]), with the
    /// same mapping: however the address is spelled, a mailbox gets at most five code emails
    /// per window. A fresh mailbox bucket always allows, so distinct mailboxes see the spec.
    pub(crate) async fn consume_send_email_tokens(
        &self,
        email_address: &str,
    ) -> Result<(), Failure> {
        self.consume_token(Bucket::SendEmail, email_address).await?;
        self.consume_token(Bucket::Mailbox, &rate_limit::mailbox(email_address))
            .await
    }

    /// CHECK with the action mapping of spec §2.7.
    pub(crate) async fn check_tokens(&self, bucket: Bucket, subject: &str) -> Result<(), Failure> {
        let storage = self.ports.rate_limit_storage.as_ref();
        match rate_limit::check(storage, bucket, subject, self.now()).await {
            Ok(Decision::Allowed) => Ok(()),
            Ok(Decision::Denied) => Err(Failure::Code("rate_limited")),
            Err(message) => Err(Failure::Internal(message)),
        }
    }

    /// `CheckEmailAddress`; errors are internal.
    pub(crate) async fn is_email_address_allowed(&self, email: &str) -> Result<bool, Failure> {
        self.ports
            .email_address_checker
            .check_email_address(email)
            .await
            .map_err(|e| Failure::Internal(format!("email address check failed: {e}")))
    }

    /// Length rule then breached-password check (spec §8.1), in that order.
    pub(crate) async fn check_new_password(&self, password: &str) -> Result<(), Failure> {
        if !password::is_valid_password_length(password) {
            return Err(Failure::Code("invalid_password_length"));
        }
        match self
            .ports
            .password_strength_checker
            .is_strong_password(password)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(Failure::Code("weak_password")),
            Err(e) => Err(Failure::Internal(format!(
                "password strength check failed: {e}"
            ))),
        }
    }

    /// The end of the three set-password actions: the compare-and-set helper (`already_set` /
    /// `store` as in [`Server::update_entity_flag`]) with the hash of `password` by user
    /// algorithm #0 computed between its re-read and its update, all under the entity's hashing
    /// lease.
    ///
    /// The lease bounds the hashing work per entity across isolates: a request that finds it held
    /// answers `internal_conflict` (what it would lose the compare-and-set with) without hashing.
    /// It is an `add` in rate-limit storage, released by a checked delete; one that is never
    /// released (an isolate that died) expires after [`HASHING_LEASE_DURATION`].
    pub(crate) async fn set_entity_password<E: Entity>(
        &self,
        invocation: &Invocation,
        id: &str,
        password: &str,
        already_set: impl Fn(&E) -> bool,
        store: impl FnOnce(&mut E, NewPasswordHash),
    ) -> Result<(), Failure> {
        let lease_key = hashing_lease_key(&E::key_for(id));
        let holder = crypto::generate_id();
        match self
            .ports
            .rate_limit_storage
            .add(
                &lease_key,
                Vec::new(),
                &holder,
                self.now() + HASHING_LEASE_DURATION,
            )
            .await
        {
            Ok(()) => {}
            Err(StorageError::AlreadyExists) => return Err(Failure::Code("internal_conflict")),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "rate-limit storage add of the hashing lease failed: {e}"
                )))
            }
        }
        // The compare-and-set re-read comes before the hash: a request that takes the lease after
        // the winner released it finds the password set and does not hash either.
        let result = async {
            let (mut entity, counter) = self.reread_unset_entity::<E>(id, already_set).await?;
            let new_hash = self.hash_new_user_password(password).await?;
            store(&mut entity, new_hash);
            self.update_entity(id, &entity, counter).await
        }
        .await;
        match self
            .ports
            .rate_limit_storage
            .delete(&lease_key, &holder, 0)
            .await
        {
            // Not found: the lease expired and went (or was taken over); nothing to release.
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => self.log(
                invocation,
                &format!("failed to release the hashing lease: {e}"),
            ),
        }
        result
    }

    /// Hashes a new user password with algorithm #0: (hash, algorithm id, salt).
    pub(crate) async fn hash_new_user_password(
        &self,
        password: &str,
    ) -> Result<NewPasswordHash, Failure> {
        let algorithm = &self.user_password_algorithms[0];
        let salt = crypto::generate_salt(algorithm.salt_size());
        let hash = algorithm
            .hash(password, &salt)
            .await
            .map_err(|e| Failure::Internal(format!("password hashing failed: {e}")))?;
        Ok(NewPasswordHash {
            hash,
            algorithm_id: algorithm.id().to_string(),
            salt,
        })
    }

    /// Verifies a password against a user's stored hash with the algorithm its id names.
    /// Unknown algorithm or hashing error → internal error; mismatch → `incorrect_password`.
    pub(crate) async fn verify_user_password(
        &self,
        user: &User,
        password: &str,
    ) -> Result<(), Failure> {
        let algorithm = self
            .user_password_algorithms
            .iter()
            .find(|a| a.id() == user.password_hash_algorithm_id)
            .ok_or_else(|| {
                Failure::Internal(format!(
                    "no configured password hash algorithm has the user's algorithm id \"{}\"",
                    user.password_hash_algorithm_id
                ))
            })?;
        let hash = algorithm
            .hash(password, &user.password_salt)
            .await
            .map_err(|e| Failure::Internal(format!("password hashing failed: {e}")))?;
        if crypto::constant_time_eq(&hash, &user.password_hash) {
            Ok(())
        } else {
            Err(Failure::Code("incorrect_password"))
        }
    }
}

/// Rate-limit-storage key prefix of the per-entity hashing leases of the set-password actions.
pub const HASHING_LEASE_PREFIX: &str = "hashing.";

/// How long a hashing lease lasts if it is never released: far longer than the longest hash the
/// parameter bounds allow (about 1.5 s of CPU), so that no second hash starts while the first
/// runs, and short enough that a user whose request died with its isolate can retry in a minute.
pub const HASHING_LEASE_DURATION: Millis = 60_000;

/// The hashing lease key of the entity stored at `entity_key`.
pub fn hashing_lease_key(entity_key: &str) -> String {
    format!("{HASHING_LEASE_PREFIX}{entity_key}")
}

/// A freshly computed password hash with what is needed to verify it later.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct NewPasswordHash {
    pub hash: Vec<u8>,
    pub algorithm_id: String,
    pub salt: Vec<u8>,
}

/// Maps a failed user-store read that should have found the user.
pub(crate) fn user_store_failure(context: &str, e: UserStoreError) -> Failure {
    Failure::Internal(format!("{context}: {e}"))
}

/// The JSON for a Unix timestamp in whole seconds.
pub(crate) fn timestamp(t_seconds: i64) -> Value {
    Value::from(t_seconds)
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::is_valid_email_address;

    #[test]
    fn email_rule_of_spec_8_2() {
        for bad in [
            "",
            "plain",
            "a@b@c",
            "@b",
            "a@",
            "a$b@example.com",
            "a b@example.com",
            "é@example.com",
            "a@exa_mple.com",
        ] {
            assert!(!is_valid_email_address(bad), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(89));
        assert_eq!(long.len(), 101);
        assert!(!is_valid_email_address(&long));
        for good in [
            "a@b",
            ".@.",
            "a..b@-",
            "A.b+c/d=e?f^g_h{i|j}k~l@Sub-Domain.Example",
        ] {
            assert!(is_valid_email_address(good), "{good}");
        }
        assert!(is_valid_email_address(&long[1..]));
    }
}
