//! TLS for the API (rustls with the ring provider). Production gives a certificate and key
//! (PEM files); the demo and the tests make a local certificate authority once, in a directory
//! they own, and a server certificate for `localhost` and `127.0.0.1` signed by it, so clients
//! trust the CA file (`curl --cacert`, `NODE_EXTRA_CA_CERTS`, a reqwest root) and nothing else
//! is relaxed.

use anyhow::{Context, Result};
use axum_server::tls_rustls::RustlsConfig;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};

/// Installs ring as the process's rustls provider (once; later calls are no-ops).
pub fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The files of a local certificate authority and the server certificate it signed.
#[derive(Debug, Clone)]
pub struct LocalTls {
    /// The CA certificate clients trust.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

impl LocalTls {
    /// Makes the CA and server certificate in `dir` unless they are already there.
    pub fn ensure(dir: &Path) -> Result<Self> {
        let tls = Self {
            ca_cert: dir.join("ca.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
        };
        if tls.ca_cert.exists() && tls.cert.exists() && tls.key.exists() {
            return Ok(tls);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Kassa local CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;

        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &ca)?;

        std::fs::write(&tls.ca_cert, ca.pem())?;
        std::fs::write(&tls.cert, format!("{}{}", cert.pem(), ca.pem()))?;
        write_private(&tls.key, key.serialize_pem().as_bytes())?;
        Ok(tls)
    }

    /// The server's rustls configuration.
    pub async fn config(&self) -> Result<RustlsConfig> {
        load(&self.cert, &self.key).await
    }
}

/// A rustls configuration from PEM files (a certificate chain and its key).
pub async fn load(cert: &Path, key: &Path) -> Result<RustlsConfig> {
    install_provider();
    RustlsConfig::from_pem_chain_file(cert, key)
        .await
        .with_context(|| {
            format!(
                "cannot load the TLS certificate {} and key {}",
                cert.display(),
                key.display()
            )
        })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    // An existing file keeps its mode on open: make sure it is the owner's alone.
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(())
}
