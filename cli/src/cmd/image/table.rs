//! `skiff image ls` as `crictl images` prints it: IMAGE, TAG, IMAGE ID (13 hex characters
//! of the config digest), SIZE (the layers as distributed, in decimal units).

use skiff_image::{ImageRecord, Reference};

use crate::tabwriter::TabWriter;

/// crictl's table writer: min width 20, padding 3.
const MIN_WIDTH: usize = 20;
const PADDING: usize = 3;
const ID_LEN: usize = 13;

pub fn render(records: &[ImageRecord]) -> String {
    let mut w = TabWriter::new(MIN_WIDTH, PADDING);
    w.push("IMAGE\tTAG\tIMAGE ID\tSIZE\n");
    for r in records {
        let (image, tag) = split_reference(&r.reference);
        let id: String = r.config_digest.hex().chars().take(ID_LEN).collect();
        let size: u64 = r.layers.iter().map(|l| l.size).sum();
        w.push(&format!("{image}\t{tag}\t{id}\t{}\n", human_size(size)));
    }
    w.finish()
}

/// Repository and tag of a stored reference; `<none>` for a digest-only one.
fn split_reference(reference: &str) -> (String, String) {
    match Reference::parse(reference) {
        Ok(r) => (r.name(), r.tag().unwrap_or("<none>").to_string()),
        // Records hold normalised references; show an odd one whole rather than hide it.
        Err(_) => (reference.to_string(), "<none>".to_string()),
    }
}

/// go-units' `HumanSizeWithPrecision(size, 3)`, which crictl uses: powers of 1000, three
/// significant digits, trailing zeros dropped (`2.24MB`, `512B`, `1kB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    loop {
        if value < 1000.0 || unit + 1 == UNITS.len() {
            let text = significant(value, 3);
            // 999.7kB rounds up to 1000: say 1MB, as Go's %g would not.
            if text == "1000" && unit + 1 < UNITS.len() {
                value /= 1000.0;
                unit += 1;
                continue;
            }
            return format!("{text}{}", UNITS[unit]);
        }
        value /= 1000.0;
        unit += 1;
    }
}

/// `value` (below 1000) with `digits` significant digits and no trailing zeros.
fn significant(value: f64, digits: usize) -> String {
    let integer_digits = if value < 1.0 {
        1
    } else {
        value.log10().floor() as usize + 1
    };
    let decimals = digits.saturating_sub(integer_digits);
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_image::{Digest, LayerRecord};

    #[test]
    fn sizes_read_like_crictl() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1024), "1.02kB");
        assert_eq!(human_size(2_240_000), "2.24MB");
        assert_eq!(human_size(2_245_678), "2.25MB");
        assert_eq!(human_size(71_500_000), "71.5MB");
        assert_eq!(human_size(999_700), "1MB");
        assert_eq!(human_size(123_456_789_012), "123GB");
    }

    fn record(reference: &str, sizes: &[u64]) -> ImageRecord {
        ImageRecord {
            reference: reference.to_string(),
            manifest_digest: Digest::of_bytes(b"manifest"),
            index_digest: None,
            config_digest: Digest::of_bytes(reference.as_bytes()),
            layers: sizes
                .iter()
                .map(|&size| LayerRecord {
                    digest: Digest::of_bytes(&size.to_le_bytes()),
                    size,
                    diff_id: Digest::of_bytes(&size.to_be_bytes()),
                })
                .collect(),
            config: Default::default(),
        }
    }

    #[test]
    fn table_has_crictl_columns() {
        let busybox = record("docker.io/library/busybox:latest", &[1_000_000, 240_000]);
        let pinned = record(
            &format!("registry.local:5000/app@{}", Digest::of_bytes(b"app")),
            &[],
        );
        let id = |r: &ImageRecord| r.config_digest.hex()[..13].to_string();
        assert_eq!(
            render(&[busybox.clone(), pinned.clone()]),
            format!(
                "IMAGE                       TAG                 IMAGE ID            SIZE\n\
                 docker.io/library/busybox   latest              {}       1.24MB\n\
                 registry.local:5000/app     <none>              {}       0B\n",
                id(&busybox),
                id(&pinned)
            )
        );
    }
}
