//! kassa-settlement: the treasury side of Kassa.
//!
//! [`ledger`] is a double-entry ledger in integer minor units whose rules the database enforces
//! (migration `0014_ledger.sql`): every transfer balances in each currency, accounts that forbid
//! it are never overdrawn (pending transfers included), transfers are two-phase and idempotent
//! by id, and nothing is rewritten. [`money`] holds the one place where amounts change
//! currency, with its rounding rule. [`bank`] validates the bank accounts fiat merchants are
//! paid to; [`rates`] is where conversion rates come from.

pub mod bank;
pub mod ledger;
pub mod money;
pub mod rates;

pub use ledger::{
    Account, AccountKind, Balance, Ledger, LedgerError, NewAccount, NewTransfer, Posting, Transfer,
    TransferState,
};
