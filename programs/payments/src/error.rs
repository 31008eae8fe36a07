//! Errors of the payments program. Codes are stable: append, never renumber.

use anchor_lang::prelude::*;

#[error_code]
pub enum PaymentsError {
    #[msg("arithmetic overflow")]
    ArithmeticOverflow, // 6000
    #[msg("protocol fee exceeds the hard cap of 1000 bps")]
    FeeAboveCap,
    #[msg("the protocol is paused")]
    ProtocolPaused,
    #[msg("signer is not the config admin")]
    NotAdmin,
    #[msg("signer is not the compliance authority")]
    NotComplianceAuthority,
    #[msg("signer is not the arbiter")]
    NotArbiter,
    #[msg("signer is not the merchant authority")]
    NotMerchantAuthority,
    #[msg("signer is not the payer of this payment")]
    NotPayer,
    #[msg("too many conversion hooks: at most 4")]
    TooManyHooks,
    #[msg("a conversion hook is listed twice or is the default key")]
    InvalidHook,
    #[msg("config initialization must be signed by the program's upgrade authority")]
    NotUpgradeAuthority, // 6010
    #[msg("program data account does not belong to this program")]
    InvalidProgramData,
    #[msg("merchant is not KYB-approved")]
    MerchantNotApproved,
    #[msg("KYB case hash must not be all zeros")]
    EmptyCaseHash,
    #[msg("authorization window outside 60 seconds to 90 days")]
    AuthorizationWindowOutOfBounds,
    #[msg("refund window exceeds 365 days")]
    RefundWindowOutOfBounds,
    #[msg("dispute window exceeds 180 days")]
    DisputeWindowOutOfBounds,
    #[msg("auto-capture delay must be shorter than the authorization window")]
    AutoCaptureDelayOutOfBounds,
    #[msg("mint has an extension that escrow cannot hold safely (permanent delegate, transfer hook, non-transferable, default frozen, pausable or close authority)")]
    UnsupportedMintExtension,
    #[msg("order id must not be all zeros")]
    EmptyOrderId,
    #[msg("amount must be greater than zero")]
    ZeroAmount, // 6020
    #[msg("invoice expiry must be in the future and at most 90 days ahead")]
    ExpiryOutOfBounds,
    #[msg("payment is not open")]
    PaymentNotOpen,
    #[msg("invoice has expired")]
    InvoiceExpired,
    #[msg("invoice has not expired yet")]
    InvoiceNotExpired,
    #[msg("payer is on the blocklist")]
    PayerBlocked,
    #[msg("merchant requires a KYT co-signature by the compliance authority")]
    KytSignatureRequired,
    #[msg("payment mint does not match")]
    MintMismatch,
    #[msg("escrow received nothing")]
    NothingReceived,
    #[msg("payment is not authorized")]
    PaymentNotAuthorized,
    #[msg("capture exceeds the escrowed amount")]
    CaptureExceedsEscrow, // 6030
    #[msg("auto-capture is not enabled for this payment")]
    AutoCaptureDisabled,
    #[msg("auto-capture is not due yet")]
    AutoCaptureNotDue,
    #[msg("authorization has not expired yet")]
    AuthorizationNotExpired,
    #[msg("authorization has expired")]
    AuthorizationExpired,
    #[msg("refund exceeds the captured amount not yet refunded")]
    RefundExceedsCaptured,
    #[msg("refund deadline has passed")]
    RefundWindowClosed,
    #[msg("dispute deadline has passed")]
    DisputeWindowClosed,
    #[msg("payment is not disputed")]
    PaymentNotDisputed,
    #[msg("dispute split must equal the escrowed amount")]
    SplitMismatch,
    #[msg("payment is not held")]
    PaymentNotHeld, // 6040
    #[msg("receivable already assigned")]
    ReceivableAlreadyAssigned,
    #[msg("assigned amount exceeds the escrowed amount")]
    AssignmentExceedsEscrow,
    #[msg("receivable assignee token account does not match")]
    AssigneeMismatch,
    #[msg("payment is not in a closable state")]
    PaymentNotClosable,
    #[msg("rent receiver must be the account that paid the rent")]
    RentReceiverMismatch,
    #[msg("account invariant violated")]
    InvariantViolated,
    #[msg("payment is already authorized")]
    AlreadyPaid,
    #[msg("a payout destination may not be an escrow vault or the escrow authority")]
    DestinationIsEscrow,
    #[msg("conversion hook is not registered in the config")]
    HookNotRegistered,
    #[msg("hook accounts do not match the interface order or this payment (payer source, escrow destination, payer, mints)")]
    HookAccountsMismatch,
    #[msg("escrow did not receive exactly the invoiced amount from the conversion")]
    ConversionShortfall,
    #[msg("the conversion spent more than max_in")]
    ConversionOverspent,
    #[msg(
        "the conversion hook changed the owner, delegate or close authority of the payer's account"
    )]
    PayerAccountTampered,
    #[msg("assigned amount exceeds what captures pay after the protocol fee")]
    AssignmentExceedsNet,
    #[msg("signer is neither the merchant authority nor its operator")]
    NotMerchantOperator,
    #[msg("the operator must be a key other than the merchant authority")]
    OperatorIsAuthority,
    #[msg("the payment's proceeds are assigned to a lender: the merchant cannot void it")]
    AssignedPaymentNotVoidable,
    #[msg("the mint's transfer fee, in force or scheduled, is above the cap of 100 bps")]
    TransferFeeAboveCap,
}
