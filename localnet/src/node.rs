//! The node: a solana-program-test bank driven like a single validator. It lands
//! transactions, advances slots and time, and keeps the ledger a Solana RPC node serves
//! (blocks, transactions with full metadata, signatures per address, known accounts), since
//! the bank itself keeps no history.

use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::StateWithExtensions,
    state::{Account as TokenAccount, Mint},
};
use solana_account_decoder::parse_account_data::SplTokenAdditionalDataV2;
use solana_account_decoder::parse_token::token_amount_to_ui_amount_v3;
use solana_program_test::{BanksClientError, ProgramTestContext};
use solana_sdk::{
    account::{Account, AccountSharedData},
    clock::Clock,
    hash::Hash,
    message::VersionedMessage,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
    transaction::{Transaction, TransactionError, VersionedTransaction},
};
use solana_transaction_status_client_types::{
    InnerInstruction, InnerInstructions, TransactionStatusMeta, TransactionTokenBalance,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

/// Lamports the faucet hands out per `requestAirdrop` at most.
pub const MAX_AIRDROP: u64 = 1_000_000_000_000;

/// How the node behaves.
#[derive(Clone, Debug, Default)]
pub struct NodeConfig {
    /// Slots a transaction stays `confirmed` before it is `finalized`.
    pub finality_lag: u64,
    /// Seconds added to the wall clock for block times and the Clock sysvar.
    pub time_offset: i64,
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
    #[error("bank unavailable: {0}")]
    Bank(#[from] BanksClientError),
    #[error("cannot advance the bank: {0}")]
    Warp(String),
}

pub struct Node {
    pub ctx: ProgramTestContext,
    /// Where the node's JSON-RPC listens, once the server has bound it (`getClusterNodes`).
    pub rpc_addr: Option<std::net::SocketAddr>,
    pub config: NodeConfig,
    pub genesis_hash: Hash,
    pub identity: Pubkey,
    slot: u64,
    block_height: u64,
    current: Block,
    blocks: BTreeMap<u64, Block>,
    txs: HashMap<Signature, TxRecord>,
    by_address: HashMap<Pubkey, Vec<Signature>>,
    known: BTreeSet<Pubkey>,
    /// Transactions dropped by fault injection: they never finalize and their effects are undone.
    dropped: BTreeSet<Signature>,
    /// The accounts each transaction wrote, as they were before it (for fault injection).
    undo: HashMap<Signature, Vec<(Pubkey, Option<Account>)>>,
    /// Subscribers (the WebSocket endpoint) listen here.
    pub events: tokio::sync::broadcast::Sender<NodeEvent>,
}

fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Node {
    /// A node over a started bank; `known` seeds the account index (programs, mints, wallets
    /// created at genesis).
    pub async fn new(
        ctx: ProgramTestContext,
        config: NodeConfig,
        known: impl IntoIterator<Item = Pubkey>,
    ) -> Result<Self, NodeError> {
        let first_blockhash = ctx.banks_client.get_latest_blockhash().await?;
        // solana-program-test builds the same genesis every time. A fresh node is a cluster of
        // its own, as a validator's fresh ledger is, so its identity (`getGenesisHash`) mixes a
        // random nonce into the bank's: an indexer's one-database-one-cluster guard can then
        // tell a restarted node from the one it mirrored.
        let nonce = Keypair::new().pubkey();
        let genesis_hash = solana_sdk::hash::hashv(&[first_blockhash.as_ref(), nonce.as_ref()]);
        let slot = ctx.banks_client.get_root_slot().await?;
        let identity = Keypair::new().pubkey();
        let now = wall_clock() + config.time_offset;
        let current = Block {
            slot,
            parent_slot: slot.saturating_sub(1),
            block_height: slot,
            blockhash: first_blockhash,
            previous_blockhash: first_blockhash,
            block_time: now,
            signatures: Vec::new(),
        };
        let mut node = Self {
            rpc_addr: None,
            ctx,
            config,
            genesis_hash,
            identity,
            slot,
            block_height: slot,
            current,
            blocks: BTreeMap::new(),
            txs: HashMap::new(),
            by_address: HashMap::new(),
            known: known.into_iter().collect(),
            dropped: BTreeSet::new(),
            undo: HashMap::new(),
            events: tokio::sync::broadcast::channel(4_096).0,
        };
        let payer = node.ctx.payer.pubkey();
        node.known.insert(payer);
        node.sync_clock().await?;
        Ok(node)
    }

    pub fn slot(&self) -> u64 {
        self.slot
    }

    pub fn block_height(&self) -> u64 {
        self.block_height
    }

    /// Highest slot whose transactions are finalized.
    pub fn finalized_slot(&self) -> u64 {
        self.slot.saturating_sub(self.config.finality_lag)
    }

    /// The unix time the node's clock shows now.
    pub fn now(&self) -> i64 {
        wall_clock() + self.config.time_offset
    }

    async fn sync_clock(&mut self) -> Result<(), BanksClientError> {
        let mut clock: Clock = self.ctx.banks_client.get_sysvar().await?;
        clock.unix_timestamp = self.now().max(clock.unix_timestamp);
        self.ctx.set_sysvar(&clock);
        Ok(())
    }

    /// Seals the current block and moves to the next slot.
    pub async fn advance_slot(&mut self) -> Result<(), NodeError> {
        let next = self.slot + 1;
        self.ctx
            .warp_to_slot(next)
            .map_err(|e| NodeError::Warp(format!("{e:?}")))?;
        let blockhash = self.ctx.banks_client.get_latest_blockhash().await?;
        let next_block = Block {
            slot: next,
            parent_slot: self.slot,
            block_height: self.block_height + 1,
            blockhash,
            previous_blockhash: self.current.blockhash,
            block_time: self.now(),
            signatures: Vec::new(),
        };
        let sealed = std::mem::replace(&mut self.current, next_block);
        self.blocks.insert(sealed.slot, sealed);
        self.slot = next;
        self.block_height += 1;
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
        Ok(self.sync_clock().await?)
    }

    /// Moves the clock forward by `seconds` (expiry and interest tests).
    pub async fn warp_time(&mut self, seconds: i64) -> Result<(), NodeError> {
        self.config.time_offset += seconds;
        self.advance_slot().await
    }

    pub async fn latest_blockhash(&self) -> Result<Hash, BanksClientError> {
        self.ctx.banks_client.get_latest_blockhash().await
    }

    pub async fn account(&self, address: &Pubkey) -> Result<Option<Account>, BanksClientError> {
        self.ctx.banks_client.get_account(*address).await
    }

    /// Every account the node has seen, with its current state.
    pub async fn known_accounts(&self) -> Result<Vec<(Pubkey, Account)>, BanksClientError> {
        let mut out = Vec::with_capacity(self.known.len());
        for key in &self.known {
            if let Some(a) = self.account(key).await? {
                out.push((*key, a));
            }
        }
        Ok(out)
    }

    /// Registers an account created outside transactions (genesis).
    pub fn remember(&mut self, key: Pubkey) {
        self.known.insert(key);
    }

    /// Transactions landed since the node started (`getTransactionCount`).
    pub fn transaction_count(&self) -> u64 {
        self.txs.len() as u64
    }

    pub fn transaction(&self, signature: &Signature) -> Option<&TxRecord> {
        self.txs.get(signature)
    }

    pub fn is_dropped(&self, signature: &Signature) -> bool {
        self.dropped.contains(signature)
    }

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

    /// Signatures that touched `address`, oldest first.
    pub fn signatures_for(&self, address: &Pubkey) -> &[Signature] {
        self.by_address
            .get(address)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Decimals of `mint`, when it is a token mint.
    pub async fn mint_decimals(&self, mint: &Pubkey) -> Result<Option<u8>, BanksClientError> {
        let Some(account) = self.account(mint).await? else {
            return Ok(None);
        };
        Ok(StateWithExtensions::<Mint>::unpack(&account.data)
            .ok()
            .map(|m| m.base.decimals))
    }

    async fn token_balances(
        &self,
        keys: &[Pubkey],
    ) -> Result<Vec<TransactionTokenBalance>, BanksClientError> {
        let mut out = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let Some(account) = self.account(key).await? else {
                continue;
            };
            if account.owner != anchor_spl::token::ID && account.owner != spl_token_2022::ID {
                continue;
            }
            let Ok(state) = StateWithExtensions::<TokenAccount>::unpack(&account.data) else {
                continue;
            };
            let Some(decimals) = self.mint_decimals(&state.base.mint).await? else {
                continue;
            };
            out.push(TransactionTokenBalance {
                account_index: i as u8,
                mint: state.base.mint.to_string(),
                ui_token_amount: ui_amount(state.base.amount, decimals),
                owner: state.base.owner.to_string(),
                program_id: account.owner.to_string(),
            });
        }
        Ok(out)
    }

    async fn balances(&self, keys: &[Pubkey]) -> Result<Vec<u64>, BanksClientError> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.account(key).await?.map_or(0, |a| a.lamports));
        }
        Ok(out)
    }

    /// Lands a transaction: executes it against the bank (recording it even if its
    /// instructions fail, as a validator does) and returns its signature. Transactions that
    /// cannot be charged a fee (bad blockhash, signature, duplicate) do not land.
    pub async fn land(&mut self, tx: VersionedTransaction) -> Result<Signature, NodeError> {
        let signature = tx.signatures[0];
        if self.txs.contains_key(&signature) {
            return Err(NodeError::Rejected(TransactionError::AlreadyProcessed));
        }
        let keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
        let pre_balances = self.balances(&keys).await?;
        let pre_token_balances = self.token_balances(&keys).await?;
        let pre_accounts: Vec<Option<Account>> = {
            let mut v = Vec::with_capacity(keys.len());
            for k in &keys {
                v.push(self.account(k).await?);
            }
            v
        };
        let fee = match &tx.message {
            VersionedMessage::Legacy(m) => self
                .ctx
                .banks_client
                .get_fee_for_message(m.clone())
                .await?
                .unwrap_or(5_000),
            VersionedMessage::V0(_) => {
                5_000 * u64::from(tx.message.header().num_required_signatures)
            }
        };
        let simulation = self
            .ctx
            .banks_client
            .simulate_transaction(tx.clone())
            .await?;
        let processed = self
            .ctx
            .banks_client
            .process_transaction_with_metadata(tx.clone())
            .await?;
        let Some(metadata) = processed.metadata else {
            let err = processed
                .result
                .err()
                .unwrap_or(TransactionError::AccountNotFound);
            return Err(NodeError::Rejected(err));
        };
        let post_balances = self.balances(&keys).await?;
        let post_token_balances = self.token_balances(&keys).await?;
        let details = simulation.simulation_details;
        let inner_instructions = details
            .as_ref()
            .and_then(|d| d.inner_instructions.clone())
            .map(|all| {
                all.into_iter()
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
                    .collect()
            });
        let meta = TransactionStatusMeta {
            status: processed.result.clone(),
            fee,
            pre_balances,
            post_balances,
            inner_instructions: Some(inner_instructions.unwrap_or_default()),
            log_messages: Some(metadata.log_messages),
            pre_token_balances: Some(pre_token_balances),
            post_token_balances: Some(post_token_balances),
            rewards: Some(Vec::new()),
            loaded_addresses: Default::default(),
            return_data: metadata.return_data,
            compute_units_consumed: Some(metadata.compute_units_consumed),
            cost_units: None,
        };
        let record = TxRecord {
            slot: self.slot,
            transaction: tx,
            meta,
            block_time: self.current.block_time,
        };
        for key in &keys {
            self.known.insert(*key);
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
        self.undo
            .insert(signature, keys.into_iter().zip(pre_accounts).collect());
        Ok(signature)
    }

    /// Transfers lamports from the faucet (the genesis mint) to `to`.
    pub async fn airdrop(&mut self, to: &Pubkey, lamports: u64) -> Result<Signature, NodeError> {
        let payer = self.ctx.payer.insecure_clone();
        let blockhash = self.latest_blockhash().await?;
        let ix = solana_system_interface::instruction::transfer(&payer.pubkey(), to, lamports);
        let tx =
            Transaction::new_signed_with_payer(&[ix], Some(&payer.pubkey()), &[&payer], blockhash);
        self.land(VersionedTransaction::from(tx)).await
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
                self.ctx.set_account(&key, &shared);
            }
        }
        self.txs.remove(signature);
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

/// A token amount as RPC answers show it, for a mint with `decimals`.
pub fn ui_amount(amount: u64, decimals: u8) -> solana_account_decoder::parse_token::UiTokenAmount {
    let data = SplTokenAdditionalDataV2 {
        decimals,
        ..Default::default()
    };
    token_amount_to_ui_amount_v3(amount, &data)
}
