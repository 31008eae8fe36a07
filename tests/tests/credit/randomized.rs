//! Random sequences of credit operations (deposits, draws, repayments, time, impairment,
//! write-off, redemptions) across payments and credit, checking the pool identity to the unit,
//! the vault, the share escrows, the lines, the advance the step touched and the senior cap
//! after every step. A refused step must be refused by a named rule (never
//! `InvariantViolated`, an overflow or a runtime error) and change nothing.
//!
//! Each step costs the same however long the run: the lines are the pool's four (a
//! written-off borrower is replaced by a new one), operations on sales reach the last six,
//! and the checks read a fixed set of accounts. `KASSA_CREDIT_CASES` sets the runs (default
//! 20, of 40–80 steps); `KASSA_CREDIT_OPS` makes one run of that many steps instead:
//! `KASSA_CREDIT_OPS=500000 cargo test --release -p kassa-tests --test main --
//! credit::randomized --nocapture` (docs/credit.md gives the figures).

use super::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Deposit(bool, u64),
    Draw(usize, u64),
    Repay(usize, u64),
    Warp(i64),
    Refresh(usize),
    Impair(usize, u64),
    Reverse(usize, u64),
    WriteOff(usize),
    Accrue,
    Queue(bool, u64),
    CloseEpoch,
    Withdraw(bool),
    /// A customer pays the merchant an invoice of this many dollars.
    Sale(u64),
    /// The merchant takes an advance (this share of the rate, in %) on sale k.
    Advance(usize, u64),
    Capture(usize),
    Void(usize),
    Sync(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (any::<bool>(), 1u64..5_000).prop_map(|(s, a)| Op::Deposit(s, a * USD)),
        (0usize..3, 1u64..4_000).prop_map(|(l, a)| Op::Draw(l, a * USD)),
        (0usize..3, 1u64..4_000_000_000).prop_map(|(l, a)| Op::Repay(l, a)),
        (1i64..40 * DAY).prop_map(Op::Warp),
        (0usize..3).prop_map(Op::Refresh),
        (0usize..3, 1u64..1_000).prop_map(|(l, a)| Op::Impair(l, a * USD)),
        (0usize..3, 1u64..1_000).prop_map(|(l, a)| Op::Reverse(l, a * USD)),
        (0usize..3).prop_map(Op::WriteOff),
        Just(Op::Accrue),
        (any::<bool>(), 1u64..3_000).prop_map(|(s, a)| Op::Queue(s, a * USD)),
        Just(Op::CloseEpoch),
        any::<bool>().prop_map(Op::Withdraw),
        (1u64..2_000).prop_map(Op::Sale),
        (0..RECENT_SALES, 1u64..=100).prop_map(|(k, p)| Op::Advance(k, p)),
        (0..RECENT_SALES).prop_map(Op::Capture),
        (0..RECENT_SALES).prop_map(Op::Void),
        (0..RECENT_SALES).prop_map(Op::Sync),
    ]
}

/// Sales an operation can reach: the last this many.
const RECENT_SALES: usize = 6;

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn random_credit_operations_keep_the_pool_identity_to_the_unit() {
    let long = env_number("KASSA_CREDIT_OPS");
    let cases = if long.is_some() {
        1
    } else {
        env_number("KASSA_CREDIT_CASES").unwrap_or(20) as u32
    };
    let len = long.map_or(40..80, |n| n..n + 1);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        max_shrink_iters: if long.is_some() { 0 } else { 1024 },
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), len), |ops| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run_ops(ops));
            Ok(())
        })
        .unwrap();
}

/// The `k`-th most recent sale.
fn recent(sales: &[Pubkey], k: usize) -> Option<Pubkey> {
    (k < sales.len()).then(|| sales[sales.len() - 1 - k])
}

async fn run_ops(ops: Vec<Op>) {
    let mut f = fixture(false).await;
    let lender = f.lender(1_000_000_000 * USD).await;
    f.deposit(&lender, Tranche::Junior, 20_000 * USD)
        .await
        .unwrap();
    let mut borrowers = Vec::new();
    for _ in 0..3 {
        borrowers.push(new_borrower(&mut f).await);
    }
    // A merchant with a receivable line, and its sales.
    let (owner, m) = f.merchant(&{ f.w.usdc }, receivable_policy()).await;
    let now = f.now().await;
    f.approve(
        &owner.pubkey(),
        Some(m.address),
        LineApproveArgs {
            kind: LineKind::Receivable,
            limit: 10_000 * USD,
            apr_bps: 1_500,
            late_apr_bps: 500,
            advance_rate_bps: 8_000,
            maturity: now + 365 * DAY,
            payment_interval: 30 * DAY,
            grace_seconds: 10 * DAY,
        },
    )
    .await;
    let customer = f.wallet().await;
    f.fund(&{ f.w.usdc }, &customer.pubkey(), 1_000_000_000 * USD)
        .await;
    let mut sales: Vec<Pubkey> = Vec::new();
    // Transactions sent (time jumps and skipped steps send none).
    let mut sent = 0usize;
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    let started = std::time::Instant::now();
    let (c, pool, usdc) = (f.w.c, f.w.pool, f.w.usdc);
    let uw = f.w.underwriter.insecure_clone();
    let steps = ops.len();
    for (step, op) in ops.into_iter().enumerate() {
        if step % 1_024 == 1_023 {
            // Long runs never run dry: lender, borrowers and customer are topped up.
            let mut owners = vec![lender.pubkey(), customer.pubkey(), owner.pubkey()];
            owners.extend(borrowers.iter().map(|b: &Keypair| b.pubkey()));
            for o in owners {
                if f.balance(&usdc.ata(&o)).await < 100_000_000 * USD {
                    f.fund(&usdc, &o, 1_000_000_000 * USD).await;
                }
            }
            // Rent: the underwriter's for replacement lines, the merchant's for invoices.
            for payer in [uw.pubkey(), owner.pubkey()] {
                let lamports = f.account(&payer).await.map_or(0, |a| a.lamports);
                if lamports < 1_000_000_000 {
                    f.airdrop(&payer, 10_000_000_000).await;
                }
            }
        }
        if step % 50_000 == 49_999 {
            eprintln!(
                "randomized credit: {} steps in {:.1} s",
                step + 1,
                started.elapsed().as_secs_f64()
            );
        }
        let before = f.pool_state().await;
        let tranche = |senior: bool| {
            if senior {
                Tranche::Senior
            } else {
                Tranche::Junior
            }
        };
        let underwrite = |l: usize, action: UnderwriterAction| {
            (
                action.ix(&c, &uw.pubkey(), &pool, &borrowers[l].pubkey()),
                vec![uw.insecure_clone()],
            )
        };
        let mut touched_sale = None;
        // The step as an instruction and its signers; `None` when it needs no transaction.
        let tx: Option<(solana_sdk::instruction::Instruction, Vec<Keypair>)> = match &op {
            Op::Deposit(senior, a) => Some((
                c.tranche_deposit(&lender.pubkey(), &pool, tranche(*senior), *a, 1, false)
                    .unwrap(),
                vec![lender.insecure_clone()],
            )),
            Op::Draw(l, a) => {
                let b = borrowers[*l].insecure_clone();
                Some((c.line_draw(&b.pubkey(), &pool, *a).unwrap(), vec![b]))
            }
            Op::Repay(l, a) => {
                let b = borrowers[*l].insecure_clone();
                Some((
                    c.line_repay(&b.pubkey(), &pool, &b.pubkey(), *a).unwrap(),
                    vec![b],
                ))
            }
            Op::Warp(s) => {
                f.warp(*s).await;
                None
            }
            Op::Refresh(l) => {
                let payer = f.payer();
                Some((
                    c.line_refresh(&payer.pubkey(), &pool, &borrowers[*l].pubkey())
                        .unwrap(),
                    vec![],
                ))
            }
            Op::Impair(l, a) => Some(underwrite(*l, UnderwriterAction::Impair(*a))),
            Op::Reverse(l, a) => Some(underwrite(*l, UnderwriterAction::ReverseImpairment(*a))),
            Op::WriteOff(l) => Some(underwrite(*l, UnderwriterAction::WriteOff)),
            Op::Accrue => {
                let payer = f.payer();
                Some((c.pool_accrue(&payer.pubkey(), &pool).unwrap(), vec![]))
            }
            Op::Queue(senior, a) => Some((
                c.redemption_request(&lender.pubkey(), &pool, tranche(*senior), *a, false)
                    .unwrap(),
                vec![lender.insecure_clone()],
            )),
            Op::CloseEpoch => Some((f.epoch_close_ix(before.epoch_id).await, vec![])),
            Op::Withdraw(senior) => {
                // From the request's first unsettled epoch: settling is O(epochs waited).
                let request = kassa_sdk::pda::credit::redemption(
                    &c.program_id,
                    &pool.address,
                    tranche(*senior),
                    &lender.pubkey(),
                )
                .0;
                let from = match f.account(&request).await {
                    Some(a) => {
                        let r: LenderRedemption = anchor_lang::AccountDeserialize::try_deserialize(
                            &mut a.data.as_slice(),
                        )
                        .unwrap();
                        r.epoch_id
                    }
                    None => 0,
                };
                let to = before.epoch_id.min(from + 8);
                Some((
                    c.redemption_withdraw(&lender.pubkey(), &pool, tranche(*senior), from..to)
                        .unwrap(),
                    vec![lender.insecure_clone()],
                ))
            }
            Op::Sale(dollars) => {
                let order = format!("SALE-{}", sales.len());
                let payment = f.invoice(&m, &owner, &order, dollars * USD).await;
                f.pay(&m, &payment, &customer).await.unwrap();
                sales.push(payment);
                None
            }
            // Below, once the sale is read.
            Op::Advance(..) | Op::Capture(_) | Op::Void(_) | Op::Sync(_) => None,
        };
        // Operations on sales read the sale first.
        let tx = match (&op, tx) {
            (Op::Advance(k, pct), _) => match recent(&sales, *k) {
                Some(sale) => {
                    touched_sale = Some(sale);
                    let p = f.payment(&sale).await;
                    let max = p.escrowed().unwrap_or(0) * 8 / 10;
                    let amount = (max * pct / 100).max(1);
                    Some((
                        c.advance_take(&owner.pubkey(), &pool, &m.address, &sale, amount)
                            .unwrap(),
                        vec![owner.insecure_clone()],
                    ))
                }
                None => None,
            },
            (Op::Capture(k), _) => match recent(&sales, *k) {
                Some(sale) => {
                    touched_sale = Some(sale);
                    let p = f.payment(&sale).await;
                    let assignee = (p.assignee != Pubkey::default()).then_some(p.assignee);
                    let refs = f.settlement(&m, &sale, assignee);
                    Some((
                        f.p.payment_capture(
                            &owner.pubkey(),
                            &refs,
                            p.escrowed().unwrap_or(1).max(1),
                        )
                        .unwrap(),
                        vec![owner.insecure_clone()],
                    ))
                }
                None => None,
            },
            (Op::Void(k), _) => match recent(&sales, *k) {
                Some(sale) => {
                    touched_sale = Some(sale);
                    let refs = f.release(&m, &sale, &customer.pubkey());
                    Some((
                        f.p.payment_void(&owner.pubkey(), &m.address, &refs)
                            .unwrap(),
                        vec![owner.insecure_clone()],
                    ))
                }
                None => None,
            },
            (Op::Sync(k), _) => match recent(&sales, *k) {
                Some(sale) => {
                    touched_sale = Some(sale);
                    let payer = f.payer();
                    Some((
                        c.receivable_sync(&payer.pubkey(), &pool, &owner.pubkey(), &sale)
                            .unwrap(),
                        vec![],
                    ))
                }
                None => None,
            },
            (_, tx) => tx,
        };
        let result = match tx {
            None => Ok(()),
            Some((ix, signers)) => {
                sent += 1;
                let keys: Vec<&Keypair> = signers.iter().collect();
                f.attempt(&[ix], &keys).await
            }
        };
        let after = f.pool_state().await;
        match result {
            Ok(()) => {
                // Deposits never leave the senior tranche above its cap.
                if matches!(op, Op::Deposit(..)) {
                    assert!(kassa_credit::math::senior_within_cap(
                        after.senior_value,
                        after.junior_value,
                        after.senior_cap_bps
                    ));
                }
                // Whatever touched the pool priced it with interest up to now.
                if !matches!(
                    op,
                    Op::Warp(_)
                        | Op::Sale(_)
                        | Op::Capture(_)
                        | Op::Void(_)
                        | Op::Advance(..)
                        | Op::Sync(_)
                ) || (matches!(op, Op::Advance(..) | Op::Sync(_)) && after.seq != before.seq)
                {
                    assert_eq!(
                        after.last_accrual,
                        f.now().await,
                        "{op:?} left stale interest"
                    );
                }
                // A written-off borrower is replaced, so the run keeps lending.
                if let Op::WriteOff(l) = op {
                    let old = c.line(&pool, &borrowers[l].pubkey());
                    f.w.lines.retain(|line| *line != old);
                    borrowers[l] = new_borrower(&mut f).await;
                }
            }
            Err(refused) => {
                let rule = refused
                    .rule(&[anchor_lang::error::ErrorCode::AccountNotInitialized])
                    .unwrap_or_else(|e| {
                        panic!("step {step}: {op:?} was refused by no named rule: {e}")
                    });
                *refusals.entry(rule).or_default() += 1;
                assert_eq!(before.seq, after.seq, "a refused {op:?} changed the pool");
            }
        }
        f.check_books().await;
        // Lines: the sum of principals is the pool's, and the active ones are counted.
        let mut principal = 0;
        let mut active = 0;
        for line in f.w.lines.clone() {
            let l: CreditLine = f.fetch(&line).await;
            l.invariant()
                .unwrap_or_else(|e| panic!("step {step} {op:?}: line {line}: {e:?} {l:?}"));
            principal += l.principal;
            active += u8::from(l.counted);
        }
        assert_eq!(principal, after.principal, "step {step} {op:?}");
        assert_eq!(active, after.active_lines, "step {step} {op:?}");
        // The advance the step touched holds what its payment paid and was not yet synced.
        if let Some(sale) = touched_sale {
            let adv = kassa_sdk::pda::credit::advance(&c.program_id, &sale).0;
            if let Some(a) = f.account(&adv).await {
                let a: Advance =
                    anchor_lang::AccountDeserialize::try_deserialize(&mut a.data.as_slice())
                        .unwrap();
                assert!(a.arrived + f.balance(&a.vault).await <= a.amount, "{a:?}");
            }
        }
    }
    if steps >= 1_000 {
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "randomized credit: {steps} operations, {sent} transactions sent, {} refused by a named rule, in {secs:.1} s ({:.0} ops/s); refusals: {refusals:?}",
            refusals.values().sum::<usize>(),
            steps as f64 / secs
        );
    }
}

/// A funded borrower with a revolving line of 6,000.
async fn new_borrower(f: &mut Fx) -> Keypair {
    let b = f.revolving(6_000 * USD).await;
    f.fund(&{ f.w.usdc }, &b.pubkey(), 1_000_000 * USD).await;
    b
}
