//! What only the wasm build has (run with `wasm-pack test --node -- --test wasm`): the simd128
//! Argon2id compression, checked against the portable one and the `argon2` crate, and the resolver
//! awaited on the JS event loop (wasm-bindgen-futures, as in the Worker) rather than `block_on`.
//! Everything else in tests/ runs here too (tests/README.md).
#![cfg(target_arch = "wasm32")]

use faroe_worker::adapters::memory::*;
use faroe_worker::argon2id::{self as ours, Block, Compression};
use faroe_worker::password::Argon2id;
use faroe_worker::ports::{PasswordHashAlgorithm, User};
use faroe_worker::{PasswordConfig, Ports, Server, SessionConfig};
use serde_json::{json, Value};
use std::rc::Rc;
use wasm_bindgen_test::*;

mod argon2_reference;
use argon2_reference::{argon2_crate, argon2_crate_keyed};

/// `faroe_worker::argon2id` with an explicit compression and optional secret / associated data.
#[allow(clippy::too_many_arguments)]
fn ours_with(
    compression: Compression,
    m: u32,
    t: u32,
    p: u32,
    len: usize,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let params = ours::Params::new(m, t, p, len).unwrap();
    let mut memory = vec![Block::default(); params.block_count()];
    let mut out = vec![0u8; len];
    ours::hash_into_with(
        &params,
        password,
        salt,
        secret,
        data,
        &mut out,
        &mut memory,
        compression,
    )
    .unwrap();
    out
}

/// Every compression this build has: the portable one, and simd128 when it is compiled in.
fn compressions() -> Vec<Compression> {
    let mut all = vec![Compression::Portable];
    if Compression::BEST != Compression::Portable {
        all.push(Compression::BEST);
    }
    all
}

#[wasm_bindgen_test]
fn the_wasm_build_uses_the_simd128_compression() {
    // .cargo/config.toml builds wasm32 with +simd128; without it `hash_sync` would silently
    // fall back to the slower portable compression.
    assert_ne!(Compression::BEST, Compression::Portable);
}

#[wasm_bindgen_test]
fn argon2id_matches_the_rfc_9106_vector_with_each_compression() {
    // RFC 9106 §5.3: m = 32 KiB, t = 3, p = 4, T = 32, P = 32 × 0x01, S = 16 × 0x02,
    // K = 8 × 0x03, X = 12 × 0x04.
    let expected = [
        0x0d, 0x64, 0x0d, 0xf5, 0x8d, 0x78, 0x76, 0x6c, 0x08, 0xc0, 0x37, 0xa3, 0x4a, 0x8b, 0x53,
        0xc9, 0xd0, 0x1e, 0xf0, 0x45, 0x2d, 0x75, 0xb6, 0x5e, 0xb5, 0x25, 0x20, 0xe9, 0x6b, 0x01,
        0xe6, 0x59,
    ];
    for compression in compressions() {
        let out = ours_with(
            compression,
            32,
            3,
            4,
            32,
            &[1; 32],
            &[2; 16],
            &[3; 8],
            &[4; 12],
        );
        assert_eq!(out, expected, "{compression:?}");
    }
}

#[wasm_bindgen_test]
fn argon2id_compressions_match_each_other_and_the_argon2_crate() {
    let cases: &[(u32, u32, u32, usize)] = &[
        (8, 1, 1, 32),
        (16, 2, 1, 4),
        (64, 1, 1, 32),
        (64, 3, 2, 16),
        (100, 2, 3, 64),
        (256, 2, 1, 65),
        (257, 1, 1, 97),
        (512, 4, 1, 128),
        (1024, 1, 4, 33),
        (2048, 3, 1, 32),
        (4099, 2, 1, 1000),
    ];
    let passwords: &[&[u8]] = &[
        b"",
        b"password",
        "pässwörd, long enough".as_bytes(),
        &[0xff; 200],
    ];
    let salts: &[&[u8]] = &[b"somesalt", b"somesaltsomesalt", &[0; 64]];
    for (i, &(m, t, p, len)) in cases.iter().enumerate() {
        let password = passwords[i % passwords.len()];
        let salt = salts[i % salts.len()];
        let expected = argon2_crate(m, t, p, len, password, salt);
        for compression in compressions() {
            assert_eq!(
                ours_with(compression, m, t, p, len, password, salt, &[], &[]),
                expected,
                "{compression:?} m={m} t={t} p={p} len={len}"
            );
        }
    }
    // And through `Argon2id::hash_sync` (kept buffer, grown and reused over a dirty one), for
    // the cases within the Worker's parameter bounds.
    for &(m, t, p, len) in cases
        .iter()
        .rev()
        .filter(|case| faroe_worker::password::OUTPUT_LENGTHS.contains(&case.3))
    {
        let algorithm = Argon2id::from_id(&format!("argon2id.{m}.{t}.{p}.{len}")).unwrap();
        assert_eq!(
            algorithm
                .hash_sync(b"password", b"somesaltsomesalt")
                .unwrap(),
            argon2_crate(m, t, p, len, b"password", b"somesaltsomesalt")
        );
    }
}

/// xorshift64*: a fixed-seed generator, so a failing case can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform enough in `low..=high` for test inputs.
    fn range(&mut self, low: usize, high: usize) -> usize {
        low + (self.next() % (high - low + 1) as u64) as usize
    }
    fn bytes(&mut self, low: usize, high: usize) -> Vec<u8> {
        let len = self.range(low, high);
        (0..len).map(|_| self.next() as u8).collect()
    }
}

#[wasm_bindgen_test]
fn argon2id_matches_the_argon2_crate_on_random_inputs_with_each_compression() {
    // tests/argon2id_differential.rs runs here too, on simd128 only; this checks each compression:
    // random cost parameters, output lengths, password, salt, secret K and associated data X,
    // over a reused, dirty and oversized block buffer.
    let mut rng = Rng(0x5eed_a2a2_1d00_2026);
    let mut memory = vec![Block::default(); 8 * 4 + 300 + 8];
    for case in 0..48 {
        let p = rng.range(1, 4) as u32;
        let m = 8 * p + rng.range(0, 300) as u32;
        let t = rng.range(1, 4) as u32;
        let len = rng.range(4, 200);
        let password = rng.bytes(0, 128);
        let salt = rng.bytes(8, 64);
        let secret = rng.bytes(0, 64);
        let data = rng.bytes(0, 32);
        let expected = argon2_crate_keyed(m, t, p, len, &password, &salt, &secret, &data);
        let params = ours::Params::new(m, t, p, len).unwrap();
        for compression in compressions() {
            let mut out = vec![0u8; len];
            ours::hash_into_with(
                &params,
                &password,
                &salt,
                &secret,
                &data,
                &mut out,
                &mut memory,
                compression,
            )
            .unwrap();
            assert_eq!(
                out,
                expected,
                "case {case} {compression:?}: m={m} t={t} p={p} len={len} |P|={} |S|={} |K|={} |X|={}",
                password.len(),
                salt.len(),
                secret.len(),
                data.len()
            );
        }
    }
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
        email_language: None,
    });
    let server = Server::new(
        Ports {
            main_storage: Rc::new(MemoryMainStorage::new()),
            cache: Rc::new(MemoryCache::new(clock.clone())),
            rate_limit_storage: Rc::new(MemoryRateLimitStorage::new()),
            user_store: users.clone(),
            email_sender: email.clone(),
            error_logger: Rc::new(RecordingLogger::new()),
            clock: clock.clone(),
            email_address_checker: Rc::new(ListEmailAddressChecker::new()),
            password_strength_checker: Rc::new(ListPasswordStrengthChecker::conformance()),
            account_storage: Rc::new(MemoryAccountStorage::new(clock.clone())),
        },
        SessionConfig::default(),
        PasswordConfig {
            user_password_algorithms: vec![algorithm.clone() as Rc<dyn PasswordHashAlgorithm>],
            temporary_password_algorithm: algorithm,
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
