//! `cargo run -p kassa-xtask -- idl [--check]`: generates the Anchor IDL of every program in
//! the SDK's registry natively (the program's `idl-build` feature, assembled by
//! `anchor-lang-idl`) into `sdk/idl/` (which `idl/` links to), or with `--check` fails when a
//! checked-in IDL differs from what the code generates.
//!
//! Generating also records `sdk/idl/inputs.sha256`: the SHA-256 of everything the IDL is made
//! from (every file under `programs/`, the workspace's `Cargo.toml`, and the locked version of
//! every package the programs build on, with every feature, as `cargo metadata` resolves them)
//! and of the IDL files themselves. `--check` with inputs whose digest is the recorded one has
//! nothing to build: the IDL was generated from exactly these. Any other change (a program's
//! source, a dependency of a program, a hand edit of an IDL file) builds and compares as before;
//! a dependency only the indexer, the tests or the tools use changes nothing here.

use anyhow::{bail, Context, Result};
use kassa_sdk::programs::KassaProgram;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// Where the digest of the IDL's inputs is recorded.
const DIGEST: &str = "sdk/idl/inputs.sha256";

/// Every file under `dir`, recursively.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// The packages the programs build on (normal and build dependencies, every feature of the
/// workspace's crates on), one `name version source` line each, sorted: the part of
/// `Cargo.lock` the IDL depends on. Path packages are named without their path, so that every
/// checkout of the same commit gives the same lines.
fn program_dependencies(root: &Path) -> Result<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--all-features",
            "--locked",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let programs = root.join("programs");
    let mut line = std::collections::HashMap::new();
    let mut todo = Vec::new();
    for p in meta["packages"]
        .as_array()
        .context("cargo metadata: packages")?
    {
        let id = p["id"].as_str().context("cargo metadata: package id")?;
        let source = p["source"].as_str().unwrap_or("path");
        line.insert(
            id.to_string(),
            format!("{} {} {source}", p["name"], p["version"]),
        );
        if Path::new(p["manifest_path"].as_str().unwrap_or_default()).starts_with(&programs) {
            todo.push(id.to_string());
        }
    }
    let nodes: std::collections::HashMap<&str, &serde_json::Value> = meta["resolve"]["nodes"]
        .as_array()
        .context("cargo metadata: resolve")?
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    while let Some(id) = todo.pop() {
        let Some(l) = line.get(&id) else {
            bail!("cargo metadata: unknown package {id}");
        };
        if !seen.insert(l.clone()) {
            continue;
        }
        for dep in nodes
            .get(id.as_str())
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
        {
            let kinds = dep["dep_kinds"].as_array().into_iter().flatten();
            if kinds.clone().any(|k| k["kind"].as_str() != Some("dev")) {
                if let Some(pkg) = dep["pkg"].as_str() {
                    todo.push(pkg.to_string());
                }
            }
        }
    }
    Ok(seen.into_iter().collect::<Vec<_>>().join("\n"))
}

/// The SHA-256 (hex) of what the IDL is generated from, and of the IDL files.
fn inputs_digest(root: &Path) -> Result<String> {
    let mut files = Vec::new();
    files_under(&root.join("programs"), &mut files)?;
    files.push(root.join("Cargo.toml"));
    for program in KassaProgram::ALL {
        files.push(
            root.join("sdk/idl")
                .join(format!("{}.json", program.name())),
        );
    }
    files.sort();
    let mut h = Sha256::new();
    for f in files {
        let rel = f
            .strip_prefix(root)
            .unwrap_or(&f)
            .to_string_lossy()
            .replace('\\', "/");
        let bytes = std::fs::read(&f).unwrap_or_default();
        h.update(rel.as_bytes());
        h.update([0]);
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    h.update(b"locked dependencies of the programs\0");
    h.update(program_dependencies(root)?.as_bytes());
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

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
    let recorded = std::fs::read_to_string(root.join(DIGEST)).unwrap_or_default();
    if check && recorded.trim() == inputs_digest(&root)? {
        println!("IDL is current: generated from exactly these inputs ({DIGEST})");
        return Ok(());
    }
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
    if check {
        println!(
            "IDL is current; {DIGEST} is not (run `cargo run -p kassa-xtask -- idl` so the next check need not build)"
        );
    } else {
        let digest = inputs_digest(&root)?;
        std::fs::write(root.join(DIGEST), format!("{digest}\n"))
            .with_context(|| format!("failed to write {DIGEST}"))?;
        println!("wrote {DIGEST}");
    }
    Ok(())
}
