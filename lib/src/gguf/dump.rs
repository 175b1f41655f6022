//! The description of a GGUF file that `gguf-dump` reports and records: header,
//! metadata, tensor table, type histogram and warnings, as JSON.

use super::reader::{Gguf, Value, ValueType};
use crate::fsutil::sha256_hex;
use serde_json::{json, Map, Value as J};
use std::collections::BTreeMap;

/// Arrays longer than this are summarized (length, first elements, sha256 of
/// their bytes) unless the caller asks for everything.
pub const ARRAY_INLINE_MAX: u64 = 1024;
/// Elements shown of a summarized array.
pub const ARRAY_HEAD: usize = 16;

fn float(x: f64) -> J {
    if x.is_finite() {
        json!(x)
    } else if x.is_nan() {
        json!("nan")
    } else if x > 0.0 {
        json!("inf")
    } else {
        json!("-inf")
    }
}

/// One value as JSON. Floats that are not finite become the strings "nan",
/// "inf", "-inf" (JSON has no such numbers); strings that are not UTF-8 are
/// shown lossily (the reader also warns about them).
pub fn value_json(v: &Value) -> J {
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F32(x) => float(*x as f64),
        Value::F64(x) => float(*x),
        Value::Bool(x) => json!(x),
        Value::Str(s) => json!(s.to_string_lossy()),
        Value::Array(a) => J::Array(a.iter().map(|e| value_json(&e)).collect()),
    }
}

fn kv_json(key: &str, v: &Value, full: bool) -> J {
    let mut e = Map::new();
    e.insert("key".into(), json!(key));
    e.insert("type".into(), json!(v.value_type().name()));
    match v {
        Value::Array(a) => {
            e.insert("elem".into(), json!(a.elem.name()));
            e.insert("len".into(), json!(a.len));
            if full || a.len <= ARRAY_INLINE_MAX {
                e.insert("value".into(), value_json(v));
            } else {
                e.insert(
                    "head".into(),
                    J::Array(a.iter().take(ARRAY_HEAD).map(|x| value_json(&x)).collect()),
                );
                e.insert("sha256".into(), json!(sha256_hex(a.raw())));
            }
        }
        _ => {
            e.insert("value".into(), value_json(v));
        }
    }
    J::Object(e)
}

/// The `results` block of a gguf-dump receipt.
pub fn describe(g: &Gguf, full_arrays: bool) -> J {
    let metadata: Vec<J> = g
        .kvs()
        .iter()
        .map(|kv| kv_json(kv.key, &kv.value, full_arrays))
        .collect();
    let mut hist: BTreeMap<&str, (u64, u64, u64)> = BTreeMap::new();
    let tensors: Vec<J> = g
        .tensors()
        .iter()
        .map(|t| {
            let h = hist.entry(t.ty.name()).or_default();
            h.0 += 1;
            h.1 += t.n_elements();
            h.2 += t.size;
            json!({"name": t.name, "type": t.ty.name(), "shape": t.shape(), "offset": t.offset, "bytes": t.size})
        })
        .collect();
    let histogram: Map<String, J> = hist
        .into_iter()
        .map(|(k, (n, e, b))| {
            (
                k.to_string(),
                json!({"tensors": n, "elements": e, "bytes": b}),
            )
        })
        .collect();
    let parameters: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let tensor_bytes: u64 = g.tensors().iter().map(|t| t.size).sum();
    json!({
        "version": g.version,
        "alignment": g.alignment,
        "data_offset": g.data_offset,
        "architecture": g.get_str("general.architecture").ok(),
        "counts": {
            "metadata": g.kvs().len(),
            "tensors": g.tensors().len(),
            "parameters": parameters,
            "tensor_bytes": tensor_bytes,
        },
        "type_histogram": histogram,
        "metadata": metadata,
        "tensors": tensors,
        "warnings": g.warnings().iter().map(|w| json!({"offset": w.offset, "message": w.message})).collect::<Vec<_>>(),
    })
}

/// Short text for a value: strings quoted, arrays as `[type; len] first, …`.
pub fn value_text(v: &Value, max_items: usize) -> String {
    match v {
        Value::Str(s) => format!("{:?}", crate::findings::clip(&s.to_string_lossy(), 120)),
        Value::Array(a) => {
            let items: Vec<String> = a
                .iter()
                .take(max_items)
                .map(|e| value_text(&e, max_items))
                .collect();
            let more = if a.len > max_items as u64 {
                format!(", … {} more", a.len - max_items as u64)
            } else {
                String::new()
            };
            format!(
                "[{}; {}] {}{}",
                a.elem.name(),
                a.len,
                items.join(", "),
                more
            )
        }
        other => value_json(other).to_string(),
    }
}

/// The value type names this format uses, for the schema and docs.
pub fn type_names() -> Vec<&'static str> {
    (0..=12)
        .filter_map(ValueType::from_id)
        .map(ValueType::name)
        .collect()
}

/// A NumPy `.npy` (format 1.0) file of little-endian f32 values with the given
/// shape in NumPy order (ggml's `ne` reversed), as gguf-py presents tensors.
pub fn npy_f32(shape_numpy: &[u64], values: &[f32]) -> Vec<u8> {
    let dims: Vec<String> = shape_numpy.iter().map(u64::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // magic(6) + version(2) + len(2) + header + '\n' is a multiple of 64.
    let total = (10 + header.len() + 1).div_ceil(64) * 64;
    header.push_str(&" ".repeat(total - 10 - header.len() - 1));
    header.push('\n');
    let mut out = Vec::with_capacity(total + values.len() * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    out
}

/// `parci.gguf-dump` gate: the counts, the histogram and the tables agree, and
/// the verdict matches the warnings and `--strict`.
pub fn gate_consistent(doc: &J, out: &mut crate::findings::Findings) {
    let r = &doc["results"];
    let count = |k: &str| r["counts"][k].as_u64().unwrap_or(u64::MAX);
    let tensors = r["tensors"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let metadata_len = r["metadata"].as_array().map_or(0, Vec::len) as u64;
    if count("metadata") != metadata_len {
        out.error(
            "/results/counts/metadata",
            format!(
                "counts.metadata = {} but {metadata_len} metadata entries are listed",
                count("metadata")
            ),
        );
    }
    if count("tensors") != tensors.len() as u64 {
        out.error(
            "/results/counts/tensors",
            format!(
                "counts.tensors = {} but {} tensors are listed",
                count("tensors"),
                tensors.len()
            ),
        );
    }
    let elements: u64 = tensors
        .iter()
        .map(|t| {
            t["shape"]
                .as_array()
                .map_or(0, |s| s.iter().map(|d| d.as_u64().unwrap_or(0)).product())
        })
        .sum();
    if elements != count("parameters") {
        out.error(
            "/results/counts/parameters",
            format!(
                "counts.parameters = {} but the tensor shapes hold {elements} elements",
                count("parameters")
            ),
        );
    }
    let bytes: u64 = tensors
        .iter()
        .map(|t| t["bytes"].as_u64().unwrap_or(0))
        .sum();
    if bytes != count("tensor_bytes") {
        out.error(
            "/results/counts/tensor_bytes",
            format!(
                "counts.tensor_bytes = {} but the tensors listed hold {bytes} bytes",
                count("tensor_bytes")
            ),
        );
    }
    if let Some(h) = r["type_histogram"].as_object() {
        for (ty, e) in h {
            let listed: Vec<&J> = tensors
                .iter()
                .filter(|t| t["type"] == ty.as_str())
                .collect();
            let b: u64 = listed
                .iter()
                .map(|t| t["bytes"].as_u64().unwrap_or(0))
                .sum();
            if e["tensors"].as_u64() != Some(listed.len() as u64) || e["bytes"].as_u64() != Some(b)
            {
                out.error(
                    format!(
                        "/results/type_histogram/{}",
                        crate::jsonpos::escape_token(ty)
                    ),
                    format!(
                        "histogram says {} {ty} tensors of {} bytes; the table lists {} of {b}",
                        e["tensors"],
                        e["bytes"],
                        listed.len()
                    ),
                );
            }
        }
        let types: std::collections::BTreeSet<&str> =
            tensors.iter().filter_map(|t| t["type"].as_str()).collect();
        if types.len() != h.len() {
            out.error(
                "/results/type_histogram",
                "histogram and tensor table name different types",
            );
        }
    }
    let warnings = r["warnings"].as_array().map_or(0, Vec::len);
    let strict = doc["inputs"]["strict"].as_bool().unwrap_or(false);
    let want = match (warnings, strict) {
        (0, _) => "pass",
        (_, true) => "fail",
        (_, false) => "warn",
    };
    if doc["verdict"]["status"] != want {
        out.error("/verdict/status", format!("verdict is {} but with {warnings} warnings and strict = {strict} it must be {want:?}", doc["verdict"]["status"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::{GgmlType, OwnedValue, Writer};

    #[test]
    fn long_arrays_are_summarized_unless_full() {
        let mut w = Writer::new();
        w.kv(
            "a",
            OwnedValue::Array(ValueType::U32, (0..2000).map(OwnedValue::U32).collect()),
        )
        .unwrap();
        w.kv("f", OwnedValue::F32(f32::NAN)).unwrap();
        w.tensor("t", GgmlType::F32, &[4], vec![0; 16]).unwrap();
        let bytes = w.to_bytes();
        let g = Gguf::parse(&bytes).unwrap();
        let d = describe(&g, false);
        assert_eq!(d["metadata"][0]["len"], 2000);
        assert_eq!(
            d["metadata"][0]["head"].as_array().unwrap().len(),
            ARRAY_HEAD
        );
        assert!(d["metadata"][0]["value"].is_null());
        assert_eq!(d["metadata"][1]["value"], "nan");
        assert_eq!(
            describe(&g, true)["metadata"][0]["value"]
                .as_array()
                .unwrap()
                .len(),
            2000
        );
        assert_eq!(
            d["type_histogram"]["F32"],
            json!({"tensors": 1, "elements": 4, "bytes": 16})
        );
        assert_eq!(type_names().len(), 13);
        assert_eq!(
            value_text(&g.kvs()[0].value, 3),
            "[uint32; 2000] 0, 1, 2, … 1997 more"
        );
    }
}
