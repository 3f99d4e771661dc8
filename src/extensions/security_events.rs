//! The security events extension (docs/extensions.md, issue #14 item 2): what happened to an
//! account, kept for its user in account storage (the last [`MAX_EVENTS`] events or
//! [`EVENT_LIFETIME`], whichever is less) and readable from a session token, and optionally sent
//! to a [`SecurityEventSink`] (the edge's Cloudflare Queue).
//!
//! Flows do not record events themselves: [`event_of`] maps an action's outcome to its event, and
//! the endpoint records it once the action has its result, so a recording failure (logged) can
//! never change that result.

use crate::crypto;
use crate::extensions::ActionDef;
use crate::flows::{seconds, ActionResult, Failure, Invocation, Values};
use crate::ports::{Millis, StorageError};
use crate::server::Server;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// At most this many events are kept per user; the oldest go first.
pub const MAX_EVENTS: usize = 100;
/// An event is kept this long (the record's storage expiry).
pub const EVENT_LIFETIME: Millis = 90 * 24 * 60 * 60 * 1000;
/// Key prefix of the event records: `event.<13-digit ms timestamp>.<id>` sorts oldest first.
pub const KEY_PREFIX: &str = "event.";

pub static ACTIONS: &[ActionDef] = &[ActionDef {
    name: "get_user_security_events",
    params: &["session_token"],
}];

/// The kinds of event (their `type` strings are protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    SigninSucceeded,
    SigninPasswordIncorrect,
    SecondFactorUsed,
    SecondFactorFailed,
    PasswordUpdated,
    PasswordReset,
    EmailAddressUpdated,
    SecondFactorAdded,
    SecondFactorRemoved,
    SessionsRevoked,
    /// Only to the log line and the sink: the user's records are gone with the user.
    UserDeleted,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::SigninSucceeded,
        EventType::SigninPasswordIncorrect,
        EventType::SecondFactorUsed,
        EventType::SecondFactorFailed,
        EventType::PasswordUpdated,
        EventType::PasswordReset,
        EventType::EmailAddressUpdated,
        EventType::SecondFactorAdded,
        EventType::SecondFactorRemoved,
        EventType::SessionsRevoked,
        EventType::UserDeleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SigninSucceeded => "signin_succeeded",
            EventType::SigninPasswordIncorrect => "signin_password_incorrect",
            EventType::SecondFactorUsed => "second_factor_used",
            EventType::SecondFactorFailed => "second_factor_failed",
            EventType::PasswordUpdated => "password_updated",
            EventType::PasswordReset => "password_reset",
            EventType::EmailAddressUpdated => "email_address_updated",
            EventType::SecondFactorAdded => "second_factor_added",
            EventType::SecondFactorRemoved => "second_factor_removed",
            EventType::SessionsRevoked => "sessions_revoked",
            EventType::UserDeleted => "user_deleted",
        }
    }

    /// Whether the event is kept in the user's account storage (all but `user_deleted`).
    pub fn is_stored(self) -> bool {
        self != EventType::UserDeleted
    }
}

/// One event as it is recorded and sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityEvent {
    pub id: String,
    pub event_type: EventType,
    /// `totp` | `recovery_code` | `passkey` for second factors, `all` | `one` for revocations,
    /// else empty.
    pub detail: &'static str,
    pub user_id: String,
    /// Milliseconds since the epoch (the model and the message carry Unix seconds).
    pub created_at: Millis,
    pub action_invocation_id: String,
    /// The end user's address as the edge validated it; empty when unknown.
    pub client_address: String,
}

impl SecurityEvent {
    /// The storage key: zero-padded milliseconds first, so key order is time order.
    pub fn key(&self) -> String {
        format!("{KEY_PREFIX}{:013}.{}", self.created_at.max(0), self.id)
    }

    /// The queue message (docs/extensions.md, "Queue messages").
    pub fn message(&self) -> QueueMessage<'_> {
        QueueMessage {
            event_type: self.event_type.as_str(),
            detail: self.detail,
            user_id: &self.user_id,
            created_at: seconds(self.created_at),
            action_invocation_id: &self.action_invocation_id,
            client_address: &self.client_address,
        }
    }
}

/// One queue message: a plain JSON object (a struct, so it reaches JS as an object, not a Map).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct QueueMessage<'a> {
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub detail: &'static str,
    pub user_id: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    pub action_invocation_id: &'a str,
    pub client_address: &'a str,
}

/// The stored record (JSON): what the model needs, nothing else.
#[derive(Debug, Serialize, Deserialize)]
struct StoredEvent {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    detail: String,
    /// Unix seconds.
    created_at: i64,
    client_address: String,
}

/// The event an action's outcome stands for, with its detail; `None` for every other outcome.
/// Failures count only where the code says the user's secret was wrong.
pub fn event_of(action: &str, result: &ActionResult) -> Option<(EventType, &'static str)> {
    use EventType::*;
    let code = match result {
        Ok(_) => None,
        Err(Failure::Code(code)) => Some(*code),
        Err(_) => return None,
    };
    Some(match (action, code) {
        ("complete_signin" | "complete_passkey_signin", None) => (SigninSucceeded, ""),
        ("verify_signin_user_password", Some("incorrect_password")) => {
            (SigninPasswordIncorrect, "")
        }
        ("verify_signin_totp_code", None) => (SecondFactorUsed, "totp"),
        ("verify_signin_totp_code", Some("incorrect_totp_code")) => (SecondFactorFailed, "totp"),
        ("verify_signin_recovery_code", None) => (SecondFactorUsed, "recovery_code"),
        ("verify_signin_recovery_code", Some("incorrect_recovery_code")) => {
            (SecondFactorFailed, "recovery_code")
        }
        ("verify_signin_passkey", None) => (SecondFactorUsed, "passkey"),
        ("verify_signin_passkey", Some("invalid_passkey_credential")) => {
            (SecondFactorFailed, "passkey")
        }
        ("complete_user_password_update", None) => (PasswordUpdated, ""),
        ("complete_user_password_reset", None) => (PasswordReset, ""),
        ("complete_user_email_address_update", None) => (EmailAddressUpdated, ""),
        ("complete_user_totp_enrollment", None) => (SecondFactorAdded, "totp"),
        // The operator's delete_user_second_factors records its own, only when TOTP was there.
        ("complete_user_totp_deletion", None) => (SecondFactorRemoved, "totp"),
        ("complete_user_passkey_registration", None) => (SecondFactorAdded, "passkey"),
        ("complete_user_passkey_deletion", None) => (SecondFactorRemoved, "passkey"),
        ("delete_all_sessions", None) => (SessionsRevoked, "all"),
        ("delete_user_session", None) => (SessionsRevoked, "one"),
        ("complete_user_deletion", None) => (UserDeleted, ""),
        _ => return None,
    })
}

/// The `user_security_event` model.
fn event_model(event: &StoredEvent) -> Value {
    json!({
        "id": event.id,
        "type": event.event_type,
        "detail": event.detail,
        "created_at": event.created_at,
        "client_address": event.client_address,
    })
}

impl Server {
    /// Records the event of an action's outcome, if it has one and the extension is on. Every
    /// failure is logged; nothing here changes the action's result.
    pub(crate) async fn record_security_event_of(
        &self,
        invocation: &Invocation,
        result: &ActionResult,
        user_id: Option<&str>,
    ) {
        if let Some((event_type, detail)) = event_of(invocation.action, result) {
            self.record_security_event(invocation, event_type, detail, user_id)
                .await;
        }
    }

    /// Records one event for `user_id` (the acting user) if the extension is on: account storage
    /// (unless `user_deleted`), then the sink. Failures are logged only.
    pub(crate) async fn record_security_event(
        &self,
        invocation: &Invocation,
        event_type: EventType,
        detail: &'static str,
        user_id: Option<&str>,
    ) {
        if !self.extensions.security_events {
            return;
        }
        let Some(user_id) = user_id else {
            self.log(
                invocation,
                &format!("security event {} without a user", event_type.as_str()),
            );
            return;
        };
        let event = SecurityEvent {
            id: crypto::generate_id(),
            event_type,
            detail,
            user_id: user_id.to_string(),
            created_at: self.now(),
            action_invocation_id: invocation.id.clone(),
            client_address: self.client_address.clone().unwrap_or_default(),
        };
        if event_type.is_stored() {
            if let Err(e) = self.store_security_event(&event).await {
                self.log(
                    invocation,
                    &format!(
                        "failed to record security event {}: {e}",
                        event_type.as_str()
                    ),
                );
            }
        }
        if let Some(sink) = &self.security_event_sink {
            if let Err(e) = sink.send(&event).await {
                self.log(
                    invocation,
                    &format!("failed to send security event {}: {e}", event_type.as_str()),
                );
            }
        }
    }

    /// Adds the record (expiring after [`EVENT_LIFETIME`]), then deletes the oldest beyond
    /// [`MAX_EVENTS`]: two account-storage calls per event, one more per record trimmed.
    async fn store_security_event(&self, event: &SecurityEvent) -> Result<(), String> {
        let stored = StoredEvent {
            id: event.id.clone(),
            event_type: event.event_type.as_str().to_string(),
            detail: event.detail.to_string(),
            created_at: seconds(event.created_at),
            client_address: event.client_address.clone(),
        };
        let value = serde_json::to_vec(&stored).map_err(|e| e.to_string())?;
        let storage = &self.ports.account_storage;
        storage
            .add(
                &event.user_id,
                &event.key(),
                value,
                event.created_at + EVENT_LIFETIME,
            )
            .await
            .map_err(|e| format!("account storage add failed: {e}"))?;
        let records = storage
            .list(&event.user_id, KEY_PREFIX)
            .await
            .map_err(|e| format!("account storage list failed: {e}"))?;
        let excess = records.len().saturating_sub(MAX_EVENTS);
        // Keys sort oldest first. A concurrent trim may have deleted one already: NotFound is fine.
        for (key, entry) in records.iter().take(excess) {
            match storage.delete(&event.user_id, key, entry.counter).await {
                Ok(()) | Err(StorageError::NotFound) => {}
                Err(e) => return Err(format!("account storage delete failed: {e}")),
            }
        }
        Ok(())
    }

    pub(crate) async fn get_user_security_events(&self, session_token: &str) -> ActionResult {
        let (session, _user) = self.require_session_and_user(session_token).await?;
        let records = self
            .ports
            .account_storage
            .list(&session.user_id, KEY_PREFIX)
            .await
            .map_err(|e| Failure::Internal(format!("account storage list failed: {e}")))?;
        let oldest_kept = seconds(self.now() - EVENT_LIFETIME);
        let mut events = Vec::with_capacity(records.len());
        // Newest first: the reverse of key order.
        for (_, entry) in records.iter().rev() {
            let event: StoredEvent = serde_json::from_slice(&entry.value)
                .map_err(|e| Failure::Internal(format!("undecodable security event: {e}")))?;
            if event.created_at > oldest_kept {
                events.push(event_model(&event));
            }
            if events.len() == MAX_EVENTS {
                break;
            }
        }
        let mut values = Values::new();
        values.insert("user_security_events".into(), Value::Array(events));
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use EventType::*;

    #[test]
    fn passkey_outcomes_map_to_their_events() {
        let ok: ActionResult = Ok(Values::new());
        let bad = |code| -> ActionResult { Err(Failure::Code(code)) };
        assert_eq!(
            event_of("complete_passkey_signin", &ok),
            Some((SigninSucceeded, ""))
        );
        assert_eq!(
            event_of("verify_signin_passkey", &ok),
            Some((SecondFactorUsed, "passkey"))
        );
        assert_eq!(
            event_of("verify_signin_passkey", &bad("invalid_passkey_credential")),
            Some((SecondFactorFailed, "passkey"))
        );
        assert_eq!(
            event_of("verify_signin_passkey", &bad("rate_limited")),
            None
        );
        assert_eq!(
            event_of("complete_user_passkey_registration", &ok),
            Some((SecondFactorAdded, "passkey"))
        );
        assert_eq!(
            event_of("complete_user_passkey_deletion", &ok),
            Some((SecondFactorRemoved, "passkey"))
        );
        assert_eq!(
            event_of(
                "complete_passkey_signin",
                &bad("invalid_passkey_credential")
            ),
            None,
            "a passwordless attempt names no verified user"
        );
        assert_eq!(
            event_of("complete_signin", &Err(Failure::Internal("x".into()))),
            None
        );
    }
}
