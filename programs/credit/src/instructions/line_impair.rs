use super::line_underwriting::*;
use crate::events::*;
use anchor_lang::prelude::*;

/// The underwriter marks `amount` of a line's value down (junior first, reversible), at most
/// what the line owes.
#[event_cpi]
#[derive(Accounts)]
pub struct LineImpair<'info> {
    pub line_underwriting: LineUnderwriting<'info>,
}

pub fn handler(ctx: Context<LineImpair>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let u = &mut ctx.accounts.line_underwriting;
    let touched = u.touch(now)?;
    let (from_junior, from_senior) = u.pool.impair_line(&mut u.line, amount)?;
    let line_impaired = u.line.impaired;
    let balances = u.finish(now)?;
    if let Some(e) = touched.income {
        emit_cpi!(e);
    }
    if let Some(e) = touched.changed {
        emit_cpi!(e);
    }
    let header = ctx.accounts.line_underwriting.line_header(now)?;
    emit_cpi!(LineImpaired {
        header,
        amount,
        reversed: false,
        from_junior,
        from_senior,
        line_impaired,
    });
    emit_cpi!(balances);
    Ok(())
}
