//! The agent's HTTP API with a token (`AgentConfig::server_token`, what a
//! joined agent gets from the API server): every route but `/healthz`
//! answers 401 (a Kubernetes `Status`) without it or with a wrong one, and
//! serves as usual with it; exec's WebSocket upgrade included.

mod support;

use std::sync::Arc;

use futures::StreamExt;
use skiff_agent::{Agent, HollowRuntime};
use support::wire::http;
use support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{self, Message};

const TOKEN: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// `GET url` with `authorization` (if any): status and body.
async fn get_as(url: &str, authorization: Option<&str>) -> (u16, String) {
    let mut req = http().get(url);
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.unwrap();
    let code = resp.status().as_u16();
    (code, resp.text().await.unwrap())
}

/// Opens an exec WebSocket with `authorization`: the refusal's status and
/// body, or the stdout the session produced.
async fn exec_as(url: &str, authorization: Option<&str>) -> Result<String, (u16, String)> {
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("v5.channel.k8s.io"),
    );
    if let Some(a) = authorization {
        headers.insert("Authorization", HeaderValue::from_str(a).unwrap());
    }
    let mut socket = match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => socket,
        Err(tungstenite::Error::Http(resp)) => {
            let body = String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default());
            return Err((resp.status().as_u16(), body.into_owned()));
        }
        Err(e) => panic!("exec {url}: {e}"),
    };
    let mut stdout = String::new();
    while let Some(Ok(m)) = socket.next().await {
        if let Message::Binary(data) = m
            && data.first() == Some(&1)
        {
            stdout.push_str(&String::from_utf8_lossy(&data[1..]));
        }
    }
    Ok(stdout)
}

fn assert_unauthorized(code: u16, body: &str) {
    assert_eq!(code, 401, "{body}");
    let status: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (status["kind"].as_str(), status["reason"].as_str()),
        (Some("Status"), Some("Unauthorized")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_but_healthz_needs_the_token() {
    let srv = TestServer::start().await;
    let rt = HollowRuntime::default();
    let mut config = agent_config("n1", "10.250.0.1");
    config.server_addr = Some("127.0.0.1:0".parse().unwrap());
    config.server_token = Some(TOKEN.to_string());
    let agent = Agent::start(srv.client.clone(), config, Arc::new(rt.clone()))
        .await
        .unwrap();
    let base = format!("127.0.0.1:{}", agent.server_addr().unwrap().port());
    let pods = srv.pods();
    pods.create(&pod("web", "n1", "Never", vec![container("c", &[])]))
        .await
        .unwrap();
    wait_pod(&pods, "web", "Running", |p| phase(p) == "Running").await;

    let right = format!("Bearer {TOKEN}");
    let wrong = format!("Bearer {}", TOKEN.replace('0', "1"));
    let shorter = format!("Bearer {}", &TOKEN[1..]);
    let refused = [
        None,
        Some(wrong.as_str()),
        Some(shorter.as_str()),
        // The right secret under another scheme.
        Some(&*format!("Basic {TOKEN}")),
    ];

    assert_eq!(
        get_as(&format!("http://{base}/healthz"), None).await,
        (200, "ok".into())
    );
    for route in [
        "containerLogs/default/web/c",
        "stats/default/web/c",
        "no-such-route",
    ] {
        let url = format!("http://{base}/{route}");
        for auth in &refused {
            let (code, body) = get_as(&url, *auth).await;
            assert_unauthorized(code, &body);
        }
    }
    let (code, body) = get_as(
        &format!("http://{base}/containerLogs/default/web/c"),
        Some(&right),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = get_as(&format!("http://{base}/stats/default/web/c"), Some(&right)).await;
    assert_eq!(code, 200, "{body}");
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["podRef"]["name"], "web");
    let (code, _) = get_as(&format!("http://{base}/no-such-route"), Some(&right)).await;
    assert_eq!(code, 404);

    let exec = format!("ws://{base}/exec/default/web/c?command=echo&command=hi&stdout=true");
    for auth in &refused {
        let (code, body) = exec_as(&exec, *auth).await.unwrap_err();
        assert_unauthorized(code, &body);
    }
    assert_eq!(exec_as(&exec, Some(&right)).await.unwrap(), "hi\n");

    agent.shutdown().await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_token_nothing_is_required() {
    let srv = TestServer::start().await;
    let mut config = agent_config("n1", "10.250.0.1");
    config.server_addr = Some("127.0.0.1:0".parse().unwrap());
    let agent = Agent::start(
        srv.client.clone(),
        config,
        Arc::new(HollowRuntime::default()),
    )
    .await
    .unwrap();
    let base = format!("127.0.0.1:{}", agent.server_addr().unwrap().port());
    // Any Authorization is ignored; the pod simply is not there.
    let (code, body) = get_as(
        &format!("http://{base}/stats/default/nope/c"),
        Some("Bearer anything"),
    )
    .await;
    assert_eq!(code, 404, "{body}");
    agent.shutdown().await;
    srv.stop().await;
}

#[test]
fn an_empty_token_is_refused() {
    let mut config = agent_config("n1", "10.250.0.1");
    config.server_token = Some("  ".into());
    let err = config.validate().unwrap_err();
    assert!(err.contains("token is empty"), "{err}");
}

/// A secured API server (its plain loopback listener: admin) proxying
/// logs and exec to agents: the one requiring its proxy token serves them;
/// one requiring another token refuses, and the server says why instead of
/// passing a 401 on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_server_proxies_with_its_token() {
    let secrets = tempfile::tempdir().unwrap();
    let security =
        skiff_apiserver::Security::ensure(secrets.path(), &["127.0.0.1".into()], false).unwrap();
    let proxy_token = security.proxy_token.clone();
    let embedded = skiff_apiserver::testing::start_embedded(|c| c.security = Some(security))
        .await
        .unwrap();
    let client = skiff_client::Client::from_server(&embedded.url).unwrap();
    let start = |name: &str, token: &str| {
        let mut config = agent_config(name, "10.250.0.1");
        config.server_addr = Some("127.0.0.1:0".parse().unwrap());
        config.server_token = Some(token.to_string());
        Agent::start(client.clone(), config, Arc::new(HollowRuntime::default()))
    };
    let good = start("good", &proxy_token).await.unwrap();
    let stale = start("stale", TOKEN).await.unwrap();
    let pods: skiff_client::Api<skiff_api::core::Pod> =
        skiff_client::Api::namespaced(client.clone(), "default");
    for (name, node) in [("on-good", "good"), ("on-stale", "stale")] {
        pods.create(&pod(name, node, "Never", vec![container("c", &[])]))
            .await
            .unwrap();
        wait_pod(&pods, name, "Running", |p| phase(p) == "Running").await;
    }
    let api = embedded.url.trim_start_matches("http://");
    let log = |pod: &str| format!("http://{api}/api/v1/namespaces/default/pods/{pod}/log");
    let exec = |pod: &str| {
        format!(
            "ws://{api}/api/v1/namespaces/default/pods/{pod}/exec?command=echo&command=hi&stdout=true"
        )
    };

    let (code, body) = get_as(&log("on-good"), None).await;
    assert_eq!(code, 200, "{body}");
    let r = support::wire::exec(&exec("on-good"), "v5.channel.k8s.io", None)
        .await
        .unwrap();
    assert_eq!((r.stdout.as_str(), r.status), ("hi\n", Some(Ok(0))));

    let (code, body) = get_as(&log("on-stale"), None).await;
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("refused the API server's proxy token"),
        "{body}"
    );
    let r = support::wire::exec(&exec("on-stale"), "v5.channel.k8s.io", None)
        .await
        .unwrap();
    match r.status {
        Some(Err(message)) => assert!(
            message.contains("refused the API server's proxy token"),
            "{message}"
        ),
        other => panic!("exec on the stale agent: {other:?}"),
    }

    good.shutdown().await;
    stale.shutdown().await;
    embedded.server.shutdown().await;
}
