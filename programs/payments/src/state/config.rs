use crate::{
    constants::{MAX_HOOKS, MAX_PROTOCOL_FEE_BPS},
    error::PaymentsError,
};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// Protocol-wide settings, one per deployment (PDA `["config"]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct Config {
    /// Changes these settings; rotated only with both old and new admin signing.
    pub admin: Pubkey,
    /// Attests KYB, maintains the blocklist, co-signs KYT-screened payments, holds payments.
    pub compliance_authority: Pubkey,
    /// Resolves disputes.
    pub arbiter: Pubkey,
    /// Wallet whose token accounts receive protocol fees.
    pub fee_receiver: Pubkey,
    /// Default protocol fee, basis points, at most [`MAX_PROTOCOL_FEE_BPS`].
    pub protocol_fee_bps: u16,
    /// When set, no new merchant, invoice, payment, capture or assignment is accepted;
    /// money can still leave escrow back to payers.
    pub paused: bool,
    /// Unix timestamp (seconds) the current pause began; 0 while not paused.
    pub paused_since: i64,
    /// Seconds spent paused in pauses that have ended (the pause clock without the current one).
    pub paused_total: i64,
    /// Conversion-hook programs `pay_with_conversion` may call; unused slots are the default key.
    pub hooks: [Pubkey; MAX_HOOKS],
    /// Sequence number of the next event about this config (and the blocklist it governs).
    pub seq: u64,
    pub bump: u8,
    pub reserved: [u8; 48],
}

impl Config {
    /// Registered hook programs, in slot order.
    pub fn registered_hooks(&self) -> Vec<Pubkey> {
        self.hooks
            .iter()
            .copied()
            .filter(|h| *h != Pubkey::default())
            .collect()
    }

    /// Replaces the hook registry after checking it has no duplicates or default keys.
    pub fn set_hooks(&mut self, hooks: &[Pubkey]) -> Result<()> {
        require!(hooks.len() <= MAX_HOOKS, PaymentsError::TooManyHooks);
        for (i, hook) in hooks.iter().enumerate() {
            require!(*hook != Pubkey::default(), PaymentsError::InvalidHook);
            require!(!hooks[..i].contains(hook), PaymentsError::InvalidHook);
        }
        self.hooks = [Pubkey::default(); MAX_HOOKS];
        self.hooks[..hooks.len()].copy_from_slice(hooks);
        Ok(())
    }

    /// Seconds the protocol has spent paused, ever, up to `now`: the pause clock. Payments snapshot
    /// it at authorization so their capture window counts only time the protocol ran.
    pub fn pause_clock(&self, now: i64) -> Result<i64> {
        if self.paused {
            self.paused_total
                .safe_add(now.safe_sub(self.paused_since)?.max(0))
        } else {
            Ok(self.paused_total)
        }
    }

    /// Pauses or resumes at `now`, keeping the pause clock.
    pub fn set_paused(&mut self, paused: bool, now: i64) -> Result<()> {
        match (self.paused, paused) {
            (false, true) => self.paused_since = now,
            (true, false) => {
                self.paused_total = self.pause_clock(now)?;
                self.paused_since = 0;
            }
            _ => {}
        }
        self.paused = paused;
        Ok(())
    }

    /// Returns the current sequence number and advances it.
    pub fn next_seq(&mut self) -> Result<u64> {
        let seq = self.seq;
        self.seq = seq.safe_add(1)?;
        Ok(seq)
    }

    pub fn invariant(&self) -> Result<()> {
        require!(
            self.protocol_fee_bps <= MAX_PROTOCOL_FEE_BPS,
            PaymentsError::InvariantViolated
        );
        let hooks = self.registered_hooks();
        // Registered hooks are packed at the front and unique.
        require!(
            self.hooks[hooks.len()..]
                .iter()
                .all(|h| *h == Pubkey::default()),
            PaymentsError::InvariantViolated
        );
        for (i, hook) in hooks.iter().enumerate() {
            require!(!hooks[..i].contains(hook), PaymentsError::InvariantViolated);
        }
        // The pause clock only runs forward, and a pause start is recorded exactly while paused.
        require!(
            self.paused_total >= 0 && (self.paused == (self.paused_since > 0)),
            PaymentsError::InvariantViolated
        );
        Ok(())
    }
}
