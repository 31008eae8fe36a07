use super::*;
use crate::math::U256;
use proptest::prelude::*;
use rust_decimal::Decimal;

const FEES: Fees = Fees {
    trade_bps: 4,
    protocol_share_bps: 5_000,
};
const NO_FEES: Fees = Fees {
    trade_bps: 0,
    protocol_share_bps: 0,
};

fn curve(amp: u64) -> Curve {
    Curve {
        amp,
        mult_in: 1,
        mult_out: 1,
    }
}

/// Reference D by Newton's method on the invariant in 96-bit decimal arithmetic, independent
/// of the integer code: f(D) = 4A·S + D − 4A·D − D³/(4xy).
/// The invariant is homogeneous of degree one in (x, y, D): the reference works in millions of
/// base units so that D³ stays inside the decimal type's range.
const SCALE: i64 = 1_000_000;

fn reference_d(amp: u64, x: u128, y: u128) -> Decimal {
    let k = Decimal::from(SCALE);
    let (a, x, y) = (
        Decimal::from(amp),
        Decimal::from(x) / k,
        Decimal::from(y) / k,
    );
    let four = Decimal::from(4);
    let s = x + y;
    let mut d = s;
    for _ in 0..200 {
        let f = four * a * s + d - four * a * d - d * d * d / (four * x * y);
        let df = Decimal::ONE - four * a - Decimal::from(3) * d * d / (four * x * y);
        let next = d - f / df;
        if (next - d).abs() < Decimal::new(1, 15) {
            return next * k;
        }
        d = next;
    }
    d * k
}

/// Reference y for given x and D: solve the invariant for y by bisection.
fn reference_y(amp: u64, x: u128, d: Decimal) -> Decimal {
    let k = Decimal::from(SCALE);
    let (a, x, d) = (Decimal::from(amp), Decimal::from(x) / k, d / k);
    let four = Decimal::from(4);
    let f = |y: Decimal| four * a * (x + y) + d - four * a * d - d * d * d / (four * x * y);
    let (mut lo, mut hi) = (Decimal::new(1, 12), d * Decimal::from(4));
    for _ in 0..200 {
        let mid = (lo + hi) / Decimal::TWO;
        if f(mid) > Decimal::ZERO {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    (lo + hi) / Decimal::TWO * k
}

#[test]
fn d_and_swaps_match_an_independent_decimal_reference() {
    // (amp, reserve x, reserve y, trade in) in base units of a 6-decimal stablecoin.
    let table: &[(u64, u64, u64, u64)] = &[
        (1, 1_000_000_000, 1_000_000_000, 10_000_000),
        (10, 1_000_000_000, 1_000_000_000, 500_000_000),
        (100, 5_000_000_000_000, 5_000_000_000_000, 1_000_000_000),
        (100, 9_000_000_000_000, 1_000_000_000_000, 2_000_000_000_000),
        (1_000, 1_000_000_000_000, 3_000_000_000_000, 750_000_000_000),
        (2_000, 123_456_789_000, 98_765_432_100, 12_345_678_900),
        (10_000, 50_000_000_000, 50_000_000_000, 49_000_000_000),
        (85, 2_500_000, 7_500_000, 1_000_000),
    ];
    for &(amp, x, y, dx) in table {
        let d = compute_d(amp, x.into(), y.into()).unwrap();
        let d_ref = reference_d(amp, x.into(), y.into());
        let err = (Decimal::from(d) - d_ref).abs();
        assert!(
            err <= Decimal::from(2),
            "D({amp},{x},{y}) = {d}, reference {d_ref}"
        );

        let swap = swap_exact_in(curve(amp), NO_FEES, x, y, dx).unwrap();
        let y_ref = reference_y(amp, u128::from(x) + u128::from(dx), d_ref);
        let dy_ref = Decimal::from(y) - y_ref;
        let out = Decimal::from(swap.amount_out);
        // The integer result never pays more than the exact curve, and at most 3 units less.
        assert!(
            out <= dy_ref.floor(),
            "amp {amp}: out {out} > reference {dy_ref}"
        );
        assert!(
            dy_ref - out <= Decimal::from(3),
            "amp {amp}: out {out} far below reference {dy_ref}"
        );
    }
}

#[test]
fn balanced_stable_pool_trades_near_par_and_a_constant_product_pool_does_not() {
    let big = 1_000_000_000_000; // 1M of a 6-decimal coin
    let s = swap_exact_in(curve(2_000), NO_FEES, big, big, 10_000_000_000).unwrap();
    assert!(
        s.amount_out > 9_999_000_000,
        "amp 2000 slippage too large: {}",
        s.amount_out
    );
    let flat = s.amount_out;
    let s = swap_exact_in(curve(1), NO_FEES, big, big, 10_000_000_000).unwrap();
    // x·y=k would give 9.90 here; A = 1 sits between it and the flat stable curve.
    assert!(
        s.amount_out < 9_970_000_000 && s.amount_out > 9_900_000_000,
        "amp 1: {}",
        s.amount_out
    );
    assert!(s.amount_out < flat);
}

#[test]
fn extremes_are_errors_not_panics() {
    assert_eq!(compute_d(100, 0, 5), Err(MathError::EmptyReserve));
    assert_eq!(compute_d(0, 5, 5), Err(MathError::InvalidAmp));
    assert_eq!(compute_d(100, 0, 0), Ok(0));
    assert_eq!(
        swap_exact_in(curve(100), FEES, 1_000, 1_000, 0),
        Err(MathError::ZeroAmount)
    );
    assert_eq!(
        swap_exact_out(curve(100), FEES, 1_000_000, 1_000_000, 1_000_000),
        Err(MathError::InsufficientLiquidity)
    );
    // Largest reserves and extreme imbalance at both amp bounds: a result or an error.
    for amp in [1, 1_000_000] {
        for (x, y) in [
            (u64::MAX / 2, u64::MAX / 2),
            (u64::MAX / 2, 1),
            (1, u64::MAX / 2),
        ] {
            let _ = swap_exact_in(curve(amp), FEES, x, y, u64::MAX / 4);
            let _ = swap_exact_out(curve(amp), FEES, x, y, y / 2);
        }
    }
    // 6- and 9-decimal coins together, at the largest multiplier allowed.
    // One coin of the 6-decimal mint buys about one coin of the 9-decimal mint.
    let c = Curve {
        amp: 100,
        mult_in: 1_000,
        mult_out: 1,
    };
    let s = swap_exact_in(
        c,
        NO_FEES,
        1_000_000_000_000,
        1_000_000_000_000_000,
        1_000_000,
    )
    .unwrap();
    assert!(
        (999_000_000..=1_000_000_000).contains(&s.amount_out),
        "{}",
        s.amount_out
    );
}

#[test]
fn ramp_is_linear_and_clamped() {
    assert_eq!(ramped_amp(100, 200, 1_000, 2_000, 500), 100);
    assert_eq!(ramped_amp(100, 200, 1_000, 2_000, 1_500), 150);
    assert_eq!(ramped_amp(100, 200, 1_000, 2_000, 9_000), 200);
    assert_eq!(ramped_amp(200, 100, 1_000, 2_000, 1_250), 175);
}

#[test]
fn first_deposit_mints_d_and_later_ones_pay_for_imbalance() {
    let first = deposit(100, 1, 1, 4, 0, 0, 1_000_000, 1_000_000, 0).unwrap();
    assert_eq!(first.lp, 2_000_000);
    assert_eq!(
        deposit(100, 1, 1, 4, 0, 0, 1_000_000, 0, 0),
        Err(MathError::EmptyReserve)
    );
    let balanced = deposit(
        100, 1, 1, 4, 1_000_000, 1_000_000, 500_000, 500_000, 2_000_000,
    )
    .unwrap();
    let one_sided = deposit(100, 1, 1, 4, 1_000_000, 1_000_000, 1_000_000, 0, 2_000_000).unwrap();
    assert_eq!(balanced.lp, 1_000_000);
    assert!(one_sided.lp < balanced.lp);
}

fn pool() -> impl Strategy<Value = (u64, u64, u64)> {
    (
        1u64..=1_000_000,
        1_000u64..1_000_000_000_000_000,
        1_000u64..1_000_000_000_000_000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3_000))]

    #[test]
    fn d_never_decreases_across_a_swap((amp, x, y) in pool(), dx in 1u64..1_000_000_000_000_000, fee in 0u16..=100) {
        let fees = Fees { trade_bps: fee, protocol_share_bps: 5_000 };
        if let Ok(s) = swap_exact_in(curve(amp), fees, x, y, dx) {
            let d0 = compute_d(amp, x.into(), y.into()).unwrap();
            let x1 = u128::from(x) + u128::from(s.amount_in);
            let y1 = u128::from(y) - u128::from(s.out_of_reserve().unwrap());
            let d1 = compute_d(amp, x1, y1).unwrap();
            prop_assert!(d1 >= d0, "D fell from {d0} to {d1}");
        }
    }

    #[test]
    fn round_trips_never_profit((amp, x, y) in pool(), dx in 1u64..1_000_000_000_000, fee in 0u16..=100) {
        let fees = Fees { trade_bps: fee, protocol_share_bps: 0 };
        if let Ok(there) = swap_exact_in(curve(amp), fees, x, y, dx) {
            let (x1, y1) = (x + there.amount_in, y - there.out_of_reserve().unwrap());
            if let Ok(back) = swap_exact_in(curve(amp), fees, y1, x1, there.amount_out) {
                prop_assert!(back.amount_out <= dx, "{dx} became {}", back.amount_out);
            }
        }
    }

    #[test]
    fn exact_out_never_charges_less_than_exact_in_needs((amp, x, y) in pool(), out in 1u64..1_000_000_000_000, fee in 0u16..=100) {
        let fees = Fees { trade_bps: fee, protocol_share_bps: 0 };
        if let Ok(s) = swap_exact_out(curve(amp), fees, x, y, out) {
            let check = swap_exact_in(curve(amp), fees, x, y, s.amount_in).unwrap();
            prop_assert!(check.amount_out >= out);
            if s.amount_in > 1 {
                // And the charge is tight: one unit less would not be enough by much.
                if let Ok(less) = swap_exact_in(curve(amp), fees, x, y, s.amount_in - 1) {
                    prop_assert!(less.amount_out <= out + out / 1_000 + 2);
                }
            }
        }
    }

    #[test]
    fn d_never_decreases_across_a_deposit((amp, x, y) in pool(), a in 0u64..1_000_000_000_000, b in 0u64..1_000_000_000_000) {
        let supply = 1_000_000u64;
        if let Ok(dep) = deposit(amp, 1, 1, 4, x, y, a, b, supply) {
            prop_assert!(dep.d_after >= dep.d_before);
            // Existing LPs are never diluted: D per LP token does not fall.
            let before = U256::from(dep.d_before) * U256::from(supply + dep.lp);
            let after = U256::from(dep.d_after) * U256::from(supply);
            prop_assert!(after >= before, "deposit diluted LPs");
        }
    }
}

/// A trade into extreme imbalance must not leave a pool whose invariant no longer converges
/// (every later operation on it would fail): such trades are refused instead.
#[test]
fn no_accepted_swap_leaves_a_pool_that_cannot_be_priced() {
    let fees = Fees {
        trade_bps: 4,
        protocol_share_bps: 5_000,
    };
    let mut refused = 0;
    for amp in [1u64, 2, 10, 100, 1_000, 100_000, 1_000_000] {
        for x in [
            1_000u64,
            10_000,
            1_000_000,
            1_000_000_000_000,
            999_999_999_999_999_999,
        ] {
            for y in [
                1_000u64,
                10_000,
                1_000_000,
                1_000_000_000_000,
                999_999_999_999_999_999,
            ] {
                for dx in [
                    1u64,
                    1_000,
                    1_000_000_000,
                    1_000_000_000_000_000,
                    u64::MAX / 4,
                ] {
                    match swap_exact_in(curve(amp), fees, x, y, dx) {
                        Ok(s) => {
                            let x1 = u128::from(x) + u128::from(s.amount_in);
                            let y1 = u128::from(y) - u128::from(s.out_of_reserve().unwrap());
                            assert!(
                                compute_d(amp, x1, y1).is_ok(),
                                "amp {amp} x {x} y {y} dx {dx} left an unpriceable pool"
                            );
                        }
                        Err(_) => refused += 1,
                    }
                }
            }
        }
    }
    assert!(refused > 0);
}
