use anchor_lang::prelude::*;

/// A lender the pool admin allowed (a KYC pass recorded on chain), PDA
/// `["allow", pool, lender]`.
#[account]
#[derive(InitSpace, Debug)]
pub struct AllowlistEntry {
    pub pool: Pubkey,
    pub lender: Pubkey,
    pub bump: u8,
}
