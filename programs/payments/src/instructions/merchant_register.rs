use crate::{
    constants::*, error::PaymentsError, events::*, state::*, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::Mint;
use kassa_common::create::Creator;

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
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [MERCHANT_SEED, authority.key().as_ref()], bump)]
    pub merchant: UncheckedAccount<'info>,
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
    let merchant_key = ctx.accounts.merchant.key();
    let mut merchant = Merchant {
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
        operator: Pubkey::default(),
        reserved: [0; 32],
    };
    merchant.invariant()?;
    let seq = merchant.next_seq()?;
    Creator {
        payer: &ctx.accounts.authority.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.merchant.to_account_info(),
        8 + Merchant::INIT_SPACE,
        &[MERCHANT_SEED, authority.as_ref(), &[merchant.bump]],
        &merchant,
    )?;
    let header = EventHeader::new(merchant_key, seq, authority, now);
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
