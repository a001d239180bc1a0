//! Whom we trust for the registrar's certificate: the Mozilla roots that webpki-roots ships,
//! plus the certificates of `--ca-file` (a private CA). There is no "accept anything" mode.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The trust anchors beyond the public roots, as `--ca-file` gave them.
#[derive(Clone, Default)]
pub struct Trust {
    extra: Vec<CertificateDer<'static>>,
    /// Where `extra` came from, for messages.
    source: Option<PathBuf>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trust")
            .field("ca_file", &self.source)
            .field("certificates", &self.extra.len())
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    #[error("cannot be read: {0}")]
    Read(String),
    #[error("is not PEM: {0}")]
    Pem(String),
    #[error("holds no certificate (expected one or more -----BEGIN CERTIFICATE----- blocks)")]
    Empty,
    #[error("holds a certificate that cannot be a trust anchor: {0}")]
    Anchor(String),
}

impl Trust {
    /// Reads every certificate of a PEM file and checks each can serve as a trust anchor.
    pub fn from_pem_file(path: &Path) -> Result<Trust, TrustError> {
        let pem = std::fs::read(path).map_err(|e| TrustError::Read(e.to_string()))?;
        let mut trust = Trust::from_pem(&pem)?;
        trust.source = Some(path.to_path_buf());
        Ok(trust)
    }

    pub fn from_pem(pem: &[u8]) -> Result<Trust, TrustError> {
        let extra = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TrustError::Pem(e.to_string()))?;
        if extra.is_empty() {
            return Err(TrustError::Empty);
        }
        let mut store = RootCertStore::empty();
        for cert in &extra {
            store
                .add(cert.clone())
                .map_err(|e| TrustError::Anchor(e.to_string()))?;
        }
        Ok(Trust {
            extra,
            source: None,
        })
    }

    /// Whether a private CA was given (the advice in an "unknown issuer" error differs).
    pub fn has_private_ca(&self) -> bool {
        !self.extra.is_empty()
    }

    /// A TLS client configuration that trusts the public roots and ours, with ring as the
    /// crypto provider (named, so that no process-wide default is needed).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, rustls::Error> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for cert in &self.extra {
            roots.add(cert.clone())?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_without_certificates_is_refused_with_the_reason() {
        assert_eq!(Trust::from_pem(b"hello").unwrap_err(), TrustError::Empty);
        let garbled = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            Trust::from_pem(garbled),
            Err(TrustError::Pem(_) | TrustError::Anchor(_))
        ));
        let missing = Trust::from_pem_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(matches!(missing, TrustError::Read(_)), "{missing}");
    }

    #[test]
    fn the_public_roots_make_a_config_without_a_private_ca() {
        let trust = Trust::default();
        assert!(!trust.has_private_ca());
        assert!(trust.client_config().is_ok());
    }
}
