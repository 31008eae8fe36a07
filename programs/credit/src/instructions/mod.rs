//! One instruction per file: its arguments, its accounts and its handler. `books` holds what
//! many instructions do around their own change (interest recognition, a line brought up to
//! date, the closing balances event); `line_underwriting` the accounts every underwriter
//! action shares.
//!
//! Everything is glob re-exported because `#[program]` needs the Accounts structs and their
//! generated client modules in scope; the handlers share a name and are called by module path.
#![allow(ambiguous_glob_reexports)]

pub mod books;
pub mod line_underwriting;

pub mod advance_close;
pub mod advance_take;
pub mod epoch_close;
pub mod lender_allow;
pub mod lender_disallow;
pub mod line_approve;
pub mod line_draw;
pub mod line_impair;
pub mod line_impairment_reverse;
pub mod line_refresh;
pub mod line_repay;
pub mod line_restore;
pub mod line_write_off;
pub mod pool_accrue;
pub mod pool_create;
pub mod pool_fees_withdraw;
pub mod pool_policy_set;
pub mod pool_role_transfer;
pub mod receivable_sync;
pub mod redemption_cancel;
pub mod redemption_request;
pub mod redemption_withdraw;
pub mod tranche_deposit;

pub use advance_close::*;
pub use advance_take::*;
pub use epoch_close::*;
pub use lender_allow::*;
pub use lender_disallow::*;
pub use line_approve::*;
pub use line_draw::*;
pub use line_impair::*;
pub use line_impairment_reverse::*;
pub use line_refresh::*;
pub use line_repay::*;
pub use line_restore::*;
pub use line_underwriting::*;
pub use line_write_off::*;
pub use pool_accrue::*;
pub use pool_create::*;
pub use pool_fees_withdraw::*;
pub use pool_policy_set::*;
pub use pool_role_transfer::*;
pub use receivable_sync::*;
pub use redemption_cancel::*;
pub use redemption_request::*;
pub use redemption_withdraw::*;
pub use tranche_deposit::*;
