//! A minimal HTTP client port for the adapters that speak HTTP (email providers, the user server,
//! Pwned Passwords). The Worker implements it with `fetch` and service bindings; tests with fakes.

use async_trait::async_trait;

/// The largest response body any upstream may send (1 MiB). The biggest legitimate answer, a
/// Pwned Passwords range, is about 40 KB; anything past the cap is refused, not truncated.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET",
            url: url.into(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn post_json(url: impl Into<String>, body: String) -> Self {
        Self {
            method: "POST",
            url: url.into(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn bearer(self, secret: &str) -> Self {
        self.header("Authorization", format!("Bearer {secret}"))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub body: String,
}

/// Sends one request. `Err` is a transport failure, a timeout (covering headers and body), a body
/// over `MAX_RESPONSE_BYTES` or a refused redirect (any 3xx); any other status is `Ok`.
#[async_trait(?Send)]
pub trait HttpClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String>;
}
