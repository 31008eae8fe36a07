use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::create::{write_state, Creator};
use kassa_common::token::TokenMint;

/// A lender queues shares of a tranche for redemption at the current epoch's end; they wait in
/// the tranche's share escrow until served or cancelled. Shares move freely between wallets,
/// so a pool that keeps an allowlist checks it here too: only an allowed lender redeems
/// (audit 11).
#[event_cpi]
#[derive(Accounts)]
#[instruction(tranche: Tranche)]
pub struct RedemptionRequest<'info> {
    #[account(mut)]
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(address = pool.share_mint(tranche), mint::token_program = token_program)]
    pub share_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = share_mint, token::authority = lender)]
    pub lender_shares: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[tranche.seed()]], bump)]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the lender's request in this tranche, created here on the first request
    /// (through `kassa_common::create`, whatever lamports it holds) and read and written by
    /// the handler; the seeds constraint fixes its address.
    #[account(
        mut,
        seeds = [REDEMPTION_SEED, pool.key().as_ref(), &[tranche.seed()], lender.key().as_ref()],
        bump,
    )]
    pub request: UncheckedAccount<'info>,
    /// Required when the pool keeps an allowlist.
    #[account(
        seeds = [ALLOW_SEED, pool.key().as_ref(), lender.key().as_ref()],
        bump = allow.bump,
    )]
    pub allow: Option<Box<Account<'info, AllowlistEntry>>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl RedemptionRequest<'_> {
    pub fn validate(&self, shares: u64) -> Result<()> {
        require!(shares > 0, CreditError::ZeroAmount);
        require!(
            !self.pool.allowlist || self.allow.is_some(),
            CreditError::LenderNotAllowed
        );
        // The lender holds what it queues.
        require!(
            self.lender_shares.amount >= shares,
            CreditError::InsufficientShares
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(shares))]
pub fn handler(ctx: Context<RedemptionRequest>, tranche: Tranche, shares: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let (pool_key, request_bump) = (ctx.accounts.pool.key(), ctx.bumps.request);
    let epoch = ctx.accounts.pool.epoch_id;
    let request_info = ctx.accounts.request.to_account_info();
    let mut request = if request_info.owner == &crate::ID {
        let data = request_info.try_borrow_data()?;
        LenderRedemption::try_deserialize(&mut &data[..])?
    } else {
        let fresh = LenderRedemption {
            pool: pool_key,
            lender,
            tranche,
            shares: 0,
            epoch_id: epoch,
            payable: 0,
            bump: request_bump,
        };
        Creator {
            payer: &ctx.accounts.lender.to_account_info(),
            system_program: &ctx.accounts.system_program.to_account_info(),
        }
        .create_state(
            &request_info,
            8 + LenderRedemption::INIT_SPACE,
            &[
                REDEMPTION_SEED,
                pool_key.as_ref(),
                &[tranche.seed()],
                lender.as_ref(),
                &[request_bump],
            ],
            &fresh,
        )?;
        fresh
    };
    let waiting = request.add(shares, epoch)?;
    write_state(&request_info, &request)?;
    let pool = &mut ctx.accounts.pool;
    let income = accrue(pool, pool_key, lender, now)?;
    let pending = pool.queue_redemption(tranche, shares)?;
    pool.invariant()?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    let seq = pool.next_seq()?;
    emit_cpi!(RedemptionRequested {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        shares,
        waiting,
        pending,
    });
    let balances = balances_event(pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.share_mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_from_signer(
        &a.lender_shares.to_account_info(),
        &a.escrow.to_account_info(),
        &a.lender.to_account_info(),
        shares,
    )
}
