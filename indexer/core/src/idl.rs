//! Borsh to JSON by the checked-in Anchor IDL: instruction arguments and event payloads of
//! every Kassa program, for storage and the API. Typed decoding for projections lives in the
//! SDK; this is the generic, lossless rendering (u64 and wider as decimal strings, byte
//! arrays as hex) that also covers instructions the projections do not read.

use anchor_lang_idl_spec::{
    Idl, IdlArrayLen, IdlDefinedFields, IdlField, IdlType, IdlTypeDef, IdlTypeDefTy,
};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// Why bytes could not be rendered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdlError {
    #[error("unknown discriminator {0}")]
    UnknownDiscriminator(String),
    #[error("data ends early while reading {0}")]
    Truncated(String),
    #[error("{0} trailing bytes after {1}")]
    Trailing(usize, String),
    #[error("invalid {0}")]
    Invalid(String),
    #[error("type {0} is not in the IDL")]
    UnknownType(String),
}

/// One program's IDL, indexed by discriminator.
pub struct IdlDecoder {
    instructions: HashMap<[u8; 8], (String, Vec<IdlField>)>,
    events: HashMap<[u8; 8], String>,
    types: HashMap<String, IdlTypeDef>,
}

fn disc(bytes: &[u8]) -> Option<[u8; 8]> {
    bytes.get(..8)?.try_into().ok()
}

impl IdlDecoder {
    pub fn new(idl: &Idl) -> Self {
        Self {
            instructions: idl
                .instructions
                .iter()
                .filter_map(|i| Some((disc(&i.discriminator)?, (i.name.clone(), i.args.clone()))))
                .collect(),
            events: idl
                .events
                .iter()
                .filter_map(|e| Some((disc(&e.discriminator)?, e.name.clone())))
                .collect(),
            types: idl
                .types
                .iter()
                .map(|t| (t.name.clone(), t.clone()))
                .collect(),
        }
    }

    /// Parses an IDL JSON document.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        Ok(Self::new(&serde_json::from_str(json)?))
    }

    /// Instruction data (discriminator first) to its name and arguments.
    pub fn instruction(&self, data: &[u8]) -> Result<(String, Value), IdlError> {
        let d = disc(data).ok_or_else(|| IdlError::Truncated("discriminator".into()))?;
        let (name, args) = self
            .instructions
            .get(&d)
            .ok_or_else(|| IdlError::UnknownDiscriminator(hex(&d)))?;
        let mut r = Reader {
            data: &data[8..],
            types: &self.types,
        };
        let value = r.fields(args)?;
        r.finish(name)?;
        Ok((name.clone(), value))
    }

    /// Event bytes (event discriminator first, after the emit_cpi tag) to name and payload.
    pub fn event(&self, data: &[u8]) -> Result<(String, Value), IdlError> {
        let d = disc(data).ok_or_else(|| IdlError::Truncated("discriminator".into()))?;
        let name = self
            .events
            .get(&d)
            .ok_or_else(|| IdlError::UnknownDiscriminator(hex(&d)))?;
        let mut r = Reader {
            data: &data[8..],
            types: &self.types,
        };
        let value = r.defined(name)?;
        r.finish(name)?;
        Ok((name.clone(), value))
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct Reader<'a> {
    data: &'a [u8],
    types: &'a HashMap<String, IdlTypeDef>,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &str) -> Result<&[u8], IdlError> {
        if self.data.len() < n {
            return Err(IdlError::Truncated(what.into()));
        }
        let (head, tail) = self.data.split_at(n);
        self.data = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], IdlError> {
        let bytes = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn len(&mut self, what: &str) -> Result<usize, IdlError> {
        let n = u32::from_le_bytes(self.array(what)?) as usize;
        // Each element takes at least one byte: a length beyond the data is corrupt.
        if n > self.data.len() {
            return Err(IdlError::Truncated(what.into()));
        }
        Ok(n)
    }

    fn finish(&self, what: &str) -> Result<(), IdlError> {
        if self.data.is_empty() {
            Ok(())
        } else {
            Err(IdlError::Trailing(self.data.len(), what.into()))
        }
    }

    fn fields(&mut self, fields: &[IdlField]) -> Result<Value, IdlError> {
        let mut map = Map::new();
        for f in fields {
            map.insert(f.name.clone(), self.value(&f.ty)?);
        }
        Ok(Value::Object(map))
    }

    fn defined_fields(&mut self, fields: &Option<IdlDefinedFields>) -> Result<Value, IdlError> {
        match fields {
            None => Ok(Value::Null),
            Some(IdlDefinedFields::Named(f)) => self.fields(f),
            Some(IdlDefinedFields::Tuple(t)) => Ok(Value::Array(
                t.iter().map(|t| self.value(t)).collect::<Result<_, _>>()?,
            )),
        }
    }

    fn defined(&mut self, name: &str) -> Result<Value, IdlError> {
        let types = self.types;
        let def = types
            .get(name)
            .ok_or_else(|| IdlError::UnknownType(name.into()))?;
        match &def.ty {
            IdlTypeDefTy::Struct { fields } => self.defined_fields(fields),
            IdlTypeDefTy::Enum { variants } => {
                let [tag] = self.array::<1>(name)?;
                let v = variants
                    .get(tag as usize)
                    .ok_or_else(|| IdlError::Invalid(format!("{name} variant {tag}")))?;
                Ok(match &v.fields {
                    None => Value::String(v.name.clone()),
                    some => json!({ v.name.clone(): self.defined_fields(some)? }),
                })
            }
            IdlTypeDefTy::Type { alias } => self.value(alias),
        }
    }

    fn value(&mut self, ty: &IdlType) -> Result<Value, IdlError> {
        Ok(match ty {
            IdlType::Bool => match self.array::<1>("bool")? {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                [b] => return Err(IdlError::Invalid(format!("bool {b}"))),
            },
            IdlType::U8 => json!(self.array::<1>("u8")?[0]),
            IdlType::I8 => json!(self.array::<1>("i8")?[0] as i8),
            IdlType::U16 => json!(u16::from_le_bytes(self.array("u16")?)),
            IdlType::I16 => json!(i16::from_le_bytes(self.array("i16")?)),
            IdlType::U32 => json!(u32::from_le_bytes(self.array("u32")?)),
            IdlType::I32 => json!(i32::from_le_bytes(self.array("i32")?)),
            // Wider integers as decimal strings: JSON numbers lose precision past 2^53.
            IdlType::U64 => json!(u64::from_le_bytes(self.array("u64")?).to_string()),
            IdlType::I64 => json!(i64::from_le_bytes(self.array("i64")?).to_string()),
            IdlType::U128 => json!(u128::from_le_bytes(self.array("u128")?).to_string()),
            IdlType::I128 => json!(i128::from_le_bytes(self.array("i128")?).to_string()),
            IdlType::Pubkey => json!(bs58::encode(self.array::<32>("pubkey")?).into_string()),
            IdlType::String => {
                let n = self.len("string")?;
                let bytes = self.take(n, "string")?;
                json!(std::str::from_utf8(bytes)
                    .map_err(|_| IdlError::Invalid("utf-8 string".into()))?)
            }
            IdlType::Bytes => {
                let n = self.len("bytes")?;
                json!(hex(self.take(n, "bytes")?))
            }
            IdlType::Option(inner) => match self.array::<1>("option")? {
                [0] => Value::Null,
                [1] => self.value(inner)?,
                [b] => return Err(IdlError::Invalid(format!("option tag {b}"))),
            },
            IdlType::Vec(inner) => {
                let n = self.len("vec")?;
                Value::Array(
                    (0..n)
                        .map(|_| self.value(inner))
                        .collect::<Result<_, _>>()?,
                )
            }
            IdlType::Array(inner, IdlArrayLen::Value(n)) => {
                if **inner == IdlType::U8 {
                    json!(hex(self.take(*n, "byte array")?))
                } else {
                    Value::Array(
                        (0..*n)
                            .map(|_| self.value(inner))
                            .collect::<Result<_, _>>()?,
                    )
                }
            }
            IdlType::Defined { name, .. } => self.defined(name)?,
            other => return Err(IdlError::UnknownType(format!("{other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payments() -> IdlDecoder {
        IdlDecoder::from_json(kassa_sdk::programs::KassaProgram::Payments.idl_json()).unwrap()
    }

    #[test]
    fn unknown_discriminator_and_truncation_are_named() {
        let d = payments();
        assert!(matches!(
            d.instruction(&[0; 8]),
            Err(IdlError::UnknownDiscriminator(_))
        ));
        assert!(matches!(
            d.instruction(&[1, 2]),
            Err(IdlError::Truncated(_))
        ));
    }
}
