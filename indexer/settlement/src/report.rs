//! What operators and merchants read from the ledger: the trial balance, a merchant's
//! statement as CSV, and the payout report.

use crate::{
    error::{Result, SettlementError},
    payout::{fiat_exponent, format_amount, Payout},
};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row as _};
use std::collections::HashMap;
use time::OffsetDateTime;

/// One account in the trial balance: posted and pending, on its normal side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrialLine {
    pub account: String,
    pub currency: String,
    pub kind: String,
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

/// Every account's counters, and per currency the sum of debits less credits (zero, posted
/// and pending, in a sound ledger).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TrialBalance {
    pub accounts: Vec<TrialLine>,
    /// (currency, posted debits − credits, pending debits − credits)
    pub totals: Vec<(String, i64, i64)>,
}

impl TrialBalance {
    pub fn balanced(&self) -> bool {
        self.totals.iter().all(|(_, p, q)| *p == 0 && *q == 0)
    }
}

pub async fn trial_balance(pool: &PgPool) -> Result<TrialBalance> {
    let accounts = sqlx::query(
        "SELECT id, currency, kind, debits_posted, credits_posted, debits_pending, credits_pending
         FROM ledger.account_balance ORDER BY currency, id",
    )
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(TrialLine {
            account: r.try_get(0)?,
            currency: r.try_get(1)?,
            kind: r.try_get(2)?,
            debits_posted: r.try_get(3)?,
            credits_posted: r.try_get(4)?,
            debits_pending: r.try_get(5)?,
            credits_pending: r.try_get(6)?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let mut totals: Vec<(String, i64, i64)> = Vec::new();
    for a in &accounts {
        let posted = a.debits_posted - a.credits_posted;
        let pending = a.debits_pending - a.credits_pending;
        match totals.iter_mut().find(|t| t.0 == a.currency) {
            Some(t) => {
                t.1 += posted;
                t.2 += pending;
            }
            None => totals.push((a.currency.clone(), posted, pending)),
        }
    }
    Ok(TrialBalance { accounts, totals })
}

/// The minor-unit decimals of every currency the ledger knows.
async fn exponents(pool: &PgPool) -> Result<HashMap<String, u32>> {
    let mut m: HashMap<String, u32> = HashMap::new();
    for r in sqlx::query("SELECT code, decimals FROM settlement.currency")
        .fetch_all(pool)
        .await?
    {
        m.insert(r.get(0), r.get::<i16, _>(1) as u32);
    }
    Ok(m)
}

fn exponent_of(known: &HashMap<String, u32>, currency: &str) -> u32 {
    known
        .get(currency)
        .copied()
        .or_else(|| fiat_exponent(currency).ok())
        .unwrap_or(0)
}

/// A merchant's statement: every posting on its accounts (what Kassa owes it, what it owes
/// Kassa) from `from` until `to`, oldest first, as CSV with a header: time, transfer, state,
/// account (`payable` / `receivable`), currency, debit, credit, the account's running posted
/// balance, and the description.
pub async fn merchant_statement_csv(
    pool: &PgPool,
    merchant: &Pubkey,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Result<String> {
    let exps = exponents(pool).await?;
    let prefix = format!("merchant:{}:", hex::encode(merchant));
    let rows = sqlx::query(
        "SELECT t.created_at, t.id, t.state, p.account_id, p.currency, p.amount, t.description,
                a.kind
         FROM ledger.posting p
         JOIN ledger.transfer t ON t.id = p.transfer_id
         JOIN ledger.account a ON a.id = p.account_id
         WHERE p.account_id IN (SELECT id FROM ledger.account WHERE starts_with(id, $1))
           AND t.created_at < $3
         ORDER BY t.created_at, t.id, p.n",
    )
    .bind(&prefix)
    .bind(from)
    .bind(to)
    .fetch_all(pool)
    .await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| SettlementError::Invalid(format!("writing CSV: {e}"));
    w.write_record([
        "time",
        "transfer",
        "state",
        "account",
        "currency",
        "debit",
        "credit",
        "posted_balance",
        "description",
    ])
    .map_err(csv_err)?;
    let mut running: HashMap<String, i64> = HashMap::new();
    for r in rows {
        let at: OffsetDateTime = r.get(0);
        let state: String = r.get(2);
        let account: String = r.get(3);
        let currency: String = r.get(4);
        let amount: i64 = r.get(5);
        let kind: String = r.get(7);
        let debit_normal = kind == "asset" || kind == "expense";
        let balance = running.entry(account.clone()).or_default();
        if state == "posted" {
            *balance += if debit_normal { amount } else { -amount };
        }
        if at < from {
            continue;
        }
        let exp = exponent_of(&exps, &currency);
        let name = account
            .strip_prefix(&prefix)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or(&account)
            .to_string();
        let at = at
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| SettlementError::Invalid(e.to_string()))?;
        let (debit, credit) = if amount > 0 {
            (format_amount(amount, exp), String::new())
        } else {
            (String::new(), format_amount(-amount, exp))
        };
        w.write_record([
            at,
            r.get::<String, _>(1),
            state,
            name,
            currency,
            debit,
            credit,
            format_amount(*balance, exp),
            r.get::<String, _>(6),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SettlementError::Invalid(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| SettlementError::Corrupt(e.to_string()))
}

/// The payout report: every payout (of one batch when given) as CSV.
pub async fn payouts_csv(pool: &PgPool, batch: Option<&str>) -> Result<String> {
    let payouts: Vec<Payout> = crate::payout::list(pool, batch).await?;
    let mut w = csv::Writer::from_writer(Vec::new());
    let csv_err = |e: csv::Error| SettlementError::Invalid(format!("writing CSV: {e}"));
    w.write_record([
        "batch",
        "payout",
        "merchant",
        "holder",
        "iban",
        "bic",
        "currency",
        "amount",
        "end_to_end_id",
        "state",
        "return_reason",
    ])
    .map_err(csv_err)?;
    for p in payouts {
        let exp = fiat_exponent(&p.currency).unwrap_or(2);
        w.write_record([
            p.batch,
            p.id,
            p.merchant,
            p.holder,
            p.iban,
            p.bic,
            p.currency,
            format_amount(p.amount, exp),
            p.end_to_end_id,
            p.state,
            p.return_reason.unwrap_or_default(),
        ])
        .map_err(csv_err)?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| SettlementError::Invalid(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| SettlementError::Corrupt(e.to_string()))
}
