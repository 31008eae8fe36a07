//! The node: a solana-program-test bank driven like a single validator. It lands
//! transactions, advances slots and time, and keeps the ledger a Solana RPC node serves
//! (blocks, transactions with full metadata, signatures per address, known accounts), since
//! the bank itself keeps no history.

use crate::bank::Genesis;
use anchor_spl::token_2022::spl_token_2022::{extension::StateWithExtensions, state::Mint};
use solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2;
use solana_account_decoder::parse_token::token_amount_to_ui_amount_v3;
use solana_genesis_config::GenesisConfig;
use solana_runtime::{
    bank::Bank, bank_forks::BankForks, installed_scheduler_pool::BankWithScheduler,
};
use solana_runtime_transaction::runtime_transaction::RuntimeTransaction;
use solana_sdk::{
    account::{Account, AccountSharedData},
    clock::{Clock, MAX_PROCESSING_AGE},
    hash::Hash,
    message::{SanitizedMessage, SanitizedVersionedMessage, VersionedMessage},
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
    transaction::{
        MessageHash, Transaction, TransactionError, TransactionVerificationMode,
        VersionedTransaction,
    },
};
use solana_svm::{
    transaction_balances::SvmTokenInfo, transaction_processor::ExecutionRecordingConfig,
};
use solana_svm_timings::ExecuteTimings;
use solana_transaction_status_client_types::{
    InnerInstruction, InnerInstructions, TransactionStatusMeta, TransactionTokenBalance,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

pub use solana_runtime::bank::TransactionSimulationResult;

/// Lamports the faucet hands out per `requestAirdrop` at most.
pub const MAX_AIRDROP: u64 = 1_000_000_000_000;

/// Transactions of history a node keeps by default (see [`NodeConfig::ledger_limit`]).
pub const DEFAULT_LEDGER_LIMIT: usize = 50_000;

/// Sealed slots between two passes of the accounts store's clean and shrink, the work a
/// validator's background service does.
const CLEAN_EVERY_SLOTS: u64 = 100;

/// How the node behaves.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Slots a transaction stays `confirmed` before it is `finalized`.
    pub finality_lag: u64,
    /// Seconds added to the wall clock for block times and the Clock sysvar.
    pub time_offset: i64,
    /// History kept, in transactions, as a validator's `--limit-ledger-size` bounds its
    /// ledger: past it the oldest finalized blocks leave memory with their transactions, and
    /// `getTransaction`, `getBlock` and `getSignaturesForAddress` answer for them as a validator
    /// without long-term storage does. Accounts are state, not history: they stay.
    pub ledger_limit: usize,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            finality_lag: 0,
            time_offset: 0,
            ledger_limit: DEFAULT_LEDGER_LIMIT,
        }
    }
}

/// One landed transaction and what an RPC node reports about it.
#[derive(Clone, Debug)]
pub struct TxRecord {
    pub slot: u64,
    pub transaction: VersionedTransaction,
    pub meta: TransactionStatusMeta,
    pub block_time: i64,
}

/// A produced block.
#[derive(Clone, Debug)]
pub struct Block {
    pub slot: u64,
    pub parent_slot: u64,
    pub block_height: u64,
    /// The hash its last tick registers when it is sealed, chosen when it opens (as PoH's hash
    /// chain would give it), so an open block already shows the blockhash it will have.
    pub blockhash: Hash,
    pub previous_blockhash: Hash,
    pub block_time: i64,
    pub signatures: Vec<Signature>,
}

/// What subscribers hear about: a landed transaction or a new slot.
#[derive(Clone, Debug)]
pub enum NodeEvent {
    /// A transaction landed (or was dropped by fault injection, `dropped = true`).
    Transaction {
        signature: Signature,
        slot: u64,
        err: Option<TransactionError>,
        logs: Vec<String>,
        accounts: Vec<Pubkey>,
        dropped: bool,
    },
    /// The node moved to `slot`; everything up to `finalized` is final.
    Slot {
        slot: u64,
        parent: u64,
        finalized: u64,
    },
}

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The transaction did not land at all (no fee charged, no record).
    #[error("transaction rejected: {0}")]
    Rejected(TransactionError),
    #[error("cannot advance the bank: {0}")]
    Warp(String),
}

pub struct Node {
    forks: Arc<RwLock<BankForks>>,
    /// The working bank: the open block's.
    bank: Arc<Bank>,
    genesis_config: GenesisConfig,
    /// The faucet (the genesis mint).
    pub payer: Keypair,
    /// Where the node's JSON-RPC listens, once the server has bound it (`getClusterNodes`).
    pub rpc_addr: Option<std::net::SocketAddr>,
    pub config: NodeConfig,
    pub genesis_hash: Hash,
    pub identity: Pubkey,
    current: Block,
    blocks: BTreeMap<u64, Block>,
    txs: HashMap<Signature, TxRecord>,
    /// Transactions landed (and not dropped) since genesis.
    landed: u64,
    by_address: HashMap<Pubkey, Vec<Signature>>,
    known: BTreeSet<Pubkey>,
    /// Transactions dropped by fault injection: they never finalize and their effects are undone.
    dropped: BTreeSet<Signature>,
    /// The accounts each transaction wrote, as they were before it (for fault injection).
    undo: HashMap<Signature, Vec<(Pubkey, Option<Account>)>>,
    /// Subscribers (the WebSocket endpoint) listen here.
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
    /// The Clock sysvar's last `unix_timestamp` (it never goes back).
    clock_at: i64,
}

/// The blockhash block `slot` will register, chained from its parent's.
fn next_blockhash(previous: &Hash, slot: u64) -> Hash {
    solana_sdk::hash::hashv(&[previous.as_ref(), &slot.to_le_bytes()])
}

fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Node {
    /// A fresh node: a genesis of its own (see [`crate::bank`]) with `known` seeding the account
    /// index (programs, mints, wallets created at genesis).
    pub async fn start(config: NodeConfig, known: impl IntoIterator<Item = Pubkey>) -> Self {
        let identity = Keypair::new().pubkey();
        let Genesis {
            bank,
            config: genesis_config,
            mint,
        } = crate::bank::genesis(&identity).await;
        let forks = BankForks::new_rw_arc(bank);
        let bank = forks.read().expect("bank forks lock").working_bank();
        // Each node's genesis has its own mint and validator keys, so its hash (which is also
        // the first blockhash) is its own: an indexer's one-database-one-cluster guard can tell
        // a restarted node from the one it mirrored.
        let genesis_hash = genesis_config.hash();
        let now = wall_clock() + config.time_offset;
        let current = Block {
            slot: bank.slot(),
            parent_slot: bank.parent_slot(),
            block_height: bank.block_height(),
            blockhash: next_blockhash(&bank.last_blockhash(), bank.slot()),
            previous_blockhash: bank.last_blockhash(),
            block_time: now,
            signatures: Vec::new(),
        };
        let mut node = Self {
            forks,
            bank,
            genesis_config,
            payer: mint,
            rpc_addr: None,
            config,
            genesis_hash,
            identity,
            current,
            blocks: BTreeMap::new(),
            txs: HashMap::new(),
            landed: 0,
            by_address: HashMap::new(),
            known: known.into_iter().collect(),
            dropped: BTreeSet::new(),
            undo: HashMap::new(),
            events: tokio::sync::broadcast::channel(4_096).0,
            clock_at: now,
        };
        node.known.insert(node.payer.pubkey());
        node.sync_clock();
        node
    }

    /// The working bank (the open block's).
    pub fn bank(&self) -> &Bank {
        &self.bank
    }

    pub fn genesis_config(&self) -> &GenesisConfig {
        &self.genesis_config
    }

    pub fn slot(&self) -> u64 {
        self.bank.slot()
    }

    pub fn block_height(&self) -> u64 {
        self.bank.block_height()
    }

    /// Highest slot whose transactions are finalized.
    pub fn finalized_slot(&self) -> u64 {
        self.slot().saturating_sub(self.config.finality_lag)
    }

    /// The unix time the node's clock shows now.
    pub fn now(&self) -> i64 {
        wall_clock() + self.config.time_offset
    }

    /// The Clock sysvar follows the wall clock (plus any warp), as a validator's does: the
    /// bank's own estimate counts 400 ms per slot from genesis, which runs ahead of the wall
    /// when blocks come faster (8x at the tests' 50 ms slots). Never backwards.
    fn sync_clock(&mut self) {
        let mut clock: Clock = self.bank.clock();
        self.clock_at = self.now().max(self.clock_at);
        clock.unix_timestamp = self.clock_at;
        self.bank.set_sysvar_for_tests(&clock);
    }

    /// Seals the current block (its last tick registers its blockhash, the one that
    /// transactions of the next blocks reference) and opens the next slot.
    pub fn advance_slot(&mut self) -> Result<(), NodeError> {
        let parent = self.bank.clone();
        let no_scheduler = BankWithScheduler::no_scheduler_available();
        while parent.tick_height() + 1 < parent.max_tick_height() {
            parent.register_tick(&Hash::new_unique(), &no_scheduler);
        }
        parent.register_tick(&self.current.blockhash, &no_scheduler);
        debug_assert_eq!(parent.last_blockhash(), self.current.blockhash);
        parent.freeze();
        let next = parent.slot() + 1;
        let child = Bank::new_from_parent(parent.clone(), &self.identity, next);
        {
            let mut forks = self
                .forks
                .write()
                .map_err(|e| NodeError::Warp(e.to_string()))?;
            self.bank = forks.insert(child).clone_without_scheduler();
            // A single node is its own supermajority: the sealed block is rooted at once (the
            // finality lag is the RPC's view, for the indexer's sake; fault injection undoes
            // transactions on the working bank).
            forks.set_root(parent.slot(), None, Some(parent.slot()));
        }
        let sealed_hash = parent.last_blockhash();
        let next_block = Block {
            slot: next,
            parent_slot: parent.slot(),
            block_height: self.bank.block_height(),
            blockhash: next_blockhash(&sealed_hash, next),
            previous_blockhash: sealed_hash,
            block_time: self.now(),
            signatures: Vec::new(),
        };
        let sealed = std::mem::replace(&mut self.current, next_block);
        self.blocks.insert(sealed.slot, sealed);
        let _ = self.events.send(NodeEvent::Slot {
            slot: next,
            parent: next - 1,
            finalized: self.finalized_slot(),
        });
        // Finalized transactions can no longer be dropped: forget how to undo them.
        let finalized = self.finalized_slot();
        let txs = &self.txs;
        self.undo
            .retain(|sig, _| txs.get(sig).is_some_and(|r| r.slot > finalized));
        self.prune_ledger();
        if next.is_multiple_of(CLEAN_EVERY_SLOTS) {
            // Rooted slots' writes leave the in-memory write cache for the store, whose dead
            // versions (overwritten or closed accounts) are then cleaned and compacted.
            parent.force_flush_accounts_cache();
            let db = &parent.rc.accounts.accounts_db;
            db.clean_accounts(Some(parent.slot()), false, parent.epoch_schedule());
            parent.shrink_candidate_slots();
        }
        self.sync_clock();
        Ok(())
    }

    /// The first slot whose block the node still holds (`getFirstAvailableBlock`).
    pub fn first_available_block(&self) -> u64 {
        self.blocks
            .keys()
            .next()
            .copied()
            .unwrap_or(self.current.slot)
    }

    /// Drops the oldest finalized blocks, with their transactions, while more than
    /// `ledger_limit` transactions are held.
    fn prune_ledger(&mut self) {
        let finalized = self.finalized_slot();
        let mut pruned_per_address: HashMap<Pubkey, usize> = HashMap::new();
        while self.txs.len() > self.config.ledger_limit {
            let Some(entry) = self.blocks.first_entry() else {
                break;
            };
            if *entry.key() > finalized {
                break;
            }
            let block = entry.remove();
            for sig in &block.signatures {
                let Some(record) = self.txs.remove(sig) else {
                    continue;
                };
                let message = &record.transaction.message;
                let loaded = &record.meta.loaded_addresses;
                for key in message
                    .static_account_keys()
                    .iter()
                    .chain(&loaded.writable)
                    .chain(&loaded.readonly)
                {
                    *pruned_per_address.entry(*key).or_default() += 1;
                }
            }
        }
        // Signatures per address are oldest first, so the pruned ones are a prefix; an
        // address whose history is gone and whose account is closed leaves the index.
        for (key, count) in pruned_per_address {
            let Some(list) = self.by_address.get_mut(&key) else {
                continue;
            };
            list.drain(..count.min(list.len()));
            if list.is_empty() {
                self.by_address.remove(&key);
                if self.bank.get_account(&key).is_none() {
                    self.known.remove(&key);
                }
            }
        }
    }

    /// Moves the clock forward by `seconds` (expiry and interest tests).
    pub fn warp_time(&mut self, seconds: i64) -> Result<(), NodeError> {
        self.config.time_offset += seconds;
        self.advance_slot()
    }

    /// The newest blockhash (the last sealed block's) and the last block height at which a
    /// transaction referencing it is still accepted.
    pub fn latest_blockhash(&self) -> (Hash, u64) {
        let hash = self.bank.last_blockhash();
        let last_valid = self
            .bank
            .get_blockhash_last_valid_block_height(&hash)
            .unwrap_or_else(|| self.block_height() + MAX_PROCESSING_AGE as u64);
        (hash, last_valid)
    }

    /// Whether a transaction referencing `hash` would be accepted now (the bank's own rule).
    pub fn is_blockhash_valid(&self, hash: &Hash) -> bool {
        self.bank.is_blockhash_valid(hash)
    }

    pub fn account(&self, address: &Pubkey) -> Option<Account> {
        self.bank.get_account(address).map(Account::from)
    }

    /// Every account the node has seen, with its current state.
    pub fn known_accounts(&self) -> Vec<(Pubkey, Account)> {
        self.known
            .iter()
            .filter_map(|key| self.account(key).map(|a| (*key, a)))
            .collect()
    }

    /// Registers an account created outside transactions (genesis).
    pub fn remember(&mut self, key: Pubkey) {
        self.known.insert(key);
    }

    /// The fee the bank charges for `message`; `None` when its blockhash is unknown or expired.
    pub fn fee_for_message(&self, message: VersionedMessage) -> Option<u64> {
        let versioned = SanitizedVersionedMessage::try_new(message).ok()?;
        let sanitized = SanitizedMessage::try_new(
            versioned,
            self.bank.as_ref(),
            self.bank.get_reserved_account_keys(),
        )
        .ok()?;
        self.bank.get_fee_for_message(&sanitized)
    }

    /// Runs `tx` against the working bank without committing it.
    pub fn simulate(
        &self,
        tx: VersionedTransaction,
    ) -> Result<TransactionSimulationResult, TransactionError> {
        let sanitized = RuntimeTransaction::try_create(
            tx,
            MessageHash::Compute,
            Some(false),
            self.bank.as_ref(),
            self.bank.get_reserved_account_keys(),
            self.bank
                .feature_set
                .is_active(&agave_feature_set::static_instruction_limit::id()),
        )?;
        Ok(self.bank.simulate_transaction_unchecked(&sanitized, true))
    }

    /// Transactions landed since the node started (`getTransactionCount`), pruned history
    /// included; dropped ones are not counted.
    pub fn transaction_count(&self) -> u64 {
        self.landed
    }

    /// Transactions of history held in memory (at most about `ledger_limit`).
    pub fn history_len(&self) -> usize {
        self.txs.len()
    }

    pub fn transaction(&self, signature: &Signature) -> Option<&TxRecord> {
        self.txs.get(signature)
    }

    pub fn is_dropped(&self, signature: &Signature) -> bool {
        self.dropped.contains(signature)
    }

    /// A produced block (the open one included, as a validator shows its processed slot).
    pub fn block(&self, slot: u64) -> Option<&Block> {
        self.blocks.get(&slot).or(if self.current.slot == slot {
            Some(&self.current)
        } else {
            None
        })
    }

    /// Slots of produced blocks, ascending.
    pub fn block_slots(&self) -> Vec<u64> {
        self.blocks
            .keys()
            .copied()
            .chain(std::iter::once(self.current.slot))
            .collect()
    }

    /// The blockhashes of the newest sealed blocks, newest first.
    pub fn recent_blockhashes(&self) -> impl Iterator<Item = Hash> + '_ {
        self.blocks.values().rev().map(|b| b.blockhash)
    }

    /// Signatures that touched `address`, oldest first.
    pub fn signatures_for(&self, address: &Pubkey) -> &[Signature] {
        self.by_address
            .get(address)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Decimals of `mint`, when it is a token mint.
    pub fn mint_decimals(&self, mint: &Pubkey) -> Option<u8> {
        let account = self.account(mint)?;
        StateWithExtensions::<Mint>::unpack(&account.data)
            .ok()
            .map(|m| m.base.decimals)
    }

    /// Lands a transaction: verifies and executes it against the working bank (recording it
    /// even if its instructions fail, as a validator does) and returns its signature.
    /// Transactions that cannot be charged a fee (bad or expired blockhash, signature,
    /// duplicate) do not land.
    pub fn land(&mut self, tx: VersionedTransaction) -> Result<Signature, NodeError> {
        self.land_with(tx, TransactionVerificationMode::FullVerification)
    }

    /// [`Node::land`] for a transaction whose signatures the caller has just verified (the RPC
    /// does, to answer a bad one with its own error), so they are not verified twice.
    pub(crate) fn land_verified(
        &mut self,
        tx: VersionedTransaction,
    ) -> Result<Signature, NodeError> {
        self.land_with(tx, TransactionVerificationMode::HashOnly)
    }

    fn land_with(
        &mut self,
        tx: VersionedTransaction,
        verification: TransactionVerificationMode,
    ) -> Result<Signature, NodeError> {
        let signature = tx.signatures[0];
        if self.txs.contains_key(&signature) {
            return Err(NodeError::Rejected(TransactionError::AlreadyProcessed));
        }
        let bank = self.bank.clone();
        let sanitized = bank
            .verify_transaction(tx.clone(), verification)
            .map_err(NodeError::Rejected)?;
        let keys: Vec<Pubkey> = sanitized.message().account_keys().iter().copied().collect();
        let pre_accounts: Vec<Option<Account>> = keys.iter().map(|k| self.account(k)).collect();
        let batch = bank.prepare_sanitized_batch(std::slice::from_ref(&sanitized));
        let (mut results, balances) = bank.load_execute_and_commit_transactions(
            &batch,
            MAX_PROCESSING_AGE,
            ExecutionRecordingConfig {
                enable_cpi_recording: true,
                enable_log_recording: true,
                enable_return_data_recording: true,
                enable_transaction_balance_recording: true,
            },
            &mut ExecuteTimings::default(),
            None,
        );
        drop(batch);
        let committed = results
            .pop()
            .unwrap_or(Err(TransactionError::AccountNotFound))
            .map_err(NodeError::Rejected)?;
        let (mut native_pre, mut native_post, mut token_pre, mut token_post) =
            balances.map(|b| b.into_vecs()).unwrap_or_default();
        let loaded_addresses = match sanitized.message() {
            SanitizedMessage::V0(m) => m.loaded_addresses.clone().into_owned(),
            SanitizedMessage::Legacy(_) => Default::default(),
        };
        let inner_instructions = committed
            .inner_instructions
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .filter(|(_, list)| !list.is_empty())
            .map(|(index, list)| InnerInstructions {
                index: index as u8,
                instructions: list
                    .into_iter()
                    .map(|i| InnerInstruction {
                        instruction: i.instruction,
                        stack_height: Some(u32::from(i.stack_height)),
                    })
                    .collect(),
            })
            .collect();
        let logs = crate::logs::as_validator(committed.log_messages.unwrap_or_default());
        let meta = TransactionStatusMeta {
            status: committed.status,
            fee: committed.fee_details.total_fee(),
            pre_balances: native_pre.pop().unwrap_or_default(),
            post_balances: native_post.pop().unwrap_or_default(),
            inner_instructions: Some(inner_instructions),
            log_messages: Some(logs),
            pre_token_balances: Some(token_balances(token_pre.pop().unwrap_or_default())),
            post_token_balances: Some(token_balances(token_post.pop().unwrap_or_default())),
            rewards: Some(Vec::new()),
            loaded_addresses,
            return_data: committed.return_data,
            compute_units_consumed: Some(committed.executed_units),
            cost_units: None,
        };
        let record = TxRecord {
            slot: self.slot(),
            transaction: tx,
            meta,
            block_time: self.current.block_time,
        };
        for key in &keys {
            if self.bank.get_account(key).is_some() {
                self.known.insert(*key);
            }
            self.by_address.entry(*key).or_default().push(signature);
        }
        self.current.signatures.push(signature);
        let _ = self.events.send(NodeEvent::Transaction {
            signature,
            slot: record.slot,
            err: record.meta.status.clone().err(),
            logs: record.meta.log_messages.clone().unwrap_or_default(),
            accounts: keys.clone(),
            dropped: false,
        });
        self.txs.insert(signature, record);
        self.landed += 1;
        self.undo
            .insert(signature, keys.into_iter().zip(pre_accounts).collect());
        Ok(signature)
    }

    /// Transfers lamports from the faucet (the genesis mint) to `to`. Two identical requests
    /// in one block would be one transaction, so a repeat is signed against the next older
    /// blockhash that is still valid.
    pub fn airdrop(&mut self, to: &Pubkey, lamports: u64) -> Result<Signature, NodeError> {
        let payer = self.payer.insecure_clone();
        let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
        let candidates: Vec<Hash> = std::iter::once(self.bank.last_blockhash())
            .chain(self.recent_blockhashes())
            .take(MAX_PROCESSING_AGE)
            .collect();
        for blockhash in candidates {
            let tx = Transaction::new_signed_with_payer(
                std::slice::from_ref(&ix),
                Some(&payer.pubkey()),
                &[&payer],
                blockhash,
            );
            if self.txs.contains_key(&tx.signatures[0]) {
                continue;
            }
            return self.land(VersionedTransaction::from(tx));
        }
        Err(NodeError::Rejected(TransactionError::AlreadyProcessed))
    }

    /// Fault injection: a confirmed, not yet finalized transaction is dropped. Its record
    /// disappears (it never finalizes) and the accounts it wrote return to their state before
    /// it, as if the fork that held it had been abandoned.
    pub fn drop_transaction(&mut self, signature: &Signature) -> Result<(), String> {
        let record = self.txs.get(signature).ok_or("unknown signature")?;
        if record.slot <= self.finalized_slot() {
            return Err("transaction is already finalized".into());
        }
        let slot = record.slot;
        let mut touched = Vec::new();
        if let Some(accounts) = self.undo.remove(signature) {
            for (key, account) in accounts {
                touched.push(key);
                let shared = account.map(AccountSharedData::from).unwrap_or_default();
                self.bank.store_account(&key, &shared);
            }
        }
        self.txs.remove(signature);
        self.landed -= 1;
        for list in self.by_address.values_mut() {
            list.retain(|s| s != signature);
        }
        if let Some(block) = self.blocks.get_mut(&slot) {
            block.signatures.retain(|s| s != signature);
        }
        self.current.signatures.retain(|s| s != signature);
        self.dropped.insert(*signature);
        let _ = self.events.send(NodeEvent::Transaction {
            signature: *signature,
            slot,
            err: None,
            logs: Vec::new(),
            accounts: touched,
            dropped: true,
        });
        Ok(())
    }
}

/// The runtime's token balances as an RPC node reports them.
fn token_balances(infos: Vec<SvmTokenInfo>) -> Vec<TransactionTokenBalance> {
    infos
        .into_iter()
        .map(|t| TransactionTokenBalance {
            account_index: t.account_index,
            mint: t.mint.to_string(),
            ui_token_amount: ui_amount(t.amount, t.decimals),
            owner: t.owner.to_string(),
            program_id: t.program_id.to_string(),
        })
        .collect()
}

/// A token amount as RPC answers show it, for a mint with `decimals`.
pub fn ui_amount(amount: u64, decimals: u8) -> solana_account_decoder::parse_token::UiTokenAmount {
    let data = SplTokenAdditionalDataV2 {
        decimals,
        ..Default::default()
    };
    token_amount_to_ui_amount_v3(amount, &data)
}
