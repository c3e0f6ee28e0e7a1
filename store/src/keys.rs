//! Key-range helpers shared by both stores.

/// The smallest byte string greater than every string starting with `prefix`,
/// or `None` when `prefix` is empty (the range is unbounded).
///
/// Keys are UTF-8, which never contains the byte 0xFF, so incrementing the
/// last byte is always possible for a non-empty prefix.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xFF {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Where a paginated listing of `prefix` starts: at the prefix, or just after
/// `start_after` (the key followed by a NUL byte is the next possible key).
pub(crate) fn range_start(prefix: &str, start_after: Option<&str>) -> Vec<u8> {
    match start_after {
        Some(after) if after >= prefix => {
            let mut start = after.as_bytes().to_vec();
            start.push(0);
            start
        }
        _ => prefix.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte() {
        assert_eq!(prefix_end(b"/a/"), Some(b"/a0".to_vec()));
        assert_eq!(prefix_end(b"a"), Some(b"b".to_vec()));
        assert_eq!(prefix_end(b""), None);
        assert_eq!(prefix_end(&[b'a', 0xFF]), Some(b"b".to_vec()));
    }

    #[test]
    fn range_start_skips_past_start_after() {
        assert_eq!(range_start("/a/", None), b"/a/".to_vec());
        assert_eq!(range_start("/a/", Some("/a/x")), b"/a/x\0".to_vec());
        // A position before the prefix does not widen the range.
        assert_eq!(range_start("/b/", Some("/a/x")), b"/b/".to_vec());
    }
}
