//! Undo for a failed pull: the blobs and layer directories it created are removed again, so
//! a mismatch or a refused layer leaves nothing behind (a record is written only at the end).

use std::sync::Mutex;

use crate::digest::Digest;
use crate::image_store::ImageStore;

pub(crate) struct Rollback {
    store: ImageStore,
    blobs: Mutex<Vec<Digest>>,
    layers: Mutex<Vec<Digest>>,
    armed: bool,
}

impl Rollback {
    pub fn new(store: &ImageStore) -> Rollback {
        Rollback {
            store: store.clone(),
            blobs: Mutex::new(Vec::new()),
            layers: Mutex::new(Vec::new()),
            armed: true,
        }
    }

    /// A blob this pull stored (it was not there before).
    pub fn created_blob(&self, digest: &Digest) {
        lock(&self.blobs).push(digest.clone());
    }

    /// A layer directory this pull unpacked.
    pub fn created_layer(&self, diff_id: &Digest) {
        lock(&self.layers).push(diff_id.clone());
    }

    /// The image is recorded: keep everything.
    pub fn disarm(mut self) {
        self.armed = false;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for Rollback {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        for d in lock(&self.layers).iter() {
            if let Err(e) = self.store.layers().remove(d) {
                tracing::warn!(layer = %d, error = %e, "removing a layer of a failed pull");
            }
        }
        for d in lock(&self.blobs).iter() {
            if let Err(e) = self.store.blobs().remove(d) {
                tracing::warn!(blob = %d, error = %e, "removing a blob of a failed pull");
            }
        }
    }
}
