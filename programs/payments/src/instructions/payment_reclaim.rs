use super::settlement::*;
use crate::{constants::*, error::PaymentsError, events::*, state::Config};
use anchor_lang::prelude::*;

/// The payer takes the escrow back once the authorization has expired uncaptured. Time the
/// protocol spent paused (when the merchant could not capture) does not count.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentReclaim<'info> {
    pub payer: Signer<'info>,
    /// Read for its pause clock.
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    pub release: Release<'info>,
}

impl PaymentReclaim<'_> {
    pub fn validate(&self) -> Result<()> {
        require_keys_eq!(
            self.release.payment.payer,
            self.payer.key(),
            PaymentsError::NotPayer
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<PaymentReclaim>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.payer.key();
    let pause_clock = ctx.accounts.config.pause_clock(now)?;
    let amount = ctx.accounts.release.payment.reclaim(now, pause_clock)?;
    ctx.accounts
        .release
        .pay_back(amount, ctx.bumps.release.escrow_authority)?;
    let payment = &mut ctx.accounts.release.payment;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentReclaimed {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
    });
    Ok(())
}
