//! Running one CNI plugin binary: the protocol's environment, the network
//! configuration on stdin, the result or the error object on stdout.

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use super::CniError;

/// A plugin that takes longer than this is stuck (ADD takes ~25 ms here).
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Longest piece of a failing plugin's output quoted in an error.
const MAX_QUOTED_OUTPUT: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Add,
    Del,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Verb::Add => "ADD",
            Verb::Del => "DEL",
        }
    }
}

/// One call: what the plugin is asked to do, for which container, where.
pub(super) struct Call<'a> {
    pub verb: Verb,
    pub container_id: &'a str,
    /// `None` only for DEL of a sandbox whose namespace is gone.
    pub netns: Option<&'a Path>,
    pub if_name: &'a str,
}

/// The directories plugins are looked up in (also the plugins' `CNI_PATH`,
/// where `bridge` finds `host-local`).
#[derive(Debug, Clone)]
pub(super) struct PluginDirs {
    dirs: Vec<PathBuf>,
}

/// CNI's error object (spec "Error").
#[derive(Deserialize)]
struct ErrorObject {
    code: u32,
    msg: String,
    #[serde(default)]
    details: String,
}

impl PluginDirs {
    pub(super) fn new(dirs: Vec<PathBuf>) -> PluginDirs {
        PluginDirs { dirs }
    }

    /// The first executable `name` in the directories, in order.
    pub(super) fn find(&self, name: &str) -> Result<PathBuf, CniError> {
        self.dirs
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| {
                path.metadata()
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            })
            .ok_or_else(|| CniError::PluginNotFound {
                plugin: name.to_string(),
                searched: self.dirs.clone(),
            })
    }

    fn cni_path(&self) -> OsString {
        std::env::join_paths(&self.dirs).unwrap_or_default()
    }

    /// Runs plugin `plugin` with `stdin`; returns its result for ADD
    /// (`None` for DEL, whose output CNI leaves empty).
    pub(super) async fn run(
        &self,
        plugin: &str,
        call: &Call<'_>,
        stdin: Vec<u8>,
    ) -> Result<Option<Value>, CniError> {
        let binary = self.find(plugin)?;
        let command = call.verb.as_str();
        let netns = call
            .netns
            .map(|p| p.as_os_str().to_owned())
            .unwrap_or_default();
        let mut child = Command::new(&binary)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", call.container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", call.if_name)
            .env("CNI_PATH", self.cni_path())
            .env_remove("CNI_ARGS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(CniError::io(format!("starting {}", binary.display())))?;

        let mut pipe = child.stdin.take().expect("stdin is piped");
        let finished = async move {
            // A plugin that exits without reading its stdin is reported by
            // its exit status, not by the broken pipe.
            let _ = pipe.write_all(&stdin).await;
            drop(pipe);
            child.wait_with_output().await
        };
        let output = match tokio::time::timeout(PLUGIN_TIMEOUT, finished).await {
            Ok(output) => output.map_err(CniError::io(format!("waiting for {plugin}")))?,
            Err(_) => {
                return Err(CniError::PluginFailed {
                    plugin: plugin.into(),
                    command,
                    status: format!("timed out after {}s", PLUGIN_TIMEOUT.as_secs()),
                    output: String::new(),
                });
            }
        };

        if !output.status.success() {
            return Err(failure(plugin, command, &output));
        }
        if call.verb == Verb::Del {
            return Ok(None);
        }
        serde_json::from_slice(&output.stdout)
            .map(Some)
            .map_err(|e| CniError::BadResult {
                plugin: plugin.into(),
                reason: format!("{e}: {}", quote(&output.stdout)),
            })
    }
}

/// The plugin's error object if it wrote one, else its status and output.
fn failure(plugin: &str, command: &'static str, output: &std::process::Output) -> CniError {
    if let Ok(error) = serde_json::from_slice::<ErrorObject>(&output.stdout) {
        return CniError::Plugin {
            plugin: plugin.into(),
            command,
            code: error.code,
            msg: error.msg,
            details: error.details,
        };
    }
    let mut text = quote(&output.stdout);
    let stderr = quote(&output.stderr);
    if !stderr.is_empty() {
        text = if text.is_empty() {
            stderr
        } else {
            format!("{text}; stderr: {stderr}")
        };
    }
    CniError::PluginFailed {
        plugin: plugin.into(),
        command,
        status: output.status.to_string(),
        output: text,
    }
}

fn quote(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim();
    match text.char_indices().nth(MAX_QUOTED_OUTPUT) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};

    fn output(code: i32, stdout: &str, stderr: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_objects_become_plugin_errors() {
        let out = output(
            1,
            r#"{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"bad bridge"}"#,
            "",
        );
        match failure("bridge", "ADD", &out) {
            CniError::Plugin {
                code, msg, details, ..
            } => {
                assert_eq!(code, 7);
                assert_eq!(msg, "invalid network config");
                assert_eq!(details, "bad bridge");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn other_failures_quote_status_and_output() {
        let err = failure("bridge", "DEL", &output(2, "", "panic: boom\n"));
        let text = err.to_string();
        assert!(text.contains("`bridge` DEL exit status: 2"), "{text}");
        assert!(text.contains("panic: boom"), "{text}");
    }

    #[test]
    fn long_output_is_cut() {
        let long = "x".repeat(MAX_QUOTED_OUTPUT + 10);
        assert_eq!(quote(long.as_bytes()).len(), MAX_QUOTED_OUTPUT + 3);
    }

    /// A fake plugin (no network involved) that echoes its environment and
    /// stdin, or fails with an error object for DEL.
    const FAKE_PLUGIN: &str = r#"#!/bin/sh
stdin=$(cat)
if [ "$CNI_COMMAND" = DEL ]; then
  echo '{"cniVersion":"1.0.0","code":11,"msg":"cannot delete","details":"'"$CNI_NETNS"'"}'
  exit 1
fi
echo '{"env":"'"$CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS $CNI_IFNAME $CNI_PATH"'","stdin":'"$stdin"'}'
"#;

    #[tokio::test]
    async fn run_passes_the_cni_environment_and_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("fake");
        std::fs::write(&exe, FAKE_PLUGIN).unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = PluginDirs::new(vec![dir.path().into()]);
        let add = Call {
            verb: Verb::Add,
            container_id: "pod-a",
            netns: Some(Path::new("/s/pod-a/net")),
            if_name: "eth0",
        };
        // A test thread forking while the script was open for writing can
        // briefly make it busy (ETXTBSY).
        let mut attempt = 0;
        let result = loop {
            match dirs.run("fake", &add, br#"{"a":1}"#.to_vec()).await {
                Err(CniError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::ExecutableFileBusy && attempt < 20 =>
                {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                other => break other.unwrap().unwrap(),
            }
        };
        let expected_env = format!("ADD pod-a /s/pod-a/net eth0 {}", dir.path().display());
        assert_eq!(result["env"], expected_env.as_str());
        assert_eq!(result["stdin"], serde_json::json!({"a": 1}));

        let del = Call {
            verb: Verb::Del,
            netns: None,
            ..add
        };
        match dirs.run("fake", &del, b"{}".to_vec()).await.unwrap_err() {
            CniError::Plugin {
                code,
                details,
                command,
                ..
            } => {
                assert_eq!((code, command), (11, "DEL"));
                assert_eq!(details, "", "CNI_NETNS must be empty without a netns");
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn find_searches_directories_in_order() {
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let plain = first.path().join("bridge");
        std::fs::write(&plain, "not executable").unwrap();
        let exe = second.path().join("bridge");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let dirs = PluginDirs::new(vec![first.path().into(), second.path().into()]);
        assert_eq!(dirs.find("bridge").unwrap(), exe);
        let err = dirs.find("loopback").unwrap_err();
        assert!(matches!(err, CniError::PluginNotFound { .. }), "{err}");
    }
}
