//! Pure arithmetic of the payments program: the fee split of a capture. Checked operations
//! and rounding helpers are `kassa_common::math`'s. No account types live here.

use anchor_lang::prelude::*;
use kassa_common::{math::bps_ceil, SafeMath};

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
    let fee = bps_ceil(gross, fee_bps)?.min(gross);
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
