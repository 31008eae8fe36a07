//! Projections: each row is the fold of its entity's live events, in sequence order. The same
//! fold serves the incremental path (new events on top of the stored row) and the rebuild
//! after a rollback (all remaining events from nothing), so both always agree.
//!
//! The fold is written from the events alone, independently of the programs' state code, so
//! that the reconciler comparing these rows with the accounts on chain checks something.

use crate::decode::KassaEvent;
use kassa_credit::state::LineStatus;
use kassa_payments::state::{KybStatus, PaymentStatus};
use kassa_sdk::decode::{ConvertEvent, CreditEvent, PaymentsEvent};
use serde::{Deserialize, Serialize};

/// The projection table an entity lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Config,
    Merchant,
    Payment,
    Pool,
    CreditPool,
    CreditLine,
    Advance,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Config,
        Kind::Merchant,
        Kind::Payment,
        Kind::Pool,
        Kind::CreditPool,
        Kind::CreditLine,
        Kind::Advance,
    ];

    pub fn of(event: &KassaEvent) -> Kind {
        use CreditEvent as C;
        use PaymentsEvent as P;
        match event {
            KassaEvent::Convert(_) => Kind::Pool,
            KassaEvent::Credit(e) => match e {
                C::PoolCreated(_)
                | C::LenderAllowlisted(_)
                | C::IncomeDistributed(_)
                | C::Deposited(_)
                | C::FeesWithdrawn(_)
                | C::PoolBalances(_)
                | C::RedemptionRequested(_)
                | C::RedemptionCancelled(_)
                | C::EpochClosed(_)
                | C::RedemptionWithdrawn(_) => Kind::CreditPool,
                C::AdvanceTaken(_) | C::ReceivableSynced(_) => Kind::Advance,
                _ => Kind::CreditLine,
            },
            KassaEvent::Payments(e) => match e {
                P::ConfigInitialized(_)
                | P::ConfigUpdated(_)
                | P::PayerBlocked(_)
                | P::PayerUnblocked(_)
                | P::VaultOpened(_) => Kind::Config,
                P::MerchantRegistered(_) | P::MerchantUpdated(_) | P::MerchantKybChanged(_) => {
                    Kind::Merchant
                }
                _ => Kind::Payment,
            },
        }
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::Config => "protocol_config",
            Kind::Merchant => "merchants",
            Kind::Payment => "payments",
            Kind::Pool => "pools",
            Kind::CreditPool => "credit_pools",
            Kind::CreditLine => "credit_lines",
            Kind::Advance => "advances",
        }
    }
}

/// A fold that cannot go on: the history is incomplete (indexing began after the entity was
/// created) or contradicts itself.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FoldError {
    #[error("{0} before the entity was created")]
    NoEntity(&'static str),
    #[error("{0} for an entity that already exists")]
    Exists(&'static str),
    #[error("{0}: amount arithmetic leaves the u64 range")]
    Overflow(&'static str),
    #[error("event of another kind ({0})")]
    WrongKind(&'static str),
    #[error("the stored history has no event of sequence {0} yet")]
    Gap(u64),
}

fn add(a: u64, b: u64, what: &'static str) -> Result<u64, FoldError> {
    a.checked_add(b).ok_or(FoldError::Overflow(what))
}

fn sub(a: u64, b: u64, what: &'static str) -> Result<u64, FoldError> {
    a.checked_sub(b).ok_or(FoldError::Overflow(what))
}

fn seq(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolRow {
    pub address: String,
    pub mint_a: String,
    pub mint_b: String,
    pub lp_mint: String,
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub lp_supply: u64,
    pub protocol_fees_a: u64,
    pub protocol_fees_b: u64,
    pub initial_amp: i64,
    pub target_amp: i64,
    pub ramp_start: i64,
    pub ramp_stop: i64,
    pub trade_fee_bps: i32,
    pub protocol_share_bps: i32,
    pub paused: bool,
    pub swaps: i64,
    pub volume_a: u64,
    pub volume_b: u64,
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditPoolRow {
    pub address: String,
    pub mint: String,
    pub vault: String,
    pub senior_mint: String,
    pub junior_mint: String,
    pub admin: String,
    pub underwriter: String,
    pub senior_cap_bps: i64,
    pub senior_apr_bps: i32,
    pub protocol_fee_bps: i32,
    pub admin_fee_bps: i32,
    pub allowlist: bool,
    pub allowed: Vec<String>,
    pub cash: u64,
    pub principal: u64,
    pub receivable: u64,
    pub senior_value: u64,
    pub junior_value: u64,
    pub protocol_fees: u64,
    pub admin_fees: u64,
    pub impaired_senior: u64,
    pub impaired_junior: u64,
    pub losses: u64,
    pub deposits_total: u64,
    pub income_total: u64,
    pub fees_withdrawn: u64,
    pub epoch_seconds: i64,
    pub epoch_id: i64,
    pub pending_senior: u64,
    pub pending_junior: u64,
    pub redemption_payable: u64,
    pub redeemed_total: u64,
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditLineRow {
    pub address: String,
    pub pool: String,
    pub borrower: String,
    pub merchant: Option<String>,
    pub kind: String,
    pub status: String,
    pub credit_limit: u64,
    pub apr_bps: i32,
    pub late_apr_bps: i32,
    pub advance_rate_bps: i32,
    pub maturity: i64,
    pub payment_interval: i64,
    pub grace_seconds: i64,
    pub principal: u64,
    pub drawn_total: u64,
    pub principal_repaid: u64,
    pub interest_paid: u64,
    pub fees_paid: u64,
    pub recovered: u64,
    pub impaired: u64,
    pub written_off: u64,
    pub seq: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceRow {
    pub address: String,
    pub line: String,
    pub payment: String,
    pub vault: String,
    pub amount: u64,
    pub arrived: u64,
    pub settled: bool,
    pub shortfall: u64,
    pub seq: i64,
}

/// Any projection row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Row {
    Config(ConfigRow),
    Merchant(MerchantRow),
    Payment(PaymentRow),
    Pool(PoolRow),
    CreditPool(CreditPoolRow),
    CreditLine(CreditLineRow),
    Advance(AdvanceRow),
}

impl Row {
    pub fn seq(&self) -> i64 {
        match self {
            Row::Config(r) => r.seq,
            Row::Merchant(r) => r.seq,
            Row::Payment(r) => r.seq,
            Row::Pool(r) => r.seq,
            Row::CreditPool(r) => r.seq,
            Row::CreditLine(r) => r.seq,
            Row::Advance(r) => r.seq,
        }
    }

    pub fn address(&self) -> &str {
        match self {
            Row::Config(r) => &r.address,
            Row::Merchant(r) => &r.address,
            Row::Payment(r) => &r.address,
            Row::Pool(r) => &r.address,
            Row::CreditPool(r) => &r.address,
            Row::CreditLine(r) => &r.address,
            Row::Advance(r) => &r.address,
        }
    }

    fn set_seq(&mut self, s: i64) {
        match self {
            Row::Config(x) => x.seq = s,
            Row::Merchant(x) => x.seq = s,
            Row::Payment(x) => x.seq = s,
            Row::Pool(x) => x.seq = s,
            Row::CreditPool(x) => x.seq = s,
            Row::CreditLine(x) => x.seq = s,
            Row::Advance(x) => x.seq = s,
        }
    }

    pub fn from_json(kind: Kind, v: serde_json::Value) -> Result<Row, serde_json::Error> {
        Self::deserialize_as(kind, v)
    }

    /// A row from its JSON text (`row_to_json`), without an intermediate `Value`.
    pub fn from_json_str(kind: Kind, s: &str) -> Result<Row, serde_json::Error> {
        Self::deserialize_as(kind, &mut serde_json::Deserializer::from_str(s))
    }

    fn deserialize_as<'de, D: serde::Deserializer<'de>>(kind: Kind, d: D) -> Result<Row, D::Error> {
        Ok(match kind {
            Kind::Config => Row::Config(ConfigRow::deserialize(d)?),
            Kind::Merchant => Row::Merchant(MerchantRow::deserialize(d)?),
            Kind::Payment => Row::Payment(PaymentRow::deserialize(d)?),
            Kind::Pool => Row::Pool(PoolRow::deserialize(d)?),
            Kind::CreditPool => Row::CreditPool(CreditPoolRow::deserialize(d)?),
            Kind::CreditLine => Row::CreditLine(CreditLineRow::deserialize(d)?),
            Kind::Advance => Row::Advance(AdvanceRow::deserialize(d)?),
        })
    }
}

/// Applies one event to the entity's row (`None` before its first event).
pub fn fold(row: Option<Row>, event: &KassaEvent) -> Result<Option<Row>, FoldError> {
    let h = event.header();
    let (entity, s, ts) = (h.entity, h.seq, h.timestamp);
    let name = event.name();
    let entity = entity.to_string();
    // The row as the variant an event of this kind folds into.
    macro_rules! take {
        ($row:expr, $variant:ident) => {
            match $row {
                Some(Row::$variant(r)) => Some(r),
                None => None,
                Some(_) => return Err(FoldError::WrongKind(name)),
            }
        };
    }
    Ok(Some(match (row, event) {
        (row, KassaEvent::Payments(e)) => match Kind::of(event) {
            Kind::Config => Row::Config(fold_config(take!(row, Config), e, entity, name)?),
            Kind::Merchant => {
                Row::Merchant(fold_merchant(take!(row, Merchant), e, entity, ts, name)?)
            }
            _ => Row::Payment(fold_payment(take!(row, Payment), e, entity, ts, name)?),
        },
        (row, KassaEvent::Convert(e)) => {
            Row::Pool(fold_pool(take!(row, Pool), e, entity, ts, name)?)
        }
        (row, KassaEvent::Credit(e)) => fold_credit(row, e, entity, name)?,
    }))
    .map(|r| {
        r.map(|mut r| {
            r.set_seq(seq(s));
            r
        })
    })
}

fn fold_config(
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

fn fold_merchant(
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

fn fold_payment(
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

fn fold_pool(
    row: Option<PoolRow>,
    e: &ConvertEvent,
    entity: String,
    ts: i64,
    name: &'static str,
) -> Result<PoolRow, FoldError> {
    use ConvertEvent as C;
    if let C::PoolCreated(p) = e {
        if row.is_some() {
            return Err(FoldError::Exists(name));
        }
        let amp = seq(p.amp);
        let no_ramp = ts.saturating_sub(kassa_convert::constants::MIN_RAMP_DURATION);
        return Ok(PoolRow {
            address: entity,
            mint_a: p.mint_a.to_string(),
            mint_b: p.mint_b.to_string(),
            lp_mint: p.lp_mint.to_string(),
            reserve_a: 0,
            reserve_b: 0,
            lp_supply: 0,
            protocol_fees_a: 0,
            protocol_fees_b: 0,
            initial_amp: amp,
            target_amp: amp,
            ramp_start: no_ramp,
            ramp_stop: no_ramp,
            trade_fee_bps: i32::from(p.trade_fee_bps),
            protocol_share_bps: i32::from(p.protocol_share_bps),
            paused: false,
            swaps: 0,
            volume_a: 0,
            volume_b: 0,
            seq: 0,
        });
    }
    let mut r = row.ok_or(FoldError::NoEntity(name))?;
    match e {
        C::LiquidityAdded(l) => {
            (r.reserve_a, r.reserve_b, r.lp_supply) = (l.reserve_a, l.reserve_b, l.lp_supply);
        }
        C::LiquidityRemoved(l) => {
            (r.reserve_a, r.reserve_b, r.lp_supply) = (l.reserve_a, l.reserve_b, l.lp_supply);
        }
        C::Swapped(s) => {
            (r.reserve_a, r.reserve_b) = (s.reserve_a, s.reserve_b);
            let a_out = s.mint_out.to_string() == r.mint_a;
            let (vol_in, vol_out) = if a_out {
                (&mut r.volume_b, &mut r.volume_a)
            } else {
                (&mut r.volume_a, &mut r.volume_b)
            };
            *vol_in = add(*vol_in, s.received_in, "volume")?;
            *vol_out = add(*vol_out, s.amount_out, "volume")?;
            let fees = if a_out {
                &mut r.protocol_fees_a
            } else {
                &mut r.protocol_fees_b
            };
            *fees = add(*fees, s.protocol_fee, "protocol fees")?;
            r.swaps += 1;
        }
        C::AmpRampStarted(a) => {
            r.initial_amp = seq(a.initial_amp);
            r.target_amp = seq(a.target_amp);
            r.ramp_start = a.start;
            r.ramp_stop = a.stop;
        }
        C::AmpRampStopped(a) => {
            r.initial_amp = seq(a.amp);
            r.target_amp = seq(a.amp);
            r.ramp_start = ts;
            r.ramp_stop = ts;
        }
        C::PoolSettingsChanged(p) => {
            r.paused = p.paused;
            r.trade_fee_bps = i32::from(p.trade_fee_bps);
            r.protocol_share_bps = i32::from(p.protocol_share_bps);
        }
        C::ProtocolFeesWithdrawn(w) => {
            r.protocol_fees_a = sub(r.protocol_fees_a, w.amount_a, "protocol fees")?;
            r.protocol_fees_b = sub(r.protocol_fees_b, w.amount_b, "protocol fees")?;
        }
        C::PoolCreated(_) => return Err(FoldError::Exists(name)),
    }
    Ok(r)
}

fn q_sub(a: u64, b: u64) -> Result<u64, FoldError> {
    sub(a, b, "redemptions")
}

fn fold_credit(
    row: Option<Row>,
    e: &CreditEvent,
    entity: String,
    name: &'static str,
) -> Result<Row, FoldError> {
    use CreditEvent as C;
    match (row, e) {
        (None, C::PoolCreated(p)) => Ok(Row::CreditPool(CreditPoolRow {
            address: entity,
            mint: p.mint.to_string(),
            vault: p.vault.to_string(),
            senior_mint: p.senior_mint.to_string(),
            junior_mint: p.junior_mint.to_string(),
            admin: p.admin.to_string(),
            underwriter: p.underwriter.to_string(),
            senior_cap_bps: i64::from(p.senior_cap_bps),
            senior_apr_bps: i32::from(p.senior_apr_bps),
            protocol_fee_bps: i32::from(p.protocol_fee_bps),
            admin_fee_bps: i32::from(p.admin_fee_bps),
            allowlist: p.allowlist,
            allowed: Vec::new(),
            cash: 0,
            principal: 0,
            receivable: 0,
            senior_value: 0,
            junior_value: 0,
            protocol_fees: 0,
            admin_fees: 0,
            impaired_senior: 0,
            impaired_junior: 0,
            losses: 0,
            deposits_total: 0,
            income_total: 0,
            fees_withdrawn: 0,
            epoch_seconds: p.epoch_seconds,
            epoch_id: 0,
            pending_senior: 0,
            pending_junior: 0,
            redemption_payable: 0,
            redeemed_total: 0,
            seq: 0,
        })),
        (None, C::LineApproved(l)) => Ok(Row::CreditLine(CreditLineRow {
            address: entity,
            pool: l.pool.to_string(),
            borrower: l.borrower.to_string(),
            merchant: (l.merchant != Default::default()).then(|| l.merchant.to_string()),
            kind: l.kind.name().into(),
            status: LineStatus::GoodStanding.name().into(),
            credit_limit: l.limit,
            apr_bps: i32::from(l.apr_bps),
            late_apr_bps: i32::from(l.late_apr_bps),
            advance_rate_bps: i32::from(l.advance_rate_bps),
            maturity: l.maturity,
            payment_interval: l.payment_interval,
            grace_seconds: l.grace_seconds,
            principal: 0,
            drawn_total: 0,
            principal_repaid: 0,
            interest_paid: 0,
            fees_paid: 0,
            recovered: 0,
            impaired: 0,
            written_off: 0,
            seq: 0,
        })),
        (None, C::AdvanceTaken(a)) => Ok(Row::Advance(AdvanceRow {
            address: entity,
            line: a.line.to_string(),
            payment: a.payment.to_string(),
            vault: a.vault.to_string(),
            amount: a.amount,
            arrived: 0,
            settled: false,
            shortfall: 0,
            seq: 0,
        })),
        (None, _) => Err(FoldError::NoEntity(name)),
        (Some(Row::CreditPool(mut r)), e) => {
            match e {
                C::LenderAllowlisted(a) => {
                    let lender = a.lender.to_string();
                    r.allowed.retain(|x| *x != lender);
                    if a.allowed {
                        r.allowed.push(lender);
                        r.allowed.sort();
                    }
                }
                C::IncomeDistributed(i) => {
                    r.income_total = add(r.income_total, i.income, "income")?;
                    (r.senior_value, r.junior_value) = (i.senior_value, i.junior_value);
                }
                C::Deposited(d) => {
                    r.deposits_total = add(r.deposits_total, d.amount, "deposits")?;
                    (r.senior_value, r.junior_value) = (d.senior_value, d.junior_value);
                }
                C::FeesWithdrawn(f) => {
                    r.fees_withdrawn = add(r.fees_withdrawn, f.amount, "fees")?;
                }
                C::PoolBalances(b) => {
                    r.cash = b.cash;
                    r.principal = b.principal;
                    r.receivable = b.receivable;
                    r.senior_value = b.senior_value;
                    r.junior_value = b.junior_value;
                    r.protocol_fees = b.protocol_fees;
                    r.admin_fees = b.admin_fees;
                    r.impaired_senior = b.impaired_senior;
                    r.impaired_junior = b.impaired_junior;
                    r.losses = b.losses;
                    r.redemption_payable = b.redemption_payable;
                }
                C::RedemptionRequested(q) => match q.tranche {
                    kassa_credit::state::Tranche::Senior => r.pending_senior = q.pending,
                    kassa_credit::state::Tranche::Junior => r.pending_junior = q.pending,
                },
                C::RedemptionCancelled(q) => match q.tranche {
                    kassa_credit::state::Tranche::Senior => r.pending_senior = q.pending,
                    kassa_credit::state::Tranche::Junior => r.pending_junior = q.pending,
                },
                C::EpochClosed(e) => {
                    let left = q_sub(e.requested, e.served)?;
                    match e.tranche {
                        kassa_credit::state::Tranche::Senior => {
                            r.pending_senior = left;
                            r.senior_value = e.tranche_value;
                        }
                        kassa_credit::state::Tranche::Junior => {
                            r.pending_junior = left;
                            r.junior_value = e.tranche_value;
                        }
                    }
                    r.epoch_id = seq(e.epoch_id).saturating_add(1);
                }
                C::RedemptionWithdrawn(w) => {
                    r.redeemed_total = add(r.redeemed_total, w.amount, "redeemed")?;
                }
                C::PoolCreated(_) => return Err(FoldError::Exists(name)),
                _ => return Err(FoldError::WrongKind(name)),
            }
            Ok(Row::CreditPool(r))
        }
        (Some(Row::CreditLine(mut r)), e) => {
            match e {
                C::Drawn(d) => {
                    r.drawn_total = add(r.drawn_total, d.amount, "drawn")?;
                    r.principal = d.principal;
                }
                C::Repaid(p) => {
                    r.fees_paid = add(r.fees_paid, p.fees, "fees")?;
                    r.interest_paid = add(r.interest_paid, p.interest, "interest")?;
                    r.principal_repaid = add(r.principal_repaid, p.principal, "principal")?;
                    r.recovered = add(r.recovered, p.recovery, "recovery")?;
                    r.principal = p.principal_after;
                }
                C::LineStatusChanged(s) => r.status = s.to.name().into(),
                C::LineImpaired(i) => r.impaired = i.line_impaired,
                C::LineWrittenOff(w) => {
                    r.written_off = add(w.principal, w.interest, "written off")?;
                    r.principal = 0;
                    r.impaired = 0;
                }
                C::LineApproved(_) => return Err(FoldError::Exists(name)),
                _ => return Err(FoldError::WrongKind(name)),
            }
            Ok(Row::CreditLine(r))
        }
        (Some(Row::Advance(mut r)), e) => {
            match e {
                C::ReceivableSynced(s) => {
                    r.arrived = s.arrived_total;
                    r.settled = s.settled;
                    r.shortfall = s.shortfall;
                }
                C::AdvanceTaken(_) => return Err(FoldError::Exists(name)),
                _ => return Err(FoldError::WrongKind(name)),
            }
            Ok(Row::Advance(r))
        }
        (Some(_), _) => Err(FoldError::WrongKind(name)),
    }
}
