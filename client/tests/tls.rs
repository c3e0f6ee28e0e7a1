//! The client against a secured API server: TLS verified with the
//! kubeconfig's CA, the bearer token, and the node join flow.

use serde_json::json;
use skiff_apiserver::Security;
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_client::kubeconfig::ClusterConfig;
use skiff_client::{Client, Error, JoinToken, Kubeconfig, Request, join};

async fn secured() -> (EmbeddedServer, Security, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let sans = vec!["127.0.0.1".to_string()];
    let security = Security::ensure(dir.path(), &sans, true).unwrap();
    let s = security.clone();
    let server = start_embedded(move |c| c.security = Some(s)).await.unwrap();
    assert!(server.url.starts_with("https://"));
    (server, security, dir)
}

fn client(url: &str, ca: &str, token: Option<&str>) -> Client {
    Client::new(ClusterConfig {
        server: url.to_string(),
        ca_pem: Some(ca.as_bytes().to_vec()),
        token: token.map(str::to_string),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn kubeconfig_ca_and_token_over_tls() {
    let (server, security, dir) = secured().await;
    // Through a written kubeconfig, as `skiff server` writes it.
    let path = dir.path().join("kubeconfig");
    Kubeconfig::single(
        &server.url,
        Some(&security.tls.ca_pem),
        Some(&security.admin_token),
    )
    .write(&path)
    .unwrap();
    let config = skiff_client::load_config(Some(&path), None).unwrap();
    let admin = Client::new(config).unwrap();
    let list = admin
        .json(Request::get("/api/v1/namespaces"))
        .await
        .unwrap();
    assert!(!list["items"].as_array().unwrap().is_empty(), "{list}");

    let anonymous = client(&server.url, &security.tls.ca_pem, None);
    let err = anonymous
        .json(Request::get("/api/v1/namespaces"))
        .await
        .unwrap_err();
    let status = err.status().expect("a Status");
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));

    // A CA that did not sign the server's certificate: no connection.
    let other = tempfile::tempdir().unwrap();
    let stranger = Security::ensure(other.path(), &["127.0.0.1".into()], true).unwrap();
    let wrong_ca = client(
        &server.url,
        &stranger.tls.ca_pem,
        Some(&security.admin_token),
    );
    let err = wrong_ca
        .json(Request::get("/api/v1/namespaces"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
}

#[tokio::test]
async fn a_node_joins_with_the_k10_token_and_is_a_node() {
    let (server, security, _dir) = secured().await;
    let token = JoinToken::parse(&security.join_token()).unwrap();
    let ca = join::fetch_ca(&server.url, &token).await.unwrap();
    assert_eq!(ca, security.tls.ca_pem);

    // A token pinning another CA refuses this server.
    let mut pinned_elsewhere = token.clone();
    pinned_elsewhere.ca_hash = "0".repeat(64);
    let err = join::fetch_ca(&server.url, &pinned_elsewhere)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("is not the one the join token pins"),
        "{err}"
    );

    let cred = join::join(&server.url, &ca, &token, "n1", None)
        .await
        .unwrap();
    let node = Client::new(cred.kubeconfig(&server.url).resolve(None).unwrap()).unwrap();
    let own = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}});
    node.json(Request::post("/api/v1/nodes", &own))
        .await
        .unwrap();
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}});
    let err = node
        .json(Request::post("/api/v1/namespaces", &ns))
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.code), Some(403), "{err}");

    // Joining again: only with the node's own token.
    let err = join::join(&server.url, &ca, &token, "n1", None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.code), Some(403), "{err}");
    let again = join::join(&server.url, &ca, &token, "n1", Some(&cred.token))
        .await
        .unwrap();
    assert_eq!(again.token, cred.token);
}
