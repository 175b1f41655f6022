#!/usr/bin/env python3
"""The gguf Python package as an oracle for parci's tests.

  gguf_oracle.py write DIR       write GGUF files with gguf-py's GGUFWriter (every
                                 metadata type, several alignments, every tensor
                                 type), each with DIR/NAME.gguf.json describing it
                                 as gguf-py's GGUFReader reads it back
  gguf_oracle.py describe FILE   print GGUFReader's view of FILE as JSON
  gguf_oracle.py types           print gguf-py's ggml type table as JSON
  gguf_oracle.py npy-check FILE TENSOR NPY   NPY equals gguf-py's dequantized TENSOR
  gguf_oracle.py quantize TYPE IN OUT    f32 LE values -> gguf-py quantize bytes
  gguf_oracle.py dequantize TYPE IN OUT  block bytes -> gguf-py dequantize f32 LE

The description: {"version", "alignment", "data_offset", "kvs": [{"key",
"type", "value"}], "tensors": [{"name", "type", "shape", "offset", "nbytes",
"sha256"}]}, shapes in ggml order, offsets relative to the data section.
"""
import hashlib
import json
import pathlib
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q, GGUFValueType as V


def describe(path):
    r = gguf.GGUFReader(path)
    kvs = []
    for name, field in r.fields.items():
        if name.startswith("GGUF."):
            continue
        main = field.types[0]
        entry = {"key": name, "type": main.name}
        if main == V.ARRAY:
            entry["elem"] = field.types[-1].name
        entry["value"] = field.contents()
        kvs.append(entry)
    tensors = []
    for t in r.tensors:
        raw = bytes(r.data[t.data_offset:t.data_offset + t.n_bytes])
        tensors.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "shape": [int(d) for d in t.shape],
            "offset": int(t.data_offset - r.data_offset),
            "nbytes": int(t.n_bytes),
            "sha256": hashlib.sha256(raw).hexdigest(),
        })
    version = int(r.fields["GGUF.version"].parts[-1][0])
    return {"version": version, "alignment": int(r.alignment), "data_offset": int(r.data_offset),
            "kvs": kvs, "tensors": tensors}


def metadata(w, tag):
    w.add_uint8("t.u8", 200)
    w.add_int8("t.i8", -100)
    w.add_uint16("t.u16", 60000)
    w.add_int16("t.i16", -30000)
    w.add_uint32("t.u32", 4000000000)
    w.add_int32("t.i32", -2000000000)
    w.add_float32("t.f32", 0.1)
    w.add_uint64("t.u64", 2**63 + 5)
    w.add_int64("t.i64", -(2**62))
    w.add_float64("t.f64", 1e-300)
    w.add_bool("t.bool", True)
    w.add_bool("t.bool_false", False)
    w.add_string("t.str", f"héllo ▁ 世界 {tag}")
    w.add_key_value("t.empty", "", V.STRING)
    w.add_array("t.arr_i32", [1, -2, 3])
    w.add_array("t.arr_f32", [0.5, -1.25])
    w.add_array("t.arr_str", ["a", "", "ünï", "<0x0A>"])
    w.add_array("t.arr_bool", [True, False, True])
    w.add_key_value("t.arr_u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
    w.add_key_value("t.arr_i64", [-1, 2**40], V.ARRAY, sub_type=V.INT64)
    w.add_key_value("t.arr_f64", [3.5, -0.0], V.ARRAY, sub_type=V.FLOAT64)


def tensors(w, rng):
    def f32(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    w.add_tensor("plain.f32", f32(3, 64))
    w.add_tensor("plain.f16", f32(2, 32).astype(np.float16))
    w.add_tensor("plain.f64", rng.standard_normal((4,)).astype(np.float64))
    w.add_tensor("plain.i8", rng.integers(-128, 127, (2, 8), dtype=np.int8))
    w.add_tensor("plain.i16", rng.integers(-1000, 1000, (8,), dtype=np.int16))
    w.add_tensor("plain.i32", rng.integers(-10**6, 10**6, (2, 2, 2), dtype=np.int32))
    w.add_tensor("plain.i64", rng.integers(-10**9, 10**9, (1, 1, 2, 3), dtype=np.int64))
    w.add_tensor("scalar.f32", np.array([1.5], dtype=np.float32))
    for qt in (Q.BF16, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q8_0, Q.TQ1_0, Q.TQ2_0, Q.MXFP4):
        data = gguf.quantize(f32(2, 256), qt)
        w.add_tensor(f"quant.{qt.name.lower()}", data, raw_dtype=qt)
    # Types gguf-py cannot quantize: random blocks, written raw.
    for qt in (Q.Q2_K, Q.Q3_K, Q.Q4_K, Q.Q5_K, Q.Q6_K, Q.Q8_K, Q.IQ2_XXS, Q.IQ2_XS, Q.IQ3_XXS,
               Q.IQ1_S, Q.IQ4_NL, Q.IQ3_S, Q.IQ2_S, Q.IQ4_XS, Q.IQ1_M, Q.NVFP4, Q.Q1_0):
        # Q8_1 is left out: gguf-py sizes it 40 bytes (the pre-2024 layout with f32
        # d and s); ggml.h today has ggml_half d, s: 36 bytes, which parci follows.
        block, size = gguf.GGML_QUANT_SIZES[qt]
        raw = rng.integers(0, 256, (2, 2 * size), dtype=np.uint8)
        w.add_tensor(f"raw.{qt.name.lower()}", raw, raw_dtype=qt)


def write(out_dir):
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for align in (None, 1, 8, 64, 256):
        name = f"all-types-align{align or 'default'}.gguf"
        path = out / name
        w = gguf.GGUFWriter(str(path), arch="parcitest")
        if align:
            w.add_custom_alignment(align)
        metadata(w, name)
        tensors(w, np.random.default_rng(align or 0))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        (out / (name + ".json")).write_text(json.dumps(describe(str(path))))
    print(out)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "write" and len(argv) == 3:
        write(argv[2])
    elif cmd == "describe" and len(argv) == 3:
        print(json.dumps(describe(argv[2])))
    elif cmd == "types" and len(argv) == 2:
        print(json.dumps([{"id": int(t), "name": t.name, "block": b, "bytes": n}
                          for t, (b, n) in gguf.GGML_QUANT_SIZES.items()]))
    elif cmd == "npy-check" and len(argv) == 5:
        # argv: FILE TENSOR NPY: the .npy holds gguf-py's dequantization of TENSOR, bit for bit
        r = gguf.GGUFReader(argv[2])
        t = next(t for t in r.tensors if t.name == argv[3])
        want = gguf.dequantize(t.data, t.tensor_type).astype(np.float32)
        got = np.load(argv[4])
        assert got.dtype == np.float32, got.dtype
        assert got.shape == want.shape, (got.shape, want.shape)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), "values differ"
        print("ok", got.shape)
    elif cmd == "quantize" and len(argv) == 5:
        x = np.fromfile(argv[3], dtype="<f4")
        gguf.quantize(x.reshape(1, -1), Q[argv[2]]).tofile(argv[4])
    elif cmd == "dequantize" and len(argv) == 5:
        qt = Q[argv[2]]
        raw = np.fromfile(argv[3], dtype=np.uint8)
        gguf.dequantize(raw.reshape(1, -1), qt).astype("<f4").tofile(argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
