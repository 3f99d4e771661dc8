//! The server value: ports, session configuration and password algorithms, built once and shared
//! by every request.

use crate::extensions::Extensions;
use crate::ports::{
    AccountStorage, ActionErrorLogger, Cache, Clock, EmailAddressChecker, EmailSender, MainStorage,
    Millis, PasswordHashAlgorithm, PasswordStrengthChecker, RateLimitStorage, UserStore,
};
use std::rc::Rc;

const SECOND: Millis = 1000;
const DAY: Millis = 24 * 60 * 60 * SECOND;

/// Session lifetimes and caching (spec §6.2). Durations in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// A session whose token was not verified for this long is invalid. Must be > 0.
    pub inactivity_timeout: Millis,
    /// Minimum age of `token_last_verified_at` before a validation writes a new one. Must be > 0.
    pub activity_check_interval: Millis,
    /// Absolute lifetime from creation; 0 = none.
    pub expiration: Millis,
    /// TTL of cached session copies; 0 = no caching.
    pub cache_expiration: Millis,
}

impl Default for SessionConfig {
    /// The docs' example: 30 days inactivity, 1 minute activity interval, 1 minute cache, no expiry.
    fn default() -> Self {
        Self {
            inactivity_timeout: 30 * DAY,
            activity_check_interval: 60 * SECOND,
            expiration: 0,
            cache_expiration: 60 * SECOND,
        }
    }
}

/// Everything the server talks to.
#[derive(Clone)]
pub struct Ports {
    pub main_storage: Rc<dyn MainStorage>,
    pub cache: Rc<dyn Cache>,
    pub rate_limit_storage: Rc<dyn RateLimitStorage>,
    pub user_store: Rc<dyn UserStore>,
    pub email_sender: Rc<dyn EmailSender>,
    pub error_logger: Rc<dyn ActionErrorLogger>,
    pub clock: Rc<dyn Clock>,
    pub email_address_checker: Rc<dyn EmailAddressChecker>,
    pub password_strength_checker: Rc<dyn PasswordStrengthChecker>,
    /// Per-user durable records of the extensions (docs/extensions.md); unused while all are off.
    pub account_storage: Rc<dyn AccountStorage>,
}

/// Password algorithms (spec §8.4).
#[derive(Clone)]
pub struct PasswordConfig {
    /// Non-empty; the first hashes every new password, the stored id selects the verifier.
    pub user_password_algorithms: Vec<Rc<dyn PasswordHashAlgorithm>>,
    pub temporary_password_algorithm: Rc<dyn PasswordHashAlgorithm>,
}

/// A Faroe server: resolve requests with [`Server::resolve`](crate::endpoint).
#[derive(Clone)]
pub struct Server {
    pub(crate) ports: Ports,
    pub(crate) session_config: SessionConfig,
    pub(crate) user_password_algorithms: Vec<Rc<dyn PasswordHashAlgorithm>>,
    pub(crate) temporary_password_algorithm: Rc<dyn PasswordHashAlgorithm>,
    /// The enabled extensions (docs/extensions.md); all off after [`Server::new`].
    pub(crate) extensions: Extensions,
    /// The app's email language for this invocation (ours: `X-Faroe-Email-Language`).
    pub(crate) email_language: Option<String>,
    /// The client label for a session this invocation creates (sessions extension:
    /// `X-Faroe-Client-Label`).
    pub(crate) client_label: Option<String>,
}

impl Server {
    /// Validates the configuration; errors say which setting is wrong.
    pub fn new(
        ports: Ports,
        session_config: SessionConfig,
        passwords: PasswordConfig,
    ) -> Result<Self, String> {
        if session_config.inactivity_timeout <= 0 {
            return Err("session inactivity timeout must be greater than 0".into());
        }
        if session_config.activity_check_interval <= 0 {
            return Err("session activity check interval must be greater than 0".into());
        }
        if session_config.expiration < 0 {
            return Err("session expiration must not be negative".into());
        }
        if session_config.cache_expiration < 0 {
            return Err("session cache expiration must not be negative".into());
        }
        if passwords.user_password_algorithms.is_empty() {
            return Err("at least one user password hash algorithm is required".into());
        }
        Ok(Self {
            ports,
            session_config,
            user_password_algorithms: passwords.user_password_algorithms,
            temporary_password_algorithm: passwords.temporary_password_algorithm,
            extensions: Extensions::default(),
            email_language: None,
            client_label: None,
        })
    }

    /// Turns extensions on (docs/extensions.md); errors say which setting is wrong.
    pub fn with_extensions(self, extensions: Extensions) -> Result<Server, String> {
        extensions.validate()?;
        Ok(Self { extensions, ..self })
    }

    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// This server for invocations whose emails the app asks for in `language` (a hint: the
    /// email sender's rule decides, and ignores a language it has no templates for).
    pub fn with_email_language(&self, language: &str) -> Server {
        Server {
            email_language: Some(language.to_string()),
            ..self.clone()
        }
    }

    /// This server for invocations whose new sessions carry `label` in the sessions extension's
    /// index; a label that is not 1–64 characters without control characters is ignored.
    pub fn with_client_label(&self, label: &str) -> Server {
        Server {
            client_label: crate::extensions::sessions::client_label(label).map(str::to_string),
            ..self.clone()
        }
    }

    pub fn session_config(&self) -> &SessionConfig {
        &self.session_config
    }

    pub(crate) fn now(&self) -> Millis {
        self.ports.clock.now()
    }
}
