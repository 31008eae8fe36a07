use crate::{constants::*, events::*, state::*};
use anchor_lang::prelude::*;

/// The merchant (its authority or its operator) withdraws an unpaid invoice.
#[event_cpi]
#[derive(Accounts)]
pub struct InvoiceCancel<'info> {
    /// The merchant authority or its operator.
    pub signer: Signer<'info>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant)]
    pub payment: Box<Account<'info, Payment>>,
}

impl InvoiceCancel<'_> {
    pub fn validate(&self) -> Result<()> {
        self.merchant.require_operator(&self.signer.key())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<InvoiceCancel>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
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
