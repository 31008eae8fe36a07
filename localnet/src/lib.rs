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
use solana_program_runtime::invoke_context::BuiltinFunctionWithContext;
use solana_program_test::{processor, ProgramTest};
use solana_sdk::pubkey::Pubkey;

mod bank;
mod cluster_rpc;
pub mod logs;
pub mod node;
pub mod pubsub;
pub mod rpc;
pub mod server;

/// The Agave version whose RPC behaviour this node follows.
pub const SOLANA_VERSION: &str = "3.1.12";

/// Every Kassa program of the SDK's registry as a natively compiled builtin: id, name, entry.
pub fn kassa_builtins() -> Vec<(Pubkey, &'static str, BuiltinFunctionWithContext)> {
    KassaProgram::ALL
        .iter()
        .map(|p| {
            // `processor!` needs a function item, so each program names its shim.
            let function: Option<BuiltinFunctionWithContext> = match p {
                KassaProgram::Payments => processor!(shim::payments),
                KassaProgram::Convert => processor!(shim::convert),
                KassaProgram::Credit => processor!(shim::credit),
            };
            (
                p.id(),
                p.name(),
                function.expect("processor! always gives a function"),
            )
        })
        .collect()
}

/// Registers every Kassa program of the SDK's registry into `program_test`.
pub fn add_kassa_programs(program_test: &mut ProgramTest) {
    program_test.prefer_bpf(false);
    for (id, name, function) in kassa_builtins() {
        program_test.add_program(name, id, Some(function));
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
