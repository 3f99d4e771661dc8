//! The user-server client (spec §10.2): a remote user store spoken to with the action invocation
//! protocol. Response validation follows the reference client exactly; anything malformed is a
//! generic error (→ `internal_error` in the calling action).

use super::http::{HttpClient, HttpRequest};
use crate::ports::{User, UserStore, UserStoreError};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use std::rc::Rc;

pub struct UserServerClient {
    url: String,
    secret: Option<String>,
    http: Rc<dyn HttpClient>,
}

fn failed(message: impl Into<String>) -> UserStoreError {
    UserStoreError::Failed(message.into())
}

fn string_member(user: &Map<String, Value>, name: &str) -> Result<String, UserStoreError> {
    user.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| failed(format!("user server: user.{name} is not a string")))
}

fn bytes_member(user: &Map<String, Value>, name: &str) -> Result<Vec<u8>, UserStoreError> {
    let encoded = string_member(user, name)?;
    STANDARD
        .decode(encoded)
        .map_err(|_| failed(format!("user server: user.{name} is not padded base64")))
}

/// Non-negative integer that fits in 32 unsigned bits, reinterpreted as int32 (as Go does).
fn counter_member(user: &Map<String, Value>, name: &str) -> Result<i32, UserStoreError> {
    user.get(name)
        .and_then(Value::as_u64)
        .filter(|n| *n <= u64::from(u32::MAX))
        .map(|n| n as u32 as i32)
        .ok_or_else(|| failed(format!("user server: user.{name} is not a 32-bit counter")))
}

/// Parses the `user` model of spec §10.2; every member is required with its exact JSON type.
pub fn parse_user(value: &Value) -> Result<User, UserStoreError> {
    let user = value
        .as_object()
        .ok_or_else(|| failed("user server: values.user is not an object"))?;
    Ok(User {
        id: string_member(user, "id")?,
        email_address: string_member(user, "email_address")?,
        password_hash: bytes_member(user, "password_hash")?,
        password_hash_algorithm_id: string_member(user, "password_hash_algorithm_id")?,
        password_salt: bytes_member(user, "password_salt")?,
        display_name: string_member(user, "display_name")?,
        disabled: user
            .get("disabled")
            .and_then(Value::as_bool)
            .ok_or_else(|| failed("user server: user.disabled is not a boolean"))?,
        email_address_counter: counter_member(user, "email_address_counter")?,
        password_hash_counter: counter_member(user, "password_hash_counter")?,
        disabled_counter: counter_member(user, "disabled_counter")?,
        sessions_counter: counter_member(user, "sessions_counter")?,
        // Ours, optional: absent or null keeps Faroe's user model unchanged.
        email_language: match user.get("email_language") {
            None | Some(Value::Null) => None,
            Some(Value::String(language)) => Some(language.clone()),
            Some(_) => return Err(failed("user server: user.email_language is not a string")),
        },
    })
}

/// Serializes a user as the user-server protocol's `user` model (used by test user servers).
pub fn user_to_json(user: &User) -> Value {
    let mut model = json!({
        "id": user.id,
        "email_address": user.email_address,
        "password_hash": STANDARD.encode(&user.password_hash),
        "password_hash_algorithm_id": user.password_hash_algorithm_id,
        "password_salt": STANDARD.encode(&user.password_salt),
        "display_name": user.display_name,
        "disabled": user.disabled,
        "email_address_counter": user.email_address_counter,
        "password_hash_counter": user.password_hash_counter,
        "disabled_counter": user.disabled_counter,
        "sessions_counter": user.sessions_counter,
    });
    if let Some(language) = &user.email_language {
        model["email_language"] = json!(language);
    }
    model
}

impl UserServerClient {
    pub fn new(url: &str, secret: Option<String>, http: Rc<dyn HttpClient>) -> Self {
        Self {
            url: url.to_string(),
            secret,
            http,
        }
    }

    /// Invokes `action`; `Ok(values)` on success. `not_found_maps` / `already_used_maps` say which
    /// error codes this action translates (spec §10.2 step 3).
    async fn invoke(
        &self,
        action: &str,
        arguments: Value,
        not_found_maps: bool,
        already_used_maps: bool,
    ) -> Result<Map<String, Value>, UserStoreError> {
        let body = json!({ "action": action, "arguments": arguments }).to_string();
        let mut request = HttpRequest::post_json(&self.url, body);
        if let Some(secret) = &self.secret {
            request = request.bearer(secret);
        }
        let response = self
            .http
            .send(request)
            .await
            .map_err(|e| failed(format!("user server request failed: {e}")))?;
        if response.status != 200 {
            return Err(failed(format!(
                "user server answered HTTP {} to {action}",
                response.status
            )));
        }
        let parsed: Value = serde_json::from_str(&response.body)
            .map_err(|_| failed(format!("user server sent invalid JSON for {action}")))?;
        let result = parsed
            .as_object()
            .ok_or_else(|| failed("user server result is not an object"))?;
        let ok = result
            .get("ok")
            .and_then(Value::as_bool)
            .ok_or_else(|| failed("user server result has no boolean ok"))?;
        if !result
            .get("action_invocation_id")
            .is_some_and(Value::is_string)
        {
            return Err(failed("user server result has no action_invocation_id"));
        }
        if !ok {
            let code = result
                .get("error_code")
                .and_then(Value::as_str)
                .ok_or_else(|| failed("user server error result has no error_code"))?;
            return Err(match code {
                "user_not_found" if not_found_maps => UserStoreError::UserNotFound,
                "email_address_already_used" if already_used_maps => {
                    UserStoreError::EmailAddressAlreadyUsed
                }
                other => failed(format!("user server {action} failed: {other}")),
            });
        }
        match result.get("values") {
            Some(Value::Object(values)) => Ok(values.clone()),
            _ => Err(failed("user server result values is not an object")),
        }
    }

    async fn invoke_for_user(
        &self,
        action: &str,
        arguments: Value,
        not_found_maps: bool,
        already_used_maps: bool,
    ) -> Result<User, UserStoreError> {
        let values = self
            .invoke(action, arguments, not_found_maps, already_used_maps)
            .await?;
        parse_user(values.get("user").unwrap_or(&Value::Null))
    }
}

#[async_trait(?Send)]
impl UserStore for UserServerClient {
    async fn create_user(
        &self,
        email_address: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
    ) -> Result<User, UserStoreError> {
        let arguments = json!({
            "email_address": email_address,
            "password_hash": STANDARD.encode(password_hash),
            "password_hash_algorithm_id": password_hash_algorithm_id,
            "password_salt": STANDARD.encode(password_salt),
        });
        self.invoke_for_user("create_user", arguments, false, true)
            .await
    }

    async fn get_user(&self, user_id: &str) -> Result<User, UserStoreError> {
        self.invoke_for_user("get_user", json!({ "user_id": user_id }), true, false)
            .await
    }

    async fn get_user_by_email_address(&self, email_address: &str) -> Result<User, UserStoreError> {
        let arguments = json!({ "email_address": email_address });
        self.invoke_for_user("get_user_by_email_address", arguments, true, false)
            .await
    }

    async fn update_user_email_address(
        &self,
        user_id: &str,
        email_address: &str,
        email_address_counter: i32,
    ) -> Result<(), UserStoreError> {
        let arguments = json!({
            "user_id": user_id,
            "email_address": email_address,
            "user_email_address_counter": email_address_counter,
        });
        self.invoke("update_user_email_address", arguments, true, true)
            .await
            .map(|_| ())
    }

    async fn update_user_password_hash(
        &self,
        user_id: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
        password_hash_counter: i32,
    ) -> Result<(), UserStoreError> {
        let arguments = json!({
            "user_id": user_id,
            "password_hash": STANDARD.encode(password_hash),
            "password_hash_algorithm_id": password_hash_algorithm_id,
            "password_salt": STANDARD.encode(password_salt),
            "user_password_hash_counter": password_hash_counter,
        });
        self.invoke("update_user_password_hash", arguments, true, false)
            .await
            .map(|_| ())
    }

    async fn increment_user_sessions_counter(
        &self,
        user_id: &str,
        sessions_counter: i32,
    ) -> Result<(), UserStoreError> {
        let arguments = json!({ "user_id": user_id, "user_sessions_counter": sessions_counter });
        self.invoke("increment_user_sessions_counter", arguments, true, false)
            .await
            .map(|_| ())
    }

    async fn delete_user(&self, user_id: &str) -> Result<(), UserStoreError> {
        self.invoke("delete_user", json!({ "user_id": user_id }), true, false)
            .await
            .map(|_| ())
    }
}
