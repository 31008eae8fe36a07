use super::settlement::*;
use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The merchant (its authority or its operator) returns whatever is still escrowed to the payer.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentVoid<'info> {
    /// The merchant authority or its operator.
    pub signer: Signer<'info>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    pub release: Release<'info>,
}

impl PaymentVoid<'_> {
    pub fn validate(&self) -> Result<()> {
        self.merchant.require_operator(&self.signer.key())?;
        // The payment must belong to the merchant whose key signed.
        require_keys_eq!(
            self.release.payment.merchant,
            self.merchant.key(),
            PaymentsError::NotMerchantOperator
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<PaymentVoid>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    let amount = ctx.accounts.release.payment.void(now)?;
    ctx.accounts
        .release
        .pay_back(amount, ctx.bumps.release.escrow_authority)?;
    let payment = &mut ctx.accounts.release.payment;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentVoided {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
    });
    Ok(())
}
