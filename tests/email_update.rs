//! Spec §14.6: user email address update, scenarios 50–57.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::EmailKind;
use flow_helpers::*;
use serde_json::json;

#[test]
fn s50_email_checked_before_session_and_own_address_is_used() {
    let h = Harness::new();
    h.err_unlogged(
        "create_user_email_address_update",
        json!({ "session_token": "nonsense", "new_email_address": "bad" }),
        "invalid_email_address",
    );
    assert!(h.users.calls().is_empty(), "no user-store call");
    assert!(h.main.keys().is_empty());

    // With a bad address, even a valid session is not looked at.
    let s = h.signin_u1();
    h.users.clear_calls();
    h.cache.instrumentation.clear_log();
    h.err_unlogged(
        "create_user_email_address_update",
        json!({ "session_token": s, "new_email_address": "bad" }),
        "invalid_email_address",
    );
    assert!(h.users.calls().is_empty());
    assert!(h.cache.instrumentation.operations().is_empty());

    // A valid address but a nonsense session.
    h.err_unlogged(
        "create_user_email_address_update",
        json!({ "session_token": "nonsense", "new_email_address": NEW_EMAIL }),
        "invalid_session_token",
    );

    // The user's own address counts as used.
    h.err_unlogged(
        "create_user_email_address_update",
        json!({ "session_token": s, "new_email_address": "user1@example.com" }),
        "email_address_already_used",
    );
    assert!(h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode)
        .is_empty());
    assert!(!h.rate.contains("aaab.user1@example.com"));
    assert!(!h.main.keys().iter().any(|k| k.starts_with("aaad.")));
}

#[test]
fn s51_happy_path() {
    let h = Harness::new();
    let s = h.signin_u1();
    let sid = Harness::session_id(&s).to_string();

    let (t, values) = create_email_update(&h, &s, NEW_EMAIL);
    let model = &values["user_email_address_update"];
    let id = model["id"].as_str().unwrap().to_string();
    assert!(is_id(&id));
    assert_eq!(
        model,
        &json!({
            "id": id,
            "user_id": "u1",
            "session_id": sid,
            "new_email_address": NEW_EMAIL,
            "new_email_address_verified": false,
            "user_identity_verified": false,
            "created_at": T0_SECONDS,
            "expires_at": T0_SECONDS + 1200,
        })
    );
    let keys: Vec<_> = model.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "id",
            "user_id",
            "session_id",
            "new_email_address",
            "new_email_address_verified",
            "user_identity_verified",
            "created_at",
            "expires_at"
        ]
    );
    assert!(is_token(&t));
    assert!(t.starts_with(&format!("{id}.")));
    assert!(h.main.contains(&format!("aaad.{id}")));

    let sent = h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].email_address, NEW_EMAIL);
    assert_eq!(sent[0].display_name, "Alice");
    let code = sent[0].secret.clone();
    assert!(is_code(&code, 8), "code {code}");
    // The code never appears in a response.
    assert!(!serde_json::to_string(&values).unwrap().contains(&code));
    // The send-email bucket of the new address lost a token; the verify-code bucket is only read.
    assert_eq!(h.bucket_count(&format!("aaab.{NEW_EMAIL}")), Some(4));
    assert!(!h.rate.contains(&format!("aaac.{NEW_EMAIL}")));

    h.err_unlogged(
        "verify_user_email_address_update_user_password",
        eu_password_args(&s, &t, U1_PASSWORD),
        "email_address_not_verified",
    );
    h.ok(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(&s, &t, &code),
    );
    assert_eq!(
        h.ok("get_user_email_address_update", eu_args(&s, &t))["user_email_address_update"]
            ["new_email_address_verified"],
        json!(true)
    );
    h.err_unlogged(
        "complete_user_email_address_update",
        eu_args(&s, &t),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_email_address_update_user_password",
        eu_password_args(&s, &t, U1_PASSWORD),
    );
    assert_eq!(
        h.ok("get_user_email_address_update", eu_args(&s, &t))["user_email_address_update"]
            ["user_identity_verified"],
        json!(true)
    );
    assert!(h.users.calls_to("update_user_email_address").is_empty());

    h.at(90);
    let values = ok_unlogged(&h, "complete_user_email_address_update", eu_args(&s, &t));
    assert!(values.is_empty());
    let calls = h.users.calls_to("update_user_email_address");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args, ["u1", NEW_EMAIL, "0"]);
    assert!(!h.main.contains(&format!("aaad.{id}")), "entry deleted");
    let user = h.users.user("u1").unwrap();
    assert_eq!(user.email_address, NEW_EMAIL);
    assert_eq!(user.email_address_counter, 1);

    let sent = h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdatedNotification);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].email_address, "user1@example.com",
        "the old address"
    );
    assert_eq!(sent[0].display_name, "Alice");
    assert_eq!(sent[0].new_email_address, NEW_EMAIL);
    assert_eq!(sent[0].timestamp, Some(T0 + 90 * SECOND));

    // The session is untouched.
    h.ok("get_session", json!({ "session_token": s }));
    h.at(200);
    h.ok("get_session", json!({ "session_token": s }));
    // The token is spent.
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s52_session_mismatch() {
    let h = Harness::new();
    let s1 = h.signin_u1();
    let s2 = h.signin_u1();
    let t = email_update(&h, &s1, NEW_EMAIL);
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s2, &t),
        "session_mismatch",
    );
    // The entry stays and is usable by its own session.
    h.ok("get_user_email_address_update", eu_args(&s1, &t));
    for action in [
        "delete_user_email_address_update",
        "send_user_email_address_update_email_address_verification_code",
        "complete_user_email_address_update",
    ] {
        h.err_unlogged(action, eu_args(&s2, &t), "session_mismatch");
    }
    let code = email_update_code(&h);
    h.err_unlogged(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(&s2, &t, &code),
        "session_mismatch",
    );
    h.err_unlogged(
        "verify_user_email_address_update_user_password",
        eu_password_args(&s2, &t, U1_PASSWORD),
        "session_mismatch",
    );
    h.ok("get_user_email_address_update", eu_args(&s1, &t));
}

#[test]
fn s53_competing_address() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    let id = id_of(&t);
    h.users
        .insert(fixture_user("u3", NEW_EMAIL, "correct-horse-3", "Carol"));
    h.err_unlogged(
        "complete_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    assert!(!h.main.contains(&format!("aaad.{id}")), "entry deleted");
    assert_eq!(h.users.calls_to("update_user_email_address").len(), 1);
    assert!(h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdatedNotification)
        .is_empty());
    assert_eq!(
        h.users.user("u1").unwrap().email_address,
        "user1@example.com"
    );
    assert_eq!(h.users.user("u1").unwrap().email_address_counter, 0);
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
}

#[test]
fn s54_counter_invalidation() {
    let h = Harness::new();
    let s = h.signin_u1();
    let x = email_update(&h, &s, "x@new.example");
    let x_code = email_update_code(&h);
    let y = email_update(&h, &s, "y@new.example");
    let (r, _) = reset_u1(&h);

    h.ok(
        "verify_user_email_address_update_email_address_verification_code",
        eu_code_args(&s, &x, &x_code),
    );
    h.ok(
        "verify_user_email_address_update_user_password",
        eu_password_args(&s, &x, U1_PASSWORD),
    );
    h.ok("complete_user_email_address_update", eu_args(&s, &x));
    assert_eq!(h.users.user("u1").unwrap().email_address, "x@new.example");

    assert!(h.main.contains(&format!("aaad.{}", id_of(&y))));
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s, &y),
        "invalid_user_email_address_update_token",
    );
    assert!(
        !h.main.contains(&format!("aaad.{}", id_of(&y))),
        "Y deleted"
    );

    assert!(h.main.contains(&format!("aaaf.{}", id_of(&r))));
    h.err_unlogged(
        "get_user_password_reset",
        pr_args(&r),
        "invalid_user_password_reset_token",
    );
    assert!(
        !h.main.contains(&format!("aaaf.{}", id_of(&r))),
        "reset deleted"
    );
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s55_email_counter_limit() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.modify("u1", |u| u.email_address_counter = i32::MAX);
    h.users.clear_calls();
    h.err_internal(
        "create_user_email_address_update",
        json!({ "session_token": s, "new_email_address": NEW_EMAIL }),
    );
    assert!(h
        .email
        .sent_of(EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode)
        .is_empty());
    assert!(!h.main.keys().iter().any(|k| k.starts_with("aaad.")));
    assert!(
        !h.rate.contains(&format!("aaab.{NEW_EMAIL}")),
        "no token consumed"
    );
    assert!(h.users.calls_to("get_user_by_email_address").is_empty());
}

#[test]
fn s56_shared_send_email_bucket() {
    let h = Harness::new();
    let s = h.signin_u1();
    let e = "shared@example.com";
    for _ in 0..4 {
        h.create_signup(e);
    }
    assert_eq!(h.bucket_count(&format!("aaab.{e}")), Some(1));
    let t = email_update(&h, &s, e);
    assert_eq!(h.bucket_count(&format!("aaab.{e}")), Some(0));
    let emails = h.email.sent().len();
    h.err_unlogged(
        "send_user_email_address_update_email_address_verification_code",
        eu_args(&s, &t),
        "rate_limited",
    );
    assert_eq!(h.email.sent().len(), emails, "no email");
    // A signup to the same address is throttled by the same bucket.
    h.err_unlogged(
        "create_signup",
        json!({ "email_address": e }),
        "rate_limited",
    );
}

#[test]
fn s57_expiry_is_inclusive() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, values) = create_email_update(&h, &s, NEW_EMAIL);
    let id = id_of(&t);
    h.at(1200);
    let got = h.ok("get_user_email_address_update", eu_args(&s, &t));
    assert_eq!(
        got["user_email_address_update"],
        values["user_email_address_update"]
    );
    h.at(1201);
    h.err_unlogged(
        "get_user_email_address_update",
        eu_args(&s, &t),
        "invalid_user_email_address_update_token",
    );
    assert!(!h.main.contains(&format!("aaad.{id}")), "lazily deleted");
}
