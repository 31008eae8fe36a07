use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The admin gives a merchant its own fee tier (`None` returns it to the protocol default).
#[event_cpi]
#[derive(Accounts)]
pub struct MerchantSetFeeTier<'info> {
    pub admin: Signer<'info>,
    #[account(
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = admin @ PaymentsError::NotAdmin,
    )]
    pub config: Box<Account<'info, Config>>,
    #[account(mut, seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
}

impl MerchantSetFeeTier<'_> {
    pub fn validate(&self, fee_bps: Option<u16>) -> Result<()> {
        require!(
            fee_bps.is_none_or(|bps| bps <= MAX_PROTOCOL_FEE_BPS),
            PaymentsError::FeeAboveCap
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(fee_bps))]
pub fn handler(ctx: Context<MerchantSetFeeTier>, fee_bps: Option<u16>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let merchant = &mut ctx.accounts.merchant;
    merchant.fee_bps = fee_bps;
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    let header = EventHeader::new(merchant.key(), seq, actor, now);
    emit_cpi!(MerchantUpdated::snapshot(header, merchant));
    Ok(())
}
