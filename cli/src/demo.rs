//! `kassa demo`: a local chain, the indexer on Postgres and a realistic day of payments, in
//! one process. Prints what the indexer mirrored and checks it against the chain.

use crate::localnet::{bootstrap, Demo as Protocol};
use anyhow::{bail, Context, Result};
use kassa_credit::{
    instructions::{LineApproveArgs, PoolCreateArgs},
    state::{LineKind, Tranche},
};
use kassa_indexer::{
    pg::PgCluster, reconcile::reconcile, source::Source, store, Indexer, IndexerConfig,
};
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_payments::state::{MerchantPolicy, Payment};
use kassa_sdk::{
    convert::Convert,
    credit::{Credit, CreditPoolRef},
    payments::{MintRef, OrderId, Payments, ReleaseRefs, SettlementRefs},
    programs::KassaProgram,
    rpc::KassaClient,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
};
use sqlx::{PgPool, Row};
use std::{collections::BTreeMap, net::SocketAddr, sync::Arc, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    /// JSON-RPC port of the local node (0 picks a free one).
    #[arg(long, default_value_t = 8899)]
    pub rpc_port: u16,
    /// Exit when the scenario and its checks are done: 0 when every check held.
    #[arg(long)]
    pub exit: bool,
}

const USD: u64 = 1_000_000;

fn usd(units: u64) -> String {
    format!("{}.{:02}", units / USD, (units % USD) / 10_000)
}

/// The scenario's cast and what it sent.
pub struct Scenario {
    client: KassaClient,
    p: Payments,
    c: Convert,
    proto: Protocol,
    /// The Kassa transactions sent, in order.
    pub signatures: Vec<Signature>,
    /// Display names of merchants, payments and wallets.
    pub names: BTreeMap<Pubkey, String>,
    /// Payment address → status the scenario left it in.
    pub expected: BTreeMap<Pubkey, &'static str>,
    /// The USDC credit pool the scenario funds.
    pub credit_pool: Option<CreditPoolRef>,
}

/// Bootstraps the protocol on the node at `rpc_url` and runs the demo's day of payments.
pub async fn run_scenario(rpc_url: &str) -> Result<Scenario> {
    let proto = bootstrap(rpc_url)
        .await
        .context("failed to bootstrap the protocol")?;
    let mut s = Scenario {
        client: KassaClient::new(rpc_url.to_string(), CommitmentConfig::confirmed()),
        p: Payments::default(),
        c: Convert::default(),
        proto,
        signatures: Vec::new(),
        names: BTreeMap::new(),
        expected: BTreeMap::new(),
        credit_pool: None,
    };
    scenario(&mut s).await?;
    Ok(s)
}

struct Merchant {
    name: &'static str,
    owner: Keypair,
    address: Pubkey,
}

impl Scenario {
    async fn send(
        &mut self,
        what: &str,
        ixs: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<()> {
        let sig = self
            .client
            .send(ixs, payer, signers)
            .await
            .with_context(|| format!("scenario step failed: {what}"))?;
        // Token set-up (accounts, minting) is not Kassa's: the indexer does not follow it.
        if ixs
            .iter()
            .any(|i| KassaProgram::from_id(&i.program_id).is_some())
        {
            self.signatures.push(sig);
        }
        Ok(())
    }

    async fn now(&self) -> Result<i64> {
        let slot = self.client.rpc.get_slot().await?;
        Ok(self.client.rpc.get_block_time(slot).await?)
    }

    async fn payment(&self, address: &Pubkey) -> Result<Payment> {
        Ok(self.client.payment(address).await?)
    }

    fn issuer(&self) -> &Keypair {
        &self.proto.payer
    }

    async fn fund(&mut self, who: &Keypair) -> Result<()> {
        let sig = self
            .client
            .rpc
            .request_airdrop(&who.pubkey(), 5_000_000_000)
            .await?;
        self.client.rpc.poll_for_signature(&sig).await?;
        let issuer = self.issuer().insecure_clone();
        let mut ixs = Vec::new();
        for m in [self.proto.usdc, self.proto.usdt, self.proto.pyusd] {
            ixs.push(ata(&issuer.pubkey(), &who.pubkey(), &m));
            ixs.push(
                anchor_spl::token_2022::spl_token_2022::instruction::mint_to(
                    &m.token_program,
                    &m.mint,
                    &m.ata(&who.pubkey()),
                    &issuer.pubkey(),
                    &[],
                    5_000 * USD,
                )?,
            );
        }
        self.send("fund a customer", &ixs, &issuer, &[]).await
    }

    async fn merchant(&mut self, name: &'static str, policy: MerchantPolicy) -> Result<Merchant> {
        let owner = Keypair::new();
        let sig = self
            .client
            .rpc
            .request_airdrop(&owner.pubkey(), 5_000_000_000)
            .await?;
        self.client.rpc.poll_for_signature(&sig).await?;
        let usdc = self.proto.usdc;
        let (register, address) =
            self.p
                .merchant_register(&owner.pubkey(), &usdc.mint, &owner.pubkey(), policy)?;
        let token_account = ata(&owner.pubkey(), &owner.pubkey(), &usdc);
        self.send(
            &format!("register {name}"),
            &[token_account, register],
            &owner,
            &[],
        )
        .await?;
        let issuer = self.issuer().insecure_clone();
        let case = kyb_case_hash(name);
        self.send(
            &format!("KYB approval of {name}"),
            &[self
                .p
                .merchant_kyb_attest(&issuer.pubkey(), &address, case)?],
            &issuer,
            &[],
        )
        .await?;
        self.names.insert(address, name.to_string());
        Ok(Merchant {
            name,
            owner,
            address,
        })
    }

    async fn invoice(&mut self, m: &Merchant, order: &str, amount: u64) -> Result<Pubkey> {
        let expires = self.now().await? + 3_600;
        let (ix, payment) = self.p.invoice_open(
            &m.owner.pubkey(),
            &m.address,
            &OrderId::new(order)?,
            amount,
            expires,
        )?;
        self.send(&format!("{} opens {order}", m.name), &[ix], &m.owner, &[])
            .await?;
        self.names.insert(payment, format!("{} {order}", m.name));
        Ok(payment)
    }

    async fn pay(
        &mut self,
        m: &Merchant,
        payment: &Pubkey,
        payer: &Keypair,
        input: &MintRef,
    ) -> Result<()> {
        let usdc = self.proto.usdc;
        let ix = if input.mint == usdc.mint {
            self.p
                .payment_pay(&payer.pubkey(), &m.address, payment, &usdc, None)?
        } else {
            let pool = self.c.pool(usdc, *input);
            let escrow = kassa_sdk::pda::vault(&self.p.program_id, &usdc.mint).0;
            let hook = self
                .c
                .hook_accounts(&pool, &payer.pubkey(), &input.mint, &escrow)?;
            let amount = self.payment(payment).await?.amount;
            // Spend at most 1% more than the invoice in the other stablecoin.
            self.p.payment_pay_with_conversion(
                &payer.pubkey(),
                &m.address,
                payment,
                &usdc,
                input,
                self.c.program_id,
                hook,
                None,
                amount + amount / 100,
            )?
        };
        self.send("pay", &[ix], payer, &[]).await
    }

    fn settlement(
        &self,
        m: &Merchant,
        payment: &Pubkey,
        assignee: Option<Pubkey>,
    ) -> SettlementRefs {
        SettlementRefs {
            merchant: m.address,
            payment: *payment,
            mint: self.proto.usdc,
            fee_receiver: self.issuer().pubkey(),
            settlement_wallet: m.owner.pubkey(),
            assignee,
        }
    }

    async fn capture(
        &mut self,
        m: &Merchant,
        payment: &Pubkey,
        amount: u64,
        assignee: Option<Pubkey>,
    ) -> Result<()> {
        let refs = self.settlement(m, payment, assignee);
        let ix = self.p.payment_capture(&m.owner.pubkey(), &refs, amount)?;
        self.send(&format!("{} captures", m.name), &[ix], &m.owner, &[])
            .await
    }

    fn release_refs(&self, payment: &Pubkey, payer: &Keypair) -> ReleaseRefs {
        ReleaseRefs {
            payment: *payment,
            mint: self.proto.usdc,
            payer: payer.pubkey(),
        }
    }
}

fn ata(funder: &Pubkey, owner: &Pubkey, mint: &MintRef) -> Instruction {
    anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(funder, owner, &mint.mint, &mint.token_program)
}

/// Stand-in for the hash of an off-chain KYB case file.
fn kyb_case_hash(name: &str) -> [u8; 32] {
    let mut h = [0u8; 32];
    for (i, b) in name.bytes().enumerate() {
        h[i % 32] ^= b.rotate_left(i as u32 % 8);
    }
    h
}

/// The day: three merchants, three customers paying in USDC, USDT and a Token-2022 dollar,
/// captures, a refund, a dispute, holds, a void, a cancelled invoice, and a receivable paid
/// first from a capture.
async fn scenario(s: &mut Scenario) -> Result<()> {
    let policy = MerchantPolicy {
        authorization_window: 7 * 86_400,
        auto_capture_delay: 0,
        refund_window: 30 * 86_400,
        dispute_window: 7 * 86_400,
        require_kyt: false,
    };
    let cafe = s.merchant("Cafe Lumen", policy).await?;
    let bikes = s.merchant("Nordic Bikes", policy).await?;
    let books = s.merchant("Pixel Books", policy).await?;
    let (alice, bob, carol) = (Keypair::new(), Keypair::new(), Keypair::new());
    for (k, n) in [(&alice, "Alice"), (&bob, "Bob"), (&carol, "Carol")] {
        s.fund(k).await?;
        s.names.insert(k.pubkey(), n.to_string());
    }
    let (usdc, usdt, pyusd) = (s.proto.usdc, s.proto.usdt, s.proto.pyusd);

    // Cafe: a latte paid in USDC, a lunch paid in USDT through the pool; both captured.
    let latte = s.invoice(&cafe, "CAFE-1001", 12_500_000).await?;
    s.pay(&cafe, &latte, &alice, &usdc).await?;
    s.capture(&cafe, &latte, 12_500_000, None).await?;
    s.expected.insert(latte, "captured");
    let lunch = s.invoice(&cafe, "CAFE-1002", 8 * USD).await?;
    s.pay(&cafe, &lunch, &bob, &usdt).await?;
    s.capture(&cafe, &lunch, 8 * USD, None).await?;
    s.expected.insert(lunch, "captured");
    // An invoice the customer never paid, withdrawn.
    let abandoned = s.invoice(&cafe, "CAFE-1003", 5 * USD).await?;
    let ix =
        s.p.invoice_cancel(&cafe.owner.pubkey(), &cafe.address, &abandoned)?;
    let owner = cafe.owner.insecure_clone();
    s.send("Cafe cancels CAFE-1003", &[ix], &owner, &[]).await?;
    s.expected.insert(abandoned, "cancelled");

    // Bikes: a bike paid in the Token-2022 dollar, captured in two parts, then 100 refunded.
    let bike = s.invoice(&bikes, "BIKE-77", 950 * USD).await?;
    s.pay(&bikes, &bike, &carol, &pyusd).await?;
    s.capture(&bikes, &bike, 600 * USD, None).await?;
    s.capture(&bikes, &bike, 350 * USD, None).await?;
    let ix = s.p.payment_refund(
        &bikes.owner.pubkey(),
        &bikes.address,
        &bike,
        &usdc,
        &carol.pubkey(),
        100 * USD,
    )?;
    let owner = bikes.owner.insecure_clone();
    s.send("Bikes refunds 100", &[ix], &owner, &[]).await?;
    s.expected.insert(bike, "captured");
    // A helmet the customer disputes; the arbiter splits 70 / 50.
    let helmet = s.invoice(&bikes, "BIKE-78", 120 * USD).await?;
    s.pay(&bikes, &helmet, &alice, &usdc).await?;
    let ix = s.p.dispute_open(&alice.pubkey(), &helmet, [9; 32])?;
    s.send("Alice disputes BIKE-78", &[ix], &alice, &[]).await?;
    let issuer = s.issuer().insecure_clone();
    let refs = s.settlement(&bikes, &helmet, None);
    let ix =
        s.p.dispute_resolve(&issuer.pubkey(), &refs, &alice.pubkey(), 70 * USD, 50 * USD)?;
    s.send("arbiter resolves BIKE-78", &[ix], &issuer, &[])
        .await?;
    s.expected.insert(helmet, "resolved");
    // PayFi: two lenders fund the USDC credit pool (junior first loss, senior capped at 4×),
    // and Nordic Bikes gets a receivable-backed line from the underwriter.
    let credit = Credit::default();
    let (ix, pool) = credit.pool_create(
        &issuer.pubkey(),
        &usdc,
        PoolCreateArgs {
            underwriter: issuer.pubkey(),
            protocol_fee_receiver: issuer.pubkey(),
            senior_cap_bps: 40_000,
            senior_apr_bps: 600,
            protocol_fee_bps: 1_000,
            admin_fee_bps: 500,
            allowlist: false,
            epoch_seconds: 7 * 86_400,
        },
    )?;
    s.send("create the USDC credit pool", &[ix], &issuer, &[])
        .await?;
    s.credit_pool = Some(pool);
    for (name, tranche, amount) in [
        ("Dana (junior lender)", Tranche::Junior, 20_000 * USD),
        ("Erik (senior lender)", Tranche::Senior, 60_000 * USD),
    ] {
        let lender = Keypair::new();
        s.names.insert(lender.pubkey(), name.to_string());
        let sig = s
            .client
            .rpc
            .request_airdrop(&lender.pubkey(), 1_000_000_000)
            .await?;
        s.client.rpc.poll_for_signature(&sig).await?;
        let shares = pool.share_mint(tranche);
        let fund = vec![
            ata(&issuer.pubkey(), &lender.pubkey(), &usdc),
            ata(&issuer.pubkey(), &lender.pubkey(), &shares),
            anchor_spl::token_2022::spl_token_2022::instruction::mint_to(
                &usdc.token_program,
                &usdc.mint,
                &usdc.ata(&lender.pubkey()),
                &issuer.pubkey(),
                &[],
                amount,
            )?,
        ];
        s.send("fund a lender", &fund, &issuer, &[]).await?;
        let ix = credit.tranche_deposit(&lender.pubkey(), &pool, tranche, amount, amount, false)?;
        s.send(&format!("{name} deposits"), &[ix], &lender, &[])
            .await?;
    }
    let now = s.now().await?;
    let ix = credit.line_approve(
        &issuer.pubkey(),
        &pool,
        &bikes.owner.pubkey(),
        Some(bikes.address),
        LineApproveArgs {
            kind: LineKind::Receivable,
            limit: 10_000 * USD,
            apr_bps: 1_200,
            late_apr_bps: 600,
            advance_rate_bps: 8_000,
            maturity: now + 90 * 86_400,
            payment_interval: 30 * 86_400,
            grace_seconds: 10 * 86_400,
        },
    )?;
    s.send(
        "underwriter approves Nordic Bikes' line",
        &[ix],
        &issuer,
        &[],
    )
    .await?;
    // A service plan paid in USDT: Bikes takes a 200 advance on it; the capture repays it.
    let plan = s.invoice(&bikes, "BIKE-79", 300 * USD).await?;
    s.pay(&bikes, &plan, &bob, &usdt).await?;
    let ix = credit.advance_take(
        &bikes.owner.pubkey(),
        &pool,
        &bikes.address,
        &plan,
        200 * USD,
    )?;
    s.send("Bikes takes an advance on BIKE-79", &[ix], &owner, &[])
        .await?;
    let advance_vault = kassa_sdk::pda::credit::advance_vault(&credit.program_id, &plan).0;
    s.capture(&bikes, &plan, 300 * USD, Some(advance_vault))
        .await?;
    let ix = credit.receivable_sync(&issuer.pubkey(), &pool, &bikes.owner.pubkey(), &plan)?;
    s.send(
        "sync BIKE-79's receivable into the pool",
        &[ix],
        &issuer,
        &[],
    )
    .await?;
    s.expected.insert(plan, "captured");

    // Books: compliance holds one payment then releases it; holds and rejects another; a void.
    let atlas = s.invoice(&books, "BOOK-1", 45 * USD).await?;
    s.pay(&books, &atlas, &bob, &usdc).await?;
    let ix = s.p.hold_place(&issuer.pubkey(), &atlas, [3; 32])?;
    s.send("compliance holds BOOK-1", &[ix], &issuer, &[])
        .await?;
    let ix = s.p.hold_release(&issuer.pubkey(), &atlas)?;
    s.send("compliance releases BOOK-1", &[ix], &issuer, &[])
        .await?;
    s.capture(&books, &atlas, 45 * USD, None).await?;
    s.expected.insert(atlas, "captured");
    let rare = s.invoice(&books, "BOOK-2", 30 * USD).await?;
    s.pay(&books, &rare, &carol, &pyusd).await?;
    let ix = s.p.hold_place(&issuer.pubkey(), &rare, [4; 32])?;
    s.send("compliance holds BOOK-2", &[ix], &issuer, &[])
        .await?;
    let ix =
        s.p.hold_reject(&issuer.pubkey(), &s.release_refs(&rare, &carol), [4; 32])?;
    s.send("compliance rejects BOOK-2", &[ix], &issuer, &[])
        .await?;
    s.expected.insert(rare, "rejected");
    let novel = s.invoice(&books, "BOOK-3", 15 * USD).await?;
    s.pay(&books, &novel, &alice, &usdc).await?;
    let refs = ReleaseRefs {
        payment: novel,
        mint: usdc,
        payer: alice.pubkey(),
    };
    let ix =
        s.p.payment_void(&books.owner.pubkey(), &books.address, &refs)?;
    let owner = books.owner.insecure_clone();
    s.send("Books voids BOOK-3", &[ix], &owner, &[]).await?;
    s.expected.insert(novel, "voided");
    // Still waiting for its customer when the day ends.
    let pending = s.invoice(&books, "BOOK-4", 22 * USD).await?;
    s.expected.insert(pending, "open");
    Ok(())
}

/// Waits until every scenario transaction is in the database.
async fn caught_up(pool: &PgPool, signatures: &[Signature]) -> Result<()> {
    let all: Vec<String> = signatures.iter().map(|s| s.to_string()).collect();
    for _ in 0..600 {
        if store::known(pool, &all).await?.len() == all.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the indexer did not store every scenario transaction within 60 s")
}

struct Checks {
    failed: Vec<String>,
    passed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: String) {
        if ok {
            self.passed += 1;
        } else {
            println!("  FAILED: {what}");
            self.failed.push(what);
        }
    }
}

async fn print_and_check(s: &Scenario, indexer: &Indexer) -> Result<Checks> {
    let pool = &indexer.pool;
    let mut checks = Checks {
        failed: Vec::new(),
        passed: 0,
    };
    let name = |k: &str| {
        k.parse::<Pubkey>()
            .ok()
            .and_then(|k| s.names.get(&k).cloned())
            .unwrap_or_else(|| k[..8].to_string())
    };

    println!("\nMerchant balances (mirrored, USDC)");
    println!(
        "  {:<14} {:>9} {:>10} {:>10} {:>9} {:>8} {:>10}",
        "merchant", "payments", "settled", "refunded", "fees", "escrow", "net"
    );
    let rows = sqlx::query(
        "SELECT merchant::text, payments, escrowed::text, settled::text, refunded::text, fees::text, net::text
         FROM merchant_balances ORDER BY merchant",
    )
    .fetch_all(pool)
    .await?;
    for r in &rows {
        let merchant: String = r.get(0);
        let n = |i: usize| r.get::<String, _>(i).parse::<u64>().unwrap_or(0);
        println!(
            "  {:<14} {:>9} {:>10} {:>10} {:>9} {:>8} {:>10}",
            name(&merchant),
            r.get::<i64, _>(1),
            usd(n(3)),
            usd(n(4)),
            usd(n(5)),
            usd(n(2)),
            usd(n(6)),
        );
        // The merchant's wallet started empty, received every settlement and paid every
        // refund: its token balance on chain must equal the mirrored net.
        let key: Pubkey = merchant.parse()?;
        let wallet = s
            .client
            .account::<anchor_spl::token_interface::TokenAccount>(&match s.names.get(&key) {
                Some(_) => {
                    let m: kassa_payments::state::Merchant = s.client.account(&key).await?;
                    s.proto.usdc.ata(&m.settlement_wallet)
                }
                None => continue,
            })
            .await?;
        // Advances the merchant took also reached its wallet.
        let advanced: String = sqlx::query(
            "SELECT coalesce(sum(a.amount), 0)::text FROM advances a
             JOIN credit_lines l ON l.address = a.line WHERE l.merchant = $1",
        )
        .bind(&merchant)
        .fetch_one(pool)
        .await?
        .get(0);
        let advanced: u64 = advanced.parse().unwrap_or(0);
        checks.check(
            wallet.amount == n(6) + advanced,
            format!(
                "{}: wallet holds {} on chain, mirror says net {} + advances {}",
                name(&merchant),
                usd(wallet.amount),
                usd(n(6)),
                usd(advanced)
            ),
        );
    }

    println!("\nPayment timelines");
    let payments = store::rows(pool, kassa_indexer::projection::Kind::Payment).await?;
    for row in &payments {
        let kassa_indexer::projection::Row::Payment(p) = row else {
            continue;
        };
        let events: Vec<String> =
            sqlx::query("SELECT name FROM payment_timeline WHERE payment = $1 ORDER BY seq")
                .bind(&p.address)
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
        let paid_in = match &p.input_mint {
            Some(m) if *m == s.proto.usdt.mint.to_string() => " (paid in USDT)",
            Some(m) if *m == s.proto.pyusd.mint.to_string() => " (paid in PYUSD)",
            _ => "",
        };
        println!(
            "  {:<20} {:>8} {:<10} captured {:>7} refunded {:>7} released {:>7}{paid_in}",
            name(&p.address),
            usd(p.amount),
            p.status,
            usd(p.captured),
            usd(p.refunded),
            usd(p.released),
        );
        println!("  {:<20} {}", "", events.join(" → "));
        let key: Pubkey = p.address.parse()?;
        if let Some(expected) = s.expected.get(&key) {
            checks.check(
                p.status == *expected,
                format!(
                    "{}: mirrored status {} but the scenario left it {expected}",
                    name(&p.address),
                    p.status
                ),
            );
        }
    }
    checks.check(
        payments.len() == s.expected.len(),
        format!(
            "{} payments mirrored, the scenario opened {}",
            payments.len(),
            s.expected.len()
        ),
    );

    println!("\nConversion pools");
    for row in store::rows(pool, kassa_indexer::projection::Kind::Pool).await? {
        let kassa_indexer::projection::Row::Pool(p) = row else {
            continue;
        };
        let label = |m: &str| {
            if *m == s.proto.usdc.mint.to_string() {
                "USDC"
            } else if *m == s.proto.usdt.mint.to_string() {
                "USDT"
            } else {
                "PYUSD"
            }
        };
        println!(
            "  {}/{}  reserves {} / {}  swaps {}  volume {} / {}  protocol fees {} / {}",
            label(&p.mint_a),
            label(&p.mint_b),
            usd(p.reserve_a),
            usd(p.reserve_b),
            p.swaps,
            usd(p.volume_a),
            usd(p.volume_b),
            usd(p.protocol_fees_a),
            usd(p.protocol_fees_b),
        );
    }

    println!("\nCredit pool (USDC)");
    for row in store::rows(pool, kassa_indexer::projection::Kind::CreditPool).await? {
        let kassa_indexer::projection::Row::CreditPool(p) = row else {
            continue;
        };
        println!(
            "  senior {}  junior {}  cash {}  lent {}  interest earned {}  fees payable {}",
            usd(p.senior_value),
            usd(p.junior_value),
            usd(p.cash),
            usd(p.principal),
            usd(p.income_total),
            usd(p.protocol_fees + p.admin_fees),
        );
    }
    for row in store::rows(pool, kassa_indexer::projection::Kind::CreditLine).await? {
        let kassa_indexer::projection::Row::CreditLine(l) = row else {
            continue;
        };
        println!(
            "  line of {:<14} {} {}  limit {}  drawn {}  repaid {} principal + {} interest  owes {}",
            name(l.merchant.as_deref().unwrap_or(&l.borrower)),
            l.kind,
            l.status,
            usd(l.credit_limit),
            usd(l.drawn_total),
            usd(l.principal_repaid),
            usd(l.interest_paid),
            usd(l.principal),
        );
    }
    for row in store::rows(pool, kassa_indexer::projection::Kind::Advance).await? {
        let kassa_indexer::projection::Row::Advance(a) = row else {
            continue;
        };
        println!(
            "  advance on {:<20} {}  arrived from the capture {}  settled {}",
            name(&a.payment),
            usd(a.amount),
            usd(a.arrived),
            a.settled
        );
        checks.check(
            a.settled && a.arrived == a.amount,
            format!("advance on {} repaid by its capture", name(&a.payment)),
        );
    }

    let counts = sqlx::query(
        "SELECT (SELECT count(*) FROM transactions), (SELECT count(*) FROM events WHERE NOT reverted),
                (SELECT count(*) FROM instructions), (SELECT count(*) FROM parked)",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "\nIndexed {} transactions, {} events, {} instructions; {} parked",
        counts.get::<i64, _>(0),
        counts.get::<i64, _>(1),
        counts.get::<i64, _>(2),
        counts.get::<i64, _>(3)
    );
    checks.check(
        counts.get::<i64, _>(3) == 0,
        "nothing should be parked".into(),
    );

    let report = reconcile(pool, &indexer.source, &indexer.metrics).await?;
    println!(
        "Mirror check: {} program accounts compared with their projections, {} differences",
        report.checked,
        report.differences.len()
    );
    for d in &report.differences {
        println!("  {d}");
    }
    checks.check(
        report.differences.is_empty(),
        "the mirror matches the chain".into(),
    );
    checks.check(
        report.checked > 0,
        "the mirror check compared accounts".into(),
    );
    Ok(checks)
}

pub async fn run(args: Args) -> Result<bool> {
    // Postgres: the given server, or a private cluster that lives as long as this command.
    let (database_url, _cluster) = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            println!("Starting a private Postgres cluster (set DATABASE_URL to use your own)...");
            let cluster = tokio::task::spawn_blocking(PgCluster::start)
                .await?
                .context("cannot start a private Postgres cluster")?;
            (cluster.url.clone(), Some(cluster))
        }
    };
    let pool = store::connect(&database_url)
        .await
        .context("cannot open the database")?;

    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], args.rpc_port)),
        node: NodeConfig::default(),
        slot_interval: Duration::from_millis(400),
    })
    .await
    .context("failed to start the local node")?;
    println!("Local node at {} (WebSocket {})", net.rpc_url, net.ws_url);
    let indexer = Arc::new(Indexer::new(
        pool,
        Source::new(&net.rpc_url),
        IndexerConfig {
            poll: Duration::from_millis(200),
            ..Default::default()
        },
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let follower = {
        let indexer = indexer.clone();
        tokio::spawn(async move {
            indexer
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        })
    };
    println!("Indexer following the node into Postgres\n");

    println!("Running the scenario: 3 merchants, 3 customers, 10 invoices...");
    let s = run_scenario(&net.rpc_url).await?;
    println!(
        "Scenario done: {} Kassa transactions sent",
        s.signatures.len()
    );
    caught_up(&indexer.pool, &s.signatures).await?;
    let checks = print_and_check(&s, &indexer).await?;
    let ok = checks.failed.is_empty();
    println!(
        "\nChecks: {} held, {} failed",
        checks.passed,
        checks.failed.len()
    );
    if !args.exit {
        println!(
            "\nStill running: RPC {}  Postgres {}",
            net.rpc_url, database_url
        );
        println!("Ctrl-C stops the node, the indexer and the private database.");
        tokio::signal::ctrl_c().await?;
    }
    let _ = stop_tx.send(());
    let _ = follower.await;
    indexer.pool.close().await;
    Ok(ok)
}
