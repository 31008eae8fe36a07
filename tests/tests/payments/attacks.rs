//! DESIGN.md §8 against every instruction: each attack is tried on a transaction that would
//! otherwise land (proven by simulating it unmodified), and must fail with its specific error
//! while changing nothing.

use crate::harness::*;
use anchor_lang::{error::ErrorCode as A, prelude::Pubkey, Discriminator};
use kassa_payments::{
    error::PaymentsError as E,
    instructions::{ConfigInitArgs, ConfigUpdateArgs, MerchantUpdateArgs},
    state::{BlocklistEntry, Config, Merchant, Payment, PaymentStatus},
};
use kassa_sdk::payments::OrderId;
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signer},
};

const UNIT: u64 = 1_000_000;

/// One instruction ready to land, with its signers.
pub(crate) struct Ready {
    pub name: &'static str,
    pub ix: Instruction,
    pub signers: Vec<Keypair>,
}

/// Accounts of every type and in every state the instructions need.
pub(crate) struct World {
    pub env: Env,
    a: Keypair,
    m: MerchantFixture,
    payer: Keypair,
    open: Pubkey,
    authorized: Pubkey,
    captured: Pubkey,
    disputed: Pubkey,
    held: Pubkey,
    cancelled: Pubkey,
    expired_open: Pubkey,
    auto_m: MerchantFixture,
    auto_due: Pubkey,
    reclaim_m: MerchantFixture,
    reclaimable: Pubkey,
    blocked: Pubkey,
    stranger: Keypair,
}

pub(crate) async fn world() -> World {
    let mut env = Env::new().await;
    let mint = env.mint(anchor_spl::token::ID, 6, None, None).await;
    env.vault_open(&mint).await;
    let (a, m) = env.merchant(&mint, policy()).await;
    let mut auto = policy();
    auto.authorization_window = 3_600;
    auto.auto_capture_delay = 60;
    let (auto_a, auto_m) = env.merchant(&mint, auto).await;
    let mut short = policy();
    short.authorization_window = 60;
    let (reclaim_a, reclaim_m) = env.merchant(&mint, short).await;
    let payer = env.wallet().await;
    env.fund(&mint, &payer.pubkey(), 1_000 * UNIT).await;

    // Things that need time to pass first.
    let expires_at = env.now().await + 100;
    let (ix, expired_open) = env
        .p
        .invoice_open(
            &m.authority,
            &m.address,
            &OrderId::new("EXP").unwrap(),
            UNIT,
            expires_at,
        )
        .unwrap();
    env.send(&[ix], &[&a]).await.unwrap();
    let auto_due = env.invoice(&auto_m, &auto_a, "AUTO", 3 * UNIT).await;
    env.pay(&auto_m, &auto_due, &payer).await.unwrap();
    let reclaimable = env.invoice(&reclaim_m, &reclaim_a, "RECL", 2 * UNIT).await;
    env.pay(&reclaim_m, &reclaimable, &payer).await.unwrap();
    env.warp(101).await;

    let open = env.invoice(&m, &a, "OPEN", 5 * UNIT).await;
    let authorized = env.invoice(&m, &a, "AUTH", 10 * UNIT).await;
    env.pay(&m, &authorized, &payer).await.unwrap();
    let captured = env.invoice(&m, &a, "CAPT", 10 * UNIT).await;
    env.pay(&m, &captured, &payer).await.unwrap();
    let ix = env
        .p
        .payment_capture(
            &m.authority,
            &env.settlement(&m, &captured, None),
            10 * UNIT,
        )
        .unwrap();
    env.send(&[ix], &[&a]).await.unwrap();
    let disputed = env.invoice(&m, &a, "DISP", 4 * UNIT).await;
    env.pay(&m, &disputed, &payer).await.unwrap();
    let ix = env
        .p
        .dispute_open(&payer.pubkey(), &disputed, [1; 32])
        .unwrap();
    env.send(&[ix], &[&payer]).await.unwrap();
    let held = env.invoice(&m, &a, "HELD", 6 * UNIT).await;
    env.pay(&m, &held, &payer).await.unwrap();
    let compliance = env.compliance.insecure_clone();
    let ix = env
        .p
        .hold_place(&compliance.pubkey(), &held, [2; 32])
        .unwrap();
    env.send(&[ix], &[&compliance]).await.unwrap();
    let cancelled = env.invoice(&m, &a, "CANC", UNIT).await;
    let ix = env
        .p
        .invoice_cancel(&m.authority, &m.address, &cancelled)
        .unwrap();
    env.send(&[ix], &[&a]).await.unwrap();
    let blocked = Keypair::new().pubkey();
    let ix = env
        .p
        .blocklist_add(&compliance.pubkey(), &blocked, [3; 32])
        .unwrap();
    env.send(&[ix], &[&compliance]).await.unwrap();
    let stranger = env.wallet().await;
    // The merchant needs funds for refunds.
    env.fund(&mint, &m.authority, 100 * UNIT).await;
    World {
        env,
        a,
        m,
        payer,
        open,
        authorized,
        captured,
        disputed,
        held,
        cancelled,
        expired_open,
        auto_m,
        auto_due,
        reclaim_m,
        reclaimable,
        blocked,
        stranger,
    }
}

fn ready(name: &'static str, ix: Instruction, signers: &[&Keypair]) -> Ready {
    Ready {
        name,
        ix,
        signers: signers.iter().map(|k| k.insecure_clone()).collect(),
    }
}

/// Every instruction of the program in a state where it would succeed.
pub(crate) async fn every_instruction(w: &mut World) -> Vec<Ready> {
    let env = &mut w.env;
    let p = env.p;
    let (admin, compliance, arbiter) = (
        env.admin.insecure_clone(),
        env.compliance.insecure_clone(),
        env.arbiter.insecure_clone(),
    );
    let m = w.m;
    let new_admin = Keypair::new();
    let fresh_mint = env.mint(anchor_spl::token_2022::ID, 6, None, None).await;
    let newcomer = env.wallet().await;
    let assignee = env.fund(&m.mint, &w.stranger.pubkey(), 0).await;
    let expires = env.now().await + 1_000;
    let payer = w.payer.pubkey();
    vec![
        ready(
            "config_update",
            p.config_update(
                &admin.pubkey(),
                ConfigUpdateArgs {
                    protocol_fee_bps: Some(50),
                    ..Default::default()
                },
            )
            .unwrap(),
            &[&admin],
        ),
        ready(
            "config_transfer_admin",
            p.config_transfer_admin(&admin.pubkey(), &new_admin.pubkey())
                .unwrap(),
            &[&admin, &new_admin],
        ),
        ready(
            "vault_open",
            p.vault_open(&newcomer.pubkey(), &fresh_mint).unwrap(),
            &[&newcomer],
        ),
        ready(
            "merchant_register",
            p.merchant_register(
                &newcomer.pubkey(),
                &m.mint.mint,
                &newcomer.pubkey(),
                policy(),
            )
            .unwrap()
            .0,
            &[&newcomer],
        ),
        ready(
            "merchant_update",
            p.merchant_update(
                &m.authority,
                &m.address,
                None,
                None,
                MerchantUpdateArgs {
                    settlement_wallet: Some(m.authority),
                    policy: Some(policy()),
                },
            )
            .unwrap(),
            &[&w.a],
        ),
        ready(
            "merchant_operator_set",
            p.merchant_operator_set(&m.authority, &m.address, Some(newcomer.pubkey()))
                .unwrap(),
            &[&w.a, &newcomer],
        ),
        ready(
            "merchant_set_fee_tier",
            p.merchant_set_fee_tier(&admin.pubkey(), &m.address, Some(10))
                .unwrap(),
            &[&admin],
        ),
        ready(
            "merchant_kyb_attest",
            p.merchant_kyb_attest(&compliance.pubkey(), &m.address, [5; 32])
                .unwrap(),
            &[&compliance],
        ),
        ready(
            "merchant_kyb_suspend",
            p.merchant_kyb_suspend(&compliance.pubkey(), &m.address, [5; 32])
                .unwrap(),
            &[&compliance],
        ),
        ready(
            "blocklist_add",
            p.blocklist_add(&compliance.pubkey(), &newcomer.pubkey(), [6; 32])
                .unwrap(),
            &[&compliance],
        ),
        ready(
            "blocklist_remove",
            p.blocklist_remove(&compliance.pubkey(), &w.blocked, &compliance.pubkey())
                .unwrap(),
            &[&compliance],
        ),
        ready(
            "invoice_open",
            p.invoice_open(
                &m.authority,
                &m.address,
                &OrderId::new("NEW").unwrap(),
                UNIT,
                expires,
            )
            .unwrap()
            .0,
            &[&w.a],
        ),
        ready(
            "invoice_cancel",
            p.invoice_cancel(&m.authority, &m.address, &w.open).unwrap(),
            &[&w.a],
        ),
        ready(
            "invoice_expire",
            p.invoice_expire(&newcomer.pubkey(), &w.expired_open)
                .unwrap(),
            &[&newcomer],
        ),
        ready(
            "payment_pay",
            p.payment_pay(&payer, &m.address, &w.open, &m.mint, None)
                .unwrap(),
            &[&w.payer],
        ),
        ready(
            "payment_capture",
            p.payment_capture(&m.authority, &env.settlement(&m, &w.authorized, None), UNIT)
                .unwrap(),
            &[&w.a],
        ),
        ready(
            "payment_auto_capture",
            p.payment_auto_capture(
                &newcomer.pubkey(),
                &env.settlement(&w.auto_m, &w.auto_due, None),
            )
            .unwrap(),
            &[&newcomer],
        ),
        ready(
            "payment_void",
            p.payment_void(
                &m.authority,
                &m.address,
                &env.release(&m, &w.authorized, &payer),
            )
            .unwrap(),
            &[&w.a],
        ),
        ready(
            "payment_reclaim",
            p.payment_reclaim(&env.release(&w.reclaim_m, &w.reclaimable, &payer))
                .unwrap(),
            &[&w.payer],
        ),
        ready(
            "payment_refund",
            p.payment_refund(&m.authority, &m.address, &w.captured, &m.mint, &payer, UNIT)
                .unwrap(),
            &[&w.a],
        ),
        ready(
            "dispute_open",
            p.dispute_open(&payer, &w.authorized, [7; 32]).unwrap(),
            &[&w.payer],
        ),
        ready(
            "dispute_resolve",
            p.dispute_resolve(
                &arbiter.pubkey(),
                &env.settlement(&m, &w.disputed, None),
                &payer,
                UNIT,
                3 * UNIT,
            )
            .unwrap(),
            &[&arbiter],
        ),
        ready(
            "hold_place",
            p.hold_place(&compliance.pubkey(), &w.authorized, [8; 32])
                .unwrap(),
            &[&compliance],
        ),
        ready(
            "hold_release",
            p.hold_release(&compliance.pubkey(), &w.held).unwrap(),
            &[&compliance],
        ),
        ready(
            "hold_reject",
            p.hold_reject(
                &compliance.pubkey(),
                &env.release(&m, &w.held, &payer),
                [9; 32],
            )
            .unwrap(),
            &[&compliance],
        ),
        ready(
            "receivable_assign",
            p.receivable_assign(&m.authority, &m.address, &w.authorized, &assignee, UNIT)
                .unwrap(),
            &[&w.a],
        ),
        ready(
            "payment_close",
            p.payment_close(&newcomer.pubkey(), &m.address, &w.cancelled, &m.authority)
                .unwrap(),
            &[&newcomer],
        ),
    ]
}

async fn snapshot(env: &mut Env, ix: &Instruction) -> Vec<Option<(u64, Vec<u8>, Pubkey)>> {
    let mut out = Vec::new();
    for meta in &ix.accounts {
        out.push(
            env.account(&meta.pubkey)
                .await
                .map(|a| (a.lamports, a.data, a.owner)),
        );
    }
    out
}

async fn expect_rejected(
    env: &mut Env,
    what: &str,
    ix: Instruction,
    signers: &[&Keypair],
    expected: u32,
) {
    expect_failure(env, what, ix, signers, |e| custom_code(e) == Some(expected)).await;
}

/// Re-initializing an existing PDA: the one creation path (`kassa_common::create`) refuses an
/// account that already has data or another owner (`AccountNotSystemOwned`), so nothing is
/// overwritten.
fn refused_reinit(e: &BanksClientError) -> bool {
    custom_code(e) == Some(A::AccountNotSystemOwned as u32)
}

async fn expect_failure(
    env: &mut Env,
    what: &str,
    ix: Instruction,
    signers: &[&Keypair],
    expected: impl Fn(&BanksClientError) -> bool,
) {
    let before = snapshot(env, &ix).await;
    let result = env.send(&[ix.clone()], signers).await;
    match result {
        Ok(_) => panic!("{what}: attack landed"),
        Err(e) => assert!(expected(&e), "{what}: wrong error {e:?}"),
    }
    assert_eq!(
        before,
        snapshot(env, &ix).await,
        "{what}: a rejected call changed an account"
    );
}
/// Every instruction of the IDL, every account attacked (see `matrix`): unsigned, another
/// type, the wrong owner, someone else's account of the same type (merchant, payment, token
/// account, mint), the other token program, a fake one. Each refusal is the one recorded in
/// `tests/golden/attacks-payments.txt`.
#[tokio::test]
async fn every_instruction_refuses_every_substituted_account_by_its_rule() {
    let mut w = world().await;
    let cases = every_instruction(&mut w).await;
    let cases: Vec<crate::matrix::Case> = cases
        .into_iter()
        .map(|c| (c.name, c.ix, c.signers))
        .collect();
    // config_init runs once per deployment: its own tests refuse a second one and an
    // impostor upgrade authority, and create it over a pre-funded address.
    // payment_pay_with_conversion needs conversion pools: conversion.rs runs the matrix on it.
    crate::matrix::assert_covers(
        kassa_sdk::programs::KassaProgram::Payments,
        &cases,
        &["config_init", "payment_pay_with_conversion"],
    );
    let mint = w.m.mint;
    let other_mint = w.env.mint(anchor_spl::token::ID, 6, None, None).await;
    let accounts = payments_accounts(
        &w.env,
        w.stranger.pubkey(),
        [
            (
                "Merchant",
                vec![w.m.address, w.auto_m.address, w.reclaim_m.address],
            ),
            ("Payment", vec![w.authorized, w.auto_due, w.reclaimable]),
            (
                "TokenAccount",
                vec![
                    mint.ata(&w.stranger.pubkey()),
                    mint.ata(&w.payer.pubkey()),
                    mint.ata(&w.m.authority),
                ],
            ),
            ("Mint", vec![mint.mint, other_mint.mint]),
        ],
        // A merchant picks its mint and its assignee, the admin and compliance the merchant
        // or payment they act on, a payer which of its payments to dispute.
        &[
            ("merchant_register", 3),
            ("merchant_set_fee_tier", 2),
            ("merchant_kyb_attest", 2),
            ("merchant_kyb_suspend", 2),
            ("dispute_open", 1),
            ("hold_place", 2),
            ("receivable_assign", 4),
        ],
    );
    crate::matrix::run(&mut w.env, &accounts, cases, "payments").await;
}

/// The payments program's accounts for the attack matrix, with `others` to substitute.
pub(crate) fn payments_accounts<const N: usize>(
    env: &Env,
    stranger: Pubkey,
    others: [(&'static str, Vec<Pubkey>); N],
    choices: &[(&'static str, usize)],
) -> crate::matrix::Accounts<'static> {
    fn whose(kind: &'static str, _: &Pubkey, data: &[u8]) -> Pubkey {
        use anchor_lang::AccountDeserialize;
        let mut d = data;
        match kind {
            "Merchant" => Merchant::try_deserialize(&mut d).unwrap().authority,
            "Payment" => Payment::try_deserialize(&mut d).unwrap().merchant,
            "BlocklistEntry" => BlocklistEntry::try_deserialize(&mut d).unwrap().wallet,
            _ => Pubkey::default(),
        }
    }
    crate::matrix::Accounts {
        programs: vec![env.p.program_id],
        types: vec![
            (Config::DISCRIMINATOR, "Config"),
            (Merchant::DISCRIMINATOR, "Merchant"),
            (Payment::DISCRIMINATOR, "Payment"),
            (BlocklistEntry::DISCRIMINATOR, "BlocklistEntry"),
        ],
        whose,
        others: others.into_iter().collect(),
        stranger,
        choices: choices.to_vec(),
    }
}

#[tokio::test]
async fn wrong_or_foreign_accounts_are_refused_with_their_rule() {
    let mut w = world().await;
    let m = w.m;
    let payer = w.payer.insecure_clone();
    let vault = w.env.vault(&m.mint);
    let env = &mut w.env;

    // A vault address that is not the canonical PDA of the mint.
    let mut ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &w.open, &m.mint, None)
        .unwrap();
    let merchant_ata = m.mint.ata(&m.authority);
    for meta in ix.accounts.iter_mut().filter(|a| a.pubkey == vault) {
        meta.pubkey = merchant_ata;
    }
    expect_rejected(
        env,
        "pay into a non-PDA vault",
        ix,
        &[&payer],
        A::ConstraintSeeds as u32,
    )
    .await;

    // Paying in another mint than the invoice's.
    let other = env.mint(anchor_spl::token::ID, 6, None, None).await;
    env.vault_open(&other).await;
    env.fund(&other, &payer.pubkey(), 10 * UNIT).await;
    let ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &w.open, &other, None)
        .unwrap();
    expect_rejected(
        env,
        "pay in a wrong mint",
        ix,
        &[&payer],
        code(E::MintMismatch),
    )
    .await;

    // A payment of another merchant.
    let ix = env
        .p
        .payment_capture(
            &m.authority,
            &env.settlement(&w.auto_m, &w.authorized, None),
            UNIT,
        )
        .unwrap();
    expect_rejected(
        env,
        "capture through another merchant",
        ix,
        &[&w.a],
        A::ConstraintHasOne as u32,
    )
    .await;
    let auto_authority = w.auto_m.authority;
    let ix = env
        .p
        .payment_capture(
            &auto_authority,
            &env.settlement(&m, &w.authorized, None),
            UNIT,
        )
        .unwrap();
    let stranger = w.stranger.insecure_clone();
    let mut ix2 = ix.clone();
    ix2.accounts[0].pubkey = stranger.pubkey();
    expect_rejected(
        env,
        "capture by a stranger",
        ix2,
        &[&stranger],
        code(E::NotMerchantOperator),
    )
    .await;

    // The blocklist PDA of someone else.
    let mut ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &w.open, &m.mint, None)
        .unwrap();
    let own = kassa_sdk::pda::blocklist_entry(&env.p.program_id, &payer.pubkey()).0;
    for meta in ix.accounts.iter_mut().filter(|a| a.pubkey == own) {
        meta.pubkey = kassa_sdk::pda::blocklist_entry(&env.p.program_id, &stranger.pubkey()).0;
    }
    expect_rejected(
        env,
        "pay with another wallet's blocklist slot",
        ix,
        &[&payer],
        A::ConstraintSeeds as u32,
    )
    .await;

    // Payouts into the escrow itself.
    let escrow = kassa_sdk::pda::escrow_authority(&env.p.program_id).0;
    env.fund(&m.mint, &escrow, 0).await;
    let ix = env
        .p
        .merchant_update(
            &m.authority,
            &m.address,
            None,
            None,
            MerchantUpdateArgs {
                settlement_wallet: Some(escrow),
                policy: None,
            },
        )
        .unwrap();
    env.send(&[ix], &[&w.a]).await.unwrap();
    let ix = env
        .p
        .payment_capture(
            &m.authority,
            &env.settlement(&w.m, &w.authorized, None)
                .with_wallet(escrow),
            UNIT,
        )
        .unwrap();
    expect_rejected(
        env,
        "capture into escrow",
        ix,
        &[&w.a],
        code(E::DestinationIsEscrow),
    )
    .await;
}

#[tokio::test]
async fn reinit_revive_overflow_and_settled_states_fail() {
    let mut w = world().await;
    let m = w.m;
    let payer = w.payer.insecure_clone();
    let env = &mut w.env;
    let admin = env.admin.insecure_clone();

    // Re-initializing the config: the account already exists (system program error 0).
    let ix = env
        .p
        .config_init(
            &admin.pubkey(),
            &admin.pubkey(),
            None,
            ConfigInitArgs {
                compliance_authority: admin.pubkey(),
                arbiter: admin.pubkey(),
                fee_receiver: admin.pubkey(),
                protocol_fee_bps: 0,
            },
        )
        .unwrap();
    expect_failure(env, "config re-init", ix, &[&admin], refused_reinit).await;

    // Re-opening an order id that is still live.
    let expires = env.now().await + 1_000;
    let (ix, _) = env
        .p
        .invoice_open(
            &m.authority,
            &m.address,
            &OrderId::new("AUTH").unwrap(),
            UNIT,
            expires,
        )
        .unwrap();
    expect_failure(env, "invoice re-init", ix, &[&w.a], refused_reinit).await;

    // Close, then try to use the closed payment.
    let cranker = w.stranger.insecure_clone();
    let ix = env
        .p
        .payment_close(&cranker.pubkey(), &m.address, &w.cancelled, &m.authority)
        .unwrap();
    env.send(&[ix.clone()], &[&cranker]).await.unwrap();
    expect_rejected(
        env,
        "close twice",
        ix,
        &[&cranker],
        A::AccountNotInitialized as u32,
    )
    .await;
    let ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &w.cancelled, &m.mint, None)
        .unwrap();
    expect_rejected(
        env,
        "pay a closed payment",
        ix,
        &[&payer],
        A::AccountNotInitialized as u32,
    )
    .await;

    // Overflowing amounts.
    let ix = env
        .p
        .payment_capture(
            &m.authority,
            &env.settlement(&m, &w.authorized, None),
            u64::MAX,
        )
        .unwrap();
    expect_rejected(
        env,
        "capture u64::MAX",
        ix,
        &[&w.a],
        code(E::CaptureExceedsEscrow),
    )
    .await;
    let arbiter = env.arbiter.insecure_clone();
    let ix = env
        .p
        .dispute_resolve(
            &arbiter.pubkey(),
            &env.settlement(&m, &w.disputed, None),
            &payer.pubkey(),
            u64::MAX,
            4 * UNIT + 1,
        )
        .unwrap();
    expect_rejected(
        env,
        "resolve split overflow",
        ix,
        &[&arbiter],
        code(E::SplitMismatch),
    )
    .await;
    let ix = env
        .p
        .payment_refund(
            &m.authority,
            &m.address,
            &w.captured,
            &m.mint,
            &payer.pubkey(),
            u64::MAX,
        )
        .unwrap();
    expect_rejected(
        env,
        "refund u64::MAX",
        ix,
        &[&w.a],
        code(E::RefundExceedsCaptured),
    )
    .await;
    let ix = env
        .p
        .receivable_assign(
            &m.authority,
            &m.address,
            &w.authorized,
            &m.mint.ata(&m.authority),
            u64::MAX,
        )
        .unwrap();
    expect_rejected(
        env,
        "assign u64::MAX",
        ix,
        &[&w.a],
        code(E::AssignmentExceedsEscrow),
    )
    .await;

    // Settled and wrong states.
    let ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &w.captured, &m.mint, None)
        .unwrap();
    expect_rejected(
        env,
        "pay a captured payment",
        ix,
        &[&payer],
        code(E::AlreadyPaid),
    )
    .await;
    let ix = env
        .p
        .hold_release(&env.compliance.pubkey(), &w.authorized)
        .unwrap();
    let compliance = env.compliance.insecure_clone();
    expect_rejected(
        env,
        "release without hold",
        ix,
        &[&compliance],
        code(E::PaymentNotHeld),
    )
    .await;
    let ix = env
        .p
        .dispute_resolve(
            &arbiter.pubkey(),
            &env.settlement(&m, &w.authorized, None),
            &payer.pubkey(),
            10 * UNIT,
            0,
        )
        .unwrap();
    expect_rejected(
        env,
        "resolve an undisputed payment",
        ix,
        &[&arbiter],
        code(E::PaymentNotDisputed),
    )
    .await;
    let ix = env
        .p
        .invoice_cancel(&m.authority, &m.address, &w.authorized)
        .unwrap();
    expect_rejected(
        env,
        "cancel a paid invoice",
        ix,
        &[&w.a],
        code(E::PaymentNotOpen),
    )
    .await;
    assert_eq!(
        env.payment(&w.authorized).await.status,
        PaymentStatus::Authorized
    );
}

/// Audit 9: the mint policy. Refused when a vault opens or a merchant picks the mint: a
/// permanent delegate, `Pausable`, `MintCloseAuthority` (close and recreate with other
/// extensions), a transfer fee above 100 bps. Accepted: a freeze authority (every regulated
/// stablecoin has one). A fee raised after the vault opened refuses new payments.
#[tokio::test]
async fn the_token_2022_mint_policy_holds_when_opening_and_at_every_payment() {
    use MintFeature as F;
    let mut env = Env::new().await;
    let someone = Keypair::new().pubkey();
    let t22 = anchor_spl::token_2022::ID;
    let payer = env.payer();
    for (what, features, err) in [
        (
            "permanent delegate",
            vec![F::PermanentDelegate(someone)],
            code(E::UnsupportedMintExtension),
        ),
        (
            "pausable",
            vec![F::Pausable(someone)],
            code(E::UnsupportedMintExtension),
        ),
        (
            "close authority",
            vec![F::CloseAuthority(someone)],
            code(E::UnsupportedMintExtension),
        ),
        (
            "transfer fee of 101 bps",
            vec![F::TransferFee(101, u64::MAX)],
            code(E::TransferFeeAboveCap),
        ),
    ] {
        let mint = env.mint_with(t22, 6, &features).await;
        let ix = env.p.vault_open(&payer.pubkey(), &mint).unwrap();
        expect_rejected(&mut env, &format!("vault for a {what} mint"), ix, &[], err).await;
        let merchant = env.wallet().await;
        let (ix, _) = env
            .p
            .merchant_register(&merchant.pubkey(), &mint.mint, &merchant.pubkey(), policy())
            .unwrap();
        expect_rejected(
            &mut env,
            &format!("merchant settling in a {what} mint"),
            ix,
            &[&merchant],
            err,
        )
        .await;
    }
    for token_program in [anchor_spl::token::ID, t22] {
        let frozen = env
            .mint_with(token_program, 6, &[F::FreezeAuthority(someone)])
            .await;
        env.vault_open(&frozen).await;
    }

    // At the cap, then raised: the invoice can no longer be paid, nothing moves.
    let mint = env
        .mint_with(t22, 6, &[F::TransferFee(100, u64::MAX)])
        .await;
    env.vault_open(&mint).await;
    let (authority, m) = env.merchant(&mint, policy()).await;
    let customer = env.wallet().await;
    env.fund(&mint, &customer.pubkey(), 10 * UNIT).await;
    let payment = env.invoice(&m, &authority, "FEE-1", UNIT).await;
    env.set_transfer_fee(&mint, 5_000, u64::MAX).await;
    let ix = env
        .p
        .payment_pay(&customer.pubkey(), &m.address, &payment, &mint, None)
        .unwrap();
    expect_rejected(
        &mut env,
        "payment after the fee was raised",
        ix,
        &[&customer],
        code(E::TransferFeeAboveCap),
    )
    .await;
}

/// Anyone can send lamports to a PDA before the program creates it (the next invoice of a
/// merchant, a wallet's blocklist entry, a mint's vault). Every account an instruction creates
/// is pre-funded here, and the instruction still lands and creates it.
#[tokio::test]
async fn every_account_an_instruction_creates_can_be_created_when_prefunded() {
    let mut w = world().await;
    let cases = every_instruction(&mut w).await;
    let mut created = Vec::new();
    for case in cases {
        let funded = w.env.prefund_created_accounts(&case.ix, 1_000_000).await;
        if funded.is_empty() {
            continue;
        }
        let signers: Vec<&Keypair> = case.signers.iter().collect();
        w.env
            .send(&[case.ix.clone()], &signers)
            .await
            .unwrap_or_else(|e| panic!("{} with pre-funded accounts: {e:?}", case.name));
        for key in funded {
            let account = w.env.account(&key).await.expect("created");
            assert!(
                account.owner == kassa_payments::ID
                    || account.owner == anchor_spl::token::ID
                    || account.owner == anchor_spl::token_2022::ID,
                "{}: {key} owned by {}",
                case.name,
                account.owner
            );
            assert!(
                !account.data.is_empty(),
                "{}: {key} has its data",
                case.name
            );
        }
        created.push(case.name);
    }
    created.sort_unstable();
    assert_eq!(
        created,
        [
            "blocklist_add",
            "invoice_open",
            "merchant_register",
            "vault_open"
        ]
    );

    // The singleton config, before the protocol exists.
    let mut pt = kassa_localnet::program_test();
    pt.prefer_bpf(false);
    let ctx = pt.start_with_context().await;
    let admin = ctx.payer.insecure_clone();
    let p = kassa_sdk::payments::Payments::default();
    let config = kassa_sdk::pda::config(&p.program_id).0;
    let blockhash = ctx.banks_client.get_latest_blockhash().await.unwrap();
    let prefund = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &admin.pubkey(),
            &config,
            1_000_000,
        )],
        Some(&admin.pubkey()),
        &[&admin],
        blockhash,
    );
    ctx.banks_client.process_transaction(prefund).await.unwrap();
    let init = p
        .config_init(
            &admin.pubkey(),
            &admin.pubkey(),
            None,
            ConfigInitArgs {
                compliance_authority: admin.pubkey(),
                arbiter: admin.pubkey(),
                fee_receiver: admin.pubkey(),
                protocol_fee_bps: 30,
            },
        )
        .unwrap();
    let tx = solana_sdk::transaction::Transaction::new_signed_with_payer(
        &[init],
        Some(&admin.pubkey()),
        &[&admin],
        blockhash,
    );
    ctx.banks_client
        .process_transaction(tx)
        .await
        .expect("config_init on a pre-funded config");
    let account = ctx.banks_client.get_account(config).await.unwrap().unwrap();
    assert_eq!(account.owner, kassa_payments::ID);
}
