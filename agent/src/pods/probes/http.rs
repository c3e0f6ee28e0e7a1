//! The httpGet check, as the kubelet does it: no proxy, no connection
//! reuse, any server certificate accepted for HTTPS, redirects followed
//! only on the same host (a redirect elsewhere passes with a warning), and
//! a status in 200..400 passes.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::redirect;

use super::action::HttpTarget;
use super::timing::Outcome;
use crate::config::KUBELET_VERSION;

/// One client for every probe of the process.
fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // reqwest is built without a crypto provider; Err means one is installed.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let policy = redirect::Policy::custom(|attempt| {
                if attempt.previous().len() >= 10 {
                    attempt.error("stopped after 10 redirects")
                } else if attempt.url().host_str()
                    != attempt.previous().first().and_then(|u| u.host_str())
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            });
            reqwest::Client::builder()
                .user_agent(user_agent())
                .no_proxy()
                .pool_max_idle_per_host(0)
                .redirect(policy)
                .tls_danger_accept_invalid_certs(true)
                .build()
                .map_err(|e| format!("building the probe HTTP client: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `kube-probe/1.32`, as the kubelet sends (applications look for it).
fn user_agent() -> String {
    let version = KUBELET_VERSION.trim_start_matches('v');
    let minor: Vec<&str> = version.split(['.', '-']).take(2).collect();
    format!("kube-probe/{}", minor.join("."))
}

pub async fn get(target: &HttpTarget, timeout: Duration) -> Outcome {
    let client = match client() {
        Ok(c) => c,
        Err(e) => return Outcome::Error(e),
    };
    let mut request = client
        .get(&target.url)
        .timeout(timeout)
        .header("Accept", "*/*");
    for (name, value) in &target.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let url = &target.url;
    let response = match request.send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Outcome::Failure(format!(
                "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
            ));
        }
        Err(e) => return Outcome::Failure(format!("Get \"{url}\": {}", error_chain(&e))),
    };
    let status = response.status().as_u16();
    match status {
        200..=299 => Outcome::Success,
        300..=399 => Outcome::Warning(format!(
            "Probe terminated redirects, Response status: {status}, Location: {}",
            response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .unwrap_or_default()
        )),
        _ => Outcome::Failure(format!("HTTP probe failed with statuscode: {status}")),
    }
}

/// The error and its causes, as one line.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A one-route HTTP server on 127.0.0.1: each connection gets `reply`
    /// (after `delay`); the request heads it saw come back on the channel.
    async fn server(
        reply: &'static str,
        delay: Duration,
    ) -> (u16, tokio::sync::mpsc::UnboundedReceiver<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            loop {
                let Ok((mut conn, _)) = listener.accept().await else {
                    return;
                };
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let _ = tx.send(String::from_utf8_lossy(&buf[..n]).into_owned());
                    tokio::time::sleep(delay).await;
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        (port, rx)
    }

    fn target(port: u16, path: &str) -> HttpTarget {
        HttpTarget {
            url: format!("http://127.0.0.1:{port}{path}"),
            headers: vec![("X-Custom".into(), "yes".into())],
        }
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
    const BROKEN: &str =
        "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
    const AWAY: &str = "HTTP/1.1 302 Found\r\nlocation: http://example.invalid/x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

    #[tokio::test]
    async fn a_200_passes_and_sends_the_headers() {
        let (port, mut seen) = server(OK, Duration::ZERO).await;
        assert_eq!(
            get(&target(port, "/healthz"), Duration::from_secs(2)).await,
            Outcome::Success
        );
        let head = seen.recv().await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /healthz http/1.1"), "{head}");
        assert!(head.contains("x-custom: yes"), "{head}");
        assert!(head.contains("user-agent: kube-probe/1.32"), "{head}");
    }

    #[tokio::test]
    async fn a_500_fails() {
        let (port, _seen) = server(BROKEN, Duration::ZERO).await;
        assert_eq!(
            get(&target(port, "/"), Duration::from_secs(2)).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[tokio::test]
    async fn a_slow_server_times_out() {
        let (port, _seen) = server(OK, Duration::from_secs(5)).await;
        let started = std::time::Instant::now();
        let Outcome::Failure(msg) = get(&target(port, "/"), Duration::from_millis(200)).await
        else {
            panic!("a slow server passed");
        };
        assert!(msg.contains("context deadline exceeded"), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(3));
    }

    #[tokio::test]
    async fn a_redirect_to_another_host_is_not_followed() {
        let (port, _seen) = server(AWAY, Duration::ZERO).await;
        let Outcome::Warning(msg) = get(&target(port, "/"), Duration::from_secs(2)).await else {
            panic!("the redirect was followed or failed");
        };
        assert!(
            msg.contains("302") && msg.contains("example.invalid"),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn a_redirect_on_the_same_host_is_followed() {
        // Answers /start with a redirect to /moved, and /moved with `moved`.
        async fn serve(moved: &'static str) -> u16 {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            tokio::spawn(async move {
                while let Ok((mut conn, _)) = listener.accept().await {
                    let mut buf = vec![0u8; 4096];
                    let n = conn.read(&mut buf).await.unwrap_or(0);
                    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
                    let reply = if head.starts_with("GET /start ") {
                        format!(
                            "HTTP/1.1 301 Moved\r\nlocation: http://127.0.0.1:{port}/moved\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        )
                    } else {
                        moved.to_string()
                    };
                    let _ = conn.write_all(reply.as_bytes()).await;
                    let _ = conn.shutdown().await;
                }
            });
            port
        }
        let t = Duration::from_secs(2);
        let port = serve(OK).await;
        assert_eq!(get(&target(port, "/start"), t).await, Outcome::Success);
        let port = serve(BROKEN).await;
        assert_eq!(
            get(&target(port, "/start"), t).await,
            Outcome::Failure("HTTP probe failed with statuscode: 500".into())
        );
    }

    #[tokio::test]
    async fn a_closed_port_fails() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let Outcome::Failure(msg) = get(&target(port, "/"), Duration::from_secs(2)).await else {
            panic!("a closed port passed");
        };
        assert!(
            msg.starts_with(&format!("Get \"http://127.0.0.1:{port}/\"")),
            "{msg}"
        );
    }
}
