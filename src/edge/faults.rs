//! Test-only fault switches, compiled in only with the `test-faults` cargo feature (never in a
//! deployed build): a request header `X-Faroe-Test-Fault: kv | main-storage | rate-limit-storage`
//! runs that one request on a server whose adapter of that name fails every call.

use super::durable_object::ObjectStoreClient;
use super::kv_cache::KvSessionCache;
use crate::server::{PasswordConfig, Ports, Server, SessionConfig};
use std::rc::Rc;
use worker::{kv::KvStore, ObjectNamespace, Result};

/// What is needed to build a per-request server with one failing adapter.
pub struct Rebuild {
    pub ports: Ports,
    pub passwords: PasswordConfig,
    pub session: SessionConfig,
    pub main_namespace: ObjectNamespace,
    pub rate_limit_namespace: ObjectNamespace,
    pub kv: Option<KvStore>,
}

/// `Ok(None)` without the header; a 400 response for an unknown fault name.
pub fn server_for(rebuild: &Rebuild, fault: Option<String>) -> Result<Option<Server>> {
    let Some(fault) = fault else { return Ok(None) };
    let mut ports = rebuild.ports.clone();
    match fault.as_str() {
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
        other => return Err(format!("unknown test fault {other}").into()),
    }
    Server::new(ports, rebuild.session, rebuild.passwords.clone())
        .map(Some)
        .map_err(Into::into)
}
