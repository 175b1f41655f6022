//! `perf-smoke --against OTHER`: is this build slower than another one on
//! this machine, now? Both builds' perf-smoke run as processes, alternately
//! (base then head, then head then base, …), each one untimed warm-up and
//! one timed decode of the same workload; each pair gives the ratio of the
//! two runs' median per-token time, and parci_core::bench::paired decides
//! after every pair whether the answer is clear (its doc says how, and its
//! calibration test what the false-alarm rate and power are). Both builds
//! must decode to the same output digest: builds that compute different
//! things are not compared.

use crate::cli::Env;
use crate::perf_common::{
    self as perf_smoke, child_receipt, footer, header, median, Options, Outcome, Prepared, Scratch,
};
use anyhow::{bail, Context};
use parci_core::bench::paired::{self, pct, Pair, Rule, Verdict as Decided};
use parci_core::receipt::{canonical::finite, Body, FileInput, Verdict};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

/// One run's numbers, from its receipt.
struct Run {
    per_token_ms: f64,
    decode_tok_s: f64,
    digest: String,
}

fn run_once(exe: &Path, p: &Prepared, receipt: &Path, what: &str) -> anyhow::Result<(Run, Value)> {
    let mut cmd = Command::new(exe);
    cmd.args(p.child_args(1, 1, receipt));
    let doc = child_receipt(cmd, receipt, what)?;
    let m = &doc["measurements"];
    let (Some(per_token_ms), Some(decode_tok_s)) = (
        m["per_token_ms"]["p50"].as_f64(),
        m["decode_tok_s"].as_f64(),
    ) else {
        bail!("{what}: its receipt has no measurements.per_token_ms.p50; pass a perf-smoke build");
    };
    let digest = doc["results"]["output_digest"]
        .as_str()
        .unwrap_or("")
        .to_string();
    Ok((
        Run {
            per_token_ms,
            decode_tok_s,
            digest,
        },
        doc["results"].clone(),
    ))
}

pub(crate) fn run(
    opts: &Options,
    env: &Env,
    p: &Prepared,
    other: &Path,
) -> anyhow::Result<Outcome> {
    let shown_other = other.display();
    let base_file = FileInput::hash(other).with_context(|| {
        format!("{shown_other}: cannot read; pass another build's perf-smoke executable")
    })?;
    let rule = Rule {
        max_regression_pct: opts
            .max_regression
            .unwrap_or(paired::DEFAULT_RULE.max_regression_pct),
        max_pairs: opts.pairs as usize,
        ..paired::DEFAULT_RULE
    };
    let exe = std::env::current_exe().context("cannot find this perf-smoke's path")?;
    let scratch = Scratch::new()?;
    let receipt = scratch.0.join("run.receipt.json");
    let mut pairs: Vec<(bool, Run, Run)> = Vec::new();
    let mut d: Vec<f64> = Vec::new();
    let mut head_results = Value::Null;
    let decision = loop {
        // pair i runs base first when i is even, head first when odd
        let head_first = pairs.len() % 2 == 1;
        let mut base = None;
        let mut head = None;
        for side_head in [head_first, !head_first] {
            if side_head {
                let (r, res) = run_once(&exe, p, &receipt, "this perf-smoke")?;
                if head_results.is_null() {
                    head_results = res;
                }
                head = Some(r);
            } else {
                base = Some(run_once(other, p, &receipt, &format!("{shown_other}"))?.0);
            }
        }
        let (base, head) = (base.expect("ran"), head.expect("ran"));
        if base.digest != head.digest {
            bail!(
                "{shown_other} decodes this workload to {} but this build to {}: they compute different things, so their speeds are not compared; compare builds that agree (perf-smoke --format json shows results.output_digest)",
                base.digest,
                head.digest
            );
        }
        if let Some((_, b0, _)) = pairs.first() {
            if b0.digest != base.digest {
                bail!("{shown_other} gave output {} in one run and {} in another: its decode is not deterministic", b0.digest, base.digest);
            }
        }
        d.push(
            Pair {
                base: base.per_token_ms,
                head: head.per_token_ms,
            }
            .log_ratio(),
        );
        tracing::info!(
            pair = d.len(),
            base_ms = base.per_token_ms,
            head_ms = head.per_token_ms,
            "pair"
        );
        pairs.push((head_first, base, head));
        let dec = paired::decide(&d, &rule);
        if dec.verdict != Decided::More {
            break dec;
        }
    };
    let iv = decision.interval.expect("decided on an interval");
    let (est, lo, hi) = (pct(iv.estimate), pct(iv.low), pct(iv.high));
    let mut errors = Vec::new();
    if decision.verdict == Decided::Fail {
        errors.push(format!(
            "this build is {est:.2}% slower per decode token than {shown_other} ({:.0}% interval {lo:+.2}% to {hi:+.2}%, {} pairs; allowed: {}%)",
            rule.confidence * 100.0,
            pairs.len(),
            rule.max_regression_pct
        ));
    }
    let pair_rows: Vec<Value> = pairs
        .iter()
        .zip(&d)
        .map(|((hf, b, h), d)| -> anyhow::Result<Value> {
            Ok(json!({
                "first": if *hf { "head" } else { "base" },
                "base_ms": finite(b.per_token_ms)?,
                "head_ms": finite(h.per_token_ms)?,
                "change_pct": finite(pct(*d))?,
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    let tok_s = |head: bool| {
        median(
            &pairs
                .iter()
                .map(|(_, b, h)| if head { h.decode_tok_s } else { b.decode_tok_s })
                .collect::<Vec<_>>(),
        )
    };
    let measurements = json!({
        "paired": {
            "statistic": "per_token_ms.p50 of each run",
            "method": "Hodges-Lehmann estimate with the Wilcoxon signed-rank interval of the pairs' log ratios",
            "confidence": rule.confidence,
            "max_regression_pct": rule.max_regression_pct,
            "min_pairs": rule.min_pairs,
            "max_pairs": rule.max_pairs,
            "pairs": pair_rows,
            "change_pct": {"estimate": finite(est)?, "low": finite(lo)?, "high": finite(hi)?},
            "stopped_early": decision.early,
            "base_decode_tok_s": finite(tok_s(false))?,
            "head_decode_tok_s": finite(tok_s(true))?,
        },
    });
    let inputs = p.inputs(opts, None, Some(json!(base_file)));
    let shown = p.path.display().to_string();
    for e in &errors {
        crate::github::annotate(
            env,
            crate::github::Level::Error,
            &shown,
            None,
            perf_smoke::PROGRAM,
            e,
        );
    }
    let body = Body {
        inputs,
        results: head_results,
        measurements,
        verdict: Verdict::from_findings(errors, Vec::new()),
    };
    let ms = |head: bool| {
        median(
            &pairs
                .iter()
                .map(|(_, b, h)| if head { h.per_token_ms } else { b.per_token_ms })
                .collect::<Vec<_>>(),
        )
    };
    crate::github::append_summary(
        env,
        &format!(
            "### perf-smoke --against\n\n| base ms/token | head ms/token | change | {:.0}% interval | pairs | verdict |\n|---|---|---|---|---|---|\n| {:.3} | {:.3} | {est:+.2}% | {lo:+.2}% to {hi:+.2}% | {} | {} |\n\n",
            rule.confidence * 100.0,
            ms(false),
            ms(true),
            pairs.len(),
            body.verdict.status.as_str()
        ),
    )?;
    let mut table = header(&shown, &body, p.w.threads as u64);
    table += &format!(
        "  against      {shown_other}\n  pairs        {}{}\n  per token    base {:.3} ms   head {:.3} ms   (medians of the runs' p50)\n  change       {est:+.2}%   {:.0}% interval {lo:+.2}% to {hi:+.2}%   allowed +{}%\n",
        pairs.len(),
        if decision.early { " (stopped early: the answer was clear)" } else { "" },
        ms(false),
        ms(true),
        rule.confidence * 100.0,
        rule.max_regression_pct,
    );
    table += &footer(&body);
    let measures = json!({
        "paired-change-pct": {"value": est, "lower_value": lo, "upper_value": hi},
        "head-per-token-ms": {"value": ms(true)},
        "base-per-token-ms": {"value": ms(false)},
    });
    let name = perf_smoke::bmf_name(p.preset, &p.path, p.w.threads as u64);
    perf_smoke::report(opts, env, body, table, name, measures)
}
