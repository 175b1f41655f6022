//! ggml block formats, byte for byte. Each format has its own module with the
//! block layout, the scalar quantizer (for fixtures) and the dequantizer; the
//! gguf-py package is the oracle they are tested against (tests/gguf_interop.rs).

pub mod act;
pub mod dot;
pub mod kernels;
pub mod matvec;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;
pub mod pool;
pub mod q2_k;
pub mod q3_k;
pub mod q4_0;
pub mod q4_1;
pub mod q4_k;
pub mod q5_0;
pub mod q5_1;
pub mod q5_k;
pub mod q6_k;
pub mod q8_0;
pub mod q8_1;
pub mod q8_k;
pub mod tq1_0;
pub mod tq2_0;
pub mod unpacked;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_kquants;
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86_legacy;

use crate::gguf::GgmlType;
use half::{bf16, f16};

/// Why a tensor cannot be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("{0} is not supported by parci's block formats (F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, TQ1_0, TQ2_0)")]
    Unsupported(GgmlType),
    #[error("{ty} data of {bytes} bytes is not a whole number of {block_bytes}-byte blocks")]
    Ragged {
        ty: GgmlType,
        bytes: usize,
        block_bytes: u64,
    },
}

/// Dequantizes `data` of type `ty` to f32, appending to `out`.
pub fn dequantize(ty: GgmlType, data: &[u8], out: &mut Vec<f32>) -> Result<(), DecodeError> {
    if !(data.len() as u64).is_multiple_of(ty.type_size()) {
        return Err(DecodeError::Ragged {
            ty,
            bytes: data.len(),
            block_bytes: ty.type_size(),
        });
    }
    match ty {
        GgmlType::F32 => out.extend(
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap())),
        ),
        GgmlType::F16 => out.extend(
            data.chunks_exact(2)
                .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        GgmlType::BF16 => out.extend(
            data.chunks_exact(2)
                .map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()),
        ),
        GgmlType::Q8_0 => q8_0::dequantize(data, out),
        GgmlType::Q4_0 => q4_0::dequantize(data, out),
        GgmlType::Q4_1 => q4_1::dequantize(data, out),
        GgmlType::Q5_0 => q5_0::dequantize(data, out),
        GgmlType::Q5_1 => q5_1::dequantize(data, out),
        GgmlType::Q2_K => q2_k::dequantize(data, out),
        GgmlType::Q3_K => q3_k::dequantize(data, out),
        GgmlType::Q4_K => q4_k::dequantize(data, out),
        GgmlType::Q5_K => q5_k::dequantize(data, out),
        GgmlType::Q6_K => q6_k::dequantize(data, out),
        GgmlType::Q8_K => q8_k::dequantize(data, out),
        GgmlType::Q8_1 => q8_1::dequantize(data, out),
        GgmlType::TQ1_0 => tq1_0::dequantize(data, out),
        GgmlType::TQ2_0 => tq2_0::dequantize(data, out),
        other => return Err(DecodeError::Unsupported(other)),
    }
    Ok(())
}

/// Quantizes f32 values to `ty` exactly as ggml's reference quantizers (and
/// gguf-py's `quantize`) do, appending the bytes to `out`. `x.len()` must be a
/// multiple of the block size.
pub fn quantize(ty: GgmlType, x: &[f32], out: &mut Vec<u8>) -> Result<(), DecodeError> {
    if !(x.len() as u64).is_multiple_of(ty.block_size()) {
        return Err(DecodeError::Ragged {
            ty,
            bytes: x.len() * 4,
            block_bytes: ty.block_size() * 4,
        });
    }
    match ty {
        GgmlType::F32 => out.extend(x.iter().flat_map(|v| v.to_le_bytes())),
        GgmlType::F16 => out.extend(x.iter().flat_map(|&v| f16::from_f32(v).to_le_bytes())),
        GgmlType::BF16 => out.extend(x.iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes())),
        GgmlType::Q8_0 => q8_0::quantize(x, out),
        GgmlType::Q4_0 => q4_0::quantize(x, out),
        GgmlType::Q4_1 => q4_1::quantize(x, out),
        GgmlType::Q5_0 => q5_0::quantize(x, out),
        GgmlType::Q5_1 => q5_1::quantize(x, out),
        GgmlType::Q8_1 => q8_1::quantize(x, out),
        GgmlType::TQ1_0 => tq1_0::quantize(x, out),
        GgmlType::TQ2_0 => tq2_0::quantize(x, out),
        other => return Err(DecodeError::Unsupported(other)),
    }
    Ok(())
}

/// `x` as f16 bits, little-endian, rounded to nearest even (as numpy and ggml do).
pub(crate) fn f16_le(x: f32) -> [u8; 2] {
    f16::from_f32(x).to_le_bytes()
}

pub(crate) fn f16_at(b: &[u8], i: usize) -> f32 {
    f16::from_le_bytes([b[i], b[i + 1]]).to_f32()
}
