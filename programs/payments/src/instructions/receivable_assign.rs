use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

/// The merchant assigns the proceeds of an authorized payment, up to `amount`, to a token
/// account (a credit pool's vault): captures pay it first. One assignment per payment. The
/// credit program calls this through CPI with the merchant's signature.
#[event_cpi]
#[derive(Accounts)]
pub struct ReceivableAssign<'info> {
    pub authority: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        has_one = authority @ PaymentsError::NotMerchantAuthority,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(constraint = assignee.mint == payment.mint @ PaymentsError::MintMismatch)]
    pub assignee: Box<InterfaceAccount<'info, TokenAccount>>,
}

impl ReceivableAssign<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(!self.config.paused, PaymentsError::ProtocolPaused);
        // Captures (and dispute resolutions) must pay the assignee; an escrow-owned account
        // could never be a real payout and would block them.
        let escrow = Pubkey::find_program_address(&[ESCROW_SEED], &crate::ID).0;
        require!(
            self.assignee.owner != escrow,
            PaymentsError::DestinationIsEscrow
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<ReceivableAssign>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.authority.key();
    let assignee = ctx.accounts.assignee.key();
    let fee_bps = ctx
        .accounts
        .merchant
        .effective_fee_bps(ctx.accounts.config.protocol_fee_bps);
    let payment = &mut ctx.accounts.payment;
    payment.assign(assignee, amount, fee_bps)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(ReceivableAssigned {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        assignee,
        amount,
    });
    Ok(())
}
