//! The header every Kassa event opens with, so that one reader (the indexer) can order and
//! attribute the events of any program the same way.

use anchor_lang::prelude::*;

/// Which entity changed, its per-entity sequence number, when, and who caused it.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHeader {
    /// Address of the account whose state changed.
    pub entity: Pubkey,
    /// Sequence number of this change within the entity, starting at 0 and without gaps.
    pub seq: u64,
    /// Unix timestamp (seconds) from the Clock sysvar.
    pub timestamp: i64,
    /// The signer (or crank caller) that caused the change.
    pub actor: Pubkey,
}

impl EventHeader {
    /// Header for the change numbered `seq` of `entity`, caused by `actor` at `timestamp`.
    pub fn new(entity: Pubkey, seq: u64, actor: Pubkey, timestamp: i64) -> Self {
        Self {
            entity,
            seq,
            timestamp,
            actor,
        }
    }
}
