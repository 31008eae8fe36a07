//! Stateful randomized test: long random sequences of lifecycle operations by several merchants
//! and payers across SPL Token and Token-2022 (with a transfer fee). After every step:
//! each escrow vault holds exactly what the `Payment` accounts say is escrowed, every payment
//! satisfies its invariant, no token is created or lost, and a rejected step changed nothing.
//!
//! `KASSA_FUZZ_OPS` sets the operations per run (default 1,200); `PROPTEST_CASES` the runs.

use crate::harness::*;
use anchor_lang::prelude::Pubkey;
use kassa_payments::state::{MerchantPolicy, Payment};
use kassa_sdk::payments::{MintRef, OrderId};
use proptest::prelude::*;
use solana_sdk::signature::{Keypair, Signer};

#[derive(Clone, Debug)]
enum Op {
    Open {
        merchant: usize,
        amount: u64,
        ttl: i64,
    },
    Pay {
        payment: usize,
        payer: usize,
    },
    Capture {
        payment: usize,
        pct: u64,
    },
    AutoCapture {
        payment: usize,
    },
    Void {
        payment: usize,
    },
    Reclaim {
        payment: usize,
    },
    Refund {
        payment: usize,
        pct: u64,
    },
    Dispute {
        payment: usize,
    },
    Resolve {
        payment: usize,
        pct: u64,
    },
    Hold {
        payment: usize,
    },
    Release {
        payment: usize,
    },
    Reject {
        payment: usize,
    },
    Assign {
        payment: usize,
        pct: u64,
    },
    Cancel {
        payment: usize,
    },
    Expire {
        payment: usize,
    },
    Close {
        payment: usize,
    },
    Warp {
        seconds: i64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let ix = 0usize..64;
    let pct = 1u64..=100;
    prop_oneof![
        4 => (0usize..3, 1u64..5_000_000_000, 60i64..(3 * DAY)).prop_map(|(merchant, amount, ttl)| Op::Open { merchant, amount, ttl }),
        4 => (ix.clone(), 0usize..4).prop_map(|(payment, payer)| Op::Pay { payment, payer }),
        3 => (ix.clone(), pct.clone()).prop_map(|(payment, pct)| Op::Capture { payment, pct }),
        1 => ix.clone().prop_map(|payment| Op::AutoCapture { payment }),
        1 => ix.clone().prop_map(|payment| Op::Void { payment }),
        1 => ix.clone().prop_map(|payment| Op::Reclaim { payment }),
        2 => (ix.clone(), pct.clone()).prop_map(|(payment, pct)| Op::Refund { payment, pct }),
        1 => ix.clone().prop_map(|payment| Op::Dispute { payment }),
        1 => (ix.clone(), 0u64..=100).prop_map(|(payment, pct)| Op::Resolve { payment, pct }),
        1 => ix.clone().prop_map(|payment| Op::Hold { payment }),
        1 => ix.clone().prop_map(|payment| Op::Release { payment }),
        1 => ix.clone().prop_map(|payment| Op::Reject { payment }),
        1 => (ix.clone(), pct).prop_map(|(payment, pct)| Op::Assign { payment, pct }),
        1 => ix.clone().prop_map(|payment| Op::Cancel { payment }),
        1 => ix.clone().prop_map(|payment| Op::Expire { payment }),
        2 => ix.prop_map(|payment| Op::Close { payment }),
        1 => (60i64..(4 * DAY)).prop_map(|seconds| Op::Warp { seconds }),
    ]
}

struct Sim {
    env: Env,
    mints: Vec<MintRef>,
    merchants: Vec<(Keypair, MerchantFixture)>,
    payers: Vec<Keypair>,
    lender: Keypair,
    /// Every payment ever opened, with its merchant index.
    payments: Vec<(Pubkey, usize)>,
    /// Their decoded state after the last step (`None` once closed).
    cache: Vec<Option<Payment>>,
    opened: usize,
    landed: usize,
}

const FUND: u64 = 1_000_000_000_000;

impl Sim {
    async fn new() -> Self {
        let mut env = Env::new().await;
        let usdc = env.mint(anchor_spl::token::ID, 6, None, None).await;
        let pyusd = env
            .mint(anchor_spl::token_2022::ID, 6, Some((25, 2_000_000)), None)
            .await;
        let mut merchants = Vec::new();
        for mint in [usdc, pyusd] {
            env.vault_open(&mint).await;
        }
        let policies = [
            MerchantPolicy {
                auto_capture_delay: DAY,
                ..policy()
            },
            policy(),
            MerchantPolicy {
                authorization_window: 2 * DAY,
                refund_window: 5 * DAY,
                dispute_window: DAY,
                ..policy()
            },
        ];
        for (i, pol) in policies.into_iter().enumerate() {
            let mint = if i == 2 { pyusd } else { usdc };
            let (authority, m) = env.merchant(&mint, pol).await;
            // Merchants hold float for refunds.
            env.fund(&mint, &m.authority, FUND).await;
            merchants.push((authority, m));
        }
        let mut payers = Vec::new();
        for _ in 0..4 {
            let payer = env.wallet().await;
            for mint in [usdc, pyusd] {
                env.fund(&mint, &payer.pubkey(), FUND).await;
            }
            payers.push(payer);
        }
        let lender = env.wallet().await;
        for mint in [usdc, pyusd] {
            env.fund(&mint, &lender.pubkey(), 0).await;
        }
        Self {
            env,
            mints: vec![usdc, pyusd],
            merchants,
            payers,
            lender,
            payments: Vec::new(),
            cache: Vec::new(),
            opened: 0,
            landed: 0,
        }
    }

    /// Chooses the payment an operation acts on. Seven times in eight it is one whose status
    /// the operation applies to (so long runs keep moving through the lifecycle); otherwise any
    /// payment at all, so the program's refusals are exercised too.
    fn pick(&self, i: usize, op: &Op) -> Option<(Pubkey, usize)> {
        use kassa_payments::state::PaymentStatus as S;
        if self.payments.is_empty() {
            return None;
        }
        if i % 8 == 7 {
            return Some(self.payments[i % self.payments.len()]);
        }
        let fits = |p: &Payment| match op {
            Op::Pay { .. } | Op::Cancel { .. } | Op::Expire { .. } => p.status == S::Open,
            Op::Capture { .. }
            | Op::AutoCapture { .. }
            | Op::Void { .. }
            | Op::Reclaim { .. }
            | Op::Dispute { .. }
            | Op::Hold { .. }
            | Op::Assign { .. } => p.status == S::Authorized,
            Op::Refund { .. } => p.refundable().unwrap_or(0) > 0,
            Op::Resolve { .. } => p.status == S::Disputed,
            Op::Release { .. } | Op::Reject { .. } => p.status == S::Held,
            Op::Close { .. } => p.status.is_terminal(),
            Op::Open { .. } | Op::Warp { .. } => false,
        };
        let candidates: Vec<usize> = (0..self.payments.len())
            .filter(|&k| self.cache.get(k).and_then(|c| c.as_ref()).is_some_and(fits))
            .collect();
        if candidates.is_empty() {
            return Some(self.payments[i % self.payments.len()]);
        }
        Some(self.payments[candidates[i % candidates.len()]])
    }

    async fn payment(&mut self, address: &Pubkey) -> Option<Payment> {
        let account = self.env.account(address).await?;
        anchor_lang::AccountDeserialize::try_deserialize(&mut account.data.as_slice()).ok()
    }

    /// Every token account the run touches, per mint.
    fn token_accounts(&self, mint: &MintRef) -> Vec<Pubkey> {
        let mut out = vec![
            self.env.vault(mint),
            mint.ata(&self.env.fee_receiver.pubkey()),
            mint.ata(&self.lender.pubkey()),
        ];
        out.extend(self.merchants.iter().map(|(_, m)| mint.ata(&m.authority)));
        out.extend(self.payers.iter().map(|p| mint.ata(&p.pubkey())));
        out
    }

    async fn state(&mut self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for mint in self.mints.clone() {
            for a in self.token_accounts(&mint) {
                let balance = self.env.balance(&a).await;
                let withheld = self.env.withheld(&a).await;
                out.push((balance, withheld));
            }
        }
        for (address, _) in self.payments.clone() {
            let p = self.payment(&address).await;
            out.push(p.map_or((0, 0), |p| (p.escrowed().unwrap_or(u64::MAX), p.seq)));
        }
        out
    }

    async fn check_invariants(&mut self, step: usize, op: &Op) {
        let mut cache = Vec::with_capacity(self.payments.len());
        for (address, _) in self.payments.clone() {
            cache.push(self.payment(&address).await);
        }
        self.cache = cache;
        for mint in self.mints.clone() {
            // Conservation: every unit minted is in some account, spendable or withheld.
            let mut total: u128 = 0;
            for a in self.token_accounts(&mint) {
                total += u128::from(self.env.balance(&a).await)
                    + u128::from(self.env.withheld(&a).await);
            }
            let supply = self.env.supply(&mint).await;
            assert_eq!(
                total,
                u128::from(supply),
                "step {step} {op:?}: tokens created or lost in {}",
                mint.mint
            );
            // The vault holds exactly the sum of what payments say is escrowed.
            let mut escrowed: u128 = 0;
            for (address, _) in self.payments.clone() {
                if let Some(p) = self.payment(&address).await {
                    p.invariant().unwrap_or_else(|e| {
                        panic!("step {step} {op:?}: payment {address} invariant: {e:?} {p:?}")
                    });
                    if p.mint == mint.mint {
                        escrowed += u128::from(p.escrowed().expect("escrowed"));
                    }
                }
            }
            let vault = self.env.balance(&self.env.vault(&mint)).await;
            assert_eq!(
                u128::from(vault),
                escrowed,
                "step {step} {op:?}: vault of {} disagrees with payments",
                mint.mint
            );
        }
    }

    async fn apply(&mut self, op: &Op) -> bool {
        let p = self.env.p;
        let compliance = self.env.compliance.insecure_clone();
        let arbiter = self.env.arbiter.insecure_clone();
        let cranker = self.env.payer();
        let (ix, signers): (solana_sdk::instruction::Instruction, Vec<Keypair>) = match *op {
            Op::Warp { seconds } => {
                self.env.warp(seconds).await;
                return true;
            }
            Op::Open {
                merchant,
                amount,
                ttl,
            } => {
                let (authority, m) = &self.merchants[merchant];
                self.opened += 1;
                let order = OrderId::new(&format!("R-{}", self.opened)).expect("order id");
                let expires = self.env.now().await + ttl;
                let (ix, address) = p
                    .invoice_open(&m.authority, &m.address, &order, amount, expires)
                    .expect("builds");
                let signer = authority.insecure_clone();
                let ok = self.env.send(&[ix], &[&signer]).await.is_ok();
                if ok {
                    self.payments.push((address, merchant));
                }
                return ok;
            }
            _ => {
                let Some((payment, mi)) = self.pick(
                    match *op {
                        Op::Pay { payment, .. }
                        | Op::Capture { payment, .. }
                        | Op::AutoCapture { payment }
                        | Op::Void { payment }
                        | Op::Reclaim { payment }
                        | Op::Refund { payment, .. }
                        | Op::Dispute { payment }
                        | Op::Resolve { payment, .. }
                        | Op::Hold { payment }
                        | Op::Release { payment }
                        | Op::Reject { payment }
                        | Op::Assign { payment, .. }
                        | Op::Cancel { payment }
                        | Op::Expire { payment }
                        | Op::Close { payment } => payment,
                        Op::Open { .. } | Op::Warp { .. } => unreachable!(),
                    },
                    op,
                ) else {
                    return false;
                };
                let (authority, m) = (self.merchants[mi].0.insecure_clone(), self.merchants[mi].1);
                let Some(state) = self.payment(&payment).await else {
                    return false;
                };
                let escrowed = state.escrowed().unwrap_or(0);
                let part =
                    |pct: u64, of: u64| (u128::from(of) * u128::from(pct) / 100).max(1) as u64;
                let assignee = (state.assignee != Pubkey::default()).then_some(state.assignee);
                let settle = self.env.settlement(&m, &payment, assignee);
                let release = self.env.release(&m, &payment, &state.payer);
                let payer_key = self
                    .payers
                    .iter()
                    .find(|k| k.pubkey() == state.payer)
                    .map(|k| k.insecure_clone());
                match *op {
                    Op::Pay { payer, .. } => {
                        let payer = self.payers[payer].insecure_clone();
                        (
                            p.payment_pay(&payer.pubkey(), &m.address, &payment, &m.mint, None)
                                .expect("builds"),
                            vec![payer],
                        )
                    }
                    Op::Capture { pct, .. } => (
                        p.payment_capture(&m.authority, &settle, part(pct, escrowed))
                            .expect("builds"),
                        vec![authority],
                    ),
                    Op::AutoCapture { .. } => (
                        p.payment_auto_capture(&cranker.pubkey(), &settle)
                            .expect("builds"),
                        vec![],
                    ),
                    Op::Void { .. } => (
                        p.payment_void(&m.authority, &m.address, &release)
                            .expect("builds"),
                        vec![authority],
                    ),
                    Op::Reclaim { .. } => match payer_key {
                        Some(k) => (p.payment_reclaim(&release).expect("builds"), vec![k]),
                        None => return false,
                    },
                    Op::Refund { pct, .. } => {
                        let refundable = state.refundable().unwrap_or(0);
                        if state.payer == Pubkey::default() {
                            return false;
                        }
                        (
                            p.payment_refund(
                                &m.authority,
                                &m.address,
                                &payment,
                                &m.mint,
                                &state.payer,
                                part(pct, refundable),
                            )
                            .expect("builds"),
                            vec![authority],
                        )
                    }
                    Op::Dispute { .. } => match payer_key {
                        Some(k) => (
                            p.dispute_open(&k.pubkey(), &payment, [1; 32])
                                .expect("builds"),
                            vec![k],
                        ),
                        None => return false,
                    },
                    Op::Resolve { pct, .. } => {
                        let to_merchant = (u128::from(escrowed) * u128::from(pct) / 100) as u64;
                        (
                            p.dispute_resolve(
                                &arbiter.pubkey(),
                                &settle,
                                &state.payer,
                                to_merchant,
                                escrowed - to_merchant,
                            )
                            .expect("builds"),
                            vec![arbiter],
                        )
                    }
                    Op::Hold { .. } => (
                        p.hold_place(&compliance.pubkey(), &payment, [2; 32])
                            .expect("builds"),
                        vec![compliance],
                    ),
                    Op::Release { .. } => (
                        p.hold_release(&compliance.pubkey(), &payment)
                            .expect("builds"),
                        vec![compliance],
                    ),
                    Op::Reject { .. } => (
                        p.hold_reject(&compliance.pubkey(), &release, [3; 32])
                            .expect("builds"),
                        vec![compliance],
                    ),
                    Op::Assign { pct, .. } => {
                        let lender_ata = m.mint.ata(&self.lender.pubkey());
                        (
                            p.receivable_assign(
                                &m.authority,
                                &m.address,
                                &payment,
                                &lender_ata,
                                part(pct, escrowed),
                            )
                            .expect("builds"),
                            vec![authority],
                        )
                    }
                    Op::Cancel { .. } => (
                        p.invoice_cancel(&m.authority, &m.address, &payment)
                            .expect("builds"),
                        vec![authority],
                    ),
                    Op::Expire { .. } => (
                        p.invoice_expire(&cranker.pubkey(), &payment)
                            .expect("builds"),
                        vec![],
                    ),
                    Op::Close { .. } => (
                        p.payment_close(&cranker.pubkey(), &m.address, &payment, &m.authority)
                            .expect("builds"),
                        vec![],
                    ),
                    Op::Open { .. } | Op::Warp { .. } => unreachable!(),
                }
            }
        };
        let signers: Vec<&Keypair> = signers.iter().collect();
        let before = self.state().await;
        match self.env.send(&[ix], &signers).await {
            Ok(_) => true,
            Err(err) => {
                assert!(
                    custom_code(&err).is_some(),
                    "{op:?} failed without a program error: {err:?}"
                );
                assert_eq!(
                    before,
                    self.state().await,
                    "{op:?} was rejected but changed state"
                );
                false
            }
        }
    }
}

fn ops_per_run() -> usize {
    std::env::var("KASSA_FUZZ_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_200)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1, max_shrink_iters: 64, ..ProptestConfig::default() })]
    #[test]
    fn escrow_always_matches_payments_and_nothing_is_lost(ops in proptest::collection::vec(op(), ops_per_run())) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        rt.block_on(async {
            let mut sim = Sim::new().await;
            for (step, op) in ops.iter().enumerate() {
                if sim.apply(op).await {
                    sim.landed += 1;
                }
                sim.check_invariants(step, op).await;
            }
            // A run where almost nothing lands would prove nothing.
            assert!(sim.landed * 4 >= ops.len(), "only {} of {} operations landed", sim.landed, ops.len());
            eprintln!("randomized lifecycle: {} of {} operations landed over {} payments", sim.landed, ops.len(), sim.payments.len());
        });
    }
}
