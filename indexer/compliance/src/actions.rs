//! On-chain actions signed by the compliance key: holds on authorized payments, their release
//! or rejection (the escrow back to the payer), blocklist entries, and merchants' KYB
//! attestations and suspensions. Each is a row (`compliance.action`) before it is a
//! transaction: who asked (an officer, or a rule), why, the hash that goes on chain, and the
//! transaction's signature stored before it is sent, so that a retry after a crash looks the
//! transaction up rather than acting twice. Each outcome is written to the audit log.

use crate::{audit, lists::Actor, pubkey, sha256, ComplianceError, Result};
use anchor_lang::AccountDeserialize;
use kassa_sdk::payments::{MintRef, Payments, ReleaseRefs};
use serde::Serialize;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    hash::Hash,
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::Transaction,
};
use sqlx::{PgPool, Row};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Hold,
    Release,
    Reject,
    BlocklistAdd,
    BlocklistRemove,
    KybAttest,
    KybSuspend,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Hold => "hold",
            Kind::Release => "release",
            Kind::Reject => "reject",
            Kind::BlocklistAdd => "blocklist_add",
            Kind::BlocklistRemove => "blocklist_remove",
            Kind::KybAttest => "kyb_attest",
            Kind::KybSuspend => "kyb_suspend",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hold" => Kind::Hold,
            "release" => Kind::Release,
            "reject" => Kind::Reject,
            "blocklist_add" => Kind::BlocklistAdd,
            "blocklist_remove" => Kind::BlocklistRemove,
            "kyb_attest" => Kind::KybAttest,
            "kyb_suspend" => Kind::KybSuspend,
            _ => return None,
        })
    }
}

/// An action as stored.
#[derive(Debug, Clone, Serialize)]
pub struct Action {
    pub id: i64,
    pub kind: String,
    pub target: String,
    pub case: Option<i64>,
    pub officer: Option<i64>,
    pub reason: String,
    pub hash: String,
    pub state: String,
    pub signature: Option<String>,
    pub error: Option<String>,
    pub created_at: String,
}

/// Checks `kind` can be taken on `target` now, so an officer learns why at once (the program
/// checks again): a payment's status from the chain itself when `rpc` is given (the mirror may
/// be a moment behind an action just taken), else from the mirror.
async fn check(pool: &PgPool, rpc: Option<&RpcClient>, kind: Kind, target: &Pubkey) -> Result<()> {
    let t = target.to_bytes();
    let need_status = |wanted: &'static str| async move {
        let status: Option<String> = match rpc {
            Some(rpc) => {
                match rpc
                    .get_account_with_commitment(target, CommitmentConfig::confirmed())
                    .await
                    .map_err(|e| ComplianceError::Cluster(format!("payment {target}: {e}")))?
                    .value
                {
                    None => None,
                    Some(a) => Some(
                        kassa_payments::state::Payment::try_deserialize(&mut a.data.as_slice())
                            .map_err(|_| ComplianceError::NotFound(format!("payment {target}")))?
                            .status
                            .name()
                            .to_string(),
                    ),
                }
            }
            None => {
                sqlx::query_scalar("SELECT status FROM chain.payment WHERE address = $1")
                    .bind(&t[..])
                    .fetch_optional(pool)
                    .await?
            }
        };
        match status.as_deref() {
            None => Err(ComplianceError::NotFound(format!("payment {target}"))),
            Some(s) if s == wanted => Ok(()),
            Some(s) => Err(ComplianceError::Refused(format!(
                "payment {target} is {s}; this action needs it {wanted}{}",
                if wanted == "authorized" {
                    " (a hold is only possible while the escrow holds the money)"
                } else {
                    ""
                }
            ))),
        }
    };
    match kind {
        Kind::Hold => need_status("authorized").await,
        Kind::Release | Kind::Reject => need_status("held").await,
        Kind::BlocklistAdd | Kind::BlocklistRemove => {
            let blocked: bool = match rpc {
                Some(rpc) => {
                    let entry = kassa_sdk::pda::blocklist_entry(&kassa_payments::ID, target).0;
                    rpc.get_account_with_commitment(&entry, CommitmentConfig::confirmed())
                        .await
                        .map_err(|e| ComplianceError::Cluster(format!("blocklist entry: {e}")))?
                        .value
                        .is_some()
                }
                None => {
                    sqlx::query_scalar(
                        "SELECT coalesce(bool_or($1 = ANY (blocked::bytea[])), false) FROM chain.config",
                    )
                    .bind(&t[..])
                    .fetch_one(pool)
                    .await?
                }
            };
            match (kind, blocked) {
                (Kind::BlocklistAdd, true) => Err(ComplianceError::Conflict(format!(
                    "{target} is on the blocklist already"
                ))),
                (Kind::BlocklistRemove, false) => Err(ComplianceError::Conflict(format!(
                    "{target} is not on the blocklist"
                ))),
                _ => Ok(()),
            }
        }
        Kind::KybAttest | Kind::KybSuspend => {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM chain.merchant WHERE address = $1)",
            )
            .bind(&t[..])
            .fetch_one(pool)
            .await?;
            if exists {
                Ok(())
            } else {
                Err(ComplianceError::NotFound(format!("merchant {target}")))
            }
        }
    }
}

/// An action asked for: what, on what, in which case, why, and the hash that goes on chain
/// (the SHA-256 of the reason and target when `None`).
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    pub kind: Kind,
    pub target: Pubkey,
    pub case: Option<i64>,
    pub reason: &'a str,
    pub hash: Option<[u8; 32]>,
}

/// Records an action to take: checked now, sent by [`perform`] (an officer's request waits
/// for it) or by the monitor's next pass.
pub async fn request(
    pool: &PgPool,
    by: &Actor,
    ask: Ask<'_>,
    rpc: Option<&RpcClient>,
) -> Result<i64> {
    let Ask {
        kind,
        target,
        case,
        reason,
        hash,
    } = ask;
    let target = &target;
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 2000 {
        return Err(ComplianceError::Invalid(
            "an action needs a reason (1 to 2,000 characters)".into(),
        ));
    }
    check(pool, rpc, kind, target).await?;
    if let Some(c) = case {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM compliance.case WHERE id = $1)")
                .bind(c)
                .fetch_one(pool)
                .await?;
        if !exists {
            return Err(ComplianceError::NotFound(format!("case {c}")));
        }
    }
    let hash = hash.unwrap_or_else(|| {
        sha256(
            serde_json::json!({ "kind": kind.as_str(), "target": target.to_string(),
                                "case": case, "reason": reason })
            .to_string()
            .as_bytes(),
        )
    });
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.action (kind, target, case_id, officer, reason, hash)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(kind.as_str())
    .bind(&target.to_bytes()[..])
    .bind(case)
    .bind(by.account())
    .bind(reason)
    .bind(&hash[..])
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        by.account(),
        &format!("action.{}.request", kind.as_str()),
        &format!("action:{id} target:{target}"),
        &sha256(reason.as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn instruction(
    pool: &PgPool,
    rpc: &RpcClient,
    key: &Pubkey,
    kind: Kind,
    target: &Pubkey,
    hash: [u8; 32],
) -> Result<Instruction> {
    let p = Payments::default();
    let sdk = |e: kassa_sdk::SdkError| ComplianceError::Invalid(e.to_string());
    Ok(match kind {
        Kind::Hold => p.hold_place(key, target, hash).map_err(sdk)?,
        Kind::Release => p.hold_release(key, target).map_err(sdk)?,
        Kind::Reject => {
            let row = sqlx::query("SELECT mint, payer FROM chain.payment WHERE address = $1")
                .bind(&target.to_bytes()[..])
                .fetch_optional(pool)
                .await?
                .ok_or_else(|| ComplianceError::NotFound(format!("payment {target}")))?;
            let mint = pubkey(&row.get::<Vec<u8>, _>(0), "payment mint")?;
            let payer = pubkey(
                &row.get::<Option<Vec<u8>>, _>(1).unwrap_or_default(),
                "payment payer",
            )?;
            let token_program = rpc
                .get_account(&mint)
                .await
                .map_err(|e| ComplianceError::Cluster(format!("mint {mint}: {e}")))?
                .owner;
            let mint = MintRef::new(mint, token_program).map_err(sdk)?;
            p.hold_reject(
                key,
                &ReleaseRefs {
                    payment: *target,
                    mint,
                    payer,
                },
                hash,
            )
            .map_err(sdk)?
        }
        Kind::BlocklistAdd => p.blocklist_add(key, target, hash).map_err(sdk)?,
        Kind::BlocklistRemove => p.blocklist_remove(key, target, key).map_err(sdk)?,
        Kind::KybAttest => p.merchant_kyb_attest(key, target, hash).map_err(sdk)?,
        Kind::KybSuspend => p.merchant_kyb_suspend(key, target, hash).map_err(sdk)?,
    })
}

/// Sends action `id` with the compliance key and waits for it to be confirmed; answers the
/// action as it then stands. An action sent before (a retry) is looked up by its stored
/// signature and only sent again once that transaction can no longer land.
pub async fn perform(pool: &PgPool, rpc: &RpcClient, key: &Keypair, id: i64) -> Result<Action> {
    // One sender per action at a time: a session lock on a connection of its own.
    let mut lock = pool.acquire().await?;
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock(hashtext('kassa.compliance.action'), $1::int4)",
    )
    .bind(id as i32)
    .fetch_one(&mut *lock)
    .await?;
    if !locked {
        return get(pool, id).await;
    }
    let result = perform_locked(pool, rpc, key, id).await;
    let _ = sqlx::query("SELECT pg_advisory_unlock(hashtext('kassa.compliance.action'), $1::int4)")
        .bind(id as i32)
        .execute(&mut *lock)
        .await;
    result?;
    get(pool, id).await
}

async fn perform_locked(pool: &PgPool, rpc: &RpcClient, key: &Keypair, id: i64) -> Result<()> {
    let row = sqlx::query(
        "SELECT kind, target, hash, state, signature, last_valid, officer
         FROM compliance.action WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("action {id}")))?;
    let kind = Kind::parse(row.get::<&str, _>(0))
        .ok_or_else(|| ComplianceError::Corrupt(format!("action {id} kind")))?;
    let target = pubkey(&row.get::<Vec<u8>, _>(1), "action target")?;
    let hash: [u8; 32] = row
        .get::<Vec<u8>, _>(2)
        .try_into()
        .map_err(|_| ComplianceError::Corrupt(format!("action {id} hash")))?;
    let officer: Option<i64> = row.get(6);
    if row.get::<&str, _>(3) != "pending" {
        return Ok(());
    }
    // Sent before? Its fate decides.
    if let (Some(sig), Some(last_valid)) = (
        row.get::<Option<Vec<u8>>, _>(4),
        row.get::<Option<i64>, _>(5),
    ) {
        let sig = Signature::try_from(sig.as_slice())
            .map_err(|_| ComplianceError::Corrupt(format!("action {id} signature")))?;
        let height = rpc
            .get_block_height_with_commitment(CommitmentConfig::confirmed())
            .await
            .map_err(|e| ComplianceError::Cluster(format!("block height: {e}")))?;
        let status = rpc
            .get_signature_statuses_with_history(&[sig])
            .await
            .map_err(|e| ComplianceError::Cluster(format!("signature status: {e}")))?
            .value
            .pop()
            .flatten();
        match status {
            Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                return finish(
                    pool,
                    id,
                    kind,
                    &target,
                    officer,
                    &sig,
                    s.err.map(|e| e.to_string()),
                )
                .await;
            }
            Some(_) => return Ok(()),
            None if (last_valid as u64) >= height => return Ok(()),
            None => {}
        }
    }
    let ix = instruction(pool, rpc, &key.pubkey(), kind, &target, hash).await?;
    let (blockhash, last_valid): (Hash, u64) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .map_err(|e| ComplianceError::Cluster(format!("blockhash: {e}")))?;
    let tx = Transaction::new_signed_with_payer(&[ix], Some(&key.pubkey()), &[key], blockhash);
    let sig = tx.signatures[0];
    sqlx::query(
        "UPDATE compliance.action SET signature = $2, last_valid = $3
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(sig.as_ref())
    .bind(last_valid as i64)
    .execute(pool)
    .await?;
    match rpc.send_and_confirm_transaction(&tx).await {
        Ok(_) => finish(pool, id, kind, &target, officer, &sig, None).await,
        Err(e) => match e.get_transaction_error() {
            Some(err) => {
                finish(
                    pool,
                    id,
                    kind,
                    &target,
                    officer,
                    &sig,
                    Some(err.to_string()),
                )
                .await
            }
            // No answer about the transaction itself: it may still land; the next attempt
            // looks it up by its signature.
            None => {
                sqlx::query("UPDATE compliance.action SET error = $2 WHERE id = $1")
                    .bind(id)
                    .bind(format!("not confirmed yet: {e}"))
                    .execute(pool)
                    .await?;
                Err(ComplianceError::Cluster(format!("action {id}: {e}")))
            }
        },
    }
}

/// Records an action's outcome and its audit record together.
async fn finish(
    pool: &PgPool,
    id: i64,
    kind: Kind,
    target: &Pubkey,
    officer: Option<i64>,
    sig: &Signature,
    error: Option<String>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let state = if error.is_some() { "failed" } else { "sent" };
    sqlx::query(
        "UPDATE compliance.action SET state = $2, error = $3, signature = $4,
                sent_at = CASE WHEN $2 = 'sent' THEN now() END
         WHERE id = $1 AND state = 'pending'",
    )
    .bind(id)
    .bind(state)
    .bind(&error)
    .bind(sig.as_ref())
    .execute(&mut *tx)
    .await?;
    if error.is_none() && matches!(kind, Kind::BlocklistAdd | Kind::BlocklistRemove) {
        sqlx::query("UPDATE compliance.state SET exposure_dirty = true")
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        officer,
        &format!("action.{}.{}", kind.as_str(), state),
        &format!("action:{id} target:{target}"),
        &sha256(error.as_deref().unwrap_or("").as_bytes()),
        Some(&sig.to_string()),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sends every pending action (the monitor's holds, and any left by a crash); answers how
/// many were attempted.
pub async fn perform_pending(pool: &PgPool, rpc: &RpcClient, key: &Keypair) -> Result<usize> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM compliance.action WHERE state = 'pending' ORDER BY id LIMIT 100",
    )
    .fetch_all(pool)
    .await?;
    for id in &ids {
        if let Err(e) = perform(pool, rpc, key, *id).await {
            tracing::warn!(action = id, error = %e, "a compliance action is not done yet");
        }
    }
    Ok(ids.len())
}

fn action(r: &sqlx::postgres::PgRow) -> Result<Action> {
    Ok(Action {
        id: r.get(0),
        kind: r.get(1),
        target: pubkey(&r.get::<Vec<u8>, _>(2), "action target")?.to_string(),
        case: r.get(3),
        officer: r.get(4),
        reason: r.get(5),
        hash: hex::encode(r.get::<Vec<u8>, _>(6)),
        state: r.get(7),
        signature: r
            .get::<Option<Vec<u8>>, _>(8)
            .and_then(|s| Signature::try_from(s.as_slice()).ok())
            .map(|s| s.to_string()),
        error: r.get(9),
        created_at: r.get(10),
    })
}

const COLUMNS: &str = "id, kind, target, case_id, officer, reason, hash, state, signature, error,
     to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')";

pub async fn get(pool: &PgPool, id: i64) -> Result<Action> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compliance.action WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("action {id}")))?;
    action(&r)
}

/// The actions of case `case`, or every action when `None`, newest first.
pub async fn list(pool: &PgPool, case: Option<i64>, limit: i64) -> Result<Vec<Action>> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM compliance.action
         WHERE $1::int8 IS NULL OR case_id = $1 ORDER BY id DESC LIMIT $2"
    )))
    .bind(case)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(action)
    .collect()
}
