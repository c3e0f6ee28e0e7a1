//! Secure join, both ends: what `skiff server` secures itself with (the CA,
//! a serving certificate for every name it is reached by, the admin and
//! join tokens in its data dir), and how `skiff agent --token` becomes a
//! node identity (join once, keep the credential under `--root`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use skiff_apiserver::Security;
use skiff_client::{Client, JoinToken, Kubeconfig, join};

use crate::context::GlobalArgs;
use crate::errors::{CliError, CliResult};

/// The names the serving certificate covers: each listen address (every
/// interface address for a wildcard one), loopback, `localhost`, the
/// hostname, and the `--tls-san` extras.
pub fn serving_names(listen: &[SocketAddr], extra: &[String]) -> Vec<String> {
    let mut names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    for addr in listen {
        if addr.ip().is_unspecified() {
            names.extend(interface_addresses().iter().map(IpAddr::to_string));
        } else {
            names.push(addr.ip().to_string());
        }
    }
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim().to_ascii_lowercase();
        if !host.is_empty() {
            names.push(host);
        }
    }
    names.extend(extra.iter().map(|s| s.trim().to_string()));
    names.retain(|n| !n.is_empty());
    names.sort();
    names.dedup();
    names
}

/// Loads or creates the server's CA, serving certificate and tokens.
pub fn server_security(
    data_dir: &Path,
    listen: &[SocketAddr],
    tls_san: &[String],
    tls_on_loopback: bool,
) -> CliResult<Security> {
    let names = serving_names(listen, tls_san);
    Security::ensure(data_dir, &names, tls_on_loopback).map_err(|e| {
        CliError::msg(format!(
            "setting up TLS and tokens in {}: {e:#}",
            data_dir.display()
        ))
    })
}

/// Every IPv4 and IPv6 address of this machine's interfaces that are up.
fn interface_addresses() -> Vec<IpAddr> {
    let mut found = Vec::new();
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list freed below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return found;
    }
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        let up = ifa.ifa_flags & libc::IFF_UP as u32 != 0;
        if up && !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr of the family it names.
            let family = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if family == libc::AF_INET {
                // SAFETY: an AF_INET address is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                found.push(IpAddr::from(
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                ));
            } else if family == libc::AF_INET6 {
                // SAFETY: an AF_INET6 address is a sockaddr_in6.
                let sin6 = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in6) };
                let ip = std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                // Link-local addresses need a scope: no use in a certificate.
                if ip.segments()[0] & 0xffc0 != 0xfe80 {
                    found.push(IpAddr::V6(ip));
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: the list came from getifaddrs.
    unsafe { libc::freeifaddrs(addrs) };
    found
}

/// This machine's name, as a Node name (what `--node-name` defaults to).
pub fn hostname() -> CliResult<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| CliError::msg(format!("reading the hostname (pass --node-name): {e}")))?;
    Ok(name.trim().to_ascii_lowercase())
}

/// Where a joined node keeps its credential: a kubeconfig naming the
/// server, the cluster CA and the node's own token.
pub fn credential_path(root: &Path) -> PathBuf {
    root.join("kubeconfig")
}

/// Where a joined node keeps the token the API server presents to its
/// agent HTTP API (beside its credential; 0600). A record for the
/// operator: every start joins again and takes the server's current one.
pub fn proxy_token_path(root: &Path) -> PathBuf {
    root.join(skiff_apiserver::auth::PROXY_TOKEN_FILE)
}

/// A joined node: its client and what its agent server must require.
pub struct Joined {
    pub client: Client,
    /// The server's proxy token (`None`: the server sent none).
    pub proxy_token: Option<String>,
}

/// The join token from `--token` or `--token-file`.
pub fn read_join_token(token: Option<&str>, file: Option<&Path>) -> CliResult<Option<String>> {
    match (token, file) {
        (Some(_), Some(_)) => Err(CliError::msg("give --token or --token-file, not both")),
        (Some(t), None) => Ok(Some(t.trim().to_string())),
        (None, Some(f)) => std::fs::read_to_string(f)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| CliError::msg(format!("reading --token-file {}: {e}", f.display()))),
        (None, None) => Ok(None),
    }
}

/// Joins node `name` to `--server` with the join token (presenting the
/// node's stored token if it joined before), stores the credential under
/// `root` (and the server's proxy token beside it), and returns a client
/// acting as the node.
pub async fn join_client(
    global: &GlobalArgs,
    root: &Path,
    name: &str,
    join_token: &str,
) -> CliResult<Joined> {
    let server = match global.server.as_deref() {
        Some(s) if s.contains("://") => s.trim_end_matches('/').to_string(),
        Some(s) => format!("https://{}", s.trim_end_matches('/')),
        None => {
            return Err(CliError::msg(
                "--token needs --server https://HOST:PORT (the server to join)",
            ));
        }
    };
    let token = JoinToken::parse(join_token).map_err(|e| CliError::msg(e.to_string()))?;
    let path = credential_path(root);
    let existing = stored_token(&path, name)?;
    let fail = |what: &str, e: skiff_client::Error| {
        CliError::msg(format!("joining {server} as node {name}: {what}: {e}"))
    };
    let ca = join::fetch_ca(&server, &token)
        .await
        .map_err(|e| fail("fetching the CA", e))?;
    let credential = match join::join(&server, &ca, &token, name, existing.as_deref()).await {
        Ok(c) => c,
        Err(e) if existing.is_some() && e.status().is_some_and(|s| s.code == 403) => {
            return Err(CliError::msg(format!(
                "joining {server} as node {name}: the server does not know the node token \
                 stored in {}; if the server was reset, remove that file to join afresh: {e}",
                path.display()
            )));
        }
        Err(e) => return Err(fail("join", e)),
    };
    let kubeconfig = credential.kubeconfig(&server);
    kubeconfig
        .write(&path)
        .map_err(|e| CliError::msg(format!("storing the node credential: {e}")))?;
    if let Some(proxy_token) = &credential.proxy_token {
        let path = proxy_token_path(root);
        skiff_apiserver::tls::certs::write_private(&path, format!("{proxy_token}\n").as_bytes())
            .map_err(|e| CliError::msg(format!("storing {}: {e:#}", path.display())))?;
    }
    tracing::info!(node = %name, credential = %path.display(), "joined {server}");
    let config = kubeconfig
        .resolve(None)
        .map_err(|e| CliError::msg(e.to_string()))?;
    let client = Client::new(config).map_err(|e| CliError::msg(e.to_string()))?;
    Ok(Joined {
        client,
        proxy_token: credential.proxy_token,
    })
}

/// The node token stored at `path` by an earlier join of `name`.
fn stored_token(path: &Path, name: &str) -> CliResult<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let stored = Kubeconfig::read(path)
        .and_then(|k| k.resolve(None))
        .map_err(|e| CliError::msg(format!("reading the node credential: {e}")))?;
    let Some(token) = stored.token else {
        return Ok(None);
    };
    let prefix = format!("node:{name}:");
    if !token.starts_with(&prefix) {
        return Err(CliError::msg(format!(
            "{} holds the credential of another node, not {name}: use another --root",
            path.display()
        )));
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cover_listen_addresses_loopback_and_extras() {
        let listen: Vec<SocketAddr> = vec!["10.1.2.3:6443".parse().unwrap()];
        let names = serving_names(&listen, &["api.example".into(), " ".into()]);
        for n in ["10.1.2.3", "127.0.0.1", "localhost", "api.example"] {
            assert!(names.contains(&n.to_string()), "{n}: {names:?}");
        }
        let wildcard: Vec<SocketAddr> = vec!["0.0.0.0:6443".parse().unwrap()];
        let names = serving_names(&wildcard, &[]);
        assert!(!names.contains(&"0.0.0.0".to_string()), "{names:?}");
    }

    #[test]
    fn token_sources() {
        assert_eq!(
            read_join_token(Some(" t "), None).unwrap().as_deref(),
            Some("t")
        );
        assert!(read_join_token(Some("t"), Some(Path::new("/x"))).is_err());
        assert_eq!(read_join_token(None, None).unwrap(), None);
        let err = read_join_token(None, Some(Path::new("/nonexistent/t"))).unwrap_err();
        let text = err.render().unwrap_or_default();
        assert!(text.contains("--token-file"), "{text}");
    }

    #[test]
    fn a_credential_of_another_node_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = credential_path(dir.path());
        assert_eq!(stored_token(&path, "n1").unwrap(), None);
        Kubeconfig::single("https://127.0.0.1:1", Some("CA"), Some("node:n1:s"))
            .write(&path)
            .unwrap();
        assert_eq!(
            stored_token(&path, "n1").unwrap().as_deref(),
            Some("node:n1:s")
        );
        assert!(stored_token(&path, "n2").is_err());
    }
}
