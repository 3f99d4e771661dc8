//! The security events extension (docs/extensions.md): the event of every flow outcome, the
//! 100-event / 90-day rule on a fake clock, the model, the sink (the edge's queue), recording
//! failures logged and never fatal, the error matrix of get_user_security_events against the
//! docs, the action log line (never a secret), and the extension off.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;
mod totp_helpers;

use async_trait::async_trait;
use common::*;
use faroe_worker::adapters::memory::Op;
use faroe_worker::extensions::security_events::{
    EventType, SecurityEvent, ACTIONS, EVENT_LIFETIME, MAX_EVENTS,
};
use faroe_worker::extensions::Extensions;
use faroe_worker::ports::SecurityEventSink;
use flow_helpers::*;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::rc::Rc;
use totp_helpers::{enroll, password_verified_signin, signin_code_args, signin_recovery_args};

const DOCS: &str = include_str!("../docs/extensions.md");
const U1: &str = "user1@example.com";

/// Records what the server sends to its sink; fails on request.
#[derive(Default)]
struct RecordingSink {
    sent: RefCell<Vec<SecurityEvent>>,
    failing: RefCell<bool>,
}

#[async_trait(?Send)]
impl SecurityEventSink for RecordingSink {
    async fn send(&self, event: &SecurityEvent) -> Result<(), String> {
        if *self.failing.borrow() {
            return Err("injected queue failure".into());
        }
        self.sent.borrow_mut().push(event.clone());
        Ok(())
    }
}

fn extensions(totp: bool) -> Extensions {
    let mut x = if totp {
        totp_extensions(TOTP_KEYS)
    } else {
        Extensions::default()
    };
    x.security_events = true;
    x
}

/// The extension on (with TOTP when asked), a recording sink attached.
fn harness(totp: bool) -> (Harness, Rc<RecordingSink>) {
    let mut h = Harness::with_config(HarnessConfig {
        extensions: extensions(totp),
        ..HarnessConfig::default()
    });
    let sink = Rc::new(RecordingSink::default());
    h.server = h.server.clone().with_security_event_sink(sink.clone());
    (h, sink)
}

fn events(h: &Harness, s: &str) -> Vec<Value> {
    h.ok("get_user_security_events", json!({ "session_token": s }))["user_security_events"]
        .as_array()
        .unwrap()
        .clone()
}

/// (type, detail) of the listed events, newest first.
fn kinds(h: &Harness, s: &str) -> Vec<(String, String)> {
    events(h, s)
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn kind(t: &str, d: &str) -> (String, String) {
    (t.to_string(), d.to_string())
}

fn event_keys(h: &Harness, user: &str) -> Vec<String> {
    h.accounts
        .keys(user)
        .into_iter()
        .filter(|k| k.starts_with("event."))
        .collect()
}

#[test]
fn signin_success_and_wrong_password_are_recorded_with_the_model() {
    let (h, sink) = harness(false);
    let t = h.create_signin(U1);
    assert_eq!(
        h.err(
            "verify_signin_user_password",
            json!({ "signin_token": t, "password": "wrong-password" })
        ),
        "incorrect_password"
    );
    h.at(5);
    let s = h.signin_u1();
    let listed = events(&h, &s);
    assert_eq!(listed.len(), 2);
    // Newest first, every member of the model and nothing else.
    let newest = listed[0].as_object().unwrap();
    let members: Vec<&str> = newest.keys().map(String::as_str).collect();
    assert_eq!(
        members,
        ["id", "type", "detail", "created_at", "client_address"]
    );
    assert!(is_id(newest["id"].as_str().unwrap()));
    assert_eq!(newest["type"], "signin_succeeded");
    assert_eq!(newest["detail"], "");
    assert_eq!(newest["created_at"], json!(T0_SECONDS + 5));
    assert_eq!(newest["client_address"], "");
    assert_eq!(listed[1]["type"], "signin_password_incorrect");
    assert_eq!(listed[1]["created_at"], json!(T0_SECONDS));
    // The same two went to the sink, with the user and the invocation.
    let sent = sink.sent.borrow();
    assert_eq!(sent.len(), 2);
    assert_eq!(sent[0].event_type, EventType::SigninPasswordIncorrect);
    assert_eq!(sent[1].event_type, EventType::SigninSucceeded);
    assert!(sent.iter().all(|e| e.user_id == "u1"));
    assert!(is_id(&sent[1].action_invocation_id));
    drop(sent);
    // Records expire after 90 days; keys sort by time.
    let keys = event_keys(&h, "u1");
    assert_eq!(keys.len(), 2);
    assert!(keys[0].starts_with(&format!("event.{:013}.", T0)));
    assert!(keys[1].starts_with(&format!("event.{:013}.", T0 + 5000)));
    // Other users see nothing of it.
    let s2 = h.signin("user2@example.com", U2_PASSWORD);
    assert_eq!(kinds(&h, &s2), vec![kind("signin_succeeded", "")]);
}

#[test]
fn failures_that_are_not_a_wrong_secret_record_nothing() {
    let (h, sink) = harness(false);
    // Unknown token, rate limit: no event (nothing says the user's password was tried).
    h.err(
        "verify_signin_user_password",
        json!({ "signin_token": "aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb", "password": "x" }),
    );
    let s = h.signin_u1();
    // delete_session (a sign-out) is not a revocation event.
    let other = h.signin_u1();
    h.ok("delete_session", json!({ "session_token": other }));
    assert_eq!(
        kinds(&h, &s),
        vec![kind("signin_succeeded", ""), kind("signin_succeeded", "")]
    );
    assert_eq!(sink.sent.borrow().len(), 2);
}

#[test]
fn password_update_reset_email_update_and_revocation_are_recorded() {
    let (h, _) = harness(false);
    // One second apart: events of one millisecond have no defined order.
    let s = h.signin_u1();
    h.at(1);
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    h.ok("complete_user_email_address_update", eu_args(&s, &t));
    h.at(2);
    let t = ready_password_update(&h, &s, "new-password-1");
    h.ok("complete_user_password_update", pu_args(&s, &t));
    h.at(3);
    h.ok("delete_all_sessions", json!({ "session_token": s }));
    h.at(4);
    let t = ready_reset_for(&h, NEW_EMAIL, "new-password-2");
    let s = h.ok("complete_user_password_reset", pr_args(&t))["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        kinds(&h, &s),
        vec![
            kind("password_reset", ""),
            kind("sessions_revoked", "all"),
            kind("password_updated", ""),
            kind("email_address_updated", ""),
            kind("signin_succeeded", ""),
        ]
    );
}

/// A password reset of `email` ready to complete with `new_password`: the reset token.
fn ready_reset_for(h: &Harness, email: &str, new_password: &str) -> String {
    let (t, temporary, _) = create_reset(h, email);
    h.ok(
        "verify_user_password_reset_temporary_password",
        pr_temporary_args(&t, &temporary),
    );
    h.ok(
        "set_user_password_reset_new_password",
        pr_password_args(&t, new_password),
    );
    t
}

#[test]
fn second_factor_events_name_the_factor() {
    let (h, sink) = harness(true);
    let s = h.signin_u1();
    h.at(1);
    let (key, codes) = enroll(&h, &s, U1_PASSWORD);
    // The enrollment used this step's code: sign in at the next step.
    h.at(30);
    // Wrong then right TOTP code (events one second apart: one millisecond has no order).
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err(
        "verify_signin_totp_code",
        signin_code_args(&t, &totp_helpers::wrong_code(&h, &key)),
    );
    h.at(31);
    h.ok(
        "verify_signin_totp_code",
        signin_code_args(&t, &totp_helpers::code_at(&h, &key, 0)),
    );
    h.at(32);
    h.ok("complete_signin", json!({ "signin_token": t }));
    // Wrong then right recovery code.
    h.at(33);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    assert_eq!(
        h.err(
            "verify_signin_recovery_code",
            signin_recovery_args(&t, "AAAAAAAAAAAA"),
        ),
        "incorrect_recovery_code"
    );
    h.at(34);
    h.ok(
        "verify_signin_recovery_code",
        signin_recovery_args(&t, &codes[0]),
    );
    // Removal through the confirmation flow.
    h.at(35);
    let t = totp_helpers::verified_deletion(&h, &s, U1_PASSWORD);
    h.ok(
        "complete_user_totp_deletion",
        totp_helpers::del_args(&s, &t),
    );
    assert_eq!(
        kinds(&h, &s),
        vec![
            kind("second_factor_removed", "totp"),
            kind("second_factor_used", "recovery_code"),
            kind("second_factor_failed", "recovery_code"),
            kind("signin_succeeded", ""),
            kind("second_factor_used", "totp"),
            kind("second_factor_failed", "totp"),
            kind("second_factor_added", "totp"),
            kind("signin_succeeded", ""),
        ]
    );
    // The operator action records a removal only when there was TOTP to remove.
    h.rate.remove_raw("aaaa.u1");
    h.rate.remove_raw("second_factor.u1");
    enroll(&h, &s, U1_PASSWORD);
    let before = sink.sent.borrow().len();
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    let sent = sink.sent.borrow();
    assert_eq!(sent.len(), before + 1);
    assert_eq!(sent[before].event_type, EventType::SecondFactorRemoved);
    assert_eq!(sent[before].detail, "totp");
    assert_eq!(sent[before].user_id, "u1");
}

#[test]
fn user_deletion_goes_to_the_sink_only_and_leaves_no_records() {
    let (h, sink) = harness(false);
    let s = h.signin_u1();
    assert_eq!(event_keys(&h, "u1").len(), 1);
    let t = verified_deletion(&h, &s);
    h.ok("complete_user_deletion", ud_args(&s, &t));
    assert!(h.accounts.keys("u1").is_empty(), "the user's records go");
    let sent = sink.sent.borrow();
    let last = sent.last().unwrap();
    assert_eq!(last.event_type, EventType::UserDeleted);
    assert_eq!(last.user_id, "u1");
    assert_eq!(
        serde_json::to_value(last.message()).unwrap(),
        json!({
            "type": "user_deleted",
            "detail": "",
            "user_id": "u1",
            "created_at": T0_SECONDS,
            "action_invocation_id": last.action_invocation_id,
            "client_address": "",
        })
    );
}

#[test]
fn the_client_address_of_the_invocation_is_recorded() {
    let (mut h, sink) = harness(false);
    let base = h.server.clone();
    h.server = base.with_client_address("203.0.113.9");
    let s = h.signin_u1();
    h.server = base;
    assert_eq!(events(&h, &s)[0]["client_address"], "203.0.113.9");
    assert_eq!(sink.sent.borrow()[0].client_address, "203.0.113.9");
}

#[test]
fn only_the_last_100_events_are_kept() {
    let (h, _) = harness(false);
    // One sign-in per hour: no rate limit in the way, every timestamp distinct.
    let mut s = String::new();
    for i in 0..(MAX_EVENTS as i64 + 5) {
        h.at(i * 3600);
        h.rate.remove_raw("aaaa.u1");
        s = h.signin_u1();
    }
    assert_eq!(event_keys(&h, "u1").len(), MAX_EVENTS);
    let listed = events(&h, &s);
    assert_eq!(listed.len(), MAX_EVENTS);
    // The five oldest went; newest first.
    assert_eq!(listed[0]["created_at"], json!(T0_SECONDS + 104 * 3600));
    assert_eq!(listed[99]["created_at"], json!(T0_SECONDS + 5 * 3600));
    // Trimming: one list and one delete per event past 100, one add per event.
    h.accounts.instrumentation.clear_log();
    h.at(200 * 3600);
    h.rate.remove_raw("aaaa.u1");
    h.signin_u1();
    assert_eq!(h.accounts.instrumentation.count(Op::Add, "u1/event."), 1);
    assert_eq!(h.accounts.instrumentation.count(Op::List, "u1/event."), 1);
    assert_eq!(h.accounts.instrumentation.count(Op::Delete, "u1/event."), 1);
    assert_eq!(event_keys(&h, "u1").len(), MAX_EVENTS);
}

#[test]
fn events_are_kept_90_days() {
    let (h, _) = harness(false);
    let first = h.signin_u1();
    let key = event_keys(&h, "u1")[0].clone();
    let expiry = EVENT_LIFETIME;
    assert_eq!(expiry, 90 * DAY);
    h.at(30 * 86_400);
    h.signin_u1();
    // 90 days less a millisecond after the first: both listed (read with a fresh session,
    // whose own sign-in is the third event).
    h.clock.set(T0 + expiry - 1000);
    let s = h.signin_u1();
    assert_eq!(events(&h, &s).len(), 3);
    let _ = first;
    // At 90 days the first is gone (storage expiry and the list's own filter agree).
    h.clock.set(T0 + expiry);
    let listed: Vec<Value> = events(&h, &s);
    let listed = &listed[1..];
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["created_at"], json!(T0_SECONDS + 30 * 86_400));
    assert!(
        h.accounts.keys("u1").contains(&key),
        "kept until the alarm prunes it"
    );
}

#[test]
fn recording_failures_are_logged_and_never_change_the_result() {
    let (h, sink) = harness(false);
    h.accounts
        .instrumentation
        .fail_next(Op::Add, "u1/event.", storage_failed());
    let before = h.logger.entries().len();
    let result = h.call(
        "complete_signin",
        json!({ "signin_token": verified_signin(&h) }),
    );
    assert_eq!(result["ok"], json!(true));
    let entries = h.logger.entries();
    assert_eq!(entries.len(), before + 1);
    assert_eq!(entries[before].action, "complete_signin");
    assert!(entries[before]
        .message
        .contains("failed to record security event signin_succeeded"));
    assert_eq!(
        json!(entries[before].action_invocation_id),
        result["action_invocation_id"]
    );
    // The sink still got it.
    assert_eq!(sink.sent.borrow().len(), 1);
    // A failing list (trim step) and a failing sink: logged, result unchanged.
    h.accounts
        .instrumentation
        .fail_next(Op::List, "u1/event.", storage_failed());
    *sink.failing.borrow_mut() = true;
    let result = h.call(
        "complete_signin",
        json!({ "signin_token": verified_signin(&h) }),
    );
    assert_eq!(result["ok"], json!(true));
    let messages: Vec<String> = h.logger.entries()[before + 1..]
        .iter()
        .map(|e| e.message.clone())
        .collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(messages[0].contains("account storage list failed"));
    assert!(messages[1].contains("failed to send security event signin_succeeded"));
}

/// The backticked names on the `label` line of `action`'s section in docs/extensions.md.
fn documented(action: &str, label: &str) -> Vec<String> {
    let heading = format!("#### {action}\n");
    let start = DOCS
        .find(&heading)
        .unwrap_or_else(|| panic!("docs/extensions.md has no section {action}"));
    let section = &DOCS[start + heading.len()..];
    let section = &section[..section.find("\n#### ").unwrap_or(section.len())];
    let line = section
        .lines()
        .find(|l| l.contains(label))
        .unwrap_or_else(|| panic!("{action}: no {label} line"));
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

#[test]
fn get_user_security_events_error_matrix_equals_the_docs() {
    let action = "get_user_security_events";
    assert_eq!(ACTIONS.len(), 1);
    assert_eq!(
        documented(action, "**Params**:"),
        ACTIONS[0]
            .params
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
    );
    let (h, _) = harness(false);
    let s = h.signin_u1();
    let mut seen = Vec::new();
    ok_unlogged(&h, action, json!({ "session_token": s }));
    for bad in ["", "x", "aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb"] {
        h.err_unlogged(
            action,
            json!({ "session_token": bad }),
            "invalid_session_token",
        );
    }
    // A session of a disabled user is refused.
    let other = h.signin_u1();
    h.users.modify("u1", |u| u.disabled = true);
    h.err_unlogged(
        action,
        json!({ "session_token": other }),
        "invalid_session_token",
    );
    h.users.modify("u1", |u| u.disabled = false);
    seen.push("invalid_session_token".to_string());
    let s = h.signin_u1();
    h.accounts
        .instrumentation
        .fail_next(Op::List, "u1/event.", storage_failed());
    h.err_internal(action, json!({ "session_token": s }));
    h.accounts
        .put_raw("u1", "event.9999999999999.x", b"not json".to_vec());
    h.err_internal(action, json!({ "session_token": s }));
    seen.push("internal_error".to_string());
    seen.sort();
    let mut documented = documented(action, "**Errors**:");
    documented.sort();
    assert_eq!(seen, documented);
}

#[test]
fn the_docs_list_every_event_type() {
    let start = DOCS
        .find("\n## Security events extension")
        .expect("section");
    let section = &DOCS[start..];
    for t in EventType::ALL {
        assert!(
            section.contains(&format!("`{}`", t.as_str())),
            "docs/extensions.md lacks {}",
            t.as_str()
        );
    }
}

#[test]
fn with_the_extension_off_nothing_is_recorded_and_the_action_is_unknown() {
    let h = Harness::with_totp();
    let s = h.signin_u1();
    let t = ready_password_update(&h, &s, "new-password-1");
    h.ok("complete_user_password_update", pu_args(&s, &t));
    assert!(event_keys(&h, "u1").is_empty());
    assert!(h.accounts.user_ids().is_empty());
    let body = json!({ "action": "get_user_security_events", "arguments": { "session_token": s } });
    assert_eq!(
        h.raw(&body.to_string()).unwrap_err().reason(),
        "unknown action"
    );
}

#[test]
fn every_invocation_logs_one_outcome_line_without_secrets() {
    let (h, _) = harness(true);
    // A journey that handles every kind of secret: passwords, codes, tokens, email addresses.
    let (signup, code) = h.create_signup("new@example.com");
    h.ok(
        "verify_signup_email_address_verification_code",
        json!({ "signup_token": signup, "email_address_verification_code": code }),
    );
    h.ok(
        "set_signup_password",
        json!({ "signup_token": signup, "password": "signup-password-1" }),
    );
    let new_session = h.ok("complete_signup", json!({ "signup_token": signup }))["session_token"]
        .as_str()
        .unwrap()
        .to_string();
    let t = h.create_signin(U1);
    h.err(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": "wrong-password-9" }),
    );
    let s = h.signin_u1();
    let (key, recovery) = enroll(&h, &s, U1_PASSWORD);
    let t = ready_email_update(&h, &s, NEW_EMAIL);
    let email_code = email_update_code(&h);
    h.ok("complete_user_email_address_update", eu_args(&s, &t));
    h.ok("get_user_security_events", json!({ "session_token": s }));
    let lines = h.logger.outcome_lines();
    let parsed: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    // One per invocation, in order, with exactly these members.
    assert!(parsed.len() >= 18, "{}", parsed.len());
    let mut ids: Vec<&str> = parsed
        .iter()
        .map(|p| p["action_invocation_id"].as_str().unwrap())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), parsed.len(), "one line per invocation");
    for p in &parsed {
        let members: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            members,
            [
                "event",
                "action",
                "action_invocation_id",
                "result",
                "user_id"
            ]
        );
        assert_eq!(p["event"], "action");
        assert!(is_id(p["action_invocation_id"].as_str().unwrap()));
    }
    assert_eq!(parsed[0]["action"], "create_signup");
    assert_eq!(parsed[0]["result"], "ok");
    assert_eq!(parsed[0]["user_id"], Value::Null);
    let wrong = parsed
        .iter()
        .find(|p| p["result"] == "incorrect_password")
        .expect("the wrong password's line");
    assert_eq!(wrong["action"], "verify_signin_user_password");
    assert_eq!(wrong["user_id"], "u1");
    let last = parsed.last().unwrap();
    assert_eq!(last["action"], "get_user_security_events");
    assert_eq!(last["user_id"], "u1");
    assert!(parsed
        .iter()
        .any(|p| p["action"] == "complete_signup" && p["user_id"].is_string()));
    // No secret of the journey, and no email address, appears in any line.
    let mut secrets = vec![
        U1_PASSWORD.to_string(),
        "wrong-password-9".into(),
        "signup-password-1".into(),
        code,
        email_code,
        s.clone(),
        new_session,
        signup,
        U1.into(),
        NEW_EMAIL.into(),
        "new@example.com".into(),
        totp_helpers::code_at(&h, &key, 0),
    ];
    secrets.extend(recovery);
    for line in &lines {
        assert!(!line.contains('@'), "{line}");
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "{secret} in {line}");
        }
        // No token or token half either: the only 24-character id is the invocation id.
        let p: Value = serde_json::from_str(line).unwrap();
        for token_half in s.split('.') {
            assert!(!line.contains(token_half), "{line}");
        }
        assert!(p["user_id"].is_null() || p["user_id"].as_str().unwrap().len() < 40);
    }
}

#[test]
fn request_errors_log_no_outcome_line() {
    let (h, _) = harness(false);
    assert!(h.raw("{}").is_err());
    assert!(h.logger.outcome_lines().is_empty());
    h.err(
        "get_session",
        json!({ "session_token": "aaaaaaaaaaaaaaaaaaaaaaaa.bbbbbbbbbbbbbbbbbbbbbbbb" }),
    );
    let lines = h.logger.outcome_lines();
    assert_eq!(lines.len(), 1);
    let p: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(p["result"], "invalid_session_token");
    assert_eq!(
        p["user_id"],
        Value::Null,
        "an unverified token names no user"
    );
}
