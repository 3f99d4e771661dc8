//! Spec §14.4 (scenarios 29–38) and the signin rows of Appendix B, plus scenarios 79, 81, 82 and
//! 84 as far as they concern the signin actions.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::adapters::memory::{EmailKind, Op};
use faroe_worker::encoding::{SequenceReader, SequenceWriter};
use faroe_worker::ports::{StorageError, UserStoreError};
use serde_json::{json, Value};

fn signin_key(token: &str) -> String {
    format!("aaac.{}", Harness::session_id(token))
}

fn verify_args(token: &str, password: &str) -> Value {
    json!({ "signin_token": token, "password": password })
}

fn token_args(token: &str) -> Value {
    json!({ "signin_token": token })
}

/// Creates a signin for U1 and verifies the correct password.
fn verified_signin(h: &Harness) -> String {
    let token = h.create_signin("user1@example.com");
    h.ok(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    token
}

fn session_keys(h: &Harness) -> Vec<String> {
    h.main
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("aaaa."))
        .collect()
}

/// The stored signin with its `user_first_factor_verified` flag (item 3) replaced.
fn signin_with_flag(value: &[u8], verified: bool) -> Vec<u8> {
    let mut r = SequenceReader::new(value);
    let id = r.string().unwrap();
    let user_id = r.string().unwrap();
    let secret_hash = r.byte_vec().unwrap();
    let _ = r.bool().unwrap();
    let password_hash_counter = r.int32().unwrap();
    let disabled_counter = r.int32().unwrap();
    let created_at = r.int64().unwrap();
    SequenceWriter::new()
        .string(&id)
        .string(&user_id)
        .bytes(&secret_hash)
        .bool(verified)
        .int32(password_hash_counter)
        .int32(disabled_counter)
        .int64(created_at)
        .finish()
}

// ---------------------------------------------------------------- §14.4

#[test]
fn s29_create_signin_errors_and_model() {
    let h = Harness::new();
    h.err_unlogged(
        "create_signin",
        json!({ "user_email_address": "nobody@example.com" }),
        "user_not_found",
    );
    h.users.clear_calls();
    h.err_unlogged(
        "create_signin",
        json!({ "user_email_address": "bad" }),
        "invalid_email_address",
    );
    assert!(h.users.calls().is_empty(), "pattern is checked first");

    h.users.modify("u1", |u| u.disabled = true);
    h.err_unlogged(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
        "user_disabled",
    );
    assert!(
        h.main.keys().is_empty(),
        "no signin stored for refused requests"
    );
    h.users.modify("u1", |u| u.disabled = false);

    let values = h.ok(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    );
    let keys: Vec<_> = values.keys().cloned().collect();
    assert_eq!(keys, ["signin", "signin_token"]);
    let signin = values["signin"].as_object().unwrap();
    let members: Vec<_> = signin.keys().cloned().collect();
    assert_eq!(
        members,
        [
            "id",
            "user_id",
            "user_first_factor_verified",
            "created_at",
            "expires_at"
        ]
    );
    let id = signin["id"].as_str().unwrap();
    assert!(is_id(id));
    assert_eq!(signin["user_id"], json!("u1"));
    assert_eq!(signin["user_first_factor_verified"], json!(false));
    assert_eq!(signin["created_at"], json!(T0_SECONDS));
    assert_eq!(signin["expires_at"], json!(T0_SECONDS + 600));
    let token = values["signin_token"].as_str().unwrap();
    assert!(is_token(token));
    assert!(token.starts_with(&format!("{id}.")));
    let key = format!("aaac.{id}");
    assert!(h.main.contains(&key));
    assert_eq!(h.main.expires_at(&key), Some(T0 + 600 * SECOND));
    // No rate limit, no email.
    assert!(h.rate.keys().is_empty());
    assert!(h.email.sent().is_empty());
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s30_verify_signin_user_password() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, "wrong-password"),
        "incorrect_password",
    );
    h.ok(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    assert_eq!(h.bucket_count("aaaa.u1"), Some(3));
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "user_first_factor_already_verified",
    );
    assert_eq!(h.bucket_count("aaaa.u1"), Some(3), "no token consumed");
    let signin = &h.ok("get_signin", token_args(&token))["signin"];
    assert_eq!(signin["user_first_factor_verified"], json!(true));
    // Sign-in never writes the user store.
    for call in h.users.calls() {
        assert!(call.method.starts_with("get_user"), "{call:?}");
    }
}

#[test]
fn s31_password_rate_limit() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    for _ in 0..5 {
        h.err_unlogged(
            "verify_signin_user_password",
            verify_args(&token, "wrong-password"),
            "incorrect_password",
        );
    }
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "rate_limited",
    );
    h.at(59);
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "rate_limited",
    );
    h.at(60);
    h.ok(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
}

#[test]
fn s32_shared_password_bucket() {
    let h = Harness::new();
    let s = h.signin_u1();
    assert_eq!(h.bucket_count("aaaa.u1"), Some(4));
    let deletion = h.ok("create_user_deletion", json!({ "session_token": s }))
        ["user_deletion_token"]
        .as_str()
        .unwrap()
        .to_string();
    let update = h.ok("create_user_password_update", json!({ "session_token": s }))
        ["user_password_update_token"]
        .as_str()
        .unwrap()
        .to_string();
    let signin = h.create_signin("user1@example.com");
    for _ in 0..2 {
        h.err_unlogged(
            "verify_signin_user_password",
            verify_args(&signin, "wrong-password"),
            "incorrect_password",
        );
    }
    for _ in 0..2 {
        h.err_unlogged(
            "verify_user_deletion_user_password",
            json!({ "session_token": s, "user_deletion_token": deletion, "password": "wrong-password" }),
            "incorrect_password",
        );
    }
    h.err_unlogged(
        "verify_user_password_update_user_password",
        json!({ "session_token": s, "user_password_update_token": update, "password": U1_PASSWORD }),
        "rate_limited",
    );
    // U2's bucket is separate.
    let s2 = h.create_signin("user2@example.com");
    h.ok("verify_signin_user_password", verify_args(&s2, U2_PASSWORD));
}

#[test]
fn s33_complete_signin() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.err_unlogged(
        "complete_signin",
        token_args(&token),
        "user_first_factor_not_verified",
    );
    assert!(h.main.contains(&signin_key(&token)));
    assert!(session_keys(&h).is_empty());
    h.ok(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    h.at(5);
    let values = h.ok("complete_signin", token_args(&token));
    let keys: Vec<_> = values.keys().cloned().collect();
    assert_eq!(keys, ["session", "session_token"]);
    let session = values["session"].as_object().unwrap();
    let members: Vec<_> = session.keys().cloned().collect();
    assert_eq!(members, ["id", "user_id", "created_at", "expires_at"]);
    assert_eq!(session["user_id"], json!("u1"));
    assert_eq!(session["created_at"], json!(T0_SECONDS + 5));
    assert_eq!(session["expires_at"], json!(null));
    let session_token = values["session_token"].as_str().unwrap();
    assert!(is_token(session_token));
    let session_id = session["id"].as_str().unwrap();
    assert!(session_token.starts_with(&format!("{session_id}.")));
    assert_eq!(session_keys(&h), [format!("aaaa.{session_id}")]);
    assert!(h.cache.contains(&format!("aaaa.{session_id}")));
    h.ok("get_session", json!({ "session_token": session_token }));

    assert!(!h.main.contains(&signin_key(&token)));
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");

    let notifications = h.email.sent_of(EmailKind::UserSignedInNotification);
    assert_eq!(notifications.len(), 1);
    assert_eq!(notifications[0].email_address, "user1@example.com");
    assert_eq!(notifications[0].display_name, "Alice");
    assert_eq!(notifications[0].timestamp, Some(T0 + 5 * SECOND));
    assert_eq!(h.email.sent().len(), 1);
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s34_counter_changes_invalidate_signin() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.users.modify("u1", |u| u.password_hash_counter += 1);
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    assert!(!h.main.contains(&signin_key(&token)));

    let token = h.create_signin("user1@example.com");
    h.ok("get_signin", token_args(&token));
    h.users.modify("u1", |u| u.disabled_counter += 1);
    assert!(!h.users.user("u1").unwrap().disabled);
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    assert!(!h.main.contains(&signin_key(&token)));
}

#[test]
fn s34_disabled_or_deleted_user_invalidates_signin() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.users.modify("u1", |u| u.disabled = true);
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    assert!(!h.main.contains(&signin_key(&token)));

    let token = h.create_signin("user2@example.com");
    h.users.remove("u2");
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    assert!(!h.main.contains(&signin_key(&token)));
}

#[test]
fn s34_wrong_secret_on_healthy_signin_changes_nothing() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    for bad in [
        wrong_secret(&token),
        "abc".into(),
        "a.b.c".into(),
        String::new(),
    ] {
        h.err_unlogged("get_signin", token_args(&bad), "invalid_signin_token");
    }
    assert!(h.main.contains(&signin_key(&token)));
    h.ok("get_signin", token_args(&token));
}

#[test]
fn s35_signin_expiry() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.at(599);
    h.ok("get_signin", token_args(&token));
    h.at(600);
    // Expired: deleted before the secret is looked at.
    h.err_unlogged(
        "get_signin",
        token_args(&wrong_secret(&token)),
        "invalid_signin_token",
    );
    assert!(!h.main.contains(&signin_key(&token)));
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
}

#[test]
fn s36_unknown_algorithm_is_internal_error_after_consuming() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.users
        .modify("u1", |u| u.password_hash_algorithm_id = "unknown".into());
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    assert_eq!(h.bucket_count("aaaa.u1"), Some(4));
    let signin = &h.ok("get_signin", token_args(&token))["signin"];
    assert_eq!(signin["user_first_factor_verified"], json!(false));
}

#[test]
fn s37_algorithm_list_b_then_a() {
    let mut h = Harness::new();
    h.config.user_algorithms = vec!["test-b", "test-a"];
    h.rebuild();
    h.users.clear_calls();
    let s = h.signin_u1();
    let writes: Vec<_> = h
        .users
        .calls()
        .into_iter()
        .filter(|c| !c.method.starts_with("get_user"))
        .collect();
    assert!(writes.is_empty(), "no rehash: {writes:?}");
    assert_eq!(
        h.users.user("u1").unwrap().password_hash_algorithm_id,
        "test-a"
    );

    // A password update stores the new hash with list[0] = "test-b".
    let update = h.ok("create_user_password_update", json!({ "session_token": s }))
        ["user_password_update_token"]
        .as_str()
        .unwrap()
        .to_string();
    let args = json!({ "session_token": s, "user_password_update_token": update, "password": U1_PASSWORD });
    h.ok("verify_user_password_update_user_password", args.clone());
    let args = json!({ "session_token": s, "user_password_update_token": update, "password": "correct-horse-7" });
    h.ok("set_user_password_update_new_password", args);
    h.ok(
        "complete_user_password_update",
        json!({ "session_token": s, "user_password_update_token": update }),
    );
    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args[2], "test-b");
    let u1 = h.users.user("u1").unwrap();
    assert_eq!(u1.password_hash_algorithm_id, "test-b");
    assert_eq!(
        u1.password_hash,
        hash_with_salt("correct-horse-7", &u1.password_salt)
    );
    // Verification now uses "test-b".
    h.signin("user1@example.com", "correct-horse-7");

    // A signup also hashes with "test-b".
    let signup = h.signup_ready("new@example.com");
    h.ok("complete_signup", json!({ "signup_token": signup }));
    let calls = h.users.calls_to("create_user");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args[2], "test-b");
}

#[test]
fn s38_sequential_completes() {
    let h = Harness::new();
    let token = verified_signin(&h);
    h.ok("complete_signin", token_args(&token));
    h.err_unlogged(
        "complete_signin",
        token_args(&token),
        "invalid_signin_token",
    );
    assert_eq!(session_keys(&h).len(), 1);
    assert_eq!(
        h.email.sent_of(EmailKind::UserSignedInNotification).len(),
        1
    );
}

// ---------------------------------------------------------------- 79, 81, 82, 84

#[test]
fn s79_delete_signin() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.err_unlogged(
        "delete_signin",
        token_args(&wrong_secret(&token)),
        "invalid_signin_token",
    );
    assert!(h.main.contains(&signin_key(&token)));
    let values = h.ok("delete_signin", token_args(&token));
    assert!(values.is_empty());
    assert!(!h.main.contains(&signin_key(&token)));
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    h.err_unlogged("delete_signin", token_args(&token), "invalid_signin_token");
}

#[test]
fn s81_complete_signin_session_set_failure_is_internal_error_and_signin_spent() {
    let h = Harness::new();
    let token = verified_signin(&h);
    h.main
        .instrumentation
        .fail_next(Op::Set, "aaaa.", StorageError::Failed("disk full".into()));
    h.err_internal("complete_signin", token_args(&token));
    // FIX-10: the signin was consumed before the session was attempted.
    assert!(!h.main.contains(&signin_key(&token)));
    assert!(session_keys(&h).is_empty());
    assert!(h
        .email
        .sent_of(EmailKind::UserSignedInNotification)
        .is_empty());
    h.err_unlogged(
        "complete_signin",
        token_args(&token),
        "invalid_signin_token",
    );
}

#[test]
fn s81_complete_signin_cache_set_failure_is_internal_error() {
    let h = Harness::new();
    let token = verified_signin(&h);
    h.cache
        .instrumentation
        .fail_next(Op::Set, "aaaa.", StorageError::Failed("cache down".into()));
    h.err_internal("complete_signin", token_args(&token));
    assert!(!h.main.contains(&signin_key(&token)));
    // The main-storage entry stays (spec §2.4 step 3).
    assert_eq!(session_keys(&h).len(), 1);
    assert!(h
        .email
        .sent_of(EmailKind::UserSignedInNotification)
        .is_empty());
}

#[test]
fn s82_complete_signin_failed_notification_is_logged_with_real_action_name() {
    let h = Harness::new();
    let token = verified_signin(&h);
    h.email
        .set_failing(EmailKind::UserSignedInNotification, true);
    let result = h.call("complete_signin", token_args(&token));
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_signin");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
    assert_eq!(entries[0].timestamp, T0);
    let session_token = result["values"]["session_token"].as_str().unwrap();
    h.ok("get_session", json!({ "session_token": session_token }));
}

#[test]
fn s84_concurrent_completes_yield_exactly_one_session() {
    let h = Harness::new();
    let token = verified_signin(&h);
    h.email.clear();
    let body =
        json!({ "action": "complete_signin", "arguments": { "signin_token": token } }).to_string();
    h.main.instrumentation.set_yielding(true);
    h.users.set_yielding(true);
    h.main.instrumentation.clear_log();
    let futures: Vec<_> = (0..20).map(|_| h.server.resolve(body.as_bytes())).collect();
    let results = futures::executor::block_on(futures::future::join_all(futures));
    h.main.instrumentation.set_yielding(false);
    h.users.set_yielding(false);

    // Every call passed validation (read the signin) before the first delete.
    let ops = h.main.instrumentation.operations();
    let first_delete = ops
        .iter()
        .position(|(op, k)| *op == Op::Delete && k.starts_with("aaac."))
        .unwrap();
    let gets_before = ops[..first_delete]
        .iter()
        .filter(|(op, k)| *op == Op::Get && k.starts_with("aaac."))
        .count();
    assert_eq!(
        gets_before, 20,
        "interleaving: all validated before any delete"
    );

    let results: Vec<Value> = results
        .into_iter()
        .map(|r| serde_json::from_str(&r.expect("dispatched")).unwrap())
        .collect();
    let oks: Vec<&Value> = results.iter().filter(|r| r["ok"] == json!(true)).collect();
    assert_eq!(oks.len(), 1);
    for r in &results {
        assert_result_shape(r);
        if r["ok"] == json!(false) {
            assert_eq!(r["error_code"], json!("invalid_signin_token"));
        }
    }
    let sessions = session_keys(&h);
    assert_eq!(sessions.len(), 1);
    assert_eq!(
        sessions[0],
        format!(
            "aaaa.{}",
            oks[0]["values"]["session"]["id"].as_str().unwrap()
        )
    );
    assert_eq!(
        h.email.sent_of(EmailKind::UserSignedInNotification).len(),
        1
    );
    assert!(h.logger.entries().is_empty());
    let session_token = oks[0]["values"]["session_token"].as_str().unwrap();
    h.ok("get_session", json!({ "session_token": session_token }));
}

// ---------------------------------------------------------------- Appendix B: signin actions

#[test]
fn appendix_b_create_signin_internal_errors() {
    let h = Harness::new();
    h.users.fail_next(
        "get_user_by_email_address",
        UserStoreError::Failed("down".into()),
    );
    h.err_internal(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    );
    h.main
        .instrumentation
        .fail_next(Op::Set, "aaac.", StorageError::Failed("disk full".into()));
    h.err_internal(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    );
    assert!(h.main.keys().is_empty());
}

#[test]
fn appendix_b_get_signin_internal_errors() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.main
        .instrumentation
        .fail_next(Op::Get, "aaac.", StorageError::Failed("io".into()));
    h.err_internal("get_signin", token_args(&token));

    // A user-store failure is an error, and the signin is not deleted.
    h.users
        .fail_next("get_user", UserStoreError::Failed("down".into()));
    h.err_internal("get_signin", token_args(&token));
    assert!(h.main.contains(&signin_key(&token)));

    // Failing to delete an invalid (expired) signin is an error.
    h.at(600);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::Failed("io".into()));
    h.err_internal("get_signin", token_args(&token));
    assert!(h.main.contains(&signin_key(&token)));
    h.err_unlogged("get_signin", token_args(&token), "invalid_signin_token");
    assert!(!h.main.contains(&signin_key(&token)));

    // An undecodable value.
    h.at(0);
    let token = h.create_signin("user1@example.com");
    h.main.put_raw(&signin_key(&token), vec![0xff]);
    h.err_internal("get_signin", token_args(&token));
}

#[test]
fn appendix_b_delete_signin_errors() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::Failed("io".into()));
    h.err_internal("delete_signin", token_args(&token));
    assert!(h.main.contains(&signin_key(&token)));
    // Deleted concurrently between validation and delete.
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::NotFound);
    h.err_unlogged("delete_signin", token_args(&token), "invalid_signin_token");
}

#[test]
fn appendix_b_verify_signin_rate_limit_storage_errors() {
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    // Add AlreadyExists on the first attempt → internal_conflict.
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaaa.u1", StorageError::AlreadyExists);
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "internal_conflict",
    );
    assert!(!h.rate.contains("aaaa.u1"));
    // Add failing otherwise → internal_error.
    h.rate
        .instrumentation
        .fail_next(Op::Add, "aaaa.u1", StorageError::Failed("io".into()));
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, "wrong-password"),
        "incorrect_password",
    );
    // Update NotFound → internal_conflict; the password is not checked, nothing logged.
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.u1", StorageError::NotFound);
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "internal_conflict",
    );
    assert_eq!(h.bucket_count("aaaa.u1"), Some(4));
    // Update failing otherwise → internal_error.
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.u1", StorageError::Failed("io".into()));
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    // Get failing → internal_error.
    h.rate
        .instrumentation
        .fail_next(Op::Get, "aaaa.u1", StorageError::Failed("io".into()));
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    let signin = &h.ok("get_signin", token_args(&token))["signin"];
    assert_eq!(signin["user_first_factor_verified"], json!(false));
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaac."), 0);
    h.ok(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
}

#[test]
fn appendix_b_verify_signin_cas_conflicts() {
    // Update counter mismatch / vanished on the CAS update → internal_conflict.
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaac.", StorageError::NotFound);
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "internal_conflict",
    );
    // A storage failure on the CAS update → internal_error.
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaac.", StorageError::Failed("io".into()));
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    let signin = &h.ok("get_signin", token_args(&token))["signin"];
    assert_eq!(signin["user_first_factor_verified"], json!(false));
}

#[test]
fn appendix_b_verify_signin_reread_conflicts() {
    // Signin deleted between validation and the CAS re-read → internal_conflict.
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    let key = signin_key(&token);
    let main = h.main.clone();
    let hook_key = key.clone();
    let mut gets = 0;
    h.main.instrumentation.set_hook(move |op, k| {
        if op == Op::Get && k == hook_key {
            gets += 1;
            if gets == 2 {
                main.remove_raw(&hook_key);
            }
        }
    });
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "internal_conflict",
    );
    h.main.instrumentation.clear_hook();
    assert!(!h.main.contains(&key));

    // Flag already set by a concurrent verify on the re-read → internal_conflict.
    let token = h.create_signin("user1@example.com");
    let key = signin_key(&token);
    let main = h.main.clone();
    let hook_key = key.clone();
    let mut gets = 0;
    h.main.instrumentation.set_hook(move |op, k| {
        if op == Op::Get && k == hook_key {
            gets += 1;
            if gets == 2 {
                let value = main.value(&hook_key).unwrap();
                main.put_raw(&hook_key, signin_with_flag(&value, true));
            }
        }
    });
    h.err_unlogged(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
        "internal_conflict",
    );
    h.main.instrumentation.clear_hook();
    assert_eq!(h.main.instrumentation.count(Op::Update, "aaac."), 0);

    // A failing re-read → internal_error.
    let token = h.create_signin("user1@example.com");
    let key = signin_key(&token);
    let main = h.main.clone();
    let hook_key = key.clone();
    let mut gets = 0;
    h.main.instrumentation.set_hook(move |op, k| {
        if op == Op::Get && k == hook_key {
            gets += 1;
            if gets == 2 {
                main.instrumentation.fail_next(
                    Op::Get,
                    &hook_key,
                    StorageError::Failed("io".into()),
                );
            }
        }
    });
    h.err_internal(
        "verify_signin_user_password",
        verify_args(&token, U1_PASSWORD),
    );
    h.main.instrumentation.clear_hook();
}

#[test]
fn appendix_b_verify_signin_concurrent_verifies() {
    // Two correct verifies interleaved: one ok, the other internal_conflict (lost CAS, either on the
    // bucket or on the signin); nothing logged.
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.ok(
        "verify_signin_user_password",
        verify_args(&h.create_signin("user1@example.com"), U1_PASSWORD),
    );
    let body = json!({ "action": "verify_signin_user_password", "arguments": verify_args(&token, U1_PASSWORD) })
        .to_string();
    h.main.instrumentation.set_yielding(true);
    h.rate.instrumentation.set_yielding(true);
    let results = futures::executor::block_on(futures::future::join(
        h.server.resolve(body.as_bytes()),
        h.server.resolve(body.as_bytes()),
    ));
    h.main.instrumentation.set_yielding(false);
    h.rate.instrumentation.set_yielding(false);
    let mut codes: Vec<String> = [results.0, results.1]
        .into_iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.unwrap()).unwrap();
            if v["ok"] == json!(true) {
                "ok".to_string()
            } else {
                v["error_code"].as_str().unwrap().to_string()
            }
        })
        .collect();
    codes.sort();
    assert_eq!(codes, ["internal_conflict", "ok"]);
    assert!(h.logger.entries().is_empty());
}

#[test]
fn appendix_b_complete_signin_errors() {
    let h = Harness::new();
    let token = verified_signin(&h);
    // Storage failure while spending the signin → internal_error, nothing created.
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::Failed("io".into()));
    h.err_internal("complete_signin", token_args(&token));
    assert!(h.main.contains(&signin_key(&token)));
    assert!(session_keys(&h).is_empty());
    // Another complete won the delete → invalid_signin_token.
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaac.", StorageError::NotFound);
    h.err_unlogged(
        "complete_signin",
        token_args(&token),
        "invalid_signin_token",
    );
    assert!(session_keys(&h).is_empty());
    assert!(h.email.sent().is_empty());
    // User-store failure during validation → internal_error.
    h.users
        .fail_next("get_user", UserStoreError::Failed("down".into()));
    h.err_internal("complete_signin", token_args(&token));
    // Still completable.
    h.ok("complete_signin", token_args(&token));
    assert_eq!(session_keys(&h).len(), 1);
    // Invalid tokens.
    for bad in ["", "abc", "a.b.c", "a.b"] {
        h.err_unlogged("complete_signin", token_args(bad), "invalid_signin_token");
    }
}

#[test]
fn signed_in_notifications_are_not_rate_limited() {
    // Eight sign-ins a minute apart (within the password bucket): eight notifications, and no
    // send-email or mailbox bucket for the address, as in Faroe.
    let h = Harness::new();
    for minute in 0..8 {
        h.at(minute * 60);
        h.signin_u1();
    }
    assert_eq!(
        h.email.sent_of(EmailKind::UserSignedInNotification).len(),
        8
    );
    let keys = h.rate.keys();
    assert!(
        keys.iter()
            .all(|k| !k.starts_with("aaab.") && !k.starts_with("mailbox.")),
        "{keys:?}"
    );
}
