//! Reconciliation: the ledger's accounts that mirror something outside it, against that thing.
//!
//! - `treasury:<c>` against the treasury wallet's token account of each booked stablecoin, and
//!   `escrow:<c>` against the escrow vault, on chain at `finalized` (the ledger's posted
//!   balances are finalized ones);
//! - `bank:<id>` against the closing balance of the bank's latest imported statement;
//! - every fiat merchant's on-chain settlement wallet against the treasury wallet (a merchant
//!   whose captures no longer reach the treasury would be paid twice, or not at all).
//!
//! Every line is stored with its difference (`settlement.reconciliation`); a run passes when
//! every difference is zero and no finding was made.

use crate::{
    accounts,
    error::{Result, SettlementError},
    ledger::account_in,
    setup,
};
use kassa_sdk::programs::KassaProgram;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row as _};
use time::OffsetDateTime;

/// One comparison.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    pub account: String,
    /// `chain` or `bank`.
    pub source: String,
    /// What the ledger was compared with.
    pub what: String,
    pub ledger: i64,
    pub external: i64,
    pub difference: i64,
}

/// A reconciliation run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub lines: Vec<Line>,
    /// What is wrong beyond amounts (a fiat merchant not settling to the treasury).
    pub findings: Vec<String>,
}

impl Report {
    /// Every difference zero and nothing found.
    pub fn clean(&self) -> bool {
        self.findings.is_empty() && self.lines.iter().all(|l| l.difference == 0)
    }
}

async fn token_balance(rpc: &RpcClient, account: &Pubkey) -> Result<i64> {
    match rpc
        .get_token_account_balance_with_commitment(account, CommitmentConfig::finalized())
        .await
    {
        Ok(b) => b
            .value
            .amount
            .parse()
            .map_err(|_| SettlementError::Cluster(format!("balance of {account}: {b:?}"))),
        // An account that does not exist holds nothing.
        Err(e) if e.to_string().contains("could not find account") => Ok(0),
        Err(e) => Err(SettlementError::Cluster(format!(
            "balance of {account}: {e}"
        ))),
    }
}

async fn ledger_posted(conn: &mut sqlx::PgConnection, id: &str) -> Result<i64> {
    Ok(match account_in(conn, id).await? {
        Some(a) => i64::try_from(a.balance.posted(a.kind)).unwrap_or(i64::MAX),
        None => 0,
    })
}

/// Runs a reconciliation against the cluster at `rpc` and the imported statements, and stores
/// it.
pub async fn run(pool: &PgPool, rpc: &RpcClient) -> Result<Report> {
    let mut conn = pool.acquire().await?;
    let mut report = Report::default();
    let treasury = setup::treasury(&mut conn).await?;
    let payments = KassaProgram::Payments.id();
    let mut currencies: Vec<(Pubkey, (String, u32))> =
        setup::currencies(&mut conn).await?.into_iter().collect();
    currencies.sort_by(|a, b| a.1 .0.cmp(&b.1 .0));
    for (mint, (code, _)) in &currencies {
        let mint_owner = rpc
            .get_account(mint)
            .await
            .map_err(|e| SettlementError::Cluster(format!("mint {mint}: {e}")))?
            .owner;
        if let Some(t) = treasury {
            let ata = Pubkey::find_program_address(
                &[t.as_ref(), mint_owner.as_ref(), mint.as_ref()],
                &anchor_spl::associated_token::ID,
            )
            .0;
            let account = accounts::treasury(code).id;
            let ledger = ledger_posted(&mut conn, &account).await?;
            let external = token_balance(rpc, &ata).await?;
            report.lines.push(Line {
                account,
                source: "chain".into(),
                what: format!("treasury token account {ata}"),
                ledger,
                external,
                difference: ledger - external,
            });
        }
        let vault = kassa_sdk::pda::vault(&payments, mint).0;
        let account = accounts::escrow(code).id;
        let ledger = ledger_posted(&mut conn, &account).await?;
        let external = token_balance(rpc, &vault).await?;
        report.lines.push(Line {
            account,
            source: "chain".into(),
            what: format!("escrow vault {vault}"),
            ledger,
            external,
            difference: ledger - external,
        });
    }
    for r in sqlx::query(
        "SELECT DISTINCT ON (s.bank_account) s.bank_account, s.statement_id, s.closing
         FROM settlement.statement s ORDER BY s.bank_account, s.closing_date DESC, s.id DESC",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let bank: String = r.get(0);
        let account = format!("bank:{bank}");
        let ledger = ledger_posted(&mut conn, &account).await?;
        let external: i64 = r.get(2);
        report.lines.push(Line {
            account,
            source: "bank".into(),
            what: format!("closing balance of statement {}", r.get::<String, _>(1)),
            ledger,
            external,
            difference: ledger - external,
        });
    }
    for r in sqlx::query(
        "SELECT s.merchant, m.settlement_wallet FROM settlement.merchant s
         LEFT JOIN chain.merchant m ON m.address = s.merchant WHERE s.mode = 'fiat'
         ORDER BY s.merchant",
    )
    .fetch_all(&mut *conn)
    .await?
    {
        let key = |b: Option<Vec<u8>>| b.and_then(|b| Pubkey::try_from(b.as_slice()).ok());
        let merchant = key(r.get(0)).unwrap_or_default();
        let wallet = key(r.get(1));
        if wallet != treasury || wallet.is_none() {
            report.findings.push(format!(
                "fiat merchant {merchant} settles on chain to {}, not to the treasury wallet",
                wallet.map_or("nothing indexed".to_string(), |w| w.to_string())
            ));
        }
    }
    let now = OffsetDateTime::now_utc();
    for l in &report.lines {
        sqlx::query(
            "INSERT INTO settlement.reconciliation (run_at, account, source, what, ledger, external)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(now)
        .bind(&l.account)
        .bind(&l.source)
        .bind(&l.what)
        .bind(l.ledger)
        .bind(l.external)
        .execute(&mut *conn)
        .await?;
    }
    Ok(report)
}
