use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The compliance authority freezes an authorized payment's escrow pending review; `case_hash`
/// names the off-chain case.
#[event_cpi]
#[derive(Accounts)]
pub struct ComplianceHold<'info> {
    pub compliance_authority: Signer<'info>,
    #[account(
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = compliance_authority @ PaymentsError::NotComplianceAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    #[account(mut)]
    pub payment: Box<Account<'info, Payment>>,
}

pub fn handler(ctx: Context<ComplianceHold>, case_hash: [u8; 32]) -> Result<()> {
    require!(case_hash != [0; 32], PaymentsError::EmptyCaseHash);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let payment = &mut ctx.accounts.payment;
    let amount = payment.hold(now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentHeld {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
        case_hash,
    });
    Ok(())
}
