//! Checks of probes and lifecycle hooks: exactly one action, valid ports,
//! non-negative timings.

use super::probe::{ExecAction, HttpGetAction, LifecycleHandler, Probe, TcpSocketAction};
use crate::intstr::IntOrString;
use crate::validation::{
    FieldError, child, is_valid_port_name, is_valid_port_num, nonnegative_opt, positive,
};

const SCHEMES: [&str; 2] = ["HTTP", "HTTPS"];

/// A port by number (1-65535) or by a container port's name.
pub fn validate_port_num_or_name(port: &IntOrString, path: &str) -> Vec<FieldError> {
    match port {
        IntOrString::Int(n) => is_valid_port_num(i64::from(*n))
            .into_iter()
            .map(|msg| FieldError::invalid(path, n, msg))
            .collect(),
        IntOrString::String(s) => is_valid_port_name(s)
            .into_iter()
            .map(|msg| FieldError::invalid(path, s, msg))
            .collect(),
    }
}

fn validate_exec(e: &ExecAction, path: &str) -> Vec<FieldError> {
    if e.command.is_empty() {
        vec![FieldError::required(child(path, "command"), "")]
    } else {
        Vec::new()
    }
}

fn validate_http_get(h: &HttpGetAction, path: &str) -> Vec<FieldError> {
    let mut errs = validate_port_num_or_name(&h.port, &child(path, "port"));
    if let Some(s) = h.scheme.as_deref()
        && !SCHEMES.contains(&s)
    {
        errs.push(FieldError::not_supported(
            child(path, "scheme"),
            s,
            &SCHEMES,
        ));
    }
    for (i, header) in h.http_headers.iter().enumerate() {
        let valid = !header.name.is_empty()
            && header
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            errs.push(FieldError::invalid(
                crate::validation::index(&child(path, "httpHeaders"), i),
                &header.name,
                "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', regex used for validation is '[-A-Za-z0-9]+')",
            ));
        }
    }
    errs
}

fn validate_tcp(t: &TcpSocketAction, path: &str) -> Vec<FieldError> {
    validate_port_num_or_name(&t.port, &child(path, "port"))
}

/// `must specify a handler type` / `may not specify more than 1 handler type`.
fn handler_count_errors(set: &[(&str, bool)], path: &str) -> Vec<FieldError> {
    let present: Vec<&str> = set.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
    match present.as_slice() {
        [] => vec![FieldError::required(path, "must specify a handler type")],
        [_] => Vec::new(),
        [_, rest @ ..] => vec![FieldError::forbidden(
            child(path, rest[0]),
            "may not specify more than 1 handler type",
        )],
    }
}

pub fn validate_probe(p: &Probe, path: &str) -> Vec<FieldError> {
    let mut errs = handler_count_errors(
        &[
            ("exec", p.exec.is_some()),
            ("httpGet", p.http_get.is_some()),
            ("tcpSocket", p.tcp_socket.is_some()),
            ("grpc", p.grpc.is_some()),
        ],
        path,
    );
    if let Some(e) = &p.exec {
        errs.extend(validate_exec(e, &child(path, "exec")));
    }
    if let Some(h) = &p.http_get {
        errs.extend(validate_http_get(h, &child(path, "httpGet")));
    }
    if let Some(t) = &p.tcp_socket {
        errs.extend(validate_tcp(t, &child(path, "tcpSocket")));
    }
    if let Some(g) = &p.grpc {
        errs.extend(validate_port_num_or_name(
            &IntOrString::Int(g.port),
            &child(&child(path, "grpc"), "port"),
        ));
    }
    let numbers = [
        ("initialDelaySeconds", p.initial_delay_seconds),
        ("timeoutSeconds", p.timeout_seconds),
        ("periodSeconds", p.period_seconds),
        ("successThreshold", p.success_threshold),
        ("failureThreshold", p.failure_threshold),
    ];
    for (name, v) in numbers {
        errs.extend(nonnegative_opt(&child(path, name), v));
    }
    if let Some(t) = p.termination_grace_period_seconds {
        errs.extend(positive(&child(path, "terminationGracePeriodSeconds"), t));
    }
    errs
}

pub fn validate_handler(h: &LifecycleHandler, path: &str) -> Vec<FieldError> {
    let mut errs = handler_count_errors(
        &[
            ("exec", h.exec.is_some()),
            ("httpGet", h.http_get.is_some()),
            ("tcpSocket", h.tcp_socket.is_some()),
            ("sleep", h.sleep.is_some()),
        ],
        path,
    );
    if let Some(e) = &h.exec {
        errs.extend(validate_exec(e, &child(path, "exec")));
    }
    if let Some(g) = &h.http_get {
        errs.extend(validate_http_get(g, &child(path, "httpGet")));
    }
    if let Some(t) = &h.tcp_socket {
        errs.extend(validate_tcp(t, &child(path, "tcpSocket")));
    }
    if let Some(s) = &h.sleep
        && s.seconds < 0
    {
        errs.push(FieldError::invalid(
            child(&child(path, "sleep"), "seconds"),
            &s.seconds,
            "must be non-negative",
        ));
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::probe::{GrpcAction, SleepAction};

    fn msgs(errs: Vec<FieldError>) -> Vec<String> {
        errs.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn probes_need_exactly_one_action() {
        assert_eq!(
            msgs(validate_probe(&Probe::default(), "p")),
            vec!["p: Required value: must specify a handler type"]
        );
        let p = Probe {
            exec: Some(ExecAction {
                command: vec!["true".into()],
            }),
            tcp_socket: Some(TcpSocketAction {
                port: 80.into(),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            msgs(validate_probe(&p, "p")),
            vec!["p.tcpSocket: Forbidden: may not specify more than 1 handler type"]
        );
    }

    #[test]
    fn probe_fields() {
        let p = Probe {
            http_get: Some(HttpGetAction {
                port: 0.into(),
                scheme: Some("FTP".into()),
                ..Default::default()
            }),
            period_seconds: Some(-1),
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        };
        assert_eq!(
            msgs(validate_probe(&p, "p")),
            vec![
                "p.httpGet.port: Invalid value: 0: must be between 1 and 65535, inclusive",
                "p.httpGet.scheme: Unsupported value: \"FTP\": supported values: \"HTTP\", \"HTTPS\"",
                "p.periodSeconds: Invalid value: -1: must be greater than or equal to 0",
                "p.terminationGracePeriodSeconds: Invalid value: 0: must be greater than 0",
            ]
        );
        let p = Probe {
            tcp_socket: Some(TcpSocketAction {
                port: "Web".into(),
                host: None,
            }),
            ..Default::default()
        };
        assert_eq!(validate_probe(&p, "p")[0].field, "p.tcpSocket.port");
        let p = Probe {
            grpc: Some(GrpcAction {
                port: 70000,
                service: None,
            }),
            exec: None,
            ..Default::default()
        };
        assert_eq!(validate_probe(&p, "p")[0].field, "p.grpc.port");
        let p = Probe {
            exec: Some(ExecAction::default()),
            ..Default::default()
        };
        assert_eq!(
            msgs(validate_probe(&p, "p")),
            vec!["p.exec.command: Required value"]
        );
        let p = Probe {
            http_get: Some(HttpGetAction {
                port: "http".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(validate_probe(&p, "p").is_empty());
    }

    #[test]
    fn hooks() {
        let h = LifecycleHandler {
            sleep: Some(SleepAction { seconds: 5 }),
            ..Default::default()
        };
        assert!(validate_handler(&h, "h").is_empty());
        assert_eq!(validate_handler(&LifecycleHandler::default(), "h").len(), 1);
    }
}
