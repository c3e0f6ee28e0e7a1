//! The cluster CA and the API server's serving certificate, generated once
//! into a directory (`ca.crt`, `ca.key`, `server.crt`, `server.key`, keys
//! mode 0600). The serving certificate is made again when the set of names
//! it must cover changes (a new listen address, `--tls-san`).

use std::path::Path;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::{Digest, Sha256};

/// PEM text of the CA and of the serving certificate and key.
#[derive(Clone)]
pub struct CertFiles {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertFiles").finish_non_exhaustive()
    }
}

const CA_CERT: &str = "ca.crt";
const CA_KEY: &str = "ca.key";
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
/// The names the serving certificate was made for, one per line.
const SERVER_SANS: &str = "server.sans";

/// Loads or creates the CA in `dir`, and a serving certificate for `sans`
/// (IP addresses and DNS names; duplicates are fine).
pub fn ensure(dir: &Path, sans: &[String]) -> anyhow::Result<CertFiles> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (ca_pem, ca_key) = ensure_ca(dir)?;
    let mut wanted: Vec<String> = sans.iter().map(|s| s.trim().to_string()).collect();
    wanted.retain(|s| !s.is_empty());
    wanted.sort();
    wanted.dedup();
    let recorded = std::fs::read_to_string(dir.join(SERVER_SANS)).unwrap_or_default();
    let cert_path = dir.join(SERVER_CERT);
    let key_path = dir.join(SERVER_KEY);
    let current = recorded.lines().map(str::to_string).collect::<Vec<_>>() == wanted
        && cert_path.exists()
        && key_path.exists();
    if !current {
        let key = KeyPair::generate().context("generating the serving key")?;
        let mut params = CertificateParams::new(wanted.clone())
            .with_context(|| format!("invalid certificate names {wanted:?}"))?;
        params.distinguished_name = name("skiff-apiserver");
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let issuer = Issuer::new(ca_params(&ca_key), ca_key);
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing the serving certificate")?;
        write_private(&key_path, key.serialize_pem().as_bytes())?;
        write_public(&cert_path, cert.pem().as_bytes())?;
        write_public(
            &dir.join(SERVER_SANS),
            (wanted.join("\n") + "\n").as_bytes(),
        )?;
        tracing::info!(names = ?wanted, "made a new serving certificate");
    }
    Ok(CertFiles {
        ca_pem,
        cert_pem: read(&cert_path)?,
        key_pem: read(&key_path)?,
    })
}

/// `sha256` of the CA's PEM text, hex: what a `K10` join token pins.
pub fn ca_hash(ca_pem: &str) -> String {
    hex(&Sha256::digest(ca_pem.as_bytes()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ensure_ca(dir: &Path) -> anyhow::Result<(String, KeyPair)> {
    let cert_path = dir.join(CA_CERT);
    let key_path = dir.join(CA_KEY);
    if cert_path.exists() && key_path.exists() {
        let key_pem = read(&key_path)?;
        let key = KeyPair::from_pem(&key_pem)
            .with_context(|| format!("reading the CA key {}", key_path.display()))?;
        return Ok((read(&cert_path)?, key));
    }
    let key = KeyPair::generate().context("generating the CA key")?;
    let cert = ca_params(&key)
        .self_signed(&key)
        .context("making the CA certificate")?;
    write_private(&key_path, key.serialize_pem().as_bytes())?;
    // Written last: a CA certificate on disk always has its key beside it.
    write_public(&cert_path, cert.pem().as_bytes())?;
    // A new CA invalidates the old serving certificate.
    let _ = std::fs::remove_file(dir.join(SERVER_SANS));
    tracing::info!(path = %cert_path.display(), "made a new cluster CA");
    Ok((cert.pem(), key))
}

/// The CA's parameters; its name is derived from its key so that the
/// issuer of a later serving certificate matches the stored CA exactly.
fn ca_params(key: &KeyPair) -> CertificateParams {
    let id = hex(&Sha256::digest(key.public_key_raw()))[..12].to_string();
    let mut params = CertificateParams::default();
    params.distinguished_name = name(&format!("skiff-ca-{id}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = rcgen::date_time_ymd(2024, 1, 1);
    params.not_after = rcgen::date_time_ymd(2099, 1, 1);
    params
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn write_public(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_mode(path, data, 0o644)
}

/// Keys and tokens: readable by the owner only.
pub fn write_private(path: &Path, data: &[u8]) -> anyhow::Result<()> {
    write_mode(path, data, 0o600)
}

/// Written beside and renamed over, so a reader never sees half a file.
fn write_mode(path: &Path, data: &[u8], mode: u32) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(data)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_and_again_when_the_names_change() {
        let dir = tempfile::tempdir().unwrap();
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let a = ensure(dir.path(), &sans).unwrap();
        let b = ensure(dir.path(), &sans).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.cert_pem, b.cert_pem, "same names: same certificate");
        let c = ensure(dir.path(), &["10.0.0.1".to_string()]).unwrap();
        assert_eq!(a.ca_pem, c.ca_pem, "the CA stays");
        assert_ne!(a.cert_pem, c.cert_pem, "new names: new certificate");
        use std::os::unix::fs::PermissionsExt;
        for key in [CA_KEY, SERVER_KEY] {
            let mode = std::fs::metadata(dir.path().join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        assert_eq!(ca_hash(&a.ca_pem).len(), 64);
    }

    #[test]
    fn bad_names_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = ensure(dir.path(), &["naïve".to_string()]).unwrap_err();
        assert!(format!("{err:#}").contains("naïve"), "{err:#}");
    }
}
