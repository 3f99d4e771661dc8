//! Implementations of the ports. `memory` is runtime-agnostic; the rest talk to Workers services
//! and are compiled for wasm32 only.

pub mod memory;
