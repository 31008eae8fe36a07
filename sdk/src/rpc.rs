//! An RPC client over `solana-rpc-client`: fetches and decodes Kassa accounts, sends with a
//! fresh blockhash, confirms at a chosen commitment, and names program errors (the payments or
//! convert error enum, from the checked-in IDL) instead of numbers.

use crate::{SdkError, decode::decode_payment};
use anchor_lang::{AccountDeserialize, prelude::Pubkey, solana_program::instruction::Instruction};
use kassa_payments::state::Payment;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    instruction::InstructionError,
    signature::{Keypair, Signature, Signer},
    transaction::{Transaction, TransactionError},
};
use std::{collections::HashMap, sync::OnceLock};

/// A program error by name: which program, its code, the enum variant and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramError {
    /// `kassa_payments` or `kassa_convert`.
    pub program: &'static str,
    /// The custom error code.
    pub code: u32,
    /// The error enum's variant, e.g. `RefundExceedsCaptured`.
    pub name: String,
    /// The rule it states.
    pub message: String,
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error {} ({}): {}",
            self.program, self.name, self.code, self.message
        )
    }
}

fn idl_errors(json: &str) -> HashMap<u32, (String, String)> {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let code = u32::try_from(e["code"].as_u64()?).ok()?;
                    Some((
                        code,
                        (
                            e["name"].as_str()?.to_string(),
                            e["msg"].as_str().unwrap_or_default().to_string(),
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Names a custom error code raised by the payments program, or by the convert program when
/// the code is not one of payments'.
pub fn name_error(program: &Pubkey, code: u32) -> Option<ProgramError> {
    static PAYMENTS: OnceLock<HashMap<u32, (String, String)>> = OnceLock::new();
    static CONVERT: OnceLock<HashMap<u32, (String, String)>> = OnceLock::new();
    let (label, table) = if *program == kassa_convert::ID {
        (
            "kassa_convert",
            CONVERT.get_or_init(|| idl_errors(include_str!("../../idl/kassa_convert.json"))),
        )
    } else {
        (
            "kassa_payments",
            PAYMENTS.get_or_init(|| idl_errors(include_str!("../../idl/kassa_payments.json"))),
        )
    };
    table.get(&code).map(|(name, message)| ProgramError {
        program: label,
        code,
        name: name.clone(),
        message: message.clone(),
    })
}

/// A client for one cluster.
pub struct KassaClient {
    /// The underlying client, for anything else.
    pub rpc: RpcClient,
    /// The commitment transactions are confirmed at.
    pub commitment: CommitmentConfig,
}

impl KassaClient {
    /// Connects to `url`, confirming at `commitment`.
    pub fn new(url: impl Into<String>, commitment: CommitmentConfig) -> Self {
        Self {
            rpc: RpcClient::new_with_commitment(url.into(), commitment),
            commitment,
        }
    }

    /// Fetches and decodes a payment.
    pub async fn payment(&self, address: &Pubkey) -> Result<Payment, SdkError> {
        let account = self
            .rpc
            .get_account(address)
            .await
            .map_err(|e| SdkError::Rpc(e.to_string()))?;
        decode_payment(&account.data)
    }

    /// Fetches and decodes any Anchor account of the Kassa programs.
    pub async fn account<T: AccountDeserialize>(&self, address: &Pubkey) -> Result<T, SdkError> {
        let account = self
            .rpc
            .get_account(address)
            .await
            .map_err(|e| SdkError::Rpc(e.to_string()))?;
        T::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| SdkError::Decode(std::any::type_name::<T>(), e.to_string()))
    }

    /// Signs `ixs` with `payer` (fee payer) and `signers` against a fresh blockhash, sends and
    /// waits for the client's commitment. A program error comes back by name.
    pub async fn send(
        &self,
        ixs: &[Instruction],
        payer: &Keypair,
        signers: &[&Keypair],
    ) -> Result<Signature, SdkError> {
        let blockhash = self
            .rpc
            .get_latest_blockhash()
            .await
            .map_err(|e| SdkError::Rpc(e.to_string()))?;
        let mut all = vec![payer];
        all.extend_from_slice(signers);
        let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
        self.rpc
            .send_and_confirm_transaction(&tx)
            .await
            .map_err(|e| match e.get_transaction_error() {
                Some(TransactionError::InstructionError(index, InstructionError::Custom(code))) => {
                    let program = ixs
                        .get(usize::from(index))
                        .map(|ix| ix.program_id)
                        .unwrap_or_default();
                    match name_error(&program, code) {
                        Some(named) => SdkError::Program(named),
                        None => SdkError::Rpc(e.to_string()),
                    }
                }
                _ => SdkError::Rpc(e.to_string()),
            })
    }
}
