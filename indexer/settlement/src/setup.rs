//! What settlement must know before it books or pays: the stablecoins it books (mint → code),
//! the treasury wallet, Kassa's bank accounts, and how each merchant is settled.

use crate::{
    accounts,
    bank::BankAccount,
    error::{Result, SettlementError},
    ledger::{open_account_in, transfer_in, NewTransfer, Posting},
};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row as _};
use time::{Date, OffsetDateTime};

/// Books `mint` as `code` with `decimals`; the same again is a no-op, a change is refused.
pub async fn set_currency(pool: &PgPool, mint: &Pubkey, code: &str, decimals: u8) -> Result<()> {
    let stored: (String, i16) = sqlx::query_as(
        "WITH ins AS (
             INSERT INTO settlement.currency (mint, code, decimals) VALUES ($1, $2, $3)
             ON CONFLICT (mint) DO NOTHING RETURNING code, decimals)
         SELECT code, decimals FROM ins
         UNION ALL SELECT code, decimals FROM settlement.currency WHERE mint = $1",
    )
    .bind(&mint.to_bytes()[..])
    .bind(code)
    .bind(i16::from(decimals))
    .fetch_one(pool)
    .await
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("currency_code_key") => {
                SettlementError::Conflict(format!("currency code {code} is another mint's"))
            }
            Some("currency_code_check") => SettlementError::Invalid(format!(
                "currency code {code:?}: 3 to 10 capitals and digits, starting with a letter"
            )),
            _ => e.into(),
        },
    )?;
    if stored != (code.to_string(), i16::from(decimals)) {
        return Err(SettlementError::Conflict(format!(
            "mint {mint} is already booked as {} with {} decimals",
            stored.0, stored.1
        )));
    }
    Ok(())
}

/// Mint → (code, decimals) of every booked stablecoin.
pub async fn currencies(
    conn: &mut sqlx::PgConnection,
) -> Result<std::collections::HashMap<Pubkey, (String, u32)>> {
    sqlx::query("SELECT mint, code, decimals FROM settlement.currency")
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .map(|r| {
            let mint: Vec<u8> = r.get(0);
            let mint = Pubkey::try_from(mint.as_slice())
                .map_err(|_| SettlementError::Corrupt("currency mint".into()))?;
            let decimals: i16 = r.get(2);
            Ok((mint, (r.get::<String, _>(1), decimals as u32)))
        })
        .collect()
}

/// Sets the treasury wallet. Setting it again to the same wallet is a no-op; another wallet is
/// refused: the ledger's treasury accounts are that wallet's.
pub async fn set_treasury(pool: &PgPool, wallet: &Pubkey) -> Result<()> {
    let stored: Vec<u8> = sqlx::query_scalar(
        "WITH ins AS (
             INSERT INTO settlement.treasury (wallet) VALUES ($1)
             ON CONFLICT (id) DO NOTHING RETURNING wallet)
         SELECT wallet FROM ins UNION ALL SELECT wallet FROM settlement.treasury",
    )
    .bind(&wallet.to_bytes()[..])
    .fetch_one(pool)
    .await?;
    if stored != wallet.to_bytes() {
        return Err(SettlementError::Conflict(format!(
            "the treasury wallet is already {}",
            Pubkey::try_from(stored.as_slice()).unwrap_or_default()
        )));
    }
    Ok(())
}

pub async fn treasury(conn: &mut sqlx::PgConnection) -> Result<Option<Pubkey>> {
    let row: Option<Vec<u8>> = sqlx::query_scalar("SELECT wallet FROM settlement.treasury")
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|w| {
        Pubkey::try_from(w.as_slice()).map_err(|_| SettlementError::Corrupt("treasury".into()))
    })
    .transpose()
}

/// One of Kassa's accounts at a partner bank, in `currency`, holding `opening` minor units on
/// `as_of` (booked against opening equity, so the ledger starts where the bank's statement
/// does). Adding the same account again is a no-op.
pub async fn add_bank_account(
    pool: &PgPool,
    id: &str,
    currency: &str,
    account: &BankAccount,
    opening: i64,
    as_of: Date,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO settlement.bank_account (id, currency, holder, iban, bic)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(currency)
    .bind(&account.holder)
    .bind(account.iban_electronic())
    .bind(account.bic.as_str())
    .execute(&mut *tx)
    .await
    .map_err(
        |e| match e.as_database_error().and_then(|d| d.constraint()) {
            Some("bank_account_id_check") => SettlementError::Invalid(format!(
                "bank account id {id:?}: lowercase letters, digits, `_` and `-`, at most 23 (a \
             batch id made of it must fit an ISO 20022 message id)"
            )),
            Some("bank_account_iban_key") => SettlementError::Conflict(format!(
                "IBAN {} is another bank account's",
                account.iban
            )),
            _ => e.into(),
        },
    )?
    .rows_affected()
        == 1;
    let bank = accounts::bank(id, currency);
    open_account_in(&mut tx, &bank).await?;
    let equity = accounts::opening(currency);
    open_account_in(&mut tx, &equity).await?;
    open_account_in(&mut tx, &accounts::suspense(currency)).await?;
    if inserted && opening != 0 {
        transfer_in(
            &mut tx,
            &NewTransfer {
                id: format!("bank:{id}:opening"),
                postings: vec![
                    Posting::debit(&bank.id, currency, opening),
                    Posting::credit(&equity.id, currency, opening),
                ],
                pending: false,
                description: format!("opening balance of bank account {id} on {as_of}"),
                metadata: serde_json::json!({ "bank_account": id, "as_of": as_of.to_string() }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// How a merchant is paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Captures pay its own wallet on chain.
    Stablecoin,
    /// Daily payouts in `currency` to `account`, through Kassa's bank account `via`, keeping
    /// `spread_bps` on the conversion.
    Fiat {
        currency: String,
        via: String,
        account: BankAccount,
        spread_bps: u32,
    },
}

/// Sets up how `merchant` is settled. A fiat merchant's on-chain settlement wallet must be the
/// treasury's (as the indexer mirrors it), or captures would pay the merchant on chain and
/// then again in fiat: that is refused.
pub async fn set_merchant(pool: &PgPool, merchant: &Pubkey, mode: &Mode) -> Result<()> {
    let mut conn = pool.acquire().await?;
    let now = OffsetDateTime::now_utc();
    match mode {
        Mode::Stablecoin => {
            sqlx::query(
                "INSERT INTO settlement.merchant (merchant, mode, created_at, updated_at)
                 VALUES ($1, 'stablecoin', $2, $2)
                 ON CONFLICT (merchant) DO UPDATE SET mode = 'stablecoin', payout_currency = NULL,
                     bank_account = NULL, holder = NULL, iban = NULL, bic = NULL, spread_bps = 0,
                     updated_at = $2",
            )
            .bind(&merchant.to_bytes()[..])
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        Mode::Fiat {
            currency,
            via,
            account,
            spread_bps,
        } => {
            let wallet: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT settlement_wallet FROM chain.merchant WHERE address = $1",
            )
            .bind(&merchant.to_bytes()[..])
            .fetch_optional(&mut *conn)
            .await?;
            let Some(wallet) = wallet else {
                return Err(SettlementError::NotFound(format!(
                    "merchant {merchant} (not registered on chain, or not indexed yet)"
                )));
            };
            let treasury = treasury(&mut conn)
                .await?
                .ok_or_else(|| SettlementError::Invalid("no treasury wallet is set up".into()))?;
            if wallet != treasury.to_bytes() {
                return Err(SettlementError::Invalid(format!(
                    "merchant {merchant} settles on chain to {}, not to the treasury wallet \
                     {treasury}: a fiat merchant's captures must reach the treasury, or it \
                     would be paid twice",
                    Pubkey::try_from(wallet.as_slice()).unwrap_or_default()
                )));
            }
            let via_currency: Option<String> =
                sqlx::query_scalar("SELECT currency FROM settlement.bank_account WHERE id = $1")
                    .bind(via)
                    .fetch_optional(&mut *conn)
                    .await?;
            match via_currency {
                None => return Err(SettlementError::NotFound(format!("bank account {via}"))),
                Some(c) if &c != currency => {
                    return Err(SettlementError::Invalid(format!(
                        "bank account {via} pays in {c}, not {currency}"
                    )))
                }
                Some(_) => {}
            }
            if *spread_bps > 1_000 {
                return Err(SettlementError::Invalid(format!(
                    "spread {spread_bps} bps: at most 1,000"
                )));
            }
            sqlx::query(
                "INSERT INTO settlement.merchant (merchant, mode, payout_currency, bank_account,
                                                  holder, iban, bic, spread_bps, created_at,
                                                  updated_at)
                 VALUES ($1, 'fiat', $2, $3, $4, $5, $6, $7, $8, $8)
                 ON CONFLICT (merchant) DO UPDATE SET mode = 'fiat', payout_currency = $2,
                     bank_account = $3, holder = $4, iban = $5, bic = $6, spread_bps = $7,
                     updated_at = $8",
            )
            .bind(&merchant.to_bytes()[..])
            .bind(currency)
            .bind(via)
            .bind(&account.holder)
            .bind(account.iban_electronic())
            .bind(account.bic.as_str())
            .bind(*spread_bps as i32)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// Whether `merchant` is settled in fiat.
pub async fn is_fiat(conn: &mut sqlx::PgConnection, merchant: &Pubkey) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM settlement.merchant WHERE merchant = $1 AND mode = 'fiat')",
    )
    .bind(&merchant.to_bytes()[..])
    .fetch_one(&mut *conn)
    .await?)
}
