//! The on-ramp: a customer registered with a wallet buys stablecoins by bank transfer. The
//! transfer's remittance carries the customer's reference (`ONR-` and eight capitals or
//! digits: bank remittance fields keep that, where a case-sensitive base58 address would not
//! survive a bank upper-casing it). When the bank's statement shows the credit, the amount is
//! converted at the day's rate less the customer's spread and booked (Dr bank / Cr `fx`;
//! Dr `fx` / Cr `onramp:owed` and the spread), and a stablecoin payout from the treasury to the
//! customer's wallet is made from what the on-ramp owes ([`crate::mass`]), sent by whoever
//! holds the treasury key, and booked when final.

use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::{open_account_in, transfer_in, NewTransfer, Posting},
    mass::{self, Funder, Item},
    money::convert,
    payout::fiat_exponent,
    rates::RateSource,
    statement::Line,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgConnection, PgPool, Row as _};
use time::OffsetDateTime;

/// Registers `wallet` to buy `mint` through the on-ramp, keeping `spread_bps` on conversions;
/// returns the reference its bank transfers must carry. Registering it again returns the same.
pub async fn register(
    pool: &PgPool,
    wallet: &Pubkey,
    mint: &Pubkey,
    holder: &str,
    spread_bps: u32,
) -> Result<String> {
    if spread_bps > 1_000 {
        return Err(SettlementError::Invalid(format!(
            "spread {spread_bps} bps: at most 1,000"
        )));
    }
    let mut h = Sha256::new();
    h.update(b"kassa-onramp\0");
    h.update(wallet.to_bytes());
    h.update(mint.to_bytes());
    let reference = format!("ONR-{}", hex::encode_upper(&h.finalize()[..4]));
    let stored: String = sqlx::query_scalar(
        "WITH ins AS (
             INSERT INTO settlement.onramp_wallet (reference, wallet, mint, holder, spread_bps,
                                                   created_at)
             VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT DO NOTHING RETURNING reference)
         SELECT reference FROM ins
         UNION ALL SELECT reference FROM settlement.onramp_wallet WHERE wallet = $2 AND mint = $3",
    )
    .bind(&reference)
    .bind(&wallet.to_bytes()[..])
    .bind(&mint.to_bytes()[..])
    .bind(holder.trim())
    .bind(spread_bps as i32)
    .fetch_optional(pool)
    .await
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("onramp_wallet_mint_fkey") => SettlementError::Invalid(format!(
                "mint {mint} has no currency in settlement.currency"
            )),
            Some("onramp_wallet_holder_check") => {
                SettlementError::Invalid("the holder's name must be 1 to 70 characters".into())
            }
            _ => e.into(),
        },
    )?
    .ok_or_else(|| SettlementError::Conflict(format!("reference {reference} is taken")))?;
    Ok(stored)
}

/// The on-ramp reference in a remittance text, if it carries one.
pub fn find_reference(remittance: &str) -> Option<String> {
    let upper = remittance.to_ascii_uppercase();
    let at = upper.find("ONR-")?;
    let code: String = upper[at + 4..].chars().take(8).collect();
    (code.len() == 8
        && code
            .chars()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()))
    .then(|| format!("ONR-{code}"))
}

/// Books a statement credit carrying `reference` as an on-ramp purchase and makes its payout;
/// `Ok(Err(reason))` when it cannot be one (the line is then an exception with that reason).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn buy(
    tx: &mut PgConnection,
    rates: Option<&dyn RateSource>,
    bank_account: &str,
    currency: &str,
    statement: i64,
    line_no: usize,
    reference: &str,
    line: &Line,
) -> Result<std::result::Result<String, String>> {
    let Some(r) = sqlx::query(
        "SELECT o.wallet, o.mint, o.spread_bps, c.code, c.decimals
         FROM settlement.onramp_wallet o JOIN settlement.currency c ON c.mint = o.mint
         WHERE o.reference = $1",
    )
    .bind(reference)
    .fetch_optional(&mut *tx)
    .await?
    else {
        return Ok(Err(format!(
            "a credit with on-ramp reference {reference}, which no customer holds"
        )));
    };
    let Some(rates) = rates else {
        return Ok(Err(format!(
            "an on-ramp credit ({reference}), but no conversion rates are configured"
        )));
    };
    let key = |b: Vec<u8>| {
        Pubkey::try_from(b.as_slice()).map_err(|_| SettlementError::Corrupt("on-ramp key".into()))
    };
    let wallet = key(r.get(0))?;
    let mint = key(r.get(1))?;
    let spread = r.get::<i32, _>(2) as u32;
    let code: String = r.get(3);
    let decimals = r.get::<i16, _>(4) as u32;
    let rate = match rates.rate(currency, &code, line.booking_date) {
        Ok(rate) => rate,
        Err(e) => return Ok(Err(format!("an on-ramp credit ({reference}): {e}"))),
    };
    let exp = fiat_exponent(currency)?;
    let amount = line.amount as u64;
    let gross = convert(amount, exp, decimals, rate, 0)?;
    let net = convert(amount, exp, decimals, rate, spread)?;
    if net == 0 {
        return Ok(Err(format!(
            "an on-ramp credit ({reference}) too small to buy any {code}"
        )));
    }
    let as_i64 = |v: u64| {
        i64::try_from(v).map_err(|_| SettlementError::Invalid(format!("{v} exceeds 63 bits")))
    };
    let (bank, fx_f, fx_c, owed, rev) = (
        accounts::bank(bank_account, currency),
        accounts::fx(currency),
        accounts::fx(&code),
        accounts::onramp_owed(&code),
        accounts::fx_revenue(&code),
    );
    for a in [&fx_f, &fx_c, &owed, &rev] {
        open_account_in(tx, a).await?;
    }
    let stmt_key = statement;
    let mut postings = vec![
        Posting::debit(&bank.id, currency, line.amount),
        Posting::credit(&fx_f.id, currency, line.amount),
        Posting::debit(&fx_c.id, &code, as_i64(gross)?),
        Posting::credit(&owed.id, &code, as_i64(net)?),
    ];
    if gross > net {
        postings.push(Posting::credit(&rev.id, &code, as_i64(gross - net)?));
    }
    transfer_in(
        tx,
        &NewTransfer {
            id: format!("onramp:{bank_account}:{stmt_key}:{line_no}"),
            postings,
            pending: false,
            description: format!("{reference} bought {code} by bank transfer"),
            metadata: json!({ "reference": reference, "wallet": wallet.to_string(),
                              "rate": rate.to_string(), "spread_bps": spread,
                              "bank_ref": line.bank_ref,
                              "day": line.booking_date.to_string(),
                              "at": OffsetDateTime::now_utc().unix_timestamp() }),
        },
    )
    .await?;
    let payout = mass::create_in(
        tx,
        Funder::OnRamp,
        &mint,
        &format!("onramp:{bank_account}:{stmt_key}:{line_no}"),
        &[Item {
            wallet,
            amount: net,
            reference: reference.to_string(),
        }],
    )
    .await?;
    Ok(Ok(payout))
}

/// On-ramp payouts not sent yet (to send with [`mass::send`]).
pub async fn unsent(pool: &PgPool) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT p.id FROM settlement.mass_payout p
         JOIN settlement.mass_payout_item i ON i.payout = p.id
         WHERE p.merchant IS NULL AND i.state = 'pending' ORDER BY p.id",
    )
    .fetch_all(pool)
    .await?)
}
