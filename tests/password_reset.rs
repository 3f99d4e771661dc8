//! Spec §14.9: user password reset, scenarios 67–73, and §14.12 scenario 80.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op};
use flow_helpers::*;
use serde_json::json;
use std::cell::RefCell;
use std::rc::Rc;

#[test]
fn s67_create() {
    let h = Harness::new();
    h.err_unlogged(
        "create_user_password_reset",
        json!({ "user_email_address": "nobody@example.com" }),
        "user_not_found",
    );
    h.users.clear_calls();
    h.err_unlogged(
        "create_user_password_reset",
        json!({ "user_email_address": "bad" }),
        "invalid_email_address",
    );
    assert!(h.users.calls().is_empty(), "email checked first");
    h.users.modify("u1", |u| {
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.err_unlogged(
        "create_user_password_reset",
        json!({ "user_email_address": "user1@example.com" }),
        "user_disabled",
    );
    assert!(h.main.keys().is_empty());
    assert!(h.rate.keys().is_empty(), "no rate-limit token consumed");
    assert!(h.email.sent().is_empty());

    let h = Harness::new();
    let (t, p, values) = create_reset(&h, "user1@example.com");
    let model = &values["user_password_reset"];
    let id = model["id"].as_str().unwrap().to_string();
    assert!(is_id(&id));
    assert_eq!(
        model,
        &json!({
            "id": id,
            "user_id": "u1",
            "user_first_factor_verified": false,
            "new_password_set": false,
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
            "user_first_factor_verified",
            "new_password_set",
            "created_at",
            "expires_at"
        ]
    );
    assert!(is_token(&t) && t.starts_with(&format!("{id}.")));
    assert!(h.main.contains(&format!("aaaf.{id}")));

    let sent = h
        .email
        .sent_of(EmailKind::UserPasswordResetTemporaryPassword);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].email_address, "user1@example.com");
    assert_eq!(sent[0].display_name, "Alice");
    assert_eq!(sent[0].secret, p);
    assert!(is_code(&p, 12), "temporary password {p}");
    assert!(!serde_json::to_string(&values).unwrap().contains(&p));
    assert_eq!(h.email.sent().len(), 1);
    // The stored record does not hold the temporary password in plaintext.
    let stored = h.main.value(&format!("aaaf.{id}")).unwrap();
    assert!(!stored.windows(p.len()).any(|w| w == p.as_bytes()));

    assert_eq!(h.bucket_count("aaab.user1@example.com"), Some(4));
    assert!(
        !h.rate.contains("aaad.u1"),
        "verify-temporary-password bucket only read"
    );
    assert!(h.logger.entries().is_empty());

    // U2 has no display name.
    create_reset(&h, "user2@example.com");
    let sent = last_email(&h, EmailKind::UserPasswordResetTemporaryPassword);
    assert_eq!(sent.email_address, "user2@example.com");
    assert_eq!(sent.display_name, "");
}

#[test]
fn s68_invalid_reset_tokens_are_not_internal_errors() {
    let h = Harness::new();
    let (t, _) = reset_u1(&h);
    let id = id_of(&t);
    for token in [
        "bad".to_string(),
        "a.b".to_string(),
        "".to_string(),
        wrong_secret(&t),
    ] {
        for action in [
            "get_user_password_reset",
            "delete_user_password_reset",
            "complete_user_password_reset",
        ] {
            h.err_unlogged(action, pr_args(&token), "invalid_user_password_reset_token");
        }
        h.err_unlogged(
            "verify_user_password_reset_temporary_password",
            pr_temporary_args(&token, "AAAAAAAAAAAA"),
            "invalid_user_password_reset_token",
        );
        h.err_unlogged(
            "set_user_password_reset_new_password",
            pr_password_args(&token, "correct-horse-5"),
            "invalid_user_password_reset_token",
        );
    }
    assert!(
        h.main.contains(&format!("aaaf.{id}")),
        "a wrong secret deletes nothing"
    );
    assert!(!h.rate.contains("aaad.u1"));

    h.at(1199);
    h.ok("get_user_password_reset", pr_args(&t));
    h.at(1200);
    h.err_unlogged(
        "get_user_password_reset",
        pr_args(&t),
        "invalid_user_password_reset_token",
    );
    assert!(
        !h.main.contains(&format!("aaaf.{id}")),
        "expired reset deleted"
    );
    assert!(h.logger.entries().is_empty(), "no logger call at all");
}

#[test]
fn s69_temporary_password_limit() {
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    for _ in 0..5 {
        h.err_unlogged(
            "verify_user_password_reset_temporary_password",
            pr_temporary_args(&t, "AAAAAAAAAAAA"),
            "incorrect_temporary_password",
        );
    }
    // The 6th attempt is refused before the password is looked at, even when it is correct.
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
        "rate_limited",
    );
    assert_eq!(h.bucket_count("aaad.u1"), Some(0));

    let send_bucket = h.rate.value("aaab.user1@example.com");
    let emails = h.email.sent().len();
    h.err_unlogged(
        "create_user_password_reset",
        json!({ "user_email_address": "user1@example.com" }),
        "rate_limited",
    );
    assert_eq!(
        h.rate.value("aaab.user1@example.com"),
        send_bucket,
        "send-email bucket unchanged"
    );
    assert_eq!(h.email.sent().len(), emails);
    assert_eq!(
        h.main
            .keys()
            .iter()
            .filter(|k| k.starts_with("aaaf."))
            .count(),
        1
    );

    h.at(60);
    // One token refilled; comparison is case-sensitive, so the lower-cased password spends it.
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p.to_lowercase()),
        "incorrect_temporary_password",
    );
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
        "rate_limited",
    );
    h.at(120);
    ok_unlogged(
        &h,
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    assert_eq!(
        h.ok("get_user_password_reset", pr_args(&t))["user_password_reset"]
            ["user_first_factor_verified"],
        json!(true)
    );
}

#[test]
fn s69_correct_after_one_interval() {
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    for _ in 0..5 {
        h.err_unlogged(
            "verify_user_password_reset_temporary_password",
            pr_temporary_args(&t, "AAAAAAAAAAAA"),
            "incorrect_temporary_password",
        );
    }
    h.at(59);
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
        "rate_limited",
    );
    h.at(60);
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
}

#[test]
fn s70_set_new_password() {
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    h.err_unlogged(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "correct-horse-5"),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    h.err_unlogged(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "123456789"),
        "invalid_password_length",
    );
    h.err_unlogged(
        "set_user_password_reset_new_password",
        pr_password_args(&t, &"x".repeat(101)),
        "invalid_password_length",
    );
    h.err_unlogged(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "password123"),
        "weak_password",
    );
    ok_unlogged(
        &h,
        "set_user_password_reset_new_password",
        pr_password_args(&t, "correct-horse-5"),
    );
    assert_eq!(
        h.ok("get_user_password_reset", pr_args(&t))["user_password_reset"]["new_password_set"],
        json!(true)
    );
    h.err_unlogged(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "correct-horse-6"),
        "new_password_already_set",
    );
    assert!(h.users.calls_to("update_user_password_hash").is_empty());
}

#[test]
fn s71_happy_completion() {
    let h = Harness::new();
    let old_session = h.signin_u1();
    let t = ready_reset(&h, "correct-horse-5");
    let reset_key = format!("aaaf.{}", id_of(&t));
    h.users.clear_calls();
    h.at(10);

    // Record the order of the observable steps.
    let events: Rc<RefCell<Vec<String>>> = Rc::default();
    {
        let events = events.clone();
        let email = h.email.clone();
        h.users.set_hook(move |method| {
            events
                .borrow_mut()
                .push(format!("user:{method} emails={}", email.sent().len()));
        });
    }
    {
        let events = events.clone();
        let email = h.email.clone();
        h.main.instrumentation.set_hook(move |op, key| {
            if op != Op::Get {
                events.borrow_mut().push(format!(
                    "main:{op:?}:{} emails={}",
                    &key[..5],
                    email.sent().len()
                ));
            }
        });
    }
    let emails_before = h.email.sent().len();
    let values = ok_unlogged(&h, "complete_user_password_reset", pr_args(&t));
    h.users.clear_hook();
    h.main.instrumentation.clear_hook();

    let n = emails_before;
    assert_eq!(
        *events.borrow(),
        [
            format!("user:get_user emails={n}"),
            format!("user:update_user_password_hash emails={n}"),
            format!("main:Delete:aaaf. emails={n}"),
            format!("main:Set:aaaa. emails={}", n + 1),
        ]
    );
    let sent = h.email.sent();
    assert_eq!(sent.len(), n + 2);
    assert_eq!(sent[n].kind, EmailKind::UserPasswordUpdatedNotification);
    assert_eq!(sent[n].email_address, "user1@example.com");
    assert_eq!(sent[n].display_name, "Alice");
    assert_eq!(sent[n].timestamp, Some(T0 + 10 * SECOND));
    assert_eq!(sent[n + 1].kind, EmailKind::UserSignedInNotification);
    assert_eq!(sent[n + 1].email_address, "user1@example.com");
    assert_eq!(sent[n + 1].display_name, "Alice");
    assert_eq!(sent[n + 1].timestamp, Some(T0 + 10 * SECOND));

    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 1);
    assert_password_hash_call(&calls[0].args, "u1", "correct-horse-5", 0);
    assert!(!h.main.contains(&reset_key), "reset deleted");

    let session = &values["session"];
    let session_token = values["session_token"].as_str().unwrap();
    assert!(is_token(session_token));
    let session_id = session["id"].as_str().unwrap();
    assert!(session_token.starts_with(&format!("{session_id}.")));
    assert_eq!(
        session,
        &json!({
            "id": session_id,
            "user_id": "u1",
            "created_at": T0_SECONDS + 10,
            "expires_at": null,
        })
    );
    assert!(h.main.contains(&format!("aaaa.{session_id}")));
    assert_eq!(
        h.ok("get_session", session_args(session_token))["session"],
        *session
    );

    // Existing sessions are not invalidated, also on the main path.
    h.at(200);
    h.ok("get_session", session_args(&old_session));
    h.ok("get_session", session_args(session_token));
    // The new password is in force.
    let signin = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": U1_PASSWORD }),
        "incorrect_password",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": "correct-horse-5" }),
    );
    h.err_unlogged(
        "get_user_password_reset",
        pr_args(&t),
        "invalid_user_password_reset_token",
    );
}

#[test]
fn s72_stale_reset_fails_at_completion() {
    let h = Harness::new();
    let (r, p) = reset_u1(&h);
    let s = h.signin_u1();
    let pu = ready_password_update(&h, &s, "correct-horse-7");
    h.ok("complete_user_password_update", pu_args(&s, &pu));
    assert_eq!(h.users.user("u1").unwrap().password_hash_counter, 1);

    // Reset validation ignores the password-hash counter (KEEP).
    h.ok("get_user_password_reset", pr_args(&r));
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&r, &p),
    );
    h.ok(
        "set_user_password_reset_new_password",
        pr_password_args(&r, "correct-horse-5"),
    );
    h.users.clear_calls();
    let emails = h.email.sent().len();
    h.err_unlogged(
        "complete_user_password_reset",
        pr_args(&r),
        "internal_conflict",
    );
    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args[4], "0", "the counter captured at creation");
    assert!(h.main.contains(&format!("aaaf.{}", id_of(&r))), "R kept");
    assert_eq!(h.email.sent().len(), emails, "no email");
    assert!(h.logger.entries().is_empty());
    // The password from the update is still in force.
    let u = h.users.user("u1").unwrap();
    assert_eq!(
        u.password_hash,
        hash_with_salt("correct-horse-7", &u.password_salt)
    );
    assert_eq!(
        h.main
            .keys()
            .iter()
            .filter(|k| k.starts_with("aaaa."))
            .count(),
        1
    );
}

#[test]
fn s73_temporary_algorithm_changed() {
    let mut h = Harness::new();
    let (t, p) = reset_u1(&h);
    let key = format!("aaaf.{}", id_of(&t));
    h.config.temporary_algorithm = "test-t2";
    h.rebuild();
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
        "invalid_user_password_reset_token",
    );
    assert!(!h.main.contains(&key), "reset deleted");
    assert_eq!(
        h.bucket_count("aaad.u1"),
        Some(4),
        "a token was consumed first"
    );
    h.err_unlogged(
        "get_user_password_reset",
        pr_args(&t),
        "invalid_user_password_reset_token",
    );
    // A reset created under the new configuration works.
    let (t2, p2) = reset_u1(&h);
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t2, &p2),
    );
}

#[test]
fn s80_completion_errors() {
    let h = Harness::new();
    let (t, p) = reset_u1(&h);
    h.err_unlogged(
        "complete_user_password_reset",
        pr_args(&t),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
    );
    h.err_unlogged(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &p),
        "user_first_factor_already_verified",
    );
    assert_eq!(
        h.bucket_count("aaad.u1"),
        Some(4),
        "no token for the second call"
    );
    h.err_unlogged(
        "complete_user_password_reset",
        pr_args(&t),
        "new_password_not_set",
    );
    assert!(h.users.calls_to("update_user_password_hash").is_empty());

    h.ok(
        "set_user_password_reset_new_password",
        pr_password_args(&t, "correct-horse-5"),
    );
    h.main
        .instrumentation
        .fail_next(Op::Set, "aaaa.", storage_failed());
    let emails = h.email.sent().len();
    err_logged(
        &h,
        "complete_user_password_reset",
        pr_args(&t),
        "session_not_created",
    );
    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 1);
    assert_password_hash_call(&calls[0].args, "u1", "correct-horse-5", 0);
    assert!(
        !h.main.contains(&format!("aaaf.{}", id_of(&t))),
        "reset deleted"
    );
    let sent = h.email.sent();
    assert_eq!(sent.len(), emails + 1);
    assert_eq!(
        sent[emails].kind,
        EmailKind::UserPasswordUpdatedNotification
    );
    assert!(h
        .email
        .sent_of(EmailKind::UserSignedInNotification)
        .is_empty());
    assert!(!h.main.keys().iter().any(|k| k.starts_with("aaaa.")));
    // The password is already changed.
    let u = h.users.user("u1").unwrap();
    assert_eq!(
        u.password_hash,
        hash_with_salt("correct-horse-5", &u.password_salt)
    );
}
