//! gguf-dump: every exit code and flag, counts against gguf-py, values against
//! gguf-py's dequantize, receipts that verify-receipt accepts.
mod common;

use assert_cmd::Command;
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{GgmlType, OwnedValue, Writer};
use serde_json::Value as J;
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn dump(dir: &Path, args: &[&str]) -> Run {
    let o = Command::cargo_bin("gguf-dump")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn verify(receipt: &Path) -> (i32, String) {
    common::verify_receipt(receipt)
}

fn tiny(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.gguf");
    std::fs::write(&p, fixture::generate(Preset::Tiny, 0)).unwrap();
    p
}

#[test]
fn text_shows_header_metadata_tensors_and_types() {
    let t = tempfile::tempdir().unwrap();
    let f = tiny(t.path());
    let r = dump(t.path(), &[f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("GGUF v3, 23 metadata, 21 tensors"),
        "{}",
        r.out
    );
    assert!(r.out.contains("tokenizer.ggml.tokens"));
    assert!(
        r.out.contains("[string; 512] \"<unk>\", \"<s>\", \"</s>\""),
        "{}",
        r.out
    );
    assert!(r.out.contains("blk.1.ffn_down.weight"));
    assert!(r.out.contains("TQ2_0"));
    let only = dump(t.path(), &[f.to_str().unwrap(), "--tensors"]);
    assert!(only.out.starts_with("  name"), "{}", only.out);
    assert!(!only.out.contains("metadata"));
    assert!(t
        .path()
        .join("target/parci/gguf-dump.receipt.json")
        .exists());
}

#[test]
fn small_fixture_counts_match_gguf_py_and_the_receipt_verifies() {
    let t = tempfile::tempdir().unwrap();
    let r = dump(t.path(), &["--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let ours: J = serde_json::from_str(&r.out).unwrap();
    let model = t.path().join("target/parci/models/parci-small-seed0.gguf");
    assert_eq!(
        ours["inputs"]["file"]["sha256"],
        fixture::pinned_sha256(Preset::Small, 0).unwrap()
    );
    let theirs: J =
        serde_json::from_str(&common::oracle(&["describe", model.to_str().unwrap()])).unwrap();
    let res = &ours["results"];
    assert_eq!(
        res["counts"]["tensors"],
        theirs["tensors"].as_array().unwrap().len()
    );
    assert_eq!(
        res["counts"]["metadata"],
        theirs["kvs"].as_array().unwrap().len()
    );
    for (a, b) in res["tensors"]
        .as_array()
        .unwrap()
        .iter()
        .zip(theirs["tensors"].as_array().unwrap())
    {
        assert_eq!(
            (
                &a["name"],
                &a["type"],
                &a["shape"],
                &a["offset"],
                &a["bytes"]
            ),
            (
                &b["name"],
                &b["type"],
                &b["shape"],
                &b["offset"],
                &b["nbytes"]
            )
        );
    }
    let params: u64 = Preset::Small.config().parameters();
    assert_eq!(res["counts"]["parameters"], params);
    // the long vocabulary is summarized, with a hash
    let tokens = res["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(tokens["len"], 32000);
    assert!(tokens["sha256"].is_string() && tokens.get("value").is_none());
    let (code, out) = verify(&t.path().join("target/parci/gguf-dump.receipt.json"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn full_inlines_every_array_element() {
    let t = tempfile::tempdir().unwrap();
    let f = tiny(t.path());
    let r = dump(
        t.path(),
        &[
            f.to_str().unwrap(),
            "--full",
            "--format",
            "json",
            "--receipt",
            "-",
        ],
    );
    let v: J = serde_json::from_str(&r.out).unwrap();
    let tokens = v["results"]["metadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "tokenizer.ggml.tokens")
        .unwrap();
    assert_eq!(tokens["value"].as_array().unwrap().len(), 512);
    assert_eq!(v["inputs"]["full_arrays"], true);
}

#[test]
fn values_equal_gguf_py_dequantize_for_each_type() {
    let t = tempfile::tempdir().unwrap();
    let f = tiny(t.path());
    for (tensor, ty) in [
        ("token_embd.weight", "Q8_0"),
        ("blk.0.attn_q.weight", "TQ2_0"),
        ("output_norm.weight", "F32"),
    ] {
        let npy = t.path().join(format!("{tensor}.npy"));
        let r = dump(
            t.path(),
            &[
                f.to_str().unwrap(),
                "--tensor",
                tensor,
                "--values",
                "npy",
                npy.to_str().unwrap(),
                "-q",
            ],
        );
        assert_eq!(r.code, 0, "{tensor}: {}", r.err);
        let out = common::oracle(&[
            "npy-check",
            f.to_str().unwrap(),
            tensor,
            npy.to_str().unwrap(),
        ]);
        assert!(out.starts_with("ok"), "{ty}: {out}");
        let raw = t.path().join(format!("{tensor}.f32"));
        let r = dump(
            t.path(),
            &[
                f.to_str().unwrap(),
                "--tensor",
                tensor,
                "--values",
                "f32le",
                raw.to_str().unwrap(),
                "--format",
                "json",
            ],
        );
        let v: J = serde_json::from_str(&r.out).unwrap();
        let npy_bytes = std::fs::read(&npy).unwrap();
        let raw_bytes = std::fs::read(&raw).unwrap();
        assert!(npy_bytes.ends_with(&raw_bytes), "npy payload == f32le file");
        assert_eq!(
            v["results"]["values"]["sha256"],
            parci_core::fsutil::sha256_hex(&raw_bytes)
        );
        assert_eq!(
            v["results"]["values"]["count"].as_u64().unwrap() * 4,
            raw_bytes.len() as u64
        );
    }
}

#[test]
fn bad_input_is_one_line_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let f = tiny(t.path());
    let bad = common::root().join("tests/data/gguf-bad/overlapping-tensors.gguf");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec![bad.display().to_string()], "overlaps tensor \"a\""),
        (vec!["missing.gguf".into()], "missing.gguf: cannot open"),
        (
            vec![
                f.display().to_string(),
                "--tensor".into(),
                "nope".into(),
                "--values".into(),
                "npy".into(),
                "x.npy".into(),
            ],
            "no tensor named \"nope\"",
        ),
        (
            vec![
                f.display().to_string(),
                "--tensor".into(),
                "output.weight".into(),
                "--values".into(),
                "csv".into(),
                "x".into(),
            ],
            "--values format \"csv\"",
        ),
        (
            vec![
                f.display().to_string(),
                "--tensor".into(),
                "output.weight".into(),
            ],
            "--values",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = dump(t.path(), &args);
        assert_eq!(r.code, 2, "{args:?}: {}{}", r.out, r.err);
        assert!(r.err.contains(want), "{args:?}: {}", r.err);
        assert!(!r.err.contains("panicked"));
    }
    let r = dump(t.path(), &[bad.to_str().unwrap()]);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(r.err.contains("byte "), "{}", r.err);
}

/// A file whose second tensor sits after a gap: safe to read, but ggml's
/// reader demands contiguous data.
fn noncontiguous(dir: &Path) -> PathBuf {
    let mut w = Writer::new();
    w.kv("general.architecture", OwnedValue::Str("llama".into()))
        .unwrap();
    w.tensor("a", GgmlType::F32, &[8], vec![0; 32]).unwrap();
    w.tensor("b", GgmlType::F32, &[8], vec![0; 32]).unwrap();
    let mut bytes = w.to_bytes();
    // b's info: name len (8) + "b" + n_dims (4) + ne (8) + type (4), then its offset (32).
    let at = bytes
        .windows(9)
        .position(|x| x == b"\x01\0\0\0\0\0\0\0b")
        .unwrap()
        + 9
        + 4
        + 8
        + 4;
    assert_eq!(bytes[at..at + 8], 32u64.to_le_bytes());
    bytes[at..at + 8].copy_from_slice(&64u64.to_le_bytes());
    bytes.extend_from_slice(&[0; 32]);
    let p = dir.join("gap.gguf");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn warnings_warn_and_strict_fails() {
    let t = tempfile::tempdir().unwrap();
    let f = noncontiguous(t.path());
    let r = dump(t.path(), &[f.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("not laid out contiguously"), "{}", r.out);
    let receipt = t.path().join("target/parci/gguf-dump.receipt.json");
    let v: J = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(v["verdict"]["status"], "warn");
    assert_eq!(verify(&receipt).0, 0);

    let r = dump(t.path(), &[f.to_str().unwrap(), "--strict", "-q"]);
    assert_eq!(r.code, 1);
    let v: J = serde_json::from_slice(&std::fs::read(&receipt).unwrap()).unwrap();
    assert_eq!(v["verdict"]["status"], "fail");
    assert_eq!(
        verify(&receipt).0,
        0,
        "a fail verdict is still a valid receipt"
    );
}

#[test]
fn github_annotations_for_warnings() {
    let t = tempfile::tempdir().unwrap();
    let f = noncontiguous(t.path());
    let o = Command::cargo_bin("gguf-dump")
        .unwrap()
        .current_dir(t.path())
        .env("GITHUB_ACTIONS", "true")
        .arg(&f)
        .arg("-q")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(&format!(
            "::warning file={},title=gguf-dump::byte",
            f.display()
        )),
        "{out}"
    );
}

#[test]
fn two_runs_give_identical_results() {
    let t = tempfile::tempdir().unwrap();
    let f = tiny(t.path());
    let a = dump(
        t.path(),
        &[f.to_str().unwrap(), "--format", "json", "--receipt", "-"],
    );
    let b = dump(
        t.path(),
        &[f.to_str().unwrap(), "--format", "json", "--receipt", "-"],
    );
    assert_eq!(
        common::without_measurements(&a.out),
        common::without_measurements(&b.out)
    );
}

#[test]
fn values_of_every_block_format_equal_gguf_py() {
    let t = tempfile::tempdir().unwrap();
    let mut r = fixture::SplitMix64::new(5);
    let mut w = Writer::new();
    w.kv("general.architecture", OwnedValue::Str("llama".into()))
        .unwrap();
    let names = ["F32", "F16", "BF16", "Q8_0", "Q4_0", "TQ1_0", "TQ2_0"];
    for name in names {
        let ty = GgmlType::from_name(name).unwrap();
        let x: Vec<f32> = (0..512).map(|_| (r.unit() - 0.5) * 3.0).collect();
        let mut data = Vec::new();
        parci_core::quant::quantize(ty, &x, &mut data).unwrap();
        w.tensor(&format!("t.{name}"), ty, &[256, 2], data).unwrap();
    }
    let f = t.path().join("formats.gguf");
    std::fs::write(&f, w.to_bytes()).unwrap();
    for name in names {
        let tensor = format!("t.{name}");
        let npy = t.path().join(format!("{name}.npy"));
        let r = dump(
            t.path(),
            &[
                f.to_str().unwrap(),
                "--tensor",
                &tensor,
                "--values",
                "npy",
                npy.to_str().unwrap(),
                "-q",
            ],
        );
        assert_eq!(r.code, 0, "{name}: {}", r.err);
        let out = common::oracle(&[
            "npy-check",
            f.to_str().unwrap(),
            &tensor,
            npy.to_str().unwrap(),
        ]);
        assert!(out.starts_with("ok (2, 256)"), "{name}: {out}");
    }
}

#[test]
fn tokenize_and_detokenize_with_the_files_tokenizer() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let m = tiny(d);
    let m = m.to_str().unwrap();
    let r = dump(d, &[m, "--tokenize", "Hello world"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let ids = r.out.trim_end().to_string();
    // the fixture's SentencePiece vocabulary: BOS, then pieces
    assert!(ids.starts_with("1,") && ids.split(',').count() > 2, "{ids}");
    let back = dump(d, &[m, "--detokenize", &ids]);
    assert_eq!(back.code, 0, "{}", back.err);
    // BOS written as its text, then the space prefix SentencePiece added:
    // the fixture has no "▁" token, so it went out as the byte tokens of
    // U+2581 and comes back as those bytes (llama.cpp does the same).
    assert_eq!(back.out, "<s>\u{2581}Hello world\n");
    let r = dump(
        d,
        &[
            m,
            "--tokenize",
            "Hello world",
            "--format",
            "json",
            "--receipt",
            "t.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let doc: J = serde_json::from_str(&r.out).unwrap();
    let tokens = &doc["results"]["tokens"];
    assert_eq!(tokens["text"], "Hello world");
    assert_eq!(
        tokens["pieces"][0],
        serde_json::json!({"id": 1, "token": "<s>", "piece": "<s>"})
    );
    assert_eq!(tokens["tokenizer"]["model"], "llama");
    assert_eq!(doc["inputs"]["tokenize"], "Hello world");
    assert_eq!(verify(&d.join("t.json")).0, 0);
    for (args, needle) in [
        (
            vec![m, "--detokenize", "1,x"],
            "--detokenize: \"x\" is not a token id; pass ids like 1,2,3",
        ),
        (
            vec![m, "--detokenize", "1,99999"],
            "--detokenize: token 99999 is outside the vocabulary (0..512)",
        ),
    ] {
        let r = dump(d, &args);
        assert_eq!(r.code, 2, "{}", r.err);
        assert_eq!(r.err.trim_end().lines().count(), 1, "{}", r.err);
        assert!(r.err.contains(needle), "{needle:?} not in {}", r.err);
    }
}
