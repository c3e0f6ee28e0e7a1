//! Import of images from files: OCI image layouts (a directory or a tar of one) and
//! docker-archive tarballs (`docker save`). The air-gapped way onto a node.

mod docker_archive;
mod oci_layout;
pub mod source;

use std::path::Path;

use crate::error::{Error, Result};
use crate::image_store::ImageStore;
use crate::reference::Reference;
use crate::store::records::ImageRecord;

impl ImageStore {
    /// Imports every image in `path`. `name` names images the archive leaves unnamed (or
    /// tagged only, as `skopeo copy oci:DIR:TAG` does); archive names win otherwise.
    pub fn import(&self, path: &Path, name: Option<&str>) -> Result<Vec<ImageRecord>> {
        let source = source::open(path)?;
        let _lock = self.write_lock()?;
        if source.exists("oci-layout") && source.exists("index.json") {
            oci_layout::import(self, source.as_ref(), name)
        } else if source.exists("manifest.json") {
            docker_archive::import(self, source.as_ref(), name)
        } else {
            Err(Error::InvalidImage(format!(
                "{} is neither an OCI layout (oci-layout, index.json) nor a docker archive (manifest.json)",
                path.display()
            )))
        }
    }
}

/// Refuses, before anything is recorded, two images of one archive with the same reference.
fn check_unique<'a>(references: impl IntoIterator<Item = &'a Reference>) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for r in references {
        if !seen.insert(r) {
            return Err(Error::InvalidImage(format!(
                "several images in the archive are named {r}"
            )));
        }
    }
    Ok(())
}
