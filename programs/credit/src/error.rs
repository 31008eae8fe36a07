//! Errors of the credit program. Codes are stable: append, never renumber.

use anchor_lang::prelude::*;

#[error_code]
pub enum CreditError {
    #[msg("arithmetic overflow")]
    ArithmeticOverflow, // 6000
    #[msg("signer is not the pool admin")]
    NotPoolAdmin,
    #[msg("signer is not the pool's underwriter")]
    NotUnderwriter,
    #[msg("signer is not the line's borrower")]
    NotBorrower,
    #[msg("signer is not the protocol fee receiver")]
    NotFeeReceiver,
    #[msg("fee in basis points above the allowed maximum")]
    FeeTooHigh,
    #[msg("pool parameter out of range")]
    InvalidPoolParams,
    #[msg("line parameter out of range")]
    InvalidLineParams,
    #[msg("mint has an extension the credit pool cannot hold safely (transfer fee, hook, permanent delegate, ...)")]
    UnsupportedMint,
    #[msg("amount must be greater than zero")]
    ZeroAmount,
    #[msg("lender is not on the pool's allowlist")] // 6010
    LenderNotAllowed,
    #[msg("deposit would put the senior tranche above its cap relative to the junior tranche")]
    SeniorCapExceeded,
    #[msg("fewer shares than the minimum the depositor accepted")]
    SlippageExceeded,
    #[msg("the tranche has shares but no value left: deposits would be priced at nothing")]
    TrancheWipedOut,
    #[msg("draw exceeds the line's available limit")]
    OverLimit,
    #[msg("draw exceeds the pool's available cash")]
    InsufficientPoolCash,
    #[msg("the line is not in good standing")]
    LineNotInGoodStanding,
    #[msg("the line has matured")]
    LineMatured,
    #[msg("this action needs a revolving line")]
    NotRevolvingLine,
    #[msg("this action needs a receivable-backed line")]
    NotReceivableLine,
    #[msg("the payment is not authorized (disputed, held, settled or unpaid)")] // 6020
    PaymentNotAuthorized,
    #[msg("the payment belongs to another merchant than the line's")]
    ForeignPayment,
    #[msg("the payment's receivable is already assigned")]
    ReceivableAlreadyAssigned,
    #[msg("the payment is in another mint than the pool")]
    MintMismatch,
    #[msg("advance above the line's advance rate of the escrowed amount")]
    AdvanceAboveRate,
    #[msg("the line still owes interest, fees or overdue principal")]
    LineHasOverdue,
    #[msg("the line is already in good standing")]
    LineAlreadyInGoodStanding,
    #[msg("impairment larger than what the line owes")]
    ImpairmentTooLarge,
    #[msg("reversal larger than the line's impairment")]
    ReversalTooLarge,
    #[msg("the line was written off")]
    LineWrittenOff,
    #[msg("nothing to withdraw")] // 6030
    NothingToWithdraw,
    #[msg("the advance is already settled")]
    AdvanceSettled,
    #[msg("the payment account does not match the advance")]
    PaymentMismatch,
    #[msg("account state violates its invariant")]
    InvariantViolated,
    #[msg("the line's merchant account is not the payment merchant's PDA or its authority is not the borrower")]
    MerchantMismatch,
    #[msg("nothing is overdue on this line")]
    NothingOverdue,
    #[msg(
        "the request still has shares from an earlier epoch: settle it with redeem_withdraw first"
    )]
    RedemptionNotSettled,
    #[msg("cancelling more shares than the request holds")]
    CancelExceedsRequest,
    #[msg("the epoch has not ended yet")]
    EpochNotEnded,
    #[msg("epoch record of another pool, tranche or epoch, or out of order")]
    EpochRecordMismatch,
    #[msg("redeeming more shares than the lender holds")]
    InsufficientShares,
    #[msg("the payment's authorization ends within a day: the merchant may not get to capture it")]
    AuthorizationEndingSoon,
    #[msg(
        "the payer can still dispute the payment: advances wait for the dispute window to close"
    )]
    PaymentDisputable,
    #[msg("the merchant is not KYB-approved")]
    MerchantNotApproved,
    #[msg("the payment was paid by the merchant's own authority, operator or settlement wallet")]
    SelfPaidPayment,
    #[msg("the advance is not settled yet: its payment can still pay it")]
    AdvanceNotSettled,
    #[msg("the pool is paused: no new line, draw, advance or deposit")]
    PoolPaused,
    #[msg("the underwriter cannot approve a line for itself")]
    UnderwriterCannotBorrow,
    #[msg("line limit above the pool's policy")]
    LimitAbovePolicy,
    #[msg("pool policy out of bounds (at most 16 active lines)")]
    InvalidPoolPolicy,
    #[msg("the pool already lends to as many lines as its policy allows")]
    TooManyActiveLines,
    #[msg("epoch records are settled in place: pass them writable")]
    EpochRecordReadOnly,
    #[msg("epoch_close needs every active line of the pool, writable, in ascending address order")]
    ActiveLinesMismatch,
    #[msg("the line owes nothing: there is nothing to repay")]
    NothingOwed,
    #[msg("a share of this tranche is worth so little that the deposit would mint more shares than can exist: deposit less")]
    DepositExceedsShareCapacity,
}
