//! The node's bank, built and driven here rather than by `ProgramTestContext`.
//!
//! `ProgramTestContext` runs a private task that registers a fresh blockhash every 6.4 ms, so a
//! blockhash leaves the bank's 150-entry processing window about a second after it was issued,
//! while the block height (and with it `lastValidBlockHeight`) moves once per 400 ms slot. A
//! wallet that shows a transaction to a person before it is signed cannot work against that. The
//! node therefore owns its bank forks: it registers one blockhash per slot, as a validator's
//! PoH does at each block boundary, so a blockhash lives 150 blocks (60 s at 400 ms slots) and
//! the bank's own acceptance, `isBlockhashValid` and `lastValidBlockHeight` are one rule.
//!
//! The genesis is the one solana-program-test builds (every feature active, the SPL and core BPF
//! programs, the Kassa programs as natively compiled builtins), with the node's own identity as
//! the bootstrap validator and a fresh mint keypair, so each node's genesis hash is its own.

use agave_feature_set::FeatureSet;
use solana_accounts_db::accounts_db::ACCOUNTS_DB_CONFIG_FOR_TESTING;
use solana_cluster_type::ClusterType;
use solana_genesis_config::GenesisConfig;
use solana_program_runtime::loaded_programs::ProgramCacheEntry;
use solana_runtime::{
    bank::Bank, genesis_utils::create_genesis_config_with_leader_ex, runtime_config::RuntimeConfig,
};
use solana_sdk::{
    fee_calculator::FeeRateGovernor, native_token::LAMPORTS_PER_SOL, pubkey::Pubkey, rent::Rent,
    signature::Keypair, signer::Signer,
};
use std::sync::Arc;
use tokio::sync::OnceCell;

/// Lamports per signature, as solana-program-test and the public clusters charge.
const LAMPORTS_PER_SIGNATURE: u64 = 5_000;

/// A genesis bank and what the node needs to know about it.
pub struct Genesis {
    /// The first working bank (slot 1, as solana-program-test starts).
    pub bank: Bank,
    pub config: GenesisConfig,
    /// The faucet: the genesis mint, funded with 1,000,000 SOL.
    pub mint: Keypair,
}

/// solana-program-test installs the syscall stubs through which natively built programs log,
/// read sysvars and make CPIs only while it sets up a bank of its own, and the stubs are
/// process-wide. Starting (and at once dropping) one empty `ProgramTest` installs them before the
/// node's first transaction; nothing else of it is kept.
async fn install_native_syscall_stubs() {
    static STUBS: OnceCell<()> = OnceCell::const_new();
    STUBS
        .get_or_init(|| async {
            drop(
                solana_program_test::ProgramTest::default()
                    .start_with_context()
                    .await,
            );
        })
        .await;
}

/// Builds the node's genesis with `identity` as its bootstrap validator.
pub async fn genesis(identity: &Pubkey) -> Genesis {
    install_native_syscall_stubs().await;
    let rent = Rent::default();
    let mint = Keypair::new();
    let fee_rate_governor = FeeRateGovernor {
        lamports_per_signature: LAMPORTS_PER_SIGNATURE,
        ..FeeRateGovernor::default()
    };
    let stake = rent.minimum_balance(3_762) + 1_000_000 * LAMPORTS_PER_SOL;
    let config = create_genesis_config_with_leader_ex(
        1_000_000 * LAMPORTS_PER_SOL,
        &mint.pubkey(),
        identity,
        &Keypair::new().pubkey(),
        &Keypair::new().pubkey(),
        None,
        stake,
        42,
        fee_rate_governor,
        rent.clone(),
        ClusterType::Development,
        &FeatureSet::all_enabled(),
        Vec::new(),
    );
    let bank = Bank::new_from_genesis(
        &config,
        Arc::new(RuntimeConfig::default()),
        Vec::new(),
        None,
        ACCOUNTS_DB_CONFIG_FOR_TESTING,
        None,
        None,
        Arc::default(),
        None,
        None,
    );
    for (id, account) in solana_program_binaries::spl_programs(&rent) {
        bank.store_account(&id, &account);
    }
    for (id, account) in solana_program_binaries::core_bpf_programs(&rent, |feature| {
        config.accounts.contains_key(feature)
    }) {
        bank.store_account(&id, &account);
    }
    for (id, name, function) in crate::kassa_builtins() {
        bank.add_builtin(
            id,
            name,
            ProgramCacheEntry::new_builtin(0, name.len(), function),
        );
    }
    bank.set_capitalization_for_tests(bank.calculate_capitalization_for_tests());
    // Past slot 0, as solana-program-test starts: slot 0's blockhash is the genesis hash.
    let bank = Arc::new(bank);
    bank.fill_bank_with_ticks_for_tests();
    let first = Bank::new_from_parent(bank.clone(), identity, bank.slot() + 1);
    Genesis {
        bank: first,
        config,
        mint,
    }
}
