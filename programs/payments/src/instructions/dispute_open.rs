use crate::{error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The payer disputes an authorized payment before the dispute deadline, freezing what is still
/// escrowed until the arbiter resolves it.
#[event_cpi]
#[derive(Accounts)]
pub struct DisputeOpen<'info> {
    pub payer: Signer<'info>,
    #[account(mut, has_one = payer @ PaymentsError::NotPayer)]
    pub payment: Box<Account<'info, Payment>>,
}

pub fn handler(ctx: Context<DisputeOpen>, reason_hash: [u8; 32]) -> Result<()> {
    // The claim behind a dispute must be identifiable off chain.
    require!(reason_hash != [0; 32], PaymentsError::EmptyCaseHash);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.payer.key();
    let payment = &mut ctx.accounts.payment;
    let amount = payment.dispute(now)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentDisputed {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
        reason_hash,
    });
    Ok(())
}
