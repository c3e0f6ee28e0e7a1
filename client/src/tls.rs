//! TLS settings for connections the client makes outside reqwest (the
//! WebSocket of `exec`): the kubeconfig's CA, HTTP/1.1 only (upgrades need it).

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::client::Client;
use crate::error::{Error, Result};

impl Client {
    /// A rustls configuration that trusts what this client trusts; `None`
    /// for an `http://` server.
    pub fn rustls_config(&self) -> Result<Option<Arc<rustls::ClientConfig>>> {
        if !self.server().starts_with("https://") {
            return Ok(None);
        }
        if self.inner.insecure_skip_tls_verify {
            return Err(Error::Config(
                "insecure-skip-tls-verify is not supported for WebSocket connections: \
                 give the cluster's certificate-authority"
                    .into(),
            ));
        }
        let Some(pem) = &self.inner.ca_pem else {
            return Err(Error::Config(
                "WebSocket connections to an https server need the cluster's \
                 certificate-authority in the kubeconfig"
                    .into(),
            ));
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::Config(format!("certificate-authority: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| Error::Config(format!("certificate-authority: {e}")))?;
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS versions: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Some(Arc::new(config)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubeconfig::ClusterConfig;

    #[test]
    fn plain_servers_need_none_and_https_needs_a_ca() {
        let plain = Client::from_server("http://127.0.0.1:1").unwrap();
        assert!(plain.rustls_config().unwrap().is_none());
        let no_ca = Client::from_server("https://127.0.0.1:1").unwrap();
        let err = no_ca.rustls_config().unwrap_err().to_string();
        assert!(err.contains("certificate-authority"), "{err}");
        let bad = Client::new(ClusterConfig {
            server: "https://127.0.0.1:1".into(),
            ca_pem: Some(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            ),
            ..Default::default()
        });
        // reqwest already refuses an unreadable CA; either way, an error.
        if let Ok(c) = bad {
            assert!(c.rustls_config().is_err());
        }
    }
}
