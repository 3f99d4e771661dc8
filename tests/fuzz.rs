//! A fuzz target for the action invocation endpoint that runs on stable Rust (cargo-fuzz needs
//! nightly): a deterministic mutation engine over the seed corpus in `tests/fuzz/corpus/` feeds
//! `Server::resolve` (and, for some harnesses, `resolve_with_filter` / `resolve_gated`) on the
//! in-memory conformance harness of `tests/common`.
//!
//! Every execution runs under `catch_unwind` and must either be a request error (nothing touched,
//! nothing logged) or a result object of the right shape for the action that was dispatched: the
//! member order of spec §1.5, the `values` and models of §3/§4, an error code from the action's
//! Appendix B row, exactly one log entry for `internal_error` / `session_not_created` and none
//! otherwise (§11). A duplicated member name, a body nested deeper than the parser's limit, an
//! action refused by the endpoint's filter or gate must never reach an action. A panic or a
//! violated property is a crash; the run fails on any crash.
//!
//! Inputs are built in four ways: stateful (a request for some action whose arguments are live
//! tokens, codes and temporary passwords the server handed out earlier, so flows advance),
//! structure-aware mutations (replace a string with a dictionary value, a number, null, an object;
//! duplicate a member; nest deeply; switch the action; drop or add members; escape a string as
//! `\uXXXX`; re-indent), byte-level mutations (bit flips, insertion / deletion / replacement with
//! interesting bytes, truncation, splicing two inputs, chunk duplication), or a mix. One harness
//! serves `EXECUTIONS_PER_HARNESS` executions, so storage grows as it would; the clock advances
//! now and then.
//!
//! ```sh
//! cargo test --test fuzz                          # FUZZ_ITERATIONS=20000, well under 10 s
//! wasm-pack test --node -- --test fuzz            # the same 20000 in wasm (no env vars there)
//! FUZZ_SEED=0x1234 FUZZ_ITERATIONS=2000000 cargo test --release --test fuzz -- --nocapture
//! npm run fuzz                                    # the long run
//! ```
//!
//! The mutation schedule is a pure function of `FUZZ_SEED` (xorshift64*). The server draws its
//! own ids, secrets and codes from the OS CSPRNG and those values are fed back into later inputs,
//! so inputs are reproduced byte for byte only up to those random values. Crashing inputs are
//! quoted in the failure message and, natively, written to `$CARGO_TARGET_TMPDIR/fuzz-crashes/`
//! (`target/tmp/fuzz-crashes/`). In wasm a panic aborts the run (panic = abort) instead of being
//! caught, which still fails the test with the panic's message.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::adapters::memory::{EmailKind, LoggedError, SentEmail};
use faroe_worker::endpoint::Rejection;
use faroe_worker::{ActionFilter, RequestError, ACTIONS};
use futures::executor::block_on;
use serde_json::{json, Map, Value};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

const DEFAULT_SEED: u64 = 0x5eed_fa40_e000_0001;
const DEFAULT_ITERATIONS: u64 = 20_000;
/// Executions served by one harness before a fresh one is built (storage grows in between).
const EXECUTIONS_PER_HARNESS: u64 = 400;
/// serde_json's recursion limit: a body nested this deep (containers, top level included) is refused.
const MAX_ACCEPTED_DEPTH: usize = 127;
const DICTIONARY_CAPACITY: usize = 256;
/// Inputs that reached an action are mutated further (up to this many, each at most this long).
const POOL_CAPACITY: usize = 512;
const MAX_POOL_INPUT_BYTES: usize = 4096;
const MAX_INPUT_BYTES: usize = 64 * 1024;
const MAX_REPORTED_CRASHES: usize = 20;

// ---------------------------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------------------------

/// xorshift64*: small, fast, deterministic; not for anything but choosing mutations.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        // xorshift has one fixed point (0); scramble the seed so every value works.
        let mut s = seed ^ 0x9e37_79b9_7f4a_7c15;
        if s == 0 {
            s = 0x9e37_79b9_7f4a_7c15;
        }
        Rng(s)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-enough in `0..n` (`n > 0`).
    fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(raw) => {
            let raw = raw.trim().replace('_', "");
            let parsed = match raw.strip_prefix("0x").or_else(|| raw.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => raw.parse::<u64>(),
            };
            parsed.unwrap_or_else(|_| panic!("{name}={raw} is not an unsigned integer"))
        }
        Err(_) => default,
    }
}

// ---------------------------------------------------------------------------------------------
// Corpus
// ---------------------------------------------------------------------------------------------

struct Seed {
    name: String,
    bytes: Vec<u8>,
}

/// The seed corpus of `tests/fuzz/corpus/`, embedded so the wasm run (no file system) fuzzes the
/// same seeds; natively, [`load_corpus`] checks that this list names every file there.
macro_rules! embedded_corpus {
    ($($name:literal,)*) => {
        &[$(($name, include_bytes!(concat!("fuzz/corpus/", $name)))),*]
    };
}
const CORPUS: &[(&str, &[u8])] = embedded_corpus![
    "accept_all_escapes_in_password.json",
    "accept_duplicate_names_in_sibling_objects.json",
    "accept_email_max_length.json",
    "accept_empty_strings.json",
    "accept_escaped_action_name.json",
    "accept_escaped_member_names.json",
    "accept_extra_members.json",
    "accept_long_token.json",
    "accept_many_dots_token.json",
    "accept_nested_extra_member.json",
    "accept_nesting_127_levels.json",
    "accept_nul_in_token.json",
    "accept_numbers_elsewhere.json",
    "accept_password_boundaries.json",
    "accept_rtl_and_combining_password.json",
    "accept_unicode_email.json",
    "accept_unicode_token.json",
    "accept_whitespace_around.json",
    "reject_action_not_string.json",
    "reject_action_with_nul.json",
    "reject_argument_array.json",
    "reject_argument_bool.json",
    "reject_argument_missing.json",
    "reject_argument_null.json",
    "reject_argument_number.json",
    "reject_argument_object.json",
    "reject_arguments_array.json",
    "reject_arguments_missing.json",
    "reject_arguments_null.json",
    "reject_arguments_string.json",
    "reject_array.json",
    "reject_bad_escape.json",
    "reject_duplicate_in_arguments.json",
    "reject_duplicate_nested.json",
    "reject_duplicate_top_level.json",
    "reject_duplicate_via_escape.json",
    "reject_empty_body.json",
    "reject_invalid_utf8.json",
    "reject_lone_surrogate.json",
    "reject_missing_action.json",
    "reject_nesting_1000_levels.json",
    "reject_nesting_128_levels.json",
    "reject_not_json.json",
    "reject_null.json",
    "reject_number.json",
    "reject_number_out_of_range.json",
    "reject_raw_control_character.json",
    "reject_single_quotes.json",
    "reject_string.json",
    "reject_trailing_comma.json",
    "reject_trailing_garbage.json",
    "reject_truncated.json",
    "reject_two_objects.json",
    "reject_unknown_action.json",
    "reject_uppercase_action.json",
    "reject_utf8_bom.json",
    "valid_complete_signin.json",
    "valid_complete_signup.json",
    "valid_complete_user_deletion.json",
    "valid_complete_user_email_address_update.json",
    "valid_complete_user_password_reset.json",
    "valid_complete_user_password_update.json",
    "valid_create_signin.json",
    "valid_create_signup.json",
    "valid_create_user_deletion.json",
    "valid_create_user_email_address_update.json",
    "valid_create_user_password_reset.json",
    "valid_create_user_password_update.json",
    "valid_delete_all_sessions.json",
    "valid_delete_session.json",
    "valid_delete_signin.json",
    "valid_delete_signup.json",
    "valid_delete_user_deletion.json",
    "valid_delete_user_email_address_update.json",
    "valid_delete_user_password_reset.json",
    "valid_delete_user_password_update.json",
    "valid_get_session.json",
    "valid_get_signin.json",
    "valid_get_signup.json",
    "valid_get_user_deletion.json",
    "valid_get_user_email_address_update.json",
    "valid_get_user_password_reset.json",
    "valid_get_user_password_update.json",
    "valid_send_signup_email_address_verification_code.json",
    "valid_send_user_email_address_update_email_address_verification_code.json",
    "valid_set_signup_password.json",
    "valid_set_user_password_reset_new_password.json",
    "valid_set_user_password_update_new_password.json",
    "valid_verify_signin_user_password.json",
    "valid_verify_signup_email_address_verification_code.json",
    "valid_verify_user_deletion_user_password.json",
    "valid_verify_user_email_address_update_email_address_verification_code.json",
    "valid_verify_user_email_address_update_user_password.json",
    "valid_verify_user_password_reset_temporary_password.json",
    "valid_verify_user_password_update_user_password.json",
];

/// Every `*.json` seed, sorted by file name so the schedule does not depend on the list's order.
fn load_corpus() -> Vec<Seed> {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .expect("tests/fuzz/corpus exists")
            .map(|entry| entry.expect("readable corpus entry").file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = CORPUS.iter().map(|(name, _)| name.to_string()).collect();
        embedded.sort();
        assert_eq!(
            embedded, on_disk,
            "tests/fuzz.rs CORPUS must list exactly the files in tests/fuzz/corpus/"
        );
    }
    let mut seeds: Vec<Seed> = CORPUS
        .iter()
        .map(|(name, bytes)| Seed {
            name: name.to_string(),
            bytes: bytes.to_vec(),
        })
        .collect();
    seeds.sort_by(|a, b| a.name.cmp(&b.name));
    seeds
}

// ---------------------------------------------------------------------------------------------
// The contract every result must satisfy
// ---------------------------------------------------------------------------------------------

/// Appendix B: the codes each action may return besides `internal_error` (always allowed).
fn allowed_error_codes(action: &str) -> &'static [&'static str] {
    const IC: &str = "internal_conflict";
    const RL: &str = "rate_limited";
    match action {
        "create_signup" => &[
            IC,
            RL,
            "email_address_already_used",
            "email_address_not_allowed",
            "invalid_email_address",
        ],
        "get_signup" | "delete_signup" => &["invalid_signup_token"],
        "send_signup_email_address_verification_code" => &[
            IC,
            RL,
            "email_address_already_verified",
            "invalid_signup_token",
        ],
        "verify_signup_email_address_verification_code" => &[
            IC,
            RL,
            "email_address_already_verified",
            "incorrect_email_address_verification_code",
            "invalid_signup_token",
        ],
        "set_signup_password" => &[
            IC,
            "email_address_not_verified",
            "password_already_set",
            "invalid_password_length",
            "weak_password",
            "invalid_signup_token",
        ],
        "complete_signup" => &[
            IC,
            "email_address_not_verified",
            "password_not_set",
            "invalid_signup_token",
            "session_not_created",
        ],
        "create_signin" => &["invalid_email_address", "user_disabled", "user_not_found"],
        "get_signin" | "delete_signin" => &["invalid_signin_token"],
        "verify_signin_user_password" => &[
            IC,
            RL,
            "incorrect_password",
            "invalid_signin_token",
            "user_first_factor_already_verified",
        ],
        "complete_signin" => &["invalid_signin_token", "user_first_factor_not_verified"],
        "get_session" | "delete_session" | "delete_all_sessions" => &["invalid_session_token"],
        "create_user_email_address_update" => &[
            IC,
            RL,
            "email_address_already_used",
            "email_address_not_allowed",
            "invalid_email_address",
            "invalid_session_token",
        ],
        "get_user_email_address_update" | "delete_user_email_address_update" => &[
            "invalid_session_token",
            "invalid_user_email_address_update_token",
            "session_mismatch",
        ],
        "send_user_email_address_update_email_address_verification_code" => &[
            IC,
            RL,
            "email_address_already_verified",
            "invalid_session_token",
            "invalid_user_email_address_update_token",
            "session_mismatch",
        ],
        "verify_user_email_address_update_email_address_verification_code" => &[
            IC,
            RL,
            "email_address_already_verified",
            "incorrect_email_address_verification_code",
            "invalid_session_token",
            "invalid_user_email_address_update_token",
            "session_mismatch",
        ],
        "verify_user_email_address_update_user_password" => &[
            IC,
            RL,
            "email_address_not_verified",
            "incorrect_password",
            "invalid_session_token",
            "invalid_user_email_address_update_token",
            "session_mismatch",
            "user_identity_already_verified",
        ],
        "complete_user_email_address_update" => &[
            IC,
            "email_address_not_verified",
            "invalid_session_token",
            "invalid_user_email_address_update_token",
            "session_mismatch",
            "user_identity_not_verified",
        ],
        "create_user_password_update" => &["invalid_session_token"],
        "get_user_password_update" => &[
            "invalid_password_update_token",
            "invalid_session_token",
            "session_mismatch",
        ],
        "delete_user_password_update" => &[
            "invalid_user_password_update_token",
            "invalid_session_token",
            "session_mismatch",
        ],
        "verify_user_password_update_user_password" => &[
            IC,
            RL,
            "incorrect_password",
            "invalid_password_update_token",
            "invalid_session_token",
            "session_mismatch",
            "user_identity_already_verified",
        ],
        "set_user_password_update_new_password" => &[
            IC,
            "invalid_password_length",
            "invalid_password_update_token",
            "invalid_session_token",
            "new_password_already_set",
            "session_mismatch",
            "user_identity_not_verified",
            "weak_password",
        ],
        "complete_user_password_update" => &[
            IC,
            "invalid_password_update_token",
            "invalid_session_token",
            "new_password_not_set",
            "session_mismatch",
            "user_identity_not_verified",
        ],
        "create_user_deletion" => &["invalid_session_token"],
        "get_user_deletion" | "delete_user_deletion" => &[
            "invalid_session_token",
            "invalid_user_deletion_token",
            "session_mismatch",
        ],
        "verify_user_deletion_user_password" => &[
            IC,
            RL,
            "incorrect_password",
            "invalid_session_token",
            "invalid_user_deletion_token",
            "session_mismatch",
            "user_identity_already_verified",
        ],
        "complete_user_deletion" => &[
            IC,
            "invalid_session_token",
            "invalid_user_deletion_token",
            "session_mismatch",
            "user_identity_not_verified",
        ],
        "create_user_password_reset" => &[
            IC,
            RL,
            "invalid_email_address",
            "user_disabled",
            "user_not_found",
        ],
        "get_user_password_reset" | "delete_user_password_reset" => {
            &["invalid_user_password_reset_token"]
        }
        "verify_user_password_reset_temporary_password" => &[
            IC,
            RL,
            "incorrect_temporary_password",
            "invalid_user_password_reset_token",
            "user_first_factor_already_verified",
        ],
        "set_user_password_reset_new_password" => &[
            IC,
            "invalid_password_length",
            "invalid_user_password_reset_token",
            "new_password_already_set",
            "user_first_factor_not_verified",
            "weak_password",
        ],
        "complete_user_password_reset" => &[
            IC,
            "invalid_user_password_reset_token",
            "new_password_not_set",
            "session_not_created",
            "user_first_factor_not_verified",
        ],
        _ => &[],
    }
}

/// Spec §3: the members of `values` on success, in order.
fn expected_values(action: &str) -> &'static [&'static str] {
    match action {
        "create_signup" => &["signup", "signup_token"],
        "get_signup" => &["signup"],
        "create_signin" => &["signin", "signin_token"],
        "get_signin" => &["signin"],
        "complete_signup" | "complete_signin" | "complete_user_password_reset" => {
            &["session", "session_token"]
        }
        "get_session" => &["session"],
        "create_user_email_address_update" => &[
            "user_email_address_update",
            "user_email_address_update_token",
        ],
        "get_user_email_address_update" => &["user_email_address_update"],
        "create_user_password_update" => &["user_password_update", "user_password_update_token"],
        "get_user_password_update" => &["user_password_update"],
        "create_user_deletion" => &["user_deletion", "user_deletion_token"],
        "get_user_deletion" => &["user_deletion"],
        "create_user_password_reset" => &["user_password_reset", "user_password_reset_token"],
        "get_user_password_reset" => &["user_password_reset"],
        _ => &[],
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Id,
    Str,
    Bool,
    Timestamp,
    NullableTimestamp,
}

/// Spec §4: model members in order, with their types, and the fixed lifetime (seconds) if any.
fn model_shape(name: &str) -> (&'static [(&'static str, Kind)], Option<i64>) {
    use Kind::*;
    match name {
        "signup" => (
            &[
                ("id", Id),
                ("unregistered_user_id", Str),
                ("email_address", Str),
                ("email_address_verified", Bool),
                ("password_set", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(1200),
        ),
        "signin" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("user_first_factor_verified", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(600),
        ),
        "session" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("created_at", Timestamp),
                ("expires_at", NullableTimestamp),
            ],
            None,
        ),
        "user_email_address_update" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("session_id", Id),
                ("new_email_address", Str),
                ("new_email_address_verified", Bool),
                ("user_identity_verified", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(1200),
        ),
        "user_password_update" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("session_id", Id),
                ("user_identity_verified", Bool),
                ("new_password_set", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(600),
        ),
        "user_deletion" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("session_id", Id),
                ("user_identity_verified", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(600),
        ),
        "user_password_reset" => (
            &[
                ("id", Id),
                ("user_id", Str),
                ("user_first_factor_verified", Bool),
                ("new_password_set", Bool),
                ("created_at", Timestamp),
                ("expires_at", Timestamp),
            ],
            Some(1200),
        ),
        _ => (&[], None),
    }
}

fn check_model(name: &str, model: &Value) -> Result<(), String> {
    let (members, lifetime) = model_shape(name);
    let object = model
        .as_object()
        .ok_or_else(|| format!("values.{name} is not an object"))?;
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let expected: Vec<&str> = members.iter().map(|(k, _)| *k).collect();
    if keys != expected {
        return Err(format!(
            "values.{name} members {keys:?}, expected {expected:?}"
        ));
    }
    for (member, kind) in members {
        let v = &object[*member];
        let ok = match kind {
            Kind::Id => v.as_str().is_some_and(is_id),
            Kind::Str => v.is_string(),
            Kind::Bool => v.is_boolean(),
            Kind::Timestamp => v.is_i64(),
            Kind::NullableTimestamp => v.is_null() || v.as_i64().is_some_and(|t| t > 0),
        };
        if !ok {
            return Err(format!("values.{name}.{member} has the wrong type: {v}"));
        }
    }
    if let Some(lifetime) = lifetime {
        let created = object["created_at"].as_i64().unwrap_or_default();
        let expires = object["expires_at"].as_i64().unwrap_or_default();
        if expires - created != lifetime {
            return Err(format!(
                "values.{name}: expires_at − created_at = {}, expected {lifetime}",
                expires - created
            ));
        }
    }
    Ok(())
}

/// What one execution left behind besides its result: new log entries, storage and user-store
/// activity, emails.
struct SideEffects {
    logs: Vec<LoggedError>,
    storage_operations: usize,
    user_store_calls: usize,
    emails: usize,
}

fn clear_side_effects(h: &Harness) {
    h.main.instrumentation.clear_log();
    h.cache.instrumentation.clear_log();
    h.rate.instrumentation.clear_log();
    h.users.clear_calls();
    h.email.clear();
    h.logger.clear();
}

fn side_effects(h: &Harness) -> SideEffects {
    SideEffects {
        logs: h.logger.entries(),
        storage_operations: h.main.instrumentation.operations().len()
            + h.cache.instrumentation.operations().len()
            + h.rate.instrumentation.operations().len(),
        user_store_calls: h.users.calls().len(),
        emails: h.email.sent().len(),
    }
}

/// Checks a dispatched result against the request that produced it.
fn check_result(input: &[u8], body: &str, effects: &SideEffects) -> Result<(), String> {
    // The server dispatched, so the body must be a plain JSON object naming a known action whose
    // parameters are all strings (checked here with serde_json's ordinary parser).
    let request: Value = serde_json::from_slice(input)
        .map_err(|e| format!("dispatched a body serde_json rejects: {e}"))?;
    let action = request["action"]
        .as_str()
        .ok_or("dispatched without a string action")?;
    let def = ACTIONS
        .iter()
        .find(|d| d.name == action)
        .ok_or_else(|| format!("dispatched unknown action {action:?}"))?;
    for param in def.params {
        if !request["arguments"][*param].is_string() {
            return Err(format!(
                "dispatched {action} without string argument {param}"
            ));
        }
    }

    let result: Value =
        serde_json::from_str(body).map_err(|e| format!("result is not JSON: {e}"))?;
    let object = result.as_object().ok_or("result is not an object")?;
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let invocation_id = object
        .get("action_invocation_id")
        .and_then(Value::as_str)
        .filter(|id| is_id(id))
        .ok_or("action_invocation_id is not a 24-character id")?;

    match object.get("ok") {
        Some(Value::Bool(true)) => {
            if keys != ["ok", "action_invocation_id", "values"] {
                return Err(format!("success members {keys:?}"));
            }
            let values = object["values"]
                .as_object()
                .ok_or("values is not an object")?;
            let names: Vec<&str> = values.keys().map(String::as_str).collect();
            let expected = expected_values(action);
            if names != expected {
                return Err(format!("{action} values {names:?}, expected {expected:?}"));
            }
            for (name, value) in values {
                if name.ends_with("_token") {
                    if !value.as_str().is_some_and(is_token) {
                        return Err(format!("values.{name} is not a token: {value}"));
                    }
                } else {
                    check_model(name, value)?;
                }
            }
            // No fault is injected, so no notification can fail: nothing to log.
            if !effects.logs.is_empty() {
                return Err(format!("success logged {:?}", effects.logs));
            }
        }
        Some(Value::Bool(false)) => {
            if keys != ["ok", "action_invocation_id", "error_code"] {
                return Err(format!("failure members {keys:?}"));
            }
            let code = object["error_code"]
                .as_str()
                .ok_or("error_code is not a string")?;
            if code != "internal_error" && !allowed_error_codes(action).contains(&code) {
                return Err(format!(
                    "{action} returned {code}, not in its Appendix B row"
                ));
            }
            let logged = code == "internal_error" || code == "session_not_created";
            if logged {
                let [entry] = effects.logs.as_slice() else {
                    return Err(format!("{code} logged {} times", effects.logs.len()));
                };
                if entry.action != action || entry.action_invocation_id != invocation_id {
                    return Err(format!("{code} logged for the wrong invocation: {entry:?}"));
                }
            } else if !effects.logs.is_empty() {
                return Err(format!("{code} logged {:?}", effects.logs));
            }
        }
        _ => return Err("ok is not a boolean".into()),
    }
    Ok(())
}

/// Spec §1.3: a request error touches nothing and logs nothing.
fn check_request_error(reason: &str, effects: &SideEffects) -> Result<(), String> {
    if reason.is_empty() {
        return Err("request error without a reason".into());
    }
    if effects.storage_operations + effects.user_store_calls + effects.emails + effects.logs.len()
        > 0
    {
        return Err(format!(
            "request error \"{reason}\" touched something: {} storage operations, {} user-store \
             calls, {} emails, {} log entries",
            effects.storage_operations,
            effects.user_store_calls,
            effects.emails,
            effects.logs.len()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------------------------

const INTERESTING_BYTES: &[u8] = &[
    b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', 0x00, 0xff, b'.', b'-', b'0', b'e', b'u',
    b' ', b'\n', b'\t', 0x7f, 0x80, 0xc3, 0xed, 0xef, 0xf4,
];

const INTERESTING_SNIPPETS: &[&str] = &[
    "\\u0000",
    "\\ud800",
    "\\udfff",
    "\\ud83d\\ude00",
    "\\\"",
    "\\\\",
    "\\/",
    "1e999",
    "-0",
    "-1",
    "18446744073709551616",
    "0.000000001",
    "null",
    "true",
    "false",
    "\"\"",
    "{}",
    "[]",
    "\"action\":",
    "\"arguments\":{}",
    "\"session_token\":",
    ",\"action\":\"get_session\"",
    ".",
    "..",
    "é",
    "\u{202e}",
    "\u{feff}",
];

/// The mutation applied last, when it implies what the server must answer.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Expectation {
    Anything,
    /// A member was duplicated in an otherwise valid JSON document (spec §1.4).
    RequestError,
}

/// Byte- and structure-level mutations over one input, with a dictionary of live values.
struct Mutator<'a> {
    rng: &'a mut Rng,
    corpus: &'a [Seed],
    pool: &'a [Vec<u8>],
    dictionary: &'a Dictionary,
}

impl Mutator<'_> {
    fn random_input(&mut self) -> Vec<u8> {
        if !self.pool.is_empty() && self.rng.chance(3) {
            return self.rng.pick(self.pool).clone();
        }
        // Half of the time a seed that reaches an action, otherwise any seed.
        let seed = self.rng.pick(self.corpus);
        if seed.name.starts_with("reject_") && self.rng.chance(2) {
            let valid: Vec<&Seed> = self
                .corpus
                .iter()
                .filter(|s| !s.name.starts_with("reject_"))
                .collect();
            return self.rng.pick(&valid).bytes.clone();
        }
        seed.bytes.clone()
    }

    fn random_string(&mut self) -> String {
        if !self.dictionary.entries.is_empty() && self.rng.below(4) != 0 {
            return self.rng.pick(&self.dictionary.entries).clone();
        }
        match self.rng.below(6) {
            0 => self.rng.pick(ACTIONS).name.to_string(),
            1 => {
                let def = self.rng.pick(ACTIONS);
                if def.params.is_empty() {
                    String::new()
                } else {
                    self.rng.pick(def.params).to_string()
                }
            }
            2 => String::new(),
            3 => "x".repeat(self.rng.below(300)),
            4 => {
                let pieces = [
                    "é", "😀", "\u{0}", "\u{202e}", "\u{fffd}", ".", "@", "A", "\"",
                ];
                (0..self.rng.below(12))
                    .map(|_| *self.rng.pick(&pieces))
                    .collect()
            }
            _ => (*self.rng.pick(INTERESTING_SNIPPETS)).to_string(),
        }
    }

    fn random_scalar(&mut self) -> Value {
        match self.rng.below(9) {
            0 => Value::Null,
            1 => Value::Bool(self.rng.chance(2)),
            2 => json!(self.rng.next() as i64),
            3 => json!(-(self.rng.below(1000) as i64)),
            4 => json!((self.rng.next() as f64) / 3.0e10),
            5 => json!({}),
            6 => json!([]),
            7 => json!({ "id": self.random_string(), "secret": self.random_string() }),
            _ => json!([self.random_string()]),
        }
    }

    /// Applies one byte-level mutation.
    fn mutate_bytes(&mut self, data: &mut Vec<u8>) {
        let len = data.len();
        match self.rng.below(9) {
            0 if len > 0 => {
                let i = self.rng.below(len);
                data[i] ^= 1 << self.rng.below(8);
            }
            1 => {
                let i = self.rng.below(len + 1);
                data.insert(i, *self.rng.pick(INTERESTING_BYTES));
            }
            2 if len > 0 => {
                let i = self.rng.below(len);
                let n = 1 + self.rng.below(8.min(len - i));
                data.drain(i..i + n);
            }
            3 if len > 0 => {
                let i = self.rng.below(len);
                data[i] = *self.rng.pick(INTERESTING_BYTES);
            }
            4 if len > 0 => {
                let at = self.rng.below(len);
                data.truncate(at);
            }
            5 => {
                // Splice: a prefix of this input, a suffix of another.
                let other = self.random_input();
                let cut = self.rng.below(len + 1);
                let from = self.rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => {
                // Duplicate a chunk in place.
                let i = self.rng.below(len);
                let n = 1 + self.rng.below(32.min(len - i));
                let chunk = data[i..i + n].to_vec();
                let at = self.rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            7 => {
                let snippet = self.rng.pick(INTERESTING_SNIPPETS).as_bytes().to_vec();
                let at = self.rng.below(len + 1);
                data.splice(at..at, snippet);
            }
            _ => {
                // A live dictionary value, as raw bytes somewhere.
                let value = self.random_string().into_bytes();
                let at = self.rng.below(len + 1);
                data.splice(at..at, value);
            }
        }
    }

    /// Live arguments: most parameters of the named action get a value of their kind that the
    /// server handed out (tokens, codes, temporary passwords) or a fixture value.
    fn live_arguments(&mut self, value: &mut Value) -> Option<()> {
        let action = value.get("action")?.as_str()?;
        let def = ACTIONS.iter().find(|d| d.name == action)?;
        let arguments = value.get_mut("arguments")?.as_object_mut()?;
        for param in def.params {
            let candidates = self.dictionary.typed(param);
            if !candidates.is_empty() && !self.rng.chance(5) {
                let pick = self.rng.pick(candidates).clone();
                arguments.insert(param.to_string(), Value::String(pick));
            }
        }
        Some(())
    }

    /// Applies one structure-aware mutation if `data` is JSON; returns what it implies.
    fn mutate_json(&mut self, data: &mut Vec<u8>) -> Option<Expectation> {
        let mut value: Value = serde_json::from_slice(data).ok()?;
        let mut directive = Directive::None;
        let mut expectation = Expectation::Anything;
        match self.rng.below(12) {
            10 | 11 => self.live_arguments(&mut value)?,
            0 | 1 => {
                // Replace a string with a dictionary value (live tokens, codes, names, …).
                let replacement = self.random_string();
                *nth_matching(&mut value, &Value::is_string, self.rng)? =
                    Value::String(replacement);
            }
            2 => {
                // Replace a string with a number, null, bool, object or array.
                let replacement = self.random_scalar();
                *nth_matching(&mut value, &Value::is_string, self.rng)? = replacement;
            }
            3 => {
                // Duplicate one member of one object: must be refused.
                let objects =
                    count_matching(&value, &|v| v.as_object().is_some_and(|o| !o.is_empty()));
                if objects == 0 {
                    return None;
                }
                let target = self.rng.below(objects);
                directive = Directive::Duplicate {
                    object: target,
                    member_choice: self.rng.next(),
                };
                expectation = Expectation::RequestError;
            }
            4 => {
                // Wrap a value in many containers (around serde_json's recursion limit).
                let depth = match self.rng.below(3) {
                    0 => 1 + self.rng.below(8),
                    1 => 120 + self.rng.below(16),
                    _ => 1 + self.rng.below(400),
                };
                let as_objects = self.rng.chance(2);
                let slot = nth_matching(&mut value, &|_| true, self.rng)?;
                let mut inner = slot.take();
                for _ in 0..depth {
                    inner = if as_objects {
                        // Not json!: it would re-serialize (deep-copy) `inner` at every level.
                        let mut object = Map::new();
                        object.insert("a".into(), inner);
                        Value::Object(object)
                    } else {
                        Value::Array(vec![inner])
                    };
                }
                *slot = inner;
            }
            5 => {
                // Another action with these arguments (wrong or missing parameters).
                let action = self.rng.pick(ACTIONS).name;
                if let Some(object) = value.as_object_mut() {
                    object.insert("action".into(), action.into());
                } else {
                    return None;
                }
            }
            6 => {
                // Remove one member somewhere.
                let object = nth_matching(
                    &mut value,
                    &|v| v.as_object().is_some_and(|o| !o.is_empty()),
                    self.rng,
                )?
                .as_object_mut()?;
                let i = self.rng.below(object.len());
                let key = object.keys().nth(i)?.clone();
                object.shift_remove(&key);
            }
            7 => {
                // Add a member somewhere (extra arguments are ignored, extra names are fine).
                let name = self.random_string();
                let member = if self.rng.chance(2) {
                    Value::String(self.random_string())
                } else {
                    self.random_scalar()
                };
                let object =
                    nth_matching(&mut value, &Value::is_object, self.rng)?.as_object_mut()?;
                if object.contains_key(&name) {
                    return None;
                }
                object.insert(name, member);
            }
            8 => {
                // Same document, one string written with \u escapes (keys included).
                let strings = count_strings(&value);
                if strings == 0 {
                    return None;
                }
                directive = Directive::Escape {
                    string: self.rng.below(strings),
                };
            }
            _ => {
                // Same document, pretty-printed with odd whitespace.
                directive = Directive::Whitespace;
            }
        }
        let mut out = Vec::with_capacity(data.len() + 16);
        let mut counters = Counters::default();
        write_json(&value, &mut out, &directive, &mut counters, 0);
        *data = out;
        Some(expectation)
    }

    /// One input and the expectation implied by its last mutation. Four kinds, so that some
    /// inputs go deep into the flows and others stress the parser:
    /// - stateful: a request for some action with live arguments (plus maybe one structural
    ///   mutation), so flows advance (codes verified, passwords set, sessions created, …);
    /// - structural: 1–4 structure-aware mutations, mostly still JSON;
    /// - bytes: 1–4 byte-level mutations;
    /// - mixed: 1–4 of either.
    fn generate(&mut self) -> (Vec<u8>, Expectation) {
        let mode = self.rng.below(10);
        if mode <= 2 {
            let mut data = if !self.pool.is_empty() && self.rng.chance(2) {
                self.rng.pick(self.pool).clone()
            } else {
                let valid: Vec<&Seed> = self
                    .corpus
                    .iter()
                    .filter(|s| s.name.starts_with("valid_"))
                    .collect();
                self.rng.pick(&valid).bytes.clone()
            };
            let mut expectation = Expectation::Anything;
            if let Ok(mut value) = serde_json::from_slice::<Value>(&data) {
                if self.live_arguments(&mut value).is_some() {
                    data = value.to_string().into_bytes();
                }
            }
            if self.rng.chance(3) {
                expectation = self.mutate_json(&mut data).unwrap_or(Expectation::Anything);
            }
            return (data, expectation);
        }
        let mut data = self.random_input();
        if self.rng.chance(20) {
            return (data, Expectation::Anything);
        }
        let mut expectation = Expectation::Anything;
        for _ in 0..1 + self.rng.below(4) {
            expectation = Expectation::Anything;
            let structural = match mode {
                3..=5 => true,
                6..=8 => false,
                _ => self.rng.chance(2),
            };
            if structural {
                if let Some(e) = self.mutate_json(&mut data) {
                    expectation = e;
                    continue;
                }
                if mode <= 5 {
                    continue;
                }
            }
            self.mutate_bytes(&mut data);
        }
        data.truncate(MAX_INPUT_BYTES);
        (data, expectation)
    }
}

fn count_matching(v: &Value, pred: &dyn Fn(&Value) -> bool) -> usize {
    let own = usize::from(pred(v));
    own + match v {
        Value::Array(items) => items.iter().map(|x| count_matching(x, pred)).sum(),
        Value::Object(map) => map.values().map(|x| count_matching(x, pred)).sum(),
        _ => 0,
    }
}

/// Strings including member names, in the order [`write_json`] writes them.
fn count_strings(v: &Value) -> usize {
    match v {
        Value::String(_) => 1,
        Value::Array(items) => items.iter().map(count_strings).sum(),
        Value::Object(map) => map.iter().map(|(_, x)| 1 + count_strings(x)).sum(),
        _ => 0,
    }
}

/// A random node (pre-order) for which `pred` holds.
fn nth_matching<'v>(
    v: &'v mut Value,
    pred: &dyn Fn(&Value) -> bool,
    rng: &mut Rng,
) -> Option<&'v mut Value> {
    let count = count_matching(v, pred);
    if count == 0 {
        return None;
    }
    let mut n = rng.below(count);
    find_nth(v, pred, &mut n)
}

fn find_nth<'v>(
    v: &'v mut Value,
    pred: &dyn Fn(&Value) -> bool,
    n: &mut usize,
) -> Option<&'v mut Value> {
    if pred(v) {
        if *n == 0 {
            return Some(v);
        }
        *n -= 1;
    }
    match v {
        Value::Array(items) => items.iter_mut().find_map(|x| find_nth(x, pred, n)),
        Value::Object(map) => map.values_mut().find_map(|x| find_nth(x, pred, n)),
        _ => None,
    }
}

/// How [`write_json`] deviates from plain compact JSON.
enum Directive {
    None,
    /// Write one member of the `object`-th non-empty object (pre-order) twice.
    Duplicate {
        object: usize,
        member_choice: u64,
    },
    /// Write the `string`-th string (member names included) entirely as `\uXXXX` escapes.
    Escape {
        string: usize,
    },
    /// Insert whitespace between every token.
    Whitespace,
}

#[derive(Default)]
struct Counters {
    objects: usize,
    strings: usize,
}

fn write_string(s: &str, out: &mut Vec<u8>, escape_all: bool) {
    out.push(b'"');
    if escape_all {
        for unit in s.encode_utf16() {
            out.extend_from_slice(format!("\\u{unit:04x}").as_bytes());
        }
    } else {
        // serde_json's escaping of one string, without its quotes.
        let quoted = Value::String(s.to_string()).to_string();
        out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    }
    out.push(b'"');
}

fn write_json(v: &Value, out: &mut Vec<u8>, d: &Directive, c: &mut Counters, depth: usize) {
    let space = |out: &mut Vec<u8>| {
        if matches!(d, Directive::Whitespace) {
            out.extend_from_slice(if depth.is_multiple_of(2) {
                b"\n "
            } else {
                b"\t\r "
            });
        }
    };
    match v {
        Value::String(s) => {
            let escape = matches!(d, Directive::Escape { string } if *string == c.strings);
            c.strings += 1;
            write_string(s, out, escape);
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                space(out);
                write_json(item, out, d, c, depth + 1);
            }
            space(out);
            out.push(b']');
        }
        Value::Object(map) => {
            let duplicate = match d {
                Directive::Duplicate {
                    object,
                    member_choice,
                } if !map.is_empty() => {
                    let this = c.objects;
                    c.objects += 1;
                    (this == *object).then(|| (*member_choice % map.len() as u64) as usize)
                }
                _ if !map.is_empty() => {
                    c.objects += 1;
                    None
                }
                _ => None,
            };
            out.push(b'{');
            let mut first = true;
            for (i, (key, value)) in map.iter().enumerate() {
                let times = if duplicate == Some(i) { 2 } else { 1 };
                for _ in 0..times {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    space(out);
                    let escape = matches!(d, Directive::Escape { string } if *string == c.strings);
                    c.strings += 1;
                    write_string(key, out, escape);
                    out.push(b':');
                    space(out);
                    write_json(value, out, d, c, depth + 1);
                }
            }
            space(out);
            out.push(b'}');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// Container depth of a JSON text, top level included (a byte scan: serde_json refuses to parse
/// beyond its own limit). Exact for valid JSON, approximate otherwise.
fn nesting_depth(data: &[u8]) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in data {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// How a harness's requests are resolved: most serve every action with `Server::resolve`; some
/// run behind a blocklist or an allowlist (spec §1.9), some behind a gate that refuses a few
/// actions after validation (`Server::resolve_gated`, the edge's abuse limits).
struct Endpoint {
    filter: ActionFilter,
    gate_refuses: Option<Vec<&'static str>>,
}

fn random_endpoint(rng: &mut Rng) -> Endpoint {
    let some_actions = |rng: &mut Rng, n: usize| {
        (0..n)
            .map(|_| rng.pick(ACTIONS).name)
            .collect::<Vec<&'static str>>()
    };
    let owned = |list: Vec<&str>| list.into_iter().map(String::from).collect();
    let filter = match rng.below(4) {
        0 => ActionFilter::Blocklist(owned(some_actions(rng, 8))),
        1 => ActionFilter::Allowlist(owned(some_actions(rng, 16))),
        _ => ActionFilter::AllowAll,
    };
    let gate_refuses = rng.chance(3).then(|| some_actions(rng, 6));
    Endpoint {
        filter,
        gate_refuses,
    }
}

/// What resolving one input produced.
enum Outcome {
    Result(String),
    RequestError(RequestError),
    /// The gate refused this action (counted with the request errors: no result either).
    GateRefused(&'static str),
}

fn resolve(harness: &Harness, endpoint: &Endpoint, input: &[u8]) -> Outcome {
    let server = &harness.server;
    let result = match (&endpoint.filter, &endpoint.gate_refuses) {
        (ActionFilter::AllowAll, None) => block_on(server.resolve(input)),
        (filter, None) => block_on(server.resolve_with_filter(input, filter)),
        (filter, Some(refused)) => {
            let gate = |action: &'static str| {
                let refuse = refused.contains(&action);
                async move {
                    if refuse {
                        Err(action)
                    } else {
                        Ok(())
                    }
                }
            };
            match block_on(server.resolve_gated(input, filter, gate)) {
                Ok(body) => Ok(body),
                Err(Rejection::Request(e)) => Err(e),
                Err(Rejection::Gate(action)) => return Outcome::GateRefused(action),
            }
        }
    };
    match result {
        Ok(body) => Outcome::Result(body),
        Err(e) => Outcome::RequestError(e),
    }
}

fn permits(filter: &ActionFilter, action: &str) -> bool {
    match filter {
        ActionFilter::AllowAll => true,
        ActionFilter::Blocklist(list) => !list.iter().any(|a| a == action),
        ActionFilter::Allowlist(list) => list.iter().any(|a| a == action),
    }
}

// ---------------------------------------------------------------------------------------------
// The harness with live state
// ---------------------------------------------------------------------------------------------

/// A fresh harness with one entity of every kind, their tokens and codes in the dictionary.
fn fresh_harness(dictionary: &mut Dictionary) -> Harness {
    dictionary.forget_live_values();
    let h = Harness::new();
    let session = h.signin_u1();
    dictionary.add_typed("session_token", session.clone());
    let (signup, code) = h.create_signup("fuzz@example.com");
    dictionary.add_typed("signup_token", signup);
    dictionary.add_typed("email_address_verification_code", code);
    dictionary.add_typed("signin_token", h.create_signin("user2@example.com"));
    let update = h.ok(
        "create_user_email_address_update",
        json!({ "session_token": session, "new_email_address": "alice@new.example" }),
    );
    let password_update = h.ok(
        "create_user_password_update",
        json!({ "session_token": session }),
    );
    let deletion = h.ok("create_user_deletion", json!({ "session_token": session }));
    let reset = h.ok(
        "create_user_password_reset",
        json!({ "user_email_address": "user2@example.com" }),
    );
    for values in [&update, &password_update, &deletion, &reset] {
        harvest(&json!({ "values": values }).to_string(), &[], dictionary);
    }
    harvest("", &h.email.sent(), dictionary);
    clear_side_effects(&h);
    h
}

/// Strings worth planting in inputs: fixture values plus everything the server handed out, also
/// kept by the parameter name they fit (`session_token`, `email_address_verification_code`, …).
struct Dictionary {
    entries: Vec<String>,
    next: usize,
    typed: Vec<(&'static str, Vec<String>)>,
}

const TYPED_CAPACITY: usize = 16;

impl Dictionary {
    fn new() -> Self {
        let entries: Vec<String> = [
            "user1@example.com",
            "user2@example.com",
            "User1@example.com",
            "new@example.com",
            "a@b",
            ".@.",
            U1_PASSWORD,
            U2_PASSWORD,
            "correct-horse-9",
            "password123",
            "weakweakweak",
            "123456789",
            "u1",
            "u2",
            "a.b",
            "x.y.z",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let emails = strings(&[
            "user1@example.com",
            "user2@example.com",
            "new@example.com",
            "fuzz@example.com",
            "alice@new.example",
            "bad",
        ]);
        let passwords = strings(&[
            U1_PASSWORD,
            U2_PASSWORD,
            "correct-horse-9",
            "correct-horse-5",
            "weakweakweak",
            "123456789",
            "",
        ]);
        let mut typed: Vec<(&'static str, Vec<String>)> = Vec::new();
        for def in ACTIONS {
            for param in def.params {
                if typed.iter().any(|(name, _)| name == param) {
                    continue;
                }
                let initial = if param.ends_with("email_address") {
                    emails.clone()
                } else if *param == "password" {
                    passwords.clone()
                } else {
                    Vec::new()
                };
                typed.push((param, initial));
            }
        }
        Self {
            entries,
            next: 0,
            typed,
        }
    }

    /// Appends until full, then overwrites round-robin (the fixture values stay).
    fn add(&mut self, value: String) {
        if value.is_empty() || self.entries.contains(&value) {
            return;
        }
        if self.entries.len() < DICTIONARY_CAPACITY {
            self.entries.push(value);
        } else {
            self.entries[16 + self.next % (DICTIONARY_CAPACITY - 16)] = value;
            self.next += 1;
        }
    }

    /// Forgets the typed values a previous harness handed out (tokens, codes, temporary
    /// passwords); fixture emails and passwords stay.
    fn forget_live_values(&mut self) {
        for (name, list) in &mut self.typed {
            if !name.ends_with("email_address") && *name != "password" {
                list.clear();
            }
        }
    }

    /// Adds a value that fits parameter `param` (and the untyped list).
    fn add_typed(&mut self, param: &str, value: String) {
        self.add(value.clone());
        if let Some((_, list)) = self.typed.iter_mut().find(|(name, _)| *name == param) {
            if !list.contains(&value) {
                if list.len() == TYPED_CAPACITY {
                    list.remove(0);
                }
                list.push(value);
            }
        }
    }

    fn typed(&self, param: &str) -> &[String] {
        self.typed
            .iter()
            .find(|(name, _)| *name == param)
            .map_or(&[], |(_, list)| list.as_slice())
    }
}

/// Feeds tokens from a successful result and codes / temporary passwords from emails back in.
fn harvest(body: &str, emails: &[SentEmail], dictionary: &mut Dictionary) {
    if let Ok(result) = serde_json::from_str::<Value>(body) {
        if let Some(values) = result["values"].as_object() {
            for (name, value) in values {
                if let (true, Some(token)) = (name.ends_with("_token"), value.as_str()) {
                    dictionary.add_typed(name, token.to_string());
                }
            }
        }
    }
    for email in emails {
        match email.kind {
            EmailKind::SignupEmailAddressVerificationCode
            | EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode => {
                dictionary.add_typed("email_address_verification_code", email.secret.clone())
            }
            EmailKind::UserPasswordResetTemporaryPassword => {
                dictionary.add_typed("temporary_password", email.secret.clone())
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

/// The corpus covers every action with a valid request, and each seed's file-name prefix states
/// what the server must do with it unmutated: `valid_`/`accept_` dispatch, `reject_` is a
/// request error.
#[test]
fn corpus_covers_every_action_and_seeds_behave_as_named() {
    let corpus = load_corpus();
    assert!(corpus.len() >= 40, "only {} seeds", corpus.len());
    for def in ACTIONS {
        let name = format!("valid_{}.json", def.name);
        let seed = corpus
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no seed {name}"));
        let request: Value = serde_json::from_slice(&seed.bytes).expect("valid seed is JSON");
        assert_eq!(request["action"], json!(def.name), "{name}");
        for param in def.params {
            assert!(request["arguments"][*param].is_string(), "{name}: {param}");
        }
    }
    for seed in &corpus {
        let h = Harness::new();
        let result = block_on(h.server.resolve(&seed.bytes));
        let effects = side_effects(&h);
        if seed.name.starts_with("reject_") {
            let e = result.expect_err(&seed.name);
            check_request_error(e.reason(), &effects)
                .unwrap_or_else(|problem| panic!("{}: {problem}", seed.name));
        } else {
            assert!(
                seed.name.starts_with("valid_") || seed.name.starts_with("accept_"),
                "seed {} has no valid_/accept_/reject_ prefix",
                seed.name
            );
            let body = result.unwrap_or_else(|e| panic!("{}: request error {e}", seed.name));
            check_result(&seed.bytes, &body, &effects)
                .unwrap_or_else(|problem| panic!("{}: {problem}", seed.name));
        }
    }
}

#[test]
fn nesting_limit_is_127_levels() {
    let h = Harness::new();
    let body = |levels: usize| {
        // The top-level object is one level.
        format!(
            r#"{{"action":"get_session","arguments":{{"session_token":"a.b"}},"x":{}{}}}"#,
            "[".repeat(levels - 1),
            "]".repeat(levels - 1)
        )
    };
    assert_eq!(
        nesting_depth(body(MAX_ACCEPTED_DEPTH).as_bytes()),
        MAX_ACCEPTED_DEPTH
    );
    assert!(h.raw(&body(MAX_ACCEPTED_DEPTH)).is_ok());
    assert!(h.raw(&body(MAX_ACCEPTED_DEPTH + 1)).is_err());
    assert!(h.raw(&body(100_000)).is_err());
}

#[test]
fn fuzz_endpoint_resolver() {
    let seed = env_u64("FUZZ_SEED", DEFAULT_SEED);
    let iterations = env_u64("FUZZ_ITERATIONS", DEFAULT_ITERATIONS);
    let corpus = load_corpus();
    let mut rng = Rng::new(seed);
    let mut dictionary = Dictionary::new();
    let mut pool: Vec<Vec<u8>> = Vec::new();
    let mut crash_reports: Vec<String> = Vec::new();
    let (mut crashes, mut dispatched, mut request_errors) = (0u64, 0u64, 0u64);

    let mut harness = fresh_harness(&mut dictionary);
    let mut endpoint = Endpoint {
        filter: ActionFilter::AllowAll,
        gate_refuses: None,
    };
    let mut served = 0u64;

    for iteration in 0..iterations {
        if served == EXECUTIONS_PER_HARNESS {
            harness = fresh_harness(&mut dictionary);
            endpoint = random_endpoint(&mut rng);
            served = 0;
        }
        served += 1;
        if rng.chance(64) {
            // Let time pass now and then: expiry, refills, activity updates.
            harness.clock.advance(1000 * (1 + rng.below(120)) as i64);
        }

        let (input, expectation) = Mutator {
            rng: &mut rng,
            corpus: &corpus,
            pool: &pool,
            dictionary: &dictionary,
        }
        .generate();

        clear_side_effects(&harness);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let result = resolve(&harness, &endpoint, &input);
            let effects = side_effects(&harness);
            (result, effects)
        }));

        let verdict: Result<(), String> = match outcome {
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                // The harness may be half-way through something: start over.
                harness = fresh_harness(&mut dictionary);
                served = 0;
                Err(format!("panic: {message}"))
            }
            Ok((Outcome::RequestError(e), effects)) => {
                request_errors += 1;
                check_request_error(e.reason(), &effects)
            }
            Ok((Outcome::GateRefused(action), effects)) => {
                request_errors += 1;
                let refused = endpoint
                    .gate_refuses
                    .as_ref()
                    .is_some_and(|list| list.contains(&action));
                if !refused {
                    Err(format!("the gate refused {action}, which it allows"))
                } else if !permits(&endpoint.filter, action) {
                    Err(format!("the gate saw {action}, which the filter refuses"))
                } else {
                    check_request_error("gate refusal", &effects)
                }
            }
            Ok((Outcome::Result(body), effects)) => {
                dispatched += 1;
                let verdict = check_result(&input, &body, &effects).and_then(|()| {
                    let action = serde_json::from_slice::<Value>(&input).unwrap_or_default()
                        ["action"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string();
                    let gated = endpoint
                        .gate_refuses
                        .as_ref()
                        .is_some_and(|list| list.iter().any(|a| *a == action));
                    if !permits(&endpoint.filter, &action) {
                        Err(format!(
                            "{action} was dispatched through {:?}",
                            endpoint.filter
                        ))
                    } else if gated {
                        Err(format!(
                            "{action} was dispatched past a gate that refuses it"
                        ))
                    } else if expectation == Expectation::RequestError {
                        Err("a duplicated member name was accepted".into())
                    } else if nesting_depth(&input) > MAX_ACCEPTED_DEPTH {
                        Err(format!(
                            "a body nested {} levels deep was accepted",
                            nesting_depth(&input)
                        ))
                    } else {
                        Ok(())
                    }
                });
                harvest(&body, &harness.email.sent(), &mut dictionary);
                if input.len() <= MAX_POOL_INPUT_BYTES {
                    if pool.len() < POOL_CAPACITY {
                        pool.push(input.clone());
                    } else {
                        let slot = rng.below(POOL_CAPACITY);
                        pool[slot] = input.clone();
                    }
                }
                verdict
            }
        };

        if let Err(problem) = verdict {
            crashes += 1;
            if crash_reports.len() < MAX_REPORTED_CRASHES {
                // In wasm there is no file system: the report below still quotes the input.
                let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
                let path = dir.join(format!("{seed:016x}-{iteration}.json"));
                let saved = std::fs::create_dir_all(&dir)
                    .and_then(|()| std::fs::write(&path, &input))
                    .map(|()| path.display().to_string())
                    .unwrap_or_else(|e| format!("(not saved: {e})"));
                crash_reports.push(format!(
                    "crash at iteration {iteration}: {problem}\n  input {saved}: {:?}",
                    String::from_utf8_lossy(&input)
                ));
            }
        }
    }

    let summary = format!(
        "fuzz: {iterations} executions, {crashes} crashes, {dispatched} dispatched, \
         {request_errors} request errors, seed {seed}"
    );
    // In wasm, stdout and stderr go nowhere; wasm-bindgen-test shows console output instead.
    #[cfg(not(target_arch = "wasm32"))]
    println!("{summary}");
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{summary}");
    assert_eq!(
        crashes,
        0,
        "the fuzzer found crashes:\n{}",
        crash_reports.join("\n")
    );
}
