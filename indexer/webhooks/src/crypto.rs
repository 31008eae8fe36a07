//! Endpoint secrets at rest: sealed with AES-256-GCM under a 32-byte key from the settings. A
//! secret must be readable to sign (so it is not hashed) and must never be in clear in the
//! database or a backup of it (so it is encrypted). The associated data binds a sealed secret
//! to its endpoint and version: copied to another row, it does not open.

use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    rand::{SecureRandom, SystemRandom},
};

/// The key secrets are sealed with.
pub struct SealingKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(…)")
    }
}

impl SealingKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .unwrap_or_else(|_| unreachable!("AES-256 takes 32 bytes"));
        Self {
            key: LessSafeKey::new(unbound),
        }
    }

    /// A key written as 64 hexadecimal digits (how the settings hold it).
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let bytes =
            hex::decode(s.trim()).map_err(|_| "the webhook key is not hexadecimal".to_string())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            format!(
                "the webhook key has {} bytes; it needs 32 (64 hex digits)",
                b.len()
            )
        })?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key, as 64 hex digits (for `kassa demo` and first setups).
    pub fn generate_hex() -> String {
        hex::encode(random::<32>())
    }

    /// nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = random::<NONCE_LEN>();
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .unwrap_or_else(|_| unreachable!("a secret is far below AES-GCM's length limit"));
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        out
    }

    /// The plaintext, if `sealed` was sealed with this key and `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, String> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(format!("{} sealed bytes are too few", sealed.len()));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| "bad nonce".to_string())?;
        let mut buf = ct.to_vec();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut buf,
            )
            .map_err(|_| "wrong key, or the row was altered".to_string())?;
        Ok(plain.to_vec())
    }
}

/// `N` bytes from the operating system's random source.
pub fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    SystemRandom::new()
        .fill(&mut b)
        .unwrap_or_else(|_| panic!("the operating system's random source failed"));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_open_only_with_their_key_and_row() {
        let key = SealingKey::from_hex(&SealingKey::generate_hex()).unwrap();
        let sealed = key.seal(b"we_1:1", b"secret bytes");
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        assert_eq!(key.open(b"we_1:1", &sealed).unwrap(), b"secret bytes");
        assert!(key.open(b"we_2:1", &sealed).is_err());
        let other = SealingKey::from_bytes(&[9; 32]);
        assert!(other.open(b"we_1:1", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(key.open(b"we_1:1", &tampered).is_err());
        assert!(SealingKey::from_hex("abcd").is_err());
    }
}
