use crate::{
    constants::*, error::PaymentsError, events::*, state::*, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::{token::TokenMint, SafeMath};

/// The payer authorizes: funds move from the payer into escrow, exactly once per payment.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentPay<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant, has_one = mint @ PaymentsError::MintMismatch)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = payer,
        token::token_program = token_program,
    )]
    pub payer_token: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        seeds = [VAULT_SEED, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::token_program = token_program,
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the payer's blocklist PDA (seeds checked); the payer is blocked when it holds a
    /// `BlocklistEntry` owned by this program, checked in `validate`.
    #[account(seeds = [BLOCKLIST_SEED, payer.key().as_ref()], bump)]
    pub payer_blocklist_entry: UncheckedAccount<'info>,
    /// The compliance authority's co-signature after KYT screening; required when the merchant
    /// asks for it.
    pub kyt_authority: Option<Signer<'info>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl PaymentPay<'_> {
    pub fn validate(&self) -> Result<()> {
        check_payer_may_pay(
            &self.config,
            &self.merchant,
            &self.payer_blocklist_entry,
            self.kyt_authority.as_ref(),
        )?;
        // The mint's fee may have been raised since the vault opened (audit 9).
        require_supported_mint(&self.mint.to_account_info())
    }
}

/// The gates every way of paying shares: protocol live, merchant verified, payer not blocked,
/// KYT co-signature present when the merchant requires it (and only from compliance).
pub fn check_payer_may_pay(
    config: &Config,
    merchant: &Merchant,
    blocklist_entry: &AccountInfo<'_>,
    kyt_authority: Option<&Signer<'_>>,
) -> Result<()> {
    require!(!config.paused, PaymentsError::ProtocolPaused);
    require!(merchant.can_transact(), PaymentsError::MerchantNotApproved);
    require!(
        *blocklist_entry.owner != crate::ID || blocklist_entry.data_is_empty(),
        PaymentsError::PayerBlocked
    );
    if let Some(kyt) = kyt_authority {
        require_keys_eq!(
            kyt.key(),
            config.compliance_authority,
            PaymentsError::NotComplianceAuthority
        );
    }
    require!(
        !merchant.policy.require_kyt || kyt_authority.is_some(),
        PaymentsError::KytSignatureRequired
    );
    Ok(())
}

/// Fails before any token moves unless the invoice can still be paid.
pub fn check_payable(payment: &Payment, now: i64) -> Result<()> {
    if payment.status != PaymentStatus::Open {
        return if payment.authorized > 0 {
            err!(PaymentsError::AlreadyPaid)
        } else {
            err!(PaymentsError::PaymentNotOpen)
        };
    }
    require!(now < payment.expires_at, PaymentsError::InvoiceExpired);
    Ok(())
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<PaymentPay>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    // Checked before the transfer so an expired or settled invoice moves nothing.
    check_payable(&a.payment, now)?;
    let requested = a.payment.amount;
    let before = a.vault.amount;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.mint.decimals,
    }
    .transfer_from_signer(
        &a.payer_token.to_account_info(),
        &a.vault.to_account_info(),
        &a.payer.to_account_info(),
        requested,
    )?;
    // Book what the vault actually received: a Token-2022 transfer fee is withheld from it.
    ctx.accounts.vault.reload()?;
    let received = ctx.accounts.vault.amount.safe_sub(before)?;

    let payer = ctx.accounts.payer.key();
    let policy = ctx.accounts.merchant.policy;
    let pause_clock = ctx.accounts.config.pause_clock(now)?;
    let kyt_cosigned = ctx.accounts.kyt_authority.is_some();
    let payment = &mut ctx.accounts.payment;
    payment.authorize(payer, received, &policy, now, pause_clock)?;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, payer, now);
    emit_cpi!(PaymentAuthorized {
        header,
        merchant: payment.merchant,
        payer,
        mint: payment.mint,
        requested,
        received,
        authorization_expires_at: payment.authorization_expires_at,
        refund_deadline: payment.refund_deadline,
        dispute_deadline: payment.dispute_deadline,
        auto_capture_at: payment.auto_capture_at,
        kyt_cosigned,
    });
    Ok(())
}
