//! Projections of `kassa_credit`: pools, lines and advances.

use super::{add, seq, sub, FoldError, Row};
use kassa_credit::state::LineStatus;
use kassa_sdk::decode::CreditEvent;

projection_row! {
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
}

projection_row! {
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
}

projection_row! {
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
}

fn q_sub(a: u64, b: u64) -> Result<u64, FoldError> {
    sub(a, b, "redemptions")
}

pub(super) fn fold_credit(
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
