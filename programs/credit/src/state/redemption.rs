//! Epoch redemptions: a lender's request, and what each epoch end served.

use super::Tranche;
use crate::{error::CreditError, math::mul_div_floor};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// A lender's redemption request in one tranche (PDA `["redemption", pool, tranche, lender]`).
/// Its shares wait in the tranche's share escrow; each epoch end serves part of them.
#[account]
#[derive(InitSpace, Debug)]
pub struct LenderRedemption {
    pub pool: Pubkey,
    pub lender: Pubkey,
    pub tranche: Tranche,
    /// Shares still waiting.
    pub shares: u64,
    /// The first epoch not yet settled into this request.
    pub epoch_id: u64,
    /// Cash served and not yet withdrawn (base units of the pool's mint).
    pub payable: u64,
    pub bump: u8,
}

/// What one epoch end did for one tranche (PDA `["epoch", pool, tranche, epoch_id]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct EpochRecord {
    pub pool: Pubkey,
    pub tranche: Tranche,
    pub epoch_id: u64,
    /// Shares waiting when the epoch ended.
    pub requested: u64,
    /// Shares served (burned).
    pub served: u64,
    /// Cash the served shares were worth.
    pub paid: u64,
    pub bump: u8,
}

impl LenderRedemption {
    /// Whether shares from an epoch before `current` still wait to be settled.
    pub fn is_settled_up_to(&self, current: u64) -> bool {
        self.shares == 0 || self.epoch_id == current
    }

    /// Adds `shares` to the queue of epoch `current` (earlier epochs must be settled).
    pub fn add(&mut self, shares: u64, current: u64) -> Result<u64> {
        require!(
            self.is_settled_up_to(current),
            CreditError::RedemptionNotSettled
        );
        self.epoch_id = current;
        self.shares = self.shares.safe_add(shares)?;
        Ok(self.shares)
    }

    /// Takes `shares` back out of the queue of epoch `current`.
    pub fn cancel(&mut self, shares: u64, current: u64) -> Result<u64> {
        require!(
            self.is_settled_up_to(current),
            CreditError::RedemptionNotSettled
        );
        self.epoch_id = current;
        self.shares = self
            .shares
            .checked_sub(shares)
            .ok_or(CreditError::CancelExceedsRequest)?;
        Ok(self.shares)
    }

    /// Settles this request's pro-rata part of `record` (the record of its next unsettled
    /// epoch; records of earlier epochs are skipped). Returns whether the record applied.
    pub fn settle(&mut self, record: &EpochRecord) -> Result<bool> {
        require!(
            record.pool == self.pool && record.tranche == self.tranche,
            CreditError::EpochRecordMismatch
        );
        if record.epoch_id < self.epoch_id {
            return Ok(false);
        }
        require!(
            record.epoch_id == self.epoch_id,
            CreditError::EpochRecordMismatch
        );
        if record.requested > 0 {
            let served = mul_div_floor(self.shares, record.served, record.requested)?;
            let paid = mul_div_floor(self.shares, record.paid, record.requested)?;
            self.shares = self.shares.safe_sub(served)?;
            self.payable = self.payable.safe_add(paid)?;
        }
        self.epoch_id = self.epoch_id.safe_add(1)?;
        Ok(true)
    }
}

impl EpochRecord {
    pub fn invariant(&self) -> Result<()> {
        require!(
            self.served <= self.requested,
            CreditError::InvariantViolated
        );
        Ok(())
    }
}
