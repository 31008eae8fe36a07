//! Pure arithmetic of the payments program: checked operations that report where they
//! overflowed, and the fee split of a capture. No account types live here.

use crate::{constants::BPS_DENOMINATOR, error::PaymentsError};
use anchor_lang::prelude::*;

/// Checked arithmetic that names the call site when it fails.
pub trait SafeMath: Sized {
    /// `self + rhs`, or [`PaymentsError::ArithmeticOverflow`].
    fn safe_add(self, rhs: Self) -> Result<Self>;
    /// `self - rhs`, or [`PaymentsError::ArithmeticOverflow`].
    fn safe_sub(self, rhs: Self) -> Result<Self>;
}

macro_rules! impl_safe_math {
    ($($t:ty),*) => {$(
        impl SafeMath for $t {
            #[track_caller]
            fn safe_add(self, rhs: Self) -> Result<Self> {
                self.checked_add(rhs).ok_or_else(|| overflow(std::panic::Location::caller()))
            }
            #[track_caller]
            fn safe_sub(self, rhs: Self) -> Result<Self> {
                self.checked_sub(rhs).ok_or_else(|| overflow(std::panic::Location::caller()))
            }
        }
    )*};
}
impl_safe_math!(u64, i64, u128);

fn overflow(at: &std::panic::Location<'_>) -> Error {
    msg!("arithmetic overflow at {}:{}", at.file(), at.line());
    PaymentsError::ArithmeticOverflow.into()
}

/// Protocol fee on `amount` at `bps`, rounded up so the protocol never undercharges.
pub fn fee_bps_ceil(amount: u64, bps: u16) -> Result<u64> {
    let numerator = u128::from(amount)
        .checked_mul(u128::from(bps))
        .ok_or(PaymentsError::ArithmeticOverflow)?;
    let fee = numerator.div_ceil(u128::from(BPS_DENOMINATOR));
    u64::try_from(fee).map_err(|_| PaymentsError::ArithmeticOverflow.into())
}

/// Where the escrowed funds of one capture go, in token base units of the payment's mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CaptureSplit {
    /// Protocol fee, paid to the fee receiver.
    pub fee: u64,
    /// Paid to the receivable assignee (first, up to what it is still owed).
    pub to_assignee: u64,
    /// Paid to the merchant's settlement wallet.
    pub to_merchant: u64,
}

/// Splits a gross capture: the protocol fee comes off the top (rounded up), the assignee is paid
/// next up to `assignee_outstanding`, the merchant receives the rest. The parts always sum to
/// `gross`.
pub fn split_capture(gross: u64, fee_bps: u16, assignee_outstanding: u64) -> Result<CaptureSplit> {
    let fee = fee_bps_ceil(gross, fee_bps)?.min(gross);
    let net = gross.safe_sub(fee)?;
    let to_assignee = net.min(assignee_outstanding);
    let to_merchant = net.safe_sub(to_assignee)?;
    Ok(CaptureSplit {
        fee,
        to_assignee,
        to_merchant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn fee_rounds_up_in_the_protocols_favour() {
        assert_eq!(fee_bps_ceil(10_000, 30).unwrap(), 30);
        assert_eq!(fee_bps_ceil(1, 30).unwrap(), 1);
        assert_eq!(fee_bps_ceil(0, 30).unwrap(), 0);
        assert_eq!(fee_bps_ceil(333, 0).unwrap(), 0);
        assert_eq!(fee_bps_ceil(u64::MAX, 1_000).unwrap(), u64::MAX / 10 + 1);
    }

    #[test]
    fn assignee_is_paid_before_the_merchant() {
        let split = split_capture(1_000_000, 100, 500_000).unwrap();
        assert_eq!(
            split,
            CaptureSplit {
                fee: 10_000,
                to_assignee: 500_000,
                to_merchant: 490_000
            }
        );
        let split = split_capture(1_000_000, 100, 2_000_000).unwrap();
        assert_eq!(split.to_assignee, 990_000);
        assert_eq!(split.to_merchant, 0);
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        assert!(u64::MAX.safe_add(1).is_err());
        assert!(0u64.safe_sub(1).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4_000))]
        #[test]
        fn split_conserves_every_unit(gross in any::<u64>(), bps in 0u16..=1_000, owed in any::<u64>()) {
            let s = split_capture(gross, bps, owed).unwrap();
            prop_assert_eq!(u128::from(s.fee) + u128::from(s.to_assignee) + u128::from(s.to_merchant), u128::from(gross));
            prop_assert!(s.to_assignee <= owed);
            // The fee is never below the exact proportional fee.
            prop_assert!(u128::from(s.fee) * 10_000 >= u128::from(gross) * u128::from(bps));
            // And never more than one unit above it.
            prop_assert!(u128::from(s.fee) * 10_000 < u128::from(gross) * u128::from(bps) + 10_000);
        }
    }
}
