//! kassa-sdk: the Rust interface to Kassa for merchants, wallets and Kassa's own services.
//!
//! - [`programs`]: the registry of Kassa programs (id, name, IDL, event decoder, errors);
//! - [`pda`]: one function per PDA, program id overridable;
//! - [`payments`]: a builder for every `kassa_payments` instruction, accounts derived;
//! - [`convert`]: a builder for every `kassa_convert` instruction and the hook accounts;
//! - [`decode`]: typed decoding of accounts and `emit_cpi!` events from raw bytes;
//! - [`solana_pay`]: Solana Pay transfer-request and transaction-request URLs, encode and parse;
//! - [`flows`]: one-step merchant flows (invoice with its payment link, capture and close, refund);
//! - `rpc` (feature `rpc`, default): fetch and decode accounts, send and confirm, errors by name;
//! - `webhook` (feature `webhooks`, default): verify Kassa's signed notifications (Standard
//!   Webhooks);
//! - [`api`]: the HTTP API's types, and its typed client (feature `api-client`);
//! - `x402` (feature `x402`): HTTP 402 payments, the `exact` scheme on Solana, and (feature
//!   `x402-client`) a client that pays within a spending policy.

#![deny(missing_docs)]

pub mod api;
pub mod convert;
pub mod credit;
pub mod decode;
pub mod error;
pub mod flows;
pub mod payments;
pub mod pda;
pub mod programs;
#[cfg(feature = "rpc")]
pub mod rpc;
pub mod solana_pay;
#[cfg(feature = "webhooks")]
pub mod webhook;
#[cfg(feature = "x402")]
pub mod x402;

pub use error::SdkError;
pub use kassa_payments;
