use crate::{constants::*, error::CreditError, events::*, math::BPS, state::*};
use anchor_lang::prelude::*;
use kassa_common::create::Creator;
use kassa_payments::state::Merchant;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct LineApproveArgs {
    pub kind: LineKind,
    /// Most principal outstanding at once, base units of the pool's mint.
    pub limit: u64,
    pub apr_bps: u16,
    /// Late-fee APR on principal while delayed or defaulted, bps.
    pub late_apr_bps: u16,
    /// Share of a payment's escrow that can be advanced (receivable lines), bps.
    pub advance_rate_bps: u16,
    pub maturity: i64,
    /// Accrued interest is due every this many seconds.
    pub payment_interval: i64,
    pub grace_seconds: i64,
}

/// The underwriter approves a credit line for a borrower (for a receivable line, the
/// merchant's authority, with the merchant account named).
#[event_cpi]
#[derive(Accounts)]
pub struct LineApprove<'info> {
    #[account(mut)]
    pub underwriter: Signer<'info>,
    #[account(has_one = underwriter @ CreditError::NotUnderwriter)]
    pub pool: Box<Account<'info, CreditPool>>,
    /// CHECK: the borrower's wallet (for a receivable line, checked against the merchant's
    /// authority in `validate`).
    pub borrower: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [LINE_SEED, pool.key().as_ref(), borrower.key().as_ref()], bump)]
    pub line: UncheckedAccount<'info>,
    /// The payments program's merchant, for a receivable-backed line.
    pub merchant: Option<Box<Account<'info, Merchant>>>,
    pub system_program: Program<'info, System>,
}

impl LineApprove<'_> {
    pub fn validate(&self, args: &LineApproveArgs) -> Result<()> {
        let now = Clock::get()?.unix_timestamp;
        require!(!self.pool.paused, CreditError::PoolPaused);
        // The underwriter judges lines; it never holds one (audit 7).
        require_keys_neq!(
            self.borrower.key(),
            self.pool.underwriter,
            CreditError::UnderwriterCannotBorrow
        );
        // The admin's policy bounds what the underwriter can approve.
        require!(
            args.limit <= self.pool.max_line_limit,
            CreditError::LimitAbovePolicy
        );
        // A receivable line names the merchant whose authority borrows; a revolving line none.
        match (args.kind, &self.merchant) {
            (LineKind::Revolving, None) => {}
            (LineKind::Receivable, Some(m)) => {
                require_keys_eq!(
                    m.authority,
                    self.borrower.key(),
                    CreditError::MerchantMismatch
                );
            }
            _ => return err!(CreditError::InvalidLineParams),
        }
        // Terms in range.
        let ok = args.limit > 0
            && u64::from(args.apr_bps) <= BPS
            && u64::from(args.late_apr_bps) <= BPS
            && args.advance_rate_bps <= MAX_ADVANCE_RATE_BPS
            && (args.kind == LineKind::Revolving || args.advance_rate_bps > 0)
            && args.maturity > now
            && args.payment_interval > 0
            && args.grace_seconds >= 0;
        require!(ok, CreditError::InvalidLineParams);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<LineApprove>, args: LineApproveArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let borrower = ctx.accounts.borrower.key();
    let merchant = ctx
        .accounts
        .merchant
        .as_ref()
        .map_or(Pubkey::default(), |m| m.key());
    let pool_key = ctx.accounts.pool.key();
    let line_key = ctx.accounts.line.key();
    let mut line = CreditLine {
        pool: pool_key,
        borrower,
        merchant,
        kind: args.kind,
        status: LineStatus::GoodStanding,
        limit: args.limit,
        apr_bps: args.apr_bps,
        late_apr_bps: args.late_apr_bps,
        advance_rate_bps: args.advance_rate_bps,
        maturity: args.maturity,
        payment_interval: args.payment_interval,
        grace_seconds: args.grace_seconds,
        next_due: now.saturating_add(args.payment_interval).min(args.maturity),
        delayed_since: 0,
        principal: 0,
        accrued_raw: 0,
        interest_paid: 0,
        late_raw: 0,
        fees_paid: 0,
        impaired: 0,
        last_accrual: now,
        seq: 0,
        bump: ctx.bumps.line,
        loss_outstanding: 0,
        counted: false,
        suspended_interest: 0,
        reserved: [0; 15],
    };
    line.invariant()?;
    let seq = line.next_seq()?;
    Creator {
        payer: &ctx.accounts.underwriter.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.line.to_account_info(),
        8 + CreditLine::INIT_SPACE,
        &[
            LINE_SEED,
            pool_key.as_ref(),
            borrower.as_ref(),
            &[line.bump],
        ],
        &line,
    )?;
    emit_cpi!(LineApproved {
        header: EventHeader::new(line_key, seq, ctx.accounts.underwriter.key(), now),
        pool: pool_key,
        borrower,
        merchant,
        kind: args.kind,
        limit: args.limit,
        apr_bps: args.apr_bps,
        late_apr_bps: args.late_apr_bps,
        advance_rate_bps: args.advance_rate_bps,
        maturity: args.maturity,
        payment_interval: args.payment_interval,
        grace_seconds: args.grace_seconds,
    });
    Ok(())
}
