use crate::{
    constants::*, error::PaymentsError, events::*, state::*, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::Mint;

/// `None` leaves a setting unchanged. Payments already authorized keep the policy they were
/// authorized under; only new payments see a new policy.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct MerchantUpdateArgs {
    pub settlement_wallet: Option<Pubkey>,
    pub policy: Option<MerchantPolicy>,
}

/// The merchant authority changes its profile. A new authority must co-sign (no hand-over to a
/// key nobody holds); a new settlement mint is passed as an account so its extensions are checked.
#[event_cpi]
#[derive(Accounts)]
pub struct MerchantUpdate<'info> {
    pub authority: Signer<'info>,
    #[account(
        mut,
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        has_one = authority @ PaymentsError::NotMerchantAuthority,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    pub new_authority: Option<Signer<'info>>,
    pub new_settlement_mint: Option<InterfaceAccount<'info, Mint>>,
}

impl MerchantUpdate<'_> {
    pub fn validate(&self, args: &MerchantUpdateArgs) -> Result<()> {
        if let Some(policy) = &args.policy {
            policy.validate()?;
        }
        if let Some(new) = &self.new_authority {
            require_keys_neq!(
                new.key(),
                self.merchant.operator,
                PaymentsError::OperatorIsAuthority
            );
        }
        if let Some(mint) = &self.new_settlement_mint {
            require_supported_mint(&mint.to_account_info())?;
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<MerchantUpdate>, args: MerchantUpdateArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.authority.key();
    let new_authority = ctx.accounts.new_authority.as_ref().map(|s| s.key());
    let new_mint = ctx.accounts.new_settlement_mint.as_ref().map(|m| m.key());
    let merchant = &mut ctx.accounts.merchant;
    if let Some(key) = new_authority {
        merchant.authority = key;
    }
    if let Some(mint) = new_mint {
        merchant.settlement_mint = mint;
    }
    if let Some(wallet) = args.settlement_wallet {
        merchant.settlement_wallet = wallet;
    }
    if let Some(policy) = args.policy {
        merchant.policy = policy;
    }
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    let header = EventHeader::new(merchant.key(), seq, actor, now);
    emit_cpi!(MerchantUpdated::snapshot(header, merchant));
    Ok(())
}
