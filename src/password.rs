//! Password rules and algorithms: the length rule, the breached-password range check, and Argon2id
//! with parameters named in its id, bounded to what a Worker isolate can run (spec §8).

use crate::ports::PasswordHashAlgorithm;
use async_trait::async_trait;
use sha1::{Digest, Sha1};
use std::cell::{Cell, RefCell};

/// Spec §8.1: between 10 and 100 Unicode code points inclusive; bytes do not matter.
pub fn is_valid_password_length(password: &str) -> bool {
    (10..=100).contains(&password.chars().count())
}

/// Lowercase hex SHA-1 of the password, as the Pwned Passwords range API expects.
pub fn pwned_sha1_hex(password: &str) -> String {
    crate::encoding::hex(&Sha1::digest(password.as_bytes()))
}

/// Whether a range-API response body lists the password's SHA-1 (`sha1_hex` is the full 40-char hex).
/// Each line is `<35 hex suffix>:<count>`; lines shorter than 35 characters are ignored (FIX-9).
pub fn pwned_range_contains(body: &str, sha1_hex: &str) -> bool {
    let suffix = &sha1_hex[5..];
    body.split(['\n', '\r']).any(|line| {
        line.get(..35)
            .is_some_and(|candidate| candidate.eq_ignore_ascii_case(suffix))
    })
}

/// Argon2id whose parameters are part of its id: `argon2id.<memory KiB>.<iterations>.<parallelism>.<output length>`.
///
/// Natively the hash is computed by the `argon2` crate (which picks its AVX2 code at run time); in
/// wasm32 by [`crate::argon2id`], which V8 runs about 1.3× as fast as the crate's portable code
/// (docs/benchmarks.md). Both compute the same RFC 9106 Argon2id; the parameters are validated by
/// the `argon2` crate on every target, so both accept the same ids.
#[derive(Debug, Clone)]
pub struct Argon2id {
    id: String,
    params: argon2::Params,
    /// The same parameters for [`crate::argon2id`] (what wasm32 hashes with).
    own_params: crate::argon2id::Params,
}

/// Default for user passwords: 64 MiB, 3 iterations, 1 lane, 32-byte output.
pub const DEFAULT_USER_PASSWORD_ALGORITHM: &str = "argon2id.65536.3.1.32";
/// Default for temporary passwords: 16 MiB, 3 iterations, 1 lane, 32-byte output.
pub const DEFAULT_TEMPORARY_PASSWORD_ALGORITHM: &str = "argon2id.16384.3.1.32";

/// The most block memory an algorithm may use: 96 MiB. The Worker keeps one block buffer of the
/// largest configured algorithm in wasm linear memory, next to about 1.3 MiB of other linear
/// memory and the JS heap, against an isolate limit of 128 MB (122 MiB); 96 MiB leaves over
/// 20 MiB for the rest. More is refused when the configuration is read, not by an isolate that
/// runs out of memory at the first sign-in.
pub const MAX_MEMORY_KIB: u32 = 96 * 1024;
/// The most iterations: OWASP's equivalent settings stop at t=5, and beyond 10 passes more memory
/// buys more than more time. 96 MiB at t=10 is about a second and a half of CPU in V8.
pub const MAX_ITERATIONS: u32 = 10;
/// The most lanes. Lanes run one after another in wasm (one thread), so they add no speed; 16
/// still verifies hashes made elsewhere with a few lanes.
pub const MAX_PARALLELISM: u32 = 16;
/// Tag lengths in bytes: at least 128 bits (RFC 9106's shortest tags make collisions cheap), at
/// most one BLAKE2b output.
pub const OUTPUT_LENGTHS: std::ops::RangeInclusive<usize> = 16..=64;

/// OWASP's minimum Argon2id settings (Password Storage Cheat Sheet), as (memory KiB, iterations)
/// pairs that it rates as equally strong, one lane each: 46 MiB t=1, 19 MiB t=2, 12 MiB t=3,
/// 9 MiB t=4, 7 MiB t=5.
pub const OWASP_MINIMUMS: [(u32, u32); 5] =
    [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)];

impl Argon2id {
    /// Parameters within RFC 9106's bounds and this Worker's ([`MAX_MEMORY_KIB`],
    /// [`MAX_ITERATIONS`], [`MAX_PARALLELISM`], [`OUTPUT_LENGTHS`]).
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        output_len: usize,
    ) -> Result<Self, String> {
        if memory_kib > MAX_MEMORY_KIB {
            return Err(format!(
                "argon2id memory {memory_kib} KiB is more than a Worker isolate can hold; at most {MAX_MEMORY_KIB} KiB (96 MiB)"
            ));
        }
        if iterations > MAX_ITERATIONS {
            return Err(format!(
                "argon2id iterations {iterations} is more than {MAX_ITERATIONS}"
            ));
        }
        if parallelism > MAX_PARALLELISM {
            return Err(format!(
                "argon2id parallelism {parallelism} is more than {MAX_PARALLELISM}"
            ));
        }
        if !OUTPUT_LENGTHS.contains(&output_len) {
            return Err(format!(
                "argon2id output length {output_len} is not between {} and {} bytes",
                OUTPUT_LENGTHS.start(),
                OUTPUT_LENGTHS.end()
            ));
        }
        let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(output_len))
            .map_err(|e| format!("invalid argon2id parameters: {e}"))?;
        let own_params =
            crate::argon2id::Params::new(memory_kib, iterations, parallelism, output_len)
                .map_err(|e| format!("invalid argon2id parameters: {e}"))?;
        Ok(Self {
            id: format!("argon2id.{memory_kib}.{iterations}.{parallelism}.{output_len}"),
            params,
            own_params,
        })
    }

    /// Parses an id such as `argon2id.65536.3.1.32`.
    pub fn from_id(id: &str) -> Result<Self, String> {
        let mut parts = id.split('.');
        if parts.next() != Some("argon2id") {
            return Err(format!(
                "unsupported password hash algorithm \"{id}\": expected argon2id.<memory KiB>.<iterations>.<parallelism>.<output length>"
            ));
        }
        let numbers: Vec<&str> = parts.collect();
        if numbers.len() != 4 {
            return Err(format!(
                "invalid algorithm id \"{id}\": expected argon2id.<memory KiB>.<iterations>.<parallelism>.<output length>"
            ));
        }
        let number = |s: &str| {
            s.parse::<u32>()
                .map_err(|_| format!("invalid algorithm id \"{id}\": \"{s}\" is not a number"))
        };
        let algorithm = Self::new(
            number(numbers[0])?,
            number(numbers[1])?,
            number(numbers[2])?,
            number(numbers[3])? as usize,
        )?;
        if algorithm.id != id {
            return Err(format!(
                "invalid algorithm id \"{id}\": write numbers without leading zeros"
            ));
        }
        Ok(algorithm)
    }

    pub fn memory_kib(&self) -> u32 {
        self.params.m_cost()
    }

    /// Whether the parameters reach one of [`OWASP_MINIMUMS`].
    pub fn meets_owasp_minimum(&self) -> bool {
        OWASP_MINIMUMS.iter().any(|&(memory_kib, iterations)| {
            self.params.m_cost() >= memory_kib && self.params.t_cost() >= iterations
        })
    }

    /// The parameters as the `argon2` crate takes them.
    pub fn argon2_crate_params(&self) -> &argon2::Params {
        &self.params
    }

    /// The parameters as [`crate::argon2id`] takes them.
    pub fn own_params(&self) -> &crate::argon2id::Params {
        &self.own_params
    }

    /// Sizes this thread's kept block buffer (see [`Argon2id::hash_sync`]) for the largest of
    /// `algorithms` from its first allocation on.
    ///
    /// Linear memory never shrinks, and a freed buffer leaves a hole that a larger one cannot
    /// reuse: an isolate whose first hash is a 16 MiB temporary password and whose next is a
    /// 64 MiB user password ends at 81 MiB of linear memory instead of 65 MiB. The Worker calls
    /// this with every configured algorithm, so the buffer is allocated once, at its final size.
    pub fn plan_block_memory<'a>(algorithms: impl IntoIterator<Item = &'a Argon2id>) {
        let largest = algorithms
            .into_iter()
            .map(|algorithm| algorithm.params.block_count())
            .max()
            .unwrap_or(0);
        PLANNED_BLOCKS.with(|planned| planned.set(largest));
    }

    /// Synchronous hash, for callers (benchmarks, tests) outside the async server.
    ///
    /// The Argon2 block memory (`memory_kib` KiB) is kept per thread and reused by the next hash
    /// instead of being allocated and zeroed every time. In wasm this costs no extra memory (linear
    /// memory never shrinks, so a freed 64 MiB buffer stays allocated anyway) and saves filling
    /// 64 MiB with zeros per hash; Argon2 overwrites every block before reading it, so the old
    /// contents never matter. The buffer is only ever as large as the largest algorithm used.
    pub fn hash_sync(&self, password: &[u8], salt: &[u8]) -> Result<Vec<u8>, String> {
        let mut output = vec![0u8; self.own_params.output_len()];
        let block_count = self.params.block_count();
        BLOCKS
            .with(|cell| match cell.try_borrow_mut() {
                Ok(mut blocks) => {
                    if blocks.len() < block_count {
                        // Free the smaller buffer first so the peak is the new size, not both.
                        let size = block_count.max(PLANNED_BLOCKS.with(Cell::get));
                        *blocks = Vec::new();
                        *blocks = vec![MemoryBlock::default(); size];
                    }
                    self.hash_with_memory(password, salt, &mut output, &mut blocks[..block_count])
                }
                // Re-entered on this thread (cannot happen with synchronous callers): allocate.
                Err(_) => self.hash_with_memory(
                    password,
                    salt,
                    &mut output,
                    &mut vec![MemoryBlock::default(); block_count],
                ),
            })
            .map_err(|e| format!("argon2id hashing failed: {e}"))?;
        Ok(output)
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn hash_with_memory(
        &self,
        password: &[u8],
        salt: &[u8],
        output: &mut [u8],
        blocks: &mut [MemoryBlock],
    ) -> Result<(), argon2::Error> {
        argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            self.params.clone(),
        )
        .hash_password_into_with_memory(password, salt, output, blocks)
    }

    #[cfg(target_arch = "wasm32")]
    fn hash_with_memory(
        &self,
        password: &[u8],
        salt: &[u8],
        output: &mut [u8],
        blocks: &mut [MemoryBlock],
    ) -> Result<(), crate::argon2id::Error> {
        crate::argon2id::hash_into(&self.own_params, password, salt, output, blocks)
    }
}

/// One Argon2 memory block of the implementation in use on this target.
#[cfg(not(target_arch = "wasm32"))]
type MemoryBlock = argon2::Block;
#[cfg(target_arch = "wasm32")]
type MemoryBlock = crate::argon2id::Block;

thread_local! {
    /// Argon2 working memory reused across [`Argon2id::hash_sync`] calls on this thread.
    static BLOCKS: RefCell<Vec<MemoryBlock>> = const { RefCell::new(Vec::new()) };
    /// The size `BLOCKS` grows to at least, set by [`Argon2id::plan_block_memory`].
    static PLANNED_BLOCKS: Cell<usize> = const { Cell::new(0) };
}

/// Blocks in this thread's kept buffer (tests check its sizing).
#[cfg(test)]
fn kept_block_count() -> usize {
    BLOCKS.with(|blocks| blocks.borrow().len())
}

/// Empties this thread's kept buffer and plan: wasm runs every test on one thread.
#[cfg(test)]
fn reset_kept_blocks() {
    BLOCKS.with(|blocks| *blocks.borrow_mut() = Vec::new());
    PLANNED_BLOCKS.with(|planned| planned.set(0));
}

#[async_trait(?Send)]
impl PasswordHashAlgorithm for Argon2id {
    fn id(&self) -> &str {
        &self.id
    }

    fn salt_size(&self) -> usize {
        16
    }

    async fn hash(&self, password: &str, salt: &[u8]) -> Result<Vec<u8>, String> {
        self.hash_sync(password.as_bytes(), salt)
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn length_counts_code_points() {
        assert!(!is_valid_password_length("123456789"));
        assert!(is_valid_password_length("1234567890"));
        assert!(is_valid_password_length("éééééééééé"));
        assert!(is_valid_password_length(&"x".repeat(100)));
        assert!(!is_valid_password_length(&"x".repeat(101)));
        assert!(!is_valid_password_length(&"é".repeat(101)));
    }

    #[test]
    fn range_lines_match_case_insensitively_and_skip_short_lines() {
        let hash = pwned_sha1_hex("password123");
        assert_eq!(hash.len(), 40);
        let suffix = hash[5..].to_uppercase();
        let body = format!("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nshort\r\n{suffix}:12345\r\n");
        assert!(pwned_range_contains(&body, &hash));
        assert!(!pwned_range_contains(
            "0018A45C4D1DEF81644B54AB7F969B88D65:1\n",
            &hash
        ));
        assert!(!pwned_range_contains("", &hash));
        assert!(!pwned_range_contains("é\né", &hash));
    }

    #[test]
    fn argon2id_ids_round_trip() {
        let a = Argon2id::from_id("argon2id.65536.3.1.32").unwrap();
        assert_eq!(a.id(), "argon2id.65536.3.1.32");
        assert_eq!(a.memory_kib(), 65536);
        assert!(Argon2id::from_id("argon2i.65536.3.1.32").is_err());
        assert!(Argon2id::from_id("argon2id.65536.3.1").is_err());
        assert!(Argon2id::from_id("argon2id.x.3.1.32").is_err());
        assert!(Argon2id::from_id("argon2id.065536.3.1.32").is_err());
        assert!(Argon2id::from_id("argon2id.1.3.1.32").is_err());
    }

    #[test]
    fn parameters_beyond_what_an_isolate_can_run_are_refused() {
        assert!(Argon2id::from_id("argon2id.98304.10.16.64").is_ok());
        assert!(Argon2id::from_id("argon2id.98304.3.1.16").is_ok());
        for (id, named) in [
            ("argon2id.98305.3.1.32", "memory"),
            ("argon2id.4194304.3.1.32", "memory"),
            ("argon2id.65536.11.1.32", "iterations"),
            ("argon2id.65536.4294967295.1.32", "iterations"),
            ("argon2id.65536.3.17.32", "parallelism"),
            ("argon2id.65536.3.1.15", "output length"),
            ("argon2id.65536.3.1.65", "output length"),
            ("argon2id.65536.3.1.4294967295", "output length"),
        ] {
            let e = Argon2id::from_id(id).unwrap_err();
            assert!(e.contains(named), "{id}: {e}");
        }
    }

    #[test]
    fn owasp_minimum_is_any_of_its_equivalent_settings() {
        let meets = |id: &str| Argon2id::from_id(id).unwrap().meets_owasp_minimum();
        for id in [
            DEFAULT_USER_PASSWORD_ALGORITHM,
            DEFAULT_TEMPORARY_PASSWORD_ALGORITHM,
            "argon2id.47104.1.1.32",
            "argon2id.19456.2.1.32",
            "argon2id.12288.3.1.32",
            "argon2id.9216.4.1.32",
            "argon2id.7168.5.1.32",
            "argon2id.7168.10.1.32",
        ] {
            assert!(meets(id), "{id}");
        }
        for id in [
            "argon2id.47103.1.1.32",
            "argon2id.19455.2.1.32",
            "argon2id.19456.1.1.32",
            "argon2id.12287.3.1.32",
            "argon2id.9215.4.1.32",
            "argon2id.7167.10.1.32",
            "argon2id.1024.1.1.32",
        ] {
            assert!(!meets(id), "{id}");
        }
    }

    #[test]
    fn argon2id_matches_rfc9106_style_reference() {
        // Small parameters keep the test fast; output is deterministic for fixed inputs.
        let a = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
        let h1 = a.hash_sync(b"password", b"somesaltsomesalt").unwrap();
        let h2 = a.hash_sync(b"password", b"somesaltsomesalt").unwrap();
        assert_eq!(h1, h2);
        assert_eq!(h1.len(), 32);
        assert_ne!(h1, a.hash_sync(b"passwore", b"somesaltsomesalt").unwrap());
    }

    #[test]
    fn planned_block_memory_is_allocated_once_at_the_largest_size() {
        reset_kept_blocks();
        let small = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
        let big = Argon2id::from_id("argon2id.256.1.1.32").unwrap();
        Argon2id::plan_block_memory([&small, &big]);
        let before = small.hash_sync(b"password", b"somesaltsomesalt").unwrap();
        assert_eq!(
            kept_block_count(),
            256,
            "the first hash allocates for the largest"
        );
        big.hash_sync(b"password", b"somesaltsomesalt").unwrap();
        assert_eq!(kept_block_count(), 256, "and the larger hash reuses it");
        assert_eq!(
            small.hash_sync(b"password", b"somesaltsomesalt").unwrap(),
            before,
            "a larger, dirty buffer gives the same hash"
        );
    }

    #[test]
    fn unplanned_block_memory_grows_to_the_hash_at_hand() {
        reset_kept_blocks();
        let small = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
        small.hash_sync(b"password", b"somesaltsomesalt").unwrap();
        assert_eq!(kept_block_count(), 64);
    }

    #[test]
    fn reused_block_memory_gives_the_same_hash_as_fresh_memory() {
        let fresh = |m: u32, t: u32, password: &[u8], salt: &[u8]| {
            let params = argon2::Params::new(m, t, 1, Some(32)).unwrap();
            let mut out = vec![0u8; 32];
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(password, salt, &mut out)
                .unwrap();
            out
        };
        let big = Argon2id::from_id("argon2id.256.2.1.32").unwrap();
        let small = Argon2id::from_id("argon2id.64.1.1.32").unwrap();
        // Small first (buffer grows), then big, then small again over a dirty larger buffer.
        for _ in 0..2 {
            assert_eq!(
                small.hash_sync(b"password", b"somesaltsomesalt").unwrap(),
                fresh(64, 1, b"password", b"somesaltsomesalt")
            );
            assert_eq!(
                big.hash_sync(b"password", b"somesaltsomesalt").unwrap(),
                fresh(256, 2, b"password", b"somesaltsomesalt")
            );
        }
    }
}
