//! The demo's day of payments: three merchants registered and KYB-approved, three customers
//! paying in USDC, USDT and a Token-2022 dollar (converted through the StableSwap pools),
//! partial and full captures, a refund, a dispute split by the arbiter, a compliance hold
//! released and one rejected, a void, a cancelled invoice, two lenders funding the USDC credit
//! pool, and, four days on (the local node's clock warped), a merchant's advance on a payment
//! whose dispute window has closed, repaid first from that payment's capture.
//! `kassa demo` runs it and shows what the indexer mirrored; the tests run it and compare.

use crate::protocol::Protocol;
use anyhow::{bail, Context, Result};
use kassa_credit::{
    instructions::{LineApproveArgs, PoolCreateArgs},
    state::{LineKind, Tranche},
};
use kassa_indexer::store;
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
use sqlx::PgPool;
use std::{collections::BTreeMap, time::Duration};

/// One unit of a 6-decimal dollar stablecoin.
pub const USD: u64 = 1_000_000;

/// The scenario's cast and what it sent.
pub struct Scenario {
    pub client: KassaClient,
    pub p: Payments,
    pub c: Convert,
    pub proto: Protocol,
    /// Merchants and payments in the order the day created them (the order to show them in).
    pub created: Vec<Pubkey>,
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
    let mut s = bare(rpc_url).await?;
    scenario(&mut s).await?;
    Ok(s)
}

/// Bootstraps the protocol on the node at `rpc_url`: the cast of a day that has not begun,
/// for tests that write their own.
pub async fn bare(rpc_url: &str) -> Result<Scenario> {
    let proto = crate::protocol::bootstrap(rpc_url)
        .await
        .context("failed to bootstrap the protocol")?;
    Ok(Scenario {
        client: KassaClient::new(rpc_url.to_string(), CommitmentConfig::confirmed()),
        p: Payments::default(),
        c: Convert::default(),
        proto,
        created: Vec::new(),
        signatures: Vec::new(),
        names: BTreeMap::new(),
        expected: BTreeMap::new(),
        credit_pool: None,
    })
}

impl Scenario {
    /// Where `address` (a merchant or payment) comes in the day's order; anything the day
    /// did not create comes after, by address.
    pub fn position(&self, address: &Pubkey) -> (usize, Pubkey) {
        let index = self
            .created
            .iter()
            .position(|c| c == address)
            .unwrap_or(usize::MAX);
        (index, *address)
    }
}

/// A merchant the day registered: its name, the key that controls it, its PDA.
pub struct Merchant {
    pub name: &'static str,
    pub owner: Keypair,
    pub address: Pubkey,
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

    /// Moves the local node's clock forward (`kassa_warpTime`, an admin call of the Kassa
    /// localnet): the scenario spans days.
    pub async fn warp(&self, seconds: i64) -> Result<()> {
        self.client
            .rpc
            .send::<serde_json::Value>(
                solana_rpc_client_api::request::RpcRequest::Custom {
                    method: "kassa_warpTime",
                },
                serde_json::json!([seconds]),
            )
            .await
            .context("the local node's clock (kassa_warpTime)")?;
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

    /// Airdrops SOL to `who` and mints it 5,000 of each demo stablecoin.
    pub async fn fund(&mut self, who: &Keypair) -> Result<()> {
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

    /// Registers a merchant settling in USDC and has it KYB-approved.
    pub async fn merchant(
        &mut self,
        name: &'static str,
        policy: MerchantPolicy,
    ) -> Result<Merchant> {
        self.merchant_owned_by(name, policy, Keypair::new()).await
    }

    /// Registers a merchant whose authority and settlement wallet is `owner` (a treasury that
    /// runs fiat merchants, for one) and has it KYB-approved.
    pub async fn merchant_owned_by(
        &mut self,
        name: &'static str,
        policy: MerchantPolicy,
        owner: Keypair,
    ) -> Result<Merchant> {
        let m = self.register(name, policy, owner).await?;
        let issuer = self.issuer().insecure_clone();
        let case = kyb_case_hash(name);
        self.send(
            &format!("KYB approval of {name}"),
            &[self
                .p
                .merchant_kyb_attest(&issuer.pubkey(), &m.address, case)?],
            &issuer,
            &[],
        )
        .await?;
        Ok(m)
    }

    /// Registers a merchant owned by `owner`, KYB pending (for a KYB case to approve).
    pub async fn register(
        &mut self,
        name: &'static str,
        policy: MerchantPolicy,
        owner: Keypair,
    ) -> Result<Merchant> {
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
        self.names.insert(address, name.to_string());
        self.created.push(address);
        Ok(Merchant {
            name,
            owner,
            address,
        })
    }

    /// `m` opens an invoice for `amount`, valid for an hour.
    pub async fn invoice(&mut self, m: &Merchant, order: &str, amount: u64) -> Result<Pubkey> {
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
        self.created.push(payment);
        Ok(payment)
    }

    /// `payer` pays the invoice with `input` (converted to the merchant's mint if another).
    pub async fn pay(
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

    /// `m` captures the payment.
    pub async fn capture(
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

    /// `m` refunds `amount` of a captured payment to `payer`, from its own token account.
    pub async fn refund(
        &mut self,
        m: &Merchant,
        payment: &Pubkey,
        payer: &Pubkey,
        amount: u64,
    ) -> Result<()> {
        let usdc = self.proto.usdc;
        let ix =
            self.p
                .payment_refund(&m.owner.pubkey(), &m.address, payment, &usdc, payer, amount)?;
        self.send(&format!("{} refunds", m.name), &[ix], &m.owner, &[])
            .await
    }

    /// Creates the USDC credit pool (junior first loss, senior capped at 4×) and has two lenders
    /// fund it.
    pub async fn fund_credit_pool(&mut self) -> Result<(Credit, CreditPoolRef)> {
        let usdc = self.proto.usdc;
        let issuer = self.issuer().insecure_clone();
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
                max_line_limit: 1_000_000_000_000,
                max_active_lines: 16,
            },
        )?;
        self.send("create the USDC credit pool", &[ix], &issuer, &[])
            .await?;
        self.credit_pool = Some(pool);
        for (name, tranche, amount) in [
            ("Dana (junior lender)", Tranche::Junior, 20_000 * USD),
            ("Erik (senior lender)", Tranche::Senior, 60_000 * USD),
        ] {
            let lender = Keypair::new();
            self.names.insert(lender.pubkey(), name.to_string());
            let sig = self
                .client
                .rpc
                .request_airdrop(&lender.pubkey(), 1_000_000_000)
                .await?;
            self.client.rpc.poll_for_signature(&sig).await?;
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
            self.send("fund a lender", &fund, &issuer, &[]).await?;
            let ix =
                credit.tranche_deposit(&lender.pubkey(), &pool, tranche, amount, amount, false)?;
            self.send(&format!("{name} deposits"), &[ix], &lender, &[])
                .await?;
        }
        Ok((credit, pool))
    }

    /// The underwriter approves `m` a receivable-backed line of 10,000 on `pool`, borrowed by
    /// its authority.
    pub async fn approve_receivable_line(
        &mut self,
        credit: &Credit,
        pool: &CreditPoolRef,
        m: &Merchant,
    ) -> Result<()> {
        let issuer = self.issuer().insecure_clone();
        let now = self.now().await?;
        let ix = credit.line_approve(
            &issuer.pubkey(),
            pool,
            &m.owner.pubkey(),
            Some(m.address),
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
        self.send(
            &format!("underwriter approves {}' line", m.name),
            &[ix],
            &issuer,
            &[],
        )
        .await?;
        Ok(())
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

/// A shop's terms: a week to capture or dispute, a month to refund, no KYT co-signature.
pub fn shop_policy() -> MerchantPolicy {
    MerchantPolicy {
        authorization_window: 7 * 86_400,
        auto_capture_delay: 0,
        refund_window: 30 * 86_400,
        dispute_window: 7 * 86_400,
        require_kyt: false,
    }
}

/// The day: three merchants, three customers paying in USDC, USDT and a Token-2022 dollar,
/// captures, a refund, a dispute, holds, a void, a cancelled invoice, and a receivable paid
/// first from a capture.
async fn scenario(s: &mut Scenario) -> Result<()> {
    let policy = shop_policy();
    let cafe = s.merchant("Cafe Lumen", policy).await?;
    // Bikes sells service plans on receivable terms: a month to capture, three days to dispute.
    let bikes = s
        .merchant(
            "Nordic Bikes",
            MerchantPolicy {
                authorization_window: 30 * 86_400,
                dispute_window: 3 * 86_400,
                ..policy
            },
        )
        .await?;
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
    let (credit, pool) = s.fund_credit_pool().await?;
    s.approve_receivable_line(&credit, &pool, &bikes).await?;
    // A service plan paid in USDT.
    let plan = s.invoice(&bikes, "BIKE-79", 300 * USD).await?;
    s.pay(&bikes, &plan, &bob, &usdt).await?;
    // Four days on, BIKE-79's dispute window has closed: Bikes takes a 200 advance on it, and
    // the capture repays the pool first.
    s.warp(4 * 86_400).await?;
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
pub async fn caught_up(pool: &PgPool, signatures: &[Signature]) -> Result<()> {
    for _ in 0..600 {
        if store::known(pool, signatures).await?.len() == signatures.len() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the indexer did not store every scenario transaction within 60 s")
}
