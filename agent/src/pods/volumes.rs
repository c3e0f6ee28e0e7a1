//! Pod volumes on the node: what a container's `volumeMounts` bind.
//!
//! Each volume of a pod lives in `<root>/<pod uid>/volumes/<name>` (the
//! Linux runtime passes its sandbox directory as `root`, so the volumes go
//! when the sandbox is removed):
//!
//! - `emptyDir`: a directory shared by the pod's containers (`medium:
//!   Memory` is a plain directory too: no tmpfs is mounted).
//! - `hostPath`: the node's path itself, after the `type` check
//!   (`Directory`, `DirectoryOrCreate`, `File`, `FileOrCreate`, `Socket`,
//!   `CharDevice`, `BlockDevice`).
//! - `configMap` and `secret`: one file per key (or per `items` entry),
//!   with `defaultMode`/`mode`; rewritten in place on each container start
//!   so that running containers' binds keep seeing the directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use base64::Engine as _;
use skiff_api::core::{Container, KeyToPath, Pod, Volume};
use skiff_client::Client;

use super::env::Sources;
use crate::runtime::VolumeMount;

/// The files of a configMap or secret volume: `defaultMode` 0644.
const DEFAULT_MODE: u32 = 0o644;

/// The directory of the pod's volume `name`.
pub fn volume_dir(root: &Path, pod_uid: &str, name: &str) -> PathBuf {
    root.join(pod_uid).join("volumes").join(name)
}

/// Materialises the volumes `container` mounts and returns its mounts; the
/// error is the message of `CreateContainerConfigError`.
pub async fn prepare(
    client: &Client,
    sources: &mut Sources,
    root: &Path,
    pod: &Pod,
    container: &Container,
) -> Result<Vec<VolumeMount>, String> {
    let uid = pod.metadata.uid.clone().unwrap_or_default();
    if uid.is_empty() || uid.contains('/') || uid == "." || uid == ".." {
        return Err(format!("pod has an unusable uid {uid:?}"));
    }
    let volumes = pod.spec.as_ref().map_or(&[][..], |s| &s.volumes[..]);
    let ns = pod.metadata.namespace_str();
    let mut mounts = Vec::with_capacity(container.volume_mounts.len());
    for m in &container.volume_mounts {
        let volume = volumes.iter().find(|v| v.name == m.name).ok_or_else(|| {
            format!(
                "volume {:?} (mounted at {}) is not in the pod's volumes",
                m.name, m.mount_path
            )
        })?;
        let host_path = materialise(client, sources, root, &uid, ns, volume).await?;
        if m.sub_path_expr.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(format!(
                "volume mount {:?}: subPathExpr is not supported",
                m.name
            ));
        }
        let sub_path = m.sub_path.clone().filter(|s| !s.is_empty());
        if let Some(sub) = &sub_path {
            check_relative(sub).map_err(|e| format!("volume mount {:?}: subPath {e}", m.name))?;
            let target = host_path.join(sub);
            if !target.exists() {
                // The kubelet creates a missing subPath as a directory.
                std::fs::create_dir_all(&target)
                    .map_err(|e| format!("creating subPath {}: {e}", target.display()))?;
            }
        }
        if !m.mount_path.starts_with('/') {
            return Err(format!(
                "volume mount {:?}: mountPath {:?} is not absolute",
                m.name, m.mount_path
            ));
        }
        mounts.push(VolumeMount {
            host_path,
            container_path: m.mount_path.clone(),
            read_only: m.read_only == Some(true)
                || volume.config_map.is_some()
                || volume.secret.is_some(),
            sub_path,
        });
    }
    Ok(mounts)
}

async fn materialise(
    client: &Client,
    sources: &mut Sources,
    root: &Path,
    uid: &str,
    ns: &str,
    volume: &Volume,
) -> Result<PathBuf, String> {
    let dir = volume_dir(root, uid, &volume.name);
    if volume.empty_dir.is_some() {
        ensure_dir(&dir, 0o777)?;
        return Ok(dir);
    }
    if let Some(hp) = &volume.host_path {
        let path = PathBuf::from(&hp.path);
        check_host_path(&path, hp.type_.as_deref().unwrap_or_default())
            .map_err(|e| format!("hostPath volume {:?}: {e}", volume.name))?;
        return Ok(path);
    }
    if let Some(cm) = &volume.config_map {
        let name = cm.name.clone().unwrap_or_default();
        let optional = cm.optional == Some(true);
        let data = match sources.config_map(client, ns, &name).await? {
            Some(found) => {
                let mut data: BTreeMap<String, Vec<u8>> = found
                    .data
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone().into_bytes()))
                    .collect();
                for (k, v) in &found.binary_data {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(v)
                        .map_err(|e| format!("configmap {name:?} key {k:?}: bad base64: {e}"))?;
                    data.insert(k.clone(), bytes);
                }
                data
            }
            None if optional => BTreeMap::new(),
            None => return Err(format!("configmap {name:?} not found")),
        };
        let files = project(&data, &cm.items, cm.default_mode, optional)
            .map_err(|e| format!("configmap {name:?}: {e}"))?;
        write_files(&dir, &files)?;
        return Ok(dir);
    }
    if let Some(s) = &volume.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let optional = s.optional == Some(true);
        let data = match sources.secret(client, ns, &name).await? {
            Some(found) => {
                let mut data: BTreeMap<String, Vec<u8>> = BTreeMap::new();
                for k in found.data.keys() {
                    let bytes = found
                        .decoded(k)
                        .ok_or_else(|| format!("secret {name:?} key {k:?}: bad base64"))?;
                    data.insert(k.clone(), bytes);
                }
                // stringData is written as is, and wins (as the API server merges it).
                for (k, v) in &found.string_data {
                    data.insert(k.clone(), v.clone().into_bytes());
                }
                data
            }
            None if optional => BTreeMap::new(),
            None => return Err(format!("secret {name:?} not found")),
        };
        let files = project(&data, &s.items, s.default_mode, optional)
            .map_err(|e| format!("secret {name:?}: {e}"))?;
        write_files(&dir, &files)?;
        return Ok(dir);
    }
    let kinds = volume.sources();
    Err(format!(
        "volume {:?}: {} volumes are not supported on this node (emptyDir, hostPath, configMap, secret)",
        volume.name,
        kinds.first().copied().unwrap_or("empty")
    ))
}

/// One file of a configMap or secret volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectedFile {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u32,
}

/// Every key (or only `items`, at their paths), with its mode.
pub fn project(
    data: &BTreeMap<String, Vec<u8>>,
    items: &[KeyToPath],
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Vec<ProjectedFile>, String> {
    let mode_of = |m: Option<i32>| -> Result<u32, String> {
        match m {
            None => Ok(DEFAULT_MODE),
            Some(m) if (0..=0o777).contains(&m) => Ok(m as u32),
            Some(m) => Err(format!("mode {m:#o} is out of range (0 to 0777)")),
        }
    };
    let default = mode_of(default_mode)?;
    if items.is_empty() {
        return data
            .iter()
            .map(|(k, v)| {
                check_relative(k).map_err(|e| format!("key {k:?}: {e}"))?;
                Ok(ProjectedFile {
                    path: k.clone(),
                    contents: v.clone(),
                    mode: default,
                })
            })
            .collect();
    }
    let mut files = Vec::with_capacity(items.len());
    for item in items {
        let Some(value) = data.get(&item.key) else {
            if optional {
                continue;
            }
            return Err(format!("key {:?} not found", item.key));
        };
        check_relative(&item.path).map_err(|e| format!("item path {:?}: {e}", item.path))?;
        files.push(ProjectedFile {
            path: item.path.clone(),
            contents: value.clone(),
            mode: match item.mode {
                Some(m) => mode_of(Some(m))?,
                None => default,
            },
        });
    }
    Ok(files)
}

/// A path that stays below the directory it is joined to.
fn check_relative(path: &str) -> Result<(), String> {
    let p = Path::new(path);
    if path.is_empty() || p.is_absolute() {
        return Err("must be a relative path".into());
    }
    if p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return Err("must not contain '..' or '.'".into());
    }
    Ok(())
}

fn ensure_dir(dir: &Path, mode: u32) -> Result<(), String> {
    if !dir.is_dir() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        // Past the umask, as the kubelet does for emptyDir.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("chmod {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Writes `files` into `dir` (each through a temporary file and a rename)
/// and removes the files no longer wanted; `dir` itself stays, so binds of
/// it keep working.
pub fn write_files(dir: &Path, files: &[ProjectedFile]) -> Result<(), String> {
    ensure_dir(dir, 0o755)?;
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    for f in files {
        let target = dir.join(&f.path);
        let parent = target.parent().unwrap_or(dir);
        std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
        let tmp = parent.join(format!(
            ".{}.tmp",
            target
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("file")
        ));
        let mut out = std::fs::File::create(&tmp).map_err(|e| io("creating", &tmp, e))?;
        out.write_all(&f.contents)
            .map_err(|e| io("writing", &tmp, e))?;
        out.set_permissions(std::fs::Permissions::from_mode(f.mode))
            .map_err(|e| io("chmod", &tmp, e))?;
        drop(out);
        std::fs::rename(&tmp, &target).map_err(|e| io("renaming to", &target, e))?;
    }
    let wanted: Vec<PathBuf> = files.iter().map(|f| dir.join(&f.path)).collect();
    remove_unwanted(dir, &wanted)
}

fn remove_unwanted(dir: &Path, wanted: &[PathBuf]) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if wanted.iter().any(|w| w == &path) {
            continue;
        }
        if is_dir && wanted.iter().any(|w| w.starts_with(&path)) {
            remove_unwanted(&path, wanted)?;
            continue;
        }
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| format!("removing {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The hostPath `type` checks (an empty type checks nothing).
pub fn check_host_path(path: &Path, kind: &str) -> Result<(), String> {
    if !path.is_absolute() {
        return Err(format!("path {} is not absolute", path.display()));
    }
    let meta = std::fs::metadata(path);
    let what = |expected: &str| format!("{} is not a {expected}", path.display());
    match kind {
        "" => Ok(()),
        "DirectoryOrCreate" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(what("directory")),
            Err(_) => std::fs::create_dir_all(path)
                .map_err(|e| format!("creating {}: {e}", path.display())),
        },
        "Directory" => match meta {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(what("directory")),
            Err(_) => Err(format!("directory {} does not exist", path.display())),
        },
        "FileOrCreate" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(what("file")),
            Err(_) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| format!("creating {}: {e}", parent.display()))?;
                }
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(false)
                    .open(path)
                    .map_err(|e| format!("creating {}: {e}", path.display()))?;
                f.set_permissions(std::fs::Permissions::from_mode(0o644))
                    .map_err(|e| format!("chmod {}: {e}", path.display()))
            }
        },
        "File" => match meta {
            Ok(m) if m.is_file() => Ok(()),
            Ok(_) => Err(what("file")),
            Err(_) => Err(format!("file {} does not exist", path.display())),
        },
        "Socket" | "CharDevice" | "BlockDevice" => {
            let m = meta.map_err(|_| format!("{} does not exist", path.display()))?;
            let t = m.file_type();
            let ok = match kind {
                "Socket" => t.is_socket(),
                "CharDevice" => t.is_char_device(),
                _ => t.is_block_device(),
            };
            if ok { Ok(()) } else { Err(what(kind)) }
        }
        other => Err(format!("unknown hostPath type {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{
        EmptyDirVolumeSource, HostPathVolumeSource, PodSpec, VolumeMount as ApiMount,
    };
    use skiff_api::meta::ObjectMeta;

    fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn keys_and_items_become_files() {
        let d = data(&[("a", "1"), ("b", "2")]);
        let all = project(&d, &[], Some(0o600), false).unwrap();
        assert_eq!(all.len(), 2);
        assert!(all.iter().all(|f| f.mode == 0o600));
        let items = [KeyToPath {
            key: "b".into(),
            path: "sub/bee".into(),
            mode: Some(0o400),
        }];
        let some = project(&d, &items, None, false).unwrap();
        assert_eq!(
            some,
            [ProjectedFile {
                path: "sub/bee".into(),
                contents: b"2".to_vec(),
                mode: 0o400
            }]
        );
        let missing = [KeyToPath {
            key: "zz".into(),
            path: "z".into(),
            mode: None,
        }];
        assert!(
            project(&d, &missing, None, false)
                .unwrap_err()
                .contains("zz")
        );
        assert!(project(&d, &missing, None, true).unwrap().is_empty());
        let escape = [KeyToPath {
            key: "a".into(),
            path: "../x".into(),
            mode: None,
        }];
        assert!(project(&d, &escape, None, false).is_err());
        assert!(
            project(&d, &[], Some(0o1777), false)
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn files_are_rewritten_in_place() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("cm");
        let f = |p: &str, c: &str| ProjectedFile {
            path: p.into(),
            contents: c.as_bytes().to_vec(),
            mode: 0o640,
        };
        write_files(&dir, &[f("a", "1"), f("d/b", "2")]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("d/b")).unwrap(), "2");
        let mode = std::fs::metadata(dir.join("a"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o640);
        write_files(&dir, &[f("a", "3")]).unwrap();
        assert_eq!(std::fs::read_to_string(dir.join("a")).unwrap(), "3");
        assert!(!dir.join("d").exists(), "stale files go");
    }

    #[test]
    fn host_path_types() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        assert!(
            check_host_path(&d, "Directory")
                .unwrap_err()
                .contains("does not exist")
        );
        check_host_path(&d, "DirectoryOrCreate").unwrap();
        assert!(d.is_dir());
        check_host_path(&d, "Directory").unwrap();
        assert!(
            check_host_path(&d, "File")
                .unwrap_err()
                .contains("not a file")
        );
        let f = tmp.path().join("x/f");
        check_host_path(&f, "FileOrCreate").unwrap();
        check_host_path(&f, "File").unwrap();
        assert!(check_host_path(&f, "DirectoryOrCreate").is_err());
        assert!(check_host_path(&f, "Socket").is_err());
        assert!(check_host_path(&f, "Weird").unwrap_err().contains("Weird"));
        assert!(check_host_path(Path::new("rel"), "").is_err());
    }

    #[tokio::test]
    async fn mounts_of_a_container() {
        let tmp = tempfile::tempdir().unwrap();
        let host = tmp.path().join("host");
        let pod = Pod {
            metadata: ObjectMeta {
                name: Some("p".into()),
                namespace: Some("default".into()),
                uid: Some("u1".into()),
                ..Default::default()
            },
            spec: Some(PodSpec {
                volumes: vec![
                    Volume {
                        name: "scratch".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    },
                    Volume {
                        name: "host".into(),
                        host_path: Some(HostPathVolumeSource {
                            path: host.display().to_string(),
                            type_: Some("DirectoryOrCreate".into()),
                        }),
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let container = Container {
            name: "c".into(),
            volume_mounts: vec![
                ApiMount {
                    name: "scratch".into(),
                    mount_path: "/scratch".into(),
                    sub_path: Some("inner".into()),
                    ..Default::default()
                },
                ApiMount {
                    name: "host".into(),
                    mount_path: "/host".into(),
                    read_only: Some(true),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        // No configMap or secret: the client is never used.
        let client = Client::from_server("http://127.0.0.1:9").unwrap();
        let root = tmp.path().join("pods");
        let mounts = prepare(&client, &mut Sources::default(), &root, &pod, &container)
            .await
            .unwrap();
        let scratch = volume_dir(&root, "u1", "scratch");
        assert_eq!(mounts[0].host_path, scratch);
        assert!(scratch.join("inner").is_dir());
        assert_eq!(mounts[0].sub_path.as_deref(), Some("inner"));
        assert!(!mounts[0].read_only);
        assert_eq!(
            (mounts[1].host_path.clone(), mounts[1].read_only),
            (host.clone(), true)
        );
        assert!(host.is_dir());
        let mut bad = container.clone();
        bad.volume_mounts[0].name = "nope".into();
        let err = prepare(&client, &mut Sources::default(), &root, &pod, &bad)
            .await
            .unwrap_err();
        assert!(err.contains("\"nope\""), "{err}");
    }
}
