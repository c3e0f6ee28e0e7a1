//! Test support: tar and image writers, tree snapshots and the overlay merged view.
#![allow(dead_code)]

pub mod oci;
pub mod tar;
pub mod tree;
