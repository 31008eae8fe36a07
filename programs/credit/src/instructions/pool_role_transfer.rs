use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;

/// The pool admin hands a role (its own, the underwriter's or the protocol fee receiver's) to
/// a new key, which co-signs so a role never goes to a key nobody holds (audit 7). Fees already
/// payable go to whoever holds the receiving role when they are withdrawn.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolRoleTransfer<'info> {
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [POOL_SEED, pool.mint.as_ref()],
        bump = pool.bump,
        has_one = admin @ CreditError::NotPoolAdmin,
    )]
    pub pool: Box<Account<'info, CreditPool>>,
    pub new_holder: Signer<'info>,
}

pub fn handler(ctx: Context<PoolRoleTransfer>, role: PoolRole) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let to = ctx.accounts.new_holder.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    let slot = match role {
        PoolRole::Admin => &mut pool.admin,
        PoolRole::Underwriter => &mut pool.underwriter,
        PoolRole::ProtocolFeeReceiver => &mut pool.protocol_fee_receiver,
    };
    let from = std::mem::replace(slot, to);
    pool.invariant()?;
    let seq = pool.next_seq()?;
    emit_cpi!(PoolRoleTransferred {
        header: EventHeader::new(pool_key, seq, actor, now),
        role,
        from,
        to,
    });
    Ok(())
}
