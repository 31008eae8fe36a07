//! kassa-common: what the Kassa programs share, so that no program keeps its own copy.
//!
//! - [`math`]: checked arithmetic that names where it overflowed ([`math::SafeMath`]), and
//!   proportional amounts with their rounding direction in the name;
//! - [`event`]: the header every `emit_cpi!` event opens with;
//! - [`token`]: token moves for SPL Token and Token-2022 alike (from a signer, signed by a PDA,
//!   share minting and burning) and fresh balance reads;
//! - [`mint_policy`]: which Token-2022 extensions a program that holds other people's money
//!   refuses;
//! - [`create`]: the one way a Kassa program creates its PDAs, whatever lamports they already
//!   hold (state accounts, token accounts, mints).
//!
//! Every Kassa program reserves its first error code, 6000, for `ArithmeticOverflow`: the
//! error [`math::overflow`] raises, so that the code means the same in every program's IDL.
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod create;
pub mod event;
pub mod math;
pub mod mint_policy;
pub mod token;

pub use event::EventHeader;
pub use math::SafeMath;
