use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;
use kassa_common::create::Creator;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct InvoiceOpenArgs {
    /// The merchant's order id, zero-padded; also the PDA seed, so one payment per order.
    pub order_id: [u8; 32],
    /// Token base units of the merchant's settlement mint.
    pub amount: u64,
    /// Unix timestamp (seconds) after which the invoice can no longer be paid.
    pub expires_at: i64,
}

/// The merchant (its authority or its operator) opens an invoice in its settlement mint. The
/// signer pays the rent and gets it back when the payment is closed.
#[event_cpi]
#[derive(Accounts)]
#[instruction(args: InvoiceOpenArgs)]
pub struct InvoiceOpen<'info> {
    /// The merchant authority or its operator.
    #[account(mut)]
    pub signer: Signer<'info>,
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(
        mut,
        seeds = [PAYMENT_SEED, merchant.key().as_ref(), args.order_id.as_ref()],
        bump,
    )]
    pub payment: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl InvoiceOpen<'_> {
    pub fn validate(&self, args: &InvoiceOpenArgs, now: i64) -> Result<()> {
        require!(!self.config.paused, PaymentsError::ProtocolPaused);
        self.merchant.require_operator(&self.signer.key())?;
        require!(
            self.merchant.can_transact(),
            PaymentsError::MerchantNotApproved
        );
        require!(args.order_id != [0; 32], PaymentsError::EmptyOrderId);
        require!(args.amount > 0, PaymentsError::ZeroAmount);
        require!(
            args.expires_at > now && args.expires_at <= now.saturating_add(MAX_INVOICE_LIFETIME),
            PaymentsError::ExpiryOutOfBounds
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args, Clock::get()?.unix_timestamp))]
pub fn handler(ctx: Context<InvoiceOpen>, args: InvoiceOpenArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    let opened_by_operator = actor != ctx.accounts.merchant.authority;
    let merchant = ctx.accounts.merchant.key();
    let mint = ctx.accounts.merchant.settlement_mint;
    let payment_key = ctx.accounts.payment.key();
    let mut payment = Payment {
        merchant,
        mint,
        payer: Pubkey::default(),
        assignee: Pubkey::default(),
        amount: args.amount,
        authorized: 0,
        captured: 0,
        released: 0,
        refunded: 0,
        assigned: 0,
        status: PaymentStatus::Open,
        status_at: now,
        expires_at: args.expires_at,
        authorization_expires_at: 0,
        refund_deadline: 0,
        dispute_deadline: 0,
        auto_capture_at: 0,
        seq: 0,
        bump: ctx.bumps.payment,
        pause_clock_at_authorization: 0,
        opened_by_operator,
        reserved: [0; 5],
    };
    payment.invariant()?;
    let seq = payment.next_seq()?;
    Creator {
        payer: &ctx.accounts.signer.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.payment.to_account_info(),
        8 + Payment::INIT_SPACE,
        &[
            PAYMENT_SEED,
            merchant.as_ref(),
            &args.order_id,
            &[payment.bump],
        ],
        &payment,
    )?;
    let header = EventHeader::new(payment_key, seq, actor, now);
    emit_cpi!(InvoiceOpened {
        header,
        merchant,
        order_id: args.order_id,
        mint,
        amount: args.amount,
        expires_at: args.expires_at,
    });
    Ok(())
}
