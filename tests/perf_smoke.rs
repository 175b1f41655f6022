//! perf-smoke: receipts that verify and replay, the same digest for every
//! kernel mode and thread count, baselines, BMF output, and every bad input
//! as one line with exit 2.
mod common;

use assert_cmd::Command;
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{GgmlType, OwnedValue, Writer};
use parci_core::quant::kernels::KernelMode;
use serde_json::Value as J;
use std::path::{Path, PathBuf};

struct Run {
    code: i32,
    out: String,
    err: String,
}

fn cmd(bin: &str, dir: &Path, kernels: Option<&str>, args: &[&str]) -> Run {
    let mut c = Command::cargo_bin(bin).unwrap();
    c.current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("RUST_LOG")
        .env_remove("PARCI_KERNELS")
        .args(args);
    if let Some(k) = kernels {
        c.env("PARCI_KERNELS", k);
    }
    let o = c.output().unwrap();
    Run {
        code: o.status.code().unwrap(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A quick tiny-model run (4 prompt + 6 decode tokens, no warm-up, 1 repeat).
fn smoke(dir: &Path, kernels: Option<&str>, extra: &[&str]) -> Run {
    let mut args = vec![
        "--preset",
        "tiny",
        "--prompt-tokens",
        "4",
        "--tokens",
        "6",
        "--warmup",
        "0",
        "--repeats",
        "1",
    ];
    args.extend_from_slice(extra);
    cmd("perf-smoke", dir, kernels, &args)
}

fn read(p: &Path) -> J {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn write(p: &Path, doc: &J) {
    std::fs::write(p, parci_core::receipt::canonical::to_string(doc)).unwrap();
}

#[test]
fn receipt_verifies_and_replays_and_two_runs_agree() {
    let t = tempfile::tempdir().unwrap();
    let r = smoke(t.path(), None, &["--receipt", "a.json", "--threads", "1"]);
    assert_eq!(r.code, 0, "{}", r.err);
    for needle in [
        "decode",
        "tok/s",
        "matvec share",
        "output       sha256:",
        "verdict      pass",
    ] {
        assert!(r.out.contains(needle), "{needle:?} not in\n{}", r.out);
    }
    let v = cmd(
        "verify-receipt",
        t.path(),
        None,
        &["--replay", "a.json", "--receipt", "v.json"],
    );
    assert_eq!(v.code, 0, "{}{}", v.out, v.err);
    assert_eq!(read(&t.path().join("v.json"))["inputs"]["replay"], true);
    let r2 = smoke(t.path(), None, &["--receipt", "b.json", "--threads", "1"]);
    assert_eq!(r2.code, 0, "{}", r2.err);
    let a =
        common::without_measurements(&std::fs::read_to_string(t.path().join("a.json")).unwrap());
    let b =
        common::without_measurements(&std::fs::read_to_string(t.path().join("b.json")).unwrap());
    assert_eq!(a["results"], b["results"]);
    assert_eq!(a["inputs"], b["inputs"]);
    assert_eq!(a["results"]["generated"].as_array().unwrap().len(), 6);
    // the fixture was generated once, under target/parci/models of the cwd
    assert!(t
        .path()
        .join("target/parci/models/parci-tiny-seed0.gguf")
        .is_file());
}

#[test]
fn same_digest_for_every_kernel_mode_thread_count_and_graph_mode() {
    let t = tempfile::tempdir().unwrap();
    let mut seen: Vec<(String, J, J)> = Vec::new();
    for mode in ["scalar", "avx2", "avx512", "neon"] {
        if KernelMode::parse(mode).unwrap().resolve().is_err() {
            continue;
        }
        for threads in ["1", "2"] {
            let graph = if threads == "1" { "on" } else { "off" };
            let out = format!("{mode}-{threads}.json");
            let r = smoke(
                t.path(),
                Some(mode),
                &[
                    "--threads",
                    threads,
                    "--parallel-graph",
                    graph,
                    "--receipt",
                    &out,
                ],
            );
            assert_eq!(r.code, 0, "{mode} x{threads}: {}", r.err);
            let d = read(&t.path().join(&out));
            assert_eq!(d["inputs"]["kernel_mode"], mode);
            seen.push((
                format!("{mode} x{threads}"),
                d["results"]["output_digest"].clone(),
                d["results"]["plan_digest"].clone(),
            ));
        }
    }
    assert!(seen.len() >= 2, "scalar always runs, at 1 and 2 threads");
    for (what, digest, plan) in &seen {
        assert_eq!(digest, &seen[0].1, "{what} gave another output digest");
        assert_eq!(plan, &seen[0].2, "{what} gave another plan");
    }
}

#[test]
fn replay_catches_a_resealed_token_edit() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(smoke(t.path(), None, &["--receipt", "a.json"]).code, 0);
    let mut doc = read(&t.path().join("a.json"));
    let first = doc["results"]["generated"][0].as_u64().unwrap();
    doc["results"]["generated"][0] = J::from(first + 1);
    common::reseal(&mut doc);
    write(&t.path().join("a.json"), &doc);
    // the edit is self-consistent: only re-running the workload can tell
    let plain = cmd(
        "verify-receipt",
        t.path(),
        None,
        &["a.json", "--receipt", "v.json"],
    );
    assert_eq!(plain.code, 0, "{}", plain.out);
    let v = cmd(
        "verify-receipt",
        t.path(),
        None,
        &["--replay", "a.json", "--receipt", "v.json"],
    );
    assert_eq!(v.code, 1, "{}", v.out);
    assert!(
        v.out.contains(&format!(
            "/results/generated/0: replay: the recorded results say {}, re-running the workload gives {first}",
            first + 1
        )),
        "{}",
        v.out
    );
}

/// `doc` as if every recorded time were `factor` times as long, its
/// figures derived again from them (as verify-receipt derives them).
fn rescaled(doc: &J, factor: f64) -> J {
    use parci_core::bench::wall::{derive, RunTimes};
    let mut d = doc.clone();
    let m = &mut d["measurements"];
    let runs: Vec<RunTimes> = m["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| RunTimes {
            prefill_ms: r["prefill_ms"].as_f64().unwrap() * factor,
            per_token_ms: r["per_token_ms"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() * factor)
                .collect(),
            matvec_ms: r["matvec_ms"].as_f64().unwrap() * factor,
        })
        .collect();
    let prompt = doc["inputs"]["prompt"].as_array().unwrap().len();
    let x = derive(&runs, prompt);
    m["runs"] = J::Array(
        runs.iter()
            .map(|r| serde_json::json!({"prefill_ms": r.prefill_ms, "per_token_ms": r.per_token_ms, "matvec_ms": r.matvec_ms}))
            .collect(),
    );
    m["prefill_tok_s"] = J::from(x.prefill_tok_s);
    m["decode_tok_s"] = J::from(x.decode_tok_s);
    m["decode_tok_s_runs"] = J::from(x.decode_tok_s_runs.clone());
    m["per_token_ms"] = serde_json::json!({"p50": x.p50, "p90": x.p90, "max": x.max});
    m["matvec_share"] = J::from(x.matvec_share);
    common::reseal(&mut d);
    d
}

#[test]
fn baseline_regressions_fail_with_a_limit_and_warn_without() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(
        smoke(
            t.path(),
            None,
            &["--receipt", "base.json", "--threads", "1"]
        )
        .code,
        0
    );
    let base = read(&t.path().join("base.json"));
    // A baseline edited by hand (one figure, not the runs it comes from) is refused.
    let mut forged = base.clone();
    forged["measurements"]["decode_tok_s"] = J::from(1e9);
    write(&t.path().join("forged.json"), &forged);
    let r = smoke(
        t.path(),
        None,
        &[
            "--threads",
            "1",
            "--baseline",
            "forged.json",
            "--receipt",
            "x.json",
        ],
    );
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(
        r.err
            .contains("forged.json: not a valid perf-smoke receipt (/measurements/decode_tok_s"),
        "{}",
        r.err
    );
    // Baselines whose runs were that much faster or slower: every figure rescaled.
    let doc = rescaled(&base, 1e-6);
    write(&t.path().join("fast.json"), &doc);
    let r = smoke(
        t.path(),
        None,
        &[
            "--threads",
            "1",
            "--baseline",
            "fast.json",
            "--max-regression",
            "10",
            "--receipt",
            "r.json",
        ],
    );
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("% slower than the baseline's") && r.out.contains("(allowed: 10%)"),
        "{}",
        r.out
    );
    let d = read(&t.path().join("r.json"));
    assert_eq!(d["verdict"]["status"], "fail");
    assert!(
        d["measurements"]["baseline"]["change_pct"]
            .as_f64()
            .unwrap()
            < -99.0
    );
    assert_eq!(d["inputs"]["baseline"]["max_regression_pct"], 10.0);
    let r = smoke(
        t.path(),
        None,
        &[
            "--threads",
            "1",
            "--baseline",
            "fast.json",
            "--receipt",
            "w.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(read(&t.path().join("w.json"))["verdict"]["status"], "warn");
    // a faster run than its baseline passes
    let slow = rescaled(&base, 1e9);
    write(&t.path().join("slow.json"), &slow);
    let r = smoke(
        t.path(),
        None,
        &[
            "--threads",
            "1",
            "--baseline",
            "slow.json",
            "--max-regression",
            "0",
            "--receipt",
            "p.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    // its only warning: the baseline is unsigned
    let v = &read(&t.path().join("p.json"))["verdict"];
    assert_eq!(v["status"], "warn");
    assert_eq!(v["reasons"].as_array().unwrap().len(), 1, "{v}");
    assert!(
        v["reasons"][0].as_str().unwrap().contains("is unsigned"),
        "{v}"
    );
}

#[test]
fn bmf_output_is_bencher_metric_format() {
    let t = tempfile::tempdir().unwrap();
    let r = smoke(
        t.path(),
        None,
        &[
            "--threads",
            "1",
            "--bmf",
            "out.bmf.json",
            "--receipt",
            "a.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let bmf = read(&t.path().join("out.bmf.json"));
    let bench = &bmf["perf-smoke/tiny-seed0/threads-1"];
    let d = &bench["decode-tok-s"];
    let (v, lo, hi) = (
        d["value"].as_f64().unwrap(),
        d["lower_value"].as_f64().unwrap(),
        d["upper_value"].as_f64().unwrap(),
    );
    assert!(v > 0.0 && lo <= v && v <= hi, "{d}");
    assert_eq!(
        v,
        read(&t.path().join("a.json"))["measurements"]["decode_tok_s"]
            .as_f64()
            .unwrap()
    );
    for m in [
        "prefill-tok-s",
        "load-ms",
        "matvec-share",
        "per-token-p50-ms",
    ] {
        assert!(bench[m]["value"].is_number(), "{m} missing in {bmf}");
    }
}

#[test]
fn parallel_debug_logs_through_tracing() {
    let t = tempfile::tempdir().unwrap();
    let r = smoke(
        t.path(),
        None,
        &["--parallel-debug", "verbose", "--parallel-progress", "-q"],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.err.contains("building execution plan"), "{}", r.err);
    assert_eq!(r.err.matches("layer spec").count(), 2, "{}", r.err);
    assert!(r.out.is_empty(), "-q prints nothing: {}", r.out);
    let r = smoke(t.path(), None, &["--parallel-debug", "none"]);
    assert!(!r.err.contains("layer spec"), "{}", r.err);
}

/// The tiny fixture rewritten under another architecture name and/or with
/// one tensor retyped to a format no kernel multiplies (IQ4_XS).
fn altered(dir: &Path, name: &str, arch: &str, retype: Option<&str>) -> PathBuf {
    let bytes = fixture::generate(Preset::Tiny, 0);
    let g = parci_core::gguf::Gguf::parse(&bytes).unwrap();
    let mut w = Writer::new();
    for kv in g.kvs() {
        let key = kv.key.replace("llama.", &format!("{arch}."));
        let v = if kv.key == "general.architecture" {
            OwnedValue::Str(arch.into())
        } else {
            OwnedValue::from_value(&kv.value)
        };
        w.kv(&key, v).unwrap();
    }
    for t in g.tensors() {
        if Some(t.name) == retype {
            let rows = t.shape()[1];
            let iq4_xs = GgmlType::from_name("IQ4_XS").unwrap();
            let bytes = iq4_xs.row_bytes(256).unwrap() as usize * rows as usize;
            w.tensor(t.name, iq4_xs, &[256, rows], vec![0; bytes])
                .unwrap();
        } else {
            w.tensor(t.name, t.ty, t.shape(), t.data.to_vec()).unwrap();
        }
    }
    let p = dir.join(name);
    std::fs::write(&p, w.to_bytes()).unwrap();
    p
}

fn one_line_exit_2(r: &Run, needle: &str) {
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert_eq!(r.err.trim_end().lines().count(), 1, "{}", r.err);
    assert!(r.err.starts_with("perf-smoke: error: "), "{}", r.err);
    assert!(r.err.contains(needle), "{needle:?} not in {}", r.err);
}

#[test]
fn bad_inputs_get_one_line_and_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let run = |args: &[&str]| cmd("perf-smoke", d, None, args);
    one_line_exit_2(&run(&["--model", "nope.gguf"]), "nope.gguf: cannot open");
    std::fs::write(d.join("text.gguf"), "hello, not a model").unwrap();
    one_line_exit_2(&run(&["--model", "text.gguf"]), "text.gguf: ");
    let gpt2 = altered(d, "gpt2.gguf", "gpt2", None);
    one_line_exit_2(
        &run(&["--model", gpt2.to_str().unwrap()]),
        "architecture is \"gpt2\"; parci runs llama and gemma3",
    );
    let iq = altered(d, "iq4_xs.gguf", "llama", Some("blk.0.ffn_up.weight"));
    one_line_exit_2(
        &run(&["--model", iq.to_str().unwrap()]),
        "tensor \"blk.0.ffn_up.weight\" has type IQ4_XS; parci's kernels support F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, BF16, TQ1_0, TQ2_0",
    );
    one_line_exit_2(
        &run(&["--preset", "tiny", "--prompt", "1,2,512"]),
        "--prompt: token 512 is outside the vocabulary",
    );
    // baselines of another thread count and of another model
    assert_eq!(
        smoke(d, None, &["--threads", "1", "--receipt", "b1.json"]).code,
        0
    );
    one_line_exit_2(
        &smoke(d, None, &["--threads", "2", "--baseline", "b1.json"]),
        "the baseline ran 1 threads, this run 2",
    );
    one_line_exit_2(
        &cmd(
            "perf-smoke",
            d,
            None,
            &[
                "--preset",
                "tiny",
                "--seed",
                "5",
                "--tokens",
                "2",
                "--threads",
                "1",
                "--baseline",
                "b1.json",
            ],
        ),
        "the baseline ran model sha256",
    );
    std::fs::write(d.join("junk.json"), "{}").unwrap();
    one_line_exit_2(
        &smoke(d, None, &["--threads", "1", "--baseline", "junk.json"]),
        "not a valid perf-smoke receipt",
    );
    one_line_exit_2(&smoke(d, Some("sse9"), &[]), "PARCI_KERNELS=sse9");
    // clap refuses zero tokens with its usage exit 2
    assert_eq!(run(&["--tokens", "0"]).code, 2);
    // every run that failed above wrote no receipt (they all used the default path)
    assert!(!d.join("target/parci/perf-smoke.receipt.json").exists());
}

/// The tiny fixture with its metadata edited in place (keys in file order).
fn edited(dir: &Path, name: &str, edit: impl FnOnce(&mut Vec<(String, OwnedValue)>)) -> PathBuf {
    let bytes = fixture::generate(Preset::Tiny, 0);
    let g = parci_core::gguf::Gguf::parse(&bytes).unwrap();
    let mut kvs: Vec<(String, OwnedValue)> = g
        .kvs()
        .iter()
        .map(|kv| (kv.key.to_string(), OwnedValue::from_value(&kv.value)))
        .collect();
    edit(&mut kvs);
    let mut w = Writer::new();
    for (k, v) in kvs {
        w.kv(&k, v).unwrap();
    }
    for t in g.tensors() {
        w.tensor(t.name, t.ty, t.shape(), t.data.to_vec()).unwrap();
    }
    let p = dir.join(name);
    std::fs::write(&p, w.to_bytes()).unwrap();
    p
}

fn set(kvs: &mut [(String, OwnedValue)], key: &str, v: OwnedValue) {
    kvs.iter_mut().find(|(k, _)| k == key).unwrap().1 = v;
}

/// A quick run of `model` (or the tiny fixture) with a text prompt.
fn text_smoke(dir: &Path, model: Option<&Path>, extra: &[&str]) -> Run {
    let mut args = vec!["--tokens", "8", "--warmup", "0", "--repeats", "1"];
    match model {
        Some(m) => args.extend(["--model", m.to_str().unwrap()]),
        None => args.extend(["--preset", "tiny"]),
    }
    args.extend_from_slice(extra);
    cmd("perf-smoke", dir, None, &args)
}

#[test]
fn text_prompts_are_tokenized_recorded_replayed_and_stop_at_eog() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let r = text_smoke(d, None, &["--text", "Hello world", "--receipt", "a.json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("  text         \"Hello world\"\n"),
        "{}",
        r.out
    );
    assert!(r.out.contains("  continuation \""), "{}", r.out);
    let a = read(&d.join("a.json"));
    assert_eq!(a["inputs"]["text"], "Hello world");
    // SentencePiece with the fixture's BOS (1) first
    assert_eq!(a["inputs"]["prompt"][0], 1);
    assert_eq!(a["inputs"]["tokenizer"]["model"], "llama");
    assert_eq!(a["results"]["stop"]["reason"], "tokens");
    assert!(a["results"]["text"].is_string());
    assert!(a["measurements"]["tokenizer_load_ms"].is_number());
    let v = cmd("verify-receipt", d, None, &["--replay", "a.json"]);
    assert_eq!(v.code, 0, "{}{}", v.out, v.err);

    // A resealed receipt whose text no longer gives its ids fails the replay.
    let mut edited_text = a.clone();
    edited_text["inputs"]["text"] = "Hello there".into();
    common::reseal(&mut edited_text);
    write(&d.join("b.json"), &edited_text);
    let v = cmd("verify-receipt", d, None, &["--replay", "b.json"]);
    assert_eq!(v.code, 1, "{}{}", v.out, v.err);
    assert!(v.out.contains("inputs.text tokenizes to"), "{}", v.out);

    // With the third generated token as EOS, --stop-at-eog ends decoding
    // before it (or at an earlier end-of-generation token: </s> is one).
    let generated: Vec<u64> = a["results"]["generated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let eos = generated[2];
    let model = edited(d, "eos.gguf", |kvs| {
        set(
            kvs,
            "tokenizer.ggml.eos_token_id",
            OwnedValue::U32(eos as u32),
        )
    });
    let r = text_smoke(
        d,
        Some(&model),
        &[
            "--text",
            "Hello world",
            "--stop-at-eog",
            "--receipt",
            "c.json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let c = read(&d.join("c.json"));
    let stop_at = generated.iter().position(|&t| t == eos || t == 2).unwrap();
    assert_eq!(c["results"]["generated"].as_array().unwrap().len(), stop_at);
    assert_eq!(c["results"]["stop"]["reason"], "eog");
    assert_eq!(c["results"]["stop"]["token"], generated[stop_at]);
    assert_eq!(c["inputs"]["stop_at_eog"], true);
    let note = format!("stopped at end-of-generation token {}", generated[stop_at]);
    assert!(r.out.contains(&note), "{}", r.out);
    let v = cmd("verify-receipt", d, None, &["--replay", "c.json"]);
    assert_eq!(v.code, 0, "{}{}", v.out, v.err);
}

#[test]
fn text_the_tokenizer_cannot_take_gets_one_line_and_exit_2() {
    use std::os::unix::ffi::OsStrExt;
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let o = Command::cargo_bin("perf-smoke")
        .unwrap()
        .current_dir(d)
        .args(["--preset", "tiny", "--text"])
        .arg(std::ffi::OsStr::from_bytes(b"caf\xe9"))
        .output()
        .unwrap();
    let bad = Run {
        code: o.status.code().unwrap(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    one_line_exit_2(
        &bad,
        "--text: the text is not valid UTF-8 (byte 0xE9 at offset 3); pass UTF-8 text",
    );
    let none = edited(d, "none.gguf", |kvs| {
        kvs.retain(|(k, _)| !k.starts_with("tokenizer."))
    });
    one_line_exit_2(
        &text_smoke(d, Some(&none), &["--text", "hi"]),
        "none.gguf: --text: no tokenizer metadata (tokenizer.ggml.model is missing)",
    );
    one_line_exit_2(
        &text_smoke(d, Some(&none), &["--stop-at-eog"]),
        "none.gguf: --stop-at-eog: no tokenizer metadata",
    );
    let bert = edited(d, "bert.gguf", |kvs| {
        set(kvs, "tokenizer.ggml.model", OwnedValue::Str("bert".into()))
    });
    one_line_exit_2(
        &text_smoke(d, Some(&bert), &["--text", "hi"]),
        "tokenizer.ggml.model is \"bert\"; parci reads \"gpt2\" (byte-level BPE) and \"llama\" (SentencePiece) tokenizers",
    );
    let pre = edited(d, "pre.gguf", |kvs| {
        set(kvs, "tokenizer.ggml.model", OwnedValue::Str("gpt2".into()));
        kvs.push((
            "tokenizer.ggml.pre".into(),
            OwnedValue::Str("no-such-pre".into()),
        ));
    });
    one_line_exit_2(
        &text_smoke(d, Some(&pre), &["--text", "hi"]),
        "tokenizer.ggml.pre is \"no-such-pre\", a pre-tokenizer parci does not know; known: default, llama3,",
    );
    // every run above failed before writing a receipt
    assert!(!d.join("target/parci/perf-smoke.receipt.json").exists());
    // without --text or --stop-at-eog a file without a tokenizer still runs
    let r = text_smoke(d, Some(&none), &["--receipt", "n.json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(read(&d.join("n.json"))["inputs"]["tokenizer"].is_null());
}

/// A baseline without an attestation is used with a warning in the verdict;
/// `--require-attested` refuses it, and a bundle made for another file (a
/// swapped baseline) is refused whether or not it is required. (A bundle
/// from another signer is refused by the same check: lib/tests/attest.rs.)
#[test]
fn an_unsigned_or_swapped_baseline_warns_or_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let r = smoke(t.path(), None, &["--receipt", "base.json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let r = smoke(
        t.path(),
        None,
        &["--baseline", "base.json", "--receipt", "c.json"],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let c = read(&t.path().join("c.json"));
    assert_eq!(c["verdict"]["status"], "warn");
    assert!(
        c["verdict"]["reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("the baseline base.json is unsigned"),
        "{}",
        c["verdict"]
    );
    assert_eq!(c["inputs"]["baseline"]["attested"], J::Null);

    let r = smoke(
        t.path(),
        None,
        &[
            "--baseline",
            "base.json",
            "--require-attested",
            "--receipt",
            "d.json",
        ],
    );
    assert_eq!((r.code, r.err.lines().count()), (2, 1), "{}", r.err);
    assert!(
        r.err.contains(
            "--require-attested: the baseline has no attestation (no base.json.sigstore.json)"
        ),
        "{}",
        r.err
    );
    assert!(!t.path().join("d.json").exists());

    let bundle = common::root().join("lib/tests/data/sigstore/conda-attestation.sigstore.json");
    std::fs::copy(&bundle, t.path().join("base.json.sigstore.json")).unwrap();
    for extra in [&[][..], &["--require-attested"][..]] {
        let mut a = vec!["--baseline", "base.json", "--receipt", "e.json"];
        a.extend_from_slice(extra);
        let r = smoke(t.path(), None, &a);
        assert_eq!((r.code, r.err.lines().count()), (2, 1), "{}", r.err);
        assert!(
            r.err.contains("the baseline's attestation base.json.sigstore.json: the bundle attests signed-package-2.1.0-hb0f4dca_0.conda"),
            "{}",
            r.err
        );
    }
}

/// The baseline comparison a receipt records is recomputed from the two
/// receipts when the baseline is still there: its rate edited (with a
/// matching change_pct, so the receipt is consistent in itself) fails,
/// naming the field.
#[test]
fn a_recorded_baseline_figure_is_checked_against_the_baseline() {
    let t = tempfile::tempdir().unwrap();
    assert_eq!(smoke(t.path(), None, &["--receipt", "base.json"]).code, 0);
    let r = smoke(
        t.path(),
        None,
        &["--baseline", "base.json", "--receipt", "c.json"],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    let path = t.path().join("c.json");
    assert_eq!(common::verify_receipt(&path).0, 0);
    let mut c = read(&path);
    let now = c["measurements"]["decode_tok_s"].as_f64().unwrap();
    let claimed = now * 2.0;
    c["measurements"]["baseline"]["decode_tok_s"] = J::from(claimed);
    c["measurements"]["baseline"]["change_pct"] =
        J::from(parci_core::bench::wall::change_pct(now, claimed));
    common::reseal(&mut c);
    write(&path, &c);
    let (code, msg) = common::verify_receipt(&path);
    assert_eq!(code, 1, "{msg}");
    assert!(
        msg.contains("/measurements/baseline/decode_tok_s: ") && msg.contains("records"),
        "{msg}"
    );
    // the baseline gone: nothing to recompute from, and nothing else is wrong
    std::fs::remove_file(t.path().join("base.json")).unwrap();
    assert_eq!(common::verify_receipt(&path).0, 0);
}
