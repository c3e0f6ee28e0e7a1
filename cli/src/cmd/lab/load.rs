//! `skiff lab load FILE`: makes an image (an OCI layout directory or tar, or
//! a docker-archive) available to every lab node under its own name. A
//! registry in the lab (10.250.0.254:5000, started once) is every node's
//! docker.io mirror; the image is pushed there byte for byte, so
//! `image: nginx:latest` in a manifest works unchanged.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Args;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use skiff_image::{Digest, ImageRecord, ImageStore, Reference};

use super::layout::Layout;
use super::state::LabState;
use super::{LabFlags, netns, procs};
use crate::errors::{CliError, CliResult};

/// Debian's docker-registry.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
const DOCKER_HUB: &str = "docker.io";

#[derive(Args, Debug)]
pub struct LoadArgs {
    #[command(flatten)]
    pub lab: LabFlags,
    /// An OCI image layout (directory or tar) or a docker-archive tar.
    pub file: PathBuf,
    /// The name for images the archive leaves unnamed, e.g. nginx:latest.
    #[arg(long = "as", value_name = "NAME")]
    pub image_name: Option<String>,
}

pub async fn run(args: LoadArgs) -> CliResult {
    super::require_root()?;
    let layout = args.lab.layout()?;
    let mut state = LabState::load(&layout.state_path())?.ok_or_else(|| {
        CliError::msg(format!(
            "lab {0} is not up (skiff lab up --name {0})",
            layout.name
        ))
    })?;
    if !args.file.exists() {
        return Err(CliError::msg(format!(
            "{} does not exist",
            args.file.display()
        )));
    }
    ensure_registry(&layout, &mut state).await?;
    let store_root = layout.dir.join("load-store");
    let file = args.file.clone();
    let name = args.image_name.clone();
    let root = store_root.clone();
    let records = tokio::task::spawn_blocking(move || -> CliResult<Vec<ImageRecord>> {
        let store = ImageStore::open(&root)
            .map_err(|e| CliError::msg(format!("opening {}: {e}", root.display())))?;
        store
            .import(&file, name.as_deref())
            .map_err(|e| CliError::msg(format!("reading {}: {e}", file.display())))
    })
    .await
    .map_err(|e| CliError::msg(e.to_string()))??;
    let mut targets = Vec::new();
    for record in &records {
        let r = Reference::parse(&record.reference)
            .map_err(|e| CliError::msg(format!("{}: {e}", record.reference)))?;
        if r.registry() != DOCKER_HUB {
            eprintln!(
                "note: {} is not a docker.io image: pods reach it as {}/{}:{}",
                record.reference,
                Layout::registry_addr(),
                r.repository(),
                r.tag().unwrap_or("latest")
            );
        }
        targets.push((
            record.clone(),
            r.repository().to_string(),
            r.tag().unwrap_or("latest").to_string(),
        ));
    }
    let pushed = targets.clone();
    netns::run_in(&layout.bridge_netns(), move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| CliError::msg(format!("starting a runtime: {e}")))?;
        rt.block_on(push_all(&store_root, &targets))
    })?;
    for (record, repo, tag) in pushed {
        println!(
            "loaded {} as {}/{repo}:{tag}",
            record.reference,
            Layout::registry_addr()
        );
    }
    Ok(())
}

/// Starts the lab's registry unless it runs, and waits until it answers.
async fn ensure_registry(layout: &Layout, state: &mut LabState) -> CliResult {
    if let Some(p) = state.process("registry")
        && procs::alive(p)
    {
        return wait_registry(layout).await;
    }
    if !Path::new(REGISTRY_BIN).is_file() {
        return Err(CliError::msg(format!(
            "{REGISTRY_BIN} is missing: install Debian's docker-registry (scripts/install-deps.sh)"
        )));
    }
    let dir = layout.registry_dir();
    std::fs::create_dir_all(dir.join("data"))
        .map_err(|e| CliError::msg(format!("creating {}: {e}", dir.display())))?;
    let config = dir.join("config.yml");
    let yaml = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {}\n",
        dir.join("data").display(),
        Layout::registry_addr()
    );
    std::fs::write(&config, yaml)
        .map_err(|e| CliError::msg(format!("writing {}: {e}", config.display())))?;
    let p = procs::spawn(
        "registry",
        Path::new(REGISTRY_BIN),
        &["serve".into(), config.to_string_lossy().into_owned()],
        &layout.bridge_netns(),
        layout.logs_dir().join("registry.log"),
        None,
    )?;
    state.processes.push(p);
    state.save(&layout.state_path())?;
    wait_registry(layout).await
}

async fn wait_registry(layout: &Layout) -> CliResult {
    let ns = layout.bridge_netns();
    tokio::task::spawn_blocking(move || {
        netns::run_in(&ns, || {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let addr = Layout::registry_addr();
                if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(CliError::msg(format!(
                        "the lab registry does not answer on {addr}"
                    )));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    })
    .await
    .map_err(|e| CliError::msg(e.to_string()))?
}

/// Each image: its config and layer blobs, then its manifest under the tag.
async fn push_all(store_root: &Path, targets: &[(ImageRecord, String, String)]) -> CliResult {
    let store = ImageStore::open(store_root)
        .map_err(|e| CliError::msg(format!("opening {}: {e}", store_root.display())))?;
    // Plain HTTP only, but reqwest wants a provider installed (another part
    // of the process may have done it first: fine).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| CliError::msg(format!("an HTTP client: {e}")))?;
    let base = format!("http://{}", Layout::registry_addr());
    for (record, repo, tag) in targets {
        let blobs =
            std::iter::once(&record.config_digest).chain(record.layers.iter().map(|l| &l.digest));
        for digest in blobs {
            push_blob(&http, &base, repo, &store, digest).await?;
        }
        let manifest = read(&store, &record.manifest_digest)?;
        let media_type = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string))
            .unwrap_or_else(|| skiff_image::oci::OCI_MANIFEST.to_string());
        let url = format!("{base}/v2/{repo}/manifests/{tag}");
        let resp = http
            .put(&url)
            .header(CONTENT_TYPE, media_type)
            .body(manifest)
            .send()
            .await
            .map_err(|e| CliError::msg(format!("PUT {url}: {e}")))?;
        expect(
            resp,
            StatusCode::CREATED,
            &format!("putting manifest {repo}:{tag}"),
        )
        .await?;
    }
    Ok(())
}

fn read(store: &ImageStore, digest: &Digest) -> CliResult<Vec<u8>> {
    store
        .blobs()
        .read(digest)
        .map_err(|e| CliError::msg(format!("reading blob {digest}: {e}")))
}

async fn push_blob(
    http: &reqwest::Client,
    base: &str,
    repo: &str,
    store: &ImageStore,
    digest: &Digest,
) -> CliResult {
    let head = format!("{base}/v2/{repo}/blobs/{digest}");
    let resp = http
        .head(&head)
        .send()
        .await
        .map_err(|e| CliError::msg(format!("HEAD {head}: {e}")))?;
    if resp.status() == StatusCode::OK {
        return Ok(());
    }
    let start = format!("{base}/v2/{repo}/blobs/uploads/");
    let resp = http
        .post(&start)
        .send()
        .await
        .map_err(|e| CliError::msg(format!("POST {start}: {e}")))?;
    let location = resp
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let resp_url = resp.url().clone();
    expect(resp, StatusCode::ACCEPTED, "starting a blob upload").await?;
    let location = location.ok_or_else(|| CliError::msg("the registry gave no upload Location"))?;
    let mut url = resp_url
        .join(&location)
        .map_err(|e| CliError::msg(format!("bad upload Location {location:?}: {e}")))?;
    url.query_pairs_mut()
        .append_pair("digest", &digest.to_string());
    let resp = http
        .put(url.clone())
        .header(CONTENT_TYPE, "application/octet-stream")
        .body(read(store, digest)?)
        .send()
        .await
        .map_err(|e| CliError::msg(format!("PUT {url}: {e}")))?;
    expect(
        resp,
        StatusCode::CREATED,
        &format!("uploading blob {digest}"),
    )
    .await
}

async fn expect(resp: reqwest::Response, want: StatusCode, what: &str) -> CliResult {
    if resp.status() == want {
        return Ok(());
    }
    let status = resp.status();
    let body = resp.text().await.unwrap_or_default();
    Err(CliError::msg(format!(
        "{what}: the lab registry answered {status}: {}",
        body.trim()
    )))
}
