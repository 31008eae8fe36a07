//! The demo's compliance: the sanctions lists (OFAC's SDN_ADVANCED.XML, the EU consolidated
//! list, Kassa's own deny list) imported from the samples shipped in the binary; a precious
//! metals dealer's KYB case (high risk) approved by two officers and attested on chain with the
//! hash of its case record; a sanctioned wallet refused at the Solana Pay transaction request;
//! a customer structuring payments just under 1,000 USDC, which the monitor alerts on and holds
//! on chain; one hold released and one rejected (the escrow back to the customer) by officers.
//! KYB documents are kept in `kassa-demo-compliance/documents`.

use super::report::Checks;
use crate::serve::Api;
use anyhow::{anyhow, Context, Result};
use kassa_compliance::{
    actions::{self, Ask, Kind},
    kyb,
    lists::{self, Actor, Files, Format},
    monitor,
};
use kassa_payments::state::{KybStatus, PaymentStatus};
use kassa_sdk::api::types::Role;
use kassa_testkit::demo_day::{caught_up, shop_policy, Scenario, USD};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::signature::{Keypair, Signer};
use sqlx::PgPool;

const OFAC: &[u8] = include_bytes!("../../../indexer/compliance/samples/SDN_ADVANCED.sample.xml");
const EU: &[u8] =
    include_bytes!("../../../indexer/compliance/samples/xmlFullSanctionsList_1_1.sample.xml");
const DENY: &[u8] = include_bytes!("../../../indexer/compliance/samples/kassa-deny.sample.csv");

fn err(e: kassa_compliance::ComplianceError) -> anyhow::Error {
    anyhow!("{e}")
}

pub async fn run(
    pool: &PgPool,
    s: &mut Scenario,
    rpc_url: &str,
    api: &Api,
    checks: &mut Checks,
) -> Result<()> {
    println!("\nCompliance: lists, a KYB case, screening before payment, monitoring after it");
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let key = s.proto.payer.insecure_clone();
    let kassa = Actor::Process("kassa demo".into());
    for (id, name, format, file) in [
        (
            "ofac-sdn",
            "OFAC SDN (advanced)",
            Format::OfacAdvanced,
            OFAC,
        ),
        (
            "eu-fsf",
            "EU consolidated financial sanctions",
            Format::EuFsf,
            EU,
        ),
        ("kassa-deny", "Kassa deny list", Format::Internal, DENY),
    ] {
        lists::create(pool, id, name, format, "refuse")
            .await
            .map_err(err)?;
        let v = lists::import(pool, id, &Files::one(file), &kassa)
            .await
            .map_err(err)?;
        println!(
            "  list {id:<10} version {} ({}): {} entries, {} wallet addresses",
            v.version,
            if v.published.is_empty() {
                "no date"
            } else {
                v.published.as_str()
            },
            v.entries,
            v.addresses
        );
    }

    // Two named officers, each with their own key.
    let officer = |name: &'static str| async move {
        kassa_api::auth::create_account(pool, name, Role::Compliance, None)
            .await
            .map(|(a, k)| (Actor::Officer(a.id), k.secret))
            .map_err(|e| anyhow!("{e}"))
    };
    let (alice, alice_key) = officer("Alice Jansen (compliance)").await?;
    let (bob, _) = officer("Bob Okafor (compliance)").await?;

    // KYB: a precious metals dealer applies; high risk, so two officers must approve.
    let dealer = s
        .register("Aurum Metals", shop_policy(), Keypair::new())
        .await?;
    caught_up(pool, &s.signatures).await?;
    let app = kyb::Application {
        merchant: dealer.address.to_string(),
        legal_name: "Aurum Metals B.V.".into(),
        registration_number: "KVK 81234567".into(),
        jurisdiction: "NL".into(),
        address: "Keizersgracht 1, 1015 CJ Amsterdam".into(),
        category: "precious-metals".into(),
        parties: vec![
            party("director", "Anna de Vries", None),
            party("ubo", "Anna de Vries", Some("60")),
            party("ubo", "Jan Bakker", Some("40")),
        ],
    };
    let case = kyb::submit(pool, &app, &alice).await.map_err(err)?;
    let store = kyb::DocumentStore::new("kassa-demo-compliance/documents");
    for kind in kyb::REQUIRED_DOCUMENTS {
        kyb::add_document(
            pool,
            &store,
            case,
            kind,
            format!("%PDF-1.7\n% {kind} of Aurum Metals B.V. (demo)\n").as_bytes(),
            &alice,
        )
        .await
        .map_err(err)?;
    }
    let first = kyb::decide(
        pool,
        &rpc,
        &key,
        case,
        "approve",
        "Licensed dealer; sources of funds documented",
        &alice,
    )
    .await
    .map_err(err)?;
    let again = kyb::decide(pool, &rpc, &key, case, "approve", "again", &alice).await;
    let second = kyb::decide(
        pool,
        &rpc,
        &key,
        case,
        "approve",
        "Agree; enhanced monitoring",
        &bob,
    )
    .await
    .map_err(err)?;
    let record = kyb::canonical_record(pool, case).await.map_err(err)?;
    let hash = kassa_compliance::sha256_hex(&record);
    let on_chain: kassa_payments::state::Merchant = s.client.account(&dealer.address).await?;
    println!(
        "  KYB case {case}: Aurum Metals B.V., precious metals (high risk): approved by two officers,"
    );
    println!(
        "    attested on chain with the case record's hash {}…  ({})",
        &hash[..16],
        second
            .action
            .as_ref()
            .and_then(|a| a.signature.clone())
            .unwrap_or_default()
    );
    checks.check(
        first.approvals_needed == 1
            && matches!(&again, Err(e) if e.to_string().contains("second, different officer"))
            && second.state == "approved",
        "compliance: a high-risk KYB case needs two different officers".into(),
    );
    checks.check(
        on_chain.kyb_status == KybStatus::Approved && hex::encode(on_chain.kyb_case_hash) == hash,
        "compliance: the approval is on chain with the hash of the case record".into(),
    );

    // Screening before payment: the sanctioned wallet of the OFAC sample asks to pay.
    let invoice = s.invoice(&dealer, "GOLD-1", 2_500 * USD).await?;
    caught_up(pool, &s.signatures).await?;
    let sanctioned = Keypair::new_from_array([0xA1; 32]);
    let ca = match &api.ca_cert {
        Some(p) => std::fs::read(p)?,
        None => Vec::new(),
    };
    let mut http = reqwest::Client::builder();
    if !ca.is_empty() {
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca)?);
    }
    let answer = http
        .build()?
        .post(format!("{}/v1/pay/{invoice}", api.url))
        .json(&serde_json::json!({ "account": sanctioned.pubkey().to_string() }))
        .send()
        .await
        .context("the Solana Pay transaction request")?;
    let status = answer.status();
    let body: serde_json::Value = answer.json().await.unwrap_or_default();
    println!(
        "  {} (OFAC SDN, SOL address) asks for a payment transaction: {} {}",
        sanctioned.pubkey(),
        status.as_u16(),
        body["message"].as_str().unwrap_or_default()
    );
    checks.check(
        status == reqwest::StatusCode::FORBIDDEN,
        "compliance: a sanctioned wallet is refused at the transaction request".into(),
    );

    // Monitoring after payment: three payments just under 1,000 USDC in a day.
    let customer = Keypair::new();
    s.fund(&customer).await?;
    let usdc = s.proto.usdc;
    let mut paid = Vec::new();
    for (order, amount) in [("GOLD-2", 950), ("GOLD-3", 960), ("GOLD-4", 990)] {
        let p = s.invoice(&dealer, order, amount * USD).await?;
        s.pay(&dealer, &p, &customer, &usdc).await?;
        paid.push(p);
    }
    caught_up(pool, &s.signatures).await?;
    let pass = monitor::pass(pool, Some(&rpc), &monitor::MonitorConfig::default())
        .await
        .map_err(err)?;
    actions::perform_pending(pool, &rpc, &key)
        .await
        .map_err(err)?;
    let mut held = 0;
    for p in &paid {
        held += usize::from(s.client.payment(p).await?.status == PaymentStatus::Held);
    }
    println!(
        "  {} pays 950, 960 and 990 USDC: rule \"structuring\" alerts ({} alert), {} payments held on chain",
        customer.pubkey(),
        pass.alerts,
        held
    );
    checks.check(
        pass.alerts == 1 && held == 3,
        "compliance: structuring raises an alert and holds the payments on chain".into(),
    );
    let case_id: i64 =
        sqlx::query_scalar("SELECT id FROM compliance.case WHERE wallet = $1 AND state = 'open'")
            .bind(&customer.pubkey().to_bytes()[..])
            .fetch_one(pool)
            .await?;
    kassa_compliance::cases::comment(
        pool,
        case_id,
        "Customer explained: three separate bars, receipts attached for GOLD-2.",
        &alice,
    )
    .await
    .map_err(err)?;
    for (who, kind, p, why) in [
        (
            &alice,
            Kind::Release,
            paid[0],
            "GOLD-2 documented: released",
        ),
        (
            &bob,
            Kind::Reject,
            paid[1],
            "GOLD-3 not explained: escrow returned",
        ),
    ] {
        let id = actions::request(
            pool,
            who,
            Ask {
                kind,
                target: p,
                case: Some(case_id),
                reason: why,
                hash: None,
            },
            Some(&rpc),
        )
        .await
        .map_err(err)?;
        actions::perform(pool, &rpc, &key, id).await.map_err(err)?;
    }
    let (released, rejected) = (
        s.client.payment(&paid[0]).await?.status,
        s.client.payment(&paid[1]).await?.status,
    );
    println!(
        "  case {case_id}: an officer releases GOLD-2 ({}), another rejects GOLD-3 ({}); GOLD-4 stays held",
        released.name(),
        rejected.name()
    );
    checks.check(
        released == PaymentStatus::Authorized && rejected == PaymentStatus::Rejected,
        "compliance: one hold released and one rejected on chain by officers".into(),
    );
    let audited: i64 =
        sqlx::query_scalar("SELECT count(*) FROM compliance.audit WHERE signature IS NOT NULL")
            .fetch_one(pool)
            .await?;
    println!(
        "  The audit log holds {audited} on-chain actions with their signatures (ids and hashes only)"
    );
    let cacert = api
        .ca_cert
        .as_ref()
        .map(|c| format!(" --cacert {}", c.display()))
        .unwrap_or_default();
    println!("  Alice's review queue and the case (compliance officer key {alice_key}):");
    for path in [
        "/v1/compliance/cases".to_string(),
        format!("/v1/compliance/cases/{case_id}"),
    ] {
        println!(
            "    curl{cacert} -H 'Authorization: Bearer {alice_key}' {}{path}",
            api.url
        );
    }
    Ok(())
}

fn party(role: &str, name: &str, percent: Option<&str>) -> kyb::Party {
    kyb::Party {
        role: role.into(),
        name: name.into(),
        birth_date: None,
        nationality: Some("NL".into()),
        ownership_percent: percent.map(|p| p.parse().unwrap_or_default()),
    }
}
