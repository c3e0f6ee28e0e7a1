//! Where the Linux runtime keeps things on disk (all under its root):
//!
//! ```text
//! <root>/sandboxes/<pod uid>/sandbox.json      the sandbox record
//!                           /ns/               pinned namespaces + /dev/shm
//!                           /hosts /resolv.conf /hostname
//!                           /volumes/<name>    emptyDir, configMap, secret
//! <root>/containers/<id>/spec.json             what the monitor runs
//!                       /meta.json             pod, name, restart count, image
//!                       /upper /work /merged   the overlay root
//!                       /termination-log       bound at terminationMessagePath
//!                       (+ the monitor's state files)
//! <root>/logs/<ns>_<pod>_<uid>/<container>/<restart>.log
//! <root>/cni/{ipam,cache}
//! ```
//!
//! Everything the runtime knows survives in these files: a new agent
//! reads them back ([`super::adopt`]).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Paths {
    root: PathBuf,
}

impl Paths {
    pub fn new(root: &Path) -> Paths {
        Paths {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn sandboxes(&self) -> PathBuf {
        self.root.join("sandboxes")
    }

    pub fn containers(&self) -> PathBuf {
        self.root.join("containers")
    }

    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    pub fn sandbox(&self, pod_uid: &str) -> SandboxPaths {
        SandboxPaths {
            dir: self.sandboxes().join(pod_uid),
        }
    }

    pub fn container(&self, id: &str) -> ContainerPaths {
        ContainerPaths {
            dir: self.containers().join(id),
        }
    }

    /// `<root>/logs/<ns>_<pod>_<uid>`: the kubelet's pod log directory name.
    pub fn pod_logs(&self, namespace: &str, name: &str, pod_uid: &str) -> PathBuf {
        self.logs().join(format!("{namespace}_{name}_{pod_uid}"))
    }

    pub fn container_log(
        &self,
        namespace: &str,
        name: &str,
        pod_uid: &str,
        container: &str,
        restart_count: u32,
    ) -> PathBuf {
        self.pod_logs(namespace, name, pod_uid)
            .join(container)
            .join(format!("{restart_count}.log"))
    }
}

#[derive(Debug, Clone)]
pub struct SandboxPaths {
    pub dir: PathBuf,
}

impl SandboxPaths {
    pub fn record(&self) -> PathBuf {
        self.dir.join("sandbox.json")
    }

    /// Handed to `skiff_container::sandbox`: the namespace pins and shm.
    pub fn namespaces(&self) -> PathBuf {
        self.dir.join("ns")
    }

    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    pub fn volumes(&self) -> PathBuf {
        self.dir.join("volumes")
    }
}

#[derive(Debug, Clone)]
pub struct ContainerPaths {
    pub dir: PathBuf,
}

impl ContainerPaths {
    pub fn spec(&self) -> PathBuf {
        self.dir.join(skiff_container::spec::SPEC_FILE)
    }

    pub fn meta(&self) -> PathBuf {
        self.dir.join("meta.json")
    }

    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    pub fn merged(&self) -> PathBuf {
        self.dir.join("merged")
    }

    pub fn termination_log(&self) -> PathBuf {
        self.dir.join("termination-log")
    }
}

/// True when `name` is safe as one path component (pod uids, container ids,
/// names from the API: no `/`, not `.` or `..`).
pub fn is_plain_component(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('\0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout() {
        let p = Paths::new(Path::new("/r"));
        assert_eq!(
            p.sandbox("u1").record(),
            PathBuf::from("/r/sandboxes/u1/sandbox.json")
        );
        assert_eq!(
            p.container("c1").spec(),
            PathBuf::from("/r/containers/c1/spec.json")
        );
        assert_eq!(
            p.container_log("ns", "web", "u1", "app", 2),
            PathBuf::from("/r/logs/ns_web_u1/app/2.log")
        );
        assert!(is_plain_component("abc-1"));
        assert!(!is_plain_component(".."));
        assert!(!is_plain_component("a/b"));
        assert!(!is_plain_component(""));
    }
}
