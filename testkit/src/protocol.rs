//! The protocol as a newcomer's local cluster needs it: a funded payer holding every role,
//! three demo stablecoins (two SPL Token, one Token-2022 with a transfer-fee extension, as
//! PYUSD), escrow vaults and two StableSwap pools registered as conversion hooks.

use anyhow::{Context, Result};
use kassa_convert::instructions::PoolCreateArgs;
use kassa_payments::instructions::{ConfigInitArgs, ConfigUpdateArgs};
use kassa_sdk::{
    convert::Convert,
    payments::{MintRef, Payments},
};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signature, Signer},
    transaction::Transaction,
};

/// A bootstrapped protocol: the payer in every role, three demo stablecoins, escrow vaults,
/// and StableSwap pools USDC/USDT and USDC/PYUSD registered as conversion hooks.
pub struct Protocol {
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
pub async fn bootstrap(rpc_url: &str) -> Result<Protocol> {
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
    Ok(Protocol {
        payer,
        usdc,
        usdt,
        pyusd,
    })
}
