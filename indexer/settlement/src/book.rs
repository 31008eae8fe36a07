//! The chain into the ledger. The indexer leaves one settlement inbox row per money-moving event
//! and commitment phase; a booking pass turns them into ledger transfers, in inbox order:
//!
//! - **confirmed**: the event's transfer, `pending` (its amounts reserved, not yet balances);
//! - **finalized**: that transfer posted;
//! - **reverted** (the transaction was rolled back): that transfer voided.
//!
//! A transfer's id is the event's (`chain:<signature>:<instruction>:<inner>`), so booking is
//! idempotent: a pass that crashed before it committed books the same rows again. What the
//! ledger refuses, or an event in a mint without a currency, becomes a booking exception with
//! its reason, for an operator; the pass goes on.
//!
//! The entries, per event (in the event's stablecoin `c`):
//!
//! - authorized (`received`): Dr `escrow` / Cr `payers`.
//! - captured (`amount` = fee + assignee + merchant): Dr `payers` / Cr `escrow` the amount;
//!   Dr `fees` / Cr `revenue:fees` the fee; for a fiat merchant (its part reached the treasury
//!   wallet in the same transaction) Dr `treasury` / Cr the merchant's `receivable` (what it
//!   owes Kassa, first) and `payable` (the rest). A stablecoin merchant's part left custody for
//!   its own wallet: Kassa owes it nothing.
//! - dispute resolved: as a capture of the merchant's share, plus the payer's share returned.
//! - voided, reclaimed, rejected (`amount` back to the payer): Dr `payers` / Cr `escrow`.
//! - a fiat merchant's credit (drawn, which advances are too; repaid), where it moved the treasury's
//!   tokens: in, Dr `treasury` / Cr its receivable then payable; out, the reverse.
//! - refunded: when the treasury paid it (a merchant Kassa runs), Dr the merchant's `payable`
//!   (as far as its posted balance goes) and `receivable` (the rest) / Cr `treasury`. When the
//!   merchant paid it from its own wallet, nothing in Kassa's custody moved: nothing is booked.

use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::{
        account_in, open_account_in, resolve_in, transfer_by_id_in, transfer_in, NewAccount,
        NewTransfer, Posting, TransferState,
    },
    setup,
};
use kassa_sdk::decode::{CreditEvent, KassaEvent, PaymentsEvent};
use serde_json::json;
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::{Acquire as _, PgConnection, PgPool, Row as _};
use std::collections::HashMap;
use time::OffsetDateTime;

/// The advisory lock that makes booking one process at a time ("kassa_bk").
const LOCK: i64 = 0x6b61_7373_615f_626b;

/// Inbox rows booked per pass at most.
pub const BATCH: i64 = 500;

/// The ledger transfer of one chain event.
pub fn transfer_id(signature: &Signature, ix_index: i32, inner_index: i32) -> String {
    format!("chain:{signature}:{ix_index}:{inner_index}")
}

struct InboxRow {
    id: i64,
    signature: Signature,
    ix_index: i32,
    inner_index: i32,
    phase: String,
    /// The slot its transaction landed in (the raw tables' partition key).
    slot: i64,
    event: Option<(Pubkey, Vec<u8>)>,
}

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Booked {
    /// Inbox rows taken.
    pub rows: usize,
    /// Transfers written (pending).
    pub written: usize,
    /// Transfers posted or voided.
    pub resolved: usize,
    /// Rows that became booking exceptions.
    pub exceptions: usize,
    /// Another process was booking: this pass did nothing.
    pub busy: bool,
}

/// One pass: books up to [`BATCH`] inbox rows in one database transaction. Returns what it did
/// (nothing when the inbox is empty or another process is booking).
pub async fn pass(pool: &PgPool) -> Result<Booked> {
    let mut tx = pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *tx)
        .await?;
    // Early returns roll back at once: a dropped transaction is rolled back later, by the
    // pool, and would keep the lock from the next pass meanwhile.
    if !locked {
        tx.rollback().await?;
        return Ok(Booked {
            busy: true,
            ..Booked::default()
        });
    }
    let currencies = setup::currencies(&mut tx).await?;
    if currencies.is_empty() {
        // Settlement is not set up: the inbox keeps every event until it is, so the books,
        // once opened, start from the chain's first payment.
        tx.rollback().await?;
        return Ok(Booked::default());
    }
    let rows = read(&mut tx).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(Booked::default());
    }
    let treasury = setup::treasury(&mut tx).await?;
    let ctx = Context {
        currencies,
        treasury,
    };
    let now = OffsetDateTime::now_utc();
    let mut booked = Booked {
        rows: rows.len(),
        ..Booked::default()
    };
    for row in &rows {
        // Each row in a savepoint: what the ledger refuses is undone alone and recorded.
        let mut sp = tx.begin().await?;
        match book(&mut sp, &ctx, row).await {
            Ok(Outcome::Written) => {
                sp.commit().await?;
                booked.written += 1;
            }
            Ok(Outcome::Resolved) => {
                sp.commit().await?;
                booked.resolved += 1;
            }
            Ok(Outcome::Nothing) => sp.commit().await?,
            // The database failing (a deadlock, a lost connection) is not the event's fault:
            // the pass stops, commits nothing, and the next one books the rows again.
            Err(SettlementError::Database(e))
            | Err(SettlementError::Ledger(crate::LedgerError::Database(e))) => {
                return Err(SettlementError::Database(e))
            }
            Err(e) => {
                sp.rollback().await?;
                tracing::warn!(signature = %row.signature, phase = %row.phase, error = %e,
                               "a chain event could not be booked");
                sqlx::query(
                    "INSERT INTO settlement.booking_exception
                         (signature, ix_index, inner_index, phase, reason, created_at, slot)
                     VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (signature, ix_index, inner_index, phase) DO UPDATE
                         SET reason = EXCLUDED.reason, created_at = EXCLUDED.created_at,
                             slot = EXCLUDED.slot, resolved_at = NULL",
                )
                .bind(row.signature.as_ref())
                .bind(row.ix_index)
                .bind(row.inner_index)
                .bind(&row.phase)
                .bind(e.to_string())
                .bind(now)
                .bind(row.slot)
                .execute(&mut *tx)
                .await?;
                booked.exceptions += 1;
            }
        }
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM settlement.inbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(booked)
}

/// Passes until the inbox is empty; returns the total.
pub async fn drain(pool: &PgPool) -> Result<Booked> {
    let mut total = Booked::default();
    loop {
        let b = pass(pool).await?;
        if b.busy {
            // Another process is booking; the inbox is drained once it is done.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            continue;
        }
        if b.rows == 0 {
            return Ok(total);
        }
        total.rows += b.rows;
        total.written += b.written;
        total.resolved += b.resolved;
        total.exceptions += b.exceptions;
    }
}

async fn read(tx: &mut PgConnection) -> Result<Vec<InboxRow>> {
    sqlx::query(
        "SELECT i.id, i.signature, i.ix_index, i.inner_index, i.phase, e.program, e.raw, i.slot
         FROM settlement.inbox i
         LEFT JOIN chain.event e
             ON (e.signature, e.ix_index, e.inner_index, e.slot)
              = (i.signature, i.ix_index, i.inner_index, i.slot)
         ORDER BY i.id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| {
        let sig: Vec<u8> = r.get(1);
        let signature = Signature::try_from(sig.as_slice())
            .map_err(|_| SettlementError::Corrupt("inbox signature".into()))?;
        let program: Option<Vec<u8>> = r.get(5);
        let event = match (program, r.get::<Option<Vec<u8>>, _>(6)) {
            (Some(p), Some(raw)) => Some((
                Pubkey::try_from(p.as_slice())
                    .map_err(|_| SettlementError::Corrupt("event program".into()))?,
                raw,
            )),
            _ => None,
        };
        Ok(InboxRow {
            id: r.get(0),
            signature,
            ix_index: r.get(2),
            inner_index: r.get(3),
            phase: r.get(4),
            slot: r.get(7),
            event,
        })
    })
    .collect()
}

struct Context {
    currencies: HashMap<Pubkey, (String, u32)>,
    treasury: Option<Pubkey>,
}

enum Outcome {
    Written,
    Resolved,
    Nothing,
}

async fn book(conn: &mut PgConnection, ctx: &Context, row: &InboxRow) -> Result<Outcome> {
    let id = transfer_id(&row.signature, row.ix_index, row.inner_index);
    match row.phase.as_str() {
        "confirmed" => {
            let Some((program, raw)) = &row.event else {
                return Err(SettlementError::Corrupt(format!(
                    "event {id} is in the inbox but not stored"
                )));
            };
            let event = KassaEvent::from_cpi(program, raw)
                .map_err(|e| SettlementError::Corrupt(format!("event {id}: {e}")))?
                .ok_or_else(|| SettlementError::Corrupt(format!("{id} is not an event")))?;
            let Some(entry) = entry(conn, ctx, row, &id, &event).await? else {
                return Ok(Outcome::Nothing);
            };
            for a in &entry.accounts {
                open_account_in(conn, a).await?;
            }
            transfer_in(conn, &entry.transfer).await?;
            // Check the balance now, inside this row's savepoint, not at the pass's commit.
            sqlx::query("SET CONSTRAINTS ALL IMMEDIATE")
                .execute(&mut *conn)
                .await?;
            sqlx::query("SET CONSTRAINTS ALL DEFERRED")
                .execute(&mut *conn)
                .await?;
            Ok(Outcome::Written)
        }
        phase => {
            let to = if phase == "finalized" {
                TransferState::Posted
            } else {
                TransferState::Voided
            };
            if transfer_by_id_in(conn, &id).await?.is_none() {
                // Nothing was booked at confirmed: either there was nothing to book, or it
                // failed and is an exception already, which this one joins.
                let failed: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM settlement.booking_exception
                                    WHERE signature = $1 AND ix_index = $2 AND inner_index = $3
                                      AND resolved_at IS NULL)",
                )
                .bind(row.signature.as_ref())
                .bind(row.ix_index)
                .bind(row.inner_index)
                .fetch_one(&mut *conn)
                .await?;
                if failed {
                    return Err(SettlementError::Invalid(format!(
                        "{id} is {phase}, but was not booked when confirmed"
                    )));
                }
                return Ok(Outcome::Nothing);
            }
            resolve_in(conn, &id, to).await?;
            Ok(Outcome::Resolved)
        }
    }
}

struct Entry {
    accounts: Vec<NewAccount>,
    transfer: NewTransfer,
}

/// Builds postings and remembers the accounts they need.
struct Builder {
    currency: String,
    accounts: Vec<NewAccount>,
    postings: Vec<Posting>,
}

impl Builder {
    fn new(currency: &str) -> Self {
        Self {
            currency: currency.to_string(),
            accounts: Vec::new(),
            postings: Vec::new(),
        }
    }

    /// Debits `dr` and credits `cr` by `amount` (nothing when it is zero).
    fn post(&mut self, dr: NewAccount, cr: NewAccount, amount: u64) -> Result<()> {
        if amount == 0 {
            return Ok(());
        }
        let amount = i64::try_from(amount)
            .map_err(|_| SettlementError::Invalid(format!("amount {amount} exceeds 63 bits")))?;
        self.postings
            .push(Posting::debit(&dr.id, &self.currency, amount));
        self.postings
            .push(Posting::credit(&cr.id, &self.currency, amount));
        for a in [dr, cr] {
            if !self.accounts.iter().any(|k| k.id == a.id) {
                self.accounts.push(a);
            }
        }
        Ok(())
    }
}

impl Builder {
    /// Money that reached the treasury for fiat merchant `m`: what it owes Kassa is paid back
    /// first (Dr treasury / Cr receivable), the rest Kassa owes it (Dr treasury / Cr payable).
    async fn received_for(
        &mut self,
        conn: &mut PgConnection,
        m: &Pubkey,
        amount: u64,
    ) -> Result<()> {
        let c = self.currency.clone();
        accounts::lock_merchant(conn, m).await?;
        let receivable = accounts::receivable(m, &c);
        let owed = available(conn, &receivable).await?.min(amount);
        self.post(accounts::treasury(&c), receivable, owed)?;
        self.post(
            accounts::treasury(&c),
            accounts::payable(m, &c),
            amount - owed,
        )
    }

    /// Money the treasury paid out for fiat merchant `m`: charged to what Kassa owes it
    /// (Dr payable / Cr treasury) as far as its posted balance goes, the rest it owes Kassa
    /// (Dr receivable / Cr treasury).
    async fn paid_for(&mut self, conn: &mut PgConnection, m: &Pubkey, amount: u64) -> Result<()> {
        let c = self.currency.clone();
        accounts::lock_merchant(conn, m).await?;
        let payable = accounts::payable(m, &c);
        let from_payable = available(conn, &payable).await?.min(amount);
        self.post(payable, accounts::treasury(&c), from_payable)?;
        self.post(
            accounts::receivable(m, &c),
            accounts::treasury(&c),
            amount - from_payable,
        )
    }

    /// The pending transfer of event `id`, unless nothing moved.
    fn entry(self, id: &str, description: String, metadata: serde_json::Value) -> Option<Entry> {
        (!self.postings.is_empty()).then(|| Entry {
            accounts: self.accounts,
            transfer: NewTransfer {
                id: id.to_string(),
                pending: true,
                postings: self.postings,
                description,
                metadata,
            },
        })
    }
}

/// What a no-overdraft account has that can be drawn now: its posted balance less what pending
/// transfers reserve against it (0 when it does not exist yet). Callers hold the merchant's
/// accounts locked ([`accounts::lock_merchant`]) so it stays true until they draw on it.
async fn available(conn: &mut PgConnection, a: &NewAccount) -> Result<u64> {
    Ok(match account_in(conn, &a.id).await? {
        Some(acc) => u64::try_from(acc.balance.available(acc.kind).max(0)).unwrap_or(0),
        None => 0,
    })
}

/// The net change of the treasury wallet's token accounts of `mint` in the transaction of
/// `row`'s event (its landing: signature and slot).
async fn treasury_change(
    conn: &mut PgConnection,
    ctx: &Context,
    row: &InboxRow,
    mint: &Pubkey,
) -> Result<i128> {
    let Some(treasury) = ctx.treasury else {
        return Ok(0);
    };
    let change: String = sqlx::query_scalar(
        "SELECT coalesce(sum(post::numeric - pre::numeric), 0)::text
         FROM chain.token_balance_change
         WHERE signature = $1 AND slot = $4 AND owner = $2 AND mint = $3",
    )
    .bind(row.signature.as_ref())
    .bind(&treasury.to_bytes()[..])
    .bind(&mint.to_bytes()[..])
    .bind(row.slot)
    .fetch_one(&mut *conn)
    .await?;
    change
        .parse()
        .map_err(|_| SettlementError::Corrupt(format!("token change {change}")))
}

/// The merchant's part of a capture or a dispute split: to the treasury (receivable first,
/// then payable) for a fiat merchant whose part reached it; nothing for a stablecoin merchant.
async fn merchant_part(
    conn: &mut PgConnection,
    ctx: &Context,
    b: &mut Builder,
    row: &InboxRow,
    merchant: &Pubkey,
    mint: &Pubkey,
    to_merchant: u64,
) -> Result<bool> {
    if to_merchant == 0 || !setup::is_fiat(conn, merchant).await? {
        return Ok(false);
    }
    let sig = &row.signature;
    let reached = treasury_change(conn, ctx, row, mint).await?;
    if reached < i128::from(to_merchant) {
        return Err(SettlementError::Invalid(format!(
            "merchant {merchant} is settled in fiat, but its {to_merchant} did not reach the \
             treasury wallet in {sig} (the treasury's change: {reached}): its on-chain \
             settlement wallet is not the treasury's"
        )));
    }
    b.received_for(conn, merchant, to_merchant).await?;
    Ok(true)
}

async fn entry(
    conn: &mut PgConnection,
    ctx: &Context,
    row: &InboxRow,
    id: &str,
    event: &KassaEvent,
) -> Result<Option<Entry>> {
    let KassaEvent::Payments(e) = event else {
        return credit_entry(conn, ctx, row, id, event).await;
    };
    let payment = event.header().entity;
    // What moved: into escrow, out of it to the merchant's side, back to the payer, or a
    // refund.
    enum Moved {
        In(u64),
        Settled {
            out: u64,
            fee: u64,
            to_merchant: u64,
        },
        Back(u64),
        Refund(u64),
    }
    let (merchant, mint, what, moved) = match e {
        PaymentsEvent::PaymentAuthorized(e) => {
            (e.merchant, e.mint, "authorized", Moved::In(e.received))
        }
        PaymentsEvent::PaymentCaptured(e) => (
            e.merchant,
            e.mint,
            "captured",
            Moved::Settled {
                out: e.amount,
                fee: e.fee,
                to_merchant: e.to_merchant,
            },
        ),
        PaymentsEvent::DisputeResolved(e) => (
            e.merchant,
            e.mint,
            "dispute resolved",
            Moved::Settled {
                out: e
                    .to_merchant_gross
                    .checked_add(e.to_payer)
                    .ok_or_else(|| SettlementError::Invalid(format!("{id}: amounts overflow")))?,
                fee: e.fee,
                to_merchant: e.to_merchant,
            },
        ),
        PaymentsEvent::PaymentVoided(e) => (e.merchant, e.mint, "voided", Moved::Back(e.amount)),
        PaymentsEvent::PaymentReclaimed(e) => {
            (e.merchant, e.mint, "reclaimed", Moved::Back(e.amount))
        }
        PaymentsEvent::PaymentRejected(e) => {
            (e.merchant, e.mint, "rejected", Moved::Back(e.amount))
        }
        PaymentsEvent::PaymentRefunded(e) => {
            (e.merchant, e.mint, "refunded", Moved::Refund(e.amount))
        }
        _ => return Ok(None),
    };
    let Some((code, _)) = ctx.currencies.get(&mint) else {
        return Err(SettlementError::Invalid(format!(
            "mint {mint} has no currency in settlement.currency: add it, then book this event"
        )));
    };
    let mut b = Builder::new(code);
    let mut to_treasury = false;
    match moved {
        Moved::In(received) => {
            b.post(accounts::escrow(code), accounts::payers(code), received)?;
        }
        Moved::Settled {
            out,
            fee,
            to_merchant,
        } => {
            b.post(accounts::payers(code), accounts::escrow(code), out)?;
            b.post(accounts::fees(code), accounts::fee_revenue(code), fee)?;
            to_treasury =
                merchant_part(conn, ctx, &mut b, row, &merchant, &mint, to_merchant).await?;
        }
        Moved::Back(amount) => {
            b.post(accounts::payers(code), accounts::escrow(code), amount)?;
        }
        Moved::Refund(amount) => {
            let paid = -treasury_change(conn, ctx, row, &mint).await?;
            if paid <= 0 || !setup::is_fiat(conn, &merchant).await? {
                // The merchant paid it from its own wallet: nothing in custody moved.
                return Ok(None);
            }
            if paid < i128::from(amount) {
                return Err(SettlementError::Invalid(format!(
                    "{id}: a refund of {} of which the treasury paid only {paid}: an operator \
                     decides who funded the rest",
                    amount
                )));
            }
            b.paid_for(conn, &merchant, amount).await?;
            to_treasury = true;
        }
    }
    Ok(b.entry(
        id,
        format!("payment {payment} {what}"),
        json!({
            "event": event.name(),
            "signature": row.signature.to_string(),
            "payment": payment.to_string(),
            "merchant": merchant.to_string(),
            "mint": mint.to_string(),
            "fiat": to_treasury,
        }),
    ))
}

/// A fiat merchant's credit, where it moved the treasury's tokens: a draw (an advance emits
/// `Drawn` too, and is booked through it) paid into the treasury is the merchant's, a
/// repayment the treasury made for it is charged to it. Credit the merchant took or repaid elsewhere moves nothing Kassa holds.
async fn credit_entry(
    conn: &mut PgConnection,
    ctx: &Context,
    row: &InboxRow,
    id: &str,
    event: &KassaEvent,
) -> Result<Option<Entry>> {
    let KassaEvent::Credit(e) = event else {
        return Ok(None);
    };
    let (line, incoming, outgoing, what) = match e {
        CreditEvent::Drawn(e) => (e.header.entity, e.amount, 0, "drawn"),
        CreditEvent::Repaid(e) => {
            let paid = [e.fees, e.interest, e.principal, e.recovery]
                .into_iter()
                .try_fold(0u64, u64::checked_add)
                .ok_or_else(|| SettlementError::Invalid(format!("{id}: amounts overflow")))?;
            (e.header.entity, 0, paid, "repaid")
        }
        _ => return Ok(None),
    };
    let found: Option<(Option<Vec<u8>>, Vec<u8>)> = sqlx::query_as(
        "SELECT l.merchant, p.mint FROM chain.credit_line l
         JOIN chain.credit_pool p ON p.address = l.pool WHERE l.address = $1",
    )
    .bind(&line.to_bytes()[..])
    .fetch_optional(&mut *conn)
    .await?;
    let Some((Some(merchant), mint)) = found else {
        return Ok(None);
    };
    let key = |b: &[u8]| {
        Pubkey::try_from(b).map_err(|_| SettlementError::Corrupt("credit line key".into()))
    };
    let (merchant, mint) = (key(&merchant)?, key(&mint)?);
    if !setup::is_fiat(conn, &merchant).await? {
        return Ok(None);
    }
    let change = treasury_change(conn, ctx, row, &mint).await?;
    let Some((code, _)) = ctx.currencies.get(&mint) else {
        return Err(SettlementError::Invalid(format!(
            "mint {mint} has no currency in settlement.currency: add it, then book this event"
        )));
    };
    let moved = if incoming > 0 { change } else { -change };
    let amount = i128::from(incoming.max(outgoing));
    if moved <= 0 {
        // Drawn into, or repaid from, a wallet of the merchant's own.
        return Ok(None);
    }
    if moved < amount {
        return Err(SettlementError::Invalid(format!(
            "{id}: credit line {line} {what} {amount}, of which only {moved} moved through the \
             treasury: an operator decides"
        )));
    }
    let mut b = Builder::new(code);
    if incoming > 0 {
        b.received_for(conn, &merchant, incoming).await?;
    } else {
        b.paid_for(conn, &merchant, outgoing).await?;
    }
    Ok(b.entry(
        id,
        format!("credit line {line} {what}"),
        json!({
            "event": event.name(),
            "signature": row.signature.to_string(),
            "line": line.to_string(),
            "merchant": merchant.to_string(),
            "mint": mint.to_string(),
            "fiat": true,
        }),
    ))
}

/// Books the open booking exceptions again (once their cause is fixed: a currency added, a
/// merchant's settlement corrected): each goes back into the inbox, in the order it failed,
/// and is marked resolved; one that fails again is an open exception again. Returns how many
/// were queued.
pub async fn rebook(pool: &PgPool) -> Result<u64> {
    let mut tx = pool.begin().await?;
    let n = sqlx::query(
        "WITH again AS (
             UPDATE settlement.booking_exception SET resolved_at = now()
             WHERE resolved_at IS NULL
             RETURNING signature, ix_index, inner_index, slot, phase, created_at)
         INSERT INTO settlement.inbox (signature, ix_index, inner_index, slot, phase)
         SELECT signature, ix_index, inner_index, slot, phase FROM again
         ORDER BY created_at, array_position(ARRAY['confirmed', 'finalized', 'reverted'], phase)",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// Books until `shutdown`: a pass every `poll`, at once again while the inbox is backed up.
pub async fn run(
    pool: PgPool,
    poll: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let wait = match pass(&pool).await {
            Ok(b) if b.rows as i64 >= BATCH => std::time::Duration::ZERO,
            Ok(_) => poll,
            Err(e) => {
                tracing::warn!(error = %e, "settlement booking failed; retrying");
                poll
            }
        };
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Booking exceptions not resolved yet: (signature, instruction, inner, phase, reason).
pub async fn open_exceptions(pool: &PgPool) -> Result<Vec<(Signature, i32, i32, String, String)>> {
    sqlx::query(
        "SELECT signature, ix_index, inner_index, phase, reason
         FROM settlement.booking_exception WHERE resolved_at IS NULL
         ORDER BY created_at, signature, ix_index, inner_index",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        let sig: Vec<u8> = r.get(0);
        Ok((
            Signature::try_from(sig.as_slice())
                .map_err(|_| SettlementError::Corrupt("exception signature".into()))?,
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
        ))
    })
    .collect()
}
