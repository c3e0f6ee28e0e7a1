//! The layer-rules image: every node kind and whiteout form over gzip, zstd and plain
//! layers, checked against its expected merged view, computed from the layer directories
//! and seen through a real overlayfs mount.

mod support;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use serde_json::json;
use skiff_image::ImageStore;
use support::oci::{self, Layer};
use support::tar::{LayerTar, gzip, zstd};
use support::tree::{self, Tree};
use tar::EntryType;

fn long_path() -> String {
    format!("long/{}/{}", "d".repeat(100), "f".repeat(120))
}

const CAP: &[u8] =
    b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";

fn layers() -> Vec<Layer> {
    let mut l1 = LayerTar::new();
    l1.dir("etc", 0o755)
        .file("etc/passwd", "root:x:0:0\n")
        .file("etc/old", "old")
        .dir("gone", 0o755)
        .file("gone/a", "a")
        .dir("opq", 0o755)
        .file("opq/lower1", "l1")
        .dir("recreate", 0o755)
        .file("recreate/lower", "x")
        .file("refile", "lower file")
        .file("f2d", "file")
        .dir("d2f", 0o755)
        .file("d2f/inner", "i")
        .dir("keep", 0o755)
        .file("keep/lower", "k")
        .dir("bin", 0o755)
        .file_full("bin/tool", "tool", 0o4755, 0, 0)
        .dir("tmp", 0o1777)
        .dir_owned("home/user", 0o750, 1000, 1000)
        .file_full("home/user/file", "mine", 0o600, 1000, 1000)
        .dir("data", 0o755)
        .file("data/hard1", "hardlinked")
        .hardlink("data/hard2", "data/hard1")
        .dir("links", 0o755)
        .symlink("links/abs", "/etc/passwd")
        .symlink("links/rel", "../etc/passwd")
        .symlink("links/dangling", "nowhere")
        .dir("dev", 0o755)
        .device("dev/null", EntryType::Char, 0o666, 1, 3)
        .device("dev/sda", EntryType::Block, 0o660, 8, 0)
        .dir("run", 0o755)
        .device("run/fifo", EntryType::Fifo, 0o644, 0, 0)
        .dir("xattr", 0o755)
        .pax(&[
            ("SCHILY.xattr.user.note", b"hello"),
            ("SCHILY.xattr.security.capability", CAP),
            ("SCHILY.xattr.trusted.evil", b"x"),
        ])
        .file("xattr/file", "x")
        .file(&long_path(), "deep");

    let mut l2 = LayerTar::new();
    l2.dir("etc", 0o755)
        // Same-layer rule, both orders: the layer's own file survives its whiteout.
        .file("etc/passwd", "root:x:0:0:new\n")
        .file("etc/.wh.passwd", "")
        .file("etc/.wh.old", "")
        .file(".wh.gone", "")
        .dir("opq", 0o755)
        .file("opq/.wh..wh..opq", "")
        .file("opq/new", "n")
        .file(".wh.recreate", "")
        .dir("recreate", 0o700)
        .file("recreate/upper", "u")
        .file(".wh.refile", "")
        .file("refile", "upper file")
        .dir("f2d", 0o755)
        .file("f2d/child", "c")
        .file("d2f", "now a file")
        .dir("keep", 0o755)
        .file("keep/upper", "u2")
        .dir("fresh", 0o755)
        .file("fresh/.wh.nothing", "");

    let mut l3 = LayerTar::new();
    l3.file("top", "3")
        .dir("keep", 0o755)
        .file("keep/.wh.lower", "");

    vec![
        Layer::new(l1.finish(), gzip),
        Layer::new(l2.finish(), zstd),
        Layer::plain(l3.finish()),
    ]
}

fn expected() -> Tree {
    let root = |p: &str| format!("dir {p} 0:0");
    let file = |c: &str| format!("file 0644 0:0 {c:?}");
    let long = long_path();
    let long_dir = long.rsplit_once('/').unwrap().0.to_string();
    let mut t: Tree = [
        ("bin", root("0755")),
        ("bin/tool", "file 4755 0:0 \"tool\"".to_string()),
        ("d2f", file("now a file")),
        ("data", root("0755")),
        ("data/hard1", file("hardlinked")),
        ("data/hard2", file("hardlinked")),
        ("dev", root("0755")),
        ("dev/null", "char 1:3 0666 0:0".to_string()),
        ("dev/sda", "block 8:0 0660 0:0".to_string()),
        ("etc", root("0755")),
        ("etc/passwd", file("root:x:0:0:new\n")),
        ("f2d", root("0755")),
        ("f2d/child", file("c")),
        ("fresh", root("0755")),
        ("home", root("0755")),
        ("home/user", "dir 0750 1000:1000".to_string()),
        ("home/user/file", "file 0600 1000:1000 \"mine\"".to_string()),
        ("keep", root("0755")),
        ("keep/upper", file("u2")),
        ("links", root("0755")),
        ("links/abs", "link -> /etc/passwd".to_string()),
        ("links/dangling", "link -> nowhere".to_string()),
        ("links/rel", "link -> ../etc/passwd".to_string()),
        ("long", root("0755")),
        ("opq", root("0755")),
        ("opq/new", file("n")),
        ("recreate", root("0700")),
        ("recreate/upper", file("u")),
        ("refile", file("upper file")),
        ("run", root("0755")),
        ("run/fifo", "fifo 0644 0:0".to_string()),
        ("tmp", root("1777")),
        ("top", file("3")),
        ("xattr", root("0755")),
        (
            "xattr/file",
            format!(
                "{} security.capability={} user.note=hello",
                file("x"),
                String::from_utf8_lossy(CAP)
            ),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    t.insert(long_dir, root("0755"));
    t.insert(long, file("deep"));
    t
}

fn import() -> (tempfile::TempDir, ImageStore, Vec<PathBuf>) {
    let dir = tempfile::tempdir().unwrap();
    let layers = layers();
    let layout = dir.path().join("layout");
    oci::layout(&layout, &layers, json!({"Cmd": ["/bin/sh"]}), "layer-rules");
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let records = store
        .import(&layout, Some("localhost/layer-rules:v1"))
        .unwrap();
    assert_eq!(records[0].reference, "localhost/layer-rules:layer-rules");
    let mut dirs = store.layer_dirs(&records[0]);
    dirs.reverse();
    (dir, store, dirs)
}

#[test]
fn merged_view_matches_expected() {
    let (_dir, _store, top_first) = import();
    let merged = tree::merged(&top_first);
    let diff = tree::diff(&expected(), &merged);
    assert!(diff.is_empty(), "merged view differs:\n{}", diff.join("\n"));
}

#[test]
fn layer_directories_hold_overlay_metadata() {
    let (_dir, _store, top_first) = import();
    let (l3, l2, l1) = (&top_first[0], &top_first[1], &top_first[2]);
    assert!(tree::is_whiteout(&l2.join("etc/old")));
    assert!(tree::is_whiteout(&l2.join("gone")));
    assert!(tree::is_whiteout(&l2.join("fresh/nothing")));
    assert!(tree::is_whiteout(&l3.join("keep/lower")));
    assert!(tree::is_opaque(&l2.join("opq")));
    assert!(
        tree::is_opaque(&l2.join("recreate")),
        "whiteout + same-layer dir is opaque"
    );
    assert!(!tree::is_opaque(&l2.join("keep")));
    assert!(!tree::is_whiteout(&l2.join("refile")));
    assert!(!tree::is_whiteout(&l2.join("etc/passwd")));
    // trusted.* from the tar never lands; hardlinks share an inode.
    assert_eq!(tree::xattr(&l1.join("xattr/file"), "trusted.evil"), None);
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
    assert_eq!(ino(&l1.join("data/hard1")), ino(&l1.join("data/hard2")));
    // Directory mtimes survive the creation of their children.
    assert_eq!(
        std::fs::metadata(l1.join("etc")).unwrap().mtime(),
        1_700_000_000
    );
}

/// Unmounts on drop, so a failed assertion leaves no mount behind.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let p = CString::new(self.0.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid C string; umount2 has no other preconditions.
        unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn overlayfs_sees_the_expected_view() {
    let (dir, _store, top_first) = import();
    let target = dir.path().join("merged");
    std::fs::create_dir(&target).unwrap();
    let lower: Vec<String> = top_first.iter().map(|p| p.display().to_string()).collect();
    let options = CString::new(format!("lowerdir={}", lower.join(":"))).unwrap();
    let t = CString::new(target.as_os_str().as_bytes()).unwrap();
    let fstype = CString::new("overlay").unwrap();
    // SAFETY: valid C strings; the mount is undone by `Mount`'s Drop.
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
    let mount = Mount(target.clone());
    let seen = tree::snapshot(&target);
    drop(mount);
    let diff = tree::diff(&expected(), &seen);
    assert!(
        diff.is_empty(),
        "overlayfs view differs:\n{}",
        diff.join("\n")
    );
}

/// The same image pushed to a local registry (Debian's docker-registry) and pulled through
/// the real client: the layers it unpacks merge to the same expected view.
#[tokio::test]
async fn pulled_through_a_registry_matches_expected() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    oci::layout(
        &layout,
        &layers(),
        json!({"Cmd": ["/bin/sh"]}),
        "layer-rules",
    );
    let registry = skiff_image::testing::Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "skiff/layer-rules", "v1")
        .await
        .unwrap();
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let puller = skiff_image::Puller::new(registry.pull_options()).unwrap();
    let reference = format!("{}/skiff/layer-rules:v1", registry.host());
    let record = puller.pull(&store, &reference, &|_| {}).await.unwrap();
    assert_eq!(record.layers.len(), 3);
    let mut top_first = store.layer_dirs(&record);
    top_first.reverse();
    let diff = tree::diff(&expected(), &tree::merged(&top_first));
    assert!(
        diff.is_empty(),
        "pulled merged view differs:\n{}",
        diff.join("\n")
    );
}
