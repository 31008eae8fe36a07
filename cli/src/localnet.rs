//! `kassa localnet`: start the node, bootstrap a usable protocol, print how to reach it.

use anyhow::{Context, Result};
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_sdk::programs::KassaProgram;
use kassa_testkit::protocol::bootstrap;
use solana_sdk::signature::Signer;
use std::{net::SocketAddr, path::PathBuf, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    /// JSON-RPC port (WebSocket subscriptions will use the next port).
    #[arg(long, default_value_t = 8899)]
    pub rpc_port: u16,
    /// Milliseconds between slots when no transaction arrives.
    #[arg(long, default_value_t = 400)]
    pub slot_ms: u64,
    /// Slots a transaction stays confirmed before it is finalized.
    #[arg(long, default_value_t = 0)]
    pub finality_lag: u64,
    /// Start the clock this many seconds ahead of the wall clock.
    #[arg(long, default_value_t = 0)]
    pub warp_seconds: i64,
    /// Transactions of history to keep in memory, as a validator's --limit-ledger-size bounds its
    /// ledger; older finalized blocks and their transactions are pruned.
    #[arg(long, default_value_t = kassa_localnet::node::DEFAULT_LEDGER_LIMIT)]
    pub limit_ledger_size: usize,
    /// Directory for the funded payer keypair file.
    #[arg(long, default_value = ".kassa-localnet")]
    pub dir: PathBuf,
    /// Exit after bootstrapping instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], args.rpc_port)),
        node: NodeConfig {
            finality_lag: args.finality_lag,
            time_offset: args.warp_seconds,
            ledger_limit: args.limit_ledger_size,
        },
        slot_interval: Duration::from_millis(args.slot_ms.max(10)),
    };
    let net = start(config)
        .await
        .context("failed to start the local node")?;
    let demo = bootstrap(&net.rpc_url)
        .await
        .context("failed to bootstrap the demo protocol")?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("failed to create {}", args.dir.display()))?;
    let keypair_path = args.dir.join("payer.json");
    std::fs::write(
        &keypair_path,
        serde_json::to_string(&demo.payer.to_bytes().to_vec())?,
    )
    .with_context(|| format!("failed to write {}", keypair_path.display()))?;
    // What examples and scripts need to find the demo protocol.
    let demo_path = args.dir.join("demo.json");
    let description = serde_json::json!({
        "rpcUrl": net.rpc_url,
        "genesisHash": net.genesis_hash.to_string(),
        "caip2": net.caip2(),
        "payerKeypair": keypair_path.canonicalize().unwrap_or_else(|_| keypair_path.clone()),
        "usdc": demo.usdc.mint.to_string(),
        "usdt": demo.usdt.mint.to_string(),
        "pyusd": demo.pyusd.mint.to_string(),
        "programs": KassaProgram::ALL
            .iter()
            .map(|p| (p.name(), p.id().to_string()))
            .collect::<std::collections::BTreeMap<_, _>>(),
    });
    std::fs::write(&demo_path, serde_json::to_string_pretty(&description)?)
        .with_context(|| format!("failed to write {}", demo_path.display()))?;

    println!("Kassa localnet is running");
    println!("  RPC URL        {}", net.rpc_url);
    println!("  WebSocket URL  {}", net.ws_url);
    println!(
        "  cluster        {} (genesis {})",
        net.caip2(),
        net.genesis_hash
    );
    for (i, p) in KassaProgram::ALL.iter().enumerate() {
        let label = if i == 0 { "programs" } else { "" };
        println!("  {label:<15}{:<15}{}", p.name(), p.id());
    }
    println!(
        "  payer keypair  {} ({}), 1,000 SOL",
        keypair_path.display(),
        demo.payer.pubkey()
    );
    println!(
        "  demo mints     USDC-like  {} (SPL Token, 6 decimals)",
        demo.usdc.mint
    );
    println!(
        "                 USDT-like  {} (SPL Token, 6 decimals)",
        demo.usdt.mint
    );
    println!(
        "                 PYUSD-like {} (Token-2022, transfer-fee extension, 6 decimals)",
        demo.pyusd.mint
    );
    println!("  the payer holds 10,000,000 of each, is admin, compliance and arbiter, and");
    println!("  StableSwap pools USDC/USDT and USDC/PYUSD are registered as conversion hooks");
    if args.exit {
        return Ok(());
    }
    println!("Ctrl-C (or SIGTERM) stops it.");
    crate::settings::shutdown_signal().await;
    Ok(())
}
