//! Every credit instruction, each ready to land, attacked through the matrix (`matrix`): each
//! attack must fail with the error the golden table names and change nothing. And every
//! account an instruction creates can be created over a pre-funded address.

use super::*;
use kassa_sdk::programs::KassaProgram;

/// Every credit instruction, each ready to land, in a pool where all of them apply.
async fn credit_world() -> (Fx, Vec<crate::matrix::Case>, Others) {
    let mut f = fixture(false).await;
    let admin = f.admin.insecure_clone();
    let lender = f.lender(10_000 * USD).await;
    let newcomer = f.lender(100 * USD).await;
    // A lender with shares and no request yet: its request is created by the case.
    let queuer = f.lender(100 * USD).await;
    for k in [&lender, &newcomer, &queuer] {
        let ix =
            f.w.c
                .lender_allow(&admin.pubkey(), &{ f.w.pool }, &k.pubkey())
                .unwrap();
        f.send(&[ix], &[&admin]).await.unwrap();
    }
    let ix =
        f.w.c
            .tranche_deposit(
                &lender.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                5_000 * USD,
                1,
                true,
            )
            .unwrap();
    f.send(&[ix], &[&lender]).await.unwrap();
    let ix =
        f.w.c
            .tranche_deposit(
                &newcomer.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                50 * USD,
                1,
                true,
            )
            .unwrap();
    f.send(&[ix], &[&newcomer]).await.unwrap();
    let ix =
        f.w.c
            .tranche_deposit(
                &queuer.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                50 * USD,
                1,
                true,
            )
            .unwrap();
    f.send(&[ix], &[&queuer]).await.unwrap();
    let borrower = f.revolving(3_000 * USD).await;
    f.fund(&{ f.w.usdc }, &borrower.pubkey(), 1_000 * USD).await;
    let ix =
        f.w.c
            .line_draw(&borrower.pubkey(), &{ f.w.pool }, 1_000 * USD)
            .unwrap();
    f.send(&[ix], &[&borrower]).await.unwrap();
    // An impairment to reverse.
    f.underwrite(&borrower.pubkey(), UnderwriterAction::Impair(USD))
        .await
        .unwrap();
    // A line that fell behind (interest due daily) and was then paid up: ready to restore.
    let late = f.wallet().await;
    f.fund(&{ f.w.usdc }, &late.pubkey(), 100 * USD).await;
    let now = f.now().await;
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
    let ix =
        f.w.c
            .line_draw(&late.pubkey(), &{ f.w.pool }, 100 * USD)
            .unwrap();
    f.send(&[ix], &[&late]).await.unwrap();
    // A served redemption to withdraw, and an epoch that has ended.
    let ix =
        f.w.c
            .redemption_request(
                &lender.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                100 * USD,
                false,
            )
            .unwrap();
    f.send(&[ix], &[&lender]).await.unwrap();
    f.warp(8 * DAY).await;
    let payer = f.payer();
    let ix = f.epoch_close_ix(0).await;
    f.send(&[ix], &[]).await.unwrap();
    // Shares queued by the newcomer in the new epoch, to cancel.
    let ix =
        f.w.c
            .redemption_request(
                &newcomer.pubkey(),
                &{ f.w.pool },
                Tranche::Junior,
                USD,
                false,
            )
            .unwrap();
    f.send(&[ix], &[&newcomer]).await.unwrap();
    f.warp(8 * DAY).await;
    f.refresh(&late.pubkey()).await;
    assert_eq!(
        f.line_state(&late.pubkey()).await.status,
        LineStatus::Delayed
    );
    let owed = f.line_state(&late.pubkey()).await.total_owed().unwrap();
    f.fund(&{ f.w.usdc }, &late.pubkey(), owed).await;
    let ix =
        f.w.c
            .line_repay(&late.pubkey(), &{ f.w.pool }, &late.pubkey(), owed)
            .unwrap();
    f.send(&[ix], &[&late]).await.unwrap();
    // An advance waiting for its payment, and an authorized payment to advance on.
    let (owner, m, paid, _customer) = receivable_setup(&mut f, 1_000 * USD).await;
    let customer = f.wallet().await;
    let advanced = f
        .sold_and_advanced(&m, &owner, &customer, "ORDER-ADV-2", 500 * USD, 100 * USD)
        .await;
    // A settled advance to close: taken, its payment captured, the arrival synced.
    let repaid = f
        .sold_and_advanced(&m, &owner, &customer, "ORDER-ADV-3", 200 * USD, 100 * USD)
        .await;
    let advance_vault = kassa_sdk::pda::credit::advance_vault(&{ f.w.c.program_id }, &repaid).0;
    let ix =
        f.p.payment_capture(
            &owner.pubkey(),
            &f.settlement(&m, &repaid, Some(advance_vault)),
            200 * USD,
        )
        .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    let ix =
        f.w.c
            .receivable_sync(&owner.pubkey(), &{ f.w.pool }, &owner.pubkey(), &repaid)
            .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    let uw = f.w.underwriter.insecure_clone();
    let protocol = f.w.protocol.insecure_clone();
    let new_borrower = Keypair::new();
    let now = f.now().await;
    let c = f.w.c;
    let pool = f.w.pool;
    let other_mint = f.mint(spl_token_2022::ID, 6, None, None).await;
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
                max_line_limit: u64::MAX,
                max_active_lines: 16,
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
            c.redemption_request(&queuer.pubkey(), &pool, Tranche::Junior, USD, false)
                .unwrap(),
            vec![queuer.insecure_clone()],
        ),
        (
            "redemption_cancel",
            c.redemption_cancel(&newcomer.pubkey(), &pool, Tranche::Junior, USD)
                .unwrap(),
            vec![newcomer.insecure_clone()],
        ),
        ("epoch_close", f.epoch_close_ix(1).await, vec![]),
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
        (
            "pool_policy_set",
            c.pool_policy_set(
                &admin.pubkey(),
                &pool,
                kassa_credit::instructions::PoolPolicyArgs {
                    paused: Some(true),
                    ..Default::default()
                },
            )
            .unwrap(),
            vec![admin.insecure_clone()],
        ),
        (
            "pool_role_transfer",
            c.pool_role_transfer(
                &admin.pubkey(),
                &pool,
                &newcomer.pubkey(),
                kassa_credit::state::PoolRole::Underwriter,
            )
            .unwrap(),
            vec![admin.insecure_clone(), newcomer.insecure_clone()],
        ),
        (
            "advance_close",
            c.advance_close(&payer.pubkey(), &pool, &owner.pubkey(), &repaid)
                .unwrap(),
            vec![],
        ),
    ];
    // Accounts of each type, of several owners, to substitute in the matrix.
    let id = c.program_id;
    let stranger = f.wallet().await;
    f.fund(&{ f.w.usdc }, &stranger.pubkey(), 0).await;
    let lenders = [lender.pubkey(), newcomer.pubkey()];
    // Share accounts of several holders (and the share escrows), per tranche.
    let mut share_accounts = Vec::new();
    for t in [Tranche::Senior, Tranche::Junior] {
        let shares = pool.share_mint(t);
        f.fund(&shares, &stranger.pubkey(), 0).await;
        for holder in [stranger.pubkey(), lender.pubkey(), newcomer.pubkey()] {
            share_accounts.push(shares.ata(&holder));
        }
        share_accounts.push(kassa_sdk::pda::credit::share_escrow(&id, &pool.address, t).0);
    }
    let others = vec![
        ("CreditLine", f.w.lines.clone()),
        (
            "Advance",
            [advanced, repaid]
                .iter()
                .map(|p| kassa_sdk::pda::credit::advance(&id, p).0)
                .collect(),
        ),
        (
            "LenderRedemption",
            lenders
                .iter()
                .map(|l| {
                    kassa_sdk::pda::credit::redemption(&id, &pool.address, Tranche::Junior, l).0
                })
                .collect(),
        ),
        (
            "AllowlistEntry",
            lenders
                .iter()
                .map(|l| kassa_sdk::pda::credit::allow(&id, &pool.address, l).0)
                .collect(),
        ),
        (
            "TokenAccount",
            [
                stranger.pubkey(),
                lender.pubkey(),
                borrower.pubkey(),
                owner.pubkey(),
            ]
            .iter()
            .map(|o| f.w.usdc.ata(o))
            .chain(share_accounts)
            .collect(),
        ),
        ("Mint", vec![f.w.usdc.mint, other_mint.mint]),
        ("CreditPool", vec![pool.address]),
    ];
    (f, cases, (stranger, others))
}

/// A stranger's wallet and accounts of each type to substitute.
type Others = (Keypair, Vec<(&'static str, Vec<Pubkey>)>);

/// Every credit instruction of the IDL, every account attacked (see `matrix`): unsigned,
/// another type, the wrong owner, someone else's line, advance, request, allowlist entry,
/// token account or mint, the other token program, a fake one. Each refusal is the one
/// recorded in `tests/golden/attacks-credit.txt`.
#[tokio::test]
async fn every_credit_instruction_refuses_every_substituted_account_by_its_rule() {
    use anchor_lang::Discriminator;
    use kassa_credit::state::{AllowlistEntry, EpochRecord, LenderRedemption};
    let (mut f, cases, (stranger, others)) = credit_world().await;
    crate::matrix::assert_covers(KassaProgram::Credit, &cases, &[]);
    fn whose(kind: &'static str, _: &Pubkey, data: &[u8]) -> Pubkey {
        use anchor_lang::AccountDeserialize;
        let mut d = data;
        match kind {
            "CreditLine" => CreditLine::try_deserialize(&mut d).unwrap().borrower,
            "Advance" => Advance::try_deserialize(&mut d).unwrap().payment,
            "LenderRedemption" => LenderRedemption::try_deserialize(&mut d).unwrap().lender,
            "AllowlistEntry" => AllowlistEntry::try_deserialize(&mut d).unwrap().lender,
            _ => Pubkey::default(),
        }
    }
    let accounts = crate::matrix::Accounts {
        programs: vec![kassa_credit::ID],
        types: vec![
            (CreditPool::DISCRIMINATOR, "CreditPool"),
            (CreditLine::DISCRIMINATOR, "CreditLine"),
            (Advance::DISCRIMINATOR, "Advance"),
            (AllowlistEntry::DISCRIMINATOR, "AllowlistEntry"),
            (LenderRedemption::DISCRIMINATOR, "LenderRedemption"),
            (EpochRecord::DISCRIMINATOR, "EpochRecord"),
        ],
        whose,
        others: others.into_iter().collect(),
        stranger: stranger.pubkey(),
        // The admin picks the lender, anyone the line to refresh, the underwriter the line,
        // the borrower where its money goes, a depositor who receives the shares.
        choices: vec![
            ("lender_disallow", 2),
            ("line_draw", 5),
            ("line_refresh", 2),
            ("line_write_off", 2),
            ("advance_take", 5),
            ("tranche_deposit", 6),
        ],
    };
    crate::matrix::run(&mut f, &accounts, cases, "credit").await;
}

/// Every account a credit instruction creates (a pool with its vault, share mints and
/// escrows, an allowlist entry, a line, an advance and its vault, a redemption request, an
/// epoch's records) can be created after someone pre-funded its address.
#[tokio::test]
async fn every_account_a_credit_instruction_creates_can_be_created_when_prefunded() {
    let (mut f, cases, _) = credit_world().await;
    let mut created = Vec::new();
    for (name, ix, signers) in cases {
        let funded = f.prefund_created_accounts(&ix, 1_000_000).await;
        if funded.is_empty() {
            continue;
        }
        let signers: Vec<&Keypair> = signers.iter().collect();
        f.send(&[ix.clone()], &signers)
            .await
            .unwrap_or_else(|e| panic!("{name} with pre-funded accounts: {e:?}"));
        for key in funded {
            let account = f.account(&key).await.expect("created");
            assert!(
                account.owner == kassa_credit::ID
                    || account.owner == anchor_spl::token::ID
                    || account.owner == anchor_spl::token_2022::ID,
                "{name}: {key} owned by {}",
                account.owner
            );
        }
        created.push(name);
    }
    created.sort_unstable();
    assert_eq!(
        created,
        [
            "advance_take",
            "epoch_close",
            "lender_allow",
            "line_approve",
            "pool_create",
            "redemption_request"
        ]
    );
}
