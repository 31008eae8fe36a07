//! `cargo run -p kassa-xtask -- idl [--check]`: generates the Anchor IDL of every program in
//! the SDK's registry natively (the program's `idl-build` feature, assembled by
//! `anchor-lang-idl`) into `sdk/idl/` (which `idl/` links to), or with `--check` fails when a
//! checked-in IDL differs from what the code generates.

use anyhow::{bail, Context, Result};
use kassa_sdk::programs::KassaProgram;
use std::path::{Path, PathBuf};

/// The directory of the crate whose library is `lib` (a program's crate name, e.g.
/// `kassa_payments`), among the workspace's `programs/`.
fn program_dir(root: &Path, lib: &str) -> Result<PathBuf> {
    let wanted = format!("name = \"{lib}\"");
    for entry in std::fs::read_dir(root.join("programs"))? {
        let dir = entry?.path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        if manifest.lines().any(|l| l.trim() == wanted) {
            return Ok(dir);
        }
    }
    bail!("no crate under programs/ has the library {lib}")
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["idl"] => idl(false),
        ["idl", "--check"] => idl(true),
        _ => bail!("usage: cargo run -p kassa-xtask -- idl [--check]"),
    }
}

/// The workspace this run belongs to. `cargo run` sets CARGO_MANIFEST_DIR for the process; it
/// is read at run time because several checkouts may share one target directory, and the
/// uplifted binary may have been built from another of them.
fn root() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR")
        .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    Path::new(&manifest)
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn idl(check: bool) -> Result<()> {
    let root = root();
    // anchor-lang-idl would try to install RUSTUP_TOOLCHAIN if it were set.
    std::env::remove_var("RUSTUP_TOOLCHAIN");
    // It builds with its own RUSTFLAGS; a separate target directory keeps that build from
    // invalidating the main one.
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(|dir| PathBuf::from(dir).join("idl-build"))
        .unwrap_or_else(|_| std::env::temp_dir().join("kassa-idl-target"));
    std::env::set_var("CARGO_TARGET_DIR", &target);
    let mut stale = Vec::new();
    for program in KassaProgram::ALL {
        let dir = program_dir(&root, program.name())?;
        let idl = anchor_lang_idl::build::IdlBuilder::new()
            .program_path(dir.clone())
            .build()
            .with_context(|| format!("failed to generate the IDL of {}", dir.display()))?;
        let mut json = serde_json::to_string_pretty(&idl)?;
        json.push('\n');
        let path = root
            .join("sdk/idl")
            .join(format!("{}.json", program.name()));
        if check {
            let current = std::fs::read_to_string(&path).unwrap_or_default();
            if current != json {
                stale.push(path.display().to_string());
            }
        } else {
            std::fs::write(&path, json)
                .with_context(|| format!("failed to write {}", path.display()))?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "stale IDL: {} — run `cargo run -p kassa-xtask -- idl` and commit the result",
            stale.join(", ")
        );
    }
    Ok(())
}
