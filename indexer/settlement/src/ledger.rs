//! The double-entry ledger. The rules live in the database (migration `0014_ledger.sql`), so
//! this module is a typed door to them: it opens accounts, writes transfers with their postings
//! in one database transaction, posts or voids pending ones, reverses posted ones, and turns
//! the database's refusals into errors that name the problem.
//!
//! Amounts are `i64` minor units, debit positive and credit negative; a transfer's postings sum
//! to zero in each currency. Balances are read on the account's normal side: credit for
//! liabilities, equity and revenue, debit for assets and expenses.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool, Row};

/// What an account is, which decides its normal side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asset => "asset",
            Self::Liability => "liability",
            Self::Equity => "equity",
            Self::Revenue => "revenue",
            Self::Expense => "expense",
        }
    }

    fn parse(s: &str) -> Result<Self, LedgerError> {
        Ok(match s {
            "asset" => Self::Asset,
            "liability" => Self::Liability,
            "equity" => Self::Equity,
            "revenue" => Self::Revenue,
            "expense" => Self::Expense,
            other => return Err(LedgerError::Corrupt(format!("account kind {other:?}"))),
        })
    }

    /// Whether debits increase its balance (assets and expenses).
    pub fn debit_normal(self) -> bool {
        matches!(self, Self::Asset | Self::Expense)
    }
}

/// An account to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Lowercase letters, digits and `_:.-`, e.g. `merchant:<address>:payable`.
    pub id: String,
    /// ISO 4217 code or a token symbol in capitals, e.g. `EUR`, `USDC`.
    pub currency: String,
    pub kind: AccountKind,
    /// The balance (less pending reservations) may never cross zero on the normal side.
    pub no_overdraft: bool,
    pub description: String,
}

/// An account's four counters, in minor units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub debits_posted: i64,
    pub credits_posted: i64,
    pub debits_pending: i64,
    pub credits_pending: i64,
}

impl Balance {
    /// The posted balance on the normal side.
    pub fn posted(&self, kind: AccountKind) -> i128 {
        let (d, c) = (
            i128::from(self.debits_posted),
            i128::from(self.credits_posted),
        );
        if kind.debit_normal() {
            d - c
        } else {
            c - d
        }
    }

    /// The posted balance less what pending transfers reserve against it (what may still
    /// leave the account).
    pub fn available(&self, kind: AccountKind) -> i128 {
        let reserved = if kind.debit_normal() {
            self.credits_pending
        } else {
            self.debits_pending
        };
        self.posted(kind) - i128::from(reserved)
    }
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub currency: String,
    pub kind: AccountKind,
    pub no_overdraft: bool,
    pub description: String,
    pub balance: Balance,
}

/// One leg of a transfer: debit (positive) or credit (negative) `amount` minor units of
/// `currency` on `account`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub account: String,
    pub currency: String,
    pub amount: i64,
}

impl Posting {
    pub fn debit(account: &str, currency: &str, amount: i64) -> Self {
        Self {
            account: account.into(),
            currency: currency.into(),
            amount,
        }
    }

    pub fn credit(account: &str, currency: &str, amount: i64) -> Self {
        Self::debit(account, currency, -amount)
    }
}

/// A transfer to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTransfer {
    /// The idempotency key: the same id with the same postings is the same transfer.
    pub id: String,
    pub postings: Vec<Posting>,
    /// Reserve now, post or void later (two-phase); otherwise posted at once.
    pub pending: bool,
    pub description: String,
    pub metadata: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Pending,
    Posted,
    Voided,
}

impl TransferState {
    fn parse(s: &str) -> Result<Self, LedgerError> {
        Ok(match s {
            "pending" => Self::Pending,
            "posted" => Self::Posted,
            "voided" => Self::Voided,
            other => return Err(LedgerError::Corrupt(format!("transfer state {other:?}"))),
        })
    }
}

/// A transfer as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub id: String,
    pub state: TransferState,
    pub postings: Vec<Posting>,
    pub reverses: Option<String>,
    pub description: String,
    pub metadata: Value,
    /// This call found the transfer already written (an idempotent replay).
    pub replayed: bool,
}

/// Why the ledger refused.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("{0}")]
    Unbalanced(String),
    #[error("{0}")]
    Overdraft(String),
    #[error("unknown account, or a posting in another currency than its account's: {0}")]
    UnknownAccount(String),
    #[error("{0} is already used for something else")]
    IdConflict(String),
    #[error("transfer {id} is {state:?}: {action} needs a pending one")]
    NotPending {
        id: String,
        state: TransferState,
        action: &'static str,
    },
    #[error("transfer {0} is not posted: only a posted transfer is reversed")]
    NotPosted(String),
    #[error("no transfer {0}")]
    NoTransfer(String),
    #[error("{0}")]
    AppendOnly(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        let Some(db) = e.as_database_error() else {
            return Self::Database(e);
        };
        let message = db.message().to_string();
        match db.code().as_deref() {
            Some("KL001") | Some("KL002") => Self::Unbalanced(message),
            Some("KL003") | Some("KL004") => Self::AppendOnly(message),
            Some("23514") if db.constraint() == Some("account_overdraft") => Self::Overdraft(
                format!("the transfer would overdraw an account that forbids it ({message})"),
            ),
            Some("23514") => Self::Invalid(message),
            Some("23503") => Self::UnknownAccount(message),
            _ => Self::Database(e),
        }
    }
}

/// The ledger on a database migrated with Kassa's migrations.
#[derive(Clone)]
pub struct Ledger {
    pool: PgPool,
}

fn account_from(row: &sqlx::postgres::PgRow) -> Result<Account, LedgerError> {
    Ok(Account {
        id: row.try_get("id")?,
        currency: row.try_get("currency")?,
        kind: AccountKind::parse(row.try_get("kind")?)?,
        no_overdraft: row.try_get("no_overdraft")?,
        description: row.try_get("description")?,
        balance: Balance {
            debits_posted: row.try_get("debits_posted")?,
            credits_posted: row.try_get("credits_posted")?,
            debits_pending: row.try_get("debits_pending")?,
            credits_pending: row.try_get("credits_pending")?,
        },
    })
}

impl Ledger {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Opens an account; opening the same account again returns it, a different one under the
    /// same id is refused.
    pub async fn open_account(&self, a: &NewAccount) -> Result<Account, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        open_account_in(&mut conn, a).await
    }

    pub async fn account(&self, id: &str) -> Result<Option<Account>, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        account_in(&mut conn, id).await
    }

    /// Writes a transfer and its postings in one database transaction. The database refuses
    /// it unless it balances in every currency and leaves no `no_overdraft` account overdrawn.
    /// Writing the same transfer again returns it (`replayed`); another transfer under the
    /// same id is refused.
    pub async fn transfer(&self, t: &NewTransfer) -> Result<Transfer, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let written = transfer_in(&mut tx, t).await?;
        // The balance check is deferred to here.
        tx.commit().await?;
        Ok(written)
    }

    pub async fn transfer_by_id(&self, id: &str) -> Result<Option<Transfer>, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        transfer_by_id_in(&mut conn, id).await
    }

    /// Posts a pending transfer (its reservations become balances). Posting it again is a
    /// replay; a voided one cannot be posted.
    pub async fn post_pending(&self, id: &str) -> Result<Transfer, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        resolve_in(&mut conn, id, TransferState::Posted).await
    }

    /// Voids a pending transfer (its reservations are released). Voiding it again is a replay;
    /// a posted one cannot be voided (reverse it).
    pub async fn void_pending(&self, id: &str) -> Result<Transfer, LedgerError> {
        let mut conn = self.pool.acquire().await?;
        resolve_in(&mut conn, id, TransferState::Voided).await
    }

    /// Corrects a posted transfer with a reversing one under `new_id`: the same postings with
    /// their signs turned, posted at once. A transfer is reversed at most once.
    pub async fn reverse(
        &self,
        id: &str,
        new_id: &str,
        description: &str,
    ) -> Result<Transfer, LedgerError> {
        let mut tx = self.pool.begin().await?;
        let written = reverse_in(&mut tx, id, new_id, description).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// Per currency, the sum of every posted and of every pending posting: zero in a sound
    /// ledger (the trial balance).
    pub async fn trial_balance(&self) -> Result<Vec<(String, i64, i64)>, LedgerError> {
        Ok(sqlx::query_as(
            "SELECT p.currency,
                    coalesce(sum(p.amount) FILTER (WHERE t.state = 'posted'), 0)::int8,
                    coalesce(sum(p.amount) FILTER (WHERE t.state = 'pending'), 0)::int8
             FROM ledger.posting p JOIN ledger.transfer t ON t.id = p.transfer_id
             GROUP BY p.currency ORDER BY p.currency",
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

/// [`Ledger::open_account`] on a connection (inside the caller's transaction, if any).
pub async fn open_account_in(
    conn: &mut PgConnection,
    a: &NewAccount,
) -> Result<Account, LedgerError> {
    sqlx::query(
        "INSERT INTO ledger.account (id, currency, kind, no_overdraft, description)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
    )
    .bind(&a.id)
    .bind(&a.currency)
    .bind(a.kind.as_str())
    .bind(a.no_overdraft)
    .bind(&a.description)
    .execute(&mut *conn)
    .await?;
    let stored = account_in(conn, &a.id)
        .await?
        .ok_or_else(|| LedgerError::Corrupt(format!("account {} vanished", a.id)))?;
    if (&stored.currency, stored.kind, stored.no_overdraft) != (&a.currency, a.kind, a.no_overdraft)
    {
        return Err(LedgerError::IdConflict(format!("account {}", a.id)));
    }
    Ok(stored)
}

/// Opens many accounts in one statement (those that exist are kept); refuses, naming it, any
/// that exists with another currency, kind or overdraft rule.
pub async fn open_accounts_in(
    conn: &mut PgConnection,
    accounts: &[NewAccount],
) -> Result<(), LedgerError> {
    if accounts.is_empty() {
        return Ok(());
    }
    let conflict: Option<String> = sqlx::query_scalar(
        "WITH wanted AS (
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[])
                 AS w(id, currency, kind, no_overdraft, description)),
         ins AS (
             INSERT INTO ledger.account (id, currency, kind, no_overdraft, description)
             SELECT id, currency, kind, no_overdraft, description FROM wanted
             ORDER BY id ON CONFLICT (id) DO NOTHING)
         SELECT w.id FROM wanted w JOIN ledger.account a ON a.id = w.id
         WHERE (a.currency, a.kind, a.no_overdraft) <> (w.currency, w.kind, w.no_overdraft)
         LIMIT 1",
    )
    .bind(accounts.iter().map(|a| a.id.as_str()).collect::<Vec<_>>())
    .bind(
        accounts
            .iter()
            .map(|a| a.currency.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(accounts.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>())
    .bind(accounts.iter().map(|a| a.no_overdraft).collect::<Vec<_>>())
    .bind(
        accounts
            .iter()
            .map(|a| a.description.as_str())
            .collect::<Vec<_>>(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    match conflict {
        Some(id) => Err(LedgerError::IdConflict(format!("account {id}"))),
        None => Ok(()),
    }
}

/// Locks the accounts `ids` that exist, in id order, until the caller's transaction ends, so
/// that what is read of their balances stays true until it is written against.
pub async fn lock_accounts_in(conn: &mut PgConnection, ids: &[String]) -> Result<(), LedgerError> {
    sqlx::query("SELECT id FROM ledger.account WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(ids)
        .fetch_all(&mut *conn)
        .await?;
    Ok(())
}

/// [`Ledger::account`] on a connection.
pub async fn account_in(conn: &mut PgConnection, id: &str) -> Result<Option<Account>, LedgerError> {
    sqlx::query("SELECT * FROM ledger.account_balance WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .as_ref()
        .map(account_from)
        .transpose()
}

/// [`Ledger::transfer`] inside the caller's database transaction: the balance check runs when
/// that transaction commits.
pub async fn transfer_in(
    conn: &mut PgConnection,
    t: &NewTransfer,
) -> Result<Transfer, LedgerError> {
    write_in(conn, t, None).await
}

async fn write_in(
    conn: &mut PgConnection,
    t: &NewTransfer,
    reverses: Option<&str>,
) -> Result<Transfer, LedgerError> {
    if t.postings.len() > i16::MAX as usize {
        return Err(LedgerError::Invalid(format!(
            "{} postings; at most {}",
            t.postings.len(),
            i16::MAX
        )));
    }
    let state = if t.pending { "pending" } else { "posted" };
    let created = sqlx::query(
        "INSERT INTO ledger.transfer (id, state, reverses, description, metadata, resolved_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $2 = 'pending' THEN NULL ELSE now() END)
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(&t.id)
    .bind(state)
    .bind(reverses)
    .bind(&t.description)
    .bind(&t.metadata)
    .fetch_optional(&mut *conn)
    .await?
    .is_some();
    if !created {
        let stored = transfer_by_id_in(conn, &t.id)
            .await?
            .ok_or_else(|| LedgerError::Corrupt(format!("transfer {} vanished", t.id)))?;
        if stored.postings != t.postings
            || stored.description != t.description
            || stored.reverses.as_deref() != reverses
        {
            return Err(LedgerError::IdConflict(format!("transfer {}", t.id)));
        }
        return Ok(Transfer {
            replayed: true,
            ..stored
        });
    }
    let accounts: Vec<&str> = t.postings.iter().map(|p| p.account.as_str()).collect();
    let currencies: Vec<&str> = t.postings.iter().map(|p| p.currency.as_str()).collect();
    let amounts: Vec<i64> = t.postings.iter().map(|p| p.amount).collect();
    sqlx::query(
        "INSERT INTO ledger.posting (transfer_id, n, account_id, currency, amount)
         SELECT $1, (n - 1)::smallint, a, c, v
         FROM unnest($2::text[], $3::text[], $4::int8[]) WITH ORDINALITY AS p(a, c, v, n)",
    )
    .bind(&t.id)
    .bind(&accounts)
    .bind(&currencies)
    .bind(&amounts)
    .execute(&mut *conn)
    .await?;
    Ok(Transfer {
        id: t.id.clone(),
        state: if t.pending {
            TransferState::Pending
        } else {
            TransferState::Posted
        },
        postings: t.postings.clone(),
        reverses: reverses.map(str::to_string),
        description: t.description.clone(),
        metadata: t.metadata.clone(),
        replayed: false,
    })
}

/// [`Ledger::transfer_by_id`] on a connection.
pub async fn transfer_by_id_in(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<Transfer>, LedgerError> {
    let Some(row) = sqlx::query(
        "SELECT state, reverses, description, metadata FROM ledger.transfer WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let postings = sqlx::query(
        "SELECT account_id, currency, amount FROM ledger.posting
         WHERE transfer_id = $1 ORDER BY n",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Posting {
            account: r.try_get("account_id")?,
            currency: r.try_get("currency")?,
            amount: r.try_get("amount")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Some(Transfer {
        id: id.to_string(),
        state: TransferState::parse(row.try_get("state")?)?,
        postings,
        reverses: row.try_get("reverses")?,
        description: row.try_get("description")?,
        metadata: row.try_get("metadata")?,
        replayed: false,
    }))
}

/// Posts (`to` = `Posted`) or voids a pending transfer on a connection; resolving it the same
/// way again is a replay.
pub async fn resolve_in(
    conn: &mut PgConnection,
    id: &str,
    to: TransferState,
) -> Result<Transfer, LedgerError> {
    let (state, action) = match to {
        TransferState::Posted => ("posted", "posting"),
        TransferState::Voided => ("voided", "voiding"),
        TransferState::Pending => {
            return Err(LedgerError::Invalid(format!(
                "transfer {id}: a transfer is resolved to posted or voided"
            )))
        }
    };
    let changed = sqlx::query(
        "UPDATE ledger.transfer SET state = $2, resolved_at = now()
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(state)
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    let stored = transfer_by_id_in(conn, id)
        .await?
        .ok_or_else(|| LedgerError::NoTransfer(id.to_string()))?;
    match (changed, stored.state == to) {
        (true, _) => Ok(stored),
        (false, true) => Ok(Transfer {
            replayed: true,
            ..stored
        }),
        (false, false) => Err(LedgerError::NotPending {
            id: id.to_string(),
            state: stored.state,
            action,
        }),
    }
}

/// [`Ledger::reverse`] inside the caller's database transaction.
pub async fn reverse_in(
    conn: &mut PgConnection,
    id: &str,
    new_id: &str,
    description: &str,
) -> Result<Transfer, LedgerError> {
    let original = transfer_by_id_in(conn, id)
        .await?
        .ok_or_else(|| LedgerError::NoTransfer(id.to_string()))?;
    if original.state != TransferState::Posted {
        return Err(LedgerError::NotPosted(id.to_string()));
    }
    let reversal = NewTransfer {
        id: new_id.to_string(),
        postings: original
            .postings
            .iter()
            .map(|p| Posting {
                amount: -p.amount,
                ..p.clone()
            })
            .collect(),
        pending: false,
        description: description.to_string(),
        metadata: serde_json::json!({ "reverses": id }),
    };
    write_in(conn, &reversal, Some(id))
        .await
        .map_err(|e| match e {
            LedgerError::Database(ref d)
                if d.as_database_error().and_then(|d| d.constraint())
                    == Some("transfer_reversed_once") =>
            {
                LedgerError::IdConflict(format!("transfer {id} is already reversed"))
            }
            e => e,
        })
}
