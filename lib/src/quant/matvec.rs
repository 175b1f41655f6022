//! Matrix-vector products over weight rows, dispatched to the kernels of one
//! ISA and split across a [`Team`] of spinning worker threads whose size the
//! caller sets: thread i computes the i-th of equal row ranges. With one
//! thread there is no team at all: rows run in a plain loop.

use super::act;
use super::dot::{self, Q8_0Act};
use super::kernels::{Counters, Isa, Kernel, KernelError, KernelMode, Op};
use super::pool::Team;
use super::q8_1::Q8_1Act;
use super::q8_k::{self, Q8K};
use super::unpacked::{self, ActBlocks, Unpacked};
use std::sync::atomic::{AtomicU64, Ordering};

/// Activations prepared for one op's kernels.
#[derive(Clone, Debug, Default)]
pub struct Activations {
    q8k: Vec<Q8K>,
    q8_0: Vec<Q8_0Act>,
    q8_1: Vec<Q8_1Act>,
    f32: Vec<f32>,
    kind: Option<ActKind>,
    /// The Q8_0 / Q8_1 blocks again, split by field for the unpacked-row
    /// kernels ([`unpacked`]): quants, scales, Σ quants (Q8_0), `s` (Q8_1).
    bq: Vec<i8>,
    bd: Vec<f32>,
    bsum: Vec<i32>,
    bs: Vec<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActKind {
    Q8K,
    Q8_0,
    Q8_1,
    F32,
}

fn act_kind(op: Op) -> ActKind {
    match op {
        Op::Tq2_0Q8K
        | Op::Tq1_0Q8K
        | Op::Q2KQ8K
        | Op::Q3KQ8K
        | Op::Q4KQ8K
        | Op::Q5KQ8K
        | Op::Q6KQ8K => ActKind::Q8K,
        Op::Q4_0Q8_0 | Op::Q8_0Q8_0 | Op::Q5_0Q8_0 => ActKind::Q8_0,
        Op::Q4_1Q8_1 | Op::Q5_1Q8_1 => ActKind::Q8_1,
        Op::F16F32 | Op::Bf16F32 | Op::F32F32 => ActKind::F32,
    }
}

impl Activations {
    /// Quantizes (or copies) `x` into the format `op` multiplies with. Reuse
    /// one value for every matrix that reads the same vector.
    pub fn prepare(&mut self, op: Op, x: &[f32]) {
        let kind = act_kind(op);
        match kind {
            ActKind::Q8K => {
                q8_k::quantize(x, &mut self.q8k);
                let q = &self.q8k;
                // 32-quant sub-blocks, 8 to a Q8_K block; Σ y per sub-block
                let sub = |b: usize| -> &[i8; 32] {
                    q[b / 8].qs[32 * (b % 8)..32 * (b % 8) + 32]
                        .try_into()
                        .expect("32 quants")
                };
                split(
                    &mut self.bq,
                    &mut self.bd,
                    q.len() * 8,
                    sub,
                    q.iter().map(|a| a.d),
                );
                self.bsum.clear();
                self.bsum.extend(q.iter().flat_map(|a| {
                    (0..8).map(|j| a.bsums[2 * j] as i32 + a.bsums[2 * j + 1] as i32)
                }));
            }
            ActKind::Q8_0 => {
                act::quantize_q8_0(x, &mut self.q8_0);
                let q = &self.q8_0;
                split(
                    &mut self.bq,
                    &mut self.bd,
                    q.len(),
                    |b| &q[b].qs,
                    q.iter().map(|a| a.d),
                );
                self.bsum.clear();
                self.bsum.extend(
                    q.iter()
                        .map(|a| a.qs.iter().map(|&v| v as i32).sum::<i32>()),
                );
            }
            ActKind::Q8_1 => {
                act::quantize_q8_1(x, &mut self.q8_1);
                let q = &self.q8_1;
                split(
                    &mut self.bq,
                    &mut self.bd,
                    q.len(),
                    |b| &q[b].qs,
                    q.iter().map(|a| a.d),
                );
                self.bs.clear();
                self.bs.extend(q.iter().map(|a| a.s));
            }
            ActKind::F32 => {
                self.f32.clear();
                self.f32.extend_from_slice(x);
            }
        }
        self.kind = Some(kind);
    }
    /// The blocks as the unpacked-row kernels read them.
    fn blocks(&self) -> ActBlocks<'_> {
        ActBlocks {
            qs: &self.bq,
            d: &self.bd,
            sum: &self.bsum,
            s: &self.bs,
        }
    }
    /// Whether these activations were prepared for `op` (same format).
    pub fn suits(&self, op: Op) -> bool {
        self.kind == Some(act_kind(op))
    }
}

/// `n` blocks' quants ([`unpacked::interleave`]d) into `bq` and their
/// scales into `bd`, both reused.
fn split<'q>(
    bq: &mut Vec<i8>,
    bd: &mut Vec<f32>,
    n: usize,
    qs: impl Fn(usize) -> &'q [i8; 32],
    d: impl Iterator<Item = f32>,
) {
    unpacked::interleave(n, qs, bq);
    bd.clear();
    bd.extend(d);
}

/// Runs matrix-vector products with one ISA's kernels on `threads` threads.
pub struct MatVec {
    isa: Isa,
    team: Option<Team>,
    threads: usize,
    /// Wall time spent inside [`MatVec::matvec`], in nanoseconds.
    busy_ns: AtomicU64,
}

#[derive(Debug, thiserror::Error)]
pub enum MatVecError {
    #[error(transparent)]
    Kernel(#[from] KernelError),
    #[error("cannot start {threads} worker threads: {msg}")]
    Pool { threads: usize, msg: String },
}

impl MatVec {
    pub fn new(mode: KernelMode, threads: usize) -> Result<MatVec, MatVecError> {
        let isa = mode.resolve()?;
        let threads = threads.max(1);
        let team = if threads > 1 {
            Some(Team::new(threads).map_err(|e| MatVecError::Pool {
                threads,
                msg: e.to_string(),
            })?)
        } else {
            None
        };
        Ok(MatVec {
            isa,
            team,
            threads,
            busy_ns: AtomicU64::new(0),
        })
    }
    pub fn isa(&self) -> Isa {
        self.isa
    }
    pub fn threads(&self) -> usize {
        self.threads
    }
    /// Wall time spent inside [`MatVec::matvec`] so far (all threads'
    /// work counts once: it is the caller's waiting time).
    pub fn busy(&self) -> std::time::Duration {
        std::time::Duration::from_nanos(self.busy_ns.load(Ordering::Relaxed))
    }
    /// The kernel `op` runs with here.
    pub fn kernel(&self, op: Op) -> Kernel {
        Kernel {
            op,
            isa: op.effective(self.isa),
        }
    }

    /// `out[r] = row r of w · x` for the `out.len()` rows of `w`, each
    /// `w.len() / out.len()` bytes. `act` must have been prepared for `op`
    /// from a vector of the rows' length.
    pub fn matvec(
        &self,
        op: Op,
        w: &[u8],
        act: &Activations,
        out: &mut [f32],
        counters: &Counters,
    ) {
        assert!(act.suits(op), "activations prepared for another format");
        let rows = out.len();
        assert!(
            rows > 0 && w.len().is_multiple_of(rows),
            "weights are not {rows} equal rows"
        );
        let row_bytes = w.len() / rows;
        let kernel = self.kernel(op);
        let start = std::time::Instant::now();
        let row_dot = |r: usize| dot_row(kernel, &w[r * row_bytes..(r + 1) * row_bytes], act);
        match &self.team {
            None => {
                for (r, o) in out.iter_mut().enumerate() {
                    *o = row_dot(r);
                }
                counters.add(kernel, rows as u64);
            }
            Some(team) => {
                let parts = team.threads();
                let base = out.as_mut_ptr() as usize;
                team.run(&|i| {
                    let (lo, hi) = (rows * i / parts, rows * (i + 1) / parts);
                    // SAFETY: parts write disjoint row ranges of `out`, which
                    // outlives `run` (it returns after every part finished).
                    let part = unsafe {
                        std::slice::from_raw_parts_mut((base as *mut f32).add(lo), hi - lo)
                    };
                    for (o, r) in part.iter_mut().zip(lo..hi) {
                        *o = row_dot(r);
                    }
                    counters.add(kernel, (hi - lo) as u64);
                });
            }
        }
        self.busy_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

impl MatVec {
    /// `outs[b][r] = row r of w · acts[b]` for every vector b (a prompt's
    /// tokens): each weight row is read from memory once for all of them and
    /// stays in L1 while it meets each vector. Every (row, b) is computed by
    /// the same row kernel as [`MatVec::matvec`], so the bits are the same.
    pub fn matmat(
        &self,
        op: Op,
        w: &[u8],
        acts: &[Activations],
        outs: &mut [&mut [f32]],
        counters: &Counters,
    ) {
        assert!(
            acts.len() == outs.len() && acts.iter().all(|a| a.suits(op)),
            "activations prepared for another format"
        );
        let Some(rows) = outs.first().map(|o| o.len()) else {
            return;
        };
        assert!(
            rows > 0 && w.len().is_multiple_of(rows) && outs.iter().all(|o| o.len() == rows),
            "weights are not {rows} equal rows"
        );
        let row_bytes = w.len() / rows;
        let kernel = self.kernel(op);
        let start = std::time::Instant::now();
        let bases: Vec<usize> = outs.iter_mut().map(|o| o.as_mut_ptr() as usize).collect();
        let parts = self.team.as_ref().map_or(1, Team::threads);
        // Rows of a format with an unpacked form are unpacked once for all
        // the vectors (unpacked.rs); the others go through the row kernel.
        // (x86 only: elsewhere the unpacked form has only its scalar
        // reference, slower than the ISA's row kernel.)
        let unpack = matches!(kernel.isa, Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni)
            && unpacked::has_form(op);
        // SAFETY (both writes below): `base` is the start of an `outs` slice
        // of `rows` values, borrowed mutably for this call; parts write
        // disjoint row ranges.
        let put = |b: usize, r: usize, y: f32| unsafe { *(bases[b] as *mut f32).add(r) = y };
        let part = |i: usize| {
            let (lo, hi) = (rows * i / parts, rows * (i + 1) / parts);
            if unpack {
                // Tiles of rows x vectors small enough for L1: a tile's
                // unpacked rows and activations are each read once from L2.
                let mut tile: Vec<Unpacked> = vec![Unpacked::default(); TILE_ROWS];
                for r0 in (lo..hi).step_by(TILE_ROWS) {
                    let r1 = (r0 + TILE_ROWS).min(hi);
                    for (u, r) in tile.iter_mut().zip(r0..r1) {
                        u.fill(op, &w[r * row_bytes..(r + 1) * row_bytes]);
                    }
                    for b0 in (0..acts.len()).step_by(TILE_VECTORS) {
                        let b1 = (b0 + TILE_VECTORS).min(acts.len());
                        for (u, r) in tile.iter().zip(r0..r1) {
                            let mut b = b0;
                            while b + 4 <= b1 {
                                let a = [0, 1, 2, 3].map(|k| acts[b + k].blocks());
                                let y = unpacked_dot(kernel.isa, u, [&a[0], &a[1], &a[2], &a[3]]);
                                for (k, y) in y.into_iter().enumerate() {
                                    put(b + k, r, y);
                                }
                                b += 4;
                            }
                            for (b, act) in acts.iter().enumerate().take(b1).skip(b) {
                                put(b, r, unpacked_dot(kernel.isa, u, [&act.blocks()])[0]);
                            }
                        }
                    }
                }
            } else {
                for r in lo..hi {
                    let row = &w[r * row_bytes..(r + 1) * row_bytes];
                    for (b, act) in acts.iter().enumerate() {
                        put(b, r, dot_row(kernel, row, act));
                    }
                }
            }
            counters.add(kernel, ((hi - lo) * acts.len()) as u64);
        };
        match &self.team {
            None => part(0),
            Some(team) => team.run(&part),
        }
        self.busy_ns
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
}

/// An unpacked row's dots with T vectors at `isa` (a kernel the host has;
/// the dispatcher checked): what [`unpacked::dot_scalar`] gives for each.
fn unpacked_dot<const T: usize>(isa: Isa, u: &Unpacked, a: [&ActBlocks; T]) -> [f32; T] {
    #[cfg(target_arch = "x86_64")]
    if let Some(f) = super::x86_legacy::unpacked_row::<T>(isa, u.is_k()) {
        // SAFETY: the dispatcher checked the host has `isa`.
        return unsafe { f(u, a) };
    }
    let _ = isa;
    a.map(|a| unpacked::dot_scalar(u, a))
}

/// Rows and vectors of one [`MatVec::matmat`] tile (unpacked rows).
const TILE_ROWS: usize = 16;
const TILE_VECTORS: usize = 16;

/// One row's dot product with kernel `k`, or `None` if this host cannot run
/// it or this build has no such kernel. For tests and benchmarks; the hot path
/// checks once in [`MatVec::new`].
pub fn checked_dot(k: Kernel, row: &[u8], act: &Activations) -> Option<f32> {
    (k.isa.available() && k.op.isas().contains(&k.isa) && act.suits(k.op))
        .then(|| dot_row(k, row, act))
}

/// One row's dot product through the unpacked form at `k.isa` (the path
/// [`MatVec::matmat`] takes), or `None` where `checked_dot` would give
/// `None` or the op has no unpacked form. For the kernel-equality tests.
pub fn checked_dot_unpacked(k: Kernel, row: &[u8], act: &Activations) -> Option<f32> {
    checked_dot(k, row, act)?;
    let mut u = Unpacked::default();
    u.fill(k.op, row)
        .then(|| unpacked_dot(k.isa, &u, [&act.blocks()])[0])
}

/// One row's dot product with the chosen kernel.
fn dot_row(k: Kernel, row: &[u8], act: &Activations) -> f32 {
    match k.op {
        Op::Tq2_0Q8K => tq2_0_row(k.isa, row, &act.q8k),
        Op::Tq1_0Q8K => tq1_0_row(k.isa, row, &act.q8k),
        Op::Q8_0Q8_0 => q8_0_row(k.isa, row, &act.q8_0),
        Op::Q4_0Q8_0 => q4_0_row(k.isa, row, &act.q8_0),
        Op::Q4_1Q8_1 => super::q4_1::row(k.isa, row, &act.q8_1),
        Op::Q5_0Q8_0 => super::q5_0::row(k.isa, row, &act.q8_0),
        Op::Q5_1Q8_1 => super::q5_1::row(k.isa, row, &act.q8_1),
        Op::Q2KQ8K => super::q2_k::row(k.isa, row, &act.q8k),
        Op::Q3KQ8K => super::q3_k::row(k.isa, row, &act.q8k),
        Op::Q4KQ8K => super::q4_k::row(k.isa, row, &act.q8k),
        Op::Q5KQ8K => super::q5_k::row(k.isa, row, &act.q8k),
        Op::Q6KQ8K => super::q6_k::row(k.isa, row, &act.q8k),
        Op::F32F32 => float_row(k.isa, row, &act.f32, dot::f32_f32, F32_SIMD),
        Op::F16F32 => float_row(k.isa, row, &act.f32, dot::f16_f32, F16_SIMD),
        Op::Bf16F32 => float_row(k.isa, row, &act.f32, dot::bf16_f32, BF16_SIMD),
    }
}

fn tq2_0_row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::*;
        // SAFETY (each): MatVec::new (or checked_dot) verified the host has `isa`.
        match isa {
            Isa::Avx2 => return unsafe { tq2_0_row_avx2(row, act) },
            Isa::Avx512 => return unsafe { tq2_0_row_avx512(row, act) },
            Isa::Avx512Vnni => return unsafe { tq2_0_row_avx512vnni(row, act) },
            Isa::Scalar | Isa::Neon => {}
        }
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon {
        return neon_row(
            row,
            tq2_0::BYTES,
            64,
            act,
            |a: &Q8K| a.d,
            super::neon::tq2_0_sumi,
        );
    }
    let _ = isa;
    dot::tq2_0_q8k(row, act)
}

fn q8_0_row(isa: Isa, row: &[u8], act: &[Q8_0Act]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::*;
        if matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni) {
            // SAFETY: MatVec::new (or checked_dot) verified the host has `isa`,
            // which includes AVX2.
            return unsafe { q8_0_row_avx2(row, act) };
        }
    }
    #[cfg(target_arch = "aarch64")]
    if isa == Isa::Neon {
        return neon_row(
            row,
            q8_0::BYTES,
            0,
            act,
            |a: &Q8_0Act| a.d,
            super::neon::q8_0_sumi,
        );
    }
    let _ = isa;
    dot::q8_0_q8_0(row, act)
}

fn tq1_0_row(isa: Isa, row: &[u8], act: &[Q8K]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if matches!(isa, Isa::Avx2 | Isa::Avx512 | Isa::Avx512Vnni) {
        // SAFETY: MatVec::new (or checked_dot) verified the host has `isa`,
        // which includes AVX2.
        return unsafe { super::x86::tq1_0_row_avx2(row, act) };
    }
    let _ = isa;
    dot::tq1_0_q8k(row, act)
}

fn q4_0_row(isa: Isa, row: &[u8], act: &[Q8_0Act]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86::*;
        // SAFETY (each): MatVec::new (or checked_dot) verified the host has
        // `isa`; Op::effective mapped AVX-512 to AVX2 for this op.
        match isa {
            Isa::Avx2 | Isa::Avx512 => return unsafe { q4_0_row_avx2(row, act) },
            Isa::Avx512Vnni => return unsafe { q4_0_row_avx512vnni(row, act) },
            Isa::Scalar | Isa::Neon => {}
        }
    }
    let _ = isa;
    dot::q4_0_q8_0(row, act)
}

/// A quantized row with NEON block sums, one block at a time.
#[cfg(target_arch = "aarch64")]
fn neon_row<A>(
    row: &[u8],
    bytes: usize,
    scale_at: usize,
    act: &[A],
    a_scale: fn(&A) -> f32,
    sumi: unsafe fn(&[u8], &A) -> i32,
) -> f32 {
    let n = row.len() / bytes;
    assert!(
        row.len().is_multiple_of(bytes) && act.len() >= n,
        "row and activations disagree"
    );
    let blk = |b: usize| &row[b * bytes..(b + 1) * bytes];
    dot::combine_row(
        n,
        |b| a_scale(&act[b]),
        |b0, s, ws| {
            for (i, (o, w)) in s.iter_mut().zip(ws.iter_mut()).enumerate() {
                // SAFETY: NEON is baseline on aarch64; the block slice is whole.
                *o = unsafe { sumi(blk(b0 + i), &act[b0 + i]) };
                *w = super::f16_at(blk(b0 + i), scale_at);
            }
        },
    )
}

/// SIMD float kernels of one format: (AVX2, AVX-512 if any).
type FloatSimd = (
    Option<unsafe fn(&[u8], &[f32]) -> f32>,
    Option<unsafe fn(&[u8], &[f32]) -> f32>,
);

#[cfg(target_arch = "x86_64")]
const F32_SIMD: FloatSimd = (
    Some(super::x86::f32_dot_avx2),
    Some(super::x86::f32_dot_avx512),
);
#[cfg(target_arch = "x86_64")]
const F16_SIMD: FloatSimd = (
    Some(super::x86::f16_dot_avx2),
    Some(super::x86::f16_dot_avx512),
);
#[cfg(target_arch = "x86_64")]
const BF16_SIMD: FloatSimd = (
    Some(super::x86::bf16_dot_avx2),
    Some(super::x86::bf16_dot_avx512),
);
#[cfg(target_arch = "aarch64")]
const F32_SIMD: FloatSimd = (Some(super::neon::f32_dot), None);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const F32_SIMD: FloatSimd = (None, None);
#[cfg(not(target_arch = "x86_64"))]
const F16_SIMD: FloatSimd = (None, None);
#[cfg(not(target_arch = "x86_64"))]
const BF16_SIMD: FloatSimd = (None, None);

fn float_row(
    isa: Isa,
    row: &[u8],
    x: &[f32],
    scalar: fn(&[u8], &[f32]) -> f32,
    simd: FloatSimd,
) -> f32 {
    let elem = row.len() / x.len().max(1);
    assert_eq!(row.len(), x.len() * elem, "row and activations disagree");
    let f = match isa {
        Isa::Avx512 | Isa::Avx512Vnni => simd.1.or(simd.0),
        Isa::Avx2 => simd.0,
        // NEON has one float kernel (F32); FloatSimd's first slot holds it there
        Isa::Neon => simd.0,
        Isa::Scalar => None,
    };
    match f {
        // SAFETY: the ISA was checked by MatVec::new; lengths checked above.
        Some(f) => unsafe { f(row, x) },
        None => scalar(row, x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_and_two_threads_agree_and_count() {
        let n_in = 512;
        let rows = 37;
        let x: Vec<f32> = (0..n_in)
            .map(|i| ((i * 7919) % 255) as f32 / 127.0 - 1.0)
            .collect();
        let w: Vec<f32> = (0..n_in * rows)
            .map(|i| [-0.5f32, 0.0, 0.5][(i * 31 + i / 3) % 3])
            .collect();
        let mut wq = Vec::new();
        super::super::quantize(crate::gguf::GgmlType::TQ2_0, &w, &mut wq).unwrap();
        let mut act = Activations::default();
        act.prepare(Op::Tq2_0Q8K, &x);
        let c = Counters::new();
        let mut a = vec![0f32; rows];
        let mut b = vec![0f32; rows];
        MatVec::new(KernelMode::Scalar, 1)
            .unwrap()
            .matvec(Op::Tq2_0Q8K, &wq, &act, &mut a, &c);
        MatVec::new(KernelMode::Auto, 2)
            .unwrap()
            .matvec(Op::Tq2_0Q8K, &wq, &act, &mut b, &c);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let total: u64 = c.snapshot().iter().map(|(_, n)| n).sum();
        assert_eq!(total, 2 * rows as u64);
        // close to the float result
        for r in 0..rows {
            let exact: f32 = (0..n_in).map(|i| w[r * n_in + i] * x[i]).sum();
            assert!(
                (exact - a[r]).abs() < 0.05 * (1.0 + exact.abs()),
                "row {r}: {exact} vs {}",
                a[r]
            );
        }
    }

    /// A batch (matmat: unpacked rows in tiles, 4 vectors at a time, then
    /// one at a time) gives each vector the bits matvec gives it, for every
    /// kernel mode this host runs and 1 or 2 threads: formats with and
    /// without an unpacked form, block counts with and without a partial
    /// group of 8, 7 vectors (a 4 and three 1s), rows past one tile.
    #[test]
    fn matmat_is_matvec_per_vector() {
        let modes = [
            KernelMode::Scalar,
            KernelMode::Avx2,
            KernelMode::Avx512,
            KernelMode::Neon,
        ];
        let ops = [
            Op::Q4_0Q8_0,
            Op::Q5_0Q8_0,
            Op::Q4_1Q8_1,
            Op::Q5_1Q8_1,
            Op::Q4KQ8K,
            Op::Q8_0Q8_0,
        ];
        let c = Counters::new();
        for op in ops {
            for blocks in [1usize, 8, 18, 20, 48] {
                // blocks of the format (Q4_K: 256 weights, so 1 to 48 super-blocks)
                let (n_in, rows) = (blocks * op.weights().block_size() as usize, 37);
                let w: Vec<f32> = (0..n_in * rows)
                    .map(|i| ((i * 2654435761) % 1999) as f32 / 999.0 - 1.0)
                    .collect();
                let mut wq = Vec::new();
                if op == Op::Q4KQ8K {
                    // no Q4_K quantizer here: random codes, scales and mins,
                    // finite d and dmin
                    let bb = op.weights().type_size() as usize;
                    wq = (0..w.len() / 256 * bb)
                        .map(|i| ((i * 2654435761) >> 7) as u8)
                        .collect();
                    for (k, blk) in wq.chunks_exact_mut(bb).enumerate() {
                        blk[0..2].copy_from_slice(
                            &half::f16::from_f32(0.01 + k as f32 * 1e-4).to_le_bytes(),
                        );
                        blk[2..4].copy_from_slice(&half::f16::from_f32(0.003).to_le_bytes());
                    }
                } else {
                    super::super::quantize(op.weights(), &w, &mut wq).unwrap();
                }
                let acts: Vec<Activations> = (0..7)
                    .map(|t| {
                        let x: Vec<f32> = (0..n_in)
                            .map(|i| {
                                ((i * 7919 + t * 104729) % 255) as f32 / 127.0 - 1.0
                                    + t as f32 * 0.1
                            })
                            .collect();
                        let mut a = Activations::default();
                        a.prepare(op, &x);
                        a
                    })
                    .collect();
                for mode in modes.into_iter().filter(|m| m.resolve().is_ok()) {
                    for threads in [1, 2] {
                        let mv = MatVec::new(mode, threads).unwrap();
                        let mut outs = vec![vec![0f32; rows]; acts.len()];
                        let mut views: Vec<&mut [f32]> =
                            outs.iter_mut().map(|o| o.as_mut_slice()).collect();
                        mv.matmat(op, &wq, &acts, &mut views, &c);
                        for (t, (act, got)) in acts.iter().zip(&outs).enumerate() {
                            let mut want = vec![0f32; rows];
                            mv.matvec(op, &wq, act, &mut want, &c);
                            let bits =
                                |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                            assert_eq!(
                                bits(got),
                                bits(&want),
                                "{op:?} {mode:?} {threads} threads, {blocks} blocks, vector {t}"
                            );
                        }
                    }
                }
            }
        }
    }
}
