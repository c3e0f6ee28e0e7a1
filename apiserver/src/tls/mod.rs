//! TLS for the API server: the cluster CA and serving certificate
//! ([`certs`]), the rustls configuration (HTTP/2 and HTTP/1.1 offered by
//! ALPN, as kube-apiserver does), and a listener that hands axum finished
//! TLS connections ([`listener`]).

pub mod certs;
mod listener;

use std::sync::Arc;

use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub use certs::{CertFiles, ca_hash};
pub(crate) use listener::TlsListener;

/// What a TLS listener serves with.
#[derive(Clone)]
pub struct ServerTls {
    /// The CA clients trust (PEM): goes into kubeconfigs and to joining agents.
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls").finish_non_exhaustive()
    }
}

impl ServerTls {
    /// From the PEM files (see [`certs::ensure`]).
    pub fn from_files(files: &CertFiles) -> anyhow::Result<ServerTls> {
        let certs = CertificateDer::pem_slice_iter(files.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .context("reading the serving certificate")?;
        let key = PrivateKeyDer::from_pem_slice(files.key_pem.as_bytes())
            .context("reading the serving key")?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("choosing TLS versions")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("loading the serving certificate")?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            ca_pem: files.ca_pem.clone(),
            config: Arc::new(config),
        })
    }

    /// Loads or creates the CA and serving certificate in `dir` for `sans`.
    pub fn ensure(dir: &std::path::Path, sans: &[String]) -> anyhow::Result<ServerTls> {
        ServerTls::from_files(&certs::ensure(dir, sans)?)
    }
}
