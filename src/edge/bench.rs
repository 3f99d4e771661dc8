//! Benchmark-only routes, compiled in only with the `bench` cargo feature (never in a deployed
//! build): a baseline that touches no storage, storage "floors" that do only the storage reads of
//! an endpoint path, and a password-hash route that runs the project's Argon2id inside workerd so
//! it can be timed from outside.
//!
//! With the request header `X-Faroe-Bench-Count`, an endpoint request runs on a copy of the
//! server whose ports count every call, and the answer carries the counts (`X-Faroe-Bench-Counts`):
//! the subrequests each action makes, for `npm run scale` and `tests/e2e/subrequests.test.mjs`.
//!
//! The same feature also exports a few plain functions through wasm-bindgen so that `npm run
//! bench` can load this crate's wasm in Node (built with `wasm-bindgen --target nodejs`) and time
//! the identical hashing code there, next to hash-wasm.

use crate::password::Argon2id;
use crate::ports::{
    Cache, EmailSender, MainStorage, Millis, PasswordHashAlgorithm, PasswordStrengthChecker,
    RateLimitEntry, RateLimitStorage, StorageError, StoredEntry, User, UserStore, UserStoreError,
};
use crate::server::{PasswordConfig, Ports, Server};
use async_trait::async_trait;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use worker::{Env, Request, Response, Result};

/// Current size of wasm linear memory in bytes (it only ever grows).
fn memory_bytes() -> usize {
    core::arch::wasm32::memory_size(0) * 65536
}

/// `Argon2id::hash_sync`'s computation with block memory allocated (and zeroed) for this one hash
/// instead of the kept per-thread buffer.
fn hash_fresh(
    algorithm: &Argon2id,
    password: &[u8],
    salt: &[u8],
) -> std::result::Result<usize, String> {
    let params = algorithm.own_params();
    let mut memory = vec![crate::argon2id::Block::default(); params.block_count()];
    let mut output = vec![0u8; params.output_len()];
    crate::argon2id::hash_into(params, password, salt, &mut output, &mut memory)
        .map_err(|e| e.to_string())?;
    Ok(output.len())
}

thread_local! {
    static CRATE_BLOCKS: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Argon2id through the `argon2` crate with a kept block buffer: what `Argon2id::hash_sync` ran
/// in wasm before it used `crate::argon2id`.
fn hash_argon2_crate(id: &str, password: &[u8], salt: &[u8]) -> std::result::Result<usize, String> {
    let algorithm = Argon2id::from_id(id)?;
    let params = algorithm.argon2_crate_params().clone();
    let block_count = params.block_count();
    let mut output = vec![0u8; algorithm.own_params().output_len()];
    let hasher = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    CRATE_BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < block_count {
            *blocks = Vec::new();
            *blocks = vec![argon2::Block::default(); block_count];
        }
        hasher
            .hash_password_into_with_memory(password, salt, &mut output, &mut blocks[..block_count])
            .map_err(|e| e.to_string())
    })?;
    Ok(output.len())
}

fn hash_once(id: &str, fresh: bool) -> std::result::Result<usize, String> {
    let algorithm = Argon2id::from_id(id)?;
    let salt = crate::crypto::generate_salt(16);
    if fresh {
        hash_fresh(&algorithm, b"benchmark-password", &salt)
    } else {
        algorithm
            .hash_sync(b"benchmark-password", &salt)
            .map(|h| h.len())
    }
}

/// One Argon2id hash with the project's `Argon2id::hash_sync`; returns the hash length.
#[wasm_bindgen]
pub fn bench_hash(algorithm: &str) -> std::result::Result<usize, JsError> {
    hash_once(algorithm, false).map_err(|e| JsError::new(&e))
}

/// One Argon2id hash like `bench_hash`, with a freshly allocated block buffer.
#[wasm_bindgen]
pub fn bench_hash_fresh(algorithm: &str) -> std::result::Result<usize, JsError> {
    hash_once(algorithm, true).map_err(|e| JsError::new(&e))
}

/// One Argon2id hash with the `argon2` crate (kept buffer of its own), for comparison.
#[wasm_bindgen]
pub fn bench_hash_argon2_crate(algorithm: &str) -> std::result::Result<usize, JsError> {
    let salt = crate::crypto::generate_salt(16);
    hash_argon2_crate(algorithm, b"benchmark-password", &salt).map_err(|e| JsError::new(&e))
}

/// The hex hash of `password` under `salt` (both UTF-8), so the bench can check every build
/// against hash-wasm before timing it.
#[wasm_bindgen]
pub fn bench_hash_hex(
    algorithm: &str,
    password: &str,
    salt: &str,
) -> std::result::Result<String, JsError> {
    let hash = Argon2id::from_id(algorithm)
        .and_then(|a| a.hash_sync(password.as_bytes(), salt.as_bytes()))
        .map_err(|e| JsError::new(&e))?;
    Ok(crate::encoding::hex(&hash))
}

/// Sizes the kept block buffer for the largest of the comma-separated algorithm ids, as the
/// Worker does for its configured algorithms (`Argon2id::plan_block_memory`).
#[wasm_bindgen]
pub fn bench_plan_block_memory(algorithms: &str) -> std::result::Result<(), JsError> {
    let algorithms = algorithms
        .split(',')
        .map(Argon2id::from_id)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| JsError::new(&e))?;
    Argon2id::plan_block_memory(&algorithms);
    Ok(())
}

/// Size of this instance's wasm linear memory in bytes.
#[wasm_bindgen]
pub fn bench_memory_bytes() -> f64 {
    memory_bytes() as f64
}

const BASELINE_JSON: &str = r#"{"ok":true,"action_invocation_id":"baseline","values":{}}"#;

pub async fn handle(mut req: Request, env: &Env) -> Result<Response> {
    match req.path().as_str() {
        "/__bench/baseline" => Response::ok(BASELINE_JSON),
        // The platform's share of an endpoint: the body is read as the endpoint reads it, then
        // only the storage reads named in the query, one after another (`kv=<key>`: one Workers KV
        // read; `do=<key>`: one main-storage Durable Object read; `d1=<user id>`: one D1 user read),
        // and the baseline's fixed answer. No JSON, no resolver.
        "/__bench/floor" => {
            let url = req.url()?;
            let _body = req.bytes().await?;
            // The endpoint's own adapters, so a floor read costs what the endpoint's read costs.
            let deployment = match super::deployment(env) {
                Ok(deployment) => deployment,
                Err(message) => return Response::error(message, 500),
            };
            let ports = &deployment.server.ports;
            for (k, v) in url.query_pairs() {
                let read = match k.as_ref() {
                    "kv" => ports.cache.get(&v).await.map(drop),
                    "do" => ports.main_storage.get(&v).await.map(drop),
                    "d1" => match ports.user_store.get_user(&v).await {
                        Ok(_) | Err(UserStoreError::UserNotFound) => Ok(()),
                        Err(e) => return Response::error(e.to_string(), 500),
                    },
                    other => return Response::error(format!("unknown floor read {other}"), 400),
                };
                match read {
                    Ok(()) | Err(StorageError::NotFound) => {}
                    Err(e) => return Response::error(e.to_string(), 500),
                }
            }
            Response::ok(BASELINE_JSON)
        }
        "/__bench/memory" => Response::ok(format!("{{\"memory_bytes\":{}}}", memory_bytes())),
        "/__bench/hash" => {
            let url = req.url()?;
            let mut id = crate::password::DEFAULT_USER_PASSWORD_ALGORITHM.to_string();
            let mut fresh = false;
            // Several hashes in one request spread the request's own cost (a few ms through
            // wrangler's proxy) over them, so that timing from outside approaches the hash alone.
            let mut count = 1;
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "algorithm" => id = v.into_owned(),
                    "fresh" => fresh = v == "1",
                    "count" => match v.parse::<u32>() {
                        Ok(n @ 1..=16) => count = n,
                        _ => return Response::error("count must be 1 to 16", 400),
                    },
                    _ => {}
                }
            }
            if let Err(e) = Argon2id::from_id(&id) {
                return Response::error(e, 400);
            }
            // Hash in the isolate's Worker state: the deployment sizes the block buffer for the
            // configured algorithms (Argon2id::plan_block_memory) when it is built.
            if let Err(message) = super::deployment(env) {
                return Response::error(message, 500);
            }
            let mut len = 0;
            for _ in 0..count {
                match hash_once(&id, fresh) {
                    Ok(n) => len = n,
                    Err(e) => return Response::error(e, 500),
                }
            }
            Response::ok(format!(
                "{{\"hash_bytes\":{len},\"hashes\":{count},\"memory_bytes\":{}}}",
                memory_bytes()
            ))
        }
        _ => Response::error("not found", 404),
    }
}

// ---------------------------------------------------------------- subrequest counting

/// Request header that asks for counting; the answer then carries [`COUNTS_HEADER`].
pub const COUNT_REQUEST_HEADER: &str = "X-Faroe-Bench-Count";
/// Response header: the JSON object of what the request called, by `<port>.<operation>`.
pub const COUNTS_HEADER: &str = "X-Faroe-Bench-Counts";

/// What one request called through its ports, by `<port>.<operation>`: one entry per call
/// (`main.get`: one main-storage Durable Object request, `kv.set`: one KV write, `users.get_user`:
/// one D1 query or user-server fetch, `email.*`: one delivery, `hash.user`: one Argon2id hash …),
/// plus what the objects reported doing inside (`do.rows_read`, `do.rows_written`,
/// `do.alarms_set`, `do.delete_alls`). Counted per request, on that request's own server, so
/// concurrent requests never mix their figures.
#[derive(Default)]
pub struct Counts(std::cell::RefCell<std::collections::BTreeMap<&'static str, usize>>);

impl Counts {
    fn add(&self, name: &'static str, n: usize) {
        *self.0.borrow_mut().entry(name).or_default() += n;
    }

    /// One Durable Object call that started at `started` (Worker clock, ms), with what the
    /// object reported doing inside it. `do.call_ms` sums the calls' round trips as the Worker
    /// sees them (its clock advances across I/O): an upper bound of the objects' active time.
    fn object_call(&self, name: &'static str, started: Millis) {
        self.add(name, 1);
        self.add(
            "do.call_ms",
            (super::now_millis() - started).max(0) as usize,
        );
        if let Some(cost) = super::durable_object::object_cost::take_last_call() {
            self.add("do.rows_read", cost.rows_read);
            self.add("do.rows_written", cost.rows_written);
            self.add("do.alarms_set", cost.alarms_set);
            self.add("do.delete_alls", cost.delete_alls);
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(&*self.0.borrow()).unwrap_or_else(|_| "{}".into())
    }
}

struct Counted<T: ?Sized> {
    inner: Rc<T>,
    counts: Rc<Counts>,
}

fn counted<T: ?Sized>(inner: &Rc<T>, counts: &Rc<Counts>) -> Counted<T> {
    Counted {
        inner: inner.clone(),
        counts: counts.clone(),
    }
}

/// The main storage under a name, so `main.*` and `rate_limit.*` stay apart.
struct CountedMain(Counted<dyn MainStorage>);
struct CountedRateLimit(Counted<dyn RateLimitStorage>);

#[async_trait(?Send)]
impl MainStorage for CountedMain {
    async fn get(&self, key: &str) -> std::result::Result<StoredEntry, StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.get(key).await;
        self.0.counts.object_call("main.get", started);
        r
    }
    async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.set(key, value, expires_at).await;
        self.0.counts.object_call("main.set", started);
        r
    }
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.update(key, value, expires_at, counter).await;
        self.0.counts.object_call("main.update", started);
        r
    }
    async fn delete(&self, key: &str) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.delete(key).await;
        self.0.counts.object_call("main.delete", started);
        r
    }
}

#[async_trait(?Send)]
impl RateLimitStorage for CountedRateLimit {
    async fn get(&self, key: &str) -> std::result::Result<RateLimitEntry, StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.get(key).await;
        self.0.counts.object_call("rate_limit.get", started);
        r
    }
    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        entry_id: &str,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.add(key, value, entry_id, expires_at).await;
        self.0.counts.object_call("rate_limit.add", started);
        r
    }
    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        entry_id: &str,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self
            .0
            .inner
            .update(key, value, expires_at, entry_id, counter)
            .await;
        self.0.counts.object_call("rate_limit.update", started);
        r
    }
    async fn delete(
        &self,
        key: &str,
        entry_id: &str,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.delete(key, entry_id, counter).await;
        self.0.counts.object_call("rate_limit.delete", started);
        r
    }
}

#[async_trait(?Send)]
impl Cache for Counted<dyn Cache> {
    async fn get(&self, key: &str) -> std::result::Result<Vec<u8>, StorageError> {
        self.counts.add("kv.get", 1);
        self.inner.get(key).await
    }
    async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        ttl: Millis,
    ) -> std::result::Result<(), StorageError> {
        self.counts.add("kv.set", 1);
        self.inner.set(key, value, ttl).await
    }
    async fn delete(&self, key: &str) -> std::result::Result<(), StorageError> {
        self.counts.add("kv.delete", 1);
        self.inner.delete(key).await
    }
}

#[async_trait(?Send)]
impl UserStore for Counted<dyn UserStore> {
    async fn create_user(
        &self,
        email_address: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
    ) -> std::result::Result<User, UserStoreError> {
        self.counts.add("users.create_user", 1);
        self.inner
            .create_user(
                email_address,
                password_hash,
                password_hash_algorithm_id,
                password_salt,
            )
            .await
    }
    async fn get_user(&self, user_id: &str) -> std::result::Result<User, UserStoreError> {
        self.counts.add("users.get_user", 1);
        self.inner.get_user(user_id).await
    }
    async fn get_user_by_email_address(
        &self,
        email_address: &str,
    ) -> std::result::Result<User, UserStoreError> {
        self.counts.add("users.get_user_by_email_address", 1);
        self.inner.get_user_by_email_address(email_address).await
    }
    async fn update_user_email_address(
        &self,
        user_id: &str,
        email_address: &str,
        email_address_counter: i32,
    ) -> std::result::Result<(), UserStoreError> {
        self.counts.add("users.update_user_email_address", 1);
        self.inner
            .update_user_email_address(user_id, email_address, email_address_counter)
            .await
    }
    async fn update_user_password_hash(
        &self,
        user_id: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
        password_hash_counter: i32,
    ) -> std::result::Result<(), UserStoreError> {
        self.counts.add("users.update_user_password_hash", 1);
        self.inner
            .update_user_password_hash(
                user_id,
                password_hash,
                password_hash_algorithm_id,
                password_salt,
                password_hash_counter,
            )
            .await
    }
    async fn increment_user_sessions_counter(
        &self,
        user_id: &str,
        sessions_counter: i32,
    ) -> std::result::Result<(), UserStoreError> {
        self.counts.add("users.increment_user_sessions_counter", 1);
        self.inner
            .increment_user_sessions_counter(user_id, sessions_counter)
            .await
    }
    async fn delete_user(&self, user_id: &str) -> std::result::Result<(), UserStoreError> {
        self.counts.add("users.delete_user", 1);
        self.inner.delete_user(user_id).await
    }
}

#[async_trait(?Send)]
impl EmailSender for Counted<dyn EmailSender> {
    async fn send_signup_email_address_verification_code(
        &self,
        email_address: &str,
        code: &str,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.signup_code", 1);
        self.inner
            .send_signup_email_address_verification_code(email_address, code)
            .await
    }
    async fn send_user_email_address_update_email_address_verification_code(
        &self,
        email_address: &str,
        display_name: &str,
        code: &str,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.email_update_code", 1);
        self.inner
            .send_user_email_address_update_email_address_verification_code(
                email_address,
                display_name,
                code,
            )
            .await
    }
    async fn send_user_password_reset_temporary_password(
        &self,
        email_address: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.temporary_password", 1);
        self.inner
            .send_user_password_reset_temporary_password(
                email_address,
                display_name,
                temporary_password,
            )
            .await
    }
    async fn send_user_signed_in_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.signed_in", 1);
        self.inner
            .send_user_signed_in_notification(email_address, display_name, timestamp)
            .await
    }
    async fn send_user_email_address_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.email_updated", 1);
        self.inner
            .send_user_email_address_updated_notification(
                email_address,
                display_name,
                new_email_address,
                timestamp,
            )
            .await
    }
    async fn send_user_password_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.password_updated", 1);
        self.inner
            .send_user_password_updated_notification(email_address, display_name, timestamp)
            .await
    }
}

#[async_trait(?Send)]
impl PasswordStrengthChecker for Counted<dyn PasswordStrengthChecker> {
    async fn is_strong_password(&self, password: &str) -> std::result::Result<bool, String> {
        self.counts.add("breach_check", 1);
        self.inner.is_strong_password(password).await
    }
}

/// A password algorithm that counts its hashes under `name` (`hash.user`, `hash.temporary`).
struct CountedHash {
    inner: Rc<dyn PasswordHashAlgorithm>,
    counts: Rc<Counts>,
    name: &'static str,
}

#[async_trait(?Send)]
impl PasswordHashAlgorithm for CountedHash {
    fn id(&self) -> &str {
        self.inner.id()
    }
    fn salt_size(&self) -> usize {
        self.inner.salt_size()
    }
    async fn hash(&self, password: &str, salt: &[u8]) -> std::result::Result<Vec<u8>, String> {
        self.counts.add(self.name, 1);
        self.inner.hash(password, salt).await
    }
}

/// A server for one counted request: `server`'s ports and algorithms, each behind a counter.
pub fn counting_server(
    server: &Server,
    counts: &Rc<Counts>,
) -> std::result::Result<Server, String> {
    let p = &server.ports;
    let ports = Ports {
        main_storage: Rc::new(CountedMain(counted(&p.main_storage, counts))),
        cache: Rc::new(counted(&p.cache, counts)),
        rate_limit_storage: Rc::new(CountedRateLimit(counted(&p.rate_limit_storage, counts))),
        user_store: Rc::new(counted(&p.user_store, counts)),
        email_sender: Rc::new(counted(&p.email_sender, counts)),
        password_strength_checker: Rc::new(counted(&p.password_strength_checker, counts)),
        ..p.clone()
    };
    let hash = |inner: &Rc<dyn PasswordHashAlgorithm>, name| {
        Rc::new(CountedHash {
            inner: inner.clone(),
            counts: counts.clone(),
            name,
        }) as Rc<dyn PasswordHashAlgorithm>
    };
    let passwords = PasswordConfig {
        user_password_algorithms: server
            .user_password_algorithms
            .iter()
            .map(|a| hash(a, "hash.user"))
            .collect(),
        temporary_password_algorithm: hash(&server.temporary_password_algorithm, "hash.temporary"),
    };
    Server::new(ports, server.session_config, passwords)
}
