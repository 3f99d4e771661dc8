//! The breached-password check against the Pwned Passwords range API (spec §8.1, k-anonymity:
//! only the first 5 hex characters of the SHA-1 leave the Worker).

use super::http::{HttpClient, HttpRequest};
use crate::password::{pwned_range_contains, pwned_sha1_hex};
use crate::ports::PasswordStrengthChecker;
use async_trait::async_trait;
use std::rc::Rc;

pub const DEFAULT_PWNED_PASSWORDS_URL: &str = "https://api.pwnedpasswords.com";

pub struct PwnedPasswordsChecker {
    base_url: String,
    http: Rc<dyn HttpClient>,
}

impl PwnedPasswordsChecker {
    pub fn new(base_url: &str, http: Rc<dyn HttpClient>) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

#[async_trait(?Send)]
impl PasswordStrengthChecker for PwnedPasswordsChecker {
    async fn is_strong_password(&self, password: &str) -> Result<bool, String> {
        let sha1 = pwned_sha1_hex(password);
        let url = format!("{}/range/{}", self.base_url, &sha1[..5]);
        let response = self
            .http
            .send(HttpRequest::get(url))
            .await
            .map_err(|e| format!("pwned passwords request failed: {e}"))?;
        if response.status != 200 {
            return Err(format!(
                "pwned passwords API answered HTTP {}",
                response.status
            ));
        }
        Ok(!pwned_range_contains(&response.body, &sha1))
    }
}

/// Accepts every password (for `PASSWORD_BREACH_CHECK=off`).
pub struct NoBreachCheck;

#[async_trait(?Send)]
impl PasswordStrengthChecker for NoBreachCheck {
    async fn is_strong_password(&self, _password: &str) -> Result<bool, String> {
        Ok(true)
    }
}
