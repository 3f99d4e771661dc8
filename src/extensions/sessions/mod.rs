//! The sessions extension (docs/extensions.md, issue #14): an index of each user's sessions in
//! account storage (`session.<session id>`), written by the one helper every session creation goes
//! through, kept current by the activity update and pruned on revocation; users list their live
//! sessions and sign one out. Main storage stays the truth: the list confirms every index record
//! against the session entry and the user's current counters before showing it.

use crate::crypto;
use crate::encoding::{DecodeError, SequenceReader, SequenceWriter};
use crate::extensions::ActionDef;
use crate::flows::session::{session_key, Session};
use crate::flows::{timestamp, ActionResult, Failure, Invocation, Values};
use crate::ports::{Millis, StorageError, StoredEntry, User};
use crate::server::Server;
use serde_json::{json, Value};

/// The longest client label kept (characters); a longer one is ignored.
pub const CLIENT_LABEL_MAX_CHARS: usize = 64;

/// The index records' key prefix in account storage.
pub const RECORD_PREFIX: &str = "session.";

/// How often a lost record write or delete is retried (an activity update changed the record).
const RECORD_WRITE_ATTEMPTS: usize = 3;

/// The two actions of the sessions extension, with their parameters in reading order.
pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "get_user_sessions",
        params: &["session_token"],
    },
    ActionDef {
        name: "delete_user_session",
        params: &["session_token", "user_session_id"],
    },
];

/// The client label as passed (`X-Faroe-Client-Label`): 1 to 64 characters, none a control
/// character. Anything else is ignored (`None`).
pub fn client_label(raw: &str) -> Option<&str> {
    let count = raw.chars().count();
    ((1..=CLIENT_LABEL_MAX_CHARS).contains(&count) && !raw.chars().any(char::is_control))
        .then_some(raw)
}

/// The account-storage key of a session's index record.
pub fn record_key(session_id: &str) -> String {
    format!("{RECORD_PREFIX}{session_id}")
}

/// One index record: what the list shows beyond main storage, and the session's counter
/// snapshot so that revoked sessions are recognised without a main-storage read. Times in Unix
/// seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub created_at: i64,
    pub last_active_at: i64,
    pub user_disabled_counter: i32,
    pub user_sessions_counter: i32,
    pub client_label: String,
}

impl SessionRecord {
    pub fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .int64(self.created_at)
            .int64(self.last_active_at)
            .int32(self.user_disabled_counter)
            .int32(self.user_sessions_counter)
            .string(&self.client_label)
            .finish()
    }

    pub fn decode(value: &[u8]) -> Result<Self, DecodeError> {
        let mut r = SequenceReader::new(value);
        Ok(Self {
            created_at: r.int64()?,
            last_active_at: r.int64()?,
            user_disabled_counter: r.int32()?,
            user_sessions_counter: r.int32()?,
            client_label: r.string()?,
        })
    }

    /// Whether the counters of `user` still admit a session with this snapshot.
    fn admitted_by(&self, user: &User) -> bool {
        !user.disabled
            && self.user_disabled_counter == user.disabled_counter
            && self.user_sessions_counter == user.sessions_counter
    }
}

/// An index record confirmed against main storage, ready to be listed.
struct Listed {
    session: Session,
    record: SessionRecord,
}

impl Server {
    fn sessions_on(&self) -> bool {
        self.extensions.sessions
    }

    /// Session creation: the index record, with the session's storage expiry (the alarm prunes
    /// it). A failure is logged; the session stays valid.
    pub(crate) async fn index_new_session(&self, invocation: &Invocation, session: &Session) {
        if !self.sessions_on() {
            return;
        }
        let record = SessionRecord {
            created_at: session.created_at,
            last_active_at: session.token_last_verified_at,
            user_disabled_counter: session.user_disabled_counter,
            user_sessions_counter: session.user_sessions_counter,
            client_label: self.client_label.clone().unwrap_or_default(),
        };
        let expires_at =
            session.token_last_verified_at * 1000 + self.session_config.inactivity_timeout;
        if let Err(e) = self
            .ports
            .account_storage
            .add(
                &session.user_id,
                &record_key(&session.id),
                record.encode(),
                expires_at,
            )
            .await
        {
            self.log(invocation, &format!("failed to index the new session: {e}"));
        }
    }

    /// After a successful activity update (UPDATE_ACTIVITY wrote `session`): the record's last
    /// activity and expiry follow — a read for its counter, then a conditional write (retried when
    /// another activity update of the same session won). A record that is gone is never
    /// re-created, and a newer one is left as it is. There is no action to fail here (the
    /// validation succeeded), so a failure is logged as `update_activity` without an invocation.
    pub(crate) async fn touch_session_index(&self, session: &Session) {
        if !self.sessions_on() {
            return;
        }
        if let Err(e) = self.write_session_activity(session).await {
            self.ports.error_logger.log_action_error(
                self.now(),
                &format!("failed to update the session index: {e}"),
                "",
                "update_activity",
            );
        }
    }

    async fn write_session_activity(&self, session: &Session) -> Result<(), String> {
        let storage = &self.ports.account_storage;
        let key = record_key(&session.id);
        let expires_at =
            session.token_last_verified_at * 1000 + self.session_config.inactivity_timeout;
        for _ in 0..RECORD_WRITE_ATTEMPTS {
            let entry = match storage.get(&session.user_id, &key).await {
                Ok(entry) => entry,
                Err(StorageError::NotFound) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            };
            let mut record = SessionRecord::decode(&entry.value).map_err(|e| e.to_string())?;
            if record.last_active_at >= session.token_last_verified_at {
                return Ok(());
            }
            record.last_active_at = session.token_last_verified_at;
            match storage
                .update(
                    &session.user_id,
                    &key,
                    record.encode(),
                    expires_at,
                    entry.counter,
                )
                .await
            {
                Ok(()) => return Ok(()),
                Err(StorageError::NotFound) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("index record {key} kept changing"))
    }

    /// Deletes the index record of a session (read for its counter, then a conditional delete;
    /// retried when an activity update changed it meanwhile). Gone already: Ok.
    pub(crate) async fn unindex_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> Result<(), StorageError> {
        let key = record_key(session_id);
        for _ in 0..RECORD_WRITE_ATTEMPTS {
            let entry = match self.ports.account_storage.get(user_id, &key).await {
                Ok(entry) => entry,
                Err(StorageError::NotFound) => return Ok(()),
                Err(e) => return Err(e),
            };
            match self
                .ports
                .account_storage
                .delete(user_id, &key, entry.counter)
                .await
            {
                Ok(()) => return Ok(()),
                Err(StorageError::NotFound) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StorageError::Failed(format!(
            "index record {key} kept changing"
        )))
    }

    /// `delete_session` with the extension on: the record goes too (a failure logged).
    pub(crate) async fn unindex_deleted_session(&self, invocation: &Invocation, session: &Session) {
        if !self.sessions_on() {
            return;
        }
        if let Err(e) = self.unindex_session(&session.user_id, &session.id).await {
            self.log(
                invocation,
                &format!("failed to delete the session index record: {e}"),
            );
        }
    }

    /// `delete_all_sessions` with the extension on, after the user's sessions counter went from
    /// `old_sessions_counter` up by one: every record whose snapshot is not the new counter goes
    /// (a session created concurrently, with the new counter, stays). Failures are logged.
    pub(crate) async fn unindex_revoked_sessions(
        &self,
        invocation: &Invocation,
        user_id: &str,
        old_sessions_counter: i32,
    ) {
        if !self.sessions_on() {
            return;
        }
        let current = old_sessions_counter.wrapping_add(1);
        let records = match self
            .ports
            .account_storage
            .list(user_id, RECORD_PREFIX)
            .await
        {
            Ok(records) => records,
            Err(e) => {
                self.log(
                    invocation,
                    &format!("failed to list the session index: {e}"),
                );
                return;
            }
        };
        for (key, entry) in records {
            let revoked = SessionRecord::decode(&entry.value)
                .map_or(true, |r| r.user_sessions_counter != current);
            if revoked {
                self.delete_record_logging(invocation, user_id, &key, &entry)
                    .await;
            }
        }
    }

    /// Deletes a stale record as read (a lost delete means it changed: the next list decides).
    async fn delete_record_logging(
        &self,
        invocation: &Invocation,
        user_id: &str,
        key: &str,
        entry: &StoredEntry,
    ) {
        match self
            .ports
            .account_storage
            .delete(user_id, key, entry.counter)
            .await
        {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => self.log(
                invocation,
                &format!("failed to delete a stale session index record: {e}"),
            ),
        }
    }

    /// The `expires_at` of a session: the earlier of inactivity and absolute expiry (seconds).
    fn user_session_expires_at(&self, session: &Session) -> i64 {
        let inactivity =
            session.token_last_verified_at + self.session_config.inactivity_timeout / 1000;
        if self.session_config.expiration > 0 {
            inactivity.min(session.created_at + self.session_config.expiration / 1000)
        } else {
            inactivity
        }
    }

    fn user_session_model(&self, listed: &Listed, current_session_id: &str) -> Value {
        json!({
            "id": listed.session.id,
            "created_at": timestamp(listed.session.created_at),
            "last_active_at": timestamp(
                listed.session.token_last_verified_at.max(listed.record.last_active_at)
            ),
            "expires_at": timestamp(self.user_session_expires_at(&listed.session)),
            "current": listed.session.id == current_session_id,
            "client_label": listed.record.client_label,
        })
    }

    /// The session entry of an index record, if main storage holds it for `user` and
    /// `get_session` would accept it now; `Ok(None)` when the record is stale.
    async fn confirm(
        &self,
        user: &User,
        session_id: &str,
        record: &SessionRecord,
        now: Millis,
    ) -> Result<Option<Session>, Failure> {
        if !record.admitted_by(user) {
            return Ok(None);
        }
        let entry = match self.ports.main_storage.get(&session_key(session_id)).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => return Err(Failure::Internal(format!("main storage get failed: {e}"))),
        };
        let session =
            Session::decode(&entry.value).map_err(|e| Failure::Internal(e.to_string()))?;
        let live = session.id == session_id
            && session.user_id == user.id
            && session.user_disabled_counter == user.disabled_counter
            && session.user_sessions_counter == user.sessions_counter
            && !self.is_session_expired(&session, now);
        Ok(live.then_some(session))
    }

    /// get_user_sessions (docs/extensions.md).
    pub(crate) async fn get_user_sessions(
        &self,
        invocation: &Invocation,
        session_token: &str,
    ) -> ActionResult {
        let (caller, user) = self.require_session_and_user(session_token).await?;
        let records = self
            .ports
            .account_storage
            .list(&user.id, RECORD_PREFIX)
            .await
            .map_err(|e| Failure::Internal(format!("account storage list failed: {e}")))?;
        let now = self.now();
        let mut listed = Vec::new();
        for (key, entry) in records {
            let session_id = &key[RECORD_PREFIX.len()..];
            let confirmed = match SessionRecord::decode(&entry.value) {
                Ok(record) => self
                    .confirm(&user, session_id, &record, now)
                    .await?
                    .map(|session| Listed { session, record }),
                Err(_) => None,
            };
            match confirmed {
                Some(l) => listed.push(l),
                None => {
                    self.delete_record_logging(invocation, &user.id, &key, &entry)
                        .await
                }
            }
        }
        // The user once more: a delete_all_sessions or a disable that landed while the entries
        // were read empties the list rather than showing sessions get_session now refuses.
        let user_now = self
            .ports
            .user_store
            .get_user(&user.id)
            .await
            .map_err(|e| Failure::Internal(format!("failed to get user: {e}")))?;
        listed.retain(|l| l.record.admitted_by(&user_now));
        listed.sort_by(|a, b| {
            b.session
                .created_at
                .cmp(&a.session.created_at)
                .then_with(|| a.session.id.cmp(&b.session.id))
        });
        let models: Vec<Value> = listed
            .iter()
            .map(|l| self.user_session_model(l, &caller.id))
            .collect();
        let mut values = Values::new();
        values.insert("user_sessions".into(), Value::Array(models));
        Ok(values)
    }

    /// delete_user_session (docs/extensions.md).
    pub(crate) async fn delete_user_session(
        &self,
        invocation: &Invocation,
        session_token: &str,
        user_session_id: &str,
    ) -> ActionResult {
        let (_, user) = self.require_session_and_user(session_token).await?;
        if !crypto::is_valid_id(user_session_id) {
            return Err(Failure::Code("session_not_found"));
        }
        let key = session_key(user_session_id);
        let entry = match self.ports.main_storage.get(&key).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Err(Failure::Code("session_not_found")),
            Err(e) => return Err(Failure::Internal(format!("main storage get failed: {e}"))),
        };
        let target = Session::decode(&entry.value).map_err(|e| Failure::Internal(e.to_string()))?;
        if target.user_id != user.id {
            return Err(Failure::Code("session_not_found"));
        }
        // DELETE_SESSION; of two revocations only one finds the entry to delete.
        match self.ports.main_storage.delete(&key).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code("session_not_found")),
            Err(e) => return Err(Failure::Internal(format!("failed to delete session: {e}"))),
        }
        self.ports
            .cache
            .delete(&key)
            .await
            .map_err(|e| Failure::Internal(format!("failed to delete cached session: {e}")))?;
        if let Err(e) = self.unindex_session(&user.id, user_session_id).await {
            self.log(
                invocation,
                &format!("failed to delete the session index record: {e}"),
            );
        }
        // A session get_session already refused is "already gone" for the caller too.
        let live = target.user_disabled_counter == user.disabled_counter
            && target.user_sessions_counter == user.sessions_counter
            && !self.is_session_expired(&target, self.now());
        if live {
            Ok(Values::new())
        } else {
            Err(Failure::Code("session_not_found"))
        }
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn records_round_trip() {
        let record = SessionRecord {
            created_at: 1_700_000_000,
            last_active_at: 1_700_000_060,
            user_disabled_counter: 2,
            user_sessions_counter: -1,
            client_label: "Firefox on Linux ✓".into(),
        };
        assert_eq!(SessionRecord::decode(&record.encode()).unwrap(), record);
        assert!(SessionRecord::decode(&record.encode()[..10]).is_err());
    }

    #[test]
    fn client_labels() {
        assert_eq!(client_label("Safari on iPhone"), Some("Safari on iPhone"));
        assert_eq!(client_label(&"é".repeat(64)).map(str::len), Some(128));
        assert_eq!(client_label(&"a".repeat(65)), None);
        assert_eq!(client_label(""), None);
        assert_eq!(client_label("a\nb"), None);
        assert_eq!(client_label("a\u{7f}"), None);
    }
}
