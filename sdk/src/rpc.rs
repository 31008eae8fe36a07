//! An RPC client over `solana-rpc-client`: fetches and decodes Kassa accounts, sends with a
//! fresh blockhash, confirms at a chosen commitment, and names program errors (the error enum
//! of the program that raised them, from the registry) instead of numbers.

use crate::{
    SdkError,
    decode::decode_payment,
    programs::{KassaProgram, name_error},
};
use anchor_lang::{AccountDeserialize, prelude::Pubkey, solana_program::instruction::Instruction};
use kassa_payments::state::{Config, Payment};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    instruction::InstructionError,
    signature::{Keypair, Signature, Signer},
    transaction::{Transaction, TransactionError},
};

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

    /// The payments config's pause clock at `now`: seconds the protocol has spent paused, which
    /// authorization windows do not count.
    pub async fn pause_clock(&self, now: i64) -> Result<i64, SdkError> {
        let config: Config = self
            .account(&crate::pda::config(&kassa_payments::ID).0)
            .await?;
        config
            .pause_clock(now)
            .map_err(|e| KassaProgram::Payments.refusal(e))
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
