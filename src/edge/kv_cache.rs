//! The session cache in Workers KV. KV refuses TTLs under 60 s and is eventually consistent, so
//! each value carries its exact expiry (8 bytes, big-endian Unix ms) and is refused past it.
//! A KV failure never fails an action: it is logged and treated as a miss (reads) or as done
//! (writes), and the action falls back to main storage, which stays authoritative.

use super::now_millis;
use crate::ports::{Cache, Millis, StorageError};
use async_trait::async_trait;
use worker::kv::KvStore;

/// KV's minimum `expiration_ttl`, in seconds.
const KV_MIN_TTL_SECONDS: u64 = 60;

pub struct KvSessionCache {
    kv: KvStore,
    /// Test builds only: every KV call fails (see `edge::faults`).
    failing: bool,
}

impl KvSessionCache {
    pub fn new(kv: KvStore) -> Self {
        Self { kv, failing: false }
    }

    #[cfg(feature = "test-faults")]
    pub fn failing(kv: KvStore) -> Self {
        Self { kv, failing: true }
    }

    fn injected(&self) -> Result<(), worker::kv::KvError> {
        if self.failing {
            Err(worker::kv::KvError::InvalidKvStore(
                "injected test fault".into(),
            ))
        } else {
            Ok(())
        }
    }
}

fn report(operation: &str, error: impl std::fmt::Display) {
    super::log_component(
        "warn",
        "kv_session_cache",
        &format!("KV {operation} failed, falling back to main storage: {error}"),
    );
}

/// Prefixes the payload with its absolute expiry.
pub fn wrap(payload: &[u8], expires_at: Millis) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + payload.len());
    out.extend_from_slice(&expires_at.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// The payload if the entry is well-formed and not yet expired.
pub fn unwrap(stored: &[u8], now: Millis) -> Option<Vec<u8>> {
    if stored.len() < 8 {
        return None;
    }
    let mut expiry = [0u8; 8];
    expiry.copy_from_slice(&stored[..8]);
    (Millis::from_be_bytes(expiry) > now).then(|| stored[8..].to_vec())
}

#[async_trait(?Send)]
impl Cache for KvSessionCache {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        let read = match self.injected() {
            Ok(()) => self.kv.get(key).bytes().await,
            Err(e) => Err(e),
        };
        match read {
            Ok(Some(stored)) => unwrap(&stored, now_millis()).ok_or(StorageError::NotFound),
            Ok(None) => Err(StorageError::NotFound),
            Err(e) => {
                report("get", e);
                Err(StorageError::NotFound)
            }
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Millis) -> Result<(), StorageError> {
        let expires_at = now_millis() + ttl;
        let ttl_seconds = ((ttl as u64).div_ceil(1000)).max(KV_MIN_TTL_SECONDS);
        let result = match self
            .injected()
            .and_then(|()| self.kv.put_bytes(key, &wrap(&value, expires_at)))
        {
            Ok(builder) => builder.expiration_ttl(ttl_seconds).execute().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            report("put", e);
        }
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let deleted = match self.injected() {
            Ok(()) => self.kv.delete(key).await,
            Err(e) => Err(e),
        };
        if let Err(e) = deleted {
            report("delete", e);
        }
        Ok(())
    }
}
