//! Canonical JSON: object keys sorted by their UTF-8 bytes, two-space indent, LF
//! line ends, a final newline, finite numbers only. The same value always gives
//! the same bytes, which is what makes a receipt digest reproducible.
//!
//! Parsing goes the other way and is strict: duplicate object keys, trailing
//! bytes and nesting deeper than [`MAX_DEPTH`] are errors, never silently
//! resolved.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Serialize, Serializer};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Deepest nesting a strict parse accepts (serde_json's own recursion guard).
pub const MAX_DEPTH: usize = 128;

/// Renders a value in canonical form.
pub fn to_string(value: &Value) -> String {
    let mut out = String::new();
    write_value(value, 0, &mut out);
    out.push('\n');
    out
}

fn indent(level: usize, out: &mut String) {
    for _ in 0..level {
        out.push_str("  ");
    }
}

fn write_str(s: &str, out: &mut String) {
    // serde_json's escaping of a string never fails.
    out.push_str(&serde_json::to_string(s).expect("string serialization is infallible"));
}

fn write_value(value: &Value, level: usize, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) if items.is_empty() => out.push_str("[]"),
        Value::Array(items) => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                indent(level + 1, out);
                write_value(item, level + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            indent(level, out);
            out.push(']');
        }
        Value::Object(map) if map.is_empty() => out.push_str("{}"),
        Value::Object(map) => {
            // Sort explicitly: the map's own order depends on serde_json features.
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push_str("{\n");
            for (i, (k, v)) in entries.iter().enumerate() {
                indent(level + 1, out);
                write_str(k, out);
                out.push_str(": ");
                write_value(v, level + 1, out);
                out.push_str(if i + 1 < entries.len() { ",\n" } else { "\n" });
            }
            indent(level, out);
            out.push('}');
        }
    }
}

/// A float that refuses to serialize unless finite, so that a NaN or an
/// infinity in a receipt is an error instead of a silent `null`.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Finite(pub f64);

impl Serialize for Finite {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            Err(serde::ser::Error::custom(format!(
                "non-finite number {} cannot be written to a receipt",
                self.0
            )))
        }
    }
}

/// Converts a float to a JSON number, refusing NaN and infinities.
pub fn finite(x: f64) -> Result<Value, NonFinite> {
    Number::from_f64(x).map(Value::Number).ok_or(NonFinite(x))
}

#[derive(Debug, thiserror::Error)]
#[error("non-finite number {0} cannot be written to a receipt")]
pub struct NonFinite(pub f64);

/// Parses JSON strictly: duplicate keys, trailing data, nesting beyond
/// [`MAX_DEPTH`] and numbers out of the f64 range are errors. The error text
/// carries serde_json's `line L column C`.
pub fn parse_strict(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = StrictValue.deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        finite(v).map_err(|e| E::custom(e.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let v = access.next_value_seed(StrictValue)?;
            map.insert(key, v);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_sorted_two_space_indent_final_newline() {
        let v = json!({"b": [1, {"z": null, "a": true}], "a": "x\ny", "c": {}, "d": []});
        let s = to_string(&v);
        assert_eq!(
            s,
            "{\n  \"a\": \"x\\ny\",\n  \"b\": [\n    1,\n    {\n      \"a\": true,\n      \"z\": null\n    }\n  ],\n  \"c\": {},\n  \"d\": []\n}\n"
        );
        // Agrees with serde_json's pretty printer on sorted input.
        assert_eq!(s.trim_end(), serde_json::to_string_pretty(&v).unwrap());
    }

    #[test]
    fn round_trip_is_a_fixed_point() {
        let v =
            json!({"f": 0.1, "g": 1e-300, "h": 12345678901234567890u64, "i": -3, "u": "é\u{1}"});
        let s = to_string(&v);
        let back = parse_strict(s.as_bytes()).unwrap();
        assert_eq!(to_string(&back), s);
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        assert!(finite(f64::NAN).is_err());
        assert!(finite(f64::INFINITY).is_err());
        assert!(serde_json::to_value(Finite(f64::NEG_INFINITY)).is_err());
        assert_eq!(serde_json::to_value(Finite(1.5)).unwrap(), json!(1.5));
    }

    #[test]
    fn strict_parse_rejects_duplicates_trailing_depth_and_range() {
        let e = parse_strict(br#"{"a": 1, "a": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("duplicate key \"a\""), "{e}");
        assert!(e.contains("line 1"), "{e}");
        assert!(parse_strict(b"{} x").is_err());
        assert!(parse_strict(b"1e999").is_err());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(parse_strict(deep.as_bytes()).is_err());
        let ok = "[".repeat(MAX_DEPTH - 1) + &"]".repeat(MAX_DEPTH - 1);
        assert!(parse_strict(ok.as_bytes()).is_ok());
        assert!(parse_strict(b"\"\xff\"").is_err());
        assert!(parse_strict(b"").is_err());
    }
}
