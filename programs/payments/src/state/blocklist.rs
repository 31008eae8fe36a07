use anchor_lang::prelude::*;

/// A wallet that may not pay (PDA `["blocked", wallet]`). Its existence is the block; removing
/// the entry closes the account and returns the rent to whoever paid it.
#[account]
#[derive(InitSpace, Debug)]
pub struct BlocklistEntry {
    pub wallet: Pubkey,
    /// SHA-256 of the off-chain compliance case behind the block.
    pub reason_hash: [u8; 32],
    /// Unix timestamp (seconds).
    pub added_at: i64,
    /// Receives the rent when the entry is removed.
    pub rent_payer: Pubkey,
    pub bump: u8,
}
