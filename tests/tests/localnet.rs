//! The localnet JSON-RPC node driven by the real `solana-rpc-client`: a full payment through
//! RPC and read back, the capture's event decoded from `getTransaction`'s inner instructions,
//! program accounts by filter, signature pagination over 1,000+ transactions, standard errors.

use anchor_spl::token_2022::spl_token_2022;
use kassa_localnet::server::{start, LocalnetConfig};
use kassa_payments::instructions::ConfigInitArgs;
use kassa_sdk::{
    decode::{decode_event_cpi, decode_payment, PaymentsEvent},
    payments::{MintRef, OrderId, Payments, SettlementRefs},
};
use serde_json::json;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_rpc_client_api::{
    client_error::ErrorKind,
    config::{RpcProgramAccountsConfig, RpcTransactionConfig},
    filter::{Memcmp, RpcFilterType},
    request::{RpcError, RpcRequest},
};
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signature, Signer},
    transaction::Transaction,
};
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, UiInstruction, UiTransactionEncoding,
};
use std::{net::SocketAddr, time::Duration};

/// A node on a free port whose slots tick every 50 ms.
async fn fast_node() -> kassa_localnet::server::Localnet {
    node_with_slots_every(Duration::from_millis(50)).await
}

/// A fast node with the demo protocol bootstrapped, and a client reading at `confirmed`.
async fn bootstrapped_node() -> (
    kassa_localnet::server::Localnet,
    kassa_testkit::protocol::Protocol,
    RpcClient,
) {
    let net = fast_node().await;
    let demo = kassa_testkit::protocol::bootstrap(&net.rpc_url)
        .await
        .expect("bootstrap");
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    (net, demo, rpc)
}

async fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> Signature {
    let blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
    rpc.send_and_confirm_transaction(&tx)
        .await
        .expect("transaction lands")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_through_json_rpc_reads_back_like_a_cluster() {
    let net = fast_node().await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    assert_eq!(rpc.get_health().await.ok(), Some(()));
    assert!(rpc
        .get_version()
        .await
        .expect("version")
        .solana_core
        .starts_with("3."));

    // Wallets funded by airdrop.
    let admin = Keypair::new();
    let merchant = Keypair::new();
    let payer = Keypair::new();
    for k in [&admin, &merchant, &payer] {
        let sig = rpc
            .request_airdrop(&k.pubkey(), 10_000_000_000)
            .await
            .expect("airdrop");
        assert!(rpc.confirm_transaction(&sig).await.expect("confirm"));
    }
    assert_eq!(
        rpc.get_balance(&payer.pubkey()).await.unwrap(),
        10_000_000_000
    );

    // Protocol, mint, vault, merchant.
    let p = Payments::default();
    let ix = p
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
    send(&rpc, &[ix], &admin, &[]).await;
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let usdc = MintRef::new(mint.pubkey(), anchor_spl::token::ID).unwrap();
    let create = [
        solana_system_interface::instruction::create_account(
            &admin.pubkey(),
            &mint.pubkey(),
            rent,
            82,
            &anchor_spl::token::ID,
        ),
        spl_token_2022::instruction::initialize_mint2(
            &anchor_spl::token::ID,
            &mint.pubkey(),
            &admin.pubkey(),
            None,
            6,
        )
        .unwrap(),
    ];
    send(&rpc, &create, &admin, &[&mint]).await;
    send(
        &rpc,
        &[p.vault_open(&admin.pubkey(), &usdc).unwrap()],
        &admin,
        &[],
    )
    .await;
    let policy = kassa_payments::state::MerchantPolicy {
        authorization_window: 86_400,
        auto_capture_delay: 0,
        refund_window: 86_400,
        dispute_window: 86_400,
        require_kyt: false,
    };
    let (ix, merchant_pda) = p
        .merchant_register(&merchant.pubkey(), &usdc.mint, &merchant.pubkey(), policy)
        .unwrap();
    send(&rpc, &[ix], &merchant, &[]).await;
    send(
        &rpc,
        &[
            p.merchant_kyb_attest(&admin.pubkey(), &merchant_pda, [1; 32])
                .unwrap(),
        ],
        &admin,
        &[],
    )
    .await;
    let ata = |owner: &Keypair| {
        anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&admin.pubkey(), &owner.pubkey(), &usdc.mint, &usdc.token_program)
    };
    let fund = [
        ata(&payer),
        ata(&merchant),
        ata(&admin),
        spl_token_2022::instruction::mint_to(
            &usdc.token_program,
            &usdc.mint,
            &usdc.ata(&payer.pubkey()),
            &admin.pubkey(),
            &[],
            100_000_000,
        )
        .unwrap(),
    ];
    send(&rpc, &fund, &admin, &[]).await;

    // Invoice, pay, capture.
    let expires = rpc
        .get_block_time(rpc.get_slot().await.unwrap())
        .await
        .unwrap_or(0)
        + 3_600;
    let (ix, payment) = p
        .invoice_open(
            &merchant.pubkey(),
            &merchant_pda,
            &OrderId::new("RPC-1").unwrap(),
            25_000_000,
            expires,
        )
        .unwrap();
    send(&rpc, &[ix], &merchant, &[]).await;
    send(
        &rpc,
        &[
            p.payment_pay(&payer.pubkey(), &merchant_pda, &payment, &usdc, None)
                .unwrap(),
        ],
        &payer,
        &[],
    )
    .await;
    let refs = SettlementRefs {
        merchant: merchant_pda,
        payment,
        mint: usdc,
        fee_receiver: admin.pubkey(),
        settlement_wallet: merchant.pubkey(),
        assignee: None,
    };
    let capture = send(
        &rpc,
        &[p.payment_capture(&merchant.pubkey(), &refs, 25_000_000)
            .unwrap()],
        &merchant,
        &[],
    )
    .await;

    // The SDK's client decodes the payment and names a refused call's error.
    let client =
        kassa_sdk::rpc::KassaClient::new(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let state = client.payment(&payment).await.expect("decoded payment");
    assert_eq!(state.status, kassa_payments::state::PaymentStatus::Captured);
    let refund_too_much = p
        .payment_refund(
            &merchant.pubkey(),
            &merchant_pda,
            &payment,
            &usdc,
            &payer.pubkey(),
            25_000_001,
        )
        .unwrap();
    match client.send(&[refund_too_much], &merchant, &[]).await {
        Err(kassa_sdk::SdkError::Program(e)) => assert_eq!(
            (e.program, e.name.as_str()),
            ("kassa_payments", "RefundExceedsCaptured")
        ),
        other => panic!("expected a named program error, got {other:?}"),
    }
    // The flow checks the decoded state before building anything.
    let flow = p.refund_checked(&merchant.pubkey(), &payment, &state, &usdc, 25_000_001, 0);
    assert!(matches!(
        flow,
        Err(kassa_sdk::SdkError::Program(e)) if e.name == "RefundExceedsCaptured"
    ));

    // Balances read back through RPC.
    let merchant_balance = rpc
        .get_token_account_balance(&usdc.ata(&merchant.pubkey()))
        .await
        .unwrap();
    assert_eq!(merchant_balance.amount, "24925000");
    assert_eq!(
        rpc.get_token_supply(&usdc.mint).await.unwrap().amount,
        "100000000"
    );

    // getTransaction of the capture: the emit_cpi! event is an inner instruction.
    let tx = rpc
        .get_transaction_with_config(
            &capture,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Json),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .expect("getTransaction");
    let meta = tx.transaction.meta.expect("meta");
    assert!(meta.err.is_none());
    let OptionSerializer::Some(inner) = meta.inner_instructions else {
        panic!("no inner instructions")
    };
    let mut events = Vec::new();
    for ix in inner.iter().flat_map(|i| i.instructions.iter()) {
        if let UiInstruction::Compiled(c) = ix {
            if let Ok(Some(ev)) = decode_event_cpi(&bs58::decode(&c.data).into_vec().unwrap()) {
                events.push(ev);
            }
        }
    }
    assert!(
        matches!(events.as_slice(), [PaymentsEvent::PaymentCaptured(e)] if e.amount == 25_000_000 && e.fee == 75_000),
        "{events:?}"
    );
    let OptionSerializer::Some(post) = meta.post_token_balances else {
        panic!("no token balances")
    };
    assert!(post.iter().any(|b| b.ui_token_amount.amount == "24925000"));
    assert!(matches!(meta.compute_units_consumed, OptionSerializer::Some(units) if units > 0));

    // getProgramAccounts with a memcmp filter on the Payment discriminator.
    let filter = RpcFilterType::Memcmp(Memcmp::new_raw_bytes(
        0,
        <kassa_payments::state::Payment as anchor_lang::Discriminator>::DISCRIMINATOR.to_vec(),
    ));
    let accounts = rpc
        .get_program_accounts_with_config(
            &kassa_payments::ID,
            RpcProgramAccountsConfig {
                filters: Some(vec![filter]),
                account_config: solana_rpc_client_api::config::RpcAccountInfoConfig {
                    encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
                    ..Default::default()
                },
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].0, payment);
    let decoded = decode_payment(&accounts[0].1.data).unwrap();
    assert_eq!(
        (decoded.captured, decoded.payer),
        (25_000_000, payer.pubkey())
    );

    // Pagination over 1,050 transactions touching one address: each seen exactly once.
    let target = Keypair::new().pubkey();
    let mut blockhash = rpc.get_latest_blockhash().await.unwrap();
    let mut sent = std::collections::HashSet::new();
    for i in 0..1_050u64 {
        // A wallet refreshes its blockhash well within the 150-slot validity window.
        if i % 100 == 0 {
            blockhash = rpc.get_latest_blockhash().await.unwrap();
        }
        let ix =
            solana_system_interface::instruction::transfer(&admin.pubkey(), &target, 1_000_000 + i);
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&admin.pubkey()), &[&admin], blockhash);
        sent.insert(rpc.send_transaction(&tx).await.expect("send"));
    }
    let mut seen = std::collections::HashSet::new();
    let mut before = None;
    loop {
        let page = rpc
            .get_signatures_for_address_with_config(
                &target,
                solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                    before,
                    until: None,
                    limit: Some(100),
                    commitment: None,
                },
            )
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        for s in &page {
            assert!(
                seen.insert(s.signature.clone()),
                "{} returned twice",
                s.signature
            );
        }
        before = Some(page.last().unwrap().signature.parse().unwrap());
    }
    assert_eq!(seen.len(), 1_050);
    assert!(sent.iter().all(|s| seen.contains(&s.to_string())));

    // Standard JSON-RPC errors.
    let err = rpc
        .send::<serde_json::Value>(
            RpcRequest::Custom {
                method: "noSuchMethod",
            },
            json!([]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RpcError(RpcError::RpcResponseError { code: -32601, .. })
        ),
        "{err:?}"
    );
    let err = rpc
        .send::<serde_json::Value>(RpcRequest::GetBalance, json!(["not-a-key"]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RpcError(RpcError::RpcResponseError { code: -32602, .. })
        ),
        "{err:?}"
    );
    // Base58 is refused for accounts over 128 bytes, as a cluster does.
    let err = rpc
        .send::<serde_json::Value>(
            RpcRequest::GetAccountInfo,
            json!([payment.to_string(), {"encoding": "base58"}]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::RpcError(RpcError::RpcResponseError { code: -32600, .. })
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kassa_localnet_bootstrap_leaves_a_usable_protocol() {
    let (_net, demo, rpc) = bootstrapped_node().await;
    // The payer's three stablecoin accounts, read back jsonParsed.
    let tokens = rpc
        .send::<serde_json::Value>(RpcRequest::GetTokenAccountsByOwner, json!([demo.payer.pubkey().to_string(), {"mint": demo.usdc.mint.to_string()}, {"encoding": "jsonParsed"}]))
        .await
        .expect("getTokenAccountsByOwner");
    let info = &tokens["value"][0]["account"]["data"]["parsed"]["info"];
    assert_eq!(info["tokenAmount"]["uiAmountString"], "8000000", "{tokens}");
    for mint in [demo.usdt, demo.pyusd] {
        assert_eq!(
            rpc.get_token_account_balance(&mint.ata(&demo.payer.pubkey()))
                .await
                .unwrap()
                .ui_amount_string,
            "9000000"
        );
    }
    // Two pools, registered as the conversion hook.
    let pools = rpc
        .send::<serde_json::Value>(RpcRequest::GetProgramAccounts, json!([kassa_convert::ID.to_string(), {"encoding": "base64", "filters": [{"dataSize": 8 + <kassa_convert::state::Pool as anchor_lang::Space>::INIT_SPACE}]}]))
        .await
        .unwrap();
    assert_eq!(pools.as_array().map(Vec::len), Some(2), "{pools}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finality_lag_and_a_dropped_transaction_roll_back() {
    // Slots advance only when asked, so the test controls finality.
    let net = node_with(
        Duration::from_secs(3_600),
        kassa_localnet::node::NodeConfig {
            finality_lag: 3,
            ..Default::default()
        },
    )
    .await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let advance = || async {
        rpc.send::<u64>(
            RpcRequest::Custom {
                method: "kassa_advanceSlot",
            },
            json!([]),
        )
        .await
        .unwrap()
    };
    let wallet = Keypair::new();
    let kept = rpc
        .request_airdrop(&wallet.pubkey(), 5_000_000_000)
        .await
        .unwrap();
    advance().await;
    let dropped = rpc
        .request_airdrop(&wallet.pubkey(), 7_000_000_000)
        .await
        .unwrap();
    assert_eq!(
        rpc.get_balance(&wallet.pubkey()).await.unwrap(),
        12_000_000_000
    );

    // Both confirmed, neither finalized yet.
    let statuses = rpc
        .get_signature_statuses(&[kept, dropped])
        .await
        .unwrap()
        .value;
    for s in statuses.iter().map(|s| s.as_ref().expect("known")) {
        assert_eq!(
            s.confirmation_status,
            Some(solana_transaction_status_client_types::TransactionConfirmationStatus::Confirmed)
        );
    }
    let finalized = rpc
        .get_transaction_with_config(
            &kept,
            RpcTransactionConfig {
                commitment: Some(CommitmentConfig::finalized()),
                ..Default::default()
            },
        )
        .await;
    assert!(finalized.is_err(), "not finalized yet: {finalized:?}");

    // Fault injection: the second airdrop never finalizes; its effects disappear.
    let ok: bool = rpc
        .send(
            RpcRequest::Custom {
                method: "kassa_dropTransaction",
            },
            json!([dropped.to_string()]),
        )
        .await
        .unwrap();
    assert!(ok);
    assert_eq!(
        rpc.get_balance(&wallet.pubkey()).await.unwrap(),
        5_000_000_000
    );
    assert!(rpc.get_signature_statuses(&[dropped]).await.unwrap().value[0].is_none());
    let history = rpc
        .get_signatures_for_address(&wallet.pubkey())
        .await
        .unwrap();
    assert_eq!(
        history
            .iter()
            .map(|s| s.signature.clone())
            .collect::<Vec<_>>(),
        vec![kept.to_string()]
    );

    let finalized_history = rpc
        .get_signatures_for_address_with_config(
            &wallet.pubkey(),
            solana_rpc_client::rpc_client::GetConfirmedSignaturesForAddress2Config {
                commitment: Some(CommitmentConfig::finalized()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(finalized_history.is_empty(), "nothing is finalized yet");

    // Three slots later the first one is finalized and can no longer be dropped.
    for _ in 0..3 {
        advance().await;
    }
    let status = rpc.get_signature_statuses(&[kept]).await.unwrap().value[0]
        .clone()
        .unwrap();
    assert_eq!(
        (status.confirmation_status, status.confirmations),
        (
            Some(solana_transaction_status_client_types::TransactionConfirmationStatus::Finalized),
            None
        )
    );
    let err = rpc
        .send::<bool>(
            RpcRequest::Custom {
                method: "kassa_dropTransaction",
            },
            json!([kept.to_string()]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already finalized"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscriptions_follow_slots_signatures_accounts_and_logs() {
    use futures_util::StreamExt;
    use solana_pubsub_client::nonblocking::pubsub_client::PubsubClient;
    use solana_rpc_client_api::config::{
        RpcAccountInfoConfig, RpcSignatureSubscribeConfig, RpcTransactionLogsConfig,
        RpcTransactionLogsFilter,
    };
    let net = fast_node().await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let pubsub = PubsubClient::new(&net.ws_url)
        .await
        .expect("pubsub connects");

    // Slots tick.
    let (mut slots, unsubscribe_slots) = pubsub.slot_subscribe().await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), slots.next())
        .await
        .unwrap()
        .unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), slots.next())
        .await
        .unwrap()
        .unwrap();
    assert!(second.slot > first.slot && second.parent == second.slot - 1);
    unsubscribe_slots().await;

    // A funded wallet sends a transfer; its signature, its account and its logs are announced.
    let wallet = Keypair::new();
    let sig = rpc
        .request_airdrop(&wallet.pubkey(), 3_000_000_000)
        .await
        .unwrap();
    // Subscribing after the fact still gets the notification at once.
    let (mut done, _u) = pubsub
        .signature_subscribe(
            &sig,
            Some(RpcSignatureSubscribeConfig {
                commitment: Some(CommitmentConfig::confirmed()),
                enable_received_notification: None,
            }),
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), done.next())
        .await
        .expect("late subscription answered")
        .unwrap();

    let target = Keypair::new().pubkey();
    let (mut account, _ua) = pubsub
        .account_subscribe(
            &target,
            Some(RpcAccountInfoConfig {
                encoding: Some(solana_account_decoder_client_types::UiAccountEncoding::Base64),
                ..Default::default()
            }),
        )
        .await
        .unwrap();
    let (mut logs, _ul) = pubsub
        .logs_subscribe(
            RpcTransactionLogsFilter::Mentions(vec![target.to_string()]),
            RpcTransactionLogsConfig {
                commitment: Some(CommitmentConfig::confirmed()),
            },
        )
        .await
        .unwrap();
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[solana_system_interface::instruction::transfer(
            &wallet.pubkey(),
            &target,
            1_000_000_000,
        )],
        Some(&wallet.pubkey()),
        &[&wallet],
        blockhash,
    );
    let (mut landed, _us) = pubsub
        .signature_subscribe(&tx.signatures[0], None)
        .await
        .unwrap();
    rpc.send_transaction(&tx).await.unwrap();
    let n = tokio::time::timeout(Duration::from_secs(5), landed.next())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(n.value, solana_rpc_client_api::response::RpcSignatureResult::ProcessedSignature(ref r) if r.err.is_none())
    );
    let a = tokio::time::timeout(Duration::from_secs(5), account.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.value.lamports, 1_000_000_000);
    let l = tokio::time::timeout(Duration::from_secs(5), logs.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l.value.signature, tx.signatures[0].to_string());
    assert!(l
        .value
        .logs
        .iter()
        .any(|line| line.contains("11111111111111111111111111111111")));
}

/// The merchant side of a payment in Rust: a merchant registered and KYB-approved, and an
/// invoice of `amount` for `order` open for an hour. Returns (merchant, payment).
async fn open_invoice(
    rpc: &RpcClient,
    demo: &kassa_testkit::protocol::Protocol,
    order: &str,
    amount: u64,
) -> (solana_sdk::pubkey::Pubkey, solana_sdk::pubkey::Pubkey) {
    let p = Payments::default();
    let merchant = Keypair::new();
    rpc.poll_for_signature(
        &rpc.request_airdrop(&merchant.pubkey(), 2_000_000_000)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let policy = kassa_payments::state::MerchantPolicy {
        authorization_window: 86_400,
        auto_capture_delay: 0,
        refund_window: 86_400,
        dispute_window: 86_400,
        require_kyt: false,
    };
    let (ix, merchant_pda) = p
        .merchant_register(
            &merchant.pubkey(),
            &demo.usdc.mint,
            &merchant.pubkey(),
            policy,
        )
        .unwrap();
    send(rpc, &[ix], &merchant, &[]).await;
    send(
        rpc,
        &[
            p.merchant_kyb_attest(&demo.payer.pubkey(), &merchant_pda, [2; 32])
                .unwrap(),
        ],
        &demo.payer,
        &[],
    )
    .await;
    let expires = rpc
        .get_block_time(rpc.get_slot().await.unwrap())
        .await
        .unwrap()
        + 3_600;
    let (ix, payment) = p
        .invoice_open(
            &merchant.pubkey(),
            &merchant_pda,
            &OrderId::new(order).unwrap(),
            amount,
            expires,
        )
        .unwrap();
    send(rpc, &[ix], &merchant, &[]).await;
    (merchant_pda, payment)
}

/// Runs `script` of localnet/js against `net` with `fixture` as its KASSA_FIXTURE file, and
/// fails with its output unless it succeeds.
async fn run_js_wallet(
    net: &kassa_localnet::server::Localnet,
    script: &str,
    fixture: &serde_json::Value,
) {
    let path = std::env::temp_dir().join(format!(
        "kassa-js-{}-{}.json",
        script.trim_end_matches(".mjs"),
        std::process::id()
    ));
    std::fs::write(&path, fixture.to_string()).unwrap();
    let js = concat!(env!("CARGO_MANIFEST_DIR"), "/../localnet/js");
    let out = tokio::process::Command::new("node")
        .arg(script)
        .current_dir(js)
        .env("KASSA_RPC_URL", &net.rpc_url)
        .env("KASSA_WS_URL", &net.ws_url)
        .env("KASSA_FIXTURE", &path)
        .output()
        .await
        .expect("node runs (scripts/test installs localnet/js)");
    let _ = std::fs::remove_file(&path);
    assert!(
        out.status.success(),
        "JavaScript wallet failed ({script}):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_wallet_pays_through_the_node() {
    let (net, demo, rpc) = bootstrapped_node().await;
    let p = Payments::default();
    let (merchant_pda, payment) = open_invoice(&rpc, &demo, "JS-1", 12_000_000).await;
    // The wallet: funded with SOL and USDC, pays from JavaScript.
    let wallet = Keypair::new();
    rpc.poll_for_signature(
        &rpc.request_airdrop(&wallet.pubkey(), 2_000_000_000)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let usdc = demo.usdc;
    let ata = anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&demo.payer.pubkey(), &wallet.pubkey(), &usdc.mint, &usdc.token_program);
    let fund = spl_token_2022::instruction::mint_to(
        &usdc.token_program,
        &usdc.mint,
        &usdc.ata(&wallet.pubkey()),
        &demo.payer.pubkey(),
        &[],
        50_000_000,
    )
    .unwrap();
    send(&rpc, &[ata, fund], &demo.payer, &[]).await;
    let pay = p
        .payment_pay(&wallet.pubkey(), &merchant_pda, &payment, &usdc, None)
        .unwrap();
    use base64::Engine;
    let fixture = json!({
        "payerSecretKey": wallet.to_bytes().to_vec(),
        "payment": payment.to_string(),
        "amount": 12_000_000,
        "instruction": {
            "programId": pay.program_id.to_string(),
            "keys": pay.accounts.iter().map(|a| json!({"pubkey": a.pubkey.to_string(), "isSigner": a.is_signer, "isWritable": a.is_writable})).collect::<Vec<_>>(),
            "data": base64::prelude::BASE64_STANDARD.encode(&pay.data),
        },
    });
    run_js_wallet(&net, "pay_invoice.mjs", &fixture).await;
    let state =
        kassa_sdk::rpc::KassaClient::new(net.rpc_url.clone(), CommitmentConfig::confirmed())
            .payment(&payment)
            .await
            .unwrap();
    assert_eq!(
        (state.status, state.payer, state.authorized),
        (
            kassa_payments::state::PaymentStatus::Authorized,
            wallet.pubkey(),
            12_000_000
        )
    );
}

/// Posts a raw body to the node, as a misbehaving client would.
async fn post_raw(url: &str, body: &str) -> serde_json::Value {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = url.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let json = response.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_standard_error_objects() {
    let net = fast_node().await;
    let url = net.rpc_url.clone();
    let code = |v: &serde_json::Value| v["error"]["code"].as_i64();
    assert_eq!(code(&post_raw(&url, "{not json").await), Some(-32700));
    assert_eq!(
        code(&post_raw(&url, r#"{"jsonrpc":"2.0","id":1}"#).await),
        Some(-32600)
    );
    assert_eq!(code(&post_raw(&url, r#"[]"#).await), Some(-32600));
    assert_eq!(
        code(
            &post_raw(
                &url,
                r#"{"jsonrpc":"2.0","id":1,"method":"getBalance","params":[42]}"#
            )
            .await
        ),
        Some(-32602)
    );
    assert_eq!(
        code(
            &post_raw(
                &url,
                r#"{"jsonrpc":"2.0","id":1,"method":"sendTransaction","params":["%%%"]}"#
            )
            .await
        ),
        Some(-32602)
    );
    // Oversized and unsigned transactions.
    let big = base64::Engine::encode(&base64::prelude::BASE64_STANDARD, vec![1u8; 1_300]);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": [big, {"encoding": "base64"}]}).to_string();
    assert_eq!(code(&post_raw(&url, &body).await), Some(-32602));
    let wallet = Keypair::new();
    let rpc = RpcClient::new_with_commitment(url.clone(), CommitmentConfig::confirmed());
    let blockhash = rpc.get_latest_blockhash().await.unwrap();
    let mut tx = Transaction::new_with_payer(
        &[solana_system_interface::instruction::transfer(
            &wallet.pubkey(),
            &Keypair::new().pubkey(),
            1,
        )],
        Some(&wallet.pubkey()),
    );
    tx.message.recent_blockhash = blockhash;
    let unsigned = base64::Engine::encode(
        &base64::prelude::BASE64_STANDARD,
        bincode::serialize(&tx).unwrap(),
    );
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "sendTransaction", "params": [unsigned, {"encoding": "base64"}]}).to_string();
    assert_eq!(code(&post_raw(&url, &body).await), Some(-32003));
    // An unknown account is null, not an error; a batch answers each request.
    let batch = post_raw(&url, &json!([
        {"jsonrpc": "2.0", "id": 1, "method": "getAccountInfo", "params": [Keypair::new().pubkey().to_string()]},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
    ]).to_string()).await;
    assert!(batch[0]["result"]["value"].is_null(), "{batch}");
    assert_eq!(code(&batch[1]), Some(-32601));

    // jsonParsed transactions spell out their accounts.
    let sig = rpc
        .request_airdrop(&wallet.pubkey(), 1_000_000)
        .await
        .unwrap();
    let tx = rpc
        .send::<serde_json::Value>(
            RpcRequest::GetTransaction,
            json!([sig.to_string(), {"encoding": "jsonParsed"}]),
        )
        .await
        .unwrap();
    let keys = &tx["transaction"]["message"]["accountKeys"];
    assert_eq!(keys[0]["signer"], true, "{tx}");
    assert_eq!(
        tx["transaction"]["message"]["instructions"][0]["programId"],
        "11111111111111111111111111111111"
    );
}

/// Each fresh node is a cluster of its own: its genesis hash differs from every other node's
/// and stays the same for its life, and its CAIP-2 id is `solana:` and the hash's first 32
/// characters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_fresh_node_has_a_genesis_hash_of_its_own() {
    let (a, b) = (fast_node().await, fast_node().await);
    let rpc =
        |url: &str| RpcClient::new_with_commitment(url.to_string(), CommitmentConfig::confirmed());
    let ga = rpc(&a.rpc_url).get_genesis_hash().await.unwrap();
    let gb = rpc(&b.rpc_url).get_genesis_hash().await.unwrap();
    assert_ne!(ga, gb);
    assert_eq!(ga, a.genesis_hash);
    a.node.lock().await.advance_slot().unwrap();
    assert_eq!(rpc(&a.rpc_url).get_genesis_hash().await.unwrap(), ga);
    let id = a.caip2();
    assert!(
        id.starts_with("solana:") && id.len() == "solana:".len() + 32,
        "{id}"
    );
    assert!(ga.to_string().starts_with(&id["solana:".len()..]));
}

/// The cluster-describing methods wallets, explorers and client libraries call, through
/// `solana-rpc-client`'s typed API (which fails on a wrong shape), with a single node's honest
/// values.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_methods_answer_in_agaves_shapes() {
    use solana_rpc_client_api::{client_error::ErrorKind as E, config::RpcLargestAccountsConfig};
    use solana_sdk::pubkey::Pubkey;
    let (net, demo, rpc) = bootstrapped_node().await;
    // A delegate on the payer's USDC account.
    let delegate = Keypair::new();
    let account = demo.usdc.ata(&demo.payer.pubkey());
    let approve = spl_token_2022::instruction::approve(
        &demo.usdc.token_program,
        &account,
        &delegate.pubkey(),
        &demo.payer.pubkey(),
        &[],
        5,
    )
    .unwrap();
    send(&rpc, &[approve], &demo.payer, &[]).await;

    // solana-rpc-client 3.1.12's `get_token_accounts_by_delegate` sends `getTokenAccountsByOwner`
    // (a bug of the client): the method is called by name, its answer read into the client's
    // own typed response.
    let by_delegate = |who: Pubkey| {
        let rpc = &rpc;
        let mint = demo.usdc.mint;
        async move {
            rpc.send::<solana_rpc_client_api::response::Response<
                Vec<solana_rpc_client_api::response::RpcKeyedAccount>,
            >>(
                RpcRequest::GetTokenAccountsByDelegate,
                json!([who.to_string(), {"mint": mint.to_string()}, {"encoding": "jsonParsed"}]),
            )
            .await
            .unwrap()
            .value
        }
    };
    let delegated = by_delegate(delegate.pubkey()).await;
    assert_eq!(delegated.len(), 1);
    assert_eq!(delegated[0].pubkey, account.to_string());
    assert!(by_delegate(Keypair::new().pubkey()).await.is_empty());
    let largest = rpc
        .get_token_largest_accounts(&demo.usdc.mint)
        .await
        .unwrap();
    assert!(!largest.is_empty() && largest.len() <= 20);
    assert!(largest
        .windows(2)
        .all(|w| w[0].amount.amount.parse::<u64>().unwrap()
            >= w[1].amount.amount.parse::<u64>().unwrap()));

    // At least six sealed blocks, however busy the machine.
    for _ in 0..6 {
        net.node.lock().await.advance_slot().unwrap();
    }
    let slot = rpc.get_slot().await.unwrap();
    assert!(rpc.get_transaction_count().await.unwrap() > 0);
    let supply = rpc.supply().await.unwrap().value;
    assert_eq!(supply.total, supply.circulating);
    assert!(supply.total > 0);
    let schedule = rpc.get_epoch_schedule().await.unwrap();
    let info = rpc.get_epoch_info().await.unwrap();
    assert_eq!(schedule.slots_per_epoch, info.slots_in_epoch);
    let first = rpc.get_first_available_block().await.unwrap();
    assert_eq!(rpc.minimum_ledger_slot().await.unwrap(), first);
    assert!(first <= slot);
    let blocks = rpc.get_blocks_with_limit(first, 5).await.unwrap();
    assert_eq!(blocks.len(), 5);
    assert_eq!(blocks[0], first);
    assert!(rpc
        .get_recent_performance_samples(Some(10))
        .await
        .unwrap()
        .iter()
        .all(|s| s.sample_period_secs == 60 && s.num_slots >= 1));
    let governor = rpc.get_inflation_governor().await.unwrap();
    assert!(governor.initial >= governor.terminal);
    let nodes = rpc.get_cluster_nodes().await.unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].rpc, Some(net.addr));
    let identity = rpc.get_identity().await.unwrap();
    assert_eq!(nodes[0].pubkey, identity.to_string());
    let schedule = rpc.get_leader_schedule(None).await.unwrap().unwrap();
    assert_eq!(
        schedule[&identity.to_string()].len() as u64,
        info.slots_in_epoch
    );
    let votes = rpc.get_vote_accounts().await.unwrap();
    assert!(votes.current.is_empty() && votes.delinquent.is_empty());
    assert!(rpc.get_max_retransmit_slot().await.unwrap() >= slot);
    let err = rpc
        .get_highest_snapshot_slot()
        .await
        .expect_err("a node without snapshots");
    match err.kind() {
        E::RpcError(RpcError::RpcResponseError { code, .. }) => assert_eq!(*code, -32008),
        other => panic!("no snapshot expected: {other:?}"),
    }
    let minimum = rpc.get_stake_minimum_delegation().await.unwrap();
    assert!(minimum >= 1, "{minimum}");
    // The nonblocking client has no typed call for it: the typed answer is read the same way.
    type Commitment = solana_rpc_client_api::response::RpcBlockCommitment<[u64; 32]>;
    let commitment: Commitment = rpc
        .send(
            RpcRequest::Custom {
                method: "getBlockCommitment",
            },
            json!([first]),
        )
        .await
        .unwrap();
    assert_eq!(commitment.total_stake, 1);
    assert!(commitment.commitment.is_some());
    let unknown: Commitment = rpc
        .send(
            RpcRequest::Custom {
                method: "getBlockCommitment",
            },
            json!([slot + 1_000_000]),
        )
        .await
        .unwrap();
    assert!(unknown.commitment.is_none());
    let production = rpc.get_block_production().await.unwrap().value;
    let (leader, produced) = production.by_identity[&identity.to_string()];
    assert!(produced >= 1 && leader >= produced);
    let accounts = rpc
        .get_largest_accounts_with_config(RpcLargestAccountsConfig::default())
        .await
        .unwrap()
        .value;
    assert!(!accounts.is_empty() && accounts.len() <= 20);
    assert!(accounts.windows(2).all(|w| w[0].lamports >= w[1].lamports));
    let rate = rpc.get_inflation_rate().await.unwrap();
    assert_eq!(rate.epoch, info.epoch);
    assert!((rate.total - rate.validator - rate.foundation).abs() < 1e-12);
    assert_eq!(
        rpc.get_inflation_reward(&[demo.payer.pubkey()], None)
            .await
            .unwrap(),
        vec![None]
    );
    let leader: String = rpc
        .send(RpcRequest::GetSlotLeader, json!([]))
        .await
        .unwrap();
    assert_eq!(leader, identity.to_string());
    assert_eq!(
        rpc.get_slot_leaders(slot, 3).await.unwrap(),
        vec![identity; 3]
    );
    let fees = rpc
        .get_recent_prioritization_fees(&[account])
        .await
        .unwrap();
    assert!(!fees.is_empty() && fees.len() <= 150);
    assert!(
        fees.iter().all(|f| f.prioritization_fee == 0),
        "no one paid a priority fee"
    );

    // Bad arguments are Agave's -32602, naming the problem.
    let too_many: Vec<String> = (0..129).map(|_| Pubkey::new_unique().to_string()).collect();
    for (method, params, says) in [
        ("getBlocksWithLimit", json!([0, 500_001]), "limit"),
        ("getBlocksWithLimit", json!([0]), "limit"),
        ("getRecentPrioritizationFees", json!([too_many]), "max 128"),
        (
            "getRecentPrioritizationFees",
            json!([["not an address"]]),
            "WrongSize",
        ),
        (
            "getLargestAccounts",
            json!([{"filter": "everything"}]),
            "filter",
        ),
        ("getSlotLeaders", json!([0, 5_001]), "max 5000"),
        ("getRecentPerformanceSamples", json!([721]), "max 720"),
        (
            "getTokenLargestAccounts",
            json!([account.to_string()]),
            "mint",
        ),
        ("getInflationReward", json!([]), "addresses"),
    ] {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = post_raw(&net.rpc_url, &body.to_string()).await;
        assert_eq!(
            answer["error"]["code"], -32602,
            "{method} {params}: {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{method} {params}: {message}");
    }
}

/// A node on a free port with the given slot interval.
async fn node_with_slots_every(slot_interval: Duration) -> kassa_localnet::server::Localnet {
    node_with(slot_interval, kassa_localnet::node::NodeConfig::default()).await
}

/// A node on a free port with the given slot interval and node settings.
async fn node_with(
    slot_interval: Duration,
    node: kassa_localnet::node::NodeConfig,
) -> kassa_localnet::server::Localnet {
    start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval,
        node,
    })
    .await
    .expect("localnet starts")
}

/// A JSON-RPC call by name, answered with the whole response object.
async fn call(url: &str, method: &str, params: serde_json::Value) -> serde_json::Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    post_raw(url, &body.to_string()).await
}

/// A wallet with 1 SOL from the faucet.
async fn funded(rpc: &RpcClient) -> Keypair {
    let wallet = Keypair::new();
    let sig = rpc
        .request_airdrop(&wallet.pubkey(), 1_000_000_000)
        .await
        .unwrap();
    rpc.poll_for_signature(&sig).await.unwrap();
    wallet
}

/// A transfer from `from` to a fresh address, signed against `blockhash`.
fn transfer(from: &Keypair, lamports: u64, blockhash: solana_sdk::hash::Hash) -> Transaction {
    let ix = solana_system_interface::instruction::transfer(
        &from.pubkey(),
        &solana_sdk::pubkey::Pubkey::new_unique(),
        lamports,
    );
    Transaction::new_signed_with_payer(&[ix], Some(&from.pubkey()), &[from], blockhash)
}

/// A person approves a transaction seconds after the wallet fetched its blockhash: on a node
/// with 400 ms slots, a blockhash fetched 10 s earlier lands, and the `lastValidBlockHeight`
/// given with it is 150 blocks on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blockhash_fetched_ten_seconds_earlier_still_lands() {
    let net = node_with_slots_every(Duration::from_millis(400)).await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let wallet = funded(&rpc).await;
    let (hash, last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let height = rpc.get_block_height().await.unwrap();
    assert!(
        (last_valid - 150..=last_valid - 149).contains(&height),
        "{height} {last_valid}"
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(rpc.get_block_height().await.unwrap() >= height + 20);
    assert!(rpc
        .is_blockhash_valid(&hash, CommitmentConfig::confirmed())
        .await
        .unwrap());
    rpc.send_and_confirm_transaction(&transfer(&wallet, 1_000_000, hash))
        .await
        .expect("a 10-second-old blockhash lands");
}

/// `lastValidBlockHeight`, `isBlockhashValid`, the block height and the bank's acceptance are
/// one rule: accepted up to and at the last valid block height, refused with the standard
/// error one block later (aged with the node's slot-advance call, on a node whose clock does
/// not move on its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blockhash_expires_exactly_after_its_last_valid_block_height() {
    use solana_rpc_client_api::config::RpcSendTransactionConfig;
    let net = node_with_slots_every(Duration::from_secs(3_600)).await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let wallet = funded(&rpc).await;
    let (hash, last_valid) = rpc
        .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
        .await
        .unwrap();
    let advance_to = |target: u64| {
        let (rpc, url) = (&rpc, net.rpc_url.clone());
        async move {
            let height = rpc.get_block_height().await.unwrap();
            let advanced = call(&url, "kassa_advanceSlot", json!([target - height])).await;
            assert!(advanced["result"].is_u64(), "{advanced}");
            assert_eq!(rpc.get_block_height().await.unwrap(), target);
        }
    };
    let skip_preflight = RpcSendTransactionConfig {
        skip_preflight: true,
        ..Default::default()
    };
    // Preflight, as Agave's, keeps a margin of MAX_TRANSACTION_FORWARDING_DELAY (6) blocks.
    advance_to(last_valid - 6).await;
    rpc.send_and_confirm_transaction(&transfer(&wallet, 1_000_000, hash))
        .await
        .expect("preflight accepts it 6 blocks before its last valid block height");
    advance_to(last_valid).await;
    assert!(rpc
        .is_blockhash_valid(&hash, CommitmentConfig::confirmed())
        .await
        .unwrap());
    let err = rpc
        .send_transaction(&transfer(&wallet, 1_000_001, hash))
        .await
        .expect_err("preflight refuses it within the forwarding margin");
    assert!(err.to_string().contains("Blockhash not found"), "{err}");
    let sig = rpc
        .send_transaction_with_config(&transfer(&wallet, 1_000_001, hash), skip_preflight)
        .await
        .expect("the bank accepts it at its last valid block height");
    rpc.poll_for_signature(&sig).await.unwrap();
    assert!(rpc
        .get_signature_status(&sig)
        .await
        .unwrap()
        .unwrap()
        .is_ok());

    call(&net.rpc_url, "kassa_advanceSlot", json!([])).await;
    assert_eq!(rpc.get_block_height().await.unwrap(), last_valid + 1);
    assert!(!rpc
        .is_blockhash_valid(&hash, CommitmentConfig::confirmed())
        .await
        .unwrap());
    for skip_preflight in [false, true] {
        let err = rpc
            .send_transaction_with_config(
                &transfer(&wallet, 1_000_002, hash),
                RpcSendTransactionConfig {
                    skip_preflight,
                    ..Default::default()
                },
            )
            .await
            .expect_err("an expired blockhash is refused");
        assert!(err.to_string().contains("Blockhash not found"), "{err}");
    }
    // A message on a blockhash the node never issued has no fee, as on a cluster.
    let message = transfer(&wallet, 1, solana_sdk::hash::Hash::new_unique()).message;
    let fee = call(
        &net.rpc_url,
        "getFeeForMessage",
        json!([base64::Engine::encode(
            &base64::prelude::BASE64_STANDARD,
            bincode::serialize(&message).unwrap()
        )]),
    )
    .await;
    assert!(fee["result"]["value"].is_null(), "{fee}");
}

/// An unknown commitment, encoding or filter is `-32602` with Agave's message on every method
/// that takes one, never silently taken for the default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commitments_encodings_and_filters_are_refused_as_agave_does() {
    let (net, demo, rpc) = bootstrapped_node().await;
    let url = net.rpc_url.clone();
    let key = demo.payer.pubkey().to_string();
    let mint = demo.usdc.mint.to_string();
    let ata = demo.usdc.ata(&demo.payer.pubkey()).to_string();
    let slot = rpc.get_slot().await.unwrap();
    let sig = rpc
        .get_signatures_for_address(&demo.payer.pubkey())
        .await
        .unwrap()[0]
        .signature
        .clone();
    let hash = rpc.get_latest_blockhash().await.unwrap().to_string();
    let bad = json!({"commitment": "bogus"});
    let commitment_takers = [
        ("getAccountInfo", json!([key, bad])),
        ("getBalance", json!([key, bad])),
        ("getBlock", json!([slot, bad])),
        ("getBlockHeight", json!([bad])),
        ("getBlockProduction", json!([bad])),
        ("getBlocks", json!([0, 5, bad])),
        ("getBlocksWithLimit", json!([0, 5, bad])),
        ("getEpochInfo", json!([bad])),
        ("getFeeForMessage", json!(["AQABAg==", bad])),
        ("getInflationGovernor", json!([bad])),
        ("getLargestAccounts", json!([bad])),
        ("getLatestBlockhash", json!([bad])),
        ("getLeaderSchedule", json!([null, bad])),
        ("getMinimumBalanceForRentExemption", json!([0, bad])),
        ("getMultipleAccounts", json!([[key], bad])),
        ("getProgramAccounts", json!([key, bad])),
        ("getSignaturesForAddress", json!([key, bad])),
        ("getSlot", json!([bad])),
        ("getSlotLeader", json!([bad])),
        ("getStakeMinimumDelegation", json!([bad])),
        ("getSupply", json!([bad])),
        ("getTokenAccountBalance", json!([ata, bad])),
        ("getTokenAccountsByOwner", json!([key, {"mint": mint}, bad])),
        ("getTokenLargestAccounts", json!([mint, bad])),
        ("getTokenSupply", json!([mint, bad])),
        ("getTransaction", json!([sig, bad])),
        ("getTransactionCount", json!([bad])),
        ("getVoteAccounts", json!([bad])),
        ("isBlockhashValid", json!([hash, bad])),
        ("requestAirdrop", json!([key, 1, bad])),
    ];
    let unknown_commitment =
        "Invalid params: unknown variant `bogus`, expected one of `processed`, `confirmed`, `finalized`.";
    for (method, params) in commitment_takers {
        let answer = call(&url, method, params).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: {answer}");
        assert_eq!(
            answer["error"]["message"], unknown_commitment,
            "{method}: {answer}"
        );
    }
    let bad = json!({"encoding": "bogus"});
    for (method, params, expected) in [
        (
            "getAccountInfo",
            json!([key, bad]),
            "`binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`",
        ),
        (
            "getMultipleAccounts",
            json!([[key], bad]),
            "`binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`",
        ),
        (
            "getProgramAccounts",
            json!([key, bad]),
            "`binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`",
        ),
        (
            "getTokenAccountsByOwner",
            json!([key, {"mint": mint}, bad]),
            "`binary`, `base58`, `base64`, `jsonParsed`, `base64+zstd`",
        ),
        (
            "getTransaction",
            json!([sig, bad]),
            "`binary`, `base64`, `base58`, `json`, `jsonParsed`",
        ),
        (
            "getBlock",
            json!([slot, bad]),
            "`binary`, `base64`, `base58`, `json`, `jsonParsed`",
        ),
    ] {
        let answer = call(&url, method, params).await;
        assert_eq!(answer["error"]["code"], -32602, "{method}: {answer}");
        assert_eq!(
            answer["error"]["message"],
            format!("Invalid params: unknown variant `bogus`, expected one of {expected}."),
            "{method}: {answer}"
        );
    }
    // Filters: getProgramAccounts', the token-account filter, getLargestAccounts'.
    let answer = call(
        &url,
        "getProgramAccounts",
        json!([key, {"filters": [{"bogus": 1}]}]),
    )
    .await;
    assert_eq!(
        answer["error"]["message"],
        "Invalid params: unknown variant `bogus`, expected one of `dataSize`, `memcmp`, `tokenAccountState`.",
        "{answer}"
    );
    let answer = call(
        &url,
        "getTokenAccountsByOwner",
        json!([key, {"bogus": mint}]),
    )
    .await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    let answer = call(&url, "getLargestAccounts", json!([{"filter": "bogus"}])).await;
    assert_eq!(answer["error"]["code"], -32602, "{answer}");
    // A well-formed call on the same methods still answers.
    let answer = call(
        &url,
        "getBalance",
        json!([key, {"commitment": "processed"}]),
    )
    .await;
    assert!(answer["result"]["value"].is_u64(), "{answer}");
}

/// A Kassa instruction with CPIs logs as a validator writes it (one `invoke [n]` per
/// invocation at its depth, one outcome each, the SPL programs' compute units), and a wallet's
/// history reads System, associated-token and Memo instructions parsed, Compute Budget's
/// partially decoded, as Agave gives them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_parsed_instructions_read_as_on_a_validator() {
    use solana_sdk::pubkey::Pubkey;
    let (_net, demo, rpc) = bootstrapped_node().await;
    // A System transfer, an associated-token account, a memo and a compute-unit limit.
    let wallet = Keypair::new();
    let memo_program: Pubkey = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
        .parse()
        .unwrap();
    let ixs = [
        solana_compute_budget_interface::ComputeBudgetInstruction::set_compute_unit_limit(300_000),
        solana_system_interface::instruction::transfer(&demo.payer.pubkey(), &wallet.pubkey(), 5_000_000),
        anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&demo.payer.pubkey(), &wallet.pubkey(), &demo.usdc.mint, &demo.usdc.token_program),
        Instruction::new_with_bytes(memo_program, b"order 42", vec![solana_sdk::instruction::AccountMeta::new_readonly(demo.payer.pubkey(), true)]),
    ];
    let sig = send(&rpc, &ixs, &demo.payer, &[]).await;
    let tx = rpc
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::JsonParsed),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap();
    let json = serde_json::to_value(&tx.transaction.transaction).unwrap();
    let ixs = json["message"]["instructions"].as_array().unwrap();
    assert_eq!(
        ixs[0]["programId"],
        "ComputeBudget111111111111111111111111111111"
    );
    assert!(ixs[0]["data"].is_string(), "partially decoded: {}", ixs[0]);
    assert_eq!(ixs[1]["program"], "system");
    assert_eq!(ixs[1]["parsed"]["type"], "transfer");
    assert_eq!(ixs[1]["parsed"]["info"]["lamports"], 5_000_000);
    assert_eq!(
        ixs[1]["parsed"]["info"]["destination"],
        wallet.pubkey().to_string()
    );
    assert_eq!(ixs[2]["program"], "spl-associated-token-account");
    assert_eq!(ixs[2]["parsed"]["type"], "createIdempotent");
    assert_eq!(ixs[3]["program"], "spl-memo");
    assert_eq!(ixs[3]["parsed"], "order 42");
    // The associated-token program's CPIs come parsed too (System and the token program).
    let meta = serde_json::to_value(tx.transaction.meta.as_ref().unwrap()).unwrap();
    let inner: Vec<&serde_json::Value> = meta["innerInstructions"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|i| i["instructions"].as_array().unwrap())
        .collect();
    assert!(inner
        .iter()
        .any(|i| i["program"] == "system" && i["parsed"]["type"] == "createAccount"));
    assert!(inner.iter().all(|i| i["stackHeight"] == 2), "{inner:?}");

    // A Kassa instruction that makes CPIs (a payment: the escrow vault and the token transfer).
    let p = Payments::default();
    let (merchant_pda, payment) = open_invoice(&rpc, &demo, "LOGS-1", 1_000_000).await;
    let pay = p
        .payment_pay(
            &demo.payer.pubkey(),
            &merchant_pda,
            &payment,
            &demo.usdc,
            None,
        )
        .unwrap();
    let sig = send(&rpc, &[pay], &demo.payer, &[]).await;
    let logs = rpc
        .get_transaction_with_config(
            &sig,
            RpcTransactionConfig {
                encoding: Some(UiTransactionEncoding::Json),
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
            },
        )
        .await
        .unwrap()
        .transaction
        .meta
        .unwrap()
        .log_messages
        .unwrap();
    let kassa = kassa_payments::ID.to_string();
    // Depths nest: every invoke at one more than the open invocations, closed once each.
    let mut depth = 0usize;
    for line in &logs {
        if let Some(rest) = line
            .strip_prefix("Program ")
            .and_then(|l| l.split_once(" invoke ["))
        {
            depth += 1;
            assert_eq!(rest.1, format!("{depth}]"), "{logs:#?}");
        } else if line.starts_with("Program ")
            && (line.ends_with(" success") || line.contains(" failed: "))
            && !line.starts_with("Program log:")
        {
            depth -= 1;
        }
    }
    assert_eq!(depth, 0, "{logs:#?}");
    assert_eq!(
        logs.iter()
            .filter(|l| **l == format!("Program {kassa} invoke [1]"))
            .count(),
        1,
        "{logs:#?}"
    );
    assert_eq!(logs.last().unwrap(), &format!("Program {kassa} success"));
    assert!(
        logs.iter().any(
            |l| l.starts_with(&format!("Program {}", demo.usdc.token_program))
                && l.contains(" consumed ")
        ),
        "{logs:#?}"
    );
    assert!(
        !logs
            .iter()
            .any(|l| l.ends_with("invoke [1]") && !l.contains(&kassa)),
        "{logs:#?}"
    );
}

/// The same from `@solana/web3.js`: a 10-second-old blockhash lands and `confirmTransaction`'s
/// blockhash strategy confirms it, `getParsedTransaction` reads the System transfer parsed, and
/// past its last valid block height the blockhash is refused and `confirmTransaction` gives up
/// (see localnet/js/blockhash_lifetime.mjs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_javascript_wallet_signs_seconds_later_as_on_a_cluster() {
    let net = node_with_slots_every(Duration::from_millis(400)).await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let wallet = funded(&rpc).await;
    let fixture = json!({"payerSecretKey": wallet.to_bytes().to_vec()});
    run_js_wallet(&net, "blockhash_lifetime.mjs", &fixture).await;
}

/// History is bounded as a validator's `--limit-ledger-size` bounds it: past the limit the
/// oldest finalized blocks leave with their transactions, and the node answers for them as a
/// validator without long-term storage does; the transaction count and accounts stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_past_the_ledger_limit_is_pruned_as_on_a_validator() {
    let net = node_with(
        Duration::from_secs(3_600),
        kassa_localnet::node::NodeConfig {
            ledger_limit: 10,
            ..Default::default()
        },
    )
    .await;
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let wallet = Keypair::new();
    let mut landed = Vec::new();
    for i in 0..30u64 {
        landed.push((
            rpc.get_slot().await.unwrap(),
            rpc.request_airdrop(&wallet.pubkey(), 1_000_000 + i)
                .await
                .unwrap(),
        ));
        call(&net.rpc_url, "kassa_advanceSlot", json!([])).await;
    }
    let (old_slot, old_sig) = landed[0];
    let (new_slot, new_sig) = *landed.last().unwrap();
    let tx = |sig: Signature| {
        let rpc = &rpc;
        async move {
            rpc.get_transaction_with_config(
                &sig,
                RpcTransactionConfig {
                    encoding: Some(UiTransactionEncoding::Json),
                    commitment: Some(CommitmentConfig::confirmed()),
                    max_supported_transaction_version: Some(0),
                },
            )
            .await
        }
    };
    assert!(tx(new_sig).await.is_ok());
    // Pruned: getTransaction answers null (the client's "not found"), getBlock the cleaned-up
    // error naming the first available block, which getFirstAvailableBlock gives too.
    assert!(tx(old_sig).await.is_err());
    let first = rpc.get_first_available_block().await.unwrap();
    assert!(
        old_slot < first && first <= new_slot,
        "{old_slot} {first} {new_slot}"
    );
    let block = call(&net.rpc_url, "getBlock", json!([old_slot])).await;
    assert_eq!(block["error"]["code"], -32001, "{block}");
    assert_eq!(
        block["error"]["message"],
        format!(
            "Block {old_slot} cleaned up, does not exist on node. First available block: {first}"
        )
    );
    rpc.get_block(new_slot).await.unwrap();
    let history = rpc
        .get_signatures_for_address(&wallet.pubkey())
        .await
        .unwrap();
    assert!((10..=11).contains(&history.len()), "{}", history.len());
    assert_eq!(history[0].signature, new_sig.to_string());
    assert!(rpc.get_transaction_count().await.unwrap() >= 30);
    assert_eq!(
        rpc.get_balance(&wallet.pubkey()).await.unwrap(),
        (0..30).map(|i| 1_000_000 + i).sum::<u64>()
    );
}
