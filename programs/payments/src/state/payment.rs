use crate::{error::PaymentsError, state::MerchantPolicy};
use anchor_lang::prelude::*;
use kassa_common::{math::bps_ceil, SafeMath};

/// Where a payment is in its lifecycle (see docs/payments.md for the diagram).
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Invoice open, waiting for the payer.
    Open,
    /// Funds in escrow; the merchant may capture, void or assign the receivable.
    Authorized,
    /// Escrow emptied with at least part captured; refunds remain possible until the deadline.
    Captured,
    /// Everything captured has been refunded.
    Refunded,
    /// The merchant returned the escrow before capturing anything.
    Voided,
    /// The payer took the escrow back after the authorization expired.
    Reclaimed,
    /// The merchant withdrew the invoice before it was paid.
    Cancelled,
    /// The invoice passed its expiry unpaid.
    Expired,
    /// The payer disputed; escrow is frozen until the arbiter resolves it.
    Disputed,
    /// The arbiter split the escrow between merchant and payer.
    Resolved,
    /// The compliance authority froze the escrow.
    Held,
    /// The compliance authority returned the escrow to the payer.
    Rejected,
}

impl PaymentStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [PaymentStatus; 12] = [
        PaymentStatus::Open,
        PaymentStatus::Authorized,
        PaymentStatus::Captured,
        PaymentStatus::Refunded,
        PaymentStatus::Voided,
        PaymentStatus::Reclaimed,
        PaymentStatus::Cancelled,
        PaymentStatus::Expired,
        PaymentStatus::Disputed,
        PaymentStatus::Resolved,
        PaymentStatus::Held,
        PaymentStatus::Rejected,
    ];

    /// The status's name off chain (the indexer's rows, the API, webhooks): lowercase, stable.
    pub fn name(self) -> &'static str {
        match self {
            PaymentStatus::Open => "open",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::Captured => "captured",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Voided => "voided",
            PaymentStatus::Reclaimed => "reclaimed",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Disputed => "disputed",
            PaymentStatus::Resolved => "resolved",
            PaymentStatus::Held => "held",
            PaymentStatus::Rejected => "rejected",
        }
    }

    /// No instruction other than `refund` and `close` applies any more.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            PaymentStatus::Open
                | PaymentStatus::Authorized
                | PaymentStatus::Disputed
                | PaymentStatus::Held
        )
    }
}

/// One invoice and the payment against it (PDA `["payment", merchant, order_id]`).
///
/// Amounts are token base units of `mint`. Escrowed = `authorized - captured - released`.
#[account]
#[derive(InitSpace, Debug)]
pub struct Payment {
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Default key until authorized.
    pub payer: Pubkey,
    /// Token account paid first from captures, while `assigned` is non-zero; default when none.
    pub assignee: Pubkey,
    /// Invoiced amount.
    pub amount: u64,
    /// What the escrow actually received at authorization (Token-2022 transfer fees deducted).
    pub authorized: u64,
    /// Gross captured from escrow (protocol fee and assignee share included).
    pub captured: u64,
    /// Returned from escrow to the payer (void, reclaim, reject, dispute share).
    pub released: u64,
    /// Refunded by the merchant out of its own funds.
    pub refunded: u64,
    /// Still owed to the assignee out of future captures.
    pub assigned: u64,
    pub status: PaymentStatus,
    /// Unix timestamp (seconds) of the last status change.
    pub status_at: i64,
    /// Invoice expiry: it cannot be paid at or after this time.
    pub expires_at: i64,
    /// From this time the payer may reclaim and the merchant may no longer capture.
    pub authorization_expires_at: i64,
    /// Last moment a refund is accepted.
    pub refund_deadline: i64,
    /// Last moment the payer may dispute.
    pub dispute_deadline: i64,
    /// From this time anyone may capture the escrow; 0 when auto-capture is off.
    pub auto_capture_at: i64,
    /// Sequence number of the next event about this payment.
    pub seq: u64,
    pub bump: u8,
    /// The config's pause clock when the payment was authorized: time the protocol spends
    /// paused after it moves `authorization_expires_at` and `auto_capture_at` later.
    pub pause_clock_at_authorization: i64,
    /// The merchant's operator opened the invoice and paid its rent (see
    /// [`Merchant::rent_receiver`](crate::state::Merchant::rent_receiver)).
    pub opened_by_operator: bool,
    pub reserved: [u8; 5],
}

// DESIGN.md §7: a payment account is at most 256 bytes, discriminator included.
const _: () = assert!(8 + Payment::INIT_SPACE <= 256);

impl Payment {
    /// Escrowed amount still held for this payment.
    pub fn escrowed(&self) -> Result<u64> {
        self.authorized
            .safe_sub(self.captured)?
            .safe_sub(self.released)
    }

    /// Captured amount that can still be refunded.
    pub fn refundable(&self) -> Result<u64> {
        self.captured.safe_sub(self.refunded)
    }

    /// `now` on the authorization's clock: real time less the time the protocol has spent
    /// paused since authorization (`pause_clock` is the config's, at `now`). It never runs
    /// backwards, so an authorization that has expired stays expired.
    pub fn authorization_clock(&self, now: i64, pause_clock: i64) -> Result<i64> {
        let paused = pause_clock.safe_sub(self.pause_clock_at_authorization)?;
        require!(paused >= 0, PaymentsError::InvariantViolated);
        now.safe_sub(paused)
    }

    /// Whether the authorization has expired (the payer may reclaim, the merchant may not
    /// capture) at `now`, the protocol's pauses not counted.
    pub fn authorization_expired(&self, now: i64, pause_clock: i64) -> Result<bool> {
        Ok(self.authorization_clock(now, pause_clock)? >= self.authorization_expires_at)
    }

    /// Whether anyone may capture the escrow at `now`, the protocol's pauses not counted.
    pub fn auto_capture_due(&self, now: i64, pause_clock: i64) -> Result<bool> {
        require!(
            self.auto_capture_at != 0,
            PaymentsError::AutoCaptureDisabled
        );
        Ok(self.authorization_clock(now, pause_clock)? >= self.auto_capture_at)
    }

    /// Returns the current sequence number and advances it.
    pub fn next_seq(&mut self) -> Result<u64> {
        let seq = self.seq;
        self.seq = seq.safe_add(1)?;
        Ok(seq)
    }

    fn set_status(&mut self, status: PaymentStatus, now: i64) {
        self.status = status;
        self.status_at = now;
    }

    fn require_status(&self, status: PaymentStatus, error: PaymentsError) -> Result<()> {
        if self.status == status {
            Ok(())
        } else {
            Err(error.into())
        }
    }

    /// Open → Authorized with what the escrow received; `pause_clock` is the config's at `now`.
    pub fn authorize(
        &mut self,
        payer: Pubkey,
        received: u64,
        policy: &MerchantPolicy,
        now: i64,
        pause_clock: i64,
    ) -> Result<()> {
        if self.status == PaymentStatus::Authorized || self.authorized > 0 {
            return err!(PaymentsError::AlreadyPaid);
        }
        self.require_status(PaymentStatus::Open, PaymentsError::PaymentNotOpen)?;
        require!(now < self.expires_at, PaymentsError::InvoiceExpired);
        require!(received > 0, PaymentsError::NothingReceived);
        self.payer = payer;
        self.authorized = received;
        self.pause_clock_at_authorization = pause_clock;
        self.authorization_expires_at = now.safe_add(policy.authorization_window)?;
        self.refund_deadline = now.safe_add(policy.refund_window)?;
        self.dispute_deadline = now.safe_add(policy.dispute_window)?;
        self.auto_capture_at = if policy.auto_capture_delay > 0 {
            now.safe_add(policy.auto_capture_delay)?
        } else {
            0
        };
        self.set_status(PaymentStatus::Authorized, now);
        Ok(())
    }

    /// Checks a capture of `amount` may happen now, by the merchant or the auto-capture crank
    /// (`pause_clock` is the config's at `now`).
    pub fn check_capturable(&self, amount: u64, now: i64, pause_clock: i64) -> Result<()> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        require!(amount > 0, PaymentsError::ZeroAmount);
        require!(
            !self.authorization_expired(now, pause_clock)?,
            PaymentsError::AuthorizationExpired
        );
        require!(
            amount <= self.escrowed()?,
            PaymentsError::CaptureExceedsEscrow
        );
        Ok(())
    }

    /// Books a capture of `amount` of which `to_assignee` went to the assignee. The capture
    /// that empties the escrow ends the assignment: whatever the assignee was not paid (fee
    /// rounding over several captures, a fee raised after the assignment) is the credit
    /// program's shortfall to book, never an open claim on an empty payment.
    pub fn capture(
        &mut self,
        amount: u64,
        to_assignee: u64,
        now: i64,
        pause_clock: i64,
    ) -> Result<()> {
        self.check_capturable(amount, now, pause_clock)?;
        self.captured = self.captured.safe_add(amount)?;
        self.assigned = self.assigned.safe_sub(to_assignee)?;
        if self.escrowed()? == 0 {
            self.assigned = 0;
            self.set_status(PaymentStatus::Captured, now);
        }
        Ok(())
    }

    /// Returns the whole escrow to the payer and ends the authorization: `Refunded` when every
    /// capture was already refunded, `Captured` when part was captured, otherwise `ended`
    /// (`Rejected` always stays `Rejected`). Returns the amount released.
    fn release_rest(&mut self, ended: PaymentStatus, now: i64) -> Result<u64> {
        let rest = self.escrowed()?;
        self.released = self.released.safe_add(rest)?;
        self.assigned = 0;
        let status = match ended {
            // Compliance rejection is recorded as such, whatever was captured before.
            PaymentStatus::Rejected => ended,
            _ if self.captured > 0 && self.refunded == self.captured => PaymentStatus::Refunded,
            _ if self.captured > 0 => PaymentStatus::Captured,
            _ => ended,
        };
        self.set_status(status, now);
        Ok(rest)
    }

    /// Merchant voids what is still escrowed. Not while the proceeds are assigned: the assignee
    /// (a lender that advanced against them) would be left with nothing (audit 5). The payer
    /// keeps its ways out: a dispute, or a reclaim once the authorization expires.
    pub fn void(&mut self, now: i64) -> Result<u64> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        require!(
            self.assigned == 0,
            PaymentsError::AssignedPaymentNotVoidable
        );
        self.release_rest(PaymentStatus::Voided, now)
    }

    /// Payer takes the escrow back once the authorization expired (`pause_clock` is the
    /// config's at `now`).
    pub fn reclaim(&mut self, now: i64, pause_clock: i64) -> Result<u64> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        require!(
            self.authorization_expired(now, pause_clock)?,
            PaymentsError::AuthorizationNotExpired
        );
        self.release_rest(PaymentStatus::Reclaimed, now)
    }

    /// Checks a merchant-funded refund of `amount` may happen now.
    pub fn check_refundable(&self, amount: u64, now: i64) -> Result<()> {
        require!(amount > 0, PaymentsError::ZeroAmount);
        require!(
            amount <= self.refundable()?,
            PaymentsError::RefundExceedsCaptured
        );
        require!(
            now <= self.refund_deadline,
            PaymentsError::RefundWindowClosed
        );
        Ok(())
    }

    /// Merchant-funded refund of part of what was captured.
    pub fn refund(&mut self, amount: u64, now: i64) -> Result<()> {
        self.check_refundable(amount, now)?;
        self.refunded = self.refunded.safe_add(amount)?;
        if self.status == PaymentStatus::Captured && self.refunded == self.captured {
            self.set_status(PaymentStatus::Refunded, now);
        }
        Ok(())
    }

    /// Payer disputes the escrowed funds before the dispute deadline.
    pub fn dispute(&mut self, now: i64) -> Result<u64> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        require!(
            now <= self.dispute_deadline,
            PaymentsError::DisputeWindowClosed
        );
        self.set_status(PaymentStatus::Disputed, now);
        self.escrowed()
    }

    /// Arbiter splits the frozen escrow; `to_merchant` is booked as captured.
    pub fn resolve(&mut self, to_merchant: u64, to_payer: u64, now: i64) -> Result<()> {
        self.require_status(PaymentStatus::Disputed, PaymentsError::PaymentNotDisputed)?;
        require!(
            to_merchant.safe_add(to_payer)? == self.escrowed()?,
            PaymentsError::SplitMismatch
        );
        self.captured = self.captured.safe_add(to_merchant)?;
        self.released = self.released.safe_add(to_payer)?;
        // The escrow is empty now: whatever the assignee did not receive is the credit
        // program's shortfall to book, not an open claim on this payment.
        self.assigned = 0;
        self.set_status(PaymentStatus::Resolved, now);
        Ok(())
    }

    /// Compliance freezes the escrow.
    pub fn hold(&mut self, now: i64) -> Result<u64> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        self.set_status(PaymentStatus::Held, now);
        self.escrowed()
    }

    /// Compliance lifts its hold.
    pub fn release_hold(&mut self, now: i64) -> Result<()> {
        self.require_status(PaymentStatus::Held, PaymentsError::PaymentNotHeld)?;
        self.set_status(PaymentStatus::Authorized, now);
        Ok(())
    }

    /// Compliance returns the held escrow to the payer.
    pub fn reject(&mut self, now: i64) -> Result<u64> {
        self.require_status(PaymentStatus::Held, PaymentsError::PaymentNotHeld)?;
        self.release_rest(PaymentStatus::Rejected, now)
    }

    /// Merchant assigns future capture proceeds, up to `amount`, to `assignee`. Captures pay
    /// the assignee after the protocol fee, so at most the escrow net of the fee (at
    /// `fee_bps`, rounded up as captures round it) can be assigned.
    pub fn assign(&mut self, assignee: Pubkey, amount: u64, fee_bps: u16) -> Result<()> {
        self.require_status(
            PaymentStatus::Authorized,
            PaymentsError::PaymentNotAuthorized,
        )?;
        require!(amount > 0, PaymentsError::ZeroAmount);
        require!(
            self.assignee == Pubkey::default(),
            PaymentsError::ReceivableAlreadyAssigned
        );
        require!(
            amount <= self.escrowed()?,
            PaymentsError::AssignmentExceedsEscrow
        );
        let escrowed = self.escrowed()?;
        require!(
            amount <= escrowed.safe_sub(bps_ceil(escrowed, fee_bps)?.min(escrowed))?,
            PaymentsError::AssignmentExceedsNet
        );
        self.assignee = assignee;
        self.assigned = amount;
        Ok(())
    }

    /// Open invoice → Cancelled (merchant) or Expired (anyone, after expiry).
    pub fn end_unpaid(&mut self, status: PaymentStatus, now: i64) -> Result<()> {
        self.require_status(PaymentStatus::Open, PaymentsError::PaymentNotOpen)?;
        if status == PaymentStatus::Expired {
            require!(now >= self.expires_at, PaymentsError::InvoiceNotExpired);
        }
        self.set_status(status, now);
        Ok(())
    }

    /// Whether the account can be closed now: terminal, nothing escrowed, and nothing left that
    /// the payer could still ask back (everything refunded or the refund window over).
    pub fn is_closable(&self, now: i64) -> Result<bool> {
        Ok(self.status.is_terminal()
            && self.escrowed()? == 0
            && (self.refundable()? == 0 || now > self.refund_deadline))
    }

    pub fn invariant(&self) -> Result<()> {
        let ok = self.authorized <= self.amount
            && self.pause_clock_at_authorization >= 0
            && self
                .captured
                .checked_add(self.released)
                .is_some_and(|out| out <= self.authorized)
            && self.refunded <= self.captured
            && self
                .escrowed()
                .is_ok_and(|escrowed| self.assigned <= escrowed)
            && (self.assigned == 0 || self.assignee != Pubkey::default())
            && match self.status {
                PaymentStatus::Open | PaymentStatus::Cancelled | PaymentStatus::Expired => {
                    self.authorized == 0 && self.payer == Pubkey::default()
                }
                PaymentStatus::Authorized | PaymentStatus::Disputed | PaymentStatus::Held => {
                    self.authorized > 0 && self.escrowed().is_ok_and(|e| e > 0)
                }
                PaymentStatus::Captured => {
                    self.captured > 0 && self.escrowed().is_ok_and(|e| e == 0)
                }
                PaymentStatus::Refunded => {
                    self.captured > 0
                        && self.refunded == self.captured
                        && self.escrowed().is_ok_and(|e| e == 0)
                }
                PaymentStatus::Voided | PaymentStatus::Reclaimed => {
                    self.captured == 0 && self.escrowed().is_ok_and(|e| e == 0)
                }
                PaymentStatus::Resolved | PaymentStatus::Rejected => {
                    self.authorized > 0 && self.escrowed().is_ok_and(|e| e == 0)
                }
            };
        require!(ok, PaymentsError::InvariantViolated);
        Ok(())
    }
}
