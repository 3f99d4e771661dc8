//! Native half of `npm run bench` (scripts/bench.sh); run with
//! `cargo run --release --example bench_native -- [--runs N] [--algorithms a,b] [--resolver-iterations N]`.
//!
//! Prints one JSON object:
//! - `hash`: for each Argon2id id, the first call and the median of `--runs` further calls of
//!   `faroe_worker::password::Argon2id::hash_sync` (the code the Worker runs), and the same for
//!   `argon2::Argon2::hash_password_into`, which allocates a fresh block buffer per call, and
//!   `faroe_worker::argon2id` (the Argon2id the Worker runs in wasm) with its portable
//!   compression and a kept buffer: the same Rust code as in wasm, minus the simd128 path, and the
//!   `argon2-rust` crate (run-time SIMD dispatch, AVX-512 where the CPU has it) with its pooled
//!   arena; all round robin, after checking that they give the same tag;
//! - `resolver`: nanoseconds per `Server::resolve` of a `get_session` body on in-memory ports,
//!   served from the cache (parse → dispatch → cache read → token check → serialize), no I/O.

use faroe_worker::adapters::memory::*;
use faroe_worker::password::Argon2id;
use faroe_worker::ports::{Millis, PasswordHashAlgorithm, User};
use faroe_worker::{PasswordConfig, Ports, Server, SessionConfig};
use futures::executor::block_on;
use serde_json::{json, Value};
use std::rc::Rc;
use std::time::Instant;

const T0: Millis = 1_700_000_000_000;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn ms(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn hash_fresh(algorithm: &Argon2id, password: &[u8], salt: &[u8]) -> Vec<u8> {
    let params = algorithm.argon2_crate_params().clone();
    let mut out = vec![0u8; algorithm.own_params().output_len()];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(password, salt, &mut out)
        .unwrap();
    out
}

/// A named implementation to time: one call hashes once.
type Timed<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// Times the implementations round robin (one call of each in turn, so drift and background load
/// hit them alike): a first call each, 2 untimed calls each, then `runs` timed calls each.
fn time_round_robin(runs: usize, implementations: &mut [Timed<'_>]) -> Value {
    let mut first = Vec::new();
    for (_, f) in implementations.iter_mut() {
        let start = Instant::now();
        f();
        first.push(ms(start));
    }
    for _ in 0..2 {
        for (_, f) in implementations.iter_mut() {
            f();
        }
    }
    let mut times = vec![Vec::new(); implementations.len()];
    for _ in 0..runs {
        for (i, (_, f)) in implementations.iter_mut().enumerate() {
            let start = Instant::now();
            f();
            times[i].push(ms(start));
        }
    }
    let mut out = serde_json::Map::new();
    for (i, (name, _)) in implementations.iter().enumerate() {
        out.insert(
            name.to_string(),
            json!({ "first_ms": first[i], "median_ms": median(times[i].clone()), "runs_ms": times[i] }),
        );
    }
    Value::Object(out)
}

/// argon2-rust's parameters for one of ours.
fn argon2_rust_for(algorithm: &Argon2id) -> argon2_rust::Argon2 {
    use argon2_rust::params::{Memory, TagLen};
    let p = algorithm.argon2_crate_params();
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(p.m_cost())))
        .passes(p.t_cost())
        .lanes(p.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(algorithm.own_params().output_len() as u64))
        .build()
        .unwrap();
    argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        params,
    )
}

fn bench_hash(id: &str, runs: usize) -> Value {
    let algorithm = Argon2id::from_id(id).unwrap();
    let salt = b"0123456789abcdef";
    let password = b"benchmark-password";
    // Every implementation gives the same tag, or its time means nothing.
    let expected = hash_fresh(&algorithm, password, salt);
    let rust_argon2 = argon2_rust_for(&algorithm);
    assert_eq!(
        rust_argon2.hash(password, salt).unwrap(),
        expected,
        "argon2-rust"
    );
    let params = algorithm.own_params();
    // A thread of its own: `hash_sync`'s per-thread buffer starts empty, so its "first" includes
    // the allocation, as every other implementation's does.
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut blocks = Vec::new();
            let mut out = vec![0u8; params.output_len()];
            let mut hasher = rust_argon2.hasher();
            let mut tag = vec![0u8; params.output_len()];
            let mut implementations: Vec<Timed<'_>> = vec![
                (
                    "hash_sync",
                    Box::new(|| {
                        std::hint::black_box(algorithm.hash_sync(password, salt).unwrap());
                    }),
                ),
                (
                    "fresh_alloc",
                    Box::new(|| {
                        std::hint::black_box(hash_fresh(&algorithm, password, salt));
                    }),
                ),
                (
                    "same_code_portable",
                    Box::new(|| {
                        if blocks.is_empty() {
                            blocks = vec![
                                faroe_worker::argon2id::Block::default();
                                params.block_count()
                            ];
                        }
                        faroe_worker::argon2id::hash_into_with(
                            params,
                            password,
                            salt,
                            &[],
                            &[],
                            &mut out,
                            &mut blocks,
                            faroe_worker::argon2id::Compression::Portable,
                        )
                        .unwrap();
                        std::hint::black_box(&out);
                    }),
                ),
                (
                    "argon2_rust",
                    Box::new(|| {
                        hasher.hash_into(password, salt, &mut tag).unwrap();
                        std::hint::black_box(&tag);
                    }),
                ),
            ];
            time_round_robin(runs, &mut implementations)
        })
        .join()
        .unwrap()
    })
}

/// A server over in-memory ports with one signed-in user; returns it with a `get_session` body.
fn resolver_setup() -> (Server, String) {
    let clock = Rc::new(ManualClock::new(T0));
    let users = Rc::new(MemoryUserStore::new());
    let salt = b"salt-of-u1-0123".to_vec();
    users.insert(User {
        id: "u1".into(),
        email_address: "user1@example.com".into(),
        password_hash: Sha256TestAlgorithm::hash_sync(&salt, "correct-horse-1"),
        password_salt: salt,
        password_hash_algorithm_id: "test-a".into(),
        disabled: false,
        display_name: "Alice".into(),
        email_address_counter: 0,
        password_hash_counter: 0,
        disabled_counter: 0,
        sessions_counter: 0,
        email_language: None,
    });
    let ports = Ports {
        main_storage: Rc::new(MemoryMainStorage::new()),
        cache: Rc::new(MemoryCache::new(clock.clone())),
        rate_limit_storage: Rc::new(MemoryRateLimitStorage::new()),
        user_store: users,
        email_sender: Rc::new(RecordingEmailSender::new()),
        error_logger: Rc::new(RecordingLogger::new()),
        clock: clock.clone(),
        email_address_checker: Rc::new(ListEmailAddressChecker::new()),
        password_strength_checker: Rc::new(ListPasswordStrengthChecker::conformance()),
        account_storage: Rc::new(MemoryAccountStorage::new(clock.clone())),
    };
    let server = Server::new(
        ports,
        SessionConfig {
            inactivity_timeout: 30 * 24 * 3600 * 1000,
            activity_check_interval: 60 * 1000,
            expiration: 0,
            cache_expiration: 60 * 1000,
        },
        PasswordConfig {
            user_password_algorithms: vec![
                Rc::new(Sha256TestAlgorithm::new("test-a")) as Rc<dyn PasswordHashAlgorithm>
            ],
            temporary_password_algorithm: Rc::new(Sha256TestAlgorithm::new("test-t")),
        },
    )
    .unwrap();
    let call = |action: &str, arguments: Value| -> Value {
        let body = json!({ "action": action, "arguments": arguments }).to_string();
        let out = block_on(server.resolve(body.as_bytes())).unwrap();
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], json!(true), "{action}: {v}");
        v["values"].clone()
    };
    let signin = call(
        "create_signin",
        json!({ "user_email_address": "user1@example.com" }),
    )["signin_token"]
        .as_str()
        .unwrap()
        .to_string();
    call(
        "verify_signin_user_password",
        json!({ "signin_token": signin, "password": "correct-horse-1" }),
    );
    let session = call("complete_signin", json!({ "signin_token": signin }))["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let body =
        json!({ "action": "get_session", "arguments": { "session_token": session } }).to_string();
    // The first get_session fills the cache (a miss reads main storage); later ones hit it.
    let first = block_on(server.resolve(body.as_bytes())).unwrap();
    assert!(first.contains("\"ok\":true"), "{first}");
    (server, body)
}

fn bench_resolver(iterations: usize) -> Value {
    let (server, body) = resolver_setup();
    for _ in 0..iterations.min(10_000) {
        std::hint::black_box(block_on(server.resolve(body.as_bytes())).unwrap());
    }
    let mut batches = Vec::new();
    let per_batch = (iterations / 5).max(1);
    for _ in 0..5 {
        let start = Instant::now();
        for _ in 0..per_batch {
            let out = block_on(server.resolve(std::hint::black_box(body.as_bytes()))).unwrap();
            std::hint::black_box(out);
        }
        batches.push(start.elapsed().as_nanos() as f64 / per_batch as f64);
    }
    let check = block_on(server.resolve(body.as_bytes())).unwrap();
    assert!(check.contains("\"ok\":true"), "{check}");
    json!({ "ns_per_call": median(batches.clone()), "batches_ns": batches, "calls_per_batch": per_batch })
}

fn main() {
    let mut runs = 5usize;
    let mut algorithms = vec![
        "argon2id.65536.3.1.32".to_string(),
        "argon2id.19456.2.1.32".to_string(),
        "argon2id.16384.3.1.32".to_string(),
    ];
    let mut resolver_iterations = 200_000usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().expect("every option takes a value");
        match arg.as_str() {
            "--runs" => runs = value.parse().unwrap(),
            "--algorithms" => algorithms = value.split(',').map(String::from).collect(),
            "--resolver-iterations" => resolver_iterations = value.parse().unwrap(),
            other => panic!("unknown option {other}"),
        }
    }
    let mut hash = serde_json::Map::new();
    for id in &algorithms {
        hash.insert(id.clone(), bench_hash(id, runs));
    }
    let resolver = if resolver_iterations > 0 {
        bench_resolver(resolver_iterations)
    } else {
        Value::Null
    };
    let argon2_rust_backend = format!("{:?}", argon2_rust::detected_backend());
    println!(
        "{}",
        json!({ "hash": hash, "resolver": resolver, "argon2_rust_backend": argon2_rust_backend })
    );
}
