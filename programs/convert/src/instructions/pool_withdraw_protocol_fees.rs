use super::pool_accounts::*;
use crate::events::*;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

/// Anyone may sweep the accrued protocol fees to the fee receiver's token accounts; the
/// counters are zeroed, so a second sweep pays nothing.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolWithdrawProtocolFees<'info> {
    pub cranker: Signer<'info>,
    pub pool: PoolAccounts<'info>,
    #[account(mut, token::mint = pool.mint_a, token::authority = pool.pool.fee_receiver)]
    pub fee_destination_a: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = pool.mint_b, token::authority = pool.pool.fee_receiver)]
    pub fee_destination_b: Box<InterfaceAccount<'info, TokenAccount>>,
}

pub fn handler(ctx: Context<PoolWithdrawProtocolFees>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let (fees_a, fees_b) = (a.pool.pool.protocol_fees_a, a.pool.pool.protocol_fees_b);
    a.pool.pay_both(
        &a.fee_destination_a.to_account_info(),
        fees_a,
        &a.fee_destination_b.to_account_info(),
        fees_b,
    )?;
    let actor = a.cranker.key();
    let pool = &mut ctx.accounts.pool.pool;
    pool.protocol_fees_a = 0;
    pool.protocol_fees_b = 0;
    let seq = pool.next_seq()?;
    let pool_key = pool.key();
    ctx.accounts.pool.check_invariant()?;
    emit_cpi!(ProtocolFeesWithdrawn {
        header: EventHeader::new(pool_key, seq, actor, now),
        amount_a: fees_a,
        amount_b: fees_b,
    });
    Ok(())
}
