//! What perf-smoke's three ways of measuring share: the options and the
//! outcome, the resolved workload ([`Prepared`]) with the arguments that
//! run it in another perf-smoke process, reading such a child's receipt,
//! and the report (table lines, step summary, BMF file, receipt). Below
//! perf_smoke.rs (wall clock, in process), perf_instructions.rs (callgrind)
//! and perf_paired.rs (`--against`), which all read it.

use crate::cli::{Common, Env, Format};
use crate::{emit, exit, github};
use anyhow::{bail, Context};
use clap::ValueEnum;
use parci_core::gguf::fixture::Preset;
use parci_core::model::workload::Workload;
use parci_core::receipt::{self, Body, Receipt};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub const PROGRAM: &str = "perf-smoke";
/// Without `max_regression`, a decode this much slower than the baseline warns.
pub const WARN_REGRESSION_PCT: f64 = 5.0;

/// `--parallel-graph on|off`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    On,
    Off,
}

/// `--parallel-debug`: how much the graph builder logs.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Debug {
    None,
    Basic,
    Verbose,
    All,
}

impl Debug {
    /// The logging directives this level adds.
    pub fn directives(self) -> &'static [&'static str] {
        match self {
            Debug::None => &[],
            Debug::Basic => &["parci_core::graph=info"],
            Debug::Verbose => &["parci_core::graph=debug"],
            Debug::All => &["trace"],
        }
    }
}

/// `--measure`: what the run measures.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Measure {
    /// Wall-clock rates of timed repeats.
    Wall,
    /// Instructions (and estimated cycles) per token under callgrind.
    Instructions,
}

impl Measure {
    pub fn name(self) -> &'static str {
        match self {
            Measure::Wall => "wall",
            Measure::Instructions => "instructions",
        }
    }
}

/// The prompt of the workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// This many tokens drawn from the vocabulary with the seed.
    Drawn(u64),
    /// Exactly these token ids.
    Ids(Vec<u32>),
    /// This text, tokenized by the model's tokenizer (checked to be UTF-8).
    Text(OsString),
}

/// Everything one perf-smoke run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// A llama GGUF file; `None` runs the `preset` fixture.
    pub model: Option<PathBuf>,
    pub preset: Preset,
    /// Where fixtures are generated and cached.
    pub models_dir: PathBuf,
    /// Seed of the fixture and of a drawn prompt.
    pub seed: u64,
    pub prompt: Prompt,
    /// End decoding at an end-of-generation token.
    pub stop_at_eog: bool,
    /// Tokens to decode, at most.
    pub tokens: u64,
    pub repeats: u64,
    pub warmup: u64,
    /// Compute threads; `None`: physical cores.
    pub threads: Option<u64>,
    /// A previous perf-smoke receipt to compare decode tok/s with.
    pub baseline: Option<PathBuf>,
    /// Fail when decode is more than this many percent slower than the baseline.
    pub max_regression: Option<f64>,
    /// How far the baseline must be trusted: its attestation.
    pub trust: BaselineTrust,
    /// Also write Bencher Metric Format here.
    pub bmf: Option<PathBuf>,
    /// What to measure: wall-clock rates, or instructions under callgrind.
    pub measure: Measure,
    /// Another build's perf-smoke to compare with in paired runs.
    pub against: Option<PathBuf>,
    /// Pairs at most for `against` (the sample budget).
    pub pairs: u64,
    pub parallel_graph: bool,
    /// Graph builder threads; `None`: logical CPUs.
    pub parallel_threads: Option<u64>,
    pub parallel_progress: bool,
    pub format: Format,
    pub common: Common,
}

/// What a run produced: its exit code, the sealed receipt and the table.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub table: String,
}

pub(crate) use parci_core::bench::wall::median;

/// A resolved workload, for the modes that run perf-smoke processes
/// (`--measure instructions`, `--against`) as well as for the in-process one.
pub(crate) struct Prepared {
    pub path: PathBuf,
    pub preset: Option<(Preset, u64)>,
    pub model_input: Value,
    pub model_sha: String,
    /// The `--text` prompt.
    pub text: Option<String>,
    pub tokenizer: Option<Value>,
    pub w: Workload,
    pub graph_threads: usize,
}

impl Prepared {
    /// The receipt's `inputs`.
    pub fn inputs(&self, opts: &Options, baseline: Option<Value>, against: Option<Value>) -> Value {
        json!({
            "model": self.model_input,
            "prompt": self.w.prompt,
            "text": self.text,
            "tokenizer": self.tokenizer,
            "stop_at_eog": opts.stop_at_eog,
            "tokens": self.w.tokens,
            "threads": self.w.threads,
            "kernel_mode": self.w.mode.name(),
            "seed": opts.seed,
            "repeats": opts.repeats,
            "warmup": opts.warmup,
            "parallel_graph": {"enabled": opts.parallel_graph, "threads": self.graph_threads},
            "baseline": baseline,
            "measure": opts.measure.name(),
            "against": against,
        })
    }

    /// perf-smoke's arguments for this workload in another process: the
    /// resolved model and prompt ids (flags every perf-smoke build takes),
    /// `repeats` timed passes after `warmup`, the receipt to `receipt`.
    pub fn child_args(&self, repeats: u64, warmup: u64, receipt: &Path) -> Vec<OsString> {
        let ids: Vec<String> = self.w.prompt.iter().map(u32::to_string).collect();
        let mut a: Vec<OsString> = vec![
            "--model".into(),
            self.path.clone().into(),
            "--prompt".into(),
            ids.join(",").into(),
            "--tokens".into(),
            self.w.tokens.to_string().into(),
            "--threads".into(),
            self.w.threads.to_string().into(),
            "--repeats".into(),
            repeats.to_string().into(),
            "--warmup".into(),
            warmup.to_string().into(),
            "--quiet".into(),
            "--receipt".into(),
            receipt.into(),
        ];
        if !self.w.stop.is_empty() {
            a.push("--stop-at-eog".into());
        }
        a
    }
}

/// Runs `cmd` (a perf-smoke, possibly under a wrapper) that writes its
/// receipt to `receipt`, and reads that receipt. A child's failure is an
/// error naming `what` with the child's last stderr line. GitHub Actions
/// variables are removed: the parent alone annotates and summarizes.
pub(crate) fn child_receipt(
    mut cmd: std::process::Command,
    receipt: &Path,
    what: &str,
) -> anyhow::Result<Value> {
    cmd.env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let _ = std::fs::remove_file(receipt);
    let out = cmd
        .output()
        .with_context(|| format!("{what}: cannot start {:?}", cmd.get_program()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        bail!("{what} failed ({}): {last}", out.status);
    }
    let bytes = std::fs::read(receipt)
        .with_context(|| format!("{what}: wrote no receipt at {}", receipt.display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{what}: {} is not JSON", receipt.display()))
}

/// The baseline's attestation: where it is, whether it is required, who
/// must have signed it.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct BaselineTrust {
    /// The Sigstore bundle attesting --baseline (a GitHub artifact
    /// attestation) [default: RECEIPT.sigstore.json when it exists]
    #[arg(long, value_name = "BUNDLE", requires = "baseline")]
    pub baseline_attestation: Option<PathBuf>,
    /// Refuse (exit 2) a baseline without an attestation that verifies
    /// (signature, transparency log, subject, --signer-workflow); without
    /// this flag an unsigned baseline is used with a warning
    #[arg(long, requires = "baseline")]
    pub require_attested: bool,
    #[command(flatten)]
    pub signer: crate::cli::SignerArgs,
}

/// A baseline receipt as read: verified, parsed, and who attested it.
pub(crate) struct BaselineFile {
    pub file: receipt::FileInput,
    pub doc: Value,
    pub attested: Option<parci_core::attest::Attested>,
}

impl BaselineFile {
    /// `inputs.baseline` of a receipt compared with it.
    pub fn input(&self, max_regression_pct: Option<f64>) -> Value {
        json!({
            "file": self.file,
            "max_regression_pct": max_regression_pct,
            "attested": self.attested.as_ref().map(|a| json!({"signer": a.signer, "logged_at": a.logged_at})),
        })
    }

    /// The verdict's warning when nothing vouches for the baseline.
    pub fn warning(&self) -> Option<String> {
        self.attested.is_none().then(|| {
            format!(
                "the baseline {} is unsigned: whoever can edit it moves this gate; attest it in CI and pass --require-attested",
                self.file.path
            )
        })
    }
}

/// A baseline receipt: verified as a perf-smoke receipt (else exit 2
/// naming the first problem), its attestation checked when there is one
/// (a bundle that does not verify is exit 2; none is exit 2 under
/// `--require-attested`), and parsed.
pub(crate) fn read_baseline_receipt(
    path: &Path,
    trust: &BaselineTrust,
) -> anyhow::Result<BaselineFile> {
    let shown = path.display();
    let report = parci_core::verify::verify_file(path, Some("parci.perf-smoke"))
        .with_context(|| format!("{shown}: cannot read the baseline receipt"))?;
    if let Some(f) = report.errors.first() {
        bail!(
            "{shown}: not a valid perf-smoke receipt ({} {}); pass a receipt perf-smoke wrote",
            f.pointer,
            f.message
        );
    }
    let bytes = std::fs::read(path)?;
    if parci_core::fsutil::sha256_hex(&bytes) != report.file.sha256 {
        bail!("{shown}: the baseline changed while it was read; try again");
    }
    let default_bundle = PathBuf::from(format!("{}.sigstore.json", path.display()));
    let bundle = match &trust.baseline_attestation {
        Some(b) => Some(b.clone()),
        None => default_bundle.is_file().then_some(default_bundle.clone()),
    };
    let attested = match bundle {
        Some(b) => {
            let policy = parci_core::attest::Policy {
                predicate_type: Some(parci_core::attest::predicate_type("parci.perf-smoke")),
                ..trust.signer.policy()
            };
            let a = parci_core::attest::verify(&bytes, &b, &trust.signer.root()?, &policy)
                .map_err(|e| anyhow::anyhow!("{shown}: the baseline's attestation {}: {e}", b.display()))?;
            Some(a)
        }
        None if trust.require_attested => bail!(
            "{shown}: --require-attested: the baseline has no attestation (no {}); pass --baseline-attestation BUNDLE, or a baseline CI attested",
            default_bundle.display()
        ),
        None => None,
    };
    let doc: Value = serde_json::from_slice(&bytes)?;
    Ok(BaselineFile {
        file: report.file,
        doc,
        attested,
    })
}

/// A scratch directory for child receipts, removed when dropped.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> anyhow::Result<Scratch> {
        let d = std::env::temp_dir().join(format!("parci-perf-smoke-{}", std::process::id()));
        std::fs::create_dir_all(&d)
            .with_context(|| format!("{}: cannot create a scratch directory", d.display()))?;
        Ok(Scratch(d))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Step summary, BMF file, receipt, stdout: in that order. `measures` is
/// the run's Bencher Metric Format measures, under the benchmark `name`.
pub(crate) fn report(
    opts: &Options,
    env: &Env,
    body: Body,
    table: String,
    name: String,
    measures: Value,
) -> anyhow::Result<Outcome> {
    let failed = body.verdict.status == receipt::Status::Fail;
    github::append_summary(env, &format!("### {PROGRAM}\n\n```\n{table}```\n\n"))?;
    if let Some(out) = &opts.bmf {
        let text = serde_json::to_string_pretty(&json!({ name: measures }))?;
        parci_core::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("{}: cannot write the BMF file", out.display()))?;
    }
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

/// The BMF benchmark name: `perf-smoke/<model>/threads-<T>`.
pub(crate) fn bmf_name(preset: Option<(Preset, u64)>, path: &Path, threads: u64) -> String {
    let model = match preset {
        Some((p, s)) => format!("{}-seed{s}", p.name()),
        None => path
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
    };
    format!("perf-smoke/{model}/threads-{threads}")
}

/// The table's first lines: file, model, kernels and workload.
pub(crate) fn header(path: &str, body: &Body, threads: u64) -> String {
    let (i, r) = (&body.inputs, &body.results);
    let types: Vec<String> = i["model"]["tensor_types"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k}×{v}")).collect())
        .unwrap_or_default();
    format!(
        "perf-smoke  {path}\n  model        {:.1}M params ({})\n  kernels      {} on {threads} thread{}, {} prompt + {} decode tokens\n",
        i["model"]["parameters"].as_f64().unwrap_or(f64::NAN) / 1e6,
        types.join(" "),
        r["isa"].as_str().unwrap_or("?"),
        if threads == 1 { "" } else { "s" },
        i["prompt"].as_array().map_or(0, Vec::len),
        i["tokens"],
    )
}

/// The table's last lines: text, continuation, output digest, verdict.
pub(crate) fn footer(body: &Body) -> String {
    let (i, r) = (&body.inputs, &body.results);
    let mut out = String::new();
    if let Some(t) = i["text"].as_str() {
        out += &format!("  text         {t:?}\n");
    }
    if let Some(t) = r["text"].as_str() {
        out += &format!("  continuation {t:?}\n");
    }
    let stop = match r["stop"]["token"].as_u64() {
        Some(id) => format!(", stopped at end-of-generation token {id}"),
        None => String::new(),
    };
    out += &format!(
        "  output       {}  ({} tokens{stop})\n  verdict      {}\n",
        r["output_digest"].as_str().unwrap_or("?"),
        r["generated_count"],
        body.verdict.status.as_str()
    );
    for reason in &body.verdict.reasons {
        out += &format!("    - {reason}\n");
    }
    out
}
