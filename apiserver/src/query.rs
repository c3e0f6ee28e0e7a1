//! Query parameters: a small `application/x-www-form-urlencoded` parser (a
//! key may repeat, as `command=` does for exec) and the typed options of each
//! verb.

use skiff_api::{FieldValidation, Status};

/// The decoded query string, in order, keys possibly repeated.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();
        Query { pairs }
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean parameter: `true`/`1` are true; absent is false.
    pub fn flag(&self, key: &str) -> Result<bool, Status> {
        match self.get(key) {
            None | Some("") | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => Err(Status::bad_request(format!(
                "invalid value for {key}: {other:?} (want true or false)"
            ))),
        }
    }

    /// An integer parameter.
    pub fn int(&self, key: &str) -> Result<Option<i64>, Status> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(Some)
                .map_err(|_| Status::bad_request(format!("invalid value for {key}: {v:?}"))),
        }
    }

    /// `fieldValidation`; absent means Warn, kube-apiserver's default (kubectl
    /// always sends it).
    pub fn field_validation(&self) -> Result<FieldValidation, Status> {
        match self.get("fieldValidation") {
            None => Ok(FieldValidation::Warn),
            Some(v) => FieldValidation::parse(v),
        }
    }

    /// `dryRun=All` (the only value Kubernetes accepts).
    pub fn dry_run(&self) -> Result<bool, Status> {
        let values = self.all("dryRun");
        for v in &values {
            if *v != "All" {
                return Err(Status::bad_request(format!(
                    "Invalid dryRun value {v:?}: supported values are \"All\""
                )));
            }
        }
        Ok(!values.is_empty())
    }
}

/// Percent-decoding with `+` as space; invalid escapes are kept literally.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Options common to writes (POST, PUT, PATCH).
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    pub validation: FieldValidation,
    pub dry_run: bool,
}

impl WriteOptions {
    pub fn from_query(q: &Query) -> Result<WriteOptions, Status> {
        Ok(WriteOptions {
            validation: q.field_validation()?,
            dry_run: q.dry_run()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_repeated_and_encoded_values() {
        let q = Query::parse(Some(
            "command=ls&command=%2F&fieldSelector=metadata.name%3Dx&labelSelector=a+in+(b)&watch",
        ));
        assert_eq!(q.all("command"), vec!["ls", "/"]);
        assert_eq!(q.get("fieldSelector"), Some("metadata.name=x"));
        assert_eq!(q.get("labelSelector"), Some("a in (b)"));
        assert_eq!(q.get("watch"), Some(""));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn flags_and_ints() {
        let q = Query::parse(Some("watch=1&a=true&b=false&limit=5&bad=x&dryRun=All"));
        assert!(q.flag("watch").unwrap());
        assert!(q.flag("a").unwrap());
        assert!(!q.flag("b").unwrap());
        assert!(!q.flag("nope").unwrap());
        assert!(q.flag("bad").is_err());
        assert_eq!(q.int("limit").unwrap(), Some(5));
        assert!(q.int("bad").is_err());
        assert!(q.dry_run().unwrap());
        assert!(Query::parse(Some("dryRun=Some")).dry_run().is_err());
    }

    #[test]
    fn bad_escapes_survive() {
        assert_eq!(decode("100%"), "100%");
        assert_eq!(decode("%zz"), "%zz");
        assert_eq!(decode("%41"), "A");
    }
}
