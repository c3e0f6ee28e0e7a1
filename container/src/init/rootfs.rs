//! The container's root: an overlay of the image layers (read-only) and the
//! container's upper directory, mounted at `merged_dir`.
//!
//! Layers come bottom first in the spec; overlay wants them top first.
//! `mount(2)` cuts its options at one page, which long absolute layer paths
//! pass at about 36 layers, so the new mount API is used with one
//! `lowerdir+` per layer; if the kernel lacks it, classic `mount(2)` runs
//! with short layer paths relative to their common parent.

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use super::error::{Context, Errno, InitError};
use super::mounts::{fs_error, open_dir};
use super::sys;
use crate::spec::RootfsSpec;

/// The limit `mount(2)` puts on its data (one page, with the final NUL).
pub const MOUNT_DATA_MAX: usize = 4095;

/// Mount the overlay. In a user namespace (`userns`) the layers must
/// already be idmapped at their paths ([`super::idmap`]); a failure then
/// says so.
pub fn mount_overlay(rootfs: &RootfsSpec, userns: bool) -> Result<(), InitError> {
    if rootfs.layers.is_empty() {
        return Err(InitError::invalid("the rootfs has no layers"));
    }
    let layers: Vec<&str> = rootfs
        .layers
        .iter()
        .map(|l| utf8(l))
        .collect::<Result<_, _>>()?;
    let (upper, work, merged) = (
        utf8(&rootfs.upper_dir)?,
        utf8(&rootfs.work_dir)?,
        utf8(&rootfs.merged_dir)?,
    );
    let target = open_dir(merged).context(|| format!("opening the merged dir {merged}"))?;
    let mounted = match overlay_new_api(&layers, upper, work) {
        Ok(mount) => sys::move_mount_onto(&mount, target.as_fd())
            .context(|| format!("mounting the overlay on {merged}")),
        Err(NewApi::Unsupported(errno)) => {
            tracing::debug!(%errno, "overlay lowerdir+ unsupported, using mount(2)");
            overlay_classic(&rootfs.layers, upper, work, merged)
        }
        // Kernels before 6.5 pass fsconfig strings through as legacy mount
        // data and only fail at create: try mount(2), keep both errors.
        Err(NewApi::Failed(err)) if err.errno() == Some(Errno(libc::EINVAL)) => {
            overlay_classic(&rootfs.layers, upper, work, merged).map_err(|classic| match err {
                InitError::Sys { context, errno } => {
                    InitError::sys(format!("{context} (mount(2) fallback: {classic})"), errno)
                }
                other => other,
            })
        }
        Err(NewApi::Failed(err)) => Err(err),
    };
    mounted.map_err(|err| match err {
        InitError::Sys { context, errno } if userns => InitError::sys(
            format!("{context} (in a user namespace: were the layers, upper and work dirs idmapped with prepare_idmapped_root?)"),
            errno,
        ),
        other => other,
    })
}

fn utf8(path: &Path) -> Result<&str, InitError> {
    path.to_str()
        .ok_or_else(|| InitError::invalid(format!("rootfs path {path:?} is not UTF-8")))
}

enum NewApi {
    /// The kernel has no new mount API or no `lowerdir+`: fall back.
    Unsupported(Errno),
    Failed(InitError),
}

fn overlay_new_api(layers: &[&str], upper: &str, work: &str) -> Result<OwnedFd, NewApi> {
    let fs = sys::fsopen("overlay").map_err(NewApi::Unsupported)?;
    sys::fsconfig_string(&fs, "source", "overlay")
        .map_err(|errno| NewApi::Failed(fs_error(&fs, "overlay source".into(), errno)))?;
    // Top first, like the colon-separated lowerdir.
    for (i, layer) in layers.iter().enumerate().rev() {
        match sys::fsconfig_string(&fs, "lowerdir+", layer) {
            Ok(()) => {}
            // The first layer tells whether the kernel knows lowerdir+.
            Err(errno) if i == layers.len() - 1 && errno.0 == libc::EINVAL => {
                return Err(NewApi::Unsupported(errno));
            }
            Err(errno) => {
                return Err(NewApi::Failed(fs_error(
                    &fs,
                    format!("overlay layer {layer}"),
                    errno,
                )));
            }
        }
    }
    let set = |key: &str, value: &str| {
        sys::fsconfig_string(&fs, key, value)
            .map_err(|errno| NewApi::Failed(fs_error(&fs, format!("overlay {key}={value}"), errno)))
    };
    set("upperdir", upper)?;
    set("workdir", work)?;
    sys::fsconfig_create(&fs)
        .map_err(|errno| NewApi::Failed(fs_error(&fs, "creating the overlay".into(), errno)))?;
    sys::fsmount(&fs, 0).map_err(|errno| NewApi::Failed(InitError::sys("fsmount(overlay)", errno)))
}

/// `mount(2)` options for the overlay with layer paths relative to the
/// returned directory (the layers' common parent). Errors when even that
/// does not fit in a page.
pub fn classic_options(
    layers: &[PathBuf],
    upper: &str,
    work: &str,
) -> Result<(PathBuf, String), InitError> {
    let parent = common_parent(layers);
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|layer| {
            let rel = layer.strip_prefix(&parent).unwrap_or(layer);
            let rel = rel.to_str().unwrap_or_default();
            escape(if rel.is_empty() { "." } else { rel })
        })
        .collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape(upper),
        escape(work)
    );
    if options.len() > MOUNT_DATA_MAX {
        return Err(InitError::invalid(format!(
            "overlay options for {} layers are {} bytes even with relative paths; mount(2) takes at most {MOUNT_DATA_MAX}",
            layers.len(),
            options.len()
        )));
    }
    Ok((parent, options))
}

/// Overlay's option parser splits on `,` and `:`; escape them.
fn escape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The deepest directory containing every path (not one of them).
pub(super) fn common_parent(layers: &[PathBuf]) -> PathBuf {
    let mut parent = layers[0]
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| "/".into());
    while !layers.iter().all(|l| l.starts_with(&parent)) {
        if !parent.pop() {
            return "/".into();
        }
    }
    parent
}

fn overlay_classic(
    layers: &[PathBuf],
    upper: &str,
    work: &str,
    merged: &str,
) -> Result<(), InitError> {
    let (parent, options) = classic_options(layers, upper, work)?;
    let parent_str = utf8(&parent)?;
    sys::chdir(parent_str).context(|| format!("chdir {parent_str}"))?;
    let mounted =
        sys::mount(Some("overlay"), merged, Some("overlay"), 0, Some(&options)).context(|| {
            format!(
                "mounting the overlay on {merged} ({} layers, mount(2))",
                layers.len()
            )
        });
    sys::chdir("/").context(|| "chdir /".to_string())?;
    mounted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_options_list_layers_top_first_relative_to_their_parent() {
        let layers: Vec<PathBuf> = vec![
            "/var/lib/skiff/layers/aaa".into(),
            "/var/lib/skiff/layers/bbb".into(),
        ];
        let (parent, opts) = classic_options(&layers, "/c/upper", "/c/work").unwrap();
        assert_eq!(parent, PathBuf::from("/var/lib/skiff/layers"));
        assert_eq!(opts, "lowerdir=bbb:aaa,upperdir=/c/upper,workdir=/c/work");
    }

    #[test]
    fn classic_options_escape_separators_and_handle_mixed_parents() {
        let layers: Vec<PathBuf> = vec!["/a/x:1".into(), "/a/b/y,2".into()];
        let (parent, opts) = classic_options(&layers, "/u", "/w").unwrap();
        assert_eq!(parent, PathBuf::from("/a"));
        assert_eq!(opts, "lowerdir=b/y\\,2:x\\:1,upperdir=/u,workdir=/w");
        let (parent, opts) = classic_options(&["/only".into()], "/u", "/w").unwrap();
        assert_eq!(
            (parent, opts.as_str()),
            (PathBuf::from("/"), "lowerdir=only,upperdir=/u,workdir=/w")
        );
    }

    #[test]
    fn relative_paths_fit_where_absolute_ones_would_not() {
        let base = format!("/var/lib/skiff/images/{}", "d".repeat(64));
        let layers: Vec<PathBuf> = (0..60).map(|i| format!("{base}/{i:02}").into()).collect();
        let absolute: usize = layers.iter().map(|l| l.as_os_str().len() + 1).sum();
        assert!(absolute > MOUNT_DATA_MAX);
        let (_, opts) = classic_options(&layers, "/c/upper", "/c/work").unwrap();
        assert!(opts.starts_with("lowerdir=59:58:"), "{opts}");
        assert!(opts.len() < MOUNT_DATA_MAX);
    }

    #[test]
    fn too_many_layers_is_a_clear_error() {
        let layers: Vec<PathBuf> = (0..2000)
            .map(|i| format!("/l/{}{i}", "x".repeat(10)).into())
            .collect();
        let err = classic_options(&layers, "/u", "/w").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("overlay options for 2000 layers are "),
            "{err}"
        );
    }

    /// The fallback really mounts with 60 long-named layers (root, in a
    /// private mount namespace of a forked child).
    #[test]
    fn classic_fallback_mounts_sixty_layers() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("l".repeat(100));
        let layers: Vec<PathBuf> = (0..60)
            .map(|i| base.join(format!("{i:02}{}", "x".repeat(60))))
            .collect();
        for (i, layer) in layers.iter().enumerate() {
            std::fs::create_dir_all(layer).unwrap();
            std::fs::write(layer.join(format!("f{i}")), format!("{i}")).unwrap();
            std::fs::write(layer.join("top"), format!("{i}")).unwrap();
        }
        let (upper, work, merged) = (
            dir.path().join("u"),
            dir.path().join("w"),
            dir.path().join("m"),
        );
        for d in [&upper, &work, &merged] {
            std::fs::create_dir(d).unwrap();
        }
        let status = crate::init::testing::in_child_mount_ns(|| {
            overlay_classic(
                &layers,
                upper.to_str().unwrap(),
                work.to_str().unwrap(),
                merged.to_str().unwrap(),
            )
            .map_err(|e| e.to_string())?;
            let top = std::fs::read_to_string(merged.join("top")).map_err(|e| e.to_string())?;
            let bottom = std::fs::read_to_string(merged.join("f0")).map_err(|e| e.to_string())?;
            if top == "59" && bottom == "0" {
                Ok(())
            } else {
                Err(format!("top={top} bottom={bottom}"))
            }
        });
        assert_eq!(status, Ok(()));
    }
}
