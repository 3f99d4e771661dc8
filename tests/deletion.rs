//! Spec §14.8: user deletion, scenarios 64–66.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::EmailKind;
use faroe_worker::ports::UserStoreError;
use faroe_worker::SessionConfig;
use flow_helpers::*;
use serde_json::json;

fn no_cache() -> SessionConfig {
    SessionConfig {
        cache_expiration: 0,
        ..HarnessConfig::default().session
    }
}

#[test]
fn s64_deletion_flow() {
    let h = Harness::with_session(no_cache());
    let s = h.signin_u1();
    let (t, values) = create_deletion(&h, &s);
    let model = &values["user_deletion"];
    let id = model["id"].as_str().unwrap().to_string();
    assert!(is_id(&id));
    assert_eq!(
        model,
        &json!({
            "id": id,
            "user_id": "u1",
            "session_id": Harness::session_id(&s),
            "user_identity_verified": false,
            "created_at": T0_SECONDS,
            "expires_at": T0_SECONDS + 600,
        })
    );
    let keys: Vec<_> = model.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "user_id",
            "session_id",
            "user_identity_verified",
            "created_at",
            "expires_at"
        ]
    );
    assert!(is_token(&t) && t.starts_with(&format!("{id}.")));
    assert!(h.main.contains(&format!("aaag.{id}")));

    h.err_unlogged(
        "complete_user_deletion",
        ud_args(&s, &t),
        "user_identity_not_verified",
    );
    h.err_unlogged(
        "verify_user_deletion_user_password",
        ud_password_args(&s, &t, "wrong-password"),
        "incorrect_password",
    );
    ok_unlogged(
        &h,
        "verify_user_deletion_user_password",
        ud_password_args(&s, &t, U1_PASSWORD),
    );
    assert_eq!(
        h.ok("get_user_deletion", ud_args(&s, &t))["user_deletion"]["user_identity_verified"],
        json!(true)
    );
    h.err_unlogged(
        "verify_user_deletion_user_password",
        ud_password_args(&s, &t, U1_PASSWORD),
        "user_identity_already_verified",
    );
    assert!(h.users.calls_to("delete_user").is_empty());

    let emails_before = h.email.sent();
    let values = ok_unlogged(&h, "complete_user_deletion", ud_args(&s, &t));
    assert!(values.is_empty());
    let calls = h.users.calls_to("delete_user");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args, ["u1"]);
    assert!(h.users.user("u1").is_none());
    assert!(
        !h.main.contains(&format!("aaag.{id}")),
        "deletion entry removed"
    );
    assert_eq!(h.email.sent(), emails_before, "no email");
    // The session was not deleted explicitly ...
    assert!(h
        .main
        .contains(&format!("aaaa.{}", Harness::session_id(&s))));
    // ... but fails its next main-path validation (no cache), which deletes it.
    h.err_unlogged("get_session", session_args(&s), "invalid_session_token");
    assert!(!h
        .main
        .contains(&format!("aaaa.{}", Harness::session_id(&s))));
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s64_cached_session_survives_until_its_cache_entry_expires() {
    // Default configuration: CacheExpiration = 60 s (spec §3.6 step 7, §6.3).
    let h = Harness::new();
    let s = h.signin_u1();
    let t = verified_deletion(&h, &s);
    h.ok("complete_user_deletion", ud_args(&s, &t));
    assert!(h.users.user("u1").is_none());
    h.ok("get_session", session_args(&s));
    // Session-and-user validation still fetches the user, even on a cache hit.
    h.err_unlogged(
        "create_user_deletion",
        session_args(&s),
        "invalid_session_token",
    );
    h.at(61);
    h.err_unlogged("get_session", session_args(&s), "invalid_session_token");
    assert!(h
        .email
        .sent()
        .iter()
        .all(|e| e.kind == EmailKind::UserSignedInNotification));
}

#[test]
fn s65_expiry_is_inclusive() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, values) = create_deletion(&h, &s);
    h.at(600);
    let got = h.ok("get_user_deletion", ud_args(&s, &t));
    assert_eq!(got["user_deletion"], values["user_deletion"]);
    h.at(601);
    h.err_unlogged(
        "get_user_deletion",
        ud_args(&s, &t),
        "invalid_user_deletion_token",
    );
    assert!(
        !h.main.contains(&format!("aaag.{}", id_of(&t))),
        "lazily deleted"
    );
}

#[test]
fn s66_user_gone_before_complete() {
    // The user disappears from the store after verification; S is still cached.
    let h = Harness::new();
    let s = h.signin_u1();
    let t = verified_deletion(&h, &s);
    assert!(h.users.remove("u1"));
    h.users.clear_calls();
    h.err_unlogged(
        "complete_user_deletion",
        ud_args(&s, &t),
        "invalid_user_deletion_token",
    );
    assert!(
        !h.main.contains(&format!("aaag.{}", id_of(&t))),
        "the deletion validation deleted the entry"
    );
    assert!(h.users.calls_to("delete_user").is_empty());
    assert_eq!(h.users.calls_to("get_user").len(), 1);
}

#[test]
fn s66_delete_user_reports_not_found() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = verified_deletion(&h, &s);
    h.users
        .fail_next("delete_user", UserStoreError::UserNotFound);
    h.err_unlogged(
        "complete_user_deletion",
        ud_args(&s, &t),
        "internal_conflict",
    );
    assert_eq!(h.users.calls_to("delete_user").len(), 1);
    assert!(
        h.main.contains(&format!("aaag.{}", id_of(&t))),
        "entry kept"
    );
    assert!(h.users.user("u1").is_some());
    // The flow can still be completed.
    h.ok("complete_user_deletion", ud_args(&s, &t));
    assert!(h.users.user("u1").is_none());
}
