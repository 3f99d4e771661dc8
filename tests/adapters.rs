//! The HTTP adapters against a fake transport: the user-server client's response mapping
//! (spec §10.2), the email providers' requests, and the Pwned Passwords check (spec §8.1).

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use async_trait::async_trait;
use faroe_worker::adapters::email::{
    EmailDelivery, PostmarkDelivery, RenderingEmailSender, ResendDelivery, WebhookDelivery,
};
use faroe_worker::adapters::http::{HttpClient, HttpRequest, HttpResponse};
use faroe_worker::adapters::pwned::PwnedPasswordsChecker;
use faroe_worker::adapters::user_server::{user_to_json, UserServerClient};
use faroe_worker::ports::{EmailSender, PasswordStrengthChecker, User, UserStore, UserStoreError};
use futures::executor::block_on;
use serde_json::{json, Value};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

#[derive(Default)]
struct FakeHttp {
    answers: RefCell<VecDeque<Result<HttpResponse, String>>>,
    requests: RefCell<Vec<HttpRequest>>,
}

impl FakeHttp {
    fn answer(&self, status: u16, body: &str) {
        self.answers.borrow_mut().push_back(Ok(HttpResponse {
            status,
            body: body.to_string(),
        }));
    }
    fn fail(&self) {
        self.answers
            .borrow_mut()
            .push_back(Err("connection refused".into()));
    }
    fn last(&self) -> HttpRequest {
        self.requests.borrow().last().cloned().unwrap()
    }
}

#[async_trait(?Send)]
impl HttpClient for FakeHttp {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        self.requests.borrow_mut().push(request);
        self.answers
            .borrow_mut()
            .pop_front()
            .expect("an answer is queued")
    }
}

fn user() -> User {
    User {
        id: "u1".into(),
        email_address: "user1@example.com".into(),
        password_hash: vec![1, 2, 3],
        password_salt: vec![4, 5, 6, 7],
        password_hash_algorithm_id: "argon2id.65536.3.1.32".into(),
        disabled: false,
        display_name: "Alice".into(),
        email_address_counter: 1,
        password_hash_counter: 2,
        disabled_counter: 3,
        sessions_counter: 4,
        email_language: None,
    }
}

fn ok(values: Value) -> String {
    json!({"ok": true, "action_invocation_id": "x", "values": values}).to_string()
}

fn error(code: &str) -> String {
    json!({"ok": false, "action_invocation_id": "x", "error_code": code}).to_string()
}

fn client() -> (Rc<FakeHttp>, UserServerClient) {
    let http = Rc::new(FakeHttp::default());
    let client = UserServerClient::new(
        "https://users.example/faroe",
        Some("s3cret".into()),
        http.clone(),
    );
    (http, client)
}

#[test]
fn user_server_requests_carry_the_protocol_arguments_and_the_bearer_secret() {
    let (http, client) = client();
    http.answer(200, &ok(json!({"user": user_to_json(&user())})));
    let created =
        block_on(client.create_user("user1@example.com", &[1, 2, 3], "alg", &[4, 5, 6, 7]))
            .unwrap();
    assert_eq!(created, user());
    let request = http.last();
    assert_eq!(request.url, "https://users.example/faroe");
    assert!(request
        .headers
        .contains(&("Authorization".into(), "Bearer s3cret".into())));
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        json!({"action": "create_user", "arguments": {
            "email_address": "user1@example.com", "password_hash": "AQID",
            "password_hash_algorithm_id": "alg", "password_salt": "BAUGBw=="}})
    );
    http.answer(200, &ok(json!({})));
    block_on(client.update_user_password_hash("u1", &[9], "alg", &[8], 7)).unwrap();
    let body: Value = serde_json::from_str(http.last().body.as_deref().unwrap()).unwrap();
    assert_eq!(body["arguments"]["user_password_hash_counter"], 7);
    assert_eq!(body["arguments"]["password_hash"], "CQ==");
}

#[test]
fn user_server_error_codes_map_per_action() {
    let (http, client) = client();
    http.answer(200, &error("user_not_found"));
    assert_eq!(
        block_on(client.get_user("u1")),
        Err(UserStoreError::UserNotFound)
    );
    http.answer(200, &error("email_address_already_used"));
    assert_eq!(
        block_on(client.create_user("a@b", &[], "x", &[])),
        Err(UserStoreError::EmailAddressAlreadyUsed)
    );
    http.answer(200, &error("email_address_already_used"));
    assert_eq!(
        block_on(client.update_user_email_address("u1", "a@b", 0)),
        Err(UserStoreError::EmailAddressAlreadyUsed)
    );
    http.answer(200, &error("user_not_found"));
    assert_eq!(
        block_on(client.increment_user_sessions_counter("u1", 0)),
        Err(UserStoreError::UserNotFound)
    );
    // user_not_found from create_user is not a mapped code there: generic.
    http.answer(200, &error("user_not_found"));
    assert!(matches!(
        block_on(client.create_user("a@b", &[], "x", &[])),
        Err(UserStoreError::Failed(_))
    ));
    for code in ["internal_error", "internal_conflict", "something_new"] {
        http.answer(200, &error(code));
        assert!(matches!(
            block_on(client.delete_user("u1")),
            Err(UserStoreError::Failed(_))
        ));
    }
}

#[test]
fn malformed_user_server_answers_are_generic_errors() {
    let mut model = user_to_json(&user());
    let mut cases: Vec<(u16, String)> = vec![
        (500, ok(json!({"user": model.clone()}))),
        (200, "not json".into()),
        (200, "[]".into()),
        (
            200,
            json!({"ok": true, "values": {"user": model.clone()}}).to_string(),
        ),
        (
            200,
            json!({"ok": "yes", "action_invocation_id": "x", "values": {}}).to_string(),
        ),
        (
            200,
            json!({"ok": false, "action_invocation_id": "x"}).to_string(),
        ),
        (
            200,
            json!({"ok": true, "action_invocation_id": "x", "values": []}).to_string(),
        ),
        (200, ok(json!({}))),
    ];
    for (member, bad) in [
        ("id", json!(1)),
        ("display_name", Value::Null),
        ("disabled", json!("false")),
        ("password_hash", json!("AQID=")),
        ("password_salt", json!("BAUGBw")),
        ("sessions_counter", json!(-1)),
        ("sessions_counter", json!(1.5)),
        ("sessions_counter", json!(4294967296u64)),
        ("email_address_counter", json!("1")),
    ] {
        let mut broken = model.clone();
        broken[member] = bad;
        cases.push((200, ok(json!({"user": broken}))));
    }
    model.as_object_mut().unwrap().remove("display_name");
    cases.push((200, ok(json!({"user": model}))));
    for (status, body) in cases {
        let (http, client) = client();
        http.answer(status, &body);
        assert!(
            matches!(
                block_on(client.get_user("u1")),
                Err(UserStoreError::Failed(_))
            ),
            "{status} {body}"
        );
    }
    let (http, client) = client();
    http.fail();
    assert!(matches!(
        block_on(client.get_user("u1")),
        Err(UserStoreError::Failed(_))
    ));
}

#[test]
fn counters_above_i32_max_wrap_like_the_reference() {
    let (http, client) = client();
    let mut model = user_to_json(&user());
    model["sessions_counter"] = json!(4294967295u64);
    model["disabled_counter"] = json!(2147483648u64);
    http.answer(200, &ok(json!({"user": model, "extra": true})));
    let got = block_on(client.get_user("u1")).unwrap();
    assert_eq!(got.sessions_counter, -1);
    assert_eq!(got.disabled_counter, i32::MIN);
}

#[test]
fn the_user_server_may_send_an_email_language() {
    let http = Rc::new(FakeHttp::default());
    let client = UserServerClient::new("http://users.local/", None, http.clone());
    let mut model = user_to_json(&user());
    assert!(
        model.get("email_language").is_none(),
        "absent unless the user has one"
    );
    // Faroe's model without the member: no language.
    http.answer(200, &ok(json!({ "user": model.clone() })));
    assert_eq!(
        block_on(client.get_user("u1")).unwrap().email_language,
        None
    );
    model["email_language"] = json!(null);
    http.answer(200, &ok(json!({ "user": model.clone() })));
    assert_eq!(
        block_on(client.get_user("u1")).unwrap().email_language,
        None
    );
    model["email_language"] = json!("de");
    http.answer(200, &ok(json!({ "user": model.clone() })));
    let user = block_on(client.get_user("u1")).unwrap();
    assert_eq!(user.email_language.as_deref(), Some("de"));
    assert_eq!(user_to_json(&user)["email_language"], "de");
    model["email_language"] = json!(7);
    http.answer(200, &ok(json!({ "user": model })));
    assert!(matches!(
        block_on(client.get_user("u1")),
        Err(UserStoreError::Failed(_))
    ));
}

#[test]
fn email_providers_send_the_expected_requests() {
    let http = Rc::new(FakeHttp::default());
    let webhook: Rc<dyn EmailDelivery> = Rc::new(WebhookDelivery::new(
        "http://hooks.local/mail",
        Some("hook".into()),
        http.clone(),
    ));
    let sender = RenderingEmailSender::new("Acme", webhook);
    http.answer(204, "");
    block_on(sender.send_user_password_reset_temporary_password("a@b", "Al", "ABCDEFGHJKLM"))
        .unwrap();
    let request = http.last();
    assert!(request
        .headers
        .contains(&("Authorization".into(), "Bearer hook".into())));
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["type"], "user_password_reset_temporary_password");
    assert_eq!(body["to"], "a@b");
    assert_eq!(body["data"]["temporary_password"], "ABCDEFGHJKLM");
    assert_eq!(body["data"]["display_name"], "Al");
    assert!(body["text"].as_str().unwrap().contains("Acme"));
    assert!(body["html"].as_str().unwrap().contains("ABCDEFGHJKLM"));
    http.answer(200, "");
    block_on(sender.send_user_email_address_updated_notification(
        "old@b",
        "",
        "new@b",
        1_700_000_000_999,
    ))
    .unwrap();
    let body: Value = serde_json::from_str(http.last().body.as_deref().unwrap()).unwrap();
    assert_eq!(body["data"]["new_email_address"], "new@b");
    assert_eq!(body["data"]["timestamp"], 1_700_000_000);
    http.answer(500, "down");
    assert!(block_on(sender.send_user_signed_in_notification("a@b", "", 0)).is_err());
    http.fail();
    assert!(block_on(sender.send_user_password_updated_notification("a@b", "", 0)).is_err());

    let resend = RenderingEmailSender::new(
        "Acme",
        Rc::new(ResendDelivery::new(
            "https://api.resend.test/",
            "re_key",
            "Acme <no-reply@acme.test>",
            http.clone(),
        )),
    );
    http.answer(200, "{}");
    block_on(resend.send_signup_email_address_verification_code("a@b", "ABCDEFGH")).unwrap();
    let request = http.last();
    assert_eq!(request.url, "https://api.resend.test/emails");
    assert!(request
        .headers
        .contains(&("Authorization".into(), "Bearer re_key".into())));
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["to"], json!(["a@b"]));
    assert_eq!(body["from"], "Acme <no-reply@acme.test>");
    assert!(body["text"].as_str().unwrap().contains("ABCDEFGH"));

    let postmark = RenderingEmailSender::new(
        "Acme",
        Rc::new(PostmarkDelivery::new(
            "https://api.postmark.test",
            "pm_token",
            "no-reply@acme.test",
            http.clone(),
        )),
    );
    http.answer(200, "{}");
    block_on(
        postmark.send_user_email_address_update_email_address_verification_code(
            "n@b", "Al", "ZZZZZZZZ",
        ),
    )
    .unwrap();
    let request = http.last();
    assert_eq!(request.url, "https://api.postmark.test/email");
    assert!(request
        .headers
        .contains(&("X-Postmark-Server-Token".into(), "pm_token".into())));
    let body: Value = serde_json::from_str(request.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["To"], "n@b");
    assert_eq!(body["MessageStream"], "outbound");
    assert!(body["HtmlBody"].as_str().unwrap().contains("ZZZZZZZZ"));
}

#[test]
fn pwned_passwords_range_check() {
    let http = Rc::new(FakeHttp::default());
    let checker = PwnedPasswordsChecker::new("https://pwned.test/", http.clone());
    let sha1 = faroe_worker::password::pwned_sha1_hex("password123");
    let listed = format!("{}:99\r\nshort\r\n", sha1[5..].to_uppercase());
    http.answer(200, &listed);
    assert_eq!(
        block_on(checker.is_strong_password("password123")),
        Ok(false)
    );
    assert_eq!(
        http.last().url,
        format!("https://pwned.test/range/{}", &sha1[..5])
    );
    assert_eq!(http.last().method, "GET");
    http.answer(200, "0018A45C4D1DEF81644B54AB7F969B88D65:1\n");
    assert_eq!(
        block_on(checker.is_strong_password("password123")),
        Ok(true)
    );
    http.answer(429, "");
    assert!(block_on(checker.is_strong_password("x")).is_err());
    http.fail();
    assert!(block_on(checker.is_strong_password("x")).is_err());
}
