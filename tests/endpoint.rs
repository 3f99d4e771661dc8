//! Spec §1 (the action invocation endpoint) and the scenarios of §14.2: malformed requests are
//! request errors (HTTP 400) that touch nothing, well-formed ones produce a result object.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
use common::*;

use faroe_worker::{ActionFilter, RequestError, ACTIONS};
use futures::executor::block_on;
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
use serde_json::{json, Map, Value};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Everything a request could have touched: operation logs of the three stores, user-store calls,
/// emails, log entries, and the keys of the two persistent stores.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Activity {
    main_ops: usize,
    cache_ops: usize,
    rate_ops: usize,
    user_calls: usize,
    emails: usize,
    logs: usize,
    main_keys: Vec<String>,
    rate_keys: Vec<String>,
}

fn activity(h: &Harness) -> Activity {
    Activity {
        main_ops: h.main.instrumentation.operations().len(),
        cache_ops: h.cache.instrumentation.operations().len(),
        rate_ops: h.rate.instrumentation.operations().len(),
        user_calls: h.users.calls().len(),
        emails: h.email.sent().len(),
        logs: h.logger.entries().len(),
        main_keys: h.main.keys(),
        rate_keys: h.rate.keys(),
    }
}

/// A fresh harness has not touched anything yet.
fn assert_untouched(h: &Harness) {
    assert!(
        h.main.keys().is_empty(),
        "main storage keys: {:?}",
        h.main.keys()
    );
    assert!(
        h.rate.keys().is_empty(),
        "rate-limit keys: {:?}",
        h.rate.keys()
    );
    assert!(h.main.instrumentation.operations().is_empty());
    assert!(h.cache.instrumentation.operations().is_empty());
    assert!(h.rate.instrumentation.operations().is_empty());
    assert!(
        h.users.calls().is_empty(),
        "user store calls: {:?}",
        h.users.calls()
    );
    assert!(h.email.sent().is_empty(), "emails: {:?}", h.email.sent());
    assert!(
        h.logger.entries().is_empty(),
        "log: {:?}",
        h.logger.entries()
    );
}

fn resolve_bytes(h: &Harness, body: &[u8]) -> Result<String, RequestError> {
    block_on(h.server.resolve(body))
}

/// Asserts that `body` is a request error and that nothing was touched by it.
fn assert_request_error_bytes(h: &Harness, body: &[u8]) {
    let before = activity(h);
    let result = resolve_bytes(h, body);
    assert!(
        result.is_err(),
        "expected a request error for {:?}, got {:?}",
        String::from_utf8_lossy(body),
        result
    );
    assert_eq!(
        activity(h),
        before,
        "request error for {:?} had side effects",
        String::from_utf8_lossy(body)
    );
}

fn assert_request_error(h: &Harness, body: &str) {
    assert_request_error_bytes(h, body.as_bytes());
}

fn assert_filtered_request_error(h: &Harness, body: &str, filter: &ActionFilter) {
    let before = activity(h);
    let result = h.raw_filtered(body, filter);
    assert!(
        result.is_err(),
        "expected a request error for {body}, got {result:?}"
    );
    assert_eq!(
        activity(h),
        before,
        "request error for {body} had side effects"
    );
}

/// Parses a result body and checks its shape.
fn parse_result(body: &str) -> Value {
    let parsed: Value = serde_json::from_str(body).expect("result is JSON");
    assert_result_shape(&parsed);
    parsed
}

fn request(action: &str, arguments: Value) -> String {
    json!({ "action": action, "arguments": arguments }).to_string()
}

/// The 39 actions and their parameters in reading order, transcribed from spec §3.
const SPEC_ACTIONS: &[(&str, &[&str])] = &[
    ("create_signup", &["email_address"]),
    ("get_signup", &["signup_token"]),
    ("delete_signup", &["signup_token"]),
    (
        "send_signup_email_address_verification_code",
        &["signup_token"],
    ),
    (
        "verify_signup_email_address_verification_code",
        &["signup_token", "email_address_verification_code"],
    ),
    ("set_signup_password", &["signup_token", "password"]),
    ("complete_signup", &["signup_token"]),
    ("create_signin", &["user_email_address"]),
    ("get_signin", &["signin_token"]),
    ("delete_signin", &["signin_token"]),
    ("verify_signin_user_password", &["signin_token", "password"]),
    ("complete_signin", &["signin_token"]),
    ("get_session", &["session_token"]),
    ("delete_session", &["session_token"]),
    ("delete_all_sessions", &["session_token"]),
    (
        "create_user_email_address_update",
        &["session_token", "new_email_address"],
    ),
    (
        "get_user_email_address_update",
        &["session_token", "user_email_address_update_token"],
    ),
    (
        "delete_user_email_address_update",
        &["session_token", "user_email_address_update_token"],
    ),
    (
        "send_user_email_address_update_email_address_verification_code",
        &["session_token", "user_email_address_update_token"],
    ),
    (
        "verify_user_email_address_update_email_address_verification_code",
        &[
            "session_token",
            "user_email_address_update_token",
            "email_address_verification_code",
        ],
    ),
    (
        "verify_user_email_address_update_user_password",
        &[
            "session_token",
            "user_email_address_update_token",
            "password",
        ],
    ),
    (
        "complete_user_email_address_update",
        &["session_token", "user_email_address_update_token"],
    ),
    ("create_user_password_update", &["session_token"]),
    (
        "get_user_password_update",
        &["session_token", "user_password_update_token"],
    ),
    (
        "delete_user_password_update",
        &["session_token", "user_password_update_token"],
    ),
    (
        "verify_user_password_update_user_password",
        &["session_token", "user_password_update_token", "password"],
    ),
    (
        "set_user_password_update_new_password",
        &["session_token", "user_password_update_token", "password"],
    ),
    (
        "complete_user_password_update",
        &["session_token", "user_password_update_token"],
    ),
    ("create_user_deletion", &["session_token"]),
    (
        "get_user_deletion",
        &["session_token", "user_deletion_token"],
    ),
    (
        "delete_user_deletion",
        &["session_token", "user_deletion_token"],
    ),
    (
        "verify_user_deletion_user_password",
        &["session_token", "user_deletion_token", "password"],
    ),
    (
        "complete_user_deletion",
        &["session_token", "user_deletion_token"],
    ),
    ("create_user_password_reset", &["user_email_address"]),
    ("get_user_password_reset", &["user_password_reset_token"]),
    ("delete_user_password_reset", &["user_password_reset_token"]),
    (
        "verify_user_password_reset_temporary_password",
        &["user_password_reset_token", "temporary_password"],
    ),
    (
        "set_user_password_reset_new_password",
        &["user_password_reset_token", "password"],
    ),
    (
        "complete_user_password_reset",
        &["user_password_reset_token"],
    ),
];

/// Arguments with every parameter of `params` set to a string that no entity can match.
fn string_arguments(params: &[&str]) -> Map<String, Value> {
    params
        .iter()
        .map(|p| (p.to_string(), Value::String("x".into())))
        .collect()
}

/// JSON values that are not strings (each must make a parameter a request error).
fn non_string_values() -> Vec<Value> {
    vec![
        json!(123),
        json!(null),
        json!(true),
        json!(false),
        json!(1.5),
        json!({}),
        json!({"x": "y"}),
        json!([]),
        json!(["x"]),
    ]
}

// ---------------------------------------------------------------------------------------------
// §14.2 scenarios 1–8
// ---------------------------------------------------------------------------------------------

#[test]
fn s14_2_1_non_object_bodies_are_request_errors() {
    let h = Harness::new();
    for body in ["not json", "[]", "\"x\""] {
        assert_request_error(&h, body);
    }
    // Other non-object top-level values and broken JSON.
    for body in [
        "",
        "   ",
        "null",
        "true",
        "123",
        "1.5",
        "[{\"action\":\"get_session\",\"arguments\":{\"session_token\":\"a.b\"}}]",
        "{",
        "}",
        "{\"action\":\"get_session\",\"arguments\":{\"session_token\":\"a.b\"}",
        "{\"action\":\"get_session\",\"arguments\":{\"session_token\":\"a.b}}",
        "{action:\"get_session\",arguments:{session_token:\"a.b\"}}",
        "{'action':'get_session','arguments':{'session_token':'a.b'}}",
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
}

#[test]
fn s14_2_2_missing_or_mistyped_action_or_arguments_are_request_errors() {
    let h = Harness::new();
    for body in [
        r#"{"arguments":{}}"#,
        r#"{"action":5,"arguments":{}}"#,
        r#"{"action":"get_session"}"#,
        r#"{"action":"get_session","arguments":null}"#,
        r#"{"action":"get_session","arguments":[]}"#,
        // Further non-string actions and non-object arguments.
        r#"{"action":null,"arguments":{"session_token":"a.b"}}"#,
        r#"{"action":true,"arguments":{"session_token":"a.b"}}"#,
        r#"{"action":["get_session"],"arguments":{"session_token":"a.b"}}"#,
        r#"{"action":{"name":"get_session"},"arguments":{"session_token":"a.b"}}"#,
        r#"{"action":"get_session","arguments":"session_token"}"#,
        r#"{"action":"get_session","arguments":1}"#,
        r#"{"action":"get_session","arguments":true}"#,
        r#"{"action":"get_session","arguments":[{"session_token":"a.b"}]}"#,
        r#"{}"#,
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
}

#[test]
fn s14_2_3_unknown_and_differently_cased_actions_are_request_errors() {
    let h = Harness::new();
    for body in [
        r#"{"action":"fly","arguments":{}}"#,
        r#"{"action":"GET_SESSION","arguments":{"session_token":"a.b"}}"#,
        r#"{"action":"Get_Session","arguments":{"session_token":"a.b"}}"#,
        r#"{"action":"get_session ","arguments":{"session_token":"a.b"}}"#,
        r#"{"action":" get_session","arguments":{"session_token":"a.b"}}"#,
        r#"{"action":"","arguments":{"session_token":"a.b"}}"#,
        // The docs' misspelling (spec §12.1 #1) is not an action.
        r#"{"action":"set_signup_user_password","arguments":{"signup_token":"a.b","password":"x"}}"#,
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
}

#[test]
fn s14_2_4_missing_null_or_non_string_parameters_are_request_errors() {
    let h = Harness::new();
    for body in [
        r#"{"action":"get_session","arguments":{}}"#,
        r#"{"action":"get_session","arguments":{"session_token":123}}"#,
        r#"{"action":"get_session","arguments":{"session_token":null}}"#,
        r#"{"action":"verify_signin_user_password","arguments":{"signin_token":"a.b"}}"#,
        // A parameter under a different name does not count.
        r#"{"action":"get_session","arguments":{"Session_Token":"a.b"}}"#,
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
}

#[test]
fn s14_2_5_duplicate_member_names_are_request_errors() {
    let h = Harness::new();
    for body in [
        r#"{"action":"get_session","action":"get_session","arguments":{"session_token":"a.b"}}"#,
        r#"{"action":"get_session","arguments":{"session_token":"a.b","session_token":"a.b"}}"#,
        r#"{"action":"get_session","arguments":{"session_token":"a.b"},"arguments":{"session_token":"a.b"}}"#,
        // Duplicates are detected after unescaping names.
        r#"{"action":"get_session","\u0061ction":"get_session","arguments":{"session_token":"a.b"}}"#,
        // ... and in any object of the body, also in ignored members.
        r#"{"action":"get_session","arguments":{"session_token":"a.b","x":{"y":1,"y":2}}}"#,
        r#"{"action":"get_session","arguments":{"session_token":"a.b"},"extra":[{"a":1,"a":1}]}"#,
        r#"{"extra":{"a":{"b":{"c":1,"c":1}}},"action":"get_session","arguments":{"session_token":"a.b"}}"#,
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
    // The same bodies without the duplicate are processed.
    let result = h
        .raw(r#"{"action":"get_session","arguments":{"session_token":"a.b","x":{"y":1,"z":2}}}"#)
        .expect("no duplicate, dispatched");
    assert_eq!(
        parse_result(&result)["error_code"],
        json!("invalid_session_token")
    );
}

#[test]
fn s14_2_6_extra_members_are_ignored_and_invocation_ids_are_generated() {
    let h = Harness::new();
    let supplied = "zzzzzzzzzzzzzzzzzzzzzzzz";
    let body = r#"{"action":"get_session","arguments":{"session_token":"a.b","foo":true,"action_invocation_id":"zzzzzzzzzzzzzzzzzzzzzzzz"},"extra":{}}"#;
    let first = parse_result(&h.raw(body).expect("dispatched"));
    let keys: Vec<&str> = first
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(keys, ["ok", "action_invocation_id", "error_code"]);
    assert_eq!(first["ok"], json!(false));
    assert_eq!(first["error_code"], json!("invalid_session_token"));
    let id1 = first["action_invocation_id"].as_str().unwrap().to_string();
    assert!(is_id(&id1), "{id1}");
    assert_ne!(id1, supplied);

    let second = parse_result(&h.raw(body).expect("dispatched"));
    let id2 = second["action_invocation_id"].as_str().unwrap().to_string();
    assert!(is_id(&id2));
    assert_ne!(id2, supplied);
    assert_ne!(id1, id2, "two identical requests get different ids");

    // Invalid-token results are not logged.
    assert!(h.logger.entries().is_empty());

    // Ids stay unique across many invocations.
    let mut ids = std::collections::HashSet::new();
    for _ in 0..200 {
        let r = parse_result(&h.raw(body).unwrap());
        assert!(ids.insert(r["action_invocation_id"].as_str().unwrap().to_string()));
    }
}

#[test]
fn s14_2_7_blocklist_and_allowlist() {
    let h = Harness::new();
    let session = h.signin_u1();
    let blocklist = ActionFilter::Blocklist(vec!["delete_all_sessions".to_string()]);

    let delete_all = request("delete_all_sessions", json!({ "session_token": session }));
    assert_filtered_request_error(&h, &delete_all, &blocklist);
    assert!(h
        .users
        .calls_to("increment_user_sessions_counter")
        .is_empty());
    assert_eq!(h.users.user("u1").unwrap().sessions_counter, 0);

    // Other actions on the same endpoint are processed.
    let get = request("get_session", json!({ "session_token": session }));
    let result = parse_result(&h.raw_filtered(&get, &blocklist).expect("not blocked"));
    assert_eq!(result["ok"], json!(true));

    // Names are case-sensitive: a differently cased entry blocks nothing.
    let other_case = ActionFilter::Blocklist(vec!["DELETE_ALL_SESSIONS".to_string()]);
    let result = parse_result(&h.raw_filtered(&get, &other_case).expect("not blocked"));
    assert_eq!(result["ok"], json!(true));

    // Allowlist ["get_session"]: create_signup is refused, get_session processed.
    let allowlist = ActionFilter::Allowlist(vec!["get_session".to_string()]);
    let signup = request(
        "create_signup",
        json!({ "email_address": "new@example.com" }),
    );
    let lookups = h.users.calls_to("get_user_by_email_address").len();
    assert_filtered_request_error(&h, &signup, &allowlist);
    assert_eq!(h.users.calls_to("get_user_by_email_address").len(), lookups);
    assert!(!h.main.keys().iter().any(|k| k.starts_with("aaab.")));
    assert!(!h.rate.contains("aaab.new@example.com"));
    assert!(h
        .email
        .sent_of(faroe_worker::adapters::memory::EmailKind::SignupEmailAddressVerificationCode)
        .is_empty());
    let result = parse_result(&h.raw_filtered(&get, &allowlist).expect("allowed"));
    assert_eq!(result["ok"], json!(true));
    let bad = request("get_session", json!({ "session_token": "a.b" }));
    let result = parse_result(&h.raw_filtered(&bad, &allowlist).expect("allowed"));
    assert_eq!(result["error_code"], json!("invalid_session_token"));

    // An empty allowlist refuses everything; an empty blocklist refuses nothing.
    assert_filtered_request_error(&h, &get, &ActionFilter::Allowlist(vec![]));
    let result = parse_result(
        &h.raw_filtered(&get, &ActionFilter::Blocklist(vec![]))
            .unwrap(),
    );
    assert_eq!(result["ok"], json!(true));

    // The blocked request was well-formed: unfiltered, it runs and increments the counter.
    let result = parse_result(&h.raw(&delete_all).expect("dispatched"));
    assert_eq!(result["ok"], json!(true));
    assert_eq!(h.users.calls_to("increment_user_sessions_counter").len(), 1);
}

#[test]
fn s14_2_7_filters_apply_after_body_validation_and_to_every_action() {
    let h = Harness::new();
    let all: Vec<String> = SPEC_ACTIONS.iter().map(|(a, _)| a.to_string()).collect();
    let block_all = ActionFilter::Blocklist(all.clone());
    let allow_all = ActionFilter::Allowlist(all);
    for (action, params) in SPEC_ACTIONS {
        let body = request(action, Value::Object(string_arguments(params)));
        assert_filtered_request_error(&h, &body, &block_all);
        let result = parse_result(&h.raw_filtered(&body, &allow_all).expect("allowed"));
        assert_eq!(result["ok"], json!(false), "{action}");
    }
    // Malformed bodies stay request errors whatever the filter.
    let list = ActionFilter::Allowlist(vec!["get_session".to_string()]);
    assert_filtered_request_error(&h, r#"{"action":"get_session","arguments":[]}"#, &list);
    assert_filtered_request_error(&h, r#"{"action":"get_session","arguments":{}}"#, &list);
}

#[test]
fn s14_2_8_void_success_shape() {
    let h = Harness::new();
    let session = h.signin_u1();
    let body = h
        .raw(&request(
            "delete_session",
            json!({ "session_token": session }),
        ))
        .expect("dispatched");
    let result: Value = serde_json::from_str(&body).unwrap();
    let object = result.as_object().expect("an object");
    let keys: Vec<&str> = object.keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["ok", "action_invocation_id", "values"]);
    assert_eq!(result["ok"], json!(true));
    let id = result["action_invocation_id"].as_str().unwrap();
    assert_eq!(id.len(), 24);
    assert!(is_id(id));
    assert_eq!(result["values"], json!({}));
    // The session is gone.
    assert_eq!(
        h.err("get_session", json!({ "session_token": session })),
        "invalid_session_token"
    );
}

// ---------------------------------------------------------------------------------------------
// Additional request-error coverage (§1.3, §1.4, §1.8)
// ---------------------------------------------------------------------------------------------

#[test]
fn action_table_matches_the_spec() {
    assert_eq!(ACTIONS.len(), 39);
    assert_eq!(SPEC_ACTIONS.len(), 39);
    for (def, (name, params)) in ACTIONS.iter().zip(SPEC_ACTIONS) {
        assert_eq!(def.name, *name);
        assert_eq!(def.params, *params, "{name}");
    }
}

#[test]
fn every_action_dispatches_with_string_parameters() {
    let h = Harness::new();
    for def in ACTIONS {
        let body = request(def.name, Value::Object(string_arguments(def.params)));
        let result = parse_result(&h.raw(&body).unwrap_or_else(|e| panic!("{}: {e}", def.name)));
        assert_eq!(result["ok"], json!(false), "{}", def.name);
        let code = result["error_code"].as_str().unwrap();
        assert!(
            code.starts_with("invalid_"),
            "{}: unexpected code {code}",
            def.name
        );
    }
    assert!(h.logger.entries().is_empty());
}

#[test]
fn every_action_rejects_each_non_string_parameter() {
    let h = Harness::new();
    for def in ACTIONS {
        for (i, param) in def.params.iter().enumerate() {
            for bad in non_string_values() {
                let mut arguments = string_arguments(def.params);
                arguments.insert(param.to_string(), bad.clone());
                let body = request(def.name, Value::Object(arguments));
                assert_request_error(&h, &body);
                // Also when the bad parameter is the only one given as non-string, and the
                // others come after it (the first bad one decides, nothing is read further).
                if i == 0 && def.params.len() > 1 {
                    let mut only_first = Map::new();
                    only_first.insert(param.to_string(), bad.clone());
                    assert_request_error(&h, &request(def.name, Value::Object(only_first)));
                }
            }
        }
    }
    assert_untouched(&h);
}

#[test]
fn every_action_rejects_each_missing_parameter() {
    let h = Harness::new();
    for def in ACTIONS {
        for param in def.params {
            let mut arguments = string_arguments(def.params);
            arguments.remove(*param);
            // An extra member with a similar name does not stand in for it.
            arguments.insert(format!("{param}_"), Value::String("x".into()));
            let body = request(def.name, Value::Object(arguments));
            assert_request_error(&h, &body);
        }
        // No arguments at all.
        if !def.params.is_empty() {
            assert_request_error(&h, &request(def.name, json!({})));
        }
    }
    assert_untouched(&h);
}

#[test]
fn invalid_utf8_bodies_are_request_errors() {
    let h = Harness::new();
    assert_request_error_bytes(&h, &[0xff, 0xfe, 0xfd]);
    assert_request_error_bytes(&h, &[0xff]);
    assert_request_error_bytes(&h, &[0xc0, 0x80]);
    // Invalid UTF-8 inside a parameter value.
    let mut body = br#"{"action":"get_session","arguments":{"session_token":"a"#.to_vec();
    body.extend_from_slice(&[0xff, 0xfe]);
    body.extend_from_slice(br#"b"}}"#);
    assert_request_error_bytes(&h, &body);
    // ... inside the action name.
    let mut body = br#"{"action":"get_sess"#.to_vec();
    body.push(0x80);
    body.extend_from_slice(br#"ion","arguments":{"session_token":"a.b"}}"#);
    assert_request_error_bytes(&h, &body);
    // ... inside an ignored member.
    let mut body = br#"{"x":""#.to_vec();
    body.extend_from_slice(&[0xed, 0xa0, 0x80]); // an encoded surrogate
    body.extend_from_slice(br#"","action":"get_session","arguments":{"session_token":"a.b"}}"#);
    assert_request_error_bytes(&h, &body);
    assert_untouched(&h);
}

#[test]
fn deeply_nested_bodies_are_request_errors_without_panicking() {
    let h = Harness::new();
    let arrays = "[".repeat(10_000);
    assert_request_error(&h, &arrays);
    let closed = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert_request_error(&h, &closed);
    let objects = "{\"a\":".repeat(10_000);
    assert_request_error(&h, &objects);
    // Deep nesting inside an otherwise valid request.
    let nested = format!(
        r#"{{"action":"get_session","arguments":{{"session_token":"a.b"}},"x":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert_request_error(&h, &nested);
    let nested_args = format!(
        r#"{{"action":"get_session","arguments":{}"#,
        "{\"a\":".repeat(10_000)
    );
    assert_request_error(&h, &nested_args);
    assert_untouched(&h);
}

#[test]
fn trailing_garbage_after_the_object_is_a_request_error() {
    let h = Harness::new();
    let valid = r#"{"action":"get_session","arguments":{"session_token":"a.b"}}"#;
    for suffix in [
        "x", "}", "{}", ",", "[]", "\"\"", "null", " 1", "\u{0}", "\n{}",
    ] {
        assert_request_error(&h, &format!("{valid}{suffix}"));
    }
    // Two objects in one body.
    assert_request_error(&h, &format!("{valid}{valid}"));
    assert_untouched(&h);
    // Whitespace around the object is fine (spec §1.8).
    let result = h
        .raw(&format!(" \t\r\n{valid} \t\r\n"))
        .expect("whitespace allowed");
    assert_eq!(
        parse_result(&result)["error_code"],
        json!("invalid_session_token")
    );
}

#[test]
fn raw_control_characters_in_strings_are_request_errors() {
    let h = Harness::new();
    for c in ['\u{0}', '\u{1}', '\n', '\t', '\u{1f}'] {
        let body = format!(r#"{{"action":"get_session","arguments":{{"session_token":"a{c}b"}}}}"#);
        assert_request_error(&h, &body);
    }
    assert_untouched(&h);
}

#[test]
fn escaped_strings_are_unescaped_before_dispatch() {
    let h = Harness::new();
    // `\u005f` is `_`: the action name unescapes to get_session.
    let body = r#"{"action":"get\u005fsession","arguments":{"session\u005ftoken":"a\u002eb"}}"#;
    let result = parse_result(&h.raw(body).expect("dispatched"));
    assert_eq!(result["error_code"], json!("invalid_session_token"));
    // The session token parameter also takes escapes: a real token, fully escaped.
    let session = h.signin_u1();
    let escaped: String = session
        .chars()
        .map(|c| format!("\\u{:04x}", c as u32))
        .collect();
    let body = format!(r#"{{"action":"get_session","arguments":{{"session_token":"{escaped}"}}}}"#);
    let result = parse_result(&h.raw(&body).expect("dispatched"));
    assert_eq!(result["ok"], json!(true));
}

#[test]
fn request_errors_log_nothing_even_with_a_failing_store() {
    // Faults armed in every store must stay armed: steps 1–6 never reach them.
    let h = Harness::new();
    use faroe_worker::adapters::memory::Op;
    use faroe_worker::ports::StorageError;
    h.main
        .instrumentation
        .fail_next(Op::Get, "", StorageError::Failed("armed".into()));
    for body in [
        r#"{"action":"get_session","arguments":{}}"#,
        r#"{"action":"fly","arguments":{"session_token":"a.b"}}"#,
        "not json",
    ] {
        assert_request_error(&h, body);
    }
    // The armed fault is still there for the first dispatched request (it does touch storage).
    let session_id = "abcdefghijkmnpqrstuvwxyz";
    let body = request(
        "get_session",
        json!({ "session_token": format!("{session_id}.abcdefghijkmnpqrstuvwxyz") }),
    );
    let result = parse_result(&h.raw(&body).expect("dispatched"));
    assert_eq!(result["error_code"], json!("internal_error"));
    assert_eq!(h.logger.entries().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Property tests: the resolver never panics; it returns a request error or a well-formed result.
// ---------------------------------------------------------------------------------------------

fn runner() -> TestRunner {
    TestRunner::new(ProptestConfig {
        cases: 500,
        failure_persistence: None,
        ..ProptestConfig::default()
    })
}

/// Checks one resolver outcome: a request error touched nothing, a result is a result object.
fn check_outcome(
    h: &Harness,
    body: &[u8],
    expect_dispatch: Option<bool>,
) -> Result<(), TestCaseError> {
    let before = activity(h);
    let logs_before = h.logger.entries().len();
    match resolve_bytes(h, body) {
        Err(_) => {
            prop_assert_eq!(activity(h), before, "a request error had side effects");
            prop_assert!(
                expect_dispatch != Some(true),
                "expected a result for {:?}",
                String::from_utf8_lossy(body)
            );
        }
        Ok(result) => {
            let parsed: Value = serde_json::from_str(&result)
                .map_err(|e| TestCaseError::fail(format!("result is not JSON: {e}")))?;
            // Panics are caught by the runner and reported as failures.
            assert_result_shape(&parsed);
            prop_assert!(
                expect_dispatch != Some(false),
                "expected a request error for {:?}, got {}",
                String::from_utf8_lossy(body),
                result
            );
            // Only internal errors and the logged swallowed paths write to the logger; a result
            // that is not internal_error / session_not_created never logs more than swallowed
            // notifications, and every log entry names this invocation.
            let id = parsed["action_invocation_id"].as_str().unwrap();
            for entry in &h.logger.entries()[logs_before..] {
                prop_assert_eq!(entry.action_invocation_id.as_str(), id);
            }
            if parsed["error_code"] == json!("internal_error") {
                prop_assert!(h.logger.entries().len() > logs_before);
            }
        }
    }
    Ok(())
}

/// Well-formed bodies for a spread of actions, some of them with valid tokens.
fn seed_bodies(h: &Harness) -> Vec<String> {
    let session = h.signin_u1();
    let (signup, code) = h.create_signup("seed@example.com");
    let signin = h.create_signin("user2@example.com");
    vec![
        request("get_session", json!({ "session_token": session })),
        request("get_session", json!({ "session_token": "a.b" })),
        request("create_signup", json!({ "email_address": "fuzz@example.com" })),
        request("get_signup", json!({ "signup_token": signup })),
        request(
            "verify_signup_email_address_verification_code",
            json!({ "signup_token": signup, "email_address_verification_code": code }),
        ),
        request(
            "set_signup_password",
            json!({ "signup_token": signup, "password": "correct-horse-9" }),
        ),
        request("get_signin", json!({ "signin_token": signin })),
        request(
            "verify_signin_user_password",
            json!({ "signin_token": signin, "password": "wrong" }),
        ),
        request("create_user_password_update", json!({ "session_token": session })),
        request(
            "create_user_email_address_update",
            json!({ "session_token": session, "new_email_address": "n@example.com" }),
        ),
        request("create_signin", json!({ "user_email_address": "user1@example.com" })),
        request(
            "get_user_password_reset",
            json!({ "user_password_reset_token": "abc.def" }),
        ),
        r#"{"action":"get_session","arguments":{"session_token":"a.b","x":[1,{"y":null}]},"z":"\u00e9"}"#
            .to_string(),
    ]
}

#[test]
fn proptest_random_bytes_never_panic() {
    let h = Harness::new();
    let strategy = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Mostly JSON punctuation and letters, so the parser gets further.
        "[{}\\[\\]:,\"a-z0-9 .\\\\_-]{0,80}".prop_map(|s| s.into_bytes()),
    ];
    runner()
        .run(&strategy, |bytes| check_outcome(&h, &bytes, None))
        .unwrap();
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    InsertFragment(prop::sample::Index, &'static str),
    Remove(prop::sample::Index, usize),
    Truncate(prop::sample::Index),
    Duplicate(prop::sample::Index, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let fragments = prop::sample::select(vec![
        "\"",
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\\",
        "\\u",
        "\\ud800",
        "null",
        "123",
        "-1",
        "1e999",
        "true",
        "\"action\":",
        "\"arguments\":",
        "\"get_session\"",
        "{}",
        "[]",
        "\u{0}",
        "é",
        "\u{fffd}",
        "\"session_token\":",
        ".",
        " ",
    ]);
    prop_oneof![
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Replace(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), fragments).prop_map(|(i, f)| Mutation::InsertFragment(i, f)),
        (any::<prop::sample::Index>(), 1usize..8).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1usize..16).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
    ]
}

fn apply(body: &mut Vec<u8>, m: &Mutation) {
    let len = body.len();
    match m {
        Mutation::Replace(i, b) if len > 0 => {
            let at = i.index(len);
            body[at] = *b;
        }
        Mutation::Insert(i, b) => {
            let at = i.index(len + 1);
            body.insert(at, *b);
        }
        Mutation::InsertFragment(i, f) => {
            let at = i.index(len + 1);
            body.splice(at..at, f.bytes());
        }
        Mutation::Remove(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + n).min(len);
            body.drain(at..end);
        }
        Mutation::Truncate(i) => {
            let at = i.index(len + 1);
            body.truncate(at);
        }
        Mutation::Duplicate(i, n) if len > 0 => {
            let at = i.index(len);
            let end = (at + n).min(len);
            let slice = body[at..end].to_vec();
            body.splice(end..end, slice);
        }
        _ => {}
    }
}

#[test]
fn proptest_mutated_valid_bodies_never_panic() {
    let h = Harness::new();
    let seeds = seed_bodies(&h);
    let strategy = (0..seeds.len(), prop::collection::vec(mutation(), 1..6));
    runner()
        .run(&strategy, |(seed, mutations)| {
            let mut body = seeds[seed].clone().into_bytes();
            for m in &mutations {
                apply(&mut body, m);
            }
            check_outcome(&h, &body, None)
        })
        .unwrap();
}

/// Random JSON values: scalars, strings that look like names, tokens or emails, and nesting.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        json_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{0,8}", inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

fn json_string() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,12}",
        "[a-z2-9]{0,24}\\.[a-z2-9]{0,24}",
        "[a-zA-Z0-9.+_-]{1,10}@[a-z.-]{1,10}",
        prop::sample::select(vec![
            "",
            "a.b",
            "user1@example.com",
            "correct-horse-1",
            "password123",
            "x",
            "\u{0}",
        ])
        .prop_map(String::from),
    ]
}

fn action_name() -> impl Strategy<Value = Value> {
    let names: Vec<&'static str> = SPEC_ACTIONS.iter().map(|(a, _)| *a).collect();
    prop_oneof![
        6 => prop::sample::select(names.clone()).prop_map(|n| Value::String(n.to_string())),
        1 => prop::sample::select(names).prop_map(|n| Value::String(n.to_uppercase())),
        1 => json_value(),
    ]
}

/// A structurally valid JSON body with random members, whose expected outcome is known.
fn json_request() -> impl Strategy<Value = (Value, bool)> {
    let params: Vec<&'static str> = SPEC_ACTIONS
        .iter()
        .flat_map(|(_, p)| p.iter().copied())
        .collect();
    let argument_value = prop_oneof![
        4 => json_string().prop_map(Value::String),
        1 => json_value(),
    ];
    let argument = (prop::sample::select(params), argument_value);
    let arguments = prop_oneof![
        8 => prop::collection::vec(argument, 0..5).prop_map(|members| {
            Value::Object(members.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
        }),
        1 => json_value(),
    ];
    (
        prop::option::weighted(0.95, action_name()),
        prop::option::weighted(0.95, arguments),
        prop::collection::vec(("[a-z_]{1,8}", json_value()), 0..3),
    )
        .prop_map(|(action, arguments, extra)| {
            let mut body = Map::new();
            for (k, v) in extra {
                if k != "action" && k != "arguments" {
                    body.insert(k, v);
                }
            }
            if let Some(a) = &action {
                body.insert("action".into(), a.clone());
            }
            if let Some(a) = &arguments {
                body.insert("arguments".into(), a.clone());
            }
            // The oracle of spec §1.3 steps 1–6.
            let dispatch = match (&action, &arguments) {
                (Some(Value::String(name)), Some(Value::Object(args))) => SPEC_ACTIONS
                    .iter()
                    .find(|(a, _)| a == name)
                    .is_some_and(|(_, params)| {
                        params
                            .iter()
                            .all(|p| matches!(args.get(*p), Some(Value::String(_))))
                    }),
                _ => false,
            };
            (Value::Object(body), dispatch)
        })
}

#[test]
fn proptest_random_json_requests_follow_the_dispatch_rules() {
    let h = Harness::new();
    let dispatched = std::cell::Cell::new(0usize);
    let refused = std::cell::Cell::new(0usize);
    runner()
        .run(&json_request(), |(body, dispatch)| {
            let counter = if dispatch { &dispatched } else { &refused };
            counter.set(counter.get() + 1);
            let text = body.to_string();
            check_outcome(&h, text.as_bytes(), Some(dispatch))
        })
        .unwrap();
    // Both branches of the oracle were exercised.
    assert!(dispatched.get() >= 10, "dispatched {}", dispatched.get());
    assert!(refused.get() >= 10, "refused {}", refused.get());
}

#[test]
fn negative_numbers_are_accepted_and_trailing_commas_refused() {
    // Unlike Go's parser (spec §1.4 allows either): standard JSON as serde_json reads it.
    let h = Harness::new();
    for body in [
        r#"{"action":"get_session","arguments":{"session_token":"a.b",}}"#,
        r#"{"action":"get_session","arguments":{"session_token":"a.b"},}"#,
        r#"{"action":"get_session","arguments":{"session_token":"a.b"},"x":[1,]}"#,
    ] {
        assert_request_error(&h, body);
    }
    assert_untouched(&h);
    for extra in ["-1", "-0.5", "[-1e3]", r#"{"n":-7}"#] {
        let body = format!(
            r#"{{"action":"get_session","arguments":{{"session_token":"a.b"}},"x":{extra}}}"#
        );
        let result = h.raw(&body).expect("negative numbers are accepted");
        assert_eq!(
            parse_result(&result)["error_code"],
            json!("invalid_session_token"),
            "{body}"
        );
    }
}
