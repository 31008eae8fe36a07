//! `kassa`: the project's one binary. `kassa localnet` runs a local Solana JSON-RPC node with the
//! Kassa programs, a funded payer and demo stablecoins, so a newcomer can pay an invoice in
//! minutes; moving to devnet or mainnet is a change of RPC URL.

use clap::{Parser, Subcommand};
use kassa::{archive, demo, index, localnet, serve};

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
    /// Run the local node, the indexer on Postgres and a realistic day of payments; print
    /// what the indexer mirrored and check it against the chain.
    Demo(demo::Args),
    /// Mirror the Kassa programs of a cluster into Postgres.
    Index(index::Args),
    /// Run the indexer and the HTTP API (TLS) on the settings; several may share a database.
    Serve(serve::Args),
    /// API accounts and keys.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Export the raw tables' slot partitions below a slot to CSV files and drop them.
    Archive(archive::Args),
}

#[derive(Subcommand)]
enum AccountCommand {
    /// Create an API account (a merchant's bound to its on-chain merchant) and print its first key.
    Create(serve::AccountArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The bank logs every instruction at debug level unless told otherwise; set before any
    // thread starts.
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match cli.command {
            Command::Localnet(args) => localnet::run(args).await,
            Command::Index(args) => index::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Account(AccountCommand::Create(args)) => serve::create_account(args).await,
            Command::Archive(args) => archive::run(args).await,
            Command::Demo(args) => {
                if demo::run(args).await? {
                    Ok(())
                } else {
                    std::process::exit(1)
                }
            }
        }
    })
}
