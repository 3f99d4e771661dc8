//! Benchmark-only routes, compiled in only with the `bench` cargo feature (never in a deployed
//! build): a baseline that touches no storage, and a password-hash route that runs the project's
//! Argon2id inside workerd so it can be timed from outside.

use crate::password::Argon2id;
use worker::{Request, Response, Result};

pub async fn handle(req: Request) -> Result<Response> {
    match req.path().as_str() {
        "/__bench/baseline" => {
            Response::ok(r#"{"ok":true,"action_invocation_id":"baseline","values":{}}"#)
        }
        "/__bench/hash" => {
            let url = req.url()?;
            let id = url
                .query_pairs()
                .find(|(k, _)| k == "algorithm")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_else(|| crate::password::DEFAULT_USER_PASSWORD_ALGORITHM.to_string());
            let algorithm = match Argon2id::from_id(&id) {
                Ok(a) => a,
                Err(e) => return Response::error(e, 400),
            };
            let salt = crate::crypto::generate_salt(16);
            match algorithm.hash_sync(b"benchmark-password", &salt) {
                Ok(hash) => Response::ok(format!("{{\"hash_bytes\":{}}}", hash.len())),
                Err(e) => Response::error(e, 500),
            }
        }
        _ => Response::error("not found", 404),
    }
}
