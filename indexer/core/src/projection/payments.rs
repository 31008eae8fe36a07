//! Projections of `kassa_payments`: the protocol config, merchants and payments.

use super::{add, sub, FoldError};
use kassa_payments::state::{KybStatus, PaymentStatus};
use kassa_sdk::decode::PaymentsEvent;

projection_row! {
pub struct ConfigRow {
    pub address: String,
    pub admin: String,
    pub compliance_authority: String,
    pub arbiter: String,
    pub fee_receiver: String,
    pub protocol_fee_bps: i32,
    pub paused: bool,
    pub hooks: Vec<String>,
    pub blocked: Vec<String>,
    pub seq: i64,
}
}

projection_row! {
pub struct MerchantRow {
    pub address: String,
    pub authority: String,
    pub merchant_id: String,
    pub settlement_mint: String,
    pub settlement_wallet: String,
    pub authorization_window: i64,
    pub auto_capture_delay: i64,
    pub refund_window: i64,
    pub dispute_window: i64,
    pub require_kyt: bool,
    pub fee_bps: Option<i32>,
    pub kyb_status: String,
    pub kyb_case_hash: String,
    pub registered_at: i64,
    pub updated_at: i64,
    pub seq: i64,
}
}

projection_row! {
pub struct PaymentRow {
    pub address: String,
    pub merchant: String,
    pub order_id: String,
    pub mint: String,
    pub amount: u64,
    pub status: String,
    pub payer: Option<String>,
    pub authorized: u64,
    pub captured: u64,
    pub released: u64,
    pub refunded: u64,
    pub fees: u64,
    pub to_merchant: u64,
    pub to_assignee: u64,
    pub assignee: Option<String>,
    pub assigned: u64,
    pub input_mint: Option<String>,
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

pub(super) fn fold_config(
    row: Option<ConfigRow>,
    e: &PaymentsEvent,
    entity: String,
    name: &'static str,
) -> Result<ConfigRow, FoldError> {
    use PaymentsEvent as P;
    if let P::ConfigInitialized(c) = e {
        if row.is_some() {
            return Err(FoldError::Exists(name));
        }
        return Ok(ConfigRow {
            address: entity,
            admin: c.admin.to_string(),
            compliance_authority: c.compliance_authority.to_string(),
            arbiter: c.arbiter.to_string(),
            fee_receiver: c.fee_receiver.to_string(),
            protocol_fee_bps: i32::from(c.protocol_fee_bps),
            paused: false,
            hooks: Vec::new(),
            blocked: Vec::new(),
            seq: 0,
        });
    }
    let mut r = row.ok_or(FoldError::NoEntity(name))?;
    match e {
        P::ConfigUpdated(c) => {
            r.admin = c.admin.to_string();
            r.compliance_authority = c.compliance_authority.to_string();
            r.arbiter = c.arbiter.to_string();
            r.fee_receiver = c.fee_receiver.to_string();
            r.protocol_fee_bps = i32::from(c.protocol_fee_bps);
            r.paused = c.paused;
            r.hooks = c.hooks.iter().map(|h| h.to_string()).collect();
        }
        P::PayerBlocked(b) => {
            let w = b.wallet.to_string();
            if !r.blocked.contains(&w) {
                r.blocked.push(w);
                r.blocked.sort();
            }
        }
        P::PayerUnblocked(b) => {
            let w = b.wallet.to_string();
            r.blocked.retain(|x| *x != w);
        }
        P::VaultOpened(_) => {}
        _ => return Err(FoldError::WrongKind(name)),
    }
    Ok(r)
}

pub(super) fn fold_merchant(
    row: Option<MerchantRow>,
    e: &PaymentsEvent,
    entity: String,
    ts: i64,
    name: &'static str,
) -> Result<MerchantRow, FoldError> {
    use PaymentsEvent as P;
    if let P::MerchantRegistered(m) = e {
        if row.is_some() {
            return Err(FoldError::Exists(name));
        }
        return Ok(MerchantRow {
            address: entity,
            authority: m.authority.to_string(),
            merchant_id: m.merchant_id.to_string(),
            settlement_mint: m.settlement_mint.to_string(),
            settlement_wallet: m.settlement_wallet.to_string(),
            authorization_window: m.policy.authorization_window,
            auto_capture_delay: m.policy.auto_capture_delay,
            refund_window: m.policy.refund_window,
            dispute_window: m.policy.dispute_window,
            require_kyt: m.policy.require_kyt,
            fee_bps: None,
            kyb_status: KybStatus::Pending.name().into(),
            kyb_case_hash: crate::idl::hex(&[0; 32]),
            registered_at: ts,
            updated_at: ts,
            seq: 0,
        });
    }
    let mut r = row.ok_or(FoldError::NoEntity(name))?;
    match e {
        P::MerchantUpdated(m) => {
            r.authority = m.authority.to_string();
            r.settlement_mint = m.settlement_mint.to_string();
            r.settlement_wallet = m.settlement_wallet.to_string();
            r.authorization_window = m.policy.authorization_window;
            r.auto_capture_delay = m.policy.auto_capture_delay;
            r.refund_window = m.policy.refund_window;
            r.dispute_window = m.policy.dispute_window;
            r.require_kyt = m.policy.require_kyt;
            r.fee_bps = m.fee_bps.map(i32::from);
        }
        P::MerchantKybChanged(k) => {
            r.kyb_status = k.status.name().into();
            r.kyb_case_hash = crate::idl::hex(&k.case_hash);
        }
        _ => return Err(FoldError::WrongKind(name)),
    }
    r.updated_at = ts.max(r.updated_at);
    Ok(r)
}

pub(super) fn fold_payment(
    row: Option<PaymentRow>,
    e: &PaymentsEvent,
    entity: String,
    ts: i64,
    name: &'static str,
) -> Result<PaymentRow, FoldError> {
    use PaymentsEvent as P;
    if let P::InvoiceOpened(o) = e {
        if row.is_some() {
            return Err(FoldError::Exists(name));
        }
        return Ok(PaymentRow {
            address: entity,
            merchant: o.merchant.to_string(),
            order_id: crate::idl::hex(&o.order_id),
            mint: o.mint.to_string(),
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
        });
    }
    let mut r = row.ok_or(FoldError::NoEntity(name))?;
    match e {
        P::InvoiceCancelled(_) => r.set_status(PaymentStatus::Cancelled, ts),
        P::InvoiceExpired(_) => r.set_status(PaymentStatus::Expired, ts),
        P::PaymentConverted(c) => {
            r.input_mint = Some(c.input_mint.to_string());
            r.input_amount = Some(c.input_amount);
        }
        P::PaymentAuthorized(a) => {
            r.payer = Some(a.payer.to_string());
            r.authorized = a.received;
            r.authorization_expires_at = Some(a.authorization_expires_at);
            r.refund_deadline = Some(a.refund_deadline);
            r.dispute_deadline = Some(a.dispute_deadline);
            r.auto_capture_at = Some(a.auto_capture_at);
            r.kyt_cosigned = a.kyt_cosigned;
            r.set_status(PaymentStatus::Authorized, ts);
        }
        P::PaymentCaptured(c) => {
            r.captured = add(r.captured, c.amount, "captured")?;
            r.assigned = sub(r.assigned, c.to_assignee, "assigned")?;
            r.settle(c.fee, c.to_assignee, c.to_merchant)?;
            if r.escrowed()? == 0 {
                r.set_status(PaymentStatus::Captured, ts);
            }
        }
        P::PaymentVoided(v) => r.release_rest(v.amount, PaymentStatus::Voided, ts)?,
        P::PaymentReclaimed(v) => r.release_rest(v.amount, PaymentStatus::Reclaimed, ts)?,
        P::PaymentRejected(v) => r.release_rest(v.amount, PaymentStatus::Rejected, ts)?,
        P::PaymentRefunded(f) => {
            r.refunded = f.refunded_total;
            if r.status == PaymentStatus::Captured.name() && r.refunded == r.captured {
                r.set_status(PaymentStatus::Refunded, ts);
            }
        }
        P::PaymentDisputed(_) => r.set_status(PaymentStatus::Disputed, ts),
        P::DisputeResolved(d) => {
            r.captured = add(r.captured, d.to_merchant_gross, "captured")?;
            r.released = add(r.released, d.to_payer, "released")?;
            r.settle(d.fee, d.to_assignee, d.to_merchant)?;
            r.assigned = 0;
            r.set_status(PaymentStatus::Resolved, ts);
        }
        P::PaymentHeld(_) => r.set_status(PaymentStatus::Held, ts),
        P::PaymentReleased(_) => r.set_status(PaymentStatus::Authorized, ts),
        P::ReceivableAssigned(a) => {
            r.assignee = Some(a.assignee.to_string());
            r.assigned = a.amount;
        }
        P::PaymentClosed(_) => r.closed = true,
        _ => return Err(FoldError::WrongKind(name)),
    }
    Ok(r)
}
