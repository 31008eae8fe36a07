//! Mass payouts in stablecoins: a merchant (a marketplace paying its sellers, a platform paying
//! its workers) pays many wallets out of what Kassa holds for it, from the treasury wallet.
//!
//! - [`create`] checks the list and reserves the total against the merchant's *posted* payable
//!   in the stablecoin (`mass:<id>`, pending: Dr payable / Cr treasury): a payout the balance
//!   cannot cover is refused, whole.
//! - [`send`] packs the transfers (each with an idempotent creation of the recipient's token
//!   account) into as few transactions as fit in a packet, records each item's signature
//!   *before* its transaction is sent, then sends them.
//! - [`settle`] asks the cluster for each signature at `finalized`: landed items are paid,
//!   items whose transaction failed are failed (with the reason), items whose transaction the
//!   cluster never saw although the finalized chain is past its last valid block height go back
//!   to pending to be sent again (before that, it may still land). When none is
//!   left open, the reservation is voided and what was paid is booked as one posted transfer
//!   (`mass:<id>:paid`, Dr payable / Cr treasury), in one database transaction: what failed
//!   stays the merchant's.

use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::{resolve_in, transfer_in, NewTransfer, Posting, TransferState},
};
use anchor_spl::{
    associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent,
    token_2022::spl_token_2022::instruction::transfer_checked,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    hash::Hash,
    instruction::Instruction,
    message::Message,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
    transaction::Transaction,
};
use sqlx::{PgPool, Row as _};
use std::str::FromStr;
use time::OffsetDateTime;

/// The most recipients one mass payout takes.
pub const MAX_ITEMS: usize = 10_000;
/// A transaction's size limit on the wire.
const PACKET: usize = 1232;

/// One recipient.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Item {
    pub wallet: Pubkey,
    /// Base units of the stablecoin.
    pub amount: u64,
    /// The merchant's reference (a seller's or worker's id), at most 140 characters.
    #[serde(default)]
    pub reference: String,
}

/// Who pays a stablecoin payout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funder {
    /// A merchant, from its posted payable in the stablecoin.
    Merchant(Pubkey),
    /// The on-ramp, from what it owes customers (`onramp:owed:<c>`).
    OnRamp,
}

impl Funder {
    fn account(&self, code: &str) -> crate::ledger::NewAccount {
        match self {
            Funder::Merchant(m) => accounts::payable(m, code),
            Funder::OnRamp => accounts::onramp_owed(code),
        }
    }

    fn key_bytes(&self) -> [u8; 32] {
        match self {
            Funder::Merchant(m) => m.to_bytes(),
            Funder::OnRamp => [0; 32],
        }
    }
}

/// A payout's id: derived from the funder and the caller's key, so making it again returns the
/// same one.
pub fn payout_id(funder: &Funder, key: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kassa-mass-payout\0");
    h.update(funder.key_bytes());
    h.update(key.as_bytes());
    format!("mp_{}", &hex::encode(h.finalize())[..24])
}

/// Makes a mass payout of `merchant` in `mint` and reserves its total against the merchant's
/// posted payable. `key` makes it idempotent: the same key returns the same payout (and a
/// different list under it is refused).
pub async fn create(
    pool: &PgPool,
    merchant: &Pubkey,
    mint: &Pubkey,
    key: &str,
    items: &[Item],
) -> Result<String> {
    let mut tx = pool.begin().await?;
    let registered: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM settlement.merchant WHERE merchant = $1)")
            .bind(&merchant.to_bytes()[..])
            .fetch_one(&mut *tx)
            .await?;
    if !registered {
        return Err(SettlementError::NotFound(format!(
            "merchant {merchant} in settlement (set up how it is settled first)"
        )));
    }
    let id = create_in(&mut tx, Funder::Merchant(*merchant), mint, key, items).await?;
    tx.commit().await?;
    Ok(id)
}

/// [`create`] for any funder, inside the caller's database transaction.
pub async fn create_in(
    tx: &mut sqlx::PgConnection,
    funder: Funder,
    mint: &Pubkey,
    key: &str,
    items: &[Item],
) -> Result<String> {
    if items.is_empty() || items.len() > MAX_ITEMS {
        return Err(SettlementError::Invalid(format!(
            "a mass payout pays 1 to {MAX_ITEMS} wallets, not {}",
            items.len()
        )));
    }
    for (i, it) in items.iter().enumerate() {
        if it.amount == 0 || it.amount > i64::MAX as u64 {
            return Err(SettlementError::Invalid(format!(
                "item {}: amount {} is not a positive 63-bit amount",
                i + 1,
                it.amount
            )));
        }
        if it.reference.chars().count() > 140 || it.reference.chars().any(char::is_control) {
            return Err(SettlementError::Invalid(format!(
                "item {}: the reference is longer than 140 characters or holds control characters",
                i + 1
            )));
        }
    }
    let total = items
        .iter()
        .try_fold(0i64, |t, it| t.checked_add(it.amount as i64))
        .ok_or_else(|| SettlementError::Invalid("the total exceeds 63 bits".into()))?;
    let id = payout_id(&funder, key);
    let digest = {
        let mut h = Sha256::new();
        for it in items {
            h.update(it.wallet.to_bytes());
            h.update(it.amount.to_le_bytes());
            h.update((it.reference.len() as u64).to_le_bytes());
            h.update(it.reference.as_bytes());
        }
        hex::encode(h.finalize())
    };
    let code: Option<String> =
        sqlx::query_scalar("SELECT code FROM settlement.currency WHERE mint = $1")
            .bind(&mint.to_bytes()[..])
            .fetch_optional(&mut *tx)
            .await?;
    let code = code.ok_or_else(|| {
        SettlementError::Invalid(format!(
            "mint {mint} has no currency in settlement.currency"
        ))
    })?;
    let funding = funder.account(&code);
    let known: Option<(String, String)> =
        sqlx::query_as("SELECT funding, digest FROM settlement.mass_payout WHERE id = $1")
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
    if let Some((f, d)) = known {
        if f != funding.id || d != digest {
            return Err(SettlementError::Conflict(format!(
                "key {key:?} was used for another mass payout ({id})"
            )));
        }
        return Ok(id);
    }
    let merchant = match funder {
        Funder::Merchant(m) => Some(m.to_bytes().to_vec()),
        Funder::OnRamp => None,
    };
    let now = OffsetDateTime::now_utc();
    sqlx::query(
        "INSERT INTO settlement.mass_payout (id, merchant, funding, mint, total, items, digest,
                                             state, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'created', $8)",
    )
    .bind(&id)
    .bind(merchant)
    .bind(&funding.id)
    .bind(&mint.to_bytes()[..])
    .bind(total)
    .bind(items.len() as i32)
    .bind(&digest)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO settlement.mass_payout_item (payout, n, wallet, amount, reference, state)
         SELECT $1, n::int4, w, a, r, 'pending'
         FROM unnest($2::bytea[], $3::int8[], $4::text[]) WITH ORDINALITY AS t(w, a, r, n)",
    )
    .bind(&id)
    .bind(
        items
            .iter()
            .map(|i| i.wallet.to_bytes().to_vec())
            .collect::<Vec<_>>(),
    )
    .bind(items.iter().map(|i| i.amount as i64).collect::<Vec<_>>())
    .bind(
        items
            .iter()
            .map(|i| i.reference.as_str())
            .collect::<Vec<_>>(),
    )
    .execute(&mut *tx)
    .await?;
    crate::ledger::open_account_in(&mut *tx, &funding).await?;
    let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
    let reserved = transfer_in(
        &mut sp,
        &NewTransfer {
            id: format!("mass:{id}"),
            postings: vec![
                Posting::debit(&funding.id, &code, total),
                Posting::credit(&accounts::treasury(&code).id, &code, total),
            ],
            pending: true,
            description: format!("payout {id} to {} wallets reserved", items.len()),
            metadata: json!({ "funding": funding.id, "mass_payout": id }),
        },
    )
    .await;
    match reserved {
        Ok(_) => sp.commit().await?,
        Err(crate::LedgerError::Overdraft(_)) => {
            return Err(SettlementError::Invalid(format!(
                "{}'s posted {code} balance does not cover the {total} this payout needs: \
                 nothing was reserved",
                match funder {
                    Funder::Merchant(m) => format!("merchant {m}"),
                    Funder::OnRamp => "the on-ramp".into(),
                }
            )))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(id)
}

/// The transfers of one item: the recipient's token account made if missing, then the transfer.
fn item_ixs(
    treasury: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
    decimals: u8,
    wallet: &Pubkey,
    amount: u64,
) -> Result<Vec<Instruction>> {
    let ata = |owner: &Pubkey| {
        Pubkey::find_program_address(
            &[owner.as_ref(), token_program.as_ref(), mint.as_ref()],
            &anchor_spl::associated_token::ID,
        )
        .0
    };
    Ok(vec![
        create_associated_token_account_idempotent(treasury, wallet, mint, token_program),
        transfer_checked(
            token_program,
            &ata(treasury),
            mint,
            &ata(wallet),
            treasury,
            &[],
            amount,
            decimals,
        )
        .map_err(|e| SettlementError::Invalid(format!("transfer of {amount} to {wallet}: {e}")))?,
    ])
}

fn size(ixs: &[Instruction], payer: &Pubkey) -> usize {
    let message = Message::new(ixs, Some(payer));
    // One signature (the treasury's) and its compact length, then the message.
    1 + 64 + message.serialize().len()
}

/// Packs items (n, wallet, amount) into transactions that each fit in a packet.
fn pack(
    treasury: &Pubkey,
    mint: &Pubkey,
    token_program: &Pubkey,
    decimals: u8,
    items: &[(i32, Pubkey, u64)],
) -> Result<Vec<(Vec<i32>, Vec<Instruction>)>> {
    let mut out: Vec<(Vec<i32>, Vec<Instruction>)> = Vec::new();
    let mut current: (Vec<i32>, Vec<Instruction>) = (Vec::new(), Vec::new());
    for (n, wallet, amount) in items {
        let ixs = item_ixs(treasury, mint, token_program, decimals, wallet, *amount)?;
        let mut trial = current.1.clone();
        trial.extend(ixs.iter().cloned());
        if !current.0.is_empty() && size(&trial, treasury) > PACKET {
            out.push(std::mem::take(&mut current));
            trial = ixs;
        }
        current.0.push(*n);
        current.1 = trial;
    }
    if !current.0.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// What [`send`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sent {
    /// Transactions sent, each with the items it pays.
    pub transactions: Vec<(Signature, Vec<i32>)>,
}

/// Sends the pending items of a mass payout from the treasury (whose keypair signs), packed
/// into as few transactions as fit. Each item's signature is stored before its transaction is
/// sent. A transaction the cluster refuses marks its items failed at once.
pub async fn send(pool: &PgPool, rpc: &RpcClient, treasury: &Keypair, id: &str) -> Result<Sent> {
    let row = sqlx::query(
        "SELECT p.mint, c.decimals FROM settlement.mass_payout p
         JOIN settlement.currency c ON c.mint = p.mint WHERE p.id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| SettlementError::NotFound(format!("mass payout {id}")))?;
    let mint_bytes: Vec<u8> = row.get(0);
    let mint = Pubkey::try_from(mint_bytes.as_slice())
        .map_err(|_| SettlementError::Corrupt("mass payout mint".into()))?;
    let decimals = row.get::<i16, _>(1) as u8;
    let stored_treasury = {
        let mut conn = pool.acquire().await?;
        crate::setup::treasury(&mut conn).await?
    };
    if stored_treasury != Some(treasury.pubkey()) {
        return Err(SettlementError::Invalid(format!(
            "the key given is {}, not the treasury wallet",
            treasury.pubkey()
        )));
    }
    let token_program = rpc
        .get_account(&mint)
        .await
        .map_err(|e| SettlementError::Cluster(format!("mint {mint}: {e}")))?
        .owner;
    // One sender per payout at a time: a session lock on a connection of its own, released
    // when this returns or when the process dies and its connection closes.
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(id)
        .fetch_one(&mut *lock)
        .await?;
    if !locked {
        return Ok(Sent::default());
    }
    let sent = send_locked(pool, rpc, treasury, id, &mint, &token_program, decimals).await;
    sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(id)
        .execute(&mut *lock)
        .await?;
    sent
}

async fn send_locked(
    pool: &PgPool,
    rpc: &RpcClient,
    treasury: &Keypair,
    id: &str,
    mint: &Pubkey,
    token_program: &Pubkey,
    decimals: u8,
) -> Result<Sent> {
    let pending: Vec<(i32, Pubkey, u64)> = sqlx::query(
        "SELECT n, wallet, amount FROM settlement.mass_payout_item
         WHERE payout = $1 AND state = 'pending' ORDER BY n",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        let w: Vec<u8> = r.get(1);
        Ok((
            r.get(0),
            Pubkey::try_from(w.as_slice())
                .map_err(|_| SettlementError::Corrupt("item wallet".into()))?,
            r.get::<i64, _>(2) as u64,
        ))
    })
    .collect::<Result<_>>()?;
    let chunks = pack(&treasury.pubkey(), mint, token_program, decimals, &pending)?;
    let mut sent = Sent::default();
    for (ns, ixs) in chunks {
        let (blockhash, last_valid): (Hash, u64) = rpc
            .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
            .await
            .map_err(|e| SettlementError::Cluster(format!("blockhash: {e}")))?;
        let tx = Transaction::new_signed_with_payer(
            &ixs,
            Some(&treasury.pubkey()),
            &[treasury],
            blockhash,
        );
        let signature = tx.signatures[0];
        // The signature is stored first: whatever happens next, the item is found by it. Only
        // items still pending are claimed; a chunk not wholly claimed is not sent.
        let claimed = sqlx::query(
            "UPDATE settlement.mass_payout_item SET state = 'sent', signature = $3, last_valid = $4
             WHERE payout = $1 AND n = ANY($2) AND state = 'pending'",
        )
        .bind(id)
        .bind(&ns)
        .bind(signature.as_ref())
        .bind(last_valid as i64)
        .execute(pool)
        .await?
        .rows_affected();
        if claimed != ns.len() as u64 {
            sqlx::query(
                "UPDATE settlement.mass_payout_item
                 SET state = 'pending', signature = NULL, last_valid = NULL
                 WHERE payout = $1 AND signature = $2",
            )
            .bind(id)
            .bind(signature.as_ref())
            .execute(pool)
            .await?;
            continue;
        }
        if let Err(e) = rpc.send_transaction(&tx).await {
            if let Some(err) = e.get_transaction_error() {
                sqlx::query(
                    "UPDATE settlement.mass_payout_item SET state = 'failed', error = $3
                     WHERE payout = $1 AND n = ANY($2) AND state = 'sent'",
                )
                .bind(id)
                .bind(&ns)
                .bind(format!("refused by the cluster: {err}"))
                .execute(pool)
                .await?;
                continue;
            }
            // Not an answer about the transaction (a timeout, a dropped connection): it may
            // have landed; `settle` finds out by its signature.
            tracing::warn!(%signature, error = %e, "a mass payout transaction's fate is unknown");
        }
        sent.transactions.push((signature, ns));
    }
    Ok(sent)
}

/// Where a mass payout stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Settled {
    pub id: String,
    pub done: bool,
    pub paid: i64,
    pub failed: i64,
    /// Items still open (sent and not final, or back to pending).
    pub open: usize,
}

/// Looks up every sent item's transaction at `finalized` and books the payout once none is
/// open (see the module documentation).
pub async fn settle(pool: &PgPool, rpc: &RpcClient, id: &str) -> Result<Settled> {
    let sent: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "SELECT DISTINCT signature, last_valid FROM settlement.mass_payout_item
         WHERE payout = $1 AND state = 'sent'",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let sent: Vec<(Signature, u64)> = sent
        .iter()
        .map(|(s, h)| {
            Ok((
                Signature::try_from(s.as_slice())
                    .map_err(|_| SettlementError::Corrupt("item signature".into()))?,
                *h as u64,
            ))
        })
        .collect::<Result<_>>()?;
    // The finalized block height, read before the statuses: a transaction whose last valid
    // height is below it and that the cluster has not seen after it can never land.
    let finalized_height = if sent.is_empty() {
        0
    } else {
        rpc.get_block_height_with_commitment(CommitmentConfig::finalized())
            .await
            .map_err(|e| SettlementError::Cluster(format!("block height: {e}")))?
    };
    for chunk in sent.chunks(256) {
        let sigs: Vec<Signature> = chunk.iter().map(|c| c.0).collect();
        let statuses = rpc
            .get_signature_statuses_with_history(&sigs)
            .await
            .map_err(|e| SettlementError::Cluster(format!("signature statuses: {e}")))?
            .value;
        for ((sig, last_valid), status) in chunk.iter().zip(statuses) {
            let (state, error) = match status {
                Some(s) if s.satisfies_commitment(CommitmentConfig::finalized()) => match s.err {
                    None => ("paid", None),
                    Some(e) => ("failed", Some(format!("failed on chain: {e}"))),
                },
                Some(_) => continue,
                // Never seen, and its blockhash expired before the finalized height read
                // above: it can never land, so it is sent again. Until then it may still land.
                None if *last_valid < finalized_height => ("pending", None),
                None => continue,
            };
            sqlx::query(
                "UPDATE settlement.mass_payout_item
                 SET state = $3, error = $4,
                     signature = CASE WHEN $3 = 'pending' THEN NULL ELSE signature END,
                     last_valid = CASE WHEN $3 = 'pending' THEN NULL ELSE last_valid END
                 WHERE payout = $1 AND signature = $2 AND state = 'sent'",
            )
            .bind(id)
            .bind(sig.as_ref())
            .bind(state)
            .bind(error)
            .execute(pool)
            .await?;
        }
    }
    let mut tx = pool.begin().await?;
    let r = sqlx::query(
        "SELECT p.state, p.funding, c.code,
                coalesce(sum(i.amount) FILTER (WHERE i.state = 'paid'), 0)::int8,
                coalesce(sum(i.amount) FILTER (WHERE i.state = 'failed'), 0)::int8,
                count(*) FILTER (WHERE i.state IN ('pending', 'sent'))
         FROM settlement.mass_payout p
         JOIN settlement.currency c ON c.mint = p.mint
         JOIN settlement.mass_payout_item i ON i.payout = p.id
         WHERE p.id = $1 GROUP BY p.state, p.funding, c.code",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| SettlementError::NotFound(format!("mass payout {id}")))?;
    let state: String = r.get(0);
    let funding: String = r.get(1);
    let code: String = r.get(2);
    let (paid, failed, open): (i64, i64, i64) = (r.get(3), r.get(4), r.get(5));
    if state == "created" && open == 0 {
        resolve_in(&mut tx, &format!("mass:{id}"), TransferState::Voided).await?;
        if paid > 0 {
            transfer_in(
                &mut tx,
                &NewTransfer {
                    id: format!("mass:{id}:paid"),
                    postings: vec![
                        Posting::debit(&funding, &code, paid),
                        Posting::credit(&accounts::treasury(&code).id, &code, paid),
                    ],
                    pending: false,
                    description: format!("mass payout {id} paid on chain"),
                    metadata: json!({ "funding": funding, "mass_payout": id,
                                      "failed": failed }),
                },
            )
            .await?;
        }
        sqlx::query(
            "UPDATE settlement.mass_payout SET state = 'done', paid = $2, failed = $3, done_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(paid)
        .bind(failed)
        .bind(OffsetDateTime::now_utc())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Settled {
        id: id.to_string(),
        done: open == 0,
        paid,
        failed,
        open: open as usize,
    })
}

/// One recipient of a mass payout, as it stands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemState {
    pub n: i32,
    pub wallet: String,
    pub amount: i64,
    pub reference: String,
    /// `pending`, `sent`, `paid` or `failed`.
    pub state: String,
    pub signature: Option<String>,
    pub error: Option<String>,
}

/// A mass payout's items, in order.
pub async fn items(pool: &PgPool, id: &str) -> Result<Vec<ItemState>> {
    sqlx::query(
        "SELECT n, wallet, amount, reference, state, signature, error
         FROM settlement.mass_payout_item WHERE payout = $1 ORDER BY n",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| {
        let w: Vec<u8> = r.get(1);
        let s: Option<Vec<u8>> = r.get(5);
        Ok(ItemState {
            n: r.get(0),
            wallet: Pubkey::try_from(w.as_slice())
                .map_err(|_| SettlementError::Corrupt("item wallet".into()))?
                .to_string(),
            amount: r.get(2),
            reference: r.get(3),
            state: r.get(4),
            signature: s.map(|s| {
                Signature::try_from(s.as_slice())
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            }),
            error: r.get(6),
        })
    })
    .collect()
}

/// Parses a wallet written in base58, naming the field.
pub fn wallet(field: &str, s: &str) -> Result<Pubkey> {
    Pubkey::from_str(s)
        .map_err(|_| SettlementError::Invalid(format!("{field} {s:?} is not a base58 address")))
}
