//! Dot products of one weight row with one activation vector: the portable
//! scalar reference, and the canonical arithmetic every SIMD path shares.
//!
//! Determinism by construction:
//! - Quantized formats: each block's dot is an exact integer (`sumi`). Blocks
//!   are then combined in one fixed order: block b adds `d_b * sumi_b` into
//!   lane `b % 8` (f32 multiply, then f32 add, never fused), and the 8 lanes are
//!   reduced by the tree (0+4, 1+5, 2+6, 3+7), (0+2, 1+3), (0+1). A SIMD kernel
//!   only computes the integer `sumi`s faster; [`combine`] does the rest, so
//!   every path returns the same bits.
//! - Float formats: element i adds `w_i * x_i` into lane `i % 16` (multiply then
//!   add, never fused), then a tree reduction 16 → 8 → 4 → 2 → 1. SIMD paths keep
//!   exactly these 16 lanes in registers.

use super::q8_k::Q8K;
use super::{f16_at, q4_0, q8_0, tq1_0, tq2_0};
use half::{bf16, f16};

/// Lanes of the block combination.
pub const BLOCK_LANES: usize = 8;
/// Lanes of the float dot products.
pub const FLOAT_LANES: usize = 16;

/// Q8_0 activations: per block a scale and 32 int8 values (ggml's layout, kept
/// as structs so kernels read them without parsing).
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C)]
pub struct Q8_0Act {
    pub d: f32,
    pub qs: [i8; 32],
}

#[inline]
pub fn reduce8(a: [f32; 8]) -> f32 {
    let b = [a[0] + a[4], a[1] + a[5], a[2] + a[6], a[3] + a[7]];
    let c = [b[0] + b[2], b[1] + b[3]];
    c[0] + c[1]
}

#[inline]
pub fn reduce16(a: [f32; 16]) -> f32 {
    let mut h = [0f32; 8];
    for l in 0..8 {
        h[l] = a[l] + a[l + 8];
    }
    reduce8(h)
}

// ---- integer block sums (scalar reference) ----------------------------------

/// Σ (code - 1) · y over one TQ2_0 block: Σ code·y − Σ y.
pub fn tq2_0_block_sumi(w: &[u8], y: &Q8K) -> i32 {
    let mut s = 0i32;
    for j in 0..2 {
        for n in 0..4 {
            for m in 0..32 {
                let code = ((w[j * 32 + m] >> (2 * n)) & 3) as i32;
                s += code * y.qs[j * 128 + n * 32 + m] as i32;
            }
        }
    }
    s - y.sum
}

pub fn tq1_0_block_sumi(w: &[u8], y: &Q8K) -> i32 {
    tq1_0::unpack(w)
        .iter()
        .zip(&y.qs)
        .map(|(&t, &q)| t as i32 * q as i32)
        .sum()
}

pub fn q8_0_block_sumi(w: &[u8], y: &Q8_0Act) -> i32 {
    w[2..]
        .iter()
        .zip(&y.qs)
        .map(|(&a, &b)| a as i8 as i32 * b as i32)
        .sum()
}

pub fn q4_0_block_sumi(w: &[u8], y: &Q8_0Act) -> i32 {
    let (lo, hi) = y.qs.split_at(16);
    w[2..18]
        .iter()
        .zip(lo.iter().zip(hi))
        .map(|(&q, (&a, &b))| ((q & 15) as i32 - 8) * a as i32 + ((q >> 4) as i32 - 8) * b as i32)
        .sum()
}

// ---- whole-row scalar dots ---------------------------------------------------

/// Blocks a kernel handles per call of its fill function.
pub const CHUNK: usize = 16;

/// The canonical combination of a row of `n_blocks` blocks. `fill(b0, sumi,
/// wscale)` writes, for blocks `b0..b0 + sumi.len()`, each block's exact
/// integer sum and its weight scale as f32 (a SIMD kernel does several blocks
/// per instruction); `act_scale(b)` is block b's activation scale. Block b
/// contributes `(wscale_b * act_scale_b) * sumi_b` to lane `b % 8`.
#[inline]
pub fn combine_row(
    n_blocks: usize,
    act_scale: impl Fn(usize) -> f32,
    mut fill: impl FnMut(usize, &mut [i32], &mut [f32]),
) -> f32 {
    let mut sumi = [0i32; CHUNK];
    let mut ws = [0f32; CHUNK];
    let mut asc = [0f32; CHUNK];
    let mut acc = [0f32; BLOCK_LANES];
    let mut b0 = 0;
    while b0 < n_blocks {
        let k = (n_blocks - b0).min(CHUNK);
        fill(b0, &mut sumi[..k], &mut ws[..k]);
        for (i, a) in asc[..k].iter_mut().enumerate() {
            *a = act_scale(b0 + i);
        }
        // b0 is a multiple of 8, so block b0 + i goes to lane i % 8; whole
        // groups of 8 vectorize, the rest is the same arithmetic one by one.
        let full = k / BLOCK_LANES * BLOCK_LANES;
        for c in (0..full).step_by(BLOCK_LANES) {
            for l in 0..BLOCK_LANES {
                let t = (ws[c + l] * asc[c + l]) * sumi[c + l] as f32;
                acc[l] += t;
            }
        }
        for i in full..k {
            let t = (ws[i] * asc[i]) * sumi[i] as f32;
            acc[i % BLOCK_LANES] += t;
        }
        b0 += k;
    }
    reduce8(acc)
}

/// The canonical combination of a row whose blocks have two terms (a scale
/// term and a minimum/offset term, as Q4_1, Q5_1, Q2_K, Q4_K and Q5_K have).
/// `fill(b0, s1, w1, s2, w2)` writes, for blocks `b0..b0 + s1.len()`, two exact
/// integers and two weight factors per block; `act_scale(b)` gives block b's
/// two activation factors `(a1, a2)`. Block b contributes
/// `(w1_b * a1_b) * s1_b + (w2_b * a2_b) * s2_b` (two products, then their
/// sum, never fused) to lane `b % 8`; lanes reduce as in [`combine_row`].
#[inline]
pub fn combine_row2(
    n_blocks: usize,
    act_scale: impl Fn(usize) -> (f32, f32),
    mut fill: impl FnMut(usize, &mut [i32], &mut [f32], &mut [i32], &mut [f32]),
) -> f32 {
    let (mut s1, mut s2) = ([0i32; CHUNK], [0i32; CHUNK]);
    let (mut w1, mut w2) = ([0f32; CHUNK], [0f32; CHUNK]);
    let (mut a1, mut a2) = ([0f32; CHUNK], [0f32; CHUNK]);
    let mut acc = [0f32; BLOCK_LANES];
    let mut b0 = 0;
    while b0 < n_blocks {
        let k = (n_blocks - b0).min(CHUNK);
        fill(b0, &mut s1[..k], &mut w1[..k], &mut s2[..k], &mut w2[..k]);
        for (i, (x1, x2)) in a1[..k].iter_mut().zip(&mut a2[..k]).enumerate() {
            (*x1, *x2) = act_scale(b0 + i);
        }
        // As in combine_row: whole groups of 8 vectorize, the rest is the
        // same arithmetic one block at a time.
        let term = |i: usize| {
            let p = (w1[i] * a1[i]) * s1[i] as f32;
            let q = (w2[i] * a2[i]) * s2[i] as f32;
            p + q
        };
        let full = k / BLOCK_LANES * BLOCK_LANES;
        for c in (0..full).step_by(BLOCK_LANES) {
            for (l, a) in acc.iter_mut().enumerate() {
                *a += term(c + l);
            }
        }
        for i in full..k {
            acc[i % BLOCK_LANES] += term(i);
        }
        b0 += k;
    }
    reduce8(acc)
}

/// A scalar row dot: block sums one block at a time.
#[inline]
fn scalar_row<A>(
    row: &[u8],
    bytes: usize,
    act: &[A],
    w_scale: usize,
    a_scale: impl Fn(&A) -> f32,
    sumi: fn(&[u8], &A) -> i32,
) -> f32 {
    let blk = |b: usize| &row[b * bytes..(b + 1) * bytes];
    combine_row(
        row.len() / bytes,
        |b| a_scale(&act[b]),
        |b0, s, ws| {
            for (i, (o, w)) in s.iter_mut().zip(ws.iter_mut()).enumerate() {
                *o = sumi(blk(b0 + i), &act[b0 + i]);
                *w = f16_at(blk(b0 + i), w_scale);
            }
        },
    )
}

pub fn tq2_0_q8k(row: &[u8], act: &[Q8K]) -> f32 {
    scalar_row(row, tq2_0::BYTES, act, 64, |a| a.d, tq2_0_block_sumi)
}

pub fn tq1_0_q8k(row: &[u8], act: &[Q8K]) -> f32 {
    scalar_row(row, tq1_0::BYTES, act, 52, |a| a.d, tq1_0_block_sumi)
}

pub fn q8_0_q8_0(row: &[u8], act: &[Q8_0Act]) -> f32 {
    scalar_row(row, q8_0::BYTES, act, 0, |a| a.d, q8_0_block_sumi)
}

pub fn q4_0_q8_0(row: &[u8], act: &[Q8_0Act]) -> f32 {
    scalar_row(row, q4_0::BYTES, act, 0, |a| a.d, q4_0_block_sumi)
}

/// Canonical float dot with weights decoded by `w(i)`.
#[inline]
fn float_dot(n: usize, w: impl Fn(usize) -> f32, x: &[f32]) -> f32 {
    let mut acc = [0f32; FLOAT_LANES];
    for i in 0..n {
        let p = w(i) * x[i];
        acc[i % FLOAT_LANES] += p;
    }
    reduce16(acc)
}

pub fn f32_f32(row: &[u8], x: &[f32]) -> f32 {
    float_dot(
        x.len(),
        |i| f32::from_le_bytes(row[4 * i..4 * i + 4].try_into().unwrap()),
        x,
    )
}

pub fn f16_f32(row: &[u8], x: &[f32]) -> f32 {
    float_dot(
        x.len(),
        |i| f16::from_le_bytes([row[2 * i], row[2 * i + 1]]).to_f32(),
        x,
    )
}

pub fn bf16_f32(row: &[u8], x: &[f32]) -> f32 {
    float_dot(
        x.len(),
        |i| bf16::from_le_bytes([row[2 * i], row[2 * i + 1]]).to_f32(),
        x,
    )
}
