//! The kubelet's query strings: repeated keys (`command=ls&command=/`),
//! percent-encoding, and the typed values logs and exec take.

use skiff_api::Status;

/// A decoded query string, keys in order, repeats kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect();
        Query { pairs }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `true`/`1` or `false`/`0`; absent or empty is false.
    pub fn flag(&self, key: &str) -> Result<bool, Status> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
            Some(v) => Err(Status::bad_request(format!(
                "invalid value {v:?} for {key}: want true or false"
            ))),
        }
    }

    /// A non-negative integer, if given.
    pub fn count(&self, key: &str) -> Result<Option<u64>, Status> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| {
                Status::bad_request(format!(
                    "invalid value {v:?} for {key}: want a non-negative integer"
                ))
            }),
        }
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; malformed escapes stay as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
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
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_encoded_values() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=exit+3&command=%2Fbin%2Fls&stdin=true&tty=",
        ));
        assert_eq!(q.all("command"), ["sh", "-c", "exit 3", "/bin/ls"]);
        assert!(q.flag("stdin").unwrap());
        assert!(!q.flag("tty").unwrap());
        assert!(!q.flag("stdout").unwrap());
        assert!(q.count("tailLines").unwrap().is_none());
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let q = Query::parse(Some("follow=maybe&tailLines=-1&x=%zz%4"));
        assert!(q.flag("follow").unwrap_err().message.contains("follow"));
        assert!(
            q.count("tailLines")
                .unwrap_err()
                .message
                .contains("tailLines")
        );
        assert_eq!(q.get("x"), Some("%zz%4"));
    }
}
