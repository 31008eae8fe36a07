//! One function per PDA of the payments program. Each takes the program id so a deployment at
//! another address works; [`kassa_payments::ID`] is the default deployment.

use anchor_lang::prelude::Pubkey;
use kassa_payments::constants::*;

/// The singleton config.
pub fn config(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[CONFIG_SEED], program_id)
}

/// A merchant, by the id it registered with (its first authority).
pub fn merchant(program_id: &Pubkey, merchant_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[MERCHANT_SEED, merchant_id.as_ref()], program_id)
}

/// A payment, by merchant and zero-padded order id.
pub fn payment(program_id: &Pubkey, merchant: &Pubkey, order_id: &[u8; 32]) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[PAYMENT_SEED, merchant.as_ref(), order_id], program_id)
}

/// The escrow vault of a mint.
pub fn vault(program_id: &Pubkey, mint: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[VAULT_SEED, mint.as_ref()], program_id)
}

/// The PDA that owns every escrow vault.
pub fn escrow_authority(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[ESCROW_SEED], program_id)
}

/// The blocklist entry of a wallet (exists only while the wallet is blocked).
pub fn blocklist_entry(program_id: &Pubkey, wallet: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[BLOCKLIST_SEED, wallet.as_ref()], program_id)
}

/// The signer of `emit_cpi!` self-invocations.
pub fn event_authority(program_id: &Pubkey) -> (Pubkey, u8) {
    Pubkey::find_program_address(&[b"__event_authority"], program_id)
}
