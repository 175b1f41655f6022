//! parity's run: read the model and the text, get the reference (llama.cpp
//! live with the `llama-cpp` feature, or a saved file), run parci over the
//! same ids, compare every position, and report (table, receipt). The program
//! in `src/bin/parity.rs` only turns its flags into [`Options`].

use crate::cli::{self, Common, Env, Format};
use crate::{emit, exit};
use anyhow::{anyhow, bail, Context};
use parci_core::gguf::MappedFile;
use parci_core::model::{smoke, Model};
use parci_core::parity::reference::Reference;
use parci_core::parity::{self, Thresholds};
use parci_core::receipt::{canonical::finite, Body, FileInput, Receipt, Verdict};
use parci_core::tokenizer::Tokenizer;
use serde_json::json;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "parity";

/// The text compared when none is given: public-domain English prose (the
/// opening of A Tale of Two Cities), about 300 tokens in SmolLM2 and Gemma 3.
/// The committed reference files (tests/data/parity/) are of this text.
pub const DEFAULT_TEXT: &str = include_str!("../tests/data/parity/text.txt");

/// A saved reference keeps, per position, the largest logits until they hold
/// this much of the reference's probability (at most `--top-k` of them).
pub const SAVED_MASS: f64 = 0.999;

/// Where the reference comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum RefSource {
    /// llama.cpp in this process (the `llama-cpp` feature).
    LlamaCpp,
    /// parci itself (this build, this kernel mode): with `--write-reference`,
    /// a baseline another build is compared with.
    Parci,
    /// A file `--write-reference` wrote.
    File(PathBuf),
}

/// Everything one parity run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    pub model: PathBuf,
    /// `--text` (checked to be UTF-8); `None` with no `text_file`: [`DEFAULT_TEXT`].
    pub text: Option<OsString>,
    pub text_file: Option<PathBuf>,
    /// Compare at most this many positions (default: every position of the text).
    pub positions: Option<usize>,
    /// Greedy tokens both engines decode after the text (0: none).
    pub greedy: usize,
    pub reference: RefSource,
    /// Save the live reference here (top-k logits and log-sum-exp per position).
    pub write_reference: Option<PathBuf>,
    /// Logits per position a written reference keeps at most.
    pub top_k: usize,
    /// The live reference decodes one token at a time instead of the text in one batch.
    pub reference_sequential: bool,
    pub thresholds: Thresholds,
    /// parci's compute threads; `None`: physical cores.
    pub threads: Option<u64>,
    pub format: Format,
    pub common: Common,
}

pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub table: String,
}

fn text(opts: &Options) -> anyhow::Result<String> {
    if let Some(p) = &opts.text_file {
        let b = std::fs::read(p)
            .with_context(|| format!("{}: cannot read the text file", p.display()))?;
        return String::from_utf8(b).map_err(|e| {
            anyhow!(
                "{}: not UTF-8 text (byte {} is not); pass a UTF-8 file",
                p.display(),
                e.utf8_error().valid_up_to()
            )
        });
    }
    match &opts.text {
        Some(t) => Ok(cli::utf8_arg("--text", t)?.to_string()),
        None => Ok(DEFAULT_TEXT.to_string()),
    }
}

/// The live reference, when this build has llama.cpp.
#[cfg(feature = "llama-cpp")]
fn live(opts: &Options, text: &str, sha: &str) -> anyhow::Result<Reference> {
    crate::parity_llama::reference(
        &opts.model,
        text,
        sha,
        opts.positions,
        opts.greedy,
        opts.reference_sequential,
    )
}

#[cfg(not(feature = "llama-cpp"))]
fn live(_: &Options, _: &str, _: &str) -> anyhow::Result<Reference> {
    bail!("--reference llama.cpp: this parity was built without llama.cpp; build with `cargo build --release --features llama-cpp` or pass --reference-file FILE")
}

/// parci as the reference: its own tokenizer, then teacher-forced logits.
fn parci_reference(
    opts: &Options,
    g: &parci_core::gguf::Gguf,
    text: &str,
    sha: &str,
    mode: parci_core::quant::kernels::KernelMode,
    threads: usize,
) -> anyhow::Result<Reference> {
    let shown = opts.model.display();
    let tok = Tokenizer::from_gguf(g).map_err(|e| anyhow!("{shown}: {e}"))?;
    let ids = tok
        .encode(text, true, true)
        .map_err(|e| anyhow!("{shown}: {e}"))?;
    let plan = plan_for(g, &shown, ids.len() + opts.greedy)?;
    let model = Model::new(g, &plan).map_err(|e| anyhow!("{shown}: {e}"))?;
    let keep = opts.positions.unwrap_or(ids.len());
    parity::parci_reference(&model, text, ids, sha, keep, opts.greedy, mode, threads)
        .map_err(|e| anyhow!("{shown}: {e}"))
}

/// The execution plan for `need` positions (the text and the greedy
/// tokens), refused when the model's context is shorter.
fn plan_for(
    g: &parci_core::gguf::Gguf,
    shown: &dyn std::fmt::Display,
    need: usize,
) -> anyhow::Result<parci_core::graph::ExecutionPlan> {
    let h = parci_core::graph::hparams(g).map_err(|e| anyhow!("{shown}: {e}"))?;
    if need as u64 > h.n_ctx_train {
        bail!(
            "{shown}: the text and greedy tokens need {need} positions, beyond the model's context of {}; pass a shorter text",
            h.n_ctx_train
        );
    }
    parci_core::graph::build(g, (need + 1) as u64, true).map_err(|e| anyhow!("{shown}: {e}"))
}

/// Runs parity: prints what `opts.format` asks for, writes the receipt,
/// returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let mode = env.kernel_mode()?;
    let threads = opts
        .threads
        .unwrap_or(parci_core::receipt::physical_cores() as u64)
        .max(1) as usize;
    let shown = opts.model.display().to_string();
    let text = text(opts)?;
    let mapped = MappedFile::open(&opts.model)
        .with_context(|| format!("{shown}: cannot open; pass an existing GGUF file"))?;
    let g = mapped.parse().map_err(|e| anyhow!("{shown}: {e}"))?;
    let model_input = smoke::model_input(&opts.model, mapped.bytes(), &g, None);
    let sha = model_input["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let t_ref = Instant::now();
    let (mut r, ref_file) = match &opts.reference {
        RefSource::LlamaCpp => (live(opts, &text, &sha)?, None),
        RefSource::Parci => (parci_reference(opts, &g, &text, &sha, mode, threads)?, None),
        RefSource::File(p) => {
            let shown_ref = p.display();
            let bytes = std::fs::read(p)
                .with_context(|| format!("{shown_ref}: cannot read the reference file"))?;
            let body = std::str::from_utf8(&bytes)
                .map_err(|_| anyhow!("{shown_ref}: not a parity reference file (not UTF-8)"))?;
            let r = Reference::from_json(body).map_err(|e| anyhow!("{shown_ref}: {e}"))?;
            if r.text != text {
                bail!("{shown_ref}: is a reference for another text; pass the text it was written for (--text-file) or write a new one");
            }
            let ids = r.ids.clone();
            r.check(&sha, &ids)
                .map_err(|e| anyhow!("{shown_ref}: {e}"))?;
            let file = FileInput {
                path: shown_ref.to_string(),
                bytes: bytes.len() as u64,
                sha256: parci_core::fsutil::sha256_hex(&bytes),
            };
            (r, Some(file))
        }
    };
    let reference_ms = t_ref.elapsed().as_secs_f64() * 1e3;
    if let Some(n) = opts.positions {
        if n > r.positions.len() {
            bail!(
                "--positions {n}: the text gives {} positions; pass at most {} or a longer text",
                r.positions.len(),
                r.positions.len()
            );
        }
        r.positions.truncate(n);
    }
    if r.positions.is_empty() {
        bail!("the text gives no position to compare; pass a longer text");
    }
    let need = r.ids.len() + r.greedy.as_ref().map_or(0, Vec::len);
    let plan = plan_for(&g, &shown, need)?;
    if let Some(out) = &opts.write_reference {
        let saved = r.truncated(SAVED_MASS, opts.top_k);
        parci_core::fsutil::write_atomic(out, saved.to_json().as_bytes())
            .with_context(|| format!("{}: cannot write the reference", out.display()))?;
    }

    let t_parci = Instant::now();
    let model = Model::new(&g, &plan).map_err(|e| anyhow!("{shown}: {e}"))?;
    let c = parity::run(&model, &r, mode, threads).map_err(|e| anyhow!("{shown}: {e}"))?;
    let parci_ms = t_parci.elapsed().as_secs_f64() * 1e3;

    // The tokenizer is read only to show greedy continuations as text.
    let texts = match (&c.greedy, &r.greedy) {
        (Some(a), Some(b)) => Tokenizer::from_gguf(&g).ok().map(|t| {
            (
                t.decode_text(a, true).unwrap_or_default(),
                t.decode_text(b, true).unwrap_or_default(),
            )
        }),
        _ => None,
    };
    let results = parity::results(&c, &r, texts);
    let reasons = parity::verdict_reasons(&c.summary, &opts.thresholds);
    let inputs = json!({
        "model": model_input,
        "text": r.text,
        "ids": r.ids,
        "positions": r.positions.len(),
        "greedy": r.greedy.as_ref().map_or(0, Vec::len),
        "reference": {"engine": r.engine, "file": ref_file},
        "thresholds": {
            "min_same_top1_pct": finite(opts.thresholds.min_same_top1_pct)?,
            "max_mean_kl": finite(opts.thresholds.max_mean_kl)?,
        },
        "threads": threads,
        "kernel_mode": mode.name(),
    });
    let body = Body {
        inputs,
        results,
        measurements: json!({"reference_ms": finite(reference_ms)?, "parci_ms": finite(parci_ms)?}),
        verdict: Verdict::from_findings(reasons, vec![]),
    };
    let failed = body.verdict.status == parci_core::receipt::Status::Fail;
    let table = render(&shown, &body);
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    match opts.format {
        Format::Text if !opts.common.quiet => print!("{table}"),
        Format::Json => written.echo(),
        _ => {}
    }
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
        table,
    })
}

fn render(path: &str, body: &Body) -> String {
    let (i, r) = (&body.inputs, &body.results);
    let s = &r["summary"];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or(f64::NAN);
    let mut out = format!(
        "parity  {path}\n  reference    {}\n  positions    {} (of {} ids)\n  same top-1   {:.2}%\n  KL           mean {:.3e}   median {:.3e}   p99 {:.3e}   max {:.3e}\n  cosine       min {:.6}\n  max |Δlog p| {:.4}\n",
        i["reference"]["engine"].as_str().unwrap_or("?"),
        s["positions"],
        i["ids"].as_array().map_or(0, Vec::len),
        f(&s["same_top1_pct"]),
        f(&s["kl_mean"]),
        f(&s["kl_median"]),
        f(&s["kl_p99"]),
        f(&s["kl_max"]),
        f(&s["cosine_min"]),
        f(&s["max_dlogprob"]),
    );
    if f(&s["rest_max"]) > 0.0 {
        out += &format!(
            "  top-k        reference mass outside the saved logits: at most {:.2e}\n",
            f(&s["rest_max"])
        );
    }
    let g = &r["greedy"];
    if g.is_object() {
        out += &format!(
            "  greedy       {} tokens, first divergence {}\n    parci      {:?}\n    reference  {:?}\n",
            g["tokens"],
            g["first_divergence"]
                .as_u64()
                .map_or("none".into(), |p| format!("at {p}")),
            g["parci_text"].as_str().unwrap_or(""),
            g["reference_text"].as_str().unwrap_or(""),
        );
    }
    out += &format!("  verdict      {}\n", body.verdict.status.as_str());
    for reason in &body.verdict.reasons {
        out += &format!("    - {reason}\n");
    }
    out
}
