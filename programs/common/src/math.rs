//! Checked arithmetic for money: every operation either gives the exact result or fails with
//! `ArithmeticOverflow` (code 6000 in every Kassa program) after logging the file and line of
//! the caller, so an overflow in a deployed program says where it happened. Proportional
//! amounts name their rounding direction, and each program rounds in its own favour.

use anchor_lang::{
    error::{AnchorError, Error, ErrorOrigin, Source},
    prelude::*,
};
use std::panic::Location;

/// The error code every Kassa program gives `ArithmeticOverflow` (its error enum's first
/// variant, so Anchor's offset of 6000 plus 0).
pub const ARITHMETIC_OVERFLOW: u32 = anchor_lang::error::ERROR_CODE_OFFSET;

/// The `ArithmeticOverflow` error, with the caller's file and line as its origin.
#[track_caller]
pub fn overflow() -> Error {
    let at = Location::caller();
    Error::from(AnchorError {
        error_name: "ArithmeticOverflow".to_string(),
        error_code_number: ARITHMETIC_OVERFLOW,
        error_msg: "arithmetic overflow".to_string(),
        error_origin: Some(ErrorOrigin::Source(Source {
            filename: at.file(),
            line: at.line(),
        })),
        compared_values: None,
    })
}

/// Checked arithmetic that reports where it failed: the location logged is the caller's (the
/// error is built directly in each `#[track_caller]` function, never in a closure, which would
/// report the closure's own location instead).
pub trait SafeMath: Sized {
    /// `self + rhs`.
    fn safe_add(self, rhs: Self) -> Result<Self>;
    /// `self - rhs`.
    fn safe_sub(self, rhs: Self) -> Result<Self>;
    /// `self × rhs`.
    fn safe_mul(self, rhs: Self) -> Result<Self>;
    /// `self / rhs`, rounded towards zero; dividing by zero is an error.
    fn safe_div(self, rhs: Self) -> Result<Self>;
}

macro_rules! impl_safe_math {
    ($($t:ty),*) => {$(
        impl SafeMath for $t {
            #[track_caller]
            fn safe_add(self, rhs: Self) -> Result<Self> {
                match self.checked_add(rhs) {
                    Some(v) => Ok(v),
                    None => Err(overflow()),
                }
            }
            #[track_caller]
            fn safe_sub(self, rhs: Self) -> Result<Self> {
                match self.checked_sub(rhs) {
                    Some(v) => Ok(v),
                    None => Err(overflow()),
                }
            }
            #[track_caller]
            fn safe_mul(self, rhs: Self) -> Result<Self> {
                match self.checked_mul(rhs) {
                    Some(v) => Ok(v),
                    None => Err(overflow()),
                }
            }
            #[track_caller]
            fn safe_div(self, rhs: Self) -> Result<Self> {
                match self.checked_div(rhs) {
                    Some(v) => Ok(v),
                    None => Err(overflow()),
                }
            }
        }
    )*};
}
impl_safe_math!(u16, u32, u64, i64, u128);

/// `x` as a u64, or an overflow.
#[track_caller]
pub fn to_u64(x: u128) -> Result<u64> {
    match u64::try_from(x) {
        Ok(v) => Ok(v),
        Err(_) => Err(overflow()),
    }
}

/// `floor(a × b / c)`, computed in u128 (`a × b` always fits).
#[track_caller]
pub fn mul_div_floor(a: u64, b: u64, c: u64) -> Result<u64> {
    let product = u128::from(a).safe_mul(u128::from(b))?;
    to_u64(product.safe_div(u128::from(c))?)
}

/// `ceil(a × b / c)`, computed in u128 (`a × b` always fits).
#[track_caller]
pub fn mul_div_ceil(a: u64, b: u64, c: u64) -> Result<u64> {
    if c == 0 {
        return Err(overflow());
    }
    let product = u128::from(a).safe_mul(u128::from(b))?;
    to_u64(product.div_ceil(u128::from(c)))
}

/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;

/// `amount × bps / 10,000` rounded up: a fee the protocol charges never falls short.
#[track_caller]
pub fn bps_ceil(amount: u64, bps: u16) -> Result<u64> {
    mul_div_ceil(amount, u64::from(bps), BPS_DENOMINATOR)
}

/// `amount × bps / 10,000` rounded down: a share the protocol pays out never runs over.
#[track_caller]
pub fn bps_floor(amount: u64, bps: u16) -> Result<u64> {
    mul_div_floor(amount, u64::from(bps), BPS_DENOMINATOR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(e: Error) -> u32 {
        match e {
            Error::AnchorError(a) => a.error_code_number,
            Error::ProgramError(_) => panic!("not an Anchor error"),
        }
    }

    #[test]
    fn overflow_is_code_6000_and_names_the_caller() {
        let e = u64::MAX.safe_add(1).unwrap_err();
        let Error::AnchorError(a) = &e else {
            panic!("not an Anchor error")
        };
        assert_eq!(a.error_code_number, 6000);
        assert_eq!(a.error_name, "ArithmeticOverflow");
        match &a.error_origin {
            Some(ErrorOrigin::Source(s)) => assert!(s.filename.ends_with("math.rs")),
            other => panic!("origin {other:?}"),
        }
        assert_eq!(code(0u64.safe_sub(1).unwrap_err()), 6000);
        assert_eq!(code(1u64.safe_div(0).unwrap_err()), 6000);
        assert_eq!(code(to_u64(u128::from(u64::MAX) + 1).unwrap_err()), 6000);
    }

    #[test]
    fn rounding_goes_the_named_way() {
        assert_eq!(bps_ceil(10_000, 30).unwrap(), 30);
        assert_eq!(bps_ceil(1, 30).unwrap(), 1);
        assert_eq!(bps_floor(1, 30).unwrap(), 0);
        assert_eq!(bps_ceil(u64::MAX, 1_000).unwrap(), u64::MAX / 10 + 1);
        assert_eq!(mul_div_floor(7, 3, 2).unwrap(), 10);
        assert_eq!(mul_div_ceil(7, 3, 2).unwrap(), 11);
        assert!(mul_div_floor(1, 1, 0).is_err());
        assert!(mul_div_ceil(1, 1, 0).is_err());
    }

    proptest! {
        #[test]
        fn floor_and_ceil_bracket_the_exact_quotient(a in any::<u64>(), b in any::<u64>(), c in 1u64..) {
            let exact = u128::from(a) * u128::from(b);
            if let (Ok(lo), Ok(hi)) = (mul_div_floor(a, b, c), mul_div_ceil(a, b, c)) {
                prop_assert!(u128::from(lo) * u128::from(c) <= exact);
                prop_assert!(u128::from(hi) * u128::from(c) >= exact);
                prop_assert!(hi - lo <= 1);
            } else {
                prop_assert!(exact / u128::from(c) > u128::from(u64::MAX) - 1);
            }
        }
    }
}
