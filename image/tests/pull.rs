//! Pulls through the real client from a local registry (Debian's docker-registry on
//! 127.0.0.1): every manifest kind and layer compression, mirrors, token auth, and failures
//! that must leave nothing behind. Each pulled image is compared with the import of the
//! same OCI layout.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use serde_json::{Value, json};
use skiff_image::testing::Registry;
use skiff_image::{
    Credentials, Digest, Error, ImageRecord, ImageStore, PullOptions, PullProgress, Puller,
};
use support::oci::{self, Layer};
use support::tar::{LayerTar, gzip, zstd};
use support::tree;

const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

fn build_busybox(out: &Path) -> Digest {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-busybox-oci.sh");
    let output = Command::new("bash").arg(script).arg(out).output().unwrap();
    assert!(
        output.status.success(),
        "make-busybox-oci.sh failed (is busybox-static installed? scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Digest::parse(String::from_utf8(output.stdout).unwrap().trim()).unwrap()
}

/// Pulls and returns the record with every progress event seen.
async fn pull_with(
    puller: &Puller,
    store: &ImageStore,
    reference: &str,
) -> (Result<ImageRecord, Error>, Vec<PullProgress>) {
    let events = Mutex::new(Vec::new());
    let record = puller
        .pull(store, reference, &|e| events.lock().unwrap().push(e))
        .await;
    (record, events.into_inner().unwrap())
}

async fn pull(registry: &Registry, store: &ImageStore, reference: &str) -> ImageRecord {
    let puller = Puller::new(registry.pull_options()).unwrap();
    let (record, _) = pull_with(&puller, store, reference).await;
    record.unwrap_or_else(|e| panic!("pull {reference}: {e}\nregistry log:\n{}", registry.log()))
}

/// The pulled image equals the import of the same layout: same digests, config and layer
/// directories node for node.
fn assert_same_as_import(layout: &Path, pulled_store: &ImageStore, pulled: &ImageRecord) {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let imported = store.import(layout, Some("localhost/imported:v1")).unwrap();
    let imported = &imported[0];
    assert_eq!(pulled.manifest_digest, imported.manifest_digest);
    assert_eq!(pulled.index_digest, imported.index_digest);
    assert_eq!(pulled.config_digest, imported.config_digest);
    assert_eq!(pulled.layers, imported.layers);
    assert_eq!(pulled.config, imported.config);
    for (p, i) in pulled_store
        .layer_dirs(pulled)
        .iter()
        .zip(store.layer_dirs(imported))
    {
        let diff = tree::diff(&tree::snapshot(&i), &tree::snapshot(p));
        assert!(
            diff.is_empty(),
            "layer {} differs:\n{}",
            p.display(),
            diff.join("\n")
        );
    }
    for l in &pulled.layers {
        assert!(pulled_store.blobs().contains(&l.digest));
    }
    assert_eq!(pulled_store.get(&pulled.reference).unwrap(), *pulled);
}

/// No blob, layer, record or temporary file: a failed pull left nothing behind.
fn assert_empty(root: &Path) {
    for sub in [
        "blobs/sha256",
        "blobs/tmp",
        "layers/sha256",
        "layers/tmp",
        "images",
    ] {
        let left: Vec<PathBuf> = fs::read_dir(root.join(sub))
            .map(|d| d.map(|e| e.unwrap().path()).collect())
            .unwrap_or_default();
        assert!(left.is_empty(), "{sub} holds {left:?}");
    }
}

#[tokio::test]
async fn busybox_pulls_like_it_imports() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    let manifest = build_busybox(&layout);
    let registry = Registry::start().unwrap();
    let pushed = registry
        .push_oci_layout(&layout, "library/busybox", "latest")
        .await
        .unwrap();
    assert_eq!(pushed, manifest);

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let reference = format!("{}/library/busybox", registry.host());
    let puller = Puller::new(registry.pull_options()).unwrap();
    let (record, events) = pull_with(&puller, &store, &reference).await;
    let record = record.unwrap();
    assert_eq!(record.reference, format!("{reference}:latest"));
    assert_eq!(record.manifest_digest, manifest);
    assert_eq!(record.index_digest, None);
    assert_same_as_import(&layout, &store, &record);
    let busybox = store.layer_dirs(&record)[0].join("bin/busybox");
    assert!(busybox.is_file(), "{} missing", busybox.display());

    // Progress: resolved first, every layer started, counted to its size and done, then Done.
    let PullProgress::Resolved {
        layers,
        manifest_digest,
        ..
    } = &events[0]
    else {
        panic!("first event {:?}", events[0]);
    };
    assert_eq!(*manifest_digest, manifest);
    assert_eq!(layers.len(), 2);
    for (digest, size) in layers {
        assert!(events.contains(&PullProgress::LayerStarted {
            digest: digest.clone(),
            size: *size
        }));
        assert!(events.contains(&PullProgress::LayerBytes {
            digest: digest.clone(),
            done: *size,
            total: *size
        }));
        assert!(events.contains(&PullProgress::LayerDone {
            digest: digest.clone()
        }));
    }
    assert_eq!(events.last(), Some(&PullProgress::Done));

    // Pulling again downloads nothing new and records the same image.
    let again = pull(&registry, &store, &reference).await;
    assert_eq!(again, record);
}

/// Four layers: gzip, multi-member gzip, zstd and plain tar.
fn mixed_layers(tag: &str) -> Vec<Layer> {
    let mut base = LayerTar::new();
    base.dir("etc", 0o755)
        .file("etc/os-release", "skiff test\n");
    let mut multi = LayerTar::new();
    multi
        .dir("multi", 0o755)
        .file("multi/a", &"a".repeat(5000))
        .file("multi/b", "b");
    let multi_tar = multi.finish();
    // Two gzip members, split mid-stream: only the whole stream is the tar.
    let (first, second) = multi_tar.split_at(multi_tar.len() / 2);
    let mut multi_blob = gzip(first);
    multi_blob.extend(gzip(second));
    let mut z = LayerTar::new();
    z.dir("zstd", 0o755).file("zstd/file", tag);
    let mut plain = LayerTar::new();
    plain
        .dir("plain", 0o755)
        .file("plain/file", "plain")
        .file("etc/.wh.os-release", "");
    vec![
        Layer::new(base.finish(), gzip),
        Layer {
            blob: multi_blob,
            tar: multi_tar,
        },
        Layer::new(z.finish(), zstd),
        Layer::plain(plain.finish()),
    ]
}

fn config() -> Value {
    json!({"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"], "StopSignal": "SIGQUIT"})
}

/// An index (OCI or Docker list) over an arm64 image, the amd64 one and (OCI only) an
/// attestation manifest with platform unknown/unknown whose "layer" is not a tar at all.
fn write_index(dir: &Path, kind: &str, docker: bool) -> (Value, Value) {
    let arm = oci::write_manifest(
        dir,
        &[Layer::new(
            LayerTar::new().file("arm", "arm").finish(),
            gzip,
        )],
        json!({}),
        docker,
    );
    let amd = oci::write_manifest(dir, &mixed_layers(kind), config(), docker);
    let platform = |os: &str, arch: &str| json!({"os": os, "architecture": arch});
    let mut entries = vec![
        with(arm, "platform", platform("linux", "arm64")),
        with(amd.clone(), "platform", platform("linux", "amd64")),
    ];
    if !docker {
        let statement = br#"{"_type":"https://in-toto.io/Statement/v0.1"}"#;
        let layer = with(
            oci::write_blob(dir, statement),
            "mediaType",
            json!("application/vnd.in-toto+json"),
        );
        let att_config = serde_json::to_vec(&json!({
            "architecture": "unknown", "os": "unknown",
            "rootfs": {"type": "layers", "diff_ids": [Digest::of_bytes(statement).to_string()]}
        }))
        .unwrap();
        let cfg = with(
            oci::write_blob(dir, &att_config),
            "mediaType",
            json!("application/vnd.oci.image.config.v1+json"),
        );
        let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": [layer]});
        let att = with(
            oci::write_blob(dir, &serde_json::to_vec(&manifest).unwrap()),
            "mediaType",
            json!("application/vnd.oci.image.manifest.v1+json"),
        );
        entries.push(with(att, "platform", platform("unknown", "unknown")));
    }
    let media_type = if docker { DOCKER_LIST } else { OCI_INDEX };
    let index = json!({"schemaVersion": 2, "mediaType": media_type, "manifests": entries});
    let desc = with(
        oci::write_blob(dir, &serde_json::to_vec(&index).unwrap()),
        "mediaType",
        json!(media_type),
    );
    (desc, amd)
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn digest_of(desc: &Value) -> Digest {
    Digest::parse(desc["digest"].as_str().unwrap()).unwrap()
}

/// Writes the layout of one kind, pushes it, pulls it, compares with its import.
async fn round_trip(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let (top, amd64) = match kind {
        "oci-manifest" | "docker-manifest" => {
            let m = oci::write_manifest(
                &layout,
                &mixed_layers(kind),
                config(),
                kind == "docker-manifest",
            );
            (m.clone(), m)
        }
        "oci-index" => write_index(&layout, kind, false),
        "docker-list" => write_index(&layout, kind, true),
        other => panic!("unknown kind {other}"),
    };
    oci::write_layout(&layout, vec![oci::named(top.clone(), "v1")]);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "skiff/mixed", "v1")
        .await
        .unwrap();

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let record = pull(
        &registry,
        &store,
        &format!("{}/skiff/mixed:v1", registry.host()),
    )
    .await;
    assert_eq!(
        record.manifest_digest,
        digest_of(&amd64),
        "{kind}: the amd64 manifest"
    );
    let index = (top != amd64).then(|| digest_of(&top));
    assert_eq!(record.index_digest, index, "{kind}");
    assert_eq!(record.layers.len(), 4, "{kind}");
    assert_eq!(record.config.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_same_as_import(&layout, &store, &record);
    let dirs = store.layer_dirs(&record);
    assert_eq!(
        fs::read_to_string(dirs[1].join("multi/a")).unwrap(),
        "a".repeat(5000)
    );
    assert_eq!(fs::read_to_string(dirs[2].join("zstd/file")).unwrap(), kind);
    assert_eq!(
        fs::read_to_string(dirs[3].join("plain/file")).unwrap(),
        "plain"
    );

    // By digest too: the record is found under the digest reference.
    let by_digest = format!("{}/skiff/mixed@{}", registry.host(), digest_of(&top));
    let again = pull(&registry, &store, &by_digest).await;
    assert_eq!(again.manifest_digest, record.manifest_digest);
    assert_eq!(store.get(&by_digest).unwrap().reference, again.reference);
}

#[tokio::test]
async fn oci_manifest_with_gzip_multi_member_zstd_and_plain_layers() {
    round_trip("oci-manifest").await;
}

#[tokio::test]
async fn oci_index_picks_amd64_and_skips_the_attestation() {
    round_trip("oci-index").await;
}

#[tokio::test]
async fn docker_schema2_manifest() {
    round_trip("docker-manifest").await;
}

#[tokio::test]
async fn docker_manifest_list() {
    round_trip("docker-list").await;
}

/// busybox content pushed as library/nginx:latest: `nginx:latest` resolves to docker.io,
/// whose mirror is the local registry; a dead mirror before it is skipped. Nothing else on
/// the network is used (the mirror answers, so the docker.io endpoint is never tried).
#[tokio::test]
async fn mirror_serves_docker_hub_names() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    let manifest = build_busybox(&layout);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "library/nginx", "latest")
        .await
        .unwrap();

    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let options = PullOptions {
        mirrors: [(
            "docker.io".to_string(),
            vec![format!("http://{dead}"), registry.url()],
        )]
        .into(),
        ..PullOptions::default()
    };
    let puller = Puller::new(options).unwrap();
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let (record, events) = pull_with(&puller, &store, "nginx:latest").await;
    let record = record.unwrap();
    assert_eq!(record.reference, "docker.io/library/nginx:latest");
    assert_eq!(record.manifest_digest, manifest);
    let PullProgress::Resolved { endpoint, .. } = &events[0] else {
        panic!("{:?}", events[0]);
    };
    assert!(endpoint.contains(&registry.url()), "{endpoint}");
    assert_same_as_import(&layout, &store, &record);
    assert_eq!(store.get("nginx").unwrap(), record);
}

#[tokio::test]
async fn token_auth_anonymous_pull_and_wrong_password() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    build_busybox(&layout);
    let registry = Registry::start_with_token_auth().unwrap();
    registry
        .push_oci_layout(&layout, "library/busybox", "v1")
        .await
        .unwrap();
    let reference = format!("{}/library/busybox:v1", registry.host());

    // Anonymous: one token for the pull scope, then reused from the cache.
    let puller = Puller::new(registry.pull_options()).unwrap();
    let before = registry.token_requests();
    let store = ImageStore::open(&dir.path().join("anonymous")).unwrap();
    let (record, _) = pull_with(&puller, &store, &reference).await;
    let record = record.unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
    assert_eq!(registry.token_requests(), before + 1);
    assert_same_as_import(&layout, &store, &record);
    let other = ImageStore::open(&dir.path().join("again")).unwrap();
    pull_with(&puller, &other, &reference).await.0.unwrap();
    assert_eq!(
        registry.token_requests(),
        before + 1,
        "the cached token is reused"
    );

    // The right password works too; a wrong one is a clear 401 naming registry and repository.
    let mut good = registry.pull_options();
    good.credentials
        .insert(registry.host(), registry.credentials().unwrap());
    let good_store = ImageStore::open(&dir.path().join("good")).unwrap();
    pull_with(&Puller::new(good).unwrap(), &good_store, &reference)
        .await
        .0
        .unwrap();

    let mut wrong = registry.pull_options();
    wrong
        .credentials
        .insert(registry.host(), Credentials::new("skiff", "wrong"));
    let wrong_root = dir.path().join("wrong");
    let wrong_store = ImageStore::open(&wrong_root).unwrap();
    let err = pull_with(&Puller::new(wrong).unwrap(), &wrong_store, &reference)
        .await
        .0
        .unwrap_err()
        .to_string();
    for needle in ["401", &registry.host(), "library/busybox", "wrong password"] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert_empty(&wrong_root);

    // The same registry as a docker.io mirror: tokens are asked for and kept per mirror host.
    let mirrored = PullOptions {
        mirrors: [("docker.io".to_string(), vec![registry.url()])].into(),
        ..PullOptions::default()
    };
    let mirror_store = ImageStore::open(&dir.path().join("mirrored")).unwrap();
    let record = pull_with(&Puller::new(mirrored).unwrap(), &mirror_store, "busybox:v1")
        .await
        .0
        .unwrap_or_else(|e| panic!("{e}\n{}", registry.log()));
    assert_eq!(record.reference, "docker.io/library/busybox:v1");
}

/// Two pulls of one image into one store at the same time (two pods starting together):
/// both succeed and the store holds one copy.
#[tokio::test]
async fn concurrent_pulls_of_one_image() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    build_busybox(&layout);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "library/busybox", "v1")
        .await
        .unwrap();
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let puller = Puller::new(registry.pull_options()).unwrap();
    let reference = format!("{}/library/busybox:v1", registry.host());
    let (a, b) = tokio::join!(
        pull_with(&puller, &store, &reference),
        pull_with(&puller, &store, &reference)
    );
    let (a, b) = (a.0.unwrap(), b.0.unwrap());
    assert_eq!(a, b);
    assert_eq!(store.list().unwrap(), std::slice::from_ref(&a));
    assert_eq!(store.layers().list().unwrap().len(), 2);
    assert_eq!(store.blobs().list().unwrap().len(), 4);
    assert_same_as_import(&layout, &store, &a);
}

#[tokio::test]
async fn unknown_tag_is_a_404_that_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::start().unwrap();
    let root = dir.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let puller = Puller::new(registry.pull_options()).unwrap();
    let reference = format!("{}/library/missing:v9", registry.host());
    let err = pull_with(&puller, &store, &reference)
        .await
        .0
        .unwrap_err()
        .to_string();
    for needle in ["404", "manifest v9", "library/missing", &registry.host()] {
        assert!(err.contains(needle), "{needle:?} not in {err}");
    }
    assert_empty(&root);
}

#[tokio::test]
async fn plain_http_needs_the_registry_to_be_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    build_busybox(&layout);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "library/busybox", "v1")
        .await
        .unwrap();
    let root = dir.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let puller = Puller::new(PullOptions::default()).unwrap();
    let err = pull_with(
        &puller,
        &store,
        &format!("{}/library/busybox:v1", registry.host()),
    )
    .await
    .0
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(&format!("https://{}", registry.host())),
        "{err}"
    );
    assert_empty(&root);
}

/// The registry serves a layer whose bytes were changed in its storage: the pull fails on
/// the digest, and the layer and blobs already stored by it are removed again.
#[tokio::test]
async fn corrupted_blob_fails_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("busybox");
    build_busybox(&layout);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&layout, "library/busybox", "v1")
        .await
        .unwrap();
    let imported = ImageStore::open(&dir.path().join("imported"))
        .unwrap()
        .import(&layout, None)
        .unwrap()
        .remove(0);
    let last = &imported.layers.last().unwrap().digest;
    let data = registry.blob_data_path(last);
    let mut bytes = fs::read(&data).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&data, &bytes).unwrap();

    let root = dir.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    // One layer at a time: the first is stored and unpacked before the second fails.
    let puller = Puller::new(PullOptions {
        concurrency: 1,
        ..registry.pull_options()
    })
    .unwrap();
    let (result, events) = pull_with(
        &puller,
        &store,
        &format!("{}/library/busybox:v1", registry.host()),
    )
    .await;
    let err = result.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let text = err.to_string();
    for needle in [last.to_string(), "library/busybox".into(), registry.host()] {
        assert!(text.contains(&needle), "{needle:?} not in {text}");
    }
    let first = &imported.layers[0].digest;
    assert!(events.contains(&PullProgress::LayerDone {
        digest: first.clone()
    }));
    assert_empty(&root);
}

/// A config whose diff_id does not match its layer: refused after unpacking, and what the
/// failed pull added is removed, while the layer and blobs it shares with an image already in
/// the store stay.
#[tokio::test]
async fn wrong_diff_id_fails_and_keeps_only_what_was_there() {
    let dir = tempfile::tempdir().unwrap();
    let good_layout = dir.path().join("good");
    let good = oci::write_manifest(&good_layout, &mixed_layers("good"), config(), false);
    oci::write_layout(&good_layout, vec![oci::named(good, "v1")]);

    let layout = dir.path().join("bad");
    // Layer 0 is the good image's first layer; the second (new: its content names the tag)
    // has a diff_id that names some other tar.
    let layers = mixed_layers("bad");
    let diff_ids = [layers[0].diff_id(), Digest::of_bytes(b"some other tar")];
    let config_blob = serde_json::to_vec(&json!({
        "architecture": "amd64", "os": "linux", "config": config(),
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap();
    let cfg = with(
        oci::write_blob(&layout, &config_blob),
        "mediaType",
        json!("application/vnd.oci.image.config.v1+json"),
    );
    let descs: Vec<Value> = [&layers[0], &layers[2]]
        .into_iter()
        .map(|l| {
            with(
                oci::write_blob(&layout, &l.blob),
                "mediaType",
                json!("application/vnd.oci.image.layer.v1.tar+gzip"),
            )
        })
        .collect();
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": cfg, "layers": descs});
    let m = with(
        oci::write_blob(&layout, &serde_json::to_vec(&manifest).unwrap()),
        "mediaType",
        json!("application/vnd.oci.image.manifest.v1+json"),
    );
    oci::write_layout(&layout, vec![oci::named(m, "v1")]);
    let registry = Registry::start().unwrap();
    registry
        .push_oci_layout(&good_layout, "skiff/good", "v1")
        .await
        .unwrap();
    registry
        .push_oci_layout(&layout, "skiff/bad", "v1")
        .await
        .unwrap();

    let root = dir.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let good = pull(
        &registry,
        &store,
        &format!("{}/skiff/good:v1", registry.host()),
    )
    .await;
    let blobs_before = store.blobs().list().unwrap();
    let layers_before = store.layers().list().unwrap();

    let puller = Puller::new(registry.pull_options()).unwrap();
    let err = pull_with(
        &puller,
        &store,
        &format!("{}/skiff/bad:v1", registry.host()),
    )
    .await
    .0
    .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("diff_id"), "{err}");
    assert_eq!(store.list().unwrap(), [good]);
    assert_eq!(store.blobs().list().unwrap(), blobs_before);
    assert_eq!(store.layers().list().unwrap(), layers_before);
    for tmp in ["blobs/tmp", "layers/tmp"] {
        assert_eq!(fs::read_dir(root.join(tmp)).unwrap().count(), 0, "{tmp}");
    }

    // In an empty store the same failure leaves nothing at all.
    let empty_root = dir.path().join("empty");
    let empty = ImageStore::open(&empty_root).unwrap();
    let url = format!("{}/skiff/bad:v1", registry.host());
    assert!(pull_with(&puller, &empty, &url).await.0.is_err());
    assert_empty(&empty_root);
}

#[tokio::test]
async fn bad_mirror_urls_are_refused_up_front() {
    let options = PullOptions {
        mirrors: [("docker.io".to_string(), vec!["127.0.0.1:5000".to_string()])].into(),
        ..PullOptions::default()
    };
    let err = Puller::new(options).err().unwrap().to_string();
    assert!(
        err.contains("127.0.0.1:5000") && err.contains("http://"),
        "{err}"
    );
}
