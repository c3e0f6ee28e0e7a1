//! The opaque `continue` token of paginated lists: base64 of
//! `{"v":"meta.k8s.io/v1","rv":R,"start":"<last key>"}`, like Kubernetes'.
//! The next page is read at the same revision `R`, strictly after the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use skiff_api::Status;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContinueToken {
    #[serde(rename = "v")]
    pub version: String,
    /// The revision every page is read at; 0 means "the current one" (the
    /// token a 410 offers to continue inconsistently).
    #[serde(rename = "rv")]
    pub revision: i64,
    /// Storage key of the last item returned.
    #[serde(rename = "start")]
    pub start_after: String,
}

impl ContinueToken {
    pub fn new(revision: i64, start_after: String) -> ContinueToken {
        ContinueToken {
            version: "meta.k8s.io/v1".into(),
            revision,
            start_after,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Decodes a token; it must point inside `prefix` (the listed collection).
    pub fn decode(token: &str, prefix: &str) -> Result<ContinueToken, Status> {
        let invalid = || Status::bad_request("continue key is not valid: not a continue token");
        let raw = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| invalid())?;
        if t.version != "meta.k8s.io/v1" || t.revision < 0 {
            return Err(invalid());
        }
        if !t.start_after.starts_with(prefix) {
            return Err(Status::bad_request(
                "continue key is not valid: the token does not belong to this collection",
            ));
        }
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_scope() {
        let t = ContinueToken::new(42, "/registry/core/pods/default/a".into());
        let s = t.encode();
        assert_eq!(
            ContinueToken::decode(&s, "/registry/core/pods/").unwrap(),
            t
        );
        assert_eq!(
            ContinueToken::decode(&s, "/registry/core/services/")
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(ContinueToken::decode("%%%", "/").unwrap_err().code, 400);
    }
}
