//! One journey on the real default algorithms (`argon2id.65536.3.1.32` for user passwords,
//! `argon2id.16384.3.1.32` for temporary passwords); every other test uses the cheap test ones.
//! In wasm this is the production hashing path: src/argon2id.rs with simd128.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::*;
use faroe_worker::adapters::memory::EmailKind;
use faroe_worker::password::{
    Argon2id, DEFAULT_TEMPORARY_PASSWORD_ALGORITHM, DEFAULT_USER_PASSWORD_ALGORITHM,
};
use serde_json::json;
use std::rc::Rc;

#[test]
fn signup_signin_and_reset_on_the_default_argon2id_parameters() {
    // In wasm, `Argon2id` hashes with src/argon2id.rs, and with its simd128 compression as the
    // Worker does (.cargo/config.toml); natively it runs the `argon2` crate.
    #[cfg(target_arch = "wasm32")]
    assert_ne!(
        faroe_worker::argon2id::Compression::BEST,
        faroe_worker::argon2id::Compression::Portable,
        "the wasm tests must hash with simd128, like the Worker"
    );
    let mut h = Harness::new();
    let user_algorithm = Rc::new(Argon2id::from_id(DEFAULT_USER_PASSWORD_ALGORITHM).unwrap());
    let temporary_algorithm =
        Rc::new(Argon2id::from_id(DEFAULT_TEMPORARY_PASSWORD_ALGORITHM).unwrap());
    h.rebuild_with_algorithms(user_algorithm, temporary_algorithm);

    let token = h.signup_ready("argon@example.com");
    h.ok("complete_signup", json!({ "signup_token": token }));
    let created = h.users.calls_to("create_user");
    assert_eq!(created[0].args[2], "argon2id.65536.3.1.32");
    assert_eq!(created[0].args[1].len(), 64, "32-byte hash as hex");
    assert_eq!(created[0].args[3].len(), 32, "16-byte salt as hex");
    // The stored hash is the reference Argon2id (the `argon2` crate) of the password and salt.
    let user = h
        .users
        .users()
        .into_iter()
        .find(|u| u.email_address == "argon@example.com")
        .expect("created user");
    let mut expected = [0u8; 32];
    argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(65536, 3, 1, Some(32)).unwrap(),
    )
    .hash_password_into(b"correct-horse-9", &user.password_salt, &mut expected)
    .unwrap();
    assert_eq!(user.password_hash, expected);

    let signin = h.create_signin("argon@example.com");
    assert_eq!(
        h.err(
            "verify_signin_user_password",
            json!({ "signin_token": signin, "password": "correct-horse-8" })
        ),
        "incorrect_password"
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": "correct-horse-9" }),
    );

    let reset = h.ok(
        "create_user_password_reset",
        json!({ "user_email_address": "argon@example.com" }),
    );
    let reset_token = reset["user_password_reset_token"].as_str().unwrap();
    let temporary = h
        .email
        .sent_of(EmailKind::UserPasswordResetTemporaryPassword)[0]
        .secret
        .clone();
    h.ok(
        "verify_user_password_reset_temporary_password",
        json!({ "user_password_reset_token": reset_token, "temporary_password": temporary }),
    );
    assert!(h.logger.entries().is_empty());
}
