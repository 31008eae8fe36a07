//! The bank accounts fiat merchants are paid to: the IBAN (checked against each country's
//! format in the SWIFT IBAN registry and the ISO 7064 mod-97 check digits, by
//! `iban_validate`), the BIC (ISO 9362) and the account holder's name, each refused with an
//! error that names what is wrong.

use iban::{Iban, IbanLike, ParseIbanError};
use std::{fmt, str::FromStr};

/// The longest holder name a SEPA credit transfer carries (`Nm`, 70 characters).
pub const MAX_HOLDER: usize = 70;

/// Why a bank account is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BankError {
    #[error("IBAN {0:?}: {1}")]
    Iban(String, String),
    #[error("BIC {0:?}: {1}")]
    Bic(String, &'static str),
    #[error("account holder: {0}")]
    Holder(&'static str),
}

/// A business identifier code (ISO 9362): 4 letters for the institution, 2 for the country,
/// 2 letters or digits for the location, and optionally 3 for the branch. Stored without
/// spaces, in capitals.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Bic(String);

impl Bic {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ISO 3166 country of the institution.
    pub fn country(&self) -> &str {
        &self.0[4..6]
    }
}

impl fmt::Display for Bic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Bic {
    type Err = BankError;

    fn from_str(s: &str) -> Result<Self, BankError> {
        let code: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bad = |why| Err(BankError::Bic(s.to_string(), why));
        if code.len() != 8 && code.len() != 11 {
            return bad("a BIC has 8 or 11 characters");
        }
        let b = code.as_bytes();
        if !b[..4].iter().all(u8::is_ascii_uppercase) {
            return bad("the institution code (characters 1-4) is letters only");
        }
        if !b[4..6].iter().all(u8::is_ascii_uppercase) {
            return bad("the country code (characters 5-6) is two letters");
        }
        if !b[6..].iter().all(u8::is_ascii_alphanumeric) {
            return bad("the location and branch codes are letters and digits");
        }
        Ok(Self(code))
    }
}

/// A validated bank account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankAccount {
    pub holder: String,
    pub iban: Iban,
    pub bic: Bic,
}

impl BankAccount {
    /// Validates each part: `iban` in its electronic or printed form (spaces allowed), `bic`
    /// with or without spaces, `holder` the name as it should reach the bank.
    pub fn new(holder: &str, iban: &str, bic: &str) -> Result<Self, BankError> {
        let holder = holder.trim();
        if holder.is_empty() {
            return Err(BankError::Holder("the name is empty"));
        }
        if holder.chars().count() > MAX_HOLDER {
            return Err(BankError::Holder("the name is longer than 70 characters"));
        }
        if holder.chars().any(char::is_control) {
            return Err(BankError::Holder("the name holds control characters"));
        }
        let electronic: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
        let iban_error = |e: ParseIbanError| {
            let why = match e {
                ParseIbanError::UnknownCountry(_) => {
                    "its country is not in the IBAN registry".to_string()
                }
                ParseIbanError::InvalidBban(b) => format!(
                    "the account part does not follow {}'s IBAN format",
                    b.country_code()
                ),
                ParseIbanError::InvalidBaseIban { source } => source.to_string(),
            };
            BankError::Iban(iban.to_string(), why)
        };
        let iban_parsed = electronic.parse::<Iban>().map_err(iban_error)?;
        Ok(Self {
            holder: holder.to_string(),
            iban: iban_parsed,
            bic: bic.parse()?,
        })
    }

    /// The IBAN without spaces, as payment files carry it.
    pub fn iban_electronic(&self) -> &str {
        self.iban.electronic_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_formats_in_either_spelling() {
        for (iban, bic) in [
            ("DE89 3704 0044 0532 0130 00", "COBADEFFXXX"),
            ("GB82WEST12345698765432", "NWBKGB2L"),
            ("NL91 ABNA 0417 1643 00", "abna nl 2a"),
            ("FR14 2004 1010 0505 0001 3M02 606", "PSSTFRPPPAR"),
        ] {
            let a = BankAccount::new("  Cafe Lumen GmbH ", iban, bic).unwrap();
            assert_eq!(a.holder, "Cafe Lumen GmbH");
            assert!(!a.iban_electronic().contains(' '));
            assert!(a.bic.as_str().len() == 8 || a.bic.as_str().len() == 11);
        }
        assert_eq!("abna nl 2a".parse::<Bic>().unwrap().country(), "NL");
    }

    #[test]
    fn names_what_is_wrong() {
        let err = |iban: &str, bic: &str, holder: &str| {
            BankAccount::new(holder, iban, bic).unwrap_err().to_string()
        };
        // A wrong check digit, a wrong length, an unknown country.
        assert!(err("DE88 3704 0044 0532 0130 00", "COBADEFF", "A").contains("IBAN"));
        assert!(err("DE89 3704 0044 0532 0130", "COBADEFF", "A").contains("IBAN"));
        assert!(err("ZZ89 3704 0044 0532 0130 00", "COBADEFF", "A").contains("IBAN"));
        let iban = "DE89370400440532013000";
        assert!(err(iban, "COBADEF", "A").contains("8 or 11"));
        assert!(err(iban, "COB4DEFF", "A").contains("institution"));
        assert!(err(iban, "COBAD3FF", "A").contains("country"));
        assert!(err(iban, "COBADEF!", "A").contains("location"));
        assert!(err(iban, "COBADEFF", " ").contains("empty"));
        assert!(err(iban, "COBADEFF", &"x".repeat(71)).contains("70"));
        assert!(err(iban, "COBADEFF", "A\u{7}").contains("control"));
    }
}
