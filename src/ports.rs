//! The interfaces the server talks through (Faroe's storage, cache, rate-limit storage, user store,
//! email sender, logger and helpers). The core knows only these traits; adapters implement them.
//!
//! I/O ports are async. Their futures need not be `Send`: a Worker isolate is single-threaded.

use async_trait::async_trait;
use std::rc::Rc;

/// Unix time in milliseconds, the unit of every clock reading and duration in the core.
pub type Millis = i64;

/// Errors of the three storages. Which variants an operation may return is part of its contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageError {
    /// The key is absent, or (for conditional operations) the entry id / counter did not match.
    NotFound,
    /// `MainStorage::add`, `RateLimitStorage::add` or `AccountStorage::add` on a key that exists.
    AlreadyExists,
    /// Any other failure: the message is logged, never shown to callers.
    Failed(String),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::NotFound => f.write_str("not found"),
            StorageError::AlreadyExists => f.write_str("already exists"),
            StorageError::Failed(message) => f.write_str(message),
        }
    }
}

/// A main-storage entry with its storage counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub value: Vec<u8>,
    pub counter: i32,
}

/// Strongly consistent storage of Faroe's entities (spec §6.4).
#[async_trait(?Send)]
pub trait MainStorage {
    /// The entry, even past its expiry hint; `NotFound` if absent.
    async fn get(&self, key: &str) -> Result<StoredEntry, StorageError>;
    /// Creates or overwrites; the counter restarts at 0.
    async fn set(&self, key: &str, value: Vec<u8>, expires_at: Millis) -> Result<(), StorageError>;
    /// Creates with counter 0 only if the key is absent; `AlreadyExists` otherwise (atomic: of
    /// concurrent adds of one key exactly one succeeds). `expires_at` 0 = never.
    async fn add(&self, key: &str, value: Vec<u8>, expires_at: Millis) -> Result<(), StorageError>;
    /// Replaces value and expiry and increments the counter, only if the entry exists and its counter
    /// equals `counter`; otherwise `NotFound`.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> Result<(), StorageError>;
    /// `NotFound` if absent.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// Strongly consistent per-user records (one Durable Object per user id). Every operation names the
/// user; records of one user are isolated from every other user's.
#[async_trait(?Send)]
pub trait AccountStorage {
    /// `NotFound` if absent.
    async fn get(&self, user_id: &str, key: &str) -> Result<StoredEntry, StorageError>;
    /// Creates with counter 0; `AlreadyExists` if the key exists. `expires_at` 0 = never.
    async fn add(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> Result<(), StorageError>;
    /// Replaces and increments the counter only if the record exists with `counter`; else `NotFound`.
    async fn update(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> Result<(), StorageError>;
    /// Deletes only if the record exists with `counter`; else `NotFound`.
    async fn delete(&self, user_id: &str, key: &str, counter: i32) -> Result<(), StorageError>;
    /// Every unexpired record whose key starts with `prefix`, in key order: (key, entry).
    async fn list(
        &self,
        user_id: &str,
        prefix: &str,
    ) -> Result<Vec<(String, StoredEntry)>, StorageError>;
    /// Deletes every record of the user (the object vanishes: `deleteAll()`). Absent user: Ok.
    async fn delete_all(&self, user_id: &str) -> Result<(), StorageError>;
}

/// Session cache (spec §6.3): may be eventually consistent, must never return an entry past its TTL.
#[async_trait(?Send)]
pub trait Cache {
    /// `NotFound` if absent or past its TTL.
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError>;
    async fn set(&self, key: &str, value: Vec<u8>, ttl: Millis) -> Result<(), StorageError>;
    /// Deleting an absent key is not an error.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
}

/// A rate-limit entry with its entry id (ABA protection) and storage counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitEntry {
    pub value: Vec<u8>,
    pub entry_id: String,
    pub counter: i32,
}

/// Strongly consistent storage of token buckets (spec §6.4).
#[async_trait(?Send)]
pub trait RateLimitStorage {
    async fn get(&self, key: &str) -> Result<RateLimitEntry, StorageError>;
    /// Creates with counter 0; `AlreadyExists` if the key exists.
    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        entry_id: &str,
        expires_at: Millis,
    ) -> Result<(), StorageError>;
    /// Only if the entry exists and both entry id and counter match; then replaces and increments the
    /// counter. Otherwise `NotFound`.
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        entry_id: &str,
        counter: i32,
    ) -> Result<(), StorageError>;
    /// Only if the entry exists and both match; otherwise `NotFound`.
    async fn delete(&self, key: &str, entry_id: &str, counter: i32) -> Result<(), StorageError>;
}

/// A user as the user store holds it (spec §10.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub email_address: String,
    pub password_hash: Vec<u8>,
    pub password_salt: Vec<u8>,
    pub password_hash_algorithm_id: String,
    pub disabled: bool,
    pub display_name: String,
    pub email_address_counter: i32,
    pub password_hash_counter: i32,
    pub disabled_counter: i32,
    pub sessions_counter: i32,
    /// The user's email language, where the store keeps one (ours, not Faroe's: D1's optional
    /// `email_language` column, the user server's optional member). `None` when absent.
    pub email_language: Option<String>,
}

/// The errors Faroe tells apart; everything else is `Failed` (→ `internal_error`, logged).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserStoreError {
    UserNotFound,
    EmailAddressAlreadyUsed,
    Failed(String),
}

impl std::fmt::Display for UserStoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserStoreError::UserNotFound => f.write_str("user not found"),
            UserStoreError::EmailAddressAlreadyUsed => f.write_str("email address already used"),
            UserStoreError::Failed(message) => f.write_str(message),
        }
    }
}

/// The application's users (spec §10.1). Counter arguments are compare-and-set guards.
#[async_trait(?Send)]
pub trait UserStore {
    async fn create_user(
        &self,
        email_address: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
    ) -> Result<User, UserStoreError>;
    async fn get_user(&self, user_id: &str) -> Result<User, UserStoreError>;
    async fn get_user_by_email_address(&self, email_address: &str) -> Result<User, UserStoreError>;
    async fn update_user_email_address(
        &self,
        user_id: &str,
        email_address: &str,
        email_address_counter: i32,
    ) -> Result<(), UserStoreError>;
    async fn update_user_password_hash(
        &self,
        user_id: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
        password_hash_counter: i32,
    ) -> Result<(), UserStoreError>;
    async fn increment_user_sessions_counter(
        &self,
        user_id: &str,
        sessions_counter: i32,
    ) -> Result<(), UserStoreError>;
    async fn delete_user(&self, user_id: &str) -> Result<(), UserStoreError>;
}

/// A password hashing function with its parameters baked into `id` (spec §8.4).
///
/// Async so an adapter may offload hashing (to another Worker, say). The set-password actions hash
/// at most once at a time per entity (a lease in rate-limit storage, see `flows`).
#[async_trait(?Send)]
pub trait PasswordHashAlgorithm {
    fn id(&self) -> &str;
    fn salt_size(&self) -> usize;
    async fn hash(&self, password: &str, salt: &[u8]) -> Result<Vec<u8>, String>;
}

/// What is known of one message's language (ours, not Faroe's): the user's stored language and
/// the app's language for this request. Either may be absent or name a language the deployment
/// has no templates for; the sender's rule decides (docs/emails.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LanguageHints<'a> {
    pub user: Option<&'a str>,
    pub request: Option<&'a str>,
}

/// The six messages Faroe sends (spec §9), plus the second-factor notifications of our TOTP
/// extension. `display_name` may be empty.
#[async_trait(?Send)]
pub trait EmailSender {
    /// This sender for one message with these language hints; `None` (the default, for senders
    /// that write one language) means this sender as it is.
    fn for_languages(&self, _hints: LanguageHints<'_>) -> Option<Rc<dyn EmailSender>> {
        None
    }
    async fn send_signup_email_address_verification_code(
        &self,
        email_address: &str,
        email_address_verification_code: &str,
    ) -> Result<(), String>;
    async fn send_user_email_address_update_email_address_verification_code(
        &self,
        email_address: &str,
        display_name: &str,
        email_address_verification_code: &str,
    ) -> Result<(), String>;
    async fn send_user_password_reset_temporary_password(
        &self,
        email_address: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> Result<(), String>;
    async fn send_user_signed_in_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String>;
    async fn send_user_email_address_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> Result<(), String>;
    async fn send_user_password_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String>;
    /// A second factor (`second_factor`: `"totp"`) was added to the account.
    async fn send_user_second_factor_added_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String>;
    /// A second factor (`second_factor`: `"totp"`) was removed from the account.
    async fn send_user_second_factor_removed_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String>;
}

/// Receives every internal error (spec §11). Messages never contain secrets.
pub trait ActionErrorLogger {
    fn log_action_error(
        &self,
        timestamp: Millis,
        message: &str,
        action_invocation_id: &str,
        action: &str,
    );
}

/// The time source; tests inject a manual clock.
pub trait Clock {
    fn now(&self) -> Millis;
}

/// Decides whether an address may become a user's address (spec §8.3).
#[async_trait(?Send)]
pub trait EmailAddressChecker {
    async fn check_email_address(&self, email_address: &str) -> Result<bool, String>;
}

/// The breached-password check of spec §8.1 step 2: `Ok(false)` means weak.
#[async_trait(?Send)]
pub trait PasswordStrengthChecker {
    async fn is_strong_password(&self, password: &str) -> Result<bool, String>;
}
