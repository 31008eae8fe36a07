use super::line_underwriting::*;
use crate::events::*;
use anchor_lang::prelude::*;

/// The underwriter reverses `amount` of a line's impairment (senior first).
#[event_cpi]
#[derive(Accounts)]
pub struct LineImpairmentReverse<'info> {
    pub line_underwriting: LineUnderwriting<'info>,
}

pub fn handler(ctx: Context<LineImpairmentReverse>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let u = &mut ctx.accounts.line_underwriting;
    let touched = u.touch(now)?;
    let (from_junior, from_senior) = u.pool.reverse_line_impairment(&mut u.line, amount)?;
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
        reversed: true,
        from_junior,
        from_senior,
        line_impaired,
    });
    emit_cpi!(balances);
    Ok(())
}
