//! The pools' token rules: which mints they accept, what to send so a net amount arrives
//! through a transfer fee, and moves signed by the pool PDA (through `kassa_common::token`).

use crate::{constants::POOL_SEED, error::ConvertError, state::Pool};
use anchor_lang::prelude::*;
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::{transfer_fee::TransferFeeConfig, BaseStateWithExtensions, StateWithExtensions},
};
pub use kassa_common::token::balance;
use kassa_common::{
    mint_policy::{highest_transfer_fee_bps, unsafe_mint_extension, MAX_TRANSFER_FEE_BPS},
    token::TokenMint,
};

/// Refuses mints whose extensions would let someone other than the pool move or freeze its
/// vaults, run arbitrary code on every transfer or let the mint be recreated, and mints
/// charging (or scheduled to charge) a transfer fee above the cap. Called when a pool is
/// created and again at every swap.
pub fn require_supported_mint(mint: &AccountInfo<'_>) -> Result<()> {
    if unsafe_mint_extension(mint)?.is_some() {
        return err!(ConvertError::UnsupportedMintExtension);
    }
    if highest_transfer_fee_bps(mint)? > MAX_TRANSFER_FEE_BPS {
        return err!(ConvertError::TransferFeeAboveCap);
    }
    Ok(())
}

/// The amount to send so that `net` arrives, given the mint's transfer fee (if any). With
/// `exact`, the fee schedule must make exactly `net` arrive (a destination that must receive
/// an exact amount); otherwise at least `net` (the pool checks what it received).
pub fn gross_for_net(mint: &AccountInfo<'_>, net: u64, exact: bool) -> Result<u64> {
    if *mint.owner != spl_token_2022::ID {
        return Ok(net);
    }
    let data = mint.try_borrow_data()?;
    let state = StateWithExtensions::<spl_token_2022::state::Mint>::unpack(&data)?;
    let Ok(config) = state.get_extension::<TransferFeeConfig>() else {
        return Ok(net);
    };
    let fee = config.get_epoch_fee(Clock::get()?.epoch);
    let gross = fee
        .calculate_pre_fee_amount(net)
        .ok_or(ConvertError::TransferFeeMismatch)?;
    let charged = fee
        .calculate_fee(gross)
        .ok_or(ConvertError::TransferFeeMismatch)?;
    let arrives = gross
        .checked_sub(charged)
        .ok_or(ConvertError::TransferFeeMismatch)?;
    require!(
        arrives == net || (!exact && arrives > net),
        ConvertError::TransferFeeMismatch
    );
    Ok(gross)
}

/// Moves `amount` from an account whose owner signed; returns what `to` actually received.
pub fn transfer_in<'info>(
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    amount: u64,
    decimals: u8,
) -> Result<u64> {
    TokenMint {
        token_program,
        mint,
        decimals,
    }
    .transfer_in_measured(from, to, authority, amount)
}

/// Pays `amount` out of a pool vault, signed by the pool PDA. Zero is a no-op.
#[allow(clippy::too_many_arguments)]
pub fn transfer_out<'info>(
    pool: &Account<'info, Pool>,
    pool_info: &AccountInfo<'info>,
    token_program: &AccountInfo<'info>,
    vault: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    amount: u64,
    decimals: u8,
) -> Result<()> {
    let seeds: &[&[u8]] = &[
        POOL_SEED,
        pool.mint_a.as_ref(),
        pool.mint_b.as_ref(),
        &[pool.bump],
    ];
    TokenMint {
        token_program,
        mint,
        decimals,
    }
    .transfer_signed(vault, to, pool_info, seeds, amount)
}
