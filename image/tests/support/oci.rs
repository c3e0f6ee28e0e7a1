//! Writes OCI image layouts and docker archives from layer tars, the way a build tool would.

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use skiff_image::Digest;

/// One layer as distributed: the blob (maybe compressed) and the uncompressed tar.
pub struct Layer {
    pub blob: Vec<u8>,
    pub tar: Vec<u8>,
}

impl Layer {
    pub fn new(tar: Vec<u8>, compress: fn(&[u8]) -> Vec<u8>) -> Layer {
        Layer {
            blob: compress(&tar),
            tar,
        }
    }

    pub fn plain(tar: Vec<u8>) -> Layer {
        Layer {
            blob: tar.clone(),
            tar,
        }
    }

    pub fn diff_id(&self) -> Digest {
        Digest::of_bytes(&self.tar)
    }
}

pub fn write_blob(dir: &Path, bytes: &[u8]) -> Value {
    let d = Digest::of_bytes(bytes);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(d.hex()), bytes).unwrap();
    json!({"digest": d.to_string(), "size": bytes.len()})
}

fn with_type(mut desc: Value, media_type: &str) -> Value {
    desc["mediaType"] = json!(media_type);
    desc
}

pub fn config_json(layers: &[Layer], config: Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id().to_string()).collect();
    serde_json::to_vec(&json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    }))
    .unwrap()
}

/// Writes config, layers and a manifest of `manifest_type` into `dir`; returns the manifest's
/// descriptor (not yet in any index).
pub fn write_manifest(dir: &Path, layers: &[Layer], config: Value, docker: bool) -> Value {
    let (manifest_type, config_type, layer_type) = if docker {
        (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        )
    } else {
        (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
        )
    };
    let config_desc = with_type(write_blob(dir, &config_json(layers, config)), config_type);
    let layer_descs: Vec<Value> = layers
        .iter()
        .map(|l| with_type(write_blob(dir, &l.blob), layer_type))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": manifest_type,
        "config": config_desc,
        "layers": layer_descs,
    });
    with_type(
        write_blob(dir, &serde_json::to_vec(&manifest).unwrap()),
        manifest_type,
    )
}

pub fn write_layout(dir: &Path, manifests: Vec<Value>) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

pub fn named(mut desc: Value, ref_name: &str) -> Value {
    desc["annotations"] = json!({"org.opencontainers.image.ref.name": ref_name});
    desc
}

/// A single-image OCI layout named `ref_name`.
pub fn layout(dir: &Path, layers: &[Layer], config: Value, ref_name: &str) {
    let m = write_manifest(dir, layers, config, false);
    write_layout(dir, vec![named(m, ref_name)]);
}

/// Tars a directory tree (an OCI layout) into one file.
pub fn tar_dir(dir: &Path, out: &Path) {
    let mut b = tar::Builder::new(fs::File::create(out).unwrap());
    b.append_dir_all(".", dir).unwrap();
    b.into_inner().unwrap();
}
