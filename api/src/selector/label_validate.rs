//! Syntax of label keys and values, as Kubernetes checks them when it
//! builds a selector requirement (`IsQualifiedName`, `IsValidLabelValue`).

const NAME_MAX: usize = 63;
const PREFIX_MAX: usize = 253;
const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', \
     and must start and end with an alphanumeric character";

/// `[prefix/]name`, where prefix is a DNS subdomain and name is at most 63
/// characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
pub(crate) fn check_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(format!(
                "invalid label key \"{key}\": prefix part must be non-empty"
            ));
        }
        if let Err(why) = check_dns_subdomain(prefix) {
            return Err(format!("invalid label key \"{key}\": prefix part {why}"));
        }
    }
    if name.is_empty() {
        return Err(format!(
            "invalid label key \"{key}\": name part must be non-empty"
        ));
    }
    if name.len() > NAME_MAX {
        return Err(format!(
            "invalid label key \"{key}\": name part must be no more than {NAME_MAX} characters"
        ));
    }
    if !is_name_part(name) {
        return Err(format!(
            "invalid label key \"{key}\": name part {NAME_RULE}"
        ));
    }
    Ok(())
}

/// Empty, or at most 63 characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends.
pub(crate) fn check_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    if value.len() > NAME_MAX {
        return Err(format!(
            "invalid label value \"{value}\": must be no more than {NAME_MAX} characters"
        ));
    }
    if !is_name_part(value) {
        return Err(format!(
            "invalid label value \"{value}\": a valid label value {NAME_RULE}"
        ));
    }
    Ok(())
}

fn is_name_part(s: &str) -> bool {
    let bytes = s.as_bytes();
    let edge_ok = |b: u8| b.is_ascii_alphanumeric();
    !bytes.is_empty()
        && edge_ok(bytes[0])
        && edge_ok(bytes[bytes.len() - 1])
        && bytes
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

fn check_dns_subdomain(s: &str) -> Result<(), String> {
    if s.len() > PREFIX_MAX {
        return Err(format!("must be no more than {PREFIX_MAX} characters"));
    }
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
    };
    if s.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(
            "must be a lowercase RFC 1123 subdomain: lowercase alphanumeric characters, '-' \
             or '.', starting and ending with an alphanumeric character"
                .to_string(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "app",
            "app.kubernetes.io/name",
            "node-role.kubernetes.io/control-plane",
            "a_b.c-d",
            "A1",
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a b",
            "/a",
            "Example.com/a",
            "a/",
            "a/b/c",
            &"x".repeat(64),
        ] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values() {
        for ok in ["", "nginx", "1.27", "a_b-c"] {
            assert!(check_value(ok).is_ok(), "{ok}");
        }
        for bad in ["-x", "x-", "a b", "a/b", &"v".repeat(64)] {
            assert!(check_value(bad).is_err(), "{bad}");
        }
        assert!(check_value("a b").unwrap_err().contains("\"a b\""));
    }
}
