//! Test-only fault switches, compiled in only with the `test-faults` cargo feature (never in a
//! deployed build): a request header
//! `X-Faroe-Test-Fault: kv | main-storage | rate-limit-storage | account-storage` runs that one
//! request on a server whose adapter of that name fails every call, and
//! `X-Faroe-Test-Fault: count-hashes` on one that logs a `test-hash` line per user password hash
//! (for counting the hashes that concurrent requests run).
//!
//! `POST /__test/account-storage` (bearer secret required) runs one `AccountStorage` operation on
//! the ACCOUNT_STORAGE objects, so the end-to-end tests reach the whole object protocol (`list`,
//! expiry, counters), also the parts no action uses yet.

use super::durable_object::ObjectStoreClient;
use super::kv_cache::KvSessionCache;
use crate::extensions::Extensions;
use crate::ports::{AccountStorage, PasswordHashAlgorithm, StorageError};
use crate::server::{PasswordConfig, Ports, Server, SessionConfig};
use async_trait::async_trait;
use std::rc::Rc;
use worker::{kv::KvStore, Env, ObjectNamespace, Request, Response, Result};

/// A user password algorithm that logs each hash it runs.
struct LoggedHashes(Rc<dyn PasswordHashAlgorithm>);

#[async_trait(?Send)]
impl PasswordHashAlgorithm for LoggedHashes {
    fn id(&self) -> &str {
        self.0.id()
    }
    fn salt_size(&self) -> usize {
        self.0.salt_size()
    }
    async fn hash(&self, password: &str, salt: &[u8]) -> std::result::Result<Vec<u8>, String> {
        super::log_component("info", "test-hash", self.0.id());
        self.0.hash(password, salt).await
    }
}

/// What is needed to build a per-request server with one failing adapter.
pub struct Rebuild {
    pub ports: Ports,
    pub passwords: PasswordConfig,
    pub session: SessionConfig,
    pub extensions: Extensions,
    pub main_namespace: ObjectNamespace,
    pub rate_limit_namespace: ObjectNamespace,
    /// ACCOUNT_STORAGE, when bound.
    pub account_namespace: Option<ObjectNamespace>,
    pub kv: Option<KvStore>,
}

/// `Ok(None)` without the header; a 400 response for an unknown fault name.
pub fn server_for(rebuild: &Rebuild, fault: Option<String>) -> Result<Option<Server>> {
    let Some(fault) = fault else { return Ok(None) };
    let mut ports = rebuild.ports.clone();
    let mut passwords = rebuild.passwords.clone();
    match fault.as_str() {
        "count-hashes" => {
            for algorithm in &mut passwords.user_password_algorithms {
                *algorithm = Rc::new(LoggedHashes(algorithm.clone()));
            }
        }
        "kv" => match &rebuild.kv {
            Some(kv) => ports.cache = Rc::new(KvSessionCache::failing(kv.clone())),
            None => return Err("the kv fault needs the session cache enabled".into()),
        },
        "main-storage" => {
            ports.main_storage = Rc::new(ObjectStoreClient::failing(rebuild.main_namespace.clone()))
        }
        "rate-limit-storage" => {
            ports.rate_limit_storage = Rc::new(ObjectStoreClient::failing(
                rebuild.rate_limit_namespace.clone(),
            ))
        }
        "account-storage" => match &rebuild.account_namespace {
            Some(namespace) => {
                ports.account_storage = Rc::new(ObjectStoreClient::failing(namespace.clone()))
            }
            None => {
                return Err("the account-storage fault needs the ACCOUNT_STORAGE binding".into())
            }
        },
        other => return Err(format!("unknown test fault {other}").into()),
    }
    Server::new(ports, rebuild.session, passwords)
        .and_then(|server| server.with_extensions(rebuild.extensions.clone()))
        .map(Some)
        .map_err(Into::into)
}

pub const ACCOUNT_STORAGE_PROBE_PATH: &str = "/__test/account-storage";

#[derive(serde::Deserialize)]
struct Probe {
    op: String,
    user_id: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    counter: i32,
}

/// One account-storage operation from a JSON body; answers `{"ok": true, …}` or
/// `{"ok": false, "error": "not_found" | "already_exists" | <failure>}`. Values are UTF-8 text.
pub async fn account_storage_probe(mut req: Request, env: &Env) -> Result<Response> {
    let secret = super::read_var(env, "ACTION_INVOCATION_ENDPOINT_SECRET").unwrap_or_default();
    if secret.is_empty() || !super::is_authorized(&req, &crate::crypto::hash_secret(&secret)) {
        return super::text(401, "missing or invalid bearer secret");
    }
    let probe: Probe = match serde_json::from_slice(&req.bytes().await?) {
        Ok(probe) => probe,
        Err(e) => return super::text(400, &format!("bad probe: {e}")),
    };
    let storage = ObjectStoreClient::new(env.durable_object("ACCOUNT_STORAGE")?);
    let (user, key) = (probe.user_id.as_str(), probe.key.as_str());
    let value = probe.value.into_bytes();
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let outcome = match probe.op.as_str() {
        "get" => storage
            .get(user, key)
            .await
            .map(|e| serde_json::json!({"value": text(e.value), "counter": e.counter})),
        "add" => storage
            .add(user, key, value, probe.expires_at)
            .await
            .map(|()| serde_json::json!({})),
        "update" => storage
            .update(user, key, value, probe.expires_at, probe.counter)
            .await
            .map(|()| serde_json::json!({})),
        "delete" => storage
            .delete(user, key, probe.counter)
            .await
            .map(|()| serde_json::json!({})),
        "list" => storage.list(user, key).await.map(|entries| {
            let entries: Vec<_> = entries
                .into_iter()
                .map(|(k, e)| serde_json::json!({"key": k, "value": text(e.value), "counter": e.counter}))
                .collect();
            serde_json::json!({ "entries": entries })
        }),
        "delete_all" => storage
            .delete_all(user)
            .await
            .map(|()| serde_json::json!({})),
        other => return super::text(400, &format!("unknown probe op {other}")),
    };
    let body = match outcome {
        Ok(mut values) => {
            values["ok"] = true.into();
            values
        }
        Err(e) => {
            let error = match e {
                StorageError::NotFound => "not_found".to_string(),
                StorageError::AlreadyExists => "already_exists".to_string(),
                StorageError::Failed(message) => message,
            };
            serde_json::json!({"ok": false, "error": error})
        }
    };
    Response::from_json(&body)
}
