//! Projections of `kassa_convert`: the StableSwap pools.

use super::{add, seq, sub, FoldError, Key};
use kassa_sdk::decode::ConvertEvent;

projection_row! {
pub struct PoolRow {
    pub address: Key,
    pub mint_a: Key,
    pub mint_b: Key,
    pub lp_mint: Key,
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub lp_supply: u64,
    pub protocol_fees_a: u64,
    pub protocol_fees_b: u64,
    pub initial_amp: i64,
    pub target_amp: i64,
    pub ramp_start: i64,
    pub ramp_stop: i64,
    pub trade_fee_bps: i32,
    pub protocol_share_bps: i32,
    pub paused: bool,
    pub swaps: i64,
    pub volume_a: u64,
    pub volume_b: u64,
    pub seq: i64,
}
}

pub(super) fn fold(
    row: Option<PoolRow>,
    e: &ConvertEvent,
    entity: Key,
    ts: i64,
    name: &'static str,
) -> Result<PoolRow, FoldError> {
    use ConvertEvent as C;
    if let C::PoolCreated(p) = e {
        if row.is_some() {
            return Err(FoldError::Exists(name));
        }
        let amp = seq(p.amp);
        let no_ramp = ts.saturating_sub(kassa_convert::constants::MIN_RAMP_DURATION);
        return Ok(PoolRow {
            address: entity,
            mint_a: p.mint_a.into(),
            mint_b: p.mint_b.into(),
            lp_mint: p.lp_mint.into(),
            reserve_a: 0,
            reserve_b: 0,
            lp_supply: 0,
            protocol_fees_a: 0,
            protocol_fees_b: 0,
            initial_amp: amp,
            target_amp: amp,
            ramp_start: no_ramp,
            ramp_stop: no_ramp,
            trade_fee_bps: i32::from(p.trade_fee_bps),
            protocol_share_bps: i32::from(p.protocol_share_bps),
            paused: false,
            swaps: 0,
            volume_a: 0,
            volume_b: 0,
            seq: 0,
        });
    }
    let mut r = row.ok_or(FoldError::NoEntity(name))?;
    match e {
        C::LiquidityAdded(l) => {
            (r.reserve_a, r.reserve_b, r.lp_supply) = (l.reserve_a, l.reserve_b, l.lp_supply);
        }
        C::LiquidityRemoved(l) => {
            (r.reserve_a, r.reserve_b, r.lp_supply) = (l.reserve_a, l.reserve_b, l.lp_supply);
        }
        C::Swapped(s) => {
            (r.reserve_a, r.reserve_b) = (s.reserve_a, s.reserve_b);
            let a_out = r.mint_a == s.mint_out;
            let (vol_in, vol_out) = if a_out {
                (&mut r.volume_b, &mut r.volume_a)
            } else {
                (&mut r.volume_a, &mut r.volume_b)
            };
            *vol_in = add(*vol_in, s.received_in, "volume")?;
            *vol_out = add(*vol_out, s.amount_out, "volume")?;
            let fees = if a_out {
                &mut r.protocol_fees_a
            } else {
                &mut r.protocol_fees_b
            };
            *fees = add(*fees, s.protocol_fee, "protocol fees")?;
            r.swaps += 1;
        }
        C::AmpRampStarted(a) => {
            r.initial_amp = seq(a.initial_amp);
            r.target_amp = seq(a.target_amp);
            r.ramp_start = a.start;
            r.ramp_stop = a.stop;
        }
        C::AmpRampStopped(a) => {
            r.initial_amp = seq(a.amp);
            r.target_amp = seq(a.amp);
            r.ramp_start = ts;
            r.ramp_stop = ts;
        }
        C::PoolSettingsChanged(p) => {
            r.paused = p.paused;
            r.trade_fee_bps = i32::from(p.trade_fee_bps);
            r.protocol_share_bps = i32::from(p.protocol_share_bps);
        }
        C::ProtocolFeesWithdrawn(w) => {
            r.protocol_fees_a = sub(r.protocol_fees_a, w.amount_a, "protocol fees")?;
            r.protocol_fees_b = sub(r.protocol_fees_b, w.amount_b, "protocol fees")?;
        }
        C::PoolCreated(_) => return Err(FoldError::Exists(name)),
    }
    Ok(r)
}
