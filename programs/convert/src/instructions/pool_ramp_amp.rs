use super::pool_admin::*;
use crate::{constants::*, error::ConvertError, events::*};
use anchor_lang::prelude::*;

/// The admin ramps A linearly from its current value to `target_amp`, reached at `stop`.
/// A ramp lasts at least a day, starts only after the previous one ended and at least a day
/// after the previous one started, and changes A by at most tenfold, so LPs have time to react
/// and the curve never jumps.
#[access_control(validate(ctx.accounts, target_amp, stop))]
pub fn handler(ctx: Context<PoolAdmin>, target_amp: u64, stop: i64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let pool = &mut ctx.accounts.pool;
    let current = pool.amp(now);
    pool.initial_amp = current;
    pool.target_amp = target_amp;
    pool.ramp_start = now;
    pool.ramp_stop = stop;
    pool.settings_invariant()?;
    let seq = pool.next_seq()?;
    let header = EventHeader::new(pool.key(), seq, actor, now);
    emit_cpi!(AmpRampStarted {
        header,
        initial_amp: current,
        target_amp,
        start: now,
        stop
    });
    Ok(())
}

fn validate(accounts: &PoolAdmin, target_amp: u64, stop: i64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let pool = &accounts.pool;
    require!(
        (MIN_AMP..=MAX_AMP).contains(&target_amp),
        ConvertError::AmpOutOfBounds
    );
    // One ramp at a time, and at most one start per day: stopping a ramp early does not
    // allow a faster one (Curve ties the next ramp to the previous start).
    require!(now >= pool.ramp_stop, ConvertError::InvalidRamp);
    require!(
        now >= pool.ramp_start.saturating_add(MIN_RAMP_DURATION),
        ConvertError::InvalidRamp
    );
    require!(
        stop >= now.saturating_add(MIN_RAMP_DURATION),
        ConvertError::InvalidRamp
    );
    let current = pool.amp(now);
    let within = target_amp <= current.saturating_mul(MAX_AMP_CHANGE)
        && current <= target_amp.saturating_mul(MAX_AMP_CHANGE);
    require!(within, ConvertError::InvalidRamp);
    Ok(())
}
