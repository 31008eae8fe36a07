//! The attack matrix: every account of every ready instruction replaced the ways an attacker
//! would (left unsigned, an account of another type, one the program does not own, **an
//! account of the same type that belongs to someone else**, the other token program, a fake
//! program). Each attempt must be refused and change nothing, and its error must be the one
//! recorded for it in `tests/golden/attacks-<program>.txt`, one line per attempt. After a
//! reviewed change of rules, `KASSA_BLESS=1` rewrites the table; the diff is the review.

use crate::harness::*;
use anchor_spl::token_2022::spl_token_2022::{
    self,
    extension::StateWithExtensions,
    state::{Account as TokenAccountState, Mint as MintState},
};
use solana_program_test::BanksClientError;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::TransactionError,
};
use std::{collections::BTreeMap, path::PathBuf};

/// An instruction ready to land, with its name and signers.
pub type Case = (&'static str, Instruction, Vec<Keypair>);

/// Asserts that `cases` attack every instruction of `program`'s IDL but those in `elsewhere`
/// (attacked in another test), and nothing else of it.
#[track_caller]
pub fn assert_covers(
    program: kassa_sdk::programs::KassaProgram,
    cases: &[Case],
    elsewhere: &[&str],
) {
    let idl: serde_json::Value = serde_json::from_str(program.idl_json()).expect("IDL");
    let mut want: Vec<&str> = idl["instructions"]
        .as_array()
        .expect("instructions")
        .iter()
        .map(|i| i["name"].as_str().expect("name"))
        .filter(|n| !elsewhere.contains(n))
        .collect();
    want.sort_unstable();
    let mut got: Vec<&str> = cases
        .iter()
        .map(|c| c.0)
        .filter(|n| want.contains(n))
        .collect();
    got.sort_unstable();
    got.dedup();
    assert_eq!(
        got,
        want,
        "every instruction of {} is attacked",
        program.name()
    );
}

/// What a program's accounts are, for the matrix.
pub struct Accounts<'a> {
    /// The programs whose accounts are typed by discriminator.
    pub programs: Vec<Pubkey>,
    /// Their account types: discriminator and name.
    pub types: Vec<(&'a [u8], &'static str)>,
    /// For a program account's type name, address and data, whose it is (a payment's
    /// merchant, a line's borrower): a same-type replacement must belong to someone else.
    pub whose: fn(&'static str, &Pubkey, &[u8]) -> Pubkey,
    /// Accounts of each type (program types, `TokenAccount`, `Mint`) to replace with.
    pub others: BTreeMap<&'static str, Vec<Pubkey>>,
    /// A wallet of nobody in the cases: the account of the wrong owner.
    pub stranger: Pubkey,
    /// Accounts the signer chooses freely, by instruction and index (where the provider's
    /// coins go, which mint a merchant registers with, which lender the admin disallows):
    /// another account of the same type there is another valid instruction, not an attack.
    pub choices: Vec<(&'static str, usize)>,
}

/// What lives at an address: a type name, whose it is, and (for a token account) its mint,
/// which a same-type substitute shares.
async fn classify<W>(
    env: &mut Env<W>,
    accounts: &Accounts<'_>,
    address: &Pubkey,
) -> Option<(&'static str, Pubkey, Pubkey)> {
    let account = env.account(address).await?;
    if accounts.programs.contains(&account.owner) && account.data.len() >= 8 {
        let (_, name) = accounts
            .types
            .iter()
            .find(|(d, _)| **d == account.data[..8])?;
        return Some((
            name,
            (accounts.whose)(name, address, &account.data),
            Pubkey::default(),
        ));
    }
    if account.owner == anchor_spl::token::ID || account.owner == spl_token_2022::ID {
        if let Ok(t) = StateWithExtensions::<TokenAccountState>::unpack(&account.data) {
            return Some(("TokenAccount", t.base.owner, t.base.mint));
        }
        if StateWithExtensions::<MintState>::unpack(&account.data).is_ok() {
            return Some(("Mint", *address, Pubkey::default()));
        }
    }
    None
}

/// The name of a refusal: the failing program's error by name (`kassa_credit:OverLimit`),
/// the framework's (`anchor:ConstraintSeeds`), or the runtime's.
fn refusal_name(err: &BanksClientError, logs: &[String]) -> String {
    let instruction = match err {
        BanksClientError::TransactionError(TransactionError::InstructionError(_, e))
        | BanksClientError::SimulationError {
            err: TransactionError::InstructionError(_, e),
            ..
        } => e.clone(),
        other => return format!("transaction:{other:?}"),
    };
    let InstructionError::Custom(code) = instruction else {
        return format!("runtime:{instruction:?}");
    };
    // The innermost program to fail raised the code (callers fail with it after).
    let program = logs.iter().find_map(|l| {
        let rest = l.strip_prefix("Program ")?;
        let (id, _) = rest.split_once(" failed: custom program error")?;
        id.parse::<Pubkey>().ok()
    });
    if code < 6000 {
        return format!("anchor:{}", anchor_name(code));
    }
    match program.and_then(|p| kassa_sdk::programs::name_error(&p, code).map(|e| (p, e))) {
        Some((_, e)) => format!("{}:{}", e.program, e.name),
        None => format!("{}:{code}", program.map_or("?".into(), |p| p.to_string())),
    }
}

/// Anchor's framework errors by name.
fn anchor_name(code: u32) -> String {
    use anchor_lang::error::ErrorCode as A;
    [
        A::InstructionMissing,
        A::InstructionFallbackNotFound,
        A::InstructionDidNotDeserialize,
        A::ConstraintMut,
        A::ConstraintHasOne,
        A::ConstraintSigner,
        A::ConstraintRaw,
        A::ConstraintOwner,
        A::ConstraintSeeds,
        A::ConstraintExecutable,
        A::ConstraintAddress,
        A::ConstraintTokenMint,
        A::ConstraintTokenOwner,
        A::ConstraintMintTokenProgram,
        A::ConstraintAssociatedTokenTokenProgram,
        A::ConstraintTokenTokenProgram,
        A::ConstraintAssociated,
        A::AccountDiscriminatorNotFound,
        A::AccountDiscriminatorMismatch,
        A::AccountDidNotDeserialize,
        A::AccountOwnedByWrongProgram,
        A::InvalidProgramId,
        A::InvalidProgramExecutable,
        A::AccountNotSigner,
        A::AccountNotSystemOwned,
        A::AccountNotInitialized,
        A::AccountNotProgramData,
        A::AccountNotEnoughKeys,
        A::AccountNotMutable,
    ]
    .into_iter()
    .find(|e| u32::from(*e) == code)
    .map_or_else(|| code.to_string(), |e| format!("{e:?}"))
}

/// Runs the matrix over `cases` and compares the refusals with the golden table `golden`.
pub async fn run<W>(env: &mut Env<W>, accounts: &Accounts<'_>, cases: Vec<Case>, golden: &str) {
    let fee_payer = env.payer().pubkey();
    let mut table = Vec::new();
    let mut landed = Vec::new();
    for (name, ix, signers) in cases {
        let keys: Vec<&Keypair> = signers.iter().collect();
        env.simulate(&[ix.clone()], &keys)
            .await
            .unwrap_or_else(|e| panic!("{name} is not ready: {e:?}"));
        let mut attempts: Vec<(String, Instruction, Vec<&Keypair>)> = Vec::new();
        for (i, meta) in ix.accounts.iter().enumerate() {
            let with = |pubkey: Pubkey| {
                let mut bad = ix.clone();
                bad.accounts[i].pubkey = pubkey;
                bad
            };
            // (The fee payer signs anyway: permissionless cranks use it as their caller.)
            if meta.is_signer && meta.pubkey != fee_payer {
                // Wherever the key appears: a signer is one per transaction.
                let mut bad = ix.clone();
                for m in bad.accounts.iter_mut().filter(|m| m.pubkey == meta.pubkey) {
                    m.is_signer = false;
                }
                let rest = keys
                    .iter()
                    .copied()
                    .filter(|k| k.pubkey() != meta.pubkey)
                    .collect();
                attempts.push((format!("#{i} unsigned"), bad, rest));
            }
            if meta.pubkey == anchor_spl::token::ID || meta.pubkey == spl_token_2022::ID {
                let other = if meta.pubkey == anchor_spl::token::ID {
                    spl_token_2022::ID
                } else {
                    anchor_spl::token::ID
                };
                attempts.push((
                    format!("#{i} other token program"),
                    with(other),
                    keys.clone(),
                ));
                attempts.push((
                    format!("#{i} fake token program"),
                    with(solana_system_interface::program::ID),
                    keys.clone(),
                ));
            }
            let Some((kind, whose, group)) = classify(env, accounts, &meta.pubkey).await else {
                continue;
            };
            attempts.push((
                format!("#{i} {kind} of the wrong owner"),
                with(accounts.stranger),
                keys.clone(),
            ));
            // Another type of the same program in its place.
            if accounts.types.iter().any(|(_, t)| *t == kind) {
                if let Some(impostor) = accounts
                    .others
                    .iter()
                    .filter(|(t, _)| **t != kind && accounts.types.iter().any(|(_, n)| n == *t))
                    .flat_map(|(_, v)| v.first())
                    .next()
                {
                    attempts.push((
                        format!("#{i} {kind} cosplay"),
                        with(*impostor),
                        keys.clone(),
                    ));
                }
            }
            // The same type, someone else's.
            let mut foreign = None;
            for other in accounts.others.get(kind).into_iter().flatten() {
                if *other == meta.pubkey {
                    continue;
                }
                if classify(env, accounts, other)
                    .await
                    .is_some_and(|(_, w, g)| w != whose && g == group)
                {
                    foreign = Some(*other);
                    break;
                }
            }
            if let Some(other) = foreign {
                let what = if accounts.choices.contains(&(name, i)) {
                    format!("#{i} another {kind} (the signer's choice)")
                } else {
                    format!("#{i} someone else's {kind}")
                };
                attempts.push((what, with(other), keys.clone()));
            }
        }
        for (what, bad, keys) in attempts {
            let mut before = Vec::new();
            for meta in &bad.accounts {
                before.push(env.account(&meta.pubkey).await);
            }
            let refusal = match env.simulate_with_logs(&[bad.clone()], &keys).await {
                Ok(()) if what.ends_with("(the signer's choice)") => "lands".to_string(),
                Ok(()) => {
                    landed.push(format!("{name} {what}"));
                    continue;
                }
                Err(refused) => refusal_name(&refused.err, &refused.logs),
            };
            assert!(
                !refusal.ends_with(":InvariantViolated")
                    && !refusal.ends_with(":ArithmeticOverflow"),
                "{name} {what}: refused by no rule ({refusal})"
            );
            let mut after = Vec::new();
            for meta in &bad.accounts {
                after.push(env.account(&meta.pubkey).await);
            }
            assert_eq!(
                before, after,
                "{name} {what}: a refused attack changed an account"
            );
            table.push(format!("{name} {what} -> {refusal}"));
        }
    }
    assert!(
        landed.is_empty(),
        "attacks that would land:\n{}",
        landed.join("\n")
    );
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("golden")
        .join(format!("attacks-{golden}.txt"));
    let got = table.join("\n") + "\n";
    if std::env::var_os("KASSA_BLESS").is_some() {
        std::fs::write(&path, &got).expect("write the golden table");
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (KASSA_BLESS=1 writes it)", path.display()));
    if want != got {
        let wanted: Vec<&str> = want.lines().collect();
        let diff: Vec<String> = table
            .iter()
            .filter(|l| !wanted.contains(&l.as_str()))
            .map(|l| format!("+ {l}"))
            .chain(
                wanted
                    .iter()
                    .filter(|l| !table.iter().any(|t| t == *l))
                    .map(|l| format!("- {l}")),
            )
            .collect();
        panic!(
            "attack refusals differ from {} ({} attempts):\n{}",
            path.display(),
            table.len(),
            diff.join("\n")
        );
    }
}
