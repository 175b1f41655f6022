//! `perf-smoke --measure instructions`: the workload's prefill and decode
//! counted by valgrind's callgrind instead of timed, so two runs of one
//! build agree to the instruction on a machine that is busy with anything
//! else. perf-smoke runs itself under callgrind (one pass, no warm-up: an
//! instruction count needs none) with collection on only inside the two
//! marked phases (parci_core::model::workload's markers), reads the output
//! file (parci_core::bench::callgrind) and writes its own receipt with the
//! child's results. One thread: valgrind runs threads one at a time, and
//! the workers' spinning hand-off would make the count depend on the
//! scheduler. valgrind cannot run AVX-512, and the CPU it presents has
//! none, so the kernels resolve to the best ISA it has (AVX2 on x86) and
//! results.isa records it.
//!
//! The count in the executable's own code repeats to the instruction
//! (callgrind.rs says why the C library's does not), so it is a result:
//! under the digest, reproduced by `verify-receipt --replay` with the same
//! valgrind and the same perf-smoke binary (both recorded), and the only
//! figure the baseline gate reads. The whole count, cache events and
//! estimated cycles are measurements.

use crate::cli::Env;
use crate::perf_common::{
    self as perf_smoke, child_receipt, footer, header, BaselineFile, Options, Outcome, Prepared,
    Scratch,
};
use anyhow::{anyhow, bail, Context};
use parci_core::bench::callgrind::{self, Phase, CYCLES_FORMULA};
use parci_core::model::workload::{DECODE_MARKER, PREFILL_MARKER};
use parci_core::receipt::{canonical::finite, Body, FileInput, Verdict};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// What `results.instructions` counts.
pub const COUNTED: &str = "instructions executed in the perf-smoke executable's own code inside the two marked phases; the C library and loader are not counted";

/// Without `--max-regression`, more instructions per decode token than the
/// baseline by this much fails.
pub const DEFAULT_MAX_REGRESSION_PCT: f64 = 1.0;

/// The simulated caches, fixed so that estimated cycles do not depend on
/// the host valgrind runs on (it would otherwise read them from CPUID).
const CACHES: [&str; 3] = ["--I1=32768,8,64", "--D1=32768,8,64", "--LL=8388608,16,64"];

/// Caller-chain depth callgrind keeps per function context: deeper than
/// any call chain from a marker (the parser refuses a cost whose chain was
/// cut before its marker).
const SEPARATE_CALLERS: &str = "--separate-callers=64";

/// `valgrind --version`, or exit 2 saying how to get it.
fn valgrind_version() -> anyhow::Result<String> {
    parci_core::bench::callgrind::valgrind_version().map_err(|e| anyhow!("--measure instructions: {e}; install it (Debian: apt-get install valgrind) or drop --measure instructions"))
}

pub(crate) fn run(opts: &Options, env: &Env, p: &Prepared) -> anyhow::Result<Outcome> {
    let version = valgrind_version()?;
    let baseline = opts
        .baseline
        .as_deref()
        .map(|b| read_baseline(b, opts, p))
        .transpose()?;
    let max = opts.max_regression.unwrap_or(DEFAULT_MAX_REGRESSION_PCT);
    let scratch = Scratch::new()?;
    let out = scratch.0.join("callgrind.out");
    let receipt = scratch.0.join("child.receipt.json");
    let exe = std::env::current_exe().context("cannot find this perf-smoke's path")?;
    let exe_sha = FileInput::hash(&exe)
        .with_context(|| format!("{}: cannot read this perf-smoke", exe.display()))?
        .sha256;
    let mut cmd = Command::new("valgrind");
    // --separate-threads: only the main thread's counts are read (the one
    // that runs the workload on one thread); a pool thread of the graph
    // builder still spinning down must not count.
    cmd.args([
        "--tool=callgrind",
        "--collect-atstart=no",
        "--cache-sim=yes",
        "--separate-threads=yes",
    ])
    .args(CACHES)
    .arg(SEPARATE_CALLERS)
    .arg(format!("--toggle-collect={PREFILL_MARKER}"))
    .arg(format!("--toggle-collect={DECODE_MARKER}"))
    .arg(format!("--callgrind-out-file={}", out.display()))
    .arg(exe)
    .args(p.child_args(1, 0, &receipt));
    let child = child_receipt(cmd, &receipt, "perf-smoke under callgrind")?;
    let main = out.with_file_name("callgrind.out-01");
    let text = std::fs::read_to_string(&main)
        .with_context(|| format!("{}: callgrind wrote no output", main.display()))?;
    let strip = |m: &'static str| m.trim_end_matches('*');
    let prof = callgrind::parse(&text, &[strip(PREFILL_MARKER), strip(DECODE_MARKER)])
        .map_err(|e| anyhow!("{}: {e}", main.display()))?;
    let prefill = &prof.phases[strip(PREFILL_MARKER)];
    let decode = &prof.phases[strip(DECODE_MARKER)];
    if decode.own.get("Ir") == 0 {
        bail!("callgrind counted no decode instructions: the markers were not found in this build (was it built with inlining across them?)");
    }
    let mut results = child["results"].clone();
    let n_prefill = p.w.prompt.len() as u64;
    let n_decode = results["generated_count"].as_u64().unwrap_or(0).max(1);
    let decode_per_token = decode.own.get("Ir") as f64 / n_decode as f64;
    let own = |c: &Phase, n: u64| -> anyhow::Result<Value> {
        Ok(json!({
            "tokens": n,
            "instructions": c.own.get("Ir"),
            "instructions_per_token": finite(c.own.get("Ir") as f64 / n.max(1) as f64)?,
        }))
    };
    results["instructions"] = json!({
        "counted": COUNTED,
        "valgrind": version,
        "perf_smoke_sha256": exe_sha,
        "prefill": own(prefill, n_prefill)?,
        "decode": own(decode, n_decode)?,
    });

    let mut errors = Vec::new();
    let warnings: Vec<String> = baseline
        .as_ref()
        .and_then(|b| b.base.warning())
        .into_iter()
        .collect();
    let comparison = match &baseline {
        Some(b) => {
            let change = (decode_per_token - b.per_token) / b.per_token * 100.0;
            if change > max {
                errors.push(format!(
                    "decode runs {change:.2}% more instructions per token in perf-smoke's own code than the baseline ({:.0} against {:.0}; allowed: {max}%)",
                    decode_per_token, b.per_token
                ));
            }
            Some(
                json!({"decode_instructions_per_token": finite(b.per_token)?, "change_pct": finite(change)?}),
            )
        }
        None => None,
    };
    let phase = |c: &Phase, n: u64| -> anyhow::Result<Value> {
        let c = &c.total();
        Ok(json!({
            "tokens": n,
            "instructions": c.get("Ir"),
            "instructions_per_token": finite(c.get("Ir") as f64 / n.max(1) as f64)?,
            "estimated_cycles": c.estimated_cycles(),
            "estimated_cycles_per_token": finite(c.estimated_cycles() as f64 / n.max(1) as f64)?,
            "events": c.0.iter().map(|(e, v)| (e.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
        }))
    };
    let measurements = json!({
        "instructions": {
            "source": format!("{version} callgrind, all code (the C library's count varies with the heap's layout)"),
            "caches": CACHES.join(" "),
            "cycles_formula": CYCLES_FORMULA,
            "prefill": phase(prefill, n_prefill)?,
            "decode": phase(decode, n_decode)?,
        },
        "baseline": comparison,
    });
    let inputs = p.inputs(
        opts,
        baseline.as_ref().map(|b| b.base.input(Some(max))),
        None,
    );
    for (level, list) in [
        (crate::github::Level::Error, &errors),
        (crate::github::Level::Warning, &warnings),
    ] {
        for m in list {
            let shown = p.path.display().to_string();
            crate::github::annotate(env, level, &shown, None, perf_smoke::PROGRAM, m);
        }
    }
    let body = Body {
        inputs,
        results,
        measurements,
        verdict: Verdict::from_findings(errors, warnings),
    };
    let table = render(&p.path.display().to_string(), &body);
    let m = &body.measurements["instructions"];
    let measures = json!({
        "decode-instructions-per-token": {"value": body.results["instructions"]["decode"]["instructions_per_token"]},
        "decode-all-instructions-per-token": {"value": m["decode"]["instructions_per_token"]},
        "decode-estimated-cycles-per-token": {"value": m["decode"]["estimated_cycles_per_token"]},
        "prefill-instructions-per-token": {"value": m["prefill"]["instructions_per_token"]},
    });
    let name = perf_smoke::bmf_name(p.preset, &p.path, 1);
    perf_smoke::report(opts, env, body, table, name, measures)
}

struct Baseline {
    base: BaselineFile,
    per_token: f64,
}

/// An instruction-count receipt of the same workload (model, prompt,
/// tokens), else exit 2 naming what differs.
fn read_baseline(path: &Path, opts: &Options, p: &Prepared) -> anyhow::Result<Baseline> {
    let shown = path.display();
    let base = crate::perf_common::read_baseline_receipt(path, &opts.trust)?;
    let doc = &base.doc;
    let Some(per_token) =
        doc["results"]["instructions"]["decode"]["instructions_per_token"].as_f64()
    else {
        bail!("{shown}: not an instruction count of this perf-smoke's kind (a wall-clock receipt, or one from before the own-code count); compare with a receipt of perf-smoke --measure instructions");
    };
    let i = &doc["inputs"];
    if i["model"]["sha256"] != p.model_sha.as_str() {
        bail!(
            "{shown}: the baseline ran another model (sha256 {}); compare runs of the same model",
            i["model"]["sha256"]
        );
    }
    if i["prompt"] != json!(p.w.prompt) || i["tokens"] != json!(p.w.tokens) {
        bail!("{shown}: the baseline ran another prompt or token count; pass the same --prompt-tokens/--prompt/--text and --tokens");
    }
    Ok(Baseline { base, per_token })
}

fn render(path: &str, body: &Body) -> String {
    let m = &body.measurements;
    let i = &m["instructions"];
    let mi = |v: &Value| v.as_f64().unwrap_or(f64::NAN) / 1e6;
    let mut out = header(path, body, 1);
    for phase in ["prefill", "decode"] {
        out += &format!(
            "  {phase:<12} {:.3} M instructions/token   est. {:.3} M cycles/token\n",
            mi(&i[phase]["instructions_per_token"]),
            mi(&i[phase]["estimated_cycles_per_token"]),
        );
    }
    let own = &body.results["instructions"];
    out += &format!(
        "  own code     {:.3} M instructions/token decode, {:.3} M prefill (exact; replayable)\n",
        mi(&own["decode"]["instructions_per_token"]),
        mi(&own["prefill"]["instructions_per_token"]),
    );
    out += &format!("  counted by   {}\n", i["source"].as_str().unwrap_or("?"));
    if m["baseline"].is_object() {
        out += &format!(
            "  baseline     {:.3} M instructions/token ({:+.2}%)\n",
            mi(&m["baseline"]["decode_instructions_per_token"]),
            m["baseline"]["change_pct"].as_f64().unwrap_or(f64::NAN)
        );
    }
    out + &footer(body)
}
