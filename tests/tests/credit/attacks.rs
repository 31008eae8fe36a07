//! Every credit instruction, each ready to land, attacked: missing signers, type cosplay,
//! accounts of the wrong owner, fake token programs. Each attack must fail with a named error
//! and change nothing.

use super::*;

/// Which credit account type lives at `address`, if any.
async fn credit_kind<W>(env: &mut Env<W>, address: &Pubkey) -> Option<&'static str> {
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

async fn credit_snapshot<W>(
    env: &mut Env<W>,
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
    let admin = f.admin.insecure_clone();
    let lender = f.lender(10_000 * USD).await;
    let newcomer = f.lender(100 * USD).await;
    for k in [&lender, &newcomer] {
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
    let advanced = f.invoice(&m, &owner, "ORDER-ADV-2", 500 * USD).await;
    let customer = f.wallet().await;
    f.fund(&{ f.w.usdc }, &customer.pubkey(), 500 * USD).await;
    f.pay(&m, &advanced, &customer).await.unwrap();
    f.warp(3 * DAY + 1).await;
    let ix =
        f.w.c
            .advance_take(
                &owner.pubkey(),
                &{ f.w.pool },
                &m.address,
                &advanced,
                100 * USD,
            )
            .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
    // A settled advance to close: taken, its payment captured, the arrival synced.
    let repaid = f.invoice(&m, &owner, "ORDER-ADV-3", 200 * USD).await;
    f.fund(&{ f.w.usdc }, &customer.pubkey(), 200 * USD).await;
    f.pay(&m, &repaid, &customer).await.unwrap();
    f.warp(3 * DAY + 1).await;
    let ix =
        f.w.c
            .advance_take(
                &owner.pubkey(),
                &{ f.w.pool },
                &m.address,
                &repaid,
                100 * USD,
            )
            .unwrap();
    f.send(&[ix], &[&owner]).await.unwrap();
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
            c.redemption_request(&newcomer.pubkey(), &pool, Tranche::Junior, USD, false)
                .unwrap(),
            vec![newcomer.insecure_clone()],
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
    (f, cases)
}

#[tokio::test]
async fn every_credit_instruction_rejects_missing_signers_cosplay_wrong_owner_and_fake_programs() {
    use anchor_lang::error::ErrorCode as A;
    let (mut f, cases) = credit_world().await;
    let stranger = f.wallet().await.pubkey();
    let pool = f.w.pool.address;
    let some_line = f.w.c.line(&{ f.w.pool }, &f.admin.pubkey());
    let _ = some_line;
    let mut tried = 0;
    let mut names = Vec::new();
    for (name, ix, signers) in cases {
        names.push(name);
        let signers: Vec<&Keypair> = signers.iter().collect();
        f.simulate(&[ix.clone()], &signers)
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
        let fee_payer = f.payer().pubkey();
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
            if let Some(kind) = credit_kind(&mut f, &meta.pubkey).await {
                // Type cosplay: another credit account in its place (the pool, or for the pool a
                // line), and an account no program owns.
                let impostor = if kind == "CreditPool" {
                    f.w.c.line(
                        &{ f.w.pool },
                        &ix.accounts.get(2).map(|a| a.pubkey).unwrap_or_default(),
                    )
                } else {
                    pool
                };
                let impostor =
                    if credit_kind(&mut f, &impostor).await.is_some() && impostor != meta.pubkey {
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
                            code(CreditError::EpochRecordMismatch),
                            code(CreditError::ActiveLinesMismatch),
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
                        code(CreditError::EpochRecordMismatch),
                        code(CreditError::ActiveLinesMismatch),
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
            let before = credit_snapshot(&mut f, &bad).await;
            let keys: Vec<&Keypair> = signers.iter().collect();
            match f.send(&[bad.clone()], &keys).await {
                Ok(_) => panic!("{what}: attack landed"),
                Err(e) => assert!(
                    custom_code(&e).is_some_and(|c| ok.contains(&c)),
                    "{what}: wrong error {e:?}"
                ),
            }
            assert_eq!(
                before,
                credit_snapshot(&mut f, &bad).await,
                "{what}: a rejected call changed an account"
            );
            tried += 1;
        }
    }
    let idl: serde_json::Value =
        serde_json::from_str(kassa_sdk::programs::KassaProgram::Credit.idl_json()).unwrap();
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

/// Every account a credit instruction creates (a pool with its vault, share mints and
/// escrows, an allowlist entry, a line, an advance and its vault, a redemption request, an
/// epoch's records) can be created after someone pre-funded its address.
#[tokio::test]
async fn every_account_a_credit_instruction_creates_can_be_created_when_prefunded() {
    let (mut f, cases) = credit_world().await;
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
            "pool_create"
        ]
    );
}
