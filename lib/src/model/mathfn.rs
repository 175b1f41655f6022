//! `exp`, `ln` and `sin_cos` from IEEE-754 `+ − × ÷` only, so the forward
//! pass gives the same bits on every host. The platform's libm (glibc,
//! musl, Apple's) is free to round transcendental functions differently, which
//! would make `output_digest` a property of the C library instead of the model.
//! Each function reduces its argument exactly enough for the model's range
//! and evaluates a fixed polynomial in f64; results are within a few ulp of
//! the true value in f64, far below f32 precision.

/// ln 2 in two parts (fdlibm's split): `n * LN2_HI` is exact for |n| < 2^11.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// 1/k! for k = 0..=12, each the f64 nearest the exact fraction.
const INV_FACT: [f64; 13] = [
    1.0,
    1.0,
    0.5,
    0.166_666_666_666_666_66,
    0.041_666_666_666_666_664,
    0.008_333_333_333_333_333,
    0.001_388_888_888_888_889,
    0.000_198_412_698_412_698_4,
    2.480_158_730_158_73e-5,
    2.755_731_922_398_589_3e-6,
    2.755_731_922_398_589e-7,
    2.505_210_838_544_172e-8,
    2.087_675_698_786_81e-9,
];

/// `2^n` for `n` in the normal range.
fn pow2(n: i64) -> f64 {
    f64::from_bits(((n + 1023) as u64) << 52)
}

/// `y.round()` (ties away from zero) for |y| < 2^52 without a libm call
/// (x86-64's baseline has no rounding instruction): the truncation by
/// conversion, then one step where the exact remainder reaches a half.
#[inline]
fn round_half_away(y: f64) -> f64 {
    // (the sign copied so that (-1, 0) gives -0.0 as round does)
    let t = (y as i64 as f64).copysign(y);
    let f = y - t; // exact: t and y share the integer part
    if f >= 0.5 {
        t + 1.0
    } else if f <= -0.5 {
        t - 1.0
    } else {
        t
    }
}

/// e^x. Saturates to 0 below −745 and to +∞ above 709.78.
pub fn exp(x: f64) -> f64 {
    if x.is_nan() {
        return x;
    }
    if x > 709.78 {
        return f64::INFINITY;
    }
    if x < -745.0 {
        return 0.0;
    }
    // x = n·ln2 + r, |r| <= ln2/2
    let n = round_half_away(x * std::f64::consts::LOG2_E);
    let r = (x - n * LN2_HI) - n * LN2_LO;
    // Taylor series to r^12 (Horner, 1/k! as literals: no division on the
    // hot path): the remainder is below 2e-16 relative for |r| <= 0.347.
    let mut p = INV_FACT[12];
    for c in INV_FACT[..12].iter().rev() {
        p = p * r + c;
    }
    let n = n as i64;
    // Split the scaling so subnormal results (n < -1022) stay exact enough.
    if n < -1020 {
        p * pow2(n + 60) * pow2(-60)
    } else if n > 1023 {
        p * pow2(n - 1) * 2.0
    } else {
        p * pow2(n)
    }
}

/// `x[i] = exp(x[i])` for every element, the same bits as [`exp`]: four at a
/// time with AVX2 where the host has it (the same operations in the same
/// order per lane, no fused multiply-add), [`exp`] itself for the rest and
/// for any group of four with an element outside ±700 or a NaN.
pub fn exp_in_place(x: &mut [f64]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if crate::quant::kernels::Isa::Avx2.available() {
        // SAFETY: AVX2 checked just above.
        done = unsafe { x86::exp4_avx2(x) };
    }
    for v in &mut x[done..] {
        *v = exp(*v);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(unsafe_op_in_unsafe_fn)]
    use super::{exp, INV_FACT, LN2_HI, LN2_LO};
    use std::arch::x86_64::*;

    /// [`exp`] on whole groups of four; returns how many elements it did.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn exp4_avx2(x: &mut [f64]) -> usize {
        let full = x.len() / 4 * 4;
        let (lo, hi) = (_mm256_set1_pd(-700.0), _mm256_set1_pd(700.0));
        // 1.5 · 2^52: n + MAGIC holds the integer n in its low mantissa bits
        let magic = _mm256_set1_pd(6_755_399_441_055_744.0);
        for g in x[..full].chunks_exact_mut(4) {
            let v = _mm256_loadu_pd(g.as_ptr());
            let inside = _mm256_and_pd(
                _mm256_cmp_pd::<_CMP_GE_OQ>(v, lo),
                _mm256_cmp_pd::<_CMP_LE_OQ>(v, hi),
            );
            if _mm256_movemask_pd(inside) != 0b1111 {
                for e in g.iter_mut() {
                    *e = exp(*e);
                }
                continue;
            }
            // n = round_half_away(x · log2 e): the truncation (sign kept),
            // then one step where the exact remainder reaches a half
            let y = _mm256_mul_pd(v, _mm256_set1_pd(std::f64::consts::LOG2_E));
            let t = _mm256_round_pd::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(y);
            let f = _mm256_sub_pd(y, t);
            let one = _mm256_set1_pd(1.0);
            let n = _mm256_blendv_pd(
                t,
                _mm256_add_pd(t, one),
                _mm256_cmp_pd::<_CMP_GE_OQ>(f, _mm256_set1_pd(0.5)),
            );
            let n = _mm256_blendv_pd(
                n,
                _mm256_sub_pd(t, one),
                _mm256_cmp_pd::<_CMP_LE_OQ>(f, _mm256_set1_pd(-0.5)),
            );
            let r = _mm256_sub_pd(
                _mm256_sub_pd(v, _mm256_mul_pd(n, _mm256_set1_pd(LN2_HI))),
                _mm256_mul_pd(n, _mm256_set1_pd(LN2_LO)),
            );
            let mut p = _mm256_set1_pd(INV_FACT[12]);
            for &c in INV_FACT[..12].iter().rev() {
                p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(c));
            }
            // 2^n from n's integer value: (n + 1023) << 52
            let ni = _mm256_sub_epi64(
                _mm256_castpd_si256(_mm256_add_pd(n, magic)),
                _mm256_castpd_si256(magic),
            );
            let scale = _mm256_slli_epi64::<52>(_mm256_add_epi64(ni, _mm256_set1_epi64x(1023)));
            let e = _mm256_mul_pd(p, _mm256_castsi256_pd(scale));
            _mm256_storeu_pd(g.as_mut_ptr(), e);
        }
        full
    }
}

/// Natural logarithm of a positive normal `x`.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_infinite() {
        return x;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & ((1u64 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln m = 2·atanh(s), s = (m−1)/(m+1), |s| <= 0.172
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut p = 0.0;
    for k in (0..12).rev() {
        p = 1.0 / (2 * k + 1) as f64 + s2 * p;
    }
    2.0 * s * p + e as f64 * LN2_HI + e as f64 * LN2_LO
}

/// `(sin x, cos x)` for |x| up to about 1e6 (positions × frequencies).
pub fn sin_cos(x: f64) -> (f64, f64) {
    // x = k·π/2 + r, |r| <= π/4, with π/2 in three parts (Cody–Waite).
    const PIO2_1: f64 = f64::from_bits(0x3ff9_21fb_5440_0000);
    const PIO2_2: f64 = f64::from_bits(0x3dd0_b461_1a60_0000);
    const PIO2_3: f64 = f64::from_bits(0x3ba3_198a_2e03_7073);
    let k = (x * std::f64::consts::FRAC_2_PI).round();
    let r = ((x - k * PIO2_1) - k * PIO2_2) - k * PIO2_3;
    let r2 = r * r;
    // Taylor to r^19 / r^18: remainder below 2^-60 for |r| <= π/4.
    let mut s = 0.0;
    let mut c = 0.0;
    for n in (0..10).rev() {
        let (i, j) = ((2 * n + 2) as f64, (2 * n + 3) as f64);
        s = 1.0 - s * r2 / (i * j);
        let (i, j) = ((2 * n + 1) as f64, (2 * n + 2) as f64);
        c = 1.0 - c * r2 / (i * j);
    }
    let s = s * r;
    match (k as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

/// tanh(x) from [`exp`]: (e^2x − 1) / (e^2x + 1), odd-symmetric, saturating
/// to ±1 for |x| > 20 (where tanh is 1 in f64 to 17 digits).
pub fn tanh(x: f64) -> f64 {
    tanh_from_exp(x, exp(2.0 * x.abs()))
}

/// [`tanh`] of `x` given `e` = exp(2·|x|) (unused where |x| > 20).
pub fn tanh_from_exp(x: f64, e: f64) -> f64 {
    if x.abs() > 20.0 {
        return 1f64.copysign(x);
    }
    ((e - 1.0) / (e + 1.0)).copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_is_f64_round() {
        let mut y = -1100.0f64;
        while y < 1100.0 {
            for v in [
                y,
                y + 0.5,
                y - 0.5,
                y + 0.499_999_999_999,
                y.next_up(),
                y.next_down(),
            ] {
                assert_eq!(round_half_away(v).to_bits(), v.round().to_bits(), "{v}");
            }
            y += 0.25;
        }
    }

    fn close(a: f64, b: f64, rel: f64) -> bool {
        a == b || (a - b).abs() <= rel * b.abs().max(f64::MIN_POSITIVE)
    }

    #[test]
    fn exp_matches_libm_closely() {
        let mut x = -740.0;
        while x < 709.0 {
            assert!(
                close(exp(x), x.exp(), 1e-14),
                "exp({x}) = {} vs {}",
                exp(x),
                x.exp()
            );
            x += 0.0137;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(1000.0), f64::INFINITY);
        assert!(exp(f64::NAN).is_nan());
    }

    #[test]
    fn ln_matches_libm_closely() {
        for &x in &[
            1e-300, 1e-10, 0.1, 0.5, 0.999, 1.0, 1.001, 2.0, 10000.0, 500000.0, 1e300,
        ] {
            assert!(
                close(ln(x), x.ln(), 4e-15),
                "ln({x}) = {} vs {}",
                ln(x),
                x.ln()
            );
        }
        assert_eq!(ln(1.0), 0.0);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn sin_cos_match_libm_closely() {
        let mut x = -5000.0;
        while x < 5000.0 {
            let (s, c) = sin_cos(x);
            assert!((s - x.sin()).abs() < 1e-13, "sin({x}) = {s} vs {}", x.sin());
            assert!((c - x.cos()).abs() < 1e-13, "cos({x}) = {c} vs {}", x.cos());
            x += 0.731;
        }
        assert_eq!(sin_cos(0.0), (0.0, 1.0));
    }

    #[test]
    fn exp_in_place_is_exp_bit_for_bit() {
        let mut xs: Vec<f64> = (-8000..=8000).map(|i| i as f64 * 0.0871).collect();
        xs.extend([
            f64::NAN,
            700.0,
            -700.0,
            700.0001,
            -700.0001,
            709.0,
            710.0,
            -744.0,
            -746.0,
            0.0,
            -0.0,
            0.5 * std::f64::consts::LN_2,
            -0.5 * std::f64::consts::LN_2,
            1e-300,
            -1e-300,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]);
        // x·log2 e at or next to a half: the rounding step's edges
        for k in -40..40 {
            let x = (k as f64 + 0.5) / std::f64::consts::LOG2_E;
            xs.extend([x, x.next_up(), x.next_down()]);
        }
        // every alignment of the odd values among the groups of four
        for shift in 0..4 {
            let v: Vec<f64> = xs[shift..].to_vec();
            let mut got = v.clone();
            exp_in_place(&mut got);
            for (x, g) in v.iter().zip(&got) {
                let want = exp(*x);
                assert!(
                    want.to_bits() == g.to_bits() || (want.is_nan() && g.is_nan()),
                    "{x}: {want} vs {g}"
                );
            }
        }
    }

    #[test]
    fn tanh_matches_std_to_f32_precision() {
        for i in -4000..=4000 {
            let x = i as f64 / 100.0;
            let (a, b) = (tanh(x), x.tanh());
            assert!((a - b).abs() <= 1e-12 * (1.0 + b.abs()), "{x}: {a} vs {b}");
        }
        assert_eq!(tanh(0.0), 0.0);
        assert_eq!(tanh(-50.0), -1.0);
    }
}
