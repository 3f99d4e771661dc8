#![cfg(not(target_arch = "wasm32"))]
mod common;
use common::*;
use serde_json::json;

#[test]
fn happy_signup_then_session() {
    let h = Harness::new();
    let token = h.signup_ready("new@example.com");
    let values = h.ok("complete_signup", json!({ "signup_token": token }));
    let session_token = values["session_token"].as_str().unwrap();
    assert!(is_token(session_token));
    let v = h.ok("get_session", json!({ "session_token": session_token }));
    assert_eq!(v["session"]["expires_at"], json!(null));
    let s = h.signin_u1();
    h.ok("get_session", json!({ "session_token": s }));
}
