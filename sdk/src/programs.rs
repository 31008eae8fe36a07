//! The registry of Kassa programs: every program once, with its id, name, IDL, event decoder
//! and error table. Everything that must know all programs (localnet's registration, the
//! indexer's streams, the RPC client's error naming, the demo's catch-up, the IDL tooling)
//! loops over [`KassaProgram::ALL`] or matches on [`KassaProgram`] exhaustively, so adding a
//! program is one variant here and the compiler names every place that must handle it.

use crate::{SdkError, decode::KassaEvent};
use anchor_lang::prelude::Pubkey;
use std::{collections::HashMap, sync::OnceLock};

/// A Kassa program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KassaProgram {
    /// `kassa_payments`: merchants, invoices, escrow, captures, refunds, disputes, holds.
    Payments,
    /// `kassa_convert`: StableSwap pools behind the conversion-hook interface.
    Convert,
    /// `kassa_credit`: PayFi pools, tranches, credit lines and receivable advances.
    Credit,
}

/// A program error by name: which program, its code, the enum variant and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramError {
    /// The program's name, e.g. `kassa_credit`.
    pub program: &'static str,
    /// The custom error code.
    pub code: u32,
    /// The error enum's variant, e.g. `RefundExceedsCaptured`.
    pub name: String,
    /// The rule it states.
    pub message: String,
}

impl std::fmt::Display for ProgramError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} error {} ({}): {}",
            self.program, self.name, self.code, self.message
        )
    }
}

type ErrorTable = HashMap<u32, (String, String)>;

fn idl_errors(json: &str) -> ErrorTable {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_default();
    v["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| {
                    let code = u32::try_from(e["code"].as_u64()?).ok()?;
                    Some((
                        code,
                        (
                            e["name"].as_str()?.to_string(),
                            e["msg"].as_str().unwrap_or_default().to_string(),
                        ),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

impl KassaProgram {
    /// Every Kassa program, in the order the indexer reads their streams.
    pub const ALL: [KassaProgram; 3] = [
        KassaProgram::Payments,
        KassaProgram::Convert,
        KassaProgram::Credit,
    ];

    /// The default deployment's program id.
    pub fn id(self) -> Pubkey {
        match self {
            KassaProgram::Payments => kassa_payments::ID,
            KassaProgram::Convert => kassa_convert::ID,
            KassaProgram::Credit => kassa_credit::ID,
        }
    }

    /// The program's crate name, also the name of its IDL (`idl/<name>.json`).
    pub fn name(self) -> &'static str {
        match self {
            KassaProgram::Payments => "kassa_payments",
            KassaProgram::Convert => "kassa_convert",
            KassaProgram::Credit => "kassa_credit",
        }
    }

    /// The program's Anchor IDL (JSON), generated from its code and checked in.
    pub fn idl_json(self) -> &'static str {
        match self {
            KassaProgram::Payments => include_str!("../idl/kassa_payments.json"),
            KassaProgram::Convert => include_str!("../idl/kassa_convert.json"),
            KassaProgram::Credit => include_str!("../idl/kassa_credit.json"),
        }
    }

    /// The program with id `id`, if it is a Kassa program.
    pub fn from_id(id: &Pubkey) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.id() == *id)
    }

    /// The program named `name` (its crate name).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// Decodes an inner instruction's data sent to this program: `Ok(None)` when it is not an
    /// `emit_cpi!` event, an error when it is one that cannot be read.
    pub fn decode_event(self, data: &[u8]) -> Result<Option<KassaEvent>, SdkError> {
        use crate::decode::*;
        Ok(match self {
            KassaProgram::Payments => decode_event_cpi(data)?.map(KassaEvent::Payments),
            KassaProgram::Convert => decode_convert_event_cpi(data)?.map(KassaEvent::Convert),
            KassaProgram::Credit => decode_credit_event_cpi(data)?.map(KassaEvent::Credit),
        })
    }

    fn errors(self) -> &'static ErrorTable {
        static TABLES: OnceLock<HashMap<KassaProgram, ErrorTable>> = OnceLock::new();
        &TABLES.get_or_init(|| {
            KassaProgram::ALL
                .into_iter()
                .map(|p| (p, idl_errors(p.idl_json())))
                .collect()
        })[&self]
    }

    /// The error this program raises with custom code `code`, by name.
    pub fn error(self, code: u32) -> Option<ProgramError> {
        self.errors()
            .get(&code)
            .map(|(name, message)| ProgramError {
                program: self.name(),
                code,
                name: name.clone(),
                message: message.clone(),
            })
    }
}

impl KassaProgram {
    /// A refusal of this program's own rules (a state method run off chain, as the SDK's
    /// flows do) as the error the program would return, by name.
    pub fn refusal(self, e: anchor_lang::error::Error) -> SdkError {
        use anchor_lang::error::Error;
        let named = match &e {
            Error::AnchorError(a) => self.error(a.error_code_number),
            Error::ProgramError(_) => None,
        };
        SdkError::Program(named.unwrap_or_else(|| ProgramError {
            program: self.name(),
            code: 0,
            name: "RuntimeError".to_string(),
            message: e.to_string(),
        }))
    }
}

/// Names a custom error code raised by the Kassa program `program`.
pub fn name_error(program: &Pubkey, code: u32) -> Option<ProgramError> {
    KassaProgram::from_id(program)?.error(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails to compile when a program is added without a place in `ALL`.
    #[test]
    fn all_lists_every_program_once() {
        for p in KassaProgram::ALL {
            let listed = match p {
                KassaProgram::Payments | KassaProgram::Convert | KassaProgram::Credit => {
                    KassaProgram::ALL.iter().filter(|q| **q == p).count()
                }
            };
            assert_eq!(listed, 1, "{p:?}");
            assert_eq!(KassaProgram::from_id(&p.id()), Some(p));
            assert_eq!(KassaProgram::from_name(p.name()), Some(p));
        }
    }

    #[test]
    fn each_idl_is_its_programs() {
        for p in KassaProgram::ALL {
            let idl: serde_json::Value = serde_json::from_str(p.idl_json()).unwrap();
            assert_eq!(idl["address"].as_str(), Some(p.id().to_string().as_str()));
            assert_eq!(idl["metadata"]["name"].as_str(), Some(p.name()));
        }
    }

    #[test]
    fn errors_are_named_by_the_program_that_raised_them() {
        // The same code means different rules in different programs.
        let code = 6000 + kassa_credit::error::CreditError::NotUnderwriter as u32;
        let credit = name_error(&kassa_credit::ID, code).unwrap();
        assert_eq!(
            (credit.program, credit.name.as_str()),
            ("kassa_credit", "NotUnderwriter")
        );
        let payments = name_error(&kassa_payments::ID, code).unwrap();
        assert_eq!(payments.program, "kassa_payments");
        assert_ne!(payments.name, credit.name);
        let convert = name_error(&kassa_convert::ID, 6000).unwrap();
        assert_eq!(convert.name, "ArithmeticOverflow");
        assert!(name_error(&Pubkey::new_unique(), 6000).is_none());
    }
}
