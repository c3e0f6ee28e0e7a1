//! OCI whiteout names and their overlayfs form.
//!
//! `dir/.wh.NAME` becomes a 0:0 character device at `dir/NAME`; `dir/.wh..wh..opq` becomes the
//! xattr `trusted.overlay.opaque=y` on `dir`.

use crate::error::{Error, Result};

pub const PREFIX: &[u8] = b".wh.";
pub const OPAQUE: &[u8] = b".wh..wh..opq";
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Debug, PartialEq, Eq)]
pub enum Whiteout<'a> {
    /// Not a whiteout: an ordinary entry.
    None,
    /// Hide everything lower layers have in the entry's directory.
    Opaque,
    /// Hide `name` of lower layers.
    Remove(&'a [u8]),
}

/// Classifies an entry's file name; malformed whiteouts (`.wh.`, `.wh..`, `.wh..wh.x`) fail.
pub fn classify(name: &[u8]) -> Result<Whiteout<'_>> {
    if name == OPAQUE {
        return Ok(Whiteout::Opaque);
    }
    let Some(target) = name.strip_prefix(PREFIX) else {
        return Ok(Whiteout::None);
    };
    let bad = |why: &str| {
        Err(Error::unsafe_entry(
            String::from_utf8_lossy(name).into_owned(),
            why,
        ))
    };
    match target {
        b"" => bad("whiteout of nothing"),
        b"." | b".." => bad("whiteout of '.' or '..'"),
        t if t.starts_with(PREFIX) => bad("unknown whiteout meta-file"),
        t => Ok(Whiteout::Remove(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify(b"file").unwrap(), Whiteout::None);
        assert_eq!(classify(b".whx").unwrap(), Whiteout::None);
        assert_eq!(classify(b".wh..wh..opq").unwrap(), Whiteout::Opaque);
        assert_eq!(classify(b".wh.foo").unwrap(), Whiteout::Remove(b"foo"));
        assert_eq!(
            classify(b".wh..hidden").unwrap(),
            Whiteout::Remove(b".hidden")
        );
        for bad in [&b".wh."[..], b".wh..", b".wh...", b".wh..wh.plnk"] {
            assert!(classify(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
