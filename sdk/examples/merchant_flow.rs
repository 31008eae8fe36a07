//! A merchant's day against `kassa localnet` (or any cluster with the Kassa programs):
//! register and get verified, open an invoice with its payment link, have a second keypair pay
//! it, capture, and refund part of it.
//!
//! ```sh
//! kassa localnet &                      # writes .kassa-localnet/demo.json and payer.json
//! cargo run -p kassa-sdk --example merchant_flow
//! ```
//!
//! `KASSA_DEMO` points at another demo.json. The localnet payer plays the compliance officer
//! (KYB approval) and the USDC issuer (funding the customer).

use anchor_lang::prelude::Pubkey;
use kassa_payments::state::MerchantPolicy;
use kassa_sdk::{
    SdkError,
    payments::{MintRef, OrderId, Payments, SettlementRefs},
    rpc::KassaClient,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::signature::{Keypair, Signer};
use std::str::FromStr;

fn demo() -> Result<(String, Keypair, MintRef), Box<dyn std::error::Error>> {
    let path = std::env::var("KASSA_DEMO").unwrap_or_else(|_| ".kassa-localnet/demo.json".into());
    let demo: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .map_err(|e| format!("{path}: {e} (is `kassa localnet` running?)"))?,
    )?;
    let keypair_path = demo["payerKeypair"]
        .as_str()
        .ok_or("payerKeypair missing")?;
    let bytes: Vec<u8> = serde_json::from_str(&std::fs::read_to_string(keypair_path)?)?;
    let issuer = Keypair::try_from(bytes.as_slice())?;
    let usdc = MintRef::new(
        Pubkey::from_str(demo["usdc"].as_str().ok_or("usdc missing")?)?,
        anchor_spl::token::ID,
    )?;
    Ok((
        demo["rpcUrl"].as_str().ok_or("rpcUrl missing")?.to_string(),
        issuer,
        usdc,
    ))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (url, issuer, usdc) = demo()?;
    let client = KassaClient::new(url, CommitmentConfig::confirmed());
    let p = Payments::default();
    let (merchant, customer) = (Keypair::new(), Keypair::new());
    for k in [&merchant, &customer] {
        let sig = client
            .rpc
            .request_airdrop(&k.pubkey(), 2_000_000_000)
            .await?;
        client.rpc.poll_for_signature(&sig).await?;
    }

    // 1. Register, settling in USDC to the merchant's own wallet; compliance approves.
    let policy = MerchantPolicy {
        authorization_window: 7 * 86_400,
        auto_capture_delay: 0,
        refund_window: 30 * 86_400,
        dispute_window: 7 * 86_400,
        require_kyt: false,
    };
    let (register, merchant_pda) =
        p.merchant_register(&merchant.pubkey(), &usdc.mint, &merchant.pubkey(), policy)?;
    client.send(&[register], &merchant, &[]).await?;
    client
        .send(
            &[p.merchant_kyb_attest(&issuer.pubkey(), &merchant_pda, [7; 32])?],
            &issuer,
            &[],
        )
        .await?;
    println!("merchant {merchant_pda} registered and KYB-approved");

    // 2. Open an invoice for 42.50 USDC and share its Solana Pay link.
    let now = client
        .rpc
        .get_block_time(client.rpc.get_slot().await?)
        .await?;
    let invoice = p.open_invoice_with_link(
        &merchant.pubkey(),
        &merchant_pda,
        &OrderId::new("ORDER-1001")?,
        42_500_000,
        now + 3_600,
        "https://pay.example.com",
    )?;
    client.send(&invoice.instructions, &merchant, &[]).await?;
    println!("invoice {} — pay at {}", invoice.payment, invoice.link);

    // 3. The customer (funded by the issuer) pays from a second keypair.
    let ata = |owner: &Pubkey| {
        anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&issuer.pubkey(), owner, &usdc.mint, &usdc.token_program)
    };
    let mint_to = anchor_spl::token_2022::spl_token_2022::instruction::mint_to(
        &usdc.token_program,
        &usdc.mint,
        &usdc.ata(&customer.pubkey()),
        &issuer.pubkey(),
        &[],
        100_000_000,
    )?;
    client
        .send(
            &[
                ata(&customer.pubkey()),
                ata(&merchant.pubkey()),
                ata(&issuer.pubkey()),
                mint_to,
            ],
            &issuer,
            &[],
        )
        .await?;
    client
        .send(
            &[p.payment_pay(
                &customer.pubkey(),
                &merchant_pda,
                &invoice.payment,
                &usdc,
                None,
            )?],
            &customer,
            &[],
        )
        .await?;
    println!("paid: {:?}", client.payment(&invoice.payment).await?.status);

    // 4. Capture everything, then refund 2.50 USDC.
    let state = client.payment(&invoice.payment).await?;
    let refs = SettlementRefs {
        merchant: merchant_pda,
        payment: invoice.payment,
        mint: usdc,
        fee_receiver: issuer.pubkey(),
        settlement_wallet: merchant.pubkey(),
        assignee: None,
    };
    let now = client
        .rpc
        .get_block_time(client.rpc.get_slot().await?)
        .await?;
    client
        .send(
            &p.capture_and_close(
                &merchant.pubkey(),
                &merchant.pubkey(),
                &refs,
                &state,
                now,
                client.pause_clock(now).await?,
            )?,
            &merchant,
            &[],
        )
        .await?;
    let state = client.payment(&invoice.payment).await?;
    client
        .send(
            &p.refund_checked(
                &merchant.pubkey(),
                &invoice.payment,
                &state,
                &usdc,
                2_500_000,
                now,
            )?,
            &merchant,
            &[],
        )
        .await?;
    let state = client.payment(&invoice.payment).await?;
    println!(
        "captured {} refunded {} status {:?}",
        state.captured, state.refunded, state.status
    );

    // 5. A refund beyond what was captured is refused before anything is sent.
    match p.refund_checked(
        &merchant.pubkey(),
        &invoice.payment,
        &state,
        &usdc,
        100_000_000,
        now,
    ) {
        Err(SdkError::Program(e)) => println!("refusing a 100 USDC refund: {e}"),
        other => return Err(format!("unexpected: {other:?}").into()),
    }
    Ok(())
}
