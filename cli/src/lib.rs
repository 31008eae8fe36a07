//! The `kassa` command line, as a library so tests drive the same code.

pub mod archive;
pub mod demo;
pub mod index;
pub mod localnet;
pub mod serve;
pub mod settings;
