//! How parci's logits compare with a reference's at one position, and over
//! many: the quantities llama.cpp's `llama-perplexity --kl-divergence`
//! reports (KL divergence of the tested model from the base over the full
//! softmax, "same top p", Δp of the next token), plus cosine and max |Δlogit|.
//!
//! The reference may be known only by its top-k logits and its log-sum-exp
//! (a saved reference file). Then the tokens outside its top-k are lumped into
//! one event: by the log-sum inequality that KL is a lower bound of the full
//! one, short of it by at most `rest · ln(rest_max / q_min)` where `rest` is
//! the reference's probability mass outside the top-k (recorded per position).

/// What the reference knows at one position.
#[derive(Clone, Debug, PartialEq)]
pub struct RefPosition {
    /// Its top-k (id, logit), largest first; `k` may be the whole vocabulary.
    pub top: Vec<(u32, f32)>,
    /// ln Σ exp(logit) over the whole vocabulary.
    pub lse: f64,
    /// Whether `top` is the whole vocabulary (then the KL is exact).
    pub full: bool,
}

impl RefPosition {
    /// From a full logit vector, keeping the `k` largest (all when `k == 0`).
    pub fn from_logits(logits: &[f32], k: usize) -> RefPosition {
        let mut idx: Vec<u32> = (0..logits.len() as u32).collect();
        // Largest first; among equal logits the lower id first (argmax's tie rule).
        idx.sort_by(|&a, &b| {
            logits[b as usize]
                .total_cmp(&logits[a as usize])
                .then(a.cmp(&b))
        });
        let keep = if k == 0 { idx.len() } else { k.min(idx.len()) };
        RefPosition {
            top: idx[..keep]
                .iter()
                .map(|&i| (i, logits[i as usize]))
                .collect(),
            lse: log_sum_exp(logits),
            full: keep == logits.len(),
        }
    }
    pub fn argmax(&self) -> u32 {
        self.top[0].0
    }
}

/// ln Σ exp(x), in f64 around the maximum.
pub fn log_sum_exp(x: &[f32]) -> f64 {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    m + x.iter().map(|&v| (v as f64 - m).exp()).sum::<f64>().ln()
}

pub use crate::model::argmax;

/// One position's comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Position {
    /// KL(reference ‖ parci), nats.
    pub kl: f64,
    pub same_top1: bool,
    pub ref_top1: u32,
    pub top1: u32,
    /// Reference probability mass outside its recorded top-k (0 when full).
    pub rest: f64,
    /// p_parci(next) − p_ref(next) for the token that follows, when known.
    pub dp: Option<f64>,
    /// Over the reference's recorded tokens: cosine of the logit vectors;
    /// and the largest |Δ log p| over those the KL counts (reference log p
    /// above -16; log-probabilities, so a constant shift is no difference).
    pub cosine: f64,
    pub max_dlogprob: f64,
}

/// Compares parci's full `logits` at one position with the reference's.
/// `next`: the token that follows in the text (for Δp).
pub fn compare(r: &RefPosition, logits: &[f32], next: Option<u32>) -> Position {
    let lse_q = log_sum_exp(logits);
    let logq = |i: u32| logits[i as usize] as f64 - lse_q;
    let mut kl = 0.0;
    let (mut p_top, mut q_top) = (0.0, 0.0);
    let (mut dot, mut nr, mut nq) = (0.0, 0.0, 0.0);
    let mut max_d: f64 = 0.0;
    for &(i, l) in &r.top {
        let logp = l as f64 - r.lse;
        let p = logp.exp();
        // llama.cpp skips base log-probabilities at or below -16.
        if logp > -16.0 {
            kl += p * (logp - logq(i));
            max_d = max_d.max((logp - logq(i)).abs());
        }
        p_top += p;
        q_top += logq(i).exp();
        let (a, b) = (l as f64, logits[i as usize] as f64);
        dot += a * b;
        nr += a * a;
        nq += b * b;
    }
    let rest = if r.full { 0.0 } else { (1.0 - p_top).max(0.0) };
    if rest > 0.0 {
        let q_rest = (1.0 - q_top).max(f64::MIN_POSITIVE);
        kl += rest * (rest / q_rest).ln();
    }
    let dp = next.and_then(|t| {
        let p_ref = r
            .top
            .iter()
            .find(|&&(i, _)| i == t)
            .map(|&(_, l)| (l as f64 - r.lse).exp());
        // Outside a partial top-k the reference's p is unknown.
        p_ref
            .or(if r.full { Some(0.0) } else { None })
            .map(|p| logq(t).exp() - p)
    });
    let top1 = argmax(logits);
    Position {
        kl,
        same_top1: top1 == r.argmax(),
        ref_top1: r.argmax(),
        top1,
        rest,
        dp,
        cosine: dot / (nr.sqrt() * nq.sqrt()),
        max_dlogprob: max_d,
    }
}

/// Aggregates over positions, as llama-perplexity prints them.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub positions: usize,
    pub same_top1_pct: f64,
    pub kl_mean: f64,
    pub kl_median: f64,
    pub kl_p99: f64,
    pub kl_max: f64,
    pub cosine_min: f64,
    pub max_dlogprob: f64,
    /// Largest reference mass outside its recorded top-k.
    pub rest_max: f64,
}

/// llama-perplexity's percentile: linear between the two nearest ranks of
/// the sorted values.
pub fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if fraction <= 0.0 {
        return sorted[0];
    }
    if fraction >= 1.0 {
        return sorted[sorted.len() - 1];
    }
    let p = fraction * (sorted.len() - 1) as f64;
    let i = p as usize;
    let f = p - i as f64;
    (1.0 - f) * sorted[i] + f * sorted[(i + 1).min(sorted.len() - 1)]
}

pub fn summarize(ps: &[Position]) -> Summary {
    let n = ps.len();
    let mut kls: Vec<f64> = ps.iter().map(|p| p.kl).collect();
    kls.sort_by(f64::total_cmp);
    let median = if n.is_multiple_of(2) {
        0.5 * (kls[n / 2] + kls[n / 2 - 1])
    } else {
        kls[n / 2]
    };
    Summary {
        positions: n,
        same_top1_pct: 100.0 * ps.iter().filter(|p| p.same_top1).count() as f64 / n as f64,
        kl_mean: kls.iter().sum::<f64>() / n as f64,
        kl_median: median,
        kl_p99: percentile(&kls, 0.99),
        kl_max: kls[n - 1],
        cosine_min: ps.iter().map(|p| p.cosine).fold(f64::INFINITY, f64::min),
        max_dlogprob: ps.iter().map(|p| p.max_dlogprob).fold(0.0, f64::max),
        rest_max: ps.iter().map(|p| p.rest).fold(0.0, f64::max),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_logits_compare_as_identical() {
        let l = [1.0f32, 3.0, -2.0, 0.5];
        let r = RefPosition::from_logits(&l, 0);
        let p = compare(&r, &l, Some(1));
        assert!(p.kl.abs() < 1e-12 && p.same_top1 && p.rest == 0.0);
        assert!((p.cosine - 1.0).abs() < 1e-12 && p.max_dlogprob < 1e-12);
        assert_eq!(p.dp, Some(0.0));
        // a constant shift changes no probability
        let shifted: Vec<f32> = l.iter().map(|v| v + 5.0).collect();
        assert!(compare(&r, &shifted, None).kl.abs() < 1e-12);
    }

    #[test]
    fn kl_is_the_full_softmax_kl_and_top_k_gives_a_lower_bound() {
        let p = [2.0f32, 1.0, 0.0, -1.0, -3.0];
        let q = [1.5f32, 1.2, 0.1, -2.0, -1.0];
        let (lp, lq) = (log_sum_exp(&p), log_sum_exp(&q));
        let want: f64 = p
            .iter()
            .zip(&q)
            .map(|(&a, &b)| {
                let (la, lb) = (a as f64 - lp, b as f64 - lq);
                la.exp() * (la - lb)
            })
            .sum();
        let full = compare(&RefPosition::from_logits(&p, 0), &q, None);
        assert!((full.kl - want).abs() < 1e-12, "{} {want}", full.kl);
        let top2 = compare(&RefPosition::from_logits(&p, 2), &q, None);
        assert!(top2.kl <= full.kl + 1e-12 && top2.kl > 0.0);
        assert!(top2.rest > 0.0);
        assert_eq!(top2.same_top1, argmax(&q) == 0);
    }

    #[test]
    fn summaries_follow_llama_perplexity() {
        let s = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&s, 0.5), 2.5);
        assert_eq!(percentile(&s, 0.99), 3.0 + 0.97);
        let ps: Vec<Position> = [0.1, 0.3, 0.2]
            .iter()
            .map(|&kl| Position {
                kl,
                same_top1: kl < 0.25,
                ref_top1: 0,
                top1: 0,
                rest: 0.0,
                dp: None,
                cosine: 1.0 - kl,
                max_dlogprob: kl,
            })
            .collect();
        let sm = summarize(&ps);
        assert!((sm.kl_mean - 0.2).abs() < 1e-12);
        assert_eq!(sm.kl_median, 0.2);
        assert_eq!(sm.kl_max, 0.3);
        assert!((sm.same_top1_pct - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(sm.cosine_min, 0.7);
    }
}
