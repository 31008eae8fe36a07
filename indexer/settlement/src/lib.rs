//! kassa-settlement: the treasury side of Kassa.
//!
//! [`ledger`] is a double-entry ledger in integer minor units whose rules the database enforces
//! (migration `0014_ledger.sql`): every transfer balances in each currency, accounts that forbid
//! it are never overdrawn (pending transfers included), transfers are two-phase and idempotent
//! by id, and nothing is rewritten. [`money`] holds the one place where amounts change
//! currency, with its rounding rule. [`bank`] validates the bank accounts fiat merchants are
//! paid to; [`rates`] is where conversion rates come from.
//!
//! On top of it (migration `0015_settlement.sql`): [`book`] turns the chain's money-moving
//! events into ledger entries (pending at confirmed, posted at finality, voided on rollback),
//! [`setup`] says how each merchant is settled, [`payout`] cuts daily payout batches and writes
//! their ISO 20022 `pain.001` files, [`statement`] imports the banks' `camt.053` statements and
//! matches them, [`mass`] pays many wallets in stablecoins from the treasury, [`reconcile`] compares
//! the ledger with the chain and the bank, and [`report`]
//! answers what operators and merchants ask of it. [`accounts`] is the chart of accounts.

pub mod accounts;
pub mod bank;
pub mod book;
pub mod error;
mod iso20022;
pub mod ledger;
pub mod mass;
pub mod money;
pub mod onramp;
pub mod payout;
pub mod rates;
pub mod reconcile;
pub mod report;
pub mod setup;
pub mod statement;

pub use error::{Result, SettlementError};
pub use ledger::{
    Account, AccountKind, Balance, Ledger, LedgerError, NewAccount, NewTransfer, Posting, Transfer,
    TransferState,
};
