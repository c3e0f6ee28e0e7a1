//! Runs `nft -f -`: each script is one atomic transaction, all or nothing.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum NftError {
    #[error("cannot run {program:?}: {source} (is the nftables package installed?)")]
    Spawn {
        program: PathBuf,
        source: std::io::Error,
    },
    #[error("nft rejected the transaction ({status}): {stderr}")]
    Rejected { status: String, stderr: String },
}

/// The `nft` program, run once per transaction.
#[derive(Debug, Clone)]
pub struct Nft {
    pub program: PathBuf,
}

impl Default for Nft {
    fn default() -> Nft {
        Nft {
            program: "nft".into(),
        }
    }
}

impl Nft {
    /// Applies `script` as one transaction (nothing at all if it fails).
    pub async fn apply(&self, script: &str) -> Result<(), NftError> {
        if script.is_empty() {
            return Ok(());
        }
        let spawn_error = |source| NftError::Spawn {
            program: self.program.clone(),
            source,
        };
        let mut child = Command::new(&self.program)
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(spawn_error)?;
        let mut stdin = child.stdin.take().expect("piped stdin");
        // A write error means nft exited early: its status says why.
        let _ = stdin.write_all(script.as_bytes()).await;
        drop(stdin);
        let output = child.wait_with_output().await.map_err(spawn_error)?;
        if output.status.success() {
            return Ok(());
        }
        let mut stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        // 10,000 endpoints make long errors: keep the start, which says what.
        if stderr.len() > 4000 {
            let mut end = 4000;
            while !stderr.is_char_boundary(end) {
                end -= 1;
            }
            stderr.truncate(end);
            stderr.push_str("...");
        }
        Err(NftError::Rejected {
            status: output.status.to_string(),
            stderr: stderr.trim().to_string(),
        })
    }

    /// Whether `table ip <name>` exists.
    pub async fn has_table(&self, table: &str) -> Result<bool, NftError> {
        let output = Command::new(&self.program)
            .args(["list", "tables", "ip"])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|source| NftError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(NftError::Rejected {
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
            });
        }
        let wanted = format!("table ip {table}");
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .any(|l| l.trim() == wanted))
    }
}
