//! Projections of `kassa_payments`: the protocol config, merchants and payments.

use super::{add, sub, FoldError, Key, Row};
use kassa_payments::state::{KybStatus, PaymentStatus};
use kassa_sdk::decode::PaymentsEvent;

projection_row! {
pub struct ConfigRow {
    pub address: Key,
    pub admin: Key,
    pub compliance_authority: Key,
    pub arbiter: Key,
    pub fee_receiver: Key,
    pub protocol_fee_bps: i32,
    pub paused: bool,
    pub hooks: Vec<Key>,
    pub blocked: Vec<Key>,
    pub seq: i64,
}
}

projection_row! {
pub struct MerchantRow {
    pub address: Key,
    pub authority: Key,
    pub merchant_id: Key,
    pub settlement_mint: Key,
    pub settlement_wallet: Key,
    pub authorization_window: i64,
    pub auto_capture_delay: i64,
    pub refund_window: i64,
    pub dispute_window: i64,
    pub require_kyt: bool,
    pub fee_bps: Option<i32>,
    pub operator: Option<Key>,
    pub kyb_status: String,
    pub kyb_case_hash: String,
    pub registered_at: i64,
    pub updated_at: i64,
    pub seq: i64,
}
}

projection_row! {
pub struct PaymentRow {
    pub address: Key,
    pub merchant: Key,
    pub order_id: String,
    pub mint: Key,
    pub amount: u64,
    pub status: String,
    pub payer: Option<Key>,
    pub authorized: u64,
    pub captured: u64,
    pub released: u64,
    pub refunded: u64,
    pub fees: u64,
    pub to_merchant: u64,
    pub to_assignee: u64,
    pub assignee: Option<Key>,
    pub assigned: u64,
    pub input_mint: Option<Key>,
    pub input_amount: Option<u64>,
    pub kyt_cosigned: bool,
    pub expires_at: i64,
    pub authorization_expires_at: Option<i64>,
    pub refund_deadline: Option<i64>,
    pub dispute_deadline: Option<i64>,
    pub auto_capture_at: Option<i64>,
    pub opened_at: i64,
    pub status_at: i64,
    pub closed: bool,
    pub seq: i64,
}
}

impl PaymentRow {
    pub fn escrowed(&self) -> Result<u64, FoldError> {
        sub(
            self.authorized,
            add(self.captured, self.released, "escrow")?,
            "escrow",
        )
    }

    /// The program's release-the-rest rule: `refunded` when every capture was refunded,
    /// `captured` when part was captured, the ending status otherwise (`rejected` stays).
    fn release_rest(
        &mut self,
        amount: u64,
        ended: PaymentStatus,
        ts: i64,
    ) -> Result<(), FoldError> {
        self.released = add(self.released, amount, "released")?;
        self.assigned = 0;
        let status = match ended {
            PaymentStatus::Rejected => ended,
            _ if self.captured > 0 && self.refunded == self.captured => PaymentStatus::Refunded,
            _ if self.captured > 0 => PaymentStatus::Captured,
            _ => ended,
        };
        self.set_status(status, ts);
        Ok(())
    }

    fn settle(&mut self, fee: u64, to_assignee: u64, to_merchant: u64) -> Result<(), FoldError> {
        self.fees = add(self.fees, fee, "fees")?;
        self.to_assignee = add(self.to_assignee, to_assignee, "to_assignee")?;
        self.to_merchant = add(self.to_merchant, to_merchant, "to_merchant")?;
        Ok(())
    }

    fn set_status(&mut self, status: PaymentStatus, ts: i64) {
        self.status = status.name().to_string();
        self.status_at = ts;
    }
}

/// Applies one payments event to its entity's row (`None` before its first event). Every
/// event has its arm: a new event does not compile until it is folded.
pub(super) fn fold(
    row: Option<Row>,
    e: &PaymentsEvent,
    entity: Key,
    ts: i64,
    name: &'static str,
) -> Result<Row, FoldError> {
    use PaymentsEvent as P;
    let created = |row: &Option<Row>| match row {
        Some(_) => Err(FoldError::Exists(name)),
        None => Ok(()),
    };
    Ok(match e {
        // The protocol config.
        P::ConfigInitialized(c) => {
            created(&row)?;
            Row::Config(ConfigRow {
                address: entity,
                admin: c.admin.into(),
                compliance_authority: c.compliance_authority.into(),
                arbiter: c.arbiter.into(),
                fee_receiver: c.fee_receiver.into(),
                protocol_fee_bps: i32::from(c.protocol_fee_bps),
                paused: false,
                hooks: Vec::new(),
                blocked: Vec::new(),
                seq: 0,
            })
        }
        P::ConfigUpdated(c) => {
            let mut r = existing!(row, Config, name);
            r.admin = c.admin.into();
            r.compliance_authority = c.compliance_authority.into();
            r.arbiter = c.arbiter.into();
            r.fee_receiver = c.fee_receiver.into();
            r.protocol_fee_bps = i32::from(c.protocol_fee_bps);
            r.paused = c.paused;
            r.hooks = c.hooks.iter().map(|h| Key(*h)).collect();
            Row::Config(r)
        }
        P::PayerBlocked(b) => {
            let mut r = existing!(row, Config, name);
            if !r.blocked.contains(&Key(b.wallet)) {
                r.blocked.push(Key(b.wallet));
                r.blocked.sort();
            }
            Row::Config(r)
        }
        P::PayerUnblocked(b) => {
            let mut r = existing!(row, Config, name);
            r.blocked.retain(|x| *x != b.wallet);
            Row::Config(r)
        }
        P::VaultOpened(_) => Row::Config(existing!(row, Config, name)),

        // Merchants.
        P::MerchantRegistered(m) => {
            created(&row)?;
            Row::Merchant(MerchantRow {
                address: entity,
                authority: m.authority.into(),
                merchant_id: m.merchant_id.into(),
                settlement_mint: m.settlement_mint.into(),
                settlement_wallet: m.settlement_wallet.into(),
                authorization_window: m.policy.authorization_window,
                auto_capture_delay: m.policy.auto_capture_delay,
                refund_window: m.policy.refund_window,
                dispute_window: m.policy.dispute_window,
                require_kyt: m.policy.require_kyt,
                fee_bps: None,
                operator: None,
                kyb_status: KybStatus::Pending.name().into(),
                kyb_case_hash: crate::idl::hex(&[0; 32]),
                registered_at: ts,
                updated_at: ts,
                seq: 0,
            })
        }
        P::MerchantUpdated(m) => {
            let mut r = existing!(row, Merchant, name);
            r.authority = m.authority.into();
            r.settlement_mint = m.settlement_mint.into();
            r.settlement_wallet = m.settlement_wallet.into();
            r.authorization_window = m.policy.authorization_window;
            r.auto_capture_delay = m.policy.auto_capture_delay;
            r.refund_window = m.policy.refund_window;
            r.dispute_window = m.policy.dispute_window;
            r.require_kyt = m.policy.require_kyt;
            r.fee_bps = m.fee_bps.map(i32::from);
            r.operator = Key::some(m.operator);
            r.updated_at = ts.max(r.updated_at);
            Row::Merchant(r)
        }
        P::MerchantKybChanged(k) => {
            let mut r = existing!(row, Merchant, name);
            r.kyb_status = k.status.name().into();
            r.kyb_case_hash = crate::idl::hex(&k.case_hash);
            r.updated_at = ts.max(r.updated_at);
            Row::Merchant(r)
        }

        // Payments.
        P::InvoiceOpened(o) => {
            created(&row)?;
            Row::Payment(PaymentRow {
                address: entity,
                merchant: o.merchant.into(),
                order_id: crate::idl::hex(&o.order_id),
                mint: o.mint.into(),
                amount: o.amount,
                status: PaymentStatus::Open.name().into(),
                payer: None,
                authorized: 0,
                captured: 0,
                released: 0,
                refunded: 0,
                fees: 0,
                to_merchant: 0,
                to_assignee: 0,
                assignee: None,
                assigned: 0,
                input_mint: None,
                input_amount: None,
                kyt_cosigned: false,
                expires_at: o.expires_at,
                authorization_expires_at: None,
                refund_deadline: None,
                dispute_deadline: None,
                auto_capture_at: None,
                opened_at: ts,
                status_at: ts,
                closed: false,
                seq: 0,
            })
        }
        P::InvoiceCancelled(_) => {
            let mut r = existing!(row, Payment, name);
            r.set_status(PaymentStatus::Cancelled, ts);
            Row::Payment(r)
        }
        P::InvoiceExpired(_) => {
            let mut r = existing!(row, Payment, name);
            r.set_status(PaymentStatus::Expired, ts);
            Row::Payment(r)
        }
        P::PaymentConverted(c) => {
            let mut r = existing!(row, Payment, name);
            r.input_mint = Some(c.input_mint.into());
            r.input_amount = Some(c.input_amount);
            Row::Payment(r)
        }
        P::PaymentAuthorized(a) => {
            let mut r = existing!(row, Payment, name);
            r.payer = Some(a.payer.into());
            r.authorized = a.received;
            r.authorization_expires_at = Some(a.authorization_expires_at);
            r.refund_deadline = Some(a.refund_deadline);
            r.dispute_deadline = Some(a.dispute_deadline);
            r.auto_capture_at = Some(a.auto_capture_at);
            r.kyt_cosigned = a.kyt_cosigned;
            r.set_status(PaymentStatus::Authorized, ts);
            Row::Payment(r)
        }
        P::PaymentCaptured(c) => {
            let mut r = existing!(row, Payment, name);
            r.captured = add(r.captured, c.amount, "captured")?;
            r.assigned = sub(r.assigned, c.to_assignee, "assigned")?;
            r.settle(c.fee, c.to_assignee, c.to_merchant)?;
            if r.escrowed()? == 0 {
                // The capture that empties the escrow ends the assignment (audit 8).
                r.assigned = 0;
                r.set_status(PaymentStatus::Captured, ts);
            }
            Row::Payment(r)
        }
        P::PaymentVoided(v) => {
            let mut r = existing!(row, Payment, name);
            r.release_rest(v.amount, PaymentStatus::Voided, ts)?;
            Row::Payment(r)
        }
        P::PaymentReclaimed(v) => {
            let mut r = existing!(row, Payment, name);
            r.release_rest(v.amount, PaymentStatus::Reclaimed, ts)?;
            Row::Payment(r)
        }
        P::PaymentRejected(v) => {
            let mut r = existing!(row, Payment, name);
            r.release_rest(v.amount, PaymentStatus::Rejected, ts)?;
            Row::Payment(r)
        }
        P::PaymentRefunded(f) => {
            let mut r = existing!(row, Payment, name);
            r.refunded = f.refunded_total;
            if r.status == PaymentStatus::Captured.name() && r.refunded == r.captured {
                r.set_status(PaymentStatus::Refunded, ts);
            }
            Row::Payment(r)
        }
        P::PaymentDisputed(_) => {
            let mut r = existing!(row, Payment, name);
            r.set_status(PaymentStatus::Disputed, ts);
            Row::Payment(r)
        }
        P::DisputeResolved(d) => {
            let mut r = existing!(row, Payment, name);
            r.captured = add(r.captured, d.to_merchant_gross, "captured")?;
            r.released = add(r.released, d.to_payer, "released")?;
            r.settle(d.fee, d.to_assignee, d.to_merchant)?;
            r.assigned = 0;
            r.set_status(PaymentStatus::Resolved, ts);
            Row::Payment(r)
        }
        P::PaymentHeld(_) => {
            let mut r = existing!(row, Payment, name);
            r.set_status(PaymentStatus::Held, ts);
            Row::Payment(r)
        }
        P::PaymentReleased(_) => {
            let mut r = existing!(row, Payment, name);
            r.set_status(PaymentStatus::Authorized, ts);
            Row::Payment(r)
        }
        P::ReceivableAssigned(a) => {
            let mut r = existing!(row, Payment, name);
            r.assignee = Some(a.assignee.into());
            r.assigned = a.amount;
            Row::Payment(r)
        }
        P::PaymentClosed(_) => {
            let mut r = existing!(row, Payment, name);
            r.closed = true;
            Row::Payment(r)
        }
    })
}
