//! kassa_credit: the waterfall with exact numbers, deposits and their rules, the line state
//! machine (and the Huma V1 failure made impossible), fee withdrawal once, receivable advances
//! repaid by a capture through the payments program, a voided advance turned into debt,
//! attacks per instruction, and a randomized run checking the pool identity after every step.

use crate::harness::*;
use anchor_spl::token_2022::spl_token_2022;
use kassa_credit::{
    error::CreditError,
    instructions::{LineApproveArgs, PoolCreateArgs},
    math::RAW_PER_TOKEN,
    state::{Advance, CreditLine, CreditPool, LineKind, LineStatus, Tranche},
};
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

fn ccode(e: CreditError) -> u32 {
    anchor_lang::error::ERROR_CODE_OFFSET + e as u32
}

fn expect_credit<T: std::fmt::Debug>(r: Result<T, BanksClientError>, e: CreditError) {
    assert_code(r, ccode(e));
}

struct Fx {
    env: Env,
    c: Credit,
    usdc: MintRef,
    pool: CreditPoolRef,
    underwriter: Keypair,
    protocol: Keypair,
}

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
    Fx {
        env,
        c,
        usdc,
        pool,
        underwriter,
        protocol,
    }
}

impl Fx {
    async fn pool_state(&mut self) -> CreditPool {
        self.env.fetch(&self.pool.address).await
    }

    async fn line_state(&mut self, borrower: &Pubkey) -> CreditLine {
        let line = self.c.line(&self.pool, borrower);
        self.env.fetch(&line).await
    }

    /// A funded lender with share accounts for both tranches.
    async fn lender(&mut self, amount: u64) -> Keypair {
        let k = self.env.wallet().await;
        self.env.fund(&self.usdc, &k.pubkey(), amount).await;
        for t in [Tranche::Senior, Tranche::Junior] {
            let shares = self.pool.share_mint(t);
            self.env.fund(&shares, &k.pubkey(), 0).await;
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
            .c
            .tranche_deposit(
                &lender.pubkey(),
                &self.pool,
                tranche,
                amount,
                1,
                allowlisted,
            )
            .unwrap();
        self.env.send(&[ix], &[lender]).await
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
        let uw = self.underwriter.insecure_clone();
        let ix = self
            .c
            .line_approve(&uw.pubkey(), &self.pool, borrower, merchant, args)
            .unwrap();
        self.env.send(&[ix], &[&uw]).await.expect("line_approve");
    }

    async fn revolving(&mut self, limit: u64) -> Keypair {
        let borrower = self.env.wallet().await;
        self.env.fund(&self.usdc, &borrower.pubkey(), 0).await;
        let now = self.env.now().await;
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
        let uw = self.underwriter.insecure_clone();
        let ix = action.ix(&self.c, &uw.pubkey(), &self.pool, borrower);
        self.env.send(&[ix], &[&uw]).await
    }

    async fn refresh(&mut self, borrower: &Pubkey) -> Landed {
        let payer = self.env.payer();
        let ix = self
            .c
            .line_refresh(&payer.pubkey(), &self.pool, borrower)
            .unwrap();
        self.env.send(&[ix], &[]).await.expect("refresh")
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
            self.env.balance(&self.pool.vault).await,
            p.cash,
            "vault holds the booked cash"
        );
        assert_eq!(
            p.recognized,
            u64::try_from(p.accrued_raw / RAW_PER_TOKEN)
                .unwrap()
                .max(p.recognized)
        );
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
        f.c.line_draw(&borrower.pubkey(), &f.pool, 2_000_000 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    f.check_books().await;

    // 30 days at 12 % on 2,000,000: the pool recognises it when anyone looks.
    f.env.warp(30 * DAY).await;
    let payer = f.env.payer();
    let ix = f.c.pool_accrue(&payer.pubkey(), &f.pool).unwrap();
    let landed = f.env.send(&[ix], &[]).await.unwrap();
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
    f.env.fund(&f.usdc, &borrower.pubkey(), owed).await;
    let ix =
        f.c.line_repay(&borrower.pubkey(), &f.pool, &borrower.pubkey(), owed)
            .unwrap();
    let landed = f.env.send(&[ix], &[&borrower]).await.unwrap();
    let repaid = event!(landed, Repaid);
    assert_eq!(
        (repaid.fees, repaid.interest, repaid.principal),
        (0, owed, 0)
    );
    f.check_books().await;

    // Default and write-off: 2,000,000 of principal is lost, the junior tranche first.
    f.env.warp(45 * DAY).await;
    f.refresh(&borrower.pubkey()).await;
    let before = f.pool_state().await;
    let landed = f
        .underwrite(&borrower.pubkey(), UnderwriterAction::WriteOff)
        .await
        .unwrap();
    let wo = event!(landed, LineWrittenOff);
    let after = f.pool_state().await;
    // Income recognised by the write-off's own accrual was shared first.
    let accrued: u64 = income(&landed).iter().map(|e| e.junior).sum();
    let junior_before_loss = before.junior_value + accrued;
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
    expect_credit(
        f.deposit(&late, Tranche::Junior, 10 * USD).await,
        CreditError::TrancheWipedOut,
    );
    // A recovery after the write-off is income.
    f.env.fund(&f.usdc, &borrower.pubkey(), 100 * USD).await;
    let ix =
        f.c.line_repay(&borrower.pubkey(), &f.pool, &borrower.pubkey(), 100 * USD)
            .unwrap();
    let landed = f.env.send(&[ix], &[&borrower]).await.unwrap();
    assert!(income(&landed).iter().any(|e| e.income == 100 * USD));
    f.check_books().await;
}

#[tokio::test]
async fn deposits_price_shares_after_interest_and_respect_cap_and_allowlist() {
    let mut f = fixture(true).await;
    let a = f.lender(10_000 * USD).await;
    // Not allowlisted yet.
    let ix =
        f.c.tranche_deposit(&a.pubkey(), &f.pool, Tranche::Junior, 1_000 * USD, 1, false)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&a]).await,
        CreditError::LenderNotAllowed,
    );
    let admin = f.env.admin.insecure_clone();
    let ix =
        f.c.lender_allow(&admin.pubkey(), &f.pool, &a.pubkey())
            .unwrap();
    f.env.send(&[ix], &[&admin]).await.unwrap();
    let first = f.deposit(&a, Tranche::Junior, 1_000 * USD).await.unwrap();
    assert!(matches!(
        &first.credit_events[..],
        [CreditEvent::Deposited(d), CreditEvent::PoolBalances(b)]
            if d.shares == 1_000 * USD && b.junior_value == 1_000 * USD && b.cash == 1_000 * USD
    ));
    // Senior above 4× junior is refused; up to it is fine.
    expect_credit(
        f.deposit(&a, Tranche::Senior, 4_000 * USD + 1).await,
        CreditError::SeniorCapExceeded,
    );
    f.deposit(&a, Tranche::Senior, 4_000 * USD).await.unwrap();
    // A borrower draws and 73 days of interest accrue: junior shares are worth more.
    let borrower = f.revolving(3_000 * USD).await;
    let ix =
        f.c.line_draw(&borrower.pubkey(), &f.pool, 3_000 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    f.env.warp(73 * DAY).await;
    let b = f.lender(500 * USD).await;
    let ix =
        f.c.lender_allow(&admin.pubkey(), &f.pool, &b.pubkey())
            .unwrap();
    f.env.send(&[ix], &[&admin]).await.unwrap();
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
        f.c.tranche_deposit(&b.pubkey(), &f.pool, Tranche::Junior, 1, 2, true)
            .unwrap();
    f.env.fund(&f.usdc, &b.pubkey(), 1).await;
    expect_credit(
        f.env.send(&[ix], &[&b]).await,
        CreditError::SlippageExceeded,
    );
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
        f.c.line_draw(&borrower.pubkey(), &f.pool, 1_000 * USD + 1)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&borrower]).await,
        CreditError::OverLimit,
    );
    let thief = f.env.wallet().await;
    let mut ix = f.c.line_draw(&borrower.pubkey(), &f.pool, 10).unwrap();
    ix.accounts[0].pubkey = thief.pubkey();
    expect_credit(f.env.send(&[ix], &[&thief]).await, CreditError::NotBorrower);
    let ix =
        f.c.line_draw(&borrower.pubkey(), &f.pool, 1_000 * USD)
            .unwrap();
    let landed = f.env.send(&[ix], &[&borrower]).await.unwrap();
    assert!(landed
        .credit_events
        .iter()
        .any(|e| matches!(e, CreditEvent::Drawn(d) if d.principal == 1_000 * USD)));

    // The first 30-day payment is missed: Delayed, late fees accrue, no more draws.
    f.env.warp(31 * DAY).await;
    let landed = f.refresh(&borrower.pubkey()).await;
    assert!(landed.credit_events.iter().any(|e| matches!(e,
        CreditEvent::LineStatusChanged(s) if s.from == LineStatus::GoodStanding && s.to == LineStatus::Delayed)));
    let ix = f.c.line_draw(&borrower.pubkey(), &f.pool, 1).unwrap();
    expect_credit(
        f.env.send(&[ix], &[&borrower]).await,
        CreditError::LineNotInGoodStanding,
    );
    f.env.warp(DAY).await;

    // Paying everything overdue does not restore good standing by itself (the Huma V1 bug).
    f.refresh(&borrower.pubkey()).await;
    let line = f.line_state(&borrower.pubkey()).await;
    let owed = line.interest_owed().unwrap() + line.fees_owed().unwrap() + 10;
    f.env.fund(&f.usdc, &borrower.pubkey(), owed).await;
    let ix =
        f.c.line_repay(&borrower.pubkey(), &f.pool, &borrower.pubkey(), owed)
            .unwrap();
    let landed = f.env.send(&[ix], &[&borrower]).await.unwrap();
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
    let uw_ix =
        UnderwriterAction::Restore.ix(&f.c, &borrower.pubkey(), &f.pool, &borrower.pubkey());
    expect_credit(
        f.env.send(&[uw_ix], &[&borrower]).await,
        CreditError::NotUnderwriter,
    );
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
        .await
        .unwrap();
    assert_eq!(
        f.line_state(&borrower.pubkey()).await.status,
        LineStatus::GoodStanding
    );
    expect_credit(
        f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
            .await,
        CreditError::LineAlreadyInGoodStanding,
    );

    // Missed again, and past the 10-day grace: Defaulted.
    f.env.warp(31 * DAY).await;
    f.refresh(&borrower.pubkey()).await;
    expect_credit(
        f.underwrite(&borrower.pubkey(), UnderwriterAction::Restore)
            .await,
        CreditError::LineHasOverdue,
    );
    f.env.warp(11 * DAY).await;
    let landed = f.refresh(&borrower.pubkey()).await;
    assert!(landed.credit_events.iter().any(|e| matches!(e,
        CreditEvent::LineStatusChanged(s) if s.to == LineStatus::Defaulted)));

    // Impairment marks value down junior first and is reversible; not beyond the debt.
    let p0 = f.pool_state().await;
    let line = f.line_state(&borrower.pubkey()).await;
    expect_credit(
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
    assert_eq!(p1.impaired_junior, 400 * USD);
    assert!(p1.junior_value + 400 * USD >= p0.junior_value);
    f.underwrite(
        &borrower.pubkey(),
        UnderwriterAction::ReverseImpairment(150 * USD),
    )
    .await
    .unwrap();
    assert_eq!(f.pool_state().await.impaired_junior, 250 * USD);
    f.check_books().await;
}

#[tokio::test]
async fn fees_are_withdrawn_once_by_their_owner() {
    let mut f = fixture(false).await;
    let j = f.lender(10_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 10_000 * USD).await.unwrap();
    let borrower = f.revolving(5_000 * USD).await;
    let ix =
        f.c.line_draw(&borrower.pubkey(), &f.pool, 5_000 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    f.env.warp(60 * DAY).await;
    let payer = f.env.payer();
    let ix = f.c.pool_accrue(&payer.pubkey(), &f.pool).unwrap();
    f.env.send(&[ix], &[]).await.unwrap();
    let p = f.pool_state().await;
    assert!(p.protocol_fees > 0 && p.admin_fees > 0);

    let stranger = f.env.wallet().await;
    f.env.fund(&f.usdc, &stranger.pubkey(), 0).await;
    let ix = f.c.pool_fees_withdraw(&stranger.pubkey(), &f.pool).unwrap();
    expect_credit(
        f.env.send(&[ix], &[&stranger]).await,
        CreditError::NotFeeReceiver,
    );

    let protocol = f.protocol.insecure_clone();
    let ix = f.c.pool_fees_withdraw(&protocol.pubkey(), &f.pool).unwrap();
    f.env.send(&[ix.clone()], &[&protocol]).await.unwrap();
    let got = f.env.balance(&f.usdc.ata(&protocol.pubkey())).await;
    assert_eq!(got, p.protocol_fees);
    // Nothing more is payable until more interest is recognised in the same second.
    expect_credit(
        f.env.send(&[ix], &[&protocol]).await,
        CreditError::NothingToWithdraw,
    );
    let admin = f.env.admin.insecure_clone();
    let ix = f.c.pool_fees_withdraw(&admin.pubkey(), &f.pool).unwrap();
    f.env.send(&[ix], &[&admin]).await.unwrap();
    assert_eq!(
        f.env.balance(&f.usdc.ata(&admin.pubkey())).await,
        p.admin_fees
    );
    f.check_books().await;
}

/// A merchant with a receivable line (80 % advance rate) and an authorized payment of `amount`.
async fn receivable_setup(f: &mut Fx, amount: u64) -> (Keypair, MerchantFixture, Pubkey, Keypair) {
    let j = f.lender(100_000 * USD).await;
    f.deposit(&j, Tranche::Junior, 100_000 * USD).await.unwrap();
    let (owner, m) = f.env.merchant(&f.usdc, policy()).await;
    let now = f.env.now().await;
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
    let payment = f.env.invoice(&m, &owner, "ORDER-ADV-1", amount).await;
    let payer = f.env.wallet().await;
    f.env.fund(&f.usdc, &payer.pubkey(), amount).await;
    f.env.pay(&m, &payment, &payer).await.unwrap();
    (owner, m, payment, payer)
}

#[tokio::test]
async fn an_advance_is_repaid_first_from_the_payments_capture() {
    let mut f = fixture(false).await;
    let (owner, m, payment, payer) = receivable_setup(&mut f, 1_000 * USD).await;
    // Above 80 % of the escrow: refused.
    let ix =
        f.c.advance_take(
            &owner.pubkey(),
            &f.pool,
            &m.address,
            &payment,
            800 * USD + 1,
        )
        .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&owner]).await,
        CreditError::AdvanceAboveRate,
    );
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &payment, 800 * USD)
            .unwrap();
    let landed = f.env.send(&[ix], &[&owner]).await.unwrap();
    assert!(landed
        .credit_events
        .iter()
        .any(|e| matches!(e, CreditEvent::AdvanceTaken(a) if a.amount == 800 * USD)));
    // The payments program recorded the assignment (its own event, through CPI).
    assert!(landed
        .events
        .iter()
        .any(|e| e.name() == "ReceivableAssigned"));
    let advance_vault = kassa_sdk::pda::credit::advance_vault(&f.c.program_id, &payment).0;
    let p = f.env.payment(&payment).await;
    assert_eq!((p.assignee, p.assigned), (advance_vault, 800 * USD));
    assert_eq!(f.env.balance(&f.usdc.ata(&owner.pubkey())).await, 800 * USD);
    // One payment backs one advance.
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &payment, 1)
            .unwrap();
    assert!(f.env.send(&[ix], &[&owner]).await.is_err());

    // Five days later the merchant captures: the advance's account is paid first.
    f.env.warp(5 * DAY).await;
    let refs = f.env.settlement(&m, &payment, Some(advance_vault));
    let ix = f
        .env
        .p
        .payment_capture(&owner.pubkey(), &refs, 1_000 * USD)
        .unwrap();
    f.env.send(&[ix], &[&owner]).await.unwrap();
    assert_eq!(f.env.balance(&advance_vault).await, 800 * USD);
    // Anyone syncs: fees (none), five days of interest, then principal.
    let line_before = f.line_state(&owner.pubkey()).await;
    let caller = f.env.wallet().await;
    let ix =
        f.c.receivable_sync(&caller.pubkey(), &f.pool, &owner.pubkey(), &payment)
            .unwrap();
    let landed = f.env.send(&[ix], &[&caller]).await.unwrap();
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
    assert_eq!(f.env.balance(&advance_vault).await, 0);
    let adv: Advance = f
        .env
        .fetch(&kassa_sdk::pda::credit::advance(&f.c.program_id, &payment).0)
        .await;
    assert!(adv.settled);
    let ix =
        f.c.receivable_sync(&caller.pubkey(), &f.pool, &owner.pubkey(), &payment)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&caller]).await,
        CreditError::AdvanceSettled,
    );
    f.check_books().await;
    let _ = payer;
}

#[tokio::test]
async fn advances_refuse_foreign_held_and_assigned_payments_and_a_void_leaves_the_debt() {
    let mut f = fixture(false).await;
    let (owner, m, payment, payer) = receivable_setup(&mut f, 1_000 * USD).await;
    // A payment of another merchant.
    let (other_owner, other) = f.env.merchant(&f.usdc, policy()).await;
    let foreign = f
        .env
        .invoice(&other, &other_owner, "ORDER-X", 100 * USD)
        .await;
    let p2 = f.env.wallet().await;
    f.env.fund(&f.usdc, &p2.pubkey(), 100 * USD).await;
    f.env.pay(&other, &foreign, &p2).await.unwrap();
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &foreign, 10)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&owner]).await,
        CreditError::ForeignPayment,
    );
    // A held payment.
    let compliance = f.env.compliance.insecure_clone();
    let ix = f
        .env
        .p
        .hold_place(&compliance.pubkey(), &payment, [1; 32])
        .unwrap();
    f.env.send(&[ix], &[&compliance]).await.unwrap();
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &payment, 10)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&owner]).await,
        CreditError::PaymentNotAuthorized,
    );
    let ix = f
        .env
        .p
        .hold_release(&compliance.pubkey(), &payment)
        .unwrap();
    f.env.send(&[ix], &[&compliance]).await.unwrap();
    // Assigned directly by the merchant to someone else first.
    let second = f.env.invoice(&m, &owner, "ORDER-ADV-2", 100 * USD).await;
    f.env.fund(&f.usdc, &payer.pubkey(), 100 * USD).await;
    f.env.pay(&m, &second, &payer).await.unwrap();
    let ix = f
        .env
        .p
        .receivable_assign(
            &owner.pubkey(),
            &m.address,
            &second,
            &f.usdc.ata(&owner.pubkey()),
            10,
        )
        .unwrap();
    f.env.send(&[ix], &[&owner]).await.unwrap();
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &second, 10)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&owner]).await,
        CreditError::ReceivableAlreadyAssigned,
    );

    // An advance on a payment the merchant then voids: nothing arrives, the debt stays.
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &payment, 500 * USD)
            .unwrap();
    f.env.send(&[ix], &[&owner]).await.unwrap();
    let refs = f.env.release(&m, &payment, &payer.pubkey());
    let ix = f
        .env
        .p
        .payment_void(&owner.pubkey(), &m.address, &refs)
        .unwrap();
    f.env.send(&[ix], &[&owner]).await.unwrap();
    let caller = f.env.wallet().await;
    let ix =
        f.c.receivable_sync(&caller.pubkey(), &f.pool, &owner.pubkey(), &payment)
            .unwrap();
    let landed = f.env.send(&[ix], &[&caller]).await.unwrap();
    let s = event!(landed, ReceivableSynced);
    assert!(s.settled);
    assert_eq!(s.shortfall, 500 * USD);
    assert_eq!(f.line_state(&owner.pubkey()).await.principal, 500 * USD);
    f.check_books().await;
}

#[tokio::test]
async fn the_wrong_authority_or_account_type_is_refused_everywhere() {
    let mut f = fixture(false).await;
    let stranger = f.env.wallet().await;
    // Pool creation needs the payments admin.
    let other_mint = f.env.mint(spl_token_2022::ID, 6, None, None).await;
    let (ix, _) =
        f.c.pool_create(
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
            },
        )
        .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&stranger]).await,
        CreditError::NotPoolAdmin,
    );
    // A mint with a transfer fee cannot back a pool.
    let taxed = f
        .env
        .mint(spl_token_2022::ID, 6, Some((10, 1_000)), None)
        .await;
    let admin = f.env.admin.insecure_clone();
    let (ix, _) =
        f.c.pool_create(
            &admin.pubkey(),
            &taxed,
            PoolCreateArgs {
                underwriter: admin.pubkey(),
                protocol_fee_receiver: admin.pubkey(),
                senior_cap_bps: 40_000,
                senior_apr_bps: 600,
                protocol_fee_bps: 1_000,
                admin_fee_bps: 500,
                allowlist: false,
                epoch_seconds: 7 * DAY,
            },
        )
        .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&admin]).await,
        CreditError::UnsupportedMint,
    );
    // Lines are approved by the underwriter only.
    let now = f.env.now().await;
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
        f.c.line_approve(
            &stranger.pubkey(),
            &f.pool,
            &stranger.pubkey(),
            None,
            args.clone(),
        )
        .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&stranger]).await,
        CreditError::NotUnderwriter,
    );
    // A receivable line needs the merchant; a revolving one must not name one.
    let uw = f.underwriter.insecure_clone();
    let mut bad = args.clone();
    bad.kind = LineKind::Receivable;
    bad.advance_rate_bps = 5_000;
    let ix =
        f.c.line_approve(&uw.pubkey(), &f.pool, &stranger.pubkey(), None, bad)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&uw]).await,
        CreditError::InvalidLineParams,
    );
    // An advance rate above 90 % would leave no room for the capture's protocol fee.
    let (m_owner, m) = f.env.merchant(&f.usdc, policy()).await;
    let mut greedy = args.clone();
    greedy.kind = LineKind::Receivable;
    greedy.advance_rate_bps = kassa_credit::constants::MAX_ADVANCE_RATE_BPS + 1;
    let ix =
        f.c.line_approve(
            &uw.pubkey(),
            &f.pool,
            &m_owner.pubkey(),
            Some(m.address),
            greedy.clone(),
        )
        .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&uw]).await,
        CreditError::InvalidLineParams,
    );
    greedy.advance_rate_bps = kassa_credit::constants::MAX_ADVANCE_RATE_BPS;
    let ix =
        f.c.line_approve(
            &uw.pubkey(),
            &f.pool,
            &m_owner.pubkey(),
            Some(m.address),
            greedy,
        )
        .unwrap();
    f.env.send(&[ix], &[&uw]).await.unwrap();
    // Type cosplay: the pool passed where a line is expected.
    let borrower = f.revolving(10 * USD).await;
    let mut ix =
        f.c.line_refresh(&borrower.pubkey(), &f.pool, &borrower.pubkey())
            .unwrap();
    ix.accounts[2].pubkey = f.pool.address;
    let err = f.env.send(&[ix], &[&borrower]).await.unwrap_err();
    assert!(custom_code(&err).is_some_and(|c| c < 6000), "{err:?}");
    // Fee withdrawal with nothing payable.
    let protocol = f.protocol.insecure_clone();
    let ix = f.c.pool_fees_withdraw(&protocol.pubkey(), &f.pool).unwrap();
    expect_credit(
        f.env.send(&[ix], &[&protocol]).await,
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
        f.c.line_draw(&borrower.pubkey(), &f.pool, 3_400 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    // Both senior lenders queue everything; the junior lender queues half; s2 changes its mind
    // about a quarter.
    for (k, t, n) in [
        (&s1, Tranche::Senior, 2_000 * USD),
        (&s2, Tranche::Senior, 1_000 * USD),
        (&j, Tranche::Junior, 500 * USD),
    ] {
        let ix = f.c.redemption_request(&k.pubkey(), &f.pool, t, n).unwrap();
        f.env.send(&[ix], &[k]).await.unwrap();
    }
    let ix =
        f.c.redemption_cancel(&s2.pubkey(), &f.pool, Tranche::Senior, 250 * USD)
            .unwrap();
    f.env.send(&[ix], &[&s2]).await.unwrap();
    let ix =
        f.c.redemption_cancel(&s2.pubkey(), &f.pool, Tranche::Senior, 751 * USD)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&s2]).await,
        CreditError::CancelExceedsRequest,
    );
    assert_eq!(
        f.env
            .balance(&f.pool.share_mint(Tranche::Senior).ata(&s2.pubkey()))
            .await,
        250 * USD
    );
    // Not before the epoch ends.
    let payer = f.env.payer();
    let ix = f.c.epoch_close(&payer.pubkey(), &f.pool, 0).unwrap();
    expect_credit(f.env.send(&[ix], &[]).await, CreditError::EpochNotEnded);
    f.env.warp(7 * DAY).await;
    let ix = f.c.epoch_close(&payer.pubkey(), &f.pool, 0).unwrap();
    let landed = f.env.send(&[ix], &[]).await.unwrap();
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
    let before = f.env.balance(&f.usdc.ata(&s1.pubkey())).await;
    let ix =
        f.c.redemption_withdraw(&s1.pubkey(), &f.pool, Tranche::Senior, 0..1)
            .unwrap();
    f.env.send(&[ix], &[&s1]).await.unwrap();
    let got = f.env.balance(&f.usdc.ata(&s1.pubkey())).await - before;
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
        f.c.redemption_withdraw(&s1.pubkey(), &f.pool, Tranche::Senior, 0..0)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&s1]).await,
        CreditError::NothingToWithdraw,
    );
    // Queuing more before settling an older epoch is refused for s2.
    let ix =
        f.c.redemption_request(&s2.pubkey(), &f.pool, Tranche::Senior, 1)
            .unwrap();
    expect_credit(
        f.env.send(&[ix], &[&s2]).await,
        CreditError::RedemptionNotSettled,
    );
    // The borrower repays; the next epoch serves everyone still waiting in full.
    f.env.fund(&f.usdc, &borrower.pubkey(), 3_500 * USD).await;
    let ix =
        f.c.line_repay(&borrower.pubkey(), &f.pool, &borrower.pubkey(), 3_500 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    f.env.warp(7 * DAY).await;
    let ix = f.c.epoch_close(&payer.pubkey(), &f.pool, 1).unwrap();
    f.env.send(&[ix], &[]).await.unwrap();
    let p = f.pool_state().await;
    assert_eq!(p.pending_senior, 0);
    for (k, t) in [
        (&s1, Tranche::Senior),
        (&s2, Tranche::Senior),
        (&j, Tranche::Junior),
    ] {
        let ix =
            f.c.redemption_withdraw(&k.pubkey(), &f.pool, t, 0..2)
                .unwrap();
        f.env.send(&[ix], &[k]).await.unwrap();
    }
    // A record of the wrong epoch is refused.
    let ix =
        f.c.redemption_withdraw(&s1.pubkey(), &f.pool, Tranche::Senior, 1..2)
            .unwrap();
    assert!(f.env.send(&[ix], &[&s1]).await.is_err());
    f.check_books().await;
    assert_eq!(
        f.env
            .balance(
                &kassa_sdk::pda::credit::share_escrow(
                    &f.c.program_id,
                    &f.pool.address,
                    Tranche::Senior
                )
                .0
            )
            .await,
        0
    );
}

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
        f.env.fund(&f.usdc, &b.pubkey(), 1_000_000 * USD).await;
        borrowers.push(b);
    }
    // A merchant with a receivable line, and its sales.
    let (owner, m) = f.env.merchant(&f.usdc, policy()).await;
    let now = f.env.now().await;
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
    let customer = f.env.wallet().await;
    f.env
        .fund(&f.usdc, &customer.pubkey(), 1_000_000_000 * USD)
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
                let ix = f.c.line_draw(&b.pubkey(), &f.pool, *a).unwrap();
                f.env.send(&[ix], &[&b]).await.map(|_| ())
            }
            Op::Repay(l, a) => {
                let b = borrowers[*l].insecure_clone();
                let ix =
                    f.c.line_repay(&b.pubkey(), &f.pool, &b.pubkey(), *a)
                        .unwrap();
                f.env.send(&[ix], &[&b]).await.map(|_| ())
            }
            Op::Warp(s) => {
                f.env.warp(*s).await;
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
                let payer = f.env.payer();
                let ix = f.c.pool_accrue(&payer.pubkey(), &f.pool).unwrap();
                f.env.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Queue(senior, a) => {
                let t = if *senior {
                    Tranche::Senior
                } else {
                    Tranche::Junior
                };
                let ix =
                    f.c.redemption_request(&lender.pubkey(), &f.pool, t, *a)
                        .unwrap();
                f.env.send(&[ix], &[&lender]).await.map(|_| ())
            }
            Op::CloseEpoch => {
                let payer = f.env.payer();
                let id = before.epoch_id;
                let ix = f.c.epoch_close(&payer.pubkey(), &f.pool, id).unwrap();
                f.env.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Sale(dollars) => {
                let order = format!("SALE-{}", sales.len());
                let payment = f.env.invoice(&m, &owner, &order, dollars * USD).await;
                f.env.pay(&m, &payment, &customer).await.unwrap();
                sales.push(payment);
                Ok(())
            }
            Op::Advance(k, pct) if *k < sales.len() => {
                let p = f.env.payment(&sales[*k]).await;
                let max = p.escrowed().unwrap_or(0) * 8 / 10;
                let amount = (max * pct / 100).max(1);
                let ix =
                    f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &sales[*k], amount)
                        .unwrap();
                f.env.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Capture(k) if *k < sales.len() => {
                let p = f.env.payment(&sales[*k]).await;
                let assignee = (p.assignee != Pubkey::default()).then_some(p.assignee);
                let refs = f.env.settlement(&m, &sales[*k], assignee);
                let ix = f
                    .env
                    .p
                    .payment_capture(&owner.pubkey(), &refs, p.escrowed().unwrap_or(1).max(1))
                    .unwrap();
                f.env.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Void(k) if *k < sales.len() => {
                let refs = f.env.release(&m, &sales[*k], &customer.pubkey());
                let ix = f
                    .env
                    .p
                    .payment_void(&owner.pubkey(), &m.address, &refs)
                    .unwrap();
                f.env.send(&[ix], &[&owner]).await.map(|_| ())
            }
            Op::Sync(k) if *k < sales.len() => {
                let payer = f.env.payer();
                let ix =
                    f.c.receivable_sync(&payer.pubkey(), &f.pool, &owner.pubkey(), &sales[*k])
                        .unwrap();
                f.env.send(&[ix], &[]).await.map(|_| ())
            }
            Op::Advance(..) | Op::Capture(_) | Op::Void(_) | Op::Sync(_) => Ok(()),
            Op::Withdraw(senior) => {
                let t = if *senior {
                    Tranche::Senior
                } else {
                    Tranche::Junior
                };
                let ix =
                    f.c.redemption_withdraw(&lender.pubkey(), &f.pool, t, 0..before.epoch_id)
                        .unwrap();
                f.env.send(&[ix], &[&lender]).await.map(|_| ())
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
                        f.env.now().await,
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
            let adv = kassa_sdk::pda::credit::advance(&f.c.program_id, sale).0;
            if let Some(a) = f.env.account(&adv).await {
                let a: Advance =
                    anchor_lang::AccountDeserialize::try_deserialize(&mut a.data.as_slice())
                        .unwrap();
                assert!(
                    a.arrived + f.env.balance(&a.vault).await <= a.amount,
                    "{a:?}"
                );
            }
        }
    }
}

/// Which credit account type lives at `address`, if any.
async fn credit_kind(env: &mut Env, address: &Pubkey) -> Option<&'static str> {
    use anchor_lang::Discriminator;
    use kassa_credit::state::{AllowlistEntry, EpochRecord, LenderRedemption};
    let account = env.account(address).await?;
    if account.owner != kassa_credit::ID || account.data.len() < 8 {
        return None;
    }
    let disc = &account.data[..8];
    [
        (CreditPool::DISCRIMINATOR, "CreditPool"),
        (CreditLine::DISCRIMINATOR, "CreditLine"),
        (Advance::DISCRIMINATOR, "Advance"),
        (AllowlistEntry::DISCRIMINATOR, "AllowlistEntry"),
        (LenderRedemption::DISCRIMINATOR, "LenderRedemption"),
        (EpochRecord::DISCRIMINATOR, "EpochRecord"),
    ]
    .into_iter()
    .find(|(d, _)| *d == disc)
    .map(|(_, name)| name)
}

async fn credit_snapshot(
    env: &mut Env,
    ix: &solana_sdk::instruction::Instruction,
) -> Vec<Option<(u64, Vec<u8>)>> {
    let mut out = Vec::new();
    for meta in &ix.accounts {
        out.push(
            env.account(&meta.pubkey)
                .await
                .map(|a| (a.lamports, a.data)),
        );
    }
    out
}

/// Every credit instruction, each ready to land, in a pool where all of them apply.
async fn credit_world() -> (
    Fx,
    Vec<(
        &'static str,
        solana_sdk::instruction::Instruction,
        Vec<Keypair>,
    )>,
) {
    let mut f = fixture(false).await;
    let admin = f.env.admin.insecure_clone();
    let lender = f.lender(10_000 * USD).await;
    let newcomer = f.lender(100 * USD).await;
    for k in [&lender, &newcomer] {
        let ix =
            f.c.lender_allow(&admin.pubkey(), &f.pool, &k.pubkey())
                .unwrap();
        f.env.send(&[ix], &[&admin]).await.unwrap();
    }
    let ix =
        f.c.tranche_deposit(
            &lender.pubkey(),
            &f.pool,
            Tranche::Junior,
            5_000 * USD,
            1,
            true,
        )
        .unwrap();
    f.env.send(&[ix], &[&lender]).await.unwrap();
    let ix =
        f.c.tranche_deposit(
            &newcomer.pubkey(),
            &f.pool,
            Tranche::Junior,
            50 * USD,
            1,
            true,
        )
        .unwrap();
    f.env.send(&[ix], &[&newcomer]).await.unwrap();
    let borrower = f.revolving(3_000 * USD).await;
    f.env.fund(&f.usdc, &borrower.pubkey(), 1_000 * USD).await;
    let ix =
        f.c.line_draw(&borrower.pubkey(), &f.pool, 1_000 * USD)
            .unwrap();
    f.env.send(&[ix], &[&borrower]).await.unwrap();
    // An impairment to reverse.
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Impair(USD))
        .await
        .unwrap();
    // A line that fell behind (interest due daily) and was then paid up: ready to restore.
    let late = f.env.wallet().await;
    f.env.fund(&f.usdc, &late.pubkey(), 100 * USD).await;
    let now = f.env.now().await;
    f.approve(
        &late.pubkey(),
        None,
        LineApproveArgs {
            kind: LineKind::Revolving,
            limit: 1_000 * USD,
            apr_bps: 1_200,
            late_apr_bps: 600,
            advance_rate_bps: 0,
            maturity: now + 365 * DAY,
            payment_interval: DAY,
            grace_seconds: 30 * DAY,
        },
    )
    .await;
    let ix = f.c.line_draw(&late.pubkey(), &f.pool, 100 * USD).unwrap();
    f.env.send(&[ix], &[&late]).await.unwrap();
    // A served redemption to withdraw, and an epoch that has ended.
    let ix =
        f.c.redemption_request(&lender.pubkey(), &f.pool, Tranche::Junior, 100 * USD)
            .unwrap();
    f.env.send(&[ix], &[&lender]).await.unwrap();
    f.env.warp(8 * DAY).await;
    let payer = f.env.payer();
    let ix = f.c.epoch_close(&payer.pubkey(), &f.pool, 0).unwrap();
    f.env.send(&[ix], &[]).await.unwrap();
    // Shares queued by the newcomer in the new epoch, to cancel.
    let ix =
        f.c.redemption_request(&newcomer.pubkey(), &f.pool, Tranche::Junior, USD)
            .unwrap();
    f.env.send(&[ix], &[&newcomer]).await.unwrap();
    f.env.warp(8 * DAY).await;
    f.refresh(&late.pubkey()).await;
    assert_eq!(
        f.line_state(&late.pubkey()).await.status,
        LineStatus::Delayed
    );
    let owed = f.line_state(&late.pubkey()).await.total_owed().unwrap();
    f.env.fund(&f.usdc, &late.pubkey(), owed).await;
    let ix =
        f.c.line_repay(&late.pubkey(), &f.pool, &late.pubkey(), owed)
            .unwrap();
    f.env.send(&[ix], &[&late]).await.unwrap();
    // An advance waiting for its payment, and an authorized payment to advance on.
    let (owner, m, paid, _customer) = receivable_setup(&mut f, 1_000 * USD).await;
    let advanced = f.env.invoice(&m, &owner, "ORDER-ADV-2", 500 * USD).await;
    let customer = f.env.wallet().await;
    f.env.fund(&f.usdc, &customer.pubkey(), 500 * USD).await;
    f.env.pay(&m, &advanced, &customer).await.unwrap();
    let ix =
        f.c.advance_take(&owner.pubkey(), &f.pool, &m.address, &advanced, 100 * USD)
            .unwrap();
    f.env.send(&[ix], &[&owner]).await.unwrap();
    let uw = f.underwriter.insecure_clone();
    let protocol = f.protocol.insecure_clone();
    let new_borrower = Keypair::new();
    let now = f.env.now().await;
    let c = f.c;
    let pool = f.pool;
    let other_mint = f.env.mint(spl_token_2022::ID, 6, None, None).await;
    let (create, _) = c
        .pool_create(
            &admin.pubkey(),
            &other_mint,
            PoolCreateArgs {
                underwriter: uw.pubkey(),
                protocol_fee_receiver: protocol.pubkey(),
                senior_cap_bps: 40_000,
                senior_apr_bps: 600,
                protocol_fee_bps: 1_000,
                admin_fee_bps: 500,
                allowlist: false,
                epoch_seconds: 7 * DAY,
            },
        )
        .unwrap();
    let cases = vec![
        ("pool_create", create, vec![admin.insecure_clone()]),
        (
            "pool_accrue",
            c.pool_accrue(&payer.pubkey(), &pool).unwrap(),
            vec![],
        ),
        (
            "lender_allow",
            c.lender_allow(&admin.pubkey(), &pool, &Keypair::new().pubkey())
                .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "lender_disallow",
            c.lender_disallow(&admin.pubkey(), &pool, &newcomer.pubkey())
                .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "pool_fees_withdraw",
            c.pool_fees_withdraw(&protocol.pubkey(), &pool).unwrap(),
            vec![protocol.insecure_clone()],
        ),
        (
            "tranche_deposit",
            c.tranche_deposit(&lender.pubkey(), &pool, Tranche::Junior, 10 * USD, 1, true)
                .unwrap(),
            vec![lender.insecure_clone()],
        ),
        (
            "redemption_request",
            c.redemption_request(&newcomer.pubkey(), &pool, Tranche::Junior, USD)
                .unwrap(),
            vec![newcomer.insecure_clone()],
        ),
        (
            "redemption_cancel",
            c.redemption_cancel(&newcomer.pubkey(), &pool, Tranche::Junior, USD)
                .unwrap(),
            vec![newcomer.insecure_clone()],
        ),
        (
            "epoch_close",
            c.epoch_close(&payer.pubkey(), &pool, 1).unwrap(),
            vec![],
        ),
        (
            "redemption_withdraw",
            c.redemption_withdraw(&lender.pubkey(), &pool, Tranche::Junior, 0..1)
                .unwrap(),
            vec![lender.insecure_clone()],
        ),
        (
            "line_approve",
            c.line_approve(
                &uw.pubkey(),
                &pool,
                &new_borrower.pubkey(),
                None,
                LineApproveArgs {
                    kind: LineKind::Revolving,
                    limit: USD,
                    apr_bps: 100,
                    late_apr_bps: 100,
                    advance_rate_bps: 0,
                    maturity: now + DAY,
                    payment_interval: DAY,
                    grace_seconds: 0,
                },
            )
            .unwrap(),
            vec![uw.insecure_clone()],
        ),
        (
            "line_draw",
            c.line_draw(&borrower.pubkey(), &pool, USD).unwrap(),
            vec![borrower.insecure_clone()],
        ),
        (
            "line_repay",
            c.line_repay(&borrower.pubkey(), &pool, &borrower.pubkey(), USD)
                .unwrap(),
            vec![borrower.insecure_clone()],
        ),
        (
            "line_refresh",
            c.line_refresh(&payer.pubkey(), &pool, &borrower.pubkey())
                .unwrap(),
            vec![],
        ),
        (
            "line_restore",
            c.line_restore(&uw.pubkey(), &pool, &late.pubkey()).unwrap(),
            vec![uw.insecure_clone()],
        ),
        (
            "line_impair",
            c.line_impair(&uw.pubkey(), &pool, &borrower.pubkey(), USD)
                .unwrap(),
            vec![uw.insecure_clone()],
        ),
        (
            "line_impairment_reverse",
            c.line_impairment_reverse(&uw.pubkey(), &pool, &borrower.pubkey(), USD)
                .unwrap(),
            vec![uw.insecure_clone()],
        ),
        (
            "line_write_off",
            c.line_write_off(&uw.pubkey(), &pool, &borrower.pubkey())
                .unwrap(),
            vec![uw.insecure_clone()],
        ),
        (
            "advance_take",
            c.advance_take(&owner.pubkey(), &pool, &m.address, &paid, 10 * USD)
                .unwrap(),
            vec![owner.insecure_clone()],
        ),
        (
            "receivable_sync",
            c.receivable_sync(&payer.pubkey(), &pool, &owner.pubkey(), &advanced)
                .unwrap(),
            vec![],
        ),
    ];
    (f, cases)
}

#[tokio::test]
async fn every_credit_instruction_rejects_missing_signers_cosplay_wrong_owner_and_fake_programs() {
    use anchor_lang::error::ErrorCode as A;
    let (mut f, cases) = credit_world().await;
    let stranger = f.env.wallet().await.pubkey();
    let pool = f.pool.address;
    let some_line = f.c.line(&f.pool, &f.env.admin.pubkey());
    let _ = some_line;
    let mut tried = 0;
    let mut names = Vec::new();
    for (name, ix, signers) in cases {
        names.push(name);
        let signers: Vec<&Keypair> = signers.iter().collect();
        f.env
            .simulate(&[ix.clone()], &signers)
            .await
            .unwrap_or_else(|e| panic!("{name} is not ready: {e:?}"));
        let attempt = |what: String,
                       ix: solana_sdk::instruction::Instruction,
                       signers: Vec<&Keypair>,
                       ok: Vec<u32>| {
            (
                what,
                ix,
                signers
                    .into_iter()
                    .map(|k| k.insecure_clone())
                    .collect::<Vec<_>>(),
                ok,
            )
        };
        let mut attacks = Vec::new();
        let fee_payer = f.env.payer().pubkey();
        for (i, meta) in ix.accounts.iter().enumerate() {
            // (The transaction's fee payer signs anyway: permissionless cranks use it.)
            if meta.is_signer && meta.pubkey != fee_payer {
                let mut bad = ix.clone();
                bad.accounts[i].is_signer = false;
                let rest: Vec<&Keypair> = signers
                    .iter()
                    .copied()
                    .filter(|k| k.pubkey() != meta.pubkey)
                    .collect();
                attacks.push(attempt(
                    format!("{name} unsigned #{i}"),
                    bad,
                    rest,
                    vec![A::AccountNotSigner as u32],
                ));
            }
            if let Some(kind) = credit_kind(&mut f.env, &meta.pubkey).await {
                // Type cosplay: another credit account in its place (the pool, or for the pool a
                // line), and an account no program owns.
                let impostor = if kind == "CreditPool" {
                    f.c.line(
                        &f.pool,
                        &ix.accounts.get(2).map(|a| a.pubkey).unwrap_or_default(),
                    )
                } else {
                    pool
                };
                let impostor = if credit_kind(&mut f.env, &impostor).await.is_some()
                    && impostor != meta.pubkey
                {
                    impostor
                } else {
                    pool
                };
                if impostor != meta.pubkey {
                    let mut bad = ix.clone();
                    bad.accounts[i].pubkey = impostor;
                    attacks.push(attempt(
                        format!("{name} {kind} cosplay #{i}"),
                        bad,
                        signers.clone(),
                        vec![
                            A::AccountDiscriminatorMismatch as u32,
                            A::ConstraintSeeds as u32,
                            ccode(CreditError::EpochRecordMismatch),
                        ],
                    ));
                }
                let mut bad = ix.clone();
                bad.accounts[i].pubkey = stranger;
                attacks.push(attempt(
                    format!("{name} {kind} wrong owner #{i}"),
                    bad,
                    signers.clone(),
                    vec![
                        A::AccountOwnedByWrongProgram as u32,
                        A::AccountNotInitialized as u32,
                        // An account created on first use is found by its seeds.
                        A::ConstraintSeeds as u32,
                        ccode(CreditError::EpochRecordMismatch),
                    ],
                ));
            }
            if meta.pubkey == anchor_spl::token::ID || meta.pubkey == anchor_spl::token_2022::ID {
                let mut bad = ix.clone();
                bad.accounts[i].pubkey = solana_system_interface::program::ID;
                attacks.push(attempt(
                    format!("{name} fake token program #{i}"),
                    bad,
                    signers.clone(),
                    vec![A::InvalidProgramId as u32],
                ));
            }
        }
        for (what, bad, signers, ok) in attacks {
            let before = credit_snapshot(&mut f.env, &bad).await;
            let keys: Vec<&Keypair> = signers.iter().collect();
            match f.env.send(&[bad.clone()], &keys).await {
                Ok(_) => panic!("{what}: attack landed"),
                Err(e) => assert!(
                    custom_code(&e).is_some_and(|c| ok.contains(&c)),
                    "{what}: wrong error {e:?}"
                ),
            }
            assert_eq!(
                before,
                credit_snapshot(&mut f.env, &bad).await,
                "{what}: a rejected call changed an account"
            );
            tried += 1;
        }
    }
    let idl: serde_json::Value =
        serde_json::from_str(include_str!("../../idl/kassa_credit.json")).unwrap();
    let mut all: Vec<&str> = idl["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    all.sort_unstable();
    names.sort_unstable();
    assert_eq!(names, all, "every instruction of the IDL is attacked");
    assert!(tried >= 50, "only {tried} attacks tried");
}
