//! The seal on measurements (schema 1.1.0): in every valid example receipt,
//! one kind of each program, editing any single measurement, however deep,
//! fails verification at that measurement's pointer, whether or not a
//! consistency gate also derives it. A 1.0.0 receipt, written before the
//! seal, still verifies, with a warning that its measurements are unchecked.

use parci_core::verify::verify_bytes;
use serde_json::{json, Value};
use std::path::PathBuf;

fn examples() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../receipts/examples/valid");
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let doc = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), doc)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every scalar under `v`, as a pointer relative to `v`.
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            leaves(
                v,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

/// A different value of the same type.
fn edited(v: &Value) -> Value {
    match v {
        Value::Number(n) if n.is_u64() => json!(n.as_u64().unwrap() + 1),
        Value::Number(n) if n.is_i64() => json!(n.as_i64().unwrap() - 1),
        Value::Number(n) => json!(n.as_f64().unwrap() * 1.5 + 1.0),
        Value::String(s) => json!(format!("{s}x")),
        Value::Bool(b) => json!(!b),
        _ => json!(0),
    }
}

fn verify(doc: &Value) -> parci_core::findings::Findings {
    verify_bytes(&serde_json::to_vec_pretty(doc).unwrap(), None).1
}

#[test]
fn every_single_measurement_edit_fails_at_its_pointer_in_every_kind() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut edits = 0;
    for (name, doc) in examples() {
        let clean = verify(&doc);
        assert!(clean.errors.is_empty(), "{name}: {:?}", clean.errors);
        let mut ptrs = Vec::new();
        leaves(&doc["measurements"], "/measurements".into(), &mut ptrs);
        assert!(!ptrs.is_empty(), "{name} has no measurements");
        kinds.insert(doc["schema"].as_str().unwrap().to_string());
        for ptr in ptrs {
            let mut d = doc.clone();
            let slot = d.pointer_mut(&ptr).unwrap();
            *slot = edited(slot);
            let top: String = ptr.split('/').take(3).collect::<Vec<_>>().join("/");
            let f = verify(&d);
            assert!(
                f.errors.iter().any(|e| e.pointer == top
                    && e.message
                        .starts_with("edited after the receipt was written")),
                "{name}: editing {ptr} alone was not caught at {top}: {:?}",
                f.errors
            );
            edits += 1;
        }
    }
    // One example per kind: all nine programs and verify-receipt itself.
    assert_eq!(kinds.len(), 9, "{kinds:?}");
    assert!(edits > 100, "only {edits} edits tried");
}

#[test]
fn a_removed_or_added_measurement_is_named() {
    let (_, doc) = examples()
        .into_iter()
        .find(|(n, _)| n == "perf-smoke-tiny.json")
        .unwrap();
    let mut d = doc.clone();
    d["measurements"].as_object_mut().unwrap().remove("load_ms");
    let f = verify(&d);
    assert!(
        f.errors.iter().any(|e| e.pointer == "/measurements/load_ms"
            && e.message
                .starts_with("removed after the receipt was written")),
        "{:?}",
        f.errors
    );
    let mut d = doc;
    d["measurements"]["cpu_ms"] = json!(1.0);
    let f = verify(&d);
    assert!(
        f.errors.iter().any(|e| e.pointer == "/measurements/cpu_ms"
            && e.message.starts_with("added after the receipt was written")),
        "{:?}",
        f.errors
    );
}

#[test]
fn a_receipt_from_before_the_seal_verifies_with_a_warning() {
    let (_, mut doc) = examples()
        .into_iter()
        .find(|(n, _)| n == "status-example.json")
        .unwrap();
    doc.as_object_mut().unwrap().remove("measurements_sha256");
    let f = verify(&doc);
    assert!(f.errors.iter().any(|e| e
        .message
        .contains("\"measurements_sha256\" is a required property")));
    // As schema 1.0.0 wrote it (the digest covers schema_version).
    doc["schema_version"] = json!("1.0.0");
    let p = |k: &str| doc[k].clone();
    doc["digest"] = json!(parci_core::receipt::digest(
        &p("schema"),
        &p("schema_version"),
        &p("inputs"),
        &p("results")
    ));
    let f = verify(&doc);
    assert!(f.errors.is_empty(), "{:?}", f.errors);
    assert!(
        f.warnings
            .iter()
            .any(|w| w.pointer == "/measurements" && w.message.starts_with("not sealed")),
        "{:?}",
        f.warnings
    );
}
