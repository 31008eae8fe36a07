use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The compliance authority records a KYB decision: `Approved` by `merchant_kyb_attest`,
/// `Suspended` by `merchant_kyb_suspend`. Only the hash of the off-chain case goes on chain.
#[event_cpi]
#[derive(Accounts)]
pub struct MerchantKyb<'info> {
    pub compliance_authority: Signer<'info>,
    #[account(
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = compliance_authority @ PaymentsError::NotComplianceAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    #[account(mut, seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
}

impl MerchantKyb<'_> {
    pub fn validate(&self, case_hash: &[u8; 32]) -> Result<()> {
        // A decision without a case behind it cannot be audited.
        require!(*case_hash != [0; 32], PaymentsError::EmptyCaseHash);
        Ok(())
    }
}

/// Sets the KYB status and emits `MerchantKybChanged`.
pub fn set_kyb(ctx: Context<MerchantKyb>, status: KybStatus, case_hash: [u8; 32]) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let merchant = &mut ctx.accounts.merchant;
    merchant.kyb_status = status;
    merchant.kyb_case_hash = case_hash;
    merchant.kyb_updated_at = now;
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    let header = EventHeader::new(merchant.key(), seq, actor, now);
    emit_cpi!(MerchantKybChanged {
        header,
        status,
        case_hash,
    });
    Ok(())
}

#[access_control(ctx.accounts.validate(&case_hash))]
pub fn handler(ctx: Context<MerchantKyb>, case_hash: [u8; 32]) -> Result<()> {
    set_kyb(ctx, KybStatus::Approved, case_hash)
}
