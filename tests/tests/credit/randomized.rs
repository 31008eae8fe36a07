//! Random sequences of credit operations (deposits, draws, repayments, time, impairment,
//! write-off, redemptions) across payments and credit, checking the pool identity to the unit,
//! the vault, the lines, the advances and the senior cap after every step.

use super::*;

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
        (0usize..6, 1u64..=100).prop_map(|(k, p)| Op::Advance(k, p)),
        (0usize..6).prop_map(Op::Capture),
        (0usize..6).prop_map(Op::Void),
        (0usize..6).prop_map(Op::Sync),
    ]
}

#[test]
fn random_credit_operations_keep_the_pool_identity_to_the_unit() {
    let cases: u32 = std::env::var("KASSA_CREDIT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 40..80), |ops| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(run_ops(ops));
            Ok(())
        })
        .unwrap();
}

async fn run_ops(ops: Vec<Op>) {
    let mut f = fixture(false).await;
    let lender = f.lender(1_000_000_000 * USD).await;
    f.deposit(&lender, Tranche::Junior, 20_000 * USD)
        .await
        .unwrap();
    let mut borrowers = Vec::new();
    for _ in 0..3 {
        let b = f.revolving(6_000 * USD).await;
        f.fund(&{ f.w.usdc }, &b.pubkey(), 1_000_000 * USD).await;
        borrowers.push(b);
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
    for op in ops {
        let before = f.pool_state().await;
        let result = match &op {
            Op::Deposit(senior, a) => {
                let t = if *senior {
                    Tranche::Senior
                } else {
                    Tranche::Junior
                };
                f.deposit(&lender, t, *a).await.map(|_| ())
            }
            Op::Draw(l, a) => {
                let b = borrowers[*l].insecure_clone();
                let ix = f.w.c.line_draw(&b.pubkey(), &{ f.w.pool }, *a).unwrap();
                f.send(&[ix], &[&b]).await.map(|_| ())
            }
            Op::Repay(l, a) => {
                let b = borrowers[*l].insecure_clone();
                let ix =
                    f.w.c
                        .line_repay(&b.pubkey(), &{ f.w.pool }, &b.pubkey(), *a)
                        .unwrap();
                f.send(&[ix], &[&b]).await.map(|_| ())
            }
            Op::Warp(s) => {
                f.warp(*s).await;
                Ok(())
            }
            Op::Refresh(l) => {
                let b = borrowers[*l].pubkey();
                f.refresh(&b).await;
                Ok(())
            }
            Op::Impair(l, a) => f
                .underwrite(&borrowers[*l].pubkey(), UnderwriterAction::Impair(*a))
                .await
                .map(|_| ()),
            Op::Reverse(l, a) => f
                .underwrite(
                    &borrowers[*l].pubkey(),
                    UnderwriterAction::ReverseImpairment(*a),
                )
                .await
                .map(|_| ()),
            Op::WriteOff(l) => f
                .underwrite(&borrowers[*l].pubkey(), UnderwriterAction::WriteOff)
                .await
                .map(|_| ()),
            Op::Accrue => {
                let payer = f.payer();
                let ix = f.w.c.pool_accrue(&payer.pubkey(), &{ f.w.pool }).unwrap();
                f.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Queue(senior, a) => {
                let t = if *senior {
                    Tranche::Senior
                } else {
                    Tranche::Junior
                };
                let ix =
                    f.w.c
                        .redemption_request(&lender.pubkey(), &{ f.w.pool }, t, *a, false)
                        .unwrap();
                f.send(&[ix], &[&lender]).await.map(|_| ())
            }
            Op::CloseEpoch => {
                let id = before.epoch_id;
                let ix = f.epoch_close_ix(id).await;
                f.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Sale(dollars) => {
                let order = format!("SALE-{}", sales.len());
                let payment = f.invoice(&m, &owner, &order, dollars * USD).await;
                f.pay(&m, &payment, &customer).await.unwrap();
                sales.push(payment);
                Ok(())
            }
            Op::Advance(k, pct) if *k < sales.len() => {
                let p = f.payment(&sales[*k]).await;
                let max = p.escrowed().unwrap_or(0) * 8 / 10;
                let amount = (max * pct / 100).max(1);
                let ix =
                    f.w.c
                        .advance_take(
                            &owner.pubkey(),
                            &{ f.w.pool },
                            &m.address,
                            &sales[*k],
                            amount,
                        )
                        .unwrap();
                f.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Capture(k) if *k < sales.len() => {
                let p = f.payment(&sales[*k]).await;
                let assignee = (p.assignee != Pubkey::default()).then_some(p.assignee);
                let refs = f.settlement(&m, &sales[*k], assignee);
                let ix =
                    f.p.payment_capture(&owner.pubkey(), &refs, p.escrowed().unwrap_or(1).max(1))
                        .unwrap();
                f.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Void(k) if *k < sales.len() => {
                let refs = f.release(&m, &sales[*k], &customer.pubkey());
                let ix =
                    f.p.payment_void(&owner.pubkey(), &m.address, &refs)
                        .unwrap();
                f.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Sync(k) if *k < sales.len() => {
                let payer = f.payer();
                let ix = f
                    .w
                    .c
                    .receivable_sync(&payer.pubkey(), &{ f.w.pool }, &owner.pubkey(), &sales[*k])
                    .unwrap();
                f.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Advance(..) | Op::Capture(_) | Op::Void(_) | Op::Sync(_) => Ok(()),
            Op::Withdraw(senior) => {
                let t = if *senior {
                    Tranche::Senior
                } else {
                    Tranche::Junior
                };
                let ix =
                    f.w.c
                        .redemption_withdraw(&lender.pubkey(), &{ f.w.pool }, t, 0..before.epoch_id)
                        .unwrap();
                f.send(&[ix], &[&lender]).await.map(|_| ())
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
            }
            Err(_) => assert_eq!(before.seq, after.seq, "a refused {op:?} changed the pool"),
        }
        f.check_books().await;
        // Lines: the sum of principals is the pool's, and no line owes less than zero.
        let mut principal = f.line_state(&owner.pubkey()).await.principal;
        for b in &borrowers {
            principal += f.line_state(&b.pubkey()).await.principal;
        }
        assert_eq!(principal, after.principal);
        // Every advance's account holds what its payment paid and was not yet synced.
        for sale in &sales {
            let adv = kassa_sdk::pda::credit::advance(&{ f.w.c.program_id }, sale).0;
            if let Some(a) = f.account(&adv).await {
                let a: Advance =
                    anchor_lang::AccountDeserialize::try_deserialize(&mut a.data.as_slice())
                        .unwrap();
                assert!(a.arrived + f.balance(&a.vault).await <= a.amount, "{a:?}");
            }
        }
    }
}
