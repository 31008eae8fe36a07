//! Integration tests of the Kassa programs, run natively in solana-program-test.
//! One binary for the whole crate keeps link time down; each area is a module.

// solana-program-test marks its API "unstable"; it is the supported way to run programs here.
#![allow(deprecated)]

mod harness;
mod lifecycle;
