//! Seeds and bounds of the conversion program.

/// Seed prefix of a pool PDA: `[POOL_SEED, mint_a, mint_b]` with `mint_a < mint_b`.
pub const POOL_SEED: &[u8] = b"pool";
/// Seed prefix of a pool vault: `[VAULT_SEED, pool, mint]`; owned by the pool PDA.
pub const VAULT_SEED: &[u8] = b"pool_vault";
/// Seed prefix of a pool's LP mint: `[LP_MINT_SEED, pool]`; mint authority is the pool PDA.
pub const LP_MINT_SEED: &[u8] = b"lp_mint";

/// Smallest amplification (a constant-product-like curve).
pub const MIN_AMP: u64 = 1;
/// Largest amplification.
pub const MAX_AMP: u64 = 1_000_000;
/// A ramp may change A by at most this factor, up or down.
pub const MAX_AMP_CHANGE: u64 = 10;
/// A ramp lasts at least this long (seconds).
pub const MIN_RAMP_DURATION: i64 = 86_400;
/// Trade fee ceiling, basis points (1 %).
pub const MAX_TRADE_FEE_BPS: u16 = 100;
/// Protocol share of the trade fee, basis points of the fee (at most all of it).
pub const MAX_PROTOCOL_SHARE_BPS: u16 = 10_000;
/// Largest difference in decimals between the two mints of a pool (keeps the normalized
/// invariant's products inside 256 bits).
pub const MAX_DECIMALS_DIFFERENCE: u8 = 6;
