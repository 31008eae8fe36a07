use super::line_underwriting::*;
use crate::{events::*, state::LineStatus};
use anchor_lang::prelude::*;

/// The underwriter restores a delayed or defaulted line to good standing once nothing is
/// overdue (time alone never does).
#[event_cpi]
#[derive(Accounts)]
pub struct LineRestore<'info> {
    pub line_underwriting: LineUnderwriting<'info>,
}

pub fn handler(ctx: Context<LineRestore>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let u = &mut ctx.accounts.line_underwriting;
    let touched = u.touch(now)?;
    let from = u.line.status;
    u.pool.restore_line(&mut u.line, now)?;
    let balances = u.finish(now)?;
    if let Some(e) = touched.income {
        emit_cpi!(e);
    }
    if let Some(e) = touched.changed {
        emit_cpi!(e);
    }
    let header = ctx.accounts.line_underwriting.line_header(now)?;
    emit_cpi!(LineStatusChanged {
        header,
        from,
        to: LineStatus::GoodStanding,
        suspended_interest: 0,
    });
    emit_cpi!(balances);
    Ok(())
}
