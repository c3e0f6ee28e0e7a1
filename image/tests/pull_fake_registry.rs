//! What the local registry never does, from a small fake one: basic auth, blobs redirected
//! (307) to another host that must not see the `Authorization` header, a manifest whose
//! `Docker-Content-Digest` lies, and downloads broken off halfway (resumed with `Range`).

mod support;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use skiff_image::{Credentials, Digest, ImageStore, PullOptions, Puller};
use support::oci::{self, Layer};
use support::tar::{LayerTar, gzip};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

struct Fake {
    layout: PathBuf,
    manifest: Digest,
    /// Where blob requests are redirected (another port: another origin).
    cdn: String,
    expected_auth: String,
    cdn_hits: AtomicUsize,
    cdn_saw_authorization: AtomicUsize,
    unauthorized: AtomicUsize,
    /// Break each blob's first download off halfway.
    flaky: bool,
    broken: Mutex<HashSet<String>>,
    ranges: AtomicUsize,
}

impl Fake {
    fn blob(&self, digest: &str) -> Option<Vec<u8>> {
        let d = Digest::parse(digest).ok()?;
        std::fs::read(self.layout.join("blobs/sha256").join(d.hex())).ok()
    }
}

async fn registry(
    State(fake): State<Arc<Fake>>,
    UrlPath((repo, kind, reference)): UrlPath<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(fake.expected_auth.as_str()) {
        fake.unauthorized.fetch_add(1, Ordering::SeqCst);
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"fake\"")],
        )
            .into_response();
    }
    assert_eq!(repo, "app");
    match kind.as_str() {
        "manifests" => {
            let body = fake.blob(&fake.manifest.to_string()).unwrap();
            // The "lying" tag announces the digest of other bytes.
            let announced = if reference == "lying" {
                Digest::of_bytes(b"other bytes")
            } else {
                fake.manifest.clone()
            };
            (
                [
                    (header::CONTENT_TYPE, MANIFEST_TYPE.to_string()),
                    (
                        header::HeaderName::from_static("docker-content-digest"),
                        announced.to_string(),
                    ),
                ],
                body,
            )
                .into_response()
        }
        "blobs" => (
            StatusCode::TEMPORARY_REDIRECT,
            [(
                header::LOCATION,
                format!("{}/cdn/{reference}?sig=x", fake.cdn),
            )],
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cdn(
    State(fake): State<Arc<Fake>>,
    UrlPath(digest): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    fake.cdn_hits.fetch_add(1, Ordering::SeqCst);
    if headers.contains_key(header::AUTHORIZATION) {
        fake.cdn_saw_authorization.fetch_add(1, Ordering::SeqCst);
    }
    let Some(bytes) = fake.blob(&digest) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if fake.flaky && fake.broken.lock().unwrap().insert(digest) {
        // Half the bytes (headers and all reach the client), then the connection breaks.
        use futures::StreamExt;
        let half = axum::body::Bytes::from(bytes[..bytes.len() / 2].to_vec());
        let body = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(
            futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                Err(std::io::Error::other("cut"))
            }),
        );
        return axum::body::Body::from_stream(body).into_response();
    }
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| {
            r.strip_prefix("bytes=")?
                .strip_suffix('-')?
                .parse::<usize>()
                .ok()
        });
    match range {
        Some(start) => {
            fake.ranges.fetch_add(1, Ordering::SeqCst);
            let content_range = format!("bytes {start}-{}/{}", bytes.len() - 1, bytes.len());
            (
                StatusCode::PARTIAL_CONTENT,
                [(header::CONTENT_RANGE, content_range)],
                bytes[start..].to_vec(),
            )
                .into_response()
        }
        None => bytes.into_response(),
    }
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr.to_string()
}

/// Starts the fake registry and its "CDN"; returns the fake and the registry's host.
async fn start(
    layout: &Path,
    manifest: Digest,
    creds: &Credentials,
    flaky: bool,
) -> (Arc<Fake>, String) {
    let cdn_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let cdn_addr = cdn_listener.local_addr().unwrap();
    let fake = Arc::new(Fake {
        layout: layout.to_path_buf(),
        manifest,
        cdn: format!("http://{cdn_addr}"),
        expected_auth: format!(
            "Basic {}",
            base64_of(&format!("{}:{}", creds.username, creds.password))
        ),
        cdn_hits: AtomicUsize::new(0),
        cdn_saw_authorization: AtomicUsize::new(0),
        unauthorized: AtomicUsize::new(0),
        flaky,
        broken: Mutex::new(HashSet::new()),
        ranges: AtomicUsize::new(0),
    });
    let cdn_router = axum::Router::new()
        .route("/cdn/{digest}", axum::routing::get(cdn))
        .with_state(fake.clone());
    tokio::spawn(async move { axum::serve(cdn_listener, cdn_router).await.unwrap() });
    let host = serve(
        axum::Router::new()
            .route(
                "/v2/{repo}/{kind}/{reference}",
                axum::routing::get(registry),
            )
            .with_state(fake.clone()),
    )
    .await;
    (fake, host)
}

fn base64_of(s: &str) -> String {
    // The test's own encoder, independent of the client's.
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in s.as_bytes().chunks(3) {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= c.len() {
                A[((n >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

fn layout(dir: &Path) -> Digest {
    let layer = Layer::new(LayerTar::new().file("hello", "from the cdn").finish(), gzip);
    let m = oci::write_manifest(dir, &[layer], json!({"Cmd": ["/hello"]}), false);
    oci::write_layout(dir, vec![oci::named(m.clone(), "v1")]);
    Digest::parse(m["digest"].as_str().unwrap()).unwrap()
}

fn options(host: &str, creds: Credentials) -> PullOptions {
    PullOptions {
        insecure: [host.to_string()].into(),
        credentials: [(host.to_string(), creds)].into(),
        ..PullOptions::default()
    }
}

#[tokio::test]
async fn basic_auth_and_redirects_that_keep_the_password_home() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = layout(&dir.path().join("layout"));
    let creds = Credentials::new("user", "secret");
    let (fake, host) = start(&dir.path().join("layout"), manifest.clone(), &creds, false).await;

    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let puller = Puller::new(options(&host, creds)).unwrap();
    let record = puller
        .pull(&store, &format!("{host}/app:v1"), &|_| {})
        .await
        .unwrap();
    assert_eq!(record.manifest_digest, manifest);
    let layer = &store.layer_dirs(&record)[0];
    assert_eq!(
        std::fs::read_to_string(layer.join("hello")).unwrap(),
        "from the cdn"
    );
    // Config and layer came from the CDN, which never saw the password.
    assert_eq!(fake.cdn_hits.load(Ordering::SeqCst), 2);
    assert_eq!(fake.cdn_saw_authorization.load(Ordering::SeqCst), 0);
    // One challenge, then the header is reused.
    assert_eq!(fake.unauthorized.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_lying_docker_content_digest_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = layout(&dir.path().join("layout"));
    let creds = Credentials::new("user", "secret");
    let (_fake, host) = start(&dir.path().join("layout"), manifest, &creds, false).await;
    let root = dir.path().join("store");
    let store = ImageStore::open(&root).unwrap();
    let puller = Puller::new(options(&host, creds)).unwrap();
    let err = puller
        .pull(&store, &format!("{host}/app:lying"), &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Docker-Content-Digest") && err.contains(&host),
        "{err}"
    );
    assert!(store.list().unwrap().is_empty());
    assert!(store.blobs().list().unwrap().is_empty());
}

#[tokio::test]
async fn a_wrong_basic_password_is_a_401() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = layout(&dir.path().join("layout"));
    let (_fake, host) = start(
        &dir.path().join("layout"),
        manifest,
        &Credentials::new("user", "secret"),
        false,
    )
    .await;
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let puller = Puller::new(options(&host, Credentials::new("user", "wrong"))).unwrap();
    let err = puller
        .pull(&store, &format!("{host}/app:v1"), &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401") && err.contains("app"), "{err}");
}

#[tokio::test]
async fn broken_downloads_resume_where_they_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = layout(&dir.path().join("layout"));
    let creds = Credentials::new("user", "secret");
    let (fake, host) = start(&dir.path().join("layout"), manifest.clone(), &creds, true).await;
    let store = ImageStore::open(&dir.path().join("store")).unwrap();
    let puller = Puller::new(options(&host, creds)).unwrap();
    let record = puller
        .pull(&store, &format!("{host}/app:v1"), &|_| {})
        .await
        .unwrap();
    assert_eq!(record.manifest_digest, manifest);
    let layer = &store.layer_dirs(&record)[0];
    assert_eq!(
        std::fs::read_to_string(layer.join("hello")).unwrap(),
        "from the cdn"
    );
    // Config and layer: each broken once, each resumed with a Range request.
    assert_eq!(fake.broken.lock().unwrap().len(), 2);
    assert_eq!(fake.ranges.load(Ordering::SeqCst), 2);
}
