//! The settlement ledger against Postgres: balanced transfers only (refused by the database
//! itself, whatever the client), payables that never go negative with pending reservations
//! counted, idempotent two-phase transfers, an append-only history corrected by reversals, and
//! a property test that drives random captures, payouts, posts, voids and reversals against a
//! model and checks every invariant after each step.

use kassa_settlement::{
    AccountKind, Ledger, LedgerError, NewAccount, NewTransfer, Posting, TransferState,
};
use proptest::prelude::*;
use serde_json::json;
use sqlx::PgPool;

async fn ledger() -> (Ledger, PgPool) {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test sets it)");
    let (pool, _) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    (Ledger::new(pool.clone()), pool)
}

fn account(id: &str, currency: &str, kind: AccountKind, no_overdraft: bool) -> NewAccount {
    NewAccount {
        id: id.into(),
        currency: currency.into(),
        kind,
        no_overdraft,
        description: String::new(),
    }
}

fn transfer(id: &str, postings: Vec<Posting>, pending: bool) -> NewTransfer {
    NewTransfer {
        id: id.into(),
        postings,
        pending,
        description: format!("test {id}"),
        metadata: json!({}),
    }
}

/// The accounts of a USDC capture: treasury (asset), a merchant's payable (liability that can
/// never go negative), protocol fees (revenue).
async fn usdc_accounts(l: &Ledger, prefix: &str) -> (String, String, String) {
    let ids = (
        format!("{prefix}treasury:usdc"),
        format!("{prefix}merchant:m1:payable"),
        format!("{prefix}fees:usdc"),
    );
    l.open_account(&account(&ids.0, "USDC", AccountKind::Asset, false))
        .await
        .unwrap();
    l.open_account(&account(&ids.1, "USDC", AccountKind::Liability, true))
        .await
        .unwrap();
    l.open_account(&account(&ids.2, "USDC", AccountKind::Revenue, false))
        .await
        .unwrap();
    ids
}

fn capture(treasury: &str, payable: &str, fees: &str, amount: i64, fee: i64) -> Vec<Posting> {
    let mut p = vec![
        Posting::debit(treasury, "USDC", amount),
        Posting::credit(payable, "USDC", amount - fee),
    ];
    if fee > 0 {
        p.push(Posting::credit(fees, "USDC", fee));
    }
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_balanced_transfers_are_stored_whoever_writes_them() {
    let (l, pool) = ledger().await;
    let (treasury, payable, fees) = usdc_accounts(&l, "").await;
    let t = l
        .transfer(&transfer(
            "cap-1",
            capture(&treasury, &payable, &fees, 1_000, 30),
            false,
        ))
        .await
        .unwrap();
    assert_eq!((t.state, t.replayed), (TransferState::Posted, false));
    let merchant = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(merchant.balance.posted(AccountKind::Liability), 970);
    let fee = l.account(&fees).await.unwrap().unwrap();
    assert_eq!(fee.balance.posted(AccountKind::Revenue), 30);
    assert_eq!(
        l.account(&treasury)
            .await
            .unwrap()
            .unwrap()
            .balance
            .posted(AccountKind::Asset),
        1_000
    );

    // Unbalanced, through the library: refused, nothing stored.
    let mut bad = capture(&treasury, &payable, &fees, 1_000, 30);
    bad[0].amount = 999;
    let err = l
        .transfer(&transfer("cap-2", bad, false))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Unbalanced(_)), "{err}");
    assert!(
        err.to_string()
            .contains("does not balance: USDC -1 left over"),
        "{err}"
    );
    assert!(l.transfer_by_id("cap-2").await.unwrap().is_none());
    // One posting is not a transfer.
    let err = l
        .transfer(&transfer(
            "one",
            vec![Posting::debit(&treasury, "USDC", 5)],
            false,
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at least two"), "{err}");

    // Unbalanced, through raw SQL: the database refuses it at commit.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ledger.transfer (id, state, resolved_at) VALUES ('raw', 'posted', now())",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO ledger.posting (transfer_id, n, account_id, currency, amount)
         VALUES ('raw', 0, $1, 'USDC', 500), ('raw', 1, $2, 'USDC', -400)",
    )
    .bind(&treasury)
    .bind(&payable)
    .execute(&mut *tx)
    .await
    .unwrap();
    let err = tx.commit().await.unwrap_err();
    assert!(err.to_string().contains("does not balance"), "{err}");

    // Two currencies: each must balance on its own (a conversion through FX accounts does).
    l.open_account(&account("fx:usdc", "USDC", AccountKind::Equity, false))
        .await
        .unwrap();
    l.open_account(&account("fx:eur", "EUR", AccountKind::Equity, false))
        .await
        .unwrap();
    l.open_account(&account(
        "merchant:m1:payable:eur",
        "EUR",
        AccountKind::Liability,
        true,
    ))
    .await
    .unwrap();
    let convert = vec![
        Posting::debit(&payable, "USDC", 500),
        Posting::credit("fx:usdc", "USDC", 500),
        Posting::debit("fx:eur", "EUR", 460),
        Posting::credit("merchant:m1:payable:eur", "EUR", 460),
    ];
    l.transfer(&transfer("fx-1", convert, false)).await.unwrap();
    let across = vec![
        Posting::debit(&payable, "USDC", 100),
        Posting::credit("merchant:m1:payable:eur", "EUR", 100),
    ];
    let err = l
        .transfer(&transfer("fx-2", across, false))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::Unbalanced(_)), "{err}");
    // A posting in another currency than its account's.
    let wrong = vec![
        Posting::debit(&treasury, "EUR", 100),
        Posting::credit("fx:eur", "EUR", 100),
    ];
    let err = l
        .transfer(&transfer("fx-3", wrong, false))
        .await
        .unwrap_err();
    assert!(matches!(err, LedgerError::UnknownAccount(_)), "{err}");
    assert_eq!(
        l.trial_balance().await.unwrap(),
        vec![("EUR".into(), 0, 0), ("USDC".into(), 0, 0)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payable_never_goes_negative_pending_payouts_included() {
    let (l, _pool) = ledger().await;
    let (treasury, payable, fees) = usdc_accounts(&l, "").await;
    l.transfer(&transfer(
        "cap",
        capture(&treasury, &payable, &fees, 1_000, 30),
        false,
    ))
    .await
    .unwrap();
    let payout = |id: &str, amount: i64| {
        transfer(
            id,
            vec![
                Posting::debit(&payable, "USDC", amount),
                Posting::credit(&treasury, "USDC", amount),
            ],
            true,
        )
    };
    l.transfer(&payout("payout-1", 900)).await.unwrap();
    let m = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(
        (m.balance.posted(m.kind), m.balance.available(m.kind)),
        (970, 70)
    );
    // 100 more would take the reserved payable below zero.
    let err = l.transfer(&payout("payout-2", 100)).await.unwrap_err();
    assert!(matches!(err, LedgerError::Overdraft(_)), "{err}");
    assert!(l.transfer_by_id("payout-2").await.unwrap().is_none());
    // Voiding the first releases its reservation.
    assert_eq!(
        l.void_pending("payout-1").await.unwrap().state,
        TransferState::Voided
    );
    l.transfer(&payout("payout-3", 970)).await.unwrap();
    l.post_pending("payout-3").await.unwrap();
    let m = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(
        (m.balance.posted(m.kind), m.balance.available(m.kind)),
        (0, 0)
    );
    // A posted payout that would leave it negative is refused outright too.
    let mut now = payout("payout-4", 1);
    now.pending = false;
    assert!(matches!(
        l.transfer(&now).await.unwrap_err(),
        LedgerError::Overdraft(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_are_idempotent_two_phase_and_the_history_is_append_only() {
    let (l, pool) = ledger().await;
    let (treasury, payable, fees) = usdc_accounts(&l, "").await;
    let cap = transfer("cap", capture(&treasury, &payable, &fees, 1_000, 30), true);
    assert!(!l.transfer(&cap).await.unwrap().replayed);
    let again = l.transfer(&cap).await.unwrap();
    assert!(again.replayed && again.state == TransferState::Pending);
    let mut other = cap.clone();
    other.postings = capture(&treasury, &payable, &fees, 2_000, 30);
    assert!(matches!(
        l.transfer(&other).await.unwrap_err(),
        LedgerError::IdConflict(_)
    ));
    let m = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(
        (m.balance.posted(m.kind), m.balance.credits_pending),
        (0, 970),
        "pending until posted, counted once"
    );
    assert!(!l.post_pending("cap").await.unwrap().replayed);
    assert!(l.post_pending("cap").await.unwrap().replayed);
    assert!(matches!(
        l.void_pending("cap").await.unwrap_err(),
        LedgerError::NotPending { .. }
    ));
    let m = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(
        (m.balance.posted(m.kind), m.balance.credits_pending),
        (970, 0)
    );

    // Nothing is rewritten, whoever tries.
    for sql in [
        "UPDATE ledger.posting SET amount = amount * 2",
        "DELETE FROM ledger.posting",
        "DELETE FROM ledger.transfer",
        "UPDATE ledger.transfer SET description = 'edited'",
        "UPDATE ledger.account SET credits_posted = credits_posted + 1",
        "DELETE FROM ledger.account",
        "TRUNCATE ledger.posting CASCADE",
        "INSERT INTO ledger.account_shard (account_id, shard, credits_posted) VALUES ('fees:usdc', 0, 9)",
        "UPDATE ledger.account_shard SET credits_posted = 0",
    ] {
        let err = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(
            err.to_string().contains("append-only")
                || err.to_string().contains("only through transfers")
                || err.to_string().contains("a posted one is reversed"),
            "{sql}: {err}"
        );
    }
    // Postings cannot be added to a transfer later, even balanced ones.
    let err = sqlx::query(
        "INSERT INTO ledger.posting (transfer_id, n, account_id, currency, amount)
         VALUES ('cap', 7, $1, 'USDC', 5), ('cap', 8, $2, 'USDC', -5)",
    )
    .bind(&treasury)
    .bind(&fees)
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("its postings are fixed"), "{err}");
    // Every transfer's postings are numbered from 0 (the balance check runs on posting 0).
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ledger.transfer (id, state, resolved_at) VALUES ('skip0', 'posted', now())",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    let err = sqlx::query(
        "INSERT INTO ledger.posting (transfer_id, n, account_id, currency, amount)
         VALUES ('skip0', 1, $1, 'USDC', 5)",
    )
    .bind(&treasury)
    .execute(&mut *tx)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("numbered from 0"), "{err}");
    drop(tx);
    // An account cannot open with a balance.
    let err = sqlx::query(
        "INSERT INTO ledger.account (id, currency, kind, credits_posted) VALUES ('x', 'USDC', 'liability', 5)",
    )
    .execute(&pool)
    .await
    .unwrap_err();
    assert!(err.to_string().contains("zero balances"), "{err}");

    // A posted transfer is corrected by a reversal, once.
    let r = l
        .reverse("cap", "cap-reversal", "captured in error")
        .await
        .unwrap();
    assert_eq!(r.reverses.as_deref(), Some("cap"));
    let m = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(m.balance.posted(m.kind), 0);
    assert!(matches!(
        l.reverse("cap", "cap-reversal-2", "again")
            .await
            .unwrap_err(),
        LedgerError::IdConflict(_)
    ));
    assert_eq!(
        l.trial_balance().await.unwrap(),
        vec![("USDC".into(), 0, 0)]
    );
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Op {
    Capture {
        amount: i64,
        fee_bps: i64,
        pending: bool,
    },
    Payout {
        amount: i64,
        pending: bool,
    },
    Post(usize),
    Void(usize),
    Reverse(usize),
    Replay(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (1i64..10_000, 0i64..500, any::<bool>()).prop_map(|(amount, fee_bps, pending)| {
            Op::Capture {
                amount,
                fee_bps,
                pending,
            }
        }),
        (1i64..15_000, any::<bool>()).prop_map(|(amount, pending)| Op::Payout { amount, pending }),
        any::<usize>().prop_map(Op::Post),
        any::<usize>().prop_map(Op::Void),
        any::<usize>().prop_map(Op::Reverse),
        any::<usize>().prop_map(Op::Replay),
    ]
}

/// The model: the four counters of each account, as the ledger must keep them.
#[derive(Default, Clone, Copy, Debug, PartialEq)]
struct Counters {
    dp: i64,
    cp: i64,
    dq: i64,
    cq: i64,
}

struct Model {
    accounts: std::collections::HashMap<String, Counters>,
    /// Every transfer the ledger accepted: (request, state, reversed).
    transfers: Vec<(NewTransfer, TransferState, bool)>,
}

impl Model {
    fn apply(&mut self, postings: &[Posting], state: TransferState, sign: i64) {
        for p in postings {
            let c = self.accounts.get_mut(&p.account).expect("known account");
            let (debit, credit) = if p.amount > 0 {
                (p.amount, 0)
            } else {
                (0, -p.amount)
            };
            match state {
                TransferState::Posted => {
                    c.dp += sign * debit;
                    c.cp += sign * credit;
                }
                TransferState::Pending => {
                    c.dq += sign * debit;
                    c.cq += sign * credit;
                }
                TransferState::Voided => {}
            }
        }
    }

    /// Whether the merchant payable (a liability that forbids overdraft) stays whole.
    fn payable_ok(&self, payable: &str) -> bool {
        let c = self.accounts[payable];
        c.dp + c.dq <= c.cp
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn the_ledger_always_balances_and_matches_a_model(ops in proptest::collection::vec(op(), 1..40)) {
        static CASE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        static DB: std::sync::OnceLock<(tokio::runtime::Runtime, Ledger, PgPool)> = std::sync::OnceLock::new();
        let (rt, l, pool) = DB.get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let (l, pool) = rt.block_on(ledger());
            (rt, l, pool)
        });
        let case = CASE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        rt.block_on(async {
            let prefix = format!("c{case}:");
            let (treasury, payable, fees) = usdc_accounts(l, &prefix).await;
            let mut m = Model {
                accounts: [&treasury, &payable, &fees].into_iter().map(|a| (a.clone(), Counters::default())).collect(),
                transfers: Vec::new(),
            };
            for (step, op) in ops.into_iter().enumerate() {
                let id = format!("{prefix}t{step}");
                let new = match &op {
                    Op::Capture { amount, fee_bps, pending } => {
                        let fee = amount * fee_bps / 10_000;
                        Some(transfer(&id, capture(&treasury, &payable, &fees, *amount, fee), *pending))
                    }
                    Op::Payout { amount, pending } => Some(transfer(&id, vec![
                        Posting::debit(&payable, "USDC", *amount),
                        Posting::credit(&treasury, "USDC", *amount),
                    ], *pending)),
                    _ => None,
                };
                if let Some(new) = new {
                    let state = if new.pending { TransferState::Pending } else { TransferState::Posted };
                    let mut next = Model { accounts: m.accounts.clone(), transfers: Vec::new() };
                    next.apply(&new.postings, state, 1);
                    let result = l.transfer(&new).await;
                    if next.payable_ok(&payable) {
                        let t = result.unwrap();
                        prop_assert_eq!(t.state, state);
                        m.accounts = next.accounts;
                        m.transfers.push((new, state, false));
                    } else {
                        prop_assert!(matches!(result, Err(LedgerError::Overdraft(_))), "{:?}", result);
                    }
                } else if !m.transfers.is_empty() {
                    let k = match op {
                        Op::Post(k) | Op::Void(k) | Op::Reverse(k) | Op::Replay(k) => k % m.transfers.len(),
                        _ => unreachable!(),
                    };
                    let (t, state, reversed) = m.transfers[k].clone();
                    match op {
                        Op::Post(_) | Op::Void(_) => {
                            let post = matches!(op, Op::Post(_));
                            let result = if post { l.post_pending(&t.id).await } else { l.void_pending(&t.id).await };
                            let to = if post { TransferState::Posted } else { TransferState::Voided };
                            if state == TransferState::Pending {
                                // Posting moves a reservation that already counted: never refused.
                                prop_assert_eq!(result.unwrap().state, to);
                                m.apply(&t.postings, TransferState::Pending, -1);
                                m.apply(&t.postings, to, 1);
                                m.transfers[k].1 = to;
                            } else if state == to {
                                prop_assert!(result.unwrap().replayed);
                            } else {
                                let refused = matches!(result, Err(LedgerError::NotPending { .. }));
                                prop_assert!(refused);
                            }
                        }
                        Op::Reverse(_) => {
                            let result = l.reverse(&t.id, &id, "reversed by the test").await;
                            let negated: Vec<Posting> = t.postings.iter().map(|p| Posting { amount: -p.amount, ..p.clone() }).collect();
                            let mut next = Model { accounts: m.accounts.clone(), transfers: Vec::new() };
                            next.apply(&negated, TransferState::Posted, 1);
                            if state != TransferState::Posted {
                                prop_assert!(matches!(result, Err(LedgerError::NotPosted(_))));
                            } else if reversed {
                                prop_assert!(matches!(result, Err(LedgerError::IdConflict(_))));
                            } else if !next.payable_ok(&payable) {
                                prop_assert!(matches!(result, Err(LedgerError::Overdraft(_))), "{:?}", result);
                            } else {
                                prop_assert!(result.is_ok(), "{:?}", result);
                                m.accounts = next.accounts;
                                m.transfers[k].2 = true;
                            }
                        }
                        Op::Replay(_) => {
                            let replay = l.transfer(&t).await.unwrap();
                            prop_assert!(replay.replayed);
                            prop_assert_eq!(replay.state, state);
                        }
                        _ => unreachable!(),
                    }
                }
                // After every step: the database equals the model, the payable is whole, and
                // the ledger balances.
                for (id, c) in &m.accounts {
                    let b = l.account(id).await.unwrap().unwrap().balance;
                    prop_assert_eq!(
                        (b.debits_posted, b.credits_posted, b.debits_pending, b.credits_pending),
                        (c.dp, c.cp, c.dq, c.cq),
                        "account {} after {:?}", id, op
                    );
                }
                prop_assert!(m.payable_ok(&payable));
                let sums: Vec<(i64, i64)> = sqlx::query_as(
                    "SELECT coalesce(sum(p.amount) FILTER (WHERE t.state = 'posted'), 0)::int8,
                            coalesce(sum(p.amount) FILTER (WHERE t.state = 'pending'), 0)::int8
                     FROM ledger.posting p JOIN ledger.transfer t ON t.id = p.transfer_id
                     WHERE p.transfer_id LIKE $1 || '%'",
                )
                .bind(&prefix)
                .fetch_all(pool)
                .await
                .unwrap();
                prop_assert_eq!(sums, vec![(0, 0)]);
            }
            Ok(())
        })?;
    }
}
