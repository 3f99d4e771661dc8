//! The server value: ports, session configuration and password algorithms, built once and shared
//! by every request.

use crate::extensions::Extensions;
use crate::ports::{
    AccountStorage, ActionErrorLogger, Cache, Clock, EmailAddressChecker, EmailSender, MainStorage,
    Millis, PasswordHashAlgorithm, PasswordStrengthChecker, RateLimitStorage, SecurityEventSink,
    UserStore,
};
use std::cell::RefCell;
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
    /// The enabled extensions (docs/extensions.md); all off after [`Server::new`]. Shared: the
    /// endpoint copies the server per invocation, never the TOTP key ring.
    pub(crate) extensions: Rc<Extensions>,
    /// The app's email language for this invocation (ours: `X-Faroe-Email-Language`).
    pub(crate) email_language: Option<String>,
    /// The end user's address for this invocation, as the edge validated it (security events).
    pub(crate) client_address: Option<String>,
    /// Where security events go besides account storage (the edge's queue); `None` = nowhere.
    pub(crate) security_event_sink: Option<Rc<dyn SecurityEventSink>>,
    /// The user the running invocation acts for, once a token of theirs checked out: the action
    /// log line's `user_id` and the security event's user. Fresh per invocation (endpoint.rs).
    pub(crate) acting_user: Rc<RefCell<Option<String>>>,
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
            extensions: Rc::default(),
            email_language: None,
            client_address: None,
            security_event_sink: None,
            acting_user: Rc::default(),
            client_label: None,
        })
    }

    /// Turns extensions on (docs/extensions.md); errors say which setting is wrong.
    pub fn with_extensions(self, extensions: Extensions) -> Result<Server, String> {
        extensions.validate()?;
        Ok(Self {
            extensions: Rc::new(extensions),
            ..self
        })
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

    /// This server for invocations on behalf of an end user at `address` (recorded with their
    /// security events).
    pub fn with_client_address(&self, address: &str) -> Server {
        Server {
            client_address: Some(address.to_string()),
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

    /// Sends every security event to `sink` as well (security events extension).
    pub fn with_security_event_sink(self, sink: Rc<dyn SecurityEventSink>) -> Server {
        Server {
            security_event_sink: Some(sink),
            ..self
        }
    }

    /// Notes the user the running invocation acts for (after their token checked out).
    pub(crate) fn note_user(&self, user_id: &str) {
        *self.acting_user.borrow_mut() = Some(user_id.to_string());
    }

    pub fn session_config(&self) -> &SessionConfig {
        &self.session_config
    }

    pub(crate) fn now(&self) -> Millis {
        self.ports.clock.now()
    }
}
