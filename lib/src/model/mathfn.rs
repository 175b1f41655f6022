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
    let a = x.abs();
    if a > 20.0 {
        return 1f64.copysign(x);
    }
    let e = exp(2.0 * a);
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
