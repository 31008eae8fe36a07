//! kassa-sdk: the Rust interface to Kassa for merchants, wallets and Kassa's own services.
//!
//! - [`pda`]: one function per PDA, program id overridable;
//! - [`payments`]: a builder for every `kassa_payments` instruction, accounts derived;
//! - [`convert`]: a builder for every `kassa_convert` instruction and the hook accounts;
//! - [`decode`]: typed decoding of accounts and `emit_cpi!` events from raw bytes;
//! - [`solana_pay`]: Solana Pay transfer-request and transaction-request URLs, encode and parse.

pub mod convert;
pub mod decode;
pub mod error;
pub mod payments;
pub mod pda;
pub mod solana_pay;

pub use error::SdkError;
pub use kassa_payments;
