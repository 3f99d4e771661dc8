//! The HTTP client port over Workers `fetch` (public URLs) and service bindings (other Workers).
//! Every call is strict: one deadline covers the whole exchange, headers and body (the subrequest
//! is aborted when it passes), the body is read as a stream up to `MAX_RESPONSE_BYTES`, and
//! redirects are refused rather than followed (a redirect could carry a bearer secret or a
//! secret-bearing body somewhere else).

use crate::adapters::http::{HttpClient, HttpRequest, HttpResponse, MAX_RESPONSE_BYTES};
use async_trait::async_trait;
use futures_util::future::{select, Either};
use futures_util::StreamExt;
use std::time::Duration;
use worker::{
    AbortController, AbortSignal, Delay, Fetch, Fetcher, Headers, Method, Request, RequestInit,
    RequestRedirect, Response, ResponseBody,
};

fn build_request(request: &HttpRequest, signal: &AbortSignal) -> worker::Result<Request> {
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
    .with_headers(headers)
    .with_redirect(RequestRedirect::Manual);
    if let Some(body) = &request.body {
        init.with_body(Some(body.as_str().into()));
    }
    let unsignalled = Request::new_with_init(&request.url, &init)?;
    // `RequestInit` has no signal field; a copy of the request made with one carries it, so a
    // service binding's `fetch(request)` can be aborted too.
    let with_signal = worker::web_sys::RequestInit::new();
    with_signal.set_signal(Some(signal));
    Ok(
        worker::web_sys::Request::new_with_request_and_init(unsignalled.inner(), &with_signal)?
            .into(),
    )
}

/// The declared length when the upstream sends one.
fn content_length(response: &Response) -> Option<u64> {
    response
        .headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok())
}

fn too_large() -> String {
    format!("response body is larger than {MAX_RESPONSE_BYTES} bytes; refused")
}

/// Reads the body chunk by chunk, refusing it as soon as it passes the cap.
async fn read_capped(response: &mut Response) -> Result<Vec<u8>, String> {
    if content_length(response).is_some_and(|n| n > MAX_RESPONSE_BYTES as u64) {
        return Err(too_large());
    }
    match response.body() {
        ResponseBody::Empty => return Ok(Vec::new()),
        ResponseBody::Body(bytes) if bytes.len() > MAX_RESPONSE_BYTES => return Err(too_large()),
        ResponseBody::Body(bytes) => return Ok(bytes.clone()),
        ResponseBody::Stream(_) => {}
    }
    let mut stream = response.stream().map_err(|e| e.to_string())?;
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the response body failed: {e}"))?;
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

async fn exchange(
    call: impl std::future::Future<Output = worker::Result<Response>>,
) -> Result<HttpResponse, String> {
    let mut response = call.await.map_err(|e| e.to_string())?;
    let status = response.status_code();
    if (300..400).contains(&status) {
        let location = response
            .headers()
            .get("Location")
            .ok()
            .flatten()
            .unwrap_or_default();
        let location: String = location.chars().take(200).collect();
        return Err(format!(
            "refused a redirect (HTTP {status} to \"{location}\"): redirects are never followed"
        ));
    }
    let body = read_capped(&mut response).await?;
    let body = String::from_utf8(body).map_err(|_| "response body is not UTF-8".to_string())?;
    Ok(HttpResponse { status, body })
}

/// Runs the exchange under one deadline; on any failure the subrequest is aborted, so a hung or
/// trickling upstream stops sending and its connection is released.
async fn strict(
    controller: AbortController,
    call: impl std::future::Future<Output = worker::Result<Response>>,
    timeout: Duration,
) -> Result<HttpResponse, String> {
    let work = Box::pin(exchange(call));
    let timer = Box::pin(Delay::from(timeout));
    let outcome = match select(work, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(format!(
            "timed out after {} ms (headers and body)",
            timeout.as_millis()
        )),
    };
    if outcome.is_err() {
        controller.abort();
    }
    outcome
}

/// Global `fetch`.
pub struct FetchClient {
    pub timeout: Duration,
}

#[async_trait(?Send)]
impl HttpClient for FetchClient {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, String> {
        let controller = AbortController::default();
        let signal = controller.signal();
        let req = build_request(&request, &signal).map_err(|e| e.to_string())?;
        strict(
            controller,
            async move { Fetch::Request(req).send_with_signal(&signal).await },
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
        let controller = AbortController::default();
        let req = build_request(&request, &controller.signal()).map_err(|e| e.to_string())?;
        let fetcher = self.fetcher.clone();
        strict(
            controller,
            async move { fetcher.fetch_request(req).await },
            self.timeout,
        )
        .await
    }
}
