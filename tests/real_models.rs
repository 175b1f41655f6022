//! The published models (SmolLM2-135M-Instruct Q4_1, Gemma 3 270M Q4_K_M)
//! and SmolLM2 requantized by llama-quantize to every other block format:
//! each runs end to end with the same output digest for every kernel mode and
//! thread count, and a perf-smoke receipt of each real model verifies and
//! replays. `bash scripts/models.sh` puts the files under
//! target/parci/models/ (scripts/test.sh runs it); a missing file fails the
//! test with that command.

mod common;

use assert_cmd::Command;
use parci_core::gguf::MappedFile;
use parci_core::model::{workload, Model};
use parci_core::quant::kernels::KernelMode;
use std::path::{Path, PathBuf};

const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const GEMMA3: &str = "gemma-3-270m-q4_k_m.gguf";
/// llama-quantize's requantizations of SmolLM2 (scripts/models.sh). The
/// Q2_K and Q3_K_M mixes hold no Q2_K / Q3_K tensor (576-wide rows cannot be
/// K-quants, and the mixes upgrade ffn_down), so `--pure` files cover those.
const REQUANTIZED: [&str; 9] = [
    "Q5_0",
    "Q5_1",
    "Q2_K",
    "Q3_K_M",
    "Q4_K_M",
    "Q5_K_M",
    "Q6_K",
    "Q2_K-pure",
    "Q3_K-pure",
];

fn model(name: &str) -> PathBuf {
    let p = common::root().join("target/parci/models").join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `bash scripts/models.sh` (scripts/test.sh does)",
        p.display()
    );
    p
}

/// Output digest and kernel IDs of a 4 + 4 token workload.
fn run(path: &Path, mode: KernelMode, threads: usize) -> (String, Vec<String>) {
    let mapped = MappedFile::open(path).unwrap();
    let g = mapped.parse().unwrap();
    let w = workload::Workload {
        prompt: workload::prompt(parci_core::graph::hparams(&g).unwrap().n_vocab, 0, 4),
        tokens: 4,
        threads,
        mode,
        stop: vec![],
    };
    let plan = parci_core::graph::build(&g, workload::n_ctx(&w) as u64, true).unwrap();
    let m = Model::new(&g, &plan).unwrap();
    let p = workload::run(&m, &w).unwrap();
    assert!(p.last_logits.iter().all(|v| v.is_finite()));
    (
        p.output_digest(),
        p.kernels.into_iter().map(|(id, _)| id).collect(),
    )
}

/// The same digest for scalar, AVX2 and AVX-512 kernels on 1 and 2 threads
/// (modes this host lacks are skipped); returns the kernels of the scalar run.
fn same_digest_everywhere(path: &Path) -> Vec<String> {
    let (want, kernels) = run(path, KernelMode::Scalar, 1);
    for mode in [KernelMode::Avx2, KernelMode::Avx512, KernelMode::Neon] {
        if mode.resolve().is_err() {
            continue;
        }
        for threads in [1, 2] {
            let (got, _) = run(path, mode, threads);
            assert_eq!(got, want, "{}: {mode:?} x{threads}", path.display());
        }
    }
    let (got, _) = run(path, KernelMode::Scalar, 2);
    assert_eq!(got, want, "{}: scalar x2", path.display());
    kernels
}

#[test]
fn smollm2_q4_1_same_digest_on_every_isa_and_thread_count() {
    let k = same_digest_everywhere(&model(SMOLLM2));
    assert_eq!(k, ["q4_1_dot_q8_1_scalar", "q8_0_dot_q8_0_scalar"]);
}

#[test]
fn gemma3_q4_k_m_same_digest_on_every_isa_and_thread_count() {
    let k = same_digest_everywhere(&model(GEMMA3));
    assert_eq!(
        k,
        [
            "q4_k_dot_q8k_scalar",
            "q5_0_dot_q8_0_scalar",
            "q6_k_dot_q8k_scalar",
            "q8_0_dot_q8_0_scalar"
        ]
    );
}

#[test]
fn smollm2_requantized_by_llama_quantize_runs_every_format() {
    let mut seen = std::collections::BTreeSet::new();
    for ty in REQUANTIZED {
        let k = same_digest_everywhere(&model(&format!("SmolLM2-135M-Instruct.{ty}.gguf")));
        seen.extend(
            k.into_iter()
                .map(|id| id.split("_dot_").next().unwrap().to_string()),
        );
    }
    // every new weight format ran somewhere in these files
    for f in ["q5_0", "q5_1", "q2_k", "q3_k", "q4_k", "q5_k", "q6_k"] {
        assert!(seen.contains(f), "{f} never ran: {seen:?}");
    }
}

#[test]
fn perf_smoke_receipts_of_the_real_models_verify_and_replay() {
    let t = tempfile::tempdir().unwrap();
    for name in [SMOLLM2, GEMMA3] {
        let path = model(name);
        let receipt = t.path().join(format!("{name}.json"));
        let bin = |b: &str| {
            let mut c = Command::cargo_bin(b).unwrap();
            c.current_dir(t.path())
                .env_remove("GITHUB_ACTIONS")
                .env_remove("GITHUB_STEP_SUMMARY")
                .env_remove("PARCI_KERNELS");
            c
        };
        let o = bin("perf-smoke")
            .args(["--model", path.to_str().unwrap()])
            .args(["--tokens", "3", "--prompt-tokens", "3"])
            .args(["--warmup", "0", "--repeats", "1", "-q"])
            .args(["--receipt", receipt.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = bin("verify-receipt")
            .args(["--replay", receipt.to_str().unwrap(), "-q"])
            .args(["--receipt", t.path().join("v.json").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{name}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

/// `gguf-dump --values` writes every new format's tensors as f32: one tensor
/// of each, from the files llama.cpp wrote, with the element count of its
/// shape (the values themselves are held to gguf-py by
/// tests/gguf_interop_kquants.rs and tests/gguf_interop.rs).
#[test]
fn gguf_dump_writes_values_of_every_new_format() {
    let t = tempfile::tempdir().unwrap();
    let cases = [
        (SMOLLM2.to_string(), "blk.0.attn_q.weight", "Q4_1"),
        (GEMMA3.to_string(), "blk.0.attn_q.weight", "Q5_0"),
        (GEMMA3.to_string(), "blk.0.attn_output.weight", "Q4_K"),
        (GEMMA3.to_string(), "blk.0.ffn_down.weight", "Q6_K"),
        (
            "SmolLM2-135M-Instruct.Q5_1.gguf".into(),
            "blk.0.attn_q.weight",
            "Q5_1",
        ),
        (
            "SmolLM2-135M-Instruct.Q2_K-pure.gguf".into(),
            "blk.0.ffn_down.weight",
            "Q2_K",
        ),
        (
            "SmolLM2-135M-Instruct.Q3_K-pure.gguf".into(),
            "blk.0.ffn_down.weight",
            "Q3_K",
        ),
        (
            "SmolLM2-135M-Instruct.Q5_K_M.gguf".into(),
            "blk.3.ffn_down.weight",
            "Q5_K",
        ),
    ];
    for (file, tensor, ty) in cases {
        let path = model(&file);
        let mapped = MappedFile::open(&path).unwrap();
        let g = mapped.parse().unwrap();
        let info = g.tensor(tensor).unwrap();
        assert_eq!(info.ty.name(), ty, "{file}: {tensor}");
        let out = t.path().join(format!("{ty}.f32"));
        let o = Command::cargo_bin("gguf-dump")
            .unwrap()
            .current_dir(t.path())
            .arg(&path)
            .args(["--tensor", tensor, "--values", "f32le"])
            .arg(&out)
            .args(["--receipt", "-", "-q"])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{ty}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let bytes = std::fs::read(&out).unwrap();
        assert_eq!(bytes.len() as u64, 4 * info.n_elements(), "{ty}");
        assert!(
            bytes
                .chunks_exact(4)
                .all(|c| f32::from_le_bytes(c.try_into().unwrap()).is_finite()),
            "{ty}: non-finite values"
        );
    }
}

fn bin(dir: &Path, b: &str, args: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin(b)
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

#[test]
fn text_in_text_out_on_the_published_models() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let smollm2 = model(SMOLLM2);
    let s = smollm2.to_str().unwrap();
    let (code, out, err) = bin(
        d,
        "gguf-dump",
        &[s, "--tokenize", "The capital of France is"],
    );
    assert_eq!(code, 0, "{err}");
    // llama.cpp's ids (tests/data/tokenizer/smollm2.json has this string too)
    assert_eq!(out, "504,3575,282,4649,314\n");
    let (code, out, _) = bin(
        d,
        "gguf-dump",
        &[s, "--detokenize", "504,3575,282,4649,314"],
    );
    assert_eq!((code, out.as_str()), (0, "The capital of France is\n"));

    let (code, out, err) = bin(
        d,
        "perf-smoke",
        &[
            "--model",
            s,
            "--text",
            "The capital of France is",
            "--tokens",
            "8",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--receipt",
            "smollm2.json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("  continuation \" Paris."), "{out}");
    let (code, out, err) = bin(d, "verify-receipt", &["--replay", "smollm2.json"]);
    assert_eq!(code, 0, "{out}{err}");

    // A chat turn ends at <|im_end|> with --stop-at-eog.
    let chat =
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n";
    let (code, out, err) = bin(
        d,
        "perf-smoke",
        &[
            "--model",
            s,
            "--text",
            chat,
            "--tokens",
            "32",
            "--stop-at-eog",
            "--warmup",
            "0",
            "--repeats",
            "1",
            "--receipt",
            "chat.json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Paris"), "{out}");
    let r: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("chat.json")).unwrap()).unwrap();
    assert_eq!(r["results"]["stop"]["reason"], "eog", "{out}");
    // <|im_start|> was read as the control token, not as text
    assert_eq!(r["inputs"]["prompt"][0], 1);

    let gemma = model(GEMMA3);
    let g = gemma.to_str().unwrap();
    let (code, out, err) = bin(
        d,
        "gguf-dump",
        &[
            g,
            "--tokenize",
            "<start_of_turn>user Hi",
            "--format",
            "json",
            "--receipt",
            "-",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let tokens = &r["results"]["tokens"];
    assert_eq!(tokens["ids"], serde_json::json!([2, 105, 2364, 18428]));
    assert_eq!(tokens["pieces"][1]["piece"], "<start_of_turn>");
    assert_eq!(tokens["pieces"][3]["token"], "\u{2581}Hi");
    assert_eq!(tokens["tokenizer"]["eog"], serde_json::json!([1, 106, 212]));
    let (code, out, _) = bin(
        d,
        "gguf-dump",
        &[g, "--detokenize", "2,818,5279,529,7001,563"],
    );
    assert_eq!((code, out.as_str()), (0, "<bos>The capital of France is\n"));
}
