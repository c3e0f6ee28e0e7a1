//! A standard kubeconfig file: the serde model, where to find it (the same
//! order kubectl uses), how a context turns into connection settings, and
//! the single-cluster file `skiff server` writes for skiff and kubectl alike.

use std::path::{Path, PathBuf};

use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where clients connect when no kubeconfig exists at all: `skiff server`'s
/// default listen address (kubectl would try `localhost:8080`).
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:6443";

/// The name `skiff server` gives its cluster, user and context.
pub const SKIFF_CONTEXT: &str = "skiff";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Kubeconfig {
    #[serde(
        rename = "apiVersion",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub api_version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub clusters: Vec<NamedCluster>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub contexts: Vec<NamedContext>,
    #[serde(
        rename = "current-context",
        default,
        deserialize_with = "null_as_default"
    )]
    pub current_context: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub preferences: serde_json::Map<String, serde_json::Value>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub users: Vec<NamedUser>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCluster {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub cluster: Cluster,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Cluster {
    #[serde(default)]
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_server_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedContext {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub context: Context,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    #[serde(default)]
    pub cluster: String,
    #[serde(default)]
    pub user: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedUser {
    pub name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub user: User,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Spelled `tokenFile` in kubeconfig files (unlike its neighbours).
    #[serde(rename = "tokenFile", default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_certificate_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_data: Option<String>,
}

/// YAML `clusters:` with nothing after it reads as null; treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Everything needed to reach one cluster as one user.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterConfig {
    /// `https://host:port` or `http://host:port`, no trailing slash.
    pub server: String,
    /// PEM certificates to trust instead of the system roots.
    pub ca_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    pub tls_server_name: Option<String>,
    /// Bearer token (sent over https only, like kubectl).
    pub token: Option<String>,
    /// Client certificate and key, concatenated PEM.
    pub identity_pem: Option<Vec<u8>>,
    /// The context's namespace, if it names one.
    pub namespace: Option<String>,
}

impl ClusterConfig {
    /// A plain connection to `server`, no credentials.
    pub fn from_server(server: &str) -> ClusterConfig {
        ClusterConfig {
            server: server.trim_end_matches('/').to_string(),
            ..Default::default()
        }
    }
}

/// Where to look for the kubeconfig: the explicit `--kubeconfig` path, else
/// every file of `KUBECONFIG` (colon list, later files add what earlier ones
/// lack), else `~/.kube/config`.
pub fn candidate_paths(
    explicit: Option<&Path>,
    env: Option<&str>,
    home: Option<&Path>,
) -> Vec<PathBuf> {
    if let Some(p) = explicit {
        return vec![p.to_path_buf()];
    }
    if let Some(list) = env.filter(|v| !v.trim().is_empty()) {
        return std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    home.map(|h| vec![h.join(".kube").join("config")])
        .unwrap_or_default()
}

impl Kubeconfig {
    /// A kubeconfig with one cluster, one user and one context, all named
    /// `skiff`, selected as the current context.
    pub fn single(server: &str, ca_pem: Option<&str>, token: Option<&str>) -> Kubeconfig {
        let b64 = base64::engine::general_purpose::STANDARD;
        Kubeconfig {
            api_version: "v1".into(),
            kind: "Config".into(),
            clusters: vec![NamedCluster {
                name: SKIFF_CONTEXT.into(),
                cluster: Cluster {
                    server: server.into(),
                    certificate_authority_data: ca_pem.map(|p| b64.encode(p)),
                    ..Default::default()
                },
            }],
            contexts: vec![NamedContext {
                name: SKIFF_CONTEXT.into(),
                context: Context {
                    cluster: SKIFF_CONTEXT.into(),
                    user: SKIFF_CONTEXT.into(),
                    namespace: None,
                },
            }],
            current_context: SKIFF_CONTEXT.into(),
            preferences: Default::default(),
            users: vec![NamedUser {
                name: SKIFF_CONTEXT.into(),
                user: User {
                    token: token.map(str::to_string),
                    ..Default::default()
                },
            }],
        }
    }

    pub fn from_yaml(text: &str) -> Result<Kubeconfig> {
        if text.trim().is_empty() {
            return Ok(Kubeconfig::default());
        }
        serde_saphyr::from_str(text).map_err(|e| Error::Config(e.to_string()))
    }

    pub fn to_yaml(&self) -> Result<String> {
        serde_saphyr::to_string(self).map_err(|e| Error::Config(e.to_string()))
    }

    /// Reads one file; relative file references inside it are made relative
    /// to the file's directory, as kubectl does.
    pub fn read(path: &Path) -> Result<Kubeconfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Config(format!("stat {}: {}", path.display(), io_reason(&e))))?;
        let mut cfg = Kubeconfig::from_yaml(&text).map_err(|e| {
            Error::Config(format!(
                "error loading config file \"{}\": {e}",
                path.display()
            ))
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        cfg.make_paths_absolute(dir);
        Ok(cfg)
    }

    /// Loads the kubeconfig from [`candidate_paths`] with the process's
    /// environment. `Ok(None)`: no file anywhere (an explicit path that does
    /// not exist is an error, missing `KUBECONFIG` entries are skipped).
    pub fn load(explicit: Option<&Path>) -> Result<Option<Kubeconfig>> {
        let env = std::env::var("KUBECONFIG").ok();
        let home = std::env::var_os("HOME").map(PathBuf::from);
        let paths = candidate_paths(explicit, env.as_deref(), home.as_deref());
        let mut merged: Option<Kubeconfig> = None;
        for path in paths {
            if explicit.is_none() && !path.exists() {
                continue;
            }
            let cfg = Kubeconfig::read(&path)?;
            merged = Some(match merged {
                None => cfg,
                Some(m) => m.merge(cfg),
            });
        }
        Ok(merged)
    }

    /// Adds what `other` has and `self` lacks: the first file to name a
    /// cluster, user or context (or to set current-context) wins.
    pub fn merge(mut self, other: Kubeconfig) -> Kubeconfig {
        for c in other.clusters {
            if !self.clusters.iter().any(|x| x.name == c.name) {
                self.clusters.push(c);
            }
        }
        for c in other.contexts {
            if !self.contexts.iter().any(|x| x.name == c.name) {
                self.contexts.push(c);
            }
        }
        for u in other.users {
            if !self.users.iter().any(|x| x.name == u.name) {
                self.users.push(u);
            }
        }
        if self.current_context.is_empty() {
            self.current_context = other.current_context;
        }
        self
    }

    /// Writes the file atomically (a reader never sees half of it), mode 0600.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = self.to_yaml()?;
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        if let Some(dir) = dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| Error::Config(format!("creating {}: {e}", dir.display())))?;
        }
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "kubeconfig".into());
        let tmp = path.with_file_name(format!(".{file_name}.tmp"));
        let io = |e: std::io::Error| Error::Config(format!("writing {}: {e}", path.display()));
        {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(&tmp).map_err(io)?;
            f.write_all(text.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    /// The connection settings of `context` (else the current context).
    pub fn resolve(&self, context: Option<&str>) -> Result<ClusterConfig> {
        let name = context.unwrap_or(&self.current_context);
        if name.is_empty() {
            return Err(Error::Config(
                "no context is selected: set current-context in the kubeconfig or pass --context"
                    .into(),
            ));
        }
        let ctx = self
            .contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.context)
            .ok_or_else(|| {
                Error::Config(format!(
                    "context was not found for specified context: {name}"
                ))
            })?;
        let cluster = self
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .map(|c| &c.cluster)
            .ok_or_else(|| {
                Error::Config(format!(
                    "cluster \"{}\" of context \"{name}\" was not found in the kubeconfig",
                    ctx.cluster
                ))
            })?;
        if cluster.server.is_empty() {
            return Err(Error::Config(format!(
                "no server found for cluster \"{}\"",
                ctx.cluster
            )));
        }
        // A context may name no user (or one that is not listed): no credentials.
        let user = self
            .users
            .iter()
            .find(|u| u.name == ctx.user)
            .map(|u| u.user.clone())
            .unwrap_or_default();

        let ca_pem = match (
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        ) {
            (Some(data), _) => Some(decode_b64("certificate-authority-data", data)?),
            (None, Some(file)) => Some(read_file("certificate-authority", file)?),
            (None, None) => None,
        };
        let token = match (&user.token, &user.token_file) {
            (Some(t), _) if !t.is_empty() => Some(t.clone()),
            (_, Some(file)) => {
                let bytes = read_file("tokenFile", file)?;
                Some(String::from_utf8_lossy(&bytes).trim().to_string())
            }
            _ => None,
        };
        let cert = match (&user.client_certificate_data, &user.client_certificate) {
            (Some(d), _) => Some(decode_b64("client-certificate-data", d)?),
            (None, Some(f)) => Some(read_file("client-certificate", f)?),
            _ => None,
        };
        let key = match (&user.client_key_data, &user.client_key) {
            (Some(d), _) => Some(decode_b64("client-key-data", d)?),
            (None, Some(f)) => Some(read_file("client-key", f)?),
            _ => None,
        };
        let identity_pem = match (cert, key) {
            (Some(mut c), Some(k)) => {
                if !c.ends_with(b"\n") {
                    c.push(b'\n');
                }
                c.extend_from_slice(&k);
                Some(c)
            }
            (None, None) => None,
            _ => {
                return Err(Error::Config(format!(
                    "user \"{}\" needs both a client certificate and a client key",
                    ctx.user
                )));
            }
        };
        Ok(ClusterConfig {
            server: cluster.server.trim_end_matches('/').to_string(),
            ca_pem,
            insecure_skip_tls_verify: cluster.insecure_skip_tls_verify.unwrap_or(false),
            tls_server_name: cluster.tls_server_name.clone(),
            token,
            identity_pem,
            namespace: ctx.namespace.clone().filter(|n| !n.is_empty()),
        })
    }

    fn make_paths_absolute(&mut self, dir: &Path) {
        let fix = |p: &mut Option<String>| {
            if let Some(s) = p.as_mut()
                && !s.is_empty()
                && Path::new(s.as_str()).is_relative()
            {
                *s = dir.join(s.as_str()).to_string_lossy().into_owned();
            }
        };
        for c in &mut self.clusters {
            fix(&mut c.cluster.certificate_authority);
        }
        for u in &mut self.users {
            fix(&mut u.user.token_file);
            fix(&mut u.user.client_certificate);
            fix(&mut u.user.client_key);
        }
    }
}

fn decode_b64(field: &str, data: &str) -> Result<Vec<u8>> {
    let compact: String = data.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| Error::Config(format!("{field}: invalid base64: {e}")))
}

fn read_file(field: &str, path: &str) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Config(format!("{field}: unable to read {path}: {}", io_reason(&e))))
}

/// `no such file or directory`, the way Go (and so kubectl) words it.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    extensions:
    - name: ignored
      extension: {}
- name: local
  cluster:
    server: http://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: prod-admin
  context:
    cluster: prod
    user: admin
    namespace: web
- name: local
  context:
    cluster: local
    user: nobody
current-context: prod-admin
preferences: {}
users:
- name: admin
  user:
    token: s3cret
"#;

    #[test]
    fn parses_a_standard_kubeconfig_and_resolves_the_current_context() {
        let cfg = Kubeconfig::from_yaml(SAMPLE).unwrap();
        assert_eq!(cfg.clusters.len(), 2);
        let r = cfg.resolve(None).unwrap();
        assert_eq!(r.server, "https://10.0.0.1:6443");
        assert_eq!(
            r.ca_pem.as_deref(),
            Some(&b"-----BEGIN CERTIFICATE-----\n"[..])
        );
        assert_eq!(r.token.as_deref(), Some("s3cret"));
        assert_eq!(r.namespace.as_deref(), Some("web"));
        assert!(!r.insecure_skip_tls_verify);
    }

    #[test]
    fn context_override_and_missing_user() {
        let cfg = Kubeconfig::from_yaml(SAMPLE).unwrap();
        let r = cfg.resolve(Some("local")).unwrap();
        assert_eq!(r.server, "http://127.0.0.1:6443");
        assert!(r.insecure_skip_tls_verify);
        assert_eq!(r.token, None);
        assert_eq!(r.namespace, None);
        let err = cfg.resolve(Some("nope")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "context was not found for specified context: nope"
        );
    }

    #[test]
    fn single_round_trips_through_yaml() {
        let cfg = Kubeconfig::single("http://127.0.0.1:7000", Some("PEM"), Some("tok"));
        let text = cfg.to_yaml().unwrap();
        assert!(text.contains("current-context: skiff"), "{text}");
        assert!(text.contains("certificate-authority-data:"), "{text}");
        let back = Kubeconfig::from_yaml(&text).unwrap();
        assert_eq!(back, cfg);
        let r = back.resolve(None).unwrap();
        assert_eq!(r.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(r.token.as_deref(), Some("tok"));
    }

    #[test]
    fn resolution_order_flag_then_env_then_home() {
        let home = Path::new("/home/u");
        assert_eq!(
            candidate_paths(Some(Path::new("/x")), Some("/a:/b"), Some(home)),
            vec![PathBuf::from("/x")]
        );
        assert_eq!(
            candidate_paths(None, Some("/a::/b"), Some(home)),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(
            candidate_paths(None, Some(""), Some(home)),
            vec![PathBuf::from("/home/u/.kube/config")]
        );
        assert!(candidate_paths(None, None, None).is_empty());
    }

    #[test]
    fn merge_keeps_the_first_definition() {
        let a = Kubeconfig::single("http://a:1", None, None);
        let mut b = Kubeconfig::from_yaml(SAMPLE).unwrap();
        b.clusters.push(NamedCluster {
            name: SKIFF_CONTEXT.into(),
            cluster: Cluster {
                server: "http://b:2".into(),
                ..Default::default()
            },
        });
        let m = a.merge(b);
        assert_eq!(m.current_context, SKIFF_CONTEXT);
        assert_eq!(m.resolve(None).unwrap().server, "http://a:1");
        assert_eq!(
            m.resolve(Some("local")).unwrap().server,
            "http://127.0.0.1:6443"
        );
    }

    #[test]
    fn files_relative_to_the_kubeconfig_and_token_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "abc\n").unwrap();
        std::fs::write(dir.path().join("ca.pem"), "CA").unwrap();
        let text = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n    certificate-authority: ca.pem\n\
                    contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
                    current-context: x\nusers:\n- name: u\n  user:\n    tokenFile: token\n";
        let path = dir.path().join("config");
        std::fs::write(&path, text).unwrap();
        let r = Kubeconfig::read(&path).unwrap().resolve(None).unwrap();
        assert_eq!(r.token.as_deref(), Some("abc"));
        assert_eq!(r.ca_pem.as_deref(), Some(&b"CA"[..]));
    }

    #[test]
    fn write_is_readable_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("kubeconfig");
        let cfg = Kubeconfig::single("http://127.0.0.1:1234", None, None);
        cfg.write(&path).unwrap();
        assert_eq!(Kubeconfig::read(&path).unwrap(), cfg);
        let missing = Kubeconfig::read(&dir.path().join("nope")).unwrap_err();
        assert!(missing.to_string().contains("no such file or directory"));
    }

    #[test]
    fn an_empty_user_is_no_credentials() {
        let text = "clusters:\n- name: c\n  cluster:\n    server: https://h:1\n\
                    contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n\
                    current-context: x\nusers:\n- name: u\n  user:\n";
        let r = Kubeconfig::from_yaml(text).unwrap().resolve(None).unwrap();
        assert_eq!(r.token, None);
    }

    #[test]
    fn empty_and_null_sections_are_fine() {
        let cfg = Kubeconfig::from_yaml("apiVersion: v1\nclusters:\nusers: null\n").unwrap();
        assert!(cfg.clusters.is_empty());
        assert!(cfg.resolve(None).is_err());
    }
}
