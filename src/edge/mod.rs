//! The Worker: the only part of the crate that knows HTTP and Workers bindings.
//! `POST /` is the action invocation endpoint; the rest of the request path is the core.

#[cfg(feature = "bench")]
mod bench;
mod d1_user_store;
mod durable_object;
#[cfg(feature = "test-faults")]
mod faults;
mod http_client;
mod kv_cache;
mod security_event_queue;
mod send_email;

pub use durable_object::{AccountStore, MainStore, RateLimitStore};

use crate::adapters::email::{
    EmailDelivery, EmailRenderer, LogDelivery, PostmarkDelivery, RenderingEmailSender,
    ResendDelivery, WebhookDelivery,
};
use crate::adapters::http::HttpClient;
use crate::adapters::logging::JsonLineLogger;
use crate::adapters::memory::NoCache;
use crate::adapters::pwned::{NoBreachCheck, PwnedPasswordsChecker};
use crate::adapters::turnstile::TurnstileVerifier;
use crate::adapters::user_server::UserServerClient;
use crate::client_address::{ClientAddress, CLIENT_ADDRESS_HEADER};
use crate::config::{Config, EmailConfig, UserStoreConfig};
use crate::crypto::{hash_secret, verify_secret};
use crate::endpoint::{ActionFilter, Rejection};
use crate::password::Argon2id;
use crate::ports::{
    AccountStorage, Cache, Clock, EmailAddressChecker, EmailSender, Millis, PasswordHashAlgorithm,
    PasswordStrengthChecker, RateLimitStorage, SecurityEventSink, StorageError, StoredEntry,
    UserStore,
};
use crate::rate_limit::{self, BucketSpec, Decision, RateLimitError};
use crate::server::{PasswordConfig, Ports, Server};
use async_trait::async_trait;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;
use worker::{event, Context, Env, Headers, Method, RateLimiter, Request, Response, Result};

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The Worker's wall clock in milliseconds.
pub(super) fn now_millis() -> Millis {
    js_sys::Date::now() as Millis
}

/// One structured warning or error line for the Workers log, tagged with its component.
pub(super) fn log_component(level: &str, component: &str, message: &str) {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": level, "component": component, "message": message})
    );
}

struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Millis {
        now_millis()
    }
}

struct AllowAllEmailAddresses;

#[async_trait(?Send)]
impl EmailAddressChecker for AllowAllEmailAddresses {
    async fn check_email_address(&self, _email_address: &str) -> std::result::Result<bool, String> {
        Ok(true)
    }
}

/// Account storage of a deployment without the ACCOUNT_STORAGE binding and with no extension that
/// uses it: never called (the extensions are its only users); should it be, every call fails.
struct UnboundAccountStorage;

impl UnboundAccountStorage {
    fn failure<T>() -> std::result::Result<T, StorageError> {
        Err(StorageError::Failed(
            "account storage used without the ACCOUNT_STORAGE binding".into(),
        ))
    }
}

#[async_trait(?Send)]
impl AccountStorage for UnboundAccountStorage {
    async fn get(&self, _: &str, _: &str) -> std::result::Result<StoredEntry, StorageError> {
        Self::failure()
    }
    async fn add(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Millis,
    ) -> std::result::Result<(), StorageError> {
        Self::failure()
    }
    async fn update(
        &self,
        _: &str,
        _: &str,
        _: Vec<u8>,
        _: Millis,
        _: i32,
    ) -> std::result::Result<(), StorageError> {
        Self::failure()
    }
    async fn delete(&self, _: &str, _: &str, _: i32) -> std::result::Result<(), StorageError> {
        Self::failure()
    }
    async fn list(
        &self,
        _: &str,
        _: &str,
    ) -> std::result::Result<Vec<(String, StoredEntry)>, StorageError> {
        Self::failure()
    }
    async fn delete_all(&self, _: &str) -> std::result::Result<(), StorageError> {
        Self::failure()
    }
}

/// The server and its configuration, built once per isolate.
struct Deployment {
    server: Server,
    config: Config,
    /// SHA-256 of ACTION_INVOCATION_ENDPOINT_SECRET, computed once rather than per request.
    endpoint_secret_hash: Option<Vec<u8>>,
    rate_limit_storage: Rc<dyn RateLimitStorage>,
    /// The `[[ratelimits]]` binding IP_RATE_LIMITER: the per-IP gate's storage-free first tier.
    ip_allowance: Option<RateLimiter>,
    turnstile: Option<TurnstileVerifier>,
    #[cfg(feature = "test-faults")]
    faults: faults::Rebuild,
}

thread_local! {
    static DEPLOYMENT: RefCell<Option<Rc<Deployment>>> = const { RefCell::new(None) };
}

fn read_var(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
}

fn console_sink() -> Rc<dyn Fn(&str)> {
    Rc::new(|line: &str| worker::console_log!("{line}"))
}

fn error_sink() -> Rc<dyn Fn(&str)> {
    Rc::new(|line: &str| worker::console_error!("{line}"))
}

fn fetch_client(timeout: Duration) -> Rc<dyn HttpClient> {
    Rc::new(http_client::FetchClient { timeout })
}

fn service_client(env: &Env, binding: &str, timeout: Duration) -> Option<Rc<dyn HttpClient>> {
    env.service(binding).ok().map(|fetcher| {
        Rc::new(http_client::ServiceClient { fetcher, timeout }) as Rc<dyn HttpClient>
    })
}

fn build(env: &Env) -> std::result::Result<Deployment, String> {
    let config = Config::from_vars(|name| read_var(env, name)).map_err(|e| e.to_string())?;
    let timeout = Duration::from_millis(config.upstream_timeout_ms);
    let fetch_client = || fetch_client(timeout);
    let binding_error = |name: &str, e: worker::Error| format!("binding {name} is missing: {e}");

    let main_namespace = env
        .durable_object("MAIN_STORAGE")
        .map_err(|e| binding_error("MAIN_STORAGE", e))?;
    let rate_limit_namespace = env
        .durable_object("RATE_LIMIT_STORAGE")
        .map_err(|e| binding_error("RATE_LIMIT_STORAGE", e))?;
    // Required only when an extension keeps per-user records (docs/extensions.md): a deployment
    // without extensions runs as before even if its wrangler.toml predates the binding.
    let account_namespace = match env.durable_object("ACCOUNT_STORAGE") {
        Ok(namespace) => Some(namespace),
        Err(e) if config.extensions.uses_account_storage() => {
            return Err(binding_error("ACCOUNT_STORAGE", e))
        }
        Err(_) => None,
    };
    let account_storage: Rc<dyn AccountStorage> = match &account_namespace {
        Some(namespace) => Rc::new(durable_object::ObjectStoreClient::new(namespace.clone())),
        None => Rc::new(UnboundAccountStorage),
    };
    let kv = if config.session.cache_expiration > 0 {
        Some(
            env.kv("SESSION_CACHE")
                .map_err(|e| binding_error("SESSION_CACHE", e))?,
        )
    } else {
        None
    };
    let main_storage = Rc::new(durable_object::ObjectStoreClient::new(
        main_namespace.clone(),
    ));
    let rate_limit_storage: Rc<dyn RateLimitStorage> = Rc::new(
        durable_object::ObjectStoreClient::new(rate_limit_namespace.clone()),
    );
    let cache: Rc<dyn Cache> = match &kv {
        Some(kv) => Rc::new(kv_cache::KvSessionCache::new(kv.clone())),
        None => Rc::new(NoCache),
    };

    let user_store: Rc<dyn UserStore> = match &config.user_store {
        UserStoreConfig::D1 => Rc::new(d1_user_store::D1UserStore::new(
            env.d1("DB").map_err(|e| binding_error("DB", e))?,
        )),
        UserStoreConfig::UserServer { url, secret } => {
            let (http, url) = match (service_client(env, "USER_SERVER", timeout), url) {
                (Some(service), url) => (
                    service,
                    url.clone().unwrap_or_else(|| "https://user-server/".into()),
                ),
                (None, Some(url)) => (fetch_client(), url.clone()),
                (None, None) => {
                    return Err("configuration error in USER_SERVER_URL: is required when \
                                USER_STORE=user_server and no USER_SERVER service binding exists"
                        .into())
                }
            };
            Rc::new(UserServerClient::new(&url, secret.clone(), http))
        }
    };

    let delivery: Rc<dyn EmailDelivery> = match &config.email {
        EmailConfig::Log => Rc::new(LogDelivery::new(console_sink())),
        EmailConfig::Webhook { url, secret } => {
            Rc::new(WebhookDelivery::new(url, secret.clone(), fetch_client()))
        }
        EmailConfig::Resend {
            api_url,
            api_key,
            from,
        } => Rc::new(ResendDelivery::new(api_url, api_key, from, fetch_client())),
        EmailConfig::Postmark {
            api_url,
            server_token,
            from,
        } => Rc::new(PostmarkDelivery::new(
            api_url,
            server_token,
            from,
            fetch_client(),
        )),
        EmailConfig::Service => {
            let http = service_client(env, "EMAIL", timeout).ok_or_else(|| {
                "configuration error in EMAIL_PROVIDER: service needs a service binding named EMAIL"
                    .to_string()
            })?;
            Rc::new(WebhookDelivery::new("https://email/", None, http))
        }
        EmailConfig::Cloudflare { from } => Rc::new(send_email::CloudflareEmailDelivery {
            binding: env.send_email(send_email::BINDING).map_err(|e| {
                format!(
                    "configuration error in EMAIL_PROVIDER: cloudflare needs a send_email binding \
                     named {} ({e})",
                    send_email::BINDING
                )
            })?,
            from: from.clone(),
            timeout,
        }),
    };
    let renderer = EmailRenderer::new(&config.app_name)
        .default_language(&config.email_default_language)?
        .language_order(config.email_language_order.clone());
    let email_sender: Rc<dyn EmailSender> =
        Rc::new(RenderingEmailSender::with_renderer(renderer, delivery));

    let password_strength_checker: Rc<dyn PasswordStrengthChecker> =
        match &config.pwned_passwords_url {
            Some(url) => Rc::new(PwnedPasswordsChecker::new(url, fetch_client())),
            None => Rc::new(NoBreachCheck),
        };

    let ports = Ports {
        main_storage,
        cache,
        rate_limit_storage: rate_limit_storage.clone(),
        user_store,
        email_sender,
        error_logger: Rc::new(if config.action_log {
            JsonLineLogger::new(error_sink()).with_action_log(console_sink())
        } else {
            JsonLineLogger::new(error_sink())
        }),
        clock: Rc::new(SystemClock),
        email_address_checker: Rc::new(AllowAllEmailAddresses),
        password_strength_checker,
        account_storage,
    };
    // One block buffer for the largest configured algorithm, whichever hashes first.
    Argon2id::plan_block_memory(
        config
            .user_password_algorithms
            .iter()
            .chain([&config.temporary_password_algorithm]),
    );
    let passwords = PasswordConfig {
        user_password_algorithms: config
            .user_password_algorithms
            .iter()
            .map(|a| Rc::new(a.clone()) as Rc<dyn PasswordHashAlgorithm>)
            .collect(),
        temporary_password_algorithm: Rc::new(config.temporary_password_algorithm.clone()),
    };
    let turnstile = config.turnstile_secret_key.as_ref().map(|secret| {
        TurnstileVerifier::new(&config.turnstile_siteverify_url, secret, fetch_client())
    });
    // The queue is optional: without the binding, events stay in account storage only.
    let security_event_sink: Option<Rc<dyn SecurityEventSink>> =
        if config.extensions.security_events {
            env.queue(security_event_queue::BINDING)
                .ok()
                .map(|queue| Rc::new(security_event_queue::QueueSink { queue }) as _)
        } else {
            None
        };
    #[cfg(feature = "test-faults")]
    let faults = faults::Rebuild {
        ports: ports.clone(),
        passwords: passwords.clone(),
        session: config.session,
        extensions: config.extensions.clone(),
        main_namespace,
        rate_limit_namespace,
        account_namespace,
        kv,
        security_event_sink: security_event_sink.clone(),
    };
    let server = Server::new(ports, config.session, passwords)?
        .with_extensions(config.extensions.clone())?;
    let server = match security_event_sink {
        Some(sink) => server.with_security_event_sink(sink),
        None => server,
    };
    let ip_allowance = ip_allowance(env, &config);
    Ok(Deployment {
        server,
        endpoint_secret_hash: config.endpoint_secret.as_deref().map(hash_secret),
        config,
        rate_limit_storage,
        ip_allowance,
        turnstile,
        #[cfg(feature = "test-faults")]
        faults,
    })
}

/// The per-IP gate's first tier; without it every gated request goes to the bucket, which works
/// but writes for every new address, so a configured gate says so.
fn ip_allowance(env: &Env, config: &Config) -> Option<RateLimiter> {
    match env.rate_limiter(IP_ALLOWANCE_BINDING) {
        Ok(limiter) => Some(limiter),
        Err(e) => {
            if config.ip_rate_limit.per_minute > 0 {
                log_component(
                    "warn",
                    "ip_rate_limit",
                    &format!(
                        "{IP_ALLOWANCE_BINDING} binding unavailable ({e}): every gated \
                         request uses the Durable Object bucket"
                    ),
                );
            }
            None
        }
    }
}

fn deployment(env: &Env) -> std::result::Result<Rc<Deployment>, String> {
    if let Some(existing) = DEPLOYMENT.with(|d| d.borrow().clone()) {
        return Ok(existing);
    }
    let built = Rc::new(build(env)?);
    DEPLOYMENT.with(|d| *d.borrow_mut() = Some(built.clone()));
    Ok(built)
}

fn text(status: u16, message: &str) -> Result<Response> {
    text_with(status, message, &[])
}

/// A plain-text answer with `extra` headers. Every answer of the endpoint is `no-store`: none may
/// be replayed from a cache, errors included.
fn text_with(status: u16, message: &str, extra: &[(&str, &str)]) -> Result<Response> {
    let headers = Headers::new();
    headers.set("Content-Type", "text/plain; charset=utf-8")?;
    headers.set("Cache-Control", "no-store")?;
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    Ok(Response::ok(message)?
        .with_status(status)
        .with_headers(headers))
}

/// What every caller that does not hold the endpoint secret reads when the configuration is
/// refused: the detail may describe secrets and deployment choices, so it goes to the log.
pub const MISCONFIGURED: &str = "faroe-worker is misconfigured; see the Worker logs";

/// The answer while the configuration is refused: 500, with the detail (which names the
/// variable) logged, and shown only to a caller presenting the raw
/// ACTION_INVOCATION_ENDPOINT_SECRET (the operator; even one the configuration refused as too
/// short, since that caller already knows it). Everyone else gets [`MISCONFIGURED`].
fn misconfigured(req: &Request, env: &Env, detail: &str) -> Result<Response> {
    worker::console_error!(
        "{}",
        serde_json::json!({"level": "error", "component": "config", "message": detail})
    );
    let operator = read_var(env, "ACTION_INVOCATION_ENDPOINT_SECRET")
        .filter(|secret| !secret.is_empty())
        .is_some_and(|secret| is_authorized(req, &hash_secret(&secret)));
    text(500, if operator { detail } else { MISCONFIGURED })
}

/// Constant-time check of `Authorization: Bearer <secret>` against the secret's hash.
fn is_authorized(req: &Request, secret_hash: &[u8]) -> bool {
    let presented = header(req, "Authorization").unwrap_or_default();
    let token = presented.strip_prefix("Bearer ").unwrap_or("");
    // Compare digests: equal lengths, so not even the secret's length leaks through timing.
    verify_secret(token, secret_hash)
}

fn is_json_content_type(req: &Request) -> bool {
    let value = header(req, "Content-Type").unwrap_or_default();
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// Reads the body, refusing (without buffering it all) anything over `MAX_BODY_BYTES`.
async fn read_body(req: &mut Request) -> Result<Option<Vec<u8>>> {
    if let Some(length) = header(req, "Content-Length") {
        return match length.trim().parse::<usize>() {
            // The runtime holds the body to its declared length: one read, no stream loop.
            Ok(n) if n <= MAX_BODY_BYTES => req.bytes().await.map(Some),
            _ => Ok(None),
        };
    }
    let mut body = Vec::new();
    let mut stream = match req.stream() {
        Ok(stream) => stream,
        Err(_) => return Ok(Some(body)),
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// The actions anyone can start without a token: the per-IP limit applies to them only.
const UNAUTHENTICATED_ENTRY_POINTS: [&str; 4] = [
    "create_signup",
    "create_signin",
    "create_user_password_reset",
    // The passkeys extension's passwordless sign-in (an unknown action while it is off).
    "create_passkey_signin",
];

enum GateRefusal {
    /// The client's per-IP bucket is empty (or a concurrent request took the last token).
    IpLimited,
}

/// The `[[ratelimits]]` binding in front of the per-IP Durable Object bucket.
const IP_ALLOWANCE_BINDING: &str = "IP_RATE_LIMITER";

/// The end user's address for the per-IP gate and Turnstile (docs/abuse-limits.md):
/// `X-Faroe-Client-Address` when the caller proved the bearer secret, else `CF-Connecting-IP`
/// unless the request is a Worker's subrequest (`CF-Worker`), whose address is the Worker's
/// egress, shared by all its users. An authenticated caller's malformed address is an error.
fn client_address(
    req: &Request,
    authenticated: bool,
) -> std::result::Result<Option<ClientAddress>, String> {
    if authenticated {
        if let Some(value) = header(req, CLIENT_ADDRESS_HEADER) {
            return ClientAddress::parse(&value).map(Some).ok_or_else(|| {
                format!("{CLIENT_ADDRESS_HEADER} must be one IPv4 or IPv6 address")
            });
        }
    }
    // Only an authenticated caller's CF-Worker switches the address off: without the secret
    // (development mode) anyone could send the header to escape the limit.
    if authenticated && header(req, "CF-Worker").is_some() {
        return Ok(None);
    }
    Ok(header(req, "CF-Connecting-IP").and_then(|value| ClientAddress::parse(&value)))
}

thread_local! {
    static WARNED_WITHOUT_CLIENT_ADDRESS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A gated request without an address is served unlimited; say so once per isolate, since it
/// usually means the caller does not forward the user's address.
fn warn_once_without_client_address() {
    if !WARNED_WITHOUT_CLIENT_ADDRESS.with(|warned| warned.replace(true)) {
        log_component(
            "warn",
            "ip_rate_limit",
            &format!(
                "per-IP limit skipped: no client address (callers with the bearer secret send \
                 {CLIENT_ADDRESS_HEADER}; a Worker's subrequest is never keyed by its own address)"
            ),
        );
    }
}

/// The optional per-IP limit for the unauthenticated entry points, in two tiers. First the
/// IP_RATE_LIMITER binding (Workers Rate Limiting, no storage): an address within its allowance
/// passes without touching a Durable Object. Only past it does the exact token bucket in the
/// rate-limit Durable Objects (prefix "ip.") decide. Failures of either tier let the request
/// through (an abuse limit must not take sign-in down) and are logged.
async fn ip_gate(
    deployment: &Deployment,
    client: Option<&ClientAddress>,
    action: &'static str,
) -> std::result::Result<(), GateRefusal> {
    let limit = deployment.config.ip_rate_limit;
    if limit.per_minute == 0 || !UNAUTHENTICATED_ENTRY_POINTS.contains(&action) {
        return Ok(());
    }
    let Some(client) = client else {
        warn_once_without_client_address();
        return Ok(());
    };
    let subject = client.bucket_subject();
    if let Some(allowance) = &deployment.ip_allowance {
        match allowance.limit(subject.clone()).await {
            Ok(outcome) if outcome.success => return Ok(()),
            Ok(_) => {}
            Err(e) => log_component(
                "warn",
                "ip_rate_limit",
                &format!("{IP_ALLOWANCE_BINDING} failed: {e}"),
            ),
        }
    }
    let spec = BucketSpec {
        prefix: "ip.",
        max: limit.burst as u8,
        interval: 60_000 / Millis::from(limit.per_minute),
    };
    match rate_limit::consume_from(
        deployment.rate_limit_storage.as_ref(),
        &spec,
        &subject,
        now_millis(),
    )
    .await
    {
        Ok(Decision::Allowed) => Ok(()),
        Ok(Decision::Denied) | Err(RateLimitError::Conflict) => Err(GateRefusal::IpLimited),
        Err(RateLimitError::Failed(message)) => {
            log_component("warn", "ip_rate_limit", &message);
            Ok(())
        }
    }
}

/// The app's email language for this request (docs/emails.md). A value that is no language tag
/// (letters, digits, `-`/`_`, at most 35 characters) is ignored like an unknown language.
pub const EMAIL_LANGUAGE_HEADER: &str = "X-Faroe-Email-Language";

fn email_language(req: &Request) -> Option<String> {
    header(req, EMAIL_LANGUAGE_HEADER)
        .map(|value| value.trim().to_string())
        .filter(|value| {
            (1..=35).contains(&value.len())
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// The client label for a session this request creates (sessions extension, docs/extensions.md);
/// the server ignores a value that is not 1–64 characters without control characters.
pub const CLIENT_LABEL_HEADER: &str = "X-Faroe-Client-Label";

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

async fn action_invocation_endpoint(
    mut req: Request,
    env: &Env,
    captcha: bool,
) -> Result<Response> {
    let deployment = match deployment(env) {
        Ok(d) => d,
        Err(detail) => return misconfigured(&req, env, &detail),
    };
    let config = &deployment.config;
    // No secret only with ALLOW_UNAUTHENTICATED_ENDPOINT=true, which needs DEVELOPMENT_MODE=true.
    let authenticated = match &deployment.endpoint_secret_hash {
        Some(secret_hash) => {
            if !is_authorized(&req, secret_hash) {
                return text(401, "missing or invalid bearer secret");
            }
            true
        }
        None => false,
    };
    let client = match client_address(&req, authenticated) {
        Ok(client) => client,
        Err(message) => return text(400, &message),
    };
    if captcha {
        let Some(turnstile) = &deployment.turnstile else {
            return text(
                404,
                "not found: set TURNSTILE_SECRET_KEY to enable /captcha",
            );
        };
        let Some(token) = header(&req, "X-Captcha-Token").filter(|t| !t.is_empty()) else {
            return text(403, "missing X-Captcha-Token");
        };
        let remote_ip = client.map(|c| c.as_ip().to_string());
        match turnstile.verify(&token, remote_ip.as_deref()).await {
            Ok(true) => {}
            Ok(false) => return text(403, "captcha verification failed"),
            Err(message) => {
                log_component("error", "turnstile", &message);
                return text(503, "captcha verification unavailable");
            }
        }
    }
    if !is_json_content_type(&req) {
        return text(400, "Content-Type must be application/json");
    }
    let Some(body) = read_body(&mut req).await? else {
        return text(413, "request body is larger than 64 KiB");
    };
    // The plain endpoint applies ACTION_BLOCKLIST / ACTION_ALLOWLIST; the captcha endpoint is the
    // place for the actions a blocklist keeps off the plain one.
    let filter = if captcha {
        &ActionFilter::AllowAll
    } else {
        &config.action_filter
    };
    #[cfg(feature = "test-faults")]
    let fault_server = faults::server_for(&deployment.faults, header(&req, "X-Faroe-Test-Fault"))?;
    #[cfg(feature = "test-faults")]
    let server = fault_server.as_ref().unwrap_or(&deployment.server);
    #[cfg(not(feature = "test-faults"))]
    let server = &deployment.server;
    // Bench builds: a request asking for counts runs on a copy whose ports count every call.
    #[cfg(feature = "bench")]
    let counts =
        header(&req, bench::COUNT_REQUEST_HEADER).map(|_| Rc::new(bench::Counts::default()));
    #[cfg(feature = "bench")]
    let counting_server = match &counts {
        Some(counts) => Some(bench::counting_server(server, counts)?),
        None => None,
    };
    #[cfg(feature = "bench")]
    let server = counting_server.as_ref().unwrap_or(server);

    // The app's email language for this invocation: a hint the email sender's rule weighs.
    let with_language = email_language(&req).map(|language| server.with_email_language(&language));
    let server = with_language.as_ref().unwrap_or(server);
    // The label of a session this invocation creates (sessions extension).
    let with_label = header(&req, CLIENT_LABEL_HEADER)
        .filter(|_| server.extensions().sessions)
        .map(|label| server.with_client_label(&label));
    let server = with_label.as_ref().unwrap_or(server);
    // The end user's address goes with their security events (only read when they are on).
    let with_address = client
        .filter(|_| server.extensions().security_events)
        .map(|c| server.with_client_address(&c.as_ip().to_string()));
    let server = with_address.as_ref().unwrap_or(server);
    let gate = |action| ip_gate(&deployment, client.as_ref(), action);
    match server.resolve_gated(&body, filter, gate).await {
        Ok(result) => {
            let headers = Headers::new();
            headers.set("Content-Type", "application/json")?;
            headers.set("Cache-Control", "no-store")?;
            #[cfg(feature = "bench")]
            if let Some(counts) = &counts {
                headers.set(bench::COUNTS_HEADER, &counts.to_json())?;
            }
            Ok(Response::ok(result)?.with_headers(headers))
        }
        Err(Rejection::Request(e)) => text(400, e.reason()),
        Err(Rejection::Gate(GateRefusal::IpLimited)) => text_with(
            429,
            "too many requests from this address",
            &[("Retry-After", "60")],
        ),
    }
}

#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    // A runtime error (a body that fails to read, …) still gets a no-store answer of ours.
    route(req, env).await.or_else(|e| {
        log_component("error", "endpoint", &e.to_string());
        text(500, "internal error")
    })
}

async fn route(req: Request, env: Env) -> Result<Response> {
    let path = req.path();
    #[cfg(feature = "bench")]
    if path.starts_with("/__bench/") {
        return bench::handle(req, &env).await;
    }
    #[cfg(feature = "test-faults")]
    if path == faults::ACCOUNT_STORAGE_PROBE_PATH {
        return faults::account_storage_probe(req, &env).await;
    }
    match (req.method(), path.as_str()) {
        (Method::Post, "/") => action_invocation_endpoint(req, &env, false).await,
        (Method::Post, "/captcha") => action_invocation_endpoint(req, &env, true).await,
        (_, "/" | "/captcha") => {
            text_with(405, "method not allowed: use POST", &[("Allow", "POST")])
        }
        _ => text(404, "not found"),
    }
}
