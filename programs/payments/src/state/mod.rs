//! Account types of the payments program. Each owns its rules: transitions are methods and
//! `invariant()` is checked at the end of every instruction that mutates the account.

pub mod blocklist;
pub mod config;
pub mod merchant;
pub mod payment;

pub use blocklist::*;
pub use config::*;
pub use merchant::*;
pub use payment::*;
