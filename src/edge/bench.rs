//! Benchmark-only routes, compiled in only with the `bench` cargo feature (never in a deployed
//! build): a baseline that touches no storage, storage "floors" that do only the storage reads of
//! an endpoint path, and a password-hash route that runs the project's Argon2id inside workerd so
//! it can be timed from outside.
//!
//! The same feature also exports a few plain functions through wasm-bindgen so that `npm run
//! bench` can load this crate's wasm in Node (built with `wasm-bindgen --target nodejs`) and time
//! the identical hashing code there, next to hash-wasm.

use crate::password::Argon2id;
use crate::ports::{StorageError, UserStoreError};
use crate::webauthn::{
    parse_authentication_response, PublicKey, RelyingParty, StoredCredential, UserVerification,
};
use js_sys::{Array, Function, Promise, Reflect, Uint8Array};
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
