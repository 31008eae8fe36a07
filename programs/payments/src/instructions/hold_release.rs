use super::hold_place::ComplianceHold;
use crate::events::*;
use anchor_lang::prelude::*;

/// The compliance authority lifts its hold; the payment is authorized again.
pub fn handler(ctx: Context<ComplianceHold>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let payment = &mut ctx.accounts.payment;
    payment.release_hold(now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentReleased {
        header,
        merchant: payment.merchant,
    });
    Ok(())
}
