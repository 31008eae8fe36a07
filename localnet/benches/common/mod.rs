//! The protocol setup both localnet benches need, as transactions for each bench to land its
//! own way (over RPC, or on the node directly): the config, a 6-decimal SPL mint, its escrow
//! vault, one KYB-attested merchant, and funded payers.

use kassa_payments::{instructions::ConfigInitArgs, state::MerchantPolicy};
use kassa_sdk::payments::{MintRef, Payments};
use solana_sdk::{instruction::Instruction, pubkey::Pubkey};

/// A numeric knob from the environment (`KASSA_BENCH_…`), or `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The size of an SPL mint account; its rent-exempt minimum is the caller's to ask the node.
pub const MINT_SIZE: u64 = 82;

/// The setup's transactions, in order; the second (the mint's creation) is also signed by the
/// mint keypair.
pub struct Setup {
    pub transactions: Vec<Vec<Instruction>>,
    pub usdc: MintRef,
    pub merchant: Pubkey,
}

/// The setup, with `admin` paying and holding every role, and `mint` the new mint's address.
pub fn protocol(p: &Payments, admin: &Pubkey, mint: &Pubkey, mint_rent: u64) -> Setup {
    let usdc = MintRef::new(*mint, anchor_spl::token::ID).unwrap();
    let args = ConfigInitArgs {
        compliance_authority: *admin,
        arbiter: *admin,
        fee_receiver: *admin,
        protocol_fee_bps: 30,
    };
    let policy = MerchantPolicy {
        authorization_window: 86_400,
        auto_capture_delay: 0,
        refund_window: 86_400,
        dispute_window: 86_400,
        require_kyt: false,
    };
    let (register, merchant) = p
        .merchant_register(admin, &usdc.mint, admin, policy)
        .unwrap();
    let transactions = vec![
        vec![p.config_init(admin, admin, None, args).unwrap()],
        vec![
            solana_system_interface::instruction::create_account(
                admin,
                mint,
                mint_rent,
                MINT_SIZE,
                &anchor_spl::token::ID,
            ),
            anchor_spl::token_2022::spl_token_2022::instruction::initialize_mint2(
                &anchor_spl::token::ID,
                mint,
                admin,
                None,
                6,
            )
            .unwrap(),
        ],
        vec![p.vault_open(admin, &usdc).unwrap()],
        vec![register],
        vec![p.merchant_kyb_attest(admin, &merchant, [1; 32]).unwrap()],
    ];
    Setup {
        transactions,
        usdc,
        merchant,
    }
}

/// `payer`'s token account of `usdc`, created if needed and credited `amount` by `admin` (the
/// mint authority); `lamports` of SOL from `admin` first when non-zero.
pub fn fund(
    admin: &Pubkey,
    payer: &Pubkey,
    usdc: &MintRef,
    lamports: u64,
    amount: u64,
) -> Vec<Instruction> {
    let mut ixs = Vec::new();
    if lamports > 0 {
        ixs.push(solana_system_interface::instruction::transfer(
            admin, payer, lamports,
        ));
    }
    ixs.push(anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(admin, payer, &usdc.mint, &usdc.token_program));
    ixs.push(
        anchor_spl::token_2022::spl_token_2022::instruction::mint_to(
            &usdc.token_program,
            &usdc.mint,
            &usdc.ata(payer),
            admin,
            &[],
            amount,
        )
        .unwrap(),
    );
    ixs
}
