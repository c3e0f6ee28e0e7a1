//! Containers and volumes, shared by the Pod and the Deployment's pod
//! template descriptions.

use serde_json::Value;

use super::writer::{Describer, array, int, pairs, scalar, text, text_or, time};

/// `80/TCP, 443/TCP`, from `containerPort` or `hostPort` (0 when unset,
/// as kubectl prints it).
fn ports(c: &Value, field: &str) -> String {
    array(c, "/ports")
        .iter()
        .map(|p| {
            let proto = text_or(p, "/protocol", "TCP");
            format!("{}/{proto}", int(p, &format!("/{field}")))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn probe(p: &Value) -> String {
    let how = if let Some(h) = p.get("httpGet") {
        format!(
            "http-get {}://{}:{}{}",
            text_or(h, "/scheme", "HTTP").to_lowercase(),
            text(h, "/host"),
            text_or(h, "/port", ""),
            text(h, "/path")
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!(
            "tcp-socket {}:{}",
            text(t, "/host"),
            text_or(t, "/port", "")
        )
    } else if let Some(e) = p.get("exec") {
        let cmd: Vec<String> = array(e, "/command").iter().map(scalar).collect();
        format!("exec [{}]", cmd.join(" "))
    } else {
        "unknown".into()
    };
    let or = |k: &str, d: i64| p.get(k).and_then(Value::as_i64).unwrap_or(d);
    format!(
        "{how} delay={}s timeout={}s period={}s #success={} #failure={}",
        or("initialDelaySeconds", 0),
        or("timeoutSeconds", 1),
        or("periodSeconds", 10),
        or("successThreshold", 1),
        or("failureThreshold", 3)
    )
}

fn env_value(e: &Value) -> String {
    if let Some(v) = e.get("value") {
        return scalar(v);
    }
    let from = e.get("valueFrom").cloned().unwrap_or(Value::Null);
    if let Some(r) = from.get("configMapKeyRef") {
        return format!(
            "<set to the key '{}' of config map '{}'>",
            text(r, "/key"),
            text(r, "/name")
        );
    }
    if let Some(r) = from.get("secretKeyRef") {
        return format!(
            "<set to the key '{}' in secret '{}'>",
            text(r, "/key"),
            text(r, "/name")
        );
    }
    if let Some(r) = from.get("fieldRef") {
        return format!(
            " ({}:{})",
            text_or(r, "/apiVersion", "v1"),
            text(r, "/fieldPath")
        );
    }
    if let Some(r) = from.get("resourceFieldRef") {
        return format!("{} ({})", text(r, "/resource"), text(r, "/containerName"));
    }
    String::new()
}

fn state(d: &mut Describer, title: &str, s: &Value) {
    if let Some(r) = s.get("running") {
        d.field(2, title, "Running");
        d.field(3, "Started", &time(r, "/startedAt"));
    } else if let Some(w) = s.get("waiting") {
        d.field(2, title, "Waiting");
        d.field(3, "Reason", text(w, "/reason"));
        if !text(w, "/message").is_empty() {
            d.field(3, "Message", text(w, "/message"));
        }
    } else if let Some(t) = s.get("terminated") {
        d.field(2, title, "Terminated");
        d.field(3, "Reason", text(t, "/reason"));
        if !text(t, "/message").is_empty() {
            d.field(3, "Message", text(t, "/message"));
        }
        d.field(3, "Exit Code", &int(t, "/exitCode").to_string());
        d.field(3, "Started", &time(t, "/startedAt"));
        d.field(3, "Finished", &time(t, "/finishedAt"));
    } else {
        d.field(2, title, "Waiting");
    }
}

/// `Containers:` (or `Init Containers:`) with each container's details;
/// `statuses` are the pod's container statuses (none for templates).
/// `template` adds kubectl's one-space nudge for pod templates.
pub fn describe(
    d: &mut Describer,
    label: &str,
    containers: &[Value],
    statuses: &[Value],
    template: bool,
) {
    if template {
        d.line(1, &format!("{label}:"));
    } else {
        d.line(0, &format!("{label}:"));
    }
    for c in containers {
        let name = text(c, "/name");
        let status = statuses.iter().find(|s| text(s, "/name") == name);
        d.line(1, &format!("{}{name}:", if template { " " } else { "" }));
        if let Some(s) = status {
            d.field(2, "Container ID", text(s, "/containerID"));
        }
        d.field(2, "Image", text(c, "/image"));
        if let Some(s) = status {
            d.field(2, "Image ID", text(s, "/imageID"));
        }
        let p = ports(c, "containerPort");
        d.field(
            2,
            if p.contains(',') { "Ports" } else { "Port" },
            if p.is_empty() { "<none>" } else { &p },
        );
        let hp = ports(c, "hostPort");
        d.field(
            2,
            if hp.contains(',') {
                "Host Ports"
            } else {
                "Host Port"
            },
            if hp.is_empty() { "<none>" } else { &hp },
        );
        for (title, key) in [("Command", "/command"), ("Args", "/args")] {
            let items = array(c, key);
            if !items.is_empty() {
                d.line(2, &format!("{title}:"));
                for i in items {
                    d.line(3, &scalar(i));
                }
            }
        }
        if let Some(s) = status {
            state(d, "State", s.get("state").unwrap_or(&Value::Null));
            if s.get("lastState")
                .is_some_and(|l| l.as_object().is_some_and(|m| !m.is_empty()))
            {
                state(d, "Last State", &s["lastState"]);
            }
            d.field(
                2,
                "Ready",
                if s.get("ready") == Some(&Value::Bool(true)) {
                    "True"
                } else {
                    "False"
                },
            );
            d.field(2, "Restart Count", &int(s, "/restartCount").to_string());
        }
        for (title, key) in [
            ("Limits", "/resources/limits"),
            ("Requests", "/resources/requests"),
        ] {
            let items = pairs(c.pointer(key), ":\t");
            if !items.is_empty() {
                d.line(2, &format!("{title}:"));
                for i in items {
                    d.line(3, &i);
                }
            }
        }
        for (title, key) in [
            ("Liveness", "/livenessProbe"),
            ("Readiness", "/readinessProbe"),
            ("Startup", "/startupProbe"),
        ] {
            if let Some(p) = c.pointer(key) {
                d.field(2, title, &probe(p));
            }
        }
        let env = array(c, "/env");
        if env.is_empty() {
            d.field(2, "Environment", "<none>");
        } else {
            d.line(2, "Environment:");
            for e in env {
                d.field(3, text(e, "/name"), &env_value(e));
            }
        }
        let mounts = array(c, "/volumeMounts");
        if mounts.is_empty() {
            d.field(2, "Mounts", "<none>");
        } else {
            d.line(2, "Mounts:");
            for m in mounts {
                let mode = if m.get("readOnly") == Some(&Value::Bool(true)) {
                    "ro"
                } else {
                    "rw"
                };
                d.line(
                    3,
                    &format!(
                        "{} from {} ({mode})",
                        text(m, "/mountPath"),
                        text(m, "/name")
                    ),
                );
            }
        }
    }
}

/// `Volumes:` with each volume's source.
pub fn volumes(d: &mut Describer, level: usize, vols: &[Value]) {
    if vols.is_empty() {
        d.field(level, "Volumes", "<none>");
        return;
    }
    d.line(level, "Volumes:");
    for v in vols {
        d.line(level + 1, &format!("{}:", text(v, "/name")));
        let (kind, detail) = match v
            .as_object()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() != "name"))
        {
            Some((k, src)) => (k.clone(), src.clone()),
            None => ("<unknown>".to_string(), Value::Null),
        };
        let label = match kind.as_str() {
            "emptyDir" => "EmptyDir (a temporary directory that shares a pod's lifetime)".to_string(),
            "hostPath" => "HostPath (bare host directory volume)".to_string(),
            "configMap" => "ConfigMap (a volume populated by a ConfigMap)".to_string(),
            "secret" => "Secret (a volume populated by a Secret)".to_string(),
            "persistentVolumeClaim" => {
                "PersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)".to_string()
            }
            other => other.to_string(),
        };
        d.field(level + 2, "Type", &label);
        if let Some(m) = detail.as_object() {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                if m[k].is_object() || m[k].is_array() {
                    continue;
                }
                let mut title = k.clone();
                if let Some(f) = title.get_mut(0..1) {
                    f.make_ascii_uppercase();
                }
                d.field(level + 2, &title, &scalar(&m[k]));
            }
        }
    }
}
