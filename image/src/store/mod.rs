//! On-disk stores: content-addressed blobs, unpacked layers, image records, and the lock
//! that keeps garbage collection away from imports in progress.

pub mod blobs;
pub mod layers;
pub mod lock;
pub mod records;
