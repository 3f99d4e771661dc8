//! RFC 6238 time-based one-time passwords (HMAC-SHA-1, 30 s steps, T0 = 0), the base32 key
//! encoding (RFC 4648) and the `otpauth://` URI that authenticator apps scan.

use crate::ports::Millis;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// Length of a generated TOTP key in bytes (160 bits, RFC 4226's recommendation for SHA-1).
pub const KEY_SIZE: usize = 20;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Seconds per time step.
pub const PERIOD_SECONDS: i64 = 30;

/// HOTP (RFC 4226 §5.3) truncated to `digits` decimal digits.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The time step of a Unix time in milliseconds (T0 = 0).
pub fn step_at(now: Millis) -> i64 {
    now.div_euclid(1000).div_euclid(PERIOD_SECONDS)
}

/// The code of `step`, zero-padded to [`DIGITS`] digits.
pub fn code_for_step(key: &[u8], step: i64) -> String {
    format!(
        "{:0width$}",
        hotp(key, step.max(0) as u64, DIGITS),
        width = DIGITS as usize
    )
}

/// Checks `code` against the steps `current − 1`, `current`, `current + 1`, skipping steps at or
/// below `last_used_step` (replay). All three codes are computed and compared in constant time
/// with no early exit; the highest matching step is returned. `None` also when `code` is not
/// exactly six ASCII digits.
pub fn verify_code(key: &[u8], code: &str, current_step: i64, last_used_step: i64) -> Option<i64> {
    let well_formed = code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit());
    let presented = code.as_bytes();
    let mut matched = 0i64;
    let mut found = subtle::Choice::from(0);
    for step in [current_step - 1, current_step, current_step + 1] {
        let expected = code_for_step(key, step);
        let fresh = subtle::Choice::from(u8::from(step > last_used_step && step >= 0));
        let equal = expected.as_bytes().ct_eq(presented) & fresh;
        matched = i64::conditional_select(&matched, &step, equal);
        found |= equal;
    }
    (well_formed && bool::from(found)).then_some(matched)
}

const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32, upper case, without padding: how the key is shown to the user.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = (chunk.len() * 8).div_ceil(5);
        for i in 0..chars {
            let index = (bits >> (35 - i * 5)) & 0x1f;
            out.push(BASE32_ALPHABET[index as usize] as char);
        }
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `otpauth://totp/<issuer>:<account>?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
pub fn otpauth_uri(issuer: &str, account: &str, key: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECONDS}",
        percent_encode(account),
        base32(key),
    )
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, value) in expected.iter().enumerate() {
            assert_eq!(
                hotp(RFC_KEY, counter as u64, 6),
                *value,
                "counter {counter}"
            );
        }
    }

    #[test]
    fn base32_rfc_4648_vectors() {
        for (input, output) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), output);
        }
        assert_eq!(base32(RFC_KEY), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn the_uri_percent_encodes_issuer_and_account() {
        assert_eq!(
            otpauth_uri("Acme Inc", "a+b@example.com", RFC_KEY),
            "otpauth://totp/Acme%20Inc:a%2Bb%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme%20Inc&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn window_replay_and_format() {
        let now = 1_111_111_109_000;
        let step = step_at(now);
        assert_eq!(step, 37_037_036);
        let code = |s: i64| code_for_step(RFC_KEY, s);
        assert_eq!(code(step), "081804");
        for s in [step - 1, step, step + 1] {
            assert_eq!(verify_code(RFC_KEY, &code(s), step, 0), Some(s));
        }
        assert_eq!(verify_code(RFC_KEY, &code(step - 2), step, 0), None);
        assert_eq!(verify_code(RFC_KEY, &code(step + 2), step, 0), None);
        // A step at or below the last used one is refused.
        assert_eq!(verify_code(RFC_KEY, &code(step), step, step), None);
        assert_eq!(verify_code(RFC_KEY, &code(step - 1), step, step - 1), None);
        assert_eq!(
            verify_code(RFC_KEY, &code(step + 1), step, step),
            Some(step + 1)
        );
        for bad in ["", "81804", "0818045", "08180a", " 81804", "０８１８０４"] {
            assert_eq!(verify_code(RFC_KEY, bad, step, 0), None, "{bad:?}");
        }
    }
}
