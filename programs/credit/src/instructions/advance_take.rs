use super::books::*;
use crate::{constants::*, error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::{create::Creator, token::TokenMint};
use kassa_payments::{
    constants::{CONFIG_SEED, MERCHANT_SEED},
    program::KassaPayments,
    state::{Config as PaymentsConfig, Merchant, Payment, PaymentStatus},
};

/// A merchant with a receivable line takes an advance on one of its authorized payments. The
/// payments program assigns the payment's capture proceeds (up to the advance) to a token
/// account of the advance, owned by the pool, so captures repay the pool first.
///
/// Only a receivable that can repay is accepted (audit 5): an approved merchant, a payment
/// paid by someone other than the merchant, past its dispute window, and with at least
/// [`MIN_ADVANCE_AUTHORIZATION_LEFT`] left to capture it. Once assigned, the merchant cannot
/// void the payment.
#[event_cpi]
#[derive(Accounts)]
pub struct AdvanceTake<'info> {
    /// The merchant's authority, which is the line's borrower.
    #[account(mut)]
    pub borrower: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        has_one = borrower @ CreditError::NotBorrower,
        seeds = [LINE_SEED, pool.key().as_ref(), borrower.key().as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [ADVANCE_SEED, payment.key().as_ref()], bump)]
    pub advance: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [ADVANCE_VAULT_SEED, payment.key().as_ref()], bump)]
    pub advance_vault: UncheckedAccount<'info>,
    #[account(mut)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        seeds::program = kassa_payments::ID,
        constraint = merchant.key() == line.merchant @ CreditError::MerchantMismatch,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    /// The payments config: its pause clock dates the payment's authorization.
    #[account(seeds = [CONFIG_SEED], bump = payments_config.bump, seeds::program = kassa_payments::ID)]
    pub payments_config: Box<Account<'info, PaymentsConfig>>,
    /// CHECK: the payments program's event authority; the payments program checks it.
    #[account(seeds = [b"__event_authority"], bump, seeds::program = kassa_payments::ID)]
    pub payments_event_authority: UncheckedAccount<'info>,
    pub payments_program: Program<'info, KassaPayments>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl AdvanceTake<'_> {
    pub fn validate(&self, amount: u64, now: i64) -> Result<()> {
        require!(amount > 0, CreditError::ZeroAmount);
        // The line: receivable-backed.
        require!(
            self.line.kind == LineKind::Receivable,
            CreditError::NotReceivableLine
        );
        // The payment: the line merchant's, in the pool's mint, authorized and unassigned.
        require_keys_eq!(
            self.payment.merchant,
            self.line.merchant,
            CreditError::ForeignPayment
        );
        require_keys_eq!(self.payment.mint, self.pool.mint, CreditError::MintMismatch);
        require!(
            self.payment.status == PaymentStatus::Authorized,
            CreditError::PaymentNotAuthorized
        );
        require!(
            self.payment.assignee == Pubkey::default(),
            CreditError::ReceivableAlreadyAssigned
        );
        // The receivable must be able to repay: a merchant allowed to transact, a real customer,
        // no dispute left to claw it back, and time left to capture it.
        require!(
            self.merchant.can_transact(),
            CreditError::MerchantNotApproved
        );
        let payer = self.payment.payer;
        require!(
            payer != self.merchant.authority
                && payer != self.merchant.settlement_wallet
                && payer != self.merchant.operator,
            CreditError::SelfPaidPayment
        );
        require!(
            now > self.payment.dispute_deadline,
            CreditError::PaymentDisputable
        );
        let clock = self
            .payment
            .authorization_clock(now, self.payments_config.pause_clock(now)?)?;
        require!(
            self.payment.authorization_expires_at.saturating_sub(clock)
                >= MIN_ADVANCE_AUTHORIZATION_LEFT,
            CreditError::AuthorizationEndingSoon
        );
        // The amount: within the line's advance rate of what is escrowed.
        let escrowed = self.payment.escrowed()?;
        require!(
            amount <= mul_div_floor(escrowed, u64::from(self.line.advance_rate_bps), BPS)?,
            CreditError::AdvanceAboveRate
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(amount, Clock::get()?.unix_timestamp))]
pub fn handler(ctx: Context<AdvanceTake>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.borrower.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let payment_key = ctx.accounts.payment.key();
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    let principal = pool.lend(line, amount, now)?;
    check(pool, line)?;
    let vault_key = ctx.accounts.advance_vault.key();
    let advance_key = ctx.accounts.advance.key();
    let mut advance = Advance {
        pool: pool_key,
        line: line_key,
        payment: payment_key,
        vault: vault_key,
        amount,
        arrived: 0,
        settled: false,
        seq: 0,
        bump: ctx.bumps.advance,
        vault_bump: ctx.bumps.advance_vault,
    };
    let advance_seq = advance.next_seq()?;
    let a = &ctx.accounts;
    let create = Creator {
        payer: &a.borrower.to_account_info(),
        system_program: &a.system_program.to_account_info(),
    };
    create.create_state(
        &a.advance.to_account_info(),
        8 + Advance::INIT_SPACE,
        &[ADVANCE_SEED, payment_key.as_ref(), &[advance.bump]],
        &advance,
    )?;
    create.create_token_account(
        &a.advance_vault.to_account_info(),
        &[
            ADVANCE_VAULT_SEED,
            payment_key.as_ref(),
            &[advance.vault_bump],
        ],
        &a.mint.to_account_info(),
        &a.pool.to_account_info(),
        &a.token_program.to_account_info(),
    )?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    let seq = ctx.accounts.line.next_seq()?;
    emit_cpi!(Drawn {
        header: EventHeader::new(line_key, seq, actor, now),
        amount,
        principal,
    });
    emit_cpi!(AdvanceTaken {
        header: EventHeader::new(advance_key, advance_seq, actor, now),
        line: line_key,
        payment: payment_key,
        vault: vault_key,
        amount,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);

    // Captures of the payment now pay the advance's account first, up to the advance.
    let a = &ctx.accounts;
    kassa_payments::cpi::receivable_assign(
        CpiContext::new(
            a.payments_program.key(),
            kassa_payments::cpi::accounts::ReceivableAssign {
                authority: a.borrower.to_account_info(),
                config: a.payments_config.to_account_info(),
                merchant: a.merchant.to_account_info(),
                payment: a.payment.to_account_info(),
                assignee: a.advance_vault.to_account_info(),
                event_authority: a.payments_event_authority.to_account_info(),
                program: a.payments_program.to_account_info(),
            },
        ),
        amount,
    )?;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_signed(
        &a.vault.to_account_info(),
        &a.destination.to_account_info(),
        &a.pool.to_account_info(),
        &a.pool.seeds(),
        amount,
    )
}
