//! kassa-sdk: the Rust interface to Kassa for merchants, wallets and Kassa's own services.
//!
//! - [`pda`]: one function per PDA, program id overridable;
//! - [`payments`]: a builder for every `kassa_payments` instruction, accounts derived;
//! - [`decode`]: typed decoding of accounts and `emit_cpi!` events from raw bytes.

pub mod decode;
pub mod error;
pub mod payments;
pub mod pda;

pub use error::SdkError;
pub use kassa_payments;
