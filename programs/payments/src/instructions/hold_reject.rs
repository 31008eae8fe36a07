use super::settlement::*;
use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The compliance authority rejects a held payment: the escrow goes back to the payer.
#[event_cpi]
#[derive(Accounts)]
pub struct HoldReject<'info> {
    pub compliance_authority: Signer<'info>,
    #[account(
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = compliance_authority @ PaymentsError::NotComplianceAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    pub release: Release<'info>,
}

pub fn handler(ctx: Context<HoldReject>, case_hash: [u8; 32]) -> Result<()> {
    require!(case_hash != [0; 32], PaymentsError::EmptyCaseHash);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let amount = ctx.accounts.release.payment.reject(now)?;
    ctx.accounts
        .release
        .pay_back(amount, ctx.bumps.release.escrow_authority)?;
    let payment = &mut ctx.accounts.release.payment;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentRejected {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
        case_hash,
    });
    Ok(())
}
