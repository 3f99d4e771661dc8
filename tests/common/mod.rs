//! The conformance harness of spec §14.1: in-memory stores that never evict, a manual clock at
//! T0 = 1700000000 s, recording fakes, the cheap `test-*` algorithms and the fixtures U1 and U2.
#![allow(dead_code)]

use faroe_worker::adapters::memory::*;
use faroe_worker::extensions::{Extensions, TotpConfig};
use faroe_worker::ports::{Millis, PasswordHashAlgorithm, User};
use faroe_worker::{ActionFilter, PasswordConfig, Ports, RequestError, Server, SessionConfig};
use futures::executor::block_on;
use serde_json::{json, Map, Value};
use std::rc::Rc;

pub const T0: Millis = 1_700_000_000_000;
pub const T0_SECONDS: i64 = 1_700_000_000;
pub const SECOND: Millis = 1000;
pub const MINUTE: Millis = 60 * SECOND;
pub const DAY: Millis = 24 * 60 * MINUTE;

pub const U1_PASSWORD: &str = "correct-horse-1";
pub const U2_PASSWORD: &str = "correct-horse-2";

/// What the server is built from; change it and call [`Harness::rebuild`].
#[derive(Clone)]
pub struct HarnessConfig {
    pub session: SessionConfig,
    pub user_algorithms: Vec<&'static str>,
    pub temporary_algorithm: &'static str,
    /// Every extension off unless a test turns one on ([`Harness::with_totp`]).
    pub extensions: Extensions,
}

/// `TOTP_ENCRYPTION_KEYS` of the TOTP harness: one key, id `k1`.
pub const TOTP_KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// The TOTP extension on with `keys` (a `TOTP_ENCRYPTION_KEYS` value), issuer "Faroe Test".
pub fn totp_extensions(keys: &str) -> Extensions {
    Extensions {
        totp: Some(TotpConfig::from_keys_variable("Faroe Test", keys).expect("valid test keys")),
        ..Extensions::default()
    }
}

impl Default for HarnessConfig {
    fn default() -> Self {
        Self {
            session: SessionConfig {
                inactivity_timeout: 30 * DAY,
                activity_check_interval: 60 * SECOND,
                expiration: 0,
                cache_expiration: 60 * SECOND,
            },
            user_algorithms: vec!["test-a"],
            temporary_algorithm: "test-t",
            extensions: Extensions::default(),
        }
    }
}

pub struct Harness {
    pub server: Server,
    pub config: HarnessConfig,
    pub main: Rc<MemoryMainStorage>,
    pub cache: Rc<MemoryCache>,
    pub rate: Rc<MemoryRateLimitStorage>,
    pub users: Rc<MemoryUserStore>,
    pub email: Rc<RecordingEmailSender>,
    pub logger: Rc<RecordingLogger>,
    pub clock: Rc<ManualClock>,
    pub email_checker: Rc<ListEmailAddressChecker>,
    pub strength: Rc<ListPasswordStrengthChecker>,
    pub accounts: Rc<MemoryAccountStorage>,
}

pub fn hash_with_salt(password: &str, salt: &[u8]) -> Vec<u8> {
    Sha256TestAlgorithm::hash_sync(salt, password)
}

pub fn fixture_user(id: &str, email: &str, password: &str, display_name: &str) -> User {
    let salt = format!("salt-of-{id}-0123").into_bytes();
    User {
        id: id.to_string(),
        email_address: email.to_string(),
        password_hash: hash_with_salt(password, &salt),
        password_salt: salt,
        password_hash_algorithm_id: "test-a".to_string(),
        disabled: false,
        display_name: display_name.to_string(),
        email_address_counter: 0,
        password_hash_counter: 0,
        disabled_counter: 0,
        sessions_counter: 0,
        email_language: None,
    }
}

fn build_server(config: &HarnessConfig, ports: Ports) -> Server {
    let algorithms: Vec<Rc<dyn PasswordHashAlgorithm>> = config
        .user_algorithms
        .iter()
        .map(|id| Rc::new(Sha256TestAlgorithm::new(id)) as Rc<dyn PasswordHashAlgorithm>)
        .collect();
    Server::new(
        ports,
        config.session,
        PasswordConfig {
            user_password_algorithms: algorithms,
            temporary_password_algorithm: Rc::new(Sha256TestAlgorithm::new(
                config.temporary_algorithm,
            )),
        },
    )
    .and_then(|server| server.with_extensions(config.extensions.clone()))
    .expect("valid harness configuration")
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(HarnessConfig::default())
    }

    /// The harness with the TOTP extension on ([`TOTP_KEYS`]).
    pub fn with_totp() -> Self {
        Self::with_config(HarnessConfig {
            extensions: totp_extensions(TOTP_KEYS),
            ..HarnessConfig::default()
        })
    }

    pub fn with_session(session: SessionConfig) -> Self {
        Self::with_config(HarnessConfig {
            session,
            ..HarnessConfig::default()
        })
    }

    pub fn with_config(config: HarnessConfig) -> Self {
        let clock = Rc::new(ManualClock::new(T0));
        let main = Rc::new(MemoryMainStorage::new());
        let cache = Rc::new(MemoryCache::new(clock.clone()));
        let rate = Rc::new(MemoryRateLimitStorage::new());
        let users = Rc::new(MemoryUserStore::new());
        let email = Rc::new(RecordingEmailSender::new());
        let logger = Rc::new(RecordingLogger::new());
        let email_checker = Rc::new(ListEmailAddressChecker::new());
        let strength = Rc::new(ListPasswordStrengthChecker::conformance());
        let accounts = Rc::new(MemoryAccountStorage::new(clock.clone()));
        users.insert(fixture_user(
            "u1",
            "user1@example.com",
            U1_PASSWORD,
            "Alice",
        ));
        users.insert(fixture_user("u2", "user2@example.com", U2_PASSWORD, ""));
        let ports = Ports {
            main_storage: main.clone(),
            cache: cache.clone(),
            rate_limit_storage: rate.clone(),
            user_store: users.clone(),
            email_sender: email.clone(),
            error_logger: logger.clone(),
            clock: clock.clone(),
            email_address_checker: email_checker.clone(),
            password_strength_checker: strength.clone(),
            account_storage: accounts.clone(),
        };
        let server = build_server(&config, ports);
        Self {
            server,
            config,
            main,
            cache,
            rate,
            users,
            email,
            logger,
            clock,
            email_checker,
            strength,
            accounts,
        }
    }

    /// The server's ports over this harness's stores.
    pub fn ports(&self) -> Ports {
        Ports {
            main_storage: self.main.clone(),
            cache: self.cache.clone(),
            rate_limit_storage: self.rate.clone(),
            user_store: self.users.clone(),
            email_sender: self.email.clone(),
            error_logger: self.logger.clone(),
            clock: self.clock.clone(),
            email_address_checker: self.email_checker.clone(),
            password_strength_checker: self.strength.clone(),
            account_storage: self.accounts.clone(),
        }
    }

    /// Rebuilds the server from `self.config` over the same stores (a reconfigured deployment).
    pub fn rebuild(&mut self) {
        self.server = build_server(&self.config, self.ports());
    }

    /// Rebuilds the server over the same stores with other password algorithms (real Argon2id,
    /// or a test algorithm that counts its calls).
    pub fn rebuild_with_algorithms(
        &mut self,
        user: Rc<dyn PasswordHashAlgorithm>,
        temporary: Rc<dyn PasswordHashAlgorithm>,
    ) {
        self.server = Server::new(
            self.ports(),
            self.config.session,
            PasswordConfig {
                user_password_algorithms: vec![user],
                temporary_password_algorithm: temporary,
            },
        )
        .and_then(|server| server.with_extensions(self.config.extensions.clone()))
        .expect("valid harness configuration");
    }

    /// Moves the clock to T0 + `seconds`.
    pub fn at(&self, seconds: i64) {
        self.clock.set(T0 + seconds * 1000);
    }

    pub fn now_seconds(&self) -> i64 {
        use faroe_worker::ports::Clock;
        self.clock.now() / 1000
    }

    /// Sends a raw body; `Err` is a request error (HTTP 400).
    pub fn raw(&self, body: &str) -> Result<String, RequestError> {
        block_on(self.server.resolve(body.as_bytes()))
    }

    pub fn raw_filtered(&self, body: &str, filter: &ActionFilter) -> Result<String, RequestError> {
        block_on(self.server.resolve_with_filter(body.as_bytes(), filter))
    }

    /// Invokes an action and returns the parsed result object (asserting it is one).
    pub fn call(&self, action: &str, arguments: Value) -> Value {
        let body = json!({ "action": action, "arguments": arguments }).to_string();
        let result = self
            .raw(&body)
            .unwrap_or_else(|e| panic!("{action}: unexpected request error: {e}"));
        let parsed: Value = serde_json::from_str(&result).expect("result is JSON");
        assert_result_shape(&parsed);
        parsed
    }

    /// Invokes an action that must succeed; returns `values`.
    pub fn ok(&self, action: &str, arguments: Value) -> Map<String, Value> {
        let result = self.call(action, arguments);
        assert_eq!(
            result["ok"],
            json!(true),
            "{action} failed: {}",
            result["error_code"]
        );
        result["values"]
            .as_object()
            .cloned()
            .expect("values object")
    }

    /// Invokes an action that must fail; returns the error code.
    pub fn err(&self, action: &str, arguments: Value) -> String {
        let result = self.call(action, arguments);
        assert_eq!(
            result["ok"],
            json!(false),
            "{action} unexpectedly succeeded"
        );
        result["error_code"].as_str().unwrap().to_string()
    }

    /// Asserts the error code and that nothing was logged by this call.
    pub fn err_unlogged(&self, action: &str, arguments: Value, code: &str) {
        let before = self.logger.entries().len();
        assert_eq!(self.err(action, arguments), code, "{action}");
        assert_eq!(
            self.logger.entries().len(),
            before,
            "{action} logged for {code}"
        );
    }

    /// Asserts `internal_error` with exactly one log entry for this invocation.
    pub fn err_internal(&self, action: &str, arguments: Value) {
        let before = self.logger.entries().len();
        let result = self.call(action, arguments);
        assert_eq!(result["error_code"], json!("internal_error"), "{action}");
        let entries = self.logger.entries();
        assert_eq!(entries.len(), before + 1, "{action}: exactly one log entry");
        let entry = entries.last().unwrap();
        assert_eq!(entry.action, action);
        assert_eq!(
            json!(entry.action_invocation_id),
            result["action_invocation_id"]
        );
        use faroe_worker::ports::Clock;
        assert_eq!(entry.timestamp, self.clock.now());
    }

    // ---- macros of spec §14.1 ----

    pub fn create_signin(&self, email: &str) -> String {
        self.ok("create_signin", json!({ "user_email_address": email }))["signin_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// SIGNIN(U): create, verify the correct password, complete. Returns the session token.
    pub fn signin(&self, email: &str, password: &str) -> String {
        let token = self.create_signin(email);
        self.ok(
            "verify_signin_user_password",
            json!({ "signin_token": token, "password": password }),
        );
        self.ok("complete_signin", json!({ "signin_token": token }))["session_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn signin_u1(&self) -> String {
        self.signin("user1@example.com", U1_PASSWORD)
    }

    /// Creates a signup and returns (token, code from the email fake).
    pub fn create_signup(&self, email: &str) -> (String, String) {
        let values = self.ok("create_signup", json!({ "email_address": email }));
        let code = self.email.last().expect("code email").secret;
        (values["signup_token"].as_str().unwrap().to_string(), code)
    }

    /// SIGNUP_READY(E): create, verify the code, set "correct-horse-9".
    pub fn signup_ready(&self, email: &str) -> String {
        let (token, code) = self.create_signup(email);
        self.ok(
            "verify_signup_email_address_verification_code",
            json!({ "signup_token": token, "email_address_verification_code": code }),
        );
        self.ok(
            "set_signup_password",
            json!({ "signup_token": token, "password": "correct-horse-9" }),
        );
        token
    }

    pub fn session_id(token: &str) -> &str {
        token.split('.').next().unwrap()
    }

    /// The count of a token bucket in rate-limit storage, if the key exists.
    pub fn bucket_count(&self, key: &str) -> Option<u8> {
        self.rate.value(key).map(|v| v[0])
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

/// Every result object: boolean ok, a 24-char invocation id, and values or error_code.
pub fn assert_result_shape(result: &Value) {
    let id = result["action_invocation_id"]
        .as_str()
        .expect("invocation id");
    assert!(is_id(id), "invocation id {id}");
    if result["ok"] == json!(true) {
        assert!(result["values"].is_object());
        assert!(result.get("error_code").is_none());
    } else {
        assert_eq!(result["ok"], json!(false));
        assert!(result["error_code"].is_string());
        assert!(result.get("values").is_none());
    }
}

pub fn is_id(s: &str) -> bool {
    s.len() == 24
        && s.bytes()
            .all(|b| b"abcdefghijkmnpqrstuvwxyz23456789".contains(&b))
}

pub fn is_token(s: &str) -> bool {
    match s.split_once('.') {
        Some((id, secret)) => is_id(id) && is_id(secret),
        None => false,
    }
}

pub fn is_code(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(&b))
}

/// Replaces the secret of a token with another valid-looking one.
pub fn wrong_secret(token: &str) -> String {
    let id = token.split('.').next().unwrap();
    format!("{id}.aaaaaaaaaaaaaaaaaaaaaaaa")
}
