//! One module per instruction: its Args, its Accounts, its `validate()` and its handler.
//!
//! Everything is glob re-exported because `#[program]` needs the Accounts structs and their
//! generated client modules in scope; the handlers share a name and are called by module path.
#![allow(ambiguous_glob_reexports)]

pub mod blocklist_add;
pub mod blocklist_remove;
pub mod config_init;
pub mod config_transfer_admin;
pub mod config_update;
pub mod dispute_open;
pub mod dispute_resolve;
pub mod hold_place;
pub mod hold_reject;
pub mod hold_release;
pub mod invoice_cancel;
pub mod invoice_expire;
pub mod invoice_open;
pub mod merchant_kyb_attest;
pub mod merchant_kyb_suspend;
pub mod merchant_operator_set;
pub mod merchant_register;
pub mod merchant_set_fee_tier;
pub mod merchant_update;
pub mod payment_auto_capture;
pub mod payment_capture;
pub mod payment_close;
pub mod payment_pay;
pub mod payment_pay_with_conversion;
pub mod payment_reclaim;
pub mod payment_refund;
pub mod payment_void;
pub mod receivable_assign;
pub mod settlement;
pub mod vault_open;

pub use blocklist_add::*;
pub use blocklist_remove::*;
pub use config_init::*;
pub use config_transfer_admin::*;
pub use config_update::*;
pub use dispute_open::*;
pub use dispute_resolve::*;
pub use hold_place::*;
pub use hold_reject::*;
pub use invoice_cancel::*;
pub use invoice_expire::*;
pub use invoice_open::*;
pub use merchant_kyb_attest::*;
pub use merchant_operator_set::*;
pub use merchant_register::*;
pub use merchant_set_fee_tier::*;
pub use merchant_update::*;
pub use payment_auto_capture::*;
pub use payment_capture::*;
pub use payment_close::*;
pub use payment_pay::*;
pub use payment_pay_with_conversion::*;
pub use payment_reclaim::*;
pub use payment_refund::*;
pub use payment_void::*;
pub use receivable_assign::*;
pub use settlement::*;
pub use vault_open::*;
