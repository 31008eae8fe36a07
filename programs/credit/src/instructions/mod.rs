pub mod advance;
pub mod common;
pub mod lender;
pub mod line;
pub mod pool;
pub mod redeem;

pub use advance::*;
pub use lender::*;
pub use line::*;
pub use pool::*;
pub use redeem::*;
