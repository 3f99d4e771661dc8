//! Sign-in with a passkey: passwordless (a discoverable credential finds the user through the
//! credential index) and as the second factor after the password.

use super::entities::PasskeySignin;
use super::record::{PasskeyRecord, USER_HANDLE_KEY};
use super::StoredPasskey;
use crate::crypto;
use crate::flows::signin::Signin;
use crate::flows::{seconds, ActionResult, Entity, Failure, Invocation, Values};
use crate::ports::{StorageError, UserStoreError};
use crate::rate_limit::Bucket;
use crate::server::Server;
use crate::webauthn::{self, AuthenticationResponse, CredentialDescriptor, RelyingParty};

const INVALID: &str = "invalid_passkey_signin_token";
const INVALID_CREDENTIAL: &str = "invalid_passkey_credential";

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::LoggedCode(
        INVALID_CREDENTIAL,
        format!("passkey assertion refused: {e}"),
    )
}

impl Server {
    /// Verifies the assertion against the stored passkey (challenge, origin, RP ID hash, flags,
    /// signature, counter) and stores the new sign count, backup state and `last_used_at` by a
    /// compare-and-set on the record (lost → `internal_conflict`).
    async fn use_passkey(
        &self,
        relying_party: &RelyingParty,
        challenge: &[u8],
        response: &AuthenticationResponse,
        user_id: &str,
        passkey: StoredPasskey,
    ) -> Result<(), Failure> {
        let public_key =
            webauthn::PublicKey::from_cose(&passkey.record.public_key).map_err(|e| {
                Failure::Internal(format!("stored passkey public key does not parse: {e}"))
            })?;
        let verified = relying_party
            .verify_authentication(
                challenge,
                response,
                &webauthn::StoredCredential {
                    id: &passkey.record.credential_id,
                    public_key: &public_key,
                    sign_count: passkey.record.sign_count,
                },
            )
            .map_err(refused)?;
        let record = PasskeyRecord {
            sign_count: verified.sign_count,
            backed_up: verified.backed_up,
            last_used_at: seconds(self.now()),
            ..passkey.record
        };
        match self
            .ports
            .account_storage
            .update(
                user_id,
                &PasskeyRecord::key_for(&record.id),
                record.encode(),
                0,
                passkey.counter,
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(StorageError::NotFound) => Err(Failure::Code("internal_conflict")),
            Err(e) => Err(Failure::Internal(format!(
                "account storage update failed: {e}"
            ))),
        }
    }

    // ---- passwordless ----

    pub(crate) async fn create_passkey_signin(&self) -> ActionResult {
        let config = self.passkeys_config()?;
        let mut challenge = vec![0u8; webauthn::CHALLENGE_LEN];
        crypto::random_bytes(&mut challenge);
        let secret = crypto::generate_secret();
        let signin = PasskeySignin {
            id: crypto::generate_id(),
            secret_hash: crypto::hash_secret(&secret),
            challenge,
            created_at: seconds(self.now()),
        };
        let options = config
            .passwordless_relying_party()
            .request_options(&signin.challenge, Vec::new());
        let options = serde_json::to_string(&options)
            .map_err(|e| Failure::Internal(format!("failed to encode request options: {e}")))?;
        self.store_new_entity(&signin).await?;
        let mut values = Values::new();
        values.insert("passkey_signin".into(), signin.model());
        values.insert(
            "passkey_signin_token".into(),
            crypto::format_token(&signin.id, &secret).into(),
        );
        values.insert("credential_request_options".into(), options.into());
        Ok(values)
    }

    async fn validate_passkey_signin(&self, token: &str) -> Result<PasskeySignin, Failure> {
        self.validate_entity_token::<PasskeySignin>(token)
            .await
            .map_err(|e| e.into_failure(INVALID))
    }

    pub(crate) async fn get_passkey_signin(&self, token: &str) -> ActionResult {
        let signin = self.validate_passkey_signin(token).await?;
        let mut values = Values::new();
        values.insert("passkey_signin".into(), signin.model());
        Ok(values)
    }

    pub(crate) async fn delete_passkey_signin(&self, token: &str) -> ActionResult {
        let signin = self.validate_passkey_signin(token).await?;
        self.delete_entity_on_request(&PasskeySignin::key_for(&signin.id), INVALID)
            .await
    }

    pub(crate) async fn complete_passkey_signin(
        &self,
        invocation: &Invocation,
        token: &str,
        credential: &str,
    ) -> ActionResult {
        let relying_party = self.passkeys_config()?.passwordless_relying_party();
        let signin = self.validate_passkey_signin(token).await?;
        // Spend the one-time sign-in first: a challenge is answered once.
        match self
            .ports
            .main_storage
            .delete(&PasskeySignin::key_for(&signin.id))
            .await
        {
            Ok(()) => {}
            Err(StorageError::NotFound) => return Err(Failure::Code(INVALID)),
            Err(e) => {
                return Err(Failure::Internal(format!(
                    "failed to delete the passkey signin: {e}"
                )))
            }
        }
        let response = webauthn::parse_authentication_response(credential).map_err(refused)?;
        let not_found = Failure::Code("passkey_not_found");
        let Some(index) = self.read_credential_index(&response.credential_id).await? else {
            return Err(not_found);
        };
        let user = match self.ports.user_store.get_user(&index.user_id).await {
            Ok(user) => user,
            Err(UserStoreError::UserNotFound) => return Err(not_found),
            Err(e) => return Err(Failure::Internal(format!("failed to get user: {e}"))),
        };
        if user.disabled {
            return Err(Failure::Code("user_disabled"));
        }
        let Some(passkey) = self.read_passkey(&user.id, &index.passkey_id).await? else {
            return Err(not_found);
        };
        if let Some(presented) = &response.user_handle {
            let handle = match self
                .ports
                .account_storage
                .get(&user.id, USER_HANDLE_KEY)
                .await
            {
                Ok(entry) => entry.value,
                Err(StorageError::NotFound) => Vec::new(),
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "account storage get failed: {e}"
                    )))
                }
            };
            if !crypto::constant_time_eq(presented, &handle) {
                return Err(refused("userHandle is not the user's"));
            }
        }
        self.use_passkey(
            &relying_party,
            &signin.challenge,
            &response,
            &user.id,
            passkey,
        )
        .await?;
        self.sign_in(invocation, &user, |e| {
            Failure::Internal(format!("failed to create session: {e}"))
        })
        .await
    }

    // ---- second factor after the password ----

    pub(crate) async fn get_signin_passkey_credential_request_options(
        &self,
        signin_token: &str,
    ) -> ActionResult {
        let config = self.passkeys_config()?;
        let (signin, user) = self
            .validate_user_entity_token::<Signin>(signin_token)
            .await
            .map_err(|e| e.into_failure("invalid_signin_token"))?;
        if !signin.user_first_factor_verified {
            return Err(Failure::Code("user_first_factor_not_verified"));
        }
        let passkeys = self.list_passkeys(&user.id).await?;
        if passkeys.is_empty() {
            return Err(Failure::Code("passkey_not_found"));
        }
        let challenge = signin_passkey_challenge(&signin)?;
        let options = config.relying_party.request_options(
            challenge,
            passkeys
                .iter()
                .map(|p| CredentialDescriptor::new(&p.record.credential_id, &p.record.transports))
                .collect(),
        );
        let options = serde_json::to_string(&options)
            .map_err(|e| Failure::Internal(format!("failed to encode request options: {e}")))?;
        let mut values = Values::new();
        values.insert("credential_request_options".into(), options.into());
        Ok(values)
    }

    pub(crate) async fn verify_signin_passkey(
        &self,
        signin_token: &str,
        credential: &str,
    ) -> ActionResult {
        let relying_party = self.passkeys_config()?.relying_party.clone();
        let (signin, user) = self.signin_awaiting_second_factor(signin_token).await?;
        // The bucket bounds the signature verifications an attacker with the password can cause.
        self.consume_token(Bucket::VerifySecondFactor, &user.id)
            .await?;
        let response = webauthn::parse_authentication_response(credential).map_err(refused)?;
        let Some(passkey) =
            self.list_passkeys(&user.id).await?.into_iter().find(|p| {
                crypto::constant_time_eq(&p.record.credential_id, &response.credential_id)
            })
        else {
            return Err(Failure::Code("passkey_not_found"));
        };
        let challenge = signin_passkey_challenge(&signin)?;
        self.use_passkey(&relying_party, challenge, &response, &user.id, passkey)
            .await?;
        self.mark_signin_second_factor_verified(&signin).await
    }
}

/// The challenge `create_signin` drew for this signin; a signin created while passkeys was off
/// has none.
fn signin_passkey_challenge(signin: &Signin) -> Result<&[u8], Failure> {
    if signin.passkey_challenge.len() == webauthn::CHALLENGE_LEN {
        Ok(&signin.passkey_challenge)
    } else {
        Err(Failure::Internal(
            "the signin was created without a passkey challenge".into(),
        ))
    }
}
