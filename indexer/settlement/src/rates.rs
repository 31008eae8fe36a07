//! Where conversion rates come from. A [`RateSource`] answers the rate of a currency pair on a
//! day; [`FileRates`], the default that the demo and the tests use, reads them from a CSV file
//! of daily rates (a treasury desk's export, or a central bank's reference rates saved as
//! such). A missing rate is an error, never yesterday's rate silently reused: a payout is
//! converted at the rate of the day it is cut, or not at all.
//!
//! The file: a header `date,base,quote,rate`, then one line per day and pair, e.g.
//! `2026-11-30,USDC,EUR,0.9231` (one USDC is 0.9231 EUR). Blank lines and lines starting with
//! `#` are skipped. Rates are exact decimals (`rust_decimal`), positive.

use rust_decimal::Decimal;
use std::{collections::HashMap, path::Path, str::FromStr};
use time::{macros::format_description, Date};

/// Why there is no rate.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RateError {
    #[error("no {base}/{quote} rate for {day}")]
    Missing {
        base: String,
        quote: String,
        day: Date,
    },
    #[error("rates file line {line}: {why}")]
    Malformed { line: usize, why: String },
    #[error("rates file: {0}")]
    Io(String),
}

/// A source of daily conversion rates.
pub trait RateSource: Send + Sync {
    /// Units of `quote` per unit of `base` on `day`.
    fn rate(&self, base: &str, quote: &str, day: Date) -> Result<Decimal, RateError>;
}

/// Daily rates read from a CSV file (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileRates {
    rates: HashMap<(Date, String, String), Decimal>,
}

impl FileRates {
    pub fn load(path: &Path) -> Result<Self, RateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| RateError::Io(format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Self, RateError> {
        let mut rates = HashMap::new();
        let mut header = false;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let bad = |why: String| RateError::Malformed { line, why };
            let l = raw.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            if !header {
                if l.replace(' ', "") != "date,base,quote,rate" {
                    return Err(bad(format!(
                        "the header must be date,base,quote,rate, got {l:?}"
                    )));
                }
                header = true;
                continue;
            }
            let fields: Vec<&str> = l.split(',').map(str::trim).collect();
            let [date, base, quote, rate] = fields[..] else {
                return Err(bad(format!("4 fields expected, got {}", fields.len())));
            };
            let day = Date::parse(date, format_description!("[year]-[month]-[day]"))
                .map_err(|_| bad(format!("{date:?} is not a date (YYYY-MM-DD)")))?;
            for code in [base, quote] {
                let ok = (3..=10).contains(&code.len())
                    && code.starts_with(|c: char| c.is_ascii_uppercase())
                    && code
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
                if !ok {
                    return Err(bad(format!("{code:?} is not a currency code")));
                }
            }
            if base == quote {
                return Err(bad(format!(
                    "{base}/{quote} converts a currency into itself"
                )));
            }
            let rate = Decimal::from_str(rate)
                .map_err(|_| bad(format!("{rate:?} is not a decimal number")))?;
            if rate <= Decimal::ZERO {
                return Err(bad(format!("the rate must be positive, got {rate}")));
            }
            if rates
                .insert((day, base.to_string(), quote.to_string()), rate)
                .is_some()
            {
                return Err(bad(format!("a second {base}/{quote} rate for {day}")));
            }
        }
        if !header {
            return Err(RateError::Malformed {
                line: 1,
                why: "the file is empty (a header date,base,quote,rate is expected)".into(),
            });
        }
        Ok(Self { rates })
    }
}

impl RateSource for FileRates {
    fn rate(&self, base: &str, quote: &str, day: Date) -> Result<Decimal, RateError> {
        self.rates
            .get(&(day, base.to_string(), quote.to_string()))
            .copied()
            .ok_or_else(|| RateError::Missing {
                base: base.to_string(),
                quote: quote.to_string(),
                day,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn reads_daily_rates_and_refuses_a_missing_day() {
        let rates = FileRates::parse(
            "# reference rates\ndate,base,quote,rate\n2026-11-30,USDC,EUR,0.9231\n\n2026-12-01,USDC,EUR,0.9240\n2026-11-30,USDT,EUR,0.9228\n",
        )
        .unwrap();
        assert_eq!(
            rates.rate("USDC", "EUR", date!(2026 - 11 - 30)),
            Ok(Decimal::from_str("0.9231").unwrap())
        );
        assert_eq!(
            rates.rate("USDC", "EUR", date!(2026 - 12 - 01)),
            Ok(Decimal::from_str("0.9240").unwrap())
        );
        let missing = rates
            .rate("USDT", "EUR", date!(2026 - 12 - 01))
            .unwrap_err();
        assert_eq!(missing.to_string(), "no USDT/EUR rate for 2026-12-01");
        // No inverse is made up.
        assert!(rates.rate("EUR", "USDC", date!(2026 - 11 - 30)).is_err());
    }

    #[test]
    fn names_the_line_and_the_problem() {
        let err = |body: &str| {
            FileRates::parse(&format!("date,base,quote,rate\n{body}"))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("2026-11-31,USDC,EUR,0.9"),
            "rates file line 2: \"2026-11-31\" is not a date (YYYY-MM-DD)"
        );
        assert!(err("2026-11-30,usdc,EUR,0.9").contains("not a currency code"));
        assert!(err("2026-11-30,EUR,EUR,1").contains("into itself"));
        assert!(err("2026-11-30,USDC,EUR,zero").contains("not a decimal"));
        assert!(err("2026-11-30,USDC,EUR,-1").contains("positive"));
        assert!(err("2026-11-30,USDC,EUR").contains("4 fields"));
        assert!(err("2026-11-30,USDC,EUR,0.9\n2026-11-30,USDC,EUR,0.8")
            .contains("line 3: a second USDC/EUR rate"));
        assert!(FileRates::parse("")
            .unwrap_err()
            .to_string()
            .contains("empty"));
        assert!(FileRates::parse("day,from,to,rate\n")
            .unwrap_err()
            .to_string()
            .contains("header"));
    }
}
