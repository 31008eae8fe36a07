use super::{payment_capture::capture, settlement::*};
use crate::error::PaymentsError;
use anchor_lang::prelude::*;

/// Permissionless crank: once the merchant's auto-capture time has come, anyone may capture the
/// whole escrow to the merchant's own destinations.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentAutoCapture<'info> {
    pub cranker: Signer<'info>,
    pub settlement: Settlement<'info>,
}

impl PaymentAutoCapture<'_> {
    pub fn validate(&self) -> Result<()> {
        let s = &self.settlement;
        let now = Clock::get()?.unix_timestamp;
        require!(!s.config.paused, PaymentsError::ProtocolPaused);
        s.validate()?;
        // Due on the authorization's clock: time spent paused does not count.
        let pause_clock = s.config.pause_clock(now)?;
        require!(
            s.payment.auto_capture_due(now, pause_clock)?,
            PaymentsError::AutoCaptureNotDue
        );
        s.payment
            .check_capturable(s.payment.escrowed()?, now, pause_clock)
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<PaymentAutoCapture>) -> Result<()> {
    let actor = ctx.accounts.cranker.key();
    let amount = ctx.accounts.settlement.payment.escrowed()?;
    let event = capture(
        &mut ctx.accounts.settlement,
        ctx.bumps.settlement.escrow_authority,
        amount,
        actor,
        true,
    )?;
    emit_cpi!(event);
    Ok(())
}
