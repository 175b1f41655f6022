//! A wall-clock perf-smoke run's figures, derived from the times it
//! records. perf-smoke writes the raw times of every timed repeat (prefill,
//! each decode step, time in matvec kernels) beside the rates, medians and
//! percentiles, and computes those with [`derive`]; verify-receipt derives
//! them again from the recorded times ([`gate`]), so a figure edited by hand
//! without every other one that depends on it fails, naming it.

use crate::findings::Findings;
use serde_json::Value;

/// The recorded times of one timed repeat, in ms.
#[derive(Clone, Debug, PartialEq)]
pub struct RunTimes {
    pub prefill_ms: f64,
    /// Each decode step.
    pub per_token_ms: Vec<f64>,
    /// Of the decode, time inside matrix-vector kernels.
    pub matvec_ms: f64,
}

/// What a receipt reports, from the runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Derived {
    pub prefill_tok_s: f64,
    pub decode_tok_s_runs: Vec<f64>,
    pub decode_tok_s: f64,
    pub p50: f64,
    pub p90: f64,
    pub max: f64,
    pub matvec_share: f64,
}

/// The median (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
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
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// `(now - base) / base × 100`: negative is slower.
pub fn change_pct(now: f64, base: f64) -> f64 {
    (now - base) / base * 100.0
}

/// Rates, medians and percentiles of `runs` (at least one, each with at
/// least one step) for a prompt of `prompt_tokens`.
pub fn derive(runs: &[RunTimes], prompt_tokens: usize) -> Derived {
    let decode_ms: Vec<f64> = runs.iter().map(|r| r.per_token_ms.iter().sum()).collect();
    let decode_tok_s_runs: Vec<f64> = runs
        .iter()
        .zip(&decode_ms)
        .map(|(r, &d)| r.per_token_ms.len() as f64 / (d / 1e3))
        .collect();
    let prefill: Vec<f64> = runs
        .iter()
        .map(|r| prompt_tokens as f64 / (r.prefill_ms / 1e3))
        .collect();
    let mut steps: Vec<f64> = runs
        .iter()
        .flat_map(|r| r.per_token_ms.iter().copied())
        .collect();
    steps.sort_by(f64::total_cmp);
    let decode_total: f64 = decode_ms.iter().sum();
    let matvec_total: f64 = runs.iter().map(|r| r.matvec_ms).sum();
    Derived {
        prefill_tok_s: median(&prefill),
        decode_tok_s: median(&decode_tok_s_runs),
        decode_tok_s_runs,
        p50: percentile(&steps, 50.0),
        p90: percentile(&steps, 90.0),
        max: *steps.last().expect("a run has a step"),
        matvec_share: (matvec_total / decode_total).clamp(0.0, 1.0),
    }
}

/// Equal up to the last bits float printing may change.
pub(crate) fn same(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

/// The runs a receipt records, or the pointer and reason they cannot be read.
fn read_runs(m: &Value) -> Result<Vec<RunTimes>, (String, String)> {
    let runs = m["runs"].as_array().ok_or((
        "/measurements/runs".to_string(),
        "no recorded runs".to_string(),
    ))?;
    runs.iter()
        .enumerate()
        .map(|(i, r)| {
            let num = |v: &Value, what: &str| {
                v.as_f64().filter(|x| x.is_finite() && *x >= 0.0).ok_or((
                    format!("/measurements/runs/{i}/{what}"),
                    format!("{what} is not a time in ms"),
                ))
            };
            let steps = r["per_token_ms"]
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or((
                    format!("/measurements/runs/{i}/per_token_ms"),
                    "no decode step".to_string(),
                ))?
                .iter()
                .map(|v| num(v, "per_token_ms"))
                .collect::<Result<Vec<f64>, _>>()?;
            Ok(RunTimes {
                prefill_ms: num(&r["prefill_ms"], "prefill_ms")?,
                per_token_ms: steps,
                matvec_ms: num(&r["matvec_ms"], "matvec_ms")?,
            })
        })
        .collect()
}

/// verify-receipt's gate on a wall-clock perf-smoke receipt: every figure
/// is what the recorded runs give, each run decoded the tokens the results
/// hold, the prefill counts the prompt's tokens, and the baseline's change
/// is what its two rates give.
pub fn gate(doc: &Value, out: &mut Findings) {
    let m = &doc["measurements"];
    let runs = match read_runs(m) {
        Ok(r) => r,
        Err((ptr, why)) => return out.error(ptr, why),
    };
    let prompt = doc["inputs"]["prompt"].as_array().map_or(0, Vec::len);
    let generated = doc["results"]["generated"].as_array().map_or(0, Vec::len);
    if runs.len() as u64 != doc["inputs"]["repeats"].as_u64().unwrap_or(0) {
        out.error(
            "/measurements/runs",
            format!(
                "{} runs recorded but inputs.repeats is {}",
                runs.len(),
                doc["inputs"]["repeats"]
            ),
        );
    }
    for (i, r) in runs.iter().enumerate() {
        if r.per_token_ms.len() != generated {
            out.error(
                format!("/measurements/runs/{i}/per_token_ms"),
                format!(
                    "{} decode steps but results.generated holds {generated} tokens",
                    r.per_token_ms.len()
                ),
            );
        }
    }
    if prompt == 0 {
        return out.error(
            "/inputs/prompt",
            "no prompt tokens to divide the prefill by",
        );
    }
    let d = derive(&runs, prompt);
    fn check(out: &mut Findings, ptr: &str, recorded: &Value, want: f64, what: &str) {
        match recorded.as_f64() {
            Some(v) if same(v, want) => {}
            _ => out.error(
                ptr,
                format!("{ptr} is {recorded} but {what} gives {want}: the figure was changed without the runs it comes from"),
            ),
        }
    }
    check(
        out,
        "/measurements/prefill_tok_s",
        &m["prefill_tok_s"],
        d.prefill_tok_s,
        "the recorded runs' prefill times",
    );
    check(
        out,
        "/measurements/decode_tok_s",
        &m["decode_tok_s"],
        d.decode_tok_s,
        "the median of the recorded runs",
    );
    let recorded_runs = m["decode_tok_s_runs"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if recorded_runs.len() != d.decode_tok_s_runs.len() {
        out.error(
            "/measurements/decode_tok_s_runs",
            format!(
                "{} rates for {} recorded runs",
                recorded_runs.len(),
                runs.len()
            ),
        );
    } else {
        for (i, (v, &want)) in recorded_runs.iter().zip(&d.decode_tok_s_runs).enumerate() {
            check(
                out,
                &format!("/measurements/decode_tok_s_runs/{i}"),
                v,
                want,
                "that run's decode steps",
            );
        }
    }
    for (k, want) in [("p50", d.p50), ("p90", d.p90), ("max", d.max)] {
        check(
            out,
            &format!("/measurements/per_token_ms/{k}"),
            &m["per_token_ms"][k],
            want,
            "the recorded decode steps",
        );
    }
    check(
        out,
        "/measurements/matvec_share",
        &m["matvec_share"],
        d.matvec_share,
        "the recorded matvec and decode times",
    );
    let b = &m["baseline"];
    if let (Some(base), Some(_)) = (b["decode_tok_s"].as_f64(), b["change_pct"].as_f64()) {
        check(
            out,
            "/measurements/baseline/change_pct",
            &b["change_pct"],
            change_pct(d.decode_tok_s, base),
            "this run's rate against the baseline's",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_nearest_rank_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        let s: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(percentile(&s, 50.0), 5.0);
        assert_eq!(percentile(&s, 90.0), 9.0);
        assert_eq!(percentile(&s, 0.0), 1.0);
    }

    #[test]
    fn figures_come_from_the_runs() {
        let runs = [
            RunTimes {
                prefill_ms: 4.0,
                per_token_ms: vec![1.0, 3.0],
                matvec_ms: 2.0,
            },
            RunTimes {
                prefill_ms: 8.0,
                per_token_ms: vec![2.0, 2.0],
                matvec_ms: 2.0,
            },
        ];
        let d = derive(&runs, 8);
        assert_eq!(d.decode_tok_s_runs, [500.0, 500.0]);
        assert_eq!(d.decode_tok_s, 500.0);
        assert_eq!(d.prefill_tok_s, 1500.0, "median of 2000 and 1000");
        assert_eq!((d.p50, d.p90, d.max), (2.0, 3.0, 3.0));
        assert_eq!(d.matvec_share, 0.5);
        assert_eq!(change_pct(450.0, 500.0), -10.0);
    }
}
