//! Errors of the conversion program. Codes are stable: append, never renumber.

use crate::math::MathError;
use anchor_lang::prelude::*;

#[error_code]
pub enum ConvertError {
    #[msg("arithmetic overflow")]
    ArithmeticOverflow, // 6000
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("the two mints of a pool must differ")]
    IdenticalMints,
    #[msg("mint_a must sort before mint_b")]
    MintsNotSorted,
    #[msg("the mints' decimals differ by more than 6")]
    DecimalsTooFarApart,
    #[msg("amplification outside 1 to 1,000,000")]
    AmpOutOfBounds,
    #[msg("trade fee exceeds 100 bps or protocol share exceeds 10,000 bps")]
    FeeOutOfBounds,
    #[msg("signer is not the pool admin")]
    NotPoolAdmin,
    #[msg("the pool is paused")]
    PoolPaused,
    #[msg("slippage limit exceeded: output below the minimum")]
    MinimumOutNotMet,
    #[msg("slippage limit exceeded: input above the maximum")]
    MaximumInExceeded, // 6010
    #[msg("fewer LP tokens than the minimum")]
    MinimumLpNotMet,
    #[msg("withdrawal below the minimum of a coin")]
    MinimumWithdrawalNotMet,
    #[msg("not enough liquidity in the pool")]
    InsufficientLiquidity,
    #[msg("a reserve is empty: the first deposit needs both coins")]
    EmptyReserve,
    #[msg("the invariant did not converge")]
    NoConvergence,
    #[msg("output too small to pay after fees")]
    OutputTooSmall,
    #[msg("ramp must last at least one day, start after the previous one ends, and change A at most tenfold")]
    InvalidRamp,
    #[msg("mint has an extension a pool cannot hold safely (permanent delegate, transfer hook, non-transferable, default frozen, pausable or close authority)")]
    UnsupportedMintExtension,
    #[msg("hook account list does not match the interface order: pool, vault in, vault out, payer source, destination, payer authority, mint in, mint out, token program in, token program out")]
    HookAccountOrder,
    #[msg("a transfer fee could not be grossed up exactly")]
    TransferFeeMismatch, // 6020
    #[msg("pool account invariant violated")]
    InvariantViolated,
    #[msg("amplification must be greater than zero")]
    InvalidAmp,
    #[msg("the mint's transfer fee, in force or scheduled, is above the cap of 100 bps")]
    TransferFeeAboveCap,
}

impl From<MathError> for ConvertError {
    fn from(e: MathError) -> Self {
        match e {
            MathError::Overflow => ConvertError::ArithmeticOverflow,
            MathError::ZeroAmount => ConvertError::ZeroAmount,
            MathError::EmptyReserve => ConvertError::EmptyReserve,
            MathError::InvalidAmp => ConvertError::InvalidAmp,
            MathError::NoConvergence => ConvertError::NoConvergence,
            MathError::InsufficientLiquidity => ConvertError::InsufficientLiquidity,
            MathError::OutputTooSmall => ConvertError::OutputTooSmall,
        }
    }
}

/// `?`-friendly conversion of math results into program errors.
pub trait OrConvertError<T> {
    fn or_err(self) -> Result<T>;
}

impl<T> OrConvertError<T> for core::result::Result<T, MathError> {
    fn or_err(self) -> Result<T> {
        self.map_err(|e| error!(ConvertError::from(e)))
    }
}
