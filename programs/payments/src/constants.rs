//! Seeds, caps and bounds of the payments program.

/// Seed of the singleton [`crate::state::Config`] PDA.
pub const CONFIG_SEED: &[u8] = b"config";
/// Seed prefix of a [`crate::state::Merchant`] PDA: `[MERCHANT_SEED, merchant_id]`.
pub const MERCHANT_SEED: &[u8] = b"merchant";
/// Seed prefix of a [`crate::state::Payment`] PDA: `[PAYMENT_SEED, merchant, order_id]`.
pub const PAYMENT_SEED: &[u8] = b"payment";
/// Seed prefix of an escrow vault token account: `[VAULT_SEED, mint]`.
pub const VAULT_SEED: &[u8] = b"vault";
/// Seed of the PDA that owns every escrow vault and signs transfers out of escrow.
pub const ESCROW_SEED: &[u8] = b"escrow";
/// Seed prefix of a [`crate::state::BlocklistEntry`] PDA: `[BLOCKLIST_SEED, wallet]`.
pub const BLOCKLIST_SEED: &[u8] = b"blocked";

/// Hard ceiling of any protocol fee, in basis points (10 %). No admin can exceed it.
pub const MAX_PROTOCOL_FEE_BPS: u16 = 1_000;
/// Conversion hooks that `Config` can register.
pub const MAX_HOOKS: usize = 4;

/// One day in seconds.
pub const DAY: i64 = 86_400;
/// An invoice may be open for at most this long (seconds).
pub const MAX_INVOICE_LIFETIME: i64 = 90 * DAY;
/// Shortest authorization a merchant may configure (seconds).
pub const MIN_AUTHORIZATION_WINDOW: i64 = 60;
/// Longest authorization a merchant may configure (seconds); card networks allow about 30 days.
pub const MAX_AUTHORIZATION_WINDOW: i64 = 90 * DAY;
/// Longest refund window after authorization (seconds).
pub const MAX_REFUND_WINDOW: i64 = 365 * DAY;
/// Longest dispute window after authorization (seconds).
pub const MAX_DISPUTE_WINDOW: i64 = 180 * DAY;
