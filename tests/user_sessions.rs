//! The sessions extension (docs/extensions.md): the index in account storage (written on every
//! session creation, kept current by the activity update, pruned on revocation and expiry), its
//! two actions with every error code (the set observed equals the Errors line the docs give),
//! "nothing listed that get_session refuses", the client label, and races (a list during
//! delete_all_sessions, two revocations of one session, concurrent sign-ins).

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;
mod totp_helpers;

use common::*;
use faroe_worker::adapters::memory::{yield_once, Op};
use faroe_worker::extensions::sessions::{SessionRecord, ACTIONS as SESSIONS_ACTIONS};
use faroe_worker::extensions::Extensions;
use faroe_worker::ports::UserStoreError;
use faroe_worker::SessionConfig;
use flow_helpers::*;
use futures::executor::block_on;
use futures::future::join_all;
use serde_json::{json, Map, Value};
use std::cell::RefCell;
use std::collections::BTreeSet;
use totp_helpers::{code_at, signin_with_code, u1_enrolled};

const U1: &str = "user1@example.com";

const DOCS: &str = include_str!("../docs/extensions.md");

fn sessions_on() -> Extensions {
    Extensions {
        sessions: true,
        ..Extensions::default()
    }
}

fn harness() -> Harness {
    Harness::with_config(HarnessConfig {
        extensions: sessions_on(),
        ..HarnessConfig::default()
    })
}

fn harness_with(session: SessionConfig) -> Harness {
    Harness::with_config(HarnessConfig {
        session,
        extensions: sessions_on(),
        ..HarnessConfig::default()
    })
}

fn record(h: &Harness, user_id: &str, session_token: &str) -> Option<SessionRecord> {
    h.accounts
        .value(user_id, &format!("session.{}", id_of(session_token)))
        .map(|v| SessionRecord::decode(&v).unwrap())
}

/// The session ids of u1's index records.
fn indexed(h: &Harness, user_id: &str) -> BTreeSet<String> {
    h.accounts
        .keys(user_id)
        .into_iter()
        .filter_map(|k| k.strip_prefix("session.").map(str::to_string))
        .collect()
}

fn list(h: &Harness, s: &str) -> Vec<Map<String, Value>> {
    h.ok("get_user_sessions", session_args(s))["user_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect()
}

fn listed_ids(h: &Harness, s: &str) -> Vec<String> {
    list(h, s)
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

fn du_args(s: &str, id: &str) -> Value {
    json!({ "session_token": s, "user_session_id": id })
}

/// Invokes `action` with `X-Faroe-Client-Label: label` (the edge's `with_client_label`).
fn call_labelled(h: &Harness, label: &str, action: &str, arguments: Value) -> Map<String, Value> {
    let body = json!({ "action": action, "arguments": arguments }).to_string();
    let result = block_on(h.server.with_client_label(label).resolve(body.as_bytes())).unwrap();
    let result: Value = serde_json::from_str(&result).unwrap();
    assert_eq!(result["ok"], json!(true), "{action}: {result}");
    result["values"].as_object().unwrap().clone()
}

fn signin_labelled(h: &Harness, label: &str) -> String {
    let t = verified_signin(h);
    call_labelled(h, label, "complete_signin", signin_args(&t))["session_token"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Every listed session is one `get_session` accepts; with `exactly`, also the converse (for
/// the tokens given; the cache's TTL may let get_session accept a revoked session for a while).
fn assert_listed_are_accepted(h: &Harness, caller: &str, tokens: &[&str], exactly: bool) {
    let listed = listed_ids(h, caller);
    for t in tokens {
        let accepted = h.call("get_session", session_args(t))["ok"] == json!(true);
        let is_listed = listed.contains(&id_of(t));
        assert!(!is_listed || accepted, "listed but refused: {}", id_of(t));
        if exactly {
            assert_eq!(is_listed, accepted, "{}", id_of(t));
        }
    }
}

// ---- the index ----

#[test]
fn extension_off_the_actions_are_unknown_and_account_storage_untouched() {
    let h = Harness::new();
    let s = h.signin_u1();
    for action in SESSIONS_ACTIONS {
        let body = json!({ "action": action.name, "arguments": du_args(&s, &id_of(&s)) });
        let e = h.raw(&body.to_string()).unwrap_err();
        assert!(e.to_string().contains("unknown action"), "{e}");
    }
    h.at(120);
    h.ok("get_session", session_args(&s));
    h.ok("delete_all_sessions", session_args(&h.signin_u1()));
    h.ok("delete_session", session_args(&h.signin_u1()));
    assert!(h.accounts.user_ids().is_empty());
    assert!(h.accounts.instrumentation.operations().is_empty());
}

#[test]
fn signin_signup_and_password_reset_each_index_their_session() {
    let h = harness();
    let s1 = signin_labelled(&h, "Firefox on Linux");
    let rec = record(&h, "u1", &s1).expect("signin indexed");
    assert_eq!(
        rec,
        SessionRecord {
            created_at: T0_SECONDS,
            last_active_at: T0_SECONDS,
            user_disabled_counter: 0,
            user_sessions_counter: 0,
            client_label: "Firefox on Linux".into(),
        }
    );
    let key = format!("session.{}", id_of(&s1));
    assert_eq!(h.accounts.expires_at("u1", &key), Some(T0 + 30 * DAY));

    h.at(10);
    let t = h.signup_ready("new@example.com");
    let values = call_labelled(&h, "Phone", "complete_signup", signup_args(&t));
    let s2 = values["session_token"].as_str().unwrap();
    let new_user = values["session"]["user_id"].as_str().unwrap();
    let rec = record(&h, new_user, s2).expect("signup indexed");
    assert_eq!(
        (rec.created_at, rec.client_label.as_str()),
        (T0_SECONDS + 10, "Phone")
    );

    h.at(20);
    let t = ready_reset(&h, "correct-horse-7");
    let values = h.ok("complete_user_password_reset", pr_args(&t));
    let s3 = values["session_token"].as_str().unwrap();
    let rec = record(&h, "u1", s3).expect("reset indexed");
    assert_eq!(rec.client_label, "", "no header, no label");
    assert_eq!(rec.created_at, T0_SECONDS + 20);
}

#[test]
fn a_bad_client_label_is_ignored() {
    let h = harness();
    for label in ["a".repeat(65), "tab\there".into(), "".into()] {
        let s = signin_labelled(&h, &label);
        assert_eq!(record(&h, "u1", &s).unwrap().client_label, "");
    }
    let s = signin_labelled(&h, &"ü".repeat(64));
    assert_eq!(record(&h, "u1", &s).unwrap().client_label, "ü".repeat(64));
}

#[test]
fn the_activity_update_keeps_the_record_current_once_per_interval() {
    let h = harness();
    let s = h.signin_u1();
    let key = format!("session.{}", id_of(&s));
    h.at(30);
    h.accounts.instrumentation.clear_log();
    h.ok("get_session", session_args(&s));
    assert!(
        h.accounts.instrumentation.operations().is_empty(),
        "no activity update yet"
    );
    h.at(120);
    h.ok("get_session", session_args(&s));
    // 2 account-storage calls per activity update: read the counter, conditional write.
    assert_eq!(
        h.accounts.instrumentation.operations(),
        vec![
            (Op::Get, format!("u1/{key}")),
            (Op::Update, format!("u1/{key}"))
        ]
    );
    let rec = record(&h, "u1", &s).unwrap();
    assert_eq!(rec.last_active_at, T0_SECONDS + 120);
    assert_eq!(
        h.accounts.expires_at("u1", &key),
        Some(T0 + 120 * SECOND + 30 * DAY)
    );
    h.accounts.instrumentation.clear_log();
    h.at(150);
    h.ok("get_session", session_args(&s));
    assert!(
        h.accounts.instrumentation.operations().is_empty(),
        "within the interval"
    );
    let listed = list(&h, &s);
    assert_eq!(listed[0]["last_active_at"], json!(T0_SECONDS + 120));
    assert_eq!(
        listed[0]["expires_at"],
        json!(T0_SECONDS + 120 + 30 * 86400)
    );
}

#[test]
fn a_record_that_is_gone_is_not_recreated_by_the_activity_update() {
    let h = harness();
    let s = h.signin_u1();
    let key = format!("session.{}", id_of(&s));
    let counter = h.accounts.counter("u1", &key).unwrap();
    block_on(faroe_worker::ports::AccountStorage::delete(
        h.accounts.as_ref(),
        "u1",
        &key,
        counter,
    ))
    .unwrap();
    h.at(120);
    h.ok("get_session", session_args(&s));
    assert!(record(&h, "u1", &s).is_none());
    assert!(
        list(&h, &s).is_empty(),
        "the list shows what the index holds"
    );
}

#[test]
fn index_write_failures_are_logged_and_change_no_result() {
    let h = harness();
    h.accounts
        .instrumentation
        .fail_next(Op::Add, "u1/session.", storage_failed());
    let t = verified_signin(&h);
    let before = h.logger.entries().len();
    let result = h.call("complete_signin", signin_args(&t));
    assert_eq!(result["ok"], json!(true));
    let s = result["values"]["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let entries = h.logger.entries();
    assert_eq!(entries.len(), before + 1);
    assert_eq!(entries[before].action, "complete_signin");
    assert!(entries[before].message.contains("index"));
    assert!(record(&h, "u1", &s).is_none());
    h.ok("get_session", session_args(&s));

    let s2 = h.signin_u1();
    h.at(120);
    h.accounts
        .instrumentation
        .fail_next(Op::Get, "u1/session.", storage_failed());
    let before = h.logger.entries().len();
    h.ok("get_session", session_args(&s2));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), before + 1);
    assert_eq!(entries[before].action, "update_activity");

    h.accounts
        .instrumentation
        .fail_next(Op::Get, "u1/session.", storage_failed());
    let before = h.logger.entries().len();
    h.ok("delete_session", session_args(&s2));
    assert_eq!(h.logger.entries()[before].action, "delete_session");
    assert!(
        record(&h, "u1", &s2).is_some(),
        "kept, and the next list prunes it"
    );
    let s3 = h.signin_u1();
    assert_eq!(listed_ids(&h, &s3), vec![id_of(&s3)]);
    assert!(record(&h, "u1", &s2).is_none(), "pruned by the list");
}

// ---- the list ----

#[test]
fn get_user_sessions_lists_live_sessions_newest_first() {
    let h = harness();
    let a = signin_labelled(&h, "Laptop");
    h.at(60);
    let b = signin_labelled(&h, "Phone");
    h.at(90);
    let other_user = h.signin("user2@example.com", U2_PASSWORD);
    let listed = list(&h, &a);
    assert_eq!(
        listed,
        vec![
            json!({ "id": id_of(&b), "created_at": T0_SECONDS + 60,
                    "last_active_at": T0_SECONDS + 60,
                    "expires_at": T0_SECONDS + 60 + 30 * 86400,
                    "current": false, "client_label": "Phone" }),
            json!({ "id": id_of(&a), "created_at": T0_SECONDS,
                    "last_active_at": T0_SECONDS + 90,
                    "expires_at": T0_SECONDS + 90 + 30 * 86400,
                    "current": true, "client_label": "Laptop" }),
        ]
        .into_iter()
        .map(|v| v.as_object().unwrap().clone())
        .collect::<Vec<_>>()
    );
    assert_eq!(listed_ids(&h, &other_user), vec![id_of(&other_user)]);
}

#[test]
fn expires_at_is_the_earlier_of_inactivity_and_absolute_expiry() {
    let h = harness_with(SessionConfig {
        inactivity_timeout: 10 * DAY,
        activity_check_interval: 60 * SECOND,
        expiration: 2 * DAY,
        cache_expiration: 60 * SECOND,
    });
    let a = h.signin_u1();
    h.at(86400 + 3600);
    let b = h.signin_u1();
    let listed = list(&h, &b);
    assert_eq!(listed[1]["id"], json!(id_of(&a)));
    assert_eq!(listed[1]["expires_at"], json!(T0_SECONDS + 2 * 86400));
    // Past a's absolute expiry: its record (inactivity expiry not reached) is not listed, and goes.
    h.at(2 * 86400);
    assert_eq!(listed_ids(&h, &b), vec![id_of(&b)]);
    assert!(record(&h, "u1", &a).is_none());
    assert_eq!(
        h.err("get_session", session_args(&a)),
        "invalid_session_token"
    );
}

#[test]
fn inactivity_expiry_removes_sessions_from_the_list() {
    let h = harness_with(SessionConfig {
        inactivity_timeout: 10 * MINUTE,
        activity_check_interval: 60 * SECOND,
        expiration: 0,
        cache_expiration: 60 * SECOND,
    });
    let a = h.signin_u1();
    let key = format!("session.{}", id_of(&a));
    assert_eq!(h.accounts.expires_at("u1", &key), Some(T0 + 10 * MINUTE));
    h.at(300);
    let b = h.signin_u1();
    assert_eq!(listed_ids(&h, &b).len(), 2);
    h.at(600);
    assert_eq!(listed_ids(&h, &b), vec![id_of(&b)], "a's record expired");
    assert_listed_are_accepted(&h, &b, &[&a, &b], true);
}

#[test]
fn nothing_listed_is_a_session_get_session_refuses() {
    let h = harness();
    let a = h.signin_u1();
    let b = h.signin_u1();
    let c = h.signin_u1();
    let d = h.signin_u1();
    // b's main-storage entry vanished behind the index's back.
    assert!(h.main.remove_raw(&format!("aaaa.{}", id_of(&b))));
    h.at(61);
    assert_listed_are_accepted(&h, &a, &[&a, &b, &c, &d], true);
    assert_eq!(listed_ids(&h, &a).len(), 3);
    assert!(
        record(&h, "u1", &b).is_none(),
        "the stale record was deleted"
    );

    // A disable and re-enable: every earlier session is refused from now on.
    h.users.modify("u1", |u| {
        u.disabled = true;
        u.disabled_counter += 1;
    });
    h.users.modify("u1", |u| u.disabled = false);
    h.at(200);
    let e = h.signin_u1();
    assert_eq!(listed_ids(&h, &e), vec![id_of(&e)]);
    assert_listed_are_accepted(&h, &e, &[&a, &c, &d, &e], true);
    assert_eq!(indexed(&h, "u1"), BTreeSet::from([id_of(&e)]));
}

#[test]
fn delete_session_and_delete_all_sessions_prune_the_index() {
    let h = harness();
    let a = h.signin_u1();
    let b = h.signin_u1();
    let c = h.signin_u1();
    h.ok("delete_session", session_args(&b));
    assert_eq!(indexed(&h, "u1"), BTreeSet::from([id_of(&a), id_of(&c)]));
    h.ok("delete_all_sessions", session_args(&a));
    assert!(indexed(&h, "u1").is_empty());
    assert!(h.accounts.user_ids().is_empty(), "the object is empty");
    h.at(61);
    let d = h.signin_u1();
    assert_eq!(listed_ids(&h, &d), vec![id_of(&d)]);
    assert_listed_are_accepted(&h, &d, &[&a, &b, &c, &d], true);
}

#[test]
fn user_deletion_deletes_the_index() {
    let h = harness();
    let s = h.signin_u1();
    h.signin_u1();
    let t = verified_deletion(&h, &s);
    h.ok("complete_user_deletion", ud_args(&s, &t));
    assert!(h.accounts.user_ids().is_empty());
}

// ---- delete_user_session ----

#[test]
fn delete_user_session_signs_out_one_other_session() {
    let h = harness();
    let a = h.signin_u1();
    let b = h.signin_u1();
    let other = h.signin("user2@example.com", U2_PASSWORD);
    let b_key = format!("aaaa.{}", id_of(&b));
    assert!(h.cache.contains(&b_key));
    ok_unlogged(&h, "delete_user_session", du_args(&a, &id_of(&b)));
    assert!(!h.main.contains(&b_key) && !h.cache.contains(&b_key));
    assert!(record(&h, "u1", &b).is_none());
    assert_eq!(
        h.err("get_session", session_args(&b)),
        "invalid_session_token"
    );
    assert_eq!(listed_ids(&h, &a), vec![id_of(&a)]);
    // Another user's session is not found, and stays.
    h.err_unlogged(
        "delete_user_session",
        du_args(&a, &id_of(&other)),
        "session_not_found",
    );
    h.ok("get_session", session_args(&other));
    // The calling session itself may go.
    h.ok("delete_user_session", du_args(&a, &id_of(&a)));
    assert_eq!(
        h.err("get_session", session_args(&a)),
        "invalid_session_token"
    );
    assert!(indexed(&h, "u1").is_empty());
}

#[test]
fn delete_user_session_of_a_session_get_session_refuses_is_not_found_and_cleans_up() {
    let h = harness();
    let a = h.signin_u1();
    let b = h.signin_u1();
    // b: a stale entry of an older sessions counter (revoked by delete_all_sessions).
    h.ok("delete_all_sessions", session_args(&a));
    let c = h.signin_u1();
    h.at(61);
    h.err_unlogged(
        "delete_user_session",
        du_args(&c, &id_of(&b)),
        "session_not_found",
    );
    assert!(!h.main.contains(&format!("aaaa.{}", id_of(&b))));
}

// ---- error matrix ----

/// The backticked names on the line of `label` in the section of `action` in docs/extensions.md.
fn documented(action: &str, label: &str) -> Vec<String> {
    let heading = format!("#### {action}\n");
    let start = DOCS.find(&heading).expect("a section");
    let section = &DOCS[start + heading.len()..];
    let section = &section[..section.find("\n#### ").unwrap_or(section.len())];
    let line = section.lines().find(|l| l.contains(label)).unwrap();
    let mut after = &line[line.find(label).unwrap() + label.len()..];
    if let Some(end) = after.find(" · ") {
        after = &after[..end];
    }
    after
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

struct Matrix<'h> {
    h: &'h Harness,
    action: &'static str,
    seen: RefCell<BTreeSet<String>>,
}

impl<'h> Matrix<'h> {
    fn new(h: &'h Harness, action: &'static str) -> Self {
        Self {
            h,
            action,
            seen: RefCell::default(),
        }
    }
    fn ok(&self, args: Value) -> Map<String, Value> {
        ok_unlogged(self.h, self.action, args)
    }
    fn err(&self, args: Value, code: &str) {
        self.h.err_unlogged(self.action, args, code);
        self.seen.borrow_mut().insert(code.to_string());
    }
    fn internal(&self, args: Value) {
        self.h.err_internal(self.action, args);
        self.seen.borrow_mut().insert("internal_error".into());
    }
    fn done(self) {
        let documented: BTreeSet<String> =
            documented(self.action, "**Errors**:").into_iter().collect();
        assert_eq!(*self.seen.borrow(), documented, "{}", self.action);
    }
}

#[test]
fn the_docs_give_the_tables_params() {
    for action in SESSIONS_ACTIONS {
        assert_eq!(documented(action.name, "**Params**:"), action.params);
    }
}

#[test]
fn get_user_sessions_error_matrix() {
    let h = harness();
    let s = h.signin_u1();
    let other = h.signin_u1();
    let m = Matrix::new(&h, "get_user_sessions");
    assert_eq!(
        m.ok(session_args(&s))["user_sessions"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    m.err(session_args("bad"), "invalid_session_token");
    m.err(session_args(&wrong_secret(&s)), "invalid_session_token");
    h.accounts
        .instrumentation
        .fail_next(Op::List, "u1/session.", storage_failed());
    m.internal(session_args(&s));
    h.main.instrumentation.fail_next(
        Op::Get,
        &format!("aaaa.{}", id_of(&other)),
        storage_failed(),
    );
    m.internal(session_args(&s));
    h.users.fail_next("get_user", user_store_failed());
    m.internal(session_args(&s));
    // The second user read (after the entries were confirmed) failing.
    let calls = RefCell::new(0);
    let users = h.users.clone();
    h.users.set_hook(move |method| {
        if method == "get_user" {
            *calls.borrow_mut() += 1;
            if *calls.borrow() == 2 {
                users.fail_next("get_user", UserStoreError::Failed("injected".into()));
            }
        }
    });
    m.internal(session_args(&s));
    h.users.clear_hook();
    m.done();
}

#[test]
fn delete_user_session_error_matrix() {
    let h = harness();
    let s = h.signin_u1();
    let m = Matrix::new(&h, "delete_user_session");
    let target = h.signin_u1();
    m.ok(du_args(&s, &id_of(&target)));
    m.err(du_args("bad", &id_of(&s)), "invalid_session_token");
    m.err(du_args(&s, &id_of(&target)), "session_not_found");
    m.err(du_args(&s, "not an id"), "session_not_found");
    m.err(
        du_args(&s, &format!("{}.x", id_of(&s))),
        "session_not_found",
    );
    for fault in ["main get", "main delete", "cache delete"] {
        let target = h.signin_u1();
        let key = format!("aaaa.{}", id_of(&target));
        match fault {
            "main get" => h
                .main
                .instrumentation
                .fail_next(Op::Get, &key, storage_failed()),
            "main delete" => h
                .main
                .instrumentation
                .fail_next(Op::Delete, &key, storage_failed()),
            _ => h
                .cache
                .instrumentation
                .fail_next(Op::Delete, &key, storage_failed()),
        }
        m.internal(du_args(&s, &id_of(&target)));
    }
    h.users.fail_next("get_user", user_store_failed());
    m.internal(du_args(&s, &id_of(&s)));
    m.done();
}

// ---- races ----

fn set_yielding(h: &Harness, yielding: bool) {
    h.main.instrumentation.set_yielding(yielding);
    h.accounts.instrumentation.set_yielding(yielding);
    h.cache.instrumentation.set_yielding(yielding);
    h.users.set_yielding(yielding);
}

/// Runs every `(delay, action, arguments)` concurrently, each starting after `delay` yields; the
/// result objects.
fn concurrently(h: &Harness, calls: &[(usize, &str, Value)]) -> Vec<Value> {
    let bodies: Vec<(usize, String)> = calls
        .iter()
        .map(|(delay, action, arguments)| {
            (
                *delay,
                json!({ "action": action, "arguments": arguments }).to_string(),
            )
        })
        .collect();
    set_yielding(h, true);
    let results = block_on(join_all(bodies.iter().map(|(delay, body)| async move {
        for _ in 0..*delay {
            yield_once().await;
        }
        h.server.resolve(body.as_bytes()).await
    })));
    set_yielding(h, false);
    results
        .into_iter()
        .map(|r| serde_json::from_str(&r.unwrap()).unwrap())
        .collect()
}

fn code(result: &Value) -> &str {
    result["error_code"].as_str().unwrap_or("ok")
}

#[test]
fn a_list_during_delete_all_sessions_shows_all_or_nothing_and_nothing_refused_afterwards() {
    let mut outcomes = BTreeSet::new();
    // The delete starts up to 15 yields after the list, or the list up to 15 after the delete.
    for shift in -15i32..16 {
        let delay = shift.unsigned_abs() as usize;
        let (delete_delay, list_delay) = if shift < 0 { (delay, 0) } else { (0, delay) };
        let h = harness();
        let a = h.signin_u1();
        let b = h.signin_u1();
        let c = h.signin_u1();
        let results = concurrently(
            &h,
            &[
                (delete_delay, "delete_all_sessions", session_args(&a)),
                (list_delay, "get_user_sessions", session_args(&b)),
            ],
        );
        assert_eq!(code(&results[0]), "ok");
        let outcome = match code(&results[1]) {
            "ok" => {
                let n = results[1]["values"]["user_sessions"]
                    .as_array()
                    .unwrap()
                    .len();
                assert!(n == 0 || n == 3, "delay {delay}: a partial list of {n}");
                format!("listed {n}")
            }
            other => {
                assert_eq!(other, "invalid_session_token", "delay {delay}");
                other.to_string()
            }
        };
        outcomes.insert(outcome);
        // Afterwards: nothing refused is listed, and the index holds only live sessions.
        h.at(61);
        let d = h.signin_u1();
        assert_eq!(listed_ids(&h, &d), vec![id_of(&d)], "delay {delay}");
        assert_listed_are_accepted(&h, &d, &[&a, &b, &c, &d], true);
        assert_eq!(indexed(&h, "u1"), BTreeSet::from([id_of(&d)]));
    }
    // The delays reach both sides of the counter increment.
    assert!(
        outcomes.contains("listed 0") && outcomes.contains("listed 3"),
        "{outcomes:?}"
    );
}

#[test]
fn two_revocations_of_one_session_one_succeeds_the_other_is_not_found() {
    for delay in 0..8 {
        let h = harness();
        let a = h.signin_u1();
        let b = h.signin_u1();
        let target = h.signin_u1();
        let results = concurrently(
            &h,
            &[
                (0, "delete_user_session", du_args(&a, &id_of(&target))),
                (delay, "delete_user_session", du_args(&b, &id_of(&target))),
            ],
        );
        let mut codes: Vec<&str> = results.iter().map(code).collect();
        codes.sort();
        assert_eq!(codes, vec!["ok", "session_not_found"], "delay {delay}");
        assert!(record(&h, "u1", &target).is_none());
        assert_eq!(
            h.err("get_session", session_args(&target)),
            "invalid_session_token"
        );
        assert!(h.logger.entries().is_empty());
    }
}

#[test]
fn delete_session_racing_delete_user_session_leaves_no_record() {
    for delay in 0..8 {
        let h = harness();
        let a = h.signin_u1();
        let target = h.signin_u1();
        let results = concurrently(
            &h,
            &[
                (0, "delete_user_session", du_args(&a, &id_of(&target))),
                (delay, "delete_session", session_args(&target)),
            ],
        );
        assert!(["ok", "session_not_found"].contains(&code(&results[0])));
        assert!(["ok", "invalid_session_token"].contains(&code(&results[1])));
        assert!(record(&h, "u1", &target).is_none(), "delay {delay}");
        assert_eq!(listed_ids(&h, &a), vec![id_of(&a)]);
    }
}

#[test]
fn concurrent_sign_ins_are_all_indexed() {
    let h = harness();
    let signins: Vec<String> = (0..6)
        .map(|_| {
            // A fresh verify-user-password bucket for each (its limit is not under test here).
            h.rate.remove_raw("aaaa.u1");
            verified_signin(&h)
        })
        .collect();
    let calls: Vec<(usize, &str, Value)> = signins
        .iter()
        .enumerate()
        .map(|(i, t)| (i % 3, "complete_signin", signin_args(t)))
        .collect();
    let results = concurrently(&h, &calls);
    let tokens: Vec<String> = results
        .iter()
        .map(|r| {
            assert_eq!(code(r), "ok");
            r["values"]["session_token"].as_str().unwrap().to_string()
        })
        .collect();
    let ids: BTreeSet<String> = tokens.iter().map(|t| id_of(t)).collect();
    assert_eq!(ids.len(), 6);
    assert_eq!(indexed(&h, "u1"), ids);
    let listed: BTreeSet<String> = listed_ids(&h, &tokens[0]).into_iter().collect();
    assert_eq!(listed, ids);
    assert_eq!(
        h.accounts.user_ids(),
        vec!["u1".to_string()],
        "one object, the user's"
    );
}

#[test]
fn concurrent_activity_updates_keep_one_current_record() {
    let h = harness();
    let s = h.signin_u1();
    h.at(120);
    let results = concurrently(
        &h,
        &[
            (0, "get_session", session_args(&s)),
            (1, "get_session", session_args(&s)),
            (2, "get_session", session_args(&s)),
        ],
    );
    assert!(results.iter().all(|r| code(r) == "ok"));
    assert_eq!(
        record(&h, "u1", &s).unwrap().last_active_at,
        T0_SECONDS + 120
    );
    assert!(h.logger.entries().is_empty(), "{:?}", h.logger.entries());
}

#[test]
fn with_totp_on_too_the_user_object_holds_both_and_revocations_leave_second_factors() {
    let h = Harness::with_config(HarnessConfig {
        extensions: Extensions {
            sessions: true,
            ..totp_extensions(TOTP_KEYS)
        },
        ..HarnessConfig::default()
    });
    let (s, key, _) = u1_enrolled(&h);
    h.at(31);
    let other = signin_with_code(&h, U1, U1_PASSWORD, &code_at(&h, &key, 0));
    let mut keys = h.accounts.keys("u1");
    keys.sort();
    let mut expected = vec![
        "second_factors".to_string(),
        format!("session.{}", id_of(&s)),
        format!("session.{}", id_of(&other)),
    ];
    expected.sort();
    assert_eq!(
        keys, expected,
        "one object: the TOTP record beside the session records"
    );
    h.ok("delete_user_session", du_args(&s, &id_of(&other)));
    h.ok("delete_all_sessions", session_args(&s));
    assert_eq!(h.accounts.keys("u1"), vec!["second_factors".to_string()]);
    h.at(100);
    let fresh = signin_with_code(&h, U1, U1_PASSWORD, &code_at(&h, &key, 0));
    assert_eq!(listed_ids(&h, &fresh), vec![id_of(&fresh)]);
    h.ok("get_user_second_factors", session_args(&fresh));
}
