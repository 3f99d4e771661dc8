//! Cloudflare Turnstile verification for the `/captcha` endpoint (Faroe's captcha guidance: put a
//! captcha in front of the unauthenticated entry points).

use super::http::{HttpClient, HttpRequest};
use serde_json::Value;
use std::rc::Rc;

pub struct TurnstileVerifier {
    siteverify_url: String,
    secret_key: String,
    http: Rc<dyn HttpClient>,
}

/// Percent-encodes a form value (RFC 3986 unreserved characters pass through).
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl TurnstileVerifier {
    pub fn new(siteverify_url: &str, secret_key: &str, http: Rc<dyn HttpClient>) -> Self {
        Self {
            siteverify_url: siteverify_url.to_string(),
            secret_key: secret_key.to_string(),
            http,
        }
    }

    /// `Ok(true)` when Turnstile accepts the token; `Err` when siteverify cannot be reached.
    pub async fn verify(&self, token: &str, remote_ip: Option<&str>) -> Result<bool, String> {
        let mut body = format!(
            "secret={}&response={}",
            form_encode(&self.secret_key),
            form_encode(token)
        );
        if let Some(ip) = remote_ip {
            body.push_str(&format!("&remoteip={}", form_encode(ip)));
        }
        let request = HttpRequest {
            method: "POST",
            url: self.siteverify_url.clone(),
            headers: vec![(
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            )],
            body: Some(body),
        };
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| format!("Turnstile siteverify request failed: {e}"))?;
        if response.status != 200 {
            return Err(format!(
                "Turnstile siteverify answered HTTP {}",
                response.status
            ));
        }
        let parsed: Value = serde_json::from_str(&response.body)
            .map_err(|_| "Turnstile siteverify sent invalid JSON".to_string())?;
        Ok(parsed.get("success").and_then(Value::as_bool) == Some(true))
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::adapters::http::HttpResponse;
    use async_trait::async_trait;
    use std::cell::RefCell;

    struct Fake {
        answer: (u16, &'static str),
        seen: RefCell<Vec<HttpRequest>>,
    }

    #[async_trait(?Send)]
    impl HttpClient for Fake {
        async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
            self.seen.borrow_mut().push(request);
            Ok(HttpResponse {
                status: self.answer.0,
                body: self.answer.1.to_string(),
            })
        }
    }

    fn verify(answer: (u16, &'static str)) -> (Result<bool, String>, Vec<HttpRequest>) {
        let fake = Rc::new(Fake {
            answer,
            seen: RefCell::new(Vec::new()),
        });
        let v = TurnstileVerifier::new("http://127.0.0.1:9/siteverify", "s3cr&t", fake.clone());
        let result = futures::executor::block_on(v.verify("tok en", Some("203.0.113.7")));
        let seen = fake.seen.borrow().clone();
        (result, seen)
    }

    #[test]
    fn success_failure_and_errors() {
        let (ok, seen) = verify((200, r#"{"success":true}"#));
        assert_eq!(ok, Ok(true));
        assert_eq!(
            seen[0].body.as_deref(),
            Some("secret=s3cr%26t&response=tok%20en&remoteip=203.0.113.7")
        );
        assert_eq!(verify((200, r#"{"success":false}"#)).0, Ok(false));
        assert!(verify((500, "")).0.is_err());
        assert!(verify((200, "nope")).0.is_err());
    }
}
