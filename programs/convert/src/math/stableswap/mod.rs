//! The StableSwap invariant (Curve/Saber) for two coins, in integers.
//!
//! With `n = 2`, amplification `A` and balances `x, y` normalized to a common precision,
//! `D` solves `A·n^n·(x + y) + D = A·D·n^n + D^(n+1) / (n^n·x·y)`. `D` and the balance that
//! keeps `D` after a trade are found by Newton's method in 256-bit integers, at most
//! [`MAX_ITERATIONS`] steps. Every trade rounds in the pool's favour: payouts down, charges up.

use super::{fee_ceil, fee_floor, MathError, U256};

/// Newton steps before giving up (convergence takes a handful in practice).
pub const MAX_ITERATIONS: usize = 255;
/// Coins in a pool.
const N: u64 = 2;

/// `D` for normalized balances `x`, `y` at amplification `amp`.
pub fn compute_d(amp: u64, x: u128, y: u128) -> Result<u128, MathError> {
    if x == 0 && y == 0 {
        return Ok(0);
    }
    if x == 0 || y == 0 {
        return Err(MathError::EmptyReserve);
    }
    if amp == 0 {
        return Err(MathError::InvalidAmp);
    }
    let (xu, yu) = (U256::from(x), U256::from(y));
    let s = add(xu, yu)?;
    let ann = U256::from(amp) * U256::from(N * N);
    let n = U256::from(N);
    let mut d = s;
    for _ in 0..MAX_ITERATIONS {
        // d_p = D^3 / (n^n · x · y), built in steps to stay in range.
        let d_p = mul(mul(d, d)? / (xu * n), d)? / (yu * n);
        let previous = d;
        let numerator = mul(add(mul(ann, s)?, mul(d_p, n)?)?, d)?;
        let denominator = add(mul(ann - U256::one(), d)?, mul(n + U256::one(), d_p)?)?;
        if denominator.is_zero() {
            return Err(MathError::Overflow);
        }
        d = numerator / denominator;
        if diff(d, previous) <= U256::one() {
            return to_u128(d);
        }
    }
    Err(MathError::NoConvergence)
}

/// The other balance `y` such that `(x, y)` has invariant `d`, rounded up (so that what the
/// pool pays out, `y_before - y`, rounds down).
pub fn compute_y(amp: u64, x: u128, d: u128) -> Result<u128, MathError> {
    if x == 0 {
        return Err(MathError::EmptyReserve);
    }
    if amp == 0 {
        return Err(MathError::InvalidAmp);
    }
    let (xu, du) = (U256::from(x), U256::from(d));
    let n = U256::from(N);
    let ann = U256::from(amp) * U256::from(N * N);
    // y² + (b − D)·y = c, with c = D^3 / (n^n·x·Ann) and b = x + D/Ann.
    let c = mul(mul(du, du)? / (xu * n), du)? / (ann * n);
    let b = add(xu, du / ann)?;
    let mut y = du;
    for _ in 0..MAX_ITERATIONS {
        let previous = y;
        let denominator = add(mul(y, n)?, b)?;
        if denominator <= du {
            return Err(MathError::NoConvergence);
        }
        y = add(mul(y, y)?, c)? / (denominator - du);
        if diff(y, previous) <= U256::one() {
            return to_u128(add(y, U256::one())?);
        }
    }
    Err(MathError::NoConvergence)
}

fn mul(a: U256, b: U256) -> Result<U256, MathError> {
    a.checked_mul(b).ok_or(MathError::Overflow)
}

fn add(a: U256, b: U256) -> Result<U256, MathError> {
    a.checked_add(b).ok_or(MathError::Overflow)
}

fn diff(a: U256, b: U256) -> U256 {
    if a > b {
        a - b
    } else {
        b - a
    }
}

fn to_u128(v: U256) -> Result<u128, MathError> {
    if v > U256::from(u128::MAX) {
        Err(MathError::Overflow)
    } else {
        Ok(v.as_u128())
    }
}

/// A pool's curve at one moment: amplification and the multipliers that bring both mints to
/// the precision of the one with more decimals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Curve {
    pub amp: u64,
    pub mult_in: u64,
    pub mult_out: u64,
}

/// Trade fee and the protocol's share of it, both in basis points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fees {
    pub trade_bps: u16,
    pub protocol_share_bps: u16,
}

/// The outcome of a swap, in base units of each mint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Swap {
    /// Taken from the trader (input mint).
    pub amount_in: u64,
    /// Paid to the trader (output mint).
    pub amount_out: u64,
    /// Trade fee (output mint); the LP part stays in the pool's reserve.
    pub fee: u64,
    /// Protocol's part of `fee`, moved out of the LP reserve.
    pub protocol_fee: u64,
}

impl Swap {
    /// How much leaves the output reserve: the payout plus the protocol's fee.
    pub fn out_of_reserve(&self) -> Result<u64, MathError> {
        self.amount_out
            .checked_add(self.protocol_fee)
            .ok_or(MathError::Overflow)
    }
}

fn norm(amount: u64, mult: u64) -> Result<u128, MathError> {
    u128::from(amount)
        .checked_mul(u128::from(mult))
        .ok_or(MathError::Overflow)
}

/// Exact input: what `amount_in` buys, after the trade fee.
pub fn swap_exact_in(
    curve: Curve,
    fees: Fees,
    reserve_in: u64,
    reserve_out: u64,
    amount_in: u64,
) -> Result<Swap, MathError> {
    if amount_in == 0 {
        return Err(MathError::ZeroAmount);
    }
    let x = norm(reserve_in, curve.mult_in)?;
    let y = norm(reserve_out, curve.mult_out)?;
    let d = compute_d(curve.amp, x, y)?;
    let x_after = x
        .checked_add(norm(amount_in, curve.mult_in)?)
        .ok_or(MathError::Overflow)?;
    let y_after = compute_y(curve.amp, x_after, d)?;
    // One more normalized unit kept back, as Curve does, against rounding in the solver.
    let dy_norm = y.saturating_sub(y_after).saturating_sub(1);
    let dy =
        u64::try_from(dy_norm / u128::from(curve.mult_out)).map_err(|_| MathError::Overflow)?;
    let fee = fee_ceil(dy, fees.trade_bps)?;
    let amount_out = dy.checked_sub(fee).ok_or(MathError::Overflow)?;
    if amount_out == 0 {
        return Err(MathError::OutputTooSmall);
    }
    let swap = Swap {
        amount_in,
        amount_out,
        fee,
        protocol_fee: fee_floor(fee, fees.protocol_share_bps)?,
    };
    // The pool must stay in a state whose invariant converges, or every later operation on it
    // would fail: a trade that pushes it that far is refused. D never falls across a trade.
    let in_after = reserve_in
        .checked_add(amount_in)
        .ok_or(MathError::Overflow)?;
    let out_after = reserve_out
        .checked_sub(swap.out_of_reserve()?)
        .ok_or(MathError::Overflow)?;
    let d_after = compute_d(
        curve.amp,
        norm(in_after, curve.mult_in)?,
        norm(out_after, curve.mult_out)?,
    )?;
    if d_after < d {
        return Err(MathError::NoConvergence);
    }
    Ok(swap)
}

/// Exact output: the least input (rounded up) that buys `amount_out` after the trade fee.
/// The result is verified against [`swap_exact_in`], so exact-out never charges less than
/// exact-in needs for the same output.
pub fn swap_exact_out(
    curve: Curve,
    fees: Fees,
    reserve_in: u64,
    reserve_out: u64,
    amount_out: u64,
) -> Result<Swap, MathError> {
    if amount_out == 0 {
        return Err(MathError::ZeroAmount);
    }
    // Gross output before the fee: out / (1 − fee), rounded up.
    let keep = 10_000u128 - u128::from(fees.trade_bps);
    let gross = (u128::from(amount_out) * 10_000).div_ceil(keep);
    let gross = u64::try_from(gross).map_err(|_| MathError::Overflow)?;
    if gross >= reserve_out {
        return Err(MathError::InsufficientLiquidity);
    }
    let x = norm(reserve_in, curve.mult_in)?;
    let y = norm(reserve_out, curve.mult_out)?;
    let d = compute_d(curve.amp, x, y)?;
    let y_after = y
        .checked_sub(norm(gross, curve.mult_out)?)
        .and_then(|v| v.checked_sub(1))
        .ok_or(MathError::InsufficientLiquidity)?;
    let x_after = compute_y(curve.amp, y_after, d)?;
    let dx_norm = x_after
        .checked_sub(x)
        .ok_or(MathError::Overflow)?
        .checked_add(1)
        .ok_or(MathError::Overflow)?;
    let mut amount_in = u64::try_from(dx_norm.div_ceil(u128::from(curve.mult_in)))
        .map_err(|_| MathError::Overflow)?;
    // Never charge less than the exact-in path would need; a few units at most.
    for _ in 0..4 {
        match swap_exact_in(curve, fees, reserve_in, reserve_out, amount_in) {
            Ok(s) if s.amount_out >= amount_out => {
                return Ok(Swap {
                    amount_in,
                    amount_out,
                    fee: s.fee,
                    protocol_fee: s.protocol_fee,
                });
            }
            Ok(_) | Err(MathError::OutputTooSmall) => {
                amount_in = amount_in.checked_add(1).ok_or(MathError::Overflow)?;
            }
            Err(e) => return Err(e),
        }
    }
    Err(MathError::NoConvergence)
}

/// Liquidity minted for a deposit, and `D` before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deposit {
    pub lp: u64,
    pub d_before: u128,
    pub d_after: u128,
}

/// LP tokens for depositing `(a, b)` into reserves `(ra, rb)` with `supply` LP outstanding.
/// The first deposit needs both coins and mints `D` (normalized units). Later deposits pay the
/// trade fee on the part that unbalances the pool (half the fee, as Curve for two coins) and
/// mint `supply · (D₂ − D₀) / D₀`, rounded down.
#[allow(clippy::too_many_arguments)]
pub fn deposit(
    amp: u64,
    mult_a: u64,
    mult_b: u64,
    trade_bps: u16,
    ra: u64,
    rb: u64,
    a: u64,
    b: u64,
    supply: u64,
) -> Result<Deposit, MathError> {
    if a == 0 && b == 0 {
        return Err(MathError::ZeroAmount);
    }
    let x0 = norm(ra, mult_a)?;
    let y0 = norm(rb, mult_b)?;
    let x1 = x0
        .checked_add(norm(a, mult_a)?)
        .ok_or(MathError::Overflow)?;
    let y1 = y0
        .checked_add(norm(b, mult_b)?)
        .ok_or(MathError::Overflow)?;
    if supply == 0 {
        if a == 0 || b == 0 {
            return Err(MathError::EmptyReserve);
        }
        let d1 = compute_d(amp, x1, y1)?;
        let lp = u64::try_from(d1).map_err(|_| MathError::Overflow)?;
        return Ok(Deposit {
            lp,
            d_before: 0,
            d_after: d1,
        });
    }
    let d0 = compute_d(amp, x0, y0)?;
    let d1 = compute_d(amp, x1, y1)?;
    if d1 <= d0 {
        return Err(MathError::ZeroAmount);
    }
    // Imbalance fee: half the trade fee (Curve's n/(4(n−1)) for two coins), rounded up, on the
    // distance of each balance from its share of the new D.
    let fee_bps = u128::from(trade_bps);
    let charge = |old: u128, new: u128| -> Result<u128, MathError> {
        let ideal = U256::from(d1) * U256::from(old) / U256::from(d0);
        let ideal = to_u128(ideal)?;
        let diff = new.abs_diff(ideal);
        let fee = diff
            .checked_mul(fee_bps)
            .ok_or(MathError::Overflow)?
            .div_ceil(20_000);
        new.checked_sub(fee).ok_or(MathError::Overflow)
    };
    let d2 = compute_d(amp, charge(x0, x1)?, charge(y0, y1)?)?;
    if d2 <= d0 {
        return Err(MathError::ZeroAmount);
    }
    let lp = U256::from(supply) * U256::from(d2 - d0) / U256::from(d0);
    let lp = u64::try_from(to_u128(lp)?).map_err(|_| MathError::Overflow)?;
    Ok(Deposit {
        lp,
        d_before: d0,
        d_after: d1,
    })
}

/// Proportional withdrawal of `lp` out of `supply`: each reserve's share, rounded down.
pub fn withdraw(ra: u64, rb: u64, lp: u64, supply: u64) -> Result<(u64, u64), MathError> {
    if lp == 0 {
        return Err(MathError::ZeroAmount);
    }
    if lp > supply || supply == 0 {
        return Err(MathError::InsufficientLiquidity);
    }
    let share = |r: u64| -> u64 {
        // r·lp/supply ≤ r because lp ≤ supply, so it fits in u64.
        (u128::from(r) * u128::from(lp) / u128::from(supply)) as u64
    };
    Ok((share(ra), share(rb)))
}

/// Amplification at `now` while ramping linearly from `(initial, start)` to `(target, stop)`.
pub fn ramped_amp(initial: u64, target: u64, start: i64, stop: i64, now: i64) -> u64 {
    if now >= stop || stop <= start {
        return target;
    }
    if now <= start {
        return initial;
    }
    let elapsed = i128::from(now) - i128::from(start);
    let duration = i128::from(stop) - i128::from(start);
    let delta = i128::from(target) - i128::from(initial);
    // |delta·elapsed/duration| ≤ |delta|, so the result lies between initial and target.
    (i128::from(initial) + delta * elapsed / duration) as u64
}

#[cfg(test)]
mod tests;
