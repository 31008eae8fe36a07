//! Accounts of the credit program and the bookkeeping on them. Every instruction that changes
//! an account ends with its `invariant()`; the pool's is the accounting identity of DESIGN.md
//! §3.3: `cash + principal + (recognised − received interest) − impaired = senior + junior +
//! fees + redemptions payable`.

pub mod advance;
pub mod allowlist;
pub mod line;
pub mod pool;
pub mod redemption;

pub use advance::*;
pub use allowlist::*;
pub use line::*;
pub use pool::*;
pub use redemption::*;

use anchor_lang::prelude::*;

/// A role of a credit pool, rotated by `pool_role_transfer` with the new key co-signing.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolRole {
    /// Sets the pool's policy, pauses it, keeps the allowlist, receives the admin fees.
    Admin,
    /// Approves lines and judges them (impairments, restores, write-offs).
    Underwriter,
    /// Receives the protocol's share of income.
    ProtocolFeeReceiver,
}

/// One of a pool's two tranches.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tranche {
    /// Paid its target yield first, takes losses last, capped relative to the junior.
    Senior,
    /// Takes the rest of the yield and the first loss.
    Junior,
}

impl Tranche {
    /// The byte that tells the tranches apart in PDA seeds.
    pub fn seed(self) -> u8 {
        match self {
            Tranche::Senior => 0,
            Tranche::Junior => 1,
        }
    }
}
