//! Resource quantities: `500m`, `0.5`, `128Mi`, `1e3`. Kept as written (so
//! objects round-trip as sent) and parsed on demand to exact values.

use std::borrow::Cow;
use std::cmp::Ordering;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The message Kubernetes gives for a quantity it cannot parse.
pub const QUANTITY_FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// A quantity as written in a manifest. YAML `cpu: 1` arrives as a number
/// and is kept as the string `"1"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Quantity(pub String);

/// An exact value: `mantissa * 10^exp10`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParsedQuantity {
    mantissa: i128,
    exp10: i32,
}

impl Quantity {
    pub fn new(s: impl Into<String>) -> Quantity {
        Quantity(s.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses this quantity; the error is Kubernetes' wording.
    pub fn parsed(&self) -> Result<ParsedQuantity, String> {
        Quantity::parse(&self.0)
    }

    /// Parses `s`: an optional sign, a decimal number, then one suffix:
    /// decimal SI (`n u m k M G T P E`), binary SI (`Ki Mi Gi Ti Pi Ei`) or
    /// an exponent (`e3`, `E-2`).
    pub fn parse(s: &str) -> Result<ParsedQuantity, String> {
        parse(s).ok_or_else(|| QUANTITY_FORMAT_ERROR.to_string())
    }

    /// CPU-style: `500m`, or whole cores `2` when divisible.
    pub fn from_milli(milli: i64) -> Quantity {
        if milli % 1000 == 0 {
            Quantity(format!("{}", milli / 1000))
        } else {
            Quantity(format!("{milli}m"))
        }
    }

    /// Memory-style: the largest binary suffix that divides `bytes` exactly.
    pub fn from_bytes(bytes: i64) -> Quantity {
        const SUFFIXES: [(&str, i64); 6] = [
            ("Ei", 1 << 60),
            ("Pi", 1 << 50),
            ("Ti", 1 << 40),
            ("Gi", 1 << 30),
            ("Mi", 1 << 20),
            ("Ki", 1 << 10),
        ];
        if bytes != 0 {
            for (suffix, unit) in SUFFIXES {
                if bytes % unit == 0 {
                    return Quantity(format!("{}{suffix}", bytes / unit));
                }
            }
        }
        Quantity(bytes.to_string())
    }

    /// A plain count (`pods: 110`).
    pub fn from_int(n: i64) -> Quantity {
        Quantity(n.to_string())
    }
}

impl std::fmt::Display for Quantity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Quantity {
        Quantity(s.to_string())
    }
}

fn parse(s: &str) -> Option<ParsedQuantity> {
    let (negative, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let num_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(num_len);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) if !f.contains('.') => (i, f),
        Some(_) => return None,
        None => (number, ""),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let mut mantissa: i128 = 0;
    let mut exp10: i32 = -(frac_part.len() as i32);
    for d in int_part.bytes().chain(frac_part.bytes()) {
        match mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(d - b'0')))
        {
            Some(m) => mantissa = m,
            // More digits than i128 holds: drop the least significant ones.
            None => exp10 += 1,
        }
    }
    let (multiplier, suffix_exp) = suffix_scale(suffix)?;
    exp10 = exp10.checked_add(suffix_exp)?;
    let mantissa = mantissa.saturating_mul(multiplier);
    let mantissa = if negative { -mantissa } else { mantissa };
    Some(ParsedQuantity { mantissa, exp10 }.normalized())
}

/// `(binary multiplier, decimal exponent)` of a suffix.
fn suffix_scale(suffix: &str) -> Option<(i128, i32)> {
    let decimal = |e: i32| Some((1, e));
    let binary = |p: u32| Some((1i128 << (10 * p), 0));
    match suffix {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        _ => {
            let digits = suffix.strip_prefix(['e', 'E'])?;
            let unsigned = digits.strip_prefix(['+', '-']).unwrap_or(digits);
            if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            decimal(digits.parse().ok()?)
        }
    }
}

fn pow10(e: u32) -> Option<i128> {
    10i128.checked_pow(e)
}

impl ParsedQuantity {
    /// Strips trailing decimal zeros so equal values compare equal.
    fn normalized(mut self) -> ParsedQuantity {
        if self.mantissa == 0 {
            self.exp10 = 0;
        }
        while self.mantissa != 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exp10 += 1;
        }
        self
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    /// `value * 10^scale`, rounded up (away from zero for positive values,
    /// towards it for negative ones, as Kubernetes does), saturating at i64.
    fn scaled_ceil(&self, scale: i32) -> i64 {
        let e = self.exp10 + scale;
        let v: i128 = if e >= 0 {
            match pow10(e as u32) {
                Some(p) => self.mantissa.saturating_mul(p),
                None if self.mantissa > 0 => i128::MAX,
                None if self.mantissa < 0 => i128::MIN,
                None => 0,
            }
        } else {
            match pow10((-e) as u32) {
                Some(p) => {
                    let q = self.mantissa / p;
                    if self.mantissa % p > 0 { q + 1 } else { q }
                }
                None if self.mantissa > 0 => 1,
                None => 0,
            }
        };
        v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }

    /// Thousandths, rounded up: the unit of CPU (`0.5` -> 500).
    pub fn as_milli(&self) -> i64 {
        self.scaled_ceil(3)
    }

    /// The whole value, rounded up (`1.5` -> 2, `128Mi` -> 134217728).
    pub fn value(&self) -> i64 {
        self.scaled_ceil(0)
    }

    /// The whole value in bytes, rounded up: the unit of memory.
    pub fn as_bytes(&self) -> i64 {
        self.value()
    }

    /// Approximate value, for ratios and display.
    pub fn as_f64(&self) -> f64 {
        self.mantissa as f64 * 10f64.powi(self.exp10)
    }
}

impl PartialOrd for ParsedQuantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ParsedQuantity {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |m: i128| m.signum();
        match sign(self.mantissa).cmp(&sign(other.mantissa)) {
            Ordering::Equal => {}
            o => return o,
        }
        // Same sign: bring both to the smaller exponent; if that overflows,
        // the scaled one is the larger in magnitude.
        let (lo, hi, flipped) = if self.exp10 <= other.exp10 {
            (self, other, false)
        } else {
            (other, self, true)
        };
        let diff = (hi.exp10 - lo.exp10) as u32;
        let ord = match pow10(diff).and_then(|p| hi.mantissa.checked_mul(p)) {
            Some(hi_scaled) => lo.mantissa.cmp(&hi_scaled),
            None if hi.mantissa > 0 => Ordering::Less,
            None => Ordering::Greater,
        };
        if flipped { ord.reverse() } else { ord }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Quantity, D::Error> {
        struct QuantityVisitor;
        impl Visitor<'_> for QuantityVisitor {
            type Value = Quantity;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a quantity (string or number)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Quantity, E> {
                Ok(Quantity(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Quantity, E> {
                Ok(Quantity(v.to_string()))
            }
        }
        d.deserialize_any(QuantityVisitor)
    }
}

impl JsonSchema for Quantity {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> Cow<'static, str> {
        "Quantity".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "x-kubernetes-int-or-string": true
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> ParsedQuantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn cpu_values() {
        assert_eq!(q("500m").as_milli(), 500);
        assert_eq!(q("0.5").as_milli(), 500);
        assert_eq!(q("1").as_milli(), 1000);
        assert_eq!(q("1.5").as_milli(), 1500);
        assert_eq!(q("2.0005").as_milli(), 2001); // rounded up
        assert_eq!(q("250000u").as_milli(), 250);
        assert_eq!(q("1n").as_milli(), 1);
        assert_eq!(q("+3").as_milli(), 3000);
        assert_eq!(q(".5").as_milli(), 500);
        assert_eq!(q("5.").as_milli(), 5000);
    }

    #[test]
    fn memory_values() {
        assert_eq!(q("128Mi").as_bytes(), 128 * 1024 * 1024);
        assert_eq!(q("1Gi").as_bytes(), 1 << 30);
        assert_eq!(q("1.5Gi").as_bytes(), 3 << 29);
        assert_eq!(q("1e3").value(), 1000);
        assert_eq!(q("1E3").value(), 1000);
        assert_eq!(q("5e-1").as_milli(), 500);
        assert_eq!(q("1k").value(), 1000);
        assert_eq!(q("1M").value(), 1_000_000);
        assert_eq!(q("1E").value(), 1_000_000_000_000_000_000);
        assert_eq!(q("1.5").value(), 2);
        assert_eq!(q("100m").value(), 1);
        assert_eq!(q("-1.5").value(), -1);
        assert_eq!(q("-1").as_milli(), -1000);
        assert!(q("-1").is_negative());
        assert!(q("0Mi").is_zero());
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(q("1e100").value(), i64::MAX);
        assert_eq!(q("9Ei").value(), i64::MAX);
        assert_eq!(q("1e-100").value(), 1);
        assert_eq!(
            q("123456789012345678901234567890123456789012345").value(),
            i64::MAX
        );
    }

    #[test]
    fn invalid_quantities() {
        for bad in [
            "12x", "--1", "", "-", ".", "1.2.3", "1e", "1Ki3", "1KiB", "1K", "1 m", "m", "1e+",
        ] {
            assert_eq!(
                Quantity::parse(bad),
                Err(QUANTITY_FORMAT_ERROR.to_string()),
                "{bad}"
            );
        }
    }

    #[test]
    fn ordering() {
        assert!(q("500m") < q("1"));
        assert_eq!(q("1000m").cmp(&q("1")), Ordering::Equal);
        assert_eq!(q("1Ki"), q("1024"));
        assert!(q("1Gi") > q("1G"));
        assert!(q("-2") < q("-1"));
        assert!(q("1e100") > q("1Ei"));
        assert!(q("0") < q("1n"));
    }

    #[test]
    fn serde_accepts_numbers_and_strings() {
        let v: Vec<Quantity> = serde_json::from_str(r#"["500m", 1, 0.5, 2.0]"#).unwrap();
        assert_eq!(
            v,
            vec!["500m".into(), "1".into(), "0.5".into(), Quantity::from("2")]
        );
        assert_eq!(
            serde_json::to_string(&Quantity::from("1")).unwrap(),
            "\"1\""
        );
        let y: Quantity = serde_saphyr::from_str("1").unwrap();
        assert_eq!(y, "1".into());
    }

    #[test]
    fn constructors() {
        assert_eq!(Quantity::from_milli(500).0, "500m");
        assert_eq!(Quantity::from_milli(2000).0, "2");
        assert_eq!(Quantity::from_bytes(1 << 30).0, "1Gi");
        assert_eq!(Quantity::from_bytes(3072).0, "3Ki");
        assert_eq!(Quantity::from_bytes(1536).0, "1536");
        assert_eq!(Quantity::from_bytes(1000).0, "1000");
        assert_eq!(Quantity::from_bytes(0).0, "0");
        assert_eq!(Quantity::from_int(110).0, "110");
    }
}
