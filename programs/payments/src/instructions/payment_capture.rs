use super::settlement::*;
use crate::{error::PaymentsError, events::*};
use anchor_lang::prelude::*;

/// The merchant (its authority or its operator) captures part or all of the escrow, always to
/// the settlement wallet; repeatable until nothing is escrowed.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentCapture<'info> {
    /// The merchant authority or its operator.
    pub signer: Signer<'info>,
    pub settlement: Settlement<'info>,
}

impl PaymentCapture<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        let s = &self.settlement;
        require!(!s.config.paused, PaymentsError::ProtocolPaused);
        s.merchant.require_operator(&self.signer.key())?;
        s.validate()?;
        let now = Clock::get()?.unix_timestamp;
        s.payment
            .check_capturable(amount, now, s.config.pause_clock(now)?)
    }
}

#[access_control(ctx.accounts.validate(amount))]
pub fn handler(ctx: Context<PaymentCapture>, amount: u64) -> Result<()> {
    let actor = ctx.accounts.signer.key();
    let event = capture(
        &mut ctx.accounts.settlement,
        ctx.bumps.settlement.escrow_authority,
        amount,
        actor,
        false,
    )?;
    emit_cpi!(event);
    Ok(())
}

/// Pays `amount` out of escrow and books it; returns the event to emit.
pub(crate) fn capture(
    s: &mut Settlement<'_>,
    escrow_bump: u8,
    amount: u64,
    actor: Pubkey,
    auto: bool,
) -> Result<PaymentCaptured> {
    let now = Clock::get()?.unix_timestamp;
    let split = s.pay_out(amount, escrow_bump)?;
    let pause_clock = s.config.pause_clock(now)?;
    let payment = &mut s.payment;
    payment.capture(amount, split.to_assignee, now, pause_clock)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    Ok(PaymentCaptured {
        header: EventHeader::new(payment.key(), seq, actor, now),
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
        fee: split.fee,
        to_assignee: split.to_assignee,
        to_merchant: split.to_merchant,
        captured_total: payment.captured,
        auto,
    })
}
