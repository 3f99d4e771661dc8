//! Spec §14.7: user password update, scenarios 58–63.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op};
use flow_helpers::*;
use futures::executor::block_on;
use serde_json::{json, Value};

#[test]
fn s58_create_and_invalid_token_spellings() {
    let h = Harness::new();
    let s = h.signin_u1();
    let (t, values) = create_password_update(&h, &s);
    let model = &values["user_password_update"];
    let id = model["id"].as_str().unwrap().to_string();
    assert!(is_id(&id));
    assert_eq!(
        model,
        &json!({
            "id": id,
            "user_id": "u1",
            "session_id": Harness::session_id(&s),
            "user_identity_verified": false,
            "new_password_set": false,
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
            "new_password_set",
            "created_at",
            "expires_at"
        ]
    );
    assert!(is_token(&t) && t.starts_with(&format!("{id}.")));
    assert!(h.main.contains(&format!("aaae.{id}")));

    h.err_unlogged(
        "get_user_password_update",
        pu_args(&s, "bad"),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        "delete_user_password_update",
        pu_args(&s, "bad"),
        "invalid_user_password_update_token",
    );
    h.err_unlogged(
        "verify_user_password_update_user_password",
        pu_password_args(&s, "bad", U1_PASSWORD),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        "set_user_password_update_new_password",
        pu_password_args(&s, "bad", "correct-horse-7"),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        "complete_user_password_update",
        pu_args(&s, "bad"),
        "invalid_password_update_token",
    );
    // A correct id with a wrong secret: same codes, the entry stays.
    let wrong = wrong_secret(&t);
    h.err_unlogged(
        "get_user_password_update",
        pu_args(&s, &wrong),
        "invalid_password_update_token",
    );
    h.err_unlogged(
        "delete_user_password_update",
        pu_args(&s, &wrong),
        "invalid_user_password_update_token",
    );
    assert!(h.main.contains(&format!("aaae.{id}")));
    // The rate-limit bucket was not touched by the invalid-token verify.
    assert_eq!(h.bucket_count("aaaa.u1"), Some(4));
}

#[test]
fn s58_expiry_is_inclusive() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = password_update(&h, &s);
    h.at(600);
    h.ok("get_user_password_update", pu_args(&s, &t));
    h.at(601);
    h.err_unlogged(
        "get_user_password_update",
        pu_args(&s, &t),
        "invalid_password_update_token",
    );
    assert!(!h.main.contains(&format!("aaae.{}", id_of(&t))));
}

#[test]
fn s59_set_new_password_checks_identity_first() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = password_update(&h, &s);
    // FIX-3: identity is enforced.
    h.err_unlogged(
        "set_user_password_update_new_password",
        pu_password_args(&s, &t, "correct-horse-7"),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_password_update_user_password",
        pu_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(
        "verify_user_password_update_user_password",
        pu_password_args(&s, &t, U1_PASSWORD),
        "user_identity_already_verified",
    );
    h.err_unlogged(
        "set_user_password_update_new_password",
        pu_password_args(&s, &t, "123456789"),
        "invalid_password_length",
    );
    ok_unlogged(
        &h,
        "set_user_password_update_new_password",
        pu_password_args(&s, &t, "correct-horse-7"),
    );
    let model = h.ok("get_user_password_update", pu_args(&s, &t))["user_password_update"].clone();
    assert_eq!(model["user_identity_verified"], json!(true));
    assert_eq!(model["new_password_set"], json!(true));
    // FIX-3: set twice → new_password_already_set (Go: user_identity_not_verified).
    h.err_unlogged(
        "set_user_password_update_new_password",
        pu_password_args(&s, &t, "correct-horse-8"),
        "new_password_already_set",
    );
    // Nothing was written to the user store yet.
    assert!(h.users.calls_to("update_user_password_hash").is_empty());

    let t2 = verified_password_update(&h, &s);
    h.err_unlogged(
        "set_user_password_update_new_password",
        pu_password_args(&s, &t2, "weakweakweak"),
        "weak_password",
    );
    let model = h.ok("get_user_password_update", pu_args(&s, &t2))["user_password_update"].clone();
    assert_eq!(model["new_password_set"], json!(false));
}

#[test]
fn s60_complete_before_ready() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = password_update(&h, &s);
    h.err_unlogged(
        "complete_user_password_update",
        pu_args(&s, &t),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_password_update_user_password",
        pu_password_args(&s, &t, U1_PASSWORD),
    );
    h.err_unlogged(
        "complete_user_password_update",
        pu_args(&s, &t),
        "new_password_not_set",
    );
    assert!(h.users.calls_to("update_user_password_hash").is_empty());
    assert!(h.main.contains(&format!("aaae.{}", id_of(&t))));
}

#[test]
fn s61_happy_completion() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    let old_signin = h.create_signin("user1@example.com");
    h.users.clear_calls();

    h.at(30);
    let values = ok_unlogged(&h, "complete_user_password_update", pu_args(&s, &t));
    assert!(values.is_empty());
    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 1);
    assert_password_hash_call(&calls[0].args, "u1", "correct-horse-7", 0);
    assert!(
        !h.main.contains(&format!("aaae.{}", id_of(&t))),
        "entry deleted"
    );
    let user = h.users.user("u1").unwrap();
    assert_eq!(user.password_hash_counter, 1);
    assert_eq!(user.password_hash_algorithm_id, "test-a");
    assert_eq!(user.sessions_counter, 0);

    let sent = h.email.sent_of(EmailKind::UserPasswordUpdatedNotification);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].email_address, "user1@example.com");
    assert_eq!(sent[0].display_name, "Alice");
    assert_eq!(sent[0].timestamp, Some(T0 + 30 * SECOND));

    // The calling session stays valid, also on the main path.
    h.ok("get_session", session_args(&s));
    h.at(200);
    h.ok("get_session", session_args(&s));

    // A signin created before the change is invalidated by the password-hash counter.
    h.err_unlogged(
        "get_signin",
        signin_args(&old_signin),
        "invalid_signin_token",
    );
    assert!(!h.main.contains(&format!("aaac.{}", id_of(&old_signin))));

    // The new password works, the old one does not.
    let signin = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": U1_PASSWORD }),
        "incorrect_password",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": "correct-horse-7" }),
    );
    h.ok("complete_signin", signin_args(&signin));
    // The update token is spent.
    h.err_unlogged(
        "get_user_password_update",
        pu_args(&s, &t),
        "invalid_password_update_token",
    );
}

fn request_body(action: &str, arguments: Value) -> String {
    json!({ "action": action, "arguments": arguments }).to_string()
}

#[test]
fn s62_racing_completes() {
    let h = Harness::new();
    let s = h.signin_u1();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    h.users.clear_calls();
    let body = request_body("complete_user_password_update", pu_args(&s, &t));

    h.main.instrumentation.set_yielding(true);
    h.cache.instrumentation.set_yielding(true);
    h.users.set_yielding(true);
    let (a, b) = block_on(futures::future::join(
        h.server.resolve(body.as_bytes()),
        h.server.resolve(body.as_bytes()),
    ));
    h.main.instrumentation.set_yielding(false);
    h.cache.instrumentation.set_yielding(false);
    h.users.set_yielding(false);

    let a: Value = serde_json::from_str(&a.unwrap()).unwrap();
    let b: Value = serde_json::from_str(&b.unwrap()).unwrap();
    assert_result_shape(&a);
    assert_result_shape(&b);
    let (winner, loser) = if a["ok"] == json!(true) {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(winner["ok"], json!(true), "one complete succeeds");
    assert_eq!(loser["ok"], json!(false));
    assert_eq!(loser["error_code"], json!("internal_conflict"));
    // Both reached the user store: the loser lost on the counter compare-and-set.
    let calls = h.users.calls_to("update_user_password_hash");
    assert_eq!(calls.len(), 2, "both passed validation");
    assert_eq!(calls[0].args[4], "0");
    assert_eq!(calls[1].args[4], "0");
    assert!(h.logger.entries().is_empty(), "nothing logged");
    assert_eq!(h.users.user("u1").unwrap().password_hash_counter, 1);
    assert_eq!(
        h.email
            .sent_of(EmailKind::UserPasswordUpdatedNotification)
            .len(),
        1
    );
    assert!(!h.main.contains(&format!("aaae.{}", id_of(&t))));
    assert_eq!(h.main.instrumentation.count(Op::Delete, "aaae."), 1);

    // Sequentially, the second complete finds no entry.
    let h = Harness::new();
    let s = h.signin_u1();
    let t = ready_password_update(&h, &s, "correct-horse-7");
    h.ok("complete_user_password_update", pu_args(&s, &t));
    h.err_unlogged(
        "complete_user_password_update",
        pu_args(&s, &t),
        "invalid_password_update_token",
    );
    assert_eq!(h.users.calls_to("update_user_password_hash").len(), 1);
}

#[test]
fn s63_password_hash_counter_limit() {
    let h = Harness::new();
    let s = h.signin_u1();
    h.users.modify("u1", |u| u.password_hash_counter = i32::MAX);
    h.err_internal("create_user_password_update", session_args(&s));
    assert!(!h.main.keys().iter().any(|k| k.starts_with("aaae.")));
}
