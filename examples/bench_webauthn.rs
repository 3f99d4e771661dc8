//! CPU per WebAuthn verification, natively (release build), for the three algorithms, on the real
//! Chromium assertions of tests/webauthn/chromium-fixture.json:
//!
//! ```sh
//! cargo run --release --example bench_webauthn
//! ```
//!
//! Rows: the whole assertion verification as an action would run it (`parse_authentication_response`,
//! then `PublicKey::from_cose` of the stored key, then `verify_authentication`), the signature
//! alone (`PublicKey::verify`), and a registration (`verify_registration`). Each figure is the
//! median of 7 batches after one warm-up batch. The same rows in workerd: docs/extensions.md.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use faroe_worker::webauthn::{
    parse_authentication_response, PublicKey, RelyingParty, StoredCredential, UserVerification,
};
use sha2::{Digest, Sha256};
use std::hint::black_box;
use std::time::Instant;

const BATCHES: usize = 7;

/// Median µs per call of `f` over `BATCHES` batches of `per_batch` calls.
fn time_us(per_batch: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..per_batch {
        f();
    }
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / per_batch as f64
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[BATCHES / 2]
}

fn main() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../tests/webauthn/chromium-fixture.json")).unwrap();
    let rp = RelyingParty {
        id: fixture["rpId"].as_str().unwrap().to_string(),
        name: "bench".to_string(),
        origins: vec![fixture["origin"].as_str().unwrap().to_string()],
        top_origins: vec![],
        user_verification: UserVerification::Required,
        timeout_ms: 60_000,
    };
    let decode = |v: &serde_json::Value| URL_SAFE_NO_PAD.decode(v.as_str().unwrap()).unwrap();
    println!("| algorithm | whole assertion µs | signature alone µs | registration µs |");
    println!("|---|---|---|---|");
    for case in fixture["cases"].as_array().unwrap() {
        let registration_challenge = decode(&case["registration"]["challenge"]);
        let registration_json = case["registration"]["response"].to_string();
        let credential = rp
            .verify_registration(&registration_challenge, &registration_json)
            .unwrap();
        let challenge = decode(&case["authentication"]["challenge"]);
        let assertion_json = case["authentication"]["response"].to_string();

        let whole = time_us(2000, || {
            let response = parse_authentication_response(black_box(&assertion_json)).unwrap();
            let public_key = PublicKey::from_cose(black_box(&credential.public_key)).unwrap();
            let stored = StoredCredential {
                id: &credential.id,
                public_key: &public_key,
                sign_count: credential.sign_count,
            };
            black_box(
                rp.verify_authentication(&challenge, &response, &stored)
                    .unwrap(),
            );
        });

        let response = parse_authentication_response(&assertion_json).unwrap();
        let mut message = response.authenticator_data.clone();
        message.extend_from_slice(&Sha256::digest(&response.client_data_json));
        let public_key = PublicKey::from_cose(&credential.public_key).unwrap();
        let signature_alone = time_us(2000, || {
            public_key
                .verify(black_box(&message), black_box(&response.signature))
                .unwrap();
        });
        let register = time_us(1000, || {
            black_box(
                rp.verify_registration(&registration_challenge, black_box(&registration_json))
                    .unwrap(),
            );
        });
        println!(
            "| {} | {whole:.1} | {signature_alone:.1} | {register:.1} |",
            case["algorithm"].as_str().unwrap()
        );
    }
}
