use crate::{
    constants::*, error::PaymentsError, events::*, state::*, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::Mint;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct MerchantRegisterArgs {
    /// Wallet whose token accounts receive captured funds.
    pub settlement_wallet: Pubkey,
    pub policy: MerchantPolicy,
}

/// Registers a merchant in `Pending` KYB state; the merchant id is the registering authority.
#[event_cpi]
#[derive(Accounts)]
pub struct MerchantRegister<'info> {
    #[account(mut)]
    pub authority: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(
        init,
        payer = authority,
        space = 8 + Merchant::INIT_SPACE,
        seeds = [MERCHANT_SEED, authority.key().as_ref()],
        bump,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    pub settlement_mint: InterfaceAccount<'info, Mint>,
    pub system_program: Program<'info, System>,
}

impl MerchantRegister<'_> {
    pub fn validate(&self, args: &MerchantRegisterArgs) -> Result<()> {
        require!(!self.config.paused, PaymentsError::ProtocolPaused);
        // Escrow must be able to hold the settlement mint safely.
        require_supported_mint(&self.settlement_mint.to_account_info())?;
        args.policy.validate()
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<MerchantRegister>, args: MerchantRegisterArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let authority = ctx.accounts.authority.key();
    let merchant = &mut ctx.accounts.merchant;
    merchant.set_inner(Merchant {
        authority,
        merchant_id: authority,
        settlement_mint: ctx.accounts.settlement_mint.key(),
        settlement_wallet: args.settlement_wallet,
        kyb_status: KybStatus::Pending,
        kyb_case_hash: [0; 32],
        kyb_updated_at: now,
        policy: args.policy,
        fee_bps: None,
        seq: 0,
        bump: ctx.bumps.merchant,
        reserved: [0; 64],
    });
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    let header = EventHeader::new(merchant.key(), seq, authority, now);
    emit_cpi!(MerchantRegistered {
        header,
        authority,
        merchant_id: merchant.merchant_id,
        settlement_mint: merchant.settlement_mint,
        settlement_wallet: merchant.settlement_wallet,
        policy: merchant.policy,
    });
    Ok(())
}
