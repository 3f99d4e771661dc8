//! The user store in D1 (`USER_STORE=d1`): the users table of `migrations/0001_users.sql`.
//! Counter arguments are compare-and-set guards in the `WHERE` clause, so a stale caller changes
//! nothing; email uniqueness is the table's `UNIQUE` constraint.

use crate::crypto;
use crate::ports::{User, UserStore, UserStoreError};
use async_trait::async_trait;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use wasm_bindgen::JsValue;
use worker::D1Database;

/// Every column: `email_language` (migrations/0002) is read where the migration was applied and
/// is absent, not an error, where it was not.
const USER_COLUMNS: &str = "*";

#[derive(Deserialize)]
struct UserRow {
    id: String,
    email_address: String,
    password_hash: String,
    password_salt: String,
    password_hash_algorithm_id: String,
    disabled: f64,
    display_name: String,
    email_address_counter: f64,
    password_hash_counter: f64,
    disabled_counter: f64,
    sessions_counter: f64,
    #[serde(default)]
    email_language: Option<String>,
}

impl UserRow {
    fn into_user(self) -> Result<User, UserStoreError> {
        let decode = |s: &str, column: &str| {
            STANDARD
                .decode(s)
                .map_err(|_| UserStoreError::Failed(format!("users.{column} is not base64")))
        };
        Ok(User {
            password_hash: decode(&self.password_hash, "password_hash")?,
            password_salt: decode(&self.password_salt, "password_salt")?,
            id: self.id,
            email_address: self.email_address,
            password_hash_algorithm_id: self.password_hash_algorithm_id,
            disabled: self.disabled != 0.0,
            display_name: self.display_name,
            email_address_counter: self.email_address_counter as i64 as i32,
            password_hash_counter: self.password_hash_counter as i64 as i32,
            disabled_counter: self.disabled_counter as i64 as i32,
            sessions_counter: self.sessions_counter as i64 as i32,
            email_language: self.email_language.filter(|l| !l.is_empty()),
        })
    }
}

/// The schema of `migrations/0001_users.sql`, without its comment lines. Applied once per isolate
/// (`CREATE TABLE IF NOT EXISTS`), so a fresh local `--persist-to` directory works without a
/// separate migration step; `wrangler d1 migrations apply` remains the way to manage it.
fn schema() -> String {
    include_str!("../../migrations/0001_users.sql")
        .lines()
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ")
        .trim()
        .trim_end_matches(';')
        .to_string()
}

pub struct D1UserStore {
    db: D1Database,
    schema_ready: std::cell::Cell<bool>,
}

fn failed(context: &str, e: worker::Error) -> UserStoreError {
    UserStoreError::Failed(format!("D1 {context} failed: {e}"))
}

fn is_unique_violation(e: &worker::Error) -> bool {
    e.to_string().contains("UNIQUE constraint failed")
}

impl D1UserStore {
    pub fn new(db: D1Database) -> Self {
        Self {
            db,
            schema_ready: std::cell::Cell::new(false),
        }
    }

    async fn ensure_schema(&self) -> Result<(), UserStoreError> {
        if self.schema_ready.get() {
            return Ok(());
        }
        self.db
            .prepare(schema())
            .run()
            .await
            .map_err(|e| failed("schema", e))?;
        self.schema_ready.set(true);
        Ok(())
    }

    async fn select_one(&self, sql: &str, arg: &str) -> Result<User, UserStoreError> {
        self.ensure_schema().await?;
        let row = self
            .db
            .prepare(sql)
            .bind(&[JsValue::from(arg)])
            .map_err(|e| failed("bind", e))?
            .first::<UserRow>(None)
            .await
            .map_err(|e| failed("select", e))?;
        row.ok_or(UserStoreError::UserNotFound)?.into_user()
    }

    /// Runs a conditional write; no changed row means absent or counter mismatch.
    async fn conditional_write(&self, sql: &str, args: &[JsValue]) -> Result<(), UserStoreError> {
        self.ensure_schema().await?;
        let result = self
            .db
            .prepare(sql)
            .bind(args)
            .map_err(|e| failed("bind", e))?
            .run()
            .await;
        let result = match result {
            Ok(result) => result,
            Err(e) if is_unique_violation(&e) => {
                return Err(UserStoreError::EmailAddressAlreadyUsed)
            }
            Err(e) => return Err(failed("update", e)),
        };
        let changes = result
            .meta()
            .map_err(|e| failed("result", e))?
            .and_then(|m| m.changes)
            .unwrap_or(0);
        if changes == 0 {
            Err(UserStoreError::UserNotFound)
        } else {
            Ok(())
        }
    }
}

#[async_trait(?Send)]
impl UserStore for D1UserStore {
    async fn create_user(
        &self,
        email_address: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
    ) -> Result<User, UserStoreError> {
        self.ensure_schema().await?;
        let id = crypto::generate_id();
        let sql = format!(
            "INSERT INTO users (id, email_address, password_hash, password_salt, \
             password_hash_algorithm_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             RETURNING {USER_COLUMNS}"
        );
        let args = [
            JsValue::from(id.as_str()),
            JsValue::from(email_address),
            JsValue::from(STANDARD.encode(password_hash)),
            JsValue::from(STANDARD.encode(password_salt)),
            JsValue::from(password_hash_algorithm_id),
            JsValue::from(super::now_millis().div_euclid(1000) as f64),
        ];
        let row = self
            .db
            .prepare(sql)
            .bind(&args)
            .map_err(|e| failed("bind", e))?
            .first::<UserRow>(None)
            .await;
        match row {
            Ok(Some(row)) => row.into_user(),
            Ok(None) => Err(UserStoreError::Failed("D1 insert returned no row".into())),
            Err(e) if is_unique_violation(&e) => Err(UserStoreError::EmailAddressAlreadyUsed),
            Err(e) => Err(failed("insert", e)),
        }
    }

    async fn get_user(&self, user_id: &str) -> Result<User, UserStoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
        self.select_one(&sql, user_id).await
    }

    async fn get_user_by_email_address(&self, email_address: &str) -> Result<User, UserStoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_address = ?1");
        self.select_one(&sql, email_address).await
    }

    async fn update_user_email_address(
        &self,
        user_id: &str,
        email_address: &str,
        email_address_counter: i32,
    ) -> Result<(), UserStoreError> {
        self.conditional_write(
            "UPDATE users SET email_address = ?1, email_address_counter = email_address_counter + 1 \
             WHERE id = ?2 AND email_address_counter = ?3",
            &[
                JsValue::from(email_address),
                JsValue::from(user_id),
                JsValue::from(email_address_counter),
            ],
        )
        .await
    }

    async fn update_user_password_hash(
        &self,
        user_id: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
        password_hash_counter: i32,
    ) -> Result<(), UserStoreError> {
        self.conditional_write(
            "UPDATE users SET password_hash = ?1, password_hash_algorithm_id = ?2, \
             password_salt = ?3, password_hash_counter = password_hash_counter + 1 \
             WHERE id = ?4 AND password_hash_counter = ?5",
            &[
                JsValue::from(STANDARD.encode(password_hash)),
                JsValue::from(password_hash_algorithm_id),
                JsValue::from(STANDARD.encode(password_salt)),
                JsValue::from(user_id),
                JsValue::from(password_hash_counter),
            ],
        )
        .await
    }

    async fn increment_user_sessions_counter(
        &self,
        user_id: &str,
        sessions_counter: i32,
    ) -> Result<(), UserStoreError> {
        self.conditional_write(
            "UPDATE users SET sessions_counter = sessions_counter + 1 \
             WHERE id = ?1 AND sessions_counter = ?2",
            &[JsValue::from(user_id), JsValue::from(sessions_counter)],
        )
        .await
    }

    async fn delete_user(&self, user_id: &str) -> Result<(), UserStoreError> {
        self.conditional_write("DELETE FROM users WHERE id = ?1", &[JsValue::from(user_id)])
            .await
    }
}
