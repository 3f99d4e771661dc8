//! The `argon2` crate's Argon2id (RustCrypto), the reference our own `faroe_worker::argon2id` is
//! held against, with RFC 9106's secret K and associated data X (empty for plain hashing).
#![allow(dead_code)]

#[allow(clippy::too_many_arguments)]
pub fn argon2_crate_keyed(
    m: u32,
    t: u32,
    p: u32,
    len: usize,
    password: &[u8],
    salt: &[u8],
    secret: &[u8],
    data: &[u8],
) -> Vec<u8> {
    let params = argon2::ParamsBuilder::new()
        .m_cost(m)
        .t_cost(t)
        .p_cost(p)
        .output_len(len)
        .data(argon2::AssociatedData::new(data).unwrap())
        .build()
        .unwrap();
    let mut out = vec![0u8; len];
    argon2::Argon2::new_with_secret(
        secret,
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    )
    .unwrap()
    .hash_password_into(password, salt, &mut out)
    .unwrap();
    out
}

/// Without K and X: what `Argon2id::hash_sync` computes natively.
pub fn argon2_crate(m: u32, t: u32, p: u32, len: usize, password: &[u8], salt: &[u8]) -> Vec<u8> {
    argon2_crate_keyed(m, t, p, len, password, salt, &[], &[])
}
