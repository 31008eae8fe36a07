//! The mirror check: reads every program account (`getProgramAccounts`) and compares it with
//! its projection, field by field. Every difference is a log line and counts in the
//! `kassa_indexer_mirror_differences{kind}` gauge. Run it when the indexer has caught up with
//! the chain; while it lags, accounts ahead of their projection show up as differences.

use crate::{
    projection::{Key, Kind, Row},
    source::Source,
    store, IndexerError, Metrics,
};
use anchor_lang::{AccountDeserialize, Discriminator};
use kassa_credit::state::{Advance, CreditLine, CreditPool};
use kassa_payments::state::{BlocklistEntry, Config, Merchant, Payment};
use solana_account_decoder_client_types::UiAccountEncoding;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::{
    config::{RpcAccountInfoConfig, RpcProgramAccountsConfig},
    filter::{Memcmp, RpcFilterType},
};
use solana_sdk::pubkey::Pubkey;
use sqlx::PgPool;
use std::collections::BTreeMap;

/// One field that differs between the chain and the mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: Kind,
    pub address: String,
    pub field: &'static str,
    pub chain: String,
    pub mirror: String,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} {} {}: chain {} mirror {}",
            self.kind, self.address, self.field, self.chain, self.mirror
        )
    }
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub checked: usize,
    pub differences: Vec<Difference>,
}

async fn accounts(
    source: &Source,
    program: &Pubkey,
    discriminator: &[u8],
) -> Result<Vec<(Pubkey, Vec<u8>)>, IndexerError> {
    let config = RpcProgramAccountsConfig {
        filters: Some(vec![RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
            0,
            discriminator.to_vec(),
        ))]),
        account_config: RpcAccountInfoConfig {
            encoding: Some(UiAccountEncoding::Base64),
            commitment: Some(CommitmentConfig::confirmed()),
            ..Default::default()
        },
        ..Default::default()
    };
    let found = source
        .retry("getProgramAccounts", || {
            source
                .rpc()
                .get_program_ui_accounts_with_config(program, config.clone())
        })
        .await?;
    found
        .into_iter()
        .map(|(key, ui)| {
            ui.data.decode().map(|d| (key, d)).ok_or_else(|| {
                crate::source::SourceError::Garbage("account data", key.to_string()).into()
            })
        })
        .collect()
}

fn decode<T: AccountDeserialize>(data: &[u8]) -> Option<T> {
    T::try_deserialize(&mut &data[..]).ok()
}

struct Diff<'a> {
    kind: Kind,
    address: &'a str,
    out: &'a mut Vec<Difference>,
}

impl Diff<'_> {
    fn eq<T: PartialEq + std::fmt::Debug>(&mut self, field: &'static str, chain: T, mirror: T) {
        if chain != mirror {
            self.out.push(Difference {
                kind: self.kind,
                address: self.address.to_string(),
                field,
                chain: format!("{chain:?}"),
                mirror: format!("{mirror:?}"),
            });
        }
    }
}

/// Compares every program account with its projection.
pub async fn reconcile(
    pool: &PgPool,
    source: &Source,
    metrics: &Metrics,
) -> Result<Report, IndexerError> {
    let mut report = Report::default();
    let mut rows: BTreeMap<(Kind, Key), Row> = BTreeMap::new();
    for kind in Kind::ALL {
        for row in store::rows(pool, kind).await? {
            rows.insert((kind, row.address()), row);
        }
    }
    let out = &mut report.differences;
    let blocked: Vec<Key> = {
        let mut v: Vec<Key> = accounts(source, &kassa_payments::ID, BlocklistEntry::DISCRIMINATOR)
            .await?
            .iter()
            .filter_map(|(_, a)| decode::<BlocklistEntry>(a))
            .map(|b| Key(b.wallet))
            .collect();
        v.sort();
        v
    };

    let mut chain_accounts: Vec<(Kind, Pubkey, Vec<u8>)> = Vec::new();
    for (kind, program, disc) in [
        (Kind::Config, kassa_payments::ID, Config::DISCRIMINATOR),
        (Kind::Merchant, kassa_payments::ID, Merchant::DISCRIMINATOR),
        (Kind::Payment, kassa_payments::ID, Payment::DISCRIMINATOR),
        (
            Kind::Pool,
            kassa_convert::ID,
            kassa_convert::state::Pool::DISCRIMINATOR,
        ),
        (
            Kind::CreditPool,
            kassa_credit::ID,
            CreditPool::DISCRIMINATOR,
        ),
        (
            Kind::CreditLine,
            kassa_credit::ID,
            CreditLine::DISCRIMINATOR,
        ),
        (Kind::Advance, kassa_credit::ID, Advance::DISCRIMINATOR),
    ] {
        for (key, account) in accounts(source, &program, disc).await? {
            chain_accounts.push((kind, key, account));
        }
    }
    report.checked = chain_accounts.len();

    for (kind, key, account) in &chain_accounts {
        let address = key.to_string();
        let Some(row) = rows.remove(&(*kind, Key(*key))) else {
            out.push(Difference {
                kind: *kind,
                address,
                field: "account",
                chain: "present".into(),
                mirror: "missing".into(),
            });
            continue;
        };
        let mut d = Diff {
            kind: *kind,
            address: &address,
            out,
        };
        match (row, *kind) {
            (Row::Config(r), Kind::Config) => {
                let Some(c) = decode::<Config>(account) else {
                    continue;
                };
                d.eq("admin", Key(c.admin), r.admin);
                d.eq(
                    "compliance_authority",
                    Key(c.compliance_authority),
                    r.compliance_authority,
                );
                d.eq("arbiter", Key(c.arbiter), r.arbiter);
                d.eq("fee_receiver", Key(c.fee_receiver), r.fee_receiver);
                d.eq(
                    "protocol_fee_bps",
                    i32::from(c.protocol_fee_bps),
                    r.protocol_fee_bps,
                );
                d.eq("paused", c.paused, r.paused);
                d.eq(
                    "hooks",
                    c.registered_hooks()
                        .iter()
                        .map(|h| Key(*h))
                        .collect::<Vec<_>>(),
                    r.hooks,
                );
                d.eq("blocked", blocked.clone(), r.blocked);
                d.eq("seq", c.seq as i64, r.seq + 1);
            }
            (Row::Merchant(r), Kind::Merchant) => {
                let Some(m) = decode::<Merchant>(account) else {
                    continue;
                };
                d.eq("authority", Key(m.authority), r.authority);
                d.eq("merchant_id", Key(m.merchant_id), r.merchant_id);
                d.eq("settlement_mint", Key(m.settlement_mint), r.settlement_mint);
                d.eq(
                    "settlement_wallet",
                    Key(m.settlement_wallet),
                    r.settlement_wallet,
                );
                d.eq("operator", Key::some(m.operator), r.operator);
                d.eq("kyb_status", m.kyb_status.name().to_string(), r.kyb_status);
                d.eq(
                    "kyb_case_hash",
                    crate::idl::hex(&m.kyb_case_hash),
                    r.kyb_case_hash,
                );
                d.eq(
                    "authorization_window",
                    m.policy.authorization_window,
                    r.authorization_window,
                );
                d.eq(
                    "auto_capture_delay",
                    m.policy.auto_capture_delay,
                    r.auto_capture_delay,
                );
                d.eq("refund_window", m.policy.refund_window, r.refund_window);
                d.eq("dispute_window", m.policy.dispute_window, r.dispute_window);
                d.eq("require_kyt", m.policy.require_kyt, r.require_kyt);
                d.eq("fee_bps", m.fee_bps.map(i32::from), r.fee_bps);
                d.eq("seq", m.seq as i64, r.seq + 1);
            }
            (Row::Payment(r), Kind::Payment) => {
                let Some(p) = decode::<Payment>(account) else {
                    continue;
                };
                d.eq("closed", false, r.closed);
                d.eq("merchant", Key(p.merchant), r.merchant);
                d.eq("mint", Key(p.mint), r.mint);
                d.eq("payer", Key::some(p.payer), r.payer);
                d.eq("assignee", Key::some(p.assignee), r.assignee);
                d.eq("amount", p.amount, r.amount);
                d.eq("authorized", p.authorized, r.authorized);
                d.eq("captured", p.captured, r.captured);
                d.eq("released", p.released, r.released);
                d.eq("refunded", p.refunded, r.refunded);
                d.eq("assigned", p.assigned, r.assigned);
                d.eq("status", p.status.name().to_string(), r.status);
                d.eq("status_at", p.status_at, r.status_at);
                d.eq("expires_at", p.expires_at, r.expires_at);
                if let Some(v) = r.authorization_expires_at {
                    d.eq("authorization_expires_at", p.authorization_expires_at, v);
                }
                if let Some(v) = r.refund_deadline {
                    d.eq("refund_deadline", p.refund_deadline, v);
                }
                if let Some(v) = r.dispute_deadline {
                    d.eq("dispute_deadline", p.dispute_deadline, v);
                }
                if let Some(v) = r.auto_capture_at {
                    d.eq("auto_capture_at", p.auto_capture_at, v);
                }
                d.eq("seq", p.seq as i64, r.seq + 1);
            }
            (Row::Pool(r), Kind::Pool) => {
                let Some(p) = decode::<kassa_convert::state::Pool>(account) else {
                    continue;
                };
                d.eq("mint_a", Key(p.mint_a), r.mint_a);
                d.eq("mint_b", Key(p.mint_b), r.mint_b);
                d.eq("lp_mint", Key(p.lp_mint), r.lp_mint);
                d.eq("reserve_a", p.reserve_a, r.reserve_a);
                d.eq("reserve_b", p.reserve_b, r.reserve_b);
                d.eq("protocol_fees_a", p.protocol_fees_a, r.protocol_fees_a);
                d.eq("protocol_fees_b", p.protocol_fees_b, r.protocol_fees_b);
                d.eq("initial_amp", p.initial_amp as i64, r.initial_amp);
                d.eq("target_amp", p.target_amp as i64, r.target_amp);
                d.eq("ramp_start", p.ramp_start, r.ramp_start);
                d.eq("ramp_stop", p.ramp_stop, r.ramp_stop);
                d.eq("trade_fee_bps", i32::from(p.trade_fee_bps), r.trade_fee_bps);
                d.eq(
                    "protocol_share_bps",
                    i32::from(p.protocol_share_bps),
                    r.protocol_share_bps,
                );
                d.eq("paused", p.paused, r.paused);
                d.eq("seq", p.seq as i64, r.seq + 1);
            }
            (Row::CreditPool(r), Kind::CreditPool) => {
                let Some(p) = decode::<CreditPool>(account) else {
                    continue;
                };
                d.eq("cash", p.cash, r.cash);
                d.eq("principal", p.principal, r.principal);
                d.eq(
                    "receivable",
                    p.recognized.saturating_sub(p.received),
                    r.receivable,
                );
                d.eq("senior_value", p.senior_value, r.senior_value);
                d.eq("junior_value", p.junior_value, r.junior_value);
                d.eq("protocol_fees", p.protocol_fees, r.protocol_fees);
                d.eq("admin_fees", p.admin_fees, r.admin_fees);
                d.eq("impaired_senior", p.impaired_senior, r.impaired_senior);
                d.eq("impaired_junior", p.impaired_junior, r.impaired_junior);
                d.eq("losses", p.losses, r.losses);
                d.eq(
                    "redemption_payable",
                    p.redemption_payable,
                    r.redemption_payable,
                );
                d.eq("pending_senior", p.pending_senior, r.pending_senior);
                d.eq("pending_junior", p.pending_junior, r.pending_junior);
                d.eq("epoch_id", p.epoch_id as i64, r.epoch_id);
                d.eq("underwriter", Key(p.underwriter), r.underwriter);
                d.eq("admin", Key(p.admin), r.admin);
                d.eq(
                    "protocol_fee_receiver",
                    Key(p.protocol_fee_receiver),
                    r.protocol_fee_receiver,
                );
                d.eq("max_line_limit", p.max_line_limit, r.max_line_limit);
                d.eq(
                    "max_active_lines",
                    i32::from(p.max_active_lines),
                    r.max_active_lines,
                );
                d.eq("paused", p.paused, r.paused);
                d.eq("seq", p.seq as i64, r.seq + 1);
            }
            (Row::CreditLine(r), Kind::CreditLine) => {
                let Some(l) = decode::<CreditLine>(account) else {
                    continue;
                };
                d.eq("status", l.status.name().to_string(), r.status);
                d.eq("principal", l.principal, r.principal);
                d.eq("impaired", l.impaired, r.impaired);
                d.eq("credit_limit", l.limit, r.credit_limit);
                d.eq("borrower", Key(l.borrower), r.borrower);
                d.eq("seq", l.seq as i64, r.seq + 1);
            }
            (Row::Advance(r), Kind::Advance) => {
                let Some(a) = decode::<Advance>(account) else {
                    continue;
                };
                d.eq("amount", a.amount, r.amount);
                d.eq("arrived", a.arrived, r.arrived);
                d.eq("settled", a.settled, r.settled);
                d.eq("seq", a.seq as i64, r.seq + 1);
            }
            _ => {}
        }
    }
    // Projections with no account: only closed payments may be gone from the chain.
    for ((kind, address), row) in rows {
        if matches!(&row, Row::Payment(p) if p.closed) {
            continue;
        }
        out.push(Difference {
            kind,
            address: address.to_string(),
            field: "account",
            chain: "missing".into(),
            mirror: "present".into(),
        });
    }

    for kind in Kind::ALL {
        let n = out.iter().filter(|d| d.kind == kind).count();
        metrics
            .mirror_differences
            .with_label_values(&[kind.name()])
            .set(n as i64);
    }
    metrics.mirror_checked.set(report.checked as i64);
    for d in out.iter() {
        tracing::warn!(kind = ?d.kind, address = %d.address, field = d.field, chain = %d.chain, mirror = %d.mirror, "mirror difference");
    }
    Ok(report)
}
