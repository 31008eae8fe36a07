//! Payouts to fiat merchants: a daily batch per Kassa bank account, cut through a
//! `FOR UPDATE SKIP LOCKED` work queue over the merchants it pays (any number of workers can
//! cut one batch; each merchant is taken by one), then sent as one ISO 20022 `pain.001.001.09`
//! credit-transfer file with one end-to-end id per payout.
//!
//! States and their ledger entries (the payout currency `f`, e.g. EUR):
//!
//! - **created** (the cut): what the merchant owes Kassa is netted against its payable
//!   (`payout:<id>:net:<c>`), then each stablecoin payable it has *posted* (finalized) is
//!   converted at the day's rate less its spread (`payout:<id>:fx:<c>`, posted: Dr payable c /
//!   Cr `fx:c`; Dr `fx:f` / Cr payable f and `revenue:fx:f`), then its whole posted fiat payable
//!   is reserved for the payout (`payout:<id>`, pending: Dr payable f / Cr
//!   `payouts:in_transit:f`).
//! - **sent** (the file is made): `payout:<id>` posted.
//! - **settled** (the bank's statement shows the debit): one transfer per statement for all
//!   it settles, `statement:<bank>:<statement>:settled`, Dr in transit / Cr `bank:<id>`.
//! - **returned** (the statement shows it came back, with a reason code): one transfer per
//!   statement, `statement:<bank>:<statement>:returned`, Dr `bank:<id>` (or in transit, if the
//!   debit never showed) / Cr each merchant's fiat payable: the money is the merchant's again,
//!   paid with the next batch.

use crate::iso20022::{text, XmlResult};
use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::{
        account_in, open_account_in, resolve_in, transfer_in, NewTransfer, Posting, TransferState,
    },
    money::convert,
    rates::RateSource,
    setup,
};
use quick_xml::{events::BytesText, Writer};
use rust_decimal::Decimal;
use serde_json::json;
use sha2::{Digest, Sha256};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgConnection, PgPool, Row as _};
use time::{format_description::well_known::Rfc3339, Date, OffsetDateTime};

/// Decimals of a fiat currency's minor unit (ISO 4217), for the currencies Kassa pays out in.
pub fn fiat_exponent(code: &str) -> Result<u32> {
    match code {
        "EUR" | "USD" | "GBP" | "CHF" | "DKK" | "SEK" | "NOK" | "PLN" | "CZK" | "HUF" | "RON"
        | "TWD" | "HKD" | "SGD" | "CNY" => Ok(2),
        "JPY" | "KRW" => Ok(0),
        other => Err(SettlementError::Invalid(format!(
            "{other} is not a payout currency Kassa knows the minor unit of"
        ))),
    }
}

/// `minor` units of a currency with `exponent` decimals, as a decimal string (`12.30`).
pub fn format_amount(minor: i64, exponent: u32) -> String {
    let mut d = Decimal::from(minor);
    d.set_scale(exponent).unwrap_or_default();
    d.to_string()
}

/// The batch of `bank_account` for `day`.
pub fn batch_id(bank_account: &str, day: Date) -> String {
    format!(
        "pb_{:04}{:02}{:02}_{bank_account}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

fn payout_id(batch: &str, merchant: &Pubkey) -> String {
    let mut h = Sha256::new();
    h.update(b"kassa-payout\0");
    h.update(batch.as_bytes());
    h.update(merchant.to_bytes());
    format!("po_{}", &hex::encode(h.finalize())[..24])
}

/// The end-to-end id a payout travels under (ISO 20022 `EndToEndId`, at most 35 characters).
pub fn end_to_end_id(payout: &str) -> String {
    payout.replace('_', "-").to_uppercase()
}

/// What one worker's cut did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Cut {
    pub batch: String,
    /// Payouts this worker created.
    pub created: Vec<String>,
    /// Merchants it looked at with nothing to pay.
    pub empty: usize,
}

/// Opens (or finds) the batch of `bank_account` for `day` and cuts payouts into it: takes one
/// fiat merchant at a time that the batch does not pay yet (`FOR UPDATE SKIP LOCKED`, so
/// concurrent workers share the merchants), converts its posted stablecoin payables at `day`'s
/// rates and reserves its posted fiat payable for the payout. A merchant with nothing posted
/// gets no payout. Cutting again adds only what is new; a sent batch is closed.
pub async fn cut(
    pool: &PgPool,
    rates: &dyn RateSource,
    bank_account: &str,
    day: Date,
) -> Result<Cut> {
    let now = OffsetDateTime::now_utc();
    let currency: String =
        sqlx::query_scalar("SELECT currency FROM settlement.bank_account WHERE id = $1")
            .bind(bank_account)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| SettlementError::NotFound(format!("bank account {bank_account}")))?;
    let batch = batch_id(bank_account, day);
    let state: String = sqlx::query_scalar(
        "WITH ins AS (
             INSERT INTO settlement.payout_batch (id, bank_account, currency, business_date,
                                                  state, created_at)
             VALUES ($1, $2, $3, $4, 'open', $5) ON CONFLICT (id) DO NOTHING RETURNING state)
         SELECT state FROM ins UNION ALL SELECT state FROM settlement.payout_batch WHERE id = $1",
    )
    .bind(&batch)
    .bind(bank_account)
    .bind(&currency)
    .bind(day)
    .bind(now)
    .fetch_one(pool)
    .await?;
    if state != "open" {
        return Err(SettlementError::Conflict(format!(
            "batch {batch} is already sent: payouts go into the next day's batch"
        )));
    }
    let mut done = Cut {
        batch: batch.clone(),
        ..Cut::default()
    };
    // Merchants in address order, past the last one this worker looked at: each is looked at
    // once per cut, by whichever worker locks it first.
    let mut last: Vec<u8> = Vec::new();
    loop {
        let mut tx = pool.begin().await?;
        // The batch may not be sent while a payout is being added to it (`send` locks it for
        // update); once it is sent, no payout goes into it.
        let state: String =
            sqlx::query_scalar("SELECT state FROM settlement.payout_batch WHERE id = $1 FOR SHARE")
                .bind(&batch)
                .fetch_one(&mut *tx)
                .await?;
        if state != "open" {
            tx.rollback().await?;
            return Ok(done);
        }
        let row = sqlx::query(
            "SELECT m.merchant, m.holder, m.iban, m.bic, m.spread_bps
             FROM settlement.merchant m
             WHERE m.mode = 'fiat' AND m.bank_account = $1 AND m.merchant::bytea > $3
               AND NOT EXISTS (SELECT 1 FROM settlement.payout p
                               WHERE p.batch = $2 AND p.merchant = m.merchant)
             ORDER BY m.merchant
             LIMIT 1 FOR UPDATE OF m SKIP LOCKED",
        )
        .bind(bank_account)
        .bind(&batch)
        .bind(&last)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.rollback().await?;
            return Ok(done);
        };
        let key: Vec<u8> = row.get(0);
        last = key.clone();
        let merchant = Pubkey::try_from(key.as_slice())
            .map_err(|_| SettlementError::Corrupt("merchant key".into()))?;
        let spread: i32 = row.get(4);
        let id = payout_id(&batch, &merchant);
        let made = pay_merchant(
            &mut tx,
            rates,
            &PayoutTarget {
                id: &id,
                batch: &batch,
                merchant,
                currency: &currency,
                holder: row.get(1),
                iban: row.get(2),
                bic: row.get(3),
                spread_bps: spread as u32,
            },
            day,
            now,
        )
        .await?;
        tx.commit().await?;
        if made {
            done.created.push(id);
        } else {
            done.empty += 1;
        }
    }
}

struct PayoutTarget<'a> {
    id: &'a str,
    batch: &'a str,
    merchant: Pubkey,
    currency: &'a str,
    holder: String,
    iban: String,
    bic: String,
    spread_bps: u32,
}

async fn pay_merchant(
    tx: &mut PgConnection,
    rates: &dyn RateSource,
    t: &PayoutTarget<'_>,
    day: Date,
    now: OffsetDateTime,
) -> Result<bool> {
    let fiat = t.currency;
    let fiat_exp = fiat_exponent(fiat)?;
    let payable_f = accounts::payable(&t.merchant, fiat);
    open_account_in(tx, &payable_f).await?;
    // What is read of the merchant's balances stays true until it is drawn on.
    accounts::lock_merchant(tx, &t.merchant).await?;
    let mut conversions = Vec::new();
    for (_, (code, decimals)) in setup::currencies(tx).await? {
        let payable_c = accounts::payable(&t.merchant, &code);
        let Some(acc) = account_in(tx, &payable_c.id).await? else {
            continue;
        };
        let mut amount = u64::try_from(acc.balance.available(acc.kind).max(0)).unwrap_or(0);
        // What the merchant owes Kassa (refunds Kassa funded beyond its payable) is netted
        // first: a payout pays the balance, never the gross.
        let receivable = accounts::receivable(&t.merchant, &code);
        if let Some(r) = account_in(tx, &receivable.id).await? {
            let owed = u64::try_from(r.balance.available(r.kind).max(0)).unwrap_or(0);
            let net = owed.min(amount);
            if net > 0 {
                // A merchant can be netted more than once in a batch (a cut that found nothing
                // left to pay after netting looks at it again): the receivable's credits so
                // far make each netting's id its own.
                let seen = r.balance.credits_posted + r.balance.credits_pending;
                let net_i64 = i64::try_from(net)
                    .map_err(|_| SettlementError::Invalid(format!("{net} exceeds 63 bits")))?;
                transfer_in(
                    tx,
                    &NewTransfer {
                        id: format!("{}:net:{}:{seen}", t.id, code.to_ascii_lowercase()),
                        postings: vec![
                            Posting::debit(&payable_c.id, &code, net_i64),
                            Posting::credit(&receivable.id, &code, net_i64),
                        ],
                        pending: false,
                        description: format!(
                            "{code} the merchant owed netted against its payable for payout {}",
                            t.id
                        ),
                        metadata: json!({ "merchant": t.merchant.to_string(), "payout": t.id }),
                    },
                )
                .await?;
                amount -= net;
            }
        }
        if amount == 0 {
            continue;
        }
        let rate = rates.rate(&code, fiat, day)?;
        let gross = convert(amount, decimals, fiat_exp, rate, 0)?;
        let net = convert(amount, decimals, fiat_exp, rate, t.spread_bps)?;
        if net == 0 {
            continue;
        }
        let as_i64 = |v: u64| {
            i64::try_from(v).map_err(|_| SettlementError::Invalid(format!("{v} exceeds 63 bits")))
        };
        let (fx_c, fx_f, rev) = (
            accounts::fx(&code),
            accounts::fx(fiat),
            accounts::fx_revenue(fiat),
        );
        for a in [&fx_c, &fx_f, &rev] {
            open_account_in(tx, a).await?;
        }
        let mut postings = vec![
            Posting::debit(&payable_c.id, &code, as_i64(amount)?),
            Posting::credit(&fx_c.id, &code, as_i64(amount)?),
            Posting::debit(&fx_f.id, fiat, as_i64(gross)?),
            Posting::credit(&payable_f.id, fiat, as_i64(net)?),
        ];
        if gross > net {
            postings.push(Posting::credit(&rev.id, fiat, as_i64(gross - net)?));
        }
        transfer_in(
            tx,
            &NewTransfer {
                id: format!("{}:fx:{}", t.id, code.to_ascii_lowercase()),
                postings,
                pending: false,
                description: format!("{code} converted to {fiat} for payout {}", t.id),
                metadata: json!({
                    "merchant": t.merchant.to_string(), "payout": t.id, "rate": rate.to_string(),
                    "spread_bps": t.spread_bps, "day": day.to_string(),
                }),
            },
        )
        .await?;
        conversions.push(json!({
            "currency": code, "amount": amount, "rate": rate.to_string(),
            "spread_bps": t.spread_bps, "converted": net,
        }));
    }
    let acc = account_in(tx, &payable_f.id)
        .await?
        .ok_or_else(|| SettlementError::Corrupt(format!("{} vanished", payable_f.id)))?;
    let amount = i64::try_from(acc.balance.available(acc.kind).max(0)).unwrap_or(0);
    if amount == 0 {
        return Ok(false);
    }
    let in_transit = accounts::in_transit(fiat);
    open_account_in(tx, &in_transit).await?;
    transfer_in(
        tx,
        &NewTransfer {
            id: format!("payout:{}", t.id),
            postings: vec![
                Posting::debit(&payable_f.id, fiat, amount),
                Posting::credit(&in_transit.id, fiat, amount),
            ],
            pending: true,
            description: format!("payout {} to {}", t.id, t.holder),
            metadata: json!({ "merchant": t.merchant.to_string(), "payout": t.id,
                              "batch": t.batch }),
        },
    )
    .await?;
    sqlx::query(
        "INSERT INTO settlement.payout (id, batch, merchant, currency, amount, conversions,
                                        holder, iban, bic, end_to_end_id, state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'created', $11)",
    )
    .bind(t.id)
    .bind(t.batch)
    .bind(&t.merchant.to_bytes()[..])
    .bind(fiat)
    .bind(amount)
    .bind(json!(conversions))
    .bind(&t.holder)
    .bind(&t.iban)
    .bind(&t.bic)
    .bind(end_to_end_id(t.id))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// A payout as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Payout {
    pub id: String,
    pub batch: String,
    pub merchant: String,
    pub currency: String,
    pub amount: i64,
    pub holder: String,
    pub iban: String,
    pub bic: String,
    pub end_to_end_id: String,
    pub state: String,
    pub return_reason: Option<String>,
    pub conversions: serde_json::Value,
}

fn payout_from(r: &sqlx::postgres::PgRow) -> Result<Payout> {
    let key: Vec<u8> = r.try_get("merchant")?;
    Ok(Payout {
        id: r.try_get("id")?,
        batch: r.try_get("batch")?,
        merchant: Pubkey::try_from(key.as_slice())
            .map_err(|_| SettlementError::Corrupt("payout merchant".into()))?
            .to_string(),
        currency: r.try_get("currency")?,
        amount: r.try_get("amount")?,
        holder: r.try_get("holder")?,
        iban: r.try_get("iban")?,
        bic: r.try_get("bic")?,
        end_to_end_id: r.try_get("end_to_end_id")?,
        state: r.try_get("state")?,
        return_reason: r.try_get("return_reason")?,
        conversions: r.try_get("conversions")?,
    })
}

/// Payouts, newest batch first; of one batch when `batch` is given.
pub async fn list(pool: &PgPool, batch: Option<&str>) -> Result<Vec<Payout>> {
    sqlx::query(
        "SELECT p.* FROM settlement.payout p JOIN settlement.payout_batch b ON b.id = p.batch
         WHERE $1::text IS NULL OR p.batch = $1
         ORDER BY b.business_date DESC, p.batch, p.id",
    )
    .bind(batch)
    .fetch_all(pool)
    .await?
    .iter()
    .map(payout_from)
    .collect()
}

/// A sent batch's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBatch {
    pub batch: String,
    pub payouts: usize,
    pub total: i64,
    pub currency: String,
    /// The `pain.001.001.09` document.
    pub file: String,
    pub sha256: String,
}

/// Sends a batch: writes its `pain.001.001.09` file (Kassa's bank account as debtor, one
/// credit transfer per payout, executed on `execution_date`), posts each payout's reservation
/// and marks them sent, in one database transaction. Sending a sent batch returns its file.
pub async fn send(pool: &PgPool, batch: &str, execution_date: Date) -> Result<SentBatch> {
    let now = OffsetDateTime::now_utc();
    let mut tx = pool.begin().await?;
    let b = sqlx::query(
        "SELECT b.state, b.currency, b.file, b.file_sha256, a.holder, a.iban, a.bic, b.created_at
         FROM settlement.payout_batch b JOIN settlement.bank_account a ON a.id = b.bank_account
         WHERE b.id = $1 FOR UPDATE OF b",
    )
    .bind(batch)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SettlementError::NotFound(format!("payout batch {batch}")))?;
    let state: String = b.get(0);
    let currency: String = b.get(1);
    let payouts: Vec<Payout> =
        sqlx::query("SELECT * FROM settlement.payout WHERE batch = $1 ORDER BY id")
            .bind(batch)
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(payout_from)
            .collect::<Result<_>>()?;
    let total: i64 = payouts.iter().map(|p| p.amount).sum();
    if state == "sent" {
        return Ok(SentBatch {
            batch: batch.to_string(),
            payouts: payouts.len(),
            total,
            currency,
            file: b.get(2),
            sha256: b.get(3),
        });
    }
    if payouts.is_empty() {
        return Err(SettlementError::Invalid(format!(
            "batch {batch} has no payouts: nothing to send"
        )));
    }
    let debtor = Party {
        name: b.get(4),
        iban: b.get(5),
        bic: b.get(6),
    };
    let file = pain001(batch, now, execution_date, &currency, &debtor, &payouts)?;
    let sha = hex::encode(Sha256::digest(file.as_bytes()));
    for p in &payouts {
        resolve_in(&mut tx, &format!("payout:{}", p.id), TransferState::Posted).await?;
    }
    let ids: Vec<&str> = payouts.iter().map(|p| p.id.as_str()).collect();
    sqlx::query(
        "UPDATE settlement.payout SET state = 'sent', sent_at = $2
         WHERE id = ANY($1) AND state = 'created'",
    )
    .bind(&ids)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE settlement.payout_batch SET state = 'sent', file = $2, file_sha256 = $3, sent_at = $4
         WHERE id = $1",
    )
    .bind(batch)
    .bind(&file)
    .bind(&sha)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(SentBatch {
        batch: batch.to_string(),
        payouts: payouts.len(),
        total,
        currency,
        file,
        sha256: sha,
    })
}

struct Party {
    name: String,
    iban: String,
    bic: String,
}

fn party<W: std::io::Write>(w: &mut Writer<W>, p: &Party, who: &str) -> XmlResult {
    // <Dbtr>/<Cdtr>, its account, its agent: written by the caller in the schema's order.
    w.create_element(who)
        .write_inner_content(|w| text(w, "Nm", &clip(&p.name, 140)))
        .map(|_| ())
}

fn account<W: std::io::Write>(w: &mut Writer<W>, tag: &str, iban: &str) -> XmlResult {
    w.create_element(tag)
        .write_inner_content(|w| {
            w.create_element("Id")
                .write_inner_content(|w| text(w, "IBAN", iban))
                .map(|_| ())
        })
        .map(|_| ())
}

fn agent<W: std::io::Write>(w: &mut Writer<W>, tag: &str, bic: &str) -> XmlResult {
    w.create_element(tag)
        .write_inner_content(|w| {
            w.create_element("FinInstnId")
                .write_inner_content(|w| text(w, "BICFI", bic))
                .map(|_| ())
        })
        .map(|_| ())
}

fn clip(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// The `pain.001.001.09` document of a batch: one payment information block (SEPA credit
/// transfers from `debtor`, executed on `execution_date`, shared charges) with one credit
/// transfer per payout.
fn pain001(
    batch: &str,
    created: OffsetDateTime,
    execution_date: Date,
    currency: &str,
    debtor: &Party,
    payouts: &[Payout],
) -> Result<String> {
    let exp = fiat_exponent(currency)?;
    let total: i64 = payouts.iter().map(|p| p.amount).sum();
    let created = created
        .replace_nanosecond(0)
        .unwrap_or(created)
        .format(&Rfc3339)
        .map_err(|e| SettlementError::Invalid(e.to_string()))?;
    let n = payouts.len().to_string();
    let sum = format_amount(total, exp);
    crate::iso20022::document("pain.001.001.09", |w| {
        w.create_element("CstmrCdtTrfInitn")
            .write_inner_content(|w| {
                w.create_element("GrpHdr").write_inner_content(|w| {
                    text(w, "MsgId", batch)?;
                    text(w, "CreDtTm", &created)?;
                    text(w, "NbOfTxs", &n)?;
                    text(w, "CtrlSum", &sum)?;
                    party(w, debtor, "InitgPty")
                })?;
                w.create_element("PmtInf").write_inner_content(|w| {
                    text(w, "PmtInfId", batch)?;
                    text(w, "PmtMtd", "TRF")?;
                    text(w, "NbOfTxs", &n)?;
                    text(w, "CtrlSum", &sum)?;
                    w.create_element("PmtTpInf").write_inner_content(|w| {
                        w.create_element("SvcLvl")
                            .write_inner_content(|w| text(w, "Cd", "SEPA"))
                            .map(|_| ())
                    })?;
                    w.create_element("ReqdExctnDt")
                        .write_inner_content(|w| text(w, "Dt", &execution_date.to_string()))?;
                    party(w, debtor, "Dbtr")?;
                    account(w, "DbtrAcct", &debtor.iban)?;
                    agent(w, "DbtrAgt", &debtor.bic)?;
                    text(w, "ChrgBr", "SLEV")?;
                    for p in payouts {
                        w.create_element("CdtTrfTxInf").write_inner_content(|w| {
                            w.create_element("PmtId").write_inner_content(|w| {
                                text(w, "InstrId", &p.end_to_end_id)?;
                                text(w, "EndToEndId", &p.end_to_end_id)
                            })?;
                            w.create_element("Amt").write_inner_content(|w| {
                                w.create_element("InstdAmt")
                                    .with_attribute(("Ccy", p.currency.as_str()))
                                    .write_text_content(BytesText::new(&format_amount(
                                        p.amount, exp,
                                    )))
                                    .map(|_| ())
                            })?;
                            agent(w, "CdtrAgt", &p.bic)?;
                            party(
                                w,
                                &Party {
                                    name: p.holder.clone(),
                                    iban: p.iban.clone(),
                                    bic: p.bic.clone(),
                                },
                                "Cdtr",
                            )?;
                            account(w, "CdtrAcct", &p.iban)?;
                            w.create_element("RmtInf").write_inner_content(|w| {
                                text(w, "Ustrd", &format!("Kassa payout {}", p.id))
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
