//! Bad input reads as kubectl's errors, exits 1, and never panics.

mod common;

use common::{Cluster, manifest};

const BAD_REPLICAS: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: bad
spec:
  replicas: -1
  selector:
    matchLabels:
      app: x
  template:
    metadata:
      labels:
        app: x
    spec:
      containers:
      - name: c
        image: x
";

#[test]
fn manifest_errors() {
    let c = Cluster::start();
    let broken = c.write(
        "broken.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data:\n    a: b\n",
    );
    let err = c.skiff(&["apply", "-f", &broken]).fails().to_string();
    assert!(
        err.starts_with(&format!("error: error parsing {broken}: line 5 column ")),
        "{err}"
    );

    let unknown = c.write(
        "foo.yaml",
        "apiVersion: v1\nkind: Foo\nmetadata:\n  name: x\n",
    );
    assert_eq!(
        c.skiff(&["apply", "-f", &unknown]).fails(),
        format!(
            "error: resource mapping not found for name: \"x\" namespace: \"\" from \"{unknown}\": no matches for kind \"Foo\" in version \"v1\"\nensure CRDs are installed first\n"
        )
    );

    let invalid = c.write("bad.yaml", BAD_REPLICAS);
    assert_eq!(
        c.skiff(&["apply", "-f", &invalid]).fails(),
        "The Deployment \"bad\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"
    );

    let strict = c.skiff_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nspec: {}\n",
    );
    assert_eq!(
        strict.fails(),
        "Error from server (BadRequest): error when creating \"STDIN\": strict decoding error: unknown field \"spec\"\n"
    );

    // --validate=warn: the server drops the field and says so.
    let warned = c.skiff_stdin(
        &["apply", "--validate=warn", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\nspec: {}\n",
    );
    assert_eq!(warned.ok(), "configmap/x created\n");
    assert_eq!(warned.stderr, "Warning: unknown field \"spec\"\n");

    let missing = c.skiff(&["apply", "-f", "nope.yaml"]);
    assert_eq!(
        missing.fails(),
        "error: the path \"nope.yaml\" does not exist\n"
    );

    let no_kind = c.skiff_stdin(&["apply", "-f", "-"], "metadata:\n  name: x\n");
    assert!(
        no_kind
            .fails()
            .contains("[apiVersion not set, kind not set]"),
        "{}",
        no_kind.stderr
    );
}

#[test]
fn good_documents_are_applied_when_others_fail() {
    let c = Cluster::start();
    let mixed = format!(
        "{BAD_REPLICAS}---\n{}",
        std::fs::read_to_string(manifest("nginx-service.yaml")).unwrap()
    );
    let out = c.skiff_stdin(&["apply", "-f", "-"], &mixed);
    assert_eq!(out.code, 1);
    assert_eq!(out.stdout, "service/nginx-service created\n");
    assert!(
        out.stderr.starts_with("The Deployment \"bad\" is invalid"),
        "{}",
        out.stderr
    );
}

#[test]
fn namespaces_must_agree_with_an_explicit_flag() {
    let c = Cluster::start();
    let in_system =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n";
    let out = c.skiff_stdin(&["apply", "-n", "default", "-f", "-"], in_system);
    assert_eq!(
        out.fails(),
        "error: the namespace from the provided object \"kube-system\" does not match the namespace \"default\". You must pass '--namespace=kube-system' to perform this operation.\n"
    );
    // Without -n the manifest's namespace is used; -n alone places objects.
    c.skiff_stdin(&["apply", "-f", "-"], in_system).ok();
    assert_eq!(
        c.skiff(&["get", "cm", "x", "-n", "kube-system", "-o", "name"])
            .ok(),
        "configmap/x\n"
    );
    let plain = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: plain\n";
    c.skiff_stdin(&["apply", "-n", "kube-public", "-f", "-"], plain)
        .ok();
    assert_eq!(
        c.skiff(&["get", "cm", "-n", "kube-public", "-o", "name"])
            .ok(),
        "configmap/plain\n"
    );
    // `y` is a YAML 1.1 boolean, not a name.
    let boolean = c.skiff_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n",
    );
    assert_eq!(
        boolean.fails(),
        "error: unable to decode \"STDIN\": metadata.name must be a string, not true\n"
    );
}

#[test]
fn get_errors() {
    let c = Cluster::start();
    assert_eq!(
        c.skiff(&["get", "foos"]).fails(),
        "error: the server doesn't have a resource type \"foos\"\n"
    );
    assert_eq!(
        c.skiff(&["get", "deploy", "x"]).fails(),
        "Error from server (NotFound): deployments.apps \"x\" not found\n"
    );
    assert!(
        c.skiff(&["get", "deploy", "-o", "toml"])
            .fails()
            .starts_with(
                "error: unable to match a printer suitable for the output format \"toml\""
            )
    );
    assert!(
        c.skiff(&["get", "--bogus-flag", "pods"])
            .fails()
            .contains("--bogus-flag")
    );
}

#[test]
fn an_unreachable_server_is_named() {
    let c = Cluster::start();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = c.skiff(&[
        "--server",
        &format!("http://127.0.0.1:{port}"),
        "get",
        "pods",
    ]);
    assert_eq!(
        out.fails(),
        format!(
            "The connection to the server 127.0.0.1:{port} was refused - did you specify the right host or port?\n"
        )
    );
    let bad_config = c.skiff(&["--context", "nope", "get", "pods"]);
    assert_eq!(
        bad_config.fails(),
        "error: context was not found for specified context: nope\n"
    );
}
