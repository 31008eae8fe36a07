//! Operator keys Kassa holds for merchants who opt in: the restricted key of the audit (open and
//! cancel invoices, capture, void; never refund, withdraw or change the merchant), so that the
//! API can act for the merchant without its authority key. One Solana keypair file per key in
//! the configured directory (mode 0600, named `<merchant>.<operator>.json`: a key serves the
//! merchant it was made for and no other), written and synced to disk (file and directory)
//! before the key is ever shown, so a key is never lost. A merchant opts in when its authority
//! signs `merchant_operator_set` with the key, and out when it sets another or none.

use anyhow::{Context, Result};
use solana_sdk::{
    pubkey::Pubkey,
    signature::{read_keypair_file, Keypair, Signer},
};
use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
};

pub struct OperatorKeys {
    dir: PathBuf,
    /// Operator key → (the merchant it serves, the key).
    keys: RwLock<HashMap<Pubkey, (Pubkey, Arc<Keypair>)>>,
}

impl OperatorKeys {
    /// Loads every keypair file in `dir` (created if missing).
    pub fn load(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut keys = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            let Some((merchant, operator)) =
                name.strip_suffix(".json").and_then(|n| n.split_once('.'))
            else {
                continue;
            };
            let merchant: Pubkey = merchant.parse().with_context(|| {
                format!(
                    "operator key {}: not <merchant>.<operator>.json",
                    path.display()
                )
            })?;
            let key = read_keypair_file(&path)
                .map_err(|e| anyhow::anyhow!("operator key {}: {e}", path.display()))?;
            if key.pubkey().to_string() != operator {
                anyhow::bail!("operator key {} holds another key", path.display());
            }
            keys.insert(key.pubkey(), (merchant, Arc::new(key)));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            keys: RwLock::new(keys),
        })
    }

    /// Is `key` one Kassa holds (for any merchant)?
    pub fn holds(&self, key: &Pubkey) -> bool {
        self.keys.read().is_ok_and(|k| k.contains_key(key))
    }

    /// The held key `operator`, if Kassa holds it for `merchant`.
    pub fn get(&self, merchant: &Pubkey, operator: &Pubkey) -> Option<Arc<Keypair>> {
        let keys = self.keys.read().ok()?;
        let (serves, key) = keys.get(operator)?;
        (serves == merchant).then(|| key.clone())
    }

    /// Makes a new key for `merchant` and stores it durably before returning it.
    pub fn create(&self, merchant: &Pubkey) -> Result<Arc<Keypair>> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let key = Keypair::new();
        let name = format!("{merchant}.{}", key.pubkey());
        let tmp = self.dir.join(format!("{name}.tmp"));
        let path = self.dir.join(format!("{name}.json"));
        let json = serde_json::to_string(&key.to_bytes().to_vec())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        let key = Arc::new(key);
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.pubkey(), (*merchant, key.clone()));
        }
        Ok(key)
    }
}
