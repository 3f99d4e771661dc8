//! Main storage and rate-limit storage in SQLite-backed Durable Objects: one object per key (its id
//! derived from the key), so every compare-and-set runs inside the single object that owns the key,
//! with synchronous SQL and no `await` between read and write (atomic under the input gate).
//! An alarm deletes entries past their expiry hint.
//!
//! Worker ⇄ object messages are binary sequences (the same encoding as stored records):
//! request `[op, key, value, expires_at, counter, entry_id]`, response `[status, value, counter,
//! entry_id]`.

use crate::encoding::{SequenceReader, SequenceWriter};
use crate::ports::{
    MainStorage, Millis, RateLimitEntry, RateLimitStorage, StorageError, StoredEntry,
};
use async_trait::async_trait;
use worker::{
    durable_object, DurableObject, Env, Method, ObjectNamespace, Request, RequestInit, Response,
    Result, SqlStorage, SqlStorageValue, State,
};

const OK: &str = "ok";
const NOT_FOUND: &str = "not_found";
const ALREADY_EXISTS: &str = "already_exists";

struct StoreRequest {
    op: String,
    key: String,
    value: Vec<u8>,
    expires_at: Millis,
    counter: i32,
    entry_id: String,
}

impl StoreRequest {
    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.op)
            .string(&self.key)
            .bytes(&self.value)
            .int64(self.expires_at)
            .int32(self.counter)
            .string(&self.entry_id)
            .finish()
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        let mut r = SequenceReader::new(bytes);
        let parse =
            |r: &mut SequenceReader| -> std::result::Result<Self, crate::encoding::DecodeError> {
                Ok(Self {
                    op: r.string()?,
                    key: r.string()?,
                    value: r.byte_vec()?,
                    expires_at: r.int64()?,
                    counter: r.int32()?,
                    entry_id: r.string()?,
                })
            };
        parse(&mut r).map_err(|e| e.to_string())
    }
}

struct StoreResponse {
    status: String,
    value: Vec<u8>,
    counter: i32,
    entry_id: String,
}

impl StoreResponse {
    fn status(status: &str) -> Self {
        Self {
            status: status.to_string(),
            value: Vec::new(),
            counter: 0,
            entry_id: String::new(),
        }
    }

    fn encode(&self) -> Vec<u8> {
        SequenceWriter::new()
            .string(&self.status)
            .bytes(&self.value)
            .int32(self.counter)
            .string(&self.entry_id)
            .finish()
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, StorageError> {
        let mut r = SequenceReader::new(bytes);
        let parse =
            |r: &mut SequenceReader| -> std::result::Result<Self, crate::encoding::DecodeError> {
                Ok(Self {
                    status: r.string()?,
                    value: r.byte_vec()?,
                    counter: r.int32()?,
                    entry_id: r.string()?,
                })
            };
        parse(&mut r).map_err(|e| StorageError::Failed(format!("storage object reply: {e}")))
    }
}

/// The SQL side shared by both object classes. Each object holds the one key it is named after.
struct EntryTable<'a> {
    sql: &'a SqlStorage,
}

struct Row {
    value: Vec<u8>,
    counter: i32,
    entry_id: String,
}

impl EntryTable<'_> {
    fn create(sql: &SqlStorage) -> Result<()> {
        sql.exec(
            "CREATE TABLE IF NOT EXISTS entry (key TEXT PRIMARY KEY, value BLOB NOT NULL, \
             counter INTEGER NOT NULL, entry_id TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            None,
        )?;
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Row>> {
        let cursor = self.sql.exec(
            "SELECT value, counter, entry_id FROM entry WHERE key = ?",
            vec![key.into()],
        )?;
        // Read the cursor to the end before anything else happens.
        let rows: Vec<_> = cursor.raw().collect::<Result<Vec<_>>>()?;
        let Some(row) = rows.into_iter().next() else {
            return Ok(None);
        };
        let mut columns = row.into_iter();
        let value = match columns.next() {
            Some(SqlStorageValue::Blob(bytes)) => bytes,
            Some(SqlStorageValue::String(s)) => s.into_bytes(),
            Some(SqlStorageValue::Null) | None => Vec::new(),
            Some(other) => return Err(format!("unexpected value column {other:?}").into()),
        };
        let counter = match columns.next() {
            Some(SqlStorageValue::Integer(n)) => n as i32,
            Some(SqlStorageValue::Float(f)) => f as i32,
            other => return Err(format!("unexpected counter column {other:?}").into()),
        };
        let entry_id = match columns.next() {
            Some(SqlStorageValue::String(s)) => s,
            other => return Err(format!("unexpected entry_id column {other:?}").into()),
        };
        Ok(Some(Row {
            value,
            counter,
            entry_id,
        }))
    }

    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        counter: i32,
        entry_id: &str,
        expires_at: Millis,
    ) -> Result<()> {
        self.sql.exec(
            "INSERT INTO entry (key, value, counter, entry_id, expires_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value, counter = excluded.counter, \
             entry_id = excluded.entry_id, expires_at = excluded.expires_at",
            vec![
                key.into(),
                SqlStorageValue::Blob(value),
                SqlStorageValue::Integer(i64::from(counter)),
                entry_id.into(),
                SqlStorageValue::Integer(expires_at),
            ],
        )?;
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.sql
            .exec("DELETE FROM entry WHERE key = ?", vec![key.into()])?;
        Ok(())
    }

    /// Runs one operation. Synchronous from read to write: nothing can interleave.
    fn apply(&self, request: StoreRequest) -> Result<StoreResponse> {
        let current = self.get(&request.key)?;
        let matches = |row: &Row, check_entry_id: bool| {
            row.counter == request.counter && (!check_entry_id || row.entry_id == request.entry_id)
        };
        Ok(match (request.op.as_str(), current) {
            ("get", Some(row)) => StoreResponse {
                status: OK.into(),
                value: row.value,
                counter: row.counter,
                entry_id: row.entry_id,
            },
            ("get", None) => StoreResponse::status(NOT_FOUND),
            ("set", _) => {
                self.put(&request.key, request.value, 0, "", request.expires_at)?;
                StoreResponse::status(OK)
            }
            ("add", Some(_)) => StoreResponse::status(ALREADY_EXISTS),
            ("add", None) => {
                self.put(
                    &request.key,
                    request.value,
                    0,
                    &request.entry_id,
                    request.expires_at,
                )?;
                StoreResponse::status(OK)
            }
            ("update" | "update_checked", Some(row))
                if matches(&row, request.op == "update_checked") =>
            {
                let next = row.counter.wrapping_add(1);
                self.put(
                    &request.key,
                    request.value,
                    next,
                    &row.entry_id,
                    request.expires_at,
                )?;
                StoreResponse::status(OK)
            }
            ("update" | "update_checked", _) => StoreResponse::status(NOT_FOUND),
            ("delete", Some(_)) => {
                self.delete(&request.key)?;
                StoreResponse::status(OK)
            }
            ("delete_checked", Some(row)) if matches(&row, true) => {
                self.delete(&request.key)?;
                StoreResponse::status(OK)
            }
            ("delete" | "delete_checked", _) => StoreResponse::status(NOT_FOUND),
            (op, _) => return Err(format!("unknown storage operation {op}").into()),
        })
    }

    /// Deletes expired entries and returns the next expiry still pending, if any.
    fn expire(&self, now: Millis) -> Result<Option<Millis>> {
        self.sql.exec(
            "DELETE FROM entry WHERE expires_at <= ?",
            vec![SqlStorageValue::Integer(now)],
        )?;
        let cursor = self.sql.exec("SELECT MIN(expires_at) FROM entry", None)?;
        let rows: Vec<_> = cursor.raw().collect::<Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .and_then(|v| match v {
                SqlStorageValue::Integer(n) => Some(n),
                SqlStorageValue::Float(f) => Some(f as i64),
                _ => None,
            }))
    }
}

/// Serves one storage request inside an object; schedules the expiry alarm after writes.
async fn serve(state: &State, sql: &SqlStorage, mut req: Request) -> Result<Response> {
    let body = req.bytes().await?;
    let request = match StoreRequest::decode(&body) {
        Ok(r) => r,
        Err(e) => return Response::error(format!("bad storage request: {e}"), 400),
    };
    let writes = request.op != "get";
    let expires_at = request.expires_at;
    let response = EntryTable { sql }.apply(request)?;
    if writes && response.status == OK && expires_at > 0 {
        let storage = state.storage();
        let due = storage.get_alarm().await?;
        if due.is_none_or(|t| t > expires_at) {
            storage
                .set_alarm(worker::ScheduledTime::new(js_sys::Date::new(
                    &(expires_at as f64).into(),
                )))
                .await?;
        }
    }
    Response::from_bytes(response.encode())
}

async fn run_alarm(state: &State, sql: &SqlStorage) -> Result<Response> {
    if let Some(next) = (EntryTable { sql }).expire(super::now_millis())? {
        state
            .storage()
            .set_alarm(worker::ScheduledTime::new(js_sys::Date::new(
                &(next as f64).into(),
            )))
            .await?;
    }
    Response::ok("expired entries removed")
}

/// Declares a storage object class: the same entry table and protocol, its own namespace.
macro_rules! storage_object {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[durable_object]
        pub struct $name {
            state: State,
            sql: SqlStorage,
        }

        impl DurableObject for $name {
            fn new(state: State, _env: Env) -> Self {
                let sql = state.storage().sql();
                if let Err(e) = EntryTable::create(&sql) {
                    worker::console_error!("failed to create the entry table: {e}");
                }
                Self { state, sql }
            }

            async fn fetch(&self, req: Request) -> Result<Response> {
                serve(&self.state, &self.sql, req).await
            }

            async fn alarm(&self) -> Result<Response> {
                run_alarm(&self.state, &self.sql).await
            }
        }
    };
}

storage_object!(
    /// Main storage (Faroe entities), one object per key.
    MainStore
);
storage_object!(
    /// Rate-limit storage (token buckets), one object per key.
    RateLimitStore
);

/// The Worker side: sends one request to the object named after the key.
pub struct ObjectStoreClient {
    namespace: ObjectNamespace,
    /// Test builds only: every call fails as if the object were unreachable.
    failing: bool,
}

impl ObjectStoreClient {
    pub fn new(namespace: ObjectNamespace) -> Self {
        Self {
            namespace,
            failing: false,
        }
    }

    #[cfg(feature = "test-faults")]
    pub fn failing(namespace: ObjectNamespace) -> Self {
        Self {
            namespace,
            failing: true,
        }
    }

    async fn call(
        &self,
        request: StoreRequest,
    ) -> std::result::Result<StoreResponse, StorageError> {
        let failed =
            |e: worker::Error| StorageError::Failed(format!("storage object call failed: {e}"));
        if self.failing {
            return Err(StorageError::Failed(
                "storage object call failed: injected test fault".into(),
            ));
        }
        let stub = self
            .namespace
            .id_from_name(&request.key)
            .and_then(|id| id.get_stub())
            .map_err(failed)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post);
        let body = js_sys::Uint8Array::from(request.encode().as_slice());
        init.with_body(Some(body.into()));
        let req = Request::new_with_init("https://storage-object/", &init).map_err(failed)?;
        let mut response = stub.fetch_with_request(req).await.map_err(failed)?;
        if response.status_code() != 200 {
            let text = response.text().await.unwrap_or_default();
            return Err(StorageError::Failed(format!(
                "storage object answered HTTP {}: {text}",
                response.status_code()
            )));
        }
        let bytes = response.bytes().await.map_err(failed)?;
        StoreResponse::decode(&bytes)
    }

    async fn expect_ok(
        &self,
        request: StoreRequest,
    ) -> std::result::Result<StoreResponse, StorageError> {
        let response = self.call(request).await?;
        match response.status.as_str() {
            OK => Ok(response),
            NOT_FOUND => Err(StorageError::NotFound),
            ALREADY_EXISTS => Err(StorageError::AlreadyExists),
            other => Err(StorageError::Failed(format!(
                "storage object status {other}"
            ))),
        }
    }
}

fn request(op: &str, key: &str) -> StoreRequest {
    StoreRequest {
        op: op.to_string(),
        key: key.to_string(),
        value: Vec::new(),
        expires_at: 0,
        counter: 0,
        entry_id: String::new(),
    }
}

#[async_trait(?Send)]
impl MainStorage for ObjectStoreClient {
    async fn get(&self, key: &str) -> std::result::Result<StoredEntry, StorageError> {
        let r = self.expect_ok(request("get", key)).await?;
        Ok(StoredEntry {
            value: r.value,
            counter: r.counter,
        })
    }

    async fn set(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("set", key);
        req.value = value;
        req.expires_at = expires_at;
        self.expect_ok(req).await.map(|_| ())
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("update", key);
        req.value = value;
        req.expires_at = expires_at;
        req.counter = counter;
        self.expect_ok(req).await.map(|_| ())
    }

    async fn delete(&self, key: &str) -> std::result::Result<(), StorageError> {
        self.expect_ok(request("delete", key)).await.map(|_| ())
    }
}

#[async_trait(?Send)]
impl RateLimitStorage for ObjectStoreClient {
    async fn get(&self, key: &str) -> std::result::Result<RateLimitEntry, StorageError> {
        let r = self.expect_ok(request("get", key)).await?;
        Ok(RateLimitEntry {
            value: r.value,
            entry_id: r.entry_id,
            counter: r.counter,
        })
    }

    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        entry_id: &str,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("add", key);
        req.value = value;
        req.entry_id = entry_id.to_string();
        req.expires_at = expires_at;
        self.expect_ok(req).await.map(|_| ())
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        entry_id: &str,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("update_checked", key);
        req.value = value;
        req.expires_at = expires_at;
        req.entry_id = entry_id.to_string();
        req.counter = counter;
        self.expect_ok(req).await.map(|_| ())
    }

    async fn delete(
        &self,
        key: &str,
        entry_id: &str,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("delete_checked", key);
        req.entry_id = entry_id.to_string();
        req.counter = counter;
        self.expect_ok(req).await.map(|_| ())
    }
}
