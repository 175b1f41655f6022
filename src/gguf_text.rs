//! gguf-dump's text output: header, metadata, tensor table, type histogram, warnings.

use parci_core::gguf::dump::value_text;
use parci_core::gguf::Gguf;
use std::fmt::Write;

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2} G", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2} M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// The header line and, unless `tensors_only`, metadata, histogram and warnings.
pub fn render(path: &str, g: &Gguf, tensors_only: bool) -> String {
    let mut s = String::new();
    let params: u64 = g.tensors().iter().map(|t| t.n_elements()).sum();
    let bytes: u64 = g.tensors().iter().map(|t| t.size).sum();
    if !tensors_only {
        let _ = writeln!(
            s,
            "{path}: GGUF v{}, {} metadata, {} tensors, {} parameters, {}B tensor data, alignment {}",
            g.version,
            g.kvs().len(),
            g.tensors().len(),
            human(params),
            human(bytes),
            g.alignment
        );
        let key_w = g
            .kvs()
            .iter()
            .map(|kv| kv.key.len())
            .max()
            .unwrap_or(0)
            .min(48);
        let _ = writeln!(s, "\nmetadata");
        for kv in g.kvs() {
            let _ = writeln!(
                s,
                "  {:key_w$}  {:7}  {}",
                kv.key,
                kv.value.value_type().name(),
                value_text(&kv.value, 8)
            );
        }
        let _ = writeln!(s, "\ntensors");
    }
    let name_w = g
        .tensors()
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        s,
        "  {:name_w$}  {:7}  {:>22}  {:>12}  {:>12}",
        "name", "type", "shape", "offset", "bytes"
    );
    for t in g.tensors() {
        let shape: Vec<String> = t.shape().iter().map(u64::to_string).collect();
        let _ = writeln!(
            s,
            "  {:name_w$}  {:7}  {:>22}  {:>12}  {:>12}",
            t.name,
            t.ty.name(),
            shape.join(" x "),
            t.offset,
            t.size
        );
    }
    if tensors_only {
        return s;
    }
    let mut hist = std::collections::BTreeMap::<&str, (u64, u64, u64)>::new();
    for t in g.tensors() {
        let h = hist.entry(t.ty.name()).or_default();
        *h = (h.0 + 1, h.1 + t.n_elements(), h.2 + t.size);
    }
    let _ = writeln!(s, "\ntypes");
    for (ty, (n, e, b)) in hist {
        let _ = writeln!(
            s,
            "  {ty:7}  {n:>5} tensors  {:>10} elements  {:>10}B",
            human(e),
            human(b)
        );
    }
    if !g.warnings().is_empty() {
        let _ = writeln!(s, "\nwarnings");
        for w in g.warnings() {
            let _ = writeln!(s, "  byte {}: {}", w.offset, w.message);
        }
    }
    s
}

/// Token ids as gguf-dump prints them: `1,2,3`, the form `--detokenize` reads.
pub fn ids(ids: &serde_json::Value) -> String {
    ids.as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}
