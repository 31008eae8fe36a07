//! Amounts in integer minor units, and the one place where an amount changes currency.
//!
//! **Rounding rule.** A conversion multiplies the amount by the rate, takes the spread off the
//! result, and rounds to the target currency's minor unit half to even (banker's rounding), so
//! that over many conversions the rounding neither favours the treasury nor the merchant. Every
//! conversion in Kassa goes through [`convert`].

use rust_decimal::{Decimal, RoundingStrategy};

/// Why an amount cannot be converted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("the rate must be positive, got {0}")]
    Rate(Decimal),
    #[error("the spread must be below 10,000 basis points, got {0}")]
    Spread(u32),
    #[error("a currency has at most 18 decimals, got {0}")]
    Exponent(u32),
    #[error("the converted amount does not fit in 64 bits")]
    Overflow,
}

/// `amount` minor units of a currency with `from_exponent` decimals, converted at `rate` (units
/// of the target per unit of the source) less `spread_bps` basis points, in minor units of a
/// currency with `to_exponent` decimals, rounded half to even.
pub fn convert(
    amount: u64,
    from_exponent: u32,
    to_exponent: u32,
    rate: Decimal,
    spread_bps: u32,
) -> Result<u64, MoneyError> {
    if rate <= Decimal::ZERO {
        return Err(MoneyError::Rate(rate));
    }
    if spread_bps >= 10_000 {
        return Err(MoneyError::Spread(spread_bps));
    }
    for e in [from_exponent, to_exponent] {
        if e > 18 {
            return Err(MoneyError::Exponent(e));
        }
    }
    let units = Decimal::from(amount)
        .checked_div(Decimal::from(10u64.pow(from_exponent)))
        .ok_or(MoneyError::Overflow)?;
    let kept = Decimal::from(10_000 - spread_bps) / Decimal::from(10_000u32);
    let target = units
        .checked_mul(rate)
        .and_then(|v| v.checked_mul(kept))
        .and_then(|v| v.checked_mul(Decimal::from(10u64.pow(to_exponent))))
        .ok_or(MoneyError::Overflow)?
        .round_dp_with_strategy(0, RoundingStrategy::MidpointNearestEven);
    u64::try_from(target).map_err(|_| MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounds_half_to_even_after_the_spread() {
        // 1.00 USDC (6 decimals) at 0.92 EUR less 0 bps = 0.92 EUR (2 decimals).
        assert_eq!(convert(1_000_000, 6, 2, d("0.92"), 0), Ok(92));
        // 0.125 → 0.12 and 0.135 → 0.14: half to even.
        assert_eq!(convert(125_000, 6, 2, d("1"), 0), Ok(12));
        assert_eq!(convert(135_000, 6, 2, d("1"), 0), Ok(14));
        // 100.00 at 1.0 less 50 bps = 99.50.
        assert_eq!(convert(100_000_000, 6, 2, d("1"), 50), Ok(9_950));
    }

    #[test]
    fn refuses_what_it_cannot_convert() {
        assert_eq!(convert(1, 6, 2, d("0"), 0), Err(MoneyError::Rate(d("0"))));
        assert_eq!(
            convert(1, 6, 2, d("1"), 10_000),
            Err(MoneyError::Spread(10_000))
        );
        assert_eq!(convert(1, 19, 2, d("1"), 0), Err(MoneyError::Exponent(19)));
        assert_eq!(
            convert(u64::MAX, 0, 6, d("1000"), 0),
            Err(MoneyError::Overflow)
        );
    }
}
