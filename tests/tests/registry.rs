//! The program registry is the one list of Kassa programs: the files outside Rust that must
//! name every program (the Anchor toolchain's Anchor.toml) are checked against it.

use kassa_sdk::programs::KassaProgram;

#[test]
fn anchor_toml_names_every_registered_program_with_its_id() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../Anchor.toml");
    let text = std::fs::read_to_string(path).expect("Anchor.toml");
    for cluster in ["localnet", "devnet"] {
        let section = text
            .split(&format!("[programs.{cluster}]"))
            .nth(1)
            .unwrap_or_else(|| panic!("Anchor.toml has no [programs.{cluster}]"));
        let section = section.split("\n[").next().unwrap_or_default();
        let named: Vec<(String, String)> = section
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
            .collect();
        let mut want: Vec<(String, String)> = KassaProgram::ALL
            .iter()
            .map(|p| (p.name().to_string(), p.id().to_string()))
            .collect();
        let mut got = named.clone();
        want.sort();
        got.sort();
        assert_eq!(got, want, "[programs.{cluster}] of Anchor.toml");
    }
    let members = text
        .split("[workspace]")
        .nth(1)
        .and_then(|s| s.split("\n[").next())
        .expect("[workspace] members");
    for p in KassaProgram::ALL {
        let dir = p.name().trim_start_matches("kassa_");
        assert!(
            members.contains(&format!("\"programs/{dir}\"")),
            "Anchor.toml's workspace lacks programs/{dir}"
        );
    }
}
