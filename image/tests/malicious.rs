//! Malicious layers: each one is refused, or contained inside its layer directory, and the
//! canary outside is never touched. A refused layer leaves nothing behind.

mod support;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use skiff_image::store::layers::LayerStore;
use skiff_image::{Digest, Error};
use support::tar::{LayerTar, gzip};
use support::tree;
use tar::EntryType;

struct Attempt {
    dir: tempfile::TempDir,
    store: LayerStore,
}

impl Attempt {
    fn new() -> Attempt {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("canary"), "canary").unwrap();
        fs::create_dir(dir.path().join("canary-dir")).unwrap();
        let store = LayerStore::open(&dir.path().join("store")).unwrap();
        Attempt { dir, store }
    }

    fn outside(&self) -> &Path {
        self.dir.path()
    }

    fn apply(&self, tar: &[u8]) -> Result<PathBuf, Error> {
        self.store.apply(&Digest::of_bytes(tar), tar)
    }

    /// The canary and its directory are as they were, and nothing new appeared beside them.
    fn check_canary(&self) {
        let canary = self.outside().join("canary");
        assert_eq!(fs::read_to_string(&canary).unwrap(), "canary");
        assert_eq!(
            fs::metadata(&canary).unwrap().nlink(),
            1,
            "canary was hardlinked"
        );
        assert_eq!(
            fs::read_dir(self.outside().join("canary-dir"))
                .unwrap()
                .count(),
            0
        );
        let mut names: Vec<String> = fs::read_dir(self.outside())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["canary", "canary-dir", "store"]);
        assert!(!Path::new("/canary-abs").exists());
    }

    fn refused(&self, tar: &[u8]) {
        let err = self.apply(tar).expect_err("layer must be refused");
        assert!(
            matches!(err, Error::UnsafeEntry { .. }),
            "unexpected error: {err}"
        );
        self.check_canary();
        assert!(
            self.store.list().unwrap().is_empty(),
            "a refused layer was kept"
        );
        let tmp = self.outside().join("store/layers/tmp");
        assert_eq!(
            fs::read_dir(tmp).unwrap().count(),
            0,
            "partial unpack left behind"
        );
    }

    fn contained(&self, tar: &[u8]) -> PathBuf {
        let layer = self.apply(tar).expect("layer must be contained");
        self.check_canary();
        layer
    }
}

fn outside_abs(a: &Attempt, name: &str) -> String {
    a.outside().join(name).display().to_string()
}

#[test]
fn dotdot_paths_are_refused() {
    for path in ["../canary", "a/../../canary", "./../canary", "x/../.."] {
        let a = Attempt::new();
        let tar = LayerTar::new()
            .raw(EntryType::Regular, path, None, b"pwned")
            .finish();
        a.refused(&tar);
    }
}

#[test]
fn absolute_paths_stay_inside() {
    let a = Attempt::new();
    let abs = outside_abs(&a, "canary");
    let tar = LayerTar::new()
        .raw(EntryType::Regular, &abs, None, b"pwned")
        .raw(EntryType::Regular, "/canary-abs", None, b"pwned")
        .finish();
    let layer = a.contained(&tar);
    let inside = layer.join(abs.trim_start_matches('/'));
    assert_eq!(fs::read_to_string(inside).unwrap(), "pwned");
    assert!(layer.join("canary-abs").is_file());
}

#[test]
fn entries_below_a_symlink_are_refused() {
    let a = Attempt::new();
    let tar = LayerTar::new()
        .symlink("evil", &a.outside().display().to_string())
        .file("evil/canary", "pwned")
        .finish();
    a.refused(&tar);

    // A relative escape, and whiteouts and opaque markers below a symlink.
    for (link, entry) in [
        ("..", "up/canary-dir/x"),
        ("/", "up/.wh.canary"),
        ("/", "up/.wh..wh..opq"),
    ] {
        let a = Attempt::new();
        let tar = LayerTar::new()
            .symlink("up", link)
            .file(entry, "pwned")
            .finish();
        a.refused(&tar);
    }
}

#[test]
fn symlink_chains_are_refused() {
    let a = Attempt::new();
    let outside = a.outside().display().to_string();
    let tar = LayerTar::new()
        .symlink("l1", "/")
        .symlink("l2", &format!("l1{outside}"))
        .dir("real", 0o755)
        .symlink("real/l3", "../l2")
        .file("real/l3/canary", "pwned")
        .finish();
    a.refused(&tar);
}

#[test]
fn a_file_replaces_a_symlink_instead_of_writing_through_it() {
    let a = Attempt::new();
    let tar = LayerTar::new()
        .symlink("evil", &outside_abs(&a, "canary"))
        .file("evil", "pwned")
        .finish();
    let layer = a.contained(&tar);
    let m = fs::symlink_metadata(layer.join("evil")).unwrap();
    assert!(m.is_file());
    assert_eq!(fs::read_to_string(layer.join("evil")).unwrap(), "pwned");
}

#[test]
fn hardlinks_out_of_the_layer_are_refused() {
    let a = Attempt::new();
    let targets = [
        "../canary".to_string(),
        outside_abs(&a, "canary"),
        "never-written".to_string(),
    ];
    for target in targets {
        let a = Attempt::new();
        let tar = LayerTar::new()
            .raw(EntryType::Link, "hl", Some(&target), b"")
            .finish();
        a.refused(&tar);
    }
    // Through a symlinked directory of the layer itself.
    let tar = LayerTar::new()
        .symlink("s", &a.outside().display().to_string())
        .hardlink("hl", "s/canary")
        .finish();
    a.refused(&tar);
}

#[test]
fn hardlink_through_a_directory_later_replaced_by_a_symlink_is_refused() {
    let a = Attempt::new();
    let tar = LayerTar::new()
        .dir("d", 0o755)
        .file("d/canary", "inside")
        .symlink("d", &a.outside().display().to_string())
        .hardlink("hl", "d/canary")
        .finish();
    a.refused(&tar);
}

#[test]
fn malformed_whiteouts_are_refused() {
    for name in ["dir/.wh.", "dir/.wh..", "dir/.wh...", ".wh..wh.plnk"] {
        let a = Attempt::new();
        let tar = LayerTar::new()
            .raw(EntryType::Regular, name, None, b"")
            .finish();
        a.refused(&tar);
    }
}

#[test]
fn smuggled_trusted_xattrs_are_dropped() {
    let a = Attempt::new();
    let tar = LayerTar::new()
        .pax(&[("SCHILY.xattr.trusted.overlay.opaque", b"y")])
        .dir("forged", 0o755)
        .pax(&[("SCHILY.xattr.trusted.overlay.redirect", b"/etc")])
        .file("forged/file", "x")
        .finish();
    let layer = a.contained(&tar);
    assert!(!tree::is_opaque(&layer.join("forged")));
    assert_eq!(
        tree::xattr(&layer.join("forged/file"), "trusted.overlay.redirect"),
        None
    );
}

#[test]
fn digest_mismatch_leaves_nothing_behind() {
    let a = Attempt::new();
    let tar = LayerTar::new()
        .dir("etc", 0o755)
        .file("etc/x", "y")
        .finish();
    let err = a
        .store
        .apply(&Digest::of_bytes(b"something else"), &gzip(&tar)[..])
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(a.store.list().unwrap().is_empty());
    assert_eq!(
        fs::read_dir(a.outside().join("store/layers/tmp"))
            .unwrap()
            .count(),
        0
    );
    a.check_canary();
}

#[test]
fn truncated_layers_fail_cleanly() {
    let a = Attempt::new();
    let tar = LayerTar::new().file("big", &"x".repeat(5000)).finish();
    let cut = &tar[..1500];
    assert!(a.apply(cut).is_err());
    assert_eq!(
        fs::read_dir(a.outside().join("store/layers/tmp"))
            .unwrap()
            .count(),
        0
    );
    a.check_canary();
}
