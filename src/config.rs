//! Deployment configuration from Worker vars and secrets: every variable, its default and its error
//! message in one place. Parsed once per isolate; errors name the variable at fault.

use crate::adapters::email::{
    LanguageSource, BUILT_IN_LANGUAGE, COMPLETE_LANGUAGES, DEFAULT_LANGUAGE_ORDER,
};
use crate::endpoint::{ActionFilter, ACTIONS};
use crate::extensions::{self, Extensions, PasskeysConfig, TotpConfig};
use crate::password::{
    Argon2id, DEFAULT_TEMPORARY_PASSWORD_ALGORITHM, DEFAULT_USER_PASSWORD_ALGORITHM,
};
use crate::server::SessionConfig;

/// One documented variable.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every variable the Worker reads (README and SECURITY.md are written from this table).
pub static VARIABLES: &[Variable] = &[
    Variable { name: "ACTION_INVOCATION_ENDPOINT_SECRET", default: "(required secret)", meaning: "Bearer secret callers must send, at least 32 characters; compared in constant time" },
    Variable { name: "DEVELOPMENT_MODE", default: "false", meaning: "true marks a local development deployment: only then are EMAIL_PROVIDER=log and ALLOW_UNAUTHENTICATED_ENDPOINT=true accepted" },
    Variable { name: "ALLOW_UNAUTHENTICATED_ENDPOINT", default: "false", meaning: "true serves without a secret (needs DEVELOPMENT_MODE=true)" },
    Variable { name: "ACTION_BLOCKLIST", default: "(empty)", meaning: "comma-separated actions refused with 400 on POST / (POST /captcha serves every action)" },
    Variable { name: "ACTION_ALLOWLIST", default: "(empty = all)", meaning: "comma-separated actions, all others refused with 400 on POST / (not on /captcha)" },
    Variable { name: "SESSION_INACTIVITY_TIMEOUT_SECONDS", default: "2592000", meaning: "sessions unused this long are invalid" },
    Variable { name: "SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS", default: "60", meaning: "minimum interval between activity writes" },
    Variable { name: "SESSION_CACHE_EXPIRATION_SECONDS", default: "60", meaning: "KV cache TTL; 0 = no cache, otherwise at least 60" },
    Variable { name: "SESSION_EXPIRATION_SECONDS", default: "(unset = none)", meaning: "absolute session lifetime" },
    Variable { name: "PASSWORD_HASH_ALGORITHMS", default: DEFAULT_USER_PASSWORD_ALGORITHM, meaning: "comma list of argon2id ids (at most 96 MiB, t=10, p=16, 16..64-byte output); the first hashes new passwords and must reach OWASP's minimum" },
    Variable { name: "TEMPORARY_PASSWORD_HASH_ALGORITHM", default: DEFAULT_TEMPORARY_PASSWORD_ALGORITHM, meaning: "argon2id id for reset temporary passwords (same bounds and minimum)" },
    Variable { name: "ALLOW_WEAK_PASSWORD_HASHING", default: "false", meaning: "true accepts algorithms below OWASP's minimum for new passwords (tests only)" },
    Variable { name: "PASSWORD_REHASH_ON_SIGNIN", default: "false", meaning: "true rehashes a password stored under a later PASSWORD_HASH_ALGORITHMS entry with the first at sign-in (docs/extensions.md)" },
    Variable { name: "USER_STORE", default: "d1", meaning: "d1 or user_server" },
    Variable { name: "USER_SERVER_URL", default: "(none)", meaning: "user server endpoint (unless a USER_SERVER service binding exists)" },
    Variable { name: "USER_SERVER_SECRET", default: "(none)", meaning: "bearer secret sent to the user server" },
    Variable { name: "EMAIL_PROVIDER", default: "(required)", meaning: "log, webhook, resend, postmark, service or cloudflare (Email Service's send_email binding SEND_EMAIL)" },
    Variable { name: "EMAIL_WEBHOOK_URL", default: "(none)", meaning: "webhook provider endpoint" },
    Variable { name: "EMAIL_WEBHOOK_SECRET", default: "(none)", meaning: "bearer secret sent to the webhook" },
    Variable { name: "RESEND_API_KEY", default: "(none)", meaning: "Resend API key (secret)" },
    Variable { name: "RESEND_API_URL", default: crate::adapters::email::DEFAULT_RESEND_API_URL, meaning: "Resend API base URL" },
    Variable { name: "POSTMARK_SERVER_TOKEN", default: "(none)", meaning: "Postmark server token (secret)" },
    Variable { name: "POSTMARK_API_URL", default: crate::adapters::email::DEFAULT_POSTMARK_API_URL, meaning: "Postmark API base URL" },
    Variable { name: "EMAIL_FROM", default: "(none)", meaning: "sender address for resend, postmark and cloudflare" },
    Variable { name: "EMAIL_DEFAULT_LANGUAGE", default: crate::adapters::email::BUILT_IN_LANGUAGE, meaning: "language of emails no other rule decides, and of every template another language lacks; must have all templates (docs/emails.md)" },
    Variable { name: "EMAIL_LANGUAGE_ORDER", default: "user_store,request", meaning: "where a message's language comes from, first match wins, before EMAIL_DEFAULT_LANGUAGE: user_store (the user's email_language), request (X-Faroe-Email-Language); none = always the default" },
    Variable { name: "APP_NAME", default: "Faroe", meaning: "application name used in email bodies" },
    Variable { name: "PASSWORD_BREACH_CHECK", default: "on", meaning: "off disables the Pwned Passwords check" },
    Variable { name: "PWNED_PASSWORDS_URL", default: crate::adapters::pwned::DEFAULT_PWNED_PASSWORDS_URL, meaning: "Pwned Passwords range API base URL" },
    Variable { name: "UPSTREAM_TIMEOUT_MS", default: "10000", meaning: "timeout for email, user-server, Pwned Passwords and Turnstile calls" },
    Variable { name: "IP_RATE_LIMIT_PER_MINUTE", default: "0 (off)", meaning: "per-IP token bucket refill (must divide 60) for create_signup, create_signin, create_user_password_reset" },
    Variable { name: "IP_RATE_LIMIT_BURST", default: "10", meaning: "per-IP bucket capacity" },
    Variable { name: "TURNSTILE_SECRET_KEY", default: "(none = /captcha disabled)", meaning: "Turnstile secret; enables POST /captcha" },
    Variable { name: "TURNSTILE_SITEVERIFY_URL", default: DEFAULT_TURNSTILE_SITEVERIFY_URL, meaning: "Turnstile siteverify endpoint" },
    Variable { name: "EXTENSIONS", default: "(empty = none)", meaning: "comma-separated extensions to turn on (docs/extensions.md): totp, passkeys, sessions, security_events" },
    Variable { name: "WEBAUTHN_RP_ID", default: "(required with passkeys)", meaning: "the passkeys' relying party id: a registrable domain such as example.com (localhost only with DEVELOPMENT_MODE=true)" },
    Variable { name: "WEBAUTHN_RP_NAME", default: "APP_NAME", meaning: "the relying party name some authenticators show" },
    Variable { name: "WEBAUTHN_ALLOWED_ORIGINS", default: "(required with passkeys)", meaning: "comma-separated origins allowed to run passkey ceremonies: https://<WEBAUTHN_RP_ID or a subdomain>[:port] (http://localhost:<port> only with DEVELOPMENT_MODE=true)" },
    Variable { name: "WEBAUTHN_USER_VERIFICATION", default: "preferred", meaning: "required | preferred | discouraged; the UV flag is required only with required, and for passwordless sign-in unless discouraged" },
    Variable { name: "SECOND_FACTOR_REQUIRED", default: "false", meaning: "true refuses removing a user's last second factor (TOTP or last passkey) with second_factor_required" },
    Variable { name: "ACTION_LOG", default: "on", meaning: "off stops the one JSON line per action invocation (action, invocation id, result, user id; docs/extensions.md \"Action log\")" },
    Variable { name: "TOTP_ENCRYPTION_KEYS", default: "(required secret with totp)", meaning: "comma-separated <key id>:<base64 of 32 bytes>; the first encrypts TOTP keys, every one decrypts (rotation: docs/extensions.md)" },
];

/// The shortest accepted ACTION_INVOCATION_ENDPOINT_SECRET, in characters (e.g. 32 random
/// bytes base64-encoded are 44).
pub const MIN_ENDPOINT_SECRET_LENGTH: usize = 32;

/// Variables that no longer exist: (name, the one value that still describes what the Worker
/// does, why any other value is an error). Any other value is refused rather than ignored: a
/// deployment that sets it expects a bound that no longer applies. The value that still holds is
/// accepted, so an upgrade with our earlier `wrangler.toml` (which set it to 1) keeps serving.
const REMOVED_VARIABLES: &[(&str, &str, &str)] = &[(
    "MAX_CONCURRENT_PASSWORD_HASHING",
    "1",
    "was removed and bounds nothing: an isolate hashes synchronously, one password at a time \
     whatever its value, and concurrent set-password requests on one entity hash once (the others \
     answer internal_conflict). Delete the variable (1 is still accepted)",
)];

pub const DEFAULT_TURNSTILE_SITEVERIFY_URL: &str =
    "https://challenges.cloudflare.com/turnstile/v0/siteverify";

/// A configuration error that names the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "configuration error in {}: {}",
            self.variable, self.problem
        )
    }
}

impl std::error::Error for ConfigError {}

fn error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserStoreConfig {
    D1,
    /// `url` may be absent when a `USER_SERVER` service binding is used.
    UserServer {
        url: Option<String>,
        secret: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmailConfig {
    Log,
    Webhook {
        url: String,
        secret: Option<String>,
    },
    Resend {
        api_url: String,
        api_key: String,
        from: String,
    },
    Postmark {
        api_url: String,
        server_token: String,
        from: String,
    },
    Service,
    /// Cloudflare Email Service through the `send_email` binding SEND_EMAIL.
    Cloudflare {
        from: String,
    },
}

/// Per-IP abuse limit for the unauthenticated entry points (off when `per_minute == 0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRateLimit {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// `None` only with `allow_unauthenticated_endpoint` (which needs development mode).
    pub endpoint_secret: Option<String>,
    pub allow_unauthenticated_endpoint: bool,
    /// `DEVELOPMENT_MODE=true`: the deployment says it is local development.
    pub development_mode: bool,
    pub action_filter: ActionFilter,
    pub session: SessionConfig,
    pub user_password_algorithms: Vec<Argon2id>,
    pub temporary_password_algorithm: Argon2id,
    pub user_store: UserStoreConfig,
    pub email: EmailConfig,
    /// EMAIL_DEFAULT_LANGUAGE: a language with every template.
    pub email_default_language: String,
    /// EMAIL_LANGUAGE_ORDER.
    pub email_language_order: Vec<LanguageSource>,
    pub app_name: String,
    /// `None` when the breach check is off.
    pub pwned_passwords_url: Option<String>,
    pub ip_rate_limit: IpRateLimit,
    pub turnstile_secret_key: Option<String>,
    pub turnstile_siteverify_url: String,
    pub upstream_timeout_ms: u64,
    /// `ACTION_LOG`: one outcome line per action invocation (default on).
    pub action_log: bool,
    /// `EXTENSIONS` and their settings (docs/extensions.md).
    pub extensions: Extensions,
}

/// A numeric variable: `default` when unset, else its trimmed value parsed and within `range`;
/// otherwise an error saying the value is not `what`.
fn number_var<T: std::str::FromStr + PartialOrd>(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
    what: &str,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v
            .trim()
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| error(name, format!("\"{v}\" is not {what}"))),
    }
}

fn seconds_var(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
) -> Result<i64, ConfigError> {
    number_var(
        get,
        name,
        default,
        0..=10 * 365 * 24 * 3600,
        "a whole number of seconds",
    )
}

fn action_list(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<Vec<String>, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(Vec::new());
    };
    let mut list = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !ACTIONS.iter().any(|a| a.name == item) && !extensions::is_extension_action(item) {
            return Err(error(
                name,
                format!("\"{item}\" is not a Faroe or extension action"),
            ));
        }
        list.push(item.to_string());
    }
    Ok(list)
}

/// EMAIL_LANGUAGE_ORDER: a comma list of distinct sources, or `none`.
fn language_order(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<LanguageSource>, ConfigError> {
    const NAME: &str = "EMAIL_LANGUAGE_ORDER";
    let Some(raw) = get(NAME) else {
        return Ok(DEFAULT_LANGUAGE_ORDER.to_vec());
    };
    if raw.trim() == "none" {
        return Ok(Vec::new());
    }
    let mut order = Vec::new();
    for item in raw.split(',').map(str::trim) {
        let source = match item {
            "user_store" => LanguageSource::UserStore,
            "request" => LanguageSource::Request,
            other => {
                return Err(error(
                    NAME,
                    format!("\"{other}\" is not user_store or request (or the whole value none)"),
                ))
            }
        };
        if order.contains(&source) {
            return Err(error(NAME, format!("lists {item} twice")));
        }
        order.push(source);
    }
    Ok(order)
}

fn required(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    why: &str,
) -> Result<String, ConfigError> {
    get(name).ok_or_else(|| error(name, format!("is required {why}")))
}

fn boolean(
    get: &dyn Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "on" | "1") => Ok(true),
        Some("false" | "off" | "0") => Ok(false),
        Some(other) => Err(error(
            name,
            format!("\"{other}\" is not on/off (true/false)"),
        )),
    }
}

/// URLs the Worker sends a secret to (a bearer token, an API key, the Turnstile secret in the body).
pub const SECRET_BEARING_URLS: &[&str] = &[
    "EMAIL_WEBHOOK_URL",
    "USER_SERVER_URL",
    "RESEND_API_URL",
    "POSTMARK_API_URL",
    "TURNSTILE_SITEVERIFY_URL",
];

/// A URL that carries a secret must be `https:`; plain `http:` is allowed only to a loopback host
/// (`localhost`, `127.0.0.0/8`, `[::1]`) for local development and tests. The host is read the way
/// the WHATWG URL parser reads it (userinfo before the last `@` skipped, `\` ends the authority),
/// and any other spelling of a host is refused.
fn require_https_unless_loopback(name: &'static str, url: &str) -> Result<(), ConfigError> {
    let url = url.trim();
    let scheme_end = url.find("://").unwrap_or(0);
    let scheme = url[..scheme_end].to_ascii_lowercase();
    if scheme == "https" && url.len() > "https://".len() {
        return Ok(());
    }
    // The value is not echoed: a URL may itself hold a credential.
    let refused = || {
        error(
            name,
            "must be an https: URL because the Worker sends it a secret (http: is allowed only for \
             localhost, 127.0.0.0/8 and [::1])",
        )
    };
    if scheme != "http" {
        return Err(refused());
    }
    let rest = &url[scheme_end + 3..];
    let authority = &rest[..rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len())];
    let host_and_port = authority.rsplit('@').next().unwrap_or("");
    let host = if host_and_port.starts_with('[') {
        &host_and_port[..host_and_port.find(']').map_or(0, |i| i + 1)]
    } else {
        host_and_port.split(':').next().unwrap_or("")
    };
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host == "[::1]"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `EXTENSIONS` and the settings of the extensions it names.
fn extensions_config(
    get: &dyn Fn(&str) -> Option<String>,
    app_name: &str,
    development_mode: bool,
) -> Result<Extensions, ConfigError> {
    let names = extensions::parse_extension_names(&get("EXTENSIONS").unwrap_or_default())
        .map_err(|problem| error("EXTENSIONS", problem))?;
    let totp = if names.contains(&"totp") {
        let raw = required(get, "TOTP_ENCRYPTION_KEYS", "when EXTENSIONS contains totp")?;
        Some(
            TotpConfig::from_keys_variable(app_name, &raw)
                .map_err(|problem| error("TOTP_ENCRYPTION_KEYS", problem))?,
        )
    } else {
        None
    };
    let passkeys = if names.contains(&"passkeys") {
        Some(
            PasskeysConfig::from_vars(get, app_name, development_mode)
                .map_err(|(variable, problem)| error(variable, problem))?,
        )
    } else {
        None
    };
    Ok(Extensions {
        totp,
        passkeys,
        second_factor_required: boolean(get, "SECOND_FACTOR_REQUIRED", false)?,
        password_rehash_on_signin: boolean(get, "PASSWORD_REHASH_ON_SIGNIN", false)?,
        security_events: names.contains(&"security_events"),
        sessions: names.contains(&"sessions"),
    })
}

impl Config {
    /// Reads every variable through `get` (empty strings count as unset).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = move |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let get: &dyn Fn(&str) -> Option<String> = &get;

        for (name, still_true, why) in REMOVED_VARIABLES {
            if get(name).is_some_and(|v| v.trim() != *still_true) {
                return Err(error(name, *why));
            }
        }
        let development_mode = boolean(get, "DEVELOPMENT_MODE", false)?;
        let allow_unauthenticated_endpoint = boolean(get, "ALLOW_UNAUTHENTICATED_ENDPOINT", false)?;
        if allow_unauthenticated_endpoint && !development_mode {
            return Err(error(
                "ALLOW_UNAUTHENTICATED_ENDPOINT",
                "true lets anyone who reaches the Worker call every action and is refused unless \
                 DEVELOPMENT_MODE=true",
            ));
        }
        let endpoint_secret = get("ACTION_INVOCATION_ENDPOINT_SECRET");
        match &endpoint_secret {
            None if !allow_unauthenticated_endpoint => {
                return Err(error(
                    "ACTION_INVOCATION_ENDPOINT_SECRET",
                    "is not set (set it with `wrangler secret put`, or \
                     ALLOW_UNAUTHENTICATED_ENDPOINT=true with DEVELOPMENT_MODE=true for local \
                     development)",
                ))
            }
            Some(secret) if secret.chars().count() < MIN_ENDPOINT_SECRET_LENGTH => {
                return Err(error(
                    "ACTION_INVOCATION_ENDPOINT_SECRET",
                    format!(
                        "is shorter than {MIN_ENDPOINT_SECRET_LENGTH} characters; use a random one \
                         (e.g. `openssl rand -base64 32`)"
                    ),
                ))
            }
            _ => {}
        }

        let blocklist = action_list(get, "ACTION_BLOCKLIST")?;
        let allowlist = action_list(get, "ACTION_ALLOWLIST")?;
        let action_filter = match (blocklist.is_empty(), allowlist.is_empty()) {
            (true, true) => ActionFilter::AllowAll,
            (false, true) => ActionFilter::Blocklist(blocklist),
            (true, false) => ActionFilter::Allowlist(allowlist),
            (false, false) => {
                return Err(error(
                    "ACTION_ALLOWLIST",
                    "set either ACTION_BLOCKLIST or ACTION_ALLOWLIST, not both",
                ))
            }
        };

        let inactivity = seconds_var(get, "SESSION_INACTIVITY_TIMEOUT_SECONDS", 30 * 24 * 3600)?;
        if inactivity == 0 {
            return Err(error(
                "SESSION_INACTIVITY_TIMEOUT_SECONDS",
                "must be greater than 0",
            ));
        }
        let activity = seconds_var(get, "SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS", 60)?;
        if activity == 0 {
            return Err(error(
                "SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS",
                "must be greater than 0",
            ));
        }
        let cache = seconds_var(get, "SESSION_CACHE_EXPIRATION_SECONDS", 60)?;
        if cache != 0 && cache < 60 {
            return Err(error(
                "SESSION_CACHE_EXPIRATION_SECONDS",
                "must be 0 (no cache) or at least 60 (the KV minimum TTL)",
            ));
        }
        let expiration = seconds_var(get, "SESSION_EXPIRATION_SECONDS", 0)?;

        let algorithms_raw = get("PASSWORD_HASH_ALGORITHMS")
            .unwrap_or_else(|| DEFAULT_USER_PASSWORD_ALGORITHM.to_string());
        let mut user_password_algorithms = Vec::new();
        for id in algorithms_raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            user_password_algorithms
                .push(Argon2id::from_id(id).map_err(|e| error("PASSWORD_HASH_ALGORITHMS", e))?);
        }
        if user_password_algorithms.is_empty() {
            return Err(error("PASSWORD_HASH_ALGORITHMS", "names no algorithm"));
        }
        let temporary_password_algorithm = Argon2id::from_id(
            &get("TEMPORARY_PASSWORD_HASH_ALGORITHM")
                .unwrap_or_else(|| DEFAULT_TEMPORARY_PASSWORD_ALGORITHM.to_string()),
        )
        .map_err(|e| error("TEMPORARY_PASSWORD_HASH_ALGORITHM", e))?;
        // The algorithms that hash new secrets must reach OWASP's minimum; the later entries of
        // PASSWORD_HASH_ALGORITHMS only verify hashes made before, so they may be older settings.
        if !boolean(get, "ALLOW_WEAK_PASSWORD_HASHING", false)? {
            for (variable, algorithm) in [
                ("PASSWORD_HASH_ALGORITHMS", &user_password_algorithms[0]),
                (
                    "TEMPORARY_PASSWORD_HASH_ALGORITHM",
                    &temporary_password_algorithm,
                ),
            ] {
                if !algorithm.meets_owasp_minimum() {
                    return Err(error(
                        variable,
                        format!(
                            "\"{}\" hashes new passwords below OWASP's minimum (19 MiB with t=2, \
                             or 46 MiB t=1, 12 MiB t=3, 9 MiB t=4, 7 MiB t=5); raise it, or set \
                             ALLOW_WEAK_PASSWORD_HASHING=true (tests only)",
                            crate::ports::PasswordHashAlgorithm::id(algorithm)
                        ),
                    ));
                }
            }
        }

        for name in SECRET_BEARING_URLS {
            if let Some(url) = get(name) {
                require_https_unless_loopback(name, &url)?;
            }
        }

        let user_store = match get("USER_STORE").as_deref().unwrap_or("d1") {
            "d1" => UserStoreConfig::D1,
            "user_server" => UserStoreConfig::UserServer {
                url: get("USER_SERVER_URL"),
                secret: get("USER_SERVER_SECRET"),
            },
            other => {
                return Err(error(
                    "USER_STORE",
                    format!("\"{other}\" is not d1 or user_server"),
                ))
            }
        };

        let email =
            match get("EMAIL_PROVIDER").as_deref() {
                None => return Err(error(
                    "EMAIL_PROVIDER",
                    "is required: log (development only), webhook, resend, postmark, service or \
                         cloudflare",
                )),
                Some("log") if !development_mode => return Err(error(
                    "EMAIL_PROVIDER",
                    "log writes verification codes and temporary passwords to the Worker log and \
                     is refused unless DEVELOPMENT_MODE=true",
                )),
                Some("log") => EmailConfig::Log,
                Some("webhook") => EmailConfig::Webhook {
                    url: required(get, "EMAIL_WEBHOOK_URL", "when EMAIL_PROVIDER=webhook")?,
                    secret: get("EMAIL_WEBHOOK_SECRET"),
                },
                Some("resend") => EmailConfig::Resend {
                    api_url: get("RESEND_API_URL")
                        .unwrap_or_else(|| crate::adapters::email::DEFAULT_RESEND_API_URL.into()),
                    api_key: required(get, "RESEND_API_KEY", "when EMAIL_PROVIDER=resend")?,
                    from: required(get, "EMAIL_FROM", "when EMAIL_PROVIDER=resend")?,
                },
                Some("postmark") => EmailConfig::Postmark {
                    api_url: get("POSTMARK_API_URL")
                        .unwrap_or_else(|| crate::adapters::email::DEFAULT_POSTMARK_API_URL.into()),
                    server_token: required(
                        get,
                        "POSTMARK_SERVER_TOKEN",
                        "when EMAIL_PROVIDER=postmark",
                    )?,
                    from: required(get, "EMAIL_FROM", "when EMAIL_PROVIDER=postmark")?,
                },
                Some("service") => EmailConfig::Service,
                Some("cloudflare") => EmailConfig::Cloudflare {
                    from: required(get, "EMAIL_FROM", "when EMAIL_PROVIDER=cloudflare")?,
                },
                Some(other) => {
                    return Err(error(
                        "EMAIL_PROVIDER",
                        format!(
                        "\"{other}\" is not log, webhook, resend, postmark, service or cloudflare"
                    ),
                    ))
                }
            };
        let email_default_language = get("EMAIL_DEFAULT_LANGUAGE")
            .map(|l| l.trim().to_string())
            .unwrap_or_else(|| BUILT_IN_LANGUAGE.into());
        if !COMPLETE_LANGUAGES.contains(&email_default_language.as_str()) {
            return Err(error(
                "EMAIL_DEFAULT_LANGUAGE",
                format!(
                    "\"{email_default_language}\" is not a language with every template under \
                     templates/email (complete: {})",
                    COMPLETE_LANGUAGES.join(", ")
                ),
            ));
        }
        let email_language_order = language_order(get)?;

        let pwned_passwords_url = if boolean(get, "PASSWORD_BREACH_CHECK", true)? {
            Some(
                get("PWNED_PASSWORDS_URL")
                    .unwrap_or_else(|| crate::adapters::pwned::DEFAULT_PWNED_PASSWORDS_URL.into()),
            )
        } else {
            None
        };

        let per_minute = number_var(
            get,
            "IP_RATE_LIMIT_PER_MINUTE",
            0,
            0..=u32::MAX,
            "a whole number",
        )?;
        let burst = number_var(get, "IP_RATE_LIMIT_BURST", 10, 1..=255, "1..255")?;
        let upstream_timeout_ms = number_var(
            get,
            "UPSTREAM_TIMEOUT_MS",
            10_000,
            100..=120_000,
            "100..120000",
        )?;
        // Buckets keep whole-second timestamps, so the refill interval must be whole seconds.
        if per_minute > 60 || (per_minute > 0 && 60 % per_minute != 0) {
            return Err(error(
                "IP_RATE_LIMIT_PER_MINUTE",
                "must divide 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30 or 60); raise IP_RATE_LIMIT_BURST for bursts",
            ));
        }

        let app_name = get("APP_NAME").unwrap_or_else(|| "Faroe".into());
        let extensions = extensions_config(get, &app_name, development_mode)?;

        Ok(Self {
            extensions,
            upstream_timeout_ms,
            action_log: boolean(get, "ACTION_LOG", true)?,
            endpoint_secret,
            allow_unauthenticated_endpoint,
            development_mode,
            action_filter,
            session: SessionConfig {
                inactivity_timeout: inactivity * 1000,
                activity_check_interval: activity * 1000,
                expiration: expiration * 1000,
                cache_expiration: cache * 1000,
            },
            user_password_algorithms,
            temporary_password_algorithm,
            user_store,
            email,
            email_default_language,
            email_language_order,
            app_name,
            pwned_passwords_url,
            ip_rate_limit: IpRateLimit { per_minute, burst },
            turnstile_secret_key: get("TURNSTILE_SECRET_KEY"),
            turnstile_siteverify_url: get("TURNSTILE_SITEVERIFY_URL")
                .unwrap_or_else(|| DEFAULT_TURNSTILE_SITEVERIFY_URL.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::ports::PasswordHashAlgorithm;
    use std::collections::HashMap;

    const SECRET: &str = "a-production-endpoint-secret-0123456789";

    /// A production configuration (endpoint secret, webhook email) with `pairs` over it; an empty
    /// value unsets a variable.
    fn parse(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("ACTION_INVOCATION_ENDPOINT_SECRET", SECRET),
            ("EMAIL_PROVIDER", "webhook"),
            ("EMAIL_WEBHOOK_URL", "http://127.0.0.1:9/hook"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        Config::from_vars(|name| map.get(name).cloned())
    }

    fn refused(pairs: &[(&str, &str)], variable: &str) -> ConfigError {
        let e = parse(pairs).unwrap_err();
        assert_eq!(e.variable, variable, "{pairs:?}: {e}");
        assert!(e.to_string().contains(variable));
        e
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.session, SessionConfig::default());
        assert_eq!(c.user_store, UserStoreConfig::D1);
        assert!(!c.allow_unauthenticated_endpoint);
        assert!(!c.development_mode);
        assert_eq!(c.endpoint_secret.as_deref(), Some(SECRET));
        assert_eq!(c.action_filter, ActionFilter::AllowAll);
        assert_eq!(
            c.pwned_passwords_url.as_deref(),
            Some("https://api.pwnedpasswords.com")
        );
        assert_eq!(c.user_password_algorithms[0].id(), "argon2id.65536.3.1.32");
        assert_eq!(c.temporary_password_algorithm.id(), "argon2id.16384.3.1.32");
    }

    #[test]
    fn errors_name_the_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("EMAIL_PROVIDER", "")], "EMAIL_PROVIDER"),
            (&[("EMAIL_PROVIDER", "smtp")], "EMAIL_PROVIDER"),
            (&[("EMAIL_WEBHOOK_URL", "")], "EMAIL_WEBHOOK_URL"),
            (&[("EMAIL_PROVIDER", "resend")], "RESEND_API_KEY"),
            (
                &[("SESSION_CACHE_EXPIRATION_SECONDS", "30")],
                "SESSION_CACHE_EXPIRATION_SECONDS",
            ),
            (
                &[("SESSION_INACTIVITY_TIMEOUT_SECONDS", "x")],
                "SESSION_INACTIVITY_TIMEOUT_SECONDS",
            ),
            (
                &[("SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS", "0")],
                "SESSION_ACTIVITY_CHECK_INTERVAL_SECONDS",
            ),
            (
                &[("PASSWORD_HASH_ALGORITHMS", "bcrypt")],
                "PASSWORD_HASH_ALGORITHMS",
            ),
            (
                &[("TEMPORARY_PASSWORD_HASH_ALGORITHM", "argon2id.1")],
                "TEMPORARY_PASSWORD_HASH_ALGORITHM",
            ),
            (&[("USER_STORE", "postgres")], "USER_STORE"),
            (
                &[("ACTION_BLOCKLIST", "get_session,fly")],
                "ACTION_BLOCKLIST",
            ),
            (
                &[
                    ("ACTION_BLOCKLIST", "get_session"),
                    ("ACTION_ALLOWLIST", "get_session"),
                ],
                "ACTION_ALLOWLIST",
            ),
            (
                &[("PASSWORD_BREACH_CHECK", "maybe")],
                "PASSWORD_BREACH_CHECK",
            ),
            (
                &[("ALLOW_UNAUTHENTICATED_ENDPOINT", "yes")],
                "ALLOW_UNAUTHENTICATED_ENDPOINT",
            ),
            (&[("DEVELOPMENT_MODE", "dev")], "DEVELOPMENT_MODE"),
            (
                &[("ALLOW_WEAK_PASSWORD_HASHING", "sure")],
                "ALLOW_WEAK_PASSWORD_HASHING",
            ),
        ];
        for (vars, variable) in cases {
            refused(vars, variable);
        }
    }

    #[test]
    fn the_log_email_provider_needs_development_mode() {
        let e = refused(&[("EMAIL_PROVIDER", "log")], "EMAIL_PROVIDER");
        assert!(e.problem.contains("DEVELOPMENT_MODE=true"), "{e}");
        refused(
            &[("EMAIL_PROVIDER", "log"), ("DEVELOPMENT_MODE", "false")],
            "EMAIL_PROVIDER",
        );
        let c = parse(&[("EMAIL_PROVIDER", "log"), ("DEVELOPMENT_MODE", "true")]).unwrap();
        assert_eq!(c.email, EmailConfig::Log);
        assert!(c.development_mode);
    }

    #[test]
    fn the_unauthenticated_endpoint_needs_development_mode() {
        let open = [
            ("ALLOW_UNAUTHENTICATED_ENDPOINT", "true"),
            ("ACTION_INVOCATION_ENDPOINT_SECRET", ""),
        ];
        let e = refused(&open, "ALLOW_UNAUTHENTICATED_ENDPOINT");
        assert!(e.problem.contains("DEVELOPMENT_MODE=true"), "{e}");
        let c = parse(&[open[0], open[1], ("DEVELOPMENT_MODE", "true")]).unwrap();
        assert!(c.allow_unauthenticated_endpoint && c.endpoint_secret.is_none());
        // .dev.vars.example's combination.
        parse(&[
            open[0],
            open[1],
            ("DEVELOPMENT_MODE", "true"),
            ("EMAIL_PROVIDER", "log"),
            ("PASSWORD_BREACH_CHECK", "off"),
        ])
        .unwrap();
    }

    #[test]
    fn the_endpoint_secret_is_required_and_at_least_32_characters() {
        refused(
            &[("ACTION_INVOCATION_ENDPOINT_SECRET", "")],
            "ACTION_INVOCATION_ENDPOINT_SECRET",
        );
        let short = "x".repeat(MIN_ENDPOINT_SECRET_LENGTH - 1);
        let e = refused(
            &[("ACTION_INVOCATION_ENDPOINT_SECRET", &short)],
            "ACTION_INVOCATION_ENDPOINT_SECRET",
        );
        assert!(e.problem.contains("32 characters"), "{e}");
        assert!(!e.to_string().contains(&short), "the secret is not echoed");
        // Development mode does not lower the bar for a secret that is set.
        refused(
            &[
                ("ACTION_INVOCATION_ENDPOINT_SECRET", &short),
                ("DEVELOPMENT_MODE", "true"),
                ("ALLOW_UNAUTHENTICATED_ENDPOINT", "true"),
            ],
            "ACTION_INVOCATION_ENDPOINT_SECRET",
        );
        let exact = "x".repeat(MIN_ENDPOINT_SECRET_LENGTH);
        parse(&[("ACTION_INVOCATION_ENDPOINT_SECRET", &exact)]).unwrap();
    }

    #[test]
    fn max_concurrent_password_hashing_was_removed() {
        for value in ["4", "0", "2"] {
            let e = refused(
                &[("MAX_CONCURRENT_PASSWORD_HASHING", value)],
                "MAX_CONCURRENT_PASSWORD_HASHING",
            );
            assert!(e.problem.contains("removed"), "{e}");
        }
        // 1 still describes what the Worker does (our earlier wrangler.toml set it): accepted.
        assert!(parse(&[("MAX_CONCURRENT_PASSWORD_HASHING", "1")]).is_ok());
        assert!(!VARIABLES
            .iter()
            .any(|v| v.name == "MAX_CONCURRENT_PASSWORD_HASHING"));
    }

    #[test]
    fn argon2id_parameters_an_isolate_cannot_run_are_configuration_errors() {
        for (variable, id) in [
            ("PASSWORD_HASH_ALGORITHMS", "argon2id.131072.3.1.32"),
            ("PASSWORD_HASH_ALGORITHMS", "argon2id.65536.1000000.1.32"),
            (
                "PASSWORD_HASH_ALGORITHMS",
                "argon2id.65536.3.1.32,argon2id.1048576.3.1.32",
            ),
            ("PASSWORD_HASH_ALGORITHMS", "argon2id.65536.3.64.32"),
            ("PASSWORD_HASH_ALGORITHMS", "argon2id.65536.3.1.1000000"),
            (
                "TEMPORARY_PASSWORD_HASH_ALGORITHM",
                "argon2id.4194303.3.1.32",
            ),
            (
                "TEMPORARY_PASSWORD_HASH_ALGORITHM",
                "argon2id.16384.11.1.32",
            ),
        ] {
            // Refused even where weak hashing is allowed: these are not weak, they are unrunnable.
            refused(
                &[(variable, id), ("ALLOW_WEAK_PASSWORD_HASHING", "true")],
                variable,
            );
        }
    }

    #[test]
    fn new_passwords_are_not_hashed_below_owasp_minimum_unless_allowed() {
        let weak_user = [("PASSWORD_HASH_ALGORITHMS", "argon2id.1024.1.1.32")];
        let e = refused(&weak_user, "PASSWORD_HASH_ALGORITHMS");
        assert!(
            e.problem.contains("ALLOW_WEAK_PASSWORD_HASHING=true"),
            "{e}"
        );
        refused(
            &[("PASSWORD_HASH_ALGORITHMS", "argon2id.19456.1.1.32")],
            "PASSWORD_HASH_ALGORITHMS",
        );
        refused(
            &[("TEMPORARY_PASSWORD_HASH_ALGORITHM", "argon2id.512.1.1.32")],
            "TEMPORARY_PASSWORD_HASH_ALGORITHM",
        );
        refused(
            &[weak_user[0], ("ALLOW_WEAK_PASSWORD_HASHING", "false")],
            "PASSWORD_HASH_ALGORITHMS",
        );
        // Older algorithms listed after the first only verify: they may be weak.
        let c = parse(&[(
            "PASSWORD_HASH_ALGORITHMS",
            "argon2id.19456.2.1.32,argon2id.1024.1.1.32",
        )])
        .unwrap();
        assert_eq!(c.user_password_algorithms.len(), 2);
        // The e2e harness's cheap algorithms, with the switch.
        let c = parse(&[
            weak_user[0],
            ("TEMPORARY_PASSWORD_HASH_ALGORITHM", "argon2id.512.1.1.32"),
            ("ALLOW_WEAK_PASSWORD_HASHING", "true"),
        ])
        .unwrap();
        assert_eq!(c.user_password_algorithms[0].id(), "argon2id.1024.1.1.32");
    }

    #[test]
    fn lists_and_overrides() {
        let c = parse(&[
            ("ACTION_BLOCKLIST", " delete_all_sessions , get_session "),
            ("SESSION_CACHE_EXPIRATION_SECONDS", "0"),
            ("SESSION_EXPIRATION_SECONDS", "3600"),
            (
                "PASSWORD_HASH_ALGORITHMS",
                "argon2id.19456.2.1.32,argon2id.65536.3.1.32",
            ),
            ("PASSWORD_BREACH_CHECK", "off"),
            ("USER_STORE", "user_server"),
            ("USER_SERVER_URL", "http://127.0.0.1:9/users"),
        ])
        .unwrap();
        assert_eq!(
            c.action_filter,
            ActionFilter::Blocklist(vec!["delete_all_sessions".into(), "get_session".into()])
        );
        assert_eq!(c.session.cache_expiration, 0);
        assert_eq!(c.session.expiration, 3_600_000);
        assert_eq!(c.user_password_algorithms.len(), 2);
        assert!(c.pwned_passwords_url.is_none());
        assert!(matches!(c.user_store, UserStoreConfig::UserServer { .. }));
    }

    #[test]
    fn ip_rate_limit_refill_must_divide_60_and_burst_is_1_to_255() {
        assert_eq!(
            parse(&[]).unwrap().ip_rate_limit,
            IpRateLimit {
                per_minute: 0,
                burst: 10
            }
        );
        for per_minute in ["7", "25", "61", "120", "x"] {
            refused(
                &[("IP_RATE_LIMIT_PER_MINUTE", per_minute)],
                "IP_RATE_LIMIT_PER_MINUTE",
            );
        }
        for per_minute in [1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60] {
            let c = parse(&[("IP_RATE_LIMIT_PER_MINUTE", &per_minute.to_string())]).unwrap();
            assert_eq!(c.ip_rate_limit.per_minute, per_minute);
        }
        for burst in ["0", "256"] {
            refused(
                &[
                    ("IP_RATE_LIMIT_PER_MINUTE", "1"),
                    ("IP_RATE_LIMIT_BURST", burst),
                ],
                "IP_RATE_LIMIT_BURST",
            );
        }
        let c = parse(&[("IP_RATE_LIMIT_BURST", "255")]).unwrap();
        assert_eq!(c.ip_rate_limit.burst, 255);
    }

    #[test]
    fn with_a_secret_set_the_unauthenticated_endpoint_flag_changes_nothing() {
        // Even in development mode, a configured secret stays required (the edge authenticates
        // whenever `endpoint_secret` is set).
        let c = parse(&[
            ("DEVELOPMENT_MODE", "true"),
            ("ALLOW_UNAUTHENTICATED_ENDPOINT", "true"),
        ])
        .unwrap();
        assert_eq!(c.endpoint_secret.as_deref(), Some(SECRET));
        // Outside development mode the flag is refused, secret or not.
        refused(
            &[("ALLOW_UNAUTHENTICATED_ENDPOINT", "true")],
            "ALLOW_UNAUTHENTICATED_ENDPOINT",
        );
    }

    #[test]
    fn passkeys_need_the_webauthn_variables_and_second_factor_required_is_a_boolean() {
        let c = parse(&[]).unwrap();
        assert!(c.extensions.passkeys.is_none());
        assert!(!c.extensions.second_factor_required);
        let on = [
            ("EXTENSIONS", "passkeys"),
            ("WEBAUTHN_RP_ID", "example.com"),
            (
                "WEBAUTHN_ALLOWED_ORIGINS",
                "https://example.com,https://app.example.com:8443",
            ),
        ];
        let c = parse(&on).unwrap();
        let rp = &c.extensions.passkeys.as_ref().unwrap().relying_party;
        assert_eq!(rp.id, "example.com");
        assert_eq!(rp.name, "Faroe");
        assert_eq!(rp.origins.len(), 2);
        assert_eq!(
            rp.user_verification,
            crate::webauthn::UserVerification::Preferred
        );
        assert!(c.extensions.totp.is_none());
        let c = parse(&[
            on[0],
            on[1],
            on[2],
            ("WEBAUTHN_RP_NAME", "Acme"),
            ("WEBAUTHN_USER_VERIFICATION", "required"),
            ("SECOND_FACTOR_REQUIRED", "true"),
        ])
        .unwrap();
        let rp = &c.extensions.passkeys.as_ref().unwrap().relying_party;
        assert_eq!(rp.name, "Acme");
        assert_eq!(
            rp.user_verification,
            crate::webauthn::UserVerification::Required
        );
        assert!(c.extensions.second_factor_required);
        for (pairs, variable) in [
            (vec![on[0], on[2]], "WEBAUTHN_RP_ID"),
            (vec![on[0], on[1]], "WEBAUTHN_ALLOWED_ORIGINS"),
            (
                vec![on[0], ("WEBAUTHN_RP_ID", "localhost"), on[2]],
                "WEBAUTHN_RP_ID",
            ),
            (
                vec![on[0], ("WEBAUTHN_RP_ID", "Example.COM"), on[2]],
                "WEBAUTHN_RP_ID",
            ),
            (
                vec![
                    on[0],
                    on[1],
                    ("WEBAUTHN_ALLOWED_ORIGINS", "https://example.org"),
                ],
                "WEBAUTHN_ALLOWED_ORIGINS",
            ),
            (
                vec![
                    on[0],
                    on[1],
                    ("WEBAUTHN_ALLOWED_ORIGINS", "http://example.com"),
                ],
                "WEBAUTHN_ALLOWED_ORIGINS",
            ),
            (
                vec![
                    on[0],
                    on[1],
                    on[2],
                    ("WEBAUTHN_USER_VERIFICATION", "always"),
                ],
                "WEBAUTHN_USER_VERIFICATION",
            ),
            (
                vec![("SECOND_FACTOR_REQUIRED", "maybe")],
                "SECOND_FACTOR_REQUIRED",
            ),
        ] {
            assert_eq!(refused(&pairs, variable).variable, variable);
        }
        // localhost only in development mode.
        let c = parse(&[
            on[0],
            ("WEBAUTHN_RP_ID", "localhost"),
            ("WEBAUTHN_ALLOWED_ORIGINS", "http://localhost:8787"),
            ("DEVELOPMENT_MODE", "true"),
        ])
        .unwrap();
        assert_eq!(c.extensions.passkeys.unwrap().relying_party.id, "localhost");
    }

    const TOTP_KEY_A: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const TOTP_KEY_B: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

    #[test]
    fn extensions_are_off_unless_named() {
        let c = parse(&[]).unwrap();
        assert!(c.extensions.totp.is_none());
        // Keys alone do not turn TOTP on.
        let c = parse(&[("TOTP_ENCRYPTION_KEYS", &format!("k1:{TOTP_KEY_A}"))]).unwrap();
        assert!(c.extensions.totp.is_none());
        let c = parse(&[("EXTENSIONS", " ")]).unwrap();
        assert!(c.extensions.totp.is_none());
        assert!(!c.extensions.sessions);
        let c = parse(&[("EXTENSIONS", "sessions")]).unwrap();
        assert!(c.extensions.sessions && c.extensions.totp.is_none());
    }

    #[test]
    fn totp_needs_valid_encryption_keys() {
        let keys = format!("new:{TOTP_KEY_B}, old:{TOTP_KEY_A}");
        let c = parse(&[
            ("EXTENSIONS", "totp"),
            ("TOTP_ENCRYPTION_KEYS", &keys),
            ("APP_NAME", "Acme"),
        ])
        .unwrap();
        let totp = c.extensions.totp.expect("totp on");
        assert_eq!(totp.current_key_id(), "new");
        assert_eq!(totp.issuer, "Acme");
        assert!(!format!("{totp:?}").contains(TOTP_KEY_A));

        let e = refused(&[("EXTENSIONS", "totp")], "TOTP_ENCRYPTION_KEYS");
        assert!(e.problem.contains("required"), "{e}");
        for bad in [
            "k1".to_string(),
            format!("K1:{TOTP_KEY_A}"),
            format!("k1:{TOTP_KEY_A},k1:{TOTP_KEY_B}"),
            "k1:AQEB".to_string(),
            "k1:***".to_string(),
            format!("k1:{TOTP_KEY_A},"),
        ] {
            let e = refused(
                &[("EXTENSIONS", "totp"), ("TOTP_ENCRYPTION_KEYS", &bad)],
                "TOTP_ENCRYPTION_KEYS",
            );
            assert!(!e.to_string().contains(TOTP_KEY_A), "{e}");
        }
        for bad in ["totp,passkey", "TOTP", "totp,totp"] {
            let keys = format!("k1:{TOTP_KEY_A}");
            refused(
                &[("EXTENSIONS", bad), ("TOTP_ENCRYPTION_KEYS", &keys)],
                "EXTENSIONS",
            );
        }
    }

    #[test]
    fn action_lists_may_name_extension_actions() {
        let c = parse(&[("ACTION_BLOCKLIST", "delete_user_second_factors")]).unwrap();
        assert_eq!(
            c.action_filter,
            ActionFilter::Blocklist(vec!["delete_user_second_factors".into()])
        );
        refused(
            &[("ACTION_BLOCKLIST", "delete_user_second_factor")],
            "ACTION_BLOCKLIST",
        );
    }

    #[test]
    fn email_languages_default_to_english_and_name_complete_template_sets() {
        use crate::adapters::email::LanguageSource::{Request, UserStore};
        let c = parse(&[]).unwrap();
        assert_eq!(c.email_default_language, "en");
        assert_eq!(c.email_language_order, vec![UserStore, Request]);
        let c = parse(&[
            ("EMAIL_DEFAULT_LANGUAGE", "de"),
            ("EMAIL_LANGUAGE_ORDER", " request , user_store "),
        ])
        .unwrap();
        assert_eq!(c.email_default_language, "de");
        assert_eq!(c.email_language_order, vec![Request, UserStore]);
        let c = parse(&[("EMAIL_LANGUAGE_ORDER", "request")]).unwrap();
        assert_eq!(c.email_language_order, vec![Request]);
        let c = parse(&[("EMAIL_LANGUAGE_ORDER", "none")]).unwrap();
        assert!(c.email_language_order.is_empty());
        let e = refused(
            &[("EMAIL_DEFAULT_LANGUAGE", "fr")],
            "EMAIL_DEFAULT_LANGUAGE",
        );
        assert!(e.problem.contains("complete: de, en"), "{e}");
        refused(
            &[("EMAIL_DEFAULT_LANGUAGE", "EN")],
            "EMAIL_DEFAULT_LANGUAGE",
        );
        for order in ["user", "request,request", "none,request", "request,"] {
            refused(&[("EMAIL_LANGUAGE_ORDER", order)], "EMAIL_LANGUAGE_ORDER");
        }
    }

    #[test]
    fn the_cloudflare_email_provider_needs_a_sender_address() {
        refused(&[("EMAIL_PROVIDER", "cloudflare")], "EMAIL_FROM");
        let c = parse(&[
            ("EMAIL_PROVIDER", "cloudflare"),
            ("EMAIL_FROM", "auth@example.com"),
        ])
        .unwrap();
        assert_eq!(
            c.email,
            EmailConfig::Cloudflare {
                from: "auth@example.com".into()
            }
        );
        let e = refused(&[("EMAIL_PROVIDER", "smtp")], "EMAIL_PROVIDER");
        assert!(e.problem.contains("cloudflare"), "{e}");
    }

    #[test]
    fn action_log_is_on_unless_turned_off_and_security_events_is_an_extension() {
        let c = parse(&[]).unwrap();
        assert!(c.action_log);
        assert!(!c.extensions.security_events);
        assert!(!parse(&[("ACTION_LOG", "off")]).unwrap().action_log);
        refused(&[("ACTION_LOG", "quiet")], "ACTION_LOG");
        let c = parse(&[("EXTENSIONS", "security_events")]).unwrap();
        assert!(c.extensions.security_events);
        assert!(c.extensions.totp.is_none());
        assert!(c.extensions.uses_account_storage());
    }

    #[test]
    fn upstream_calls_default_to_a_10_second_deadline() {
        assert_eq!(parse(&[]).unwrap().upstream_timeout_ms, 10_000);
        for value in ["99", "120001", "ten"] {
            refused(&[("UPSTREAM_TIMEOUT_MS", value)], "UPSTREAM_TIMEOUT_MS");
        }
    }

    #[test]
    fn password_rehash_on_signin_is_a_flag_off_by_default() {
        assert!(!parse(&[]).unwrap().extensions.password_rehash_on_signin);
        assert!(
            !parse(&[("PASSWORD_REHASH_ON_SIGNIN", "false")])
                .unwrap()
                .extensions
                .password_rehash_on_signin
        );
        assert!(
            parse(&[("PASSWORD_REHASH_ON_SIGNIN", "true")])
                .unwrap()
                .extensions
                .password_rehash_on_signin
        );
        for value in ["yes", "TRUE", "2"] {
            let e = refused(
                &[("PASSWORD_REHASH_ON_SIGNIN", value)],
                "PASSWORD_REHASH_ON_SIGNIN",
            );
            assert!(e.to_string().contains("is not on/off"), "{e}");
        }
    }
}
