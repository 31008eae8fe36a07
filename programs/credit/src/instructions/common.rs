//! Token movements of a credit pool: in from a signer, out signed by the pool PDA, and share
//! minting. Pool mints must not carry extensions that move, freeze or tax its tokens.

use crate::{error::CreditError, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{self, MintTo, TransferChecked};

pub fn require_supported_mint(mint: &AccountInfo<'_>) -> Result<()> {
    if kassa_hook_interface::unsafe_mint_extension(mint)?.is_some() {
        return err!(CreditError::UnsupportedMint);
    }
    // Transfer fees would make booked cash differ from what arrived.
    if *mint.owner == anchor_spl::token_2022::ID {
        use anchor_spl::token_2022::spl_token_2022::{
            extension::{
                transfer_fee::TransferFeeConfig, BaseStateWithExtensions, StateWithExtensions,
            },
            state::Mint,
        };
        let data = mint.try_borrow_data()?;
        let state = StateWithExtensions::<Mint>::unpack(&data)?;
        if state.get_extension::<TransferFeeConfig>().is_ok() {
            return err!(CreditError::UnsupportedMint);
        }
    }
    Ok(())
}

pub fn transfer_in<'info>(
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    authority: &AccountInfo<'info>,
    amount: u64,
    decimals: u8,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    token_interface::transfer_checked(
        CpiContext::new(
            token_program.key(),
            TransferChecked {
                from: from.clone(),
                mint: mint.clone(),
                to: to.clone(),
                authority: authority.clone(),
            },
        ),
        amount,
        decimals,
    )
}

/// Moves `amount` out of an account whose authority is the pool PDA.
#[allow(clippy::too_many_arguments)]
pub fn transfer_out<'info>(
    pool: &CreditPool,
    pool_info: &AccountInfo<'info>,
    token_program: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    amount: u64,
) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let seeds: &[&[u8]] = &[POOL_SEED, pool.mint.as_ref(), &[pool.bump]];
    token_interface::transfer_checked(
        CpiContext::new_with_signer(
            token_program.key(),
            TransferChecked {
                from: from.clone(),
                mint: mint.clone(),
                to: to.clone(),
                authority: pool_info.clone(),
            },
            &[seeds],
        ),
        amount,
        pool.decimals,
    )
}

pub fn mint_shares<'info>(
    pool: &CreditPool,
    pool_info: &AccountInfo<'info>,
    token_program: &AccountInfo<'info>,
    share_mint: &AccountInfo<'info>,
    to: &AccountInfo<'info>,
    shares: u64,
) -> Result<()> {
    let seeds: &[&[u8]] = &[POOL_SEED, pool.mint.as_ref(), &[pool.bump]];
    token_interface::mint_to(
        CpiContext::new_with_signer(
            token_program.key(),
            MintTo {
                mint: share_mint.clone(),
                to: to.clone(),
                authority: pool_info.clone(),
            },
            &[seeds],
        ),
        shares,
    )
}

/// Recognises the pool's interest up to `now`; the event to emit when income was shared.
pub fn accrue_pool(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<Option<crate::events::IncomeDistributed>> {
    let Some((income, s)) = pool.accrue(now)? else {
        return Ok(None);
    };
    let seq = pool.next_seq()?;
    Ok(Some(crate::events::IncomeDistributed {
        header: crate::events::EventHeader::new(pool_key, seq, actor, now),
        income,
        protocol_fee: s.protocol,
        admin_fee: s.admin,
        senior: s.senior,
        junior: s.junior,
        senior_value: pool.senior_value,
        junior_value: pool.junior_value,
    }))
}

/// The event of income shared outside accrual (late fees, recoveries, prepaid interest).
pub fn income_event(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
    income: u64,
    s: crate::math::IncomeSplit,
) -> Result<crate::events::IncomeDistributed> {
    let seq = pool.next_seq()?;
    Ok(crate::events::IncomeDistributed {
        header: crate::events::EventHeader::new(pool_key, seq, actor, now),
        income,
        protocol_fee: s.protocol,
        admin_fee: s.admin,
        senior: s.senior,
        junior: s.junior,
        senior_value: pool.senior_value,
        junior_value: pool.junior_value,
    })
}

/// The pool's books as an event (the last one an instruction that changed them emits).
pub fn balances_event(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<crate::events::PoolBalances> {
    let seq = pool.next_seq()?;
    Ok(crate::events::PoolBalances {
        header: crate::events::EventHeader::new(pool_key, seq, actor, now),
        cash: pool.cash,
        principal: pool.principal,
        receivable: crate::math::sub(pool.recognized, pool.received)?,
        senior_value: pool.senior_value,
        junior_value: pool.junior_value,
        protocol_fees: pool.protocol_fees,
        admin_fees: pool.admin_fees,
        impaired_senior: pool.impaired_senior,
        impaired_junior: pool.impaired_junior,
        losses: pool.losses,
        redemption_payable: pool.redemption_payable,
    })
}

pub fn burn_shares<'info>(
    pool: &CreditPool,
    pool_info: &AccountInfo<'info>,
    token_program: &AccountInfo<'info>,
    share_mint: &AccountInfo<'info>,
    from: &AccountInfo<'info>,
    shares: u64,
) -> Result<()> {
    if shares == 0 {
        return Ok(());
    }
    let seeds: &[&[u8]] = &[POOL_SEED, pool.mint.as_ref(), &[pool.bump]];
    token_interface::burn(
        CpiContext::new_with_signer(
            token_program.key(),
            token_interface::Burn {
                mint: share_mint.clone(),
                from: from.clone(),
                authority: pool_info.clone(),
            },
            &[seeds],
        ),
        shares,
    )
}
