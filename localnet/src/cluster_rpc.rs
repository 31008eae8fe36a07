//! The RPC methods that describe the cluster rather than an account or a transaction, answered
//! with the shapes Agave gives and the honest values of a single node that does not vote: one
//! identity leads every slot, there are no snapshots and no vote accounts, and every lamport
//! circulates.

use crate::{
    node::{ui_amount, Node},
    rpc::{context, param, pubkey, required, to_value, RpcError, RpcResult},
};
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::StateWithExtensions,
    state::{Account as TokenAccount, Mint},
};
use serde_json::{json, Value};
use solana_rpc_client_api::response::{
    RpcAccountBalance, RpcBlockCommitment, RpcBlockProduction, RpcBlockProductionRange,
    RpcContactInfo, RpcInflationGovernor, RpcInflationRate, RpcPerfSample, RpcPrioritizationFee,
    RpcSupply, RpcTokenAccountBalance, RpcVoteAccountStatus,
};
use solana_sdk::{
    epoch_schedule::EpochSchedule, instruction::Instruction, message::Message, pubkey::Pubkey,
    signature::Signer, transaction::Transaction,
};
use std::{collections::HashMap, str::FromStr};

/// Slots per epoch, as `getEpochInfo` reports them.
const SLOTS_PER_EPOCH: u64 = 432_000;
/// The compute-budget program (priority fees are its `SetComputeUnitPrice`).
const COMPUTE_BUDGET: Pubkey = solana_sdk::pubkey!("ComputeBudget111111111111111111111111111111");
/// The stake program, asked for its minimum delegation.
const STAKE: Pubkey = solana_sdk::pubkey!("Stake11111111111111111111111111111111111111");
/// `getLargestAccounts` and `getTokenLargestAccounts` answer at most this many, as Agave does.
const LARGEST: usize = 20;

/// Answers `method` if it is one of this module's, else `None`.
pub(crate) async fn dispatch(node: &mut Node, method: &str, p: &[Value]) -> Option<RpcResult> {
    Some(match method {
        "getTransactionCount" => Ok(json!(node.transaction_count())),
        "getFirstAvailableBlock" | "minimumLedgerSlot" => Ok(json!(node.first_available_block())),
        "getMaxRetransmitSlot" | "getMaxShredInsertSlot" => Ok(json!(node.slot())),
        "getHighestSnapshotSlot" => Err(RpcError::new(-32008, "No snapshot")),
        "getEpochSchedule" => to_value(EpochSchedule::custom(
            SLOTS_PER_EPOCH,
            SLOTS_PER_EPOCH,
            false,
        )),
        "getInflationGovernor" => {
            let i = node.genesis_config().inflation;
            to_value(RpcInflationGovernor {
                initial: i.initial,
                terminal: i.terminal,
                taper: i.taper,
                foundation: i.foundation,
                foundation_term: i.foundation_term,
            })
        }
        "getInflationRate" => {
            let i = node.genesis_config().inflation;
            let epoch = node.slot() / SLOTS_PER_EPOCH;
            // Years since genesis at the start of this epoch, at the genesis's slot rate.
            let slots_per_year = node.genesis_config().slots_per_year();
            let year = if slots_per_year > 0.0 {
                (epoch * SLOTS_PER_EPOCH) as f64 / slots_per_year
            } else {
                0.0
            };
            to_value(RpcInflationRate {
                total: i.total(year),
                validator: i.validator(year),
                foundation: i.foundation(year),
                epoch,
            })
        }
        // A node that does not vote pays no staking rewards: nothing for every address.
        "getInflationReward" => inflation_reward(p),
        "getSlotLeader" => Ok(json!(node.identity.to_string())),
        "getSlotLeaders" => slot_leaders(node, p),
        "getVoteAccounts" => to_value(RpcVoteAccountStatus {
            current: Vec::new(),
            delinquent: Vec::new(),
        }),
        "getClusterNodes" => to_value(vec![RpcContactInfo {
            pubkey: node.identity.to_string(),
            gossip: None,
            tvu: None,
            tpu: None,
            tpu_quic: None,
            tpu_forwards: None,
            tpu_forwards_quic: None,
            tpu_vote: None,
            serve_repair: None,
            rpc: node.rpc_addr,
            pubsub: node
                .rpc_addr
                .map(|a| std::net::SocketAddr::new(a.ip(), a.port() + 1)),
            version: Some(crate::SOLANA_VERSION.to_string()),
            feature_set: Some(0),
            shred_version: Some(0),
        }]),
        "getLeaderSchedule" => leader_schedule(node, p),
        "getBlocksWithLimit" => blocks_with_limit(node, p),
        "getBlockCommitment" => block_commitment(node, p),
        "getBlockProduction" => Ok(block_production(node)),
        "getRecentPerformanceSamples" => performance_samples(node, p),
        "getRecentPrioritizationFees" => prioritization_fees(node, p),
        "getSupply" => supply(node).await,
        "getLargestAccounts" => largest_accounts(node, p).await,
        "getTokenLargestAccounts" => token_largest_accounts(node, p).await,
        "getStakeMinimumDelegation" => stake_minimum_delegation(node).await,
        _ => return None,
    })
}

fn inflation_reward(p: &[Value]) -> RpcResult {
    let addresses: Vec<String> = required(p, 0, "addresses")?;
    to_value(vec![Value::Null; addresses.len()])
}

fn slot_leaders(node: &Node, p: &[Value]) -> RpcResult {
    let _start: u64 = required(p, 0, "start slot")?;
    let limit: u64 = required(p, 1, "limit")?;
    if limit > 5_000 {
        return Err(RpcError::invalid_params("Invalid limit; max 5000"));
    }
    Ok(json!(vec![node.identity.to_string(); limit as usize]))
}

fn leader_schedule(node: &Node, p: &[Value]) -> RpcResult {
    // `[slot]` or `[slot, config]` or `[config]`; a slot outside the current epoch is unknown.
    let slot: Option<u64> = p.first().and_then(Value::as_u64);
    let config = p
        .iter()
        .find(|v| v.is_object())
        .cloned()
        .unwrap_or(Value::Null);
    let epoch = node.slot() / SLOTS_PER_EPOCH;
    if slot.is_some_and(|s| s / SLOTS_PER_EPOCH != epoch) {
        return Ok(Value::Null);
    }
    let identity = node.identity.to_string();
    if let Some(wanted) = config.get("identity").and_then(Value::as_str) {
        if wanted != identity {
            return Ok(json!({}));
        }
    }
    // This node leads every slot of the epoch.
    let all: Vec<u64> = (0..SLOTS_PER_EPOCH).collect();
    Ok(json!({ identity: all }))
}

fn blocks_with_limit(node: &Node, p: &[Value]) -> RpcResult {
    let start: u64 = required(p, 0, "start slot")?;
    let limit: u64 = required(p, 1, "limit")?;
    if limit > 500_000 {
        return Err(RpcError::invalid_params(
            "Invalid param: limit must not exceed 500000",
        ));
    }
    Ok(json!(node
        .block_slots()
        .into_iter()
        .filter(|s| *s >= start)
        .take(limit as usize)
        .collect::<Vec<_>>()))
}

fn block_commitment(node: &Node, p: &[Value]) -> RpcResult {
    let slot: u64 = required(p, 0, "slot")?;
    // One node holds all the stake: a block it finalized is at the deepest lockout, a block it
    // produced and has not finalized at the first.
    let commitment = node.block(slot).map(|_| {
        let mut c = [0u64; 32];
        let depth = if slot <= node.finalized_slot() { 31 } else { 0 };
        c[depth] = 1;
        c
    });
    to_value(RpcBlockCommitment {
        commitment,
        total_stake: 1,
    })
}

fn block_production(node: &Node) -> Value {
    let slots = node.block_slots();
    let first = slots.first().copied().unwrap_or(0);
    let last = node.slot();
    let produced = slots.iter().filter(|s| **s >= first && **s <= last).count();
    let leader = (last - first + 1) as usize;
    context(
        node,
        RpcBlockProduction {
            by_identity: HashMap::from([(node.identity.to_string(), (leader, produced))]),
            range: RpcBlockProductionRange {
                first_slot: first,
                last_slot: last,
            },
        },
    )
}

fn performance_samples(node: &Node, p: &[Value]) -> RpcResult {
    let limit: Option<usize> = param(p, 0)?;
    let limit = limit.unwrap_or(720);
    if limit > 720 {
        return Err(RpcError::invalid_params("Invalid limit; max 720"));
    }
    // One sample per minute of block time, newest first, as a validator samples.
    let mut samples: Vec<RpcPerfSample> = Vec::new();
    let mut window: Option<(i64, RpcPerfSample)> = None;
    for slot in node.block_slots().into_iter().rev() {
        let Some(b) = node.block(slot) else { continue };
        let minute = b.block_time.div_euclid(60);
        match &mut window {
            Some((m, s)) if *m == minute => {
                s.num_slots += 1;
                s.num_transactions += b.signatures.len() as u64;
            }
            _ => {
                if let Some((_, s)) = window.take() {
                    samples.push(s);
                }
                window = Some((
                    minute,
                    RpcPerfSample {
                        slot,
                        num_transactions: b.signatures.len() as u64,
                        num_non_vote_transactions: Some(b.signatures.len() as u64),
                        num_slots: 1,
                        sample_period_secs: 60,
                    },
                ));
            }
        }
    }
    if let Some((_, s)) = window {
        samples.push(s);
    }
    for s in &mut samples {
        s.num_non_vote_transactions = Some(s.num_transactions);
    }
    samples.truncate(limit);
    to_value(samples)
}

fn prioritization_fees(node: &Node, p: &[Value]) -> RpcResult {
    let addresses: Vec<String> = param(p, 0)?;
    if addresses.len() > 128 {
        return Err(RpcError::invalid_params(
            "Too many inputs provided; max 128",
        ));
    }
    let addresses: Vec<Pubkey> = addresses
        .iter()
        .map(|a| {
            Pubkey::from_str(a).map_err(|_| RpcError::invalid_params("Invalid param: WrongSize"))
        })
        .collect::<Result<_, _>>()?;
    // Per recent block: the lowest compute-unit price among its transactions that lock any of
    // the addresses for writing (or among all of them), 0 when none paid one.
    let slots = node.block_slots();
    let recent = &slots[slots.len().saturating_sub(150)..];
    let mut out = Vec::with_capacity(recent.len());
    for &slot in recent {
        let Some(b) = node.block(slot) else { continue };
        let mut lowest: Option<u64> = None;
        for sig in &b.signatures {
            let Some(record) = node.transaction(sig) else {
                continue;
            };
            let message = &record.transaction.message;
            let keys = message.static_account_keys();
            if !addresses.is_empty()
                && !keys
                    .iter()
                    .enumerate()
                    .any(|(i, k)| addresses.contains(k) && message.is_maybe_writable(i, None))
            {
                continue;
            }
            let price = message
                .instructions()
                .iter()
                .filter(|ix| keys.get(usize::from(ix.program_id_index)) == Some(&COMPUTE_BUDGET))
                .find_map(|ix| match ix.data.split_first() {
                    Some((3, rest)) if rest.len() >= 8 => {
                        rest[..8].try_into().ok().map(u64::from_le_bytes)
                    }
                    _ => None,
                })
                .unwrap_or(0);
            lowest = Some(lowest.map_or(price, |l| l.min(price)));
        }
        out.push(RpcPrioritizationFee {
            slot,
            prioritization_fee: lowest.unwrap_or(0),
        });
    }
    to_value(out)
}

async fn supply(node: &Node) -> RpcResult {
    // Every lamport of every account the node has seen; none is held back from circulation.
    let total: u64 = node.known_accounts().iter().map(|(_, a)| a.lamports).sum();
    Ok(context(
        node,
        RpcSupply {
            total,
            circulating: total,
            non_circulating: 0,
            non_circulating_accounts: Vec::new(),
        },
    ))
}

async fn largest_accounts(node: &Node, p: &[Value]) -> RpcResult {
    let config: Value = param(p, 0)?;
    let filter = config.get("filter").and_then(Value::as_str);
    match filter {
        None | Some("circulating") | Some("nonCirculating") => {}
        Some(other) => {
            return Err(RpcError::invalid_params(format!(
                "Invalid param: unknown filter {other:?}"
            )))
        }
    }
    let mut all: Vec<RpcAccountBalance> = if filter == Some("nonCirculating") {
        Vec::new()
    } else {
        node.known_accounts()
            .into_iter()
            .map(|(k, a)| RpcAccountBalance {
                address: k.to_string(),
                lamports: a.lamports,
            })
            .collect()
    };
    all.sort_by(|a, b| b.lamports.cmp(&a.lamports).then(a.address.cmp(&b.address)));
    all.truncate(LARGEST);
    Ok(context(node, all))
}

async fn token_largest_accounts(node: &Node, p: &[Value]) -> RpcResult {
    let mint = pubkey(p, 0)?;
    let mint_account = node
        .account(&mint)
        .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find mint"))?;
    let decimals = StateWithExtensions::<Mint>::unpack(&mint_account.data)
        .map_err(|_| RpcError::invalid_params("Invalid param: not a Token mint"))?
        .base
        .decimals;
    let mut holders: Vec<(u64, Pubkey)> = Vec::new();
    for (key, account) in node.known_accounts() {
        if account.owner != anchor_spl::token::ID && account.owner != spl_token_2022::ID {
            continue;
        }
        if let Ok(state) = StateWithExtensions::<TokenAccount>::unpack(&account.data) {
            if state.base.mint == mint {
                holders.push((state.base.amount, key));
            }
        }
    }
    holders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    holders.truncate(LARGEST);
    Ok(context(
        node,
        holders
            .into_iter()
            .map(|(amount, key)| RpcTokenAccountBalance {
                address: key.to_string(),
                amount: ui_amount(amount, decimals),
            })
            .collect::<Vec<_>>(),
    ))
}

/// Asks the stake program itself (`GetMinimumDelegation`, in a simulation), so the answer
/// follows the features the bank has.
async fn stake_minimum_delegation(node: &Node) -> RpcResult {
    // StakeInstruction::GetMinimumDelegation, bincode: variant 13.
    let ix = Instruction::new_with_bytes(STAKE, &13u32.to_le_bytes(), Vec::new());
    let payer = &node.payer;
    let (blockhash, _) = node.latest_blockhash();
    let tx = Transaction::new(
        &[payer],
        Message::new(&[ix], Some(&payer.pubkey())),
        blockhash,
    );
    let data = node
        .simulate(tx.into())
        .map_err(RpcError::internal)?
        .return_data
        .filter(|r| r.program_id == STAKE)
        .map(|r| r.data)
        .ok_or_else(|| RpcError::internal("the stake program gave no minimum delegation"))?;
    let lamports = data
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| RpcError::internal("the stake program's answer is not a u64"))?;
    Ok(context(node, lamports))
}
