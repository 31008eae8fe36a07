//! Stateful randomized test: long random sequences of lifecycle operations by several merchants
//! and payers across SPL Token and Token-2022 (with a transfer fee). After every step:
//! each escrow vault holds exactly what the `Payment` accounts say is escrowed, every payment
//! satisfies its invariant, no token is created or lost, and a rejected step changed nothing
//! and was refused by a named rule (never `InvariantViolated`, an overflow or a runtime error).
//!
//! Each step costs the same at step 10 and at step 1,000,000: the sums are kept as the run
//! goes, a step re-reads only the payment it touched and a fixed set of token accounts, and
//! every `SWEEP` steps all live payments are compared with what the run expects of them.
//! At most `MAX_LIVE` payments are open at once (more opens wait until some are closed).
//!
//! `KASSA_FUZZ_OPS` sets the operations per run (default 1,200); `PROPTEST_CASES` the runs.
//! A long run: `KASSA_FUZZ_OPS=500000 cargo test --release -p kassa-tests --test main --
//! payments::randomized --nocapture` (docs/payments.md gives the figures).

use crate::harness::*;
use anchor_lang::prelude::Pubkey;
use kassa_payments::state::{MerchantPolicy, Payment};
use kassa_sdk::payments::{MintRef, OrderId};
use proptest::prelude::*;
use solana_sdk::signature::{Keypair, Signer};
use std::collections::BTreeMap;

/// Payments open at once, at most.
const MAX_LIVE: usize = 96;
/// Every this many steps, every live payment is re-read and compared.
const SWEEP: usize = 4_096;
/// Framework refusals a run may meet: acting on a payment already closed.
const FRAMEWORK_REFUSALS: [anchor_lang::error::ErrorCode; 1] =
    [anchor_lang::error::ErrorCode::AccountNotInitialized];

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
    /// The payments not closed yet (indices into `payments`).
    live: Vec<usize>,
    /// What the payments of each mint escrow, kept as the run goes.
    escrowed: Vec<u128>,
    /// Every token account's (balance, withheld) after the last step.
    tokens: Vec<(u64, u64)>,
    /// The payment the current step acts on.
    touched: Option<usize>,
    opened: usize,
    landed: usize,
    /// How often each named rule refused a step.
    refusals: BTreeMap<String, usize>,
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
            live: Vec::new(),
            escrowed: vec![0; 2],
            tokens: Vec::new(),
            touched: None,
            opened: 0,
            landed: 0,
            refusals: BTreeMap::new(),
        }
    }

    /// Chooses the payment an operation acts on. Seven times in eight it is one whose status
    /// the operation applies to (so long runs keep moving through the lifecycle); otherwise any
    /// payment at all, so the program's refusals are exercised too.
    fn pick(&self, i: usize, op: &Op) -> Option<usize> {
        use kassa_payments::state::PaymentStatus as S;
        if self.payments.is_empty() {
            return None;
        }
        if i % 8 == 7 {
            return Some(i % self.payments.len());
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
        let candidates: Vec<usize> = self
            .live
            .iter()
            .copied()
            .filter(|&k| self.cache[k].as_ref().is_some_and(fits))
            .collect();
        if candidates.is_empty() {
            return Some(i % self.payments.len());
        }
        Some(candidates[i % candidates.len()])
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

    /// (balance, withheld) of every token account, in `token_accounts` order per mint.
    async fn token_state(&mut self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        for mint in self.mints.clone() {
            for a in self.token_accounts(&mint) {
                out.push(self.env.token(&a).await);
            }
        }
        out
    }

    /// What a payment is, for "nothing changed": its escrow and its event count.
    fn fingerprint(p: &Option<Payment>) -> (u64, u64) {
        p.as_ref()
            .map_or((0, 0), |p| (p.escrowed().unwrap_or(u64::MAX), p.seq))
    }

    /// Re-reads payment `k` after a step that landed, and keeps the sums in step.
    async fn reread(&mut self, k: usize) {
        let (address, _) = self.payments[k];
        let now = self.payment(&address).await;
        let old = self.cache[k].take();
        if let Some(p) = &old {
            let m = self.mint_index(&p.mint);
            self.escrowed[m] -= u128::from(p.escrowed().expect("escrowed"));
        }
        if let Some(p) = &now {
            let m = self.mint_index(&p.mint);
            self.escrowed[m] += u128::from(p.escrowed().expect("escrowed"));
        } else if old.is_some() {
            self.live.retain(|&i| i != k);
        }
        self.cache[k] = now;
    }

    fn mint_index(&self, mint: &Pubkey) -> usize {
        self.mints
            .iter()
            .position(|m| m.mint == *mint)
            .expect("a mint of the run")
    }

    async fn check_invariants(&mut self, step: usize, op: &Op) {
        if let Some(k) = self.touched {
            if let Some(p) = &self.cache[k] {
                p.invariant().unwrap_or_else(|e| {
                    panic!(
                        "step {step} {op:?}: payment {} invariant: {e:?} {p:?}",
                        self.payments[k].0
                    )
                });
            }
        }
        if step % SWEEP == SWEEP - 1 {
            // Nothing changed a payment the run did not act on.
            for k in self.live.clone() {
                let address = self.payments[k].0;
                let now = self.payment(&address).await;
                assert_eq!(
                    Self::fingerprint(&now),
                    Self::fingerprint(&self.cache[k]),
                    "step {step}: payment {address} changed behind the run's back"
                );
            }
        }
        self.tokens = self.token_state().await;
        let per_mint = self.tokens.len() / self.mints.len();
        for (m, mint) in self.mints.clone().iter().enumerate() {
            // Conservation: every unit minted is in some account, spendable or withheld.
            let accounts = &self.tokens[m * per_mint..(m + 1) * per_mint];
            let total: u128 = accounts
                .iter()
                .map(|(b, w)| u128::from(*b) + u128::from(*w))
                .sum();
            let supply = self.env.supply(mint).await;
            assert_eq!(
                total,
                u128::from(supply),
                "step {step} {op:?}: tokens created or lost in {}",
                mint.mint
            );
            // The vault (first of the mint's accounts) holds exactly what payments escrow.
            assert_eq!(
                u128::from(accounts[0].0),
                self.escrowed[m],
                "step {step} {op:?}: vault of {} disagrees with payments",
                mint.mint
            );
        }
    }

    /// Payers and merchants never run dry in a long run: topped up (minted) below a tenth.
    async fn top_up(&mut self) {
        let mut owners: Vec<Pubkey> = self.payers.iter().map(|p| p.pubkey()).collect();
        owners.extend(self.merchants.iter().map(|(_, m)| m.authority));
        for mint in self.mints.clone() {
            for owner in &owners {
                let (balance, _) = self.env.token(&mint.ata(owner)).await;
                if balance < FUND / 10 {
                    self.env.fund(&mint, owner, FUND).await;
                }
            }
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
                if self.live.len() >= MAX_LIVE {
                    return false;
                }
                let (authority, m) = &self.merchants[merchant];
                self.opened += 1;
                let order = OrderId::new(&format!("R-{}", self.opened)).expect("order id");
                let expires = self.env.now().await + ttl;
                let (ix, address) = p
                    .invoice_open(&m.authority, &m.address, &order, amount, expires)
                    .expect("builds");
                let signer = authority.insecure_clone();
                if let Err(refused) = self.env.attempt(&[ix], &[&signer]).await {
                    let rule = refused
                        .rule(&FRAMEWORK_REFUSALS)
                        .unwrap_or_else(|e| panic!("{op:?} was refused by no named rule: {e}"));
                    *self.refusals.entry(rule).or_default() += 1;
                    return false;
                }
                self.payments.push((address, merchant));
                self.cache.push(None);
                let k = self.payments.len() - 1;
                self.live.push(k);
                self.touched = Some(k);
                self.reread(k).await;
                return true;
            }
            _ => {
                let Some(k) = self.pick(
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
                self.touched = Some(k);
                let (payment, mi) = self.payments[k];
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
        let k = self.touched.expect("a payment");
        match self.env.attempt(&[ix], &signers).await {
            Ok(()) => {
                self.reread(k).await;
                true
            }
            Err(refused) => {
                let rule = refused
                    .rule(&FRAMEWORK_REFUSALS)
                    .unwrap_or_else(|e| panic!("{op:?} was refused by no named rule: {e}"));
                *self.refusals.entry(rule).or_default() += 1;
                let tokens = self.token_state().await;
                assert_eq!(self.tokens, tokens, "{op:?} was rejected but moved tokens");
                let address = self.payments[k].0;
                let now = self.payment(&address).await;
                assert_eq!(
                    Self::fingerprint(&now),
                    Self::fingerprint(&self.cache[k]),
                    "{op:?} was rejected but changed the payment"
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
            sim.tokens = sim.token_state().await;
            let started = std::time::Instant::now();
            for (step, op) in ops.iter().enumerate() {
                sim.touched = None;
                if step % 1_024 == 0 {
                    sim.top_up().await;
                    sim.tokens = sim.token_state().await;
                }
                if sim.apply(op).await {
                    sim.landed += 1;
                }
                sim.check_invariants(step, op).await;
                if step % 50_000 == 49_999 {
                    eprintln!(
                        "randomized lifecycle: {} steps in {:.1} s, {} live payments",
                        step + 1,
                        started.elapsed().as_secs_f64(),
                        sim.live.len()
                    );
                }
            }
            // A run where almost nothing lands would prove nothing.
            assert!(sim.landed * 4 >= ops.len(), "only {} of {} operations landed", sim.landed, ops.len());
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "randomized lifecycle: {} operations, {} transactions sent ({} landed, {} refused by a named rule) over {} payments in {secs:.1} s ({:.0} ops/s); refusals: {:?}",
                ops.len(), sim.landed + sim.refusals.values().sum::<usize>(), sim.landed, sim.refusals.values().sum::<usize>(), sim.payments.len(), ops.len() as f64 / secs, sim.refusals
            );
        });
    }
}
