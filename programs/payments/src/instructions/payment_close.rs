use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// Permissionless: closes a settled payment and returns its rent to the merchant key that paid
/// it when opening the invoice (the authority, or the operator: see
/// [`Merchant::rent_receiver`]). Closing frees the order id for reuse.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentClose<'info> {
    pub cranker: Signer<'info>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant, close = rent_receiver)]
    pub payment: Box<Account<'info, Payment>>,
    /// CHECK: only receives lamports; must be `merchant.rent_receiver(..)` (checked in `validate`).
    #[account(mut)]
    pub rent_receiver: UncheckedAccount<'info>,
}

impl PaymentClose<'_> {
    pub fn validate(&self) -> Result<()> {
        require_keys_eq!(
            self.rent_receiver.key(),
            self.merchant.rent_receiver(self.payment.opened_by_operator),
            PaymentsError::RentReceiverMismatch
        );
        require!(
            self.payment.is_closable(Clock::get()?.unix_timestamp)?,
            PaymentsError::PaymentNotClosable
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<PaymentClose>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.cranker.key();
    let rent_receiver = ctx.accounts.rent_receiver.key();
    let payment = &mut ctx.accounts.payment;
    let lamports = payment.to_account_info().lamports();
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    let merchant = payment.merchant;
    emit_cpi!(PaymentClosed {
        header,
        merchant,
        rent_receiver,
        lamports,
    });
    Ok(())
}
