//! A probe's handler resolved against its container and pod: the command,
//! URL or address it checks, or why it cannot be run.

use std::net::IpAddr;

use skiff_api::core::{Container, Probe};
use skiff_api::intstr::IntOrString;

/// What one probe checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Runs in the container; exit code 0 passes.
    Exec(Vec<String>),
    /// GET; a status in 200..400 passes.
    Http(HttpTarget),
    /// A TCP connection that opens passes.
    Tcp { host: String, port: u16 },
    /// Cannot be run at all (gRPC, a port name the container lacks): the
    /// message says why; the probe's result stays as it started.
    Unusable(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    pub url: String,
    /// `httpHeaders`, in order (a `Host` header replaces the URL's host).
    pub headers: Vec<(String, String)>,
}

/// Resolves `probe`'s handler; `pod_ip` is the address probes go to
/// without a `host` (the node's for hostNetwork pods).
pub fn resolve(probe: &Probe, container: &Container, pod_ip: Option<IpAddr>) -> Action {
    let host_of = |host: &Option<String>| -> Result<String, String> {
        match host.as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Ok(h.to_string()),
            None => pod_ip
                .map(|ip| ip.to_string())
                .ok_or_else(|| "the pod has no IP to probe".to_string()),
        }
    };
    if let Some(exec) = &probe.exec {
        if exec.command.is_empty() {
            return Action::Unusable("exec probe without a command".into());
        }
        return Action::Exec(exec.command.clone());
    }
    if let Some(get) = &probe.http_get {
        let scheme = match get.scheme.as_deref().unwrap_or("HTTP") {
            s if s.eq_ignore_ascii_case("http") => "http",
            s if s.eq_ignore_ascii_case("https") => "https",
            other => return Action::Unusable(format!("unsupported httpGet scheme {other:?}")),
        };
        let (host, port) = match (host_of(&get.host), port_of(&get.port, container)) {
            (Ok(h), Ok(p)) => (h, p),
            (Err(e), _) | (_, Err(e)) => return Action::Unusable(e),
        };
        let path = get.path.as_deref().unwrap_or("/");
        let slash = if path.starts_with('/') { "" } else { "/" };
        return Action::Http(HttpTarget {
            url: format!("{scheme}://{}:{port}{slash}{path}", bracketed(&host)),
            headers: get
                .http_headers
                .iter()
                .map(|h| (h.name.clone(), h.value.clone()))
                .collect(),
        });
    }
    if let Some(tcp) = &probe.tcp_socket {
        return match (host_of(&tcp.host), port_of(&tcp.port, container)) {
            (Ok(host), Ok(port)) => Action::Tcp { host, port },
            (Err(e), _) | (_, Err(e)) => Action::Unusable(e),
        };
    }
    if probe.grpc.is_some() {
        return Action::Unusable("gRPC probes are not supported by this node agent".into());
    }
    Action::Unusable("the probe has no handler (exec, httpGet, tcpSocket or grpc)".into())
}

/// A port number, or the number of the container's port of that name.
fn port_of(port: &IntOrString, container: &Container) -> Result<u16, String> {
    let number = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => container
            .ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .map(|p| p.container_port)
            .ok_or_else(|| format!("container {} has no port named {name:?}", container.name))?,
    };
    u16::try_from(number)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("invalid port number {number}"))
}

/// IPv6 addresses go in brackets in URLs.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{
        ContainerPort, ExecAction, GrpcAction, HttpGetAction, HttpHeader, TcpSocketAction,
    };

    fn container() -> Container {
        Container {
            name: "web".into(),
            ports: vec![ContainerPort {
                name: Some("http".into()),
                container_port: 8080,
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn ip() -> Option<IpAddr> {
        Some("10.244.0.7".parse().unwrap())
    }

    #[test]
    fn http_targets() {
        let probe = Probe {
            http_get: Some(HttpGetAction {
                path: Some("healthz".into()),
                port: IntOrString::String("http".into()),
                http_headers: vec![HttpHeader {
                    name: "X-Probe".into(),
                    value: "1".into(),
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let Action::Http(t) = resolve(&probe, &container(), ip()) else {
            panic!("not http");
        };
        assert_eq!(t.url, "http://10.244.0.7:8080/healthz");
        assert_eq!(t.headers, vec![("X-Probe".to_string(), "1".to_string())]);
        let mut https = probe.clone();
        let get = https.http_get.as_mut().unwrap();
        get.scheme = Some("HTTPS".into());
        get.host = Some("::1".into());
        get.port = IntOrString::Int(8443);
        get.path = None;
        let Action::Http(t) = resolve(&https, &container(), None) else {
            panic!("not http");
        };
        assert_eq!(t.url, "https://[::1]:8443/");
    }

    #[test]
    fn tcp_exec_and_what_cannot_run() {
        let tcp = Probe {
            tcp_socket: Some(TcpSocketAction {
                port: IntOrString::Int(5432),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            resolve(&tcp, &container(), ip()),
            Action::Tcp {
                host: "10.244.0.7".into(),
                port: 5432
            }
        );
        assert_eq!(
            resolve(&tcp, &container(), None),
            Action::Unusable("the pod has no IP to probe".into())
        );
        let named = Probe {
            tcp_socket: Some(TcpSocketAction {
                port: IntOrString::String("db".into()),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            resolve(&named, &container(), ip()),
            Action::Unusable("container web has no port named \"db\"".into())
        );
        let exec = Probe {
            exec: Some(ExecAction {
                command: vec!["cat".into(), "/tmp/healthy".into()],
            }),
            ..Default::default()
        };
        assert_eq!(
            resolve(&exec, &container(), None),
            Action::Exec(vec!["cat".into(), "/tmp/healthy".into()])
        );
        let grpc = Probe {
            grpc: Some(GrpcAction {
                port: 9090,
                service: None,
            }),
            ..Default::default()
        };
        let Action::Unusable(why) = resolve(&grpc, &container(), ip()) else {
            panic!("grpc ran");
        };
        assert!(why.contains("gRPC probes are not supported"), "{why}");
        assert!(matches!(
            resolve(&Probe::default(), &container(), ip()),
            Action::Unusable(_)
        ));
    }
}
