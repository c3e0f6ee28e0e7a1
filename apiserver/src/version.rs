//! `/version`. The dispatcher `/usr/bin/kubectl` picks the kubectl binary by
//! the reported minor version, so skiff reports the Kubernetes version whose
//! API it follows.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use crate::handlers::json_response;

pub const MAJOR: &str = "1";
pub const MINOR: &str = "32";
pub const GIT_VERSION: &str = "v1.32.0";

pub async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({
            "major": MAJOR,
            "minor": MINOR,
            "gitVersion": GIT_VERSION,
            "gitCommit": format!("skiff-{}", env!("CARGO_PKG_VERSION")),
            "gitTreeState": "clean",
            "buildDate": "1970-01-01T00:00:00Z",
            "goVersion": "none (skiff is written in Rust)",
            "compiler": "rustc",
            "platform": format!("{}/{}", std::env::consts::OS, platform_arch()),
        }),
    )
}

/// Go's name for this architecture (`amd64`, `arm64`).
fn platform_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}
