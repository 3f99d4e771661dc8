//! Password rehash on sign-in (`PASSWORD_REHASH_ON_SIGNIN`, src/extensions/password_rehash.rs,
//! docs/extensions.md): on the §14.1 harness's in-memory user store, with user algorithms
//! `test-b` (first) and `test-a` (the fixtures' algorithm, second).

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::*;
use faroe_worker::adapters::memory::{EmailKind, Op, Sha256TestAlgorithm};
use faroe_worker::extensions::Extensions;
use faroe_worker::flows::HASHING_LEASE_PREFIX;
use faroe_worker::password::Argon2id;
use faroe_worker::ports::{PasswordHashAlgorithm, UserStoreError};
use faroe_worker::{PasswordConfig, Server};
use futures::executor::block_on;
use futures::future::join;
use serde_json::json;
use std::rc::Rc;

const U1: &str = "user1@example.com";

/// The harness with `algorithms` as the user password algorithms and the extension `on` or off.
fn harness_with(algorithms: Vec<Rc<dyn PasswordHashAlgorithm>>, on: bool) -> Harness {
    let mut h = Harness::new();
    h.server = Server::new(
        h.ports(),
        h.config.session,
        PasswordConfig {
            user_password_algorithms: algorithms,
            temporary_password_algorithm: Rc::new(Sha256TestAlgorithm::new("test-t")),
        },
    )
    .unwrap()
    .with_extensions(Extensions {
        password_rehash_on_signin: on,
        ..Extensions::default()
    })
    .unwrap();
    h
}

/// `test-b` first, `test-a` (U1's algorithm) second.
fn harness(on: bool) -> Harness {
    harness_with(
        vec![
            Rc::new(Sha256TestAlgorithm::new("test-b")),
            Rc::new(Sha256TestAlgorithm::new("test-a")),
        ],
        on,
    )
}

fn verify(h: &Harness, signin: &str, password: &str) {
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": password }),
    );
}

fn complete(h: &Harness, signin: &str) -> String {
    h.ok("complete_signin", json!({ "signin_token": signin }))["session_token"]
        .as_str()
        .unwrap()
        .to_string()
}

fn lease_operations(h: &Harness) -> usize {
    h.rate
        .instrumentation
        .operations()
        .iter()
        .filter(|(_, key)| key.starts_with(HASHING_LEASE_PREFIX))
        .count()
}

#[test]
fn a_password_under_a_later_algorithm_is_rehashed_with_the_first_and_the_signin_completes() {
    let h = harness(true);
    let before = h.users.user("u1").unwrap();
    let signin = h.create_signin(U1);
    verify(&h, &signin, U1_PASSWORD);

    let after = h.users.user("u1").unwrap();
    assert_eq!(after.password_hash_algorithm_id, "test-b");
    assert_eq!(after.password_hash_counter, 1);
    assert_ne!(after.password_salt, before.password_salt, "a new salt");
    assert_eq!(after.password_salt.len(), 16);
    assert_eq!(
        after.password_hash,
        Sha256TestAlgorithm::hash_sync(&after.password_salt, U1_PASSWORD)
    );
    let updates = h.users.calls_to("update_user_password_hash");
    assert_eq!(updates.len(), 1);
    assert_eq!(updates[0].args[0], "u1");
    assert_eq!(updates[0].args[2], "test-b");
    assert_eq!(
        updates[0].args[4], "0",
        "stored over the counter the signin was read with"
    );
    assert!(h.logger.entries().is_empty(), "{:?}", h.logger.entries());
    // The lease was taken and released.
    assert_eq!(lease_operations(&h), 2);
    assert!(!h
        .rate
        .keys()
        .iter()
        .any(|k| k.starts_with(HASHING_LEASE_PREFIX)));

    // The signin's snapshot moved with the user's counter, so the sign-in completes.
    let signin_model = h.ok("get_signin", json!({ "signin_token": signin }))["signin"].clone();
    assert_eq!(signin_model["user_first_factor_verified"], json!(true));
    let session = complete(&h, &signin);
    h.ok("get_session", json!({ "session_token": session }));
    // No password-updated email: the password did not change.
    assert!(h
        .email
        .sent_of(EmailKind::UserPasswordUpdatedNotification)
        .is_empty());

    // The next sign-in verifies under the first algorithm and rehashes nothing.
    h.users.clear_calls();
    h.signin(U1, U1_PASSWORD);
    assert!(h.users.calls_to("update_user_password_hash").is_empty());
    assert_eq!(h.users.user("u1").unwrap().password_hash_counter, 1);
}

#[test]
fn the_stored_hash_verifies_under_the_first_algorithm() {
    // Real Argon2id: the first and second algorithm give different hashes of one password.
    let first = Argon2id::from_id("argon2id.128.1.1.32").unwrap();
    let second = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
    let h = harness_with(vec![Rc::new(first.clone()), Rc::new(second.clone())], true);
    let salt = b"sixteen-byte-slt".to_vec();
    h.users.modify("u1", |u| {
        u.password_hash = second.hash_sync(U1_PASSWORD.as_bytes(), &salt).unwrap();
        u.password_salt = salt.clone();
        u.password_hash_algorithm_id = second.id().to_string();
    });
    let signin = h.create_signin(U1);
    verify(&h, &signin, U1_PASSWORD);
    complete(&h, &signin);

    let user = h.users.user("u1").unwrap();
    assert_eq!(user.password_hash_algorithm_id, "argon2id.128.1.1.32");
    // The reference Argon2id (the `argon2` crate) at the first algorithm's parameters.
    let mut expected = [0u8; 32];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(128, 1, 1, Some(32)).unwrap(),
    )
    .hash_password_into(U1_PASSWORD.as_bytes(), &user.password_salt, &mut expected)
    .unwrap();
    assert_eq!(user.password_hash, expected);
    // And the wrong password still fails against it.
    let again = h.create_signin(U1);
    assert_eq!(
        h.err(
            "verify_signin_user_password",
            json!({ "signin_token": again, "password": "correct-horse-0" })
        ),
        "incorrect_password"
    );
    verify(&h, &again, U1_PASSWORD);
}

#[test]
fn nothing_is_rehashed_when_off_or_when_the_password_is_under_the_first_algorithm() {
    // Off: the user, the signin record and every storage operation are what they were.
    let off = harness(false);
    let before = off.users.user("u1").unwrap();
    let signin = off.create_signin(U1);
    let signin_key = format!("aaac.{}", Harness::session_id(&signin));
    off.main.instrumentation.clear_log();
    off.users.clear_calls();
    verify(&off, &signin, U1_PASSWORD);
    assert_eq!(off.users.user("u1").unwrap(), before);
    assert_eq!(
        off.users
            .calls()
            .iter()
            .map(|c| c.method)
            .collect::<Vec<_>>(),
        ["get_user"]
    );
    assert_eq!(
        off.main.instrumentation.operations(),
        [
            (Op::Get, signin_key.clone()),
            (Op::Get, signin_key.clone()),
            (Op::Update, signin_key.clone())
        ]
    );
    assert_eq!(lease_operations(&off), 0);
    complete(&off, &signin);

    // On, with U1 under the first algorithm: the same.
    let mut first = harness(true);
    first.config.user_algorithms = vec!["test-a", "test-b"];
    first.server = Server::new(
        first.ports(),
        first.config.session,
        PasswordConfig {
            user_password_algorithms: vec![
                Rc::new(Sha256TestAlgorithm::new("test-a")),
                Rc::new(Sha256TestAlgorithm::new("test-b")),
            ],
            temporary_password_algorithm: Rc::new(Sha256TestAlgorithm::new("test-t")),
        },
    )
    .unwrap()
    .with_extensions(Extensions {
        password_rehash_on_signin: true,
        ..Extensions::default()
    })
    .unwrap();
    let signin = first.create_signin(U1);
    first.main.instrumentation.clear_log();
    first.users.clear_calls();
    verify(&first, &signin, U1_PASSWORD);
    assert_eq!(first.users.user("u1").unwrap(), before);
    assert_eq!(first.users.calls().len(), 1);
    assert_eq!(first.main.instrumentation.operations().len(), 3);
    assert_eq!(lease_operations(&first), 0);

    // On, wrong password: nothing is rehashed.
    let on = harness(true);
    let signin = on.create_signin(U1);
    on.err(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": "correct-horse-0" }),
    );
    assert_eq!(on.users.user("u1").unwrap(), before);
    assert_eq!(lease_operations(&on), 0);
}

#[test]
fn a_password_change_that_wins_the_race_is_kept_and_the_verification_still_succeeds() {
    let h = harness(true);
    let signin = h.create_signin(U1);
    // Another password change lands between the rehash's hash and its store.
    let users = h.users.clone();
    h.users.set_hook(move |method| {
        if method == "update_user_password_hash" {
            users.modify("u1", |u| {
                u.password_hash =
                    Sha256TestAlgorithm::hash_sync(b"other-salt-01234", "newer-password-1");
                u.password_salt = b"other-salt-01234".to_vec();
                u.password_hash_counter += 1;
            });
        }
    });
    verify(&h, &signin, U1_PASSWORD);
    h.users.clear_hook();

    let user = h.users.user("u1").unwrap();
    assert_eq!(
        user.password_salt, b"other-salt-01234",
        "the newer password wins"
    );
    assert_eq!(user.password_hash_algorithm_id, "test-a");
    assert_eq!(user.password_hash_counter, 1);
    assert!(h.logger.entries().is_empty(), "a lost race is not logged");
    assert!(!h
        .rate
        .keys()
        .iter()
        .any(|k| k.starts_with(HASHING_LEASE_PREFIX)));
    // The signin kept the counter it was created with: the password changed since, so it ends as
    // any sign-in does across a password change (as without the extension).
    assert_eq!(
        h.err("complete_signin", json!({ "signin_token": signin })),
        "invalid_signin_token"
    );
}

#[test]
fn a_failing_user_store_skips_the_rehash_with_a_log_and_the_signin_completes() {
    let h = harness(true);
    let signin = h.create_signin(U1);
    h.users.fail_next(
        "update_user_password_hash",
        UserStoreError::Failed("user server unavailable".into()),
    );
    verify(&h, &signin, U1_PASSWORD);
    assert_eq!(
        h.users.user("u1").unwrap().password_hash_algorithm_id,
        "test-a"
    );
    let logged = h.logger.entries();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(logged[0].message.contains("password rehash skipped"));
    assert!(!logged[0].message.contains(U1_PASSWORD));
    complete(&h, &signin);
}

#[test]
fn concurrent_sign_ins_of_one_user_rehash_once() {
    let h = harness(true);
    // Rate-limit storage answers at once, so both requests pass the shared verify-user-password
    // bucket (a lost race on it is `internal_conflict`, with or without the extension).
    h.users.set_yielding(true);
    h.main.instrumentation.set_yielding(true);
    let first = h.create_signin(U1);
    let second = h.create_signin(U1);
    let verify_body = |token: &str| {
        json!({ "action": "verify_signin_user_password", "arguments": { "signin_token": token, "password": U1_PASSWORD } })
            .to_string()
    };
    let (a, b) = (verify_body(&first), verify_body(&second));
    let (ra, rb) = block_on(join(
        h.server.resolve(a.as_bytes()),
        h.server.resolve(b.as_bytes()),
    ));
    // The second request found the first's lease held and did not hash.
    let lease_adds = h
        .rate
        .instrumentation
        .operations()
        .iter()
        .filter(|(op, key)| *op == Op::Add && key.starts_with(HASHING_LEASE_PREFIX))
        .count();
    assert_eq!(lease_adds, 2);
    for r in [ra.unwrap(), rb.unwrap()] {
        assert!(r.contains("\"ok\":true"), "{r}");
    }
    assert_eq!(h.users.calls_to("update_user_password_hash").len(), 1);
    assert_eq!(h.users.user("u1").unwrap().password_hash_counter, 1);
    // One of the two signins carries the new counter and completes; the other was read before
    // the rehash and ends like a sign-in across a password change.
    let completed = [&first, &second]
        .iter()
        .filter(|t| h.call("complete_signin", json!({ "signin_token": t }))["ok"] == json!(true))
        .count();
    assert_eq!(completed, 1);
}

#[test]
fn concurrent_verifications_of_one_signin_keep_it_valid() {
    let h = harness(true);
    h.users.set_yielding(true);
    h.main.instrumentation.set_yielding(true);
    let signin = h.create_signin(U1);
    let body = json!({ "action": "verify_signin_user_password", "arguments": { "signin_token": signin, "password": U1_PASSWORD } })
        .to_string();
    let (ra, rb) = block_on(join(
        h.server.resolve(body.as_bytes()),
        h.server.resolve(body.as_bytes()),
    ));
    let results = [ra.unwrap(), rb.unwrap()];
    let oks = results.iter().filter(|r| r.contains("\"ok\":true")).count();
    assert_eq!(oks, 1, "one verification wins: {results:?}");
    assert!(
        results.iter().any(|r| r.contains("internal_conflict")),
        "{results:?}"
    );
    assert_eq!(h.users.calls_to("update_user_password_hash").len(), 1);
    assert_eq!(
        h.users.user("u1").unwrap().password_hash_algorithm_id,
        "test-b"
    );
    // Whichever request marked the first factor, the signin follows the rehashed counter.
    complete(&h, &signin);
}
