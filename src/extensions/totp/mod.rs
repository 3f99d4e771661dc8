//! The TOTP extension (docs/extensions.md, issue #12): RFC 6238 codes as a second factor with
//! single-use recovery codes. Enrollment, recovery-code regeneration and removal each go through a
//! short-lived entity that needs the password again; sign-in gains two verification actions; the
//! credential lives in account storage (one record per user, see [`record`]).

pub mod code;
mod enrollment;
mod entities;
pub mod keys;
mod management;
pub mod record;
mod signin;

use crate::extensions::ActionDef;
use crate::flows::Failure;
use crate::ports::StorageError;
use crate::server::Server;
use keys::{EncryptionKey, KeyRing};
use record::{SecondFactors, RECORD_KEY};

/// The value of `second_factor` in the added / removed notifications.
pub const SECOND_FACTOR_NAME: &str = "totp";

/// The TOTP extension's configuration (`EXTENSIONS` containing `totp`).
#[derive(Debug, Clone)]
pub struct TotpConfig {
    /// The issuer in the `otpauth://` URI (`APP_NAME`).
    pub issuer: String,
    pub(crate) keys: KeyRing,
}

impl TotpConfig {
    /// `keys` from `TOTP_ENCRYPTION_KEYS`: the first encrypts, every one decrypts.
    pub fn new(issuer: &str, keys: Vec<EncryptionKey>) -> Self {
        Self {
            issuer: issuer.to_string(),
            keys: KeyRing::new(keys),
        }
    }

    /// Parses `TOTP_ENCRYPTION_KEYS` (see [`keys::parse_encryption_keys`]).
    pub fn from_keys_variable(issuer: &str, raw: &str) -> Result<Self, String> {
        let config = Self::new(issuer, keys::parse_encryption_keys(raw)?);
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<(), String> {
        self.keys.validate()
    }

    /// The id of the key that encrypts new TOTP keys.
    pub fn current_key_id(&self) -> &str {
        self.keys.current_key_id()
    }
}

const S: &str = "session_token";
const ENROLLMENT: &str = "user_totp_enrollment_token";
const REGENERATION: &str = "user_recovery_code_regeneration_token";
const DELETION: &str = "user_totp_deletion_token";

/// The 20 actions of the TOTP extension, with their parameters in reading order.
pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "create_user_totp_enrollment",
        params: &[S],
    },
    ActionDef {
        name: "get_user_totp_enrollment",
        params: &[S, ENROLLMENT],
    },
    ActionDef {
        name: "delete_user_totp_enrollment",
        params: &[S, ENROLLMENT],
    },
    ActionDef {
        name: "verify_user_totp_enrollment_user_password",
        params: &[S, ENROLLMENT, "password"],
    },
    ActionDef {
        name: "verify_user_totp_enrollment_totp_code",
        params: &[S, ENROLLMENT, "totp_code"],
    },
    ActionDef {
        name: "complete_user_totp_enrollment",
        params: &[S, ENROLLMENT],
    },
    ActionDef {
        name: "create_user_recovery_code_regeneration",
        params: &[S],
    },
    ActionDef {
        name: "get_user_recovery_code_regeneration",
        params: &[S, REGENERATION],
    },
    ActionDef {
        name: "delete_user_recovery_code_regeneration",
        params: &[S, REGENERATION],
    },
    ActionDef {
        name: "verify_user_recovery_code_regeneration_user_password",
        params: &[S, REGENERATION, "password"],
    },
    ActionDef {
        name: "complete_user_recovery_code_regeneration",
        params: &[S, REGENERATION],
    },
    ActionDef {
        name: "create_user_totp_deletion",
        params: &[S],
    },
    ActionDef {
        name: "get_user_totp_deletion",
        params: &[S, DELETION],
    },
    ActionDef {
        name: "delete_user_totp_deletion",
        params: &[S, DELETION],
    },
    ActionDef {
        name: "verify_user_totp_deletion_user_password",
        params: &[S, DELETION, "password"],
    },
    ActionDef {
        name: "complete_user_totp_deletion",
        params: &[S, DELETION],
    },
    ActionDef {
        name: "get_user_second_factors",
        params: &[S],
    },
    ActionDef {
        name: "verify_signin_totp_code",
        params: &["signin_token", "totp_code"],
    },
    ActionDef {
        name: "verify_signin_recovery_code",
        params: &["signin_token", "recovery_code"],
    },
    ActionDef {
        name: "delete_user_second_factors",
        params: &["user_id"],
    },
];

/// The `second_factors` record as read, with its storage counter.
pub(crate) struct StoredSecondFactors {
    pub record: SecondFactors,
    pub counter: i32,
}

impl Server {
    /// The TOTP configuration; its actions are dispatched only when it is set.
    pub(crate) fn totp_config(&self) -> Result<&TotpConfig, Failure> {
        self.extensions
            .totp
            .as_ref()
            .ok_or_else(|| Failure::Internal("the TOTP extension is not configured".into()))
    }

    /// Reads the user's `second_factors` record; `None` when the user has no second factor.
    pub(crate) async fn read_second_factors(
        &self,
        user_id: &str,
    ) -> Result<Option<StoredSecondFactors>, Failure> {
        let entry = match self.ports.account_storage.get(user_id, RECORD_KEY).await {
            Ok(entry) => entry,
            Err(StorageError::NotFound) => return Ok(None),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "account storage get failed: {e}"
                )))
            }
        };
        let record =
            SecondFactors::decode(&entry.value).map_err(|e| Failure::Internal(e.to_string()))?;
        Ok(Some(StoredSecondFactors {
            record,
            counter: entry.counter,
        }))
    }

    /// Whether the user has a second factor that sign-in must verify: TOTP, or (passkeys on) a
    /// passkey.
    pub(crate) async fn has_second_factor(&self, user_id: &str) -> Result<bool, Failure> {
        let stored = self.read_second_factors(user_id).await?;
        self.record_has_second_factor(user_id, stored.as_ref().map(|s| &s.record))
            .await
    }

    /// The same, given the `second_factors` record as read: its TOTP, else the passkeys.
    pub(crate) async fn record_has_second_factor(
        &self,
        user_id: &str,
        record: Option<&SecondFactors>,
    ) -> Result<bool, Failure> {
        if record.is_some_and(|r| r.has_any_second_factor()) {
            return Ok(true);
        }
        Ok(self.passkey_count(user_id).await? > 0)
    }

    /// The `user_second_factors` model, with `passkey_count` when passkeys is on.
    pub(crate) async fn second_factors_model(
        &self,
        user_id: &str,
        record: Option<&SecondFactors>,
    ) -> Result<serde_json::Value, Failure> {
        let mut model = SecondFactors::model(user_id, record);
        if self.extensions.passkeys.is_some() {
            let count = self.passkey_count(user_id).await?;
            if let Some(members) = model.as_object_mut() {
                members.insert("passkey_count".into(), count.into());
            }
        }
        Ok(model)
    }

    /// Writes the record over the version read with `counter` (re-sealing the TOTP key with the
    /// first key); a lost race is `internal_conflict`.
    pub(crate) async fn update_second_factors(
        &self,
        user_id: &str,
        mut record: SecondFactors,
        counter: i32,
    ) -> Result<(), Failure> {
        if let Some(totp) = &mut record.totp {
            totp.key = self
                .totp_config()?
                .keys
                .reseal_for_write(user_id, &totp.key);
        }
        match self
            .ports
            .account_storage
            .update(user_id, RECORD_KEY, record.encode(), 0, counter)
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(Failure::Code("internal_conflict")),
            Err(e) => Err(Failure::Internal(format!(
                "account storage update failed: {e}"
            ))),
        }
    }

    /// Creates the record; one that appeared meanwhile is `internal_conflict`.
    pub(crate) async fn add_second_factors(
        &self,
        user_id: &str,
        record: &SecondFactors,
    ) -> Result<(), Failure> {
        match self
            .ports
            .account_storage
            .add(user_id, RECORD_KEY, record.encode(), 0)
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::AlreadyExists) => Err(Failure::Code("internal_conflict")),
            Err(e) => Err(Failure::Internal(format!(
                "account storage add failed: {e}"
            ))),
        }
    }
}
