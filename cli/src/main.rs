//! `kassa`: the project's one binary. `kassa localnet` runs a local Solana JSON-RPC node with the
//! Kassa programs, a funded payer and demo stablecoins, so a newcomer can pay an invoice in
//! minutes; moving to devnet or mainnet is a change of RPC URL.

use clap::{Parser, Subcommand};
use kassa::localnet;

#[derive(Parser)]
#[command(
    name = "kassa",
    version,
    about = "Kassa: escrowed merchant payments on Solana"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local Solana JSON-RPC node with the Kassa programs, a funded payer and demo mints.
    Localnet(localnet::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bank logs every instruction at debug level unless told otherwise; set before any
    // thread starts.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Command::Localnet(args) => localnet::run(args).await,
        }
    })
}
