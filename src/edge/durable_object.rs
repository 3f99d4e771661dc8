//! Main storage and rate-limit storage in SQLite-backed Durable Objects: one object per key (its id
//! derived from the key), so every compare-and-set runs inside the single object that owns the key,
//! with synchronous SQL and no `await` between read and write (atomic under the input gate).
//! Account storage (`AccountStore`) is the same object with one difference: it is named after a
//! user id and holds that user's records, any number of keys. An alarm deletes entries past their
//! expiry hint.
//!
//! An object exists only while it holds an entry: reads of an absent key write nothing (no table,
//! no row, no alarm), and the delete or expiry that removes the last entry ends with
//! `deleteAll()`, which also drops the alarm. Lifecycle and figures: `docs/storage.md`.
//!
//! Worker ⇄ object messages are binary sequences (the same encoding as stored records):
//! request `[op, key, value, expires_at, counter, entry_id]`, response `[status, value, counter,
//! entry_id]`.

use crate::encoding::{SequenceReader, SequenceWriter};
use crate::ports::{
    AccountStorage, MainStorage, Millis, RateLimitEntry, RateLimitStorage, StorageError,
    StoredEntry,
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

/// The SQL side shared by the object classes. A main or rate-limit object holds the one key it is
/// named after; an account object holds the records of the user it is named after.
///
/// The table exists only while the object holds an entry: it is created by the first write, and
/// an object whose last entry goes is emptied with `deleteAll()` (see [`After::Vanish`]). Reads
/// of an object that was never written look the table up in `sqlite_master` (a read) and answer
/// not-found, so a read writes nothing: no table, no row, no alarm.
struct EntryTable<'a> {
    sql: &'a SqlStorage,
}

struct Row {
    value: Vec<u8>,
    counter: i32,
    entry_id: String,
}

/// What the object does after an operation, once its synchronous SQL is done.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Nothing,
    /// A write with this expiry hint: make sure the alarm fires by then.
    ScheduleExpiry(Millis),
    /// The table is empty: `deleteAll()`, so the object stops existing (no table, no alarm).
    Vanish,
}

/// Reads a cursor to the end (nothing else may happen while one is open across an await).
/// Every statement goes through here, so the bench build can count the SQLite rows it reads and
/// writes (what Cloudflare bills for SQLite-backed objects).
fn all_rows(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<Vec<Vec<SqlStorageValue>>> {
    let bindings = if bindings.is_empty() {
        None
    } else {
        Some(bindings)
    };
    let cursor = sql.exec(query, bindings)?;
    let rows = cursor.raw().collect::<Result<Vec<_>>>()?;
    #[cfg(feature = "bench")]
    object_cost::add_rows(cursor.rows_read(), cursor.rows_written());
    Ok(rows)
}

/// Bench builds only: what one storage request cost inside its object (SQLite rows read and
/// written, alarms set, `deleteAll()` calls), sent back to the Worker in a response header and
/// read there by `super::bench`'s counting adapters. The SQL of a request is synchronous, so a
/// per-isolate accumulator reset before it and read after it sees that request's rows only.
#[cfg(feature = "bench")]
pub(super) mod object_cost {
    use std::cell::Cell;

    pub const HEADER: &str = "X-Faroe-Bench-Object-Cost";

    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct ObjectCost {
        pub rows_read: usize,
        pub rows_written: usize,
        pub alarms_set: usize,
        pub delete_alls: usize,
    }

    impl ObjectCost {
        pub fn encode(&self) -> String {
            format!(
                "{},{},{},{}",
                self.rows_read, self.rows_written, self.alarms_set, self.delete_alls
            )
        }

        pub fn decode(value: &str) -> Option<Self> {
            let mut parts = value.split(',').map(|p| p.trim().parse::<usize>().ok());
            let cost = Self {
                rows_read: parts.next()??,
                rows_written: parts.next()??,
                alarms_set: parts.next()??,
                delete_alls: parts.next()??,
            };
            parts.next().is_none().then_some(cost)
        }
    }

    thread_local! {
        /// Inside an object: rows of the SQL running now.
        static ROWS: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
        /// In the Worker: the cost reported by the object call that just returned.
        static LAST_CALL: Cell<Option<ObjectCost>> = const { Cell::new(None) };
    }

    pub fn add_rows(read: usize, written: usize) {
        ROWS.with(|rows| {
            let (r, w) = rows.get();
            rows.set((r + read, w + written));
        });
    }

    /// Zeroes the row accumulator and returns what it held.
    pub fn take_rows() -> (usize, usize) {
        ROWS.with(|rows| rows.replace((0, 0)))
    }

    pub fn set_last_call(cost: Option<ObjectCost>) {
        LAST_CALL.with(|last| last.set(cost));
    }

    /// The cost of the object call that returned last; read synchronously right after it.
    pub fn take_last_call() -> Option<ObjectCost> {
        LAST_CALL.with(|last| last.take())
    }
}

impl EntryTable<'_> {
    /// Whether the entry table exists: a read of the schema, never a write.
    fn exists(&self) -> Result<bool> {
        let rows = all_rows(
            self.sql,
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entry'",
            Vec::new(),
        )?;
        Ok(!rows.is_empty())
    }

    fn create(&self) -> Result<()> {
        all_rows(
            self.sql,
            "CREATE TABLE IF NOT EXISTS entry (key TEXT PRIMARY KEY, value BLOB NOT NULL, \
             counter INTEGER NOT NULL, entry_id TEXT NOT NULL, expires_at INTEGER NOT NULL)",
            Vec::new(),
        )?;
        Ok(())
    }

    fn is_empty(&self) -> Result<bool> {
        Ok(all_rows(self.sql, "SELECT 1 FROM entry LIMIT 1", Vec::new())?.is_empty())
    }

    fn get(&self, key: &str) -> Result<Option<Row>> {
        let rows = all_rows(
            self.sql,
            "SELECT value, counter, entry_id FROM entry WHERE key = ?",
            vec![key.into()],
        )?;
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

    /// Writes the entry, creating the table on the object's first write.
    fn put(
        &self,
        key: &str,
        value: Vec<u8>,
        counter: i32,
        entry_id: &str,
        expires_at: Millis,
    ) -> Result<()> {
        self.create()?;
        all_rows(
            self.sql,
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
        all_rows(
            self.sql,
            "DELETE FROM entry WHERE key = ?",
            vec![key.into()],
        )?;
        Ok(())
    }

    /// Every entry whose key starts with `prefix` and that has not expired at `now`, in key order,
    /// encoded as `[count, (key, value, counter)…]`. `substr` rather than `LIKE`: no wildcards.
    fn list(&self, prefix: &str, now: Millis) -> Result<Vec<u8>> {
        let rows = all_rows(
            self.sql,
            "SELECT key, value, counter FROM entry WHERE substr(key, 1, length(?1)) = ?1 \
             AND (expires_at = 0 OR expires_at > ?2) ORDER BY key",
            vec![prefix.into(), SqlStorageValue::Integer(now)],
        )?;
        let mut out = SequenceWriter::new().int32(rows.len() as i32);
        for row in rows {
            let mut columns = row.into_iter();
            let key = match columns.next() {
                Some(SqlStorageValue::String(s)) => s,
                other => return Err(format!("unexpected key column {other:?}").into()),
            };
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
            out = out.string(&key).bytes(&value).int32(counter);
        }
        Ok(out.finish())
    }

    /// Runs one operation. Synchronous from read to write: nothing can interleave.
    fn apply(&self, request: StoreRequest) -> Result<(StoreResponse, After)> {
        let exists = self.exists()?;
        let current = if exists {
            self.get(&request.key)?
        } else {
            None
        };
        let matches = |row: &Row, check_entry_id: bool| {
            row.counter == request.counter && (!check_entry_id || row.entry_id == request.entry_id)
        };
        let written = After::ScheduleExpiry(request.expires_at);
        match request.op.as_str() {
            // Account objects only: many keys per object.
            "list" => {
                let mut response = StoreResponse::status(OK);
                if exists {
                    response.value = self.list(&request.key, super::now_millis())?;
                } else {
                    response.value = SequenceWriter::new().int32(0).finish();
                }
                return Ok((response, After::Nothing));
            }
            "delete_all" => {
                // Emptied here, synchronously: should `deleteAll()` fail, no record survives it.
                if !exists {
                    return Ok((StoreResponse::status(OK), After::Nothing));
                }
                self.sql.exec("DELETE FROM entry", None)?;
                return Ok((StoreResponse::status(OK), After::Vanish));
            }
            _ => {}
        }
        let (response, after) = match (request.op.as_str(), current) {
            ("get", Some(row)) => (
                StoreResponse {
                    status: OK.into(),
                    value: row.value,
                    counter: row.counter,
                    entry_id: row.entry_id,
                },
                After::Nothing,
            ),
            ("set", _) => {
                self.put(&request.key, request.value, 0, "", request.expires_at)?;
                (StoreResponse::status(OK), written)
            }
            ("add", Some(_)) => (StoreResponse::status(ALREADY_EXISTS), After::Nothing),
            ("add", None) => {
                self.put(
                    &request.key,
                    request.value,
                    0,
                    &request.entry_id,
                    request.expires_at,
                )?;
                (StoreResponse::status(OK), written)
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
                (StoreResponse::status(OK), written)
            }
            ("delete", Some(_)) => {
                self.delete(&request.key)?;
                (StoreResponse::status(OK), self.after_removal()?)
            }
            ("delete_checked", Some(row)) if matches(&row, true) => {
                self.delete(&request.key)?;
                (StoreResponse::status(OK), self.after_removal()?)
            }
            ("get" | "update" | "update_checked" | "delete" | "delete_checked", None) => {
                // Absent key. An object without a table stays untouched; an empty table (left by
                // an older version, or a failed deleteAll) is cleared now.
                let after = if exists && self.is_empty()? {
                    After::Vanish
                } else {
                    After::Nothing
                };
                (StoreResponse::status(NOT_FOUND), after)
            }
            ("update" | "update_checked" | "delete_checked", Some(_)) => {
                (StoreResponse::status(NOT_FOUND), After::Nothing)
            }
            (op, _) => return Err(format!("unknown storage operation {op}").into()),
        };
        Ok((response, after))
    }

    fn after_removal(&self) -> Result<After> {
        Ok(if self.is_empty()? {
            After::Vanish
        } else {
            After::Nothing
        })
    }

    /// Deletes expired entries and says what is left. `expires_at` 0 means never (account
    /// records): such an entry is never expired and needs no alarm. An object without a table has
    /// nothing to expire.
    fn expire(&self, now: Millis) -> Result<Remaining> {
        if !self.exists()? {
            return Ok(Remaining::Nothing);
        }
        all_rows(
            self.sql,
            "DELETE FROM entry WHERE expires_at > 0 AND expires_at <= ?",
            vec![SqlStorageValue::Integer(now)],
        )?;
        let rows = all_rows(
            self.sql,
            "SELECT MIN(expires_at) FROM entry WHERE expires_at > 0",
            Vec::new(),
        )?;
        let next = rows
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next())
            .and_then(|v| match v {
                SqlStorageValue::Integer(n) => Some(n),
                SqlStorageValue::Float(f) => Some(f as i64),
                _ => None,
            });
        Ok(match next {
            Some(at) => Remaining::ExpiringAt(at),
            None if self.is_empty()? => Remaining::Nothing,
            None => Remaining::NeverExpiring,
        })
    }
}

/// What an object holds after its alarm removed the expired entries.
enum Remaining {
    /// Entries, the earliest of which expires then: the alarm is set again.
    ExpiringAt(Millis),
    /// Only entries without expiry: no alarm.
    NeverExpiring,
    /// No entry: the object empties itself.
    Nothing,
}

/// Empties the object: with a compatibility date of 2026-02-24 or later `deleteAll()` removes the
/// alarm too, so nothing of the object is left. Called right after the synchronous SQL that found
/// the table empty, with no `await` in between: the input gate keeps other requests out until
/// `deleteAll()` has run, so no write can land between the last delete and this.
///
/// A failed `deleteAll()` is logged, not returned: the operation it follows has committed, so the
/// caller gets that operation's answer. The empty table it leaves is cleaned up by the object's
/// next request (see `EntryTable::apply`).
async fn vanish(state: &State) {
    if let Err(e) = state.storage().delete_all().await {
        super::log_component("warn", "storage_object", &format!("deleteAll failed: {e}"));
    }
}

async fn schedule_alarm(state: &State, at: Millis) -> Result<()> {
    state
        .storage()
        .set_alarm(worker::ScheduledTime::new(js_sys::Date::new(
            &(at as f64).into(),
        )))
        .await
}

/// Serves one storage request inside an object: the operation, then its alarm or `deleteAll()`.
async fn serve(state: &State, sql: &SqlStorage, mut req: Request) -> Result<Response> {
    let body = req.bytes().await?;
    let request = match StoreRequest::decode(&body) {
        Ok(r) => r,
        Err(e) => return Response::error(format!("bad storage request: {e}"), 400),
    };
    #[cfg(feature = "bench")]
    object_cost::take_rows();
    let (response, after) = EntryTable { sql }.apply(request)?;
    #[cfg(feature = "bench")]
    let (rows_read, rows_written) = object_cost::take_rows();
    #[cfg(feature = "bench")]
    let mut cost = object_cost::ObjectCost {
        rows_read,
        rows_written,
        ..Default::default()
    };
    match after {
        After::ScheduleExpiry(expires_at) if expires_at > 0 => {
            let due = state.storage().get_alarm().await?;
            if due.is_none_or(|t| t > expires_at) {
                schedule_alarm(state, expires_at).await?;
                #[cfg(feature = "bench")]
                {
                    cost.alarms_set += 1;
                }
            }
        }
        After::Vanish => {
            vanish(state).await;
            #[cfg(feature = "bench")]
            {
                cost.delete_alls += 1;
            }
        }
        After::Nothing | After::ScheduleExpiry(_) => {}
    }
    #[allow(unused_mut)]
    let mut reply = Response::from_bytes(response.encode())?;
    #[cfg(feature = "bench")]
    reply
        .headers_mut()
        .set(object_cost::HEADER, &cost.encode())?;
    Ok(reply)
}

/// The expiry alarm: drops expired entries, then re-arms for the next expiry, stays unarmed when
/// only entries without expiry remain, or, with nothing left, empties the object.
async fn run_alarm(state: &State, sql: &SqlStorage) -> Result<Response> {
    match (EntryTable { sql }).expire(super::now_millis())? {
        Remaining::ExpiringAt(next) => schedule_alarm(state, next).await?,
        Remaining::NeverExpiring => {}
        Remaining::Nothing => vanish(state).await,
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
                // No schema work here: the table is created by the first write (see EntryTable).
                let sql = state.storage().sql();
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
storage_object!(
    /// Account storage (per-user durable records, e.g. second factors), one object per user id.
    AccountStore
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
        let object_name = request.key.clone();
        self.call_object(&object_name, request).await
    }

    /// Sends `request` to the object named `object_name` (the key itself, or for account storage
    /// the user id).
    async fn call_object(
        &self,
        object_name: &str,
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
            .id_from_name(object_name)
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
        #[cfg(feature = "bench")]
        object_cost::set_last_call(
            response
                .headers()
                .get(object_cost::HEADER)
                .ok()
                .flatten()
                .and_then(|v| object_cost::ObjectCost::decode(&v)),
        );
        StoreResponse::decode(&bytes)
    }

    async fn expect_ok(
        &self,
        request: StoreRequest,
    ) -> std::result::Result<StoreResponse, StorageError> {
        let response = self.call(request).await?;
        Self::status_of(response)
    }

    /// The operation's answer for a user's account object.
    async fn expect_ok_for_user(
        &self,
        user_id: &str,
        request: StoreRequest,
    ) -> std::result::Result<StoreResponse, StorageError> {
        let response = self.call_object(user_id, request).await?;
        Self::status_of(response)
    }

    fn status_of(response: StoreResponse) -> std::result::Result<StoreResponse, StorageError> {
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

    /// The object's `add` op: create-if-absent inside the one object that owns the key.
    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("add", key);
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

/// The records of a `list` answer: `[count, (key, value, counter)…]`.
fn decode_list(bytes: &[u8]) -> std::result::Result<Vec<(String, StoredEntry)>, StorageError> {
    let mut r = SequenceReader::new(bytes);
    let parse = |r: &mut SequenceReader| -> std::result::Result<_, crate::encoding::DecodeError> {
        let count = r.int32()?;
        let mut out = Vec::new();
        for _ in 0..count.max(0) {
            let key = r.string()?;
            let value = r.byte_vec()?;
            let counter = r.int32()?;
            out.push((key, StoredEntry { value, counter }));
        }
        Ok(out)
    };
    parse(&mut r).map_err(|e| StorageError::Failed(format!("account object list reply: {e}")))
}

/// Account storage: every call goes to the object named after the user id (`idFromName`), whose
/// records are that user's only.
#[async_trait(?Send)]
impl AccountStorage for ObjectStoreClient {
    async fn get(
        &self,
        user_id: &str,
        key: &str,
    ) -> std::result::Result<StoredEntry, StorageError> {
        let r = self
            .expect_ok_for_user(user_id, request("get", key))
            .await?;
        Ok(StoredEntry {
            value: r.value,
            counter: r.counter,
        })
    }

    async fn add(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("add", key);
        req.value = value;
        req.expires_at = expires_at;
        self.expect_ok_for_user(user_id, req).await.map(|_| ())
    }

    async fn update(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        let mut req = request("update", key);
        req.value = value;
        req.expires_at = expires_at;
        req.counter = counter;
        self.expect_ok_for_user(user_id, req).await.map(|_| ())
    }

    async fn delete(
        &self,
        user_id: &str,
        key: &str,
        counter: i32,
    ) -> std::result::Result<(), StorageError> {
        // Account records carry an empty entry id, so this compares the counter alone.
        let mut req = request("delete_checked", key);
        req.counter = counter;
        self.expect_ok_for_user(user_id, req).await.map(|_| ())
    }

    async fn list(
        &self,
        user_id: &str,
        prefix: &str,
    ) -> std::result::Result<Vec<(String, StoredEntry)>, StorageError> {
        let r = self
            .expect_ok_for_user(user_id, request("list", prefix))
            .await?;
        decode_list(&r.value)
    }

    async fn delete_all(&self, user_id: &str) -> std::result::Result<(), StorageError> {
        self.expect_ok_for_user(user_id, request("delete_all", ""))
            .await
            .map(|_| ())
    }
}
