//! Password rehash on sign-in (`PASSWORD_REHASH_ON_SIGNIN=true`; docs/extensions.md, "Password
//! rehash on sign-in"): when `verify_signin_user_password` verifies a password stored under a
//! configured algorithm other than the first, the password is hashed again with the first and
//! stored over the old hash, so a deployment moves its users to new parameters as they sign in.
//!
//! The rehash is best effort: it never changes the outcome of the action. A lost race on the
//! user's password hash counter (another password change came first) skips it without a log (the
//! newer password wins); a hashing or user-store failure skips it with a log.
//!
//! Storing the hash increments the user's `password_hash_counter`, which the signin in progress
//! snapshotted. [`Server::mark_signin_first_factor_after_rehash`] moves the signin's snapshot
//! forward in the same compare-and-set that marks its first factor verified, so the sign-in
//! completes.

use crate::crypto;
use crate::flows::signin::Signin;
use crate::flows::{hashing_lease_key, Entity, Failure, Invocation, HASHING_LEASE_DURATION};
use crate::ports::{StorageError, User, UserStoreError};
use crate::server::Server;

/// Attempts of the signin compare-and-set after a rehash before giving up: each retry follows a
/// concurrent write to the same signin (its own client's requests), so a few always suffice.
const SIGNIN_UPDATE_ATTEMPTS: usize = 3;

/// The hashing lease of a user's rehash, in rate-limit storage next to the set-password leases.
fn rehash_lease_key(user_id: &str) -> String {
    hashing_lease_key(&format!("user_password_rehash.{user_id}"))
}

impl Server {
    /// Rehashes `password` (just verified against `user`'s stored hash) with user algorithm #0 and
    /// stores it over the hash `user` was read with, when the extension is on and the stored hash
    /// is under another algorithm. Returns whether it stored one: the user's
    /// `password_hash_counter` is then `user.password_hash_counter + 1`.
    ///
    /// Under the user's hashing lease, so that concurrent sign-ins of one user hash once: one
    /// that finds the lease held skips the rehash.
    pub(crate) async fn rehash_password_on_signin(
        &self,
        invocation: &Invocation,
        user: &User,
        password: &str,
    ) -> bool {
        if !self.extensions.password_rehash_on_signin
            || user.password_hash_algorithm_id == self.user_password_algorithms[0].id()
        {
            return false;
        }
        let lease_key = rehash_lease_key(&user.id);
        let holder = crypto::generate_id();
        match self
            .ports
            .rate_limit_storage
            .add(
                &lease_key,
                Vec::new(),
                &holder,
                self.now() + HASHING_LEASE_DURATION,
            )
            .await
        {
            Ok(()) => {}
            // Another sign-in of this user is rehashing; it stores the same kind of hash.
            Err(StorageError::AlreadyExists) => return false,
            Err(e) => {
                self.log(
                    invocation,
                    &format!("password rehash skipped: rate-limit storage add of the hashing lease failed: {e}"),
                );
                return false;
            }
        }
        let stored = self
            .store_rehashed_password(invocation, user, password)
            .await;
        match self
            .ports
            .rate_limit_storage
            .delete(&lease_key, &holder, 0)
            .await
        {
            Ok(()) | Err(StorageError::NotFound) => {}
            Err(e) => self.log(
                invocation,
                &format!("failed to release the hashing lease: {e}"),
            ),
        }
        stored
    }

    async fn store_rehashed_password(
        &self,
        invocation: &Invocation,
        user: &User,
        password: &str,
    ) -> bool {
        let new_hash = match self.hash_new_user_password(password).await {
            Ok(new_hash) => new_hash,
            Err(Failure::Internal(message) | Failure::LoggedCode(_, message)) => {
                self.log(invocation, &format!("password rehash skipped: {message}"));
                return false;
            }
            Err(Failure::Code(_)) => return false,
        };
        match self
            .ports
            .user_store
            .update_user_password_hash(
                &user.id,
                &new_hash.hash,
                &new_hash.algorithm_id,
                &new_hash.salt,
                user.password_hash_counter,
            )
            .await
        {
            Ok(()) => true,
            // The counter moved (another password change) or the user went: theirs wins.
            Err(UserStoreError::UserNotFound) => false,
            Err(e) => {
                self.log(
                    invocation,
                    &format!("password rehash skipped: failed to update user password hash: {e}"),
                );
                false
            }
        }
    }

    /// `verify_signin_user_password`'s compare-and-set after a rehash moved the user's password
    /// hash counter from `rehashed_from` to `rehashed_from + 1`: marks the first factor verified
    /// and moves the signin's snapshot to the new counter, in one update.
    ///
    /// A signin whose first factor a concurrent request (same token) marked meanwhile still gets
    /// its snapshot moved, so that the sign-in it belongs to stays valid; this request then
    /// answers `internal_conflict`, as it would have without the rehash. A signin that is gone,
    /// or whose snapshot is not `rehashed_from`, is left alone: `internal_conflict`.
    pub(crate) async fn mark_signin_first_factor_after_rehash(
        &self,
        signin_id: &str,
        rehashed_from: i32,
    ) -> Result<(), Failure> {
        let key = Signin::key_for(signin_id);
        for _ in 0..SIGNIN_UPDATE_ATTEMPTS {
            let entry = match self.ports.main_storage.get(&key).await {
                Ok(entry) => entry,
                Err(StorageError::NotFound) => return Err(Failure::Code("internal_conflict")),
                Err(e) => return Err(Failure::Internal(format!("main storage get failed: {e}"))),
            };
            let mut signin =
                Signin::decode(&entry.value).map_err(|e| Failure::Internal(e.to_string()))?;
            if signin.user_password_hash_counter != rehashed_from {
                return Err(Failure::Code("internal_conflict"));
            }
            let already_verified = signin.user_first_factor_verified;
            signin.user_first_factor_verified = true;
            signin.user_password_hash_counter = rehashed_from + 1;
            match self
                .ports
                .main_storage
                .update(&key, signin.encode(), signin.expires_at(), entry.counter)
                .await
            {
                Ok(()) if already_verified => return Err(Failure::Code("internal_conflict")),
                Ok(()) => return Ok(()),
                // Written meanwhile (or deleted): read again.
                Err(StorageError::NotFound) => continue,
                Err(e) => {
                    return Err(Failure::Internal(format!(
                        "main storage update failed: {e}"
                    )))
                }
            }
        }
        Err(Failure::Code("internal_conflict"))
    }
}
