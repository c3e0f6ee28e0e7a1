//! Kubernetes' `imagePullPolicy`: whether the agent must pull before it starts a container.

use crate::error::{Error, Result};

/// `Always` pulls every time, `IfNotPresent` only when the image is missing, and `Never`
/// never does: an absent image is then the `ErrImageNeverPull` error the kubelet reports.
pub fn needs_pull(policy: &str, present: bool) -> Result<bool> {
    match policy {
        "Always" => Ok(true),
        "IfNotPresent" => Ok(!present),
        "Never" if present => Ok(false),
        "Never" => Err(Error::PullPolicy(
            "ErrImageNeverPull: the image is not present on the node and imagePullPolicy is Never"
                .to_string(),
        )),
        other => Err(Error::PullPolicy(format!(
            "unknown imagePullPolicy {other:?}: expected Always, IfNotPresent or Never"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies() {
        assert!(needs_pull("Always", true).unwrap());
        assert!(needs_pull("Always", false).unwrap());
        assert!(needs_pull("IfNotPresent", false).unwrap());
        assert!(!needs_pull("IfNotPresent", true).unwrap());
        assert!(!needs_pull("Never", true).unwrap());
        let never = needs_pull("Never", false).unwrap_err().to_string();
        assert!(never.starts_with("ErrImageNeverPull"), "{never}");
        let bad = needs_pull("always", true).unwrap_err().to_string();
        assert!(bad.contains("\"always\""), "{bad}");
    }
}
