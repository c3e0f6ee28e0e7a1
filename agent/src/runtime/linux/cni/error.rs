//! What a CNI call can fail with, each naming the plugin, the command and
//! the reason.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CniError {
    /// The configuration (subnet, names, directories) is unusable.
    #[error("CNI configuration: {0}")]
    InvalidConfig(String),

    /// A sandbox id or netns path given to a call is unusable.
    #[error("CNI: {0}")]
    InvalidArgument(String),

    /// A required plugin binary is in none of the plugin directories.
    #[error(
        "CNI plugin `{plugin}` not found in {}: install the Debian package containernetworking-plugins (or put the upstream plugins in one of those directories)",
        searched.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    PluginNotFound {
        plugin: String,
        searched: Vec<PathBuf>,
    },

    /// The plugin answered with a CNI error object.
    #[error("CNI plugin `{plugin}` {command} failed (code {code}): {msg}{}",
        if details.is_empty() { String::new() } else { format!(": {details}") })]
    Plugin {
        plugin: String,
        command: &'static str,
        code: u32,
        msg: String,
        details: String,
    },

    /// The plugin failed without a CNI error object (crashed, killed, or
    /// wrote something else).
    #[error("CNI plugin `{plugin}` {command} {status}: {output}")]
    PluginFailed {
        plugin: String,
        command: &'static str,
        status: String,
        output: String,
    },

    /// The plugin succeeded but its result is not what CNI 1.0 specifies.
    #[error("CNI plugin `{plugin}` returned an unusable result: {reason}")]
    BadResult { plugin: String, reason: String },

    /// Reading or writing the cache or host-local's files, or starting a
    /// plugin.
    #[error("CNI: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl CniError {
    pub(super) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CniError {
        let what = what.into();
        move |source| CniError::Io { what, source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_plugin_names_the_directories_and_the_package() {
        let err = CniError::PluginNotFound {
            plugin: "bridge".into(),
            searched: vec!["/usr/lib/cni".into(), "/opt/cni/bin".into()],
        };
        let text = err.to_string();
        assert!(text.contains("`bridge`"), "{text}");
        assert!(text.contains("/usr/lib/cni, /opt/cni/bin"), "{text}");
        assert!(text.contains("containernetworking-plugins"), "{text}");
    }

    #[test]
    fn plugin_error_shows_code_message_and_details() {
        let err = CniError::Plugin {
            plugin: "bridge".into(),
            command: "ADD",
            code: 11,
            msg: "failed to allocate".into(),
            details: "no IP addresses available".into(),
        };
        assert_eq!(
            err.to_string(),
            "CNI plugin `bridge` ADD failed (code 11): failed to allocate: no IP addresses available"
        );
    }
}
