//! Hashing work is bounded per entity: concurrent set-password requests on one signup, password
//! update or password reset run one hash; the others answer `internal_conflict` without hashing
//! (issue #11 item 4). The requests run as joined futures whose every storage call yields, with a
//! hash algorithm that yields in the middle of hashing and records how many hashes overlap.
//! `cargo test --test hashing_lease -- --nocapture` prints the figures.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;

use common::*;
use faroe_worker::adapters::memory::{yield_once, MemoryRateLimitStorage, Op, Sha256TestAlgorithm};
use faroe_worker::flows::{hashing_lease_key, HASHING_LEASE_DURATION, HASHING_LEASE_PREFIX};
use faroe_worker::ports::{Clock, PasswordHashAlgorithm, RateLimitStorage, StorageError};
use flow_helpers::*;
use futures::executor::block_on;
use futures::future::join_all;
use serde_json::{json, Value};
use std::cell::Cell;
use std::rc::Rc;

const N: usize = 8;

/// The harness's `test-a` hash, counting hashes, the most that ran at once, and the hashes that
/// ran without a hashing lease in rate-limit storage. It yields several times mid-hash, so that
/// any other request that could start a hash meanwhile does.
struct CountingAlgorithm {
    rate: Rc<MemoryRateLimitStorage>,
    hashes: Cell<usize>,
    running: Cell<usize>,
    most_at_once: Cell<usize>,
    without_lease: Cell<usize>,
}

impl CountingAlgorithm {
    fn reset(&self) {
        self.hashes.set(0);
        self.most_at_once.set(0);
        self.without_lease.set(0);
    }
}

#[async_trait::async_trait(?Send)]
impl PasswordHashAlgorithm for CountingAlgorithm {
    fn id(&self) -> &str {
        "test-a"
    }
    fn salt_size(&self) -> usize {
        16
    }
    async fn hash(&self, password: &str, salt: &[u8]) -> Result<Vec<u8>, String> {
        self.running.set(self.running.get() + 1);
        self.most_at_once
            .set(self.most_at_once.get().max(self.running.get()));
        if !self
            .rate
            .keys()
            .iter()
            .any(|k| k.starts_with(HASHING_LEASE_PREFIX))
        {
            self.without_lease.set(self.without_lease.get() + 1);
        }
        for _ in 0..4 {
            yield_once().await;
        }
        self.running.set(self.running.get() - 1);
        self.hashes.set(self.hashes.get() + 1);
        Ok(Sha256TestAlgorithm::hash_sync(salt, password))
    }
}

/// The §14.1 harness with the counting algorithm as user algorithm #0.
fn harness() -> (Harness, Rc<CountingAlgorithm>) {
    let mut h = Harness::new();
    let counting = Rc::new(CountingAlgorithm {
        rate: h.rate.clone(),
        hashes: Cell::new(0),
        running: Cell::new(0),
        most_at_once: Cell::new(0),
        without_lease: Cell::new(0),
    });
    h.rebuild_with_algorithms(
        counting.clone(),
        Rc::new(Sha256TestAlgorithm::new("test-t")),
    );
    (h, counting)
}

/// Runs `bodies` as joined futures with every storage and user-store call yielding.
fn resolve_all(h: &Harness, bodies: &[String]) -> Vec<Value> {
    h.main.instrumentation.set_yielding(true);
    h.rate.instrumentation.set_yielding(true);
    h.users.set_yielding(true);
    let results = block_on(join_all(
        bodies.iter().map(|body| h.server.resolve(body.as_bytes())),
    ));
    h.main.instrumentation.set_yielding(false);
    h.rate.instrumentation.set_yielding(false);
    h.users.set_yielding(false);
    results
        .into_iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.expect("dispatched")).unwrap();
            assert_result_shape(&v);
            v
        })
        .collect()
}

fn body(action: &str, arguments: Value) -> String {
    json!({ "action": action, "arguments": arguments }).to_string()
}

fn lease_keys(h: &Harness) -> Vec<String> {
    h.rate
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(HASHING_LEASE_PREFIX))
        .collect()
}

fn passwords() -> Vec<String> {
    (0..N)
        .map(|i| format!("correct-horse-{}", 10 + i))
        .collect()
}

/// N requests at once on one entity: exactly one hash, one success, N-1 `internal_conflict`,
/// nothing logged, no lease left. Returns the winning password.
fn assert_one_hash(
    h: &Harness,
    counting: &CountingAlgorithm,
    what: &str,
    bodies: &[String],
) -> usize {
    counting.reset();
    let results = resolve_all(h, bodies);
    let winners: Vec<usize> = (0..N)
        .filter(|&i| results[i]["ok"] == json!(true))
        .collect();
    let conflicts = results
        .iter()
        .filter(|r| r["error_code"] == json!("internal_conflict"))
        .count();
    println!(
        "{N} concurrent {what} on one entity: {} hash(es) run, {} succeeded, {conflicts} internal_conflict, at most {} hash(es) at once",
        counting.hashes.get(),
        winners.len(),
        counting.most_at_once.get()
    );
    assert_eq!(counting.hashes.get(), 1, "{what}: hashes run");
    assert_eq!(counting.most_at_once.get(), 1);
    assert_eq!(
        counting.without_lease.get(),
        0,
        "the hash ran under the lease"
    );
    assert_eq!(winners.len(), 1, "{what}: {results:?}");
    assert_eq!(conflicts, N - 1, "{what}: {results:?}");
    assert!(h.logger.entries().is_empty(), "{:?}", h.logger.entries());
    assert!(lease_keys(h).is_empty(), "lease left behind");
    winners[0]
}

#[test]
fn concurrent_set_signup_password_hashes_once() {
    let (h, counting) = harness();
    let (token, code) = h.create_signup("racer@example.com");
    h.ok(
        "verify_signup_email_address_verification_code",
        json!({ "signup_token": token, "email_address_verification_code": code }),
    );
    let passwords = passwords();
    let bodies: Vec<String> = passwords
        .iter()
        .map(|p| {
            body(
                "set_signup_password",
                json!({ "signup_token": token, "password": p }),
            )
        })
        .collect();
    let winner = assert_one_hash(&h, &counting, "set_signup_password", &bodies);
    h.ok("complete_signup", json!({ "signup_token": token }));
    h.signin("racer@example.com", &passwords[winner]);
}

#[test]
fn concurrent_set_user_password_update_new_password_hashes_once() {
    let (h, counting) = harness();
    let s = h.signin_u1();
    let t = verified_password_update(&h, &s);
    let passwords = passwords();
    let bodies: Vec<String> = passwords
        .iter()
        .map(|p| {
            body(
                "set_user_password_update_new_password",
                pu_password_args(&s, &t, p),
            )
        })
        .collect();
    let winner = assert_one_hash(
        &h,
        &counting,
        "set_user_password_update_new_password",
        &bodies,
    );
    h.ok("complete_user_password_update", pu_args(&s, &t));
    h.signin("user1@example.com", &passwords[winner]);
}

#[test]
fn concurrent_set_user_password_reset_new_password_hashes_once() {
    let (h, counting) = harness();
    let t = verified_reset(&h);
    let passwords = passwords();
    let bodies: Vec<String> = passwords
        .iter()
        .map(|p| {
            body(
                "set_user_password_reset_new_password",
                pr_password_args(&t, p),
            )
        })
        .collect();
    let winner = assert_one_hash(
        &h,
        &counting,
        "set_user_password_reset_new_password",
        &bodies,
    );
    h.ok("complete_user_password_reset", pr_args(&t));
    h.signin("user1@example.com", &passwords[winner]);
}

#[test]
fn the_lease_is_per_entity_so_different_signups_hash_side_by_side() {
    // Control for the counter: N signups at once do overlap, and every one succeeds.
    let (h, counting) = harness();
    let bodies: Vec<String> = (0..N)
        .map(|i| {
            let email = format!("signup{i}@example.com");
            let (token, code) = h.create_signup(&email);
            h.ok(
                "verify_signup_email_address_verification_code",
                json!({ "signup_token": token, "email_address_verification_code": code }),
            );
            body(
                "set_signup_password",
                json!({ "signup_token": token, "password": "correct-horse-9" }),
            )
        })
        .collect();
    counting.reset();
    let results = resolve_all(&h, &bodies);
    assert!(
        results.iter().all(|r| r["ok"] == json!(true)),
        "{results:?}"
    );
    assert_eq!(counting.hashes.get(), N);
    assert!(counting.most_at_once.get() > 1, "the hashes overlapped");
    assert!(lease_keys(&h).is_empty());
}

fn verified_signup(h: &Harness) -> (String, String) {
    let (token, code) = h.create_signup("lease@example.com");
    h.ok(
        "verify_signup_email_address_verification_code",
        json!({ "signup_token": token, "email_address_verification_code": code }),
    );
    let key = format!("aaab.{}", id_of(&token));
    (token, hashing_lease_key(&key))
}

fn set_signup_password(token: &str) -> Value {
    json!({ "signup_token": token, "password": "correct-horse-9" })
}

#[test]
fn a_held_lease_answers_internal_conflict_without_hashing_and_expires_on_its_own() {
    let (h, counting) = harness();
    let (token, lease) = verified_signup(&h);
    // A lease left by a request whose isolate died mid-hash.
    block_on(h.rate.add(
        &lease,
        Vec::new(),
        "dead-isolate",
        h.clock.now() + HASHING_LEASE_DURATION,
    ))
    .unwrap();
    counting.reset();
    h.err_unlogged(
        "set_signup_password",
        set_signup_password(&token),
        "internal_conflict",
    );
    assert_eq!(counting.hashes.get(), 0, "the loser does not hash");
    assert!(
        h.rate.contains(&lease),
        "someone else's lease is not released"
    );
    // The storage expires it (the Durable Object's alarm); then the password can be set.
    block_on(h.rate.delete(&lease, "dead-isolate", 0)).unwrap();
    h.ok("set_signup_password", set_signup_password(&token));
    assert_eq!(counting.hashes.get(), 1);
}

#[test]
fn the_lease_is_taken_with_an_expiry_and_released_after_the_compare_and_set() {
    let (h, _) = harness();
    let (token, lease) = verified_signup(&h);
    h.rate.instrumentation.clear_log();
    h.main.instrumentation.clear_log();
    let seen_expiry = Rc::new(Cell::new(0));
    {
        let rate = Rc::downgrade(&h.rate);
        let lease = lease.clone();
        let seen_expiry = seen_expiry.clone();
        h.main.instrumentation.set_hook(move |op, _| {
            if op == Op::Update {
                seen_expiry.set(rate.upgrade().unwrap().expires_at(&lease).unwrap_or(-1));
            }
        });
    }
    h.ok("set_signup_password", set_signup_password(&token));
    h.main.instrumentation.clear_hook();
    assert_eq!(
        seen_expiry.get(),
        h.clock.now() + HASHING_LEASE_DURATION,
        "held during the compare-and-set, expiring on its own"
    );
    assert_eq!(
        h.rate.instrumentation.operations(),
        vec![(Op::Add, lease.clone()), (Op::Delete, lease.clone())],
        "two rate-limit storage calls, nothing else"
    );
    assert!(!h.rate.contains(&lease));
}

#[test]
fn the_lease_is_released_when_the_compare_and_set_loses() {
    let (h, counting) = harness();
    let (token, lease) = verified_signup(&h);
    h.main
        .instrumentation
        .fail_next(Op::Update, "aaab.", StorageError::NotFound);
    h.err_unlogged(
        "set_signup_password",
        set_signup_password(&token),
        "internal_conflict",
    );
    assert_eq!(counting.hashes.get(), 1);
    assert!(!h.rate.contains(&lease));
    h.ok("set_signup_password", set_signup_password(&token));
}

#[test]
fn lease_storage_failures() {
    let (h, counting) = harness();
    let (token, lease) = verified_signup(&h);
    // Taking the lease fails: internal_error (logged), no hash, nothing stored.
    h.rate
        .instrumentation
        .fail_next(Op::Add, HASHING_LEASE_PREFIX, storage_failed());
    h.err_internal("set_signup_password", set_signup_password(&token));
    assert_eq!(counting.hashes.get(), 0);
    assert!(!h.rate.contains(&lease));
    let signup = h.ok("get_signup", json!({ "signup_token": token }));
    assert_eq!(signup["signup"]["password_set"], json!(false));
    // Releasing it fails: the password is set, the failure logged once; the lease expires.
    h.rate
        .instrumentation
        .fail_next(Op::Delete, HASHING_LEASE_PREFIX, storage_failed());
    h.ok("set_signup_password", set_signup_password(&token));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), 2);
    assert!(entries[1].message.contains("hashing lease"), "{entries:?}");
    assert_eq!(
        h.rate.expires_at(&lease),
        Some(h.clock.now() + HASHING_LEASE_DURATION)
    );
    let signup = h.ok("get_signup", json!({ "signup_token": token }));
    assert_eq!(signup["signup"]["password_set"], json!(true));
}

#[test]
fn a_request_that_validated_before_the_winner_finished_does_not_hash_after_it() {
    // Request B validates while the password is unset; the winner A then sets it and releases the
    // lease before B takes it. B's re-read under the lease finds the password set: no hash.
    let (h, counting) = harness();
    let (token, lease) = verified_signup(&h);
    let key = format!("aaab.{}", id_of(&token));
    let unset = h.main.value(&key).unwrap();
    h.ok("set_signup_password", set_signup_password(&token));
    let set_by_winner = h.main.value(&key).unwrap();
    h.main.put_raw(&key, unset);
    {
        let main = Rc::downgrade(&h.main);
        let (key, lease) = (key.clone(), lease.clone());
        h.rate.instrumentation.set_hook(move |op, k| {
            if op == Op::Add && k == lease {
                main.upgrade().unwrap().put_raw(&key, set_by_winner.clone());
            }
        });
    }
    counting.reset();
    h.err_unlogged(
        "set_signup_password",
        json!({ "signup_token": token, "password": "correct-horse-8" }),
        "internal_conflict",
    );
    h.rate.instrumentation.clear_hook();
    assert_eq!(counting.hashes.get(), 0, "no hash after the winner's");
    assert!(!h.rate.contains(&lease));
    h.ok("complete_signup", json!({ "signup_token": token }));
    h.signin("lease@example.com", "correct-horse-9");
}
