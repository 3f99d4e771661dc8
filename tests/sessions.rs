//! Spec §14.5 (scenarios 39–49), scenario 83 and the session rows of Appendix B.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::adapters::memory::Op;
use faroe_worker::encoding::{SequenceReader, SequenceWriter};
use faroe_worker::ports::{StorageError, UserStoreError};
use faroe_worker::SessionConfig;
use serde_json::{json, Value};

fn key(token: &str) -> String {
    format!("aaaa.{}", Harness::session_id(token))
}

fn args(token: &str) -> Value {
    json!({ "session_token": token })
}

fn config(inactivity: i64, interval: i64, expiration: i64, cache: i64) -> SessionConfig {
    SessionConfig {
        inactivity_timeout: inactivity * SECOND,
        activity_check_interval: interval * SECOND,
        expiration: expiration * SECOND,
        cache_expiration: cache * SECOND,
    }
}

/// The fields of a main-storage session record (spec §6.5).
#[derive(Debug, Clone, PartialEq)]
struct StoredSession {
    id: String,
    user_id: String,
    secret_hash: Vec<u8>,
    token_last_verified_at: i64,
    user_disabled_counter: i32,
    user_sessions_counter: i32,
    created_at: i64,
}

impl StoredSession {
    fn decode(value: &[u8]) -> Self {
        let mut r = SequenceReader::new(value);
        Self {
            id: r.string().unwrap(),
            user_id: r.string().unwrap(),
            secret_hash: r.byte_vec().unwrap(),
            token_last_verified_at: r.int64().unwrap(),
            user_disabled_counter: r.int32().unwrap(),
            user_sessions_counter: r.int32().unwrap(),
            created_at: r.int64().unwrap(),
        }
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
}

fn stored(h: &Harness, token: &str) -> StoredSession {
    StoredSession::decode(&h.main.value(&key(token)).expect("session stored"))
}

// ---------------------------------------------------------------- §14.5

#[test]
fn s39_session_model_without_expiration() {
    let h = Harness::new();
    let s = h.signin_u1();
    let values = h.ok("get_session", args(&s));
    let session = values["session"].as_object().unwrap();
    let members: Vec<_> = session.keys().cloned().collect();
    assert_eq!(members, ["id", "user_id", "created_at", "expires_at"]);
    assert_eq!(session["id"], json!(Harness::session_id(&s)));
    assert_eq!(session["user_id"], json!("u1"));
    assert_eq!(session["created_at"], json!(T0_SECONDS));
    assert_eq!(session["expires_at"], json!(null));
    let stored = stored(&h, &s);
    assert_eq!(stored.created_at, T0_SECONDS);
    assert_eq!(stored.token_last_verified_at, T0_SECONDS);
    assert_eq!(stored.user_id, "u1");
    assert_eq!(h.main.expires_at(&key(&s)), Some(T0 + 30 * DAY));
}

#[test]
fn s39_session_model_with_expiration() {
    let mut h = Harness::with_session(config(30 * 86400, 60, 7 * 86400, 60));
    let s = h.signin_u1();
    let session = &h.ok("get_session", args(&s))["session"];
    assert_eq!(session["created_at"], json!(T0_SECONDS));
    assert_eq!(session["expires_at"], json!(T0_SECONDS + 604800));
    // Computed from the configuration in force at response time.
    h.config.session.expiration = 3600 * SECOND;
    h.rebuild();
    let session = &h.ok("get_session", args(&s))["session"];
    assert_eq!(session["expires_at"], json!(T0_SECONDS + 3600));
    h.config.session.expiration = 0;
    h.rebuild();
    let session = &h.ok("get_session", args(&s))["session"];
    assert_eq!(session["expires_at"], json!(null));
}

#[test]
fn s40_inactivity_timeout() {
    let h = Harness::with_session(config(3600, 60, 0, 0));
    let s = h.signin_u1();
    assert!(!h.cache.contains(&key(&s)));
    assert_eq!(h.main.expires_at(&key(&s)), Some(T0 + 3600 * SECOND));
    h.at(1800);
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 1);
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS + 1800);
    assert_eq!(
        h.main.expires_at(&key(&s)),
        Some(T0 + (1800 + 3600) * SECOND)
    );
    h.at(5340);
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 2);
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS + 5340);
    h.at(8940);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
    // Caching disabled: nothing was ever set into the cache.
    assert_eq!(h.cache.instrumentation.count(Op::Set, ""), 0);
}

#[test]
fn s40_inactivity_boundary_is_inclusive() {
    let h = Harness::with_session(config(3600, 60, 0, 0));
    let s = h.signin_u1();
    h.at(3599);
    h.ok("get_session", args(&s));
    h.at(3599 + 3600);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
}

#[test]
fn s41_activity_check_interval() {
    let h = Harness::new();
    let s = h.signin_u1();
    let k = key(&s);
    assert!(h.cache.contains(&k));
    h.main.instrumentation.clear_log();
    h.at(30);
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 0);
    assert_eq!(
        h.main.instrumentation.count(Op::Get, "aaaa."),
        0,
        "cache hit"
    );
    assert!(h.cache.contains(&k));

    h.at(60);
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 1);
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS + 60);
    assert!(
        !h.cache.contains(&k),
        "cache entry deleted after the activity update"
    );

    let gets = h.main.instrumentation.count(Op::Get, "aaaa.");
    h.ok("get_session", args(&s));
    // The main path's read, and the re-read after the cache fill (prompt revocation, issue #11).
    assert_eq!(h.main.instrumentation.count(Op::Get, "aaaa."), gets + 2);
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 1);
    assert!(h.cache.contains(&k), "re-cached by the main path");
}

#[test]
fn s41_activity_update_conflict_is_ignored_and_error_is_internal() {
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.at(60);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::NotFound);
    h.ok("get_session", args(&s));
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));
}

#[test]
fn s41_stored_activity_newer_than_now_is_a_conflict() {
    // Cached copy older than the stored one (another instance wrote): UPDATE_ACTIVITY re-reads,
    // sees a newer token_last_verified_at, and does not write; the validation still succeeds.
    let h = Harness::with_session(config(30 * 86400, 60, 0, 600));
    let s = h.signin_u1();
    let mut record = stored(&h, &s);
    record.token_last_verified_at = T0_SECONDS + 100;
    h.main.put_raw(&key(&s), record.encode());
    h.at(90);
    h.main.instrumentation.clear_log();
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Get, "aaaa."), 1, "re-read");
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 0);
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS + 100);
    // The activity re-read failing is an internal error.
    h.main
        .instrumentation
        .fail_next(Op::Get, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));
    // The entry vanishing before the re-read is a conflict: ignored.
    h.main
        .instrumentation
        .fail_next(Op::Get, "aaaa.", StorageError::NotFound);
    h.ok("get_session", args(&s));
}

#[test]
fn s42_absolute_expiration() {
    let h = Harness::with_session(config(30 * 86400, 60, 3600, 60));
    let s = h.signin_u1();
    h.at(3599);
    h.ok("get_session", args(&s));
    h.at(3600);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
    assert!(!h.cache.contains(&key(&s)));
}

#[test]
fn s42_absolute_expiration_applies_to_cached_copies() {
    let h = Harness::with_session(config(30 * 86400, 600, 60, 600));
    let s = h.signin_u1();
    h.at(59);
    h.ok("get_session", args(&s));
    h.at(60);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
    assert!(!h.cache.contains(&key(&s)));
}

#[test]
fn s43_delete_session() {
    let h = Harness::new();
    let s = h.signin_u1();
    let other = h.signin_u1();
    assert!(h.cache.contains(&key(&s)));
    h.err_unlogged(
        "delete_session",
        args(&wrong_secret(&s)),
        "invalid_session_token",
    );
    assert!(h.main.contains(&key(&s)));
    let values = h.ok("delete_session", args(&s));
    assert!(values.is_empty());
    assert!(!h.main.contains(&key(&s)));
    assert!(!h.cache.contains(&key(&s)));
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    h.err_unlogged("delete_session", args(&s), "invalid_session_token");
    h.ok("get_session", args(&other));
}

#[test]
fn s44_delete_all_sessions() {
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s1 = h.signin_u1();
    let s2 = h.signin_u1();
    let u2 = h.signin("user2@example.com", U2_PASSWORD);
    h.users.clear_calls();
    let values = h.ok("delete_all_sessions", args(&s1));
    assert!(values.is_empty());
    let calls = h.users.calls_to("increment_user_sessions_counter");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args, ["u1", "0"]);
    assert_eq!(h.users.user("u1").unwrap().sessions_counter, 1);
    // No storage entry was deleted by the action itself.
    assert!(h.main.contains(&key(&s1)) && h.main.contains(&key(&s2)));

    h.err_unlogged("get_session", args(&s2), "invalid_session_token");
    assert!(!h.main.contains(&key(&s2)));
    h.err_unlogged("get_session", args(&s1), "invalid_session_token");
    assert!(!h.main.contains(&key(&s1)));
    h.ok("get_session", args(&u2));
    // A session created afterwards snapshots the new counter.
    let s3 = h.signin_u1();
    h.ok("get_session", args(&s3));
}

#[test]
fn s45_cache_staleness_after_delete_all_sessions() {
    let h = Harness::with_session(config(30 * 86400, 600, 0, 60));
    let s1 = h.signin_u1();
    let s2 = h.signin_u1();
    h.at(1);
    h.ok("delete_all_sessions", args(&s1));
    h.at(30);
    h.ok("get_session", args(&s2));
    h.at(61);
    h.err_unlogged("get_session", args(&s2), "invalid_session_token");
    assert!(!h.main.contains(&key(&s2)));
}

#[test]
fn s46_cache_staleness_after_disabling() {
    let h = Harness::with_session(config(30 * 86400, 600, 0, 60));
    let s2 = h.signin_u1();
    h.at(1);
    h.users.modify("u1", |u| {
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.at(2);
    h.ok("get_session", args(&s2));
    h.at(3);
    h.err_unlogged("create_user_deletion", args(&s2), "invalid_session_token");
    assert!(!h.cache.contains(&key(&s2)));
    assert!(
        h.main.contains(&key(&s2)),
        "main entry left in place (KEEP)"
    );
    assert!(h.main.keys().iter().all(|k| !k.starts_with("aaag.")));
    h.at(4);
    h.err_unlogged("get_session", args(&s2), "invalid_session_token");
    assert!(!h.main.contains(&key(&s2)));
}

#[test]
fn s46_cached_session_of_deleted_user() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.remove("u1");
    h.err_unlogged("delete_all_sessions", args(&s), "invalid_session_token");
    assert!(!h.cache.contains(&key(&s)));
    assert!(h.main.contains(&key(&s)));
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
}

#[test]
fn s47_increment_sessions_counter_not_found_is_internal_error() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.fail_next(
        "increment_user_sessions_counter",
        UserStoreError::UserNotFound,
    );
    h.err_internal("delete_all_sessions", args(&s));
}

#[test]
fn s47_counter_bumped_between_validation_and_increment() {
    let h = Harness::new();
    let s = h.signin_u1();
    let users = h.users.clone();
    h.users.set_hook(move |method| {
        if method == "increment_user_sessions_counter" {
            users.modify("u1", |u| u.sessions_counter += 1);
        }
    });
    h.err_internal("delete_all_sessions", args(&s));
    h.users.clear_hook();
    assert_eq!(h.users.user("u1").unwrap().sessions_counter, 1);
    // Other user-store failures are internal errors as well.
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.fail_next(
        "increment_user_sessions_counter",
        UserStoreError::Failed("down".into()),
    );
    h.err_internal("delete_all_sessions", args(&s));
}

#[test]
fn s48_malformed_tokens_touch_nothing() {
    let h = Harness::new();
    h.signin_u1();
    h.main.instrumentation.clear_log();
    h.cache.instrumentation.clear_log();
    h.rate.instrumentation.clear_log();
    h.users.clear_calls();
    for token in ["x.y.z", "xyz", "", "a.b.c.d"] {
        h.err_unlogged("get_session", args(token), "invalid_session_token");
        h.err_unlogged("delete_session", args(token), "invalid_session_token");
        h.err_unlogged("delete_all_sessions", args(token), "invalid_session_token");
    }
    assert!(h.main.instrumentation.operations().is_empty());
    assert!(h.cache.instrumentation.operations().is_empty());
    assert!(h.rate.instrumentation.operations().is_empty());
    assert!(h.users.calls().is_empty());
}

#[test]
fn s49_expired_cached_copy_on_session_and_user_validation() {
    let h = Harness::with_session(config(120, 600, 0, 600));
    let s = h.signin_u1();
    let k = key(&s);
    h.at(60);
    h.main.instrumentation.clear_log();
    h.ok("get_session", args(&s));
    assert!(
        h.main.instrumentation.operations().is_empty(),
        "cache hit, no write"
    );
    // Another instance's activity update, invisible to the cache.
    let mut record = stored(&h, &s);
    record.token_last_verified_at = T0_SECONDS + 100;
    h.main.put_raw(&k, record.encode());
    h.at(130);
    h.cache.instrumentation.clear_log();
    let values = h.ok("create_user_password_update", args(&s));
    assert!(values["user_password_update_token"].is_string());
    assert_eq!(h.cache.instrumentation.count(Op::Delete, &k), 1);
    // The main path's read and the re-read after its cache fill (prompt revocation).
    assert_eq!(h.main.instrumentation.count(Op::Get, &k), 2);
    assert!(h.main.contains(&k));
    assert!(h.cache.contains(&k), "re-cached by the main path");
    assert_eq!(h.main.instrumentation.count(Op::Update, &k), 0);
    h.ok("get_session", args(&s));
}

#[test]
fn s49_expired_cached_copy_on_session_only_validation() {
    let h = Harness::with_session(config(120, 600, 0, 600));
    let s = h.signin_u1();
    let k = key(&s);
    let mut record = stored(&h, &s);
    record.token_last_verified_at = T0_SECONDS + 100;
    h.main.put_raw(&k, record.encode());
    h.at(130);
    h.ok("get_session", args(&s));
    assert!(h.main.contains(&k));
    // Without the newer stored value the session has expired.
    h.at(220);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&k));
}

#[test]
fn s83_lazy_deletion_before_secret_check() {
    let h = Harness::with_session(config(30 * 86400, 60, 60, 0));
    let s = h.signin_u1();
    let k = key(&s);
    h.at(30);
    h.err_unlogged(
        "get_session",
        args(&wrong_secret(&s)),
        "invalid_session_token",
    );
    assert!(h.main.contains(&k));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 0);
    h.at(60);
    h.err_unlogged(
        "get_session",
        args(&wrong_secret(&s)),
        "invalid_session_token",
    );
    assert!(!h.main.contains(&k));
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
}

// ---------------------------------------------------------------- main-path invalidations

#[test]
fn main_path_invalidations_delete_the_session() {
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.users.modify("u1", |u| u.disabled_counter += 1);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));

    let s = h.signin_u1();
    h.users.modify("u1", |u| u.disabled = true);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
    h.users.modify("u1", |u| u.disabled = false);

    let s = h.signin_u1();
    h.users.remove("u1");
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
}

#[test]
fn password_change_does_not_invalidate_sessions() {
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.users.modify("u1", |u| {
        u.password_hash_counter += 1;
        u.email_address_counter += 1;
    });
    h.ok("get_session", args(&s));
    h.ok("delete_all_sessions", args(&s));
}

// ---------------------------------------------------------------- Appendix B: session actions

#[test]
fn appendix_b_get_session_internal_errors() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.cache
        .instrumentation
        .fail_next(Op::Get, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));

    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.main
        .instrumentation
        .fail_next(Op::Get, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));
    h.users
        .fail_next("get_user", UserStoreError::Failed("down".into()));
    h.err_internal("get_session", args(&s));
    assert!(h.main.contains(&key(&s)));
    h.main.put_raw(&key(&s), vec![0x05, 0x01]);
    h.err_internal("get_session", args(&s));

    // Re-caching fails on the main path.
    let h = Harness::new();
    let s = h.signin_u1();
    h.at(61);
    h.cache
        .instrumentation
        .fail_next(Op::Set, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));

    // Deleting an invalid session fails.
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.users.modify("u1", |u| u.disabled_counter += 1);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("get_session", args(&s));
    assert!(h.main.contains(&key(&s)));
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
}

#[test]
fn appendix_b_delete_session_errors() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("delete_session", args(&s));
    h.cache
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", StorageError::Failed("io".into()));
    h.err_internal("delete_session", args(&s));
    // Main storage reports it gone (deleted concurrently): success.
    let s = h.signin_u1();
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaa.", StorageError::NotFound);
    h.ok("delete_session", args(&s));
    assert!(!h.cache.contains(&key(&s)));
}

#[test]
fn appendix_b_delete_all_sessions_errors() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.err_unlogged(
        "delete_all_sessions",
        args(&wrong_secret(&s)),
        "invalid_session_token",
    );
    h.users
        .fail_next("get_user", UserStoreError::Failed("down".into()));
    h.err_internal("delete_all_sessions", args(&s));
    assert!(h
        .users
        .calls_to("increment_user_sessions_counter")
        .is_empty());
}

#[test]
fn s81_invalid_session_tokens_on_session_actions() {
    let h = Harness::new();
    let s = h.signin_u1();
    for action in [
        "delete_all_sessions",
        "create_user_deletion",
        "create_user_password_update",
    ] {
        h.err_unlogged(action, args(&wrong_secret(&s)), "invalid_session_token");
        h.err_unlogged(action, args("nope"), "invalid_session_token");
    }
    assert!(h
        .main
        .keys()
        .iter()
        .all(|k| !k.starts_with("aaae.") && !k.starts_with("aaag.")));
}

#[test]
fn wrong_secret_never_updates_activity() {
    let h = Harness::with_session(config(30 * 86400, 60, 0, 0));
    let s = h.signin_u1();
    h.at(120);
    h.err_unlogged(
        "get_session",
        args(&wrong_secret(&s)),
        "invalid_session_token",
    );
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaaa."), 0);
    assert_eq!(stored(&h, &s).token_last_verified_at, T0_SECONDS);
    assert!(h.main.contains(&key(&s)));
}

#[test]
fn session_only_cache_hit_skips_the_user_store() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.clear_calls();
    h.main.instrumentation.clear_log();
    h.at(10);
    h.ok("get_session", args(&s));
    assert!(h.users.calls().is_empty());
    assert!(h.main.instrumentation.operations().is_empty());
    // Session-and-user validation still fetches the user on a cache hit.
    h.ok("delete_all_sessions", args(&s));
    assert_eq!(h.users.calls_to("get_user").len(), 1);
    assert!(h.main.instrumentation.operations().is_empty());
}

// ---------------------------------------------------------------- prompt revocation (issue #11, item 7)

fn action_body(action: &str, token: &str) -> String {
    json!({ "action": action, "arguments": args(token) }).to_string()
}

fn result_of(output: Result<String, faroe_worker::RequestError>) -> Value {
    serde_json::from_str(&output.expect("not a request error")).expect("result is JSON")
}

/// A `get_session` that misses the cache reads the session, then waits on a slow user store;
/// `action` (which revokes the session) runs to completion meanwhile; then the first request's
/// cache fill lands. Returns both results.
fn race_cache_fill_with(h: &Harness, action: &str, token: &str) -> (Value, Value) {
    use faroe_worker::ports::Cache;
    let k = key(token);
    futures::executor::block_on(h.cache.delete(&k)).unwrap(); // a miss, as on another Worker
    h.cache.instrumentation.clear_log();
    let pause = h.users.pause_next("get_user");
    let slow_body = action_body("get_session", token);
    let slow = h.server.resolve(slow_body.as_bytes());
    let revoke = async {
        let body = action_body(action, token);
        let result = h.server.resolve(body.as_bytes()).await;
        assert!(pause.reached(), "get_session is held in the user store");
        pause.release();
        result
    };
    let (slow, revoke) = futures::executor::block_on(futures::future::join(slow, revoke));
    (result_of(slow), result_of(revoke))
}

#[test]
fn delete_session_racing_a_cache_fill_stays_revoked() {
    let h = Harness::new();
    let s = h.signin_u1();
    let k = key(&s);
    let (slow, revoked) = race_cache_fill_with(&h, "delete_session", &s);
    assert_eq!(revoked["ok"], json!(true), "{revoked}");
    // The slow validation read the session before it was deleted: it may still answer ok.
    assert_eq!(slow["ok"], json!(true), "{slow}");
    assert!(!h.main.contains(&k));
    // Its cache fill came after the revocation's cache delete; the re-read found the session
    // gone and deleted the key again.
    assert_eq!(
        h.cache.instrumentation.count(Op::Set, &k),
        2,
        "both requests filled the cache"
    );
    assert!(!h.cache.contains(&k), "the revoked session is not cached");
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    // Not even through the session-only variant's cache shortcut, at any time before the TTL.
    h.at(59);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
}

#[test]
fn delete_all_sessions_racing_a_cache_fill_stays_revoked() {
    // Sign-out everywhere changes only the user's sessions counter: no storage entry of the other
    // session goes. A get_session of that other session, held in the user store with the old
    // counter, fills the cache after the revocation; the re-read of the user must drop the copy.
    use faroe_worker::ports::Cache;
    let h = Harness::new();
    let here = h.signin_u1();
    let elsewhere = h.signin("user1@example.com", U1_PASSWORD);
    let k = key(&elsewhere);
    futures::executor::block_on(h.cache.delete(&k)).unwrap(); // a miss, as on another Worker
    h.cache.instrumentation.clear_log();
    let pause = h.users.pause_next("get_user");
    let slow_body = action_body("get_session", &elsewhere);
    let slow = h.server.resolve(slow_body.as_bytes());
    let revoke = async {
        let body = action_body("delete_all_sessions", &here);
        let result = h.server.resolve(body.as_bytes()).await;
        assert!(pause.reached(), "get_session is held in the user store");
        pause.release();
        result
    };
    let (slow, revoked) = futures::executor::block_on(futures::future::join(slow, revoke));
    assert_eq!(result_of(revoked)["ok"], json!(true));
    // The slow validation read the old counter: it may still answer ok.
    assert_eq!(result_of(slow)["ok"], json!(true));
    assert!(
        h.main.contains(&k),
        "the other session's entry is still stored"
    );
    assert_eq!(
        h.cache.instrumentation.count(Op::Set, &k),
        1,
        "the held validation filled the cache after the revocation"
    );
    assert!(!h.cache.contains(&k), "the revoked session is not cached");
    h.err_unlogged("get_session", args(&elsewhere), "invalid_session_token");
}

#[test]
fn main_path_invalidation_racing_a_cache_fill_stays_revoked() {
    // A user disabled while a slow get_session is held: a second request's main path deletes
    // the session; the held request's fill must not bring it back.
    let h = Harness::new();
    let s = h.signin_u1();
    let other = h.signin("user1@example.com", U1_PASSWORD);
    use faroe_worker::ports::Cache;
    futures::executor::block_on(h.cache.delete(&key(&s))).unwrap();
    let pause = h.users.pause_next("get_user");
    let slow_body = action_body("get_session", &s);
    let slow = h.server.resolve(slow_body.as_bytes());
    let invalidate = async {
        h.users.modify("u1", |u| u.disabled_counter += 1);
        // Session-and-user validation on a miss takes the main path, which deletes the session.
        let result = h
            .server
            .resolve(action_body("create_user_deletion", &s).as_bytes())
            .await;
        pause.release();
        result
    };
    let (_, invalidated) = futures::executor::block_on(futures::future::join(slow, invalidate));
    assert_eq!(
        result_of(invalidated)["error_code"],
        json!("invalid_session_token")
    );
    assert!(!h.main.contains(&key(&s)));
    assert!(!h.cache.contains(&key(&s)));
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(
        h.cache.contains(&key(&other)),
        "other sessions keep their cached copy"
    );
}

#[test]
fn cache_fill_without_a_race_keeps_the_cached_copy() {
    // The re-read after a fill finds the session: the copy stays and the next call is a hit.
    let h = Harness::with_session(config(30 * 86400, 600, 0, 60));
    let s = h.signin_u1();
    let k = key(&s);
    h.at(61); // the creation's cached copy has expired
    h.main.instrumentation.clear_log();
    h.ok("get_session", args(&s));
    assert!(h.cache.contains(&k));
    let gets = h.main.instrumentation.count(Op::Get, &k);
    h.ok("get_session", args(&s));
    assert_eq!(h.main.instrumentation.count(Op::Get, &k), gets, "cache hit");
}

#[test]
fn failed_re_read_after_a_fill_drops_the_cached_copy() {
    let h = Harness::with_session(config(30 * 86400, 600, 0, 60));
    let s = h.signin_u1();
    let k = key(&s);
    h.at(61);
    // Fail the second main-storage Get of the session: the re-read after the fill.
    let main = h.main.clone();
    let mut gets = 0;
    h.main.instrumentation.set_hook(move |op, key| {
        if op == Op::Get && key.starts_with("aaaa.") {
            gets += 1;
            if gets == 2 {
                main.instrumentation
                    .fail_next(Op::Get, "aaaa.", StorageError::Failed("io".into()));
            }
        }
    });
    h.ok("get_session", args(&s));
    h.main.instrumentation.clear_hook();
    assert!(!h.cache.contains(&k), "not known to be live: not cached");
    assert!(h.main.contains(&k));
    h.ok("get_session", args(&s));
}

#[test]
fn absolute_expiration_is_checked_on_read_but_is_not_the_storage_expiry() {
    // SESSION_EXPIRATION_SECONDS = 1 h, inactivity timeout 30 days.
    let h = Harness::with_session(config(30 * 86400, 60, 3600, 60));
    let s = h.signin_u1();
    // The stored expiry (what the storage alarm deletes by) is the inactivity deadline only.
    assert_eq!(h.main.expires_at(&key(&s)), Some(T0 + 30 * DAY));
    // A read past the absolute expiration refuses and deletes the session.
    h.at(3600);
    h.err_unlogged("get_session", args(&s), "invalid_session_token");
    assert!(!h.main.contains(&key(&s)));
}

#[test]
fn token_ids_no_generated_id_could_equal_are_refused_without_a_lookup() {
    let h = Harness::new();
    let s = h.signin_u1();
    let secret = s.split('.').nth(1).unwrap().to_string();
    h.main.instrumentation.clear_log();
    h.cache.instrumentation.clear_log();
    h.rate.instrumentation.clear_log();
    h.users.clear_calls();
    // Wrong length, or characters outside the id alphabet (upper case, '0', '1', 'l', 'o').
    for id in [
        "a".repeat(23),
        "a".repeat(25),
        "A".repeat(24),
        "0".repeat(24),
        "1".repeat(24),
        "l".repeat(24),
        "o".repeat(24),
    ] {
        let token = format!("{id}.{secret}");
        h.err_unlogged("get_session", args(&token), "invalid_session_token");
        h.err_unlogged("delete_session", args(&token), "invalid_session_token");
        h.err_unlogged(
            "get_signup",
            json!({ "signup_token": token }),
            "invalid_signup_token",
        );
    }
    assert!(h.main.instrumentation.operations().is_empty());
    assert!(h.cache.instrumentation.operations().is_empty());
    assert!(h.rate.instrumentation.operations().is_empty());
    assert!(h.users.calls().is_empty());
}

#[test]
fn without_the_cache_revocation_takes_effect_at_once() {
    // SESSION_CACHE_EXPIRATION_SECONDS=0: every validation reads main storage and the user.
    let h = Harness::with_session(config(30 * 86400, 600, 0, 0));
    let s1 = h.signin_u1();
    let s2 = h.signin_u1();
    h.at(1);
    h.ok("delete_all_sessions", args(&s1));
    h.err_unlogged("get_session", args(&s2), "invalid_session_token");
    let s3 = h.signin_u1();
    h.ok("get_session", args(&s3));
    h.users.modify("u1", |u| {
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.err_unlogged("get_session", args(&s3), "invalid_session_token");
    let s4 = h.signin("user2@example.com", U2_PASSWORD);
    h.ok("get_session", args(&s4));
    h.users.remove("u2");
    h.err_unlogged("get_session", args(&s4), "invalid_session_token");
}
