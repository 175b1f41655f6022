//! When a failed task is tried again: after a backoff that doubles per retry
//! (capped at a minute), optionally spread by "equal jitter".

use super::process::unix_ms;
use std::time::{Duration, Instant};

/// The wait before retry `n` (1-based): `base * 2^(n-1)`, capped at 60 s.
pub fn backoff(base: Duration, n: u32) -> Duration {
    base.saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(Duration::from_secs(60))
}

/// "Equal jitter": `wait` scaled into [wait / 2, wait] by `unit` in [0, 1),
/// so retries of many tasks that failed together do not all land at once,
/// and none comes sooner than half the backoff.
pub fn jittered(wait: Duration, unit: f64) -> Duration {
    wait.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) from the process's random hash keys and the clock.
pub(super) fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(unix_ms()));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_at_a_minute() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 1), Duration::from_secs(1));
        assert_eq!(backoff(b, 3), Duration::from_secs(4));
        assert_eq!(backoff(b, 40), Duration::from_secs(60));
        let w = Duration::from_secs(8);
        assert_eq!(jittered(w, 0.0), Duration::from_secs(4));
        assert_eq!(jittered(w, 0.5), Duration::from_secs(6));
        assert!(jittered(w, 0.999_999) <= w);
        let draws: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(
            draws.iter().any(|&u| u != draws[0]),
            "the draws are not one constant"
        );
    }
}
