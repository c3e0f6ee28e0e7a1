//! A throwaway registry: `docker-registry serve CONFIG` on a free 127.0.0.1 port, storage in
//! a temporary directory, killed (by its PID) when dropped.

use std::fs;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::token_server::TokenServer;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::pull::{Credentials, PullOptions, Puller};

/// Debian's package `docker-registry` installs it here.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

const SERVICE: &str = "skiff-test-registry";
const ISSUER: &str = "skiff-test-token-issuer";
/// The user the token server knows (anonymous users may only pull).
const USER: &str = "skiff";
const PASSWORD: &str = "skiff-test-password";

pub struct Registry {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
    token_server: Option<TokenServer>,
    pusher: Puller,
}

impl Registry {
    /// A registry anyone may pull from and push to, over plain http.
    pub fn start() -> Result<Registry> {
        Registry::launch(false)
    }

    /// A registry that wants bearer tokens from an in-process token server: anonymous users
    /// get pull tokens, `credentials()` get pull and push, a wrong password gets 401.
    pub fn start_with_token_auth() -> Result<Registry> {
        Registry::launch(true)
    }

    fn launch(token_auth: bool) -> Result<Registry> {
        if !Path::new(REGISTRY_BIN).is_file() {
            return Err(Error::InvalidImage(format!(
                "{REGISTRY_BIN} is missing: install Debian's docker-registry (scripts/install-deps.sh)"
            )));
        }
        let dir = tempfile::tempdir().map_err(|e| Error::io("create a registry directory", e))?;
        let token_server = if token_auth {
            Some(TokenServer::start(
                dir.path(),
                ISSUER,
                Credentials::new(USER, PASSWORD),
            )?)
        } else {
            None
        };
        // A free port can be taken by someone else before the registry binds it: retry.
        let log = dir.path().join("registry.log");
        let mut last_error = None;
        for _ in 0..5 {
            let addr = free_port()?;
            let config = dir.path().join("config.yml");
            fs::write(
                &config,
                config_yaml(dir.path(), addr, token_server.as_ref()),
            )
            .map_err(|e| Error::io_at("write", &config, e))?;
            let log_file = fs::File::create(&log).map_err(|e| Error::io_at("create", &log, e))?;
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log_file.try_clone().map_err(|e| Error::io("dup log", e))?)
                .stderr(log_file)
                .spawn()
                .map_err(|e| Error::io(format!("start {REGISTRY_BIN}"), e))?;
            match wait_ready(&mut child, addr, &log) {
                Ok(()) => {
                    let mut registry = Registry {
                        child,
                        addr,
                        dir,
                        token_server,
                        pusher: Puller::new(PullOptions::default())?,
                    };
                    registry.pusher = Puller::new(registry.push_options())?;
                    return Ok(registry);
                }
                Err(e) => {
                    // Its own PID only.
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    /// What the registry printed (its log, for failing tests).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`: the registry part of references (`127.0.0.1:PORT/app:v1`).
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`, e.g. as a mirror URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The registry's storage root (`docker/registry/v2/...` below it).
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// Where the registry keeps a blob's bytes (tests corrupt it to serve wrong content).
    pub fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&digest.hex()[..2])
            .join(digest.hex())
            .join("data")
    }

    /// The user who may push to a token-auth registry (`None` for an open one).
    pub fn credentials(&self) -> Option<Credentials> {
        self.token_server
            .as_ref()
            .map(|_| Credentials::new(USER, PASSWORD))
    }

    /// Tokens the token server handed out or refused so far.
    pub fn token_requests(&self) -> usize {
        self.token_server.as_ref().map_or(0, TokenServer::requests)
    }

    /// Options that reach this registry over plain http, anonymously.
    pub fn pull_options(&self) -> PullOptions {
        PullOptions {
            insecure: [self.host()].into(),
            ..PullOptions::default()
        }
    }

    fn push_options(&self) -> PullOptions {
        let mut options = self.pull_options();
        if let Some(c) = self.credentials() {
            options.credentials.insert(self.host(), c);
        }
        options
    }

    pub(crate) fn pusher(&self) -> &Puller {
        &self.pusher
    }

    fn kill(&mut self) {
        // Child::kill signals this child's own PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

fn wait_ready(child: &mut Child, addr: SocketAddr, log: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let log_text = || fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::InvalidImage(format!(
                "docker-registry exited ({status}) at start:\n{}",
                log_text()
            )));
        }
        if let Some(code) = probe(addr)
            && (code == 200 || code == 401)
        {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::InvalidImage(format!(
                "docker-registry did not answer /v2/ on {addr} within 10 s:\n{}",
                log_text()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn free_port() -> Result<SocketAddr> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| Error::io("find a free port", e))?;
    listener
        .local_addr()
        .map_err(|e| Error::io("find a free port", e))
}

/// The status code of `GET /v2/`, or `None` while nothing answers.
fn probe(addr: SocketAddr) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    write!(stream, "GET /v2/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn config_yaml(dir: &Path, addr: SocketAddr, token: Option<&TokenServer>) -> String {
    let mut yaml = format!(
        "version: 0.1\n\
         log:\n  level: info\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
         http:\n  addr: {addr}\n",
        storage = dir.join("storage").display(),
    );
    if let Some(t) = token {
        yaml.push_str(&format!(
            "auth:\n  token:\n    realm: {realm}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    rootcertbundle: {cert}\n",
            realm = t.realm(),
            cert = t.cert_path().display(),
        ));
    }
    yaml
}
