//! Does parci compute what a reference engine (llama.cpp) computes on the
//! same file? Both read the same token ids; at every position parity compares
//! parci's full logit vector with the reference's ([`metrics`]: KL divergence,
//! same top-1, Δp, cosine, max |Δ log p|), and optionally both continue
//! greedily from the text. The reference comes live from llama.cpp (the CLI
//! layer's `llama-cpp` feature) or from a saved [`reference`] file.
//!
//! This module owns the `parci.parity` receipt's results block and its
//! semantic gate (aggregates recomputed from the per-position list,
//! thresholds applied).

pub mod metrics;
pub mod reference;

use crate::findings::Findings;
use crate::model::{argmax, Engine, Model, ModelError};
use crate::quant::kernels::KernelMode;
use metrics::{compare, summarize, Position, Summary};
use reference::Reference;
use serde_json::{json, Value};

/// Thresholds of the gate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Fail below this share of positions with the same top-1 token, percent.
    pub min_same_top1_pct: f64,
    /// Fail above this mean KL divergence, nats.
    pub max_mean_kl: f64,
}

/// What parity found.
pub struct Comparison {
    pub positions: Vec<Position>,
    pub summary: Summary,
    /// parci's greedy continuation, when the reference has one.
    pub greedy: Option<Vec<u32>>,
}

/// Runs parci over `r.ids` (teacher-forced) and compares each position the
/// reference recorded; then, when the reference has a greedy continuation,
/// decodes as many tokens greedily from the end of the text.
pub fn run(
    model: &Model,
    r: &Reference,
    mode: KernelMode,
    threads: usize,
) -> Result<Comparison, ModelError> {
    let n_greedy = r.greedy.as_ref().map_or(0, Vec::len);
    let mut e = Engine::new(model, mode, threads, r.ids.len() + n_greedy + 1)?;
    let mut positions = Vec::with_capacity(r.positions.len());
    let mut last = 0;
    for (i, &t) in r.ids.iter().enumerate() {
        let logits = e.forward(t)?;
        if let Some(rp) = r.positions.get(i) {
            positions.push(compare(rp, logits, r.ids.get(i + 1).copied()));
        }
        last = argmax(logits);
    }
    let greedy = match n_greedy {
        0 => None,
        n => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                out.push(last);
                last = argmax(e.forward(last)?);
            }
            Some(out)
        }
    };
    let summary = summarize(&positions);
    Ok(Comparison {
        positions,
        summary,
        greedy,
    })
}

/// parci itself as the reference: its logits at every position of `ids`
/// (teacher-forced, one token per forward) and `greedy` tokens after them.
/// Saved with `--write-reference`, it lets one build of parci be compared
/// with another (a kernel change, another ISA, another thread count).
#[allow(clippy::too_many_arguments)]
pub fn parci_reference(
    model: &Model,
    text: &str,
    ids: Vec<u32>,
    model_sha256: &str,
    keep: usize,
    greedy: usize,
    mode: KernelMode,
    threads: usize,
) -> Result<Reference, ModelError> {
    let mut e = Engine::new(model, mode, threads, ids.len() + greedy + 1)?;
    let mut positions = Vec::with_capacity(keep.min(ids.len()));
    let mut last = 0;
    for (i, &t) in ids.iter().enumerate() {
        let logits = e.forward(t)?;
        if i < keep {
            positions.push(metrics::RefPosition::from_logits(logits, 0));
        }
        last = argmax(logits);
    }
    let greedy = (greedy > 0).then(|| -> Result<Vec<u32>, ModelError> {
        let mut out = Vec::with_capacity(greedy);
        for _ in 0..greedy {
            out.push(last);
            last = argmax(e.forward(last)?);
        }
        Ok(out)
    });
    Ok(Reference {
        engine: format!(
            "parci {}, {} kernels, {threads} thread(s), one token per forward",
            env!("CARGO_PKG_VERSION"),
            mode.name()
        ),
        model_sha256: model_sha256.to_string(),
        text: text.to_string(),
        ids,
        positions,
        greedy: greedy.transpose()?,
    })
}

/// The first index where two continuations differ (`None`: they agree over
/// the shorter).
pub fn first_divergence(a: &[u32], b: &[u32]) -> Option<usize> {
    a.iter().zip(b).position(|(x, y)| x != y)
}

fn summary_json(s: &Summary) -> Value {
    json!({
        "positions": s.positions,
        "same_top1_pct": s.same_top1_pct,
        "kl_mean": s.kl_mean,
        "kl_median": s.kl_median,
        "kl_p99": s.kl_p99,
        "kl_max": s.kl_max,
        "cosine_min": s.cosine_min,
        "max_dlogprob": s.max_dlogprob,
        "rest_max": s.rest_max,
    })
}

/// The receipt's `results` (texts of the greedy continuations come from the
/// caller, who holds the tokenizer).
pub fn results(c: &Comparison, r: &Reference, texts: Option<(String, String)>) -> Value {
    let per: Vec<Value> = c
        .positions
        .iter()
        .map(|p| {
            json!({
                "kl": p.kl, "same_top1": p.same_top1, "ref_top1": p.ref_top1, "top1": p.top1,
                "cosine": p.cosine, "max_dlogprob": p.max_dlogprob, "rest": p.rest, "dp": p.dp,
            })
        })
        .collect();
    let greedy = match (&c.greedy, &r.greedy) {
        (Some(ours), Some(theirs)) => {
            let (parci_text, reference_text) = texts.unwrap_or_default();
            json!({
                "tokens": theirs.len(),
                "parci": ours,
                "reference": theirs,
                "first_divergence": first_divergence(ours, theirs),
                "parci_text": parci_text,
                "reference_text": reference_text,
            })
        }
        _ => Value::Null,
    };
    json!({
        "summary": summary_json(&c.summary),
        "per_position": per,
        "greedy": greedy,
    })
}

/// Whether `s` passes `t`, with the reasons it does not.
pub fn verdict_reasons(s: &Summary, t: &Thresholds) -> Vec<String> {
    let mut out = Vec::new();
    if s.same_top1_pct < t.min_same_top1_pct {
        out.push(format!(
            "same top-1 on {:.2}% of {} positions, below --min-same-top1 {}%",
            s.same_top1_pct, s.positions, t.min_same_top1_pct
        ));
    }
    if s.kl_mean > t.max_mean_kl {
        out.push(format!(
            "mean KL divergence {:.3e} above --max-mean-kl {:.1e}",
            s.kl_mean, t.max_mean_kl
        ));
    }
    out
}

/// verify-receipt's gate for `parci.parity`: the summary is recomputed from
/// the per-position list, and a summary outside the recorded thresholds must
/// have failed.
pub fn gate_parity(doc: &Value, out: &mut Findings) {
    let r = &doc["results"];
    let Some(per) = r["per_position"].as_array() else {
        return;
    };
    let ps: Option<Vec<Position>> = per
        .iter()
        .map(|p| {
            Some(Position {
                kl: p["kl"].as_f64()?,
                same_top1: p["same_top1"].as_bool()?,
                ref_top1: p["ref_top1"].as_u64()? as u32,
                top1: p["top1"].as_u64()? as u32,
                rest: p["rest"].as_f64()?,
                dp: p["dp"].as_f64(),
                cosine: p["cosine"].as_f64()?,
                max_dlogprob: p["max_dlogprob"].as_f64()?,
            })
        })
        .collect();
    let Some(ps) = ps.filter(|p| !p.is_empty()) else {
        out.error(
            "/results/per_position",
            "per-position entries are missing or incomplete",
        );
        return;
    };
    for (i, p) in ps.iter().enumerate() {
        if p.same_top1 != (p.top1 == p.ref_top1) {
            out.error(
                format!("/results/per_position/{i}/same_top1"),
                format!(
                    "same_top1 is {} but top1 {} and ref_top1 {}",
                    p.same_top1, p.top1, p.ref_top1
                ),
            );
        }
    }
    let want = summary_json(&summarize(&ps));
    for (k, v) in want.as_object().expect("object") {
        if &r["summary"][k] != v {
            out.error(
                format!("/results/summary/{k}"),
                format!(
                    "summary.{k} is {} but the per-position list gives {v}",
                    r["summary"][k]
                ),
            );
        }
    }
    let t = &doc["inputs"]["thresholds"];
    if let (Some(min), Some(max)) = (t["min_same_top1_pct"].as_f64(), t["max_mean_kl"].as_f64()) {
        let failing = !verdict_reasons(
            &summarize(&ps),
            &Thresholds {
                min_same_top1_pct: min,
                max_mean_kl: max,
            },
        )
        .is_empty();
        if failing && doc["verdict"]["status"] != "fail" {
            out.error(
                "/verdict/status",
                "the summary is outside the recorded thresholds but the verdict is not fail",
            );
        }
    }
}
