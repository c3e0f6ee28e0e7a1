//! Finding `argv[0]` the way a shell would, but in the container's root and
//! with the container's `PATH`.

use std::ffi::CString;
use std::path::Path;

use super::error::InitError;

/// Used when the container's environment has no `PATH`.
pub use crate::spec::DEFAULT_PATH;

/// The value of the last `PATH=` entry in `env`, else [`DEFAULT_PATH`].
pub fn path_of(env: &[String]) -> &str {
    env.iter()
        .rev()
        .find_map(|kv| kv.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
}

/// The candidates for `name` in `path`, in search order (an empty entry
/// means the working directory).
pub fn candidates(name: &str, path: &str) -> Vec<String> {
    path.split(':')
        .map(|dir| {
            let dir = if dir.is_empty() { "." } else { dir };
            format!("{}/{name}", dir.trim_end_matches('/'))
        })
        .collect()
}

/// The path to execute for `argv0`: as given when it contains a `/`, else
/// the first executable regular file among the `PATH` candidates. `root`
/// is where the container's `/` is on this process's view (`/` after
/// `pivot_root`; a directory in tests).
pub fn find_executable(argv0: &str, env: &[String], root: &Path) -> Result<String, InitError> {
    if argv0.is_empty() {
        return Err(InitError::invalid("the container's command is empty"));
    }
    if argv0.contains('/') {
        return Ok(argv0.to_string());
    }
    let path = path_of(env);
    candidates(argv0, path)
        .into_iter()
        .find(|candidate| is_executable(&within(root, candidate)))
        .ok_or_else(|| {
            InitError::invalid(format!(
                "executable {argv0:?} not found in the container's PATH {path:?}"
            ))
        })
}

fn within(root: &Path, path: &str) -> std::path::PathBuf {
    if path.starts_with('/') {
        root.join(path.trim_start_matches('/'))
    } else {
        // Relative PATH entries are relative to the working directory.
        Path::new(path).to_path_buf()
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(cpath) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: valid C string; effective ids, as execve checks.
    let runnable =
        unsafe { libc::faccessat(libc::AT_FDCWD, cpath.as_ptr(), libc::X_OK, libc::AT_EACCESS) }
            == 0;
    meta.is_file() && runnable
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_comes_from_the_env_or_the_default() {
        let env = vec!["A=1".to_string(), "PATH=/x:/y".to_string()];
        assert_eq!(path_of(&env), "/x:/y");
        assert_eq!(path_of(&["HOME=/".to_string()]), DEFAULT_PATH);
        assert_eq!(
            candidates("sh", "/bin/::/usr/bin"),
            vec!["/bin/sh", "./sh", "/usr/bin/sh"]
        );
    }

    #[test]
    fn lookup_happens_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["bin", "usr/bin", "sbin"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        let write = |p: &str, mode: u32| {
            let path = root.path().join(p);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        write("usr/bin/tool", 0o755);
        write("bin/data", 0o644);
        write("sbin/data", 0o755);
        std::fs::create_dir(root.path().join("bin/dir")).unwrap();
        std::os::unix::fs::symlink("tool", root.path().join("usr/bin/link")).unwrap();
        let env = vec!["PATH=/bin:/usr/bin:/sbin".to_string()];

        assert_eq!(
            find_executable("tool", &env, root.path()).unwrap(),
            "/usr/bin/tool"
        );
        assert_eq!(
            find_executable("link", &env, root.path()).unwrap(),
            "/usr/bin/link"
        );
        // Not executable in /bin: the next directory wins.
        assert_eq!(
            find_executable("data", &env, root.path()).unwrap(),
            "/sbin/data"
        );
        let err = find_executable("dir", &env, root.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "executable \"dir\" not found in the container's PATH \"/bin:/usr/bin:/sbin\""
        );
        // The host's /bin/sh is not the container's.
        assert!(find_executable("sh", &env, root.path()).is_err());
        assert_eq!(
            find_executable("/bin/anything", &env, root.path()).unwrap(),
            "/bin/anything"
        );
        assert!(find_executable("", &env, root.path()).is_err());
    }
}
