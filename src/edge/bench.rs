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
use crate::webauthn::{
    parse_authentication_response, PublicKey, RelyingParty, StoredCredential, UserVerification,
};
use async_trait::async_trait;
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
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

thread_local! {
    /// argon2-rust's own kept arena (`Hasher`), re-pointed at each algorithm.
    static ARGON2_RUST: std::cell::RefCell<Option<argon2_rust::Hasher>> =
        const { std::cell::RefCell::new(None) };
}

/// Argon2id through the `argon2-rust` crate (its simd128 fill in this build) with its pooled
/// arena, which it wipes after every hash (its `zeroize-memory` default); writes the tag into `out`.
fn hash_argon2_rust(
    algorithm: &Argon2id,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> std::result::Result<(), String> {
    use argon2_rust::params::{Memory, TagLen};
    let own = algorithm.own_params();
    let crate_params = algorithm.argon2_crate_params();
    let params = argon2_rust::Params::builder()
        .memory(Memory::kib(u64::from(crate_params.m_cost())))
        .passes(crate_params.t_cost())
        .lanes(crate_params.p_cost())
        .threads(1)
        .tag_len(TagLen::bytes(own.output_len() as u64))
        .build()
        .map_err(|e| e.to_string())?;
    let argon2 = argon2_rust::Argon2::new(
        argon2_rust::Algorithm::Argon2id,
        argon2_rust::Version::V0x13,
        params,
    );
    ARGON2_RUST.with(|cell| {
        let mut hasher = cell.borrow_mut();
        let hasher = hasher.get_or_insert_with(|| argon2.hasher());
        hasher.set_argon2(argon2);
        hasher
            .hash_into(password, salt, out)
            .map_err(|e| e.to_string())
    })
}

/// Which Argon2id implementation a bench hash runs.
#[derive(Clone, Copy, PartialEq)]
enum Implementation {
    /// `Argon2id::hash_sync`: src/argon2id.rs with the kept block buffer (what the Worker runs).
    Project,
    /// The same with block memory allocated per hash.
    ProjectFresh,
    /// The RustCrypto `argon2` crate with a kept buffer.
    Argon2Crate,
    /// The `argon2-rust` crate with its pooled arena.
    Argon2Rust,
}

impl Implementation {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "project" => Some(Self::Project),
            "argon2-crate" => Some(Self::Argon2Crate),
            "argon2-rust" => Some(Self::Argon2Rust),
            _ => None,
        }
    }
}

/// One hash of `b"benchmark-password"` with a random salt; returns the tag length.
fn hash_with(id: &str, implementation: Implementation) -> std::result::Result<usize, String> {
    let algorithm = Argon2id::from_id(id)?;
    let salt = crate::crypto::generate_salt(16);
    let password = b"benchmark-password";
    match implementation {
        Implementation::Project => algorithm.hash_sync(password, &salt).map(|h| h.len()),
        Implementation::ProjectFresh => hash_fresh(&algorithm, password, &salt),
        Implementation::Argon2Crate => hash_argon2_crate(id, password, &salt),
        Implementation::Argon2Rust => {
            let mut out = vec![0u8; algorithm.own_params().output_len()];
            hash_argon2_rust(&algorithm, password, &salt, &mut out)?;
            Ok(out.len())
        }
    }
}

fn hash_once(id: &str, fresh: bool) -> std::result::Result<usize, String> {
    let implementation = if fresh {
        Implementation::ProjectFresh
    } else {
        Implementation::Project
    };
    hash_with(id, implementation)
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
    hash_with(algorithm, Implementation::Argon2Crate).map_err(|e| JsError::new(&e))
}

/// One Argon2id hash with the `argon2-rust` crate (its pooled arena), for comparison.
#[wasm_bindgen]
pub fn bench_hash_argon2_rust(algorithm: &str) -> std::result::Result<usize, JsError> {
    hash_with(algorithm, Implementation::Argon2Rust).map_err(|e| JsError::new(&e))
}

/// `bench_hash_hex` computed by the `argon2-rust` crate.
#[wasm_bindgen]
pub fn bench_hash_hex_argon2_rust(
    algorithm: &str,
    password: &str,
    salt: &str,
) -> std::result::Result<String, JsError> {
    let algorithm = Argon2id::from_id(algorithm).map_err(|e| JsError::new(&e))?;
    let mut out = vec![0u8; algorithm.own_params().output_len()];
    hash_argon2_rust(&algorithm, password.as_bytes(), salt.as_bytes(), &mut out)
        .map_err(|e| JsError::new(&e))?;
    Ok(crate::encoding::hex(&out))
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

/// One real assertion per algorithm (Chromium's virtual authenticator, tests/webauthn), with the
/// credential its registration yielded.
struct AssertionVector {
    rp: RelyingParty,
    challenge: Vec<u8>,
    response_json: String,
    public_key_cose: Vec<u8>,
    public_key: PublicKey,
    credential_id: Vec<u8>,
    sign_count: u32,
}

fn assertion_vector(algorithm: &str) -> std::result::Result<AssertionVector, String> {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../../tests/webauthn/chromium-fixture.json"))
            .map_err(|e| e.to_string())?;
    let case = fixture["cases"]
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["algorithm"] == algorithm))
        .ok_or_else(|| format!("no fixture for algorithm {algorithm}"))?;
    let rp = RelyingParty {
        id: fixture["rpId"].as_str().unwrap_or_default().to_string(),
        name: "bench".to_string(),
        origins: vec![fixture["origin"].as_str().unwrap_or_default().to_string()],
        top_origins: vec![],
        user_verification: UserVerification::Required,
        timeout_ms: 60_000,
    };
    let challenge = |ceremony: &str| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(case[ceremony]["challenge"].as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    };
    let credential = rp
        .verify_registration(
            &challenge("registration")?,
            &case["registration"]["response"].to_string(),
        )
        .map_err(|e| e.to_string())?;
    Ok(AssertionVector {
        challenge: challenge("authentication")?,
        response_json: case["authentication"]["response"].to_string(),
        public_key: PublicKey::from_cose(&credential.public_key).map_err(|e| e.to_string())?,
        public_key_cose: credential.public_key,
        credential_id: credential.id,
        sign_count: credential.sign_count,
        rp,
    })
}

/// What an action would do per assertion: parse the response JSON and the stored COSE key, then
/// verify everything (client data, authenticator data, signature, counter).
fn verify_assertion_in_rust(vector: &AssertionVector) -> std::result::Result<(), String> {
    let response =
        parse_authentication_response(&vector.response_json).map_err(|e| e.to_string())?;
    let public_key = PublicKey::from_cose(&vector.public_key_cose).map_err(|e| e.to_string())?;
    let stored = StoredCredential {
        id: &vector.credential_id,
        public_key: &public_key,
        sign_count: vector.sign_count,
    };
    vector
        .rp
        .verify_authentication(&vector.challenge, &response, &stored)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn js_error(e: JsValue) -> String {
    format!("{e:?}")
}

fn js_json(text: &str) -> std::result::Result<JsValue, String> {
    js_sys::JSON::parse(text).map_err(js_error)
}

async fn call_subtle(
    subtle: &JsValue,
    method: &str,
    args: &[&JsValue],
) -> std::result::Result<JsValue, String> {
    let function: Function = Reflect::get(subtle, &method.into())
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)?;
    let array = Array::new();
    for arg in args {
        array.push(arg);
    }
    let promise: Promise = function
        .apply(subtle, &array)
        .map_err(js_error)?
        .dyn_into()
        .map_err(js_error)?;
    JsFuture::from(promise).await.map_err(js_error)
}

/// The WebCrypto design's signature step: `crypto.subtle.importKey` of the stored key (unless
/// `imported` is given) and `crypto.subtle.verify` of the assertion's signature, as workerd runs
/// them (BoringSSL). Returns the imported key.
async fn verify_signature_with_subtle(
    vector: &AssertionVector,
    message: &[u8],
    signature: &[u8],
    imported: Option<JsValue>,
) -> std::result::Result<JsValue, String> {
    let subtle = Reflect::get(&js_sys::global(), &"crypto".into())
        .and_then(|crypto| Reflect::get(&crypto, &"subtle".into()))
        .map_err(js_error)?;
    let (format, key_data, import_algorithm, verify_algorithm, signature): (
        &str,
        JsValue,
        &str,
        &str,
        Vec<u8>,
    ) = match &vector.public_key {
        PublicKey::Es256(key) => (
            "raw",
            Uint8Array::from(key.to_encoded_point(false).as_bytes()).into(),
            r#"{"name":"ECDSA","namedCurve":"P-256"}"#,
            r#"{"name":"ECDSA","hash":"SHA-256"}"#,
            // WebCrypto takes r ‖ s, WebAuthn sends DER.
            p256::ecdsa::Signature::from_der(signature)
                .map_err(|e| e.to_string())?
                .to_bytes()
                .to_vec(),
        ),
        PublicKey::EdDsa(key) => (
            "raw",
            Uint8Array::from(&key.as_bytes()[..]).into(),
            r#"{"name":"Ed25519"}"#,
            r#"{"name":"Ed25519"}"#,
            signature.to_vec(),
        ),
        PublicKey::Rs256(key) => {
            use rsa::traits::PublicKeyParts;
            let b64 = crate::webauthn::base64url_encode;
            let jwk = format!(
                r#"{{"kty":"RSA","n":"{}","e":"{}"}}"#,
                b64(&key.n().to_bytes_be()),
                b64(&key.e().to_bytes_be())
            );
            (
                "jwk",
                js_json(&jwk)?,
                r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#,
                r#"{"name":"RSASSA-PKCS1-v1_5"}"#,
                signature.to_vec(),
            )
        }
    };
    let key = match imported {
        Some(key) => key,
        None => {
            call_subtle(
                &subtle,
                "importKey",
                &[
                    &format.into(),
                    &key_data,
                    &js_json(import_algorithm)?,
                    &JsValue::FALSE,
                    &Array::of1(&"verify".into()),
                ],
            )
            .await?
        }
    };
    let valid = call_subtle(
        &subtle,
        "verify",
        &[
            &js_json(verify_algorithm)?,
            &key,
            &Uint8Array::from(&signature[..]),
            &Uint8Array::from(message),
        ],
    )
    .await?;
    if valid.as_bool() != Some(true) {
        return Err("crypto.subtle.verify returned false".to_string());
    }
    Ok(key)
}

/// `count` verifications of the fixture assertion of `algorithm`, `via` one of: `rust` (the
/// whole `verify_authentication`, JSON and COSE parsing included), `rust-signature` (only
/// `PublicKey::verify`), `subtle` (`importKey` + `verify` each time), `subtle-verify` (one
/// `importKey`, then `verify` each time).
async fn bench_webauthn(algorithm: &str, via: &str, count: u32) -> std::result::Result<(), String> {
    let vector = assertion_vector(algorithm)?;
    let response =
        parse_authentication_response(&vector.response_json).map_err(|e| e.to_string())?;
    let mut message = response.authenticator_data.clone();
    {
        use sha2::Digest;
        message.extend_from_slice(&sha2::Sha256::digest(&response.client_data_json));
    }
    let mut imported = None;
    for _ in 0..count {
        match via {
            "rust" => verify_assertion_in_rust(&vector)?,
            "rust-signature" => vector
                .public_key
                .verify(&message, &response.signature)
                .map_err(|e| e.to_string())?,
            "subtle" => {
                verify_signature_with_subtle(&vector, &message, &response.signature, None).await?;
            }
            "subtle-verify" => {
                let key = verify_signature_with_subtle(
                    &vector,
                    &message,
                    &response.signature,
                    imported.take(),
                )
                .await?;
                imported = Some(key);
            }
            other => return Err(format!("unknown via {other}")),
        }
    }
    Ok(())
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
        // WebAuthn assertion verification, timed from outside (docs/extensions.md).
        "/__bench/webauthn" => {
            let url = req.url()?;
            let (mut algorithm, mut via, mut count) = ("ES256".to_string(), "rust".to_string(), 1);
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "algorithm" => algorithm = v.into_owned(),
                    "via" => via = v.into_owned(),
                    "count" => match v.parse::<u32>() {
                        Ok(n @ 0..=5000) => count = n,
                        _ => return Response::error("count must be 0 to 5000", 400),
                    },
                    _ => {}
                }
            }
            match bench_webauthn(&algorithm, &via, count).await {
                Ok(()) => Response::ok(format!("{{\"verifications\":{count}}}")),
                Err(e) => Response::error(e, 500),
            }
        }
        "/__bench/memory" => Response::ok(format!("{{\"memory_bytes\":{}}}", memory_bytes())),
        "/__bench/hash" => {
            let url = req.url()?;
            let mut id = crate::password::DEFAULT_USER_PASSWORD_ALGORITHM.to_string();
            let mut fresh = false;
            let mut implementation = Implementation::Project;
            // Several hashes in one request spread the request's own cost (a few ms through
            // wrangler's proxy) over them, so that timing from outside approaches the hash alone.
            let mut count = 1;
            for (k, v) in url.query_pairs() {
                match k.as_ref() {
                    "algorithm" => id = v.into_owned(),
                    "fresh" => fresh = v == "1",
                    // `impl=project|argon2-crate|argon2-rust`: which Argon2id runs.
                    "impl" => match Implementation::parse(&v) {
                        Some(i) => implementation = i,
                        None => return Response::error("unknown impl", 400),
                    },
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
            if fresh {
                if implementation != Implementation::Project {
                    return Response::error("fresh=1 is for impl=project only", 400);
                }
                implementation = Implementation::ProjectFresh;
            }
            let mut len = 0;
            for _ in 0..count {
                match hash_with(&id, implementation) {
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
    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let started = super::now_millis();
        let r = self.0.inner.add(key, value, expires_at).await;
        self.0.counts.object_call("main.add", started);
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
    fn for_languages(&self, hints: crate::ports::LanguageHints<'_>) -> Option<Rc<dyn EmailSender>> {
        let inner = self.inner.for_languages(hints)?;
        Some(Rc::new(counted(&inner, &self.counts)))
    }
    async fn send_user_second_factor_added_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.second_factor_added", 1);
        self.inner
            .send_user_second_factor_added_notification(
                email_address,
                display_name,
                second_factor,
                timestamp,
            )
            .await
    }
    async fn send_user_second_factor_removed_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> std::result::Result<(), String> {
        self.counts.add("email.second_factor_removed", 1);
        self.inner
            .send_user_second_factor_removed_notification(
                email_address,
                display_name,
                second_factor,
                timestamp,
            )
            .await
    }
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
    // A copy of the deployment's server (extensions, email language) over the counting ports.
    Ok(Server {
        ports,
        user_password_algorithms: passwords.user_password_algorithms,
        temporary_password_algorithm: passwords.temporary_password_algorithm,
        ..server.clone()
    })
}
