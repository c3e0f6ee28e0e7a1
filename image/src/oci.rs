//! The OCI and Docker schema2 JSON documents the store reads: descriptors, indexes/manifest
//! lists, manifests and image configs (only the fields skiff uses; unknown ones are ignored).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";

/// Every manifest media type a registry should be asked for (`Accept`), indexes first.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST];

/// `org.opencontainers.image.ref.name`: a tag (or a full reference) in an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's export names the full reference here.
pub const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An OCI index or a Docker manifest list.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    #[serde(default)]
    pub schema_version: u32,
    #[serde(default)]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// An OCI image manifest or a Docker schema2 manifest.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

/// The parts of an image config that start a process, plus the layers' diff_ids.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageConfig {
    #[serde(
        default,
        rename = "Entrypoint",
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, rename = "Cmd", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(default, rename = "Env", skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        default,
        rename = "WorkingDir",
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(default, rename = "User", skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        default,
        rename = "StopSignal",
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ConfigFile {
    #[serde(default)]
    pub os: Option<String>,
    #[serde(default)]
    pub architecture: Option<String>,
    // A null config is valid (scratch images built by hand).
    #[serde(default)]
    pub config: Option<ImageConfig>,
    pub rootfs: RootFs,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

/// What a manifest-ish document turned out to be.
pub enum Document {
    Index(Index),
    Manifest(Manifest),
}

impl Document {
    /// Parses by `mediaType` (the descriptor's, else the document's own), falling back to shape.
    pub fn parse(bytes: &[u8], descriptor_type: &str) -> Result<Document> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::json("parse manifest", e))?;
        let own = value
            .get("mediaType")
            .and_then(|m| m.as_str())
            .unwrap_or("");
        let media_type = if descriptor_type.is_empty() {
            own
        } else {
            descriptor_type
        };
        let is_index = match media_type {
            OCI_INDEX | DOCKER_LIST => true,
            OCI_MANIFEST | DOCKER_MANIFEST => false,
            "" => value.get("manifests").is_some(),
            other => {
                return Err(Error::InvalidImage(format!(
                    "unsupported manifest type {other}"
                )));
            }
        };
        if is_index {
            serde_json::from_value(value)
                .map(Document::Index)
                .map_err(|e| Error::json("parse index", e))
        } else {
            let m: Manifest =
                serde_json::from_value(value).map_err(|e| Error::json("parse manifest", e))?;
            if m.schema_version != 2 {
                return Err(Error::InvalidImage(format!(
                    "manifest schemaVersion {} is not supported",
                    m.schema_version
                )));
            }
            Ok(Document::Manifest(m))
        }
    }
}

impl Index {
    /// The linux/amd64 manifest of a multi-platform index; attestation entries
    /// (`unknown/unknown`) are skipped. An entry without a platform counts only if it is alone.
    pub fn pick_linux_amd64(&self) -> Result<&Descriptor> {
        let candidates: Vec<&Descriptor> = self
            .manifests
            .iter()
            .filter(|d| {
                d.platform
                    .as_ref()
                    .is_none_or(|p| !(p.os == "unknown" && p.architecture == "unknown"))
            })
            .collect();
        if let Some(d) = candidates.iter().find(|d| {
            d.platform
                .as_ref()
                .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
        }) {
            return Ok(d);
        }
        match candidates.as_slice() {
            [only] if only.platform.is_none() => Ok(only),
            _ => Err(Error::InvalidImage(
                "the index has no linux/amd64 manifest".to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(os: &str, arch: &str, byte: u8) -> serde_json::Value {
        serde_json::json!({
            "mediaType": OCI_MANIFEST,
            "digest": Digest::of_bytes(&[byte]).to_string(),
            "size": 1,
            "platform": {"os": os, "architecture": arch}
        })
    }

    #[test]
    fn picks_amd64_and_skips_attestations() {
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [desc("unknown", "unknown", 0), desc("linux", "arm64", 1), desc("linux", "amd64", 2)]
        });
        let Document::Index(i) = Document::parse(index.to_string().as_bytes(), "").unwrap() else {
            panic!("not an index")
        };
        assert_eq!(i.pick_linux_amd64().unwrap().digest, Digest::of_bytes(&[2]));

        let only_attestation = Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![serde_json::from_value(desc("unknown", "unknown", 0)).unwrap()],
        };
        assert!(only_attestation.pick_linux_amd64().is_err());
    }

    #[test]
    fn parses_docker_manifest_and_config() {
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": Digest::of_bytes(b"c").to_string(), "size": 1},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "digest": Digest::of_bytes(b"l").to_string(), "size": 1}]
        });
        let Document::Manifest(m) =
            Document::parse(m.to_string().as_bytes(), DOCKER_MANIFEST).unwrap()
        else {
            panic!("not a manifest")
        };
        assert_eq!(m.layers.len(), 1);
        let config: ConfigFile = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Cmd":["nginx","-g","daemon off;"],"StopSignal":"SIGQUIT","Env":["PATH=/bin"]},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        let c = config.config.unwrap();
        assert_eq!(c.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.cmd.unwrap()[0], "nginx");
        assert!(
            Document::parse(
                b"{\"schemaVersion\":1}",
                "application/vnd.docker.distribution.manifest.v1+json"
            )
            .is_err()
        );
    }
}
