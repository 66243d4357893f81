//! TLS for STARTTLS: a certificate from files, or a self-signed one made at start (for a
//! test sink nobody needs to trust). rustls with the ring provider; TLS 1.2 and 1.3 only.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::exit_code::ErrorKind;

/// TLS setup failures.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate `{path}`: {message}")]
    Cert { path: String, message: String },
    #[error("cannot read the TLS key `{path}`: {message}")]
    Key { path: String, message: String },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("invalid TLS certificate or key: {0}")]
    Config(String),
}

impl TlsError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Cert { .. } | Self::Key { .. } | Self::Config(_) => ErrorKind::BadInput,
            Self::Generate(_) => ErrorKind::Failed,
        }
    }
}

fn config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}

/// A self-signed certificate for `names` (such as `localhost` and `127.0.0.1`).
pub fn self_signed(names: &[String]) -> Result<Arc<ServerConfig>, TlsError> {
    let made = rcgen::generate_simple_self_signed(names.to_vec())
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let key = PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    config(vec![made.cert.der().clone()], key.into())
}

/// The certificate chain and key in PEM files.
pub fn from_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| TlsError::Cert {
            path: cert.display().to_string(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Cert {
            path: cert.display().to_string(),
            message: "no certificate in it".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    config(certs, key)
}
