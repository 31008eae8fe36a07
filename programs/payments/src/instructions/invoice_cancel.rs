use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The merchant withdraws an unpaid invoice.
#[event_cpi]
#[derive(Accounts)]
pub struct InvoiceCancel<'info> {
    pub authority: Signer<'info>,
    #[account(
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        has_one = authority @ PaymentsError::NotMerchantAuthority,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant)]
    pub payment: Box<Account<'info, Payment>>,
}

pub fn handler(ctx: Context<InvoiceCancel>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.authority.key();
    let payment = &mut ctx.accounts.payment;
    payment.end_unpaid(PaymentStatus::Cancelled, now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(InvoiceCancelled {
        header,
        merchant: payment.merchant,
    });
    Ok(())
}
