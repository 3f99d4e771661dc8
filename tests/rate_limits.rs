//! Spec §7 (token buckets) tested directly on `rate_limit::{consume, check}`, and §14.10 scenarios
//! 74 and 75 through the actions.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use async_trait::async_trait;
use faroe_worker::adapters::memory::{MemoryRateLimitStorage, Op, Sha256TestAlgorithm};
use faroe_worker::ports::{Millis, PasswordHashAlgorithm, RateLimitStorage, StorageError};
use faroe_worker::rate_limit::{check, consume, mailbox, Bucket, Decision, RateLimitError};
use futures::executor::block_on;
use serde_json::json;
use std::cell::Cell;
use std::rc::Rc;

const KEY: &str = "aaaa.u1";

fn consume_at(storage: &MemoryRateLimitStorage, now: Millis) -> Result<Decision, RateLimitError> {
    block_on(consume(storage, Bucket::VerifyUserPassword, "u1", now))
}

fn check_at(storage: &MemoryRateLimitStorage, now: Millis) -> Decision {
    block_on(check(storage, Bucket::VerifyUserPassword, "u1", now)).unwrap()
}

/// Consumes until denied (at most `limit` times); returns how many were allowed.
fn allowed_in_a_row(storage: &MemoryRateLimitStorage, now: Millis, limit: usize) -> usize {
    for n in 0..limit {
        match consume_at(storage, now).unwrap() {
            Decision::Allowed => {}
            Decision::Denied => return n,
        }
    }
    panic!("still allowed after {limit} consumes");
}

fn drained_at(now: Millis) -> MemoryRateLimitStorage {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(allowed_in_a_row(&storage, now, 10), 5);
    storage
}

fn stored(storage: &MemoryRateLimitStorage, key: &str) -> (u8, i64) {
    let value = storage.value(key).expect("bucket stored");
    assert_eq!(value.len(), 9);
    let mut last = [0u8; 8];
    last.copy_from_slice(&value[1..]);
    (value[0], u64::from_be_bytes(last) as i64)
}

fn entry(storage: &MemoryRateLimitStorage, key: &str) -> faroe_worker::ports::RateLimitEntry {
    block_on(RateLimitStorage::get(storage, key)).unwrap()
}

// ---------------------------------------------------------------- §7.1 buckets

#[test]
fn bucket_keys_and_intervals() {
    assert_eq!(Bucket::VerifyUserPassword.key("u1"), "aaaa.u1");
    assert_eq!(Bucket::SendEmail.key("a@b"), "aaab.a@b");
    assert_eq!(Bucket::VerifyEmailCode.key("a@b"), "aaac.a@b");
    assert_eq!(Bucket::VerifyTemporaryPassword.key("u1"), "aaad.u1");
    assert_eq!(Bucket::VerifyUserPassword.interval(), MINUTE);
    assert_eq!(Bucket::SendEmail.interval(), 30 * MINUTE);
    assert_eq!(Bucket::VerifyEmailCode.interval(), MINUTE);
    assert_eq!(Bucket::VerifyTemporaryPassword.interval(), MINUTE);
}

// ---------------------------------------------------------------- §7.4 consequences

#[test]
fn five_allowed_then_denied() {
    let storage = MemoryRateLimitStorage::new();
    for _ in 0..5 {
        assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    }
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Denied));
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS));
    // A denial writes nothing.
    assert_eq!(storage.instrumentation.count(Op::Update, ""), 4);
    assert_eq!(storage.instrumentation.count(Op::Add, ""), 1);
    assert_eq!(entry(&storage, KEY).counter, 4);
}

#[test]
fn last_refilled_at_is_floored_to_seconds() {
    let storage = MemoryRateLimitStorage::new();
    let t = T0 + 999;
    assert_eq!(allowed_in_a_row(&storage, t, 10), 5);
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS));
    // Elapsed is measured from the floored second: 59.001 s → nothing, 60 s after the floor → one.
    assert_eq!(
        consume_at(&storage, T0 + 59 * SECOND + 999),
        Ok(Decision::Denied)
    );
    assert_eq!(
        consume_at(&storage, T0 + 60 * SECOND),
        Ok(Decision::Allowed)
    );
    assert_eq!(consume_at(&storage, T0 + 60 * SECOND), Ok(Decision::Denied));
}

#[test]
fn refill_after_one_interval() {
    let storage = drained_at(T0);
    assert_eq!(consume_at(&storage, T0 + 59 * SECOND), Ok(Decision::Denied));
    assert_eq!(
        consume_at(&storage, T0 + 60 * SECOND),
        Ok(Decision::Allowed)
    );
    assert_eq!(consume_at(&storage, T0 + 60 * SECOND), Ok(Decision::Denied));
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS + 60));
}

#[test]
fn refill_of_exactly_the_deficit_has_no_lag() {
    let storage = drained_at(T0);
    assert_eq!(allowed_in_a_row(&storage, T0 + 5 * MINUTE, 100), 5);
}

#[test]
fn lag_quirk_after_ten_minutes() {
    let storage = drained_at(T0);
    assert_eq!(allowed_in_a_row(&storage, T0 + 10 * MINUTE, 100), 6);
}

#[test]
fn lag_quirk_after_sixty_minutes() {
    let storage = drained_at(T0);
    assert_eq!(allowed_in_a_row(&storage, T0 + 60 * MINUTE, 100), 16);
}

#[test]
fn lag_quirk_first_consume_advances_last_by_max_intervals() {
    let storage = drained_at(T0);
    assert_eq!(
        consume_at(&storage, T0 + 10 * MINUTE),
        Ok(Decision::Allowed)
    );
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS + 300));
}

#[test]
fn wrap_quirk_after_256_minutes() {
    let storage = drained_at(T0);
    assert_eq!(
        consume_at(&storage, T0 + 256 * MINUTE),
        Ok(Decision::Denied)
    );
    assert_eq!(check_at(&storage, T0 + 256 * MINUTE), Decision::Denied);
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS), "nothing written");
    // One interval later the refill is 257 ≡ 1.
    assert_eq!(
        consume_at(&storage, T0 + 257 * MINUTE),
        Ok(Decision::Allowed)
    );
    assert_eq!(
        consume_at(&storage, T0 + 257 * MINUTE),
        Ok(Decision::Denied)
    );
}

#[test]
fn wrap_of_count_plus_refill() {
    // count 4 + refill 252 ≡ 0 (mod 256) → denied.
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    assert_eq!(
        consume_at(&storage, T0 + 252 * MINUTE),
        Ok(Decision::Denied)
    );
    assert_eq!(check_at(&storage, T0 + 252 * MINUTE), Decision::Denied);
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS));
}

#[test]
fn negative_elapsed_time_wraps() {
    let storage = drained_at(T0);
    // −30 s truncates to 0 intervals: denied.
    assert_eq!(consume_at(&storage, T0 - 30 * SECOND), Ok(Decision::Denied));
    // −60 s is −1 interval ≡ 255: the bucket counts as full.
    assert_eq!(check_at(&storage, T0 - 60 * SECOND), Decision::Allowed);
    assert_eq!(
        consume_at(&storage, T0 - 60 * SECOND),
        Ok(Decision::Allowed)
    );
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS + 300));
}

#[test]
fn send_email_bucket_uses_thirty_minutes() {
    let storage = MemoryRateLimitStorage::new();
    let run = |now| block_on(consume(&storage, Bucket::SendEmail, "a@b", now)).unwrap();
    for _ in 0..5 {
        assert_eq!(run(T0), Decision::Allowed);
    }
    assert_eq!(run(T0), Decision::Denied);
    assert_eq!(run(T0 + 1799 * SECOND), Decision::Denied);
    assert_eq!(run(T0 + 1800 * SECOND), Decision::Allowed);
    assert_eq!(run(T0 + 1800 * SECOND), Decision::Denied);
    assert!(storage.contains("aaab.a@b"));
}

#[test]
fn buckets_are_independent() {
    let storage = drained_at(T0);
    let other = block_on(consume(&storage, Bucket::VerifyTemporaryPassword, "u1", T0));
    assert_eq!(other, Ok(Decision::Allowed));
    let other = block_on(consume(&storage, Bucket::VerifyUserPassword, "u2", T0));
    assert_eq!(other, Ok(Decision::Allowed));
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Denied));
}

// ---------------------------------------------------------------- §7.3 CHECK

#[test]
fn check_never_writes() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(check_at(&storage, T0), Decision::Allowed);
    assert!(
        !storage.contains(KEY),
        "check on a missing bucket creates nothing"
    );
    assert_eq!(allowed_in_a_row(&storage, T0, 10), 5);
    storage.instrumentation.clear_log();
    assert_eq!(check_at(&storage, T0), Decision::Denied);
    assert_eq!(check_at(&storage, T0 + 59 * SECOND), Decision::Denied);
    assert_eq!(check_at(&storage, T0 + 60 * SECOND), Decision::Allowed);
    assert_eq!(check_at(&storage, T0 + 10 * MINUTE), Decision::Allowed);
    let ops = storage.instrumentation.operations();
    assert_eq!(ops.len(), 4);
    assert!(ops.iter().all(|(op, _)| *op == Op::Get));
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS));
    // Checks do not take tokens.
    for _ in 0..10 {
        assert_eq!(check_at(&storage, T0 + 60 * SECOND), Decision::Allowed);
    }
    assert_eq!(
        consume_at(&storage, T0 + 60 * SECOND),
        Ok(Decision::Allowed)
    );
    assert_eq!(check_at(&storage, T0 + 60 * SECOND), Decision::Denied);
}

#[test]
fn check_ignores_the_storage_counter() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage.set_counter_raw(KEY, i32::MAX);
    storage.instrumentation.clear_log();
    assert_eq!(check_at(&storage, T0), Decision::Allowed);
    assert_eq!(storage.instrumentation.operations().len(), 1);
    assert_eq!(entry(&storage, KEY).counter, i32::MAX);
}

#[test]
fn check_errors() {
    let storage = MemoryRateLimitStorage::new();
    storage
        .instrumentation
        .fail_next(Op::Get, KEY, StorageError::Failed("io".into()));
    assert!(block_on(check(&storage, Bucket::VerifyUserPassword, "u1", T0)).is_err());
    block_on(RateLimitStorage::add(&storage, KEY, vec![1, 2, 3], "x", T0)).unwrap();
    assert!(block_on(check(&storage, Bucket::VerifyUserPassword, "u1", T0)).is_err());
}

// ---------------------------------------------------------------- §7.2 storage interaction

#[test]
fn expiry_hints() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0 + 500), Ok(Decision::Allowed));
    // Fresh bucket: last + (5 − 4)·I, with last floored.
    assert_eq!(storage.expires_at(KEY), Some(T0 + MINUTE));
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    assert_eq!(storage.expires_at(KEY), Some(T0 + 2 * MINUTE));
    assert_eq!(allowed_in_a_row(&storage, T0, 10), 3);
    assert_eq!(storage.expires_at(KEY), Some(T0 + 5 * MINUTE));
    assert_eq!(
        consume_at(&storage, T0 + 90 * SECOND),
        Ok(Decision::Allowed)
    );
    // last advanced by one interval, count 0 again: last + 5·I.
    assert_eq!(stored(&storage, KEY), (0, T0_SECONDS + 60));
    assert_eq!(storage.expires_at(KEY), Some(T0 + 6 * MINUTE));

    let storage = MemoryRateLimitStorage::new();
    assert_eq!(
        block_on(consume(&storage, Bucket::SendEmail, "a@b", T0)),
        Ok(Decision::Allowed)
    );
    assert_eq!(storage.expires_at("aaab.a@b"), Some(T0 + 30 * MINUTE));
    assert_eq!(
        block_on(consume(&storage, Bucket::SendEmail, "a@b", T0)),
        Ok(Decision::Allowed)
    );
    assert_eq!(storage.expires_at("aaab.a@b"), Some(T0 + 60 * MINUTE));
}

#[test]
fn stored_encoding_is_count_then_big_endian_seconds() {
    let storage = MemoryRateLimitStorage::new();
    let t = 1756101086 * SECOND;
    assert_eq!(consume_at(&storage, t), Ok(Decision::Allowed));
    assert_eq!(
        storage.value(KEY).unwrap(),
        vec![4, 0, 0, 0, 0, 0x68, 0xab, 0xf9, 0xde]
    );
    let first = entry(&storage, KEY);
    assert!(is_id(&first.entry_id));
    assert_eq!(first.counter, 0);
    assert_eq!(consume_at(&storage, t), Ok(Decision::Allowed));
    let second = entry(&storage, KEY);
    assert_eq!(second.entry_id, first.entry_id);
    assert_eq!(second.counter, 1);
}

#[test]
fn add_already_exists_is_conflict() {
    let storage = MemoryRateLimitStorage::new();
    storage
        .instrumentation
        .fail_next(Op::Add, KEY, StorageError::AlreadyExists);
    assert_eq!(consume_at(&storage, T0), Err(RateLimitError::Conflict));
    assert!(!storage.contains(KEY));
    storage
        .instrumentation
        .fail_next(Op::Add, KEY, StorageError::Failed("io".into()));
    assert!(matches!(
        consume_at(&storage, T0),
        Err(RateLimitError::Failed(_))
    ));
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
}

#[test]
fn racing_first_consumes_conflict_on_add() {
    let storage = MemoryRateLimitStorage::new();
    storage.instrumentation.set_yielding(true);
    let (a, b) = block_on(futures::future::join(
        consume(&storage, Bucket::VerifyUserPassword, "u1", T0),
        consume(&storage, Bucket::VerifyUserPassword, "u1", T0),
    ));
    let mut results = [a, b];
    results.sort_by_key(|r| r.is_err());
    assert_eq!(results[0], Ok(Decision::Allowed));
    assert_eq!(results[1], Err(RateLimitError::Conflict));
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS));
}

#[test]
fn racing_consumes_conflict_on_update() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage.instrumentation.set_yielding(true);
    let (a, b) = block_on(futures::future::join(
        consume(&storage, Bucket::VerifyUserPassword, "u1", T0),
        consume(&storage, Bucket::VerifyUserPassword, "u1", T0),
    ));
    let mut results = [a, b];
    results.sort_by_key(|r| r.is_err());
    assert_eq!(results[0], Ok(Decision::Allowed));
    assert_eq!(results[1], Err(RateLimitError::Conflict));
    assert_eq!(stored(&storage, KEY), (3, T0_SECONDS));
}

#[test]
fn update_and_get_errors() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage
        .instrumentation
        .fail_next(Op::Update, KEY, StorageError::NotFound);
    assert_eq!(consume_at(&storage, T0), Err(RateLimitError::Conflict));
    storage
        .instrumentation
        .fail_next(Op::Update, KEY, StorageError::Failed("io".into()));
    assert!(matches!(
        consume_at(&storage, T0),
        Err(RateLimitError::Failed(_))
    ));
    storage
        .instrumentation
        .fail_next(Op::Get, KEY, StorageError::Failed("io".into()));
    assert!(matches!(
        consume_at(&storage, T0),
        Err(RateLimitError::Failed(_))
    ));
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS));
}

#[test]
fn undecodable_bucket_is_an_error() {
    let storage = MemoryRateLimitStorage::new();
    block_on(RateLimitStorage::add(&storage, KEY, vec![4; 10], "x", T0)).unwrap();
    assert!(matches!(
        consume_at(&storage, T0),
        Err(RateLimitError::Failed(_))
    ));
}

// ---------------------------------------------------------------- storage-counter rollover

#[test]
fn rollover_starts_a_fresh_bucket_with_a_new_entry_id() {
    let storage = drained_at(T0);
    let before = entry(&storage, KEY);
    storage.set_counter_raw(KEY, i32::MAX);
    storage.instrumentation.clear_log();
    // Even a drained bucket: the fresh one has max − 1 tokens.
    assert_eq!(
        consume_at(&storage, T0 + 10 * SECOND),
        Ok(Decision::Allowed)
    );
    let ops: Vec<Op> = storage
        .instrumentation
        .operations()
        .into_iter()
        .map(|(op, _)| op)
        .collect();
    assert_eq!(ops, [Op::Get, Op::Delete, Op::Add]);
    let after = entry(&storage, KEY);
    assert_ne!(after.entry_id, before.entry_id);
    assert!(is_id(&after.entry_id));
    assert_eq!(after.counter, 0);
    assert_eq!(stored(&storage, KEY), (4, T0_SECONDS + 10));
    assert_eq!(storage.expires_at(KEY), Some(T0 + 10 * SECOND + MINUTE));
}

#[test]
fn rollover_delete_not_found_is_conflict_fix_7() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage.set_counter_raw(KEY, i32::MAX);
    storage
        .instrumentation
        .fail_next(Op::Delete, KEY, StorageError::NotFound);
    assert_eq!(consume_at(&storage, T0), Err(RateLimitError::Conflict));
    assert_eq!(
        storage.instrumentation.count(Op::Add, ""),
        1,
        "no second Add"
    );
    assert_eq!(entry(&storage, KEY).counter, i32::MAX);
}

#[test]
fn rollover_delete_failure_is_error() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage.set_counter_raw(KEY, i32::MAX);
    storage
        .instrumentation
        .fail_next(Op::Delete, KEY, StorageError::Failed("io".into()));
    assert!(matches!(
        consume_at(&storage, T0),
        Err(RateLimitError::Failed(_))
    ));
    assert!(storage.contains(KEY));
}

#[test]
fn rollover_add_already_exists_is_conflict() {
    let storage = MemoryRateLimitStorage::new();
    assert_eq!(consume_at(&storage, T0), Ok(Decision::Allowed));
    storage.set_counter_raw(KEY, i32::MAX);
    storage
        .instrumentation
        .fail_next(Op::Add, KEY, StorageError::AlreadyExists);
    assert_eq!(consume_at(&storage, T0), Err(RateLimitError::Conflict));
    assert!(!storage.contains(KEY));
}

#[test]
fn rollover_stale_entry_conflicts_through_the_action() {
    // The action maps the FIX-7 conflict to internal_conflict, not logged.
    let h = Harness::new();
    let token = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": "wrong-password" }),
        "incorrect_password",
    );
    h.rate.set_counter_raw(KEY, i32::MAX);
    h.rate
        .instrumentation
        .fail_next(Op::Delete, KEY, StorageError::NotFound);
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": U1_PASSWORD }),
        "internal_conflict",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": U1_PASSWORD }),
    );
    assert_eq!(
        h.bucket_count(KEY),
        Some(4),
        "fresh bucket after the rollover"
    );
}

// ---------------------------------------------------------------- §14.10

#[test]
fn s74_lag_quirk_through_signin() {
    let h = Harness::new();
    let first = h.create_signin("user1@example.com");
    for _ in 0..5 {
        h.err_unlogged(
            "verify_signin_user_password",
            json!({ "signin_token": first, "password": "wrong-password" }),
            "incorrect_password",
        );
    }
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": first, "password": "wrong-password" }),
        "rate_limited",
    );
    h.at(600);
    h.err_unlogged(
        "get_signin",
        json!({ "signin_token": first }),
        "invalid_signin_token",
    );
    let second = h.create_signin("user1@example.com");
    for _ in 0..6 {
        h.err_unlogged(
            "verify_signin_user_password",
            json!({ "signin_token": second, "password": "wrong-password" }),
            "incorrect_password",
        );
    }
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": second, "password": U1_PASSWORD }),
        "rate_limited",
    );
}

/// The harness's algorithm "test-a", counting its hash calls.
struct CountingAlgorithm {
    inner: Sha256TestAlgorithm,
    calls: Rc<Cell<usize>>,
}

#[async_trait(?Send)]
impl PasswordHashAlgorithm for CountingAlgorithm {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn salt_size(&self) -> usize {
        self.inner.salt_size()
    }
    async fn hash(&self, password: &str, salt: &[u8]) -> Result<Vec<u8>, String> {
        self.calls.set(self.calls.get() + 1);
        self.inner.hash(password, salt).await
    }
}

/// A harness whose server counts user-password hashing.
fn counting_harness() -> (Harness, Rc<Cell<usize>>) {
    let mut h = Harness::new();
    let calls = Rc::new(Cell::new(0));
    h.rebuild_with_algorithms(
        Rc::new(CountingAlgorithm {
            inner: Sha256TestAlgorithm::new("test-a"),
            calls: calls.clone(),
        }),
        Rc::new(Sha256TestAlgorithm::new("test-t")),
    );
    (h, calls)
}

#[test]
fn s75_update_not_found_is_conflict_without_hashing() {
    let (h, hashes) = counting_harness();
    let token = h.create_signin("user1@example.com");
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": "wrong-password" }),
        "incorrect_password",
    );
    assert_eq!(hashes.get(), 1);
    h.rate
        .instrumentation
        .fail_next(Op::Update, KEY, StorageError::NotFound);
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": U1_PASSWORD }),
        "internal_conflict",
    );
    assert_eq!(hashes.get(), 1, "no password hashing after the conflict");
    assert_eq!(h.bucket_count(KEY), Some(4));
    let signin = &h.ok("get_signin", json!({ "signin_token": token }))["signin"];
    assert_eq!(signin["user_first_factor_verified"], json!(false));
    assert!(h.logger.entries().is_empty());
}

#[test]
fn s75_add_already_exists_on_first_attempt_is_conflict() {
    let (h, hashes) = counting_harness();
    let token = h.create_signin("user1@example.com");
    h.rate
        .instrumentation
        .fail_next(Op::Add, KEY, StorageError::AlreadyExists);
    h.err_unlogged(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": U1_PASSWORD }),
        "internal_conflict",
    );
    assert_eq!(hashes.get(), 0);
    assert!(!h.rate.contains(KEY));
    assert!(h.logger.entries().is_empty());
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": token, "password": U1_PASSWORD }),
    );
    assert_eq!(hashes.get(), 1);
}

// ---------------------------------------------------------------- mailbox bucket (not in the spec)

#[test]
fn mailbox_lower_cases_and_cuts_the_plus_tag() {
    assert_eq!(
        mailbox("Ada.Lovelace@Example.COM"),
        "ada.lovelace@example.com"
    );
    assert_eq!(mailbox("ada+news@example.com"), "ada@example.com");
    assert_eq!(mailbox("ADA+a+b@EXAMPLE.com"), "ada@example.com");
    // A local part that is only a tag stays whole: there is no name to cut it from.
    assert_eq!(mailbox("+tag@example.com"), "+tag@example.com");
    assert_eq!(mailbox("a@b"), "a@b");
    assert_eq!(Bucket::Mailbox.key("a@b"), "mailbox.a@b");
    assert_eq!(Bucket::Mailbox.interval(), 30 * MINUTE);
    assert_eq!(Bucket::Mailbox.spec().max, 5);
}

const SPELLINGS: [&str; 8] = [
    "mia@example.com",
    "Mia@example.com",
    "MIA@example.com",
    "mia@Example.com",
    "mIa@EXAMPLE.COM",
    "MiA@example.Com",
    "miA@exAmple.com",
    "MIA@EXAMPLE.COM",
];

fn code_emails_to_mailbox(h: &Harness, mailbox_address: &str) -> usize {
    h.email
        .sent()
        .iter()
        .filter(|m| m.email_address.to_ascii_lowercase() == mailbox_address)
        .count()
}

#[test]
fn eight_spellings_of_one_address_get_five_signup_codes() {
    let h = Harness::new();
    let mut outcomes = Vec::new();
    for spelling in SPELLINGS {
        let result = h.call("create_signup", json!({ "email_address": spelling }));
        outcomes.push(result["error_code"].as_str().unwrap_or("ok").to_string());
    }
    assert_eq!(
        outcomes,
        [
            "ok",
            "ok",
            "ok",
            "ok",
            "ok",
            "rate_limited",
            "rate_limited",
            "rate_limited"
        ]
    );
    assert_eq!(code_emails_to_mailbox(&h, "mia@example.com"), 5);
    assert_eq!(h.bucket_count("mailbox.mia@example.com"), Some(0));
    // Each spelling keeps its own exact-string bucket too (spec §7.1), untouched by the others.
    assert_eq!(h.bucket_count("aaab.mia@example.com"), Some(4));
    assert_eq!(h.bucket_count("aaab.MIA@EXAMPLE.COM"), Some(4));
    // Another mailbox is unaffected.
    h.ok(
        "create_signup",
        json!({ "email_address": "Noah@example.com" }),
    );
    // The mailbox bucket refills like the send-email bucket: one token per 30 minutes.
    h.at(1800);
    h.ok(
        "create_signup",
        json!({ "email_address": "MIA@example.com" }),
    );
    h.err_unlogged(
        "create_signup",
        json!({ "email_address": "mia@EXAMPLE.com" }),
        "rate_limited",
    );
}

#[test]
fn resends_and_plus_tags_share_the_mailbox_bucket() {
    let h = Harness::new();
    let (token, _) = h.create_signup("mia+one@example.com");
    for _ in 0..2 {
        h.ok(
            "send_signup_email_address_verification_code",
            json!({ "signup_token": token }),
        );
    }
    h.ok(
        "create_signup",
        json!({ "email_address": "Mia+two@example.com" }),
    );
    h.ok(
        "create_signup",
        json!({ "email_address": "MIA@example.com" }),
    );
    // Five code emails went to mia@example.com's mailbox; the sixth is refused by every path.
    h.err_unlogged(
        "send_signup_email_address_verification_code",
        json!({ "signup_token": token }),
        "rate_limited",
    );
    h.err_unlogged(
        "create_signup",
        json!({ "email_address": "mia@example.com" }),
        "rate_limited",
    );
    assert_eq!(h.email.sent().len(), 5);
}

#[test]
fn password_reset_and_email_update_count_against_the_mailbox() {
    let h = Harness::new();
    let session = h.signin_u1();
    for _ in 0..3 {
        h.ok(
            "create_user_password_reset",
            json!({ "user_email_address": "user1@example.com" }),
        );
    }
    let update = h.ok(
        "create_user_email_address_update",
        json!({ "session_token": session, "new_email_address": "NEW1@example.com" }),
    );
    let update_token = update["user_email_address_update_token"].as_str().unwrap();
    assert_eq!(h.bucket_count("mailbox.new1@example.com"), Some(4));
    assert_eq!(h.bucket_count("mailbox.user1@example.com"), Some(2));
    for _ in 0..4 {
        h.ok(
            "send_user_email_address_update_email_address_verification_code",
            json!({ "session_token": session, "user_email_address_update_token": update_token }),
        );
    }
    h.err_unlogged(
        "create_user_email_address_update",
        json!({ "session_token": session, "new_email_address": "new1@example.com" }),
        "rate_limited",
    );
    // The reset's mailbox has two tokens left, whatever the argument's spelling of it.
    h.ok(
        "create_user_password_reset",
        json!({ "user_email_address": "user1@example.com" }),
    );
    assert_eq!(h.bucket_count("mailbox.user1@example.com"), Some(1));
}

#[test]
fn mailbox_bucket_failures_map_like_the_send_email_bucket() {
    let h = Harness::new();
    h.rate
        .instrumentation
        .fail_next(Op::Add, "mailbox.", StorageError::AlreadyExists);
    h.err_unlogged(
        "create_signup",
        json!({ "email_address": "mia@example.com" }),
        "internal_conflict",
    );
    h.rate.instrumentation.fail_next(
        Op::Get,
        "mailbox.",
        StorageError::Failed("rate storage down".into()),
    );
    h.err_internal(
        "create_signup",
        json!({ "email_address": "mia@example.com" }),
    );
    assert!(
        h.email.sent().is_empty(),
        "no code email without both tokens"
    );
}
