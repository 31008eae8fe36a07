use super::payment_pay::{check_payable, check_payer_may_pay};
use crate::{
    constants::*, error::PaymentsError, events::*, state::*, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::SafeMath;
use kassa_hook_interface::{invoke_buy_exact_out, BuyExactOutArgs, FIXED_ACCOUNTS};

/// The payer pays an invoice in another token: a registered conversion hook buys exactly the
/// invoiced amount into escrow, spending at most `max_in` of the payer's token. The program
/// measures both sides itself and never trusts the hook's word.
///
/// Remaining accounts: the hook's account list in the interface's order (pool, vault in,
/// vault out, payer source, destination = escrow vault, payer, mint in, mint out, token
/// program in, token program out), then any extras the hook needs.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentPayWithConversion<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant, has_one = mint @ PaymentsError::MintMismatch)]
    pub payment: Box<Account<'info, Payment>>,
    /// The invoice's mint (the hook's output).
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [VAULT_SEED, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::token_program = token_program,
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The payer's token account of the input mint.
    #[account(mut, token::authority = payer)]
    pub payer_source: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the payer's blocklist PDA (seeds checked), checked in `validate`.
    #[account(seeds = [BLOCKLIST_SEED, payer.key().as_ref()], bump)]
    pub payer_blocklist_entry: UncheckedAccount<'info>,
    pub kyt_authority: Option<Signer<'info>>,
    /// CHECK: must be one of the hooks registered in `Config` (checked in `validate`); it is
    /// only ever invoked with the fixed interface instruction.
    pub hook_program: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl PaymentPayWithConversion<'_> {
    pub fn validate(&self, remaining: &[AccountInfo<'_>], max_in: u64) -> Result<()> {
        check_payer_may_pay(
            &self.config,
            &self.merchant,
            &self.payer_blocklist_entry,
            self.kyt_authority.as_ref(),
        )?;
        // The escrow mint's fee may have been raised since the vault opened (audit 9).
        require_supported_mint(&self.mint.to_account_info())?;
        require!(max_in > 0, PaymentsError::ZeroAmount);
        // No arbitrary CPI: only registered hook programs are called.
        require!(
            self.config
                .registered_hooks()
                .contains(&self.hook_program.key()),
            PaymentsError::HookNotRegistered
        );
        // The hook's accounts must route the payer's own tokens into this payment's escrow.
        require!(
            remaining.len() >= FIXED_ACCOUNTS,
            PaymentsError::HookAccountsMismatch
        );
        let key = |i: usize| remaining[i].key();
        let routed = key(3) == self.payer_source.key()
            && key(4) == self.vault.key()
            && key(5) == self.payer.key()
            && key(6) == self.payer_source.mint
            && key(7) == self.mint.key();
        require!(routed, PaymentsError::HookAccountsMismatch);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(ctx.remaining_accounts, max_in))]
pub fn handler<'info>(
    ctx: Context<'info, PaymentPayWithConversion<'info>>,
    max_in: u64,
) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    check_payable(&ctx.accounts.payment, now)?;
    let amount = ctx.accounts.payment.amount;
    let vault_before = ctx.accounts.vault.amount;
    let source_before = ctx.accounts.payer_source.amount;
    // The hook holds the payer's signature during the call: whatever it does, the payer's
    // account must come back with the same owner, delegate and close authority.
    let authorities =
        |a: &TokenAccount| (a.owner, a.delegate, a.delegated_amount, a.close_authority);
    let authorities_before = authorities(&ctx.accounts.payer_source);

    invoke_buy_exact_out(
        &ctx.accounts.hook_program.to_account_info(),
        ctx.remaining_accounts,
        BuyExactOutArgs {
            amount_out: amount,
            max_in,
        },
    )?;

    // Measure, never trust: fresh balances, and a fresh payment in case anything touched it.
    ctx.accounts.vault.reload()?;
    ctx.accounts.payer_source.reload()?;
    ctx.accounts.payment.reload()?;
    check_payable(&ctx.accounts.payment, now)?;
    let received = ctx.accounts.vault.amount.safe_sub(vault_before)?;
    let spent = source_before.safe_sub(ctx.accounts.payer_source.amount)?;
    require!(
        authorities(&ctx.accounts.payer_source) == authorities_before,
        PaymentsError::PayerAccountTampered
    );
    require!(received == amount, PaymentsError::ConversionShortfall);
    require!(spent <= max_in, PaymentsError::ConversionOverspent);

    let payer = ctx.accounts.payer.key();
    let policy = ctx.accounts.merchant.policy;
    let pause_clock = ctx.accounts.config.pause_clock(now)?;
    let kyt_cosigned = ctx.accounts.kyt_authority.is_some();
    let input_mint = ctx.accounts.payer_source.mint;
    let hook = ctx.accounts.hook_program.key();
    let pool = ctx.remaining_accounts[0].key();
    let payment = &mut ctx.accounts.payment;
    payment.authorize(payer, received, &policy, now, pause_clock)?;
    payment.invariant()?;
    let merchant = payment.merchant;
    let output_mint = payment.mint;
    let seq = payment.next_seq()?;
    emit_cpi!(PaymentConverted {
        header: EventHeader::new(payment.key(), seq, payer, now),
        merchant,
        input_mint,
        input_amount: spent,
        output_mint,
        output_amount: received,
        hook,
        pool,
    });
    let payment = &mut ctx.accounts.payment;
    let seq = payment.next_seq()?;
    emit_cpi!(PaymentAuthorized {
        header: EventHeader::new(payment.key(), seq, payer, now),
        merchant,
        payer,
        mint: output_mint,
        requested: amount,
        received,
        authorization_expires_at: payment.authorization_expires_at,
        refund_deadline: payment.refund_deadline,
        dispute_deadline: payment.dispute_deadline,
        auto_capture_at: payment.auto_capture_at,
        kyt_cosigned,
    });
    Ok(())
}
