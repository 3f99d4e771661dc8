//! The action invocation endpoint (spec §1): parse the body, dispatch to the action, serialize the
//! result object. Request errors are a separate type: the edge answers them with HTTP 400.

use crate::crypto;
use crate::extensions::Extensions;
use crate::flows::{ActionResult, Failure, Invocation};
use crate::server::Server;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// A request that could not be dispatched to an action. Nothing was touched or logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    reason: String,
}

impl RequestError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// A short plain-text reason, safe to show to the caller (it never echoes argument values).
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for RequestError {}

/// Why [`Server::resolve_gated`] produced no result.
#[derive(Debug)]
pub enum Rejection<E> {
    /// A malformed or refused request (HTTP 400).
    Request(RequestError),
    /// The caller's gate refused the action.
    Gate(E),
}

/// Which actions an endpoint may invoke (spec §1.9). Names are case-sensitive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ActionFilter {
    #[default]
    AllowAll,
    Blocklist(Vec<String>),
    Allowlist(Vec<String>),
}

impl ActionFilter {
    fn permits(&self, action: &str) -> bool {
        match self {
            ActionFilter::AllowAll => true,
            ActionFilter::Blocklist(list) => !list.iter().any(|a| a == action),
            ActionFilter::Allowlist(list) => list.iter().any(|a| a == action),
        }
    }
}

/// One row of the action table: the name and its string parameters, in reading order.
pub struct ActionDef {
    pub name: &'static str,
    pub params: &'static [&'static str],
}

const S: &str = "session_token";

/// The 39 Faroe server actions (spec §3).
pub static ACTIONS: &[ActionDef] = &[
    ActionDef {
        name: "create_signup",
        params: &["email_address"],
    },
    ActionDef {
        name: "get_signup",
        params: &["signup_token"],
    },
    ActionDef {
        name: "delete_signup",
        params: &["signup_token"],
    },
    ActionDef {
        name: "send_signup_email_address_verification_code",
        params: &["signup_token"],
    },
    ActionDef {
        name: "verify_signup_email_address_verification_code",
        params: &["signup_token", "email_address_verification_code"],
    },
    ActionDef {
        name: "set_signup_password",
        params: &["signup_token", "password"],
    },
    ActionDef {
        name: "complete_signup",
        params: &["signup_token"],
    },
    ActionDef {
        name: "create_signin",
        params: &["user_email_address"],
    },
    ActionDef {
        name: "get_signin",
        params: &["signin_token"],
    },
    ActionDef {
        name: "delete_signin",
        params: &["signin_token"],
    },
    ActionDef {
        name: "verify_signin_user_password",
        params: &["signin_token", "password"],
    },
    ActionDef {
        name: "complete_signin",
        params: &["signin_token"],
    },
    ActionDef {
        name: "get_session",
        params: &[S],
    },
    ActionDef {
        name: "delete_session",
        params: &[S],
    },
    ActionDef {
        name: "delete_all_sessions",
        params: &[S],
    },
    ActionDef {
        name: "create_user_email_address_update",
        params: &[S, "new_email_address"],
    },
    ActionDef {
        name: "get_user_email_address_update",
        params: &[S, "user_email_address_update_token"],
    },
    ActionDef {
        name: "delete_user_email_address_update",
        params: &[S, "user_email_address_update_token"],
    },
    ActionDef {
        name: "send_user_email_address_update_email_address_verification_code",
        params: &[S, "user_email_address_update_token"],
    },
    ActionDef {
        name: "verify_user_email_address_update_email_address_verification_code",
        params: &[
            S,
            "user_email_address_update_token",
            "email_address_verification_code",
        ],
    },
    ActionDef {
        name: "verify_user_email_address_update_user_password",
        params: &[S, "user_email_address_update_token", "password"],
    },
    ActionDef {
        name: "complete_user_email_address_update",
        params: &[S, "user_email_address_update_token"],
    },
    ActionDef {
        name: "create_user_password_update",
        params: &[S],
    },
    ActionDef {
        name: "get_user_password_update",
        params: &[S, "user_password_update_token"],
    },
    ActionDef {
        name: "delete_user_password_update",
        params: &[S, "user_password_update_token"],
    },
    ActionDef {
        name: "verify_user_password_update_user_password",
        params: &[S, "user_password_update_token", "password"],
    },
    ActionDef {
        name: "set_user_password_update_new_password",
        params: &[S, "user_password_update_token", "password"],
    },
    ActionDef {
        name: "complete_user_password_update",
        params: &[S, "user_password_update_token"],
    },
    ActionDef {
        name: "create_user_deletion",
        params: &[S],
    },
    ActionDef {
        name: "get_user_deletion",
        params: &[S, "user_deletion_token"],
    },
    ActionDef {
        name: "delete_user_deletion",
        params: &[S, "user_deletion_token"],
    },
    ActionDef {
        name: "verify_user_deletion_user_password",
        params: &[S, "user_deletion_token", "password"],
    },
    ActionDef {
        name: "complete_user_deletion",
        params: &[S, "user_deletion_token"],
    },
    ActionDef {
        name: "create_user_password_reset",
        params: &["user_email_address"],
    },
    ActionDef {
        name: "get_user_password_reset",
        params: &["user_password_reset_token"],
    },
    ActionDef {
        name: "delete_user_password_reset",
        params: &["user_password_reset_token"],
    },
    ActionDef {
        name: "verify_user_password_reset_temporary_password",
        params: &["user_password_reset_token", "temporary_password"],
    },
    ActionDef {
        name: "set_user_password_reset_new_password",
        params: &["user_password_reset_token", "password"],
    },
    ActionDef {
        name: "complete_user_password_reset",
        params: &["user_password_reset_token"],
    },
];

/// A JSON value parsed with duplicate member names rejected in every object (spec §1.4).
struct StrictJson(Value);

impl<'de> Deserialize<'de> for StrictJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictJson)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictJson(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom("duplicate member name"));
            }
            let StrictJson(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

/// Steps 1–6 of spec §1.3: the action and its string arguments, or a request error. An action
/// that is not Faroe's is looked up in the tables of the extensions that are on.
fn parse_request(
    body: &[u8],
    filter: &ActionFilter,
    extensions: &Extensions,
    arguments_out: &mut Vec<String>,
) -> Result<&'static ActionDef, RequestError> {
    let StrictJson(parsed) = serde_json::from_slice(body).map_err(|e| {
        if e.to_string().contains("duplicate member name") {
            RequestError::new("body has a duplicate member name")
        } else {
            RequestError::new("body is not valid JSON")
        }
    })?;
    let Value::Object(mut request) = parsed else {
        return Err(RequestError::new("body is not a JSON object"));
    };
    let action = match request.remove("action") {
        Some(Value::String(action)) => action,
        Some(_) => return Err(RequestError::new("member \"action\" is not a string")),
        None => return Err(RequestError::new("member \"action\" is missing")),
    };
    let mut arguments = match request.remove("arguments") {
        Some(Value::Object(arguments)) => arguments,
        Some(_) => return Err(RequestError::new("member \"arguments\" is not an object")),
        None => return Err(RequestError::new("member \"arguments\" is missing")),
    };
    if !filter.permits(&action) {
        return Err(RequestError::new("action is not allowed on this endpoint"));
    }
    let def = ACTIONS
        .iter()
        .find(|def| def.name == action)
        .or_else(|| extensions.action(&action))
        .ok_or_else(|| RequestError::new("unknown action"))?;
    for param in def.params {
        match arguments.remove(*param) {
            Some(Value::String(value)) => arguments_out.push(value),
            Some(_) => {
                return Err(RequestError::new(format!(
                    "argument \"{param}\" is not a string"
                )))
            }
            None => {
                return Err(RequestError::new(format!(
                    "argument \"{param}\" is missing"
                )))
            }
        }
    }
    Ok(def)
}

impl Server {
    /// Resolves one action invocation with every action allowed.
    pub async fn resolve(&self, body: &[u8]) -> Result<String, RequestError> {
        self.resolve_with_filter(body, &ActionFilter::AllowAll)
            .await
    }

    /// Resolves one action invocation: `Ok(result object)` for HTTP 200, `Err` for HTTP 400.
    pub async fn resolve_with_filter(
        &self,
        body: &[u8],
        filter: &ActionFilter,
    ) -> Result<String, RequestError> {
        let no_gate = |_: &'static str| async { Ok::<(), std::convert::Infallible>(()) };
        match self.resolve_gated(body, filter, no_gate).await {
            Ok(result) => Ok(result),
            Err(Rejection::Request(e)) => Err(e),
            Err(Rejection::Gate(never)) => match never {},
        }
    }

    /// Like [`Server::resolve_with_filter`], with a `gate` that sees the action name after the
    /// request is validated and before anything runs (the edge's abuse limits). A gate refusal
    /// is returned as is; nothing was touched.
    pub async fn resolve_gated<E, F, Fut>(
        &self,
        body: &[u8],
        filter: &ActionFilter,
        gate: F,
    ) -> Result<String, Rejection<E>>
    where
        F: FnOnce(&'static str) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>>,
    {
        let mut args = Vec::with_capacity(3);
        let def =
            parse_request(body, filter, &self.extensions, &mut args).map_err(Rejection::Request)?;
        gate(def.name).await.map_err(Rejection::Gate)?;
        let invocation = Invocation {
            action: def.name,
            id: crypto::generate_id(),
        };
        // A fresh acting-user slot per invocation: flows note whose token checked out.
        let scoped = Server {
            acting_user: Default::default(),
            ..self.clone()
        };
        let result = scoped.run_action(&invocation, &args).await;
        let user_id = scoped.acting_user.borrow_mut().take();
        scoped
            .record_security_event_of(&invocation, &result, user_id.as_deref())
            .await;
        let response = match result {
            Ok(values) => serde_json::json!({
                "ok": true,
                "action_invocation_id": invocation.id,
                "values": Value::Object(values),
            }),
            Err(failure) => {
                let code = match failure {
                    Failure::Code(code) => code,
                    Failure::Internal(message) => {
                        self.log(&invocation, &message);
                        "internal_error"
                    }
                    Failure::LoggedCode(code, message) => {
                        self.log(&invocation, &message);
                        code
                    }
                };
                serde_json::json!({
                    "ok": false,
                    "action_invocation_id": invocation.id,
                    "error_code": code,
                })
            }
        };
        let outcome = response.get("error_code").and_then(Value::as_str);
        self.log_action_outcome(&invocation, outcome.unwrap_or("ok"), user_id.as_deref());
        Ok(response.to_string())
    }

    /// The action log line (docs/extensions.md "Action log"): names and ids only, never an
    /// argument value, so no token, code, password or email address can reach it.
    fn log_action_outcome(&self, invocation: &Invocation, result: &str, user_id: Option<&str>) {
        let line = serde_json::json!({
            "event": "action",
            "action": invocation.action,
            "action_invocation_id": invocation.id,
            "result": result,
            "user_id": user_id,
        });
        self.ports
            .error_logger
            .log_action_outcome(&line.to_string());
    }

    async fn run_action(&self, inv: &Invocation, a: &[String]) -> ActionResult {
        match inv.action {
            "create_signup" => self.create_signup(&a[0]).await,
            "get_signup" => self.get_signup(&a[0]).await,
            "delete_signup" => self.delete_signup(&a[0]).await,
            "send_signup_email_address_verification_code" => {
                self.send_signup_email_address_verification_code(&a[0])
                    .await
            }
            "verify_signup_email_address_verification_code" => {
                self.verify_signup_email_address_verification_code(&a[0], &a[1])
                    .await
            }
            "set_signup_password" => self.set_signup_password(inv, &a[0], &a[1]).await,
            "complete_signup" => self.complete_signup(inv, &a[0]).await,
            "create_signin" => self.create_signin(&a[0]).await,
            "get_signin" => self.get_signin(&a[0]).await,
            "delete_signin" => self.delete_signin(&a[0]).await,
            "verify_signin_user_password" => {
                self.verify_signin_user_password(inv, &a[0], &a[1]).await
            }
            "complete_signin" => self.complete_signin(inv, &a[0]).await,
            "get_session" => self.get_session(&a[0]).await,
            "delete_session" => self.delete_session(inv, &a[0]).await,
            "delete_all_sessions" => self.delete_all_sessions(inv, &a[0]).await,
            "create_user_email_address_update" => {
                self.create_user_email_address_update(&a[0], &a[1]).await
            }
            "get_user_email_address_update" => {
                self.get_user_email_address_update(&a[0], &a[1]).await
            }
            "delete_user_email_address_update" => {
                self.delete_user_email_address_update(&a[0], &a[1]).await
            }
            "send_user_email_address_update_email_address_verification_code" => {
                self.send_user_email_address_update_email_address_verification_code(&a[0], &a[1])
                    .await
            }
            "verify_user_email_address_update_email_address_verification_code" => {
                self.verify_user_email_address_update_email_address_verification_code(
                    &a[0], &a[1], &a[2],
                )
                .await
            }
            "verify_user_email_address_update_user_password" => {
                self.verify_user_email_address_update_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_email_address_update" => {
                self.complete_user_email_address_update(inv, &a[0], &a[1])
                    .await
            }
            "create_user_password_update" => self.create_user_password_update(&a[0]).await,
            "get_user_password_update" => self.get_user_password_update(&a[0], &a[1]).await,
            "delete_user_password_update" => self.delete_user_password_update(&a[0], &a[1]).await,
            "verify_user_password_update_user_password" => {
                self.verify_user_password_update_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "set_user_password_update_new_password" => {
                self.set_user_password_update_new_password(inv, &a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_password_update" => {
                self.complete_user_password_update(inv, &a[0], &a[1]).await
            }
            "create_user_deletion" => self.create_user_deletion(&a[0]).await,
            "get_user_deletion" => self.get_user_deletion(&a[0], &a[1]).await,
            "delete_user_deletion" => self.delete_user_deletion(&a[0], &a[1]).await,
            "verify_user_deletion_user_password" => {
                self.verify_user_deletion_user_password(&a[0], &a[1], &a[2])
                    .await
            }
            "complete_user_deletion" => self.complete_user_deletion(inv, &a[0], &a[1]).await,
            "create_user_password_reset" => self.create_user_password_reset(&a[0]).await,
            "get_user_password_reset" => self.get_user_password_reset(&a[0]).await,
            "delete_user_password_reset" => self.delete_user_password_reset(&a[0]).await,
            "verify_user_password_reset_temporary_password" => {
                self.verify_user_password_reset_temporary_password(inv, &a[0], &a[1])
                    .await
            }
            "set_user_password_reset_new_password" => {
                self.set_user_password_reset_new_password(inv, &a[0], &a[1])
                    .await
            }
            "complete_user_password_reset" => self.complete_user_password_reset(inv, &a[0]).await,
            // Dispatched only when found in the table of an extension that is on.
            _ => self.run_extension_action(inv, a).await,
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
    fn table_has_39_unique_actions() {
        assert_eq!(ACTIONS.len(), 39);
        let mut names: Vec<_> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 39);
    }

    #[test]
    fn strict_parser_rejects_duplicates_at_any_depth() {
        let mut out = Vec::new();
        let f = ActionFilter::AllowAll;
        let x = Extensions::default();
        assert!(parse_request(br#"{"action":"get_session","action":"get_session","arguments":{"session_token":"a.b"}}"#, &f, &x, &mut out).is_err());
        out.clear();
        assert!(parse_request(br#"{"action":"get_session","arguments":{"session_token":"a.b","session_token":"a.b"}}"#, &f, &x, &mut out).is_err());
        out.clear();
        assert!(parse_request(
            br#"{"action":"get_session","arguments":{"session_token":"a.b"},"x":[{"a":1,"a":2}]}"#,
            &f,
            &x,
            &mut out
        )
        .is_err());
        out.clear();
        assert!(parse_request(
            br#"{"action":"get_session","arguments":{"session_token":"a.b"},"x":[{"a":1,"b":2}]}"#,
            &f,
            &x,
            &mut out
        )
        .is_ok());
    }
}
