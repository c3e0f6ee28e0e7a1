//! Validation of the caller's relative cgroup path (`skiff/burstable/pod1/c1`).
//! The same string is joined onto every hierarchy root, so anything that
//! could escape the root or name the root itself is refused.

use super::CgroupError;

pub(crate) fn validate(path: &str) -> Result<(), CgroupError> {
    let invalid = |reason| {
        Err(CgroupError::InvalidPath {
            path: path.to_string(),
            reason,
        })
    };
    if path.is_empty() {
        return invalid("it is empty (the hierarchy root itself is never managed)");
    }
    if path.starts_with('/') {
        return invalid("it must be relative to the hierarchy root (no leading '/')");
    }
    if path.contains(['\0', '\n']) {
        return invalid("it contains a NUL or newline character");
    }
    for component in path.split('/') {
        match component {
            "" => return invalid("it has an empty component ('//' or a trailing '/')"),
            "." | ".." => return invalid("it must not contain '.' or '..' components"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate;

    #[test]
    fn accepts_plain_relative_paths() {
        validate("skiff/burstable/pod123/ctr1").unwrap();
        validate("single").unwrap();
    }

    #[test]
    fn refuses_paths_that_escape_or_name_the_root() {
        for bad in ["", "/abs", "a//b", "a/", "a/../b", "./a", "a\nb"] {
            let err = validate(bad).unwrap_err().to_string();
            assert!(err.contains("invalid cgroup path"), "{bad:?}: {err}");
        }
    }
}
