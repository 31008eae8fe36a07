//! Seeds, caps and bounds of the credit program.

/// Seed prefix of a [`crate::state::CreditPool`] PDA: `[POOL_SEED, mint]`.
pub const POOL_SEED: &[u8] = b"credit_pool";
/// Seed prefix of a pool's vault: `[VAULT_SEED, pool]`.
pub const VAULT_SEED: &[u8] = b"credit_vault";
/// Seed prefix of the senior share mint: `[SENIOR_SEED, pool]`.
pub const SENIOR_SEED: &[u8] = b"senior";
/// Seed prefix of the junior share mint: `[JUNIOR_SEED, pool]`.
pub const JUNIOR_SEED: &[u8] = b"junior";
/// Seed prefix of an [`crate::state::AllowlistEntry`]: `[ALLOW_SEED, pool, lender]`.
pub const ALLOW_SEED: &[u8] = b"allow";
/// Seed prefix of a [`crate::state::CreditLine`]: `[LINE_SEED, pool, borrower]`.
pub const LINE_SEED: &[u8] = b"line";
/// Seed prefix of an [`crate::state::Advance`]: `[ADVANCE_SEED, payment]`.
pub const ADVANCE_SEED: &[u8] = b"advance";
/// Seed prefix of an advance's token account: `[ADVANCE_VAULT_SEED, payment]`.
pub const ADVANCE_VAULT_SEED: &[u8] = b"advance_vault";
/// Seed prefix of a tranche's share escrow: `[SHARE_ESCROW_SEED, pool, tranche]`.
pub const SHARE_ESCROW_SEED: &[u8] = b"share_escrow";
/// Seed prefix of a [`crate::state::LenderRedemption`]: `[REDEMPTION_SEED, pool, tranche, lender]`.
pub const REDEMPTION_SEED: &[u8] = b"redemption";
/// Seed prefix of an [`crate::state::EpochRecord`]: `[EPOCH_SEED, pool, tranche, epoch_id]`.
pub const EPOCH_SEED: &[u8] = b"epoch";

/// Fees (protocol and pool admin) may take at most this share of interest, in bps.
pub const MAX_FEE_BPS: u16 = 5_000;
/// At most this share of a payment's escrow can be advanced, leaving room for the payments
/// protocol fee that captures deduct before paying the assignee.
pub const MAX_ADVANCE_RATE_BPS: u16 = 9_000;
/// An advance is taken only on a payment the merchant can still capture for at least this long
/// (seconds, on the authorization's clock), so the receivable can repay it.
pub const MIN_ADVANCE_AUTHORIZATION_LEFT: i64 = 86_400;
/// A pool lends to at most this many lines at once, whatever its policy: `epoch_close` refreshes
/// every one of them (passed as accounts) before it serves a redemption.
pub const MAX_ACTIVE_LINES: u8 = 16;
/// The senior tranche may be at most 100 times the junior (bps of the junior's value).
pub const MAX_SENIOR_CAP_BPS: u32 = 1_000_000;
