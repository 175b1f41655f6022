//! parity against the committed llama.cpp reference files
//! (tests/data/parity/*.ref.json, written by `parity --write-reference` with
//! the llama-cpp feature; docs/parity.md): both published models stay within
//! llama.cpp's own evaluation-order noise, the receipt verifies, an edited
//! per-position value fails verification, and bad references are refused.

mod common;

use assert_cmd::Command;
use serde_json::Value as J;
use std::path::{Path, PathBuf};

fn model(name: &str) -> PathBuf {
    let p = common::root().join("target/parci/models").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/models.sh` (scripts/test.sh does)",
        p.display()
    );
    p
}

fn reference(name: &str) -> String {
    common::root()
        .join("tests/data/parity")
        .join(name)
        .display()
        .to_string()
}

fn parity(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin("parity")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("PARCI_KERNELS")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn read(p: &Path) -> J {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Runs a model against its reference file with thresholds at llama.cpp's
/// own noise floor (its batched run against its one-token-per-decode run on
/// the same text: SmolLM2 97.0% same top-1, mean KL 3.4e-3; Gemma 3 95.0%,
/// 2.0e-2; docs/parity.md) and returns the receipt.
fn within_noise(dir: &Path, file: &str, refname: &str, min_top1: &str, max_kl: &str) -> J {
    let m = model(file);
    let (code, out, err) = parity(
        dir,
        &[
            "--model",
            m.to_str().unwrap(),
            "--reference-file",
            &reference(refname),
            "--min-same-top1",
            min_top1,
            "--max-mean-kl",
            max_kl,
            "--receipt",
            "r.json",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("greedy       16 tokens"), "{out}");
    let (v, msg) = common::verify_receipt(&dir.join("r.json"));
    assert_eq!(v, 0, "{msg}");
    read(&dir.join("r.json"))
}

#[test]
fn smollm2_is_within_llama_cpps_own_noise() {
    let t = tempfile::tempdir().unwrap();
    let r = within_noise(
        t.path(),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "smollm2.ref.json",
        "95",
        "5e-3",
    );
    let s = &r["results"]["summary"];
    assert!(s["positions"].as_u64().unwrap() >= 256, "{s}");
    // parci's logits are the same bits on every ISA, so this is exact
    assert_eq!(s["same_top1_pct"].as_f64().unwrap(), 100.0 * 292.0 / 303.0);

    // One per-position value edited and the receipt resealed: the summary no
    // longer follows from the list, and verification says where.
    let mut doc = r.clone();
    doc["results"]["per_position"][7]["kl"] = J::from(0.5);
    common::reseal(&mut doc);
    let edited = t.path().join("edited.json");
    std::fs::write(&edited, parci_core::receipt::canonical::to_string(&doc)).unwrap();
    let (code, msg) = common::verify_receipt(&edited);
    assert_ne!(code, 0);
    assert!(msg.contains("/results/summary/kl_mean"), "{msg}");
}

#[test]
fn gemma3_is_within_llama_cpps_own_noise() {
    let t = tempfile::tempdir().unwrap();
    let r = within_noise(
        t.path(),
        "gemma-3-270m-q4_k_m.gguf",
        "gemma3.ref.json",
        "94",
        "2.5e-2",
    );
    assert!(r["results"]["summary"]["positions"].as_u64().unwrap() >= 256);
}

#[test]
fn the_default_thresholds_fail_with_reasons() {
    let t = tempfile::tempdir().unwrap();
    let m = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let (code, out, _) = parity(
        t.path(),
        &[
            "--model",
            m.to_str().unwrap(),
            "--reference-file",
            &reference("smollm2.ref.json"),
            "--positions",
            "64",
            "--receipt",
            "f.json",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("below --min-same-top1 99.5%") || out.contains("above --max-mean-kl"),
        "{out}"
    );
    let (v, msg) = common::verify_receipt(&t.path().join("f.json"));
    assert_eq!(v, 0, "{msg}");
}

#[test]
fn bad_references_get_one_line_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smollm2 = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    let gemma = model("gemma-3-270m-q4_k_m.gguf");
    let one_line = |args: &[&str], needle: &str| {
        let (code, out, err) = parity(d, args);
        assert_eq!(code, 2, "{out}{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{needle:?} not in {err}");
    };
    let sm = smollm2.to_str().unwrap();
    let smref = reference("smollm2.ref.json");
    one_line(
        &[
            "--model",
            gemma.to_str().unwrap(),
            "--reference-file",
            &smref,
        ],
        "is a reference for model sha256",
    );
    one_line(
        &["--model", sm, "--reference-file", &smref, "--text", "Hello"],
        "is a reference for another text",
    );
    one_line(
        &[
            "--model",
            sm,
            "--reference-file",
            &smref,
            "--positions",
            "1000",
        ],
        "--positions 1000: the text gives 303 positions",
    );
    std::fs::write(d.join("junk.json"), "{\"kind\": \"x\"}").unwrap();
    one_line(
        &["--model", sm, "--reference-file", "junk.json"],
        "junk.json: not a parity reference file",
    );
    if !cfg!(feature = "llama-cpp") {
        one_line(&["--model", sm], "this parity was built without llama.cpp");
    }
    assert!(!d.join("target/parci/parity.receipt.json").exists());
}
