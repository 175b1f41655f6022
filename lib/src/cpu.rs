//! Run-time CPU feature detection. The names are the ones Rust's
//! `is_*_feature_detected!` macros use, so a kernel's ISA can be checked against
//! a receipt's `host.cpu_features` by string.

/// The features this host has, in a fixed order (so receipts are stable).
pub fn features() -> Vec<&'static str> {
    let mut out = Vec::new();
    detect(&mut out);
    out
}

#[cfg(target_arch = "x86_64")]
fn detect(out: &mut Vec<&'static str>) {
    macro_rules! probe {
        ($($f:tt),* $(,)?) => {
            $( if std::arch::is_x86_feature_detected!($f) { out.push($f); } )*
        };
    }
    probe!(
        "sse2",
        "sse3",
        "ssse3",
        "sse4.1",
        "sse4.2",
        "popcnt",
        "avx",
        "avx2",
        "fma",
        "f16c",
        "bmi1",
        "bmi2",
        "avxvnni",
        "avx512f",
        "avx512bw",
        "avx512cd",
        "avx512dq",
        "avx512vl",
        "avx512vnni",
        "avx512bf16",
        "avx512vbmi",
        "avx512fp16",
    );
}

#[cfg(target_arch = "aarch64")]
fn detect(out: &mut Vec<&'static str>) {
    macro_rules! probe {
        ($($f:tt),* $(,)?) => {
            $( if std::arch::is_aarch64_feature_detected!($f) { out.push($f); } )*
        };
    }
    probe!("neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2");
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect(_out: &mut Vec<&'static str>) {}

#[cfg(test)]
mod tests {
    #[test]
    fn features_are_unique_and_stable() {
        let a = super::features();
        let b = super::features();
        assert_eq!(a, b);
        let mut sorted = a.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), a.len());
        #[cfg(target_arch = "x86_64")]
        assert!(a.contains(&"sse2"), "every x86-64 host has sse2: {a:?}");
    }
}
