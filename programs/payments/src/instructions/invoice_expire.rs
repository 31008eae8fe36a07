use crate::{events::*, state::*};
use anchor_lang::prelude::*;

/// Permissionless crank: marks an unpaid invoice past its expiry as expired.
#[event_cpi]
#[derive(Accounts)]
pub struct InvoiceExpire<'info> {
    pub cranker: Signer<'info>,
    #[account(mut)]
    pub payment: Box<Account<'info, Payment>>,
}

pub fn handler(ctx: Context<InvoiceExpire>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.cranker.key();
    let payment = &mut ctx.accounts.payment;
    payment.end_unpaid(PaymentStatus::Expired, now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(InvoiceExpired {
        header,
        merchant: payment.merchant,
    });
    Ok(())
}
