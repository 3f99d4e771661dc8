//! What must hold in wasm32 specifically (run with `wasm-pack test --node -- --test wasm`):
//! the CSPRNG backend, ids and tokens, real Argon2id hashing, and the resolver on in-memory ports.
#![cfg(target_arch = "wasm32")]

use faroe_worker::adapters::memory::*;
use faroe_worker::password::Argon2id;
use faroe_worker::ports::{PasswordHashAlgorithm, User};
use faroe_worker::{crypto, PasswordConfig, Ports, Server, SessionConfig};
use serde_json::{json, Value};
use std::rc::Rc;
use wasm_bindgen_test::*;

fn alphabet_ok(s: &str, alphabet: &[u8; 32]) -> bool {
    s.bytes().all(|b| alphabet.contains(&b))
}

#[wasm_bindgen_test]
fn ids_secrets_and_codes_come_from_the_csprng_with_spec_alphabets() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..500 {
        let id = crypto::generate_id();
        assert_eq!(id.len(), 24);
        assert!(alphabet_ok(&id, crypto::LOWERCASE_ALPHABET));
        assert!(seen.insert(id), "ids must not repeat");
        let code = crypto::generate_email_address_verification_code();
        assert_eq!(code.len(), 8);
        assert!(alphabet_ok(&code, crypto::UPPERCASE_ALPHABET));
        let temporary = crypto::generate_temporary_password();
        assert_eq!(temporary.len(), 12);
        assert!(alphabet_ok(&temporary, crypto::UPPERCASE_ALPHABET));
    }
}

#[wasm_bindgen_test]
fn tokens_parse_and_secret_hashes_compare() {
    let token = crypto::format_token(&crypto::generate_id(), &crypto::generate_secret());
    let parsed = crypto::parse_token(&token).unwrap();
    let hash = crypto::hash_secret(parsed.secret);
    assert!(crypto::verify_secret(parsed.secret, &hash));
    assert!(!crypto::verify_secret(parsed.id, &hash));
    assert!(crypto::parse_token("a.b.c").is_none());
}

#[wasm_bindgen_test]
async fn argon2id_hashes_in_wasm_match_the_rfc_9106_vector_and_defaults_run() {
    // RFC 9106 §5.3 inputs have secret/associated data; the crate's plain API has neither, so
    // check determinism and parameter sensitivity, and one full default-size hash.
    let small = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
    let a = small.hash("password", b"somesaltsomesalt").await.unwrap();
    assert_eq!(
        a,
        small.hash("password", b"somesaltsomesalt").await.unwrap()
    );
    assert_ne!(
        a,
        small.hash("password", b"othersaltothersa").await.unwrap()
    );
    let default = Argon2id::from_id("argon2id.16384.3.1.32").unwrap();
    let h = default.hash("correct-horse", &[7u8; 16]).await.unwrap();
    assert_eq!(h.len(), 32);
}

#[wasm_bindgen_test]
async fn resolver_runs_a_signup_and_signin_on_in_memory_ports() {
    let clock = Rc::new(ManualClock::new(1_700_000_000_000));
    let users = Rc::new(MemoryUserStore::new());
    let email = Rc::new(RecordingEmailSender::new());
    let salt = vec![1u8; 16];
    let algorithm = Rc::new(Argon2id::from_id("argon2id.256.1.1.32").unwrap());
    users.insert(User {
        id: "u1".into(),
        email_address: "user1@example.com".into(),
        password_hash: algorithm.hash_sync(b"correct-horse-1", &salt).unwrap(),
        password_salt: salt,
        password_hash_algorithm_id: algorithm.id().into(),
        disabled: false,
        display_name: "Alice".into(),
        email_address_counter: 0,
        password_hash_counter: 0,
        disabled_counter: 0,
        sessions_counter: 0,
    });
    let server = Server::new(
        Ports {
            main_storage: Rc::new(MemoryMainStorage::new()),
            cache: Rc::new(MemoryCache::new(clock.clone())),
            rate_limit_storage: Rc::new(MemoryRateLimitStorage::new()),
            user_store: users.clone(),
            email_sender: email.clone(),
            error_logger: Rc::new(RecordingLogger::new()),
            clock,
            email_address_checker: Rc::new(ListEmailAddressChecker::new()),
            password_strength_checker: Rc::new(ListPasswordStrengthChecker::conformance()),
        },
        SessionConfig::default(),
        PasswordConfig {
            user_password_algorithms: vec![algorithm.clone() as Rc<dyn PasswordHashAlgorithm>],
            temporary_password_algorithm: algorithm,
            max_concurrent_password_hashing: 1,
        },
    )
    .unwrap();
    let call = |action: &str, arguments: Value| {
        let body = json!({ "action": action, "arguments": arguments }).to_string();
        let server = &server;
        async move {
            let out = server
                .resolve(body.as_bytes())
                .await
                .expect("request accepted");
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };
    let created = call(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    )
    .await;
    let token = created["values"]["signin_token"]
        .as_str()
        .unwrap()
        .to_string();
    let wrong = call(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": "nope" }),
    )
    .await;
    assert_eq!(wrong["error_code"], "incorrect_password");
    let right = call(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": "correct-horse-1" }),
    )
    .await;
    assert_eq!(right["ok"], true);
    let done = call("complete_signin", json!({ "signin_token": token })).await;
    assert_eq!(done["values"]["session"]["user_id"], "u1");
    let session_token = done["values"]["session_token"].as_str().unwrap();
    let got = call("get_session", json!({ "session_token": session_token })).await;
    assert_eq!(got["ok"], true);
    assert_eq!(email.sent_of(EmailKind::UserSignedInNotification).len(), 1);
    assert!(server.resolve(b"{\"action\":1}").await.is_err());
}
