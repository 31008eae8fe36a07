//! Footprint: account sizes, the serialized size of each wallet-signed transaction (at most
//! 1,232 bytes without lookup tables) and the compute units the SBF token programs report.
//! `KASSA_FOOTPRINT=1` prints the table that docs/payments.md records.

use crate::harness::*;
use anchor_lang::Space;
use kassa_payments::state::{BlocklistEntry, Config, Merchant, Payment};
use solana_sdk::{
    instruction::Instruction,
    message::Message,
    signature::{Keypair, Signer},
    transaction::Transaction,
};

/// Bytes of the transaction a wallet would sign: `ixs` alone, the fee payer first.
pub(crate) fn wire_size(ixs: &[Instruction], signers: &[&Keypair]) -> usize {
    let message = Message::new(ixs, Some(&signers[0].pubkey()));
    let tx = Transaction::new(
        &signers.to_vec(),
        message,
        solana_sdk::hash::Hash::default(),
    );
    bincode_len(&tx)
}

fn bincode_len(tx: &Transaction) -> usize {
    // Signatures (short-vec length + 64 each) then the serialized message.
    let sigs = tx.signatures.len();
    1 + sigs * 64 + tx.message.serialize().len()
}

/// Compute units consumed by the SBF token programs, from the transaction's logs.
pub(crate) fn token_units(logs: &[String]) -> u64 {
    logs.iter()
        .filter(|l| l.starts_with("Program Tokenkeg") || l.starts_with("Program TokenzQd"))
        .filter_map(|l| l.split(" consumed ").nth(1))
        .filter_map(|rest| rest.split(' ').next())
        .filter_map(|n| n.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn every_instruction_fits_a_wallet_transaction() {
    let mut w = crate::payments::attacks::world().await;
    let admin = w.env.admin.insecure_clone();
    let init = w
        .env
        .p
        .config_init(
            &admin.pubkey(),
            &admin.pubkey(),
            Some(admin.pubkey()),
            kassa_payments::instructions::ConfigInitArgs {
                compliance_authority: admin.pubkey(),
                arbiter: admin.pubkey(),
                fee_receiver: admin.pubkey(),
                protocol_fee_bps: 30,
            },
        )
        .expect("builds");
    let mut cases = vec![crate::payments::attacks::Ready {
        name: "config_init (upgradeable deployment)",
        ix: init,
        signers: vec![admin],
    }];
    cases.extend(crate::payments::attacks::every_instruction(&mut w).await);
    for case in cases {
        let signers: Vec<&Keypair> = case.signers.iter().collect();
        let size = wire_size(std::slice::from_ref(&case.ix), &signers);
        assert!(size <= 1_232, "{}: {size} bytes", case.name);
        if std::env::var("KASSA_FOOTPRINT").is_ok() {
            println!("| {} | {size} | {} |", case.name, case.ix.accounts.len());
        }
    }
}

#[tokio::test]
async fn accounts_and_transactions_fit_and_token_units_are_measured() {
    // Account sizes (8-byte discriminator included).
    let sizes = [
        ("Config", 8 + Config::INIT_SPACE),
        ("Merchant", 8 + Merchant::INIT_SPACE),
        ("Payment", 8 + Payment::INIT_SPACE),
        ("BlocklistEntry", 8 + BlocklistEntry::INIT_SPACE),
    ];

    let mut rows = Vec::new();
    for token_program in [anchor_spl::token::ID, anchor_spl::token_2022::ID] {
        let mut env = Env::new().await;
        let fee = (token_program == anchor_spl::token_2022::ID).then_some((50, 1_000_000));
        let mint = env.mint(token_program, 6, fee, None).await;
        env.vault_open(&mint).await;
        let (authority, m) = env.merchant(&mint, policy()).await;
        let payer = env.wallet().await;
        env.fund(&mint, &payer.pubkey(), 1_000_000_000).await;
        env.fund(&mint, &m.authority, 1_000_000_000).await;
        let lender = env.wallet().await;
        let assignee = env.fund(&mint, &lender.pubkey(), 0).await;
        let compliance = env.compliance.insecure_clone();
        let arbiter = env.arbiter.insecure_clone();
        let p = env.p;

        let a = env.invoice(&m, &authority, "FP-1", 100_000_000).await;
        let b = env.invoice(&m, &authority, "FP-2", 100_000_000).await;
        let payment_len = env.account(&a).await.expect("payment").data.len();
        assert!(
            payment_len <= 256,
            "a Payment account is {payment_len} bytes"
        );
        let mut steps: Vec<(&str, Instruction, Vec<&Keypair>)> = vec![
            (
                "payment_pay (KYT co-signed)",
                p.payment_pay(
                    &payer.pubkey(),
                    &m.address,
                    &a,
                    &mint,
                    Some(compliance.pubkey()),
                )
                .unwrap(),
                vec![&payer, &compliance],
            ),
            (
                "receivable_assign",
                p.receivable_assign(&m.authority, &m.address, &a, &assignee, 10_000_000)
                    .unwrap(),
                vec![&authority],
            ),
            (
                "payment_capture (with assignee)",
                p.payment_capture(
                    &m.authority,
                    &env.settlement(&m, &a, Some(assignee)),
                    50_000_000,
                )
                .unwrap(),
                vec![&authority],
            ),
            (
                "payment_refund",
                p.payment_refund(
                    &m.authority,
                    &m.address,
                    &a,
                    &mint,
                    &payer.pubkey(),
                    1_000_000,
                )
                .unwrap(),
                vec![&authority],
            ),
            (
                "payment_void",
                p.payment_void(
                    &m.authority,
                    &m.address,
                    &env.release(&m, &a, &payer.pubkey()),
                )
                .unwrap(),
                vec![&authority],
            ),
            (
                "payment_pay",
                p.payment_pay(&payer.pubkey(), &m.address, &b, &mint, None)
                    .unwrap(),
                vec![&payer],
            ),
            (
                "dispute_open",
                p.dispute_open(&payer.pubkey(), &b, [1; 32]).unwrap(),
                vec![&payer],
            ),
            (
                "dispute_resolve",
                p.dispute_resolve(
                    &arbiter.pubkey(),
                    &env.settlement(&m, &b, None),
                    &payer.pubkey(),
                    60_000_000,
                    0,
                )
                .unwrap(),
                vec![&arbiter],
            ),
        ];
        // The resolve split must match what escrow received (less the transfer fee).
        let received = if fee.is_some() {
            99_500_000
        } else {
            100_000_000
        };
        steps[7].1 = p
            .dispute_resolve(
                &arbiter.pubkey(),
                &env.settlement(&m, &b, None),
                &payer.pubkey(),
                60_000_000,
                received - 60_000_000,
            )
            .unwrap();
        for (name, ix, signers) in steps {
            let size = wire_size(std::slice::from_ref(&ix), &signers);
            assert!(size <= 1_232, "{name}: {size} bytes");
            let landed = env
                .send(&[ix], &signers)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e:?}"));
            rows.push((
                name,
                token_program == anchor_spl::token_2022::ID,
                size,
                token_units(&landed.logs),
            ));
        }
    }
    // Transfers run in the real SBF token programs, so they must report units.
    assert!(rows
        .iter()
        .filter(|r| r.0.starts_with("payment_pay"))
        .all(|r| r.3 > 0));
    if std::env::var("KASSA_FOOTPRINT").is_ok() {
        for (name, size) in sizes {
            println!("account {name}: {size} bytes");
        }
        for (name, t22, size, units) in rows {
            println!(
                "{name} [{}]: {size} bytes, token CU {units}",
                if t22 { "Token-2022" } else { "SPL Token" }
            );
        }
    }
}
