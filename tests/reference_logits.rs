//! parci's forward pass against a NumPy reference we did not write the maths
//! of in Rust (tests/py/llama_ref.py: gguf-py dequantization, llama.cpp's
//! formulas in float64): teacher-forced logits agree at every step.

mod common;

use parci_core::gguf::{fixture, MappedFile};
use parci_core::model::{Engine, Model};
use parci_core::quant::kernels::KernelMode;
use std::path::Path;
use std::process::Command;

const TOKENS: [u32; 8] = [1, 17, 250, 3, 99, 42, 7, 300];

/// parci's logits for each position of `tokens`, flattened.
fn parci_logits(path: &Path, tokens: &[u32]) -> Vec<f32> {
    let mapped = MappedFile::open(path).unwrap();
    let g = mapped.parse().unwrap();
    let plan = parci_core::graph::build(&g, tokens.len() as u64, true).unwrap();
    let model = Model::new(&g, &plan).unwrap();
    let mut e = Engine::new(&model, KernelMode::Auto, 1, tokens.len()).unwrap();
    tokens
        .iter()
        .flat_map(|&t| e.forward(t).unwrap().to_vec())
        .collect()
}

/// Runs the reference on `model` for `tokens` against `logits`; returns
/// (success, per-step cosines).
fn reference(model: &Path, tokens: &[u32], logits: &[f32]) -> (bool, Vec<f64>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("logits.f32");
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&out, bytes).unwrap();
    let ids: Vec<String> = tokens.iter().map(u32::to_string).collect();
    let o = Command::new(common::venv_bin("python"))
        .arg(common::root().join("tests/py/llama_ref.py"))
        .arg("compare")
        .arg(model)
        .arg(ids.join(","))
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "llama_ref.py failed: {stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let cos = v["cosine"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_f64().unwrap())
        .collect();
    (o.status.success(), cos)
}

fn check(model: &Path) {
    let logits = parci_logits(model, &TOKENS);
    let (ok, cos) = reference(model, &TOKENS, &logits);
    assert_eq!(cos.len(), TOKENS.len());
    eprintln!("{}: cosines {cos:?}", model.display());
    assert!(ok && cos.iter().all(|&c| c >= 0.995), "cosines {cos:?}");
    // The comparison can fail: logits of another sequence do not match.
    let mut other = TOKENS;
    other.reverse();
    let wrong = parci_logits(model, &other);
    let (ok, cos) = reference(model, &TOKENS, &wrong);
    assert!(!ok, "a different sequence's logits passed: {cos:?}");
}

#[test]
fn tiny_fixture_matches_the_numpy_reference_at_every_step() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = fixture::materialize(dir.path(), fixture::Preset::Tiny, 0).unwrap();
    check(&path);
}

#[test]
fn gguf_py_written_f32_q8_0_q4_0_llama_matches_the_numpy_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ref-llama.gguf");
    let o = Command::new(common::venv_bin("python"))
        .arg(common::root().join("tests/py/llama_ref.py"))
        .arg("make-llama")
        .arg(&path)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // the file really holds the three types
    let mapped = MappedFile::open(&path).unwrap();
    let g = mapped.parse().unwrap();
    let mut types: Vec<&str> = g.tensors().iter().map(|t| t.ty.name()).collect();
    types.sort();
    types.dedup();
    assert_eq!(types, ["F32", "Q4_0", "Q8_0"]);
    check(&path);
}
