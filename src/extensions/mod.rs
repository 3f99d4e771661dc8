//! Extensions (docs/extensions.md): actions beyond Faroe's 39, off by default. Their actions live
//! in tables of their own that the endpoint consults only for the extensions that are on, so with
//! every extension off the endpoint is exactly Faroe's.

pub mod passkeys;
pub mod password_rehash;
pub mod security_events;
pub mod sessions;
pub mod totp;

pub use crate::endpoint::ActionDef;
use crate::flows::{ActionResult, Failure, Invocation};
use crate::server::Server;
pub use passkeys::PasskeysConfig;
pub use totp::TotpConfig;

/// Which extensions are on, with their configuration.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    /// `EXTENSIONS` contains `totp`.
    pub totp: Option<TotpConfig>,
    /// `EXTENSIONS` contains `passkeys`.
    pub passkeys: Option<PasskeysConfig>,
    /// `SECOND_FACTOR_REQUIRED=true`: the removal of a user's last second factor is refused.
    pub second_factor_required: bool,
    /// `EXTENSIONS` contains `sessions`: the session index and its two actions.
    pub sessions: bool,
    /// `EXTENSIONS` contains `security_events`.
    pub security_events: bool,
    /// `PASSWORD_REHASH_ON_SIGNIN=true`: see [`password_rehash`].
    pub password_rehash_on_signin: bool,
}

/// An extension that adds actions: its name in `EXTENSIONS` and its action table.
pub struct ExtensionDef {
    pub name: &'static str,
    pub actions: &'static [ActionDef],
}

/// Every extension `EXTENSIONS` may name.
pub static EXTENSION_DEFS: &[ExtensionDef] = &[
    ExtensionDef {
        name: "totp",
        actions: totp::ACTIONS,
    },
    ExtensionDef {
        name: "passkeys",
        actions: passkeys::ACTIONS,
    },
    ExtensionDef {
        name: "sessions",
        actions: sessions::ACTIONS,
    },
    ExtensionDef {
        name: "security_events",
        actions: security_events::ACTIONS,
    },
];

/// TOTP-table actions about second factors in general (status, recovery codes, the operator's
/// removal): they exist when either `totp` or `passkeys` is on.
pub const SECOND_FACTOR_ACTIONS: &[&str] = &[
    "get_user_second_factors",
    "delete_user_second_factors",
    "verify_signin_recovery_code",
    "create_user_recovery_code_regeneration",
    "get_user_recovery_code_regeneration",
    "delete_user_recovery_code_regeneration",
    "verify_user_recovery_code_regeneration_user_password",
    "complete_user_recovery_code_regeneration",
];

/// Parses `EXTENSIONS`: comma-separated names, each known and listed once. Empty = none.
pub fn parse_extension_names(raw: &str) -> Result<Vec<&'static str>, String> {
    let mut names: Vec<&'static str> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let Some(def) = EXTENSION_DEFS.iter().find(|d| d.name == item) else {
            let known: Vec<_> = EXTENSION_DEFS.iter().map(|d| d.name).collect();
            return Err(format!(
                "\"{item}\" is not an extension (known: {})",
                known.join(", ")
            ));
        };
        if names.contains(&def.name) {
            return Err(format!("\"{item}\" is listed twice"));
        }
        names.push(def.name);
    }
    Ok(names)
}

/// Whether `name` is an action of any extension (on or off): ACTION_BLOCKLIST and
/// ACTION_ALLOWLIST may name them.
pub fn is_extension_action(name: &str) -> bool {
    EXTENSION_DEFS
        .iter()
        .any(|d| d.actions.iter().any(|a| a.name == name))
}

impl Extensions {
    /// Errors say which setting is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(totp) = &self.totp {
            totp.validate()?;
        }
        Ok(())
    }

    fn is_enabled(&self, name: &str) -> bool {
        match name {
            "totp" => self.totp.is_some(),
            "security_events" => self.security_events,
            "passkeys" => self.passkeys.is_some(),
            "sessions" => self.sessions,
            _ => false,
        }
    }

    /// Whether a second-factor extension (TOTP or passkeys) is on: the signin's trailing fields,
    /// the second-factor check at `complete_signin`, the recovery codes.
    pub fn second_factors_on(&self) -> bool {
        self.totp.is_some() || self.passkeys.is_some()
    }

    /// The definition of `action` if an extension that is on has it.
    pub fn action(&self, action: &str) -> Option<&'static ActionDef> {
        let (extension, def) = EXTENSION_DEFS
            .iter()
            .flat_map(|d| d.actions.iter().map(move |a| (d.name, a)))
            .find(|(_, a)| a.name == action)?;
        let on = if SECOND_FACTOR_ACTIONS.contains(&action) {
            self.second_factors_on()
        } else if passkeys::NEEDS_TOTP.contains(&action) {
            self.passkeys.is_some() && self.totp.is_some()
        } else {
            self.is_enabled(extension)
        };
        on.then_some(def)
    }

    /// Whether an extension that keeps per-user records in account storage is on (then
    /// `complete_user_deletion` deletes the user's account storage).
    pub fn uses_account_storage(&self) -> bool {
        self.second_factors_on() || self.sessions || self.security_events
    }
}

impl Server {
    /// Runs an extension action; the endpoint found it in the table of an extension that is on.
    pub(crate) async fn run_extension_action(
        &self,
        inv: &Invocation,
        a: &[String],
    ) -> ActionResult {
        match inv.action {
            "create_user_totp_enrollment" => self.create_user_totp_enrollment(&a[0]).await,
            "get_user_totp_enrollment" => self.get_user_totp_enrollment(&a[0], &a[1]).await,
            "delete_user_totp_enrollment" => self.delete_user_totp_enrollment(&a[0], &a[1]).await,
            "verify_user_totp_enrollment_user_password" => {
                self.verify_user_totp_enrollment_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "verify_user_totp_enrollment_totp_code" => {
                self.verify_user_totp_enrollment_totp_code(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_totp_enrollment" => {
                self.complete_user_totp_enrollment(inv, &a[0], &a[1]).await
            }
            "create_user_recovery_code_regeneration" => {
                self.create_user_recovery_code_regeneration(&a[0]).await
            }
            "get_user_recovery_code_regeneration" => {
                self.get_user_recovery_code_regeneration(&a[0], &a[1]).await
            }
            "delete_user_recovery_code_regeneration" => {
                self.delete_user_recovery_code_regeneration(&a[0], &a[1])
                    .await
            }
            "verify_user_recovery_code_regeneration_user_password" => {
                self.verify_user_recovery_code_regeneration_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_recovery_code_regeneration" => {
                self.complete_user_recovery_code_regeneration(&a[0], &a[1])
                    .await
            }
            "create_user_totp_deletion" => self.create_user_totp_deletion(&a[0]).await,
            "get_user_totp_deletion" => self.get_user_totp_deletion(&a[0], &a[1]).await,
            "delete_user_totp_deletion" => self.delete_user_totp_deletion(&a[0], &a[1]).await,
            "verify_user_totp_deletion_user_password" => {
                self.verify_user_totp_deletion_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_totp_deletion" => {
                self.complete_user_totp_deletion(inv, &a[0], &a[1]).await
            }
            "get_user_second_factors" => self.get_user_second_factors(&a[0]).await,
            "get_user_security_events" => self.get_user_security_events(&a[0]).await,
            "verify_signin_totp_code" => self.verify_signin_totp_code(&a[0], &a[1]).await,
            "verify_signin_recovery_code" => self.verify_signin_recovery_code(&a[0], &a[1]).await,
            "delete_user_second_factors" => self.delete_user_second_factors(inv, &a[0]).await,
            "create_user_passkey_registration" => {
                self.create_user_passkey_registration(&a[0]).await
            }
            "get_user_passkey_registration" => {
                self.get_user_passkey_registration(&a[0], &a[1]).await
            }
            "delete_user_passkey_registration" => {
                self.delete_user_passkey_registration(&a[0], &a[1]).await
            }
            "verify_user_passkey_registration_user_password" => {
                self.verify_user_passkey_registration_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "verify_user_passkey_registration_totp_code" => {
                self.verify_user_passkey_registration_totp_code(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_passkey_registration" => {
                self.complete_user_passkey_registration(inv, &a[0], &a[1], &a[2], &a[3])
                    .await
            }
            "create_passkey_signin" => self.create_passkey_signin().await,
            "get_passkey_signin" => self.get_passkey_signin(&a[0]).await,
            "delete_passkey_signin" => self.delete_passkey_signin(&a[0]).await,
            "complete_passkey_signin" => self.complete_passkey_signin(inv, &a[0], &a[1]).await,
            "get_signin_passkey_credential_request_options" => {
                self.get_signin_passkey_credential_request_options(&a[0])
                    .await
            }
            "verify_signin_passkey" => self.verify_signin_passkey(&a[0], &a[1]).await,
            "get_user_passkeys" => self.get_user_passkeys(&a[0]).await,
            "update_user_passkey_name" => self.update_user_passkey_name(&a[0], &a[1], &a[2]).await,
            "create_user_passkey_deletion" => self.create_user_passkey_deletion(&a[0], &a[1]).await,
            "get_user_passkey_deletion" => self.get_user_passkey_deletion(&a[0], &a[1]).await,
            "delete_user_passkey_deletion" => self.delete_user_passkey_deletion(&a[0], &a[1]).await,
            "verify_user_passkey_deletion_user_password" => {
                self.verify_user_passkey_deletion_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "verify_user_passkey_deletion_totp_code" => {
                self.verify_user_passkey_deletion_totp_code(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_passkey_deletion" => {
                self.complete_user_passkey_deletion(inv, &a[0], &a[1]).await
            }
            "get_user_sessions" => self.get_user_sessions(inv, &a[0]).await,
            "delete_user_session" => self.delete_user_session(inv, &a[0], &a[1]).await,
            other => Err(Failure::Internal(format!(
                "action \"{other}\" has no handler"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` runs natively and, through wasm-bindgen-test, in wasm (tests/README.md).
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::endpoint::ACTIONS;

    #[test]
    fn extension_tables_are_unique_and_apart_from_faroes() {
        assert_eq!(totp::ACTIONS.len(), 20);
        assert_eq!(passkeys::ACTIONS.len(), 20);
        assert_eq!(sessions::ACTIONS.len(), 2);
        let mut names: Vec<_> = EXTENSION_DEFS
            .iter()
            .flat_map(|d| d.actions.iter().map(|a| a.name))
            .collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 43);
        assert!(SECOND_FACTOR_ACTIONS
            .iter()
            .all(|n| totp::ACTIONS.iter().any(|a| a.name == *n)));
        assert!(passkeys::NEEDS_TOTP
            .iter()
            .all(|n| passkeys::ACTIONS.iter().any(|a| a.name == *n)));
        assert!(names.iter().all(|n| !ACTIONS.iter().any(|a| a.name == *n)));
    }

    #[test]
    fn extension_names() {
        assert_eq!(parse_extension_names(" totp ").unwrap(), vec!["totp"]);
        assert!(parse_extension_names("").unwrap().is_empty());
        assert!(parse_extension_names("totp,totp")
            .unwrap_err()
            .contains("twice"));
        assert_eq!(
            parse_extension_names("totp,passkeys").unwrap(),
            vec!["totp", "passkeys"]
        );
        assert_eq!(
            parse_extension_names("sessions, totp").unwrap(),
            vec!["sessions", "totp"]
        );
        assert!(Extensions::default().action("get_user_sessions").is_none());
        let on = Extensions {
            sessions: true,
            ..Extensions::default()
        };
        assert!(on.action("delete_user_session").is_some());
        assert!(on.action("get_user_second_factors").is_none());
        assert!(parse_extension_names("totp,webauthn")
            .unwrap_err()
            .contains("\"webauthn\" is not an extension"));
        assert!(Extensions::default()
            .action("get_user_second_factors")
            .is_none());
    }
}
