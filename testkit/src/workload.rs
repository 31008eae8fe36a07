//! The benches' recorded workloads: payments made on a local node, fetched back and decoded by
//! the indexer, then replicated under fresh signatures and entity addresses to any size.

use anchor_spl::token_2022::spl_token_2022;
use kassa_indexer::{
    decode::{decode_transaction, DecodedTx, KassaEvent},
    source::Source,
    store::CursorUpdate,
    Chunk,
};
use kassa_payments::{instructions::ConfigInitArgs, state::MerchantPolicy};
use kassa_sdk::{
    payments::{MintRef, OrderId, Payments, SettlementRefs},
    rpc::KassaClient,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
};
use std::collections::HashMap;

/// The two recorded workloads, decoded by the indexer.
pub struct Recorded {
    /// Transactions of four invoice openings each: every event creates a payment.
    pub invoices: Vec<DecodedTx>,
    /// Payments opened, then paid, then captured, one instruction per transaction, the three
    /// steps of a payment batches apart: most events update a stored payment and move tokens.
    pub lifecycle: Vec<DecodedTx>,
    /// The merchant every payment is for, and the mint they are paid in.
    pub merchant: Pubkey,
    pub mint: Pubkey,
}

/// Records, on the cluster at `rpc_url` (a local node: the admin is airdropped its SOL), `n`
/// transactions of four invoice openings each and `m` payment lifecycles, fetched back and
/// decoded by the indexer.
pub async fn record(rpc_url: &str, n: usize, m: usize) -> Recorded {
    let client = KassaClient::new(rpc_url.to_string(), CommitmentConfig::confirmed());
    let rpc = &client.rpc;
    let admin = Keypair::new();
    let sig = rpc
        .request_airdrop(&admin.pubkey(), 100_000_000_000)
        .await
        .unwrap();
    rpc.poll_for_signature(&sig).await.unwrap();
    let p = Payments::default();
    let me = admin.pubkey();
    // Fees go to a wallet of their own: one token account cannot be both payouts of a capture.
    let fee_receiver = Pubkey::new_unique();
    let init = p
        .config_init(
            &me,
            &me,
            None,
            ConfigInitArgs {
                compliance_authority: me,
                arbiter: me,
                fee_receiver,
                protocol_fee_bps: 30,
            },
        )
        .unwrap();
    client.send(&[init], &admin, &[]).await.expect("lands");
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let create = solana_system_interface::instruction::create_account(
        &me,
        &mint.pubkey(),
        rent,
        82,
        &anchor_spl::token::ID,
    );
    let init_mint = spl_token_2022::instruction::initialize_mint2(
        &anchor_spl::token::ID,
        &mint.pubkey(),
        &me,
        None,
        6,
    )
    .unwrap();
    let mint_ref = MintRef::new(mint.pubkey(), anchor_spl::token::ID).unwrap();
    let [ata, fee_ata] = [me, fee_receiver].map(|owner| anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&me, &owner, &mint.pubkey(), &anchor_spl::token::ID));
    let fund = spl_token_2022::instruction::mint_to(
        &anchor_spl::token::ID,
        &mint.pubkey(),
        &mint_ref.ata(&me),
        &me,
        &[],
        u64::MAX / 2,
    )
    .unwrap();
    client
        .send(&[create, init_mint, ata, fee_ata, fund], &admin, &[&mint])
        .await
        .expect("lands");
    client
        .send(&[p.vault_open(&me, &mint_ref).unwrap()], &admin, &[])
        .await
        .expect("lands");
    let policy = MerchantPolicy {
        authorization_window: 86_400,
        auto_capture_delay: 0,
        refund_window: 86_400,
        dispute_window: 86_400,
        require_kyt: false,
    };
    let (register, merchant) = p
        .merchant_register(&me, &mint.pubkey(), &me, policy)
        .unwrap();
    client.send(&[register], &admin, &[]).await.expect("lands");
    let kyb = p.merchant_kyb_attest(&me, &merchant, [1; 32]).unwrap();
    client.send(&[kyb], &admin, &[]).await.expect("lands");
    let now = rpc
        .get_block_time(rpc.get_slot().await.unwrap())
        .await
        .unwrap();
    let mut sigs = Vec::with_capacity(n);
    for i in 0..n {
        let ixs: Vec<Instruction> = (0..4)
            .map(|j| {
                p.invoice_open(
                    &me,
                    &merchant,
                    &OrderId::new(&format!("B-{i}-{j}")).unwrap(),
                    1_000_000 + i as u64,
                    now + 86_400,
                )
                .unwrap()
                .0
            })
            .collect();
        sigs.push(client.send(&ixs, &admin, &[]).await.expect("lands"));
    }
    let mut opened = Vec::with_capacity(m);
    let mut lifecycle = Vec::with_capacity(3 * m);
    for i in 0..m {
        let (open, payment) = p
            .invoice_open(
                &me,
                &merchant,
                &OrderId::new(&format!("L-{i}")).unwrap(),
                2_000_000 + i as u64,
                now + 86_400,
            )
            .unwrap();
        lifecycle.push(client.send(&[open], &admin, &[]).await.expect("lands"));
        opened.push(payment);
    }
    for payment in &opened {
        let pay = p
            .payment_pay(&me, &merchant, payment, &mint_ref, None)
            .unwrap();
        lifecycle.push(client.send(&[pay], &admin, &[]).await.expect("lands"));
    }
    for (i, payment) in opened.iter().enumerate() {
        let refs = SettlementRefs {
            merchant,
            payment: *payment,
            mint: mint_ref,
            fee_receiver,
            settlement_wallet: me,
            assignee: None,
        };
        let capture = p.payment_capture(&me, &refs, 2_000_000 + i as u64).unwrap();
        lifecycle.push(client.send(&[capture], &admin, &[]).await.expect("lands"));
    }
    let source = Source::new(rpc_url);
    let fetch = |sigs: Vec<Signature>| {
        let source = &source;
        async move {
            let mut out = Vec::with_capacity(sigs.len());
            for s in sigs {
                let tx = source.transaction(&s).await.unwrap().expect("stored");
                out.push(decode_transaction(&tx).expect("decodes"));
            }
            out
        }
    };
    Recorded {
        invoices: fetch(sigs).await,
        lifecycle: fetch(lifecycle).await,
        merchant,
        mint: mint.pubkey(),
    }
}

/// A copy of `tx` under a fresh signature, every entity under the address `fresh` gives it
/// (a random one the first time), in the event's bytes, its typed form and its JSON alike.
pub fn replicate(tx: &DecodedTx, fresh: &mut HashMap<Pubkey, Pubkey>) -> DecodedTx {
    let mut t = tx.clone();
    t.signature = Signature::from(rand::random::<[u8; 64]>());
    for e in &mut t.events {
        let entity = e.event.header().entity;
        let to = *fresh
            .entry(entity)
            .or_insert_with(|| Pubkey::new_from_array(rand::random()));
        // emit_cpi! data: 8-byte event-instruction tag, 8-byte event discriminator, then the
        // event, whose first field is its header, whose first field is the entity.
        assert_eq!(
            &e.raw[16..48],
            entity.as_ref(),
            "the header leads every event"
        );
        e.raw[16..48].copy_from_slice(to.as_ref());
        e.event = KassaEvent::from_cpi(&e.program, &e.raw).unwrap().unwrap();
        assert_eq!(e.event.header().entity, to);
        e.data["header"]["entity"] = serde_json::json!(to.to_string());
    }
    t
}

/// Copies of `recorded` under fresh signatures and entities until `events` events.
pub fn workload(recorded: &[DecodedTx], events: usize) -> Vec<DecodedTx> {
    let mut out = Vec::new();
    let mut n = 0;
    while n < events {
        let mut fresh = HashMap::new();
        for t in recorded {
            n += t.events.len();
            out.push(replicate(t, &mut fresh));
        }
    }
    out
}

/// `workload` cut into the indexer's chunks of `batch` transactions, each with the cursor its
/// last transaction leaves (as the indexer's fetch loop hands them to `apply_in_order`).
pub fn chunks(workload: &[DecodedTx], batch: usize) -> Vec<Chunk> {
    workload
        .chunks(batch.max(1))
        .map(|txs| {
            let last = txs.last().expect("chunks are never empty");
            let cursor = CursorUpdate {
                program: kassa_payments::ID,
                slot: last.slot,
                signature: Some(last.signature),
            };
            (txs.to_vec(), cursor)
        })
        .collect()
}
