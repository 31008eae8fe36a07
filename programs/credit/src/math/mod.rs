//! Pure arithmetic of the credit program. Interest is exact: it accrues in raw units of
//! `token base unit × bps × second` (u128, no division), and becomes tokens only when
//! recognised, by `floor(raw / RAW_PER_TOKEN)` for the pool and `ceil` for what a line owes,
//! so a line never owes less than the pool booked for it. Every rounding favours the pool.

use crate::error::CreditError;
use anchor_lang::prelude::*;
pub use kassa_common::math::mul_div_floor;
use kassa_common::{
    math::{overflow, to_u64},
    SafeMath,
};

pub const BPS: u64 = 10_000;
pub const YEAR_SECONDS: u64 = 31_536_000;
/// Raw interest units in one token base unit: 100 % APR (10,000 bps) for one year.
pub const RAW_PER_TOKEN: u128 = (BPS as u128) * (YEAR_SECONDS as u128);

/// `principal × apr_bps` per second, in raw units.
pub fn raw_rate(principal: u64, apr_bps: u16) -> u128 {
    // u64 × u16 always fits in u128.
    u128::from(principal).saturating_mul(u128::from(apr_bps))
}

/// Raw interest of `rate` over `seconds` (negative durations accrue nothing).
pub fn raw_over(rate: u128, seconds: i64) -> Result<u128> {
    let dt = u128::try_from(seconds.max(0)).map_err(|_| overflow())?;
    rate.safe_mul(dt)
}

pub fn tokens_floor(raw: u128) -> Result<u64> {
    to_u64(raw / RAW_PER_TOKEN)
}

pub fn tokens_ceil(raw: u128) -> Result<u64> {
    to_u64(raw.div_ceil(RAW_PER_TOKEN))
}

/// Shares minted for `amount` into a tranche worth `value` with `supply` shares, rounded down
/// (against the depositor). The first deposit (no shares) mints one share per base unit.
pub fn shares_for_deposit(amount: u64, value: u64, supply: u64) -> Result<u64> {
    if supply == 0 {
        return Ok(amount);
    }
    if value == 0 {
        return err!(CreditError::TrancheWipedOut);
    }
    // A tranche worth far less than its shares (after losses) prices a large deposit beyond
    // what a share count can hold: refused by name, never minted wrongly.
    // u64 × u64 always fits in u128; `value` is not 0.
    let shares = u128::from(amount)
        .saturating_mul(u128::from(supply))
        .checked_div(u128::from(value))
        .unwrap_or(u128::MAX);
    u64::try_from(shares).map_err(|_| error!(CreditError::DepositExceedsShareCapacity))
}

/// Value of `shares` of a tranche, rounded down (against the redeemer).
pub fn value_of_shares(shares: u64, value: u64, supply: u64) -> Result<u64> {
    if supply == 0 {
        return Ok(0);
    }
    mul_div_floor(shares, value, supply)
}

/// Whether `senior ≤ junior × cap_bps / 10,000`, exactly.
pub fn senior_within_cap(senior: u64, junior: u64, cap_bps: u32) -> bool {
    // Both products fit in u128.
    u128::from(senior).saturating_mul(u128::from(BPS))
        <= u128::from(junior).saturating_mul(u128::from(cap_bps))
}

/// How income is shared: fees first (rounded down), the senior tranche's target yield on its
/// value for the elapsed time (rounded down) as far as the rest allows, the junior tranche the
/// remainder. The four parts always sum to `income`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IncomeSplit {
    pub protocol: u64,
    pub admin: u64,
    pub senior: u64,
    pub junior: u64,
}

pub fn split_income(
    income: u64,
    protocol_bps: u16,
    admin_bps: u16,
    senior_value: u64,
    senior_apr_bps: u16,
    seconds: i64,
) -> Result<IncomeSplit> {
    let protocol = mul_div_floor(income, u64::from(protocol_bps), BPS)?;
    let admin = mul_div_floor(income, u64::from(admin_bps), BPS)?;
    let rest = income.safe_sub(protocol.safe_add(admin)?)?;
    let senior_due = tokens_floor(raw_over(raw_rate(senior_value, senior_apr_bps), seconds)?)?;
    let senior = rest.min(senior_due);
    Ok(IncomeSplit {
        protocol,
        admin,
        senior,
        junior: rest.safe_sub(senior)?,
    })
}

/// A loss taken by the junior tranche first, then the senior. Returns (from junior, from
/// senior); a loss larger than both tranches is an accounting error.
pub fn loss_split(loss: u64, junior: u64, senior: u64) -> Result<(u64, u64)> {
    let from_junior = loss.min(junior);
    let from_senior = loss.safe_sub(from_junior)?;
    require!(from_senior <= senior, CreditError::InvariantViolated);
    Ok((from_junior, from_senior))
}

/// An epoch end serving `pending` shares of a tranche worth `value` with `supply` shares, with
/// at most `cash` to pay: all of them when the cash suffices, otherwise the pro-rata share
/// `floor(pending × cash / worth)`. Returns (served shares, paid), both rounded down, so the
/// payout never exceeds `cash` and never exceeds what the served shares are worth.
pub fn serve(pending: u64, value: u64, supply: u64, cash: u64) -> Result<(u64, u64)> {
    if pending == 0 || supply == 0 {
        return Ok((0, 0));
    }
    let worth = mul_div_floor(pending, value, supply)?;
    if worth <= cash {
        return Ok((pending, worth));
    }
    let served = mul_div_floor(pending, cash, worth)?;
    Ok((served, mul_div_floor(served, value, supply)?))
}

/// The most a junior redemption may pay so that `senior ≤ (junior − payout) × cap / 10,000`.
pub fn junior_redeemable(senior: u64, junior: u64, cap_bps: u32) -> Result<u64> {
    if senior == 0 {
        return Ok(junior);
    }
    if cap_bps == 0 {
        return Ok(0);
    }
    // The junior value the cap needs: ceil(senior × 10,000 / cap).
    let needed = u128::from(senior)
        .saturating_mul(u128::from(BPS))
        .div_ceil(u128::from(cap_bps));
    let needed = to_u64(needed)?;
    Ok(junior.saturating_sub(needed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_year_at_ten_percent_is_a_tenth() {
        let raw = raw_over(raw_rate(1_000_000, 1_000), YEAR_SECONDS as i64).unwrap();
        assert_eq!(tokens_floor(raw).unwrap(), 100_000);
        assert_eq!(tokens_ceil(raw).unwrap(), 100_000);
        let raw = raw_over(raw_rate(1_000_000, 1_000), 1).unwrap();
        assert_eq!(
            (tokens_floor(raw).unwrap(), tokens_ceil(raw).unwrap()),
            (0, 1)
        );
    }

    #[test]
    fn deposits_round_against_the_depositor_and_wiped_tranches_refuse() {
        assert_eq!(shares_for_deposit(100, 0, 0).unwrap(), 100);
        assert_eq!(shares_for_deposit(100, 300, 200).unwrap(), 66);
        assert!(shares_for_deposit(100, 0, 200).is_err());
        assert_eq!(value_of_shares(66, 300, 200).unwrap(), 99);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3_000))]

        #[test]
        fn income_parts_sum_to_income(
            income in 0u64..u64::MAX / 20_000,
            p in 0u16..=2_000, a in 0u16..=2_000,
            senior in 0u64..u64::MAX / 20_000, apr in 0u16..=5_000, dt in 0i64..100_000_000,
        ) {
            let s = split_income(income, p, a, senior, apr, dt).unwrap();
            prop_assert_eq!(s.protocol + s.admin + s.senior + s.junior, income);
            prop_assert!(s.senior <= tokens_floor(raw_over(raw_rate(senior, apr), dt).unwrap()).unwrap());
        }

        #[test]
        fn sum_of_line_ceilings_covers_the_pool_floor(raws in proptest::collection::vec(0u128..10u128.pow(24), 1..20)) {
            let pool = tokens_floor(raws.iter().sum()).unwrap();
            let lines: u64 = raws.iter().map(|r| tokens_ceil(*r).unwrap()).sum();
            prop_assert!(lines >= pool);
            prop_assert!(lines - pool <= raws.len() as u64);
        }

        #[test]
        fn a_deposit_never_dilutes_existing_holders(amount in 1u64..1u64 << 50, value in 1u64..1u64 << 50, supply in 1u64..1u64 << 50) {
            // A tranche worth far less than its shares can price a deposit beyond u64 shares:
            // refused as an overflow, never minted wrongly.
            let Ok(minted) = shares_for_deposit(amount, value, supply) else {
                prop_assert_eq!(
                    shares_for_deposit(amount, value, supply).unwrap_err(),
                    error!(CreditError::DepositExceedsShareCapacity)
                );
                prop_assert!(u128::from(amount) * u128::from(supply) / u128::from(value) > u128::from(u64::MAX));
                return Ok(());
            };
            // Value per share after >= before: (value + amount) / (supply + minted) >= value / supply.
            prop_assert!(u128::from(value + amount) * u128::from(supply) >= u128::from(value) * u128::from(supply + minted));
        }

        #[test]
        fn serving_never_pays_more_than_cash_or_worth(pending in 0u64..1u64 << 40, value in 0u64..1u64 << 50, supply in 1u64..1u64 << 50, cash in 0u64..1u64 << 50) {
            let pending = pending.min(supply);
            let (served, paid) = serve(pending, value, supply, cash).unwrap();
            prop_assert!(served <= pending && paid <= cash);
            prop_assert!(u128::from(paid) * u128::from(supply) <= u128::from(served) * u128::from(value));
        }

        #[test]
        fn junior_redemptions_keep_the_senior_cap(senior in 0u64..1u64 << 50, junior in 0u64..1u64 << 50, cap in 1u32..1_000_000) {
            let p = junior_redeemable(senior, junior, cap).unwrap();
            prop_assert!(p <= junior);
            if p > 0 {
                prop_assert!(senior_within_cap(senior, junior - p, cap));
            }
        }

        #[test]
        fn losses_hit_junior_first(loss in 0u64..1u64 << 60, junior in 0u64..1u64 << 60, senior in 0u64..1u64 << 60) {
            match loss_split(loss, junior, senior) {
                Ok((j, s)) => {
                    prop_assert_eq!(j + s, loss);
                    prop_assert!(s == 0 || j == junior);
                }
                Err(_) => prop_assert!(loss > junior + senior),
            }
        }
    }
}
