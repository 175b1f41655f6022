//! The K-quant block formats (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) decode bit for bit
//! as the `gguf` Python package decodes them: on random blocks of every
//! format, on every Q4_K and Q6_K tensor of the real Gemma 3 270M Q4_K_M
//! model, and on the tensors llama-quantize wrote into the SmolLM2
//! requantizations (`bash scripts/models.sh` places the files).
mod common;

use parci_core::fsutil::sha256_hex;
use parci_core::gguf::fixture::SplitMix64;
use parci_core::gguf::{GgmlType, Gguf};
use serde_json::Value as J;

const GEMMA: &str = "gemma-3-270m-q4_k_m.gguf";

/// Byte offsets of a block's f16 fields (d, then dmin if the format has one).
fn f16_fields(ty: &str) -> &'static [usize] {
    match ty {
        "Q2_K" => &[80, 82],
        "Q3_K" => &[108],
        "Q4_K" | "Q5_K" => &[0, 2],
        "Q6_K" => &[208],
        _ => unreachable!(),
    }
}

/// `n` blocks of random bytes whose f16 fields are finite: random values of
/// magnitude 2^-14..2^1, plus the extremes ±65504, the smallest subnormal
/// and zero in the first blocks. Block 1 is all 0xff bytes otherwise, block 2
/// all zero.
fn random_blocks(ty: &str, n: usize, seed: u64) -> Vec<u8> {
    let bytes = GgmlType::from_name(ty).unwrap().type_size() as usize;
    let mut r = SplitMix64::new(seed);
    let mut data: Vec<u8> = (0..n * bytes).map(|_| r.next_u64() as u8).collect();
    data[bytes..2 * bytes].fill(0xff);
    data[2 * bytes..3 * bytes].fill(0);
    for b in 0..n {
        for (k, &at) in f16_fields(ty).iter().enumerate() {
            let v = r.next_u64();
            let h: u16 = match (b, k) {
                (0, _) => [0x7bff, 0xfbff][k],
                (1, _) => [0x0001, 0x8001][k],
                (2, 0) => 0,
                _ => {
                    ((v & 1) << 15) as u16
                        | (((v >> 1) % 16 + 1) << 10) as u16
                        | (v >> 8) as u16 & 0x3ff
                }
            };
            data[b * bytes + at..b * bytes + at + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
    data
}

#[test]
fn random_blocks_dequantize_as_gguf_py() {
    let t = tempfile::tempdir().unwrap();
    for (i, ty) in ["Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]
        .into_iter()
        .enumerate()
    {
        let data = random_blocks(ty, 96, 40 + i as u64);
        let qpath = t.path().join(format!("{ty}.bin"));
        let dpath = t.path().join(format!("{ty}.f32"));
        std::fs::write(&qpath, &data).unwrap();
        common::oracle(&[
            "dequantize",
            ty,
            qpath.to_str().unwrap(),
            dpath.to_str().unwrap(),
        ]);
        let theirs: Vec<u32> = std::fs::read(&dpath)
            .unwrap()
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        let mut ours = Vec::new();
        parci_core::quant::dequantize(GgmlType::from_name(ty).unwrap(), &data, &mut ours).unwrap();
        assert_eq!(ours.len(), 96 * 256, "{ty}");
        assert_eq!(theirs.len(), ours.len(), "{ty}");
        if let Some(i) = ours
            .iter()
            .zip(&theirs)
            .position(|(a, &b)| a.to_bits() != b)
        {
            panic!(
                "{ty}: element {i} (block {}) is {} here, {} in gguf-py",
                i / 256,
                ours[i],
                f32::from_bits(theirs[i])
            );
        }
    }
}

/// Every tensor of `types` in model file `name` (under target/parci/models/),
/// fully: sha256 of the dequantized f32 values here and in gguf-py. A missing
/// file fails naming the command that makes it.
fn dequantizes_as_gguf_py(name: &str, types: &[&str]) {
    let path = common::root().join("target/parci/models").join(name);
    assert!(
        path.is_file(),
        "{} is missing: run `bash scripts/models.sh` (scripts/test.sh does)",
        path.display()
    );
    let out = std::process::Command::new(common::venv_bin("python"))
        .arg(common::root().join("tests/py/kquant_oracle.py"))
        .args(["digests", path.to_str().unwrap(), &types.join(",")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kquant_oracle: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let theirs: Vec<J> = serde_json::from_slice(&out.stdout).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let g = Gguf::parse(&bytes).unwrap();
    let ours: Vec<_> = g
        .tensors()
        .iter()
        .filter(|t| types.contains(&t.ty.name()))
        .collect();
    assert_eq!(ours.len(), theirs.len(), "{name}: tensor count");
    let mut seen = std::collections::BTreeMap::new();
    let mut values = Vec::new();
    for (t, want) in ours.iter().zip(&theirs) {
        assert_eq!(want["name"], t.name);
        assert_eq!(want["type"], t.ty.name());
        values.clear();
        parci_core::quant::dequantize(t.ty, t.data, &mut values).unwrap();
        assert_eq!(
            values.len() as u64,
            want["n"].as_u64().unwrap(),
            "{}",
            t.name
        );
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(
            sha256_hex(&raw),
            want["sha256"].as_str().unwrap(),
            "{name}: {} ({}): dequantized values differ from gguf-py",
            t.name,
            t.ty
        );
        *seen.entry(t.ty.name()).or_insert(0usize) += 1;
    }
    for ty in types {
        assert!(seen.contains_key(ty), "{name}: no {ty} tensor: {seen:?}");
    }
    eprintln!("{name}: tensors equal to gguf-py's: {seen:?}");
}

/// The published Gemma 3 270M Q4_K_M file: all 27 Q4_K and 9 Q6_K tensors.
#[test]
fn gemma_kquant_tensors_dequantize_as_gguf_py() {
    dequantizes_as_gguf_py(GEMMA, &["Q4_K", "Q6_K"]);
}

/// Files llama-quantize wrote (SmolLM2 requantized, scripts/models.sh): every
/// block format parci added, in tensors llama.cpp quantized.
#[test]
fn llama_quantize_written_tensors_dequantize_as_gguf_py() {
    let smol = |ty: &str| format!("SmolLM2-135M-Instruct.{ty}.gguf");
    dequantizes_as_gguf_py(&smol("Q5_0"), &["Q5_0"]);
    dequantizes_as_gguf_py(&smol("Q5_1"), &["Q5_1"]);
    dequantizes_as_gguf_py(&smol("Q2_K-pure"), &["Q2_K", "Q4_0"]);
    dequantizes_as_gguf_py(&smol("Q3_K-pure"), &["Q3_K"]);
    dequantizes_as_gguf_py(&smol("Q4_K_M"), &["Q4_K", "Q6_K"]);
    dequantizes_as_gguf_py(&smol("Q5_K_M"), &["Q5_K", "Q6_K"]);
}
