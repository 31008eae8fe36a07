use super::settlement::*;
use crate::{error::PaymentsError, events::*, state::Payment, token::EscrowOut};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

/// The arbiter splits the disputed escrow in any proportion: the merchant's share settles like a
/// capture (fee, assignee, merchant), the payer's share goes back to the payer.
#[event_cpi]
#[derive(Accounts)]
pub struct DisputeResolve<'info> {
    pub arbiter: Signer<'info>,
    pub settlement: Settlement<'info>,
    #[account(
        mut,
        token::mint = settlement.mint,
        token::authority = settlement.payment.payer,
        token::token_program = settlement.token_program,
    )]
    pub payer_destination: Box<InterfaceAccount<'info, TokenAccount>>,
}

impl DisputeResolve<'_> {
    pub fn validate(&self, to_merchant: u64, to_payer: u64) -> Result<()> {
        let s = &self.settlement;
        require_keys_eq!(
            self.arbiter.key(),
            s.config.arbiter,
            PaymentsError::NotArbiter
        );
        s.validate()?;
        let payment: &Payment = &s.payment;
        require!(
            payment.status == crate::state::PaymentStatus::Disputed,
            PaymentsError::PaymentNotDisputed
        );
        require!(
            to_merchant.checked_add(to_payer) == Some(payment.escrowed()?),
            PaymentsError::SplitMismatch
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(to_merchant, to_payer))]
pub fn handler(ctx: Context<DisputeResolve>, to_merchant: u64, to_payer: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.arbiter.key();
    let bump = ctx.bumps.settlement.escrow_authority;
    let s = &ctx.accounts.settlement;
    let split = s.pay_out(to_merchant, bump)?;
    EscrowOut {
        token_program: &s.token_program.to_account_info(),
        vault: &s.vault.to_account_info(),
        mint: &s.mint.to_account_info(),
        escrow_authority: &s.escrow_authority.to_account_info(),
        escrow_bump: bump,
        decimals: s.mint.decimals,
    }
    .pay(&ctx.accounts.payer_destination.to_account_info(), to_payer)?;
    let payment = &mut ctx.accounts.settlement.payment;
    payment.resolve(to_merchant, to_payer, now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(DisputeResolved {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        to_merchant_gross: to_merchant,
        fee: split.fee,
        to_assignee: split.to_assignee,
        to_merchant: split.to_merchant,
        to_payer,
    });
    Ok(())
}
