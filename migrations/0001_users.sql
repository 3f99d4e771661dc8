-- The users table behind USER_STORE=d1 (the Faroe user store, spec §10.1).
-- Password hashes and salts are standard padded Base64. Email addresses are stored exactly as
-- given (no normalization) and are unique.
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY,
    email_address TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    password_salt TEXT NOT NULL,
    password_hash_algorithm_id TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0,
    display_name TEXT NOT NULL DEFAULT '',
    email_address_counter INTEGER NOT NULL DEFAULT 0,
    password_hash_counter INTEGER NOT NULL DEFAULT 0,
    disabled_counter INTEGER NOT NULL DEFAULT 0,
    sessions_counter INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
