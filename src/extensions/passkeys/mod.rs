//! The passkeys extension (docs/extensions.md, issue #13): WebAuthn credentials as a second factor
//! after the password and for passwordless sign-in. Registration and removal go through a
//! short-lived entity that needs the password (or a TOTP code) again; every passkey is one
//! account-storage record (see [`record`]), and a credential index in main storage maps each
//! credential id to its user, created atomically so one credential id belongs to one user.

mod entities;
mod management;
pub mod record;
mod registration;
mod signin;

use crate::extensions::ActionDef;
use crate::flows::{Failure, Invocation};
use crate::ports::{StorageError, StoredEntry};
use crate::server::Server;
use crate::webauthn::{RelyingParty, UserVerification};
use record::{CredentialIndexEntry, PasskeyRecord, PASSKEY_KEY_PREFIX};

/// The value of `second_factor` in the added / removed notifications.
pub const SECOND_FACTOR_NAME: &str = "passkey";
/// Passkeys one user may have.
pub const PASSKEY_LIMIT: usize = 20;
/// The `timeout` hint in the options (the passwordless sign-in lives 5 minutes).
const CEREMONY_TIMEOUT_MS: u32 = 5 * 60 * 1000;

/// The passkeys extension's configuration (`EXTENSIONS` containing `passkeys`).
#[derive(Debug, Clone)]
pub struct PasskeysConfig {
    /// `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ALLOWED_ORIGINS`,
    /// `WEBAUTHN_USER_VERIFICATION`.
    pub relying_party: RelyingParty,
}

/// Why a `WEBAUTHN_*` variable is refused: (variable, problem).
pub type PasskeysConfigError = (&'static str, String);

impl PasskeysConfig {
    /// Parses the `WEBAUTHN_*` variables (empty = unset). `development_mode` allows `localhost`.
    pub fn from_vars(
        get: &dyn Fn(&str) -> Option<String>,
        app_name: &str,
        development_mode: bool,
    ) -> Result<Self, PasskeysConfigError> {
        let rp_id = get("WEBAUTHN_RP_ID").map(|v| v.trim().to_string()).ok_or((
            "WEBAUTHN_RP_ID",
            "is required when EXTENSIONS contains passkeys".to_string(),
        ))?;
        check_rp_id(&rp_id, development_mode).map_err(|p| ("WEBAUTHN_RP_ID", p))?;
        let name = get("WEBAUTHN_RP_NAME")
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| app_name.to_string());
        let raw_origins = get("WEBAUTHN_ALLOWED_ORIGINS").ok_or((
            "WEBAUTHN_ALLOWED_ORIGINS",
            "is required when EXTENSIONS contains passkeys".to_string(),
        ))?;
        let origins = parse_origins(&raw_origins, &rp_id, development_mode)
            .map_err(|p| ("WEBAUTHN_ALLOWED_ORIGINS", p))?;
        let user_verification = match get("WEBAUTHN_USER_VERIFICATION").as_deref().map(str::trim) {
            None | Some("preferred") => UserVerification::Preferred,
            Some("required") => UserVerification::Required,
            Some("discouraged") => UserVerification::Discouraged,
            Some(other) => {
                return Err((
                    "WEBAUTHN_USER_VERIFICATION",
                    format!("\"{other}\" is not required, preferred or discouraged"),
                ))
            }
        };
        Ok(Self {
            relying_party: RelyingParty {
                id: rp_id,
                name,
                origins,
                top_origins: Vec::new(),
                user_verification,
                timeout_ms: CEREMONY_TIMEOUT_MS,
            },
        })
    }

    /// Passwordless sign-in replaces both factors, so it requires user verification unless the
    /// deployment set `discouraged` (docs/extensions.md).
    pub fn passwordless_relying_party(&self) -> RelyingParty {
        let mut rp = self.relying_party.clone();
        if rp.user_verification != UserVerification::Discouraged {
            rp.user_verification = UserVerification::Required;
        }
        rp
    }
}

/// A registrable domain (lowercase labels of letters, digits and inner hyphens, at least two, not
/// all-numeric), or `localhost` in development mode.
fn check_rp_id(rp_id: &str, development_mode: bool) -> Result<(), String> {
    if rp_id == "localhost" {
        return if development_mode {
            Ok(())
        } else {
            Err("\"localhost\" is allowed only with DEVELOPMENT_MODE=true".into())
        };
    }
    let labels: Vec<&str> = rp_id.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let top_level_alphabetic = labels
        .last()
        .is_some_and(|l| l.bytes().any(|b| b.is_ascii_lowercase()));
    if labels.len() < 2 || !labels.iter().all(label_ok) || !top_level_alphabetic {
        return Err(format!(
            "\"{rp_id}\" is not a registrable domain in lowercase (e.g. example.com)"
        ));
    }
    Ok(())
}

/// Comma-separated origins: `https://<rp id or a subdomain>[:port]`, or `http://localhost:<port>`
/// in development mode (with the RP ID `localhost`). No path, no trailing slash.
fn parse_origins(raw: &str, rp_id: &str, development_mode: bool) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) = origin
            .split_once("://")
            .ok_or_else(|| format!("\"{origin}\" is not an origin (scheme://host[:port])"))?;
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let port_ok = port
            .is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
        let host_ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !port_ok || !host_ok {
            return Err(format!(
                "\"{origin}\" is not an origin (scheme://host[:port] in lowercase, no path)"
            ));
        }
        let within_rp_id = host == rp_id || host.ends_with(&format!(".{rp_id}"));
        match scheme {
            "https" if within_rp_id => {}
            "http" if host == "localhost" && rp_id == "localhost" && development_mode => {}
            "http" if host == "localhost" => {
                return Err(format!(
                    "\"{origin}\": http://localhost is allowed only with DEVELOPMENT_MODE=true and \
                     WEBAUTHN_RP_ID=localhost"
                ))
            }
            _ => {
                return Err(format!(
                    "\"{origin}\" must be https:// on {rp_id} or a subdomain of it"
                ))
            }
        }
        if !origins.iter().any(|o| o == origin) {
            origins.push(origin.to_string());
        }
    }
    if origins.is_empty() {
        return Err("needs at least one origin".into());
    }
    Ok(origins)
}

const S: &str = "session_token";
const REGISTRATION: &str = "user_passkey_registration_token";
const DELETION: &str = "user_passkey_deletion_token";
const SIGNIN: &str = "passkey_signin_token";

/// The two actions that verify the identity with a TOTP code: only when `totp` is on too.
pub const NEEDS_TOTP: &[&str] = &[
    "verify_user_passkey_registration_totp_code",
    "verify_user_passkey_deletion_totp_code",
];

/// The 20 actions of the passkeys extension, with their parameters in reading order.
pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "create_user_passkey_registration",
        params: &[S],
    },
    ActionDef {
        name: "get_user_passkey_registration",
        params: &[S, REGISTRATION],
    },
    ActionDef {
        name: "delete_user_passkey_registration",
        params: &[S, REGISTRATION],
    },
    ActionDef {
        name: "verify_user_passkey_registration_user_password",
        params: &[S, REGISTRATION, "password"],
    },
    ActionDef {
        name: "verify_user_passkey_registration_totp_code",
        params: &[S, REGISTRATION, "totp_code"],
    },
    ActionDef {
        name: "complete_user_passkey_registration",
        params: &[S, REGISTRATION, "passkey_name", "credential"],
    },
    ActionDef {
        name: "create_passkey_signin",
        params: &[],
    },
    ActionDef {
        name: "get_passkey_signin",
        params: &[SIGNIN],
    },
    ActionDef {
        name: "delete_passkey_signin",
        params: &[SIGNIN],
    },
    ActionDef {
        name: "complete_passkey_signin",
        params: &[SIGNIN, "credential"],
    },
    ActionDef {
        name: "get_signin_passkey_credential_request_options",
        params: &["signin_token"],
    },
    ActionDef {
        name: "verify_signin_passkey",
        params: &["signin_token", "credential"],
    },
    ActionDef {
        name: "get_user_passkeys",
        params: &[S],
    },
    ActionDef {
        name: "update_user_passkey_name",
        params: &[S, "user_passkey_id", "passkey_name"],
    },
    ActionDef {
        name: "create_user_passkey_deletion",
        params: &[S, "user_passkey_id"],
    },
    ActionDef {
        name: "get_user_passkey_deletion",
        params: &[S, DELETION],
    },
    ActionDef {
        name: "delete_user_passkey_deletion",
        params: &[S, DELETION],
    },
    ActionDef {
        name: "verify_user_passkey_deletion_user_password",
        params: &[S, DELETION, "password"],
    },
    ActionDef {
        name: "verify_user_passkey_deletion_totp_code",
        params: &[S, DELETION, "totp_code"],
    },
    ActionDef {
        name: "complete_user_passkey_deletion",
        params: &[S, DELETION],
    },
];

/// A name as stored: trimmed, then 1–64 characters without control characters.
pub fn normalize_passkey_name(name: &str) -> Option<String> {
    let trimmed = name.trim();
    let count = trimmed.chars().count();
    ((1..=64).contains(&count) && !trimmed.chars().any(char::is_control))
        .then(|| trimmed.to_string())
}

/// A stored passkey with its storage counter.
pub(crate) struct StoredPasskey {
    pub record: PasskeyRecord,
    pub counter: i32,
}

impl Server {
    pub(crate) fn passkeys_config(&self) -> Result<&PasskeysConfig, Failure> {
        self.extensions
            .passkeys
            .as_ref()
            .ok_or_else(|| Failure::Internal("the passkeys extension is not configured".into()))
    }

    /// Every passkey of the user, oldest first. Empty when the extension is off.
    pub(crate) async fn list_passkeys(&self, user_id: &str) -> Result<Vec<StoredPasskey>, Failure> {
        if self.extensions.passkeys.is_none() {
            return Ok(Vec::new());
        }
        let entries = self
            .ports
            .account_storage
            .list(user_id, PASSKEY_KEY_PREFIX)
            .await
            .map_err(|e| Failure::Internal(format!("account storage list failed: {e}")))?;
        let mut passkeys = entries
            .into_iter()
            .map(|(_, StoredEntry { value, counter })| {
                PasskeyRecord::decode(&value)
                    .map(|record| StoredPasskey { record, counter })
                    .map_err(|e| Failure::Internal(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        passkeys.sort_by(|a, b| {
            (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
        });
        Ok(passkeys)
    }

    pub(crate) async fn passkey_count(&self, user_id: &str) -> Result<usize, Failure> {
        Ok(self.list_passkeys(user_id).await?.len())
    }

    /// The passkey `passkey_id` of the user; `None` if absent.
    pub(crate) async fn read_passkey(
        &self,
        user_id: &str,
        passkey_id: &str,
    ) -> Result<Option<StoredPasskey>, Failure> {
        if !crate::crypto::is_valid_id(passkey_id) {
            return Ok(None);
        }
        match self
            .ports
            .account_storage
            .get(user_id, &PasskeyRecord::key_for(passkey_id))
            .await
        {
            Ok(entry) => Ok(Some(StoredPasskey {
                record: PasskeyRecord::decode(&entry.value)
                    .map_err(|e| Failure::Internal(e.to_string()))?,
                counter: entry.counter,
            })),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(Failure::Internal(format!(
                "account storage get failed: {e}"
            ))),
        }
    }

    /// The credential index entry of `credential_id`; `None` if absent.
    pub(crate) async fn read_credential_index(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<CredentialIndexEntry>, Failure> {
        match self
            .ports
            .main_storage
            .get(&CredentialIndexEntry::key_for(credential_id))
            .await
        {
            Ok(entry) => Ok(Some(
                CredentialIndexEntry::decode(&entry.value)
                    .map_err(|e| Failure::Internal(e.to_string()))?,
            )),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(Failure::Internal(format!("main storage get failed: {e}"))),
        }
    }

    /// Deletes the index entry of `credential_id`; a failure (other than absence) is logged.
    pub(crate) async fn delete_credential_index_logging_errors(
        &self,
        invocation: &Invocation,
        credential_id: &[u8],
    ) {
        match self
            .ports
            .main_storage
            .delete(&CredentialIndexEntry::key_for(credential_id))
            .await
        {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => self.log(
                invocation,
                &format!("failed to delete a passkey credential index entry: {e}"),
            ),
        }
    }

    /// `complete_user_deletion` and the operator's removal: the index entries of every passkey of
    /// the user (failures logged); the records themselves go with the account storage.
    pub(crate) async fn delete_credential_index_entries_of_user(
        &self,
        invocation: &Invocation,
        user_id: &str,
    ) {
        match self.list_passkeys(user_id).await {
            Ok(passkeys) => {
                for passkey in passkeys {
                    self.delete_credential_index_logging_errors(
                        invocation,
                        &passkey.record.credential_id,
                    )
                    .await;
                }
            }
            Err(Failure::Internal(e)) | Err(Failure::LoggedCode(_, e)) => self.log(
                invocation,
                &format!("failed to list the user's passkeys: {e}"),
            ),
            Err(Failure::Code(code)) => self.log(
                invocation,
                &format!("failed to list the user's passkeys: {code}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;

    #[test]
    fn passkey_names_are_trimmed_and_limited() {
        assert_eq!(
            normalize_passkey_name("  Laptop ").as_deref(),
            Some("Laptop")
        );
        assert_eq!(
            normalize_passkey_name(&"é".repeat(64)).map(|n| n.chars().count()),
            Some(64)
        );
        assert!(normalize_passkey_name(&"a".repeat(65)).is_none());
        assert!(normalize_passkey_name("   ").is_none());
        assert!(normalize_passkey_name("a\u{7}b").is_none());
        assert!(normalize_passkey_name("a\nb").is_none());
    }

    #[test]
    fn rp_ids_and_origins() {
        assert!(check_rp_id("example.com", false).is_ok());
        assert!(check_rp_id("login.example.co.uk", false).is_ok());
        for bad in [
            "Example.com",
            "com",
            "-a.com",
            "a..com",
            "1.2.3.4",
            "exa mple.com",
            "",
        ] {
            assert!(check_rp_id(bad, true).is_err(), "{bad}");
        }
        assert!(check_rp_id("localhost", false).is_err());
        assert!(check_rp_id("localhost", true).is_ok());
        assert_eq!(
            parse_origins(
                "https://example.com, https://app.example.com:8443",
                "example.com",
                false
            )
            .unwrap(),
            vec!["https://example.com", "https://app.example.com:8443"]
        );
        for bad in [
            "https://example.org",
            "https://badexample.com",
            "http://example.com",
            "https://example.com/",
            "https://example.com:x",
            "example.com",
            "",
        ] {
            assert!(parse_origins(bad, "example.com", true).is_err(), "{bad}");
        }
        assert!(parse_origins("http://localhost:8787", "localhost", true).is_ok());
        assert!(parse_origins("http://localhost:8787", "localhost", false).is_err());
        assert!(parse_origins("http://localhost:8787", "example.com", true).is_err());
    }
}
