//! Tokens: how they are made, hashed and compared (in constant time), and
//! the join token's text form `K10<sha256 of the CA PEM>::<secret>` (as
//! k3s and kubeadm pin the CA: one string both authenticates the agent and
//! lets it verify the server).

use rand::Rng;
use sha2::{Digest, Sha256};

/// A fresh secret: 32 random bytes, hex.
pub fn random_secret() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    crate::tls::certs::hex(&bytes)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Equal without an early exit, so timing tells nothing about the secret.
pub fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// `K10<ca hash>::<secret>`.
pub fn join_token(ca_hash: &str, secret: &str) -> String {
    format!("K10{ca_hash}::{secret}")
}

/// The secret of a join token (the whole string when it is a bare secret).
pub fn join_secret(token: &str) -> &str {
    match token.strip_prefix("K10").and_then(|t| t.split_once("::")) {
        Some((_, secret)) => secret,
        None => token,
    }
}

/// A node's own credential: `node:<name>:<secret>` (names never hold `:`).
pub fn node_token(name: &str, secret: &str) -> String {
    format!("node:{name}:{secret}")
}

/// The node a node token claims to be, if it has the node form.
pub fn node_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("node:")?;
    let (name, secret) = rest.rsplit_once(':')?;
    (!name.is_empty() && !secret.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let t = join_token("abc", "s3");
        assert_eq!(t, "K10abc::s3");
        assert_eq!(join_secret(&t), "s3");
        assert_eq!(join_secret("plain"), "plain");
        assert_eq!(node_of(&node_token("n1", "x")), Some("n1"));
        assert_eq!(node_of("node::x"), None);
        assert_eq!(node_of("admin"), None);
        assert_eq!(random_secret().len(), 64);
        assert_ne!(random_secret(), random_secret());
    }

    #[test]
    fn comparison() {
        assert!(constant_time_eq(&hash("a"), &hash("a")));
        assert!(!constant_time_eq(&hash("a"), &hash("b")));
    }
}
