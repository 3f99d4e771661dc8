//! In-memory adapters with the exact storage semantics of spec §6.4 and §10.1, plus recording fakes.
//! They serve the tests (fault injection, hooks, inspection, forced interleaving) and a quick
//! embedded default. Single-threaded (`Rc`/`RefCell`), usable from many tasks on one thread.

use crate::crypto;
use crate::encoding::hex;
use crate::ports::{
    AccountStorage, ActionErrorLogger, Cache, Clock, EmailAddressChecker, EmailSender, MainStorage,
    Millis, PasswordHashAlgorithm, PasswordStrengthChecker, RateLimitEntry, RateLimitStorage,
    StorageError, StoredEntry, User, UserStore, UserStoreError,
};
use async_trait::async_trait;
use sha2::{Digest, Sha256};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A storage operation, for fault injection, hooks and the operation log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Get,
    Set,
    Add,
    Update,
    Delete,
    /// `AccountStorage::list`.
    List,
    /// `AccountStorage::delete_all`.
    DeleteAll,
}

/// Called before an operation runs, with the operation and key; may change the store.
pub type Hook = Box<dyn FnMut(Op, &str)>;

/// Yields once to the executor, so `join!`ed actions interleave at every storage call.
pub async fn yield_once() {
    YieldOnce(false).await
}

struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// One-shot faults, a hook, an operation log and optional yielding, shared by the storages.
#[derive(Default)]
pub struct Instrumentation {
    faults: RefCell<VecDeque<(Op, String, StorageError)>>,
    hook: RefCell<Option<Hook>>,
    log: RefCell<Vec<(Op, String)>>,
    yielding: Cell<bool>,
}

impl Instrumentation {
    /// The next `op` on a key starting with `key_prefix` fails with `error` (once).
    pub fn fail_next(&self, op: Op, key_prefix: &str, error: StorageError) {
        self.faults
            .borrow_mut()
            .push_back((op, key_prefix.to_string(), error));
    }

    /// Runs `hook` before every operation until cleared.
    pub fn set_hook(&self, hook: impl FnMut(Op, &str) + 'static) {
        *self.hook.borrow_mut() = Some(Box::new(hook));
    }

    pub fn clear_hook(&self) {
        *self.hook.borrow_mut() = None;
    }

    /// Makes every operation yield to the executor once before it runs.
    pub fn set_yielding(&self, yielding: bool) {
        self.yielding.set(yielding);
    }

    /// Every operation so far, in order.
    pub fn operations(&self) -> Vec<(Op, String)> {
        self.log.borrow().clone()
    }

    /// How many times `op` ran on keys starting with `key_prefix`.
    pub fn count(&self, op: Op, key_prefix: &str) -> usize {
        self.log
            .borrow()
            .iter()
            .filter(|(o, k)| *o == op && k.starts_with(key_prefix))
            .count()
    }

    pub fn clear_log(&self) {
        self.log.borrow_mut().clear();
    }

    async fn before(&self, op: Op, key: &str) -> Result<(), StorageError> {
        if self.yielding.get() {
            YieldOnce(false).await;
        }
        // Take the hook out while it runs, so it may call back into the store.
        let hook = self.hook.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook(op, key);
            let mut slot = self.hook.borrow_mut();
            if slot.is_none() {
                *slot = Some(hook);
            }
        }
        self.log.borrow_mut().push((op, key.to_string()));
        let mut faults = self.faults.borrow_mut();
        if let Some(i) = faults
            .iter()
            .position(|(o, prefix, _)| *o == op && key.starts_with(prefix.as_str()))
        {
            let (_, _, error) = faults.remove(i).expect("index is in range");
            return Err(error);
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct MainRecord {
    value: Vec<u8>,
    counter: i32,
    expires_at: Millis,
}

/// Main storage in memory: never evicts (expiry hints are kept for inspection only).
#[derive(Default)]
pub struct MemoryMainStorage {
    entries: RefCell<BTreeMap<String, MainRecord>>,
    pub instrumentation: Instrumentation,
}

impl MemoryMainStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.borrow().contains_key(key)
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.borrow().get(key).map(|r| r.value.clone())
    }

    pub fn expires_at(&self, key: &str) -> Option<Millis> {
        self.entries.borrow().get(key).map(|r| r.expires_at)
    }

    /// Overwrites a value directly, bypassing instrumentation and keeping the counter.
    pub fn put_raw(&self, key: &str, value: Vec<u8>) {
        let mut entries = self.entries.borrow_mut();
        let record = entries.entry(key.to_string()).or_insert(MainRecord {
            value: Vec::new(),
            counter: 0,
            expires_at: 0,
        });
        record.value = value;
    }

    pub fn remove_raw(&self, key: &str) -> bool {
        self.entries.borrow_mut().remove(key).is_some()
    }
}

#[async_trait(?Send)]
impl MainStorage for MemoryMainStorage {
    async fn get(&self, key: &str) -> Result<StoredEntry, StorageError> {
        self.instrumentation.before(Op::Get, key).await?;
        self.entries
            .borrow()
            .get(key)
            .map(|r| StoredEntry {
                value: r.value.clone(),
                counter: r.counter,
            })
            .ok_or(StorageError::NotFound)
    }

    async fn set(&self, key: &str, value: Vec<u8>, expires_at: Millis) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Set, key).await?;
        self.entries.borrow_mut().insert(
            key.to_string(),
            MainRecord {
                value,
                counter: 0,
                expires_at,
            },
        );
        Ok(())
    }

    async fn add(&self, key: &str, value: Vec<u8>, expires_at: Millis) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Add, key).await?;
        match self.entries.borrow_mut().entry(key.to_string()) {
            std::collections::btree_map::Entry::Occupied(_) => Err(StorageError::AlreadyExists),
            std::collections::btree_map::Entry::Vacant(slot) => {
                slot.insert(MainRecord {
                    value,
                    counter: 0,
                    expires_at,
                });
                Ok(())
            }
        }
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Update, key).await?;
        let mut entries = self.entries.borrow_mut();
        match entries.get_mut(key) {
            Some(record) if record.counter == counter => {
                record.value = value;
                record.expires_at = expires_at;
                record.counter = record.counter.wrapping_add(1);
                Ok(())
            }
            _ => Err(StorageError::NotFound),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Delete, key).await?;
        self.entries
            .borrow_mut()
            .remove(key)
            .map(|_| ())
            .ok_or(StorageError::NotFound)
    }
}

#[derive(Debug, Clone)]
struct RateLimitRecord {
    value: Vec<u8>,
    entry_id: String,
    counter: i32,
    expires_at: Millis,
}

/// Rate-limit storage in memory: never evicts.
#[derive(Default)]
pub struct MemoryRateLimitStorage {
    entries: RefCell<BTreeMap<String, RateLimitRecord>>,
    pub instrumentation: Instrumentation,
}

impl MemoryRateLimitStorage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.borrow().contains_key(key)
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.borrow().keys().cloned().collect()
    }

    pub fn value(&self, key: &str) -> Option<Vec<u8>> {
        self.entries.borrow().get(key).map(|r| r.value.clone())
    }

    pub fn expires_at(&self, key: &str) -> Option<Millis> {
        self.entries.borrow().get(key).map(|r| r.expires_at)
    }

    /// Removes an entry directly, bypassing instrumentation (a test's fresh bucket).
    pub fn remove_raw(&self, key: &str) -> bool {
        self.entries.borrow_mut().remove(key).is_some()
    }

    /// Sets the storage counter directly (to reach the `i32::MAX` rollover branch).
    pub fn set_counter_raw(&self, key: &str, counter: i32) {
        if let Some(record) = self.entries.borrow_mut().get_mut(key) {
            record.counter = counter;
        }
    }
}

#[async_trait(?Send)]
impl RateLimitStorage for MemoryRateLimitStorage {
    async fn get(&self, key: &str) -> Result<RateLimitEntry, StorageError> {
        self.instrumentation.before(Op::Get, key).await?;
        self.entries
            .borrow()
            .get(key)
            .map(|r| RateLimitEntry {
                value: r.value.clone(),
                entry_id: r.entry_id.clone(),
                counter: r.counter,
            })
            .ok_or(StorageError::NotFound)
    }

    async fn add(
        &self,
        key: &str,
        value: Vec<u8>,
        entry_id: &str,
        expires_at: Millis,
    ) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Add, key).await?;
        let mut entries = self.entries.borrow_mut();
        if entries.contains_key(key) {
            return Err(StorageError::AlreadyExists);
        }
        entries.insert(
            key.to_string(),
            RateLimitRecord {
                value,
                entry_id: entry_id.to_string(),
                counter: 0,
                expires_at,
            },
        );
        Ok(())
    }

    async fn update(
        &self,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        entry_id: &str,
        counter: i32,
    ) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Update, key).await?;
        let mut entries = self.entries.borrow_mut();
        match entries.get_mut(key) {
            Some(r) if r.entry_id == entry_id && r.counter == counter => {
                r.value = value;
                r.expires_at = expires_at;
                r.counter = r.counter.wrapping_add(1);
                Ok(())
            }
            _ => Err(StorageError::NotFound),
        }
    }

    async fn delete(&self, key: &str, entry_id: &str, counter: i32) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Delete, key).await?;
        let mut entries = self.entries.borrow_mut();
        match entries.get(key) {
            Some(r) if r.entry_id == entry_id && r.counter == counter => {
                entries.remove(key);
                Ok(())
            }
            _ => Err(StorageError::NotFound),
        }
    }
}

#[derive(Debug, Clone)]
struct AccountRecord {
    value: Vec<u8>,
    counter: i32,
    expires_at: Millis,
}

/// Account storage in memory: one map per user. Instrumented operations see the key as
/// `<user id>/<key>` ([`MemoryAccountStorage::instrumentation_key`]; `list` sees
/// `<user id>/<prefix>`, `delete_all` `<user id>/`). `list` leaves out records past their
/// `expires_at` (0 = never) by the injected clock; nothing is evicted.
pub struct MemoryAccountStorage {
    users: RefCell<BTreeMap<String, BTreeMap<String, AccountRecord>>>,
    clock: Rc<dyn Clock>,
    pub instrumentation: Instrumentation,
}

impl MemoryAccountStorage {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        Self {
            users: RefCell::default(),
            clock,
            instrumentation: Instrumentation::default(),
        }
    }

    /// The key the instrumentation (faults, hooks, log) sees for `key` of `user_id`.
    pub fn instrumentation_key(user_id: &str, key: &str) -> String {
        format!("{user_id}/{key}")
    }

    /// The ids of users that have at least one record.
    pub fn user_ids(&self) -> Vec<String> {
        self.users
            .borrow()
            .iter()
            .filter(|(_, records)| !records.is_empty())
            .map(|(id, _)| id.clone())
            .collect()
    }

    pub fn keys(&self, user_id: &str) -> Vec<String> {
        self.users
            .borrow()
            .get(user_id)
            .map(|records| records.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn value(&self, user_id: &str, key: &str) -> Option<Vec<u8>> {
        self.record(user_id, key).map(|r| r.value)
    }

    pub fn counter(&self, user_id: &str, key: &str) -> Option<i32> {
        self.record(user_id, key).map(|r| r.counter)
    }

    /// The expiry hint of a record (0 = never), `None` if absent.
    pub fn expires_at(&self, user_id: &str, key: &str) -> Option<Millis> {
        self.record(user_id, key).map(|r| r.expires_at)
    }

    /// Every stored value of every user (to search storage for secrets).
    pub fn all_values(&self) -> Vec<Vec<u8>> {
        self.users
            .borrow()
            .values()
            .flat_map(|records| records.values().map(|r| r.value.clone()))
            .collect()
    }

    /// Writes a record directly, bypassing instrumentation (counter kept, or 0 when new).
    pub fn put_raw(&self, user_id: &str, key: &str, value: Vec<u8>) {
        let mut users = self.users.borrow_mut();
        let record = users
            .entry(user_id.to_string())
            .or_default()
            .entry(key.to_string())
            .or_insert(AccountRecord {
                value: Vec::new(),
                counter: 0,
                expires_at: 0,
            });
        record.value = value;
    }

    fn record(&self, user_id: &str, key: &str) -> Option<AccountRecord> {
        self.users
            .borrow()
            .get(user_id)
            .and_then(|records| records.get(key))
            .cloned()
    }
}

#[async_trait(?Send)]
impl AccountStorage for MemoryAccountStorage {
    async fn get(&self, user_id: &str, key: &str) -> Result<StoredEntry, StorageError> {
        self.instrumentation
            .before(Op::Get, &Self::instrumentation_key(user_id, key))
            .await?;
        self.record(user_id, key)
            .map(|r| StoredEntry {
                value: r.value,
                counter: r.counter,
            })
            .ok_or(StorageError::NotFound)
    }

    async fn add(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
    ) -> Result<(), StorageError> {
        self.instrumentation
            .before(Op::Add, &Self::instrumentation_key(user_id, key))
            .await?;
        let mut users = self.users.borrow_mut();
        let records = users.entry(user_id.to_string()).or_default();
        if records.contains_key(key) {
            return Err(StorageError::AlreadyExists);
        }
        records.insert(
            key.to_string(),
            AccountRecord {
                value,
                counter: 0,
                expires_at,
            },
        );
        Ok(())
    }

    async fn update(
        &self,
        user_id: &str,
        key: &str,
        value: Vec<u8>,
        expires_at: Millis,
        counter: i32,
    ) -> Result<(), StorageError> {
        self.instrumentation
            .before(Op::Update, &Self::instrumentation_key(user_id, key))
            .await?;
        let mut users = self.users.borrow_mut();
        match users.get_mut(user_id).and_then(|r| r.get_mut(key)) {
            Some(record) if record.counter == counter => {
                record.value = value;
                record.expires_at = expires_at;
                record.counter = record.counter.wrapping_add(1);
                Ok(())
            }
            _ => Err(StorageError::NotFound),
        }
    }

    async fn delete(&self, user_id: &str, key: &str, counter: i32) -> Result<(), StorageError> {
        self.instrumentation
            .before(Op::Delete, &Self::instrumentation_key(user_id, key))
            .await?;
        let mut users = self.users.borrow_mut();
        let Some(records) = users.get_mut(user_id) else {
            return Err(StorageError::NotFound);
        };
        match records.get(key) {
            Some(record) if record.counter == counter => {
                records.remove(key);
                Ok(())
            }
            _ => Err(StorageError::NotFound),
        }
    }

    async fn list(
        &self,
        user_id: &str,
        prefix: &str,
    ) -> Result<Vec<(String, StoredEntry)>, StorageError> {
        self.instrumentation
            .before(Op::List, &Self::instrumentation_key(user_id, prefix))
            .await?;
        let now = self.clock.now();
        Ok(self
            .users
            .borrow()
            .get(user_id)
            .map(|records| {
                records
                    .iter()
                    .filter(|(key, r)| {
                        key.starts_with(prefix) && (r.expires_at == 0 || r.expires_at > now)
                    })
                    .map(|(key, r)| {
                        (
                            key.clone(),
                            StoredEntry {
                                value: r.value.clone(),
                                counter: r.counter,
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn delete_all(&self, user_id: &str) -> Result<(), StorageError> {
        self.instrumentation
            .before(Op::DeleteAll, &Self::instrumentation_key(user_id, ""))
            .await?;
        self.users.borrow_mut().remove(user_id);
        Ok(())
    }
}

/// Session cache in memory; TTLs are measured with the injected clock.
pub struct MemoryCache {
    entries: RefCell<BTreeMap<String, (Vec<u8>, Millis)>>,
    clock: Rc<dyn Clock>,
    pub instrumentation: Instrumentation,
}

impl MemoryCache {
    pub fn new(clock: Rc<dyn Clock>) -> Self {
        Self {
            entries: RefCell::default(),
            clock,
            instrumentation: Instrumentation::default(),
        }
    }

    /// Whether a live (unexpired) entry exists.
    pub fn contains(&self, key: &str) -> bool {
        let now = self.clock.now();
        self.entries
            .borrow()
            .get(key)
            .is_some_and(|(_, expires)| *expires > now)
    }
}

#[async_trait(?Send)]
impl Cache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Vec<u8>, StorageError> {
        self.instrumentation.before(Op::Get, key).await?;
        let now = self.clock.now();
        match self.entries.borrow().get(key) {
            Some((value, expires)) if *expires > now => Ok(value.clone()),
            _ => Err(StorageError::NotFound),
        }
    }

    async fn set(&self, key: &str, value: Vec<u8>, ttl: Millis) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Set, key).await?;
        let expires = self.clock.now() + ttl;
        self.entries
            .borrow_mut()
            .insert(key.to_string(), (value, expires));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.instrumentation.before(Op::Delete, key).await?;
        self.entries.borrow_mut().remove(key);
        Ok(())
    }
}

/// A cache that never holds anything (for `cache_expiration = 0` deployments).
pub struct NoCache;

#[async_trait(?Send)]
impl Cache for NoCache {
    async fn get(&self, _key: &str) -> Result<Vec<u8>, StorageError> {
        Err(StorageError::NotFound)
    }
    async fn set(&self, _key: &str, _value: Vec<u8>, _ttl: Millis) -> Result<(), StorageError> {
        Ok(())
    }
    async fn delete(&self, _key: &str) -> Result<(), StorageError> {
        Ok(())
    }
}

/// Called before a user-store method runs, with the method name; may change the store.
pub type UserStoreHook = Box<dyn FnMut(&'static str)>;

/// A user-store answer held until the test releases it (see [`MemoryUserStore::pause_next`]): a
/// slow user store, to widen a race window deterministically.
#[derive(Clone, Default)]
pub struct Pause(Rc<PauseState>);

#[derive(Default)]
struct PauseState {
    reached: Cell<bool>,
    released: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Pause {
    /// Whether the paused call has started (and is waiting).
    pub fn reached(&self) -> bool {
        self.0.reached.get()
    }

    /// Lets the paused call go on.
    pub fn release(&self) {
        self.0.released.set(true);
        if let Some(waker) = self.0.waker.borrow_mut().take() {
            waker.wake();
        }
    }
}

impl Future for Pause {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.released.get() {
            Poll::Ready(())
        } else {
            *self.0.waker.borrow_mut() = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// A recorded user-store call: method name and its arguments (bytes as hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStoreCall {
    pub method: &'static str,
    pub args: Vec<String>,
}

/// User store in memory with exact spec §10.1 semantics (email uniqueness, counter CAS).
#[derive(Default)]
pub struct MemoryUserStore {
    users: RefCell<BTreeMap<String, User>>,
    calls: RefCell<Vec<UserStoreCall>>,
    faults: RefCell<VecDeque<(&'static str, UserStoreError)>>,
    hook: RefCell<Option<UserStoreHook>>,
    yielding: Cell<bool>,
    pauses: RefCell<VecDeque<(&'static str, Pause)>>,
}

impl MemoryUserStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces a user directly (fixtures, test mutations).
    pub fn insert(&self, user: User) {
        self.users.borrow_mut().insert(user.id.clone(), user);
    }

    pub fn user(&self, id: &str) -> Option<User> {
        self.users.borrow().get(id).cloned()
    }

    pub fn users(&self) -> Vec<User> {
        self.users.borrow().values().cloned().collect()
    }

    /// Changes a user in place.
    pub fn modify(&self, id: &str, change: impl FnOnce(&mut User)) {
        if let Some(user) = self.users.borrow_mut().get_mut(id) {
            change(user);
        }
    }

    pub fn remove(&self, id: &str) -> bool {
        self.users.borrow_mut().remove(id).is_some()
    }

    pub fn calls(&self) -> Vec<UserStoreCall> {
        self.calls.borrow().clone()
    }

    pub fn calls_to(&self, method: &str) -> Vec<UserStoreCall> {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    pub fn clear_calls(&self) {
        self.calls.borrow_mut().clear();
    }

    /// The next call of `method` fails with `error` (once).
    pub fn fail_next(&self, method: &'static str, error: UserStoreError) {
        self.faults.borrow_mut().push_back((method, error));
    }

    /// Runs `hook` with the method name before every call until cleared.
    pub fn set_hook(&self, hook: impl FnMut(&'static str) + 'static) {
        *self.hook.borrow_mut() = Some(Box::new(hook));
    }

    pub fn clear_hook(&self) {
        *self.hook.borrow_mut() = None;
    }

    pub fn set_yielding(&self, yielding: bool) {
        self.yielding.set(yielding);
    }

    /// The answer of the next `get_user` or `get_user_by_email_address` call (`method`) is held
    /// until the returned [`Pause`] is released (once): the user is read at once, the caller
    /// sees it late, as from a slow user server.
    pub fn pause_next(&self, method: &'static str) -> Pause {
        let pause = Pause::default();
        self.pauses.borrow_mut().push_back((method, pause.clone()));
        pause
    }

    /// Holds an answer of `method` if a pause is armed for it.
    async fn answer<T>(&self, method: &'static str, answer: T) -> T {
        let paused = {
            let mut pauses = self.pauses.borrow_mut();
            let position = pauses.iter().position(|(m, _)| *m == method);
            position
                .and_then(|i| pauses.remove(i))
                .map(|(_, pause)| pause)
        };
        if let Some(pause) = paused {
            pause.0.reached.set(true);
            pause.await;
        }
        answer
    }

    async fn before(&self, method: &'static str, args: Vec<String>) -> Result<(), UserStoreError> {
        if self.yielding.get() {
            YieldOnce(false).await;
        }
        let hook = self.hook.borrow_mut().take();
        if let Some(mut hook) = hook {
            hook(method);
            let mut slot = self.hook.borrow_mut();
            if slot.is_none() {
                *slot = Some(hook);
            }
        }
        self.calls.borrow_mut().push(UserStoreCall { method, args });
        let mut faults = self.faults.borrow_mut();
        if let Some(i) = faults.iter().position(|(m, _)| *m == method) {
            return Err(faults.remove(i).expect("index is in range").1);
        }
        Ok(())
    }

    fn email_taken(&self, email: &str) -> bool {
        self.users
            .borrow()
            .values()
            .any(|u| u.email_address == email)
    }
}

#[async_trait(?Send)]
impl UserStore for MemoryUserStore {
    async fn create_user(
        &self,
        email_address: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
    ) -> Result<User, UserStoreError> {
        let args = vec![
            email_address.to_string(),
            hex(password_hash),
            password_hash_algorithm_id.to_string(),
            hex(password_salt),
        ];
        self.before("create_user", args).await?;
        if self.email_taken(email_address) {
            return Err(UserStoreError::EmailAddressAlreadyUsed);
        }
        let user = User {
            id: crypto::generate_id(),
            email_address: email_address.to_string(),
            password_hash: password_hash.to_vec(),
            password_salt: password_salt.to_vec(),
            password_hash_algorithm_id: password_hash_algorithm_id.to_string(),
            disabled: false,
            display_name: String::new(),
            email_address_counter: 0,
            password_hash_counter: 0,
            disabled_counter: 0,
            sessions_counter: 0,
            email_language: None,
        };
        self.insert(user.clone());
        Ok(user)
    }

    async fn get_user(&self, user_id: &str) -> Result<User, UserStoreError> {
        self.before("get_user", vec![user_id.to_string()]).await?;
        let user = self.user(user_id).ok_or(UserStoreError::UserNotFound);
        self.answer("get_user", user).await
    }

    async fn get_user_by_email_address(&self, email_address: &str) -> Result<User, UserStoreError> {
        self.before("get_user_by_email_address", vec![email_address.to_string()])
            .await?;
        let user = self
            .users
            .borrow()
            .values()
            .find(|u| u.email_address == email_address)
            .cloned()
            .ok_or(UserStoreError::UserNotFound);
        self.answer("get_user_by_email_address", user).await
    }

    async fn update_user_email_address(
        &self,
        user_id: &str,
        email_address: &str,
        email_address_counter: i32,
    ) -> Result<(), UserStoreError> {
        let args = vec![
            user_id.to_string(),
            email_address.to_string(),
            email_address_counter.to_string(),
        ];
        self.before("update_user_email_address", args).await?;
        match self.user(user_id) {
            Some(u) if u.email_address_counter == email_address_counter => {}
            _ => return Err(UserStoreError::UserNotFound),
        }
        if self.email_taken(email_address) {
            return Err(UserStoreError::EmailAddressAlreadyUsed);
        }
        self.modify(user_id, |u| {
            u.email_address = email_address.to_string();
            u.email_address_counter += 1;
        });
        Ok(())
    }

    async fn update_user_password_hash(
        &self,
        user_id: &str,
        password_hash: &[u8],
        password_hash_algorithm_id: &str,
        password_salt: &[u8],
        password_hash_counter: i32,
    ) -> Result<(), UserStoreError> {
        let args = vec![
            user_id.to_string(),
            hex(password_hash),
            password_hash_algorithm_id.to_string(),
            hex(password_salt),
            password_hash_counter.to_string(),
        ];
        self.before("update_user_password_hash", args).await?;
        match self.user(user_id) {
            Some(u) if u.password_hash_counter == password_hash_counter => {}
            _ => return Err(UserStoreError::UserNotFound),
        }
        self.modify(user_id, |u| {
            u.password_hash = password_hash.to_vec();
            u.password_hash_algorithm_id = password_hash_algorithm_id.to_string();
            u.password_salt = password_salt.to_vec();
            u.password_hash_counter += 1;
        });
        Ok(())
    }

    async fn increment_user_sessions_counter(
        &self,
        user_id: &str,
        sessions_counter: i32,
    ) -> Result<(), UserStoreError> {
        let args = vec![user_id.to_string(), sessions_counter.to_string()];
        self.before("increment_user_sessions_counter", args).await?;
        match self.user(user_id) {
            Some(u) if u.sessions_counter == sessions_counter => {}
            _ => return Err(UserStoreError::UserNotFound),
        }
        self.modify(user_id, |u| {
            u.sessions_counter = u.sessions_counter.wrapping_add(1)
        });
        Ok(())
    }

    async fn delete_user(&self, user_id: &str) -> Result<(), UserStoreError> {
        self.before("delete_user", vec![user_id.to_string()])
            .await?;
        if self.remove(user_id) {
            Ok(())
        } else {
            Err(UserStoreError::UserNotFound)
        }
    }
}

/// Which of the six messages (or the extensions' two notifications) an email is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmailKind {
    SignupEmailAddressVerificationCode,
    UserEmailAddressUpdateEmailAddressVerificationCode,
    UserPasswordResetTemporaryPassword,
    UserSignedInNotification,
    UserEmailAddressUpdatedNotification,
    UserPasswordUpdatedNotification,
    UserSecondFactorAddedNotification,
    UserSecondFactorRemovedNotification,
}

/// A recorded email with every field its message carries (empty when not applicable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub kind: EmailKind,
    pub email_address: String,
    pub display_name: String,
    /// The verification code or temporary password (the second factor's kind for the
    /// second-factor notifications).
    pub secret: String,
    pub new_email_address: String,
    pub timestamp: Option<Millis>,
    /// The second factor of the extensions' notifications (`"totp"`), else empty.
    pub second_factor: String,
}

/// Records every email; can be told to fail a kind of message.
#[derive(Default)]
pub struct RecordingEmailSender {
    sent: RefCell<Vec<SentEmail>>,
    failing: RefCell<HashSet<EmailKind>>,
}

impl RecordingEmailSender {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn sent(&self) -> Vec<SentEmail> {
        self.sent.borrow().clone()
    }

    pub fn sent_of(&self, kind: EmailKind) -> Vec<SentEmail> {
        self.sent
            .borrow()
            .iter()
            .filter(|e| e.kind == kind)
            .cloned()
            .collect()
    }

    pub fn last(&self) -> Option<SentEmail> {
        self.sent.borrow().last().cloned()
    }

    pub fn clear(&self) {
        self.sent.borrow_mut().clear();
    }

    /// Every later message of `kind` fails (and is not recorded) until `set_failing(kind, false)`.
    pub fn set_failing(&self, kind: EmailKind, failing: bool) {
        let mut set = self.failing.borrow_mut();
        if failing {
            set.insert(kind);
        } else {
            set.remove(&kind);
        }
    }

    fn record(
        &self,
        kind: EmailKind,
        email_address: &str,
        display_name: &str,
        secret: &str,
        new_email_address: &str,
        timestamp: Option<Millis>,
    ) -> Result<(), String> {
        if self.failing.borrow().contains(&kind) {
            return Err(format!("injected failure sending {kind:?}"));
        }
        self.sent.borrow_mut().push(SentEmail {
            kind,
            email_address: email_address.to_string(),
            display_name: display_name.to_string(),
            secret: secret.to_string(),
            new_email_address: new_email_address.to_string(),
            timestamp,
            second_factor: String::new(),
        });
        Ok(())
    }

    fn record_second_factor(
        &self,
        kind: EmailKind,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record(kind, email_address, display_name, "", "", Some(timestamp))?;
        if let Some(last) = self.sent.borrow_mut().last_mut() {
            last.second_factor = second_factor.to_string();
        }
        Ok(())
    }
}

#[async_trait(?Send)]
impl EmailSender for RecordingEmailSender {
    async fn send_signup_email_address_verification_code(
        &self,
        email_address: &str,
        code: &str,
    ) -> Result<(), String> {
        self.record(
            EmailKind::SignupEmailAddressVerificationCode,
            email_address,
            "",
            code,
            "",
            None,
        )
    }
    async fn send_user_email_address_update_email_address_verification_code(
        &self,
        email_address: &str,
        display_name: &str,
        code: &str,
    ) -> Result<(), String> {
        self.record(
            EmailKind::UserEmailAddressUpdateEmailAddressVerificationCode,
            email_address,
            display_name,
            code,
            "",
            None,
        )
    }
    async fn send_user_password_reset_temporary_password(
        &self,
        email_address: &str,
        display_name: &str,
        temporary_password: &str,
    ) -> Result<(), String> {
        self.record(
            EmailKind::UserPasswordResetTemporaryPassword,
            email_address,
            display_name,
            temporary_password,
            "",
            None,
        )
    }
    async fn send_user_signed_in_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record(
            EmailKind::UserSignedInNotification,
            email_address,
            display_name,
            "",
            "",
            Some(timestamp),
        )
    }
    async fn send_user_email_address_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        new_email_address: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record(
            EmailKind::UserEmailAddressUpdatedNotification,
            email_address,
            display_name,
            "",
            new_email_address,
            Some(timestamp),
        )
    }
    async fn send_user_password_updated_notification(
        &self,
        email_address: &str,
        display_name: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record(
            EmailKind::UserPasswordUpdatedNotification,
            email_address,
            display_name,
            "",
            "",
            Some(timestamp),
        )
    }
    async fn send_user_second_factor_added_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record_second_factor(
            EmailKind::UserSecondFactorAddedNotification,
            email_address,
            display_name,
            second_factor,
            timestamp,
        )
    }
    async fn send_user_second_factor_removed_notification(
        &self,
        email_address: &str,
        display_name: &str,
        second_factor: &str,
        timestamp: Millis,
    ) -> Result<(), String> {
        self.record_second_factor(
            EmailKind::UserSecondFactorRemovedNotification,
            email_address,
            display_name,
            second_factor,
            timestamp,
        )
    }
}

/// A recorded `LogActionError` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedError {
    pub timestamp: Millis,
    pub message: String,
    pub action_invocation_id: String,
    pub action: String,
}

/// Records every logged action error, and the action log lines apart from them.
#[derive(Default)]
pub struct RecordingLogger {
    entries: RefCell<Vec<LoggedError>>,
    outcome_lines: RefCell<Vec<String>>,
}

impl RecordingLogger {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn entries(&self) -> Vec<LoggedError> {
        self.entries.borrow().clone()
    }
    pub fn clear(&self) {
        self.entries.borrow_mut().clear();
    }
    /// The action log lines (one JSON object per invocation), oldest first.
    pub fn outcome_lines(&self) -> Vec<String> {
        self.outcome_lines.borrow().clone()
    }
}

impl ActionErrorLogger for RecordingLogger {
    fn log_action_error(
        &self,
        timestamp: Millis,
        message: &str,
        action_invocation_id: &str,
        action: &str,
    ) {
        self.entries.borrow_mut().push(LoggedError {
            timestamp,
            message: message.to_string(),
            action_invocation_id: action_invocation_id.to_string(),
            action: action.to_string(),
        });
    }
    fn log_action_outcome(&self, line: &str) {
        self.outcome_lines.borrow_mut().push(line.to_string());
    }
}

/// A clock that moves only when told to.
pub struct ManualClock {
    now: Cell<Millis>,
}

impl ManualClock {
    pub fn new(now: Millis) -> Self {
        Self {
            now: Cell::new(now),
        }
    }
    pub fn set(&self, now: Millis) {
        self.now.set(now);
    }
    pub fn advance(&self, by: Millis) {
        self.now.set(self.now.get() + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Millis {
        self.now.get()
    }
}

/// Allows every address unless told to deny one, or to fail.
#[derive(Default)]
pub struct ListEmailAddressChecker {
    denied: RefCell<HashSet<String>>,
    failing: Cell<bool>,
}

impl ListEmailAddressChecker {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn deny(&self, email_address: &str) {
        self.denied.borrow_mut().insert(email_address.to_string());
    }
    pub fn allow(&self, email_address: &str) {
        self.denied.borrow_mut().remove(email_address);
    }
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }
}

#[async_trait(?Send)]
impl EmailAddressChecker for ListEmailAddressChecker {
    async fn check_email_address(&self, email_address: &str) -> Result<bool, String> {
        if self.failing.get() {
            return Err("injected email address checker failure".into());
        }
        Ok(!self.denied.borrow().contains(email_address))
    }
}

/// Declares a fixed set of passwords weak; can be told to fail. For tests and offline use.
#[derive(Default)]
pub struct ListPasswordStrengthChecker {
    weak: RefCell<HashSet<String>>,
    failing: Cell<bool>,
}

impl ListPasswordStrengthChecker {
    /// The conformance harness's checker: `password123` and `weakweakweak` are weak.
    pub fn conformance() -> Self {
        let checker = Self::default();
        checker.add_weak("password123");
        checker.add_weak("weakweakweak");
        checker
    }
    pub fn add_weak(&self, password: &str) {
        self.weak.borrow_mut().insert(password.to_string());
    }
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }
}

#[async_trait(?Send)]
impl PasswordStrengthChecker for ListPasswordStrengthChecker {
    async fn is_strong_password(&self, password: &str) -> Result<bool, String> {
        if self.failing.get() {
            return Err("injected password strength checker failure".into());
        }
        Ok(!self.weak.borrow().contains(password))
    }
}

/// `SHA-256(salt ‖ password)` under a chosen id: the spec's cheap test algorithm. Never use it
/// for real passwords.
pub struct Sha256TestAlgorithm {
    id: String,
}

impl Sha256TestAlgorithm {
    pub fn new(id: &str) -> Self {
        Self { id: id.to_string() }
    }

    pub fn hash_sync(salt: &[u8], password: &str) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(salt);
        hasher.update(password.as_bytes());
        hasher.finalize().to_vec()
    }
}

#[async_trait(?Send)]
impl PasswordHashAlgorithm for Sha256TestAlgorithm {
    fn id(&self) -> &str {
        &self.id
    }
    fn salt_size(&self) -> usize {
        16
    }
    async fn hash(&self, password: &str, salt: &[u8]) -> Result<Vec<u8>, String> {
        Ok(Self::hash_sync(salt, password))
    }
}
