//! `kassa localnet`: start the node, bootstrap a usable protocol, print how to reach it.

use anyhow::{Context, Result};
use kassa_convert::instructions::PoolCreateArgs;
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_payments::instructions::{ConfigInitArgs, ConfigUpdateArgs};
use kassa_sdk::{
    convert::Convert,
    payments::{MintRef, Payments},
    programs::KassaProgram,
};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signature, Signer},
    transaction::Transaction,
};
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
    /// Directory for the funded payer keypair file.
    #[arg(long, default_value = ".kassa-localnet")]
    pub dir: PathBuf,
    /// Exit after bootstrapping instead of serving until Ctrl-C.
    #[arg(long)]
    pub exit: bool,
}

/// What a bootstrapped localnet offers a newcomer.
pub struct Demo {
    pub payer: Keypair,
    pub usdc: MintRef,
    pub usdt: MintRef,
    pub pyusd: MintRef,
}

async fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> Result<Signature> {
    let blockhash = rpc.get_latest_blockhash().await?;
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, blockhash);
    Ok(rpc.send_and_confirm_transaction(&tx).await?)
}

async fn mint(
    rpc: &RpcClient,
    payer: &Keypair,
    token_program: solana_sdk::pubkey::Pubkey,
    decimals: u8,
) -> Result<MintRef> {
    use anchor_spl::token_2022::spl_token_2022::{self, extension::ExtensionType, state::Mint};
    let mint = Keypair::new();
    let t22 = token_program == spl_token_2022::ID;
    // The Token-2022 coin carries a transfer-fee extension (at 0 bps), as PYUSD does.
    let space = if t22 {
        ExtensionType::try_calculate_account_len::<Mint>(&[ExtensionType::TransferFeeConfig])?
    } else {
        82
    };
    let rent = rpc.get_minimum_balance_for_rent_exemption(space).await?;
    let mut ixs = vec![solana_system_interface::instruction::create_account(
        &payer.pubkey(),
        &mint.pubkey(),
        rent,
        space as u64,
        &token_program,
    )];
    if t22 {
        ixs.push(
            spl_token_2022::extension::transfer_fee::instruction::initialize_transfer_fee_config(
                &token_program,
                &mint.pubkey(),
                Some(&payer.pubkey()),
                Some(&payer.pubkey()),
                0,
                0,
            )?,
        );
    }
    ixs.push(spl_token_2022::instruction::initialize_mint2(
        &token_program,
        &mint.pubkey(),
        &payer.pubkey(),
        None,
        decimals,
    )?);
    let mint_ref = MintRef::new(mint.pubkey(), token_program)?;
    let ata = anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&payer.pubkey(), &payer.pubkey(), &mint.pubkey(), &token_program);
    ixs.push(ata);
    ixs.push(spl_token_2022::instruction::mint_to(
        &token_program,
        &mint.pubkey(),
        &mint_ref.ata(&payer.pubkey()),
        &payer.pubkey(),
        &[],
        10_000_000 * 10u64.pow(u32::from(decimals)),
    )?);
    send(rpc, &ixs, payer, &[&mint]).await?;
    Ok(mint_ref)
}

/// Funds a payer, creates the demo mints, initializes the protocol with the payer in every role,
/// opens escrow vaults, and seeds StableSwap pools USDC/USDT and USDC/PYUSD registered as hooks.
pub async fn bootstrap(rpc_url: &str) -> Result<Demo> {
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let payer = Keypair::new();
    let sig = rpc
        .request_airdrop(&payer.pubkey(), 1_000_000_000_000)
        .await
        .context("airdrop to the payer")?;
    rpc.confirm_transaction(&sig).await?;
    let usdc = mint(&rpc, &payer, anchor_spl::token::ID, 6)
        .await
        .context("USDC-like mint")?;
    let usdt = mint(&rpc, &payer, anchor_spl::token::ID, 6)
        .await
        .context("USDT-like mint")?;
    let pyusd = mint(&rpc, &payer, anchor_spl::token_2022::ID, 6)
        .await
        .context("Token-2022 stablecoin")?;

    let p = Payments::default();
    let me = payer.pubkey();
    let init = p.config_init(
        &me,
        &me,
        None,
        ConfigInitArgs {
            compliance_authority: me,
            arbiter: me,
            fee_receiver: me,
            protocol_fee_bps: 30,
        },
    )?;
    send(&rpc, &[init], &payer, &[])
        .await
        .context("config_init")?;
    for m in [usdc, usdt, pyusd] {
        send(&rpc, &[p.vault_open(&me, &m)?], &payer, &[])
            .await
            .context("vault_open")?;
    }
    let c = Convert::default();
    for other in [usdt, pyusd] {
        let pool = c.pool(usdc, other);
        send(
            &rpc,
            &[c.pool_create(
                &me,
                &pool,
                PoolCreateArgs {
                    amp: 200,
                    trade_fee_bps: 4,
                    protocol_share_bps: 5_000,
                    fee_receiver: me,
                },
            )?],
            &payer,
            &[],
        )
        .await
        .context("pool_create")?;
        let lp = MintRef::new(c.lp_mint(&pool), anchor_spl::token::ID)?;
        let lp_ata = anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&me, &me, &lp.mint, &lp.token_program);
        let deposit = c.pool_add_liquidity(&me, &pool, 1_000_000_000_000, 1_000_000_000_000, 1)?;
        send(&rpc, &[lp_ata, deposit], &payer, &[])
            .await
            .context("seed pool liquidity")?;
    }
    let hooks = p.config_update(
        &me,
        ConfigUpdateArgs {
            hooks: Some(vec![c.program_id]),
            ..Default::default()
        },
    )?;
    send(&rpc, &[hooks], &payer, &[])
        .await
        .context("register the conversion hook")?;
    Ok(Demo {
        payer,
        usdc,
        usdt,
        pyusd,
    })
}

pub async fn run(args: Args) -> Result<()> {
    let config = LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], args.rpc_port)),
        node: NodeConfig {
            finality_lag: args.finality_lag,
            time_offset: args.warp_seconds,
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
    println!("Ctrl-C stops it.");
    tokio::signal::ctrl_c()
        .await
        .context("failed to wait for Ctrl-C")?;
    Ok(())
}
