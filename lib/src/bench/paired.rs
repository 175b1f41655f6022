//! Is the head build slower than the base build? Decided from paired runs
//! on a noisy machine (`perf-smoke --against`).
//!
//! **Samples.** Base and head run alternately; each pair gives the log of
//! head time over base time, d = ln(t_head / t_base) (positive: head
//! slower). A pair's two runs are seconds apart, so a slow drift of the
//! machine (another job starting, a frequency change) cancels in d; the
//! order inside a pair alternates (AB, BA, AB, …), so a first-run or
//! second-run advantage cancels over the pairs.
//!
//! **Statistic.** The Hodges–Lehmann estimate of the median log ratio (the
//! median of the n(n+1)/2 Walsh averages (d_i + d_j)/2, i ≤ j) with the
//! Wilcoxon signed-rank confidence interval (order statistics of the Walsh
//! averages at the exact null distribution's critical value). Why this and
//! not a t-test or a bootstrap: it needs no normality (a preempted run is a
//! heavy right tail), a few outliers move it little (breakdown 29%), it is
//! 95% as efficient as the mean on normal data, and its coverage is exact
//! for symmetric noise at any n, where a bootstrap of 10-40 pairs
//! under-covers. Under A/A (the same build on both sides) d is symmetric
//! about 0 by exchangeability, which is the case the false-alarm rate is
//! about.
//!
//! **Decision** ([`decide`], after each pair from `min_pairs` on), with δ =
//! ln(1 + max_regression):
//! - the interval lies above δ: fail now (a regression beyond the limit,
//!   and significant);
//! - the interval lies below δ: pass now (any regression is within it);
//! - at `max_pairs`: fail when the estimate is above δ **and** the interval
//!   excludes 0 (beyond the limit and significant), else pass.
//!
//! The early stops look at the data more than once, so the nominal
//! confidence is not the error rate: the calibration test below measures
//! the false-alarm rate and the power of exactly this procedure on
//! synthetic samples with lognormal noise, outliers and drift.

/// One pair of runs: each side's time per token (any unit, lower is faster).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pair {
    pub base: f64,
    pub head: f64,
}

impl Pair {
    /// ln(head / base): positive when the head is slower.
    pub fn log_ratio(&self) -> f64 {
        (self.head / self.base).ln()
    }
}

/// The decision procedure's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// The largest slowdown of the head that passes, in percent.
    pub max_regression_pct: f64,
    /// Two-sided confidence of the interval.
    pub confidence: f64,
    /// Pairs before the first decision.
    pub min_pairs: usize,
    /// Pairs at most (the sample budget).
    pub max_pairs: usize,
}

/// The most pairs `perf-smoke --against --pairs` accepts.
pub const MAX_PAIRS: usize = 1000;

/// The defaults `perf-smoke --against` uses (calibrated below).
pub const DEFAULT_RULE: Rule = Rule {
    max_regression_pct: 1.0,
    confidence: 0.99,
    min_pairs: 10,
    max_pairs: 50,
};

/// An estimate of the log ratio with its confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    pub estimate: f64,
    pub low: f64,
    pub high: f64,
}

/// A log ratio as a percent change of time (positive: slower).
pub fn pct(log_ratio: f64) -> f64 {
    (log_ratio.exp() - 1.0) * 100.0
}

/// What the pairs so far say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not decided yet: run another pair.
    More,
    Pass,
    Fail,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    /// The interval it was decided on (`None` before `min_pairs`).
    pub interval: Option<Interval>,
    /// Decided before the budget ran out.
    pub early: bool,
}

/// The Wilcoxon signed-rank critical value: the largest c with
/// P(T+ ≤ c) ≤ alpha / 2 under the null (all 2^n sign patterns equally
/// likely), from the exact distribution; `None` when even c = 0 is too
/// likely (n too small for this confidence).
pub fn critical_value(n: usize, confidence: f64) -> Option<usize> {
    let m = n * (n + 1) / 2;
    // counts[s]: sign patterns of ranks 1..=k whose positive ranks sum to s
    let mut counts = vec![0f64; m + 1];
    counts[0] = 1.0;
    for k in 1..=n {
        for s in (k..=m).rev() {
            counts[s] += counts[s - k];
        }
    }
    let total = 2f64.powi(n as i32);
    let tail = (1.0 - confidence) / 2.0;
    let mut cum = 0.0;
    let mut c = None;
    for (s, k) in counts.iter().enumerate() {
        cum += k / total;
        if cum > tail {
            break;
        }
        c = Some(s);
    }
    c
}

/// Hodges–Lehmann estimate and Wilcoxon interval of the centre of `d`.
/// Infinite bounds when `d` is too short for `confidence`.
pub fn interval(d: &[f64], confidence: f64) -> Interval {
    assert!(!d.is_empty(), "no pairs");
    let mut w: Vec<f64> = Vec::with_capacity(d.len() * (d.len() + 1) / 2);
    for (i, a) in d.iter().enumerate() {
        for b in &d[i..] {
            w.push((a + b) / 2.0);
        }
    }
    let m = w.len();
    let mut nth = |k: usize| *w.select_nth_unstable_by(k, f64::total_cmp).1;
    let estimate = if m % 2 == 1 {
        nth(m / 2)
    } else {
        (nth(m / 2 - 1) + nth(m / 2)) / 2.0
    };
    let (low, high) = match critical_value(d.len(), confidence) {
        // 1-based order statistics c+1 and m-c
        Some(c) => (nth(c), nth(m - 1 - c)),
        None => (f64::NEG_INFINITY, f64::INFINITY),
    };
    Interval {
        estimate,
        low,
        high,
    }
}

/// The verdict on the log ratios `d` so far (module doc).
pub fn decide(d: &[f64], rule: &Rule) -> Decision {
    if d.len() < rule.min_pairs.max(1) {
        return Decision {
            verdict: Verdict::More,
            interval: None,
            early: false,
        };
    }
    let iv = interval(d, rule.confidence);
    let delta = (1.0 + rule.max_regression_pct / 100.0).ln();
    let last = d.len() >= rule.max_pairs;
    let verdict = if iv.low > delta {
        Verdict::Fail
    } else if iv.high < delta {
        Verdict::Pass
    } else if !last {
        Verdict::More
    } else if iv.estimate > delta && iv.low > 0.0 {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Decision {
        verdict,
        interval: Some(iv),
        early: verdict != Verdict::More && !last,
    }
}

/// `perf-smoke --against`'s receipt: each pair's change is its two times'
/// ratio, and the estimate and interval are what [`interval`] gives on
/// the recorded pairs (the statistic recomputed, not re-measured); there
/// are no more pairs than the budget, and the verdict is what [`decide`]
/// says. An edited figure fails with its pointer.
pub fn gate(doc: &serde_json::Value, out: &mut crate::findings::Findings) {
    use crate::bench::wall::same;
    let p = &doc["measurements"]["paired"];
    let rows = p["pairs"].as_array().map_or(&[][..], Vec::as_slice);
    let max = p["max_pairs"].as_u64().unwrap_or(0) as usize;
    if rows.len() > max {
        return out.error(
            "/measurements/paired/pairs",
            format!("{} pairs but max_pairs is {max}", rows.len()),
        );
    }
    // what perf-smoke can have written; beyond it the recomputation
    // (quadratic in the pairs) is not attempted
    if max > MAX_PAIRS {
        return out.error(
            "/measurements/paired/max_pairs",
            format!("{max} but perf-smoke runs at most {MAX_PAIRS} pairs"),
        );
    }
    let confidence = p["confidence"].as_f64().unwrap_or(f64::NAN);
    if !(confidence > 0.0 && confidence < 1.0) {
        return out.error(
            "/measurements/paired/confidence",
            format!("{} is not a confidence in (0, 1)", p["confidence"]),
        );
    }
    let mut d = Vec::with_capacity(rows.len());
    for (i, r) in rows.iter().enumerate() {
        let (Some(b), Some(h)) = (r["base_ms"].as_f64(), r["head_ms"].as_f64()) else {
            return out.error(
                format!("/measurements/paired/pairs/{i}"),
                "a pair without both times",
            );
        };
        let x = Pair { base: b, head: h }.log_ratio();
        if !r["change_pct"].as_f64().is_some_and(|v| same(v, pct(x))) {
            out.error(
                format!("/measurements/paired/pairs/{i}/change_pct"),
                format!("{} but the pair's times give {}", r["change_pct"], pct(x)),
            );
        }
        d.push(x);
    }
    if d.is_empty() {
        return;
    }
    let iv = interval(&d, confidence);
    let c = &p["change_pct"];
    for (k, want) in [
        ("estimate", iv.estimate),
        ("low", iv.low),
        ("high", iv.high),
    ] {
        if !c[k].as_f64().is_some_and(|v| same(v, pct(want))) {
            out.error(
                format!("/measurements/paired/change_pct/{k}"),
                format!(
                    "{} but the recorded pairs give {}: the figure was changed without the pairs it comes from",
                    c[k],
                    pct(want)
                ),
            );
        }
    }
    let rule = Rule {
        max_regression_pct: p["max_regression_pct"].as_f64().unwrap_or(f64::NAN),
        confidence,
        min_pairs: p["min_pairs"].as_u64().unwrap_or(0) as usize,
        max_pairs: max,
    };
    let failed = decide(&d, &rule).verdict == Verdict::Fail;
    if failed != (doc["verdict"]["status"] == "fail") {
        out.error(
            "/verdict/status",
            format!(
                "{} but the recorded pairs {} the {}% limit",
                doc["verdict"]["status"],
                if failed { "exceed" } else { "do not exceed" },
                rule.max_regression_pct
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gguf::fixture::SplitMix64;

    /// Uniform in [0, 1).
    fn unif(r: &mut SplitMix64) -> f64 {
        (r.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    fn normal(r: &mut SplitMix64) -> f64 {
        let (u, v) = (unif(r).max(1e-300), unif(r));
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// The noise model of a shared runner, for one run: lognormal jitter
    /// (σ = 1.5% of a run's per-token time), a preempted run 5% of the time
    /// (5-40% slower), and a drift of the machine's speed (a random walk
    /// of 0.3% per run, kept within ±15%) that both sides of a pair share
    /// almost wholly.
    struct Runner {
        r: SplitMix64,
        drift: f64,
    }

    impl Runner {
        fn run(&mut self, true_time: f64) -> f64 {
            self.drift = (self.drift + 0.003 * normal(&mut self.r)).clamp(-0.15, 0.15);
            let mut t = true_time * (self.drift + 0.015 * normal(&mut self.r)).exp();
            if unif(&mut self.r) < 0.05 {
                t *= 1.05 + 0.35 * unif(&mut self.r);
            }
            t
        }
    }

    /// Runs the procedure as perf-smoke does (alternating order, a decision
    /// after every pair) against a head `slowdown` slower; the verdict and
    /// the pairs it took.
    fn experiment(seed: u64, slowdown: f64, rule: &Rule) -> (Verdict, usize) {
        let mut m = Runner {
            r: SplitMix64::new(seed),
            drift: 0.0,
        };
        let mut d = Vec::new();
        loop {
            let (base, head) = if d.len() % 2 == 0 {
                let b = m.run(1.0);
                (b, m.run(1.0 + slowdown))
            } else {
                let h = m.run(1.0 + slowdown);
                (m.run(1.0), h)
            };
            d.push(Pair { base, head }.log_ratio());
            let dec = decide(&d, rule);
            if dec.verdict != Verdict::More {
                return (dec.verdict, d.len());
            }
        }
    }

    /// Share of `trials` experiments that fail, and the mean pairs used.
    fn fail_rate(slowdown: f64, trials: u64, rule: &Rule) -> (f64, f64) {
        let (mut fails, mut pairs) = (0, 0);
        for t in 0..trials {
            let (v, n) = experiment(
                0xCA11_B8A7 ^ (t * 7919) ^ slowdown.to_bits(),
                slowdown,
                rule,
            );
            fails += (v == Verdict::Fail) as u64;
            pairs += n;
        }
        (fails as f64 / trials as f64, pairs as f64 / trials as f64)
    }

    /// The calibration docs/perf-smoke.md quotes: false alarms on A/A and
    /// power at 2% and 5% regressions, with the default rule on the noise
    /// model above (deterministic: seeded draws).
    #[test]
    fn calibration_false_alarms_and_power_at_the_defaults() {
        let rule = DEFAULT_RULE;
        let (fa, fa_pairs) = fail_rate(0.0, 2000, &rule);
        let (p2, p2_pairs) = fail_rate(0.02, 1000, &rule);
        let (p5, p5_pairs) = fail_rate(0.05, 500, &rule);
        eprintln!(
            "A/A false alarms {:.2}% (mean {fa_pairs:.1} pairs); power at 2%: {:.1}% ({p2_pairs:.1} pairs); at 5%: {:.1}% ({p5_pairs:.1} pairs)",
            fa * 100.0,
            p2 * 100.0,
            p5 * 100.0
        );
        // the minimal detectable regression: the smallest slowdown (in
        // steps of 0.25%) failed in at least 90% of experiments
        let mdr = (4..=8)
            .map(|q| q as f64 * 0.0025)
            .find(|&s| fail_rate(s, 400, &rule).0 >= 0.90);
        eprintln!("minimal detectable regression (power >= 90%): {mdr:?}");
        assert!(fa <= 0.01, "false-alarm rate {fa}");
        assert!(mdr.is_some_and(|m| m <= 0.02), "{mdr:?}");
        assert!(p2 >= 0.90, "power at 2%: {p2}");
        assert!(p5 >= 0.99, "power at 5%: {p5}");
        // a speed-up is never a failure
        let (up, _) = fail_rate(-0.05, 200, &rule);
        assert_eq!(up, 0.0);
    }

    #[test]
    fn critical_values_are_the_published_table() {
        // two-sided 0.05: n=6 → 0, 10 → 8, 20 → 52; 0.01: n=10 → 3, 20 → 37
        assert_eq!(critical_value(5, 0.95), None);
        assert_eq!(critical_value(6, 0.95), Some(0));
        assert_eq!(critical_value(10, 0.95), Some(8));
        assert_eq!(critical_value(20, 0.95), Some(52));
        assert_eq!(critical_value(10, 0.99), Some(3));
        assert_eq!(critical_value(20, 0.99), Some(37));
    }

    #[test]
    fn interval_is_the_walsh_average_order_statistics() {
        // 6 values: 21 Walsh averages; c = 0 at 95%: the min and max
        let d = [1.0, 2.0, 3.0, 4.0, 5.0, 100.0];
        let iv = interval(&d, 0.95);
        assert_eq!((iv.low, iv.high), (1.0, 100.0));
        // the median of the 21 averages: an outlier moves it little
        assert_eq!(iv.estimate, 3.5);
        let iv = interval(&[0.5; 3], 0.95);
        assert_eq!(iv.estimate, 0.5);
        assert!(iv.low.is_infinite() && iv.high.is_infinite());
    }

    #[test]
    fn decisions_follow_the_rule() {
        let rule = Rule {
            max_regression_pct: 1.0,
            confidence: 0.95,
            min_pairs: 6,
            max_pairs: 8,
        };
        let more = decide(&[0.5; 5], &rule);
        assert_eq!((more.verdict, more.interval), (Verdict::More, None));
        // clearly 10% slower: fails as soon as it may decide
        let slow: Vec<f64> = (0..6).map(|i| 0.095 + 0.001 * i as f64).collect();
        let d = decide(&slow, &rule);
        assert_eq!((d.verdict, d.early), (Verdict::Fail, true));
        // clearly the same: passes early
        let same: Vec<f64> = (0..6).map(|i| 0.001 * (i as f64 - 2.5)).collect();
        assert_eq!(decide(&same, &rule).verdict, Verdict::Pass);
        // straddling δ = ln 1.01 at the budget: fails only when the estimate
        // is above δ and the interval excludes 0
        let above = [0.002, 0.03, 0.012, 0.011, 0.004, 0.025, 0.013, 0.02];
        let d = decide(&above, &rule);
        assert_eq!((d.verdict, d.early), (Verdict::Fail, false), "{d:?}");
        let noisy = [-0.02, 0.05, 0.012, 0.011, -0.01, 0.04, 0.013, 0.02];
        assert_eq!(decide(&noisy, &rule).verdict, Verdict::Pass);
    }
}
