//! The SDK's error type: every variant names the problem.

use anchor_lang::prelude::Pubkey;

/// Why the SDK refused to build an instruction or parse input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdkError {
    /// An amount of zero where the program requires more.
    #[error("amount must be greater than zero")]
    ZeroAmount,
    /// An order id that does not fit the 32-byte seed (or is empty).
    #[error("order id must be 1 to 32 bytes, got {0}")]
    OrderIdLength(usize),
    /// A mint that is not the one the payment or pool uses.
    #[error("mint {got} does not match the payment's mint {expected}")]
    WrongMint {
        /// The mint the payment or pool expects.
        expected: Pubkey,
        /// The mint given.
        got: Pubkey,
    },
    /// A token program other than SPL Token or Token-2022.
    #[error("token program {0} is neither SPL Token nor Token-2022")]
    UnknownTokenProgram(Pubkey),
    /// Bytes that are not the named account or event.
    #[error("account data is not a {0}: {1}")]
    Decode(&'static str, String),
    /// More conversion hooks than the config holds.
    #[error("too many conversion hooks: {0} (at most 4)")]
    TooManyHooks(usize),
    /// A protocol fee above the hard cap.
    #[error("protocol fee {0} bps exceeds the cap of 1000 bps")]
    FeeAboveCap(u16),
    /// A Solana Pay URL or link that could not be built.
    #[error("Solana Pay: {0}")]
    SolanaPay(String),
    /// The RPC node failed or refused the request.
    #[error("RPC: {0}")]
    Rpc(String),
    /// A Kassa program refused the transaction (or would refuse it); the error is named.
    #[error("{0}")]
    Program(crate::programs::ProgramError),
}
