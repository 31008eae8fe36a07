use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The merchant authority sets, rotates or (without an operator account) removes its operator:
/// a key a server holds to open and cancel invoices, capture and void, and nothing else. A new
/// operator co-signs, so the role is never handed to a key nobody holds.
#[event_cpi]
#[derive(Accounts)]
pub struct MerchantOperatorSet<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        has_one = authority @ PaymentsError::NotMerchantAuthority,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    /// The new operator; absent removes the current one.
    pub operator: Option<Signer<'info>>,
}

impl MerchantOperatorSet<'_> {
    pub fn validate(&self) -> Result<()> {
        if let Some(operator) = &self.operator {
            require_keys_neq!(
                operator.key(),
                self.authority.key(),
                PaymentsError::OperatorIsAuthority
            );
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<MerchantOperatorSet>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.authority.key();
    let operator = ctx
        .accounts
        .operator
        .as_ref()
        .map_or(Pubkey::default(), |s| s.key());
    let merchant = &mut ctx.accounts.merchant;
    merchant.operator = operator;
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    let header = EventHeader::new(merchant.key(), seq, actor, now);
    emit_cpi!(MerchantUpdated::snapshot(header, merchant));
    Ok(())
}
