//! The server value: ports, session configuration and password algorithms, built once and shared
//! by every request.

use crate::ports::{
    ActionErrorLogger, Cache, Clock, EmailAddressChecker, EmailSender, MainStorage, Millis,
    PasswordHashAlgorithm, PasswordStrengthChecker, RateLimitStorage, UserStore,
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
}

/// Password algorithms (spec §8.4).
#[derive(Clone)]
pub struct PasswordConfig {
    /// Non-empty; the first hashes every new password, the stored id selects the verifier.
    pub user_password_algorithms: Vec<Rc<dyn PasswordHashAlgorithm>>,
    pub temporary_password_algorithm: Rc<dyn PasswordHashAlgorithm>,
}

/// A Faroe server: resolve requests with [`Server::resolve`](crate::endpoint).
pub struct Server {
    pub(crate) ports: Ports,
    pub(crate) session_config: SessionConfig,
    pub(crate) user_password_algorithms: Vec<Rc<dyn PasswordHashAlgorithm>>,
    pub(crate) temporary_password_algorithm: Rc<dyn PasswordHashAlgorithm>,
    /// All off unless set with [`Server::with_extensions`](crate::extensions).
    pub(crate) extensions: crate::extensions::Extensions,
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
            extensions: crate::extensions::Extensions::default(),
        })
    }

    pub fn session_config(&self) -> &SessionConfig {
        &self.session_config
    }

    pub(crate) fn now(&self) -> Millis {
        self.ports.clock.now()
    }
}
