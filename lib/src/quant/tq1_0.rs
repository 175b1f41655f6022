//! TQ1_0: ternary blocks of 256 values in 54 bytes: `qs: [u8; 48]`,
//! `qh: [u8; 4]`, `d: f16`. Five trits per byte in `qs`, four in `qh`, each
//! byte storing ceil(v * 256 / 243) of the base-3 number v (most significant
//! trit first) so that trit n is `((byte * 3^n) mod 256) * 3 >> 8`.
//! Elements: byte m < 32 of qs holds m + 32n (n = 0..5); byte 32 + m holds
//! 160 + m + 16n; qh byte k holds 240 + k + 4n (n = 0..4).

use super::{f16_at, f16_le};

pub const BLOCK: usize = 256;
pub const BYTES: usize = 54;

const POW3: [u8; 5] = [1, 3, 9, 27, 81];

fn pack(codes: impl Iterator<Item = u8>) -> u8 {
    let v: u16 = codes.fold(0u16, |acc, c| acc * 3 + c as u16);
    ((v * 256).div_ceil(243)) as u8
}

/// Quantizes as ggml's `quantize_row_tq1_0_ref`: d = amax, code = roundf(x / d) + 1.
pub fn quantize(x: &[f32], out: &mut Vec<u8>) {
    assert_eq!(x.len() % BLOCK, 0, "TQ1_0 rows are whole blocks of {BLOCK}");
    for b in x.chunks_exact(BLOCK) {
        let d = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let code = |i: usize| ((b[i] * id).round() as i32 + 1) as u8;
        for m in 0..32 {
            out.push(pack((0..5).map(|n| code(m + 32 * n))));
        }
        for m in 0..16 {
            out.push(pack((0..5).map(|n| code(160 + m + 16 * n))));
        }
        for k in 0..4 {
            // four trits, scaled as if a fifth (zero) trit followed
            out.push(pack(
                (0..4)
                    .map(|n| code(240 + k + 4 * n))
                    .chain(std::iter::once(0)),
            ));
        }
        out.extend_from_slice(&f16_le(d));
    }
}

/// Trit n (0 = most significant) of a packed byte, as -1, 0 or 1.
#[inline]
pub fn trit(byte: u8, n: usize) -> i8 {
    ((byte.wrapping_mul(POW3[n]) as u16 * 3) >> 8) as i8 - 1
}

/// The 256 ternary values of one block, in element order.
pub fn unpack(blk: &[u8]) -> [i8; BLOCK] {
    let mut t = [0i8; BLOCK];
    for m in 0..32 {
        for n in 0..5 {
            t[m + 32 * n] = trit(blk[m], n);
        }
    }
    for m in 0..16 {
        for n in 0..5 {
            t[160 + m + 16 * n] = trit(blk[32 + m], n);
        }
    }
    for k in 0..4 {
        for n in 0..4 {
            t[240 + k + 4 * n] = trit(blk[48 + k], n);
        }
    }
    t
}

pub fn dequantize(data: &[u8], out: &mut Vec<f32>) {
    for blk in data.chunks_exact(BYTES) {
        let d = f16_at(blk, 52);
        out.extend(unpack(blk).iter().map(|&t| t as f32 * d));
    }
}
