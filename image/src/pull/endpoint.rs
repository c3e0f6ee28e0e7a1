//! Where a repository is fetched from: its mirrors first (in the order given), then the
//! registry itself. A mirror URL's scheme decides http or https; the registry speaks plain
//! http only when it is listed as insecure.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::reference::Reference;

/// One place to fetch a repository from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// `scheme://host[:port][/prefix]`, without a trailing slash.
    pub base: String,
    /// What errors call it: the mirror's URL, or the registry's name.
    pub shown: String,
    /// `host[:port]`: the key of its tokens and credentials.
    pub host: String,
    /// For a mirror, the registry it stands in for (`?ns=` on every request).
    pub mirror_of: Option<String>,
}

impl Endpoint {
    /// `<base>/v2/<repository>/<rest>` (plus `?ns=` for a mirror).
    pub fn url(&self, repository: &str, rest: &str) -> String {
        let mut url = format!("{}/v2/{repository}/{rest}", self.base);
        if let Some(ns) = &self.mirror_of {
            url.push_str(if url.contains('?') { "&" } else { "?" });
            url.push_str("ns=");
            url.push_str(ns);
        }
        url
    }

    pub fn error(&self, repository: &str, what: impl Into<String>) -> Error {
        Error::Registry {
            registry: self.shown.clone(),
            repository: repository.to_string(),
            what: what.into(),
        }
    }
}

/// Checks a mirror URL: `http://` or `https://`, a host, nothing after the path.
pub(crate) fn check_mirror_url(registry: &str, url: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::PullPolicy(format!(
            "mirror {url:?} of {registry}: {why} (expected http://HOST[:PORT] or https://HOST[:PORT])"
        ))
    };
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .ok_or_else(|| bad("the scheme must be http:// or https://"))?;
    let host = rest.split('/').next().unwrap_or("");
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if rest.contains(['?', '#', ' ']) {
        return Err(bad("no query, fragment or spaces allowed"));
    }
    Ok(())
}

/// The endpoints to try for `reference`, mirrors first.
pub(crate) fn endpoints(
    reference: &Reference,
    mirrors: &BTreeMap<String, Vec<String>>,
    insecure: &BTreeSet<String>,
) -> Vec<Endpoint> {
    let registry = reference.registry();
    let mut out = Vec::new();
    for url in mirrors.get(registry).into_iter().flatten() {
        let mut base = url.trim_end_matches('/').to_string();
        // `http://mirror/v2` names the API root; requests add /v2 themselves.
        if let Some(stripped) = base.strip_suffix("/v2") {
            base = stripped.to_string();
        }
        let host = base
            .split_once("://")
            .map_or("", |(_, rest)| rest)
            .split('/')
            .next()
            .unwrap_or("")
            .to_string();
        out.push(Endpoint {
            base,
            shown: format!("mirror {url} of {registry}"),
            host,
            mirror_of: Some(registry.to_string()),
        });
    }
    let host = reference.endpoint().to_string();
    let plain = insecure.contains(registry) || insecure.contains(&host);
    out.push(Endpoint {
        base: format!("{}://{host}", if plain { "http" } else { "https" }),
        shown: registry.to_string(),
        host,
        mirror_of: None,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirrors_first_then_the_registry() {
        let r = Reference::parse("nginx").unwrap();
        let mirrors = BTreeMap::from([(
            "docker.io".to_string(),
            vec![
                "http://127.0.0.1:5000/".to_string(),
                "https://mirror.example/v2".to_string(),
            ],
        )]);
        let e = endpoints(&r, &mirrors, &BTreeSet::new());
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0].url("library/nginx", "manifests/latest"),
            "http://127.0.0.1:5000/v2/library/nginx/manifests/latest?ns=docker.io"
        );
        assert_eq!(e[0].host, "127.0.0.1:5000");
        assert_eq!(e[1].base, "https://mirror.example");
        assert_eq!(
            e[2].url("library/nginx", "blobs/x"),
            "https://registry-1.docker.io/v2/library/nginx/blobs/x"
        );
        assert_eq!(e[2].shown, "docker.io");
    }

    #[test]
    fn plain_http_only_when_insecure() {
        let r = Reference::parse("127.0.0.1:5000/app").unwrap();
        let none = BTreeMap::new();
        assert_eq!(
            endpoints(&r, &none, &BTreeSet::new())[0].base,
            "https://127.0.0.1:5000"
        );
        let insecure = BTreeSet::from(["127.0.0.1:5000".to_string()]);
        let e = endpoints(&r, &none, &insecure);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].base, "http://127.0.0.1:5000");
        assert_eq!(
            e[0].url("app", "manifests/v1"),
            "http://127.0.0.1:5000/v2/app/manifests/v1"
        );
    }

    #[test]
    fn mirror_urls_are_checked() {
        assert!(check_mirror_url("docker.io", "http://127.0.0.1:5000").is_ok());
        assert!(check_mirror_url("docker.io", "https://m.example/prefix").is_ok());
        for bad in ["127.0.0.1:5000", "ftp://x", "http://", "http://h/?q"] {
            let e = check_mirror_url("docker.io", bad).unwrap_err().to_string();
            assert!(e.contains("docker.io"), "{e}");
        }
    }
}
