//! The chart of accounts: every account the settlement services book into, by a name that says
//! what it is. Ids are lowercase (`merchant:<hex of the address>:payable:usdc`); each account
//! is in one currency (`USDC`, `EUR`).
//!
//! | account | kind | what it holds |
//! |---|---|---|
//! | `escrow:<c>` | asset | tokens in the escrow vaults |
//! | `payers:<c>` | liability | what escrow holds for payers until it is captured or returned |
//! | `fees:<c>` | asset | the fee receiver's tokens |
//! | `revenue:fees:<c>` | revenue | protocol fees earned |
//! | `treasury:<c>` | asset | the treasury wallet's tokens |
//! | `merchant:<m>:payable:<c>` | liability, never below zero | what Kassa owes a fiat merchant |
//! | `merchant:<m>:receivable:<c>` | asset, never below zero | what a merchant owes Kassa (refunds Kassa funded beyond its payable, returns) |
//! | `fx:<c>` | equity | the conversion position (stablecoins bought from merchants, fiat owed for them) |
//! | `revenue:fx:<c>` | revenue | conversion spread earned |
//! | `payouts:in_transit:<c>` | liability | payouts sent to the bank, not yet on its statement |
//! | `onramp:owed:<c>` | liability, never below zero | stablecoins bought through the on-ramp, not yet sent |
//! | `bank:<id>` | asset | Kassa's account at a partner bank |
//! | `equity:opening:<c>` | equity | opening balances brought in |
//! | `suspense:<c>` | liability | bank money an operator has not explained yet |

use crate::ledger::{AccountKind, NewAccount};
use solana_sdk::pubkey::Pubkey;

fn lower(code: &str) -> String {
    code.to_ascii_lowercase()
}

fn account(id: String, currency: &str, kind: AccountKind, no_overdraft: bool) -> NewAccount {
    NewAccount {
        id,
        currency: currency.to_string(),
        kind,
        no_overdraft,
        description: String::new(),
    }
}

pub fn escrow(c: &str) -> NewAccount {
    account(format!("escrow:{}", lower(c)), c, AccountKind::Asset, false)
}
pub fn payers(c: &str) -> NewAccount {
    account(
        format!("payers:{}", lower(c)),
        c,
        AccountKind::Liability,
        false,
    )
}
pub fn fees(c: &str) -> NewAccount {
    account(format!("fees:{}", lower(c)), c, AccountKind::Asset, false)
}
pub fn fee_revenue(c: &str) -> NewAccount {
    account(
        format!("revenue:fees:{}", lower(c)),
        c,
        AccountKind::Revenue,
        false,
    )
}
pub fn treasury(c: &str) -> NewAccount {
    account(
        format!("treasury:{}", lower(c)),
        c,
        AccountKind::Asset,
        false,
    )
}
pub fn payable(m: &Pubkey, c: &str) -> NewAccount {
    account(
        format!("merchant:{}:payable:{}", hex::encode(m), lower(c)),
        c,
        AccountKind::Liability,
        true,
    )
}
pub fn receivable(m: &Pubkey, c: &str) -> NewAccount {
    account(
        format!("merchant:{}:receivable:{}", hex::encode(m), lower(c)),
        c,
        AccountKind::Asset,
        true,
    )
}
pub fn fx(c: &str) -> NewAccount {
    account(format!("fx:{}", lower(c)), c, AccountKind::Equity, false)
}
pub fn fx_revenue(c: &str) -> NewAccount {
    account(
        format!("revenue:fx:{}", lower(c)),
        c,
        AccountKind::Revenue,
        false,
    )
}
pub fn in_transit(c: &str) -> NewAccount {
    account(
        format!("payouts:in_transit:{}", lower(c)),
        c,
        AccountKind::Liability,
        false,
    )
}
pub fn onramp_owed(c: &str) -> NewAccount {
    account(
        format!("onramp:owed:{}", lower(c)),
        c,
        AccountKind::Liability,
        true,
    )
}
pub fn bank(id: &str, c: &str) -> NewAccount {
    account(format!("bank:{id}"), c, AccountKind::Asset, false)
}
pub fn suspense(c: &str) -> NewAccount {
    account(
        format!("suspense:{}", lower(c)),
        c,
        AccountKind::Liability,
        false,
    )
}
pub fn opening(c: &str) -> NewAccount {
    account(
        format!("equity:opening:{}", lower(c)),
        c,
        AccountKind::Equity,
        false,
    )
}

/// The merchant an account belongs to, from its id.
pub fn merchant_of(id: &str) -> Option<Pubkey> {
    let hex = id.strip_prefix("merchant:")?.split(':').next()?;
    let bytes: [u8; 32] = hex::decode(hex).ok()?.try_into().ok()?;
    Some(Pubkey::new_from_array(bytes))
}

/// Locks a merchant's payables and receivables in every currency settlement knows (the booked
/// stablecoins and the bank accounts' currencies), in id order, until the caller's transaction
/// ends: booking, payouts and stablecoin payouts read them and then draw on them. By id, so
/// the lock is an index lookup whatever the database's collation.
pub async fn lock_merchant(
    conn: &mut sqlx::PgConnection,
    merchant: &Pubkey,
) -> Result<(), crate::LedgerError> {
    let codes: Vec<String> = sqlx::query_scalar(
        "SELECT code FROM settlement.currency
         UNION SELECT currency FROM settlement.bank_account",
    )
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<String> = codes
        .iter()
        .flat_map(|c| [payable(merchant, c).id, receivable(merchant, c).id])
        .collect();
    crate::ledger::lock_accounts_in(conn, &ids).await
}
