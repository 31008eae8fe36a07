//! The `exact` scheme on Solana: the transaction a client signs, as the specification lays it
//! out (`specs/schemes/exact/scheme_exact_svm.md`). A version 0 message without lookup tables,
//! paid for by the facilitator (`extra.feePayer`, account 0, its signature left empty), of
//! exactly these instructions:
//!
//! 1. `SetComputeUnitLimit` ([`COMPUTE_UNIT_LIMIT`]);
//! 2. `SetComputeUnitPrice` ([`COMPUTE_UNIT_PRICE`] micro-lamports);
//! 3. `TransferChecked` of the amount from the client's associated token account to the
//!    recipient's (`payTo`'s) for the mint, on the mint's token program;
//! 4. a memo: `extra.memo`, or 16 random bytes in hex so that two payments of the same amount
//!    are two transactions.

use crate::{SdkError, payments::MintRef};
use anchor_lang::prelude::Pubkey;
use base64::Engine;
use serde_json::{Value, json};
use solana_sdk::{
    hash::Hash,
    instruction::{AccountMeta, Instruction},
    message::{VersionedMessage, v0},
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::VersionedTransaction,
};

/// The compute units the client asks for (the specification's clients' default).
pub const COMPUTE_UNIT_LIMIT: u32 = 20_000;
/// The priority price the client offers, in micro-lamports per compute unit.
pub const COMPUTE_UNIT_PRICE: u64 = 1;
/// The SPL Memo program.
pub const MEMO_PROGRAM: Pubkey =
    anchor_lang::pubkey!("MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr");
/// The Lighthouse program some wallets add assertions with.
pub const LIGHTHOUSE_PROGRAM: Pubkey =
    anchor_lang::pubkey!("L2TExMFKdjpN9kozasaurPirfHy9P8sbXoAN1qA3S95");
/// The compute budget program.
pub const COMPUTE_BUDGET_PROGRAM: Pubkey =
    anchor_lang::pubkey!("ComputeBudget111111111111111111111111111111");
/// `TransferChecked`'s instruction tag in SPL Token and Token-2022.
pub const TRANSFER_CHECKED: u8 = 12;

/// What the client pays.
#[derive(Clone, Debug)]
pub struct Transfer {
    /// The mint and its token program.
    pub mint: MintRef,
    /// The mint's decimals (`TransferChecked` states them).
    pub decimals: u8,
    /// The amount in the mint's smallest unit.
    pub amount: u64,
    /// The recipient wallet (`payTo`); the destination is its associated token account.
    pub pay_to: Pubkey,
    /// The facilitator's key that pays the fee (`extra.feePayer`).
    pub fee_payer: Pubkey,
    /// The memo's bytes (`extra.memo`, or a random nonce).
    pub memo: Vec<u8>,
}

/// A fresh memo: 16 random bytes in hex.
pub fn nonce_memo() -> Vec<u8> {
    let bytes: [u8; 16] = rand_bytes();
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        .into_bytes()
}

fn rand_bytes() -> [u8; 16] {
    // A new keypair's public key is 32 bytes from the system's random source.
    let k = Keypair::new().pubkey().to_bytes();
    let mut out = [0; 16];
    out.copy_from_slice(&k[..16]);
    out
}

/// The four instructions, `payer` signing the transfer.
pub fn instructions(payer: &Pubkey, t: &Transfer) -> Result<Vec<Instruction>, SdkError> {
    if t.amount == 0 {
        return Err(SdkError::ZeroAmount);
    }
    let mut limit = vec![2u8];
    limit.extend_from_slice(&COMPUTE_UNIT_LIMIT.to_le_bytes());
    let mut price = vec![3u8];
    price.extend_from_slice(&COMPUTE_UNIT_PRICE.to_le_bytes());
    let mut transfer = vec![TRANSFER_CHECKED];
    transfer.extend_from_slice(&t.amount.to_le_bytes());
    transfer.push(t.decimals);
    Ok(vec![
        Instruction::new_with_bytes(COMPUTE_BUDGET_PROGRAM, &limit, vec![]),
        Instruction::new_with_bytes(COMPUTE_BUDGET_PROGRAM, &price, vec![]),
        Instruction::new_with_bytes(
            t.mint.token_program,
            &transfer,
            vec![
                AccountMeta::new(t.mint.ata(payer), false),
                AccountMeta::new_readonly(t.mint.mint, false),
                AccountMeta::new(t.mint.ata(&t.pay_to), false),
                AccountMeta::new_readonly(*payer, true),
            ],
        ),
        Instruction::new_with_bytes(MEMO_PROGRAM, &t.memo, vec![]),
    ])
}

/// The transaction, signed by `payer` and waiting for the fee payer's signature.
pub fn transaction(
    payer: &Keypair,
    t: &Transfer,
    blockhash: Hash,
) -> Result<VersionedTransaction, SdkError> {
    let ixs = instructions(&payer.pubkey(), t)?;
    let message = v0::Message::try_compile(&t.fee_payer, &ixs, &[], blockhash)
        .map_err(|e| SdkError::Rpc(format!("the x402 message does not compile: {e}")))?;
    let message = VersionedMessage::V0(message);
    let mut signatures =
        vec![Signature::default(); usize::from(message.header().num_required_signatures)];
    let at = message
        .static_account_keys()
        .iter()
        .position(|k| *k == payer.pubkey())
        .expect("the transfer's authority is a signer of the message");
    signatures[at] = payer.sign_message(&message.serialize());
    Ok(VersionedTransaction {
        signatures,
        message,
    })
}

/// The scheme's payload: `{"transaction": <base64 of the wire transaction>}`.
pub fn payload(tx: &VersionedTransaction) -> Value {
    let wire = bincode::serialize(tx).expect("a transaction serializes");
    json!({ "transaction": base64::engine::general_purpose::STANDARD.encode(wire) })
}

/// The transaction in a payload written by [`payload`] (or any client of the specification).
pub fn decode_payload(payload: &Value) -> Result<VersionedTransaction, String> {
    let b64 = payload
        .get("transaction")
        .and_then(Value::as_str)
        .ok_or("the payload has no transaction")?;
    let wire = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("the transaction is not base64: {e}"))?;
    let tx: VersionedTransaction =
        bincode::deserialize(&wire).map_err(|e| format!("not a transaction: {e}"))?;
    if bincode::serialized_size(&tx).ok() != Some(wire.len() as u64) {
        return Err("bytes after the transaction".into());
    }
    Ok(tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transaction_has_the_specifications_layout_and_only_the_fee_payers_slot_empty() {
        let payer = Keypair::new();
        let fee_payer = Pubkey::new_unique();
        let t = Transfer {
            mint: MintRef::new(Pubkey::new_unique(), anchor_spl::token::ID).unwrap(),
            decimals: 6,
            amount: 10_000,
            pay_to: Pubkey::new_unique(),
            fee_payer,
            memo: nonce_memo(),
        };
        let tx = transaction(&payer, &t, Hash::new_unique()).unwrap();
        let back = decode_payload(&payload(&tx)).unwrap();
        assert_eq!(back, tx);
        let keys = tx.message.static_account_keys();
        assert_eq!(keys[0], fee_payer);
        assert!(tx.message.address_table_lookups().unwrap().is_empty());
        assert_eq!(tx.message.header().num_required_signatures, 2);
        assert_eq!(tx.signatures[0], Signature::default());
        let verified = tx.verify_with_results();
        assert_eq!(verified, vec![false, true]);
        let ixs = tx.message.instructions();
        assert_eq!(ixs.len(), 4);
        let program = |i: usize| keys[usize::from(ixs[i].program_id_index)];
        assert_eq!(program(0), COMPUTE_BUDGET_PROGRAM);
        assert_eq!(ixs[0].data, [2, 0x20, 0x4e, 0, 0]);
        assert_eq!(ixs[1].data[0], 3);
        assert_eq!(program(2), anchor_spl::token::ID);
        assert_eq!(ixs[2].data[0], TRANSFER_CHECKED);
        assert_eq!(program(3), MEMO_PROGRAM);
        assert_eq!(ixs[3].data.len(), 32);
        assert!(
            ixs.iter().all(|ix| !ix.accounts.contains(&0)),
            "the fee payer is in no instruction"
        );
        assert_ne!(nonce_memo(), nonce_memo());
    }
}
