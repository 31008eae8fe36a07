//! From a transaction as `getTransaction` returns it to the rows the indexer stores: the
//! instructions addressed to Kassa programs, every `emit_cpi!` event (typed, through the SDK,
//! and as JSON, through the IDL), the token balance changes, and whatever could not be
//! decoded, parked with its raw bytes.

use crate::idl::IdlDecoder;
pub use kassa_sdk::decode::KassaEvent;
use kassa_sdk::programs::KassaProgram;
use serde_json::Value;
use solana_sdk::{pubkey::Pubkey, signature::Signature, transaction::VersionedTransaction};
use solana_transaction_status_client_types::{
    option_serializer::OptionSerializer, EncodedConfirmedTransactionWithStatusMeta, UiInstruction,
    UiTransactionTokenBalance,
};
use std::{collections::BTreeMap, str::FromStr, sync::OnceLock};

fn idl(program: &Pubkey) -> Option<&'static IdlDecoder> {
    static DECODERS: OnceLock<BTreeMap<KassaProgram, IdlDecoder>> = OnceLock::new();
    let p = KassaProgram::from_id(program)?;
    DECODERS
        .get_or_init(|| {
            KassaProgram::ALL
                .into_iter()
                .map(|p| {
                    let decoder = IdlDecoder::from_json(p.idl_json()).unwrap_or_else(|e| {
                        panic!("the checked-in IDL of {} is invalid: {e}", p.name())
                    });
                    (p, decoder)
                })
                .collect()
        })
        .get(&p)
}

#[derive(Debug, Clone, PartialEq)]
pub struct InstructionRow {
    pub ix_index: i32,
    /// -1 for a top-level instruction.
    pub inner_index: i32,
    pub program: Pubkey,
    pub name: String,
    pub args: Value,
    pub accounts: Vec<Pubkey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub ix_index: i32,
    pub inner_index: i32,
    pub program: Pubkey,
    pub event: KassaEvent,
    pub data: Value,
    /// The whole inner instruction data (tag, discriminator, Borsh).
    pub raw: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenChange {
    pub account_index: i32,
    pub account: Pubkey,
    pub mint: Pubkey,
    pub owner: Option<Pubkey>,
    pub pre: u64,
    pub post: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub ix_index: i32,
    pub inner_index: i32,
    pub program: Pubkey,
    pub reason: String,
    pub raw: Vec<u8>,
}

/// One transaction, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedTx {
    pub signature: Signature,
    pub slot: u64,
    pub block_time: Option<i64>,
    pub failed: bool,
    pub fee: u64,
    pub instructions: Vec<InstructionRow>,
    pub events: Vec<EventRow>,
    pub token_changes: Vec<TokenChange>,
    pub parked: Vec<Parked>,
}

/// Why a fetched transaction cannot be decoded at all (as opposed to one instruction of it,
/// which is parked).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("transaction {0}: no status meta")]
    NoMeta(String),
    #[error("transaction {0}: cannot decode the transaction encoding")]
    Encoding(String),
    #[error("transaction {0}: {1}")]
    Malformed(String, String),
}

fn opt<T: Clone>(o: &OptionSerializer<T>) -> Option<T> {
    match o {
        OptionSerializer::Some(v) => Some(v.clone()),
        _ => None,
    }
}

/// Decodes one transaction fetched with base64 encoding.
pub fn decode_transaction(
    fetched: &EncodedConfirmedTransactionWithStatusMeta,
) -> Result<DecodedTx, DecodeError> {
    let tx: VersionedTransaction = fetched
        .transaction
        .transaction
        .decode()
        .ok_or_else(|| DecodeError::Encoding(String::from("?")))?;
    let signature = *tx
        .signatures
        .first()
        .ok_or_else(|| DecodeError::Encoding(String::from("unsigned")))?;
    let meta = fetched
        .transaction
        .meta
        .as_ref()
        .ok_or_else(|| DecodeError::NoMeta(signature.to_string()))?;
    let malformed = |m: String| DecodeError::Malformed(signature.to_string(), m);

    // Static keys, then the addresses loaded from lookup tables (writable, then readonly).
    let mut keys: Vec<Pubkey> = tx.message.static_account_keys().to_vec();
    if let Some(loaded) = opt(&meta.loaded_addresses) {
        for k in loaded.writable.iter().chain(loaded.readonly.iter()) {
            keys.push(Pubkey::from_str(k).map_err(|_| malformed(format!("loaded address {k}")))?);
        }
    }
    let key = |i: usize| {
        keys.get(i)
            .copied()
            .ok_or_else(|| malformed(format!("account index {i} out of range")))
    };

    let mut out = DecodedTx {
        signature,
        slot: fetched.slot,
        block_time: fetched.block_time,
        failed: meta.err.is_some(),
        fee: meta.fee,
        instructions: Vec::new(),
        events: Vec::new(),
        token_changes: Vec::new(),
        parked: Vec::new(),
    };

    let pre = opt(&meta.pre_token_balances).unwrap_or_default();
    let post = opt(&meta.post_token_balances).unwrap_or_default();
    out.token_changes = token_changes(&pre, &post, &key)?;

    // A failed transaction changed nothing: its row records the fee, nothing else applies.
    if out.failed {
        return Ok(out);
    }

    for (i, ix) in tx.message.instructions().iter().enumerate() {
        let program = key(ix.program_id_index as usize)?;
        if idl(&program).is_some() {
            let accounts = ix
                .accounts
                .iter()
                .map(|a| key(*a as usize))
                .collect::<Result<Vec<_>, _>>()?;
            out.add_instruction(i as i32, -1, program, &ix.data, accounts);
        }
    }
    for inner in opt(&meta.inner_instructions).unwrap_or_default() {
        for (j, ui) in inner.instructions.iter().enumerate() {
            let UiInstruction::Compiled(c) = ui else {
                return Err(malformed("inner instructions not in compiled form".into()));
            };
            let program = key(c.program_id_index as usize)?;
            if idl(&program).is_none() {
                continue;
            }
            let data = bs58::decode(&c.data)
                .into_vec()
                .map_err(|_| malformed(format!("inner instruction {}.{j} data", inner.index)))?;
            let accounts = c
                .accounts
                .iter()
                .map(|a| key(*a as usize))
                .collect::<Result<Vec<_>, _>>()?;
            out.add_inner(inner.index as i32, j as i32, program, data, accounts);
        }
    }
    Ok(out)
}

impl DecodedTx {
    fn park(&mut self, ix: i32, inner: i32, program: Pubkey, reason: String, raw: &[u8]) {
        self.parked.push(Parked {
            ix_index: ix,
            inner_index: inner,
            program,
            reason,
            raw: raw.to_vec(),
        });
    }

    fn add_instruction(
        &mut self,
        ix: i32,
        inner: i32,
        program: Pubkey,
        data: &[u8],
        accounts: Vec<Pubkey>,
    ) {
        let Some(decoder) = idl(&program) else { return };
        match decoder.instruction(data) {
            Ok((name, args)) => self.instructions.push(InstructionRow {
                ix_index: ix,
                inner_index: inner,
                program,
                name,
                args,
                accounts,
            }),
            Err(e) => self.park(ix, inner, program, format!("instruction: {e}"), data),
        }
    }

    fn add_inner(
        &mut self,
        ix: i32,
        inner: i32,
        program: Pubkey,
        data: Vec<u8>,
        accounts: Vec<Pubkey>,
    ) {
        match KassaEvent::from_cpi(&program, &data).map_err(|e| e.to_string()) {
            Ok(None) => self.add_instruction(ix, inner, program, &data, accounts),
            Ok(Some(event)) => {
                let json = idl(&program)
                    .ok_or_else(|| "no IDL".to_string())
                    .and_then(|d| d.event(&data[8..]).map_err(|e| e.to_string()));
                match json {
                    Ok((_, data_json)) => self.events.push(EventRow {
                        ix_index: ix,
                        inner_index: inner,
                        program,
                        event,
                        data: data_json,
                        raw: data,
                    }),
                    Err(e) => self.park(ix, inner, program, format!("event JSON: {e}"), &data),
                }
            }
            Err(e) => self.park(ix, inner, program, format!("event: {e}"), &data),
        }
    }
}

fn amount(b: &UiTransactionTokenBalance) -> Result<u64, String> {
    b.ui_token_amount
        .amount
        .parse()
        .map_err(|_| format!("token amount {:?}", b.ui_token_amount.amount))
}

fn token_changes(
    pre: &[UiTransactionTokenBalance],
    post: &[UiTransactionTokenBalance],
    key: &dyn Fn(usize) -> Result<Pubkey, DecodeError>,
) -> Result<Vec<TokenChange>, DecodeError> {
    let mut out: Vec<TokenChange> = Vec::new();
    let mut seen = std::collections::BTreeMap::new();
    for b in pre {
        seen.insert(b.account_index, (Some(b), None));
    }
    for b in post {
        seen.entry(b.account_index).or_insert((None, None)).1 = Some(b);
    }
    for (index, (before, after)) in seen {
        let any = before.or(after).expect("one side present");
        let pre_amount = before.map(amount).transpose();
        let post_amount = after.map(amount).transpose();
        let (Ok(pre_amount), Ok(post_amount)) = (pre_amount, post_amount) else {
            return Err(DecodeError::Malformed(
                String::new(),
                format!("token balance of account {index}"),
            ));
        };
        let (pre_amount, post_amount) = (pre_amount.unwrap_or(0), post_amount.unwrap_or(0));
        if pre_amount == post_amount {
            continue;
        }
        out.push(TokenChange {
            account_index: i32::from(index),
            account: key(index as usize)?,
            mint: Pubkey::from_str(&any.mint)
                .map_err(|_| DecodeError::Malformed(String::new(), format!("mint {}", any.mint)))?,
            owner: opt(&any.owner)
                .map(|o| Pubkey::from_str(&o))
                .transpose()
                .map_err(|_| {
                    DecodeError::Malformed(String::new(), format!("owner of account {index}"))
                })?,
            pre: pre_amount,
            post: post_amount,
        });
    }
    Ok(out)
}
