//! Layer application: one tar (gzip, zstd or plain) unpacked into its own directory, with
//! whiteouts turned into what overlayfs understands, and nothing written outside it.

pub mod apply;
pub mod compression;
pub mod paths;
mod sys;
pub mod whiteout;

pub use apply::apply_layer;
