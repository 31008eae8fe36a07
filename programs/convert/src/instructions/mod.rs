//! One module per instruction, plus the account groups and the swap engine they share.
//!
//! Everything is glob re-exported because `#[program]` needs the Accounts structs and their
//! generated client modules in scope; the handlers share a name and are called by module path.
#![allow(ambiguous_glob_reexports)]

pub mod hook_buy_exact_out;
pub mod pool_accounts;
pub mod pool_add_liquidity;
pub mod pool_admin;
pub mod pool_create;
pub mod pool_ramp_amp;
pub mod pool_remove_liquidity;
pub mod pool_stop_ramp;
pub mod pool_swap;
pub mod pool_update_settings;
pub mod pool_withdraw_protocol_fees;
pub mod swap_engine;

pub use hook_buy_exact_out::*;
pub use pool_accounts::*;
pub use pool_add_liquidity::*;
pub use pool_admin::*;
pub use pool_create::*;
pub use pool_remove_liquidity::*;
pub use pool_swap::*;
pub use pool_update_settings::*;
pub use pool_withdraw_protocol_fees::*;
