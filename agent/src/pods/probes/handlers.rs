//! The exec and tcpSocket checks (httpGet is in [`super::http`]).

use std::time::Duration;

use tokio::net::TcpStream;

use super::timing::Outcome;
use crate::runtime::{ContainerId, Runtime};

/// Runs `command` in the container through the runtime; exit code 0 passes.
/// The output (what the kubelet reports) is the failure's message.
pub async fn exec(
    runtime: &dyn Runtime,
    id: &ContainerId,
    command: &[String],
    timeout: Duration,
) -> Outcome {
    // The runtime enforces `timeout`; this bound only guards against one
    // that does not.
    let guard = timeout + Duration::from_secs(1);
    match tokio::time::timeout(guard, runtime.exec_sync(id, command, timeout)).await {
        Err(_) => Outcome::Failure(format!("command {command:?} timed out")),
        Ok(Err(e)) => Outcome::Error(format!("exec of {command:?} in the container: {e}")),
        Ok(Ok(out)) if out.exit_code == 0 => Outcome::Success,
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let text = text.trim();
            if text.is_empty() {
                Outcome::Failure(format!(
                    "command {command:?} exited with code {}",
                    out.exit_code
                ))
            } else {
                Outcome::Failure(text.to_string())
            }
        }
    }
}

/// Opens (and closes) a TCP connection to `host:port` within `timeout`.
pub async fn tcp(host: &str, port: u16, timeout: Duration) -> Outcome {
    let addr = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
        Ok(Ok(_stream)) => Outcome::Success,
        Ok(Err(e)) => Outcome::Failure(format!("dial tcp {addr}: connect: {e}")),
        Err(_) => Outcome::Failure(format!("dial tcp {addr}: i/o timeout")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::hollow::HollowRuntime;
    use crate::runtime::{ContainerConfig, SandboxConfig};
    use tokio::net::TcpListener;

    #[tokio::test]
    async fn tcp_open_and_closed_ports() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = Duration::from_secs(1);
        assert_eq!(tcp("127.0.0.1", port, t).await, Outcome::Success);
        drop(listener);
        let Outcome::Failure(msg) = tcp("127.0.0.1", port, t).await else {
            panic!("a closed port passed");
        };
        assert!(
            msg.starts_with(&format!("dial tcp 127.0.0.1:{port}: connect: ")),
            "{msg}"
        );
    }

    #[tokio::test]
    async fn exec_follows_the_exit_code() {
        let rt = HollowRuntime::default();
        rt.run_sandbox(&SandboxConfig {
            pod_uid: "u".into(),
            pod_cidr: Some("10.9.0.0/24".into()),
            ..Default::default()
        })
        .await
        .unwrap();
        let start = |env: Vec<(String, String)>| {
            let rt = rt.clone();
            async move {
                let config = ContainerConfig {
                    name: "c".into(),
                    image: "busybox".into(),
                    env,
                    ..Default::default()
                };
                let id = rt.create_container("u", &config).await.unwrap();
                rt.start_container(&id).await.unwrap();
                id
            }
        };
        let cmd = vec!["true".to_string()];
        let t = Duration::from_secs(1);
        let ok = start(vec![]).await;
        assert_eq!(exec(&rt, &ok, &cmd, t).await, Outcome::Success);
        let failing = start(vec![("HOLLOW_EXEC_EXIT_CODE".into(), "3".into())]).await;
        assert_eq!(
            exec(&rt, &failing, &cmd, t).await,
            Outcome::Failure("hollow exec: exit code 3".into())
        );
        rt.stop_container(&ok, crate::runtime::StopOptions::grace(Duration::ZERO))
            .await
            .unwrap();
        assert!(matches!(exec(&rt, &ok, &cmd, t).await, Outcome::Error(_)));
    }
}
