//! The busybox test image, built by the project's own script from Debian's busybox-static:
//! reproducible, importable, and runnable from an overlayfs of its layers.

mod support;

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use skiff_image::ImageStore;

fn build(out: &Path, reference: &str) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-oci.sh");
    let output = Command::new("bash")
        .arg(script)
        .arg(out)
        .arg(reference)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "make-busybox-oci.sh failed (is busybox-static installed? scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let p = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

fn mount_overlay(lower_top_first: &[PathBuf], target: &Path) -> Mount {
    let lower: Vec<String> = lower_top_first
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let options = CString::new(format!("lowerdir={}", lower.join(":"))).unwrap();
    let t = CString::new(target.as_os_str().as_bytes()).unwrap();
    let fstype = CString::new("overlay").unwrap();
    // SAFETY: valid C strings; undone by Mount's Drop.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            t.as_ptr(),
            fstype.as_ptr(),
            0,
            options.as_ptr().cast(),
        )
    };
    assert_eq!(rc, 0, "mount overlay: {}", std::io::Error::last_os_error());
    Mount(target.to_path_buf())
}

#[test]
fn busybox_image_builds_reproducibly_imports_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first = build(&dir.path().join("a"), "docker.io/library/busybox:latest");
    let second = build(&dir.path().join("b"), "docker.io/library/busybox:latest");
    assert_eq!(first, second, "same input, same manifest digest");

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let records = store.import(&dir.path().join("a"), None).unwrap();
    assert_eq!(records.len(), 1);
    let r = store.get("busybox").unwrap();
    assert_eq!(r.manifest_digest.to_string(), first);
    assert_eq!(
        r.config.cmd.as_deref().unwrap(),
        ["/bin/httpd", "-f", "-v", "-p", "80", "-h", "/www"]
    );
    let dirs = store.layer_dirs(&r);
    assert_eq!(dirs.len(), 2);
    assert_eq!(
        fs::read_link(dirs[0].join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        fs::read_link(dirs[0].join("bin/httpd")).unwrap(),
        Path::new("busybox")
    );
    assert!(
        fs::symlink_metadata(dirs[0].join("bin/busybox"))
            .unwrap()
            .is_file()
    );
    assert!(
        fs::read_to_string(dirs[0].join("etc/passwd"))
            .unwrap()
            .starts_with("root:x:0:0:")
    );
    assert!(
        fs::read_to_string(dirs[1].join("www/index.html"))
            .unwrap()
            .contains("skiff")
    );

    // Run the image's own shell on the merged root.
    let merged = dir.path().join("merged");
    fs::create_dir(&merged).unwrap();
    let top_first: Vec<PathBuf> = dirs.into_iter().rev().collect();
    let _mount = mount_overlay(&top_first, &merged);
    // coreutils chroot, by absolute path: the PATH given below is the image's.
    let out = Command::new("/usr/sbin/chroot")
        .arg(&merged)
        .args(["/bin/sh", "-c", "cat /www/index.html; id -un"])
        .env_clear()
        .env("PATH", "/bin")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("hello from skiff busybox"), "{stdout}");
    assert!(stdout.trim_end().ends_with("root"), "{stdout}");
}
