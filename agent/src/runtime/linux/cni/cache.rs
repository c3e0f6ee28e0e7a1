//! What ADD produced, kept per sandbox so DEL can replay the same network
//! list with the same `prevResult`, even after the configuration or the
//! agent changed.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CniError;
use super::netconf::NetworkList;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CacheEntry {
    pub container_id: String,
    pub netns: PathBuf,
    pub if_name: String,
    pub network: NetworkList,
    pub result: Value,
}

const SUFFIX: &str = ".json";

fn path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}{SUFFIX}"))
}

pub(super) async fn read(dir: &Path, id: &str) -> Result<Option<CacheEntry>, CniError> {
    let file = path(dir, id);
    let bytes = match tokio::fs::read(&file).await {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CniError::io(format!("reading {}", file.display()))(e)),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        CniError::io(format!("parsing {}", file.display()))(io::Error::new(
            io::ErrorKind::InvalidData,
            e,
        ))
    })
}

/// Written to a temporary file and renamed, so a crash leaves the old
/// entry or the new one, never half of one.
pub(super) async fn write(dir: &Path, entry: &CacheEntry) -> Result<(), CniError> {
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(CniError::io(format!("creating {}", dir.display())))?;
    let file = path(dir, &entry.container_id);
    let temp = dir.join(format!(".{}{SUFFIX}.tmp", entry.container_id));
    let bytes = serde_json::to_vec_pretty(entry).expect("cache entries serialize");
    tokio::fs::write(&temp, bytes)
        .await
        .map_err(CniError::io(format!("writing {}", temp.display())))?;
    tokio::fs::rename(&temp, &file)
        .await
        .map_err(CniError::io(format!("renaming {}", temp.display())))
}

pub(super) async fn remove(dir: &Path, id: &str) -> Result<(), CniError> {
    let file = path(dir, id);
    match tokio::fs::remove_file(&file).await {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(CniError::io(format!("removing {}", file.display()))(e))
        }
        _ => Ok(()),
    }
}

/// The sandbox ids that have an entry.
pub(super) async fn ids(dir: &Path) -> Result<Vec<String>, CniError> {
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CniError::io(format!("listing {}", dir.display()))(e)),
    };
    let mut ids = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(CniError::io(format!("listing {}", dir.display())))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(id) = name.strip_suffix(SUFFIX).filter(|id| !id.starts_with('.')) {
            ids.push(id.to_string());
        }
    }
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn entries_round_trip_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        assert_eq!(ids(&cache).await.unwrap(), Vec::<String>::new());
        assert_eq!(read(&cache, "pod-a").await.unwrap(), None);

        let entry = CacheEntry {
            container_id: "pod-a".into(),
            netns: "/s/pod-a/net".into(),
            if_name: "eth0".into(),
            network: NetworkList::loopback(),
            result: json!({"cniVersion": "1.0.0", "ips": []}),
        };
        write(&cache, &entry).await.unwrap();
        assert_eq!(read(&cache, "pod-a").await.unwrap(), Some(entry));
        assert_eq!(ids(&cache).await.unwrap(), vec!["pod-a".to_string()]);

        remove(&cache, "pod-a").await.unwrap();
        remove(&cache, "pod-a").await.unwrap();
        assert_eq!(ids(&cache).await.unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_corrupt_entry_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pod-b.json"), "{").unwrap();
        let err = read(dir.path(), "pod-b").await.unwrap_err().to_string();
        assert!(err.contains("pod-b.json"), "{err}");
    }
}
