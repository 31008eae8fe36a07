//! The Kassa HTTP API: its wire types ([`types`]) and, with the `api-client` feature, a typed
//! client ([`Client`]).

pub mod types;

#[cfg(feature = "api-client")]
mod client;
#[cfg(feature = "api-client")]
pub use client::{ApiError, Client};
