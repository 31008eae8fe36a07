//! kassa-localnet: runs the Kassa programs natively inside solana-program-test.
//!
//! The Solana platform tools cannot build SBF here, so the programs are compiled for the host and
//! registered as builtins; SPL Token, Token-2022, the associated-token program and Memo run as the
//! real SBF binaries bundled with solana-program-test. This module is the one place that does
//! that registration (and the lifetime shim it needs).

// solana-program-test marks its API "unstable" (a notice, not a change); it is the only way to
// run the programs natively, so the deprecation warnings are acknowledged here once.
#![allow(deprecated)]

use kassa_sdk::programs::KassaProgram;
use solana_program_test::{processor, ProgramTest};

mod cluster_rpc;
pub mod node;
pub mod pubsub;
pub mod rpc;
pub mod server;

/// The Agave version whose RPC behaviour this node follows.
pub const SOLANA_VERSION: &str = "3.1.12";

/// Registers every Kassa program of the SDK's registry into `program_test`.
pub fn add_kassa_programs(program_test: &mut ProgramTest) {
    program_test.prefer_bpf(false);
    for p in KassaProgram::ALL {
        // `processor!` needs a function item, so each program names its shim.
        match p {
            KassaProgram::Payments => {
                program_test.add_program(p.name(), p.id(), processor!(shim::payments))
            }
            KassaProgram::Convert => {
                program_test.add_program(p.name(), p.id(), processor!(shim::convert))
            }
            KassaProgram::Credit => {
                program_test.add_program(p.name(), p.id(), processor!(shim::credit))
            }
        }
    }
}

/// A `ProgramTest` with every Kassa program registered and the bundled SPL programs available.
pub fn program_test() -> ProgramTest {
    let mut program_test = ProgramTest::default();
    add_kassa_programs(&mut program_test);
    program_test
}

/// Anchor's generated `entry<'info>` ties its three references to one lifetime, which does not
/// coerce to solana-program-test's `ProcessInstruction` (three independent lifetimes). The
/// runtime keeps all three alive for the whole call, so unifying them is sound.
#[allow(unsafe_code)]
mod shim {
    use anchor_lang::solana_program::{
        account_info::AccountInfo, entrypoint::ProgramResult, pubkey::Pubkey,
    };

    pub fn payments(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
        // SAFETY: the runtime keeps all three alive for the whole call and `entry` keeps none of
        // them beyond it; only the lifetime parameters change.
        let (program_id, accounts, data) = unsafe {
            (
                std::mem::transmute::<&Pubkey, &'static Pubkey>(program_id),
                std::mem::transmute::<&[AccountInfo], &'static [AccountInfo<'static>]>(accounts),
                std::mem::transmute::<&[u8], &'static [u8]>(data),
            )
        };
        kassa_payments::entry(program_id, accounts, data)
    }

    pub fn convert(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
        // SAFETY: as for `payments`.
        let (program_id, accounts, data) = unsafe {
            (
                std::mem::transmute::<&Pubkey, &'static Pubkey>(program_id),
                std::mem::transmute::<&[AccountInfo], &'static [AccountInfo<'static>]>(accounts),
                std::mem::transmute::<&[u8], &'static [u8]>(data),
            )
        };
        kassa_convert::entry(program_id, accounts, data)
    }

    pub fn credit(program_id: &Pubkey, accounts: &[AccountInfo], data: &[u8]) -> ProgramResult {
        // SAFETY: as for `payments`.
        let (program_id, accounts, data) = unsafe {
            (
                std::mem::transmute::<&Pubkey, &'static Pubkey>(program_id),
                std::mem::transmute::<&[AccountInfo], &'static [AccountInfo<'static>]>(accounts),
                std::mem::transmute::<&[u8], &'static [u8]>(data),
            )
        };
        kassa_credit::entry(program_id, accounts, data)
    }
}
