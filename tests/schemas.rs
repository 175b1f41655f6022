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

#[test]
fn python_reimplementation_of_canonical_form_agrees_on_floats() {
    // Edge values around every formatting threshold, then random bit patterns.
    let mut xs: Vec<f64> = vec![
        0.0,
        -0.0,
        1.0,
        -1.5,
        0.1,
        1e-5,
        1.5e-5,
        1e-4,
        9.99e-5,
        1e-7,
        1e15,
        1e16,
        1.5e16,
        1e17,
        123456789012345680.0,
        5e-324,
        f64::MAX,
        f64::MIN_POSITIVE,
        1e-5f32 as f64,
        65504.0,
        0.3f32 as f64,
    ];
    let mut s = 0x1234_5678_9abc_def0u64;
    while xs.len() < 2000 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let x = f64::from_bits(s);
        if x.is_finite() {
            xs.push(x);
            xs.push(x as f32 as f64);
        }
    }
    let v = serde_json::json!({"xs": xs, "ü": "é\u{1}\"\\", "n": [1, -2, 18446744073709551615u64]});
    let text = parci_core::receipt::canonical::to_string(&v);
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("floats.json");
    std::fs::write(&p, &text).unwrap();
    let out = Command::new(common::venv_bin("python"))
        .arg(common::root().join("scripts/receipt_digest.py"))
        .arg("--canonical")
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = String::from_utf8(out.stdout).unwrap();
    if py != text {
        let (a, b): (Vec<&str>, Vec<&str>) = (text.lines().collect(), py.lines().collect());
        let i = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
        panic!("line {i}: rust {:?} python {:?}", a.get(i), b.get(i));
    }
}

#[test]
fn python_digest_check_accepts_valid_examples() {
    let mut cmd = Command::new(common::venv_bin("python"));
    cmd.arg(common::root().join("scripts/receipt_digest.py"));
    for e in std::fs::read_dir(common::root().join("receipts/examples/valid")).unwrap() {
        cmd.arg(e.unwrap().path());
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
