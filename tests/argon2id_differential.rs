//! Randomized differential test of `faroe_worker::argon2id` (the Argon2id the Worker runs in wasm;
//! natively its portable compression, under `wasm-pack test --node` its simd128 one) against the
//! `argon2` crate: cost parameters, output
//! lengths, password and salt lengths, and RFC 9106's secret K and associated data X, over
//! working memory that is larger than needed and dirty. tests/wasm.rs runs the same comparison
//! in wasm with each compression.

// `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

use faroe_worker::argon2id::{self as ours, Block, Compression};
use proptest::collection::vec;
use proptest::prelude::*;

mod argon2_reference;
use argon2_reference::argon2_crate_keyed as argon2_crate;

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn argon2id_matches_the_argon2_crate(
        p in 1u32..=4,
        extra_memory in 0u32..=300,
        t in 1u32..=4,
        // Past 64 bytes the tag takes H''s chained path; the crate allows at most 32 bytes of X.
        len in 4usize..=200,
        password in vec(any::<u8>(), 0..=128),
        salt in vec(any::<u8>(), 8..=64),
        secret in vec(any::<u8>(), 0..=64),
        data in vec(any::<u8>(), 0..=32),
        dirt in any::<u64>(),
        spare_blocks in 0usize..=8,
    ) {
        let m = 8 * p + extra_memory;
        let params = ours::Params::new(m, t, p, len).unwrap();
        let mut memory = vec![Block::default(); params.block_count() + spare_blocks];
        // Any contents: a reused buffer holds the previous hash's blocks.
        let mut dirty = ours::Params::new(8, 1, 1, 32).unwrap();
        if dirt % 2 == 1 {
            dirty = ours::Params::new(params.block_count() as u32, 1, 1, 32).unwrap();
        }
        let mut scratch_out = [0u8; 32];
        ours::hash_into(&dirty, &dirt.to_le_bytes(), b"dirtydirty", &mut scratch_out, &mut memory)
            .unwrap();
        let mut out = vec![0u8; len];
        ours::hash_into_with(
            &params, &password, &salt, &secret, &data, &mut out, &mut memory,
            Compression::BEST,
        )
        .unwrap();
        prop_assert_eq!(
            out,
            argon2_crate(m, t, p, len, &password, &salt, &secret, &data),
            "m={} t={} p={} len={} |P|={} |S|={} |K|={} |X|={}",
            m, t, p, len, password.len(), salt.len(), secret.len(), data.len()
        );
    }
}
