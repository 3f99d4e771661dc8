// The subrequests each of the 39 actions makes on its main (successful) path, derived from the
// reference's steps (/work/shared/faroe-protocol.md) plus the port's documented additions; shared
// by tests/e2e/subrequests.test.mjs (which asserts them exactly, call by call) and
// tests/e2e/scale.test.mjs (which checks that the scale run counted the same). The names and the
// abbreviations (VS, VSAU, CHECK, CONSUME, CAS, CREATE_SESSION, PREFIX) are explained at the top
// of subrequests.test.mjs. A CONSUME writes with `rate_limit.add` for a fresh bucket and with
// `rate_limit.update` for one that exists: the sequence of subrequests.test.mjs decides which, and
// the scale run may see the other (the same number of calls).

/** VS, then validate the flow's entity (§2.2 with GetUser): the PREFIX of §3.4. */
const prefix = { "kv.get": 1, "main.get": 1, "users.get_user": 1 };

/** Action (or `get_session (cache hit|miss)`) → { counts, why }. */
export const MAIN_PATH = {
  "create_signup": {
    counts: {
      "users.get_user_by_email_address": 1, // step 2, availability
      "rate_limit.get": 3, // step 4 CHECK verify-email-code; steps 5 and mailbox: the CONSUMEs' reads
      "rate_limit.add": 2, // fresh send-email and mailbox buckets
      "main.set": 1, // step 6
      "email.signup_code": 1, // step 7
    },
    why: "availability, CHECK, CONSUME send-email and mailbox, store, email",
  },
  "get_signup": {
    counts: { "main.get": 1 },
    why: "validate signup: no user lookup",
  },
  "send_signup_email_address_verification_code": {
    counts: {
      "main.get": 1, "rate_limit.get": 3, "rate_limit.update": 2, "email.signup_code": 1,
    },
    why: "validate, CHECK, CONSUME send-email and mailbox (buckets exist now: updates), email",
  },
  "verify_signup_email_address_verification_code": {
    counts: { "main.get": 2, "rate_limit.get": 1, "rate_limit.add": 1, "main.update": 1 },
    why: "validate, CONSUME verify-email-code (fresh), CAS",
  },
  "set_signup_password": {
    counts: {
      "main.get": 2, "breach_check": 1, "rate_limit.add": 1, "hash.user": 1, "main.update": 1, "rate_limit.delete": 1,
    },
    why: "validate, strength check, lease, CAS re-read, hash, CAS update, lease release",
  },
  "complete_signup": {
    counts: {
      "main.get": 1, "users.create_user": 1, "main.delete": 1, "main.set": 1, "kv.set": 1, "email.signed_in": 1,
    },
    why: "validate, CreateUser, delete the signup, CREATE_SESSION, notification",
  },
  "delete_signup": {
    counts: { "main.get": 1, "main.delete": 1 },
    why: "validate, delete",
  },
  "get_session (cache hit)": {
    counts: { "kv.get": 1 },
    why: "VS, cache hit: no Durable Object, no user store",
  },
  "get_session (cache miss)": {
    counts: {
      "kv.get": 1, "main.get": 2, "users.get_user": 2, "kv.set": 1,
    },
    why: "VS, cache miss: MAIN_PATH (main.get, GetUser, cache fill) and the fill's re-read of session and user",
  },
  "create_signin": {
    counts: {
      "users.get_user_by_email_address": 1, "main.set": 1,
    },
    why: "GetUserByEmailAddress, store; no rate limit, no email",
  },
  "get_signin": {
    counts: { "main.get": 1, "users.get_user": 1 },
    why: "validate signin",
  },
  "verify_signin_user_password": {
    counts: {
      "main.get": 2, "users.get_user": 1, "rate_limit.get": 1, "rate_limit.add": 1, "hash.user": 1, "main.update": 1,
    },
    why: "validate, CONSUME verify-user-password (fresh), verify (one hash), CAS",
  },
  "complete_signin": {
    counts: {
      "main.get": 1, "users.get_user": 1, "main.delete": 1, "main.set": 1, "kv.set": 1, "email.signed_in": 1,
    },
    why: "validate, delete the signin first (FIX-10), CREATE_SESSION, notification",
  },
  "delete_signin": {
    counts: {
      "main.get": 1, "users.get_user": 1, "main.delete": 1,
    },
    why: "validate, delete",
  },
  "create_user_email_address_update": {
    counts: {
      "kv.get": 1, "users.get_user": 1, "users.get_user_by_email_address": 1,
      "rate_limit.get": 3, "rate_limit.add": 2, "main.set": 1, "email.email_update_code": 1,
    },
    why: "VSAU (cache hit + GetUser), availability, CHECK, CONSUME send-email and mailbox (fresh), store, email",
  },
  "get_user_email_address_update": {
    counts: prefix,
    why: "PREFIX",
  },
  "send_user_email_address_update_email_address_verification_code": {
    counts: {
      ...prefix, "rate_limit.get": 3, "rate_limit.update": 2, "email.email_update_code": 1,
    },
    why: "PREFIX, CHECK, CONSUME send-email and mailbox (existing), email",
  },
  "verify_user_email_address_update_email_address_verification_code": {
    counts: { ...prefix, "main.get": 2, "rate_limit.get": 1, "rate_limit.add": 1, "main.update": 1 },
    why: "PREFIX, CONSUME verify-email-code (fresh), CAS",
  },
  "verify_user_email_address_update_user_password": {
    counts: {
      ...prefix, "main.get": 2, "rate_limit.get": 1, "rate_limit.update": 1, "hash.user": 1, "main.update": 1,
    },
    why: "PREFIX, CONSUME verify-user-password (the signin made it), verify, CAS",
  },
  "complete_user_email_address_update": {
    counts: {
      ...prefix, "users.update_user_email_address": 1, "main.delete": 1, "email.email_updated": 1,
    },
    why: "PREFIX, UpdateUserEmailAddress, delete the update, notification to the old address",
  },
  "delete_user_email_address_update": {
    counts: { ...prefix, "main.delete": 1 },
    why: "PREFIX, delete",
  },
  "create_user_password_update": {
    counts: {
      "kv.get": 1, "users.get_user": 1, "main.set": 1,
    },
    why: "VSAU, store",
  },
  "get_user_password_update": {
    counts: prefix,
    why: "VS, validate the update",
  },
  "verify_user_password_update_user_password": {
    counts: {
      "kv.get": 1, "users.get_user": 2, "main.get": 2, "rate_limit.get": 1, "rate_limit.update": 1, "hash.user": 1, "main.update": 1,
    },
    why: "VSAU (GetUser), validate the update (GetUser again), CONSUME verify-user-password, verify, CAS",
  },
  "set_user_password_update_new_password": {
    counts: {
      ...prefix, "main.get": 2, "breach_check": 1, "rate_limit.add": 1, "hash.user": 1, "main.update": 1, "rate_limit.delete": 1,
    },
    why: "VS, validate, strength check, lease, CAS re-read, hash, CAS update, lease release",
  },
  "complete_user_password_update": {
    counts: {
      "kv.get": 1, "users.get_user": 2, "main.get": 1, "users.update_user_password_hash": 1, "main.delete": 1, "email.password_updated": 1,
    },
    why: "VSAU, validate the update, UpdateUserPasswordHash, delete the update, notification",
  },
  "delete_user_password_update": {
    counts: { ...prefix, "main.delete": 1 },
    why: "VS, validate, delete",
  },
  "create_user_password_reset": {
    counts: {
      "users.get_user_by_email_address": 1, "rate_limit.get": 3, "rate_limit.update": 2, "hash.temporary": 1, "main.set": 1,
      "email.temporary_password": 1,
    },
    why: "GetUserByEmailAddress, CHECK verify-temporary-password, CONSUME send-email and mailbox (the email update made them), hash the temporary password, store, email",
  },
  "get_user_password_reset": {
    counts: { "main.get": 1, "users.get_user": 1 },
    why: "validate reset",
  },
  "verify_user_password_reset_temporary_password": {
    counts: { "main.get": 2, "users.get_user": 1, "rate_limit.get": 1, "rate_limit.add": 1, "hash.temporary": 1, "main.update": 1 },
    why: "validate, CONSUME verify-temporary-password (fresh), hash the argument, CAS",
  },
  "set_user_password_reset_new_password": {
    counts: {
      "main.get": 2, "users.get_user": 1, "breach_check": 1, "rate_limit.add": 1, "hash.user": 1, "main.update": 1, "rate_limit.delete": 1,
    },
    why: "validate, strength check, lease, CAS re-read, hash, CAS update, lease release",
  },
  "complete_user_password_reset": {
    counts: {
      "main.get": 1, "users.get_user": 1, "users.update_user_password_hash": 1, "main.delete": 1, "email.password_updated": 1,
      "main.set": 1, "kv.set": 1, "email.signed_in": 1,
    },
    why: "validate, UpdateUserPasswordHash, delete the reset, notification, CREATE_SESSION, signed-in notification",
  },
  "delete_user_password_reset": {
    counts: {
      "main.get": 1, "users.get_user": 1, "main.delete": 1,
    },
    why: "validate, delete",
  },
  "delete_session": {
    counts: { "kv.get": 1, "main.delete": 1, "kv.delete": 1 },
    why: "VS, DELETE_SESSION (main storage, then the cache)",
  },
  "create_user_deletion": {
    counts: {
      "kv.get": 1, "users.get_user": 1, "main.set": 1,
    },
    why: "VSAU, store",
  },
  "get_user_deletion": {
    counts: prefix,
    why: "VS, validate the deletion",
  },
  "verify_user_deletion_user_password": {
    counts: {
      "kv.get": 1, "users.get_user": 2, "main.get": 2, "rate_limit.get": 1, "rate_limit.update": 1, "hash.user": 1, "main.update": 1,
    },
    why: "VSAU, validate the deletion, CONSUME verify-user-password, verify, CAS",
  },
  "delete_user_deletion": {
    counts: { ...prefix, "main.delete": 1 },
    why: "VS, validate, delete",
  },
  "delete_all_sessions": {
    counts: {
      "kv.get": 1, "users.get_user": 1, "users.increment_user_sessions_counter": 1,
    },
    why: "VSAU, IncrementUserSessionsCounter; no storage entry is deleted",
  },
  "complete_user_deletion": {
    counts: { ...prefix, "users.delete_user": 1, "main.delete": 1 },
    why: "VS, validate the deletion, DeleteUser, delete the deletion; no email",
  },
};
