use super::pool_admin::*;
use crate::{constants::*, error::ConvertError, events::*};
use anchor_lang::prelude::*;

/// `None` leaves a setting unchanged.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, Default)]
pub struct PoolSettingsArgs {
    pub paused: Option<bool>,
    pub trade_fee_bps: Option<u16>,
    pub protocol_share_bps: Option<u16>,
}

/// The admin pauses or resumes the pool or changes its fees.
pub fn handler(ctx: Context<PoolAdmin>, args: PoolSettingsArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let pool = &mut ctx.accounts.pool;
    if let Some(paused) = args.paused {
        pool.paused = paused;
    }
    if let Some(bps) = args.trade_fee_bps {
        require!(bps <= MAX_TRADE_FEE_BPS, ConvertError::FeeOutOfBounds);
        pool.trade_fee_bps = bps;
    }
    if let Some(bps) = args.protocol_share_bps {
        require!(bps <= MAX_PROTOCOL_SHARE_BPS, ConvertError::FeeOutOfBounds);
        pool.protocol_share_bps = bps;
    }
    pool.settings_invariant()?;
    let seq = pool.next_seq()?;
    let header = EventHeader::new(pool.key(), seq, actor, now);
    emit_cpi!(PoolSettingsChanged {
        header,
        paused: pool.paused,
        trade_fee_bps: pool.trade_fee_bps,
        protocol_share_bps: pool.protocol_share_bps,
    });
    Ok(())
}
