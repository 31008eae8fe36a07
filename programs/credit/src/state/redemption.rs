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
    /// What lenders have not settled yet (audit 3): each settlement takes its pro-rata part
    /// of what is left, and the last one takes the rest, so the parts add up exactly.
    pub requested_left: u64,
    pub served_left: u64,
    pub paid_left: u64,
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
    ///
    /// The part is taken from what the record has left, rounded down, and the request holding
    /// all the shares still unsettled takes everything left: over all lenders the served
    /// shares and the paid cash add up to the record's exactly, so
    /// `Σ request shares = pending + Σ records' served_left` holds for every tranche.
    pub fn settle(&mut self, record: &mut EpochRecord) -> Result<bool> {
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
        let (served, paid) = record.take(self.shares)?;
        self.shares = self.shares.safe_sub(served)?;
        self.payable = self.payable.safe_add(paid)?;
        self.epoch_id = self.epoch_id.safe_add(1)?;
        Ok(true)
    }
}

impl EpochRecord {
    /// The part of this epoch owed to a request that had `shares` waiting: (served, paid).
    fn take(&mut self, shares: u64) -> Result<(u64, u64)> {
        // More shares than the record has left unsettled cannot be: the requests that waited
        // at this epoch's end held `requested` shares between them.
        require!(
            shares <= self.requested_left,
            CreditError::InvariantViolated
        );
        let (served, paid) = if shares == self.requested_left {
            (self.served_left, self.paid_left)
        } else {
            (
                mul_div_floor(shares, self.served_left, self.requested_left)?,
                mul_div_floor(shares, self.paid_left, self.requested_left)?,
            )
        };
        self.requested_left = self.requested_left.safe_sub(shares)?;
        self.served_left = self.served_left.safe_sub(served)?;
        self.paid_left = self.paid_left.safe_sub(paid)?;
        self.invariant()?;
        Ok((served, paid))
    }

    pub fn invariant(&self) -> Result<()> {
        let ok = self.served <= self.requested
            && self.requested_left <= self.requested
            && self.served_left <= self.served
            && self.paid_left <= self.paid
            && self.served_left <= self.requested_left
            // Nothing is left to pay once every share is settled.
            && (self.requested_left > 0 || (self.served_left == 0 && self.paid_left == 0));
        require!(ok, CreditError::InvariantViolated);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(shares: u64) -> LenderRedemption {
        LenderRedemption {
            pool: Pubkey::default(),
            lender: Pubkey::new_unique(),
            tranche: Tranche::Senior,
            shares,
            epoch_id: 0,
            payable: 0,
            bump: 0,
        }
    }

    fn record(requested: u64, served: u64, paid: u64) -> EpochRecord {
        EpochRecord {
            pool: Pubkey::default(),
            tranche: Tranche::Senior,
            epoch_id: 0,
            requested,
            served,
            paid,
            bump: 0,
            requested_left: requested,
            served_left: served,
            paid_left: paid,
        }
    }

    #[test]
    fn an_epoch_that_paid_nothing_settles() {
        let mut r = request(5);
        let mut e = record(5, 0, 0);
        assert!(r.settle(&mut e).unwrap());
        assert_eq!((r.shares, r.payable, r.epoch_id), (5, 0, 1));
    }

    #[test]
    fn rounding_leftovers_go_to_the_last_settler() {
        // Three requests of one share, two served: independent floors would serve none.
        let mut e = record(3, 2, 7);
        let mut served = 0;
        let mut paid = 0;
        for _ in 0..3 {
            let mut r = request(1);
            r.settle(&mut e).unwrap();
            served += 1 - r.shares;
            paid += r.payable;
        }
        assert_eq!((served, paid), (2, 7));
        assert_eq!((e.requested_left, e.served_left, e.paid_left), (0, 0, 0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Whatever the shares and the order lenders settle in, the parts add up to the
        /// record exactly, and what is left always belongs to the requests still unsettled.
        #[test]
        fn settlements_add_up_to_the_record(
            shares in proptest::collection::vec(0u64..1u64 << 40, 1..12),
            served_frac in 0u64..=1_000, paid_per_share in 0u64..3,
            order in proptest::collection::vec(any::<prop::sample::Index>(), 12),
        ) {
            let requested: u64 = shares.iter().sum();
            let served = u64::try_from(u128::from(requested) * u128::from(served_frac) / 1_000).unwrap();
            let paid = served.saturating_mul(paid_per_share);
            let mut e = record(requested, served, paid);
            let mut left: Vec<u64> = shares.clone();
            let (mut total_served, mut total_paid) = (0u64, 0u64);
            while !left.is_empty() {
                let i = order[left.len() % order.len()].index(left.len());
                let s = left.swap_remove(i);
                let mut r = request(s);
                prop_assert!(r.settle(&mut e).unwrap());
                let got = s - r.shares;
                prop_assert!(got <= s);
                total_served += got;
                total_paid += r.payable;
                // Identity: the shares still to settle hold what the record has left.
                prop_assert_eq!(e.requested_left, left.iter().sum::<u64>());
            }
            prop_assert_eq!((total_served, total_paid), (served, paid));
            prop_assert_eq!((e.requested_left, e.served_left, e.paid_left), (0, 0, 0));
        }
    }
}
