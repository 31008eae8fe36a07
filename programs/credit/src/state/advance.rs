use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// An advance on one payment (PDA `["advance", payment]`: one at a time per payment address;
/// `advance_close` frees the address once settled). Amounts are base units of the pool's mint.
#[account]
#[derive(InitSpace, Debug)]
pub struct Advance {
    pub pool: Pubkey,
    pub line: Pubkey,
    pub payment: Pubkey,
    /// Token account (PDA `["advance_vault", payment]`) the payment's captures pay first.
    pub vault: Pubkey,
    pub amount: u64,
    /// What arrived from the payment so far.
    pub arrived: u64,
    pub settled: bool,
    pub seq: u64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Advance {
    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = s.safe_add(1)?;
        Ok(s)
    }

    /// Books `arrived` more from the payment; when the payment can pay nothing more the
    /// advance is settled. Returns the shortfall left owed on the line (0 until settled).
    pub fn record_arrival(&mut self, arrived: u64, payment_can_pay: bool) -> Result<u64> {
        self.arrived = self.arrived.safe_add(arrived)?;
        self.settled = !payment_can_pay;
        Ok(if self.settled {
            self.amount.saturating_sub(self.arrived)
        } else {
            0
        })
    }
}
