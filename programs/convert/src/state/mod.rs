//! Account types of the conversion program.

pub mod pool;

pub use pool::*;
