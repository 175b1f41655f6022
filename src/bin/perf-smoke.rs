//! perf-smoke: a real greedy decode on a llama GGUF model, timed, with the
//! kernels that ran and an output digest anyone can replay.

use anyhow::{anyhow, bail, Context};
use clap::{Parser, ValueEnum};
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, github};
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{Gguf, MappedFile};
use parci_core::graph::{self, ExecutionPlan};
use parci_core::model::smoke::{self, MODELS_DIR};
use parci_core::model::workload::{self, Pass, Workload};
use parci_core::model::Model;
use parci_core::receipt::{self, canonical::finite, Body, FileInput, Verdict};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PROGRAM: &str = "perf-smoke";
/// Without --max-regression, a decode this much slower than the baseline warns.
const WARN_REGRESSION_PCT: f64 = 5.0;

/// Decode a llama GGUF model greedily and time it: the PR performance gate.
///
/// Exit status: 0 pass (warnings allowed), 1 slower than the baseline by more
/// than --max-regression (or repeats disagreed), 2 bad input or usage error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  perf-smoke                                     # small fixture, 8 prompt + 32 decode tokens
  perf-smoke --preset tiny --tokens 8 --repeats 1
  perf-smoke --model llama.gguf --threads 1
  perf-smoke --baseline main.receipt.json --max-regression 10
  PARCI_KERNELS=scalar perf-smoke --bmf target/parci/perf-smoke.bmf.json")]
struct Args {
    /// A llama GGUF file to run [default: the --preset fixture]
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    model: Option<PathBuf>,
    /// parci's fixture model, generated once under target/parci/models/
    #[arg(long, value_enum)]
    preset: Option<PresetArg>,
    /// Seed of the fixture and of the drawn prompt
    #[arg(long, default_value_t = fixture::DEFAULT_SEED)]
    seed: u64,
    /// Prompt length, drawn from the vocabulary with --seed
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65536), conflicts_with = "prompt")]
    prompt_tokens: u64,
    /// Exact prompt token ids, comma-separated (instead of a drawn prompt)
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    prompt: Option<Vec<u32>>,
    /// Tokens to decode
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65536))]
    tokens: u64,
    /// Timed repeats after the warm-up; the median is reported
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    repeats: u64,
    /// Untimed warm-up passes
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup: u64,
    /// Compute threads [default: physical cores]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// A previous perf-smoke receipt (same model and threads) to compare decode tok/s with
    #[arg(long, value_name = "RECEIPT")]
    baseline: Option<PathBuf>,
    /// Fail (exit 1) when decode is more than PCT percent slower than --baseline
    /// [default: only warn, from 5%]
    #[arg(long, value_name = "PCT", requires = "baseline")]
    max_regression: Option<f64>,
    /// Also write the measurements in Bencher Metric Format to OUT
    #[arg(long, value_name = "OUT")]
    bmf: Option<PathBuf>,
    /// Build layer specs in parallel (on) or one after another (off); the plans are identical
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    parallel_graph: OnOff,
    /// Threads of the graph builder's spec phase [default: logical CPUs]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    parallel_threads: Option<u64>,
    /// Graph builder logging on stderr: none, basic (info), verbose (debug per layer), all (trace, every target)
    #[arg(long, value_enum, default_value_t = Debug::None)]
    parallel_debug: Debug,
    /// Show a progress bar while the graph is built (on a terminal)
    #[arg(long)]
    parallel_progress: bool,
    /// What to print on stdout: a table for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum PresetArg {
    Tiny,
    Small,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum OnOff {
    On,
    Off,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Debug {
    None,
    Basic,
    Verbose,
    All,
}

impl Debug {
    fn directives(self) -> &'static [&'static str] {
        match self {
            Debug::None => &[],
            Debug::Basic => &["parci_core::graph=info"],
            Debug::Verbose => &["parci_core::graph=debug"],
            Debug::All => &["trace"],
        }
    }
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging_with(&args.common, args.parallel_debug.directives());
    cli::main_with(PROGRAM, || run(args, Env::read()))
}

/// The model file and, for fixtures, what it was generated from.
fn resolve_model(args: &Args) -> anyhow::Result<(PathBuf, Option<(Preset, u64)>)> {
    if let Some(p) = &args.model {
        return Ok((p.clone(), None));
    }
    let preset = match args.preset.unwrap_or(PresetArg::Small) {
        PresetArg::Tiny => Preset::Tiny,
        PresetArg::Small => Preset::Small,
    };
    let dir = Path::new(MODELS_DIR);
    let (p, fresh) = fixture::materialize(dir, preset, args.seed)
        .with_context(|| format!("{}: cannot write the fixture model", dir.display()))?;
    tracing::info!(path = %p.display(), regenerated = fresh, "fixture model");
    Ok((p, Some((preset, args.seed))))
}

/// Builds the plan on a pool of `threads`, showing progress when asked.
fn build_plan(
    g: &Gguf,
    n_ctx: u64,
    parallel: bool,
    threads: usize,
    progress: bool,
) -> anyhow::Result<(ExecutionPlan, Duration)> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("parci-graph-{i}"))
        .build()
        .map_err(|e| anyhow!("cannot start {threads} graph threads: {e}"))?;
    let done = AtomicU64::new(0);
    let finished = AtomicBool::new(false);
    let n_layer = g.get_u32("llama.block_count").unwrap_or(0) as u64;
    std::thread::scope(|s| {
        if progress {
            s.spawn(|| {
                let bar = indicatif::ProgressBar::new(2 * n_layer);
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "graph {bar:30} {pos}/{len} layer specs {elapsed_precise}",
                    )
                    .expect("valid template"),
                );
                while !finished.load(Ordering::Acquire) {
                    bar.set_position(done.load(Ordering::Relaxed));
                    std::thread::sleep(Duration::from_millis(20));
                }
                bar.set_position(done.load(Ordering::Relaxed));
                bar.finish();
            });
        }
        let t = Instant::now();
        let plan = pool.install(|| graph::build_counted(g, n_ctx, parallel, &done));
        let elapsed = t.elapsed();
        finished.store(true, Ordering::Release);
        Ok((plan?, elapsed))
    })
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Nearest-rank percentile of sorted `v`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Baseline {
    file: FileInput,
    decode_tok_s: f64,
}

/// Reads a baseline receipt: a valid perf-smoke receipt of the same model
/// and thread count, else exit 2 naming what differs.
fn read_baseline(path: &Path, model_sha: &str, threads: u64) -> anyhow::Result<Baseline> {
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
    let doc: Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let base_sha = doc["inputs"]["model"]["sha256"].as_str().unwrap_or("");
    if base_sha != model_sha {
        bail!(
            "{shown}: the baseline ran model sha256 {}…, this run {}…; compare runs of the same model",
            &base_sha[..base_sha.len().min(12)],
            &model_sha[..12]
        );
    }
    let base_threads = doc["inputs"]["threads"].as_u64().unwrap_or(0);
    if base_threads != threads {
        bail!("{shown}: the baseline ran {base_threads} threads, this run {threads}; pass --threads {base_threads} or another baseline");
    }
    let decode_tok_s = doc["measurements"]["decode_tok_s"]
        .as_f64()
        .ok_or_else(|| anyhow!("{shown}: no measurements.decode_tok_s"))?;
    Ok(Baseline {
        file: report.file,
        decode_tok_s,
    })
}

fn run(args: Args, env: Env) -> anyhow::Result<u8> {
    if let Some(p) = args.max_regression {
        if !(p.is_finite() && p >= 0.0) {
            bail!("--max-regression {p}: give a percentage >= 0, e.g. 10");
        }
    }
    let mode = env.kernel_mode()?;
    let isa = mode.resolve()?;
    let threads = args
        .threads
        .unwrap_or(receipt::physical_cores() as u64)
        .max(1);
    let graph_threads = args.parallel_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let (path, preset) = resolve_model(&args)?;
    let shown = path.display().to_string();

    let t_load = Instant::now();
    let mapped = MappedFile::open(&path)
        .with_context(|| format!("{shown}: cannot open; pass an existing llama GGUF file"))?;
    let g = mapped.parse().map_err(|e| anyhow!("{shown}: {e}"))?;
    let mut load = t_load.elapsed();
    let model_input = smoke::model_input(&path, mapped.bytes(), &g, preset);
    let model_sha = model_input["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let baseline = args
        .baseline
        .as_deref()
        .map(|b| read_baseline(b, &model_sha, threads))
        .transpose()?;

    let n_vocab = graph::hparams(&g)
        .map_err(|e| anyhow!("{shown}: {e}"))?
        .n_vocab;
    let prompt = match &args.prompt {
        Some(ids) if ids.is_empty() => bail!("--prompt: give at least one token id"),
        Some(ids) => {
            if let Some(bad) = ids.iter().find(|&&t| t as u64 >= n_vocab) {
                bail!("--prompt: token {bad} is outside the vocabulary of {shown} (0..{n_vocab}); pass ids below {n_vocab}");
            }
            ids.clone()
        }
        None => workload::prompt(n_vocab, args.seed, args.prompt_tokens as usize),
    };
    let w = Workload {
        prompt,
        tokens: args.tokens as usize,
        threads: threads as usize,
        mode,
    };
    let (plan, graph_time) = build_plan(
        &g,
        workload::n_ctx(&w) as u64,
        args.parallel_graph == OnOff::On,
        graph_threads,
        args.parallel_progress,
    )
    .map_err(|e| anyhow!("{shown}: {e:#}"))?;
    tracing::info!(digest = %plan.digest(), ms = ms(graph_time), "execution plan");
    let t_model = Instant::now();
    let model = Model::new(&g, &plan).map_err(|e| anyhow!("{shown}: {e}"))?;
    load += t_model.elapsed();

    for i in 0..args.warmup {
        workload::run(&model, &w).map_err(|e| anyhow!("{shown}: {e}"))?;
        tracing::info!(pass = i, "warm-up done");
    }
    let passes: Vec<Pass> = (0..args.repeats)
        .map(|_| workload::run(&model, &w).map_err(|e| anyhow!("{shown}: {e}")))
        .collect::<anyhow::Result<_>>()?;

    let first = &passes[0];
    let mut errors = Vec::new();
    let mut warnings = Vec::new();
    for (i, p) in passes.iter().enumerate().skip(1) {
        if p.output_digest() != first.output_digest() || p.kernels != first.kernels {
            errors.push(format!(
                "repeat {} gave output {} but repeat 1 gave {}: the decode is not deterministic",
                i + 1,
                p.output_digest(),
                first.output_digest()
            ));
        }
    }
    if !plan.unused.is_empty() {
        warnings.push(format!(
            "{} tensors in the file are not read by the llama graph: {}",
            plan.unused.len(),
            plan.unused.join(", ")
        ));
    }

    let decode_runs: Vec<f64> = passes
        .iter()
        .map(|p| w.tokens as f64 / p.decode().as_secs_f64())
        .collect();
    let prefill_runs: Vec<f64> = passes
        .iter()
        .map(|p| w.prompt.len() as f64 / p.prefill.as_secs_f64())
        .collect();
    let decode_tok_s = median(&decode_runs);
    let mut steps: Vec<f64> = passes
        .iter()
        .flat_map(|p| p.per_token.iter().map(|&d| ms(d)))
        .collect();
    steps.sort_by(f64::total_cmp);
    let decode_total: Duration = passes.iter().map(Pass::decode).sum();
    let matvec_total: Duration = passes.iter().map(|p| p.decode_matvec).sum();
    let matvec_share = (matvec_total.as_secs_f64() / decode_total.as_secs_f64()).clamp(0.0, 1.0);

    let comparison = baseline.as_ref().map(|b| {
        let change = (decode_tok_s - b.decode_tok_s) / b.decode_tok_s * 100.0;
        let line = format!(
            "decode {decode_tok_s:.1} tok/s is {:.1}% slower than the baseline's {:.1} tok/s",
            -change, b.decode_tok_s
        );
        match args.max_regression {
            Some(max) if change < -max => errors.push(format!("{line} (allowed: {max}%)")),
            Some(_) => {}
            None if change < -WARN_REGRESSION_PCT => warnings.push(line),
            None => {}
        }
        (b.decode_tok_s, change)
    });

    let results = smoke::results(first, isa, &plan);
    let measurements = json!({
        "load_ms": finite(ms(load))?,
        "graph_build_ms": finite(ms(graph_time))?,
        "prefill_tok_s": finite(median(&prefill_runs))?,
        "decode_tok_s": finite(decode_tok_s)?,
        "decode_tok_s_runs": decode_runs.iter().map(|&v| finite(v)).collect::<Result<Vec<_>, _>>()?,
        "per_token_ms": {
            "p50": finite(percentile(&steps, 50.0))?,
            "p90": finite(percentile(&steps, 90.0))?,
            "max": finite(*steps.last().expect("tokens >= 1"))?,
        },
        "matvec_share": finite(matvec_share)?,
        "peak_rss_bytes": receipt::peak_rss_bytes(),
        "baseline": match comparison {
            Some((base, change)) => json!({"decode_tok_s": finite(base)?, "change_pct": finite(change)?}),
            None => Value::Null,
        },
    });
    let inputs = json!({
        "model": model_input,
        "prompt": w.prompt,
        "tokens": w.tokens,
        "threads": threads,
        "kernel_mode": mode.name(),
        "seed": args.seed,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "parallel_graph": {"enabled": args.parallel_graph == OnOff::On, "threads": graph_threads},
        "baseline": baseline.as_ref().map(|b| json!({"file": b.file, "max_regression_pct": args.max_regression})),
    });
    for (level, list) in [
        (github::Level::Error, &errors),
        (github::Level::Warning, &warnings),
    ] {
        for m in list {
            github::annotate(&env, level, &shown, None, PROGRAM, m);
        }
    }
    let body = Body {
        inputs,
        results,
        measurements,
        verdict: Verdict::from_findings(errors, warnings),
    };
    let failed = body.verdict.status == receipt::Status::Fail;
    let table = render(&shown, &body, threads);
    github::append_summary(&env, &format!("### {PROGRAM}\n\n```\n{table}```\n\n"))?;
    if let Some(out) = &args.bmf {
        let text = serde_json::to_string_pretty(&bmf(&body, &decode_runs, preset, &path, threads))?;
        parci_core::fsutil::write_atomic(out, text.as_bytes())
            .with_context(|| format!("{}: cannot write the BMF file", out.display()))?;
    }
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    match args.format {
        Format::Text if !args.common.quiet => print!("{table}"),
        Format::Json if written.target != emit::Target::Stdout => print!("{}", written.text),
        _ => {}
    }
    Ok(if failed {
        exit::GATE_FAILED
    } else {
        exit::PASS
    })
}

/// Bencher Metric Format: `{benchmark: {measure: {value, lower_value, upper_value}}}`.
fn bmf(
    body: &Body,
    decode_runs: &[f64],
    preset: Option<(Preset, u64)>,
    path: &Path,
    threads: u64,
) -> Value {
    let m = &body.measurements;
    let model = match preset {
        Some((p, s)) => format!("{}-seed{s}", p.name()),
        None => path
            .file_stem()
            .map_or("model".into(), |s| s.to_string_lossy().into_owned()),
    };
    let lo = decode_runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = decode_runs.iter().copied().fold(0.0, f64::max);
    let mut measures = json!({
        "decode-tok-s": {"value": m["decode_tok_s"], "lower_value": lo, "upper_value": hi},
        "prefill-tok-s": {"value": m["prefill_tok_s"]},
        "per-token-p50-ms": {"value": m["per_token_ms"]["p50"]},
        "load-ms": {"value": m["load_ms"]},
        "matvec-share": {"value": m["matvec_share"]},
    });
    if let Some(rss) = m["peak_rss_bytes"].as_u64() {
        measures["peak-rss-bytes"] = json!({"value": rss});
    }
    json!({ format!("perf-smoke/{model}/threads-{threads}"): measures })
}

/// The table a person reads in one glance.
fn render(path: &str, body: &Body, threads: u64) -> String {
    let (i, r, m) = (&body.inputs, &body.results, &body.measurements);
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let types: Vec<String> = i["model"]["tensor_types"]
        .as_object()
        .map(|o| o.iter().map(|(k, v)| format!("{k}×{v}")).collect())
        .unwrap_or_default();
    let runs: Vec<String> = m["decode_tok_s_runs"]
        .as_array()
        .map(|a| a.iter().map(|v| format!("{:.1}", f(v))).collect())
        .unwrap_or_default();
    let mut out = format!(
        "perf-smoke  {path}\n  model        {:.1}M params ({})\n  kernels      {} on {threads} thread{}, {} prompt + {} decode tokens\n",
        f(&i["model"]["parameters"]) / 1e6,
        types.join(" "),
        r["isa"].as_str().unwrap_or("?"),
        if threads == 1 { "" } else { "s" },
        i["prompt"].as_array().map_or(0, Vec::len),
        i["tokens"],
    );
    out += &format!(
        "  load         {:.1} ms   graph build {:.2} ms\n  prefill      {:.1} tok/s\n  decode       {:.1} tok/s   (runs {})\n  per token    p50 {:.2} ms   p90 {:.2} ms   max {:.2} ms\n  matvec share {:.1}%\n",
        f(&m["load_ms"]),
        f(&m["graph_build_ms"]),
        f(&m["prefill_tok_s"]),
        f(&m["decode_tok_s"]),
        runs.join(" / "),
        f(&m["per_token_ms"]["p50"]),
        f(&m["per_token_ms"]["p90"]),
        f(&m["per_token_ms"]["max"]),
        100.0 * f(&m["matvec_share"]),
    );
    if let Some(rss) = m["peak_rss_bytes"].as_u64() {
        out += &format!("  peak RSS     {:.1} MiB\n", rss as f64 / (1 << 20) as f64);
    }
    if m["baseline"].is_object() {
        out += &format!(
            "  baseline     {:.1} tok/s ({:+.1}%)\n",
            f(&m["baseline"]["decode_tok_s"]),
            f(&m["baseline"]["change_pct"])
        );
    }
    out += &format!(
        "  output       {}  ({} tokens)\n  verdict      {}\n",
        r["output_digest"].as_str().unwrap_or("?"),
        r["generated_count"],
        body.verdict.status.as_str()
    );
    for reason in &body.verdict.reasons {
        out += &format!("    - {reason}\n");
    }
    out
}
