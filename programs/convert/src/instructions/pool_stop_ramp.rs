use super::pool_admin::*;
use crate::events::*;
use anchor_lang::prelude::*;

/// The admin stops a ramp: A stays at its current value.
pub fn handler(ctx: Context<PoolAdmin>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let pool = &mut ctx.accounts.pool;
    let amp = pool.amp(now);
    pool.initial_amp = amp;
    pool.target_amp = amp;
    pool.ramp_start = now;
    pool.ramp_stop = now;
    pool.settings_invariant()?;
    let seq = pool.next_seq()?;
    let header = EventHeader::new(pool.key(), seq, actor, now);
    emit_cpi!(AmpRampStopped { header, amp });
    Ok(())
}
