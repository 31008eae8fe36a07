//! kassa_credit: the waterfall with exact numbers, deposits and their rules, the line state
//! machine (and the Huma V1 failure made impossible), fee withdrawal once, receivable advances
//! repaid by a capture through the payments program, a voided advance turned into debt;
//! `attacks` tries every instruction with the wrong signers and accounts, `randomized` drives
//! long random sequences checking the pool identity after every step.

mod attacks;
mod randomized;

use crate::harness::*;
use anchor_spl::token_2022::spl_token_2022;
use kassa_credit::{
    error::CreditError,
    instructions::{LineApproveArgs, PoolCreateArgs},
    math::RAW_PER_TOKEN,
    state::{
        Advance, CreditLine, CreditPool, EpochRecord, LenderRedemption, LineKind, LineStatus,
        Tranche,
    },
};
use kassa_sdk::pda::credit::share_escrow;
use kassa_sdk::{
    credit::{Credit, CreditPoolRef},
    decode::CreditEvent,
    payments::MintRef,
};
use proptest::prelude::*;
use solana_program_test::BanksClientError;
use solana_sdk::{
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};

const USD: u64 = 1_000_000;

/// What the underwriter does to a line, one instruction each.
#[derive(Debug, Clone, Copy)]
enum UnderwriterAction {
    Restore,
    Impair(u64),
    ReverseImpairment(u64),
    WriteOff,
}

impl UnderwriterAction {
    fn ix(
        self,
        c: &Credit,
        underwriter: &Pubkey,
        pool: &CreditPoolRef,
        borrower: &Pubkey,
    ) -> solana_sdk::instruction::Instruction {
        match self {
            Self::Restore => c.line_restore(underwriter, pool, borrower),
            Self::Impair(a) => c.line_impair(underwriter, pool, borrower, a),
            Self::ReverseImpairment(a) => c.line_impairment_reverse(underwriter, pool, borrower, a),
            Self::WriteOff => c.line_write_off(underwriter, pool, borrower),
        }
        .unwrap()
    }
}

/// The credit world: a USDC pool, its underwriter and protocol fee receiver.
struct CreditWorld {
    c: Credit,
    usdc: MintRef,
    pool: CreditPoolRef,
    underwriter: Keypair,
    protocol: Keypair,
    /// Every line approved through the fixture: `epoch_close` takes the active ones.
    lines: Vec<Pubkey>,
}

type Fx = Env<CreditWorld>;

/// The payments admin creates a USDC pool: senior up to 4× junior at a 6 % target, fees 10 %
/// (protocol) and 5 % (admin) of interest.
async fn fixture(allowlist: bool) -> Fx {
    let mut env = Env::new().await;
    let usdc = env.mint(spl_token_2022::ID, 6, None, None).await;
    env.vault_open(&usdc).await;
    let c = Credit::default();
    let underwriter = env.wallet().await;
    let protocol = env.wallet().await;
    let admin = env.admin.insecure_clone();
    let (ix, pool) = c
        .pool_create(
            &admin.pubkey(),
            &usdc,
            PoolCreateArgs {
                underwriter: underwriter.pubkey(),
                protocol_fee_receiver: protocol.pubkey(),
                senior_cap_bps: 40_000,
                senior_apr_bps: 600,
                protocol_fee_bps: 1_000,
                admin_fee_bps: 500,
                allowlist,
                epoch_seconds: 7 * DAY,
                max_line_limit: u64::MAX,
                max_active_lines: 16,
            },
        )
        .unwrap();
    let landed = env.send(&[ix], &[&admin]).await.expect("pool_create");
    assert!(matches!(
        landed.credit_events[..],
        [CreditEvent::PoolCreated(_)]
    ));
    env.fund(&usdc, &protocol.pubkey(), 0).await;
    env.fund(&usdc, &admin.pubkey(), 0).await;
    env.with(CreditWorld {
        c,
        usdc,
        pool,
        underwriter,
        protocol,
        lines: Vec::new(),
    })
}

impl Env<CreditWorld> {
    async fn pool_state(&mut self) -> CreditPool {
        self.fetch(&{ self.w.pool.address }).await
    }

    async fn line_state(&mut self, borrower: &Pubkey) -> CreditLine {
        let line = self.w.c.line(&{ self.w.pool }, borrower);
        self.fetch(&line).await
    }

    /// A funded lender with share accounts for both tranches.
    async fn lender(&mut self, amount: u64) -> Keypair {
        let k = self.wallet().await;
        self.fund(&{ self.w.usdc }, &k.pubkey(), amount).await;
        for t in [Tranche::Senior, Tranche::Junior] {
            let shares = self.w.pool.share_mint(t);
            self.fund(&shares, &k.pubkey(), 0).await;
        }
        k
    }

    async fn deposit(
        &mut self,
        lender: &Keypair,
        tranche: Tranche,
        amount: u64,
    ) -> Result<Landed, BanksClientError> {
        let allowlisted = self.pool_allowlist().await;
        let ix = self
            .w
            .c
            .tranche_deposit(
                &lender.pubkey(),
                &{ self.w.pool },
                tranche,
                amount,
                1,
                allowlisted,
            )
            .unwrap();
        self.send(&[ix], &[lender]).await
    }

    async fn pool_allowlist(&mut self) -> bool {
        self.pool_state().await.allowlist
    }

    async fn approve(
        &mut self,
        borrower: &Pubkey,
        merchant: Option<Pubkey>,
        args: LineApproveArgs,
    ) {
        let uw = self.w.underwriter.insecure_clone();
        let ix = self
            .w
            .c
            .line_approve(&uw.pubkey(), &{ self.w.pool }, borrower, merchant, args)
            .unwrap();
        self.send(&[ix], &[&uw]).await.expect("line_approve");
        let line = self.w.c.line(&{ self.w.pool }, borrower);
        self.w.lines.push(line);
    }

    /// A customer pays `owner`'s invoice `order` of `amount`; once its dispute window (the
    /// receivable policy's 3 days) has closed, the merchant takes an advance of `advance`.
    async fn sold_and_advanced(
        &mut self,
        m: &MerchantFixture,
        owner: &Keypair,
        customer: &Keypair,
        order: &str,
        amount: u64,
        advance: u64,
    ) -> Pubkey {
        let payment = self.invoice(m, owner, order, amount).await;
        self.fund(&{ self.w.usdc }, &customer.pubkey(), amount)
            .await;
        self.pay(m, &payment, customer).await.unwrap();
        self.warp(3 * DAY + 1).await;
        let ix = self
            .w
            .c
            .advance_take(
                &owner.pubkey(),
                &{ self.w.pool },
                &m.address,
                &payment,
                advance,
            )
            .unwrap();
        self.send(&[ix], &[owner]).await.expect("advance_take");
        payment
    }

    /// The protocol fee receiver withdraws the fees it is owed.
    async fn withdraw_protocol_fees(&mut self) -> Result<Landed, BanksClientError> {
        let protocol = self.w.protocol.insecure_clone();
        let ix = self
            .w
            .c
            .pool_fees_withdraw(&protocol.pubkey(), &{ self.w.pool })
            .unwrap();
        self.send(&[ix], &[&protocol]).await
    }

    /// `epoch_close` of epoch `id` with the pool's active lines (the fixture's lines that
    /// count in the pool's `active_lines`).
    async fn epoch_close_ix(&mut self, id: u64) -> solana_sdk::instruction::Instruction {
        let mut active = Vec::new();
        for line in self.w.lines.clone() {
            if self.fetch::<CreditLine>(&line).await.counted {
                active.push(line);
            }
        }
        let payer = self.payer();
        self.w
            .c
            .epoch_close(&payer.pubkey(), &{ self.w.pool }, id, &active)
            .unwrap()
    }

    async fn revolving(&mut self, limit: u64) -> Keypair {
        let borrower = self.wallet().await;
        self.fund(&{ self.w.usdc }, &borrower.pubkey(), 0).await;
        let now = self.now().await;
        self.approve(
            &borrower.pubkey(),
            None,
            LineApproveArgs {
                kind: LineKind::Revolving,
                limit,
                apr_bps: 1_200,
                late_apr_bps: 600,
                advance_rate_bps: 0,
                maturity: now + 365 * DAY,
                payment_interval: 30 * DAY,
                grace_seconds: 10 * DAY,
            },
        )
        .await;
        borrower
    }

    async fn underwrite(
        &mut self,
        borrower: &Pubkey,
        action: UnderwriterAction,
    ) -> Result<Landed, BanksClientError> {
        let uw = self.w.underwriter.insecure_clone();
        let ix = action.ix(&{ self.w.c }, &uw.pubkey(), &{ self.w.pool }, borrower);
        self.send(&[ix], &[&uw]).await
    }

    async fn refresh(&mut self, borrower: &Pubkey) -> Landed {
        let payer = self.payer();
        let ix = self
            .w
            .c
            .line_refresh(&payer.pubkey(), &{ self.w.pool }, borrower)
            .unwrap();
        self.send(&[ix], &[]).await.expect("refresh")
    }

    /// The pool identity of DESIGN.md §3.3, checked from the account and the vault.
    async fn check_books(&mut self) {
        let p = self.pool_state().await;
        let assets =
            u128::from(p.cash) + u128::from(p.principal) + u128::from(p.recognized - p.received);
        let claims = u128::from(p.senior_value)
            + u128::from(p.junior_value)
            + u128::from(p.protocol_fees)
            + u128::from(p.admin_fees)
            + u128::from(p.impaired_senior)
            + u128::from(p.impaired_junior)
            + u128::from(p.redemption_payable);
        assert_eq!(assets, claims, "pool identity: {p:?}");
        assert_eq!(
            self.balance(&{ self.w.pool.vault }).await,
            p.cash,
            "vault holds the booked cash"
        );
        assert_eq!(
            p.recognized,
            u64::try_from(p.accrued_raw / RAW_PER_TOKEN)
                .unwrap()
                .max(p.recognized)
        );
        // The pool's share counts are what it minted less what it burned; holders can only
        // burn more, never mint.
        for t in [Tranche::Senior, Tranche::Junior] {
            let supply = self.supply(&{ self.w.pool }.share_mint(t)).await;
            assert!(
                supply <= p.shares(t),
                "{t:?} supply {supply} > books {}",
                p.shares(t)
            );
            assert!(p.pending(t) <= p.shares(t));
            // Queued shares wait in the escrow; served ones are burned at the epoch's end.
            let escrow = share_escrow(&self.w.c.program_id, &self.w.pool.address, t).0;
            assert_eq!(self.balance(&escrow).await, p.pending(t), "{t:?} escrow");
        }
    }
}

/// The first credit event of a kind in a landed transaction.
macro_rules! event {
    ($landed:expr, $kind:ident) => {
        $landed
            .credit_events
            .iter()
            .find_map(|e| match e {
                CreditEvent::$kind(x) => Some(x.clone()),
                _ => None,
            })
            .expect(concat!(stringify!($kind), " event"))
    };
}

fn income(l: &Landed) -> Vec<kassa_credit::events::IncomeDistributed> {
    l.credit_events
        .iter()
        .filter_map(|e| match e {
            CreditEvent::IncomeDistributed(i) => Some(i.clone()),
            _ => None,
        })
        .collect()
}

/// floor(a × b × c / d) in u128: the test's own arithmetic, independent of the program's.
fn fl(a: u64, b: u64, c: u64, d: u128) -> u64 {
    (u128::from(a) * u128::from(b) * u128::from(c) / d) as u64
}

#[tokio::test]
async fn the_waterfall_pays_fees_then_senior_then_junior_and_losses_hit_junior_first() {
    let mut f = fixture(false).await;
    let junior = f.lender(1_000_000 * USD).await;
    let senior = f.lender(3_000_000 * USD).await;
    f.deposit(&junior, Tranche::Junior, 1_000_000 * USD)
        .await
        .unwrap();
    // The senior cap is 4× junior: 4,000,001 would be refused, 3,000,000 is fine.
    f.deposit(&senior, Tranche::Senior, 3_000_000 * USD)
        .await
        .unwrap();
    let borrower = f.revolving(2_000_000 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 2_000_000 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    f.check_books().await;

    // 30 days at 12 % on 2,000,000: the pool recognises it when anyone looks.
    f.warp(30 * DAY).await;
    let payer = f.payer();
    let ix = f.w.c.pool_accrue(&payer.pubkey(), &{ f.w.pool }).unwrap();
    let landed = f.send(&[ix], &[]).await.unwrap();
    let secs = 30 * DAY as u64;
    let interest = fl(2_000_000 * USD, 1_200, secs, RAW_PER_TOKEN);
    assert_eq!(interest, 19_726_027_397);
    let protocol = interest / 10;
    let admin = interest / 20;
    let senior_due = fl(3_000_000 * USD, 600, secs, RAW_PER_TOKEN);
    assert_eq!(senior_due, 14_794_520_547);
    let senior_part = senior_due.min(interest - protocol - admin);
    let junior_part = interest - protocol - admin - senior_part;
    assert_eq!(
        (protocol, admin, junior_part),
        (1_972_602_739, 986_301_369, 1_972_602_742)
    );
    let ev = income(&landed);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        (
            ev[0].income,
            ev[0].protocol_fee,
            ev[0].admin_fee,
            ev[0].senior,
            ev[0].junior
        ),
        (interest, protocol, admin, senior_part, junior_part)
    );
    let p = f.pool_state().await;
    assert_eq!(p.senior_value, 3_000_000 * USD + senior_part);
    assert_eq!(p.junior_value, 1_000_000 * USD + junior_part);
    f.check_books().await;

    // The borrower pays the interest it owes (rounded up: one unit above the pool's floor).
    f.refresh(&borrower.pubkey()).await;
    let line = f.line_state(&borrower.pubkey()).await;
    let owed = line.interest_owed().unwrap();
    assert_eq!(owed, interest + 1);
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), owed).await;
    let ix =
        f.w.c
            .line_repay(&borrower.pubkey(), &{ f.w.pool }, &borrower.pubkey(), owed)
            .unwrap();
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    let repaid = event!(landed, Repaid);
    assert_eq!(
        (repaid.fees, repaid.interest, repaid.principal),
        (0, owed, 0)
    );
    f.check_books().await;

    // Default and write-off: 2,000,000 of principal is lost, the junior tranche first.
    f.warp(45 * DAY).await;
    f.refresh(&borrower.pubkey()).await;
    let before = f.pool_state().await;
    let landed = f
        .underwrite(&borrower.pubkey(), UnderwriterAction::WriteOff)
        .await
        .unwrap();
    let wo = event!(landed, LineWrittenOff);
    let after = f.pool_state().await;
    // Income recognised by the write-off's own accrual was shared first, and the impairment
    // of the interest suspended when the line fell past due (junior's) was undone.
    let accrued: u64 = income(&landed).iter().map(|e| e.junior).sum();
    assert_eq!(before.impaired_senior, 0);
    let junior_before_loss = before.junior_value + accrued + before.impaired_junior;
    assert_eq!(wo.principal, 2_000_000 * USD);
    assert_eq!(
        wo.from_junior,
        junior_before_loss.min(wo.principal + wo.interest)
    );
    assert_eq!(after.junior_value, 0);
    assert_eq!(wo.from_senior, wo.principal + wo.interest - wo.from_junior);
    assert_eq!(after.principal, 0);
    let line = f.line_state(&borrower.pubkey()).await;
    assert_eq!(line.status, LineStatus::WrittenOff);
    f.check_books().await;

    // A deposit into a wiped-out junior tranche is refused (its shares are worth nothing).
    let late = f.lender(10 * USD).await;
    assert_err(
        f.deposit(&late, Tranche::Junior, 10 * USD).await,
        CreditError::TrancheWipedOut,
    );
    // Audit 2: recoveries after the write-off restore senior first (it took the last part of
    // the loss), then junior, with no fees; only what exceeds the loss is income.
    assert_eq!(
        (after.written_off_senior, after.written_off_junior),
        (wo.from_senior, wo.from_junior)
    );
    let pool = f.w.pool;
    let recover = |f: &Fx, amount| {
        f.w.c
            .line_repay(&borrower.pubkey(), &pool, &borrower.pubkey(), amount)
            .unwrap()
    };
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), 100 * USD).await;
    let ix = recover(&f, 100 * USD);
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    assert!(income(&landed).is_empty());
    let p = f.pool_state().await;
    assert_eq!(
        (p.senior_value, p.junior_value, p.protocol_fees),
        (after.senior_value + 100 * USD, 0, after.protocol_fees)
    );
    f.check_books().await;
    let rest = wo.from_senior - 100 * USD + wo.from_junior;
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), rest + 50 * USD)
        .await;
    let ix = recover(&f, rest + 50 * USD);
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    assert_eq!(
        income(&landed).iter().map(|e| e.income).collect::<Vec<_>>(),
        vec![50 * USD]
    );
    let p = f.pool_state().await;
    assert_eq!(p.senior_value, after.senior_value + wo.from_senior);
    assert!(p.junior_value >= wo.from_junior);
    assert_eq!((p.written_off_senior, p.written_off_junior), (0, 0));
    assert_eq!(f.line_state(&borrower.pubkey()).await.loss_outstanding, 0);
    f.check_books().await;
}

/// Audit 6: shares are priced from the pool's own count, so a holder burning its shares (the
/// first-depositor inflation attack) cannot make the next deposit worth less.
#[tokio::test]
async fn burning_shares_does_not_move_their_price() {
    let mut f = fixture(false).await;
    let first = f.lender(1_000 * USD).await;
    f.deposit(&first, Tranche::Junior, 1_000 * USD)
        .await
        .unwrap();
    let junior = { f.w.pool }.share_mint(Tranche::Junior);
    let minted = f.balance(&junior.ata(&first.pubkey())).await;
    f.burn(&junior, &first, minted - 1).await;
    let second = f.lender(1_000 * USD).await;
    f.deposit(&second, Tranche::Junior, 1_000 * USD)
        .await
        .unwrap();
    assert_eq!(f.balance(&junior.ata(&second.pubkey())).await, minted);
    let p = f.pool_state().await;
    assert_eq!(p.junior_shares, 2 * minted);
    assert_eq!(f.supply(&junior).await, minted + 1);
    f.check_books().await;
}

/// Audit 7: the admin's policy bounds the underwriter, who can never borrow itself; every role
/// rotates with the new key co-signing; a pause stops new exposure and nothing else.
#[tokio::test]
async fn the_admin_bounds_the_underwriter_rotates_roles_and_pauses_new_exposure() {
    use kassa_credit::{instructions::PoolPolicyArgs, state::PoolRole};
    let mut f = fixture(false).await;
    let (c, pool) = (f.w.c, f.w.pool);
    let admin = f.admin.insecure_clone();
    let uw = f.w.underwriter.insecure_clone();
    let lender = f.lender(20_000 * USD).await;
    f.deposit(&lender, Tranche::Junior, 10_000 * USD)
        .await
        .unwrap();
    let now = f.now().await;
    let terms = |limit| LineApproveArgs {
        kind: LineKind::Revolving,
        limit,
        apr_bps: 1_200,
        late_apr_bps: 600,
        advance_rate_bps: 0,
        maturity: now + 365 * DAY,
        payment_interval: 30 * DAY,
        grace_seconds: 10 * DAY,
    };
    let approve = |uw: &Keypair, borrower: &Pubkey, limit| {
        c.line_approve(&uw.pubkey(), &pool, borrower, None, terms(limit))
            .unwrap()
    };
    // The underwriter approving a line for itself.
    let ix = approve(&uw, &uw.pubkey(), USD);
    assert_err(
        f.send(&[ix], &[&uw]).await,
        CreditError::UnderwriterCannotBorrow,
    );
    // Only the admin sets the policy; the underwriter stays within it.
    let policy = |args| c.pool_policy_set(&admin.pubkey(), &pool, args).unwrap();
    let cap = PoolPolicyArgs {
        max_line_limit: Some(1_000 * USD),
        ..Default::default()
    };
    let ix = c.pool_policy_set(&uw.pubkey(), &pool, cap.clone()).unwrap();
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::NotPoolAdmin);
    let landed = f.send(&[policy(cap)], &[&admin]).await.unwrap();
    let p = event!(landed, PoolPolicyUpdated);
    assert_eq!((p.max_line_limit, p.paused), (1_000 * USD, false));
    let ix = approve(&uw, &Keypair::new().pubkey(), 1_000 * USD + 1);
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::LimitAbovePolicy);
    let borrower = f.revolving(1_000 * USD).await;
    let ix = c.line_draw(&borrower.pubkey(), &pool, 500 * USD).unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();

    // Paused: no new line, draw or deposit; repayments and redemptions go on.
    let pause = |paused| PoolPolicyArgs {
        paused: Some(paused),
        ..Default::default()
    };
    f.send(&[policy(pause(true))], &[&admin]).await.unwrap();
    let ix = approve(&uw, &Keypair::new().pubkey(), USD);
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::PoolPaused);
    let ix = c.line_draw(&borrower.pubkey(), &pool, USD).unwrap();
    assert_err(f.send(&[ix], &[&borrower]).await, CreditError::PoolPaused);
    assert_err(
        f.deposit(&lender, Tranche::Junior, USD).await,
        CreditError::PoolPaused,
    );
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), 600 * USD).await;
    let ix = c
        .line_repay(&borrower.pubkey(), &pool, &borrower.pubkey(), 100 * USD)
        .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    let ix = c
        .redemption_request(&lender.pubkey(), &pool, Tranche::Junior, USD, false)
        .unwrap();
    f.send(&[ix], &[&lender]).await.unwrap();
    f.send(&[policy(pause(false))], &[&admin]).await.unwrap();

    // Rotation: each role passes only to a key that co-signs; the old key is out.
    let next_uw = f.wallet().await;
    let ix = c
        .pool_role_transfer(
            &uw.pubkey(),
            &pool,
            &next_uw.pubkey(),
            PoolRole::Underwriter,
        )
        .unwrap();
    assert_err(
        f.send(&[ix], &[&uw, &next_uw]).await,
        CreditError::NotPoolAdmin,
    );
    let ix = c
        .pool_role_transfer(
            &admin.pubkey(),
            &pool,
            &next_uw.pubkey(),
            PoolRole::Underwriter,
        )
        .unwrap();
    let landed = f.send(&[ix], &[&admin, &next_uw]).await.unwrap();
    let t = event!(landed, PoolRoleTransferred);
    assert_eq!(
        (t.role, t.from, t.to),
        (PoolRole::Underwriter, uw.pubkey(), next_uw.pubkey())
    );
    let someone = Keypair::new().pubkey();
    let ix = approve(&uw, &someone, USD);
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::NotUnderwriter);
    let ix = approve(&next_uw, &someone, USD);
    f.send(&[ix], &[&next_uw]).await.unwrap();
    let next_admin = f.wallet().await;
    let next_receiver = f.wallet().await;
    let ix = c
        .pool_role_transfer(
            &admin.pubkey(),
            &pool,
            &next_receiver.pubkey(),
            PoolRole::ProtocolFeeReceiver,
        )
        .unwrap();
    f.send(&[ix], &[&admin, &next_receiver]).await.unwrap();
    let ix = c
        .pool_role_transfer(
            &admin.pubkey(),
            &pool,
            &next_admin.pubkey(),
            PoolRole::Admin,
        )
        .unwrap();
    f.send(&[ix], &[&admin, &next_admin]).await.unwrap();
    assert_err(
        f.send(&[policy(pause(true))], &[&admin]).await,
        CreditError::NotPoolAdmin,
    );
    let p = f.pool_state().await;
    assert_eq!(
        (p.admin, p.underwriter, p.protocol_fee_receiver),
        (
            next_admin.pubkey(),
            next_uw.pubkey(),
            next_receiver.pubkey()
        )
    );
    f.check_books().await;
}

#[tokio::test]
async fn deposits_price_shares_after_interest_and_respect_cap_and_allowlist() {
    let mut f = fixture(true).await;
    let a = f.lender(10_000 * USD).await;
    // Not allowlisted yet.
    let ix =
        f.w.c
            .tranche_deposit(
                &a.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                1_000 * USD,
                1,
                false,
            )
            .unwrap();
    assert_err(f.send(&[ix], &[&a]).await, CreditError::LenderNotAllowed);
    let admin = f.admin.insecure_clone();
    let ix =
        f.w.c
            .lender_allow(&admin.pubkey(), &{ f.w.pool }, &a.pubkey())
            .unwrap();
    f.send(&[ix], &[&admin]).await.unwrap();
    let first = f.deposit(&a, Tranche::Junior, 1_000 * USD).await.unwrap();
    assert!(matches!(
        &first.credit_events[..],
        [CreditEvent::Deposited(d), CreditEvent::PoolBalances(b)]
            if d.shares == 1_000 * USD && b.junior_value == 1_000 * USD && b.cash == 1_000 * USD
    ));
    // Senior above 4× junior is refused; up to it is fine.
    assert_err(
        f.deposit(&a, Tranche::Senior, 4_000 * USD + 1).await,
        CreditError::SeniorCapExceeded,
    );
    f.deposit(&a, Tranche::Senior, 4_000 * USD).await.unwrap();
    // A borrower draws and 73 days of interest accrue: junior shares are worth more.
    let borrower = f.revolving(3_000 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 3_000 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    f.warp(73 * DAY).await;
    let b = f.lender(500 * USD).await;
    let ix =
        f.w.c
            .lender_allow(&admin.pubkey(), &{ f.w.pool }, &b.pubkey())
            .unwrap();
    f.send(&[ix], &[&admin]).await.unwrap();
    let landed = f.deposit(&b, Tranche::Junior, 500 * USD).await.unwrap();
    // The deposit recognised the interest first, then priced the shares.
    let ev = income(&landed);
    assert_eq!(ev.len(), 1, "interest recognised before pricing");
    let d = event!(landed, Deposited);
    let junior_value = d.junior_value - 500 * USD;
    assert!(junior_value > 1_000 * USD);
    assert_eq!(
        d.shares,
        fl(500 * USD, 1_000 * USD, 1, u128::from(junior_value))
    );
    // Slippage: a minimum above what the price gives is refused.
    let ix =
        f.w.c
            .tranche_deposit(&b.pubkey(), &{ f.w.pool }, Tranche::Junior, 1, 2, true)
            .unwrap();
    f.fund(&{ f.w.usdc }, &b.pubkey(), 1).await;
    assert_err(f.send(&[ix], &[&b]).await, CreditError::SlippageExceeded);

    // Audit 11: shares move freely, the allowlist still holds at the exit. A wallet that was
    // handed shares cannot redeem them; the allowlisted lender can.
    let outsider = f.lender(0).await;
    let junior = { f.w.pool }.share_mint(Tranche::Junior);
    let handed = 100 * USD;
    let ix = spl_token_2022::instruction::transfer_checked(
        &junior.token_program,
        &junior.ata(&a.pubkey()),
        &junior.mint,
        &junior.ata(&outsider.pubkey()),
        &a.pubkey(),
        &[],
        handed,
        6,
    )
    .unwrap();
    f.send(&[ix], &[&a]).await.unwrap();
    let ix =
        f.w.c
            .redemption_request(
                &outsider.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                handed,
                false,
            )
            .unwrap();
    assert_err(
        f.send(&[ix], &[&outsider]).await,
        CreditError::LenderNotAllowed,
    );
    let ix =
        f.w.c
            .redemption_request(&a.pubkey(), &{ f.w.pool }, Tranche::Junior, handed, true)
            .unwrap();
    f.send(&[ix], &[&a]).await.unwrap();
    f.check_books().await;
}

#[tokio::test]
async fn lines_go_delayed_and_defaulted_by_time_and_only_the_underwriter_restores_them() {
    let mut f = fixture(false).await;
    let j = f.lender(10_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 10_000 * USD).await.unwrap();
    let borrower = f.revolving(1_000 * USD).await;
    // Over the limit, over the pool's cash, by someone else: refused.
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 1_000 * USD + 1)
            .unwrap();
    assert_err(f.send(&[ix], &[&borrower]).await, CreditError::OverLimit);
    let thief = f.wallet().await;
    let mut ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 10)
            .unwrap();
    ix.accounts[0].pubkey = thief.pubkey();
    assert_err(f.send(&[ix], &[&thief]).await, CreditError::NotBorrower);
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 1_000 * USD)
            .unwrap();
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    assert!(landed
        .credit_events
        .iter()
        .any(|e| matches!(e, CreditEvent::Drawn(d) if d.principal == 1_000 * USD)));

    // The first 30-day payment is missed: Delayed, late fees accrue, no more draws.
    f.warp(31 * DAY).await;
    let landed = f.refresh(&borrower.pubkey()).await;
    assert!(landed.credit_events.iter().any(|e| matches!(e,
        CreditEvent::LineStatusChanged(s) if s.from == LineStatus::GoodStanding && s.to == LineStatus::Delayed)));
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 1)
            .unwrap();
    assert_err(
        f.send(&[ix], &[&borrower]).await,
        CreditError::LineNotInGoodStanding,
    );
    f.warp(DAY).await;

    // Paying everything overdue does not restore good standing by itself (the Huma V1 bug).
    f.refresh(&borrower.pubkey()).await;
    let line = f.line_state(&borrower.pubkey()).await;
    let owed = line.interest_owed().unwrap() + line.fees_owed().unwrap() + 10;
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), owed).await;
    let ix =
        f.w.c
            .line_repay(&borrower.pubkey(), &{ f.w.pool }, &borrower.pubkey(), owed)
            .unwrap();
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    let r = event!(landed, Repaid);
    assert!(r.fees > 0, "late fees paid first");
    assert!(
        r.interest > 0 && r.principal > 0,
        "then interest, then principal: {r:?}"
    );
    assert_eq!(
        f.line_state(&borrower.pubkey()).await.status,
        LineStatus::Delayed
    );
    // Only the underwriter restores it.
    let uw_ix = UnderwriterAction::Restore.ix(
        &{ f.w.c },
        &borrower.pubkey(),
        &{ f.w.pool },
        &borrower.pubkey(),
    );
    assert_err(
        f.send(&[uw_ix], &[&borrower]).await,
        CreditError::NotUnderwriter,
    );
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
        .await
        .unwrap();
    assert_eq!(
        f.line_state(&borrower.pubkey()).await.status,
        LineStatus::GoodStanding
    );
    assert_err(
        f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
            .await,
        CreditError::LineAlreadyInGoodStanding,
    );

    // Missed again, and past the 10-day grace: Defaulted.
    f.warp(31 * DAY).await;
    f.refresh(&borrower.pubkey()).await;
    assert_err(
        f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
            .await,
        CreditError::LineHasOverdue,
    );
    f.warp(11 * DAY).await;
    let landed = f.refresh(&borrower.pubkey()).await;
    assert!(landed.credit_events.iter().any(|e| matches!(e,
        CreditEvent::LineStatusChanged(s) if s.to == LineStatus::Defaulted)));

    // Impairment marks value down junior first and is reversible; not beyond the debt.
    let p0 = f.pool_state().await;
    let line = f.line_state(&borrower.pubkey()).await;
    assert_err(
        f.underwrite(
            &borrower.pubkey(),
            UnderwriterAction::Impair(line.total_owed().unwrap() + 1_000),
        )
        .await,
        CreditError::ImpairmentTooLarge,
    );
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Impair(400 * USD))
        .await
        .unwrap();
    let p1 = f.pool_state().await;
    // On top of the interest suspended (and impaired) when the line fell past due.
    let suspended = line.suspended_interest;
    assert!(suspended > 0);
    assert_eq!(p0.impaired_junior, suspended);
    assert_eq!(p1.impaired_junior, 400 * USD + suspended);
    assert!(p1.junior_value + 400 * USD >= p0.junior_value);
    f.underwrite(
        &borrower.pubkey(),
        UnderwriterAction::ReverseImpairment(150 * USD),
    )
    .await
    .unwrap();
    assert_eq!(f.pool_state().await.impaired_junior, 250 * USD + suspended);
    // The automatic part is reversed only as the interest is paid.
    assert_err(
        f.underwrite(
            &borrower.pubkey(),
            UnderwriterAction::ReverseImpairment(250 * USD + 1),
        )
        .await,
        CreditError::ReversalTooLarge,
    );
    f.check_books().await;
}

#[tokio::test]
async fn fees_are_withdrawn_once_by_their_owner() {
    let mut f = fixture(false).await;
    let j = f.lender(10_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 10_000 * USD).await.unwrap();
    let borrower = f.revolving(5_000 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 5_000 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    f.warp(60 * DAY).await;
    let payer = f.payer();
    let ix = f.w.c.pool_accrue(&payer.pubkey(), &{ f.w.pool }).unwrap();
    f.send(&[ix], &[]).await.unwrap();
    let p = f.pool_state().await;
    assert!(p.protocol_fees > 0 && p.admin_fees > 0);

    let stranger = f.wallet().await;
    f.fund(&{ f.w.usdc }, &stranger.pubkey(), 0).await;
    let ix =
        f.w.c
            .pool_fees_withdraw(&stranger.pubkey(), &{ f.w.pool })
            .unwrap();
    assert_err(
        f.send(&[ix], &[&stranger]).await,
        CreditError::NotFeeReceiver,
    );

    let protocol = f.w.protocol.insecure_clone();
    let ix =
        f.w.c
            .pool_fees_withdraw(&protocol.pubkey(), &{ f.w.pool })
            .unwrap();
    f.send(&[ix.clone()], &[&protocol]).await.unwrap();
    let got = f.balance(&{ f.w.usdc }.ata(&protocol.pubkey())).await;
    assert_eq!(got, p.protocol_fees);
    // Nothing more is payable until more interest is recognised in the same second.
    assert_err(
        f.send(&[ix], &[&protocol]).await,
        CreditError::NothingToWithdraw,
    );
    let admin = f.admin.insecure_clone();
    let ix =
        f.w.c
            .pool_fees_withdraw(&admin.pubkey(), &{ f.w.pool })
            .unwrap();
    f.send(&[ix], &[&admin]).await.unwrap();
    assert_eq!(
        f.balance(&{ f.w.usdc }.ata(&admin.pubkey())).await,
        p.admin_fees
    );
    f.check_books().await;
}

/// A merchant with a receivable line (80 % advance rate) and an authorized payment of `amount`
/// whose dispute window has just closed.
async fn receivable_setup(f: &mut Fx, amount: u64) -> (Keypair, MerchantFixture, Pubkey, Keypair) {
    let j = f.lender(100_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 100_000 * USD).await.unwrap();
    let (owner, m) = f.merchant(&{ f.w.usdc }, receivable_policy()).await;
    let now = f.now().await;
    f.approve(
        &owner.pubkey(),
        Some(m.address),
        LineApproveArgs {
            kind: LineKind::Receivable,
            limit: 50_000 * USD,
            apr_bps: 1_000,
            late_apr_bps: 500,
            advance_rate_bps: 8_000,
            maturity: now + 180 * DAY,
            payment_interval: 30 * DAY,
            grace_seconds: 5 * DAY,
        },
    )
    .await;
    let payment = f.invoice(&m, &owner, "ORDER-ADV-1", amount).await;
    let payer = f.wallet().await;
    f.fund(&{ f.w.usdc }, &payer.pubkey(), amount).await;
    f.pay(&m, &payment, &payer).await.unwrap();
    f.warp(3 * DAY + 1).await;
    (owner, m, payment, payer)
}

#[tokio::test]
async fn an_advance_is_repaid_first_from_the_payments_capture() {
    let mut f = fixture(false).await;
    let (owner, m, payment, payer) = receivable_setup(&mut f, 1_000 * USD).await;
    // Above 80 % of the escrow: refused.
    let ix =
        f.w.c
            .advance_take(
                &owner.pubkey(),
                &{ f.w.pool },
                &m.address,
                &payment,
                800 * USD + 1,
            )
            .unwrap();
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::AdvanceAboveRate,
    );
    let ix =
        f.w.c
            .advance_take(
                &owner.pubkey(),
                &{ f.w.pool },
                &m.address,
                &payment,
                800 * USD,
            )
            .unwrap();
    let landed = f.send(&[ix], &[&owner]).await.unwrap();
    assert!(landed
        .credit_events
        .iter()
        .any(|e| matches!(e, CreditEvent::AdvanceTaken(a) if a.amount == 800 * USD)));
    // The payments program recorded the assignment (its own event, through CPI).
    assert!(landed
        .events
        .iter()
        .any(|e| e.name() == "ReceivableAssigned"));
    let advance_vault = kassa_sdk::pda::credit::advance_vault(&{ f.w.c.program_id }, &payment).0;
    let p = f.payment(&payment).await;
    assert_eq!((p.assignee, p.assigned), (advance_vault, 800 * USD));
    assert_eq!(
        f.balance(&{ f.w.usdc }.ata(&owner.pubkey())).await,
        800 * USD
    );
    // One payment backs one advance, and an unsettled advance stays open.
    let ix =
        f.w.c
            .advance_take(&owner.pubkey(), &{ f.w.pool }, &m.address, &payment, 1)
            .unwrap();
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::ReceivableAlreadyAssigned,
    );
    let close =
        f.w.c
            .advance_close(&payer.pubkey(), &{ f.w.pool }, &owner.pubkey(), &payment)
            .unwrap();
    assert_err(
        f.send(&[close.clone()], &[&payer]).await,
        CreditError::AdvanceNotSettled,
    );

    // Five days later the merchant captures: the advance's account is paid first.
    f.warp(5 * DAY).await;
    let refs = f.settlement(&m, &payment, Some(advance_vault));
    let ix =
        f.p.payment_capture(&owner.pubkey(), &refs, 1_000 * USD)
            .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    assert_eq!(f.balance(&advance_vault).await, 800 * USD);
    // Anyone syncs: fees (none), five days of interest, then principal.
    let line_before = f.line_state(&owner.pubkey()).await;
    let caller = f.wallet().await;
    let ix =
        f.w.c
            .receivable_sync(&caller.pubkey(), &{ f.w.pool }, &owner.pubkey(), &payment)
            .unwrap();
    let landed = f.send(&[ix], &[&caller]).await.unwrap();
    let r = event!(landed, Repaid);
    let interest =
        (u128::from(800 * USD) * 1_000 * u128::from(5 * DAY as u64)).div_ceil(RAW_PER_TOKEN) as u64;
    assert_eq!(
        (r.fees, r.interest, r.principal),
        (0, interest, 800 * USD - interest)
    );
    let s = event!(landed, ReceivableSynced);
    assert!(s.settled && s.shortfall == 0 && s.arrived_total == 800 * USD);
    let line = f.line_state(&owner.pubkey()).await;
    assert_eq!(
        line.principal,
        line_before.principal - (800 * USD - interest)
    );
    assert_eq!(f.balance(&advance_vault).await, 0);
    let adv: Advance = f
        .fetch(&kassa_sdk::pda::credit::advance(&{ f.w.c.program_id }, &payment).0)
        .await;
    assert!(adv.settled);
    let ix =
        f.w.c
            .receivable_sync(&caller.pubkey(), &{ f.w.pool }, &owner.pubkey(), &payment)
            .unwrap();
    assert_err(f.send(&[ix], &[&caller]).await, CreditError::AdvanceSettled);
    f.check_books().await;

    // Audit 13: anyone closes the settled advance; the borrower gets the rent back, and the
    // payment's order id, once reused, can back a new advance.
    let advance = kassa_sdk::pda::credit::advance(&{ f.w.c.program_id }, &payment).0;
    let rent = f.lamports(&advance).await + f.lamports(&advance_vault).await;
    let before = f.lamports(&owner.pubkey()).await;
    let landed = f.send(&[close], &[&payer]).await.unwrap();
    let c = event!(landed, AdvanceClosed);
    assert_eq!(
        (c.rent_receiver, c.lamports, c.swept),
        (owner.pubkey(), rent, 0)
    );
    assert_eq!(f.lamports(&owner.pubkey()).await, before + rent);
    assert_eq!(f.lamports(&advance).await, 0);
    // The merchant settles what the first advance left on its line (a little principal and
    // its interest) right away.
    f.refresh(&owner.pubkey()).await;
    let owed = f.line_state(&owner.pubkey()).await.total_owed().unwrap();
    f.fund(&{ f.w.usdc }, &owner.pubkey(), owed).await;
    let ix =
        f.w.c
            .line_repay(&owner.pubkey(), &{ f.w.pool }, &owner.pubkey(), owed)
            .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    f.warp(31 * DAY).await;
    let ix =
        f.p.payment_close(&caller.pubkey(), &m.address, &payment, &owner.pubkey())
            .unwrap();
    f.send(&[ix], &[&caller]).await.unwrap();
    let again = f
        .sold_and_advanced(&m, &owner, &payer, "ORDER-ADV-1", 1_000 * USD, 100 * USD)
        .await;
    // The same order id, so the same address: a second advance on it.
    assert_eq!(again, payment);
    f.check_books().await;
}

/// Audit 5: an advance is secured by its receivable. Refused: a payment of another merchant,
/// a held or already assigned one, one the payer can still dispute, one paid by the merchant
/// itself, one whose authorization is about to end, and any from a suspended merchant. Once
/// advanced, the merchant cannot void the payment; compliance can still reject it (sanctioned
/// funds go back first), and what did not arrive stays debt on the line.
#[tokio::test]
async fn advances_are_refused_on_what_cannot_repay_them() {
    let mut f = fixture(false).await;
    let (owner, m, payment, payer) = receivable_setup(&mut f, 1_000 * USD).await;
    let (pool, usdc) = (f.w.pool, f.w.usdc);
    let take = |f: &Fx, payment: &Pubkey, amount: u64| {
        f.w.c
            .advance_take(&owner.pubkey(), &pool, &m.address, payment, amount)
            .unwrap()
    };
    // A payment of another merchant.
    let (other_owner, other) = f.merchant(&usdc, receivable_policy()).await;
    let foreign = f.invoice(&other, &other_owner, "ORDER-X", 100 * USD).await;
    let p2 = f.wallet().await;
    f.fund(&usdc, &p2.pubkey(), 100 * USD).await;
    f.pay(&other, &foreign, &p2).await.unwrap();
    let ix = take(&f, &foreign, 10);
    assert_err(f.send(&[ix], &[&owner]).await, CreditError::ForeignPayment);
    // A held payment.
    let compliance = f.compliance.insecure_clone();
    let ix =
        f.p.hold_place(&compliance.pubkey(), &payment, [1; 32])
            .unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();
    let ix = take(&f, &payment, 10);
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::PaymentNotAuthorized,
    );
    let ix = f.p.hold_release(&compliance.pubkey(), &payment).unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();
    // Assigned directly by the merchant to someone else first.
    let second = f.invoice(&m, &owner, "ORDER-ADV-2", 100 * USD).await;
    f.fund(&usdc, &payer.pubkey(), 100 * USD).await;
    f.pay(&m, &second, &payer).await.unwrap();
    // Still inside its dispute window.
    let ix = take(&f, &second, 10);
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::PaymentDisputable,
    );
    let ix =
        f.p.receivable_assign(
            &owner.pubkey(),
            &m.address,
            &second,
            &usdc.ata(&owner.pubkey()),
            10,
        )
        .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    f.warp(3 * DAY + 1).await;
    let ix = take(&f, &second, 10);
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::ReceivableAlreadyAssigned,
    );
    // Paid by the merchant itself: no customer owes anything.
    let own = f.invoice(&m, &owner, "ORDER-SELF", 100 * USD).await;
    f.fund(&usdc, &owner.pubkey(), 100 * USD).await;
    f.pay(&m, &own, &owner).await.unwrap();
    f.warp(3 * DAY + 1).await;
    let ix = take(&f, &own, 10);
    assert_err(f.send(&[ix], &[&owner]).await, CreditError::SelfPaidPayment);
    // A suspended merchant takes nothing new.
    let ix =
        f.p.merchant_kyb_suspend(&compliance.pubkey(), &m.address, [2; 32])
            .unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();
    let ix = take(&f, &payment, 10);
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::MerchantNotApproved,
    );
    let ix =
        f.p.merchant_kyb_attest(&compliance.pubkey(), &m.address, [3; 32])
            .unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();

    // An advance; the merchant may no longer void the payment.
    let ix = take(&f, &payment, 500 * USD);
    f.send(&[ix], &[&owner]).await.unwrap();
    let refs = f.release(&m, &payment, &payer.pubkey());
    let ix =
        f.p.payment_void(&owner.pubkey(), &m.address, &refs)
            .unwrap();
    assert_err(
        f.send(&[ix], &[&owner]).await,
        kassa_payments::error::PaymentsError::AssignedPaymentNotVoidable,
    );
    // Compliance rejects it all the same: the payer is repaid, the advance becomes line debt.
    let ix =
        f.p.hold_place(&compliance.pubkey(), &payment, [4; 32])
            .unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();
    let ix =
        f.p.hold_reject(&compliance.pubkey(), &refs, [4; 32])
            .unwrap();
    f.send(&[ix], &[&compliance]).await.unwrap();
    assert_eq!(f.balance(&usdc.ata(&payer.pubkey())).await, 1_000 * USD);
    let caller = f.wallet().await;
    let ix =
        f.w.c
            .receivable_sync(&caller.pubkey(), &pool, &owner.pubkey(), &payment)
            .unwrap();
    let landed = f.send(&[ix], &[&caller]).await.unwrap();
    let s = event!(landed, ReceivableSynced);
    assert!(s.settled);
    assert_eq!(s.shortfall, 500 * USD);
    assert_eq!(f.line_state(&owner.pubkey()).await.principal, 500 * USD);

    // An authorization with less than a day left cannot back an advance.
    let late = f.invoice(&m, &owner, "ORDER-LATE", 100 * USD).await;
    f.fund(&usdc, &payer.pubkey(), 100 * USD).await;
    f.pay(&m, &late, &payer).await.unwrap();
    f.warp(29 * DAY + 1).await;
    let ix = take(&f, &late, 10);
    assert_err(
        f.send(&[ix], &[&owner]).await,
        CreditError::AuthorizationEndingSoon,
    );
    f.check_books().await;
}

#[tokio::test]
async fn the_wrong_authority_or_account_type_is_refused_everywhere() {
    let mut f = fixture(false).await;
    let stranger = f.wallet().await;
    // Pool creation needs the payments admin.
    let other_mint = f.mint(spl_token_2022::ID, 6, None, None).await;
    let (ix, _) =
        f.w.c
            .pool_create(
                &stranger.pubkey(),
                &other_mint,
                PoolCreateArgs {
                    underwriter: stranger.pubkey(),
                    protocol_fee_receiver: stranger.pubkey(),
                    senior_cap_bps: 40_000,
                    senior_apr_bps: 600,
                    protocol_fee_bps: 1_000,
                    admin_fee_bps: 500,
                    allowlist: false,
                    epoch_seconds: 7 * DAY,
                    max_line_limit: u64::MAX,
                    max_active_lines: 16,
                },
            )
            .unwrap();
    assert_err(f.send(&[ix], &[&stranger]).await, CreditError::NotPoolAdmin);
    // A mint with a transfer fee cannot back a pool, nor one that can be paused or closed and
    // recreated (audit 9).
    let admin = f.admin.insecure_clone();
    let someone = Keypair::new().pubkey();
    for feature in [
        MintFeature::TransferFee(10, 1_000),
        MintFeature::Pausable(someone),
        MintFeature::CloseAuthority(someone),
    ] {
        let bad = f.mint_with(spl_token_2022::ID, 6, &[feature]).await;
        let (ix, _) =
            f.w.c
                .pool_create(
                    &admin.pubkey(),
                    &bad,
                    PoolCreateArgs {
                        underwriter: admin.pubkey(),
                        protocol_fee_receiver: admin.pubkey(),
                        senior_cap_bps: 40_000,
                        senior_apr_bps: 600,
                        protocol_fee_bps: 1_000,
                        admin_fee_bps: 500,
                        allowlist: false,
                        epoch_seconds: 7 * DAY,
                        max_line_limit: u64::MAX,
                        max_active_lines: 16,
                    },
                )
                .unwrap();
        assert_err(f.send(&[ix], &[&admin]).await, CreditError::UnsupportedMint);
    }
    // Lines are approved by the underwriter only.
    let now = f.now().await;
    let args = LineApproveArgs {
        kind: LineKind::Revolving,
        limit: 10,
        apr_bps: 100,
        late_apr_bps: 100,
        advance_rate_bps: 0,
        maturity: now + DAY,
        payment_interval: DAY,
        grace_seconds: 0,
    };
    let ix =
        f.w.c
            .line_approve(
                &stranger.pubkey(),
                &{ f.w.pool },
                &stranger.pubkey(),
                None,
                args.clone(),
            )
            .unwrap();
    assert_err(
        f.send(&[ix], &[&stranger]).await,
        CreditError::NotUnderwriter,
    );
    // A receivable line needs the merchant; a revolving one must not name one.
    let uw = f.w.underwriter.insecure_clone();
    let mut bad = args.clone();
    bad.kind = LineKind::Receivable;
    bad.advance_rate_bps = 5_000;
    let ix =
        f.w.c
            .line_approve(&uw.pubkey(), &{ f.w.pool }, &stranger.pubkey(), None, bad)
            .unwrap();
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::InvalidLineParams);
    // An advance rate above 90 % would leave no room for the capture's protocol fee.
    let (m_owner, m) = f.merchant(&{ f.w.usdc }, policy()).await;
    let mut greedy = args.clone();
    greedy.kind = LineKind::Receivable;
    greedy.advance_rate_bps = kassa_credit::constants::MAX_ADVANCE_RATE_BPS + 1;
    let ix =
        f.w.c
            .line_approve(
                &uw.pubkey(),
                &{ f.w.pool },
                &m_owner.pubkey(),
                Some(m.address),
                greedy.clone(),
            )
            .unwrap();
    assert_err(f.send(&[ix], &[&uw]).await, CreditError::InvalidLineParams);
    greedy.advance_rate_bps = kassa_credit::constants::MAX_ADVANCE_RATE_BPS;
    let ix =
        f.w.c
            .line_approve(
                &uw.pubkey(),
                &{ f.w.pool },
                &m_owner.pubkey(),
                Some(m.address),
                greedy,
            )
            .unwrap();
    f.send(&[ix], &[&uw]).await.unwrap();
    // Type cosplay: the pool passed where a line is expected.
    let borrower = f.revolving(10 * USD).await;
    let mut ix =
        f.w.c
            .line_refresh(&borrower.pubkey(), &{ f.w.pool }, &borrower.pubkey())
            .unwrap();
    ix.accounts[2].pubkey = f.w.pool.address;
    let err = f.send(&[ix], &[&borrower]).await.unwrap_err();
    assert!(custom_code(&err).is_some_and(|c| c < 6000), "{err:?}");
    // Fee withdrawal with nothing payable.
    assert_err(
        f.withdraw_protocol_fees().await,
        CreditError::NothingToWithdraw,
    );
}

#[tokio::test]
async fn redemptions_are_served_at_epoch_end_pro_rata_senior_first_within_the_cap() {
    let mut f = fixture(false).await;
    let j = f.lender(1_000 * USD).await;
    let s1 = f.lender(2_000 * USD).await;
    let s2 = f.lender(1_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 1_000 * USD).await.unwrap();
    f.deposit(&s1, Tranche::Senior, 2_000 * USD).await.unwrap();
    f.deposit(&s2, Tranche::Senior, 1_000 * USD).await.unwrap();
    // 3,400 lent out: 600 of cash stays.
    let borrower = f.revolving(3_400 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 3_400 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    // Both senior lenders queue everything; the junior lender queues half; s2 changes its mind
    // about a quarter.
    for (k, t, n) in [
        (&s1, Tranche::Senior, 2_000 * USD),
        (&s2, Tranche::Senior, 1_000 * USD),
        (&j, Tranche::Junior, 500 * USD),
    ] {
        let ix =
            f.w.c
                .redemption_request(&k.pubkey(), &{ f.w.pool }, t, n, false)
                .unwrap();
        f.send(&[ix], &[k]).await.unwrap();
    }
    let ix =
        f.w.c
            .redemption_cancel(&s2.pubkey(), &{ f.w.pool }, Tranche::Senior, 250 * USD)
            .unwrap();
    f.send(&[ix], &[&s2]).await.unwrap();
    let ix =
        f.w.c
            .redemption_cancel(&s2.pubkey(), &{ f.w.pool }, Tranche::Senior, 751 * USD)
            .unwrap();
    assert_err(
        f.send(&[ix], &[&s2]).await,
        CreditError::CancelExceedsRequest,
    );
    assert_eq!(
        f.balance(&{ f.w.pool }.share_mint(Tranche::Senior).ata(&s2.pubkey()))
            .await,
        250 * USD
    );
    // Not before the epoch ends.
    let ix = f.epoch_close_ix(0).await;
    assert_err(f.send(&[ix], &[]).await, CreditError::EpochNotEnded);
    f.warp(7 * DAY).await;
    let ix = f.epoch_close_ix(0).await;
    let landed = f.send(&[ix], &[]).await.unwrap();
    let closed: Vec<_> = landed
        .credit_events
        .iter()
        .filter_map(|e| match e {
            CreditEvent::EpochClosed(c) => Some(c.clone()),
            _ => None,
        })
        .collect();
    let p = f.pool_state().await;
    let senior_supply = 3_000 * USD;
    // Senior is served first, pro rata from the cash not owed to anyone else (600 less the
    // fees the week's interest owes).
    let available = p.cash - p.protocol_fees - p.admin_fees;
    assert!(available < 600 * USD && available > 590 * USD);
    let senior_value_before = closed[0].tranche_value + closed[0].paid;
    let worth = fl(
        2_750 * USD,
        senior_value_before,
        1,
        u128::from(senior_supply),
    );
    let served = fl(2_750 * USD, available, 1, u128::from(worth));
    assert_eq!(
        (closed[0].requested, closed[0].served),
        (2_750 * USD, served)
    );
    assert_eq!(
        closed[0].paid,
        fl(served, senior_value_before, 1, u128::from(senior_supply))
    );
    assert!(closed[0].paid <= available);
    // Junior gets what is left, within the senior cap.
    assert!(closed[1].paid <= available - closed[0].paid);
    assert!(kassa_credit::math::senior_within_cap(
        p.senior_value,
        p.junior_value,
        p.senior_cap_bps
    ));
    assert_eq!(p.pending_senior, 2_750 * USD - served);
    f.check_books().await;
    // Each lender withdraws its share; the rest waits for the next epoch.
    let before = f.balance(&{ f.w.usdc }.ata(&s1.pubkey())).await;
    let ix =
        f.w.c
            .redemption_withdraw(&s1.pubkey(), &{ f.w.pool }, Tranche::Senior, 0..1)
            .unwrap();
    f.send(&[ix], &[&s1]).await.unwrap();
    let got = f.balance(&{ f.w.usdc }.ata(&s1.pubkey())).await - before;
    assert_eq!(
        got,
        fl(
            2_000 * USD,
            closed[0].paid,
            1,
            u128::from(closed[0].requested)
        )
    );
    let ix =
        f.w.c
            .redemption_withdraw(&s1.pubkey(), &{ f.w.pool }, Tranche::Senior, 0..0)
            .unwrap();
    assert_err(f.send(&[ix], &[&s1]).await, CreditError::NothingToWithdraw);
    // Queuing more before settling an older epoch is refused for s2.
    let ix =
        f.w.c
            .redemption_request(&s2.pubkey(), &{ f.w.pool }, Tranche::Senior, 1, false)
            .unwrap();
    assert_err(
        f.send(&[ix], &[&s2]).await,
        CreditError::RedemptionNotSettled,
    );
    // The borrower repays; the next epoch serves everyone still waiting in full.
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), 3_500 * USD).await;
    let ix =
        f.w.c
            .line_repay(
                &borrower.pubkey(),
                &{ f.w.pool },
                &borrower.pubkey(),
                3_500 * USD,
            )
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    f.warp(7 * DAY).await;
    let ix = f.epoch_close_ix(1).await;
    f.send(&[ix], &[]).await.unwrap();
    let p = f.pool_state().await;
    assert_eq!(p.pending_senior, 0);
    // Another tranche's record in place of the epoch's own is refused.
    let mut ix =
        f.w.c
            .redemption_withdraw(&s1.pubkey(), &{ f.w.pool }, Tranche::Senior, 1..2)
            .unwrap();
    ix.accounts.last_mut().unwrap().pubkey = kassa_sdk::pda::credit::epoch(
        &{ f.w.c.program_id },
        &{ f.w.pool.address },
        Tranche::Junior,
        1,
    )
    .0;
    assert_err(
        f.send(&[ix], &[&s1]).await,
        CreditError::EpochRecordMismatch,
    );
    for (k, t) in [
        (&s1, Tranche::Senior),
        (&s2, Tranche::Senior),
        (&j, Tranche::Junior),
    ] {
        let ix =
            f.w.c
                .redemption_withdraw(&k.pubkey(), &{ f.w.pool }, t, 0..2)
                .unwrap();
        f.send(&[ix], &[k]).await.unwrap();
    }
    // Everything is settled and withdrawn: nothing is left to take.
    let ix =
        f.w.c
            .redemption_withdraw(&s1.pubkey(), &{ f.w.pool }, Tranche::Senior, 1..2)
            .unwrap();
    assert_err(f.send(&[ix], &[&s1]).await, CreditError::NothingToWithdraw);
    f.check_books().await;
    assert_eq!(
        f.balance(
            &kassa_sdk::pda::credit::share_escrow(
                &{ f.w.c.program_id },
                &{ f.w.pool.address },
                Tranche::Senior
            )
            .0
        )
        .await,
        0
    );
}

/// Audit 3: an epoch that paid nothing (every unit lent out) settles, so its lenders can cancel
/// or queue more; over all lenders the served shares and the cash add up to each record
/// exactly (the last settler takes what rounding left), so the queue's sums stay exact:
/// `Σ request shares = pending + Σ records' served_left`, and the escrow holds `pending`.
#[tokio::test]
async fn an_epoch_that_paid_nothing_settles_and_the_queue_adds_up() {
    let mut f = fixture(false).await;
    let mut lenders = Vec::new();
    for _ in 0..3 {
        let l = f.lender(1_000 * USD).await;
        f.deposit(&l, Tranche::Junior, 1_000 * USD).await.unwrap();
        lenders.push(l);
    }
    let borrower = f.revolving(3_000 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 3_000 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    // Odd share counts, so that pro-rata parts round.
    let queued = [333_333_333, 1, 2];
    for (l, n) in lenders.iter().zip(queued) {
        let ix =
            f.w.c
                .redemption_request(&l.pubkey(), &{ f.w.pool }, Tranche::Junior, n, false)
                .unwrap();
        f.send(&[ix], &[l]).await.unwrap();
    }
    f.warp(7 * DAY).await;
    let ix = f.epoch_close_ix(0).await;
    let landed = f.send(&[ix], &[]).await.unwrap();
    let closed = junior_closed(&landed);
    assert_eq!(
        (closed.served, closed.paid),
        (0, 0),
        "no cash: nothing served"
    );
    // The fees recognised meanwhile are owed, but there is no cash to pay them yet.
    assert!(f.pool_state().await.protocol_fees > 0);
    assert_err(
        f.withdraw_protocol_fees().await,
        CreditError::NothingToWithdraw,
    );
    f.check_books().await;

    // Settling the empty epoch succeeds; cancelling is then possible.
    let l0 = lenders[0].insecure_clone();
    let withdraw = |f: &Fx, l: &Keypair, epochs| {
        f.w.c
            .redemption_withdraw(&l.pubkey(), &{ f.w.pool }, Tranche::Junior, epochs)
            .unwrap()
    };
    let mut ix = withdraw(&f, &l0, 0..1);
    ix.accounts.last_mut().unwrap().is_writable = false;
    assert_err(
        f.send(&[ix], &[&l0]).await,
        CreditError::EpochRecordReadOnly,
    );
    let ix = withdraw(&f, &l0, 0..1);
    let landed = f.send(&[ix], &[&l0]).await.unwrap();
    let w = event!(landed, RedemptionWithdrawn);
    assert_eq!(
        (w.amount, w.waiting, w.settled, w.next_epoch),
        (0, queued[0], 1, 1)
    );
    let ix = withdraw(&f, &l0, 0..1);
    assert_err(f.send(&[ix], &[&l0]).await, CreditError::NothingToWithdraw);
    let ix =
        f.w.c
            .redemption_cancel(&l0.pubkey(), &{ f.w.pool }, Tranche::Junior, 3)
            .unwrap();
    f.send(&[ix], &[&l0]).await.unwrap();
    f.check_books().await;

    // Part of the loan comes back: the next epoch serves part of the queue.
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), 200_123_457).await;
    let ix =
        f.w.c
            .line_repay(
                &borrower.pubkey(),
                &{ f.w.pool },
                &borrower.pubkey(),
                200_123_457,
            )
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    f.warp(7 * DAY).await;
    let ix = f.epoch_close_ix(1).await;
    let landed = f.send(&[ix], &[]).await.unwrap();
    let closed = junior_closed(&landed);
    assert!(
        closed.served > 0 && closed.served < closed.requested,
        "{closed:?}"
    );
    let record_address = kassa_sdk::pda::credit::epoch(
        &{ f.w.c.program_id },
        &{ f.w.pool.address },
        Tranche::Junior,
        1,
    )
    .0;
    let (mut served, mut paid) = (0, 0);
    // The small requests settle first, the big one last: it takes what rounding left.
    for (i, l) in lenders.iter().enumerate().rev() {
        let request = kassa_sdk::pda::credit::redemption(
            &{ f.w.c.program_id },
            &{ f.w.pool.address },
            Tranche::Junior,
            &l.pubkey(),
        )
        .0;
        let before: LenderRedemption = f.fetch(&request).await;
        let ix = withdraw(&f, l, if i == 0 { 1..2 } else { 0..2 });
        let landed = f.send(&[ix], &[l]).await.unwrap();
        let w = event!(landed, RedemptionWithdrawn);
        let after: LenderRedemption = f.fetch(&request).await;
        served += before.shares - after.shares;
        paid += w.amount;
        let record: EpochRecord = f.fetch(&record_address).await;
        let p = f.pool_state().await;
        let waiting: u64 = {
            let mut sum = 0;
            for l in &lenders {
                let r = kassa_sdk::pda::credit::redemption(
                    &{ f.w.c.program_id },
                    &{ f.w.pool.address },
                    Tranche::Junior,
                    &l.pubkey(),
                )
                .0;
                sum += f.fetch::<LenderRedemption>(&r).await.shares;
            }
            sum
        };
        assert_eq!(waiting, p.pending_junior + record.served_left);
        f.check_books().await;
    }
    assert_eq!((served, paid), (closed.served, closed.paid));
    let record: EpochRecord = f.fetch(&record_address).await;
    assert_eq!(
        (record.requested_left, record.served_left, record.paid_left),
        (0, 0, 0)
    );
}

fn junior_closed(l: &Landed) -> kassa_credit::events::EpochClosed {
    l.credit_events
        .iter()
        .find_map(|e| match e {
            CreditEvent::EpochClosed(c) if c.tranche == Tranche::Junior => Some(c.clone()),
            _ => None,
        })
        .expect("junior EpochClosed")
}

/// Audit 4: a line past due goes on non-accrual before any redemption is served, even when
/// nobody refreshed it: `epoch_close` must bring every active line up to date, so an informed
/// lender cannot exit at a price that still counts overdue interest. Interest paid later is
/// income when it comes; restoring the line puts its rate back; the active-line count bounds
/// what `epoch_close` has to carry.
#[tokio::test]
async fn a_line_past_due_stops_raising_share_value_before_redemptions_are_served() {
    use kassa_credit::{instructions::PoolPolicyArgs, math::raw_rate};
    let mut f = fixture(false).await;
    let informed = f.lender(1_000 * USD).await;
    let other = f.lender(1_000 * USD).await;
    for l in [&informed, &other] {
        f.deposit(l, Tranche::Junior, 1_000 * USD).await.unwrap();
    }
    let borrower = f.revolving(1_500 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 1_500 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    assert_eq!(f.pool_state().await.active_lines, 1);
    let shares = f
        .balance(
            &{ f.w.pool }
                .share_mint(Tranche::Junior)
                .ata(&informed.pubkey()),
        )
        .await;
    let ix =
        f.w.c
            .redemption_request(
                &informed.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                shares,
                false,
            )
            .unwrap();
    f.send(&[ix], &[&informed]).await.unwrap();
    // The first interest payment was due after 30 days; nobody refreshes the line.
    f.warp(45 * DAY).await;
    let payer = f.payer();
    let ix =
        f.w.c
            .epoch_close(&payer.pubkey(), &{ f.w.pool }, 0, &[])
            .unwrap();
    assert_err(f.send(&[ix], &[]).await, CreditError::ActiveLinesMismatch);
    let line_key = f.w.c.line(&{ f.w.pool }, &borrower.pubkey());
    let mut ix =
        f.w.c
            .epoch_close(&payer.pubkey(), &{ f.w.pool }, 0, &[line_key])
            .unwrap();
    ix.accounts.last_mut().unwrap().is_writable = false;
    assert_err(f.send(&[ix], &[]).await, CreditError::ActiveLinesMismatch);
    let ix = f.epoch_close_ix(0).await;
    let landed = f.send(&[ix], &[]).await.unwrap();
    let delayed = event!(landed, LineStatusChanged);
    assert_eq!(
        (delayed.from, delayed.to),
        (LineStatus::GoodStanding, LineStatus::Delayed)
    );
    let closed = junior_closed(&landed);
    // The overdue interest was recognised and at once impaired: a share is worth no more than
    // it was paid in (the fees on that interest stay senior to the lenders).
    assert!(delayed.suspended_interest > 0);
    assert!(closed.served > 0);
    assert!(
        u128::from(closed.paid) <= u128::from(closed.served),
        "{closed:?}"
    );
    let p = f.pool_state().await;
    assert_eq!(p.impaired_junior, delayed.suspended_interest);
    assert_eq!(p.rate_raw, 0, "a line on non-accrual adds nothing");
    f.check_books().await;

    // Time passes: the pool recognises nothing from the line.
    f.warp(10 * DAY).await;
    let ix = f.w.c.pool_accrue(&payer.pubkey(), &{ f.w.pool }).unwrap();
    let landed = f.send(&[ix], &[]).await.unwrap();
    assert!(income(&landed).is_empty());
    assert_eq!(f.pool_state().await.recognized, p.recognized);

    // The borrower pays what it owes in interest and fees: the suspended part reverses its
    // impairment, the rest is income as it is paid.
    f.refresh(&borrower.pubkey()).await;
    let line = f.line_state(&borrower.pubkey()).await;
    let (interest, fees) = (line.interest_owed().unwrap(), line.fees_owed().unwrap());
    assert!(interest > line.suspended_interest);
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), interest + fees)
        .await;
    let ix =
        f.w.c
            .line_repay(
                &borrower.pubkey(),
                &{ f.w.pool },
                &borrower.pubkey(),
                interest + fees,
            )
            .unwrap();
    let landed = f.send(&[ix], &[&borrower]).await.unwrap();
    let shared: Vec<u64> = income(&landed).iter().map(|e| e.income).collect();
    assert_eq!(shared, vec![fees, interest - line.suspended_interest]);
    let p = f.pool_state().await;
    assert_eq!((p.impaired_junior, p.impaired_senior), (0, 0));
    assert_eq!(f.line_state(&borrower.pubkey()).await.suspended_interest, 0);
    f.check_books().await;
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
        .await
        .unwrap();
    assert_eq!(f.pool_state().await.rate_raw, raw_rate(1_500 * USD, 1_200));
    f.check_books().await;

    // At most `max_active_lines` lines owe at once: a second borrower waits until the first
    // has repaid everything.
    let admin = f.admin.insecure_clone();
    let ix =
        f.w.c
            .pool_policy_set(
                &admin.pubkey(),
                &{ f.w.pool },
                PoolPolicyArgs {
                    max_active_lines: Some(1),
                    ..Default::default()
                },
            )
            .unwrap();
    f.send(&[ix], &[&admin]).await.unwrap();
    let second = f.revolving(100 * USD).await;
    let ix =
        f.w.c
            .line_draw(&second.pubkey(), &{ f.w.pool }, USD)
            .unwrap();
    assert_err(
        f.send(&[ix.clone()], &[&second]).await,
        CreditError::TooManyActiveLines,
    );
    let owed = f.line_state(&borrower.pubkey()).await.total_owed().unwrap() + USD;
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), owed).await;
    let repay =
        f.w.c
            .line_repay(&borrower.pubkey(), &{ f.w.pool }, &borrower.pubkey(), owed)
            .unwrap();
    f.send(&[repay], &[&borrower]).await.unwrap();
    assert_eq!(f.pool_state().await.active_lines, 0);
    assert!(!f.line_state(&borrower.pubkey()).await.counted);
    f.send(&[ix], &[&second]).await.unwrap();
    assert_eq!(f.pool_state().await.active_lines, 1);
    f.check_books().await;
}
