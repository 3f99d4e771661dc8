//! Helpers of the TOTP extension tests: the authenticator app's side (base32 decoding, codes at the
//! harness clock), enrollment and sign-in with a second factor, argument builders.
#![allow(dead_code)]

use super::common::*;
use faroe_worker::extensions::totp::code;
use faroe_worker::ports::Clock;
use serde_json::{json, Map, Value};

/// RFC 4648 base32 (upper case, no padding), as an authenticator app reads the shown key.
pub fn decode_base32(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits = 0u64;
    let mut count = 0;
    let mut out = Vec::new();
    for c in s.bytes() {
        let value = ALPHABET
            .iter()
            .position(|a| *a == c)
            .expect("base32 character") as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

/// The current time step of the harness clock.
pub fn step(h: &Harness) -> i64 {
    code::step_at(h.clock.now())
}

/// The code of the current step (offset by `offset` steps).
pub fn code_at(h: &Harness, key: &[u8], offset: i64) -> String {
    code::code_for_step(key, step(h) + offset)
}

/// A six-digit code that matches none of the steps current − 1 … current + 1.
pub fn wrong_code(h: &Harness, key: &[u8]) -> String {
    let window: Vec<String> = (-1..=1).map(|o| code_at(h, key, o)).collect();
    (0..1_000_000)
        .map(|n| format!("{n:06}"))
        .find(|c| !window.contains(c))
        .unwrap()
}

pub fn s_args(s: &str) -> Value {
    json!({ "session_token": s })
}

pub fn en_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_totp_enrollment_token": t })
}

pub fn en_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_totp_enrollment_token": t, "password": password })
}

pub fn en_code_args(s: &str, t: &str, totp_code: &str) -> Value {
    json!({ "session_token": s, "user_totp_enrollment_token": t, "totp_code": totp_code })
}

pub fn rg_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_recovery_code_regeneration_token": t })
}

pub fn rg_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_recovery_code_regeneration_token": t, "password": password })
}

pub fn del_args(s: &str, t: &str) -> Value {
    json!({ "session_token": s, "user_totp_deletion_token": t })
}

pub fn del_password_args(s: &str, t: &str, password: &str) -> Value {
    json!({ "session_token": s, "user_totp_deletion_token": t, "password": password })
}

pub fn signin_code_args(t: &str, totp_code: &str) -> Value {
    json!({ "signin_token": t, "totp_code": totp_code })
}

pub fn signin_recovery_args(t: &str, recovery_code: &str) -> Value {
    json!({ "signin_token": t, "recovery_code": recovery_code })
}

pub fn token(values: &Map<String, Value>, name: &str) -> String {
    values[name].as_str().unwrap().to_string()
}

/// `create_user_totp_enrollment(S)`: the enrollment token.
pub fn create_enrollment(h: &Harness, s: &str) -> String {
    token(
        &h.ok("create_user_totp_enrollment", s_args(s)),
        "user_totp_enrollment_token",
    )
}

/// Create + password: (enrollment token, the key as the app reads it).
pub fn enrollment_with_key(h: &Harness, s: &str, password: &str) -> (String, Vec<u8>) {
    let t = create_enrollment(h, s);
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        en_password_args(s, &t, password),
    );
    (t, decode_base32(values["totp_key"].as_str().unwrap()))
}

/// A verified enrollment (create, password, current code): (token, key).
pub fn verified_enrollment(h: &Harness, s: &str, password: &str) -> (String, Vec<u8>) {
    let (t, key) = enrollment_with_key(h, s, password);
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        en_code_args(s, &t, &code_at(h, &key, 0)),
    );
    (t, key)
}

/// A whole enrollment for the session's user: (key, the ten recovery codes).
pub fn enroll(h: &Harness, s: &str, password: &str) -> (Vec<u8>, Vec<String>) {
    let (t, key) = verified_enrollment(h, s, password);
    let values = h.ok("complete_user_totp_enrollment", en_args(s, &t));
    let codes = values["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    (key, codes)
}

/// U1 with TOTP on: (session created before enrollment, key, recovery codes).
pub fn u1_enrolled(h: &Harness) -> (String, Vec<u8>, Vec<String>) {
    let s = h.signin_u1();
    let (key, codes) = enroll(h, &s, U1_PASSWORD);
    (s, key, codes)
}

/// A signin whose password was verified.
pub fn password_verified_signin(h: &Harness, email: &str, password: &str) -> String {
    let t = h.create_signin(email);
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": password }),
    );
    t
}

/// Signs in with password and a TOTP code of step `current + offset`: the session token.
pub fn signin_with_code(h: &Harness, email: &str, password: &str, totp_code: &str) -> String {
    let t = password_verified_signin(h, email, password);
    h.ok("verify_signin_totp_code", signin_code_args(&t, totp_code));
    token(
        &h.ok("complete_signin", json!({ "signin_token": t })),
        "session_token",
    )
}

/// Starts a recovery-code regeneration and verifies the password: the token.
pub fn verified_regeneration(h: &Harness, s: &str, password: &str) -> String {
    let t = token(
        &h.ok("create_user_recovery_code_regeneration", s_args(s)),
        "user_recovery_code_regeneration_token",
    );
    h.ok(
        "verify_user_recovery_code_regeneration_user_password",
        rg_password_args(s, &t, password),
    );
    t
}

/// Starts a TOTP deletion and verifies the password: the token.
pub fn verified_deletion(h: &Harness, s: &str, password: &str) -> String {
    let t = token(
        &h.ok("create_user_totp_deletion", s_args(s)),
        "user_totp_deletion_token",
    );
    h.ok(
        "verify_user_totp_deletion_user_password",
        del_password_args(s, &t, password),
    );
    t
}
