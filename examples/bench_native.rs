//! Native half of `npm run bench` (scripts/bench.sh); run with
//! `cargo run --release --example bench_native -- [--runs N] [--algorithms a,b] [--resolver-iterations N]`.
//!
//! Prints one JSON object:
//! - `hash`: for each Argon2id id, the first call and the median of `--runs` further calls of
//!   `faroe_worker::password::Argon2id::hash_sync` (the code the Worker runs), and the same for
//!   `argon2::Argon2::hash_password_into`, which allocates a fresh block buffer per call, and
//!   `faroe_worker::argon2id` (the Argon2id the Worker runs in wasm) with its portable
//!   compression and a kept buffer: the same Rust code as in wasm, minus the simd128 path;
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

fn time_runs(runs: usize, mut f: impl FnMut()) -> Value {
    let start = Instant::now();
    f();
    let first = ms(start);
    let times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            ms(start)
        })
        .collect();
    json!({ "first_ms": first, "median_ms": median(times.clone()), "runs_ms": times })
}

fn bench_hash(id: &str, runs: usize) -> Value {
    let algorithm = Argon2id::from_id(id).unwrap();
    let salt = b"0123456789abcdef";
    // Each timing starts with an empty per-thread buffer, so "first" includes the allocation.
    let reused = std::thread::scope(|s| {
        s.spawn(|| {
            time_runs(runs, || {
                std::hint::black_box(algorithm.hash_sync(b"benchmark-password", salt).unwrap());
            })
        })
        .join()
        .unwrap()
    });
    let fresh = time_runs(runs, || {
        std::hint::black_box(hash_fresh(&algorithm, b"benchmark-password", salt));
    });
    let params = algorithm.own_params();
    let mut blocks = vec![faroe_worker::argon2id::Block::default(); params.block_count()];
    let mut out = vec![0u8; params.output_len()];
    let same_code = time_runs(runs, || {
        faroe_worker::argon2id::hash_into_with(
            params,
            b"benchmark-password",
            salt,
            &[],
            &[],
            &mut out,
            &mut blocks,
            faroe_worker::argon2id::Compression::Portable,
        )
        .unwrap();
        std::hint::black_box(&out);
    });
    json!({ "hash_sync": reused, "fresh_alloc": fresh, "same_code_portable": same_code })
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
    println!("{}", json!({ "hash": hash, "resolver": resolver }));
}
