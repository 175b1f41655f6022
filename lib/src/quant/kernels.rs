//! The kernel registry: which dot-product kernels exist, which ISA each needs,
//! which this host can run, how the ISA is chosen, and per-kernel call counters.
//!
//! A kernel's ID is `<weights>_dot_<activations>_<isa>`, e.g.
//! `tq2_0_dot_q8k_avx512vnni`. IDs are stable: receipts record them.

use crate::gguf::GgmlType;
use std::sync::atomic::{AtomicU64, Ordering};

/// Instruction sets a kernel can be written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Isa {
    Scalar,
    Avx2,
    Avx512,
    Avx512Vnni,
    /// aarch64 Advanced SIMD (always present on aarch64).
    Neon,
}

impl Isa {
    pub const ALL: [Isa; 5] = [
        Isa::Scalar,
        Isa::Avx2,
        Isa::Avx512,
        Isa::Avx512Vnni,
        Isa::Neon,
    ];
    /// The x86-64 ISAs, best last.
    const X86: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Avx512Vnni];

    pub fn suffix(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512vnni",
            Isa::Neon => "neon",
        }
    }
    /// CPU features (names as in `host.cpu_features`) the ISA needs.
    pub fn features(self) -> &'static [&'static str] {
        match self {
            Isa::Scalar => &[],
            Isa::Avx2 => &["avx2", "fma", "f16c"],
            Isa::Avx512 => &["avx512f", "avx512bw", "avx512vl", "f16c"],
            Isa::Avx512Vnni => &["avx512f", "avx512bw", "avx512vl", "avx512vnni", "f16c"],
            Isa::Neon => &["neon"],
        }
    }
    /// Whether this host can run it (detected once per process).
    pub fn available(self) -> bool {
        static AVAILABLE: std::sync::OnceLock<[bool; 5]> = std::sync::OnceLock::new();
        let table = AVAILABLE.get_or_init(|| {
            let have = crate::cpu::features();
            Isa::ALL.map(|isa| isa.features().iter().all(|f| have.contains(f)))
        });
        table[Isa::ALL.iter().position(|&i| i == self).expect("listed")]
    }
}

/// What the user asked for (`PARCI_KERNELS`, `--kernels`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelMode {
    /// The fastest ISA this host has.
    Auto,
    Scalar,
    Avx2,
    /// AVX-512, with VNNI where the host has it.
    Avx512,
    /// aarch64 NEON.
    Neon,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KernelError {
    #[error("unknown kernel mode {0:?}; use auto, scalar, avx2, avx512 or neon")]
    UnknownMode(String),
    #[error("kernel mode {mode} needs CPU features {missing} that this host lacks; use a mode this CPU has (auto picks one)")]
    Unavailable { mode: &'static str, missing: String },
}

impl KernelMode {
    pub fn parse(s: &str) -> Result<KernelMode, KernelError> {
        match s {
            "auto" | "" => Ok(KernelMode::Auto),
            "scalar" => Ok(KernelMode::Scalar),
            "avx2" => Ok(KernelMode::Avx2),
            "avx512" => Ok(KernelMode::Avx512),
            "neon" => Ok(KernelMode::Neon),
            other => Err(KernelError::UnknownMode(other.to_string())),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            KernelMode::Auto => "auto",
            KernelMode::Scalar => "scalar",
            KernelMode::Avx2 => "avx2",
            KernelMode::Avx512 => "avx512",
            KernelMode::Neon => "neon",
        }
    }
    /// The ISA to run. An explicit mode the host cannot run is an error, never
    /// a silent fallback.
    pub fn resolve(self) -> Result<Isa, KernelError> {
        let pick = |isa: Isa| -> Result<Isa, KernelError> {
            if isa.available() {
                Ok(isa)
            } else {
                let have = crate::cpu::features();
                let missing: Vec<&str> = isa
                    .features()
                    .iter()
                    .copied()
                    .filter(|f| !have.contains(f))
                    .collect();
                Err(KernelError::Unavailable {
                    mode: self.name(),
                    missing: missing.join(", "),
                })
            }
        };
        match self {
            KernelMode::Scalar => Ok(Isa::Scalar),
            KernelMode::Avx2 => pick(Isa::Avx2),
            KernelMode::Avx512 if Isa::Avx512Vnni.available() => Ok(Isa::Avx512Vnni),
            KernelMode::Avx512 => pick(Isa::Avx512),
            KernelMode::Neon => pick(Isa::Neon),
            KernelMode::Auto => Ok([Isa::Avx512Vnni, Isa::Avx512, Isa::Avx2, Isa::Neon]
                .into_iter()
                .find(|i| i.available())
                .unwrap_or(Isa::Scalar)),
        }
    }
}

/// The dot products, by weight format and activation format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Tq2_0Q8K,
    Tq1_0Q8K,
    Q4_0Q8_0,
    Q8_0Q8_0,
    Q4_1Q8_1,
    Q5_0Q8_0,
    Q5_1Q8_1,
    Q2KQ8K,
    Q3KQ8K,
    Q4KQ8K,
    Q5KQ8K,
    Q6KQ8K,
    F16F32,
    Bf16F32,
    F32F32,
}

impl Op {
    pub const ALL: [Op; 15] = [
        Op::Tq2_0Q8K,
        Op::Tq1_0Q8K,
        Op::Q4_0Q8_0,
        Op::Q8_0Q8_0,
        Op::Q4_1Q8_1,
        Op::Q5_0Q8_0,
        Op::Q5_1Q8_1,
        Op::Q2KQ8K,
        Op::Q3KQ8K,
        Op::Q4KQ8K,
        Op::Q5KQ8K,
        Op::Q6KQ8K,
        Op::F16F32,
        Op::Bf16F32,
        Op::F32F32,
    ];

    /// The op for weights of type `ty`, if parci has one.
    pub fn for_weights(ty: GgmlType) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.weights() == ty)
    }
    pub fn weights(self) -> GgmlType {
        match self {
            Op::Tq2_0Q8K => GgmlType::TQ2_0,
            Op::Tq1_0Q8K => GgmlType::TQ1_0,
            Op::Q4_0Q8_0 => GgmlType::Q4_0,
            Op::Q8_0Q8_0 => GgmlType::Q8_0,
            Op::Q4_1Q8_1 => GgmlType::Q4_1,
            Op::Q5_0Q8_0 => GgmlType::Q5_0,
            Op::Q5_1Q8_1 => GgmlType::Q5_1,
            Op::Q2KQ8K => GgmlType::Q2_K,
            Op::Q3KQ8K => GgmlType::Q3_K,
            Op::Q4KQ8K => GgmlType::Q4_K,
            Op::Q5KQ8K => GgmlType::Q5_K,
            Op::Q6KQ8K => GgmlType::Q6_K,
            Op::F16F32 => GgmlType::F16,
            Op::Bf16F32 => GgmlType::BF16,
            Op::F32F32 => GgmlType::F32,
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Op::Tq2_0Q8K => "tq2_0_dot_q8k",
            Op::Tq1_0Q8K => "tq1_0_dot_q8k",
            Op::Q4_0Q8_0 => "q4_0_dot_q8_0",
            Op::Q8_0Q8_0 => "q8_0_dot_q8_0",
            Op::Q4_1Q8_1 => "q4_1_dot_q8_1",
            Op::Q5_0Q8_0 => "q5_0_dot_q8_0",
            Op::Q5_1Q8_1 => "q5_1_dot_q8_1",
            Op::Q2KQ8K => "q2_k_dot_q8k",
            Op::Q3KQ8K => "q3_k_dot_q8k",
            Op::Q4KQ8K => "q4_k_dot_q8k",
            Op::Q5KQ8K => "q5_k_dot_q8k",
            Op::Q6KQ8K => "q6_k_dot_q8k",
            Op::F16F32 => "f16_dot_f32",
            Op::Bf16F32 => "bf16_dot_f32",
            Op::F32F32 => "f32_dot_f32",
        }
    }
    /// The ISAs this build has a kernel of this op for (x86-64 builds).
    pub fn isas(self) -> &'static [Isa] {
        if cfg!(target_arch = "x86_64") {
            match self {
                // TQ1_0's 32 + 16 + 4-byte groups do not fill a 512-bit register
                Op::Tq1_0Q8K => &[Isa::Scalar, Isa::Avx2],
                // float dots have nothing for VNNI to do: AVX-512 is their best
                Op::F16F32 | Op::Bf16F32 | Op::F32F32 => &[Isa::Scalar, Isa::Avx2, Isa::Avx512],
                Op::Tq2_0Q8K => &Isa::X86,
                // Q4_0 runs fused rows (x86.rs `row1_fused`); its AVX-512
                // kernel (two blocks per 512-bit register) is gone: VNNI's
                // dot on unsigned nibbles is the one AVX-512 gain.
                Op::Q4_0Q8_0 => &[Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni],
                // Q8_0 runs one fused AVX2 row (x86.rs `q8_0_row_avx2`): sums,
                // scales and combination in registers decoded SmolLM2 ~30%
                // faster than the AVX-512 VNNI chunk kernel plus the array
                // combination, whose per-block VNNI dot had been no faster
                // than AVX2's (docs/performance.md).
                Op::Q8_0Q8_0 => &[Isa::Scalar, Isa::Avx2],
                // Q4_1 stops at AVX2 and Q5_1 at AVX-512 (measured, AMD Zen 4):
                // AVX-512 has no mask trick for 4-bit codes and VNNI's fused dot
                // saved <1% for both; two blocks per 512-bit register was slower.
                // Both run fused rows (x86_legacy.rs `row2_fused`).
                Op::Q4_1Q8_1 => &[Isa::Scalar, Isa::Avx2],
                Op::Q5_1Q8_1 => &[Isa::Scalar, Isa::Avx2, Isa::Avx512],
                Op::Q5_0Q8_0 => &Isa::X86,
                // K-quants (measured on Zen 4, see x86_kquants.rs): 512-bit
                // integer ops run as two 256-bit halves and the per-sub-block
                // scales leave VNNI nothing worth fusing. AVX-512 was 0-19%
                // slower than AVX2 for Q2_K/Q4_K/Q5_K/Q6_K and VNNI no faster
                // than AVX-512; only Q3_K's 512-bit unpacking gained (~8%).
                Op::Q2KQ8K | Op::Q4KQ8K | Op::Q5KQ8K | Op::Q6KQ8K => &[Isa::Scalar, Isa::Avx2],
                Op::Q3KQ8K => &[Isa::Scalar, Isa::Avx2, Isa::Avx512],
            }
        } else if cfg!(target_arch = "aarch64") {
            match self {
                Op::Tq2_0Q8K | Op::Q8_0Q8_0 | Op::F32F32 | Op::Q4KQ8K | Op::Q6KQ8K => {
                    &[Isa::Scalar, Isa::Neon]
                }
                _ => &[Isa::Scalar],
            }
        } else {
            &[Isa::Scalar]
        }
    }
    /// The ISA this op runs at when `isa` is selected: the best this build has
    /// that does not exceed it.
    pub fn effective(self, isa: Isa) -> Isa {
        self.isas()
            .iter()
            .copied()
            .filter(|&i| i <= isa)
            .max()
            .unwrap_or(Isa::Scalar)
    }
}

/// A kernel: an op at an ISA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kernel {
    pub op: Op,
    pub isa: Isa,
}

impl Kernel {
    pub fn id(self) -> String {
        format!("{}_{}", self.op.prefix(), self.isa.suffix())
    }
    /// Every kernel this build knows.
    pub fn all() -> Vec<Kernel> {
        Op::ALL
            .iter()
            .flat_map(|&op| op.isas().iter().map(move |&isa| Kernel { op, isa }))
            .collect()
    }
    pub fn from_id(id: &str) -> Option<Kernel> {
        Kernel::all().into_iter().find(|k| k.id() == id)
    }
    fn index(self) -> usize {
        let op = Op::ALL.iter().position(|&o| o == self.op).expect("listed");
        let isa = Isa::ALL
            .iter()
            .position(|&i| i == self.isa)
            .expect("listed");
        op * Isa::ALL.len() + isa
    }
}

const SLOTS: usize = Op::ALL.len() * Isa::ALL.len();

/// Call counters, one per kernel, owned by whoever runs the kernels (an engine
/// run), so nothing is process-global. A matrix-vector product adds its row
/// count once per worker chunk: no atomic operation per block or row.
#[derive(Debug)]
pub struct Counters {
    calls: [AtomicU64; SLOTS],
}

impl Default for Counters {
    fn default() -> Counters {
        Counters {
            calls: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl Counters {
    pub fn new() -> Counters {
        Counters::default()
    }
    pub fn add(&self, k: Kernel, calls: u64) {
        self.calls[k.index()].fetch_add(calls, Ordering::Relaxed);
    }
    /// Kernels that ran, with their call counts, sorted by ID.
    pub fn snapshot(&self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = Kernel::all()
            .into_iter()
            .filter_map(|k| {
                let n = self.calls[k.index()].load(Ordering::Relaxed);
                (n > 0).then(|| (k.id(), n))
            })
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_stable_and_parse_back() {
        let all = Kernel::all();
        let mut ids: Vec<String> = all.iter().map(|k| k.id()).collect();
        assert!(
            ids.contains(&"tq2_0_dot_q8k_avx512vnni".to_string()) || !cfg!(target_arch = "x86_64")
        );
        assert!(ids.contains(&"f32_dot_f32_scalar".to_string()));
        for k in &all {
            assert_eq!(Kernel::from_id(&k.id()), Some(*k));
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
    }

    #[test]
    fn modes_resolve_or_refuse() {
        assert_eq!(KernelMode::Scalar.resolve(), Ok(Isa::Scalar));
        assert!(KernelMode::parse("sse9").is_err());
        let auto = KernelMode::Auto.resolve().unwrap();
        assert!(auto.available());
        for m in [KernelMode::Avx2, KernelMode::Avx512, KernelMode::Neon] {
            match m.resolve() {
                Ok(isa) => assert!(isa.available()),
                Err(KernelError::Unavailable { missing, .. }) => assert!(!missing.is_empty()),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn counters_count_per_kernel() {
        let c = Counters::new();
        let k = Kernel {
            op: Op::Q8_0Q8_0,
            isa: Isa::Scalar,
        };
        c.add(k, 3);
        c.add(k, 4);
        assert_eq!(c.snapshot(), vec![("q8_0_dot_q8_0_scalar".to_string(), 7)]);
        let want = if cfg!(target_arch = "x86_64") {
            Isa::Avx2
        } else {
            Isa::Scalar
        };
        assert_eq!(Op::Tq1_0Q8K.effective(Isa::Avx512Vnni), want);
    }
}
