//! Integration tests of the Kassa programs, run natively in solana-program-test.
//! One binary for the whole crate keeps link time down; each area is a module.

// solana-program-test marks its API "unstable"; it is the supported way to run programs here.
#![allow(deprecated)]
// `&[ix.clone()]` reads better in tests than `std::slice::from_ref(&ix)`.
#![allow(clippy::cloned_ref_to_slice_refs)]

mod api;
mod compliance;
mod conversion;
mod credit;
mod footprint;
mod harness;
mod indexer;
mod localnet;
mod matrix;
mod payments;
mod registry;
mod settlement;
mod settlement_flow;
mod web;
mod webhooks;
mod x402;
