//! perf-smoke's run: resolve the model, build the plan, time warm-up and
//! repeated greedy decodes, compare with a baseline, and report (receipt,
//! table, step summary, annotations, Bencher Metric Format). The program in
//! `src/bin/perf-smoke.rs` only turns its flags into [`Options`].

use crate::cli::{self, Env};
use crate::perf_common::{bmf_name, footer, header, report, BaselineFile, Prepared};
pub use crate::perf_common::{
    BaselineTrust, Debug, Measure, OnOff, Options, Outcome, Prompt, PROGRAM, WARN_REGRESSION_PCT,
};
use crate::{github, perf_instructions, perf_paired};
use anyhow::{anyhow, bail, Context};
use parci_core::bench::paired;
use parci_core::bench::wall::{self, RunTimes};
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{Gguf, MappedFile};
use parci_core::graph::{self, ExecutionPlan};
use parci_core::model::smoke;
use parci_core::model::workload::{self, Pass, Workload};
use parci_core::model::Model;
use parci_core::receipt::{self, canonical::finite, Body, Verdict};
use parci_core::tokenizer::Tokenizer;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The model file and, for fixtures, what it was generated from.
fn resolve_model(opts: &Options) -> anyhow::Result<(PathBuf, Option<(Preset, u64)>)> {
    if let Some(p) = &opts.model {
        return Ok((p.clone(), None));
    }
    let dir = &opts.models_dir;
    let (p, fresh) = fixture::materialize(dir, opts.preset, opts.seed)
        .with_context(|| format!("{}: cannot write the fixture model", dir.display()))?;
    tracing::info!(path = %p.display(), regenerated = fresh, "fixture model");
    Ok((p, Some((opts.preset, opts.seed))))
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Baseline {
    base: BaselineFile,
    decode_tok_s: f64,
}

/// Reads a baseline receipt: a valid perf-smoke receipt of the same model
/// and thread count, else exit 2 naming what differs.
fn read_baseline(
    path: &Path,
    trust: &BaselineTrust,
    model_sha: &str,
    threads: u64,
) -> anyhow::Result<Baseline> {
    let shown = path.display();
    let base = crate::perf_common::read_baseline_receipt(path, trust)?;
    let doc = &base.doc;
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
    Ok(Baseline { base, decode_tok_s })
}

/// The prompt token ids: given ones checked against the vocabulary, drawn,
/// or the text's.
fn prompt(
    opts: &Options,
    n_vocab: u64,
    shown: &str,
    text: Option<(&str, &Tokenizer)>,
) -> anyhow::Result<Vec<u32>> {
    match (&opts.prompt, text) {
        (Prompt::Text(_), Some((text, tok))) => {
            let ids = tok
                .encode(text, true, true)
                .map_err(|e| anyhow!("{shown}: --text: {e}"))?;
            if ids.is_empty() {
                bail!("--text: {text:?} gives no tokens with {shown}; pass some text");
            }
            if let Some(bad) = ids.iter().find(|&&t| t as u64 >= n_vocab) {
                bail!("{shown}: --text gives token {bad}, outside the model's {n_vocab} embeddings; the file's tokenizer and weights disagree");
            }
            Ok(ids)
        }
        (Prompt::Text(_), None) => bail!("{shown}: --text: the file has no tokenizer parci reads"),
        (Prompt::Ids(ids), _) if ids.is_empty() => bail!("--prompt: give at least one token id"),
        (Prompt::Ids(ids), _) => {
            if let Some(bad) = ids.iter().find(|&&t| t as u64 >= n_vocab) {
                bail!("--prompt: token {bad} is outside the vocabulary of {shown} (0..{n_vocab}); pass ids below {n_vocab}");
            }
            Ok(ids.clone())
        }
        (Prompt::Drawn(n), _) => Ok(workload::prompt(n_vocab, opts.seed, *n as usize)),
    }
}

/// Errors for repeats that disagree with the first; a warning for unread tensors.
fn check_passes(passes: &[Pass], plan: &ExecutionPlan) -> (Vec<String>, Vec<String>) {
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
    (errors, warnings)
}

/// What the timed passes measured: their recorded times and what derives
/// from them (`parci_core::bench::wall`, which verify-receipt uses again).
struct Stats {
    runs: Vec<RunTimes>,
    derived: wall::Derived,
}

impl Stats {
    fn of(passes: &[Pass], w: &Workload) -> Stats {
        let runs: Vec<RunTimes> = passes
            .iter()
            .map(|p| RunTimes {
                prefill_ms: ms(p.prefill),
                per_token_ms: p.per_token.iter().map(|&d| ms(d)).collect(),
                matvec_ms: ms(p.decode_matvec),
            })
            .collect();
        let derived = wall::derive(&runs, w.prompt.len());
        Stats { runs, derived }
    }

    /// The receipt's `measurements`; `comparison` is the baseline's tok/s and the change in %.
    fn measurements(
        &self,
        load: Duration,
        tokenizer_load: Option<Duration>,
        graph_time: Duration,
        comparison: Option<(f64, f64)>,
    ) -> anyhow::Result<Value> {
        let d = &self.derived;
        let runs = self
            .runs
            .iter()
            .map(|r| {
                Ok(json!({
                    "prefill_ms": finite(r.prefill_ms)?,
                    "per_token_ms": r.per_token_ms.iter().map(|&v| finite(v)).collect::<Result<Vec<_>, _>>()?,
                    "matvec_ms": finite(r.matvec_ms)?,
                }))
            })
            .collect::<Result<Vec<_>, receipt::canonical::NonFinite>>()?;
        Ok(json!({
            "load_ms": finite(ms(load))?,
            "tokenizer_load_ms": tokenizer_load.map(|d| finite(ms(d))).transpose()?,
            "graph_build_ms": finite(ms(graph_time))?,
            "prefill_tok_s": finite(d.prefill_tok_s)?,
            "decode_tok_s": finite(d.decode_tok_s)?,
            "decode_tok_s_runs": d.decode_tok_s_runs.iter().map(|&v| finite(v)).collect::<Result<Vec<_>, _>>()?,
            "per_token_ms": {
                "p50": finite(d.p50)?,
                "p90": finite(d.p90)?,
                "max": finite(d.max)?,
            },
            "matvec_share": finite(d.matvec_share)?,
            "peak_rss_bytes": receipt::peak_rss_bytes(),
            "runs": runs,
            "baseline": match comparison {
                Some((base, change)) => json!({"decode_tok_s": finite(base)?, "change_pct": finite(change)?}),
                None => Value::Null,
            },
        }))
    }
}

/// Runs perf-smoke: prints what `opts.format` asks for, writes the receipt
/// (and the BMF file), and returns the exit code with the receipt.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    if let Some(p) = opts.max_regression {
        if !(p.is_finite() && p >= 0.0) {
            bail!("--max-regression {p}: give a percentage >= 0, e.g. 10");
        }
    }
    if opts.max_regression.is_some() && opts.baseline.is_none() && opts.against.is_none() {
        bail!("--max-regression: nothing to compare with; pass --baseline RECEIPT or --against PERF_SMOKE");
    }
    if opts.repeats == 0 {
        bail!("--repeats 0: give at least 1 timed repeat");
    }
    if opts.pairs < paired::DEFAULT_RULE.min_pairs as u64 {
        bail!(
            "--pairs {}: give at least {} pairs (the first decision needs them)",
            opts.pairs,
            paired::DEFAULT_RULE.min_pairs
        );
    }
    let mode = env.kernel_mode()?;
    let isa = mode.resolve()?;
    let threads = match (opts.measure, opts.threads) {
        (Measure::Instructions, Some(t)) if t > 1 => bail!(
            "--threads {t} with --measure instructions: counts are repeatable on one thread only (valgrind serializes threads and the workers' hand-off spins); drop --threads or pass --threads 1"
        ),
        (Measure::Instructions, _) => 1,
        (Measure::Wall, t) => t.unwrap_or(receipt::physical_cores() as u64).max(1),
    };
    let graph_threads = opts.parallel_threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let (path, preset) = resolve_model(opts)?;
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
    let baseline = match opts.measure {
        Measure::Wall => opts
            .baseline
            .as_deref()
            .map(|b| read_baseline(b, &opts.trust, &model_sha, threads))
            .transpose()?,
        Measure::Instructions => None,
    };

    let n_vocab = graph::hparams(&g)
        .map_err(|e| anyhow!("{shown}: {e}"))?
        .n_vocab;
    let text = match &opts.prompt {
        Prompt::Text(t) => Some(cli::utf8_arg("--text", t)?),
        _ => None,
    };
    let t_tok = Instant::now();
    let tok = smoke::tokenizer(&g, text.is_some() || opts.stop_at_eog).map_err(|e| {
        let flag = if text.is_some() {
            "--text"
        } else {
            "--stop-at-eog"
        };
        anyhow!("{shown}: {flag}: {e}")
    })?;
    let tokenizer_load = tok.as_ref().map(|_| t_tok.elapsed());
    let w = Workload {
        prompt: prompt(opts, n_vocab, &shown, text.zip(tok.as_ref()))?,
        tokens: opts.tokens as usize,
        threads: threads as usize,
        mode,
        stop: smoke::stop_ids(tok.as_ref(), opts.stop_at_eog),
    };
    let p = Prepared {
        path: path.clone(),
        preset,
        model_input,
        model_sha,
        text: text.map(str::to_string),
        tokenizer: tok.as_ref().map(Tokenizer::summary),
        w,
        graph_threads,
    };
    let w = &p.w;
    if opts.against.is_some() || opts.measure == Measure::Instructions {
        return match &opts.against {
            Some(other) => perf_paired::run(opts, env, &p, other),
            None => perf_instructions::run(opts, env, &p),
        };
    }
    let (plan, graph_time) = build_plan(
        &g,
        workload::n_ctx(w) as u64,
        opts.parallel_graph,
        graph_threads,
        opts.parallel_progress,
    )
    .map_err(|e| anyhow!("{shown}: {e:#}"))?;
    tracing::info!(digest = %plan.digest(), ms = ms(graph_time), "execution plan");
    let t_model = Instant::now();
    let model = Model::new(&g, &plan).map_err(|e| anyhow!("{shown}: {e}"))?;
    load += t_model.elapsed();

    for i in 0..opts.warmup {
        workload::run(&model, w).map_err(|e| anyhow!("{shown}: {e}"))?;
        tracing::info!(pass = i, "warm-up done");
    }
    let passes: Vec<Pass> = (0..opts.repeats)
        .map(|_| workload::run(&model, w).map_err(|e| anyhow!("{shown}: {e}")))
        .collect::<anyhow::Result<_>>()?;
    if let (Some(id), true) = (passes[0].stopped_by, passes[0].tokens.is_empty()) {
        bail!("{shown}: the model predicts end-of-generation token {id} right after the prompt, so nothing was decoded to time; pass another prompt or drop --stop-at-eog");
    }
    let (mut errors, mut warnings) = check_passes(&passes, &plan);
    warnings.extend(baseline.as_ref().and_then(|b| b.base.warning()));

    let stats = Stats::of(&passes, w);
    let decode_tok_s = stats.derived.decode_tok_s;
    let comparison = baseline.as_ref().map(|b| {
        let change = wall::change_pct(decode_tok_s, b.decode_tok_s);
        let line = format!(
            "decode {decode_tok_s:.1} tok/s is {:.1}% slower than the baseline's {:.1} tok/s",
            -change, b.decode_tok_s
        );
        match opts.max_regression {
            Some(max) if change < -max => errors.push(format!("{line} (allowed: {max}%)")),
            Some(_) => {}
            None if change < -WARN_REGRESSION_PCT => warnings.push(line),
            None => {}
        }
        (b.decode_tok_s, change)
    });

    let results = smoke::results(&passes[0], isa, &plan, tok.as_ref())
        .map_err(|e| anyhow!("{shown}: {e}"))?;
    let measurements = stats.measurements(load, tokenizer_load, graph_time, comparison)?;
    let inputs = p.inputs(
        opts,
        baseline.as_ref().map(|b| b.base.input(opts.max_regression)),
        None,
    );
    for (level, list) in [
        (github::Level::Error, &errors),
        (github::Level::Warning, &warnings),
    ] {
        for m in list {
            github::annotate(env, level, &shown, None, PROGRAM, m);
        }
    }
    let body = Body {
        inputs,
        results,
        measurements,
        verdict: Verdict::from_findings(errors, warnings),
    };
    let table = render(&shown, &body, threads);
    let measures = bmf(&body, &stats.derived.decode_tok_s_runs);
    report(
        opts,
        env,
        body,
        table,
        bmf_name(preset, &path, threads),
        measures,
    )
}

/// Bencher Metric Format measures of a wall-clock run:
/// `{measure: {value, lower_value, upper_value}}`.
fn bmf(body: &Body, runs: &[f64]) -> Value {
    let m = &body.measurements;
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(0.0, f64::max);
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
    measures
}

/// The table a person reads in one glance.
fn render(path: &str, body: &Body, threads: u64) -> String {
    let m = &body.measurements;
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let runs: Vec<String> = m["decode_tok_s_runs"]
        .as_array()
        .map(|a| a.iter().map(|v| format!("{:.1}", f(v))).collect())
        .unwrap_or_default();
    let mut out = header(path, body, threads);
    out += &format!(
        "  load         {:.1} ms   tokenizer {}   graph build {:.2} ms\n  prefill      {:.1} tok/s\n  decode       {:.1} tok/s   (runs {})\n  per token    p50 {:.2} ms   p90 {:.2} ms   max {:.2} ms\n  matvec share {:.1}%\n",
        f(&m["load_ms"]),
        m["tokenizer_load_ms"]
            .as_f64()
            .map_or("none".into(), |v| format!("{v:.1} ms")),
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
    out + &footer(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Common, Format};
    use crate::exit;

    fn opts(dir: &Path, receipt: &str) -> Options {
        Options {
            model: None,
            preset: Preset::Tiny,
            models_dir: dir.join("models"),
            seed: fixture::DEFAULT_SEED,
            prompt: Prompt::Drawn(3),
            stop_at_eog: false,
            tokens: 4,
            repeats: 2,
            warmup: 0,
            threads: Some(1),
            baseline: None,
            max_regression: None,
            trust: Default::default(),
            bmf: None,
            measure: Measure::Wall,
            against: None,
            pairs: 50,
            parallel_graph: true,
            parallel_threads: Some(2),
            parallel_progress: false,
            format: Format::Text,
            common: Common::quiet_to(dir.join(receipt)),
        }
    }

    #[test]
    fn a_tiny_run_passes_and_writes_what_ran() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        let mut o = opts(t.path(), "a.json");
        o.bmf = Some(t.path().join("bmf.json"));
        let out = run(&o, &env).unwrap();
        assert_eq!(out.code, exit::PASS, "{}", out.table);
        let r = &out.receipt;
        assert_eq!(r.schema, "parci.perf-smoke");
        assert_eq!(r.results["generated_count"], 4);
        assert_eq!(r.inputs["prompt"].as_array().unwrap().len(), 3);
        assert_eq!(r.inputs["model"]["preset"], "tiny");
        assert_eq!(
            r.measurements["decode_tok_s_runs"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert!(out.table.contains("verdict      pass"), "{}", out.table);
        let written = std::fs::read_to_string(t.path().join("a.json")).unwrap();
        assert_eq!(written, r.to_canonical().unwrap());
        let bmf: Value =
            serde_json::from_slice(&std::fs::read(t.path().join("bmf.json")).unwrap()).unwrap();
        assert!(bmf["perf-smoke/tiny-seed0/threads-1"]["decode-tok-s"]["value"].is_number());
    }

    #[test]
    fn a_baseline_edited_by_hand_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        run(&opts(t.path(), "base.json"), &env).unwrap();
        // Measurements are outside the digest, but every figure derives from
        // the recorded runs: a rate edited alone is caught, and named.
        let base = t.path().join("base.json");
        let mut doc: Value = serde_json::from_slice(&std::fs::read(&base).unwrap()).unwrap();
        let fast = doc["measurements"]["decode_tok_s"].as_f64().unwrap() * 1e6;
        doc["measurements"]["decode_tok_s"] = json!(fast);
        std::fs::write(&base, serde_json::to_vec(&doc).unwrap()).unwrap();
        let mut o = opts(t.path(), "b.json");
        o.baseline = Some(base.clone());
        o.max_regression = Some(10.0);
        let e = run(&o, &env).err().expect("refused").to_string();
        assert!(
            e.contains("not a valid perf-smoke receipt (/measurements/decode_tok_s"),
            "{e}"
        );
        assert!(
            !t.path().join("b.json").exists(),
            "no receipt for a refused run"
        );
    }

    #[test]
    fn a_prompt_outside_the_vocabulary_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let mut o = opts(t.path(), "a.json");
        o.prompt = Prompt::Ids(vec![1, 1 << 30]);
        let e = run(&o, &Env::plain(t.path())).err().unwrap().to_string();
        assert!(
            e.starts_with("--prompt: token 1073741824 is outside the vocabulary"),
            "{e}"
        );
        assert!(!t.path().join("a.json").exists());
    }
}
