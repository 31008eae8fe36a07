use crate::{constants::*, error::PaymentsError, events::*, state::Config};
use anchor_lang::prelude::*;
use anchor_lang::solana_program::bpf_loader_upgradeable;
use kassa_common::create::Creator;

/// Owner of builtin programs (how a local node loads natively compiled programs).
const NATIVE_LOADER_ID: Pubkey =
    Pubkey::from_str_const("NativeLoader1111111111111111111111111111111");

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct ConfigInitArgs {
    pub compliance_authority: Pubkey,
    pub arbiter: Pubkey,
    pub fee_receiver: Pubkey,
    /// Basis points, at most [`MAX_PROTOCOL_FEE_BPS`].
    pub protocol_fee_bps: u16,
}

#[event_cpi]
#[derive(Accounts)]
pub struct ConfigInit<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    pub admin: Signer<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [CONFIG_SEED], bump)]
    pub config: UncheckedAccount<'info>,
    /// CHECK: address is this program; its loader is inspected in `validate`.
    #[account(address = crate::ID)]
    pub payments_program: UncheckedAccount<'info>,
    /// CHECK: required when the program is upgradeable; parsed and matched in `validate`.
    pub program_data: Option<UncheckedAccount<'info>>,
    pub system_program: Program<'info, System>,
}

impl ConfigInit<'_> {
    /// Only the upgrade authority may create the config of an upgradeable deployment, so nobody
    /// can front-run the deployer. A program loaded as a builtin exists only on a local node
    /// whose genesis the operator wrote, so there the first caller is the operator.
    pub fn validate(&self, args: &ConfigInitArgs) -> Result<()> {
        require!(
            args.protocol_fee_bps <= MAX_PROTOCOL_FEE_BPS,
            PaymentsError::FeeAboveCap
        );
        let program = self.payments_program.to_account_info();
        if *program.owner == bpf_loader_upgradeable::ID {
            let program_data = self
                .program_data
                .as_ref()
                .ok_or(PaymentsError::InvalidProgramData)?;
            let expected =
                Pubkey::find_program_address(&[crate::ID.as_ref()], &bpf_loader_upgradeable::ID).0;
            require_keys_eq!(
                program_data.key(),
                expected,
                PaymentsError::InvalidProgramData
            );
            let data = program_data.try_borrow_data()?;
            let state = anchor_lang::prelude::ProgramData::try_deserialize(&mut &data[..])
                .map_err(|_| PaymentsError::InvalidProgramData)?;
            require!(
                state.upgrade_authority_address == Some(self.admin.key()),
                PaymentsError::NotUpgradeAuthority
            );
        } else {
            require_keys_eq!(
                *program.owner,
                NATIVE_LOADER_ID,
                PaymentsError::NotUpgradeAuthority
            );
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<ConfigInit>, args: ConfigInitArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let config_key = ctx.accounts.config.key();
    let mut config = Config {
        admin: ctx.accounts.admin.key(),
        compliance_authority: args.compliance_authority,
        arbiter: args.arbiter,
        fee_receiver: args.fee_receiver,
        protocol_fee_bps: args.protocol_fee_bps,
        paused: false,
        paused_since: 0,
        paused_total: 0,
        hooks: [Pubkey::default(); MAX_HOOKS],
        seq: 0,
        bump: ctx.bumps.config,
        reserved: [0; 48],
    };
    let seq = config.next_seq()?;
    config.invariant()?;
    Creator {
        payer: &ctx.accounts.payer.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.config.to_account_info(),
        8 + Config::INIT_SPACE,
        &[CONFIG_SEED, &[config.bump]],
        &config,
    )?;
    let header = EventHeader::new(config_key, seq, config.admin, now);
    emit_cpi!(ConfigInitialized {
        header,
        admin: config.admin,
        compliance_authority: config.compliance_authority,
        arbiter: config.arbiter,
        fee_receiver: config.fee_receiver,
        protocol_fee_bps: config.protocol_fee_bps,
    });
    Ok(())
}
