//! faroe-worker: a Faroe auth server (the three-storage version of the protocol) whose core is
//! runtime-agnostic and whose edge runs it as a Cloudflare Worker.
//!
//! Request path: `edge` (HTTP, Workers only) → [`endpoint`] (parse, dispatch, serialize) →
//! [`flows`] (one module per Faroe flow) → [`ports`] (traits) → [`adapters`].

pub mod adapters;
pub mod argon2id;
pub mod client_address;
pub mod config;
pub mod crypto;
pub mod encoding;
pub mod endpoint;
pub mod extensions;
pub mod flows;
pub mod password;
pub mod ports;
pub mod rate_limit;
pub mod server;
pub mod webauthn;

#[cfg(target_arch = "wasm32")]
pub mod edge;

pub use endpoint::{ActionFilter, RequestError, ACTIONS};
pub use server::{PasswordConfig, Ports, Server, SessionConfig};
