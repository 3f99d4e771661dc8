//! Token buckets (spec §7): four buckets, one algorithm, its 8-bit arithmetic quirks kept on purpose;
//! plus faroe-worker's mailbox bucket, which the spec does not have.

use crate::crypto;
use crate::ports::{Millis, RateLimitStorage, StorageError};

/// Every bucket holds at most this many tokens; a fresh bucket is full.
pub const MAX_TOKENS: u8 = 5;

const MINUTE: Millis = 60_000;

/// The four buckets of spec §7.1, faroe-worker's mailbox bucket and the TOTP extension's bucket, with their rate-limit-storage
/// key prefix and refill interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Per user id; consumed by the four password-verifying actions.
    VerifyUserPassword,
    /// Per email address; consumed by every action that sends a code or temporary password.
    SendEmail,
    /// Per email address; consumed by code verification, checked before sending codes.
    VerifyEmailCode,
    /// Per user id; consumed by temporary-password verification, checked before resets.
    VerifyTemporaryPassword,
    /// TOTP extension (docs/extensions.md): per user id; consumed before every TOTP-code or
    /// recovery-code comparison.
    VerifySecondFactor,
    /// Not in the spec: per normalized mailbox ([`mailbox`]), consumed right after `SendEmail`
    /// so that no spelling of one address gets more than five code emails per window.
    Mailbox,
}

/// A bucket's shape: storage key prefix, capacity and refill interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketSpec {
    pub prefix: &'static str,
    /// Capacity; a fresh bucket is full.
    pub max: u8,
    /// One token per interval.
    pub interval: Millis,
}

impl BucketSpec {
    /// The rate-limit-storage key of this bucket for `subject`.
    pub fn key(&self, subject: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + subject.len());
        key.push_str(self.prefix);
        key.push_str(subject);
        key
    }
}

impl Bucket {
    /// The spec's shape of this bucket: 5 tokens, its prefix and interval.
    pub fn spec(self) -> BucketSpec {
        BucketSpec {
            prefix: self.prefix(),
            max: MAX_TOKENS,
            interval: self.interval(),
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Bucket::VerifyUserPassword => "aaaa.",
            Bucket::SendEmail => "aaab.",
            Bucket::VerifyEmailCode => "aaac.",
            Bucket::VerifyTemporaryPassword => "aaad.",
            // Outside the spec's `aaa?.` range, so they can never meet one of its keys.
            Bucket::Mailbox => "mailbox.",
            Bucket::VerifySecondFactor => "second_factor.",
        }
    }

    /// Refill interval: one token per interval.
    pub fn interval(self) -> Millis {
        match self {
            Bucket::SendEmail | Bucket::Mailbox => 30 * MINUTE,
            _ => MINUTE,
        }
    }

    /// The rate-limit-storage key of this bucket for `subject` (user id or email address).
    pub fn key(self, subject: &str) -> String {
        self.spec().key(subject)
    }
}

/// The mailbox an email address delivers to, as the key of the mailbox bucket: the address
/// lower-cased (the spec's addresses are ASCII, §8.2) with a `+tag` cut from the local part.
/// Both only merge spellings, so a mistake can only make the limit stricter, never looser:
/// mail providers ignore case in practice, and most deliver `name+tag@` to `name@`.
pub fn mailbox(email_address: &str) -> String {
    let lower = email_address.to_ascii_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    match local.find('+') {
        Some(plus) if plus > 0 => format!("{}@{domain}", &local[..plus]),
        _ => lower,
    }
}

/// The outcome of CONSUME / CHECK that is not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    Denied,
}

/// CONSUME failures: a lost compare-and-set race, or a storage error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateLimitError {
    Conflict,
    Failed(String),
}

/// The stored bucket: 1 byte count, then `last_refilled_at` as big-endian u64 Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenBucket {
    pub count: u8,
    /// Unix seconds.
    pub last_refilled_at: i64,
}

impl TokenBucket {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9);
        out.push(self.count);
        out.extend_from_slice(&(self.last_refilled_at as u64).to_be_bytes());
        out
    }

    pub fn decode(value: &[u8]) -> Option<Self> {
        if value.len() != 9 {
            return None;
        }
        let mut last = [0u8; 8];
        last.copy_from_slice(&value[1..]);
        Some(Self {
            count: value[0],
            last_refilled_at: u64::from_be_bytes(last) as i64,
        })
    }

    /// Tokens regained since `last_refilled_at`, reduced modulo 256 like Go's `uint8(elapsed / I)`.
    fn refill(&self, now: Millis, interval: Millis) -> u8 {
        let elapsed = now - self.last_refilled_at * 1000;
        (elapsed / interval) as u8
    }

    /// Expiry hint: when the bucket would be full again.
    fn expires_at(&self, max: u8, interval: Millis) -> Millis {
        self.last_refilled_at * 1000 + i64::from(max - self.count.min(max)) * interval
    }
}

fn floor_seconds(now: Millis) -> i64 {
    now.div_euclid(1000)
}

/// Adds a fresh bucket with one token taken (spec §7.2 step 2).
async fn add_fresh_bucket(
    storage: &dyn RateLimitStorage,
    key: &str,
    spec: &BucketSpec,
    now: Millis,
) -> Result<Decision, RateLimitError> {
    let bucket = TokenBucket {
        count: spec.max - 1,
        last_refilled_at: floor_seconds(now),
    };
    let entry_id = crypto::generate_id();
    match storage
        .add(
            key,
            bucket.encode(),
            &entry_id,
            bucket.expires_at(spec.max, spec.interval),
        )
        .await
    {
        Ok(()) => Ok(Decision::Allowed),
        Err(StorageError::AlreadyExists) => Err(RateLimitError::Conflict),
        Err(e) => Err(RateLimitError::Failed(format!(
            "rate-limit storage add failed: {e}"
        ))),
    }
}

/// CONSUME (spec §7.2): takes one token, or denies without writing.
pub async fn consume(
    storage: &dyn RateLimitStorage,
    bucket: Bucket,
    subject: &str,
    now: Millis,
) -> Result<Decision, RateLimitError> {
    consume_from(storage, &bucket.spec(), subject, now).await
}

/// CONSUME for any bucket shape (the spec's four, or the edge's per-IP bucket).
pub async fn consume_from(
    storage: &dyn RateLimitStorage,
    spec: &BucketSpec,
    subject: &str,
    now: Millis,
) -> Result<Decision, RateLimitError> {
    let key = spec.key(subject);
    let (max, interval) = (spec.max, spec.interval);
    let entry = match storage.get(&key).await {
        Ok(entry) => entry,
        Err(StorageError::NotFound) => {
            return add_fresh_bucket(storage, &key, spec, now).await;
        }
        Err(e) => {
            return Err(RateLimitError::Failed(format!(
                "rate-limit storage get failed: {e}"
            )))
        }
    };
    let mut stored = TokenBucket::decode(&entry.value)
        .ok_or_else(|| RateLimitError::Failed("undecodable token bucket".to_string()))?;

    if entry.counter == i32::MAX {
        // The storage counter cannot grow further: start a new entry (new entry id).
        match storage.delete(&key, &entry.entry_id, entry.counter).await {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(RateLimitError::Conflict), // FIX-7
            Err(e) => {
                return Err(RateLimitError::Failed(format!(
                    "rate-limit storage delete failed: {e}"
                )))
            }
        }
        return add_fresh_bucket(storage, &key, spec, now).await;
    }

    let refill = stored.refill(now, interval);
    let refilled = stored.count.wrapping_add(refill);
    if refilled < max {
        stored.count = refilled;
        stored.last_refilled_at += i64::from(refill) * interval / 1000;
    } else {
        // KEEP: `last` advances by max·I, not to now (the "lag quirk" of spec §7.4).
        stored.count = max;
        stored.last_refilled_at += i64::from(max) * interval / 1000;
    }
    if stored.count < 1 {
        return Ok(Decision::Denied);
    }
    stored.count -= 1;
    match storage
        .update(
            &key,
            stored.encode(),
            stored.expires_at(max, interval),
            &entry.entry_id,
            entry.counter,
        )
        .await
    {
        Ok(()) => Ok(Decision::Allowed),
        Err(StorageError::NotFound) => Err(RateLimitError::Conflict),
        Err(e) => Err(RateLimitError::Failed(format!(
            "rate-limit storage update failed: {e}"
        ))),
    }
}

/// CHECK (spec §7.3): whether at least one token is left. Never writes.
pub async fn check(
    storage: &dyn RateLimitStorage,
    bucket: Bucket,
    subject: &str,
    now: Millis,
) -> Result<Decision, String> {
    let entry = match storage.get(&bucket.key(subject)).await {
        Ok(entry) => entry,
        Err(StorageError::NotFound) => return Ok(Decision::Allowed),
        Err(e) => return Err(format!("rate-limit storage get failed: {e}")),
    };
    let stored =
        TokenBucket::decode(&entry.value).ok_or_else(|| "undecodable token bucket".to_string())?;
    let refilled = stored
        .count
        .wrapping_add(stored.refill(now, bucket.interval()));
    let count = refilled.min(MAX_TOKENS);
    Ok(if count > 0 {
        Decision::Allowed
    } else {
        Decision::Denied
    })
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn bucket_encoding_matches_appendix_a() {
        let bucket = TokenBucket {
            count: 4,
            last_refilled_at: 1756101086,
        };
        assert_eq!(bucket.encode(), vec![4, 0, 0, 0, 0, 0x68, 0xab, 0xf9, 0xde]);
        assert_eq!(TokenBucket::decode(&bucket.encode()), Some(bucket));
        assert_eq!(TokenBucket::decode(&[4, 0, 0]), None);
    }
}
