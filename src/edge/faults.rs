//! Test-only fault switches, compiled in only with the `test-faults` cargo feature (never in a
//! deployed build): a request header
//! `X-Faroe-Test-Fault: kv | main-storage | rate-limit-storage | account-storage` runs that one
//! request on a server whose adapter of that name fails every call, and
//! `X-Faroe-Test-Fault: count-hashes` on one that logs a `test-hash` line per user password hash
//! (for counting the hashes that concurrent requests run).

use super::durable_object::ObjectStoreClient;
use super::kv_cache::KvSessionCache;
use crate::extensions::Extensions;
use crate::ports::PasswordHashAlgorithm;
use crate::server::{PasswordConfig, Ports, Server, SessionConfig};
use async_trait::async_trait;
use std::rc::Rc;
use worker::{kv::KvStore, ObjectNamespace, Result};

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
