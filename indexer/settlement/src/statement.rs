//! Bank statements: ISO 20022 `camt.053.001.08` files from Kassa's partner banks, imported and
//! matched to payouts by end-to-end id and amount.
//!
//! - A **debit** carrying a sent payout's end-to-end id and its amount settles it.
//! - A **credit** that is a return (`RtrInf`, with its reason code such as `AC04`) or a reversal
//!   of a payout's full amount returns it: the money is the merchant's again.
//! - Anything else (an unknown end-to-end id, another amount, a partial return, a payout seen
//!   twice, an entry not booked yet, a credit Kassa did not expect) is kept as an exception
//!   with its reason for an operator. Nothing on a statement is dropped.
//!
//! A file is imported once (by its SHA-256, and by its statement id per account); a statement
//! whose balances do not add up (opening + credits − debits ≠ closing), that is not for one of
//! Kassa's bank accounts, or that cannot be read is refused whole, with the reason.

use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::{open_accounts_in, transfer_in, NewTransfer, Posting},
    payout::fiat_exponent,
};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool, Row as _};
use std::str::FromStr;
use time::{Date, OffsetDateTime};

// The parts of camt.053.001.08 that Kassa reads (element names as the schema spells them).

#[derive(Deserialize)]
struct Document {
    #[serde(rename = "BkToCstmrStmt")]
    statement: BkToCstmrStmt,
}

#[derive(Deserialize)]
struct BkToCstmrStmt {
    #[serde(rename = "GrpHdr")]
    header: GrpHdr,
    #[serde(rename = "Stmt")]
    statements: Vec<Stmt>,
}

#[derive(Deserialize)]
struct GrpHdr {
    #[serde(rename = "MsgId")]
    message_id: String,
}

#[derive(Deserialize)]
struct Stmt {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Acct")]
    account: Acct,
    #[serde(rename = "Bal", default)]
    balances: Vec<Bal>,
    #[serde(rename = "Ntry", default)]
    entries: Vec<Ntry>,
}

#[derive(Deserialize)]
struct Acct {
    #[serde(rename = "Id")]
    id: AcctId,
    #[serde(rename = "Ccy")]
    currency: Option<String>,
}

#[derive(Deserialize)]
struct AcctId {
    #[serde(rename = "IBAN")]
    iban: Option<String>,
}

#[derive(Deserialize)]
struct Bal {
    #[serde(rename = "Tp")]
    kind: BalTp,
    #[serde(rename = "Amt")]
    amount: Amt,
    #[serde(rename = "CdtDbtInd")]
    side: String,
    #[serde(rename = "Dt")]
    date: DateChoice,
}

#[derive(Deserialize)]
struct BalTp {
    #[serde(rename = "CdOrPrtry")]
    code: CodeChoice,
}

#[derive(Deserialize)]
struct CodeChoice {
    #[serde(rename = "Cd")]
    code: Option<String>,
    #[serde(rename = "Prtry")]
    proprietary: Option<String>,
}

#[derive(Deserialize)]
struct DateChoice {
    #[serde(rename = "Dt")]
    date: Option<String>,
    #[serde(rename = "DtTm")]
    date_time: Option<String>,
}

#[derive(Deserialize, Clone)]
struct Amt {
    #[serde(rename = "@Ccy")]
    currency: String,
    #[serde(rename = "$text")]
    value: String,
}

#[derive(Deserialize)]
struct Ntry {
    #[serde(rename = "Amt")]
    amount: Amt,
    #[serde(rename = "CdtDbtInd")]
    side: String,
    #[serde(rename = "RvslInd")]
    reversal: Option<bool>,
    #[serde(rename = "Sts")]
    status: CodeChoice,
    #[serde(rename = "BookgDt")]
    booking_date: Option<DateChoice>,
    #[serde(rename = "AcctSvcrRef")]
    bank_ref: Option<String>,
    #[serde(rename = "NtryDtls", default)]
    details: Vec<NtryDtls>,
}

#[derive(Deserialize)]
struct NtryDtls {
    #[serde(rename = "TxDtls", default)]
    transactions: Vec<TxDtls>,
}

#[derive(Deserialize)]
struct TxDtls {
    #[serde(rename = "Refs")]
    refs: Option<Refs>,
    #[serde(rename = "Amt")]
    amount: Option<Amt>,
    #[serde(rename = "RmtInf")]
    remittance: Option<RmtInf>,
    #[serde(rename = "RtrInf")]
    return_info: Option<RtrInf>,
}

#[derive(Deserialize)]
struct Refs {
    #[serde(rename = "EndToEndId")]
    end_to_end_id: Option<String>,
}

#[derive(Deserialize)]
struct RmtInf {
    #[serde(rename = "Ustrd", default)]
    unstructured: Vec<String>,
}

#[derive(Deserialize)]
struct RtrInf {
    #[serde(rename = "Rsn")]
    reason: Option<CodeChoice>,
}

/// One line of a statement, as Kassa reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    pub(crate) amount: i64,
    pub(crate) credit: bool,
    pub(crate) booked: bool,
    pub(crate) reversal: bool,
    pub(crate) booking_date: Date,
    pub(crate) bank_ref: Option<String>,
    pub(crate) end_to_end_id: Option<String>,
    pub(crate) return_reason: Option<String>,
    pub(crate) remittance: Option<String>,
}

/// The result of importing a statement file.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Imported {
    /// Statement rows stored (one per `Stmt` in the file).
    pub statements: Vec<i64>,
    pub lines: usize,
    pub settled: usize,
    pub returned: usize,
    /// Credits that bought stablecoins through the on-ramp.
    pub onramp: usize,
    /// Lines kept for an operator, with their reasons.
    pub exceptions: Vec<String>,
}

fn minor(a: &Amt, currency: &str, exponent: u32, what: &str) -> Result<i64> {
    if a.currency != currency {
        return Err(SettlementError::Statement(format!(
            "{what} is in {}, the account in {currency}",
            a.currency
        )));
    }
    let d = Decimal::from_str(a.value.trim())
        .map_err(|_| SettlementError::Statement(format!("{what}: amount {:?}", a.value)))?;
    if d.is_sign_negative() || d.scale() > exponent {
        return Err(SettlementError::Statement(format!(
            "{what}: amount {} is negative or has more than {exponent} decimals",
            a.value
        )));
    }
    let m = d * Decimal::from(10i64.pow(exponent));
    i64::try_from(m)
        .map_err(|_| SettlementError::Statement(format!("{what}: amount {} too large", a.value)))
}

fn date(d: &DateChoice, what: &str) -> Result<Date> {
    let s = d
        .date
        .as_deref()
        .or(d.date_time.as_deref().map(|t| t.get(..10).unwrap_or(t)))
        .ok_or_else(|| SettlementError::Statement(format!("{what}: no date")))?;
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| SettlementError::Statement(format!("{what}: date {s:?}")))
}

fn side(s: &str, what: &str) -> Result<bool> {
    match s {
        "CRDT" => Ok(true),
        "DBIT" => Ok(false),
        other => Err(SettlementError::Statement(format!(
            "{what}: CdtDbtInd {other:?}, expected CRDT or DBIT"
        ))),
    }
}

/// Imports a `camt.053.001.08` file: refused whole if it cannot be read, is not for a Kassa
/// bank account, does not add up, or was imported before; otherwise every line is stored with
/// what it matched or why it matched nothing.
pub async fn import(pool: &PgPool, file: &[u8]) -> Result<Imported> {
    import_with(pool, file, None).await
}

/// [`import`], with the rate source that prices on-ramp credits (without one, an on-ramp
/// credit is an exception).
pub async fn import_with(
    pool: &PgPool,
    file: &[u8],
    rates: Option<&dyn crate::rates::RateSource>,
) -> Result<Imported> {
    let sha = hex::encode(Sha256::digest(file));
    let known: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, statement_id FROM settlement.statement WHERE file_sha256 = $1 LIMIT 1",
    )
    .bind(&sha)
    .fetch_optional(pool)
    .await?;
    if let Some((id, statement_id)) = known {
        return Err(SettlementError::Conflict(format!(
            "this file was imported already (statement {statement_id}, import {id}): nothing \
             was booked twice"
        )));
    }
    let text = std::str::from_utf8(file)
        .map_err(|e| SettlementError::Statement(format!("the file is not UTF-8: {e}")))?;
    let doc: Document = quick_xml::de::from_str(text)
        .map_err(|e| SettlementError::Statement(format!("not a camt.053 document: {e}")))?;
    let now = OffsetDateTime::now_utc();
    let mut out = Imported::default();
    let mut tx = pool.begin().await?;
    for (i, stmt) in doc.statement.statements.iter().enumerate() {
        let what = format!("statement {}", stmt.id);
        let iban = stmt.account.id.iban.as_deref().ok_or_else(|| {
            SettlementError::Statement(format!("{what}: the account has no IBAN"))
        })?;
        let row = sqlx::query("SELECT id, currency FROM settlement.bank_account WHERE iban = $1")
            .bind(iban)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| {
                SettlementError::Statement(format!(
                    "{what}: IBAN {iban} is not one of Kassa's bank accounts"
                ))
            })?;
        let bank_account: String = row.get(0);
        let currency: String = row.get(1);
        if let Some(c) = &stmt.account.currency {
            if c != &currency {
                return Err(SettlementError::Statement(format!(
                    "{what}: the account is in {c}, Kassa's {bank_account} in {currency}"
                )));
            }
        }
        let exp = fiat_exponent(&currency)?;
        let balance = |codes: &[&str]| -> Result<(i64, Date)> {
            let b = stmt
                .balances
                .iter()
                .find(|b| {
                    b.kind
                        .code
                        .code
                        .as_deref()
                        .or(b.kind.code.proprietary.as_deref())
                        .is_some_and(|c| codes.contains(&c))
                })
                .ok_or_else(|| {
                    SettlementError::Statement(format!("{what}: no {} balance", codes.join("/")))
                })?;
            let v = minor(&b.amount, &currency, exp, &what)?;
            let v = if side(&b.side, &what)? { v } else { -v };
            Ok((v, date(&b.date, &what)?))
        };
        let (opening, opening_date) = balance(&["OPBD", "PRCD"])?;
        let (closing, closing_date) = balance(&["CLBD"])?;
        let lines = lines_of(stmt, &currency, exp, closing_date, &what)?;
        let moved: i64 = lines
            .iter()
            .filter(|l| l.booked)
            .map(|l| if l.credit { l.amount } else { -l.amount })
            .sum();
        if opening + moved != closing {
            return Err(SettlementError::Statement(format!(
                "{what}: opening {opening} plus booked entries {moved} is not closing {closing} \
                 (minor units): the statement does not add up"
            )));
        }
        let statement: i64 = sqlx::query_scalar(
            "INSERT INTO settlement.statement (bank_account, message_id, statement_id, currency,
                 opening, opening_date, closing, closing_date, file_sha256, imported_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (bank_account, statement_id) DO NOTHING RETURNING id",
        )
        .bind(&bank_account)
        .bind(&doc.statement.header.message_id)
        .bind(&stmt.id)
        .bind(&currency)
        .bind(opening)
        .bind(opening_date)
        .bind(closing)
        .bind(closing_date)
        // One file may carry several statements: each row its own key, derived from the file's.
        .bind(if i == 0 {
            sha.clone()
        } else {
            hex::encode(Sha256::digest(format!("{sha}:{i}").as_bytes()))
        })
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| {
            SettlementError::Conflict(format!(
                "{what} of {bank_account} was imported already: nothing was booked twice"
            ))
        })?;
        out.statements.push(statement);
        let m = match_lines(
            &mut tx,
            rates,
            &bank_account,
            &currency,
            (&stmt.id, statement),
            &lines,
        )
        .await?;
        for (n, (outcome, _, reason, _)) in m.iter().enumerate() {
            match *outcome {
                "settled" => out.settled += 1,
                "returned" => out.returned += 1,
                "onramp" => out.onramp += 1,
                _ => out.exceptions.push(format!(
                    "{} line {}: {}",
                    stmt.id,
                    n + 1,
                    reason.as_deref().unwrap_or("")
                )),
            }
        }
        sqlx::query(
            "INSERT INTO settlement.statement_entry (statement, n, amount, credit, booking_date,
                 bank_ref, end_to_end_id, return_reason, remittance, outcome, payout, reason,
                 onramp)
             SELECT $1, n::int4, a, c, d, r, e, rr, rm, o, p, why, onr
             FROM unnest($2::int8[], $3::bool[], $4::date[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                  WITH ORDINALITY AS t(a, c, d, r, e, rr, rm, o, p, why, onr, n)",
        )
        .bind(statement)
        .bind(lines.iter().map(|l| l.amount).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.credit).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.booking_date).collect::<Vec<_>>())
        .bind(lines.iter().map(|l| l.bank_ref.clone()).collect::<Vec<_>>())
        .bind(
            lines
                .iter()
                .map(|l| l.end_to_end_id.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            lines
                .iter()
                .map(|l| l.return_reason.clone())
                .collect::<Vec<_>>(),
        )
        .bind(
            lines
                .iter()
                .map(|l| l.remittance.clone())
                .collect::<Vec<_>>(),
        )
        .bind(m.iter().map(|x| x.0).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.1.clone()).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.2.clone()).collect::<Vec<_>>())
        .bind(m.iter().map(|x| x.3.clone()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        out.lines += lines.len();
    }
    tx.commit().await?;
    Ok(out)
}

/// A statement's entries as lines (a batch entry becomes one line per transaction, which must
/// add up to it).
fn lines_of(
    stmt: &Stmt,
    currency: &str,
    exp: u32,
    closing_date: Date,
    what: &str,
) -> Result<Vec<Line>> {
    let mut lines = Vec::new();
    for (k, e) in stmt.entries.iter().enumerate() {
        let what = format!("{what} entry {}", k + 1);
        let credit = side(&e.side, &what)?;
        let booked = e.status.code.as_deref().or(e.status.proprietary.as_deref()) == Some("BOOK");
        let booking_date = match &e.booking_date {
            Some(d) => date(d, &what)?,
            None => closing_date,
        };
        let total = minor(&e.amount, currency, exp, &what)?;
        let txs: Vec<&TxDtls> = e.details.iter().flat_map(|d| &d.transactions).collect();
        let one = |t: Option<&TxDtls>, amount: i64| Line {
            amount,
            credit,
            booked,
            reversal: e.reversal.unwrap_or(false),
            booking_date,
            bank_ref: e.bank_ref.clone(),
            end_to_end_id: t
                .and_then(|t| t.refs.as_ref())
                .and_then(|r| r.end_to_end_id.clone())
                .filter(|id| id != "NOTPROVIDED"),
            return_reason: t.and_then(|t| t.return_info.as_ref()).map(|r| {
                r.reason
                    .as_ref()
                    .and_then(|c| c.code.clone().or(c.proprietary.clone()))
                    .unwrap_or_else(|| "NARR".into())
            }),
            remittance: t
                .and_then(|t| t.remittance.as_ref())
                .map(|r| r.unstructured.join(" ")),
        };
        if txs.len() <= 1 {
            lines.push(one(txs.first().copied(), total));
        } else {
            // A batch entry: each transaction with its own amount, adding up to the entry.
            let mut sum = 0i64;
            for (j, t) in txs.iter().enumerate() {
                let amt = t.amount.as_ref().ok_or_else(|| {
                    SettlementError::Statement(format!(
                        "{what}: transaction {} of a batch entry has no amount",
                        j + 1
                    ))
                })?;
                let v = minor(amt, currency, exp, &what)?;
                sum += v;
                lines.push(one(Some(t), v));
            }
            if sum != total {
                return Err(SettlementError::Statement(format!(
                    "{what}: its transactions add up to {sum}, the entry says {total}"
                )));
            }
        }
    }
    Ok(lines)
}

/// A statement line read without the database: amount in minor units of the account's
/// currency, credit, end-to-end id, return reason.
pub type ParsedLine = (i64, bool, Option<String>, Option<String>);

/// The lines of every statement in a camt.053 file, read without the database (for tools and
/// the benchmark's baseline).
pub fn parse_lines(file: &[u8]) -> Result<Vec<ParsedLine>> {
    let text = std::str::from_utf8(file)
        .map_err(|e| SettlementError::Statement(format!("the file is not UTF-8: {e}")))?;
    let doc: Document = quick_xml::de::from_str(text)
        .map_err(|e| SettlementError::Statement(format!("not a camt.053 document: {e}")))?;
    let mut out = Vec::new();
    for stmt in &doc.statement.statements {
        let currency = stmt
            .account
            .currency
            .clone()
            .or_else(|| stmt.entries.first().map(|e| e.amount.currency.clone()))
            .unwrap_or_default();
        let exp = fiat_exponent(&currency)?;
        let day = Date::MIN;
        for l in lines_of(stmt, &currency, exp, day, &format!("statement {}", stmt.id))? {
            out.push((l.amount, l.credit, l.end_to_end_id, l.return_reason));
        }
    }
    Ok(out)
}

fn show(minor: i64, currency: &str) -> String {
    let exp = fiat_exponent(currency).unwrap_or(2);
    format!("{} {currency}", crate::payout::format_amount(minor, exp))
}

/// A payout as the matching sees it, with its state as the statement's lines change it.
struct Candidate {
    id: String,
    amount: i64,
    state: String,
    via: String,
    merchant: solana_sdk::pubkey::Pubkey,
}

/// What one line came to: ("settled" | "returned", its payout, None, None), ("onramp", None,
/// None, the stablecoin payout it bought), or ("exception", None,
/// the reason).
type Outcome = (&'static str, Option<String>, Option<String>, Option<String>);

/// Matches a statement's lines, in order, to payouts by end-to-end id and amount, and books
/// them: the settled payouts in one transfer (the bank's debits: Dr in transit / Cr bank), the
/// returned ones in another (Dr bank, or in transit when the debit never showed / Cr each
/// merchant's payable), and each payout's new state. Everything in the caller's transaction.
async fn match_lines(
    tx: &mut PgConnection,
    rates: Option<&dyn crate::rates::RateSource>,
    bank_account: &str,
    currency: &str,
    (statement_id, statement_row): (&str, i64),
    lines: &[Line],
) -> Result<Vec<Outcome>> {
    let ids: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.end_to_end_id.as_deref())
        .collect();
    let mut candidates: std::collections::HashMap<String, Candidate> =
        std::collections::HashMap::new();
    for r in sqlx::query(
        "SELECT p.end_to_end_id, p.id, p.amount, p.state, b.bank_account, p.merchant
         FROM settlement.payout p JOIN settlement.payout_batch b ON b.id = p.batch
         WHERE p.end_to_end_id = ANY($1) ORDER BY p.id FOR UPDATE OF p",
    )
    .bind(&ids)
    .fetch_all(&mut *tx)
    .await?
    {
        let merchant: Vec<u8> = r.get(5);
        candidates.insert(
            r.get(0),
            Candidate {
                id: r.get(1),
                amount: r.get(2),
                state: r.get(3),
                via: r.get(4),
                merchant: solana_sdk::pubkey::Pubkey::try_from(merchant.as_slice())
                    .map_err(|_| SettlementError::Corrupt("payout merchant".into()))?,
            },
        );
    }
    let mut out: Vec<Outcome> = Vec::with_capacity(lines.len());
    // (payout, reason) of each settled and each returned payout.
    let mut settled: Vec<String> = Vec::new();
    let mut settled_total = 0i64;
    let mut returned: Vec<(String, String)> = Vec::new();
    let (mut from_bank, mut from_transit) = (0i64, 0i64);
    let mut credited: std::collections::BTreeMap<solana_sdk::pubkey::Pubkey, i64> =
        std::collections::BTreeMap::new();
    for line in lines {
        let exception = |why: String| ("exception", None, Some(why), None);
        if line.amount == 0 {
            out.push(exception("an entry of zero".into()));
            continue;
        }
        if !line.booked {
            out.push(exception(
                "not booked by the bank yet (status other than BOOK)".into(),
            ));
            continue;
        }
        if let (true, None, false, Some(reference)) = (
            line.credit,
            &line.return_reason,
            line.reversal,
            line.remittance
                .as_deref()
                .and_then(crate::onramp::find_reference),
        ) {
            let k = out.len() + 1;
            out.push(
                match crate::onramp::buy(
                    tx,
                    rates,
                    bank_account,
                    currency,
                    statement_row,
                    k,
                    &reference,
                    line,
                )
                .await?
                {
                    Ok(payout) => ("onramp", None, None, Some(payout)),
                    Err(why) => exception(why),
                },
            );
            continue;
        }
        let Some(e2e) = &line.end_to_end_id else {
            out.push(exception(format!(
                "a {} of {} with no end-to-end id matches no payout{}",
                if line.credit { "credit" } else { "debit" },
                show(line.amount, currency),
                line.remittance
                    .as_ref()
                    .map(|r| format!(" (remittance: {r})"))
                    .unwrap_or_default()
            )));
            continue;
        };
        let Some(p) = candidates.get_mut(e2e) else {
            out.push(exception(format!("end-to-end id {e2e} is no payout's")));
            continue;
        };
        if p.via != bank_account {
            out.push(exception(format!(
                "payout {} was sent through {}, not through {bank_account}",
                p.id, p.via
            )));
            continue;
        }
        if !line.credit {
            if line.amount != p.amount {
                out.push(exception(format!(
                    "payout {} is {}, the bank debited {}",
                    p.id,
                    show(p.amount, currency),
                    show(line.amount, currency)
                )));
            } else if p.state != "sent" {
                out.push(exception(format!(
                    "payout {} is {}: a debit for it again",
                    p.id, p.state
                )));
            } else {
                p.state = "settled".into();
                settled.push(p.id.clone());
                settled_total += p.amount;
                out.push(("settled", Some(p.id.clone()), None, None));
            }
            continue;
        }
        if line.return_reason.is_none() && !line.reversal {
            out.push(exception(format!(
                "a credit of {} under payout {}'s end-to-end id, but not a return",
                show(line.amount, currency),
                p.id
            )));
        } else if line.amount != p.amount {
            out.push(exception(format!(
                "a partial return of payout {}: {} of {} came back; an operator decides",
                p.id,
                show(line.amount, currency),
                show(p.amount, currency)
            )));
        } else if p.state != "sent" && p.state != "settled" {
            out.push(exception(format!(
                "payout {} is {}: it cannot be returned",
                p.id, p.state
            )));
        } else {
            // Returned before the bank showed the debit: it never left transit.
            if p.state == "settled" {
                from_bank += p.amount;
            } else {
                from_transit += p.amount;
            }
            *credited.entry(p.merchant).or_default() += p.amount;
            p.state = "returned".into();
            let reason = line
                .return_reason
                .clone()
                .unwrap_or_else(|| "reversal".into());
            returned.push((p.id.clone(), reason));
            out.push(("returned", Some(p.id.clone()), None, None));
        }
    }
    let bank = accounts::bank(bank_account, currency);
    let in_transit = accounts::in_transit(currency);
    let now = OffsetDateTime::now_utc();
    // The statement's row id: unique, whatever its bank-given id looks like.
    let key = statement_row;
    if !settled.is_empty() {
        transfer_in(
            tx,
            &NewTransfer {
                id: format!("statement:{bank_account}:{key}:settled"),
                postings: vec![
                    Posting::debit(&in_transit.id, currency, settled_total),
                    Posting::credit(&bank.id, currency, settled_total),
                ],
                pending: false,
                description: format!(
                    "{} payouts debited by the bank on statement {statement_id}",
                    settled.len()
                ),
                metadata: json!({ "statement": statement_id, "payouts": settled }),
            },
        )
        .await?;
        sqlx::query(
            "UPDATE settlement.payout SET state = 'settled', settled_at = $2 WHERE id = ANY($1)",
        )
        .bind(&settled)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    if !returned.is_empty() {
        let mut postings = Vec::new();
        if from_bank > 0 {
            postings.push(Posting::debit(&bank.id, currency, from_bank));
        }
        if from_transit > 0 {
            postings.push(Posting::debit(&in_transit.id, currency, from_transit));
        }
        let payables: Vec<_> = credited
            .keys()
            .map(|m| accounts::payable(m, currency))
            .collect();
        open_accounts_in(tx, &payables).await?;
        for (payable, amount) in payables.iter().zip(credited.values()) {
            postings.push(Posting::credit(&payable.id, currency, *amount));
        }
        let mut reasons: Vec<&str> = returned.iter().map(|r| r.1.as_str()).collect();
        reasons.sort_unstable();
        reasons.dedup();
        transfer_in(
            tx,
            &NewTransfer {
                id: format!("statement:{bank_account}:{key}:returned"),
                postings,
                pending: false,
                description: format!(
                    "payouts returned by the bank ({}) on statement {statement_id}",
                    reasons.join(", ")
                ),
                metadata: json!({ "statement": statement_id, "payouts": returned }),
            },
        )
        .await?;
        let (ids, why): (Vec<String>, Vec<String>) = returned.into_iter().unzip();
        sqlx::query(
            "UPDATE settlement.payout p SET state = 'returned', return_reason = r.why,
                 returned_at = $3
             FROM unnest($1::text[], $2::text[]) AS r(id, why) WHERE p.id = r.id",
        )
        .bind(&ids)
        .bind(&why)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    Ok(out)
}

/// A statement line that matched nothing, for an operator.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Exception {
    pub bank_account: String,
    pub statement: String,
    pub line: i32,
    /// Minor units of the statement's currency.
    pub amount: i64,
    pub credit: bool,
    pub reason: String,
}

/// Statement lines that matched nothing and are not resolved, oldest first.
pub async fn open_exceptions(pool: &PgPool) -> Result<Vec<Exception>> {
    Ok(sqlx::query(
        "SELECT s.bank_account, s.statement_id, e.n, e.amount, e.credit, e.reason
         FROM settlement.statement_entry e JOIN settlement.statement s ON s.id = e.statement
         WHERE e.outcome = 'exception' AND e.resolved_at IS NULL
         ORDER BY s.id, e.n",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Exception {
        bank_account: r.get(0),
        statement: r.get(1),
        line: r.get(2),
        amount: r.get(3),
        credit: r.get(4),
        reason: r.get(5),
    })
    .collect())
}

/// Resolves an unmatched line of a statement (`statement_id` of Kassa's `bank_account`, line
/// `n`) with what the operator `by` did (`note`). With `account`, the line's money is booked
/// against that ledger account (Kassa's `suspense:<c>` for money not explained yet, or any
/// account in the statement's currency): a credit Dr bank / Cr it, a debit the reverse, so the
/// bank reconciles again. A resolved line is not resolved twice.
pub async fn resolve_exception(
    pool: &PgPool,
    bank_account: &str,
    statement_id: &str,
    n: i32,
    note: &str,
    by: &str,
    account: Option<&str>,
) -> Result<()> {
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(SettlementError::Invalid(
            "the resolution says what was done, in 1 to 500 characters".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "SELECT e.statement, e.amount, e.credit, e.outcome, e.resolved_at IS NOT NULL,
                s.currency
         FROM settlement.statement_entry e JOIN settlement.statement s ON s.id = e.statement
         WHERE s.bank_account = $1 AND s.statement_id = $2 AND e.n = $3
         FOR UPDATE OF e",
    )
    .bind(bank_account)
    .bind(statement_id)
    .bind(n)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| {
        SettlementError::NotFound(format!(
            "line {n} of statement {statement_id} of {bank_account}"
        ))
    })?;
    let (statement, amount, credit): (i64, i64, bool) = (row.get(0), row.get(1), row.get(2));
    let (outcome, resolved): (String, bool) = (row.get(3), row.get(4));
    let currency: String = row.get(5);
    if outcome != "exception" {
        return Err(SettlementError::Conflict(format!(
            "line {n} of statement {statement_id} matched ({outcome}): there is nothing to resolve"
        )));
    }
    if resolved {
        return Err(SettlementError::Conflict(format!(
            "line {n} of statement {statement_id} is resolved already"
        )));
    }
    if let (Some(counter), true) = (account, amount > 0) {
        let bank = accounts::bank(bank_account, &currency);
        let (dr, cr) = if credit {
            (bank.id.as_str(), counter)
        } else {
            (counter, bank.id.as_str())
        };
        transfer_in(
            &mut tx,
            &NewTransfer {
                id: format!("statement:{bank_account}:{statement}:{n}:resolved"),
                postings: vec![
                    Posting::debit(dr, &currency, amount),
                    Posting::credit(cr, &currency, amount),
                ],
                pending: false,
                description: format!("statement {statement_id} line {n}: {note}"),
                metadata: json!({ "statement": statement_id, "line": n, "by": by }),
            },
        )
        .await?;
    }
    sqlx::query(
        "UPDATE settlement.statement_entry SET resolved_at = now(), resolution = $3, resolved_by = $4
         WHERE statement = $1 AND n = $2",
    )
    .bind(statement)
    .bind(n)
    .bind(note)
    .bind(by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A statement line as a bank writes it, for [`write_camt053`].
#[derive(Debug, Clone)]
pub struct BankLine {
    pub amount: i64,
    pub credit: bool,
    pub booking_date: Date,
    pub bank_ref: String,
    pub end_to_end_id: Option<String>,
    /// A return's reason code (`AC04`: account closed), making the line a returned transfer.
    pub return_reason: Option<String>,
    pub remittance: Option<String>,
}

/// A day's statement as a bank writes it.
#[derive(Debug, Clone)]
pub struct BankStatement {
    pub message_id: String,
    pub statement_id: String,
    pub iban: String,
    pub currency: String,
    pub opening: i64,
    pub date: Date,
    pub lines: Vec<BankLine>,
}

/// Writes `s` as a `camt.053.001.08` document, as a bank sends it: opening and closing booked
/// balances, one booked entry per line with its bank transaction code (SEPA credit transfer
/// issued, received, or returned) and its references. The demo and the tests play the bank
/// with it.
pub fn write_camt053(s: &BankStatement) -> Result<String> {
    use crate::iso20022::{text, XmlResult as R};
    use quick_xml::{events::BytesText, Writer};
    let exp = fiat_exponent(&s.currency)?;
    let amount = |v: i64| crate::payout::format_amount(v, exp);
    let closing = s
        .lines
        .iter()
        .map(|l| if l.credit { l.amount } else { -l.amount })
        .sum::<i64>()
        + s.opening;
    let day = s.date.to_string();
    let balance = |w: &mut Writer<&mut Vec<u8>>, code: &str, v: i64| -> R {
        w.create_element("Bal").write_inner_content(|w| {
            w.create_element("Tp").write_inner_content(|w| {
                w.create_element("CdOrPrtry")
                    .write_inner_content(|w| text(w, "Cd", code))
                    .map(|_| ())
            })?;
            w.create_element("Amt")
                .with_attribute(("Ccy", s.currency.as_str()))
                .write_text_content(BytesText::new(&amount(v.abs())))?;
            text(w, "CdtDbtInd", if v >= 0 { "CRDT" } else { "DBIT" })?;
            w.create_element("Dt")
                .write_inner_content(|w| text(w, "Dt", &day))
                .map(|_| ())
        })?;
        Ok(())
    };
    crate::iso20022::document("camt.053.001.08", |w| {
        w.create_element("BkToCstmrStmt").write_inner_content(|w| {
            w.create_element("GrpHdr").write_inner_content(|w| {
                text(w, "MsgId", &s.message_id)?;
                text(w, "CreDtTm", &format!("{day}T18:00:00Z"))
            })?;
            w.create_element("Stmt").write_inner_content(|w| {
                text(w, "Id", &s.statement_id)?;
                text(w, "CreDtTm", &format!("{day}T18:00:00Z"))?;
                w.create_element("Acct").write_inner_content(|w| {
                    w.create_element("Id")
                        .write_inner_content(|w| text(w, "IBAN", &s.iban))?;
                    text(w, "Ccy", &s.currency)
                })?;
                balance(w, "OPBD", s.opening)?;
                balance(w, "CLBD", closing)?;
                for l in &s.lines {
                    let (family, sub) = match (l.credit, &l.return_reason) {
                        (_, Some(_)) => ("ICDT", "RRTN"),
                        (true, None) => ("RCDT", "ESCT"),
                        (false, None) => ("ICDT", "ESCT"),
                    };
                    w.create_element("Ntry").write_inner_content(|w| {
                        w.create_element("Amt")
                            .with_attribute(("Ccy", s.currency.as_str()))
                            .write_text_content(BytesText::new(&amount(l.amount)))?;
                        text(w, "CdtDbtInd", if l.credit { "CRDT" } else { "DBIT" })?;
                        w.create_element("Sts")
                            .write_inner_content(|w| text(w, "Cd", "BOOK"))?;
                        let d = l.booking_date.to_string();
                        w.create_element("BookgDt")
                            .write_inner_content(|w| text(w, "Dt", &d))?;
                        w.create_element("ValDt")
                            .write_inner_content(|w| text(w, "Dt", &d))?;
                        text(w, "AcctSvcrRef", &l.bank_ref)?;
                        w.create_element("BkTxCd").write_inner_content(|w| {
                            w.create_element("Domn").write_inner_content(|w| {
                                text(w, "Cd", "PMNT")?;
                                w.create_element("Fmly").write_inner_content(|w| {
                                    text(w, "Cd", family)?;
                                    text(w, "SubFmlyCd", sub)
                                })?;
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                        w.create_element("NtryDtls").write_inner_content(|w| {
                            w.create_element("TxDtls").write_inner_content(|w| {
                                w.create_element("Refs").write_inner_content(|w| {
                                    text(w, "AcctSvcrRef", &l.bank_ref)?;
                                    text(
                                        w,
                                        "EndToEndId",
                                        l.end_to_end_id.as_deref().unwrap_or("NOTPROVIDED"),
                                    )
                                })?;
                                w.create_element("Amt")
                                    .with_attribute(("Ccy", s.currency.as_str()))
                                    .write_text_content(BytesText::new(&amount(l.amount)))?;
                                if let Some(r) = &l.remittance {
                                    w.create_element("RmtInf")
                                        .write_inner_content(|w| text(w, "Ustrd", r))?;
                                }
                                if let Some(code) = &l.return_reason {
                                    w.create_element("RtrInf").write_inner_content(|w| {
                                        w.create_element("Rsn")
                                            .write_inner_content(|w| text(w, "Cd", code))
                                            .map(|_| ())
                                    })?;
                                }
                                Ok(())
                            })?;
                            Ok(())
                        })?;
                        Ok(())
                    })?;
                }
                Ok(())
            })?;
            Ok(())
        })?;
        Ok(())
    })
}
