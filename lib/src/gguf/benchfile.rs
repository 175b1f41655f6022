//! The GGUF file the loader benchmark reads: a 262 144-entry string vocabulary
//! (with scores and token types, as a large tokenizer has) and 1 000 Q8_0
//! tensors of 64 Ki elements each (68 MiB of tensor data that must not be copied).

use super::{GgmlType, OwnedValue, ValueType, Writer};
use std::path::{Path, PathBuf};

pub const VOCAB: usize = 262_144;
pub const TENSORS: usize = 1_000;
pub const TENSOR_ELEMENTS: u64 = 65_536;

/// Writes the benchmark file under `dir` unless it is already there.
pub fn ensure(dir: &Path) -> std::io::Result<PathBuf> {
    let path = dir.join("bench-vocab262k-tensors1000.gguf");
    if path.exists() {
        return Ok(path);
    }
    let mut w = Writer::new();
    let kv = |w: &mut Writer, k: &str, v| {
        w.kv(k, v).expect("distinct keys");
    };
    kv(
        &mut w,
        "general.architecture",
        OwnedValue::Str("llama".into()),
    );
    kv(
        &mut w,
        "tokenizer.ggml.model",
        OwnedValue::Str("gpt2".into()),
    );
    kv(
        &mut w,
        "tokenizer.ggml.tokens",
        OwnedValue::strings((0..VOCAB).map(|i| format!("tok{i:06}"))),
    );
    kv(
        &mut w,
        "tokenizer.ggml.scores",
        OwnedValue::Array(
            ValueType::F32,
            (0..VOCAB).map(|i| OwnedValue::F32(-(i as f32))).collect(),
        ),
    );
    kv(
        &mut w,
        "tokenizer.ggml.token_type",
        OwnedValue::Array(
            ValueType::I32,
            (0..VOCAB).map(|_| OwnedValue::I32(1)).collect(),
        ),
    );
    let bytes = GgmlType::Q8_0
        .row_bytes(TENSOR_ELEMENTS)
        .expect("whole blocks") as usize;
    for i in 0..TENSORS {
        w.tensor(
            &format!("blk.{}.t{}.weight", i / 10, i % 10),
            GgmlType::Q8_0,
            &[TENSOR_ELEMENTS],
            vec![(i % 251) as u8; bytes],
        )
        .expect("consistent tensor");
    }
    crate::fsutil::write_atomic(&path, &w.to_bytes())?;
    Ok(path)
}
