use super::line_underwriting::*;
use crate::{events::*, state::LineStatus};
use anchor_lang::prelude::*;

/// The underwriter writes a line off: its principal and recognised interest become a loss
/// through the waterfall (junior first); what it pays later is recovery.
#[event_cpi]
#[derive(Accounts)]
pub struct LineWriteOff<'info> {
    pub line_underwriting: LineUnderwriting<'info>,
}

pub fn handler(ctx: Context<LineWriteOff>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let u = &mut ctx.accounts.line_underwriting;
    let touched = u.touch(now)?;
    let from = u.line.status;
    let w = u.pool.write_off(&mut u.line)?;
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
        to: LineStatus::WrittenOff,
        suspended_interest: 0,
    });
    let header = ctx.accounts.line_underwriting.line_header(now)?;
    emit_cpi!(LineWrittenOff {
        header,
        principal: w.principal,
        interest: w.interest,
        from_junior: w.from_junior,
        from_senior: w.from_senior,
    });
    emit_cpi!(balances);
    Ok(())
}
