//! Implementations of the ports. Everything here is runtime-agnostic and tested natively; the
//! Workers-specific adapters (Durable Objects, KV, D1, fetch) live in `crate::edge`.

pub mod email;
pub mod email_catalog;
pub mod http;
pub mod logging;
pub mod memory;
pub mod pwned;
pub mod turnstile;
pub mod user_server;
