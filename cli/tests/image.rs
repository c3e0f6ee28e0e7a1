//! `skiff image import|ls|rm|gc` against a store in a temporary directory, with OCI layouts
//! written here (one gzip layer) and, where busybox-static is installed, the project's
//! busybox image.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use skiff_image::Digest;

const BIN: &str = env!("CARGO_BIN_EXE_skiff");

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "skiff failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    fn fails(&self) -> &str {
        assert_eq!(
            self.code, 1,
            "expected exit 1:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        &self.stderr
    }
}

/// `skiff image --root <root> ARGS...`
fn image(root: &Path, args: &[&str]) -> Run {
    let out = Command::new(BIN)
        .arg("image")
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// What the test layout holds, for the expected output.
struct Layout {
    manifest: Digest,
    config: Digest,
    layer_blob: Digest,
    layer_size: u64,
    diff_id: Digest,
}

fn write_blob(dir: &Path, bytes: &[u8], media_type: &str) -> (Digest, Value) {
    let d = Digest::of_bytes(bytes);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(d.hex()), bytes).unwrap();
    let desc = json!({"mediaType": media_type, "digest": d.to_string(), "size": bytes.len()});
    (d, desc)
}

/// A header with every numeric field set (the store refuses blank uid/gid fields).
fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h
}

fn layer_tar(greeting: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut dir = header(tar::EntryType::Directory, 0o755, 0);
    b.append_data(&mut dir, "etc/", &[][..]).unwrap();
    let mut file = header(tar::EntryType::Regular, 0o644, greeting.len() as u64);
    b.append_data(&mut file, "etc/greeting", greeting.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// An OCI layout of one single-layer image; `ref_name` becomes the manifest's
/// `org.opencontainers.image.ref.name` annotation.
fn write_layout(dir: &Path, greeting: &str, ref_name: Option<&str>) -> Layout {
    let tar = layer_tar(greeting);
    let blob = gzip(&tar);
    let diff_id = Digest::of_bytes(&tar);
    let (layer_blob, layer_desc) =
        write_blob(dir, &blob, "application/vnd.oci.image.layer.v1.tar+gzip");
    let config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id.to_string()]},
    });
    let (config_digest, config_desc) = write_blob(
        dir,
        &serde_json::to_vec(&config).unwrap(),
        "application/vnd.oci.image.config.v1+json",
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    });
    let (manifest_digest, mut manifest_desc) = write_blob(
        dir,
        &serde_json::to_vec(&manifest).unwrap(),
        "application/vnd.oci.image.manifest.v1+json",
    );
    if let Some(name) = ref_name {
        manifest_desc["annotations"] = json!({"org.opencontainers.image.ref.name": name});
    }
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [manifest_desc],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    Layout {
        manifest: manifest_digest,
        config: config_digest,
        layer_size: blob.len() as u64,
        layer_blob,
        diff_id,
    }
}

/// Tars a directory (an OCI layout) into one file, as `skopeo copy oci-archive:` does.
fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap();
}

fn layer_dir(root: &Path, diff_id: &Digest) -> PathBuf {
    root.join("layers/sha256").join(diff_id.hex())
}

fn blob_file(root: &Path, digest: &Digest) -> PathBuf {
    root.join("blobs/sha256").join(digest.hex())
}

/// The `ls` rows after the header, split on runs of spaces.
fn rows(ls: &str) -> Vec<Vec<String>> {
    let mut lines = ls.lines();
    let header: Vec<&str> = lines.next().unwrap().split("   ").collect::<Vec<_>>();
    assert_eq!(
        header
            .iter()
            .map(|h| h.trim())
            .filter(|h| !h.is_empty())
            .collect::<Vec<_>>(),
        ["IMAGE", "TAG", "IMAGE ID", "SIZE"],
        "{ls}"
    );
    lines
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

#[test]
fn import_list_remove_and_collect() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let layout_dir = tmp.path().join("hello");
    let layout = write_layout(&layout_dir, "hello\n", None);

    // The layout names nothing: --name does.
    let err = image(&root, &["import", path_str(&layout_dir)])
        .fails()
        .to_string();
    assert!(err.starts_with("error: importing "), "{err}");
    assert!(err.trim_end().ends_with("(pass --name REF)"), "{err}");

    let imported = format!(
        "imported docker.io/library/hello:latest ({})\n",
        layout.manifest
    );
    let args = ["import", path_str(&layout_dir), "--name", "hello"];
    assert_eq!(image(&root, &args).ok(), imported);
    let unpacked = layer_dir(&root, &layout.diff_id);
    assert_eq!(
        fs::read_to_string(unpacked.join("etc/greeting")).unwrap(),
        "hello\n"
    );

    let ls = image(&root, &["ls"]).ok().to_string();
    let id = &layout.config.hex()[..13];
    assert_eq!(
        rows(&ls),
        [[
            "docker.io/library/hello".to_string(),
            "latest".to_string(),
            id.to_string(),
            format!("{}B", layout.layer_size),
        ]],
        "{ls}"
    );
    // crictl's layout: each column as wide as its widest cell plus 3, and at least 20.
    let header = format!("IMAGE{}TAG{}IMAGE ID", " ".repeat(21), " ".repeat(17));
    assert!(ls.starts_with(&header), "{ls}");

    // Importing again changes nothing.
    assert_eq!(image(&root, &args).ok(), imported);
    assert_eq!(image(&root, &["ls"]).ok(), ls);
    assert_eq!(fs::read_dir(root.join("layers/sha256")).unwrap().count(), 1);

    // Nothing is unused yet.
    assert_eq!(
        image(&root, &["gc"]).ok(),
        "freed 0 blobs (0B) and 0 unpacked layers\n"
    );
    assert!(unpacked.is_dir());

    assert_eq!(
        image(&root, &["rm", "hello"]).ok(),
        "deleted: docker.io/library/hello:latest\n"
    );
    assert_eq!(rows(image(&root, &["ls"]).ok()), Vec::<Vec<String>>::new());
    assert_eq!(
        image(&root, &["rm", "hello"]).fails(),
        "error: image \"hello\" not found\n"
    );

    // Removed, but kept on disk until gc.
    assert!(unpacked.is_dir());
    let gc = image(&root, &["gc"]).ok().to_string();
    for blob in [&layout.manifest, &layout.config, &layout.layer_blob] {
        assert!(gc.contains(&format!("deleted blob {blob}\n")), "{gc}");
        assert!(!blob_file(&root, blob).exists());
    }
    assert!(
        gc.contains(&format!("deleted layer {}\n", layout.diff_id)),
        "{gc}"
    );
    assert!(
        gc.lines().last().unwrap().starts_with("freed 3 blobs (")
            && gc.ends_with(") and 1 unpacked layer\n"),
        "{gc}"
    );
    assert!(!unpacked.exists());
    assert_eq!(
        image(&root, &["gc"]).ok(),
        "freed 0 blobs (0B) and 0 unpacked layers\n"
    );
}

#[test]
fn gc_keeps_layers_other_images_still_use() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let layout_dir = tmp.path().join("app");
    // A tag-only name, as `skopeo copy oci:DIR:v1` writes, joined to --name's repository.
    let layout = write_layout(&layout_dir, "shared\n", Some("v1"));
    let archive = tmp.path().join("app.tar");
    tar_dir(&layout_dir, &archive);

    let first = [
        "import",
        path_str(&archive),
        "--name",
        "registry.local:5000/team/app",
    ];
    assert_eq!(
        image(&root, &first).ok(),
        format!(
            "imported registry.local:5000/team/app:v1 ({})\n",
            layout.manifest
        )
    );
    let second = ["import", path_str(&layout_dir), "--name", "other"];
    assert_eq!(
        image(&root, &second).ok(),
        format!(
            "imported docker.io/library/other:v1 ({})\n",
            layout.manifest
        )
    );
    let names: Vec<(String, String)> = rows(image(&root, &["ls"]).ok())
        .into_iter()
        .map(|r| (r[0].clone(), r[1].clone()))
        .collect();
    assert_eq!(
        names,
        [
            ("docker.io/library/other".to_string(), "v1".to_string()),
            ("registry.local:5000/team/app".to_string(), "v1".to_string()),
        ]
    );

    // Several references at once; an unknown one is reported, the others still go.
    let run = image(
        &root,
        &["rm", "registry.local:5000/team/app:v1", "missing:1"],
    );
    assert_eq!(
        run.fails(),
        "error: image \"missing:1\" not found\n",
        "{}",
        run.stdout
    );
    assert_eq!(run.stdout, "deleted: registry.local:5000/team/app:v1\n");

    // docker.io/library/other:v1 still needs every blob and the layer.
    assert_eq!(
        image(&root, &["gc"]).ok(),
        "freed 0 blobs (0B) and 0 unpacked layers\n"
    );
    assert!(layer_dir(&root, &layout.diff_id).is_dir());

    image(&root, &["rm", "other:v1"]).ok();
    let gc = image(&root, &["gc"]).ok().to_string();
    assert!(gc.ends_with(") and 1 unpacked layer\n"), "{gc}");
    assert!(!layer_dir(&root, &layout.diff_id).exists());
}

#[test]
fn bad_input_errors_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");

    let missing = tmp.path().join("no-such-layout");
    let err = image(&root, &["import", path_str(&missing)])
        .fails()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "error: importing {0}: stat {0}: No such file",
            missing.display()
        )),
        "{err}"
    );

    let empty = tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = image(&root, &["import", path_str(&empty)])
        .fails()
        .to_string();
    assert!(
        err.contains("is neither an OCI layout (oci-layout, index.json) nor a docker archive"),
        "{err}"
    );

    let not_a_tar = tmp.path().join("notes.txt");
    fs::write(&not_a_tar, "not an archive").unwrap();
    let err = image(&root, &["import", path_str(&not_a_tar)])
        .fails()
        .to_string();
    assert!(err.starts_with("error: importing "), "{err}");

    let layout_dir = tmp.path().join("layout");
    write_layout(&layout_dir, "x\n", None);
    let err = image(
        &root,
        &["import", path_str(&layout_dir), "--name", "Bad/Name"],
    )
    .fails()
    .to_string();
    assert!(
        err.contains("invalid image reference \"Bad/Name\""),
        "{err}"
    );
    let err = image(&root, &["rm", "UPPER"]).fails().to_string();
    assert!(err.contains("invalid image reference \"UPPER\""), "{err}");

    // A store root that cannot be a directory.
    let file_root = tmp.path().join("a-file");
    fs::write(&file_root, "").unwrap();
    let err = image(&file_root, &["ls"]).fails().to_string();
    assert!(
        err.starts_with(&format!(
            "error: opening the image store {}: ",
            file_root.display()
        )),
        "{err}"
    );

    // Nothing was recorded by the failures.
    assert_eq!(rows(image(&root, &["ls"]).ok()), Vec::<Vec<String>>::new());
}

fn busybox() -> Option<&'static str> {
    ["/usr/bin/busybox", "/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

#[test]
fn imports_the_busybox_image() {
    if busybox().is_none() {
        // CI installs busybox-static; only a bare developer machine may lack it.
        assert!(
            std::env::var_os("CI").is_none(),
            "busybox-static is missing on CI (scripts/install-deps.sh)"
        );
        eprintln!("skipped: busybox-static is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let out = tmp.path().join("busybox-oci");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../image/scripts/make-busybox-oci.sh");
    let built = Command::new("bash")
        .arg(&script)
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let manifest = String::from_utf8(built.stdout).unwrap().trim().to_string();

    assert_eq!(
        image(&root, &["import", path_str(&out)]).ok(),
        format!("imported docker.io/library/busybox:latest ({manifest})\n")
    );
    let rows = rows(image(&root, &["ls"]).ok());
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][..2], ["docker.io/library/busybox", "latest"]);
    assert_eq!(rows[0][2].len(), 13);
    assert!(
        rows[0][3].ends_with("MB"),
        "busybox is a megabyte or more: {rows:?}"
    );

    assert_eq!(
        image(&root, &["rm", "busybox"]).ok(),
        "deleted: docker.io/library/busybox:latest\n"
    );
    let gc = image(&root, &["gc"]).ok().to_string();
    assert!(gc.ends_with(") and 2 unpacked layers\n"), "{gc}");
    assert_eq!(fs::read_dir(root.join("layers/sha256")).unwrap().count(), 0);
}

/// `skiff image pull` from a local registry (Debian's docker-registry): through a docker.io
/// mirror, then directly as an insecure registry; without `--insecure-registry` it would
/// speak https, which the registry does not, and says so.
#[test]
fn pulls_from_a_local_registry() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("store");
    let layout_dir = tmp.path().join("greeting");
    let layout = write_layout(&layout_dir, "pulled\n", Some("v1"));
    let registry = skiff_image::testing::Registry::start().unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(registry.push_oci_layout(&layout_dir, "library/greeting", "v1"))
        .unwrap();

    let mirror = format!("docker.io={}", registry.url());
    let out = image(
        &root,
        &["pull", "greeting:v1", "--registry-mirror", &mirror],
    )
    .ok()
    .to_string();
    let short = &layout.layer_blob.hex()[..12];
    for line in [
        format!(
            "resolved docker.io/library/greeting:v1 to {} from mirror {} of docker.io: 1 layer,",
            layout.manifest,
            registry.url()
        ),
        format!("layer {short}: done"),
        format!("pulled docker.io/library/greeting:v1 ({})", layout.manifest),
    ] {
        assert!(out.contains(&line), "{line:?} not in:\n{out}");
    }
    assert_eq!(
        fs::read_to_string(layer_dir(&root, &layout.diff_id).join("etc/greeting")).unwrap(),
        "pulled\n"
    );
    assert!(blob_file(&root, &layout.config).is_file());

    let direct = format!("{}/library/greeting:v1", registry.host());
    image(
        &root,
        &["pull", &direct, "--insecure-registry", &registry.host()],
    )
    .ok();
    let listed = rows(image(&root, &["ls"]).ok());
    let names: Vec<&str> = listed.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        names,
        [
            format!("{}/library/greeting", registry.host()).as_str(),
            "docker.io/library/greeting"
        ]
    );

    let err = image(&tmp.path().join("other"), &["pull", &direct])
        .fails()
        .to_string();
    assert!(
        err.contains(&format!("https://{}", registry.host())) && err.contains("library/greeting"),
        "{err}"
    );
    let bad = image(&root, &["pull", "x", "--registry-mirror", "docker.io"])
        .fails()
        .to_string();
    assert!(bad.contains("REGISTRY=URL"), "{bad}");
}
