//! The HTTP client port over Workers `fetch` (public URLs) and service bindings (other Workers),
//! with a timeout so a hung upstream cannot hold a request forever.

use crate::adapters::http::{HttpClient, HttpRequest, HttpResponse};
use async_trait::async_trait;
use futures_util::future::{select, Either};
use std::time::Duration;
use worker::{Delay, Fetch, Fetcher, Headers, Method, Request, RequestInit, Response};

fn build_request(request: &HttpRequest) -> worker::Result<Request> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(if request.method == "GET" {
        Method::Get
    } else {
        Method::Post
    })
    .with_headers(headers);
    if let Some(body) = &request.body {
        init.with_body(Some(body.as_str().into()));
    }
    Request::new_with_init(&request.url, &init)
}

async fn finish(
    call: impl std::future::Future<Output = worker::Result<Response>>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let call = Box::pin(call);
    let timer = Box::pin(Delay::from(timeout));
    let mut response = match select(call, timer).await {
        Either::Left((result, _)) => result.map_err(|e| e.to_string())?,
        Either::Right(_) => return Err(format!("timed out after {} ms", timeout.as_millis())),
    };
    let status = response.status_code();
    let body = response.text().await.map_err(|e| e.to_string())?;
    Ok(HttpResponse { status, body })
}

/// Global `fetch`.
pub struct FetchClient {
    pub timeout: Duration,
}

#[async_trait(?Send)]
impl HttpClient for FetchClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let req = build_request(&request).map_err(|e| e.to_string())?;
        finish(
            async move { Fetch::Request(req).send().await },
            self.timeout,
        )
        .await
    }
}

/// A service binding; the URL's host is ignored by the runtime, its path is kept.
pub struct ServiceClient {
    pub fetcher: Fetcher,
    pub timeout: Duration,
}

#[async_trait(?Send)]
impl HttpClient for ServiceClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let req = build_request(&request).map_err(|e| e.to_string())?;
        let fetcher = self.fetcher.clone();
        finish(
            async move { fetcher.fetch_request(req).await },
            self.timeout,
        )
        .await
    }
}
