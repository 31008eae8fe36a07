//! The one swap path shared by exact-in, exact-out and the conversion hook.

use crate::{
    error::*,
    events::{EventHeader, SwapKind, Swapped},
    math::stableswap::{swap_exact_in, swap_exact_out},
    state::Pool,
    token::{balance, gross_for_net, require_supported_mint, transfer_in, transfer_out},
};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// The accounts of one swap, oriented from the trader's point of view.
pub struct Legs<'a, 'info> {
    pub pool_info: &'a AccountInfo<'info>,
    pub vault_in: &'a AccountInfo<'info>,
    pub vault_out: &'a AccountInfo<'info>,
    pub mint_in: &'a AccountInfo<'info>,
    pub mint_out: &'a AccountInfo<'info>,
    pub decimals_in: u8,
    pub decimals_out: u8,
    pub token_program_in: &'a AccountInfo<'info>,
    pub token_program_out: &'a AccountInfo<'info>,
    /// The trader's token account of the input mint.
    pub source: &'a AccountInfo<'info>,
    /// Receives the output.
    pub destination: &'a AccountInfo<'info>,
    /// Owner of `source`, a signer.
    pub authority: &'a AccountInfo<'info>,
}

/// Executes a swap and books it. For `ExactIn`, `amount` is the input and `limit` the minimum
/// output; otherwise `amount` is the output that must arrive and `limit` the maximum input.
pub fn execute<'info>(
    pool: &mut Account<'info, Pool>,
    legs: &Legs<'_, 'info>,
    a_to_b: bool,
    kind: SwapKind,
    amount: u64,
    limit: u64,
) -> Result<Swapped> {
    require!(!pool.paused, ConvertError::PoolPaused);
    require!(amount > 0, ConvertError::ZeroAmount);
    // A mint's fee may have been raised since the pool was created (audit 9).
    require_supported_mint(legs.mint_in)?;
    require_supported_mint(legs.mint_out)?;
    let now = Clock::get()?.unix_timestamp;
    let curve = pool.curve(a_to_b, now);
    let (reserve_in, reserve_out) = pool.reserves(a_to_b);
    let (debited, received_in, paid_out, swap) = match kind {
        SwapKind::ExactIn => {
            let received = transfer_in(
                legs.token_program_in,
                legs.source,
                legs.mint_in,
                legs.vault_in,
                legs.authority,
                amount,
                legs.decimals_in,
            )?;
            let swap =
                swap_exact_in(curve, pool.fees(), reserve_in, reserve_out, received).or_err()?;
            require!(swap.amount_out >= limit, ConvertError::MinimumOutNotMet);
            (amount, received, swap.amount_out, swap)
        }
        SwapKind::ExactOut | SwapKind::Hook => {
            // A hook must land exactly `amount` in the destination, so it pays the output
            // mint's transfer fee on top; a plain exact-out pays `amount` out of the vault.
            let out = if kind == SwapKind::Hook {
                gross_for_net(legs.mint_out, amount, true)?
            } else {
                amount
            };
            let swap = swap_exact_out(curve, pool.fees(), reserve_in, reserve_out, out).or_err()?;
            let charge = gross_for_net(legs.mint_in, swap.amount_in, false)?;
            require!(charge <= limit, ConvertError::MaximumInExceeded);
            let received = transfer_in(
                legs.token_program_in,
                legs.source,
                legs.mint_in,
                legs.vault_in,
                legs.authority,
                charge,
                legs.decimals_in,
            )?;
            require!(
                received >= swap.amount_in,
                ConvertError::TransferFeeMismatch
            );
            (charge, received, out, swap)
        }
    };
    let before = balance(legs.destination)?;
    transfer_out(
        pool,
        legs.pool_info,
        legs.token_program_out,
        legs.vault_out,
        legs.mint_out,
        legs.destination,
        paid_out,
        legs.decimals_out,
    )?;
    if kind == SwapKind::Hook {
        let arrived = balance(legs.destination)?.safe_sub(before)?;
        require!(arrived == amount, ConvertError::TransferFeeMismatch);
    }
    pool.book_swap(a_to_b, received_in, paid_out, swap.protocol_fee)?;
    let seq = pool.next_seq()?;
    Ok(Swapped {
        header: EventHeader::new(pool.key(), seq, legs.authority.key(), now),
        kind,
        mint_in: legs.mint_in.key(),
        mint_out: legs.mint_out.key(),
        amount_in: debited,
        received_in,
        amount_out: paid_out,
        fee: swap.fee,
        protocol_fee: swap.protocol_fee,
        reserve_a: pool.reserve_a,
        reserve_b: pool.reserve_b,
        amp: curve.amp,
    })
}
