//! The schemas and examples, checked by tools we did not write: check-jsonschema
//! (python-jsonschema) for the metaschema and the valid examples, and Python's
//! json module for canonical form and digests (via the example generator).
mod common;

use std::path::PathBuf;
use std::process::Command;

fn schema_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(common::root().join("receipts/schemas"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".schema.json"))
        .collect();
    v.sort();
    v
}

fn check_jsonschema(args: &[&std::ffi::OsStr]) -> (bool, String) {
    let out = Command::new(common::venv_bin("check-jsonschema"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn every_schema_passes_the_2020_12_metaschema() {
    let files = schema_files();
    assert!(files.len() >= 2);
    let mut args: Vec<&std::ffi::OsStr> = vec!["--check-metaschema".as_ref()];
    args.extend(files.iter().map(|p| p.as_os_str()));
    let (ok, text) = check_jsonschema(&args);
    assert!(ok, "{text}");
}

/// The schema a receipt declares, by file name.
fn schema_for(receipt: &std::path::Path) -> PathBuf {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(receipt).unwrap()).unwrap();
    let kind = v["schema"]
        .as_str()
        .unwrap()
        .strip_prefix("parci.")
        .unwrap()
        .to_string();
    common::root().join(format!("receipts/schemas/{kind}.schema.json"))
}

fn validate_externally(receipt: &std::path::Path) -> (bool, String) {
    let base = format!("file://{}/receipts/schemas/", common::root().display());
    let schema = schema_for(receipt);
    check_jsonschema(&[
        "--base-uri".as_ref(),
        base.as_ref(),
        "--schemafile".as_ref(),
        schema.as_os_str(),
        receipt.as_os_str(),
    ])
}

#[test]
fn valid_examples_pass_an_external_validator() {
    let dir = common::root().join("receipts/examples/valid");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let (ok, text) = validate_externally(&p);
        assert!(ok, "{}: {text}", p.display());
        n += 1;
    }
    assert!(n >= 2);
}

#[test]
fn external_validator_rejects_what_our_schema_rejects() {
    // The external check must be able to fail: schema-level invalid examples
    // (the ones whose documented reason is a schema rule) fail there too.
    for name in [
        "zero-cpus",
        "bad-commit",
        "bad-input-sha256",
        "extra-field",
        "measurement-wrong-type",
    ] {
        let p = common::root().join(format!("receipts/examples/invalid/{name}.json"));
        let (ok, text) = validate_externally(&p);
        assert!(!ok, "{name} passed check-jsonschema:\n{text}");
    }
}

#[test]
fn invalid_examples_match_their_generator() {
    // The generator recomputes digests with Python's json module and asserts
    // its canonical form equals ours on the valid example.
    let out = Command::new(common::venv_bin("python"))
        .arg(common::root().join("scripts/make-invalid-examples.py"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
