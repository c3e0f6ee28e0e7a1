//! The `pod-template-hash`: a short, stable name for a pod template. The
//! template's canonical JSON (fields in declaration order, maps sorted) is
//! hashed with 32-bit FNV-1a, the collision count (if any) mixed in, and
//! the decimal digits spelled in Kubernetes' "safe" alphabet (lowercase
//! consonants and digits, so no word can appear): at most 10 characters.

use skiff_api::core::PodTemplateSpec;

/// Kubernetes' alphabet for generated names: no vowels, no 0/1/3.
const SAFE_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 0x811c_9dc5;
const FNV_PRIME: u32 = 0x0100_0193;

fn fnv1a(mut hash: u32, bytes: &[u8]) -> u32 {
    for b in bytes {
        hash ^= u32::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Spells each byte of `s` as one letter of the safe alphabet.
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(SAFE_ALPHABET[usize::from(b) % SAFE_ALPHABET.len()]))
        .collect()
}

/// The hash of `template`, different for each `collision_count`.
pub fn pod_template_hash(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serializing a plain data type cannot fail.
    let json = serde_json::to_vec(template).unwrap_or_default();
    let mut hash = fnv1a(FNV_OFFSET, &json);
    if let Some(count) = collision_count {
        hash = fnv1a(hash, &count.to_le_bytes());
    }
    safe_encode(&hash.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use skiff_api::core::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        let mut t = PodTemplateSpec {
            spec: PodSpec {
                containers: vec![Container {
                    name: "web".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        t.metadata.labels.insert("app".into(), "web".into());
        t
    }

    #[test]
    fn fnv_matches_the_reference_vectors() {
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0x811c_9dc5);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xe40c_292c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0xbf9c_f968);
    }

    #[test]
    fn hashes_are_stable_short_and_safe() {
        let a = pod_template_hash(&template("nginx:1.27"), None);
        assert_eq!(a, pod_template_hash(&template("nginx:1.27"), None));
        assert!(!a.is_empty() && a.len() <= 10);
        assert!(a.bytes().all(|b| SAFE_ALPHABET.contains(&b)));
        assert_ne!(a, pod_template_hash(&template("nginx:1.28"), None));
        assert_ne!(a, pod_template_hash(&template("nginx:1.27"), Some(1)));
        assert_eq!(safe_encode("0123456789"), "456789bcdf");
    }
}
