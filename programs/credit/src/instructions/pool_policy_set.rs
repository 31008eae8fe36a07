use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;

/// `None` leaves a setting as it is.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolPolicyArgs {
    /// The largest limit the underwriter may give a line (existing lines keep theirs).
    pub max_line_limit: Option<u64>,
    /// At most this many lines may owe the pool at once (at most 16).
    pub max_active_lines: Option<u8>,
    /// Pause: no new line, draw, advance or deposit. Repayments, redemptions, epoch ends,
    /// fee withdrawals and the underwriter's judgements go on.
    pub paused: Option<bool>,
}

/// The pool admin sets the pool's policy: the bounds the underwriter works within, and the
/// pause (audit 7).
#[event_cpi]
#[derive(Accounts)]
pub struct PoolPolicySet<'info> {
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [POOL_SEED, pool.mint.as_ref()],
        bump = pool.bump,
        has_one = admin @ CreditError::NotPoolAdmin,
    )]
    pub pool: Box<Account<'info, CreditPool>>,
}

impl PoolPolicySet<'_> {
    pub fn validate(&self, args: &PoolPolicyArgs) -> Result<()> {
        if let Some(n) = args.max_active_lines {
            require!(n <= MAX_ACTIVE_LINES, CreditError::InvalidPoolPolicy);
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PoolPolicySet>, args: PoolPolicyArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    if let Some(limit) = args.max_line_limit {
        pool.max_line_limit = limit;
    }
    if let Some(n) = args.max_active_lines {
        pool.max_active_lines = n;
    }
    if let Some(paused) = args.paused {
        pool.paused = paused;
    }
    pool.invariant()?;
    let seq = pool.next_seq()?;
    emit_cpi!(PoolPolicyUpdated {
        header: EventHeader::new(pool_key, seq, actor, now),
        max_line_limit: pool.max_line_limit,
        max_active_lines: pool.max_active_lines,
        paused: pool.paused,
    });
    Ok(())
}
