//! Every transition of the payment lifecycle, with balances, state and events.

use crate::harness::*;
use kassa_payments::{error::PaymentsError as E, state::PaymentStatus};
use kassa_sdk::decode::PaymentsEvent;
use solana_sdk::signature::{Keypair, Signer};

const USDC: u64 = 1_000_000;

async fn setup(
    token_program: anchor_lang::prelude::Pubkey,
) -> (Env, Keypair, MerchantFixture, Keypair) {
    let mut env = Env::new().await;
    let mint = env.mint(token_program, 6, None, None).await;
    env.vault_open(&mint).await;
    let (authority, m) = env.merchant(&mint, policy()).await;
    let payer = env.wallet().await;
    env.fund(&mint, &payer.pubkey(), 1_000 * USDC).await;
    (env, authority, m, payer)
}

fn only<'a>(events: &'a [PaymentsEvent], name: &str) -> &'a PaymentsEvent {
    let matching: Vec<_> = events.iter().filter(|e| e.name() == name).collect();
    assert_eq!(matching.len(), 1, "expected one {name} in {events:?}");
    matching[0]
}

#[tokio::test]
async fn authorize_capture_in_parts_refund_and_close() {
    for token_program in [anchor_spl::token::ID, anchor_spl::token_2022::ID] {
        let (mut env, authority, m, payer) = setup(token_program).await;
        let payment = env.invoice(&m, &authority, "INV-1001", 100 * USDC).await;
        let vault = env.vault(&m.mint);
        let payer_ata = m.mint.ata(&payer.pubkey());
        let merchant_ata = m.mint.ata(&m.authority);
        let fee_ata = m.mint.ata(&env.fee_receiver.pubkey());

        let landed = env.pay(&m, &payment, &payer).await.expect("pay");
        let PaymentsEvent::PaymentAuthorized(ev) = only(&landed.events, "PaymentAuthorized") else {
            unreachable!()
        };
        assert_eq!(
            (ev.requested, ev.received, ev.header.seq),
            (100 * USDC, 100 * USDC, 1)
        );
        assert_eq!(ev.payer, payer.pubkey());
        assert_eq!(env.balance(&vault).await, 100 * USDC);
        assert_eq!(env.balance(&payer_ata).await, 900 * USDC);
        let p = env.payment(&payment).await;
        assert_eq!(p.status, PaymentStatus::Authorized);
        assert_eq!(p.escrowed().unwrap(), 100 * USDC);

        // First partial capture: 40 USDC, fee 30 bps rounded up.
        let refs = env.settlement(&m, &payment, None);
        let ix = env
            .p
            .payment_capture(&m.authority, &refs, 40 * USDC)
            .unwrap();
        let landed = env.send(&[ix], &[&authority]).await.expect("capture 1");
        let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
            unreachable!()
        };
        assert_eq!(
            (ev.amount, ev.fee, ev.to_merchant, ev.captured_total),
            (40 * USDC, 120_000, 39_880_000, 40 * USDC)
        );
        assert!(!ev.auto);
        assert_eq!(
            env.payment(&payment).await.status,
            PaymentStatus::Authorized
        );

        // Second capture empties the escrow.
        let ix = env
            .p
            .payment_capture(&m.authority, &refs, 60 * USDC)
            .unwrap();
        env.send(&[ix], &[&authority]).await.expect("capture 2");
        assert_eq!(env.balance(&vault).await, 0);
        assert_eq!(env.balance(&fee_ata).await, 300_000);
        assert_eq!(env.balance(&merchant_ata).await, 99_700_000);
        let p = env.payment(&payment).await;
        assert_eq!(
            (p.status, p.captured),
            (PaymentStatus::Captured, 100 * USDC)
        );

        // Nothing left to capture.
        let ix = env.p.payment_capture(&m.authority, &refs, 1).unwrap();
        assert_code(
            env.send(&[ix], &[&authority]).await,
            code(E::PaymentNotAuthorized),
        );

        // Closing before the refund window ends would strand the payer's refund rights.
        let cranker = env.wallet().await;
        let ix = env
            .p
            .payment_close(&cranker.pubkey(), &m.address, &payment, &m.authority)
            .unwrap();
        assert_code(
            env.send(&[ix], &[&cranker]).await,
            code(E::PaymentNotClosable),
        );

        // Partial then full refund, merchant-funded.
        let ix = env
            .p
            .payment_refund(
                &m.authority,
                &m.address,
                &payment,
                &m.mint,
                &payer.pubkey(),
                10 * USDC,
            )
            .unwrap();
        let landed = env.send(&[ix], &[&authority]).await.expect("refund 1");
        let PaymentsEvent::PaymentRefunded(ev) = only(&landed.events, "PaymentRefunded") else {
            unreachable!()
        };
        assert_eq!((ev.amount, ev.refunded_total), (10 * USDC, 10 * USDC));
        assert_eq!(env.balance(&payer_ata).await, 910 * USDC);
        let ix = env
            .p
            .payment_refund(
                &m.authority,
                &m.address,
                &payment,
                &m.mint,
                &payer.pubkey(),
                90 * USDC + 1,
            )
            .unwrap();
        assert_code(
            env.send(&[ix], &[&authority]).await,
            code(E::RefundExceedsCaptured),
        );
        // The merchant needs funds of its own for the full refund (it received 99.7 net).
        env.fund(&m.mint, &m.authority, USDC).await;
        let ix = env
            .p
            .payment_refund(
                &m.authority,
                &m.address,
                &payment,
                &m.mint,
                &payer.pubkey(),
                90 * USDC,
            )
            .unwrap();
        env.send(&[ix], &[&authority]).await.expect("refund 2");
        assert_eq!(env.payment(&payment).await.status, PaymentStatus::Refunded);
        assert_eq!(env.balance(&payer_ata).await, 1_000 * USDC);

        // Close returns the rent to the merchant authority.
        let rent = env.account(&payment).await.unwrap().lamports;
        let before = env.account(&m.authority).await.unwrap().lamports;
        let ix = env
            .p
            .payment_close(&cranker.pubkey(), &m.address, &payment, &m.authority)
            .unwrap();
        let landed = env.send(&[ix], &[&cranker]).await.expect("close");
        let PaymentsEvent::PaymentClosed(ev) = only(&landed.events, "PaymentClosed") else {
            unreachable!()
        };
        assert_eq!((ev.lamports, ev.header.seq), (rent, 6));
        assert!(env.account(&payment).await.is_none());
        assert_eq!(
            env.account(&m.authority).await.unwrap().lamports,
            before + rent
        );
    }
}

#[tokio::test]
async fn void_returns_the_rest_and_reclaim_waits_for_expiry() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let payer_ata = m.mint.ata(&payer.pubkey());

    // Void after a partial capture: the rest goes back, the payment counts as captured.
    let a = env.invoice(&m, &authority, "VOID-1", 50 * USDC).await;
    env.pay(&m, &a, &payer).await.unwrap();
    let ix = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &a, None), 20 * USDC)
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    let ix = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &a, &payer.pubkey()),
        )
        .unwrap();
    let landed = env.send(&[ix], &[&authority]).await.unwrap();
    let PaymentsEvent::PaymentVoided(ev) = only(&landed.events, "PaymentVoided") else {
        unreachable!()
    };
    assert_eq!(ev.amount, 30 * USDC);
    let p = env.payment(&a).await;
    assert_eq!(
        (p.status, p.captured, p.released),
        (PaymentStatus::Captured, 20 * USDC, 30 * USDC)
    );
    assert_eq!(env.balance(&payer_ata).await, 980 * USDC);

    // Void with nothing captured.
    let b = env.invoice(&m, &authority, "VOID-2", 5 * USDC).await;
    env.pay(&m, &b, &payer).await.unwrap();
    let ix = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &b, &payer.pubkey()),
        )
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    assert_eq!(env.payment(&b).await.status, PaymentStatus::Voided);
    let ix = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &b, &payer.pubkey()),
        )
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::PaymentNotAuthorized),
    );

    // Reclaim only after the authorization expired; capture no longer possible then.
    let c = env.invoice(&m, &authority, "RECLAIM-1", 7 * USDC).await;
    env.pay(&m, &c, &payer).await.unwrap();
    let ix = env
        .p
        .payment_reclaim(&env.release(&m, &c, &payer.pubkey()))
        .unwrap();
    assert_code(
        env.send(&[ix.clone()], &[&payer]).await,
        code(E::AuthorizationNotExpired),
    );
    env.warp(7 * DAY).await;
    let cap = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &c, None), USDC)
        .unwrap();
    assert_code(
        env.send(&[cap], &[&authority]).await,
        code(E::AuthorizationExpired),
    );
    let landed = env.send(&[ix], &[&payer]).await.unwrap();
    let PaymentsEvent::PaymentReclaimed(ev) = only(&landed.events, "PaymentReclaimed") else {
        unreachable!()
    };
    assert_eq!(ev.amount, 7 * USDC);
    assert_eq!(env.payment(&c).await.status, PaymentStatus::Reclaimed);
    assert_eq!(env.balance(&payer_ata).await, 980 * USDC);
    assert_eq!(env.balance(&env.vault(&m.mint)).await, 0);
}

/// Audit 12: the merchant cannot capture while the protocol is paused, so the time spent paused
/// does not count against the authorization: a pause longer than the window does not make the
/// escrow reclaimable, and auto-capture moves later by the same time.
#[tokio::test]
async fn a_pause_does_not_let_authorizations_lapse() {
    use kassa_payments::{instructions::ConfigUpdateArgs, state::Config};
    let mut env = Env::new().await;
    let mint = env.mint(anchor_spl::token::ID, 6, None, None).await;
    env.vault_open(&mint).await;
    let mut pol = policy();
    pol.auto_capture_delay = 5 * DAY;
    let (authority, m) = env.merchant(&mint, pol).await;
    let payer = env.wallet().await;
    env.fund(&mint, &payer.pubkey(), 10 * USDC).await;
    let admin = env.admin.insecure_clone();
    let a = env.invoice(&m, &authority, "PAUSED-A", 4 * USDC).await;
    let b = env.invoice(&m, &authority, "PAUSED-B", 6 * USDC).await;
    env.pay(&m, &a, &payer).await.unwrap();
    env.pay(&m, &b, &payer).await.unwrap();
    let pause = |paused| ConfigUpdateArgs {
        paused: Some(paused),
        ..Default::default()
    };

    // Two days in, the protocol pauses for ten days: three windows' worth.
    env.warp(2 * DAY).await;
    let ix = env.p.config_update(&admin.pubkey(), pause(true)).unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();
    env.warp(10 * DAY).await;
    let reclaim = env
        .p
        .payment_reclaim(&env.release(&m, &a, &payer.pubkey()))
        .unwrap();
    assert_code(
        env.send(&[reclaim.clone()], &[&payer]).await,
        code(E::AuthorizationNotExpired),
    );
    let ix = env.p.config_update(&admin.pubkey(), pause(false)).unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();
    let cfg: Config = env
        .fetch(&kassa_sdk::pda::config(&env.p.program_id).0)
        .await;
    assert_eq!((cfg.paused, cfg.paused_since), (false, 0));
    assert!(cfg.paused_total >= 10 * DAY, "{}", cfg.paused_total);

    // Resumed with five days of the window left: the merchant captures part of `a`, auto-capture
    // of `b` is due only after its five unpaused days.
    let cap = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &a, None), USDC)
        .unwrap();
    env.send(&[cap], &[&authority]).await.unwrap();
    let cranker = env.wallet().await;
    let auto = env
        .p
        .payment_auto_capture(&cranker.pubkey(), &env.settlement(&m, &b, None))
        .unwrap();
    assert_code(
        env.send(&[auto.clone()], &[&cranker]).await,
        code(E::AutoCaptureNotDue),
    );
    env.warp(3 * DAY + 60).await;
    env.send(&[auto], &[&cranker]).await.unwrap();
    assert_eq!(env.payment(&b).await.status, PaymentStatus::Captured);

    // Past the seven unpaused days, the payer reclaims the rest and capture is over.
    assert_code(
        env.send(&[reclaim.clone()], &[&payer]).await,
        code(E::AuthorizationNotExpired),
    );
    env.warp(2 * DAY).await;
    let cap = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &a, None), USDC)
        .unwrap();
    assert_code(
        env.send(&[cap], &[&authority]).await,
        code(E::AuthorizationExpired),
    );
    env.send(&[reclaim], &[&payer]).await.unwrap();
    let p = env.payment(&a).await;
    assert_eq!((p.status, p.released), (PaymentStatus::Captured, 3 * USDC));
}

#[tokio::test]
async fn auto_capture_is_permissionless_once_due() {
    let mut env = Env::new().await;
    let mint = env.mint(anchor_spl::token::ID, 6, None, None).await;
    env.vault_open(&mint).await;
    let mut pol = policy();
    pol.auto_capture_delay = DAY;
    let (authority, m) = env.merchant(&mint, pol).await;
    let payer = env.wallet().await;
    env.fund(&mint, &payer.pubkey(), 10 * USDC).await;
    let payment = env.invoice(&m, &authority, "AUTO-1", 10 * USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();
    let cranker = env.wallet().await;
    let ix = env
        .p
        .payment_auto_capture(&cranker.pubkey(), &env.settlement(&m, &payment, None))
        .unwrap();
    assert_code(
        env.send(&[ix.clone()], &[&cranker]).await,
        code(E::AutoCaptureNotDue),
    );
    env.warp(DAY).await;
    let landed = env.send(&[ix], &[&cranker]).await.unwrap();
    let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
        unreachable!()
    };
    assert!(ev.auto);
    assert_eq!(
        (ev.amount, ev.fee, ev.header.actor),
        (10 * USDC, 30_000, cranker.pubkey())
    );
    assert_eq!(env.balance(&m.mint.ata(&m.authority)).await, 9_970_000);

    // A merchant without auto-capture cannot be cranked.
    let (authority2, m2) = env.merchant(&mint, policy()).await;
    env.fund(&mint, &payer.pubkey(), 10 * USDC).await;
    let p2 = env.invoice(&m2, &authority2, "AUTO-2", USDC).await;
    env.pay(&m2, &p2, &payer).await.unwrap();
    let ix = env
        .p
        .payment_auto_capture(&cranker.pubkey(), &env.settlement(&m2, &p2, None))
        .unwrap();
    assert_code(
        env.send(&[ix], &[&cranker]).await,
        code(E::AutoCaptureDisabled),
    );
}

#[tokio::test]
async fn dispute_freezes_escrow_until_the_arbiter_splits_it() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let payment = env.invoice(&m, &authority, "DSP-1", 100 * USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();
    // Only the payer may dispute.
    let ix = env.p.dispute_open(&m.authority, &payment, [1; 32]).unwrap();
    assert_code(env.send(&[ix], &[&authority]).await, code(E::NotPayer));
    let ix = env
        .p
        .dispute_open(&payer.pubkey(), &payment, [1; 32])
        .unwrap();
    let landed = env.send(&[ix], &[&payer]).await.unwrap();
    let PaymentsEvent::PaymentDisputed(ev) = only(&landed.events, "PaymentDisputed") else {
        unreachable!()
    };
    assert_eq!(ev.amount, 100 * USDC);
    // Frozen: no capture, no void.
    let refs = env.settlement(&m, &payment, None);
    let ix = env.p.payment_capture(&m.authority, &refs, USDC).unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::PaymentNotAuthorized),
    );
    // Only the arbiter resolves, and the split must match the escrow.
    let arbiter = env.arbiter.insecure_clone();
    let ix = env
        .p
        .dispute_resolve(&m.authority, &refs, &payer.pubkey(), 70 * USDC, 30 * USDC)
        .unwrap();
    assert_code(env.send(&[ix], &[&authority]).await, code(E::NotArbiter));
    let ix = env
        .p
        .dispute_resolve(
            &arbiter.pubkey(),
            &refs,
            &payer.pubkey(),
            70 * USDC,
            31 * USDC,
        )
        .unwrap();
    assert_code(env.send(&[ix], &[&arbiter]).await, code(E::SplitMismatch));
    let ix = env
        .p
        .dispute_resolve(
            &arbiter.pubkey(),
            &refs,
            &payer.pubkey(),
            70 * USDC,
            30 * USDC,
        )
        .unwrap();
    let landed = env.send(&[ix], &[&arbiter]).await.unwrap();
    let PaymentsEvent::DisputeResolved(ev) = only(&landed.events, "DisputeResolved") else {
        unreachable!()
    };
    assert_eq!(
        (ev.to_merchant_gross, ev.fee, ev.to_merchant, ev.to_payer),
        (70 * USDC, 210_000, 69_790_000, 30 * USDC)
    );
    assert_eq!(env.balance(&m.mint.ata(&payer.pubkey())).await, 930 * USDC);
    assert_eq!(env.balance(&m.mint.ata(&m.authority)).await, 69_790_000);
    assert_eq!(env.payment(&payment).await.status, PaymentStatus::Resolved);

    // After the dispute deadline the payer can no longer dispute.
    let late = env.invoice(&m, &authority, "DSP-2", USDC).await;
    env.pay(&m, &late, &payer).await.unwrap();
    env.warp(7 * DAY + 1).await;
    let ix = env.p.dispute_open(&payer.pubkey(), &late, [2; 32]).unwrap();
    assert_code(
        env.send(&[ix], &[&payer]).await,
        code(E::DisputeWindowClosed),
    );
}

#[tokio::test]
async fn compliance_hold_release_and_reject() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token_2022::ID).await;
    let compliance = env.compliance.insecure_clone();
    let payment = env.invoice(&m, &authority, "HOLD-1", 40 * USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();

    let ix = env.p.hold_place(&m.authority, &payment, [4; 32]).unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::NotComplianceAuthority),
    );
    let ix = env
        .p
        .hold_place(&compliance.pubkey(), &payment, [4; 32])
        .unwrap();
    let landed = env.send(&[ix], &[&compliance]).await.unwrap();
    assert_eq!(only(&landed.events, "PaymentHeld").header().seq, 2);
    let refs = env.settlement(&m, &payment, None);
    let ix = env.p.payment_capture(&m.authority, &refs, USDC).unwrap();
    assert_code(
        env.send(&[ix.clone()], &[&authority]).await,
        code(E::PaymentNotAuthorized),
    );
    let ix2 = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &payment, &payer.pubkey()),
        )
        .unwrap();
    assert_code(
        env.send(&[ix2], &[&authority]).await,
        code(E::PaymentNotAuthorized),
    );

    let rel = env.p.hold_release(&compliance.pubkey(), &payment).unwrap();
    env.send(&[rel], &[&compliance]).await.unwrap();
    env.send(&[ix], &[&authority])
        .await
        .expect("capture after release");

    let ix = env
        .p
        .hold_place(&compliance.pubkey(), &payment, [5; 32])
        .unwrap();
    env.send(&[ix], &[&compliance]).await.unwrap();
    let ix = env
        .p
        .hold_reject(
            &compliance.pubkey(),
            &env.release(&m, &payment, &payer.pubkey()),
            [5; 32],
        )
        .unwrap();
    let landed = env.send(&[ix], &[&compliance]).await.unwrap();
    let PaymentsEvent::PaymentRejected(ev) = only(&landed.events, "PaymentRejected") else {
        unreachable!()
    };
    assert_eq!(ev.amount, 39 * USDC);
    let p = env.payment(&payment).await;
    assert_eq!(
        (p.status, p.captured, p.released),
        (PaymentStatus::Rejected, USDC, 39 * USDC)
    );
    assert_eq!(env.balance(&m.mint.ata(&payer.pubkey())).await, 999 * USDC);
    assert_eq!(env.balance(&env.vault(&m.mint)).await, 0);
}

#[tokio::test]
async fn assigned_receivable_is_paid_first_from_captures() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let lender = env.wallet().await;
    let assignee = env.fund(&m.mint, &lender.pubkey(), 0).await;
    let payment = env.invoice(&m, &authority, "RCV-1", 100 * USDC).await;
    // Nothing to assign before authorization.
    let ix = env
        .p
        .receivable_assign(&m.authority, &m.address, &payment, &assignee, 50 * USDC)
        .unwrap();
    assert_code(
        env.send(&[ix.clone()], &[&authority]).await,
        code(E::PaymentNotAuthorized),
    );
    env.pay(&m, &payment, &payer).await.unwrap();
    let too_much = env
        .p
        .receivable_assign(
            &m.authority,
            &m.address,
            &payment,
            &assignee,
            100 * USDC + 1,
        )
        .unwrap();
    assert_code(
        env.send(&[too_much], &[&authority]).await,
        code(E::AssignmentExceedsEscrow),
    );
    // Audit 8: captures pay the assignee after the 30 bps fee, so the whole escrow, or one unit
    // more than its net, is refused by name (it used to make every capture fail).
    for amount in [100 * USDC, 99_700_001] {
        let ix = env
            .p
            .receivable_assign(&m.authority, &m.address, &payment, &assignee, amount)
            .unwrap();
        assert_code(
            env.send(&[ix], &[&authority]).await,
            code(E::AssignmentExceedsNet),
        );
    }
    let landed = env.send(&[ix.clone()], &[&authority]).await.unwrap();
    let PaymentsEvent::ReceivableAssigned(ev) = only(&landed.events, "ReceivableAssigned") else {
        unreachable!()
    };
    assert_eq!((ev.assignee, ev.amount), (assignee, 50 * USDC));
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::ReceivableAlreadyAssigned),
    );

    // Capturing without the assignee account is refused.
    let ix = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &payment, None), 30 * USDC)
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::AssigneeMismatch),
    );
    let refs = env.settlement(&m, &payment, Some(assignee));
    let ix = env
        .p
        .payment_capture(&m.authority, &refs, 30 * USDC)
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    assert_eq!(env.balance(&assignee).await, 29_910_000);
    assert_eq!(env.balance(&m.mint.ata(&m.authority)).await, 0);
    let ix = env
        .p
        .payment_capture(&m.authority, &refs, 70 * USDC)
        .unwrap();
    let landed = env.send(&[ix], &[&authority]).await.unwrap();
    let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
        unreachable!()
    };
    assert_eq!(
        (ev.fee, ev.to_assignee, ev.to_merchant),
        (210_000, 20_090_000, 49_700_000)
    );
    assert_eq!(env.balance(&assignee).await, 50 * USDC);
    assert_eq!(env.payment(&payment).await.assigned, 0);
}

/// Audit 8: the largest assignment allowed (the escrow net of the fee) never blocks a capture,
/// however the escrow is captured: fee rounding per capture leaves dust the assignee is not
/// paid, and the capture that empties the escrow ends the assignment.
#[tokio::test]
async fn an_assignment_of_the_whole_net_escrow_is_captured_in_pieces() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let lender = env.wallet().await;
    let assignee = env.fund(&m.mint, &lender.pubkey(), 0).await;
    let payment = env.invoice(&m, &authority, "RCV-NET", 100 * USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();
    let net = 99_700_000;
    let ix = env
        .p
        .receivable_assign(&m.authority, &m.address, &payment, &assignee, net)
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    let refs = env.settlement(&m, &payment, Some(assignee));
    let mut paid = 0;
    for piece in [1, 333_333, 33_333_333, 66_333_333] {
        let ix = env.p.payment_capture(&m.authority, &refs, piece).unwrap();
        let landed = env.send(&[ix], &[&authority]).await.unwrap();
        let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
            unreachable!()
        };
        paid += ev.to_assignee;
    }
    let p = env.payment(&payment).await;
    assert_eq!((p.status, p.assigned), (PaymentStatus::Captured, 0));
    assert_eq!(env.balance(&assignee).await, paid);
    // Four captures each round their fee up once: at most four units of dust.
    assert!(net - paid <= 4, "assignee short by {}", net - paid);
}

/// Audit 14: the authority hands an operator key to its server. The operator opens and cancels
/// invoices, captures (only ever to the settlement wallet) and voids; it cannot refund, assign,
/// change the merchant or name another operator. Rotation needs the new key's signature, and a
/// removed or rotated-out operator can do nothing.
#[tokio::test]
async fn a_merchant_operator_opens_captures_and_voids_and_nothing_more() {
    use kassa_payments::{instructions::MerchantUpdateArgs, state::Merchant};
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let server = env.wallet().await;
    env.fund(&m.mint, &server.pubkey(), USDC).await;
    let stranger = env.wallet().await;
    let set = |env: &Env, signer: &Keypair, operator: Option<&Keypair>| {
        env.p
            .merchant_operator_set(&signer.pubkey(), &m.address, operator.map(|k| k.pubkey()))
            .unwrap()
    };
    // Only the authority names an operator, and never itself.
    let ix = set(&env, &stranger, Some(&server));
    assert_code(
        env.send(&[ix], &[&stranger, &server]).await,
        code(E::NotMerchantAuthority),
    );
    let ix = set(&env, &authority, Some(&authority));
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::OperatorIsAuthority),
    );
    let ix = set(&env, &authority, Some(&server));
    let landed = env.send(&[ix], &[&authority, &server]).await.unwrap();
    let PaymentsEvent::MerchantUpdated(ev) = only(&landed.events, "MerchantUpdated") else {
        unreachable!()
    };
    assert_eq!(ev.operator, server.pubkey());
    let merchant: Merchant = env.fetch(&m.address).await;
    assert_eq!(merchant.operator, server.pubkey());

    // The server opens (paying the rent), captures to the settlement wallet, voids and cancels.
    let sold = env.invoice(&m, &server, "OP-1", 10 * USDC).await;
    assert!(env.payment(&sold).await.opened_by_operator);
    env.pay(&m, &sold, &payer).await.unwrap();
    let ix = env
        .p
        .payment_capture(
            &server.pubkey(),
            &env.settlement(&m, &sold, None),
            10 * USDC,
        )
        .unwrap();
    let landed = env.send(&[ix], &[&server]).await.unwrap();
    let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
        unreachable!()
    };
    assert_eq!(ev.header.actor, server.pubkey());
    assert_eq!(env.balance(&m.mint.ata(&m.authority)).await, 9_970_000);
    let returned = env.invoice(&m, &server, "OP-2", USDC).await;
    env.pay(&m, &returned, &payer).await.unwrap();
    let ix = env
        .p
        .payment_void(
            &server.pubkey(),
            &m.address,
            &env.release(&m, &returned, &payer.pubkey()),
        )
        .unwrap();
    env.send(&[ix], &[&server]).await.unwrap();
    // The rent of an invoice the operator opened returns to the operator.
    let cranker = env.wallet().await;
    let close = |env: &Env, payment: &anchor_lang::prelude::Pubkey, receiver: &Keypair| {
        env.p
            .payment_close(&cranker.pubkey(), &m.address, payment, &receiver.pubkey())
            .unwrap()
    };
    assert_code(
        env.send(&[close(&env, &returned, &authority)], &[&cranker])
            .await,
        code(E::RentReceiverMismatch),
    );
    let landed = env
        .send(&[close(&env, &returned, &server)], &[&cranker])
        .await
        .unwrap();
    let PaymentsEvent::PaymentClosed(ev) = only(&landed.events, "PaymentClosed") else {
        unreachable!()
    };
    assert_eq!(ev.rent_receiver, server.pubkey());
    let unpaid = env.invoice(&m, &server, "OP-3", USDC).await;
    let ix = env
        .p
        .invoice_cancel(&server.pubkey(), &m.address, &unpaid)
        .unwrap();
    env.send(&[ix], &[&server]).await.unwrap();

    // Nothing that moves the merchant's own money or changes the merchant.
    let refund = env
        .p
        .payment_refund(
            &server.pubkey(),
            &m.address,
            &sold,
            &m.mint,
            &payer.pubkey(),
            USDC,
        )
        .unwrap();
    let update = env
        .p
        .merchant_update(
            &server.pubkey(),
            &m.address,
            None,
            None,
            MerchantUpdateArgs {
                settlement_wallet: Some(server.pubkey()),
                policy: None,
            },
        )
        .unwrap();
    let later = env.invoice(&m, &authority, "OP-4", USDC).await;
    env.pay(&m, &later, &payer).await.unwrap();
    let assign = env
        .p
        .receivable_assign(
            &server.pubkey(),
            &m.address,
            &later,
            &m.mint.ata(&server.pubkey()),
            USDC / 2,
        )
        .unwrap();
    let rename = set(&env, &server, Some(&stranger));
    for (what, ix, signers) in [
        ("refund", refund, vec![&server]),
        ("merchant_update", update, vec![&server]),
        ("receivable_assign", assign, vec![&server]),
        ("merchant_operator_set", rename, vec![&server, &stranger]),
    ] {
        let result = env.send(&[ix], &signers).await;
        assert_eq!(
            result.as_ref().err().and_then(custom_code),
            Some(code(E::NotMerchantAuthority)),
            "{what}: {result:?}"
        );
    }

    // Rotation: the new key co-signs; the old one is out. Removal leaves the authority alone.
    let next = env.wallet().await;
    let ix = set(&env, &authority, Some(&next));
    env.send(&[ix], &[&authority, &next]).await.unwrap();
    let capture = |env: &Env, signer: &Keypair| {
        env.p
            .payment_capture(&signer.pubkey(), &env.settlement(&m, &later, None), USDC)
            .unwrap()
    };
    assert_code(
        env.send(&[capture(&env, &server)], &[&server]).await,
        code(E::NotMerchantOperator),
    );
    let ix = set(&env, &authority, None);
    let landed = env.send(&[ix], &[&authority]).await.unwrap();
    let PaymentsEvent::MerchantUpdated(ev) = only(&landed.events, "MerchantUpdated") else {
        unreachable!()
    };
    assert_eq!(ev.operator, Default::default());
    assert_code(
        env.send(&[capture(&env, &next)], &[&next]).await,
        code(E::NotMerchantOperator),
    );
    env.send(&[capture(&env, &authority)], &[&authority])
        .await
        .unwrap();

    // Once the operator that paid a rent is gone, the rent returns to the authority.
    env.warp(31 * DAY).await;
    assert_code(
        env.send(&[close(&env, &sold, &server)], &[&cranker]).await,
        code(E::RentReceiverMismatch),
    );
    let landed = env
        .send(&[close(&env, &sold, &authority)], &[&cranker])
        .await
        .unwrap();
    let PaymentsEvent::PaymentClosed(ev) = only(&landed.events, "PaymentClosed") else {
        unreachable!()
    };
    assert_eq!(ev.rent_receiver, authority.pubkey());
}

#[tokio::test]
async fn invoices_cancel_expire_and_pay_exactly_once() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let a = env.invoice(&m, &authority, "ONCE-1", USDC).await;
    env.pay(&m, &a, &payer).await.unwrap();
    let ix = env
        .p
        .payment_pay(&payer.pubkey(), &m.address, &a, &m.mint, None)
        .unwrap();
    assert_code(env.send(&[ix], &[&payer]).await, code(E::AlreadyPaid));
    assert_eq!(env.balance(&m.mint.ata(&payer.pubkey())).await, 999 * USDC);

    let b = env.invoice(&m, &authority, "CANCEL-1", USDC).await;
    let stranger = env.wallet().await;
    let ix = env
        .p
        .invoice_cancel(&stranger.pubkey(), &m.address, &b)
        .unwrap();
    assert_code(
        env.send(&[ix], &[&stranger]).await,
        code(E::NotMerchantOperator),
    );
    let ix = env.p.invoice_cancel(&m.authority, &m.address, &b).unwrap();
    let landed = env.send(&[ix], &[&authority]).await.unwrap();
    only(&landed.events, "InvoiceCancelled");
    assert_code(env.pay(&m, &b, &payer).await, code(E::PaymentNotOpen));

    let c = env.invoice(&m, &authority, "EXPIRE-1", USDC).await;
    let ix = env.p.invoice_expire(&stranger.pubkey(), &c).unwrap();
    assert_code(
        env.send(&[ix.clone()], &[&stranger]).await,
        code(E::InvoiceNotExpired),
    );
    env.warp(DAY).await;
    assert_code(env.pay(&m, &c, &payer).await, code(E::InvoiceExpired));
    let landed = env.send(&[ix], &[&stranger]).await.unwrap();
    only(&landed.events, "InvoiceExpired");
    assert_eq!(env.payment(&c).await.status, PaymentStatus::Expired);

    // Expired and cancelled invoices close at once; the order id can then be reused.
    let ix = env
        .p
        .payment_close(&stranger.pubkey(), &m.address, &c, &m.authority)
        .unwrap();
    env.send(&[ix], &[&stranger]).await.unwrap();
    let again = env.invoice(&m, &authority, "EXPIRE-1", 2 * USDC).await;
    assert_eq!(again, c);
    assert_eq!(env.payment(&again).await.amount, 2 * USDC);
}

#[tokio::test]
async fn token_2022_transfer_fee_books_what_escrow_received() {
    let mut env = Env::new().await;
    // 1 % transfer fee, capped at 5 tokens.
    let mint = env
        .mint(anchor_spl::token_2022::ID, 6, Some((100, 5 * USDC)), None)
        .await;
    env.vault_open(&mint).await;
    let (authority, m) = env.merchant(&mint, policy()).await;
    let payer = env.wallet().await;
    env.fund(&mint, &payer.pubkey(), 100 * USDC).await;
    let payment = env.invoice(&m, &authority, "T22-1", 10 * USDC).await;
    let landed = env.pay(&m, &payment, &payer).await.unwrap();
    let PaymentsEvent::PaymentAuthorized(ev) = only(&landed.events, "PaymentAuthorized") else {
        unreachable!()
    };
    assert_eq!((ev.requested, ev.received), (10 * USDC, 9_900_000));
    let vault = env.vault(&mint);
    assert_eq!(env.balance(&vault).await, 9_900_000);
    assert_eq!(env.withheld(&vault).await, 100_000);
    let p = env.payment(&payment).await;
    assert_eq!((p.amount, p.authorized), (10 * USDC, 9_900_000));

    // Capturing more than was received fails; capturing what was received empties escrow.
    let refs = env.settlement(&m, &payment, None);
    let ix = env
        .p
        .payment_capture(&m.authority, &refs, 10 * USDC)
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::CaptureExceedsEscrow),
    );
    let ix = env
        .p
        .payment_capture(&m.authority, &refs, 9_900_000)
        .unwrap();
    let landed = env.send(&[ix], &[&authority]).await.unwrap();
    let PaymentsEvent::PaymentCaptured(ev) = only(&landed.events, "PaymentCaptured") else {
        unreachable!()
    };
    assert_eq!((ev.fee, ev.to_merchant), (29_700, 9_870_300));
    assert_eq!(env.balance(&vault).await, 0);
    // The merchant's account receives the payout less the 1 % transfer fee (rounded up).
    assert_eq!(
        env.balance(&m.mint.ata(&m.authority)).await,
        9_870_300 - 98_703
    );
}

#[tokio::test]
async fn kyb_blocklist_and_kyt_gates() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let compliance = env.compliance.insecure_clone();

    // Blocked payers cannot pay; unblocked they can.
    let payment = env.invoice(&m, &authority, "GATE-1", USDC).await;
    let ix = env
        .p
        .blocklist_add(&compliance.pubkey(), &payer.pubkey(), [9; 32])
        .unwrap();
    only(
        &env.send(&[ix], &[&compliance]).await.unwrap().events,
        "PayerBlocked",
    );
    assert_code(env.pay(&m, &payment, &payer).await, code(E::PayerBlocked));
    let ix = env
        .p
        .blocklist_remove(&compliance.pubkey(), &payer.pubkey(), &compliance.pubkey())
        .unwrap();
    only(
        &env.send(&[ix], &[&compliance]).await.unwrap().events,
        "PayerUnblocked",
    );
    env.pay(&m, &payment, &payer)
        .await
        .expect("unblocked payer pays");

    // A suspended merchant can neither open invoices nor receive payments.
    let open = env.invoice(&m, &authority, "GATE-2", USDC).await;
    let ix = env
        .p
        .merchant_kyb_suspend(&compliance.pubkey(), &m.address, [8; 32])
        .unwrap();
    only(
        &env.send(&[ix], &[&compliance]).await.unwrap().events,
        "MerchantKybChanged",
    );
    assert_code(
        env.pay(&m, &open, &payer).await,
        code(E::MerchantNotApproved),
    );
    let expires = env.now().await + DAY;
    let (ix, _) = env
        .p
        .invoice_open(
            &m.authority,
            &m.address,
            &kassa_sdk::payments::OrderId::new("GATE-3").unwrap(),
            USDC,
            expires,
        )
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::MerchantNotApproved),
    );
    // Existing escrow still settles.
    let ix = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &payment, None), USDC)
        .unwrap();
    env.send(&[ix], &[&authority])
        .await
        .expect("suspended merchant still captures");

    // KYT co-signature required by the merchant's policy.
    let mut pol = policy();
    pol.require_kyt = true;
    let (authority2, m2) = env.merchant(&m.mint, pol).await;
    let p2 = env.invoice(&m2, &authority2, "KYT-1", USDC).await;
    assert_code(
        env.pay(&m2, &p2, &payer).await,
        code(E::KytSignatureRequired),
    );
    let impostor = env.wallet().await;
    let ix = env
        .p
        .payment_pay(
            &payer.pubkey(),
            &m2.address,
            &p2,
            &m2.mint,
            Some(impostor.pubkey()),
        )
        .unwrap();
    assert_code(
        env.send(&[ix], &[&payer, &impostor]).await,
        code(E::NotComplianceAuthority),
    );
    let ix = env
        .p
        .payment_pay(
            &payer.pubkey(),
            &m2.address,
            &p2,
            &m2.mint,
            Some(compliance.pubkey()),
        )
        .unwrap();
    let landed = env.send(&[ix], &[&payer, &compliance]).await.unwrap();
    let PaymentsEvent::PaymentAuthorized(ev) = only(&landed.events, "PaymentAuthorized") else {
        unreachable!()
    };
    assert!(ev.kyt_cosigned);
}

#[tokio::test]
async fn config_admin_fee_cap_pause_and_merchant_profile() {
    use kassa_payments::instructions::{ConfigUpdateArgs, MerchantUpdateArgs};
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let admin = env.admin.insecure_clone();
    let stranger = env.wallet().await;

    let args = ConfigUpdateArgs {
        paused: Some(true),
        ..Default::default()
    };
    let ix = env
        .p
        .config_update(&stranger.pubkey(), args.clone())
        .unwrap();
    assert_code(env.send(&[ix], &[&stranger]).await, code(E::NotAdmin));
    // The hard cap holds even if a client skips the SDK's own check.
    let mut ix = env
        .p
        .config_update(&admin.pubkey(), ConfigUpdateArgs::default())
        .unwrap();
    ix.data = anchor_lang::InstructionData::data(&kassa_payments::instruction::ConfigUpdate {
        args: ConfigUpdateArgs {
            protocol_fee_bps: Some(1_001),
            ..Default::default()
        },
    });
    assert_code(env.send(&[ix], &[&admin]).await, code(E::FeeAboveCap));

    // Paused: no new invoices or payments, but money can go back to payers.
    let payment = env.invoice(&m, &authority, "PAUSE-1", USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();
    let ix = env.p.config_update(&admin.pubkey(), args).unwrap();
    let landed = env.send(&[ix], &[&admin]).await.unwrap();
    let PaymentsEvent::ConfigUpdated(ev) = only(&landed.events, "ConfigUpdated") else {
        unreachable!()
    };
    assert!(ev.paused);
    let expires = env.now().await + DAY;
    let (ix, _) = env
        .p
        .invoice_open(
            &m.authority,
            &m.address,
            &kassa_sdk::payments::OrderId::new("PAUSE-2").unwrap(),
            USDC,
            expires,
        )
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::ProtocolPaused),
    );
    let ix = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &payment, &payer.pubkey()),
        )
        .unwrap();
    env.send(&[ix], &[&authority])
        .await
        .expect("void while paused");
    let ix = env
        .p
        .config_update(
            &admin.pubkey(),
            ConfigUpdateArgs {
                paused: Some(false),
                protocol_fee_bps: Some(100),
                ..Default::default()
            },
        )
        .unwrap();
    env.send(&[ix], &[&admin]).await.unwrap();

    // Admin hand-over needs both keys.
    let next = env.wallet().await;
    let ix = env
        .p
        .config_transfer_admin(&admin.pubkey(), &next.pubkey())
        .unwrap();
    env.send(&[ix], &[&admin, &next]).await.unwrap();
    let cfg: kassa_payments::state::Config = env
        .fetch(&kassa_sdk::pda::config(&env.p.program_id).0)
        .await;
    assert_eq!(
        (cfg.admin, cfg.protocol_fee_bps, cfg.paused),
        (next.pubkey(), 100, false)
    );

    // Merchant fee tier and profile.
    let ix = env
        .p
        .merchant_set_fee_tier(&next.pubkey(), &m.address, Some(5))
        .unwrap();
    env.send(&[ix], &[&next]).await.unwrap();
    let new_wallet = env.wallet().await;
    let ix = env
        .p
        .merchant_update(
            &m.authority,
            &m.address,
            Some(new_wallet.pubkey()),
            None,
            MerchantUpdateArgs {
                settlement_wallet: Some(new_wallet.pubkey()),
                policy: None,
            },
        )
        .unwrap();
    let landed = env.send(&[ix], &[&authority, &new_wallet]).await.unwrap();
    let PaymentsEvent::MerchantUpdated(ev) = only(&landed.events, "MerchantUpdated") else {
        unreachable!()
    };
    assert_eq!(
        (ev.authority, ev.settlement_wallet, ev.fee_bps),
        (new_wallet.pubkey(), new_wallet.pubkey(), Some(5))
    );
    let mut bad = policy();
    bad.authorization_window = 10;
    let ix = env
        .p
        .merchant_update(
            &new_wallet.pubkey(),
            &m.address,
            None,
            None,
            MerchantUpdateArgs {
                settlement_wallet: None,
                policy: Some(bad),
            },
        )
        .unwrap();
    assert_code(
        env.send(&[ix], &[&new_wallet]).await,
        code(E::AuthorizationWindowOutOfBounds),
    );
}

#[tokio::test]
async fn refunding_every_capture_then_voiding_ends_refunded_and_bad_inputs_name_their_rule() {
    let (mut env, authority, m, payer) = setup(anchor_spl::token::ID).await;
    let payment = env.invoice(&m, &authority, "REF-ALL", 50 * USDC).await;
    env.pay(&m, &payment, &payer).await.unwrap();
    let ix = env
        .p
        .payment_capture(&m.authority, &env.settlement(&m, &payment, None), 20 * USDC)
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    env.fund(&m.mint, &m.authority, USDC).await;
    let ix = env
        .p
        .payment_refund(
            &m.authority,
            &m.address,
            &payment,
            &m.mint,
            &payer.pubkey(),
            20 * USDC,
        )
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    // A dispute needs a reason the arbiter can look up.
    let ix = env
        .p
        .dispute_open(&payer.pubkey(), &payment, [0; 32])
        .unwrap();
    assert_code(env.send(&[ix], &[&payer]).await, code(E::EmptyCaseHash));
    // Proceeds cannot be assigned to an account the escrow owns.
    let escrow = kassa_sdk::pda::escrow_authority(&env.p.program_id).0;
    let escrow_ata = env.fund(&m.mint, &escrow, 0).await;
    let ix = env
        .p
        .receivable_assign(&m.authority, &m.address, &payment, &escrow_ata, USDC)
        .unwrap();
    assert_code(
        env.send(&[ix], &[&authority]).await,
        code(E::DestinationIsEscrow),
    );
    let ix = env
        .p
        .payment_void(
            &m.authority,
            &m.address,
            &env.release(&m, &payment, &payer.pubkey()),
        )
        .unwrap();
    env.send(&[ix], &[&authority]).await.unwrap();
    let p = env.payment(&payment).await;
    assert_eq!(
        (p.status, p.captured, p.refunded, p.released),
        (PaymentStatus::Refunded, 20 * USDC, 20 * USDC, 30 * USDC)
    );
    assert_eq!(
        env.balance(&m.mint.ata(&payer.pubkey())).await,
        1_000 * USDC
    );
}
