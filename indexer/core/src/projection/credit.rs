//! Projections of `kassa_credit`: pools, lines and advances.

use super::{add, seq, sub, FoldError, Key, Row};
use kassa_credit::state::LineStatus;
use kassa_credit::state::{PoolRole, Tranche};
use kassa_sdk::decode::CreditEvent;

projection_row! {
pub struct CreditPoolRow {
    pub address: Key,
    pub mint: Key,
    pub vault: Key,
    pub senior_mint: Key,
    pub junior_mint: Key,
    pub admin: Key,
    pub underwriter: Key,
    pub protocol_fee_receiver: Key,
    pub max_line_limit: u64,
    pub max_active_lines: i32,
    pub paused: bool,
    pub senior_cap_bps: i64,
    pub senior_apr_bps: i32,
    pub protocol_fee_bps: i32,
    pub admin_fee_bps: i32,
    pub allowlist: bool,
    pub allowed: Vec<Key>,
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
}

projection_row! {
pub struct CreditLineRow {
    pub address: Key,
    pub pool: Key,
    pub borrower: Key,
    pub merchant: Option<Key>,
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
}

projection_row! {
pub struct AdvanceRow {
    pub address: Key,
    pub line: Key,
    pub payment: Key,
    pub vault: Key,
    pub amount: u64,
    pub arrived: u64,
    pub settled: bool,
    pub shortfall: u64,
    pub closed: bool,
    pub seq: i64,
}
}

fn q_sub(a: u64, b: u64) -> Result<u64, FoldError> {
    sub(a, b, "redemptions")
}

impl CreditPoolRow {
    fn pending_mut(&mut self, tranche: Tranche) -> &mut u64 {
        match tranche {
            Tranche::Senior => &mut self.pending_senior,
            Tranche::Junior => &mut self.pending_junior,
        }
    }
}

/// Applies one credit event to its entity's row (`None` before its first event). Every event
/// has its arm: a new event does not compile until it is folded.
pub(super) fn fold(
    row: Option<Row>,
    e: &CreditEvent,
    entity: Key,
    name: &'static str,
) -> Result<Row, FoldError> {
    use CreditEvent as C;
    let created = |row: &Option<Row>| match row {
        Some(_) => Err(FoldError::Exists(name)),
        None => Ok(()),
    };
    Ok(match e {
        // Pools.
        C::PoolCreated(p) => {
            created(&row)?;
            Row::CreditPool(CreditPoolRow {
                address: entity,
                mint: p.mint.into(),
                vault: p.vault.into(),
                senior_mint: p.senior_mint.into(),
                junior_mint: p.junior_mint.into(),
                admin: p.admin.into(),
                underwriter: p.underwriter.into(),
                protocol_fee_receiver: p.protocol_fee_receiver.into(),
                max_line_limit: p.max_line_limit,
                max_active_lines: i32::from(p.max_active_lines),
                paused: false,
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
            })
        }
        C::PoolPolicyUpdated(p) => {
            let mut r = existing!(row, CreditPool, name);
            r.max_line_limit = p.max_line_limit;
            r.max_active_lines = i32::from(p.max_active_lines);
            r.paused = p.paused;
            Row::CreditPool(r)
        }
        C::PoolRoleTransferred(t) => {
            let mut r = existing!(row, CreditPool, name);
            let to = Key(t.to);
            match t.role {
                PoolRole::Admin => r.admin = to,
                PoolRole::Underwriter => r.underwriter = to,
                PoolRole::ProtocolFeeReceiver => r.protocol_fee_receiver = to,
            }
            Row::CreditPool(r)
        }
        C::LenderAllowlisted(a) => {
            let mut r = existing!(row, CreditPool, name);
            r.allowed.retain(|x| *x != a.lender);
            if a.allowed {
                r.allowed.push(Key(a.lender));
                r.allowed.sort();
            }
            Row::CreditPool(r)
        }
        C::IncomeDistributed(i) => {
            let mut r = existing!(row, CreditPool, name);
            r.income_total = add(r.income_total, i.income, "income")?;
            (r.senior_value, r.junior_value) = (i.senior_value, i.junior_value);
            Row::CreditPool(r)
        }
        C::Deposited(d) => {
            let mut r = existing!(row, CreditPool, name);
            r.deposits_total = add(r.deposits_total, d.amount, "deposits")?;
            (r.senior_value, r.junior_value) = (d.senior_value, d.junior_value);
            Row::CreditPool(r)
        }
        C::FeesWithdrawn(f) => {
            let mut r = existing!(row, CreditPool, name);
            r.fees_withdrawn = add(r.fees_withdrawn, f.amount, "fees")?;
            Row::CreditPool(r)
        }
        C::PoolBalances(b) => {
            let mut r = existing!(row, CreditPool, name);
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
            Row::CreditPool(r)
        }
        C::RedemptionRequested(q) => {
            let mut r = existing!(row, CreditPool, name);
            *r.pending_mut(q.tranche) = q.pending;
            Row::CreditPool(r)
        }
        C::RedemptionCancelled(q) => {
            let mut r = existing!(row, CreditPool, name);
            *r.pending_mut(q.tranche) = q.pending;
            Row::CreditPool(r)
        }
        C::EpochClosed(e) => {
            let mut r = existing!(row, CreditPool, name);
            *r.pending_mut(e.tranche) = q_sub(e.requested, e.served)?;
            match e.tranche {
                Tranche::Senior => r.senior_value = e.tranche_value,
                Tranche::Junior => r.junior_value = e.tranche_value,
            }
            r.epoch_id = seq(e.epoch_id).saturating_add(1);
            Row::CreditPool(r)
        }
        C::RedemptionWithdrawn(w) => {
            let mut r = existing!(row, CreditPool, name);
            r.redeemed_total = add(r.redeemed_total, w.amount, "redeemed")?;
            Row::CreditPool(r)
        }

        // Lines.
        C::LineApproved(l) => {
            created(&row)?;
            Row::CreditLine(CreditLineRow {
                address: entity,
                pool: l.pool.into(),
                borrower: l.borrower.into(),
                merchant: (l.merchant != Default::default()).then_some(Key(l.merchant)),
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
            })
        }
        C::Drawn(d) => {
            let mut r = existing!(row, CreditLine, name);
            r.drawn_total = add(r.drawn_total, d.amount, "drawn")?;
            r.principal = d.principal;
            Row::CreditLine(r)
        }
        C::Repaid(p) => {
            let mut r = existing!(row, CreditLine, name);
            r.fees_paid = add(r.fees_paid, p.fees, "fees")?;
            r.interest_paid = add(r.interest_paid, p.interest, "interest")?;
            r.principal_repaid = add(r.principal_repaid, p.principal, "principal")?;
            r.recovered = add(r.recovered, p.recovery, "recovery")?;
            r.principal = p.principal_after;
            Row::CreditLine(r)
        }
        C::LineStatusChanged(s) => {
            let mut r = existing!(row, CreditLine, name);
            r.status = s.to.name().into();
            Row::CreditLine(r)
        }
        C::LineImpaired(i) => {
            let mut r = existing!(row, CreditLine, name);
            r.impaired = i.line_impaired;
            Row::CreditLine(r)
        }
        C::LineWrittenOff(w) => {
            let mut r = existing!(row, CreditLine, name);
            r.written_off = add(w.principal, w.interest, "written off")?;
            r.principal = 0;
            r.impaired = 0;
            Row::CreditLine(r)
        }

        // Advances.
        C::AdvanceTaken(a) => {
            // A closed advance's address is free again (a payment opened anew at a reused
            // order id); the row follows the advance that lives there now.
            if !matches!(&row, Some(Row::Advance(r)) if r.closed) {
                created(&row)?;
            }
            Row::Advance(AdvanceRow {
                address: entity,
                line: a.line.into(),
                payment: a.payment.into(),
                vault: a.vault.into(),
                amount: a.amount,
                arrived: 0,
                settled: false,
                shortfall: 0,
                closed: false,
                seq: 0,
            })
        }
        C::ReceivableSynced(s) => {
            let mut r = existing!(row, Advance, name);
            r.arrived = s.arrived_total;
            r.settled = s.settled;
            r.shortfall = s.shortfall;
            Row::Advance(r)
        }
        C::AdvanceClosed(_) => {
            let mut r = existing!(row, Advance, name);
            r.closed = true;
            Row::Advance(r)
        }
    })
}
