//! The SDK's error type: every variant names the problem.

use anchor_lang::prelude::Pubkey;

/// Why the SDK refused to build an instruction or parse input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkError {
    #[error("amount must be greater than zero")]
    ZeroAmount,
    #[error("order id must be 1 to 32 bytes, got {0}")]
    OrderIdLength(usize),
    #[error("mint {got} does not match the payment's mint {expected}")]
    WrongMint { expected: Pubkey, got: Pubkey },
    #[error("token program {0} is neither SPL Token nor Token-2022")]
    UnknownTokenProgram(Pubkey),
    #[error("payment is {status}; {action} needs it {needed}")]
    InvalidState {
        status: String,
        action: &'static str,
        needed: &'static str,
    },
    #[error("amount {amount} exceeds the {what} of {available}")]
    AmountTooLarge {
        amount: u64,
        what: &'static str,
        available: u64,
    },
    #[error("account data is not a {0}: {1}")]
    Decode(&'static str, String),
    #[error("too many conversion hooks: {0} (at most 4)")]
    TooManyHooks(usize),
    #[error("protocol fee {0} bps exceeds the cap of 1000 bps")]
    FeeAboveCap(u16),
    #[error("Solana Pay: {0}")]
    SolanaPay(String),
    #[error("RPC: {0}")]
    Rpc(String),
    #[cfg(feature = "rpc")]
    #[error("{0}")]
    Program(crate::rpc::ProgramError),
}
