//! Operator keys Kassa holds for merchants who opt in: the restricted key of the audit (open and
//! cancel invoices, capture, void; never refund, withdraw or change the merchant), so that the
//! API can act for the merchant without its authority key. One Solana keypair file per key in
//! the configured directory (mode 0600), written before the key is ever shown to the chain, so a
//! key is never lost. A merchant opts in when its authority signs `merchant_operator_set` with
//! the key, and out when it sets another or none.

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
    keys: RwLock<HashMap<Pubkey, Arc<Keypair>>>,
}

impl OperatorKeys {
    /// Loads every keypair file in `dir` (created if missing).
    pub fn load(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut keys = HashMap::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let key = read_keypair_file(&path)
                .map_err(|e| anyhow::anyhow!("operator key {}: {e}", path.display()))?;
            keys.insert(key.pubkey(), Arc::new(key));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            keys: RwLock::new(keys),
        })
    }

    /// The held key for `operator`, if Kassa holds it.
    pub fn get(&self, operator: &Pubkey) -> Option<Arc<Keypair>> {
        self.keys.read().ok()?.get(operator).cloned()
    }

    /// Makes a new key and stores it before returning it.
    pub fn create(&self) -> Result<Arc<Keypair>> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let key = Keypair::new();
        let path = self.dir.join(format!("{}.json", key.pubkey()));
        let json = serde_json::to_string(&key.to_bytes().to_vec())?;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(json.as_bytes())?;
        f.sync_all()?;
        let key = Arc::new(key);
        if let Ok(mut keys) = self.keys.write() {
            keys.insert(key.pubkey(), key.clone());
        }
        Ok(key)
    }
}
