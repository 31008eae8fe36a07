use crate::{constants::*, error::PaymentsError, events::*, state::Config};
use anchor_lang::prelude::*;

/// Every field is optional: `None` leaves the setting as it is.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct ConfigUpdateArgs {
    pub compliance_authority: Option<Pubkey>,
    pub arbiter: Option<Pubkey>,
    pub fee_receiver: Option<Pubkey>,
    /// Basis points, at most [`MAX_PROTOCOL_FEE_BPS`].
    pub protocol_fee_bps: Option<u16>,
    pub paused: Option<bool>,
    /// Replaces the whole conversion-hook registry (at most [`MAX_HOOKS`]).
    pub hooks: Option<Vec<Pubkey>>,
}

#[event_cpi]
#[derive(Accounts)]
pub struct ConfigUpdate<'info> {
    pub admin: Signer<'info>,
    #[account(
        mut,
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = admin @ PaymentsError::NotAdmin,
    )]
    pub config: Box<Account<'info, Config>>,
}

impl ConfigUpdate<'_> {
    pub fn validate(&self, args: &ConfigUpdateArgs) -> Result<()> {
        // The fee stays under the hard cap whoever is admin.
        if let Some(bps) = args.protocol_fee_bps {
            require!(bps <= MAX_PROTOCOL_FEE_BPS, PaymentsError::FeeAboveCap);
        }
        if let Some(hooks) = &args.hooks {
            require!(hooks.len() <= MAX_HOOKS, PaymentsError::TooManyHooks);
        }
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<ConfigUpdate>, args: ConfigUpdateArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let config = &mut ctx.accounts.config;
    if let Some(key) = args.compliance_authority {
        config.compliance_authority = key;
    }
    if let Some(key) = args.arbiter {
        config.arbiter = key;
    }
    if let Some(key) = args.fee_receiver {
        config.fee_receiver = key;
    }
    if let Some(bps) = args.protocol_fee_bps {
        config.protocol_fee_bps = bps;
    }
    if let Some(paused) = args.paused {
        config.set_paused(paused, now)?;
    }
    if let Some(hooks) = &args.hooks {
        config.set_hooks(hooks)?;
    }
    config.invariant()?;
    // The event carries the full post-change config, so readers never merge partial updates.
    let seq = config.next_seq()?;
    let header = EventHeader::new(config.key(), seq, ctx.accounts.admin.key(), now);
    emit_cpi!(ConfigUpdated::snapshot(header, config));
    Ok(())
}
