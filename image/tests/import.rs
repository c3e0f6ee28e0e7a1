//! Import of OCI layouts (directory and tar), nested indexes, Docker schema2 manifests and
//! docker-archive tarballs; verification failures; records, reference counting and gc.

mod support;

use std::fs;
use std::path::Path;

use serde_json::json;
use skiff_image::{Digest, Error, ImageStore};
use support::oci::{self, Layer};
use support::tar::{LayerTar, gzip, zstd};

fn base_layer() -> Layer {
    Layer::new(
        LayerTar::new()
            .dir("etc", 0o755)
            .file("etc/os-release", "skiff\n")
            .finish(),
        gzip,
    )
}

fn app_layer(content: &str) -> Layer {
    Layer::new(
        LayerTar::new()
            .dir("app", 0o755)
            .file("app/run", content)
            .finish(),
        zstd,
    )
}

fn config() -> serde_json::Value {
    json!({
        "Entrypoint": ["/app/run"],
        "Cmd": ["--port", "80"],
        "Env": ["PATH=/usr/bin:/bin", "MODE=test"],
        "WorkingDir": "/app",
        "User": "1000:1000",
        "StopSignal": "SIGQUIT"
    })
}

fn store_in(dir: &Path) -> ImageStore {
    ImageStore::open(&dir.join("store")).unwrap()
}

fn entries(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn oci_layout_directory_and_tar() {
    let dir = tempfile::tempdir().unwrap();
    let layers = [base_layer(), app_layer("v1")];
    let layout = dir.path().join("layout");
    oci::layout(&layout, &layers, config(), "localhost:5000/app:v1");
    let store = store_in(dir.path());

    let records = store.import(&layout, None).unwrap();
    assert_eq!(records.len(), 1);
    let r = store.get("localhost:5000/app:v1").unwrap();
    assert_eq!(r, records[0]);
    assert_eq!(
        r.config.entrypoint.as_deref(),
        Some(&["/app/run".to_string()][..])
    );
    assert_eq!(r.config.cmd.as_ref().unwrap().len(), 2);
    assert_eq!(r.config.env.as_ref().unwrap()[1], "MODE=test");
    assert_eq!(r.config.working_dir.as_deref(), Some("/app"));
    assert_eq!(r.config.user.as_deref(), Some("1000:1000"));
    assert_eq!(r.config.stop_signal.as_deref(), Some("SIGQUIT"));
    let diff_ids: Vec<Digest> = r.diff_ids().cloned().collect();
    assert_eq!(diff_ids, [layers[0].diff_id(), layers[1].diff_id()]);
    let dirs = store.layer_dirs(&r);
    assert_eq!(
        fs::read_to_string(dirs[0].join("etc/os-release")).unwrap(),
        "skiff\n"
    );
    assert_eq!(fs::read_to_string(dirs[1].join("app/run")).unwrap(), "v1");
    // Every blob was kept: manifest, config, two layers.
    assert_eq!(store.blobs().list().unwrap().len(), 4);

    // The same layout as one tar, into a fresh store.
    let tarball = dir.path().join("app.oci.tar");
    oci::tar_dir(&layout, &tarball);
    let other = ImageStore::open(&dir.path().join("store2")).unwrap();
    let from_tar = other.import(&tarball, None).unwrap();
    assert_eq!(from_tar, records);

    // Importing again changes nothing.
    assert_eq!(store.import(&tarball, None).unwrap(), records);
    assert_eq!(store.list().unwrap(), records);
}

#[test]
fn tag_only_names_need_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    oci::layout(&layout, &[base_layer()], config(), "v2");
    let store = store_in(dir.path());
    let r = store.import(&layout, Some("localhost:5000/app")).unwrap();
    assert_eq!(r[0].reference, "localhost:5000/app:v2");

    let unnamed = dir.path().join("unnamed");
    let m = oci::write_manifest(&unnamed, &[base_layer()], config(), false);
    oci::write_layout(&unnamed, vec![m]);
    let err = store.import(&unnamed, None).unwrap_err();
    assert!(matches!(err, Error::InvalidImage(_)), "{err}");
    assert_eq!(
        store.import(&unnamed, Some("nginx")).unwrap()[0].reference,
        "docker.io/library/nginx:latest"
    );
    assert!(store.get("nginx:latest").is_ok());
    assert!(store.get("docker.io/library/nginx").is_ok());
}

#[test]
fn nested_index_picks_linux_amd64_and_skips_attestations() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let amd64 = oci::write_manifest(&layout, &[base_layer(), app_layer("amd64")], config(), true);
    let arm64 = oci::write_manifest(&layout, &[app_layer("arm64")], config(), false);
    let attestation = oci::write_manifest(&layout, &[app_layer("attestation")], json!({}), false);
    let platform = |mut d: serde_json::Value, os: &str, arch: &str| {
        d["platform"] = json!({"os": os, "architecture": arch});
        d
    };
    let list = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [platform(attestation, "unknown", "unknown"), platform(arm64, "linux", "arm64"), platform(amd64.clone(), "linux", "amd64")]
    });
    let mut list_desc = oci::write_blob(&layout, &serde_json::to_vec(&list).unwrap());
    list_desc["mediaType"] = json!("application/vnd.docker.distribution.manifest.list.v2+json");
    oci::write_layout(
        &layout,
        vec![oci::named(list_desc.clone(), "docker.io/library/multi:1")],
    );

    let store = store_in(dir.path());
    let r = store.import(&layout, None).unwrap().remove(0);
    let amd64_digest = Digest::parse(amd64["digest"].as_str().unwrap()).unwrap();
    let list_digest = Digest::parse(list_desc["digest"].as_str().unwrap()).unwrap();
    assert_eq!(r.manifest_digest, amd64_digest);
    assert_eq!(r.index_digest.as_ref(), Some(&list_digest));
    assert_eq!(
        fs::read_to_string(store.layer_dirs(&r)[1].join("app/run")).unwrap(),
        "amd64"
    );
    // Only the chosen manifest's layers were unpacked.
    assert_eq!(store.layers().list().unwrap().len(), 2);
    // Digest references find it by manifest or by index.
    assert_eq!(store.get(&format!("multi@{amd64_digest}")).unwrap(), r);
    assert_eq!(
        store
            .get(&format!("docker.io/library/multi@{list_digest}"))
            .unwrap(),
        r
    );
    assert!(matches!(
        store.get(&format!("other@{list_digest}")),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn docker_archive_with_several_tags() {
    let dir = tempfile::tempdir().unwrap();
    let archive_dir = dir.path().join("archive");
    fs::create_dir_all(archive_dir.join("0123/")).unwrap();
    let layers = [
        Layer::plain(base_layer().tar),
        Layer::new(app_layer("docker").tar, gzip),
    ];
    let config_bytes = oci::config_json(&layers, config());
    let config_name = format!("{}.json", Digest::of_bytes(&config_bytes).hex());
    fs::write(archive_dir.join(&config_name), &config_bytes).unwrap();
    fs::write(archive_dir.join("0123/layer.tar"), &layers[0].blob).unwrap();
    fs::create_dir_all(archive_dir.join("4567")).unwrap();
    fs::write(archive_dir.join("4567/layer.tar"), &layers[1].blob).unwrap();
    let manifest = json!([{
        "Config": config_name,
        "RepoTags": ["busybox:1", "localhost:5000/tools/busybox:2"],
        "Layers": ["0123/layer.tar", "4567/layer.tar"]
    }]);
    fs::write(
        archive_dir.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    let tarball = dir.path().join("busybox.tar");
    oci::tar_dir(&archive_dir, &tarball);

    let store = store_in(dir.path());
    let records = store.import(&tarball, None).unwrap();
    let refs: Vec<&str> = records.iter().map(|r| r.reference.as_str()).collect();
    assert_eq!(
        refs,
        [
            "docker.io/library/busybox:1",
            "localhost:5000/tools/busybox:2"
        ]
    );
    assert_eq!(records[0].manifest_digest, records[1].manifest_digest);
    assert_eq!(records[0].config_digest, Digest::of_bytes(&config_bytes));
    let dirs = store.layer_dirs(&records[1]);
    assert_eq!(
        fs::read_to_string(dirs[1].join("app/run")).unwrap(),
        "docker"
    );

    // A config whose name is a digest must hash to it.
    fs::write(archive_dir.join(&config_name), b"{\"tampered\":true}").unwrap();
    let err = ImageStore::open(&dir.path().join("s2"))
        .unwrap()
        .import(&archive_dir, None)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}

#[test]
fn tampered_blob_records_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let layers = [base_layer(), app_layer("v1")];
    oci::layout(&layout, &layers, config(), "localhost/app:v1");
    // Flip a byte of the second layer's blob.
    let blob = layout
        .join("blobs/sha256")
        .join(Digest::of_bytes(&layers[1].blob).hex());
    let mut bytes = fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();

    let store = store_in(dir.path());
    let err = store.import(&layout, None).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(store.layers().list().unwrap().is_empty());
    assert_eq!(entries(&store.root().join("blobs/tmp")), 0);
    // What was verified before the failure goes at the next gc.
    store.gc().unwrap();
    assert!(store.blobs().list().unwrap().is_empty());
}

#[test]
fn wrong_diff_id_leaves_no_layer() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let good = base_layer();
    let mut lying = app_layer("v1");
    // The config promises other content than the blob holds.
    lying.tar = LayerTar::new().file("other", "x").finish();
    oci::layout(&layout, &[good, lying], config(), "localhost/app:v1");
    let store = store_in(dir.path());
    let err = store.import(&layout, None).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(
        store.layers().list().unwrap().len(),
        1,
        "only the good layer is unpacked"
    );
    assert_eq!(entries(&store.root().join("layers/tmp")), 0);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn layers_are_shared_and_collected_when_unused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_in(dir.path());
    for (name, content) in [("a", "one"), ("b", "two")] {
        let layout = dir.path().join(name);
        oci::layout(
            &layout,
            &[base_layer(), app_layer(content)],
            config(),
            &format!("localhost/{name}:1"),
        );
        store.import(&layout, None).unwrap();
    }
    assert_eq!(
        store.layers().list().unwrap().len(),
        3,
        "the base layer is shared"
    );
    assert_eq!(store.gc().unwrap(), Default::default());

    store.remove("localhost/a:1").unwrap();
    assert!(matches!(
        store.get("localhost/a:1"),
        Err(Error::NotFound(_))
    ));
    let report = store.gc().unwrap();
    assert_eq!(report.layers, [app_layer("one").diff_id()]);
    assert_eq!(report.blobs.len(), 3, "a's manifest, config and own layer");
    let b = store.get("localhost/b:1").unwrap();
    assert!(store.layer_dirs(&b).iter().all(|d| d.is_dir()));

    store.remove("localhost/b:1").unwrap();
    store.gc().unwrap();
    assert!(store.layers().list().unwrap().is_empty());
    assert!(store.blobs().list().unwrap().is_empty());
    assert!(matches!(
        store.remove("localhost/b:1"),
        Err(Error::NotFound(_))
    ));
}

#[test]
fn layers_without_padding_or_end_blocks_are_accepted() {
    // What Debian's umoci 0.4.7 writes: the last member's data is not padded to a block and
    // the two zero blocks that end an archive are missing.
    let full = LayerTar::new().file("quirk", "abc").finish();
    let cut = full[..512 + 3].to_vec();
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    oci::layout(
        &layout,
        &[Layer::new(cut, gzip)],
        config(),
        "localhost/quirk:1",
    );
    let store = store_in(dir.path());
    let r = store.import(&layout, None).unwrap().remove(0);
    assert_eq!(
        fs::read_to_string(store.layer_dirs(&r)[0].join("quirk")).unwrap(),
        "abc"
    );
}

#[test]
fn unknown_archives_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let store = store_in(dir.path());
    assert!(matches!(
        store.import(&empty, None),
        Err(Error::InvalidImage(_))
    ));
    assert!(store.import(&dir.path().join("missing.tar"), None).is_err());
    assert!(store.list().unwrap().is_empty());
}
