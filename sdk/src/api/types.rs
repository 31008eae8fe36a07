//! What the Kassa HTTP API sends and receives (`/v1`), shared by the server (`kassa-api`, which
//! derives the OpenAPI document from these types) and the client.
//!
//! Conventions: addresses and signatures are base58 strings; amounts are integer strings in the
//! mint's base units with the mint's `decimals` beside them (a `u64` does not fit a JSON
//! number that every language reads exactly); times are RFC 3339 in UTC.

use serde::{Deserialize, Serialize};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Who a key acts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// One merchant: its own data and actions only.
    Merchant,
    /// Compliance officers: every merchant and payment, read-only here.
    Compliance,
    /// Operators: everything, including onboarding and keys.
    Operator,
    /// Indexer consumers: every mirrored resource, read-only.
    Consumer,
}

impl Role {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Merchant => "merchant",
            Role::Compliance => "compliance",
            Role::Operator => "operator",
            Role::Consumer => "consumer",
        }
    }

    /// The role named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "merchant" => Role::Merchant,
            "compliance" => Role::Compliance,
            "operator" => Role::Operator,
            "consumer" => Role::Consumer,
            _ => return None,
        })
    }
}

/// A merchant's KYB standing on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Kyb {
    /// `pending`, `approved` or `suspended`.
    pub status: String,
    /// SHA-256 (hex) of the KYB case record the attestation refers to.
    pub case_hash: String,
}

/// A merchant's payment policy on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Policy {
    /// Seconds an authorization stays capturable.
    pub authorization_window_secs: i64,
    /// Seconds after authorization when anyone may capture (0: never).
    pub auto_capture_delay_secs: i64,
    /// Seconds after capture during which the merchant can refund.
    pub refund_window_secs: i64,
    /// Seconds after capture during which the payer can dispute.
    pub dispute_window_secs: i64,
    /// Payments need the compliance authority's KYT co-signature.
    pub require_kyt: bool,
    /// The merchant's fee tier in basis points (absent: the protocol's fee).
    pub fee_bps: Option<i32>,
}

/// A merchant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Merchant {
    /// The merchant PDA.
    pub address: String,
    /// The display name given at onboarding (absent when the merchant has no API account).
    pub name: Option<String>,
    /// The key that controls the merchant on chain (never held by Kassa).
    pub authority: String,
    /// The restricted operator key, when the merchant set one.
    pub operator: Option<String>,
    /// The merchant id the PDA is derived from.
    pub merchant_id: String,
    /// The stablecoin the merchant settles in.
    pub settlement_mint: String,
    /// Where captured funds go (its associated token account for the settlement mint).
    pub settlement_wallet: String,
    /// KYB standing.
    pub kyb: Kyb,
    /// Payment policy.
    pub policy: Policy,
    /// Registration time.
    pub registered_at: String,
    /// Last profile change.
    pub updated_at: String,
}

/// A payment (an invoice and what happened to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Payment {
    /// The payment PDA; also its Solana Pay reference.
    pub address: String,
    /// The merchant PDA.
    pub merchant: String,
    /// The merchant's order id (its bytes as UTF-8, zero padding removed).
    pub order_id: String,
    /// The settlement mint.
    pub mint: String,
    /// The mint's decimals; every amount below is in its base units.
    pub decimals: u8,
    /// The invoiced amount.
    pub amount: String,
    /// `open`, `authorized`, `captured`, `refunded`, `voided`, `reclaimed`, `cancelled`,
    /// `expired`, `disputed`, `resolved`, `held` or `rejected`.
    pub status: String,
    /// Who paid (absent while open, cancelled or expired).
    pub payer: Option<String>,
    /// Escrowed at payment.
    pub authorized: String,
    /// Captured so far.
    pub captured: String,
    /// Released back to the payer (void, reclaim, reject, dispute split).
    pub released: String,
    /// Refunded after capture.
    pub refunded: String,
    /// Protocol fees taken from captures.
    pub fees: String,
    /// Paid to the merchant's settlement wallet.
    pub to_merchant: String,
    /// Paid to an assignee (a credit pool that advanced on the payment).
    pub to_assignee: String,
    /// The assignee, when the receivable was assigned.
    pub assignee: Option<String>,
    /// Amount assigned.
    pub assigned: String,
    /// The mint the payer paid in, when converted.
    pub input_mint: Option<String>,
    /// What the payer spent in `input_mint` (its base units).
    pub input_amount: Option<String>,
    /// The payment carried the compliance authority's KYT co-signature.
    pub kyt_cosigned: bool,
    /// When the invoice stops accepting payment.
    pub expires_at: String,
    /// When the authorization stops being capturable.
    pub authorization_expires_at: Option<String>,
    /// Last moment for a refund.
    pub refund_deadline: Option<String>,
    /// Last moment for a dispute.
    pub dispute_deadline: Option<String>,
    /// When anyone may capture.
    pub auto_capture_at: Option<String>,
    /// When the invoice was opened.
    pub opened_at: String,
    /// When the status last changed.
    pub status_at: String,
    /// The account was closed and its rent returned.
    pub closed: bool,
}

/// A page of a list, newest first. Pass `next_cursor` as `cursor` for the next page; it stays
/// correct while rows are being inserted (new rows come before the first page, never inside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Page<T> {
    /// The rows.
    pub data: Vec<T>,
    /// The cursor of the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Where a transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Commitment {
    /// Voted on by a supermajority; may still be rolled back.
    Confirmed,
    /// Rooted: final.
    Finalized,
    /// Was confirmed, never finalized: rolled back, its effects retracted.
    Reverted,
}

/// One event in a payment's life.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TimelineEvent {
    /// The entity's sequence number at this event.
    pub seq: i64,
    /// The event's name (`payment_authorized`, …).
    pub name: String,
    /// The on-chain time of the event.
    pub at: String,
    /// Who caused it.
    pub actor: String,
    /// The transaction.
    pub signature: String,
    /// Its slot.
    pub slot: i64,
    /// Where its transaction stands.
    pub commitment: Commitment,
    /// The event's fields as the program emitted them.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub data: serde_json::Value,
}

/// A merchant's totals in one mint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Balance {
    /// The merchant PDA.
    pub merchant: String,
    /// The mint.
    pub mint: String,
    /// Its decimals.
    pub decimals: u8,
    /// Payments made.
    pub payments: i64,
    /// Still in escrow.
    pub escrowed: String,
    /// Paid out to the merchant.
    pub settled: String,
    /// Refunded by the merchant.
    pub refunded: String,
    /// Protocol fees.
    pub fees: String,
    /// Settled minus refunded.
    pub net: String,
}

/// A StableSwap conversion pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ConversionPool {
    /// The pool PDA.
    pub address: String,
    /// First mint.
    pub mint_a: String,
    /// Its decimals.
    pub decimals_a: u8,
    /// Second mint.
    pub mint_b: String,
    /// Its decimals.
    pub decimals_b: u8,
    /// Liquidity share mint.
    pub lp_mint: String,
    /// Reserve of `mint_a`.
    pub reserve_a: String,
    /// Reserve of `mint_b`.
    pub reserve_b: String,
    /// LP shares outstanding.
    pub lp_supply: String,
    /// Amplification now ramping from.
    pub initial_amp: i64,
    /// Amplification ramping to.
    pub target_amp: i64,
    /// Trade fee.
    pub trade_fee_bps: i32,
    /// Paused pools convert nothing.
    pub paused: bool,
    /// Swaps so far.
    pub swaps: i64,
    /// Volume in `mint_a`.
    pub volume_a: String,
    /// Volume in `mint_b`.
    pub volume_b: String,
}

/// A PayFi credit pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreditPool {
    /// The pool PDA.
    pub address: String,
    /// The lent stablecoin.
    pub mint: String,
    /// Its decimals.
    pub decimals: u8,
    /// Senior share mint.
    pub senior_mint: String,
    /// Junior share mint.
    pub junior_mint: String,
    /// Pool admin.
    pub admin: String,
    /// Who approves lines.
    pub underwriter: String,
    /// Senior tranche APR.
    pub senior_apr_bps: i32,
    /// Cash in the vault.
    pub cash: String,
    /// Principal lent on lines.
    pub principal: String,
    /// Advanced on receivables.
    pub receivable: String,
    /// Senior tranche value.
    pub senior_value: String,
    /// Junior tranche value.
    pub junior_value: String,
    /// Losses written off.
    pub losses: String,
    /// Deposits ever.
    pub deposits_total: String,
    /// Income ever.
    pub income_total: String,
    /// Paused pools lend nothing.
    pub paused: bool,
}

/// A credit line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreditLine {
    /// The line PDA.
    pub address: String,
    /// Its pool.
    pub pool: String,
    /// The borrower.
    pub borrower: String,
    /// The merchant, for receivable lines.
    pub merchant: Option<String>,
    /// `revolving` or `receivable`.
    pub kind: String,
    /// `good_standing`, `delayed`, `defaulted` or `written_off`.
    pub status: String,
    /// Credit limit.
    pub credit_limit: String,
    /// APR.
    pub apr_bps: i32,
    /// Share of a receivable that can be advanced.
    pub advance_rate_bps: i32,
    /// Maturity.
    pub maturity: String,
    /// Principal outstanding.
    pub principal: String,
    /// Drawn ever.
    pub drawn_total: String,
    /// Principal repaid.
    pub principal_repaid: String,
    /// Interest paid.
    pub interest_paid: String,
}

/// An advance on a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Advance {
    /// The advance PDA.
    pub address: String,
    /// Its line.
    pub line: String,
    /// The payment advanced on.
    pub payment: String,
    /// Amount advanced.
    pub amount: String,
    /// What the payment's capture has paid back so far.
    pub arrived: String,
    /// Settled (repaid or written down).
    pub settled: bool,
    /// What was not repaid.
    pub shortfall: String,
    /// Closed (its address free for reuse).
    pub closed: bool,
}

/// An instruction of a Kassa program in a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TransactionInstruction {
    /// Top-level instruction index.
    pub index: i32,
    /// Index among the inner instructions (absent: top level).
    pub inner_index: Option<i32>,
    /// The program.
    pub program: String,
    /// The instruction's name.
    pub name: String,
    /// Its decoded arguments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub args: serde_json::Value,
    /// Its accounts in order.
    pub accounts: Vec<String>,
}

/// A transaction the indexer stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Transaction {
    /// The signature.
    pub signature: String,
    /// Its slot.
    pub slot: i64,
    /// Block time, when the cluster gave one.
    pub block_time: Option<String>,
    /// An instruction failed: no state changed.
    pub failed: bool,
    /// Fee in lamports.
    pub fee: String,
    /// Where it stands.
    pub commitment: Commitment,
    /// Its Kassa instructions.
    pub instructions: Vec<TransactionInstruction>,
    /// The events it emitted, in order.
    pub events: Vec<TimelineEvent>,
}

/// Where a payment stands, for a client that lost an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SettlementState {
    /// Nothing known by that reference, signature or order id: paying is safe.
    Unknown,
    /// The invoice exists and is unpaid, or the transaction is seen by the cluster but not yet
    /// stored: wait, do not pay again.
    Pending,
    /// Paid, at confirmed commitment.
    Confirmed,
    /// Paid, final.
    Finalized,
    /// The payment transaction was rolled back: nothing was paid.
    Reverted,
}

/// The answer of the settlement status lookup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct SettlementStatus {
    /// Where it stands.
    pub state: SettlementState,
    /// The payment, when known.
    pub payment: Option<String>,
    /// Its status, when known.
    pub payment_status: Option<String>,
    /// The transaction that paid it (or the one asked about), when known.
    pub signature: Option<String>,
    /// That transaction's slot.
    pub slot: Option<i64>,
}

/// A transaction built by the API: to sign, or (when the merchant opted in to an operator
/// key Kassa holds and asked for `"signer": "operator"`) signed and submitted by Kassa.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreparedTransaction {
    /// The serialized legacy transaction (base64); its signatures empty where the merchant
    /// must sign (Kassa's own keys sign theirs).
    pub transaction: String,
    /// The keys that must sign, fee payer first.
    pub signers: Vec<String>,
    /// The blockhash it was built on.
    pub recent_blockhash: String,
    /// The last block height at which that blockhash is accepted.
    pub last_valid_block_height: u64,
    /// The payment it acts on.
    pub payment: String,
    /// For a new invoice: the Solana Pay transaction-request URL a wallet scans to pay.
    pub solana_pay_url: Option<String>,
    /// Present when Kassa signed with the merchant's operator key and submitted: the outcome.
    pub submitted: Option<Submitted>,
}

/// Opt in to an operator key held by Kassa.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateOperatorKey {
    /// Lamports the authority sends the new key for fees and invoice rent (default
    /// 50,000,000: 0.05 SOL).
    pub fund_lamports: Option<u64>,
}

/// Open an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    /// The merchant's order id (1 to 32 bytes of UTF-8); one payment per order id.
    pub order_id: String,
    /// Amount in the settlement mint's base units, as an integer string.
    pub amount: String,
    /// Seconds until the invoice expires (60 to 30 days; default 900).
    pub expires_in_secs: Option<i64>,
    /// Who signs: `authority` (default) or `operator`.
    pub signer: Option<String>,
}

/// Capture escrowed funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// Amount (base units, integer string); absent: everything escrowed.
    pub amount: Option<String>,
    /// Who signs: `authority` (default) or `operator`.
    pub signer: Option<String>,
}

/// Void an authorization or refund a capture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// Amount (base units, integer string); absent: everything still refundable.
    pub amount: Option<String>,
}

/// Void an authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// Who signs: `authority` (default) or `operator`.
    pub signer: Option<String>,
}

/// A signed transaction to submit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SubmitTransaction {
    /// The fully signed transaction (base64).
    pub transaction: String,
}

/// A submitted transaction's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Submitted {
    /// Its signature.
    pub signature: String,
    /// `confirmed`: it landed and every instruction succeeded.
    pub commitment: Commitment,
    /// Its slot.
    pub slot: Option<u64>,
}

/// Onboard a merchant: bind an API account to its on-chain merchant and issue its first key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// Display name (shown to payers in wallets for merchants).
    pub name: String,
    /// The role.
    pub role: Role,
    /// For merchants: the merchant PDA (it must already be registered on chain).
    pub merchant: Option<String>,
}

/// An API account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Account {
    /// Its id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// The role.
    pub role: Role,
    /// For merchants: the merchant PDA.
    pub merchant: Option<String>,
    /// Creation time.
    pub created_at: String,
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ApiKey {
    /// The key's public id (`key_…`).
    pub id: String,
    /// The account it acts for.
    pub account: i64,
    /// The secret's last four characters.
    pub last4: String,
    /// Creation time.
    pub created_at: String,
    /// When a rotated key stops working.
    pub expires_at: Option<String>,
    /// When it was revoked.
    pub revoked_at: Option<String>,
}

/// A new key: the only time its secret is shown. `Debug` leaves the secret out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewApiKey {
    /// The key as listed.
    pub key: ApiKey,
    /// The secret (`Authorization: Bearer <secret>`). Store it now: Kassa keeps only its hash.
    pub secret: String,
}

impl std::fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewApiKey")
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// A new account with its first key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct CreatedAccount {
    /// The account.
    pub account: Account,
    /// Its first key.
    pub key: NewApiKey,
}

/// Rotate a key: a new key now, the old one working for an overlap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateKey {
    /// Seconds the old key keeps working (0 to 7 days; default 86400).
    pub overlap_secs: Option<i64>,
}

/// An RFC 9457 problem: every error the API answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Problem {
    /// A stable URI naming the kind of problem (`https://docs.kassa.dev/problems/<name>`).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request.
    pub detail: String,
    /// The request id (also in `x-request-id`), for support.
    pub request_id: Option<String>,
    /// For a program's refusal: the program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// For a program's refusal: the error's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// For a program's refusal: the error's code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
}

/// Solana Pay's answer to a transaction request's `GET`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayLabel {
    /// The merchant's name.
    pub label: String,
    /// An SVG, PNG or WebP icon URL.
    pub icon: String,
}

/// Solana Pay's `POST` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayAccount {
    /// The wallet paying (base58).
    pub account: String,
}

/// Solana Pay's `POST` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayTransaction {
    /// The transaction for the wallet to sign (base64).
    pub transaction: String,
    /// What the wallet shows.
    pub message: Option<String>,
}

/// Solana Pay's error body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PayError {
    /// Why, for the wallet to show.
    pub message: String,
}

/// `/readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Readiness {
    /// Ready to serve.
    pub ready: bool,
    /// The database answered.
    pub database: bool,
    /// Slots the slowest stream is behind the cluster (absent: unknown).
    pub indexer_lag_slots: Option<u64>,
}

/// A merchant's webhook endpoint (its secrets are never shown again after they are made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookEndpoint {
    /// `we_` and 16 hex digits.
    pub id: String,
    /// The merchant PDA whose events it receives.
    pub merchant: String,
    /// Where notifications are posted.
    pub url: String,
    /// The merchant's own note.
    pub description: String,
    /// The event types it receives (`payment.captured`, …); empty: every type.
    pub event_types: Vec<String>,
    /// Whether it is told events at `confirmed` (then again at `finalized`, or retracted by a
    /// `.reverted` notification); false: only at `finalized`.
    pub confirmed: bool,
    /// Disabled endpoints receive nothing; their pending deliveries wait.
    pub enabled: bool,
    /// Why it was disabled (by the merchant, or by Kassa after days of failed deliveries).
    pub disabled_reason: Option<String>,
    /// The secrets that sign now: two during a rotation's overlap.
    pub secrets: Vec<WebhookSecretInfo>,
    /// When it was registered.
    pub created_at: String,
    /// When it last changed.
    pub updated_at: String,
}

/// One of an endpoint's signing secrets, without the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookSecretInfo {
    /// 1 for the first secret, one more for each rotation.
    pub version: i32,
    /// When it was made.
    pub created_at: String,
    /// When it stops signing (a rotated secret); absent: the current one.
    pub expires_at: Option<String>,
}

/// `POST /v1/webhook-endpoints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    /// An `https` URL on a public address.
    pub url: String,
    /// A note for the merchant's own use.
    #[serde(default)]
    pub description: Option<String>,
    /// Event types to receive; absent or empty: every type.
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Receive events at `confirmed` (default true).
    #[serde(default)]
    pub confirmed: Option<bool>,
    /// The merchant (operators only; a merchant key registers for its own merchant).
    #[serde(default)]
    pub merchant: Option<String>,
}

/// `PATCH /v1/webhook-endpoints/{id}`: what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    /// A new URL.
    #[serde(default)]
    pub url: Option<String>,
    /// A new note.
    #[serde(default)]
    pub description: Option<String>,
    /// New event types (empty: every type).
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    /// Receive events at `confirmed`.
    #[serde(default)]
    pub confirmed: Option<bool>,
    /// Disable (false) or enable again (true); pending deliveries resume when enabled.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A new endpoint with its secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewWebhookEndpoint {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// `whsec_…`: configure it at the receiver to verify signatures. Not shown again.
    pub secret: String,
}

/// `POST /v1/webhook-endpoints/{id}/rotate-secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RotateWebhookSecret {
    /// How long the previous secret keeps signing beside the new one (default one day, at
    /// most seven; 0 retires it at once).
    #[serde(default)]
    pub overlap_secs: Option<i64>,
}

/// A rotated secret, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct NewWebhookSecret {
    /// The endpoint.
    pub endpoint: WebhookEndpoint,
    /// The new secret's version.
    pub version: i32,
    /// `whsec_…`, not shown again.
    pub secret: String,
}

/// One message to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookDelivery {
    /// The delivery's id (`dlv_` and a number).
    pub id: String,
    /// The endpoint.
    pub endpoint: String,
    /// The message: its `webhook-id`, the same on every attempt and redelivery.
    pub message_id: String,
    /// The message's type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `pending`, `delivered` or `failed` (given up after days of failures).
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<String>,
    /// The last response's status code.
    pub last_status: Option<u16>,
    /// The last attempt's error, when it got no response or a refusal.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: String,
    /// When it was delivered or given up.
    pub finished_at: Option<String>,
    /// The attempts, oldest first (in the single-delivery view; empty in lists).
    pub attempt_log: Vec<WebhookAttempt>,
}

/// One try of a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookAttempt {
    /// 1 for the first.
    pub n: i32,
    /// When it began.
    pub started_at: String,
    /// How long it took.
    pub duration_ms: i32,
    /// The status code received.
    pub status: Option<u16>,
    /// Why there was no acceptable answer (timeout, refused address, redirect, …).
    pub error: Option<String>,
    /// The start of the response body (at most 1 KiB).
    pub response: Option<String>,
}

/// `POST /v1/webhook-endpoints/{id}/replay`: send again every message of the endpoint's
/// merchant that it would receive, from a time or after a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReplayWebhooks {
    /// Messages created at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<String>,
    /// Messages after this one (a `webhook-id`).
    #[serde(default)]
    pub after_message: Option<String>,
}

/// What a replay queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Replayed {
    /// New deliveries, in the messages' order.
    pub deliveries: i64,
}

/// Something an operator must look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WebhookAlert {
    /// Its number.
    pub id: i64,
    /// `endpoint_disabled`.
    pub kind: String,
    /// The endpoint.
    pub endpoint: String,
    /// Its merchant.
    pub merchant: String,
    /// What happened.
    pub detail: String,
    /// When.
    pub created_at: String,
}

/// The body of a notification about an event on chain. The `type` is the event's type
/// (`payment.captured`) at `confirmed`, with `.finalized` appended for the follow-up when its
/// transaction finalized, and `.reverted` when it was rolled back instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChainNotification {
    /// `payment.captured`, `payment.captured.finalized`, `payment.captured.reverted`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the event happened (its block's time), RFC 3339.
    pub timestamp: String,
    /// What happened.
    pub data: ChainEventData,
}

/// What a chain notification says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ChainEventData {
    /// Where the transaction stands: `confirmed`, `finalized` or `reverted`.
    pub commitment: Commitment,
    /// The program's event (`payment_captured`, …).
    pub event: String,
    /// The merchant PDA.
    pub merchant: String,
    /// The account the event is about (the payment, the merchant, the credit line, the advance).
    pub entity: String,
    /// The payment, for payment events.
    pub payment: Option<String>,
    /// The entity's sequence number at this event: a receiver can order and deduplicate by it.
    pub seq: i64,
    /// The transaction.
    pub signature: String,
    /// Its slot.
    pub slot: i64,
    /// Its block time.
    pub block_time: Option<String>,
    /// For `.finalized`: the `webhook-id` of the `confirmed` notification it confirms.
    pub finalizes: Option<String>,
    /// For `.reverted`: the `webhook-id` of the `confirmed` notification it retracts.
    pub retracts: Option<String>,
    /// The event's fields as the program's IDL names them (amounts as integer strings in base
    /// units, addresses in base58).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

/// The body of a notification about an endpoint itself: `webhook.test` (sent on request) and
/// `webhook_endpoint.disabled` (sent to the merchant's other endpoints when Kassa disabled one
/// after days of failures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EndpointNotification {
    /// `webhook.test` or `webhook_endpoint.disabled`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When, RFC 3339.
    pub timestamp: String,
    /// About which endpoint.
    pub data: EndpointEventData,
}

/// What an endpoint notification says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct EndpointEventData {
    /// The endpoint.
    pub endpoint: String,
    /// Its merchant.
    pub merchant: String,
    /// Its URL.
    pub url: String,
    /// What happened.
    pub message: String,
}

/// A payment Kassa's x402 facilitator settled for one of the merchant's paid routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct X402Settlement {
    /// The settlement id: the transaction's signature (base58).
    pub id: String,
    /// The merchant paid.
    pub merchant: String,
    /// `exact`.
    pub scheme: String,
    /// The CAIP-2 network.
    pub network: String,
    /// The paying wallet.
    pub payer: String,
    /// The wallet paid (the merchant's settlement wallet).
    pub pay_to: String,
    /// The mint.
    pub mint: String,
    /// The amount in the mint's smallest unit.
    pub amount: String,
    /// The URL paid for.
    pub resource: String,
    /// `pending` (sent, not yet confirmed), `settled` or `failed`.
    pub status: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the facilitator took it, RFC 3339.
    pub created_at: String,
    /// When it settled or failed, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
}

/// The body of an `x402.settled` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct X402Notification {
    /// `x402.settled`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// When, RFC 3339.
    pub timestamp: String,
    /// The settlement.
    pub data: X402Settlement,
}
