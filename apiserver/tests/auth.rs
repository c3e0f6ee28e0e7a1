//! A secured server (TLS on loopback forced, tokens): 401 without a valid
//! token, 403 when a node identity reaches beyond its own node and pods,
//! and nothing changed by a refused request; the join endpoint.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use skiff_apiserver::testing::{EmbeddedServer, start_embedded};
use skiff_apiserver::{Security, tls::ca_hash};

struct Secured {
    server: EmbeddedServer,
    security: Security,
    http: reqwest::Client,
    _tls_dir: tempfile::TempDir,
}

async fn secured(tls_on_loopback: bool) -> Secured {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls_dir = tempfile::tempdir().unwrap();
    let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    let security = Security::ensure(tls_dir.path(), &sans, tls_on_loopback).unwrap();
    let s = security.clone();
    let server = start_embedded(move |c| c.security = Some(s)).await.unwrap();
    let ca = reqwest::Certificate::from_pem(security.tls.ca_pem.as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    Secured {
        server,
        security,
        http,
        _tls_dir: tls_dir,
    }
}

impl Secured {
    /// `method path` with `token` (if any) and `body`: code and JSON answer.
    async fn call(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.server.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            let ct = if method == Method::PATCH {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            req = req.header("content-type", ct).body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let code = resp.status();
        let text = resp.text().await.unwrap();
        (
            code,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let token = self.security.admin_token.clone();
        self.call(Some(&token), method, path, body).await
    }

    /// Joins `name` with the join token; its node token.
    async fn join(&self, name: &str) -> String {
        let (code, body) = self
            .call(
                Some(&self.security.join_token()),
                Method::POST,
                "/skiff/v1/join",
                Some(json!({ "nodeName": name })),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{body}");
        assert_eq!(body["caData"], self.security.tls.ca_pem.as_str());
        body["token"].as_str().unwrap().to_string()
    }
}

fn pod(name: &str, node: &str, secret: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
           "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox",
                    "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": secret, "key": "k"}}}]}]}})
}

fn node(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
}

fn assert_status(got: (StatusCode, Value), code: StatusCode, reason: &str) {
    assert_eq!(got.0, code, "{}", got.1);
    assert_eq!(got.1["reason"], reason, "{}", got.1);
    assert_eq!(got.1["kind"], "Status", "{}", got.1);
}

#[tokio::test]
async fn no_token_or_a_wrong_one_is_401_and_changes_nothing() {
    let s = secured(true).await;
    assert!(s.server.url.starts_with("https://"), "{}", s.server.url);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "sneaky"}});
    assert_status(
        s.call(None, Method::POST, "/api/v1/namespaces", Some(ns.clone()))
            .await,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    );
    assert_status(
        s.call(Some("nope"), Method::POST, "/api/v1/namespaces", Some(ns))
            .await,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    );
    // The join token is for joining only.
    let join = s.security.join_token();
    assert_status(
        s.call(Some(&join), Method::GET, "/api/v1/namespaces", None)
            .await,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    );
    assert_status(
        s.call(None, Method::GET, "/version", None).await,
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
    );
    let (code, _) = s
        .admin(Method::GET, "/api/v1/namespaces/sneaky", None)
        .await;
    assert_eq!(
        code,
        StatusCode::NOT_FOUND,
        "the refused create changed nothing"
    );
    // ALPN offers HTTP/2 (kubectl and reqwest take it) beside HTTP/1.1.
    let resp = s
        .http
        .get(format!("{}/healthz", s.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    let h1 = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(s.security.tls.ca_pem.as_bytes()).unwrap()])
        .http1_only()
        .build()
        .unwrap();
    let resp = h1
        .get(format!("{}/healthz", s.server.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_11);
    // Health checks and the CA are open.
    assert_eq!(
        s.call(None, Method::GET, "/healthz", None).await.0,
        StatusCode::OK
    );
    let (code, ca) = s.call(None, Method::GET, "/skiff/v1/cacerts", None).await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(ca, s.security.tls.ca_pem.as_str());
    assert!(join.starts_with(&format!("K10{}::", ca_hash(&s.security.tls.ca_pem))));
}

#[tokio::test]
async fn a_node_writes_only_its_own_node_lease_and_pods() {
    let s = secured(true).await;
    let n1 = s.join("n1").await;
    let n1 = Some(n1.as_str());
    let forbidden = StatusCode::FORBIDDEN;

    // Its own Node: create, status.
    let (code, body) = s
        .call(n1, Method::POST, "/api/v1/nodes", Some(node("n1")))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let ready = json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let (code, body) = s
        .call(
            n1,
            Method::PATCH,
            "/api/v1/nodes/n1/status",
            Some(ready.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    // Another node: neither create nor write.
    assert_status(
        s.call(n1, Method::POST, "/api/v1/nodes", Some(node("n2")))
            .await,
        forbidden,
        "Forbidden",
    );
    let (code, _) = s
        .admin(Method::POST, "/api/v1/nodes", Some(node("n2")))
        .await;
    assert_eq!(code, StatusCode::CREATED);
    let refused = s
        .call(n1, Method::PATCH, "/api/v1/nodes/n2/status", Some(ready))
        .await;
    assert!(
        refused.1["message"]
            .as_str()
            .unwrap()
            .starts_with("nodes \"n2\" is forbidden: User \"system:node:n1\" cannot patch resource \"nodes/status\""),
        "{}",
        refused.1
    );
    assert_status(refused, forbidden, "Forbidden");
    let (_, n2) = s.admin(Method::GET, "/api/v1/nodes/n2", None).await;
    assert!(n2["status"]["conditions"].is_null(), "unchanged: {n2}");
    assert_status(
        s.call(n1, Method::DELETE, "/api/v1/nodes/n2", None).await,
        forbidden,
        "Forbidden",
    );

    // Pods: status and deletion of its own only.
    let pods = "/api/v1/namespaces/default/pods";
    for (p, n) in [("mine", "n1"), ("theirs", "n2")] {
        let (code, body) = s
            .admin(Method::POST, pods, Some(pod(p, n, &format!("{p}-secret"))))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let running = json!({"status": {"phase": "Running"}});
    let (code, body) = s
        .call(
            n1,
            Method::PATCH,
            &format!("{pods}/mine/status"),
            Some(running.clone()),
        )
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["status"]["phase"], "Running");
    assert_status(
        s.call(
            n1,
            Method::PATCH,
            &format!("{pods}/theirs/status"),
            Some(running),
        )
        .await,
        forbidden,
        "Forbidden",
    );
    let (_, theirs) = s.admin(Method::GET, &format!("{pods}/theirs"), None).await;
    assert_eq!(theirs["status"]["phase"], "Pending", "unchanged");
    assert_status(
        s.call(
            n1,
            Method::PATCH,
            &format!("{pods}/mine"),
            Some(json!({"metadata": {"labels": {"a": "b"}}})),
        )
        .await,
        forbidden,
        "Forbidden",
    );
    assert_status(
        s.call(n1, Method::DELETE, &format!("{pods}/theirs"), None)
            .await,
        forbidden,
        "Forbidden",
    );
    let (code, _) = s.call(n1, Method::GET, pods, None).await;
    assert_eq!(code, StatusCode::OK, "nodes read pods");

    // Secrets: only those its pods reference.
    let secrets = "/api/v1/namespaces/default/secrets";
    for name in ["mine-secret", "theirs-secret"] {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": {"k": "v"}});
        let (code, body) = s.admin(Method::POST, secrets, Some(secret)).await;
        assert_eq!(code, StatusCode::CREATED, "{body}");
    }
    let (code, body) = s
        .call(n1, Method::GET, &format!("{secrets}/mine-secret"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_status(
        s.call(n1, Method::GET, &format!("{secrets}/theirs-secret"), None)
            .await,
        forbidden,
        "Forbidden",
    );
    assert_status(
        s.call(n1, Method::GET, secrets, None).await,
        forbidden,
        "Forbidden",
    );

    // Leases: its own only, in kube-node-lease.
    let lease = |name: &str| {
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
               "metadata": {"name": name}, "spec": {"holderIdentity": name}})
    };
    let leases = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
    let (code, body) = s.call(n1, Method::POST, leases, Some(lease("n1"))).await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    assert_status(
        s.call(n1, Method::POST, leases, Some(lease("n2"))).await,
        forbidden,
        "Forbidden",
    );

    // Workloads: no.
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    assert_status(
        s.call(n1, Method::POST, deployments, Some(deployment))
            .await,
        forbidden,
        "Forbidden",
    );
    let (_, list) = s.admin(Method::GET, deployments, None).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing created"
    );

    // Events: yes. Its own pod, finally removed: yes.
    let event = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "mine", "namespace": "default"}, "reason": "Started"});
    let (code, body) = s
        .call(
            n1,
            Method::POST,
            "/api/v1/namespaces/default/events",
            Some(event),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{body}");
    let (code, body) = s
        .call(n1, Method::DELETE, &format!("{pods}/mine"), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn joining_twice_needs_the_node_token() {
    let s = secured(true).await;
    let join = s.security.join_token();
    let post = |token: Option<String>, body: Value| {
        let s = &s;
        async move {
            s.call(token.as_deref(), Method::POST, "/skiff/v1/join", Some(body))
                .await
        }
    };
    let wrong = post(Some("K10abc::wrong".into()), json!({"nodeName": "n1"})).await;
    assert_status(wrong, StatusCode::UNAUTHORIZED, "Unauthorized");
    let admin = post(
        Some(s.security.admin_token.clone()),
        json!({"nodeName": "n1"}),
    )
    .await;
    assert_status(admin, StatusCode::UNAUTHORIZED, "Unauthorized");
    let token = s.join("n1").await;
    let again = post(Some(join.clone()), json!({"nodeName": "n1"})).await;
    assert_status(again, StatusCode::FORBIDDEN, "Forbidden");
    let other = post(
        Some(join.clone()),
        json!({"nodeName": "n1", "nodeToken": "node:n1:guess"}),
    )
    .await;
    assert_status(other, StatusCode::FORBIDDEN, "Forbidden");
    let (code, body) = post(
        Some(join.clone()),
        json!({"nodeName": "n1", "nodeToken": token}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["token"], token.as_str());
    // The bare secret works too; bad names are named.
    let bare = skiff_apiserver::auth::tokens::join_secret(&join).to_string();
    let bad = post(Some(bare), json!({"nodeName": "Bad_Name"})).await;
    assert_status(bad, StatusCode::BAD_REQUEST, "BadRequest");
    assert!(bad_message(&s).await.contains("invalid nodeName"));
}

async fn bad_message(s: &Secured) -> String {
    let (_, body) = s
        .call(
            Some(&s.security.join_token()),
            Method::POST,
            "/skiff/v1/join",
            Some(json!({"nodeName": "Bad_Name"})),
        )
        .await;
    body["message"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn a_plain_loopback_listener_stays_open() {
    let s = secured(false).await;
    assert!(s.server.url.starts_with("http://"), "{}", s.server.url);
    let (code, body) = s.call(None, Method::GET, "/api/v1/namespaces", None).await;
    assert_eq!(code, StatusCode::OK, "{body}");
}
