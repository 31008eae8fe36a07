//! The accounts every underwriter action on a line uses (restore, impair, reverse an
//! impairment, write off), and the step each begins with.

use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;

/// The underwriter acting on one of the pool's lines.
#[derive(Accounts)]
pub struct LineUnderwriting<'info> {
    pub underwriter: Signer<'info>,
    #[account(
        mut,
        seeds = [POOL_SEED, pool.mint.as_ref()],
        bump = pool.bump,
        has_one = underwriter @ CreditError::NotUnderwriter,
    )]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
}

/// Pool and line brought to `now` (the events to emit first); a written-off line takes no
/// further underwriting.
pub struct Touched {
    pub income: Option<IncomeDistributed>,
    pub changed: Option<LineStatusChanged>,
}

impl LineUnderwriting<'_> {
    pub fn touch(&mut self, now: i64) -> Result<Touched> {
        let actor = self.underwriter.key();
        let (pool_key, line_key) = (self.pool.key(), self.line.key());
        let (income, changed) = touch(
            &mut self.pool,
            pool_key,
            &mut self.line,
            line_key,
            actor,
            now,
        )?;
        require!(
            self.line.status != LineStatus::WrittenOff,
            CreditError::LineWrittenOff
        );
        Ok(Touched { income, changed })
    }

    /// Checks both accounts and returns the balances event that closes the instruction.
    pub fn finish(&mut self, now: i64) -> Result<PoolBalances> {
        check(&mut self.pool, &mut self.line)?;
        let (actor, pool_key) = (self.underwriter.key(), self.pool.key());
        balances_event(&mut self.pool, pool_key, actor, now)
    }

    /// A header for the line's next event.
    pub fn line_header(&mut self, now: i64) -> Result<EventHeader> {
        let seq = self.line.next_seq()?;
        Ok(EventHeader::new(
            self.line.key(),
            seq,
            self.underwriter.key(),
            now,
        ))
    }
}
