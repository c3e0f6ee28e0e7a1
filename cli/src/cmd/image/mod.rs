//! `skiff image pull|import|ls|rm|gc`: the node's image store, as `crictl images` and `ctr images`
//! show it. Works on the store's directory directly (no API server), so it runs on a node
//! before or beside the agent, which uses the same default root.

mod pull;
mod table;

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use skiff_image::{Error as ImageError, GcReport, ImageStore};

use crate::errors::{CliError, CliResult};
use crate::output;

/// Where the node agent keeps images unless told otherwise.
pub const DEFAULT_ROOT: &str = "/var/lib/skiff/images";

#[derive(Args, Debug)]
pub struct ImageArgs {
    /// The image store's directory (blobs, unpacked layers, image records); the node
    /// agent uses the same default.
    #[arg(long, global = true, value_name = "DIR", default_value = DEFAULT_ROOT)]
    pub root: PathBuf,
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Pull an image from its registry (or a mirror) into the store, with a progress bar per
    /// layer on a terminal and plain lines otherwise.
    Pull(pull::PullArgs),
    /// Import the images of an OCI image layout (a directory or a tar of one) or of a
    /// docker-archive tarball (`docker save`).
    Import(ImportArgs),
    /// List stored images: repository, tag, image ID (the config digest) and size.
    #[command(alias = "list")]
    Ls,
    /// Forget images by reference; their layers go at the next `gc` if nothing else uses them.
    #[command(alias = "rmi", alias = "remove")]
    Rm(RmArgs),
    /// Delete the blobs and unpacked layers no image uses any more.
    #[command(alias = "prune")]
    Gc,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// An OCI layout directory, a tar of one, or a docker archive.
    #[arg(value_name = "FILE|DIR")]
    pub path: PathBuf,
    /// The reference for images the archive leaves unnamed (or names by tag only, as
    /// `skopeo copy oci:DIR:TAG` does).
    #[arg(long, value_name = "REF")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct RmArgs {
    /// Image references (`busybox` means `docker.io/library/busybox:latest`).
    #[arg(required = true, value_name = "REF")]
    pub references: Vec<String>,
}

/// Runs synchronously: the store is plain file I/O, and nothing else runs meanwhile.
pub fn run(args: ImageArgs) -> CliResult {
    let store = open(&args.root)?;
    match args.command {
        ImageCommand::Import(a) => import(&store, &a),
        ImageCommand::Ls => list(&store),
        ImageCommand::Rm(a) => remove(&store, &a.references),
        ImageCommand::Gc => gc(&store),
        ImageCommand::Pull(a) => pull::run(&store, &a),
    }
}

fn open(root: &Path) -> CliResult<ImageStore> {
    ImageStore::open(root).map_err(|e| {
        let hint = match &e {
            ImageError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                " (run as root, or choose another store with --root DIR)"
            }
            _ => "",
        };
        CliError::msg(format!(
            "opening the image store {}: {e}{hint}",
            root.display()
        ))
    })
}

fn import(store: &ImageStore, args: &ImportArgs) -> CliResult {
    let records = store
        .import(&args.path, args.name.as_deref())
        .map_err(|e| {
            let hint = match &e {
                // The layout names no reference for some manifest.
                ImageError::InvalidImage(m) if args.name.is_none() && m.ends_with("give one") => {
                    " (pass --name REF)"
                }
                _ => "",
            };
            CliError::msg(format!("importing {}: {e}{hint}", args.path.display()))
        })?;
    for r in &records {
        output::print_line(&format!("imported {} ({})", r.reference, r.manifest_digest));
    }
    Ok(())
}

fn list(store: &ImageStore) -> CliResult {
    let mut records = store
        .list()
        .map_err(|e| CliError::msg(format!("listing images: {e}")))?;
    records.sort_by(|a, b| a.reference.cmp(&b.reference));
    output::print(&table::render(&records));
    Ok(())
}

/// Removes each reference in turn; a failure is reported and the rest still go.
fn remove(store: &ImageStore, references: &[String]) -> CliResult {
    let mut failed = false;
    for reference in references {
        let removed = store
            .get(reference)
            .and_then(|record| store.remove(&record.reference).map(|()| record));
        match removed {
            Ok(record) => output::print_line(&format!("deleted: {}", record.reference)),
            Err(ImageError::NotFound(_)) => {
                failed = true;
                output::eprint_line(&format!("error: image {reference:?} not found"));
            }
            Err(e) => {
                failed = true;
                output::eprint_line(&format!("error: removing image {reference:?}: {e}"));
            }
        }
    }
    if failed {
        Err(CliError::Reported)
    } else {
        Ok(())
    }
}

fn gc(store: &ImageStore) -> CliResult {
    // Sizes are read before the blobs go; gc itself only reports digests.
    let sizes: std::collections::HashMap<_, _> = store
        .blobs()
        .list()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|d| store.blobs().size(&d).ok().map(|s| (d, s)))
        .collect();
    let report = store
        .gc()
        .map_err(|e| CliError::msg(format!("collecting garbage: {e}")))?;
    let freed: u64 = report.blobs.iter().filter_map(|d| sizes.get(d)).sum();
    output::print(&gc_summary(&report, freed));
    Ok(())
}

/// One line per deleted blob and layer, then the totals.
fn gc_summary(report: &GcReport, freed_bytes: u64) -> String {
    let mut out = String::new();
    for d in &report.blobs {
        out.push_str(&format!("deleted blob {d}\n"));
    }
    for d in &report.layers {
        out.push_str(&format!("deleted layer {d}\n"));
    }
    out.push_str(&format!(
        "freed {} blob{} ({}) and {} unpacked layer{}\n",
        report.blobs.len(),
        plural(report.blobs.len()),
        table::human_size(freed_bytes),
        report.layers.len(),
        plural(report.layers.len()),
    ));
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_image::Digest;

    #[test]
    fn gc_summary_lists_each_deletion_then_totals() {
        let blob = Digest::of_bytes(b"blob");
        let layer = Digest::of_bytes(b"layer");
        let report = GcReport {
            blobs: vec![blob.clone()],
            layers: vec![layer.clone(), blob.clone()],
        };
        assert_eq!(
            gc_summary(&report, 2_500),
            format!(
                "deleted blob {blob}\ndeleted layer {layer}\ndeleted layer {blob}\n\
                 freed 1 blob (2.5kB) and 2 unpacked layers\n"
            )
        );
        assert_eq!(
            gc_summary(&GcReport::default(), 0),
            "freed 0 blobs (0B) and 0 unpacked layers\n"
        );
    }
}
