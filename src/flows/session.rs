//! Sessions (spec §2.3, §2.4, §3.3, §6.2, §6.3): creation, the two validation variants, activity
//! updates and the cache. This is the only module that touches the session cache. A cache fill
//! is followed by a re-read of the session and its user so that a racing revocation
//! (`delete_session`, `delete_all_sessions`, a disabled or deleted user) cannot put a revoked
//! session back into the cache (see `uncache_if_revoked`, `docs/storage.md`).

use super::{seconds, timestamp, ActionResult, Failure, Invocation, TokenError, Values};
use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::ports::{Millis, StorageError, User, UserStoreError};
use crate::server::Server;
use serde_json::{json, Value};

const INVALID: &str = "invalid_session_token";

pub(crate) fn session_key(id: &str) -> String {
    format!("aaaa.{id}")
}

/// A session as main storage holds it (`aaaa.<id>`). Times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Session {
    pub id: String,
    pub user_id: String,
    pub secret_hash: Vec<u8>,
    pub token_last_verified_at: i64,
    pub user_disabled_counter: i32,
    pub user_sessions_counter: i32,
    pub created_at: i64,
}

impl Session {
    pub(crate) fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            secret_hash: r.byte_vec()?,
            token_last_verified_at: r.int64()?,
            user_disabled_counter: r.int32()?,
            user_sessions_counter: r.int32()?,
            created_at: r.int64()?,
        })
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .bytes(&self.secret_hash)
            .int64(self.token_last_verified_at)
            .int32(self.user_disabled_counter)
            .int32(self.user_sessions_counter)
            .int64(self.created_at)
            .finish()
    }

    /// The cached copy: no counters (spec §6.5).
    fn encode_cached(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.id)
            .string(&self.user_id)
            .bytes(&self.secret_hash)
            .int64(self.token_last_verified_at)
            .int64(self.created_at)
            .finish()
    }

    /// Decodes a cached copy; the counters it lacks are never read on the cache path.
    fn decode_cached(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            id: r.string()?,
            user_id: r.string()?,
            secret_hash: r.byte_vec()?,
            token_last_verified_at: r.int64()?,
            user_disabled_counter: 0,
            user_sessions_counter: 0,
            created_at: r.int64()?,
        })
    }
}

/// Why UPDATE_ACTIVITY did not write.
enum ActivityError {
    Conflict,
    Failed(String),
}

/// Where a validated session came from: the main path also yields the user it fetched.
struct Validated {
    session: Session,
    user: Option<User>,
}

impl Server {
    pub(crate) fn is_session_expired(&self, session: &Session, now: Millis) -> bool {
        let config = &self.session_config;
        (config.expiration > 0 && now - session.created_at * 1000 >= config.expiration)
            || now - session.token_last_verified_at * 1000 >= config.inactivity_timeout
    }

    /// The `session` model; `expires_at` follows the configuration in force now.
    pub(crate) fn session_model(&self, session: &Session) -> Value {
        let expires_at = if self.session_config.expiration > 0 {
            timestamp(session.created_at + self.session_config.expiration / 1000)
        } else {
            Value::Null
        };
        json!({
            "id": session.id,
            "user_id": session.user_id,
            "created_at": timestamp(session.created_at),
            "expires_at": expires_at,
        })
    }

    pub(crate) fn session_values(&self, session: &Session, session_token: String) -> Values {
        let mut values = Values::new();
        values.insert("session".into(), self.session_model(session));
        values.insert("session_token".into(), session_token.into());
        values
    }

    /// Signs `user` in at the end of a signup, signin or password reset: CREATE_SESSION, then the
    /// signed-in notification (a failure only logged), and the session values to return. A
    /// CREATE_SESSION error is mapped by `on_error`, each action having its own.
    pub(crate) async fn sign_in(
        &self,
        invocation: &Invocation,
        user: &User,
        on_error: impl FnOnce(StorageError) -> Failure,
    ) -> ActionResult {
        self.note_user(&user.id);
        let (session, session_token) = self
            .create_session(&user.id, user.disabled_counter, user.sessions_counter)
            .await
            .map_err(on_error)?;
        self.index_new_session(invocation, &session).await;
        if let Err(e) = self
            .email_sender_for(Some(user))
            .send_user_signed_in_notification(
                &user.email_address,
                &user.display_name,
                session.created_at * 1000,
            )
            .await
        {
            self.log_failed_notification(invocation, "signed-in notification", e);
        }
        Ok(self.session_values(&session, session_token))
    }

    /// CREATE_SESSION (spec §2.4): stores the session, then caches it.
    pub(crate) async fn create_session(
        &self,
        user_id: &str,
        user_disabled_counter: i32,
        user_sessions_counter: i32,
    ) -> Result<(Session, String), StorageError> {
        let now = self.now();
        let secret = crypto::generate_secret();
        let session = Session {
            id: crypto::generate_id(),
            user_id: user_id.to_string(),
            secret_hash: crypto::hash_secret(&secret),
            token_last_verified_at: seconds(now),
            user_disabled_counter,
            user_sessions_counter,
            created_at: seconds(now),
        };
        let key = session_key(&session.id);
        self.ports
            .main_storage
            .set(
                &key,
                session.encode(),
                now + self.session_config.inactivity_timeout,
            )
            .await?;
        if self.session_config.cache_expiration > 0 {
            self.ports
                .cache
                .set(
                    &key,
                    session.encode_cached(),
                    self.session_config.cache_expiration,
                )
                .await?;
        }
        let token = crypto::format_token(&session.id, &secret);
        Ok((session, token))
    }

    /// DELETE_SESSION: main storage (absent is fine), then the cache.
    async fn delete_session_entries(&self, key: &str) -> Result<(), TokenError> {
        match self.ports.main_storage.delete(key).await {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => return Err(TokenError::Failed(format!("failed to delete session: {e}"))),
        }
        self.delete_cached_session(key).await
    }

    async fn delete_cached_session(&self, key: &str) -> Result<(), TokenError> {
        self.ports
            .cache
            .delete(key)
            .await
            .map_err(|e| TokenError::Failed(format!("failed to delete cached session: {e}")))
    }

    /// Deletes the session and reports it invalid.
    async fn invalidate_session(&self, key: &str) -> Result<Validated, TokenError> {
        self.delete_session_entries(key).await?;
        Err(TokenError::Invalid)
    }

    /// MAIN_PATH (spec §2.3): storage, expiry, user, counters, then re-cache.
    async fn validate_session_in_main_storage(&self, key: &str) -> Result<Validated, TokenError> {
        let entry = match self.ports.main_storage.get(key).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Err(TokenError::Invalid),
            Err(e) => return Err(TokenError::Failed(format!("main storage get failed: {e}"))),
        };
        let session = Session::decode(&entry.value)?;
        if self.is_session_expired(&session, self.now()) {
            return self.invalidate_session(key).await;
        }
        let user = match self.ports.user_store.get_user(&session.user_id).await {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => return self.invalidate_session(key).await,
            Err(e) => return Err(TokenError::Failed(format!("failed to get user: {e}"))),
        };
        if user.disabled
            || session.user_disabled_counter != user.disabled_counter
            || session.user_sessions_counter != user.sessions_counter
        {
            return self.invalidate_session(key).await;
        }
        if self.session_config.cache_expiration > 0 {
            self.ports
                .cache
                .set(
                    key,
                    session.encode_cached(),
                    self.session_config.cache_expiration,
                )
                .await
                .map_err(|e| TokenError::Failed(format!("failed to cache session: {e}")))?;
            self.uncache_if_revoked(key, &session).await?;
        }
        Ok(Validated {
            session,
            user: Some(user),
        })
    }

    /// Prompt revocation: a revocation that ran between this validation's reads and its cache
    /// fill would otherwise be undone by the fill for the whole cache TTL (the session-only variant
    /// then skips every check). DELETE_SESSION deletes the cache key *before* our fill; sign-out
    /// everywhere, disabling and deleting a user change only the user's record. So after the fill
    /// both are read again (the session in main storage, then the user and its counters), and the
    /// key is deleted if the session is gone or the user no longer matches it. Either a re-read
    /// comes after the revoker's write and sees it (our delete follows our fill), or it comes
    /// before, and then the revocation began after our fill completed: a DELETE_SESSION's cache
    /// delete follows it, and a user-level revocation caught a copy that was already cached, which
    /// the spec's cache TTL allows (§6.3). KV keeps the latest write of a key. A failed re-read
    /// also drops the key: the next validation then simply takes the main path again.
    async fn uncache_if_revoked(&self, key: &str, session: &Session) -> Result<(), TokenError> {
        let still_valid = self.ports.main_storage.get(key).await.is_ok()
            && match self.ports.user_store.get_user(&session.user_id).await {
                Ok(user) => {
                    !user.disabled
                        && user.disabled_counter == session.user_disabled_counter
                        && user.sessions_counter == session.user_sessions_counter
                }
                Err(_) => false,
            };
        if still_valid {
            Ok(())
        } else {
            self.delete_cached_session(key).await
        }
    }

    /// Reads the cached copy: `Ok(None)` on a miss.
    async fn cached_session(&self, key: &str) -> Result<Option<Session>, TokenError> {
        match self.ports.cache.get(key).await {
            Ok(value) => Ok(Some(Session::decode_cached(&value)?)),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(TokenError::Failed(format!("cache get failed: {e}"))),
        }
    }

    /// UPDATE_ACTIVITY (spec §2.3): conditional write of `token_last_verified_at`.
    async fn update_session_activity(&self, key: &str, now: Millis) -> Result<(), ActivityError> {
        let entry = match self.ports.main_storage.get(key).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Err(ActivityError::Conflict),
            Err(e) => {
                return Err(ActivityError::Failed(format!(
                    "main storage get failed: {e}"
                )))
            }
        };
        let mut session =
            Session::decode(&entry.value).map_err(|e| ActivityError::Failed(e.to_string()))?;
        if session.token_last_verified_at * 1000 > now {
            return Err(ActivityError::Conflict);
        }
        session.token_last_verified_at = seconds(now);
        match self
            .ports
            .main_storage
            .update(
                key,
                session.encode(),
                now + self.session_config.inactivity_timeout,
                entry.counter,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(ActivityError::Conflict),
            Err(e) => Err(ActivityError::Failed(format!(
                "main storage update failed: {e}"
            ))),
        }
    }

    /// Runs the activity update when due. Returns whether it wrote.
    async fn refresh_session_activity(
        &self,
        key: &str,
        session: &Session,
    ) -> Result<bool, TokenError> {
        let now = self.now();
        if now - session.token_last_verified_at * 1000 < self.session_config.activity_check_interval
        {
            return Ok(false);
        }
        match self.update_session_activity(key, now).await {
            Ok(()) => {
                let refreshed = Session {
                    token_last_verified_at: seconds(now),
                    ..session.clone()
                };
                self.touch_session_index(&refreshed).await;
                Ok(true)
            }
            Err(ActivityError::Conflict) => Ok(false),
            Err(ActivityError::Failed(message)) => Err(TokenError::Failed(message)),
        }
    }

    /// VALIDATE_SESSION (session only): a fresh cache hit skips every user check.
    pub(crate) async fn validate_session(&self, token: &str) -> Result<Session, TokenError> {
        let parsed = crypto::parse_token(token).ok_or(TokenError::Invalid)?;
        let key = session_key(parsed.id);
        let mut session = match self.cached_session(&key).await? {
            Some(cached) if !self.is_session_expired(&cached, self.now()) => cached,
            Some(_) => {
                self.delete_cached_session(&key).await?;
                self.validate_session_in_main_storage(&key).await?.session
            }
            None => self.validate_session_in_main_storage(&key).await?.session,
        };
        if !crypto::verify_secret(parsed.secret, &session.secret_hash) {
            return Err(TokenError::Invalid);
        }
        self.note_user(&session.user_id);
        let now = self.now();
        if self.refresh_session_activity(&key, &session).await? {
            session.token_last_verified_at = seconds(now);
            self.delete_cached_session(&key).await?;
        }
        Ok(session)
    }

    /// VALIDATE_SESSION_AND_USER: a cache hit still fetches the user (existence, disabled flag).
    pub(crate) async fn validate_session_and_user(
        &self,
        token: &str,
    ) -> Result<(Session, User), TokenError> {
        let parsed = crypto::parse_token(token).ok_or(TokenError::Invalid)?;
        let key = session_key(parsed.id);
        let validated = match self.cached_session(&key).await? {
            Some(cached) if !self.is_session_expired(&cached, self.now()) => {
                match self.ports.user_store.get_user(&cached.user_id).await {
                    Ok(user) if !user.disabled => Validated {
                        session: cached,
                        user: Some(user),
                    },
                    Ok(_) | Err(UserStoreError::UserNotFound) => {
                        // KEEP: only the cache entry goes; main storage is left as it is.
                        self.delete_cached_session(&key).await?;
                        return Err(TokenError::Invalid);
                    }
                    Err(e) => return Err(TokenError::Failed(format!("failed to get user: {e}"))),
                }
            }
            Some(_) => {
                // FIX-5: the expired cached copy goes, then the main path as on a miss.
                self.delete_cached_session(&key).await?;
                self.validate_session_in_main_storage(&key).await?
            }
            None => self.validate_session_in_main_storage(&key).await?,
        };
        let Validated { session, user } = validated;
        let user = user.expect("both validation paths yield the user");
        if !crypto::verify_secret(parsed.secret, &session.secret_hash) {
            return Err(TokenError::Invalid);
        }
        self.note_user(&user.id);
        // The cached copy is left stale, as in the reference; it never outlives its TTL.
        self.refresh_session_activity(&key, &session).await?;
        Ok((session, user))
    }

    pub(crate) async fn get_session(&self, session_token: &str) -> ActionResult {
        let session = self
            .validate_session(session_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        let mut values = Values::new();
        values.insert("session".into(), self.session_model(&session));
        Ok(values)
    }

    pub(crate) async fn delete_session(
        &self,
        invocation: &Invocation,
        session_token: &str,
    ) -> ActionResult {
        let session = self
            .validate_session(session_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        self.delete_session_entries(&session_key(&session.id))
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        self.unindex_deleted_session(invocation, &session).await;
        Ok(Values::new())
    }

    pub(crate) async fn delete_all_sessions(
        &self,
        invocation: &Invocation,
        session_token: &str,
    ) -> ActionResult {
        let (session, user) = self
            .validate_session_and_user(session_token)
            .await
            .map_err(|e| e.into_failure(INVALID))?;
        self.ports
            .user_store
            .increment_user_sessions_counter(&session.user_id, user.sessions_counter)
            .await
            .map_err(|e| {
                Failure::Internal(format!("failed to increment user sessions counter: {e}"))
            })?;
        self.unindex_revoked_sessions(invocation, &session.user_id, user.sessions_counter)
            .await;
        Ok(Values::new())
    }

    /// Session-only validation mapped to the action result codes.
    pub(crate) async fn require_session(&self, session_token: &str) -> Result<Session, Failure> {
        self.validate_session(session_token)
            .await
            .map_err(|e| e.into_failure(INVALID))
    }

    /// Session-and-user validation mapped to the action result codes.
    pub(crate) async fn require_session_and_user(
        &self,
        session_token: &str,
    ) -> Result<(Session, User), Failure> {
        self.validate_session_and_user(session_token)
            .await
            .map_err(|e| e.into_failure(INVALID))
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::Session;
    use crate::encoding::hex;

    /// Spec §14.11 / Appendix A: with Go's secret-hash bytes, the record encodings are Go's.
    #[test]
    fn session_encodings_match_appendix_a() {
        let mut go_secret_hash = b"g9nepmvhg6sdsqebqcepyib7".to_vec();
        go_secret_hash.extend_from_slice(&[
            0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f,
            0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b,
            0x78, 0x52, 0xb8, 0x55,
        ]);
        let session = Session {
            id: "w93zmrzat9xc82wwr9vt5sy4".into(),
            user_id: "m2wymy7ssrzkbrwag9js8hcy".into(),
            secret_hash: go_secret_hash,
            token_last_verified_at: 1756101086,
            user_disabled_counter: 0,
            user_sessions_counter: 0,
            created_at: 1756101086,
        };
        let main = "187739337a6d727a6174397863383277777239767435737934186d3277796d79377373727a6b6272776167396a73386863793867396e65706d766867367364737165627163657079696237e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85504d157f3bc000004d157f3bc";
        let cached = "187739337a6d727a6174397863383277777239767435737934186d3277796d79377373727a6b6272776167396a73386863793867396e65706d766867367364737165627163657079696237e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85504d157f3bc04d157f3bc";
        assert_eq!(session.encode().len(), 119);
        assert_eq!(hex(&session.encode()), main);
        assert_eq!(hex(&session.encode_cached()), cached);
        assert_eq!(Session::decode(&session.encode()).unwrap(), session);
        assert_eq!(
            Session::decode_cached(&session.encode_cached()).unwrap(),
            session
        );
        // A truncated record is an error, extra trailing items are ignored.
        assert!(Session::decode(&session.encode()[..100]).is_err());
        let mut longer = session.encode();
        longer.extend_from_slice(&[0x01, 0x07]);
        assert_eq!(Session::decode(&longer).unwrap(), session);
    }
}
