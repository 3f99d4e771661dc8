//! The passkeys extension (docs/extensions.md): registration for every algorithm, every refusal of
//! a credential, the credential index, the limit and name rules, passwordless sign-in, the passkey
//! as second factor after the password, management, removal with SECOND_FACTOR_REQUIRED, the
//! recovery codes shared with TOTP, user deletion, and the extension off.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
mod flow_helpers;
mod passkeys_helpers;

use common::*;
use faroe_worker::adapters::memory::EmailKind;
use faroe_worker::extensions::passkeys::record::{CredentialIndexEntry, PasskeyRecord};
use faroe_worker::extensions::passkeys::ACTIONS as PASSKEY_ACTIONS;
use faroe_worker::webauthn::Algorithm;
use flow_helpers::err_logged;
use passkeys_helpers::*;
use serde_json::{json, Value};

const U1: &str = "user1@example.com";
const U2: &str = "user2@example.com";

fn passkey_of(h: &Harness, user_id: &str, passkey_id: &str) -> PasskeyRecord {
    PasskeyRecord::decode(
        &h.accounts
            .value(user_id, &PasskeyRecord::key_for(passkey_id))
            .expect("passkey record"),
    )
    .unwrap()
}

fn index_of(h: &Harness, credential_id: &[u8]) -> Option<CredentialIndexEntry> {
    h.main
        .value(&CredentialIndexEntry::key_for(credential_id))
        .map(|v| CredentialIndexEntry::decode(&v).unwrap())
}

fn disable(h: &Harness, id: &str, email: &str, password: &str) {
    let mut user = fixture_user(id, email, password, "");
    user.disabled = true;
    user.disabled_counter = 1;
    h.users.insert(user);
}

// ---- registration ----

#[test]
fn registration_stores_a_passkey_for_every_algorithm_with_recovery_codes_the_first_time() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let created = h.ok("create_user_passkey_registration", s_args(&s));
    let model = &created["user_passkey_registration"];
    assert_eq!(
        model.as_object().unwrap().keys().collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "session_id",
            "user_identity_verified",
            "created_at",
            "expires_at"
        ]
    );
    assert_eq!(model["expires_at"], json!(T0_SECONDS + 600));
    let options: Value =
        serde_json::from_str(created["credential_creation_options"].as_str().unwrap()).unwrap();
    assert_eq!(options["rp"], json!({ "id": RP_ID, "name": "Faroe Test" }));
    assert_eq!(options["user"]["name"], U1);
    assert_eq!(options["user"]["displayName"], "Alice");
    assert_eq!(
        from_b64url(options["user"]["id"].as_str().unwrap()).len(),
        32
    );
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    assert_eq!(options["excludeCredentials"], json!([]));
    assert_eq!(options["attestation"], "none");
    // The user handle is stored and says nothing of the user id.
    let handle = h.accounts.value("u1", "passkey_user").unwrap();
    assert_eq!(b64url(&handle), options["user"]["id"].as_str().unwrap());

    let mut ids = Vec::new();
    for (n, algorithm) in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256]
        .into_iter()
        .enumerate()
    {
        let authenticator = Authenticator::new(algorithm, 10 + n as u8);
        let values = register(&h, &s, U1_PASSWORD, &authenticator, &format!(" Key {n} "));
        let passkey = &values["user_passkey"];
        assert_eq!(
            passkey.as_object().unwrap().keys().collect::<Vec<_>>(),
            [
                "id",
                "user_id",
                "name",
                "algorithm",
                "backed_up",
                "created_at",
                "last_used_at"
            ]
        );
        assert_eq!(passkey["name"], format!("Key {n}"), "trimmed");
        assert_eq!(passkey["algorithm"], algorithm.name());
        assert_eq!(passkey["backed_up"], false);
        assert_eq!(passkey["last_used_at"], Value::Null);
        assert_eq!(passkey["user_id"], "u1");
        let codes = values["recovery_codes"].as_array().unwrap();
        assert_eq!(codes.len(), if n == 0 { 10 } else { 0 });
        let id = passkey["id"].as_str().unwrap().to_string();
        assert!(is_id(&id));
        let record = passkey_of(&h, "u1", &id);
        assert_eq!(record.credential_id, authenticator.credential_id);
        assert_eq!(record.transports, ["internal", "hybrid"]);
        assert_eq!(
            index_of(&h, &authenticator.credential_id),
            Some(CredentialIndexEntry {
                user_id: "u1".into(),
                passkey_id: id.clone()
            })
        );
        let notice = h.email.last().unwrap();
        assert_eq!(notice.kind, EmailKind::UserSecondFactorAddedNotification);
        assert_eq!(notice.second_factor, "passkey");
        ids.push(id);
    }
    // The next registration excludes the three.
    let created = h.ok("create_user_passkey_registration", s_args(&s));
    let options: Value =
        serde_json::from_str(created["credential_creation_options"].as_str().unwrap()).unwrap();
    assert_eq!(options["excludeCredentials"].as_array().unwrap().len(), 3);
    assert_eq!(
        options["excludeCredentials"][0]["transports"],
        json!(["internal", "hybrid"])
    );
    let listed = h.ok("get_user_passkeys", s_args(&s))["user_passkeys"].clone();
    let listed: Vec<_> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].clone())
        .collect();
    assert_eq!(
        listed,
        ids.iter().map(|i| json!(i)).collect::<Vec<_>>(),
        "oldest first"
    );
    let factors = h.ok("get_user_second_factors", s_args(&s))["user_second_factors"].clone();
    assert_eq!(factors["passkey_count"], 3);
    assert_eq!(factors["totp_enabled"], false);
    assert_eq!(factors["recovery_code_count"], 10);
}

#[test]
fn registration_needs_the_password_first_and_is_spent_by_its_completion() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let created = h.ok("create_user_passkey_registration", s_args(&s));
    let t = token(&created, "user_passkey_registration_token");
    let options = token(&created, "credential_creation_options");
    let authenticator = Authenticator::new(Algorithm::Es256, 1);
    let credential = authenticator.register(&options, &Tweak::default());
    h.err_unlogged(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "Key", &credential),
        "user_identity_not_verified",
    );
    h.err_unlogged(
        "verify_user_passkey_registration_user_password",
        reg_password_args(&s, &t, "wrong"),
        "incorrect_password",
    );
    h.ok(
        "verify_user_passkey_registration_user_password",
        reg_password_args(&s, &t, U1_PASSWORD),
    );
    assert_eq!(
        h.ok("get_user_passkey_registration", reg_args(&s, &t))["user_passkey_registration"]
            ["user_identity_verified"],
        true
    );
    // TOTP is off: its verification action does not exist.
    let body = json!({ "action": "verify_user_passkey_registration_totp_code",
        "arguments": reg_code_args(&s, &t, "123456") });
    assert_eq!(
        h.raw(&body.to_string()).unwrap_err().reason(),
        "unknown action"
    );
    h.ok(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "Key", &credential),
    );
    h.err_unlogged(
        "get_user_passkey_registration",
        reg_args(&s, &t),
        "invalid_user_passkey_registration_token",
    );
}

#[test]
fn every_refused_credential_is_invalid_passkey_credential_logged_and_spends_the_registration() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let authenticator = Authenticator::new(Algorithm::Es256, 1);
    let cases: Vec<(&str, Tweak)> = vec![
        (
            "challenge",
            Tweak {
                challenge: Some(vec![0; 32]),
                ..Tweak::default()
            },
        ),
        (
            "origin",
            Tweak {
                origin: "https://evil.example".into(),
                ..Tweak::default()
            },
        ),
        (
            "rp id",
            Tweak {
                rp_id: "evil.example".into(),
                ..Tweak::default()
            },
        ),
        (
            "user present",
            Tweak {
                flags: UV,
                ..Tweak::default()
            },
        ),
        (
            "backup flags",
            Tweak {
                flags: UP | BS,
                ..Tweak::default()
            },
        ),
        (
            "client data type",
            Tweak {
                client_type: Some("webauthn.get"),
                ..Tweak::default()
            },
        ),
    ];
    for (what, tweak) in cases {
        let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
        let credential = authenticator.register(&options, &tweak);
        err_logged(
            &h,
            "complete_user_passkey_registration",
            complete_reg_args(&s, &t, "Key", &credential),
            "invalid_passkey_credential",
        );
        let logged = h.logger.entries().last().unwrap().message.clone();
        assert!(
            logged.contains("passkey registration refused"),
            "{what}: {logged}"
        );
        h.err_unlogged(
            "get_user_passkey_registration",
            reg_args(&s, &t),
            "invalid_user_passkey_registration_token",
        );
    }
    let (t, _) = verified_registration(&h, &s, U1_PASSWORD);
    err_logged(
        &h,
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "Key", "{not json"),
        "invalid_passkey_credential",
    );
    assert!(h
        .accounts
        .keys("u1")
        .iter()
        .all(|k| !k.starts_with("passkey.")));
    assert!(h
        .main
        .keys()
        .iter()
        .all(|k| !k.starts_with("passkey_credential.")));
}

#[test]
fn user_verification_is_required_only_when_configured() {
    let mut extensions = passkeys_extensions(false, false);
    extensions.passkeys = Some(passkeys_config("required"));
    let h = harness(extensions);
    let s = h.signin_u1();
    let authenticator = Authenticator::new(Algorithm::EdDsa, 1);
    let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
    let credential = authenticator.register(
        &options,
        &Tweak {
            flags: UP,
            ..Tweak::default()
        },
    );
    err_logged(
        &h,
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "Key", &credential),
        "invalid_passkey_credential",
    );
    // preferred: UP alone registers.
    let h = passkeys_harness();
    let s = h.signin_u1();
    let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
    let credential = authenticator.register(
        &options,
        &Tweak {
            flags: UP,
            ..Tweak::default()
        },
    );
    h.ok(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "Key", &credential),
    );
}

#[test]
fn names_are_checked_before_the_registration_is_spent() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let authenticator = Authenticator::new(Algorithm::Es256, 1);
    let (t, options) = verified_registration(&h, &s, U1_PASSWORD);
    let credential = authenticator.register(&options, &Tweak::default());
    for bad in ["", "   ", &"n".repeat(65), "tab\there", "bell\u{7}"] {
        h.err_unlogged(
            "complete_user_passkey_registration",
            complete_reg_args(&s, &t, bad, &credential),
            "invalid_passkey_name",
        );
    }
    let values = h.ok(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, &"é".repeat(64), &credential),
    );
    let id = token(values["user_passkey"].as_object().unwrap(), "id");
    for bad in ["", &"n".repeat(65)] {
        h.err_unlogged(
            "update_user_passkey_name",
            json!({ "session_token": s, "user_passkey_id": id, "passkey_name": bad }),
            "invalid_passkey_name",
        );
    }
    let renamed = h.ok(
        "update_user_passkey_name",
        json!({ "session_token": s, "user_passkey_id": id, "passkey_name": " Phone " }),
    );
    assert_eq!(renamed["user_passkey"]["name"], "Phone");
    assert_eq!(passkey_of(&h, "u1", &id).name, "Phone");
    h.err_unlogged(
        "update_user_passkey_name",
        json!({ "session_token": s, "user_passkey_id": "x".repeat(24), "passkey_name": "P" }),
        "passkey_not_found",
    );
}

#[test]
fn a_credential_id_is_registered_once_across_all_users() {
    let h = passkeys_harness();
    let s1 = h.signin_u1();
    let s2 = h.signin(U2, U2_PASSWORD);
    let authenticator = Authenticator::new(Algorithm::Es256, 1);
    register(&h, &s1, U1_PASSWORD, &authenticator, "Key");
    for (s, password) in [(&s1, U1_PASSWORD), (&s2, U2_PASSWORD)] {
        let (t, options) = verified_registration(&h, s, password);
        let credential = authenticator.register(&options, &Tweak::default());
        h.err_unlogged(
            "complete_user_passkey_registration",
            complete_reg_args(s, &t, "Again", &credential),
            "passkey_already_registered",
        );
    }
    assert_eq!(
        index_of(&h, &authenticator.credential_id).unwrap().user_id,
        "u1"
    );
    assert!(h
        .accounts
        .keys("u2")
        .iter()
        .all(|k| !k.starts_with("passkey.")));
    assert!(!h
        .accounts
        .keys("u2")
        .contains(&"second_factors".to_string()));
}

#[test]
fn at_most_20_passkeys_per_user() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let mut pending = None;
    for n in 0..20u8 {
        if n == 19 {
            pending = Some(verified_registration(&h, &s, U1_PASSWORD));
        }
        register(
            &h,
            &s,
            U1_PASSWORD,
            &Authenticator::new(Algorithm::EdDsa, n + 1),
            "K",
        );
    }
    h.err_unlogged(
        "create_user_passkey_registration",
        s_args(&s),
        "passkey_limit_reached",
    );
    // A registration created at 19 cannot complete as the 21st.
    let (t, options) = pending.unwrap();
    let credential = Authenticator::new(Algorithm::EdDsa, 99).register(&options, &Tweak::default());
    h.err_unlogged(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "K", &credential),
        "passkey_limit_reached",
    );
    assert_eq!(
        h.accounts
            .keys("u1")
            .iter()
            .filter(|k| k.starts_with("passkey."))
            .count(),
        20
    );
}

// ---- passwordless sign-in ----

fn registered_u1(h: &Harness, algorithm: Algorithm) -> (String, Authenticator, String) {
    let s = h.signin_u1();
    let authenticator = Authenticator::new(algorithm, 3);
    let values = register(h, &s, U1_PASSWORD, &authenticator, "Key");
    let id = token(values["user_passkey"].as_object().unwrap(), "id");
    (s, authenticator, id)
}

#[test]
fn passwordless_sign_in_creates_a_session_and_updates_the_counter() {
    for algorithm in [Algorithm::Es256, Algorithm::EdDsa, Algorithm::Rs256] {
        let h = passkeys_harness();
        let (_, authenticator, id) = registered_u1(&h, algorithm);
        refill_buckets(&h);
        let now = h.now_seconds();
        let created = h.ok("create_passkey_signin", json!({}));
        assert_eq!(
            created["passkey_signin"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["id", "created_at", "expires_at"]
        );
        assert_eq!(created["passkey_signin"]["expires_at"], json!(now + 300));
        let options: Value =
            serde_json::from_str(created["credential_request_options"].as_str().unwrap()).unwrap();
        assert!(options.get("allowCredentials").is_none());
        assert_eq!(options["rpId"], RP_ID);
        assert_eq!(
            options["userVerification"], "required",
            "passwordless needs UV"
        );
        let t = token(&created, "passkey_signin_token");
        h.ok("get_passkey_signin", ps_args(&t));
        let credential = authenticator.assert(
            created["credential_request_options"].as_str().unwrap(),
            &Tweak::default(),
        );
        h.email.clear();
        let values = h.ok("complete_passkey_signin", ps_complete_args(&t, &credential));
        let session = token(&values, "session_token");
        assert_eq!(values["session"]["user_id"], "u1");
        assert_eq!(
            h.ok("get_session", json!({ "session_token": session }))["session"]["user_id"],
            "u1"
        );
        assert_eq!(
            h.email.last().unwrap().kind,
            EmailKind::UserSignedInNotification
        );
        let record = passkey_of(&h, "u1", &id);
        assert_eq!(record.sign_count, 1);
        assert_eq!(record.last_used_at, now);
        let listed = h.ok("get_user_passkeys", s_args(&session))["user_passkeys"][0].clone();
        assert_eq!(listed["last_used_at"], json!(now));
        // The sign-in is spent.
        h.err_unlogged(
            "get_passkey_signin",
            ps_args(&t),
            "invalid_passkey_signin_token",
        );
    }
}

#[test]
fn passwordless_refusals() {
    let h = passkeys_harness();
    let (_, authenticator, _) = registered_u1(&h, Algorithm::Es256);
    let attempt = |tweak: &Tweak, who: &Authenticator| {
        let (t, options) = create_passkey_signin(&h);
        let credential = who.assert(&options, tweak);
        (t, credential)
    };
    // Every verification failure: logged, one code.
    let refusals: Vec<(&str, Tweak)> = vec![
        (
            "challenge",
            Tweak {
                challenge: Some(vec![1; 32]),
                ..Tweak::default()
            },
        ),
        (
            "origin",
            Tweak {
                origin: "https://example.org".into(),
                ..Tweak::default()
            },
        ),
        (
            "rp id",
            Tweak {
                rp_id: "example.org".into(),
                ..Tweak::default()
            },
        ),
        (
            "no UV",
            Tweak {
                flags: UP,
                ..Tweak::default()
            },
        ),
        (
            "no UP",
            Tweak {
                flags: UV,
                ..Tweak::default()
            },
        ),
        (
            "signature",
            Tweak {
                bad_signature: true,
                ..Tweak::default()
            },
        ),
        (
            "user handle",
            Tweak {
                user_handle: Some(Some(vec![9; 32])),
                ..Tweak::default()
            },
        ),
        (
            "counter",
            Tweak {
                sign_count: Some(0),
                ..Tweak::default()
            },
        ),
    ];
    // Make the stored counter non-zero first.
    let (t, credential) = attempt(&Tweak::default(), &authenticator);
    h.ok("complete_passkey_signin", ps_complete_args(&t, &credential));
    for (what, tweak) in refusals {
        let (t, credential) = attempt(&tweak, &authenticator);
        err_logged(
            &h,
            "complete_passkey_signin",
            ps_complete_args(&t, &credential),
            "invalid_passkey_credential",
        );
        let logged = h.logger.entries().last().unwrap().message.clone();
        assert!(
            logged.contains("passkey assertion refused"),
            "{what}: {logged}"
        );
        if what == "counter" {
            assert!(logged.contains("went backwards"), "{logged}");
        }
        h.err_unlogged(
            "get_passkey_signin",
            ps_args(&t),
            "invalid_passkey_signin_token",
        );
    }
    // Without a user handle the assertion is accepted (it is optional).
    let (t, credential) = attempt(
        &Tweak {
            user_handle: Some(None),
            ..Tweak::default()
        },
        &authenticator,
    );
    h.ok("complete_passkey_signin", ps_complete_args(&t, &credential));
    // A credential nobody registered.
    let (t, credential) = attempt(&Tweak::default(), &Authenticator::new(Algorithm::Es256, 77));
    h.err_unlogged(
        "complete_passkey_signin",
        ps_complete_args(&t, &credential),
        "passkey_not_found",
    );
    // Disabled user.
    disable(&h, "u1", U1, U1_PASSWORD);
    let (t, credential) = attempt(&Tweak::default(), &authenticator);
    h.err_unlogged(
        "complete_passkey_signin",
        ps_complete_args(&t, &credential),
        "user_disabled",
    );
    // The sign-in expires at 5 minutes exactly.
    let (t, options) = create_passkey_signin(&h);
    advance(&h, 299);
    h.ok("get_passkey_signin", ps_args(&t));
    advance(&h, 1);
    h.err_unlogged(
        "get_passkey_signin",
        ps_args(&t),
        "invalid_passkey_signin_token",
    );
    let credential = authenticator.assert(&options, &Tweak::default());
    h.err_unlogged(
        "complete_passkey_signin",
        ps_complete_args(&t, &credential),
        "invalid_passkey_signin_token",
    );
}

#[test]
fn passwordless_accepts_no_uv_only_when_discouraged() {
    let mut extensions = passkeys_extensions(false, false);
    extensions.passkeys = Some(passkeys_config("discouraged"));
    let h = harness(extensions);
    let (_, authenticator, _) = registered_u1(&h, Algorithm::EdDsa);
    let (t, options) = create_passkey_signin(&h);
    let request: Value = serde_json::from_str(&options).unwrap();
    assert_eq!(request["userVerification"], "discouraged");
    let credential = authenticator.assert(
        &options,
        &Tweak {
            flags: UP,
            ..Tweak::default()
        },
    );
    h.ok("complete_passkey_signin", ps_complete_args(&t, &credential));
}

// ---- second factor after the password ----

#[test]
fn a_user_with_a_passkey_needs_it_or_a_recovery_code_after_the_password() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let authenticator = Authenticator::new(Algorithm::Es256, 5);
    let codes = register(&h, &s, U1_PASSWORD, &authenticator, "Key")["recovery_codes"].clone();
    let t = h.create_signin(U1);
    let signin = h.ok("get_signin", signin_args(&t))["signin"].clone();
    assert_eq!(signin["user_second_factor_required"], true);
    assert_eq!(signin["user_second_factor_verified"], false);
    h.err_unlogged(
        "get_signin_passkey_credential_request_options",
        signin_args(&t),
        "user_first_factor_not_verified",
    );
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    h.err_unlogged(
        "complete_signin",
        signin_args(&t),
        "user_second_factor_not_verified",
    );
    let options = token(
        &h.ok(
            "get_signin_passkey_credential_request_options",
            signin_args(&t),
        ),
        "credential_request_options",
    );
    let request: Value = serde_json::from_str(&options).unwrap();
    assert_eq!(
        request["allowCredentials"],
        json!([{ "type": "public-key", "id": b64url(&authenticator.credential_id),
            "transports": ["internal", "hybrid"] }])
    );
    assert_eq!(request["userVerification"], "preferred");
    // A wrong signature, then another authenticator's credential.
    let credential = authenticator.assert(
        &options,
        &Tweak {
            bad_signature: true,
            ..Tweak::default()
        },
    );
    err_logged(
        &h,
        "verify_signin_passkey",
        signin_credential_args(&t, &credential),
        "invalid_passkey_credential",
    );
    let stranger = Authenticator::new(Algorithm::Es256, 6);
    let credential = stranger.assert(&options, &Tweak::default());
    h.err_unlogged(
        "verify_signin_passkey",
        signin_credential_args(&t, &credential),
        "passkey_not_found",
    );
    // The right one: UP without UV is enough here (preferred).
    let credential = authenticator.assert(
        &options,
        &Tweak {
            flags: UP,
            ..Tweak::default()
        },
    );
    h.ok(
        "verify_signin_passkey",
        signin_credential_args(&t, &credential),
    );
    h.err_unlogged(
        "verify_signin_passkey",
        signin_credential_args(&t, &credential),
        "user_second_factor_already_verified",
    );
    h.ok("complete_signin", signin_args(&t));
    // The verify-second-factor bucket was consumed by the three attempts.
    assert!(h.bucket_count("second_factor.u1").is_some());
    // A recovery code works with passkeys only (TOTP off).
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.ok(
        "verify_signin_recovery_code",
        json!({ "signin_token": t, "recovery_code": codes[0] }),
    );
    h.ok("complete_signin", signin_args(&t));
    // A user without passkeys: no options, and no second factor required.
    let t = password_verified_signin(&h, U2, U2_PASSWORD);
    h.err_unlogged(
        "get_signin_passkey_credential_request_options",
        signin_args(&t),
        "passkey_not_found",
    );
    h.ok("complete_signin", signin_args(&t));
}

#[test]
fn the_verify_second_factor_bucket_limits_passkey_attempts() {
    let h = passkeys_harness();
    let (_, authenticator, _) = registered_u1(&h, Algorithm::EdDsa);
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    let options = token(
        &h.ok(
            "get_signin_passkey_credential_request_options",
            signin_args(&t),
        ),
        "credential_request_options",
    );
    let bad = authenticator.assert(
        &options,
        &Tweak {
            bad_signature: true,
            ..Tweak::default()
        },
    );
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(h.err("verify_signin_passkey", signin_credential_args(&t, &bad)));
    }
    assert!(codes.iter().any(|c| c == "rate_limited"), "{codes:?}");
    let first_limited = codes.iter().position(|c| c == "rate_limited").unwrap();
    assert!(codes[..first_limited]
        .iter()
        .all(|c| c == "invalid_passkey_credential"));
}

// ---- removal ----

#[test]
fn removing_passkeys_keeps_recovery_codes_until_the_last_factor_goes() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let b = Authenticator::new(Algorithm::EdDsa, 2);
    let id_a = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let id_b = token(
        register(&h, &s, U1_PASSWORD, &b, "B")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    h.err_unlogged(
        "create_user_passkey_deletion",
        json!({ "session_token": s, "user_passkey_id": "nope" }),
        "passkey_not_found",
    );
    let created = h.ok(
        "create_user_passkey_deletion",
        json!({ "session_token": s, "user_passkey_id": id_a }),
    );
    let t = token(&created, "user_passkey_deletion_token");
    assert_eq!(
        created["user_passkey_deletion"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        [
            "id",
            "user_id",
            "session_id",
            "user_passkey_id",
            "user_identity_verified",
            "created_at",
            "expires_at"
        ]
    );
    h.err_unlogged(
        "complete_user_passkey_deletion",
        pdel_args(&s, &t),
        "user_identity_not_verified",
    );
    h.ok(
        "verify_user_passkey_deletion_user_password",
        pdel_password_args(&s, &t, U1_PASSWORD),
    );
    h.ok("complete_user_passkey_deletion", pdel_args(&s, &t));
    assert!(h
        .accounts
        .value("u1", &PasskeyRecord::key_for(&id_a))
        .is_none());
    assert!(index_of(&h, &a.credential_id).is_none());
    assert!(
        h.accounts.value("u1", "second_factors").is_some(),
        "codes stay"
    );
    let notice = h.email.last().unwrap();
    assert_eq!(notice.kind, EmailKind::UserSecondFactorRemovedNotification);
    assert_eq!(notice.second_factor, "passkey");
    // The last one takes the recovery codes along; signing in needs the password only again.
    let t = verified_passkey_deletion(&h, &s, &id_b, U1_PASSWORD);
    h.ok("complete_user_passkey_deletion", pdel_args(&s, &t));
    assert!(h.accounts.value("u1", "second_factors").is_none());
    let factors = h.ok("get_user_second_factors", s_args(&s))["user_second_factors"].clone();
    assert_eq!(factors["passkey_count"], 0);
    assert_eq!(factors["recovery_code_count"], 0);
    h.signin_u1();
    // The removed credential can be registered again (by anyone).
    let s2 = h.signin(U2, U2_PASSWORD);
    register(&h, &s2, U2_PASSWORD, &a, "Mine now");
    assert_eq!(index_of(&h, &a.credential_id).unwrap().user_id, "u2");
}

#[test]
fn second_factor_required_keeps_the_last_second_factor() {
    let h = harness(passkeys_extensions(true, true));
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    let id = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.err_unlogged(
        "complete_user_passkey_deletion",
        pdel_args(&s, &t),
        "second_factor_required",
    );
    assert!(h
        .accounts
        .value("u1", &PasskeyRecord::key_for(&id))
        .is_some());
    // With TOTP too, the passkey may go; then TOTP is the last and stays.
    let s = h.signin_u1_with_passkey(&a);
    let (_, codes) = totp_enroll(&h, &s);
    assert!(
        codes.is_empty(),
        "the passkey's recovery codes stay; none issued"
    );
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.ok("complete_user_passkey_deletion", pdel_args(&s, &t));
    let t = token(
        &h.ok("create_user_totp_deletion", s_args(&s)),
        "user_totp_deletion_token",
    );
    h.ok(
        "verify_user_totp_deletion_user_password",
        json!({ "session_token": s, "user_totp_deletion_token": t, "password": U1_PASSWORD }),
    );
    h.err_unlogged(
        "complete_user_totp_deletion",
        json!({ "session_token": s, "user_totp_deletion_token": t }),
        "second_factor_required",
    );
    // Without the setting, the last factor goes.
    let h = harness(passkeys_extensions(true, false));
    let s = h.signin_u1();
    let id = token(
        register(&h, &s, U1_PASSWORD, &a, "A")["user_passkey"]
            .as_object()
            .unwrap(),
        "id",
    );
    let t = verified_passkey_deletion(&h, &s, &id, U1_PASSWORD);
    h.ok("complete_user_passkey_deletion", pdel_args(&s, &t));
}

/// TOTP enrollment for the session's user (both extensions on): (key, recovery codes returned).
fn totp_enroll(h: &Harness, s: &str) -> (Vec<u8>, Vec<Value>) {
    use faroe_worker::extensions::totp::code;
    use faroe_worker::ports::Clock;
    let t = token(
        &h.ok("create_user_totp_enrollment", s_args(s)),
        "user_totp_enrollment_token",
    );
    let values = h.ok(
        "verify_user_totp_enrollment_user_password",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "password": U1_PASSWORD }),
    );
    let key = decode_base32(values["totp_key"].as_str().unwrap());
    let c = code::code_for_step(&key, code::step_at(h.clock.now()));
    h.ok(
        "verify_user_totp_enrollment_totp_code",
        json!({ "session_token": s, "user_totp_enrollment_token": t, "totp_code": c }),
    );
    let done = h.ok(
        "complete_user_totp_enrollment",
        json!({ "session_token": s, "user_totp_enrollment_token": t }),
    );
    (key, done["recovery_codes"].as_array().unwrap().clone())
}

fn decode_base32(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut out) = (0u64, 0, Vec::new());
    for c in s.bytes() {
        bits = (bits << 5) | ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}

trait SigninWithPasskey {
    fn signin_u1_with_passkey(&self, authenticator: &Authenticator) -> String;
}

impl SigninWithPasskey for Harness {
    fn signin_u1_with_passkey(&self, authenticator: &Authenticator) -> String {
        let t = password_verified_signin(self, U1, U1_PASSWORD);
        let options = token(
            &self.ok(
                "get_signin_passkey_credential_request_options",
                signin_args(&t),
            ),
            "credential_request_options",
        );
        let credential = authenticator.assert(&options, &Tweak::default());
        self.ok(
            "verify_signin_passkey",
            signin_credential_args(&t, &credential),
        );
        token(
            &self.ok("complete_signin", signin_args(&t)),
            "session_token",
        )
    }
}

#[test]
fn with_totp_on_a_code_verifies_the_identity_and_totp_users_get_no_new_codes_from_a_passkey() {
    use faroe_worker::extensions::totp::code;
    use faroe_worker::ports::Clock;
    let h = both_harness();
    let s = h.signin_u1();
    let (key, codes) = totp_enroll(&h, &s);
    assert_eq!(codes.len(), 10);
    refill_buckets(&h);
    let created = h.ok("create_user_passkey_registration", s_args(&s));
    let t = token(&created, "user_passkey_registration_token");
    h.err_unlogged(
        "verify_user_passkey_registration_totp_code",
        reg_code_args(&s, &t, "000000x"),
        "incorrect_totp_code",
    );
    let c = code::code_for_step(&key, code::step_at(h.clock.now()));
    h.ok(
        "verify_user_passkey_registration_totp_code",
        reg_code_args(&s, &t, &c),
    );
    h.err_unlogged(
        "verify_user_passkey_registration_totp_code",
        reg_code_args(&s, &t, &c),
        "user_identity_already_verified",
    );
    let a = Authenticator::new(Algorithm::Es256, 1);
    let credential = a.register(
        &token(&created, "credential_creation_options"),
        &Tweak::default(),
    );
    let values = h.ok(
        "complete_user_passkey_registration",
        complete_reg_args(&s, &t, "A", &credential),
    );
    assert_eq!(values["recovery_codes"], json!([]), "TOTP's codes stay");
    let factors = h.ok("get_user_second_factors", s_args(&s))["user_second_factors"].clone();
    assert_eq!(factors["recovery_code_count"], 10);
    assert_eq!(factors["passkey_count"], 1);
    assert_eq!(factors["totp_enabled"], true);
    // The same code is not accepted twice (the step is stored): a deletion by TOTP code.
    let id = token(values["user_passkey"].as_object().unwrap(), "id");
    let d = token(
        &h.ok(
            "create_user_passkey_deletion",
            json!({ "session_token": s, "user_passkey_id": id }),
        ),
        "user_passkey_deletion_token",
    );
    h.err_unlogged(
        "verify_user_passkey_deletion_totp_code",
        pdel_code_args(&s, &d, &c),
        "incorrect_totp_code",
    );
    advance(&h, 30);
    let c = code::code_for_step(&key, code::step_at(h.clock.now()));
    h.ok(
        "verify_user_passkey_deletion_totp_code",
        pdel_code_args(&s, &d, &c),
    );
    h.ok("complete_user_passkey_deletion", pdel_args(&s, &d));
    // With the passkey gone, sign-in takes a TOTP code.
    h.signin_u1_with_totp(&key);
    // A user without TOTP: the TOTP-code verification says so.
    let s = h.signin(U2, U2_PASSWORD);
    let t = token(
        &h.ok("create_user_passkey_registration", s_args(&s)),
        "user_passkey_registration_token",
    );
    h.err_unlogged(
        "verify_user_passkey_registration_totp_code",
        reg_code_args(&s, &t, "123456"),
        "totp_not_enabled",
    );
}

trait SigninWithTotp {
    fn signin_u1_with_totp(&self, key: &[u8]) -> String;
}

impl SigninWithTotp for Harness {
    fn signin_u1_with_totp(&self, key: &[u8]) -> String {
        use faroe_worker::extensions::totp::code;
        use faroe_worker::ports::Clock;
        refill_buckets(self);
        let t = password_verified_signin(self, U1, U1_PASSWORD);
        let c = code::code_for_step(key, code::step_at(self.clock.now()));
        self.ok(
            "verify_signin_totp_code",
            json!({ "signin_token": t, "totp_code": c }),
        );
        token(
            &self.ok("complete_signin", signin_args(&t)),
            "session_token",
        )
    }
}

#[test]
fn totp_removal_keeps_the_record_while_passkeys_remain() {
    let h = both_harness();
    let s = h.signin_u1();
    let a = Authenticator::new(Algorithm::Es256, 1);
    register(&h, &s, U1_PASSWORD, &a, "A");
    totp_enroll(&h, &s);
    let t = token(
        &h.ok("create_user_totp_deletion", s_args(&s)),
        "user_totp_deletion_token",
    );
    h.ok(
        "verify_user_totp_deletion_user_password",
        json!({ "session_token": s, "user_totp_deletion_token": t, "password": U1_PASSWORD }),
    );
    let values = h.ok(
        "complete_user_totp_deletion",
        json!({ "session_token": s, "user_totp_deletion_token": t }),
    );
    assert_eq!(values["user_second_factors"]["totp_enabled"], false);
    assert_eq!(values["user_second_factors"]["passkey_count"], 1);
    assert_eq!(values["user_second_factors"]["recovery_code_count"], 10);
    // Still a second factor at sign-in.
    let t = password_verified_signin(&h, U1, U1_PASSWORD);
    h.err_unlogged(
        "complete_signin",
        signin_args(&t),
        "user_second_factor_not_verified",
    );
}

// ---- operator, user deletion ----

#[test]
fn the_operator_removal_takes_passkeys_and_their_index_entries() {
    let h = passkeys_harness();
    let (s, a, id) = registered_u1(&h, Algorithm::Es256);
    h.ok("delete_user_second_factors", json!({ "user_id": "u1" }));
    assert!(h
        .accounts
        .value("u1", &PasskeyRecord::key_for(&id))
        .is_none());
    assert!(h.accounts.value("u1", "second_factors").is_none());
    assert!(index_of(&h, &a.credential_id).is_none());
    assert_eq!(h.email.last().unwrap().second_factor, "passkey");
    assert_eq!(
        h.ok("get_user_second_factors", s_args(&s))["user_second_factors"]["passkey_count"],
        0
    );
    h.signin_u1();
}

#[test]
fn user_deletion_removes_the_credential_index_entries() {
    let h = passkeys_harness();
    let (s, a, _) = registered_u1(&h, Algorithm::Es256);
    let b = Authenticator::new(Algorithm::EdDsa, 4);
    register(&h, &s, U1_PASSWORD, &b, "B");
    let t = token(
        &h.ok("create_user_deletion", s_args(&s)),
        "user_deletion_token",
    );
    h.ok(
        "verify_user_deletion_user_password",
        json!({ "session_token": s, "user_deletion_token": t, "password": U1_PASSWORD }),
    );
    h.ok(
        "complete_user_deletion",
        json!({ "session_token": s, "user_deletion_token": t }),
    );
    assert!(index_of(&h, &a.credential_id).is_none());
    assert!(index_of(&h, &b.credential_id).is_none());
    assert!(h.accounts.keys("u1").is_empty());
    assert!(h
        .main
        .keys()
        .iter()
        .all(|k| !k.starts_with("passkey_credential.")));
}

// ---- the extension off, on with TOTP off ----

#[test]
fn with_passkeys_off_its_actions_are_unknown_and_touch_nothing() {
    for h in [Harness::new(), Harness::with_totp()] {
        let s = h.signin_u1();
        for action in PASSKEY_ACTIONS {
            let arguments: serde_json::Map<String, Value> = action
                .params
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        json!(if *p == "session_token" {
                            s.as_str()
                        } else {
                            "x"
                        }),
                    )
                })
                .collect();
            let body = json!({ "action": action.name, "arguments": arguments }).to_string();
            let e = h.raw(&body).unwrap_err();
            assert_eq!(e.reason(), "unknown action", "{}", action.name);
        }
        assert!(h.main.keys().iter().all(|k| !k.starts_with("passkey")));
    }
    // With TOTP off and passkeys on, TOTP's own actions are unknown and the shared ones exist.
    let h = passkeys_harness();
    let s = h.signin_u1();
    for (action, exists) in [
        ("create_user_totp_enrollment", false),
        ("verify_signin_totp_code", false),
        ("create_user_totp_deletion", false),
        ("verify_user_passkey_deletion_totp_code", false),
        ("get_user_second_factors", true),
        ("delete_user_second_factors", true),
        ("verify_signin_recovery_code", true),
        ("create_user_recovery_code_regeneration", true),
    ] {
        let body = json!({ "action": action, "arguments": {
            "session_token": s, "signin_token": "x", "user_id": "nobody", "totp_code": "1",
            "recovery_code": "x", "user_passkey_deletion_token": "x" } });
        assert_eq!(h.raw(&body.to_string()).is_ok(), exists, "{action}");
    }
}

#[test]
fn the_signin_gains_a_passkey_challenge_and_the_two_members_with_passkeys_on() {
    let h = passkeys_harness();
    let created = h.ok("create_signin", json!({ "user_email_address": U1 }));
    let t = token(&created, "signin_token");
    assert_eq!(created["signin"]["user_second_factor_required"], false);
    let stored = h
        .main
        .value(&format!("aaac.{}", t.split('.').next().unwrap()))
        .unwrap();
    // Faroe's items, the two booleans, then the 32-byte challenge (length-prefixed).
    assert_eq!(stored[stored.len() - 37..stored.len() - 33], [1, 0, 1, 0]);
    assert_eq!(stored[stored.len() - 33], 32);
    h.ok(
        "verify_signin_user_password",
        json!({ "signin_token": t, "password": U1_PASSWORD }),
    );
    h.ok("complete_signin", signin_args(&t));
}

#[test]
fn the_existing_suite_is_unchanged_with_passkeys_on_for_users_without_passkeys() {
    let h = passkeys_harness();
    let s = h.signin_u1();
    h.ok("get_session", s_args(&s));
    let s2 = h.signin(U2, U2_PASSWORD);
    h.ok("delete_session", s_args(&s2));
    assert_eq!(
        h.ok("get_user_second_factors", s_args(&s))["user_second_factors"],
        json!({
            "user_id": "u1",
            "totp_enabled": false,
            "totp_enabled_at": null,
            "recovery_code_count": 0,
            "recovery_codes_created_at": null,
            "passkey_count": 0,
        })
    );
}
