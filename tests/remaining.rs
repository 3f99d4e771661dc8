//! Spec §14.12: remaining success paths and error codes — scenarios 79, 81 (without the
//! `complete_signin` part) and 82.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op};
use faroe_worker::ports::StorageError;
use flow_helpers::*;
use serde_json::json;

#[test]
fn s79_delete_signin() {
    let h = Harness::new();
    let t = h.create_signin("user1@example.com");
    let values = ok_unlogged(&h, "delete_signin", signin_args(&t));
    assert!(values.is_empty());
    assert!(!h.main.contains(&format!("aaac.{}", id_of(&t))));
    h.err_unlogged("get_signin", signin_args(&t), "invalid_signin_token");
    h.err_unlogged("delete_signin", signin_args(&t), "invalid_signin_token");
}

#[test]
fn s79_email_update_get_send_delete() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, created) = create_email_update(&h, &s, NEW_EMAIL);
    let code = email_update_code(&h);
    let got = ok_unlogged(&h, "get_user_email_address_update", eu_args(&s, &t));
    assert_eq!(
        got["user_email_address_update"],
        created["user_email_address_update"]
    );
    assert_eq!(got.len(), 1, "only the model");

    h.at(5);
    let values = ok_unlogged(
        &h,
        "send_user_email_address_update_email_address_verification_code",
        eu_args(&s, &t),
    );
    assert!(values.is_empty());
    let sent = h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode);
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[1].email_address, NEW_EMAIL);
    assert_eq!(sent[1].display_name, "Alice");
    assert_eq!(sent[1].secret, code, "the same code is re-sent");
    assert_eq!(h.bucket_count(&format!("aaab.{NEW_EMAIL}")), Some(3));
    assert!(!h.rate.contains(&format!("aaac.{NEW_EMAIL}")));

    let values = ok_unlogged(&h, "delete_user_email_address_update", eu_args(&s, &t));
    assert!(values.is_empty());
    assert!(!h.main.contains(&format!("aaad.{}", id_of(&t))));
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    h.err_unlogged(
        "delete_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
}

#[test]
fn s79_password_update_get_delete() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, created) = create_password_update(&h, &s);
    let got = ok_unlogged(&h, "get_user_password_update", pu_args(&s, &t));
    assert_eq!(got["user_password_update"], created["user_password_update"]);
    assert_eq!(got.len(), 1);
    let values = ok_unlogged(&h, "delete_user_password_update", pu_args(&s, &t));
    assert!(values.is_empty());
    assert!(!h.main.contains(&format!("aaae.{}", id_of(&t))));
    h.err_unlogged(
        "get_user_password_update",
        pu_args(&s, &t),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        "delete_user_password_update",
        pu_args(&s, &t),
        "invalid_user_password_update_token",
    );
}

#[test]
fn s79_deletion_get_delete() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, created) = create_deletion(&h, &s);
    let got = ok_unlogged(&h, "get_user_deletion", ud_args(&s, &t));
    assert_eq!(got["user_deletion"], created["user_deletion"]);
    let values = ok_unlogged(&h, "delete_user_deletion", ud_args(&s, &t));
    assert!(values.is_empty());
    assert!(!h.main.contains(&format!("aaag.{}", id_of(&t))));
    h.err_unlogged(
        "get_user_deletion",
        ud_args(&s, &t),
        "invalid_user_deletion_token",
    );
    h.err_unlogged(
        "delete_user_deletion",
        ud_args(&s, &t),
        "invalid_user_deletion_token",
    );
    assert!(h.users.user("u1").is_some());
}

#[test]
fn s79_password_reset_get_delete() {
    let h = Harness::new();
    let (t, _, created) = create_reset(&h, "user1@example.com");
    let got = ok_unlogged(&h, "get_user_password_reset", pr_args(&t));
    assert_eq!(got["user_password_reset"], created["user_password_reset"]);
    let values = ok_unlogged(&h, "delete_user_password_reset", pr_args(&t));
    assert!(values.is_empty());
    assert!(!h.main.contains(&format!("aaaf.{}", id_of(&t))));
    h.err_unlogged(
        "get_user_password_reset",
        pr_args(&t),
        "invalid_user_password_reset_token",
    );
    h.err_unlogged(
        "delete_user_password_reset",
        pr_args(&t),
        "invalid_user_password_reset_token",
    );
}

#[test]
fn s81_remaining_error_codes() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = email_update(&h, &s, NEW_EMAIL);
    h.err_unlogged(
        "complete_user_email_address_update",
        eu_args(&s, &t),
        "email_address_not_verified",
    );
    assert!(h.users.calls_to("update_user_email_address").is_empty());

    for token in ["bad".to_string(), wrong_secret(&s), "".to_string()] {
        h.err_unlogged(
            "delete_all_sessions",
            session_args(&token),
            "invalid_session_token",
        );
        h.err_unlogged(
            "create_user_deletion",
            session_args(&token),
            "invalid_session_token",
        );
        h.err_unlogged(
            "create_user_password_update",
            session_args(&token),
            "invalid_session_token",
        );
    }
    assert!(h
        .users
        .calls_to("increment_user_sessions_counter")
        .is_empty());
    assert!(!h
        .main
        .keys()
        .iter()
        .any(|k| k.starts_with("aaae.") || k.starts_with("aaag.")));
    // The real session still works.
    h.ok("get_session", session_args(&s));
}

#[test]
fn s82_internal_error_is_logged_once_with_the_invocation() {
    let h = Harness::new();
    h.at(7);
    h.email
        .set_failing(EmailKind::SignupEmailAddressVerificationCode, true);
    h.err_internal(
        "create_signup",
        json!({ "email_address": "new@example.com" }),
    );
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "create_signup");
    assert_eq!(entries[0].timestamp, T0 + 7 * SECOND);
    assert!(is_id(&entries[0].action_invocation_id));
    // The signup stays and the token is spent (KEEP).
    assert_eq!(
        h.main
            .keys()
            .iter()
            .filter(|k| k.starts_with("aaab."))
            .count(),
        1
    );
    assert_eq!(h.bucket_count("aaab.new@example.com"), Some(4));
}

#[test]
fn s82_client_codes_and_conflicts_are_not_logged() {
    let h = Harness::new();
    // rate_limited
    for _ in 0..5 {
        h.create_signup("busy@example.com");
    }
    h.err_unlogged(
        "create_signup",
        json!({ "email_address": "busy@example.com" }),
        "rate_limited",
    );
    // invalid_*
    h.err_unlogged("get_signup", signup_args("bad"), "invalid_signup_token");
    h.err_unlogged("get_session", session_args("a.b"), "invalid_session_token");
    h.err_unlogged(
        "get_user_password_reset",
        pr_args("a.b"),
        "invalid_user_password_reset_token",
    );
    // incorrect_*
    let t = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": "nope" }),
        "incorrect_password",
    );
    let (signup, _) = h.create_signup("other@example.com");
    h.err_unlogged(
        "verify_signup_email_address_verification_code",
        json!({ "signup_token": signup, "email_address_verification_code": "AAAAAAAA" }),
        "incorrect_email_address_verification_code",
    );
    // internal_conflict
    h.rate
        .instrumentation
        .fail_next(Op::Update, "aaaa.", StorageError::NotFound);
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
        "internal_conflict",
    );
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s82_failed_signed_in_notification_is_logged_with_the_real_action() {
    // FIX-8, complete_signin.
    let h = Harness::new();
    let t = verified_signin(&h);
    h.email
        .set_failing(EmailKind::UserSignedInNotification, true);
    let result = h.call("complete_signin", signin_args(&t));
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_signin");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
    assert_eq!(entries[0].timestamp, T0);

    // FIX-8, complete_user_password_reset.
    let h = Harness::new();
    let r = ready_reset(&h, "correct-horse-5");
    h.email
        .set_failing(EmailKind::UserSignedInNotification, true);
    let result = h.call("complete_user_password_reset", pr_args(&r));
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_password_reset");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
}

#[test]
fn s82_other_failed_notifications_are_logged_and_ignored() {
    // Password updated (complete_user_password_update).
    let (h, s) = with_session();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    h.email
        .set_failing(EmailKind::UserPasswordUpdatedNotification, true);
    let result = h.call("complete_user_password_update", pu_args(&s, &t));
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_password_update");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
    assert_eq!(h.users.user("u1").unwrap().password_hash_counter, 1);

    // Email address updated (complete_user_email_address_update).
    let (h, s) = with_session();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.email
        .set_failing(EmailKind::UserEmailAddressUpdatedNotification, true);
    let result = h.call("complete_user_email_address_update", eu_args(&s, &t));
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_email_address_update");
    assert_eq!(
        json!(entries[0].action_invocation_id),
        result["action_invocation_id"]
    );
    assert_eq!(h.users.user("u1").unwrap().email_address, NEW_EMAIL);

    // Password updated during complete_user_password_reset: logged, the session is still created.
    let h = Harness::new();
    let r = ready_reset(&h, "correct-horse-5");
    h.email
        .set_failing(EmailKind::UserPasswordUpdatedNotification, true);
    let result = h.call("complete_user_password_reset", pr_args(&r));
    assert_eq!(result["ok"], json!(true));
    assert!(result["values"]["session_token"].is_string());
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].action, "complete_user_password_reset");
    assert_eq!(
        h.email.sent_of(EmailKind::UserSignedInNotification).len(),
        1
    );
}

#[test]
fn s82_swallowed_delete_failures_are_logged() {
    // complete_user_password_update: deleting the entry fails → success, one log entry.
    let (h, s) = with_session();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaae.", storage_failed());
    let result = h.call("complete_user_password_update", pu_args(&s, &t));
    assert_eq!(result["ok"], json!(true));
    assert_eq!(h.logger.entries().len(), 1);
    assert_eq!(
        h.logger.entries()[0].action,
        "complete_user_password_update"
    );
    assert_eq!(
        h.email
            .sent_of(EmailKind::UserPasswordUpdatedNotification)
            .len(),
        1
    );

    // ... an entry already gone is not logged.
    let (h, s) = with_session();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaae.", StorageError::NotFound);
    ok_unlogged(&h, "complete_user_password_update", pu_args(&s, &t));

    // complete_user_deletion.
    let (h, s) = with_session();
    let t = verified_deletion(&h, &s);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaag.", storage_failed());
    let result = h.call("complete_user_deletion", ud_args(&s, &t));
    assert_eq!(result["ok"], json!(true));
    assert_eq!(h.logger.entries().len(), 1);
    assert_eq!(h.logger.entries()[0].action, "complete_user_deletion");

    // complete_user_email_address_update, success path.
    let (h, s) = with_session();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaad.", storage_failed());
    let result = h.call("complete_user_email_address_update", eu_args(&s, &t));
    assert_eq!(result["ok"], json!(true));
    assert_eq!(h.logger.entries().len(), 1);

    // complete_user_email_address_update, address taken: the failed delete is logged.
    let (h, s) = with_session();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.users
        .insert(fixture_user("u3", NEW_EMAIL, "correct-horse-3", "Carol"));
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaad.", storage_failed());
    err_logged(
        &h,
        "complete_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );

    // complete_user_password_reset.
    let h = Harness::new();
    let r = ready_reset(&h, "correct-horse-5");
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaf.", storage_failed());
    let result = h.call("complete_user_password_reset", pr_args(&r));
    assert_eq!(result["ok"], json!(true));
    assert_eq!(h.logger.entries().len(), 1);

    // Temporary-algorithm mismatch: the reset delete fails → logged, still an invalid token.
    let mut h = Harness::new();
    let (r, p) = reset_u1(&h);
    h.config.temporary_algorithm = "test-t2";
    h.rebuild();
    h.main
        .instrumentation
        .fail_next(Op::Delete, "aaaf.", storage_failed());
    err_logged(
        &h,
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&r, &p),
        "invalid_user_password_reset_token",
    );
}
