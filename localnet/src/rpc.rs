//! JSON-RPC 2.0 methods with the request parameters, defaults, response shapes and error codes
//! of an Agave node, over a [`Node`].

use crate::node::{ui_amount, Node, NodeError, TransactionSimulationResult, MAX_AIRDROP};
use solana_sdk::message::AccountKeys;
use solana_transaction_status::parse_ui_instruction;

/// Slots one `kassa_advanceSlot` call may seal.
const MAX_ADVANCE: u64 = 1_000;
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::StateWithExtensions,
    state::{Account as TokenAccount, Mint},
};
use base64::{prelude::BASE64_STANDARD, Engine};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use solana_account_decoder::{
    encode_ui_account,
    parse_account_data::{AccountAdditionalDataV3, SplTokenAdditionalDataV2},
    UiAccountEncoding, UiDataSliceConfig,
};
use solana_rpc_client_api::{
    config::*,
    filter::RpcFilterType,
    response::{
        RpcBlockhash, RpcConfirmedTransactionStatusWithSignature, RpcKeyedAccount,
        RpcSimulateTransactionResult, RpcVersionInfo,
    },
};
use solana_sdk::{
    account::Account,
    hash::Hash,
    message::VersionedMessage,
    pubkey::Pubkey,
    signature::Signature,
    transaction::{TransactionError, VersionedTransaction},
};
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, EncodedTransaction,
    EncodedTransactionWithStatusMeta, ParsedAccount, ParsedAccountSource,
    TransactionBinaryEncoding, TransactionConfirmationStatus, TransactionStatus,
    UiCompiledInstruction, UiConfirmedBlock, UiInnerInstructions, UiMessage, UiParsedMessage,
    UiRawMessage, UiTransaction, UiTransactionEncoding, UiTransactionStatusMeta,
};
use std::str::FromStr;

/// A JSON-RPC error object.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<Value>,
}

impl RpcError {
    pub fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            data: None,
        }
    }
    pub fn parse() -> Self {
        Self::new(-32700, "Parse error")
    }
    pub fn invalid_request() -> Self {
        Self::new(-32600, "Invalid request")
    }
    pub fn method_not_found() -> Self {
        Self::new(-32601, "Method not found")
    }
    /// `-32602` with `msg` as the message, as Agave's handlers give it.
    pub fn invalid_params(msg: impl std::fmt::Display) -> Self {
        Self::new(-32602, msg.to_string())
    }
    /// `-32602` for parameters that do not deserialize, worded as Agave's JSON-RPC layer words
    /// it (`Invalid params: unknown variant `bogus`, expected one of … .`).
    pub fn bad_params(e: impl std::fmt::Display) -> Self {
        Self::new(-32602, format!("Invalid params: {e}."))
    }
    pub(crate) fn internal(msg: impl std::fmt::Display) -> Self {
        Self::new(-32603, format!("Internal error: {msg}"))
    }
    pub fn to_json(&self) -> Value {
        match &self.data {
            Some(data) => json!({"code": self.code, "message": self.message, "data": data}),
            None => json!({"code": self.code, "message": self.message}),
        }
    }
}

impl From<NodeError> for RpcError {
    fn from(e: NodeError) -> Self {
        RpcError::internal(e)
    }
}

pub(crate) type RpcResult = Result<Value, RpcError>;

/// Positional parameter `i`, or its default when absent or null.
pub(crate) fn param<T: DeserializeOwned + Default>(
    params: &[Value],
    i: usize,
) -> Result<T, RpcError> {
    match params.get(i) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => serde_json::from_value(v.clone()).map_err(RpcError::bad_params),
    }
}

/// A required positional parameter.
pub(crate) fn required<T: DeserializeOwned>(
    params: &[Value],
    i: usize,
    what: &str,
) -> Result<T, RpcError> {
    let v = params
        .get(i)
        .ok_or_else(|| RpcError::bad_params(format!("missing {what}")))?;
    serde_json::from_value(v.clone()).map_err(|e| RpcError::bad_params(format!("{what}: {e}")))
}

pub(crate) fn pubkey(params: &[Value], i: usize) -> Result<Pubkey, RpcError> {
    let s: String = required(params, i, "pubkey")?;
    Pubkey::from_str(&s).map_err(|_| RpcError::invalid_params("Invalid param: WrongSize"))
}

fn signature(s: &str) -> Result<Signature, RpcError> {
    Signature::from_str(s).map_err(|_| RpcError::invalid_params("Invalid param: WrongSize"))
}

pub(crate) fn context(node: &Node, value: impl serde::Serialize) -> Value {
    json!({"context": {"slot": node.slot(), "apiVersion": crate::SOLANA_VERSION}, "value": value})
}

pub(crate) fn to_value(v: impl serde::Serialize) -> RpcResult {
    serde_json::to_value(v).map_err(RpcError::internal)
}

/// Decimals of the mint of a token account or of a mint itself, for jsonParsed encoding.
async fn token_data(
    node: &Node,
    account: &Account,
) -> Result<Option<AccountAdditionalDataV3>, RpcError> {
    if account.owner != anchor_spl::token::ID && account.owner != spl_token_2022::ID {
        return Ok(None);
    }
    let Ok(state) = StateWithExtensions::<TokenAccount>::unpack(&account.data) else {
        return Ok(None);
    };
    let Some(decimals) = node.mint_decimals(&state.base.mint) else {
        return Ok(None);
    };
    Ok(Some(AccountAdditionalDataV3 {
        spl_token_additional_data: Some(SplTokenAdditionalDataV2 {
            decimals,
            ..Default::default()
        }),
    }))
}

/// Base58 cannot carry more than this many bytes of account data (Agave's limit).
const MAX_BASE58_BYTES: usize = 128;

async fn ui_account(
    node: &Node,
    key: &Pubkey,
    account: &Account,
    encoding: UiAccountEncoding,
    slice: Option<UiDataSliceConfig>,
) -> RpcResult {
    if matches!(
        encoding,
        UiAccountEncoding::Binary | UiAccountEncoding::Base58
    ) {
        let len = slice.map_or(account.data.len(), |s| {
            s.length.min(account.data.len().saturating_sub(s.offset))
        });
        if len > MAX_BASE58_BYTES {
            return Err(RpcError::new(-32600, format!("Encoded binary (base 58) data should be less than {MAX_BASE58_BYTES} bytes, please use Base64 encoding.")));
        }
    }
    let additional = if encoding == UiAccountEncoding::JsonParsed {
        token_data(node, account).await?
    } else {
        None
    };
    to_value(encode_ui_account(key, account, encoding, additional, slice))
}

fn decode_tx(
    data: &str,
    encoding: UiTransactionEncoding,
) -> Result<VersionedTransaction, RpcError> {
    let bytes = match encoding {
        UiTransactionEncoding::Base58 | UiTransactionEncoding::Binary => bs58::decode(data)
            .into_vec()
            .map_err(|e| RpcError::invalid_params(format!("invalid base58 encoding: {e}")))?,
        UiTransactionEncoding::Base64 => BASE64_STANDARD
            .decode(data)
            .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?,
        other => {
            return Err(RpcError::invalid_params(format!(
                "unsupported encoding: {other}. Supported encodings: base58, base64"
            )))
        }
    };
    if bytes.len() > 1_232 {
        return Err(RpcError::invalid_params(format!("base64 encoded solana_transaction::versioned::VersionedTransaction too large: {} bytes (max: encoded/raw 1644/1232)", bytes.len())));
    }
    let tx: VersionedTransaction = bincode::deserialize(&bytes).map_err(|e| {
        RpcError::invalid_params(format!(
            "failed to deserialize solana_transaction::versioned::VersionedTransaction: {e}"
        ))
    })?;
    tx.sanitize()
        .map_err(|e| RpcError::invalid_params(format!("invalid transaction: {e}")))?;
    Ok(tx)
}

fn status_of(node: &Node, slot: u64) -> (Option<usize>, TransactionConfirmationStatus) {
    if slot <= node.finalized_slot() {
        (None, TransactionConfirmationStatus::Finalized)
    } else {
        (
            Some((node.slot() - slot) as usize),
            TransactionConfirmationStatus::Confirmed,
        )
    }
}

fn encode_tx(
    tx: &VersionedTransaction,
    encoding: UiTransactionEncoding,
) -> Result<EncodedTransaction, RpcError> {
    Ok(match encoding {
        UiTransactionEncoding::Base64 => EncodedTransaction::Binary(
            BASE64_STANDARD.encode(bincode::serialize(tx).map_err(RpcError::internal)?),
            TransactionBinaryEncoding::Base64,
        ),
        UiTransactionEncoding::Base58 => EncodedTransaction::Binary(
            bs58::encode(bincode::serialize(tx).map_err(RpcError::internal)?).into_string(),
            TransactionBinaryEncoding::Base58,
        ),
        UiTransactionEncoding::Binary => EncodedTransaction::LegacyBinary(
            bs58::encode(bincode::serialize(tx).map_err(RpcError::internal)?).into_string(),
        ),
        UiTransactionEncoding::JsonParsed => {
            let message = &tx.message;
            let keys = message.static_account_keys();
            EncodedTransaction::Json(UiTransaction {
                signatures: tx.signatures.iter().map(ToString::to_string).collect(),
                message: UiMessage::Parsed(UiParsedMessage {
                    account_keys: keys
                        .iter()
                        .enumerate()
                        .map(|(i, k)| ParsedAccount {
                            pubkey: k.to_string(),
                            writable: message.is_maybe_writable(i, None),
                            signer: message.is_signer(i),
                            source: Some(ParsedAccountSource::Transaction),
                        })
                        .collect(),
                    recent_blockhash: message.recent_blockhash().to_string(),
                    instructions: message
                        .instructions()
                        .iter()
                        .map(|ix| parse_ui_instruction(ix, &AccountKeys::new(keys, None), None))
                        .collect(),
                    address_table_lookups: message
                        .address_table_lookups()
                        .map(|l| l.iter().map(Into::into).collect()),
                }),
            })
        }
        UiTransactionEncoding::Json => {
            let message = &tx.message;
            EncodedTransaction::Json(UiTransaction {
                signatures: tx.signatures.iter().map(ToString::to_string).collect(),
                message: UiMessage::Raw(UiRawMessage {
                    header: *message.header(),
                    account_keys: message
                        .static_account_keys()
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                    recent_blockhash: message.recent_blockhash().to_string(),
                    instructions: message
                        .instructions()
                        .iter()
                        .map(|ix| UiCompiledInstruction::from(ix, None))
                        .collect(),
                    address_table_lookups: message
                        .address_table_lookups()
                        .map(|l| l.iter().map(Into::into).collect()),
                }),
            })
        }
    })
}

fn encode_record(
    record: &crate::node::TxRecord,
    encoding: UiTransactionEncoding,
    max_version: Option<u8>,
) -> Result<EncodedTransactionWithStatusMeta, RpcError> {
    let version = match &record.transaction.message {
        VersionedMessage::Legacy(_) => {
            if max_version.is_some() {
                Some(solana_sdk::transaction::TransactionVersion::LEGACY)
            } else {
                None
            }
        }
        VersionedMessage::V0(_) => {
            if max_version.is_none() {
                return Err(RpcError::new(-32015, "Transaction version (0) is not supported by the requesting client. Please try the request again with the following configuration parameter: \"maxSupportedTransactionVersion\": 0"));
            }
            Some(solana_sdk::transaction::TransactionVersion::Number(0))
        }
    };
    let mut meta = UiTransactionStatusMeta::from(record.meta.clone());
    if let Some(inner) = &record.meta.inner_instructions {
        // Instructions Agave parses (System, the token programs, associated tokens, Memo, stake,
        // vote, the loaders, lookup tables) come parsed; the rest, Kassa's and Compute Budget's
        // included, partially decoded, as on a cluster.
        let keys = AccountKeys::new(
            record.transaction.message.static_account_keys(),
            Some(&record.meta.loaded_addresses),
        );
        let list: Vec<UiInnerInstructions> = if encoding == UiTransactionEncoding::JsonParsed {
            inner
                .iter()
                .map(|i| UiInnerInstructions {
                    index: i.index,
                    instructions: i
                        .instructions
                        .iter()
                        .map(|x| parse_ui_instruction(&x.instruction, &keys, x.stack_height))
                        .collect(),
                })
                .collect()
        } else {
            inner
                .iter()
                .cloned()
                .map(UiInnerInstructions::from)
                .collect()
        };
        meta.inner_instructions = Some(list).into();
    }
    Ok(EncodedTransactionWithStatusMeta {
        transaction: encode_tx(&record.transaction, encoding)?,
        meta: Some(meta),
        version,
    })
}

/// Runs one method. `node` is locked for the whole call: the node is single-threaded like a
/// validator's banking stage, and every answer sees one consistent state.
/// Methods whose `encoding` is an account encoding.
const ACCOUNT_ENCODED: &[&str] = &[
    "getAccountInfo",
    "getMultipleAccounts",
    "getProgramAccounts",
    "getTokenAccountsByOwner",
    "getTokenAccountsByDelegate",
];

/// Methods whose `encoding` is a transaction encoding.
const TRANSACTION_ENCODED: &[&str] = &[
    "getTransaction",
    "getBlock",
    "sendTransaction",
    "simulateTransaction",
];

/// The configuration fields every method shares, checked before any handler runs, so an
/// unknown commitment or encoding is `-32602` with Agave's message on every method, never
/// silently taken for the default (Agave parses them as typed fields of each method's config).
fn validate_config(method: &str, params: &[Value]) -> Result<(), RpcError> {
    use solana_commitment_config::CommitmentLevel;
    for config in params.iter().filter_map(Value::as_object) {
        for field in ["commitment", "preflightCommitment"] {
            if let Some(c) = config.get(field).filter(|c| !c.is_null()) {
                serde_json::from_value::<CommitmentLevel>(c.clone())
                    .map_err(RpcError::bad_params)?;
            }
        }
        if let Some(e) = config.get("encoding").filter(|e| !e.is_null()) {
            if ACCOUNT_ENCODED.contains(&method) {
                serde_json::from_value::<UiAccountEncoding>(e.clone())
                    .map_err(RpcError::bad_params)?;
            } else if TRANSACTION_ENCODED.contains(&method) {
                serde_json::from_value::<UiTransactionEncoding>(e.clone())
                    .map_err(RpcError::bad_params)?;
            }
        }
    }
    Ok(())
}

pub async fn dispatch(node: &mut Node, method: &str, params: Value) -> RpcResult {
    let params: Vec<Value> = match params {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        _ => {
            return Err(RpcError::bad_params(
                "invalid type: map, expected a sequence",
            ))
        }
    };
    let p = params.as_slice();
    validate_config(method, p)?;
    match method {
        "getHealth" => Ok(json!("ok")),
        "getVersion" => to_value(RpcVersionInfo {
            solana_core: crate::SOLANA_VERSION.to_string(),
            feature_set: Some(0),
        }),
        "getGenesisHash" => Ok(json!(node.genesis_hash.to_string())),
        "getIdentity" => Ok(json!({"identity": node.identity.to_string()})),
        "getSlot" => {
            let cfg: RpcContextConfig = param(p, 0)?;
            let finalized = cfg.commitment.is_some_and(|c| c.is_finalized());
            Ok(json!(if finalized {
                node.finalized_slot()
            } else {
                node.slot()
            }))
        }
        "getBlockHeight" => Ok(json!(node.block_height())),
        "getEpochInfo" => {
            let slot = node.slot();
            Ok(
                json!({"absoluteSlot": slot, "blockHeight": node.block_height(), "epoch": slot / 432_000, "slotIndex": slot % 432_000, "slotsInEpoch": 432_000, "transactionCount": null}),
            )
        }
        "getLatestBlockhash" => {
            let (hash, last_valid_block_height) = node.latest_blockhash();
            Ok(context(
                node,
                RpcBlockhash {
                    blockhash: hash.to_string(),
                    last_valid_block_height,
                },
            ))
        }
        "isBlockhashValid" => {
            let s: String = required(p, 0, "blockhash")?;
            let hash = Hash::from_str(&s)
                .map_err(|_| RpcError::invalid_params("Invalid param: blockhash"))?;
            Ok(context(node, node.is_blockhash_valid(&hash)))
        }
        "getFeeForMessage" => {
            let s: String = required(p, 0, "message")?;
            let bytes = BASE64_STANDARD
                .decode(s)
                .map_err(|e| RpcError::invalid_params(format!("invalid base64 encoding: {e}")))?;
            let message: VersionedMessage = bincode::deserialize(&bytes)
                .map_err(|e| RpcError::invalid_params(format!("invalid message: {e}")))?;
            Ok(context(node, node.fee_for_message(message)))
        }
        "getMinimumBalanceForRentExemption" => {
            let len: usize = required(p, 0, "data length")?;
            Ok(json!(node
                .bank()
                .get_minimum_balance_for_rent_exemption(len)))
        }
        "getBalance" => {
            let key = pubkey(p, 0)?;
            let lamports = node.account(&key).map_or(0, |a| a.lamports);
            Ok(context(node, lamports))
        }
        "getAccountInfo" => {
            let key = pubkey(p, 0)?;
            let cfg: RpcAccountInfoConfig = param(p, 1)?;
            let value = match node.account(&key) {
                Some(a) => {
                    ui_account(
                        node,
                        &key,
                        &a,
                        cfg.encoding.unwrap_or(UiAccountEncoding::Binary),
                        cfg.data_slice,
                    )
                    .await?
                }
                None => Value::Null,
            };
            Ok(context(node, value))
        }
        "getMultipleAccounts" => {
            let keys: Vec<String> = required(p, 0, "pubkeys")?;
            if keys.len() > 100 {
                return Err(RpcError::invalid_params(
                    "Too many inputs provided; max 100",
                ));
            }
            let cfg: RpcAccountInfoConfig = param(p, 1)?;
            let mut out = Vec::new();
            for k in keys {
                let key = Pubkey::from_str(&k)
                    .map_err(|_| RpcError::invalid_params("Invalid param: WrongSize"))?;
                out.push(match node.account(&key) {
                    Some(a) => {
                        ui_account(
                            node,
                            &key,
                            &a,
                            cfg.encoding.unwrap_or(UiAccountEncoding::Base64),
                            cfg.data_slice,
                        )
                        .await?
                    }
                    None => Value::Null,
                });
            }
            Ok(context(node, out))
        }
        "getProgramAccounts" => {
            let program = pubkey(p, 0)?;
            let cfg: RpcProgramAccountsConfig = param(p, 1)?;
            let filters = cfg.filters.unwrap_or_default();
            for f in &filters {
                f.verify()
                    .map_err(|e| RpcError::invalid_params(format!("Invalid param: {e:?}")))?;
            }
            let mut out = Vec::new();
            for (key, account) in node.known_accounts() {
                if account.owner != program || !filters.iter().all(|f| filter_allows(f, &account)) {
                    continue;
                }
                let ui = ui_account(
                    node,
                    &key,
                    &account,
                    cfg.account_config
                        .encoding
                        .unwrap_or(UiAccountEncoding::Binary),
                    cfg.account_config.data_slice,
                )
                .await?;
                out.push(RpcKeyedAccount {
                    pubkey: key.to_string(),
                    account: serde_json::from_value(ui).map_err(RpcError::internal)?,
                });
            }
            if cfg.with_context.unwrap_or(false) {
                Ok(context(node, out))
            } else {
                to_value(out)
            }
        }
        "getTokenAccountBalance" => {
            let key = pubkey(p, 0)?;
            let account = node
                .account(&key)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
            let state = StateWithExtensions::<TokenAccount>::unpack(&account.data)
                .map_err(|_| RpcError::invalid_params("Invalid param: not a Token account"))?;
            let decimals = node
                .mint_decimals(&state.base.mint)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find mint"))?;
            Ok(context(node, ui_amount(state.base.amount, decimals)))
        }
        "getTokenSupply" => {
            let key = pubkey(p, 0)?;
            let account = node
                .account(&key)
                .ok_or_else(|| RpcError::invalid_params("Invalid param: could not find account"))?;
            let mint = StateWithExtensions::<Mint>::unpack(&account.data)
                .map_err(|_| RpcError::invalid_params("Invalid param: not a Token mint"))?;
            Ok(context(
                node,
                ui_amount(mint.base.supply, mint.base.decimals),
            ))
        }
        "getTokenAccountsByOwner" | "getTokenAccountsByDelegate" => {
            let by_delegate = method == "getTokenAccountsByDelegate";
            let owner = pubkey(p, 0)?;
            let filter: Value = required(p, 1, "mint or programId filter")?;
            let (mint, program) = match (filter.get("mint"), filter.get("programId")) {
                (Some(Value::String(m)), _) => (
                    Some(
                        Pubkey::from_str(m)
                            .map_err(|_| RpcError::invalid_params("Invalid param: mint"))?,
                    ),
                    None,
                ),
                (_, Some(Value::String(pid))) => (
                    None,
                    Some(
                        Pubkey::from_str(pid)
                            .map_err(|_| RpcError::invalid_params("Invalid param: programId"))?,
                    ),
                ),
                _ => {
                    return Err(RpcError::invalid_params(
                        "Invalid param: expected mint or programId",
                    ))
                }
            };
            let cfg: RpcAccountInfoConfig = param(p, 2)?;
            let mut out = Vec::new();
            for (key, account) in node.known_accounts() {
                if account.owner != anchor_spl::token::ID && account.owner != spl_token_2022::ID {
                    continue;
                }
                let Ok(state) = StateWithExtensions::<TokenAccount>::unpack(&account.data) else {
                    continue;
                };
                let holder = if by_delegate {
                    Option::<Pubkey>::from(state.base.delegate) == Some(owner)
                } else {
                    state.base.owner == owner
                };
                if !holder
                    || mint.is_some_and(|m| m != state.base.mint)
                    || program.is_some_and(|pid| pid != account.owner)
                {
                    continue;
                }
                let ui = ui_account(
                    node,
                    &key,
                    &account,
                    cfg.encoding.unwrap_or(UiAccountEncoding::Binary),
                    cfg.data_slice,
                )
                .await?;
                out.push(RpcKeyedAccount {
                    pubkey: key.to_string(),
                    account: serde_json::from_value(ui).map_err(RpcError::internal)?,
                });
            }
            Ok(context(node, out))
        }
        "sendTransaction" => {
            let data: String = required(p, 0, "transaction")?;
            let cfg: RpcSendTransactionConfig = param(p, 1)?;
            let tx = decode_tx(&data, cfg.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
            if tx.verify_with_results().iter().any(|ok| !ok) {
                return Err(RpcError::new(
                    -32003,
                    "Transaction signature verification failure",
                ));
            }
            if !cfg.skip_preflight {
                let (err, logs) = match node.simulate(tx.clone()) {
                    Ok(sim) => (sim.result.err(), Some(crate::logs::as_validator(sim.logs))),
                    Err(err) => (Some(err), None),
                };
                if let Some(err) = err {
                    let mut e =
                        RpcError::new(-32002, format!("Transaction simulation failed: {err}"));
                    e.data = Some(
                        json!({"err": err, "logs": logs, "accounts": null, "unitsConsumed": null, "returnData": null, "innerInstructions": null}),
                    );
                    return Err(e);
                }
            }
            match node.land_verified(tx) {
                Ok(sig) => Ok(json!(sig.to_string())),
                Err(NodeError::Rejected(err)) => Err(RpcError::new(
                    -32002,
                    format!("Transaction simulation failed: {err}"),
                )),
                Err(e) => Err(e.into()),
            }
        }
        "simulateTransaction" => {
            let data: String = required(p, 0, "transaction")?;
            let cfg: RpcSimulateTransactionConfig = param(p, 1)?;
            let mut tx = decode_tx(&data, cfg.encoding.unwrap_or(UiTransactionEncoding::Base58))?;
            if cfg.sig_verify && cfg.replace_recent_blockhash {
                return Err(RpcError::invalid_params(
                    "sigVerify may not be used with replaceRecentBlockhash",
                ));
            }
            if cfg.sig_verify && tx.verify_with_results().iter().any(|ok| !ok) {
                return Err(RpcError::new(
                    -32003,
                    "Transaction signature verification failure",
                ));
            }
            let mut replacement = None;
            if cfg.replace_recent_blockhash {
                let (hash, last_valid_block_height) = node.latest_blockhash();
                tx.message.set_recent_blockhash(hash);
                replacement = Some(RpcBlockhash {
                    blockhash: hash.to_string(),
                    last_valid_block_height,
                });
            }
            let sim = node
                .simulate(tx)
                .unwrap_or_else(TransactionSimulationResult::new_error);
            let inner = sim.inner_instructions.map(|all| {
                all.into_iter()
                    .enumerate()
                    .filter(|(_, l)| !l.is_empty())
                    .map(|(i, l)| {
                        UiInnerInstructions::from(
                            solana_transaction_status_client_types::InnerInstructions {
                                index: i as u8,
                                instructions: l
                                    .into_iter()
                                    .map(|x| {
                                        solana_transaction_status_client_types::InnerInstruction {
                                            instruction: x.instruction,
                                            stack_height: Some(u32::from(x.stack_height)),
                                        }
                                    })
                                    .collect(),
                            },
                        )
                    })
                    .collect()
            });
            let result = RpcSimulateTransactionResult {
                err: sim.result.err().map(Into::into),
                logs: Some(crate::logs::as_validator(sim.logs)),
                accounts: None,
                units_consumed: Some(sim.units_consumed),
                loaded_accounts_data_size: Some(sim.loaded_accounts_data_size),
                return_data: sim.return_data.map(Into::into),
                inner_instructions: inner,
                replacement_blockhash: replacement,
                fee: sim.fee,
                pre_balances: None,
                post_balances: None,
                pre_token_balances: None,
                post_token_balances: None,
                loaded_addresses: None,
            };
            Ok(context(node, result))
        }
        "getSignatureStatuses" => {
            let sigs: Vec<String> = required(p, 0, "signatures")?;
            if sigs.len() > 256 {
                return Err(RpcError::invalid_params(
                    "Too many inputs provided; max 256",
                ));
            }
            let mut out = Vec::new();
            for s in sigs {
                let sig = signature(&s)?;
                out.push(node.transaction(&sig).map(|r| {
                    let (confirmations, status) = status_of(node, r.slot);
                    TransactionStatus {
                        slot: r.slot,
                        confirmations,
                        status: r.meta.status.clone(),
                        err: r.meta.status.clone().err(),
                        confirmation_status: Some(status),
                    }
                }));
            }
            Ok(context(node, out))
        }
        "getSignaturesForAddress" => {
            let address = pubkey(p, 0)?;
            let cfg: RpcSignaturesForAddressConfig = param(p, 1)?;
            let limit = cfg.limit.unwrap_or(1_000);
            if !(1..=1_000).contains(&limit) {
                return Err(RpcError::invalid_params(format!(
                    "Invalid limit; max {}",
                    1_000
                )));
            }
            let all = node.signatures_for(&address);
            let mut end = all.len();
            if let Some(before) = cfg.before.as_deref() {
                let b = signature(before)?;
                end = all.iter().position(|s| *s == b).unwrap_or(0);
            }
            let until = cfg.until.as_deref().map(signature).transpose()?;
            let finalized_only = cfg.commitment.is_some_and(|c| c.is_finalized());
            let mut out = Vec::new();
            for sig in all[..end].iter().rev() {
                if Some(*sig) == until || out.len() == limit {
                    break;
                }
                let Some(r) = node.transaction(sig) else {
                    continue;
                };
                if finalized_only && r.slot > node.finalized_slot() {
                    continue;
                }
                let (_, status) = status_of(node, r.slot);
                out.push(RpcConfirmedTransactionStatusWithSignature {
                    signature: sig.to_string(),
                    slot: r.slot,
                    err: r.meta.status.clone().err().map(Into::into),
                    memo: None,
                    block_time: Some(r.block_time),
                    confirmation_status: Some(status),
                });
            }
            to_value(out)
        }
        "getTransaction" => {
            let s: String = required(p, 0, "signature")?;
            let sig = signature(&s)?;
            let cfg: RpcTransactionConfig = match p.get(1) {
                Some(Value::String(enc)) => RpcTransactionConfig {
                    encoding: Some(
                        serde_json::from_value(json!(enc)).map_err(RpcError::bad_params)?,
                    ),
                    ..Default::default()
                },
                _ => param(p, 1)?,
            };
            let Some(record) = node.transaction(&sig) else {
                return Ok(Value::Null);
            };
            if cfg.commitment.is_some_and(|c| c.is_finalized())
                && record.slot > node.finalized_slot()
            {
                return Ok(Value::Null);
            }
            let tx = encode_record(
                record,
                cfg.encoding.unwrap_or(UiTransactionEncoding::Json),
                cfg.max_supported_transaction_version,
            )?;
            to_value(EncodedConfirmedTransactionWithStatusMeta {
                slot: record.slot,
                transaction: tx,
                block_time: Some(record.block_time),
            })
        }
        "getBlock" => {
            let slot: u64 = required(p, 0, "slot")?;
            // Agave takes the encoding alone in place of the config, as older clients send it.
            let cfg: RpcBlockConfig = match p.get(1) {
                Some(Value::String(_)) => RpcBlockConfig {
                    encoding: param::<Option<UiTransactionEncoding>>(p, 1)?,
                    ..Default::default()
                },
                _ => param(p, 1)?,
            };
            let Some(block) = node.block(slot).cloned() else {
                let first = node.first_available_block();
                if slot < first {
                    return Err(RpcError::new(
                        -32001,
                        format!("Block {slot} cleaned up, does not exist on node. First available block: {first}"),
                    ));
                }
                return Err(RpcError::new(
                    -32004,
                    format!("Block not available for slot {slot}"),
                ));
            };
            let encoding = cfg.encoding.unwrap_or(UiTransactionEncoding::Json);
            let details = cfg.transaction_details.unwrap_or_default();
            let mut transactions = None;
            let mut signatures = None;
            match details {
                solana_transaction_status_client_types::TransactionDetails::Full => {
                    let mut list = Vec::new();
                    for sig in &block.signatures {
                        if let Some(r) = node.transaction(sig) {
                            list.push(encode_record(
                                r,
                                encoding,
                                cfg.max_supported_transaction_version,
                            )?);
                        }
                    }
                    transactions = Some(list);
                }
                solana_transaction_status_client_types::TransactionDetails::Signatures => {
                    signatures = Some(block.signatures.iter().map(ToString::to_string).collect());
                }
                _ => {}
            }
            to_value(UiConfirmedBlock {
                previous_blockhash: block.previous_blockhash.to_string(),
                blockhash: block.blockhash.to_string(),
                parent_slot: block.parent_slot,
                transactions,
                signatures,
                rewards: if cfg.rewards.unwrap_or(true) {
                    Some(Vec::new())
                } else {
                    None
                },
                num_reward_partitions: None,
                block_time: Some(block.block_time),
                block_height: Some(block.block_height),
            })
        }
        "getBlockTime" => {
            let slot: u64 = required(p, 0, "slot")?;
            match node.block(slot) {
                Some(b) => Ok(json!(b.block_time)),
                None => Err(RpcError::new(
                    -32004,
                    format!("Block not available for slot {slot}"),
                )),
            }
        }
        "getBlocks" => {
            let start: u64 = required(p, 0, "start slot")?;
            let end: Option<u64> = param(p, 1)?;
            Ok(json!(node
                .block_slots()
                .into_iter()
                .filter(|s| *s >= start && end.is_none_or(|e| *s <= e))
                .collect::<Vec<_>>()))
        }
        "requestAirdrop" => {
            let key = pubkey(p, 0)?;
            let lamports: u64 = required(p, 1, "lamports")?;
            if lamports == 0 || lamports > MAX_AIRDROP {
                return Err(RpcError::new(
                    -32600,
                    format!("airdrop of {lamports} lamports refused: between 1 and {MAX_AIRDROP}"),
                ));
            }
            let sig = node.airdrop(&key, lamports)?;
            Ok(json!(sig.to_string()))
        }
        // Admin calls of this node (not part of the Solana API).
        "kassa_warpTime" => {
            let seconds: i64 = required(p, 0, "seconds")?;
            if seconds <= 0 {
                return Err(RpcError::invalid_params("seconds must be positive"));
            }
            node.warp_time(seconds)?;
            Ok(json!({"unixTimestamp": node.now(), "slot": node.slot()}))
        }
        "kassa_advanceSlot" => {
            let slots: u64 = param::<Option<u64>>(p, 0)?.unwrap_or(1);
            if slots == 0 || slots > MAX_ADVANCE {
                return Err(RpcError::invalid_params(format!(
                    "slots must be between 1 and {MAX_ADVANCE}"
                )));
            }
            for _ in 0..slots {
                node.advance_slot()?;
            }
            Ok(json!(node.slot()))
        }
        "kassa_dropTransaction" => {
            let s: String = required(p, 0, "signature")?;
            let sig = signature(&s)?;
            node.drop_transaction(&sig)
                .map_err(|e| RpcError::new(-32602, e))?;
            Ok(json!(true))
        }
        other => match crate::cluster_rpc::dispatch(node, other, p).await {
            Some(answer) => answer,
            None => Err(RpcError::method_not_found()),
        },
    }
}

fn filter_allows(filter: &RpcFilterType, account: &Account) -> bool {
    match filter {
        RpcFilterType::DataSize(size) => account.data.len() as u64 == *size,
        RpcFilterType::Memcmp(m) => m.bytes_match(&account.data),
        RpcFilterType::TokenAccountState => {
            StateWithExtensions::<TokenAccount>::unpack(&account.data).is_ok()
        }
    }
}

/// The transaction error of a rejected transaction, for callers that need it.
pub fn rejected(e: &NodeError) -> Option<&TransactionError> {
    match e {
        NodeError::Rejected(err) => Some(err),
        _ => None,
    }
}
