//! The agent's URLs: kubelet paths and the query parameters passed on.

use crate::query::Query;

/// `{scheme}://{endpoint}/{route}/{ns}/{pod}/{container}?{the kept parameters}`.
pub fn agent_url(
    scheme: &str,
    endpoint: &str,
    route: &str,
    target: &super::AgentTarget,
    query: &Query,
    keep: &[&str],
) -> String {
    let mut url = format!(
        "{scheme}://{endpoint}/{route}/{}/{}/{}",
        encode(&target.namespace),
        encode(&target.pod),
        encode(&target.container)
    );
    let mut sep = '?';
    for key in keep {
        for value in query.all(key) {
            url.push(sep);
            url.push_str(key);
            url.push('=');
            url.push_str(&encode(value));
            sep = '&';
        }
    }
    url
}

/// Percent-encodes everything but unreserved characters (RFC 3986).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_parameters_are_encoded_in_order() {
        let target = super::super::AgentTarget {
            namespace: "default".into(),
            pod: "web-1".into(),
            container: "c".into(),
            node: "n1".into(),
            endpoint: Some("127.0.0.1:10250".into()),
            credential: None,
        };
        let q = Query::parse(Some(
            "command=sh&container=c&command=-c&command=echo+a%26b&stdout=true&x=1",
        ));
        assert_eq!(
            agent_url(
                "ws",
                "127.0.0.1:10250",
                "exec",
                &target,
                &q,
                &["command", "stdout", "stdin"]
            ),
            "ws://127.0.0.1:10250/exec/default/web-1/c?command=sh&command=-c&command=echo%20a%26b&stdout=true"
        );
        assert_eq!(
            agent_url(
                "http",
                "h:1",
                "containerLogs",
                &target,
                &Query::default(),
                &["follow"]
            ),
            "http://h:1/containerLogs/default/web-1/c"
        );
    }
}
