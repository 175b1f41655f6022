//! GGUF interop with the `gguf` Python package, both directions, plus the
//! block formats parci quantizes with (bit for bit against gguf-py).
mod common;

use parci_core::fsutil::sha256_hex;
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{GgmlType, Gguf, OwnedValue, Value, ValueType, Writer};
use serde_json::{json, Value as J};
use std::path::Path;

fn py_type(t: ValueType) -> &'static str {
    match t {
        ValueType::U8 => "UINT8",
        ValueType::I8 => "INT8",
        ValueType::U16 => "UINT16",
        ValueType::I16 => "INT16",
        ValueType::U32 => "UINT32",
        ValueType::I32 => "INT32",
        ValueType::F32 => "FLOAT32",
        ValueType::Bool => "BOOL",
        ValueType::Str => "STRING",
        ValueType::Array => "ARRAY",
        ValueType::U64 => "UINT64",
        ValueType::I64 => "INT64",
        ValueType::F64 => "FLOAT64",
    }
}

/// Our reader's view in gguf_oracle.py's description format.
fn describe(g: &Gguf) -> J {
    let kvs: Vec<J> = g
        .kvs()
        .iter()
        .map(|kv| {
            let mut e = json!({"key": kv.key, "type": py_type(kv.value.value_type()), "value": parci_core::gguf::dump::value_json(&kv.value)});
            if let Value::Array(a) = kv.value {
                e["elem"] = json!(py_type(a.elem));
            }
            e
        })
        .collect();
    let tensors: Vec<J> = g
        .tensors()
        .iter()
        .map(|t| {
            json!({"name": t.name, "type": t.ty.name(), "shape": t.shape(), "offset": t.offset,
                   "nbytes": t.size, "sha256": sha256_hex(t.data)})
        })
        .collect();
    json!({"version": g.version, "alignment": g.alignment, "data_offset": g.data_offset, "kvs": kvs, "tensors": tensors})
}

fn assert_same(ours: &J, theirs: &J, what: &str) {
    if ours != theirs {
        let (o, t) = (ours.to_string(), theirs.to_string());
        let at = o
            .bytes()
            .zip(t.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        let lo = at.saturating_sub(200);
        panic!(
            "{what}: readers disagree at char {at}\nours:   {}\ntheirs: {}",
            &o[lo..(at + 200).min(o.len())],
            &t[lo..(at + 200).min(t.len())]
        );
    }
}

#[test]
fn we_read_what_gguf_py_writes() {
    let t = tempfile::tempdir().unwrap();
    common::oracle(&["write", t.path().to_str().unwrap()]);
    let mut n = 0;
    for e in std::fs::read_dir(t.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "gguf") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let g = Gguf::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let theirs: J =
            serde_json::from_slice(&std::fs::read(p.with_extension("gguf.json")).unwrap()).unwrap();
        assert_same(&describe(&g), &theirs, &p.display().to_string());
        assert!(g.warnings().is_empty(), "{:?}", g.warnings());
        // every live tensor type gguf-py knows was exercised
        n += 1;
    }
    assert_eq!(n, 5, "one file per alignment");
}

fn every_value() -> Vec<(&'static str, OwnedValue)> {
    vec![
        ("general.architecture", OwnedValue::Str("llama".into())),
        ("t.u8", OwnedValue::U8(255)),
        ("t.i8", OwnedValue::I8(-128)),
        ("t.u16", OwnedValue::U16(65535)),
        ("t.i16", OwnedValue::I16(-32768)),
        ("t.u32", OwnedValue::U32(u32::MAX)),
        ("t.i32", OwnedValue::I32(i32::MIN)),
        ("t.f32", OwnedValue::F32(-0.1)),
        ("t.bool", OwnedValue::Bool(false)),
        ("t.str", OwnedValue::Str("▁tok ünï 字".into())),
        ("t.u64", OwnedValue::U64(u64::MAX)),
        ("t.i64", OwnedValue::I64(i64::MIN)),
        ("t.f64", OwnedValue::F64(6.02e23)),
        ("t.arr_str", OwnedValue::strings(["x", "", "yz"])),
        (
            "t.arr_f32",
            OwnedValue::Array(
                ValueType::F32,
                vec![OwnedValue::F32(1.5), OwnedValue::F32(-2.0)],
            ),
        ),
        (
            "t.arr_u64",
            OwnedValue::Array(ValueType::U64, vec![OwnedValue::U64(7)]),
        ),
    ]
}

#[test]
fn gguf_py_reads_what_we_write() {
    let t = tempfile::tempdir().unwrap();
    for align in [None, Some(16u32), Some(128)] {
        let mut w = Writer::new();
        if let Some(a) = align {
            w.alignment(a).unwrap();
        }
        for (k, v) in every_value() {
            w.kv(k, v).unwrap();
        }
        let f32s: Vec<u8> = (0..96)
            .flat_map(|i| (i as f32 * 0.25).to_le_bytes())
            .collect();
        w.tensor("a.f32", GgmlType::F32, &[32, 3], f32s).unwrap();
        w.tensor("b.q8_0", GgmlType::Q8_0, &[64, 1, 2], vec![3u8; 4 * 34])
            .unwrap();
        w.tensor("c.tq2_0", GgmlType::TQ2_0, &[256], vec![0x55; 66])
            .unwrap();
        w.tensor("d.empty", GgmlType::F16, &[0, 4], vec![]).unwrap();
        let bytes = w.to_bytes();
        let path = t.path().join(format!("ours-{align:?}.gguf"));
        std::fs::write(&path, &bytes).unwrap();
        let theirs: J =
            serde_json::from_str(&common::oracle(&["describe", path.to_str().unwrap()])).unwrap();
        let g = Gguf::parse(&bytes).unwrap();
        assert_same(&describe(&g), &theirs, &format!("alignment {align:?}"));
    }
}

#[test]
fn gguf_py_reads_the_fixture_identically() {
    let t = tempfile::tempdir().unwrap();
    let bytes = fixture::generate(Preset::Tiny, 1);
    let path = t.path().join("tiny.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let theirs: J =
        serde_json::from_str(&common::oracle(&["describe", path.to_str().unwrap()])).unwrap();
    assert_same(
        &describe(&Gguf::parse(&bytes).unwrap()),
        &theirs,
        "tiny fixture",
    );
}

fn f32_file(dir: &Path, name: &str, x: &[f32]) -> String {
    let p = dir.join(name);
    std::fs::write(
        &p,
        x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

fn check_format(ty: &str, x: &[f32]) {
    let t = tempfile::tempdir().unwrap();
    let input = f32_file(t.path(), "x.f32", x);
    let qpath = t.path().join("q.bin");
    common::oracle(&["quantize", ty, &input, qpath.to_str().unwrap()]);
    let theirs = std::fs::read(&qpath).unwrap();
    let mut ours = Vec::new();
    parci_core::quant::quantize(GgmlType::from_name(ty).unwrap(), x, &mut ours).unwrap();
    assert!(
        ours == theirs,
        "{ty}: quantized bytes differ from gguf-py (first at {:?})",
        ours.iter().zip(&theirs).position(|(a, b)| a != b)
    );
    let dpath = t.path().join("d.f32");
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
    parci_core::quant::dequantize(
        GgmlType::from_name(ty).unwrap(),
        &std::fs::read(&qpath).unwrap(),
        &mut ours,
    )
    .unwrap();
    let ours: Vec<u32> = ours.iter().map(|v| v.to_bits()).collect();
    assert!(
        ours == theirs,
        "{ty}: dequantized values differ from gguf-py"
    );
}

/// Random normal-ish values with the awkward cases: exact halves, zeros,
/// a zero block, extremes.
fn test_values(n: usize, seed: u64) -> Vec<f32> {
    let mut r = fixture::SplitMix64::new(seed);
    let mut x: Vec<f32> = (0..n).map(|_| (r.unit() - 0.5) * 8.0).collect();
    x[..256].fill(0.0);
    for (i, v) in x[256..512].iter_mut().enumerate() {
        *v = (i as f32 - 128.0) * 0.5; // many exact .5 quotients
    }
    x[600] = 65504.0;
    x[601] = -65504.0;
    x
}

fn ternary_values(n: usize, seed: u64) -> Vec<f32> {
    let mut r = fixture::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            [-1.0f32, 0.0, 1.0][(r.next_u64() % 3) as usize] * (0.01 + (i / 256) as f32 * 0.013)
        })
        .collect()
}

/// Values for the min/offset formats: blocks shifted away from zero (all
/// positive, all negative), constant blocks (d = 0 with a non-zero minimum),
/// a block spanning the f16 range, one outlier, exact halves of the step.
fn offset_values(n: usize, seed: u64) -> Vec<f32> {
    let mut r = fixture::SplitMix64::new(seed);
    (0..n)
        .map(|i| {
            let (b, j) = (i / 32, i % 32);
            let u = r.unit();
            match b % 9 {
                0 => 3.0 + u,
                1 => -7.5 - u * 0.01,
                2 => 0.75,
                3 => -65504.0,
                4 => [-65504.0, 65504.0][j % 2],
                5 => {
                    if j == 7 {
                        1000.0
                    } else {
                        u - 0.5
                    }
                }
                // min 0, max 15 (Q4_1's d = 1) or 31 (Q5_1's d = 1): the other
                // values are exact halves of the step, (x - min) / d + 0.5 whole
                6 | 7 if j == 31 => [15.0, 31.0][b % 9 - 6],
                6 | 7 => j as f32 * 0.5,
                _ => (u - 0.5) * (b as f32 + 1.0),
            }
        })
        .collect()
}

/// Every block format parci quantizes or decodes, in both directions, on
/// random data with awkward values and on ternary data.
#[test]
fn every_format_matches_gguf_py_bit_for_bit() {
    for (i, ty) in [
        "F16", "BF16", "Q8_0", "Q4_0", "TQ1_0", "TQ2_0", "Q4_1", "Q5_0", "Q5_1",
    ]
    .into_iter()
    .enumerate()
    {
        check_format(ty, &test_values(4096, 2 * i as u64 + 1));
        check_format(ty, &ternary_values(4096, 2 * i as u64 + 2));
    }
    for (i, ty) in ["Q4_1", "Q5_0", "Q5_1"].into_iter().enumerate() {
        check_format(ty, &offset_values(32 * 64, 100 + i as u64));
    }
}

#[test]
fn type_table_matches_gguf_py_except_the_stale_q8_1() {
    let theirs: Vec<J> = serde_json::from_str(&common::oracle(&["types"])).unwrap();
    assert!(theirs.len() >= 33);
    for t in &theirs {
        let id = t["id"].as_u64().unwrap() as u32;
        let ours = GgmlType::from_id(id)
            .unwrap_or_else(|e| panic!("gguf-py knows id {id}, we do not: {e}"));
        assert_eq!(ours.name(), t["name"], "id {id}");
        assert_eq!(ours.block_size(), t["block"].as_u64().unwrap(), "{}", ours);
        if ours.name() != "Q8_1" {
            assert_eq!(ours.type_size(), t["bytes"].as_u64().unwrap(), "{}", ours);
        }
    }
    assert_eq!(
        GgmlType::all().count(),
        theirs.len(),
        "a type we know and gguf-py does not"
    );
}
