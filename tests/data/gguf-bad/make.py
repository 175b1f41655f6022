#!/usr/bin/env python3
"""Regenerates the hostile GGUF corpus in this directory: one rule broken per
file, with NAME.expect holding the fragment of the reader's error it must give.
Standard library only. Run: python3 tests/data/gguf-bad/make.py [--check]
"""
import pathlib
import struct
import sys

HERE = pathlib.Path(__file__).resolve().parent
U32, F32, STR, ARR, U64 = 4, 6, 8, 9, 10
F32T, Q8_0 = 0, 8


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(b)) + b


def kv(key, vtype, payload):
    return s(key) + struct.pack("<I", vtype) + payload


def tinfo(name, dims, ttype, offset):
    return s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims) + struct.pack("<I", ttype) + struct.pack("<Q", offset)


def gguf(kvs=(), tensors=(), data=b"", version=3, align=32, n_kv=None, n_t=None, magic=b"GGUF"):
    head = magic + struct.pack("<I", version) + struct.pack("<QQ", len(tensors) if n_t is None else n_t, len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(tensors)
    pad = (-len(body)) % align if tensors else 0
    return body + b"\0" * pad + data


ARCH = kv("general.architecture", STR, s("llama"))
T16 = tinfo("t", [4], F32T, 0)  # 16 bytes of f32
DATA = b"\0" * 32


def cases():
    valid = gguf([ARCH], [T16], DATA)
    yield "empty", b"", "magic: file ends after 0 bytes"
    yield "bad-magic", b"GGML" + valid[4:], "bad magic"
    yield "version-1", gguf([ARCH], [T16], DATA, version=1), "GGUF version 1 is not supported"
    yield "big-endian", b"GGUF" + struct.pack(">I", 3) + valid[8:], "big-endian GGUF files are not supported"
    yield "version-99", gguf([ARCH], [T16], DATA, version=99), "unknown GGUF version 99"
    yield "truncated-header", valid[:12], "tensor count: file ends after 12 bytes"
    # Truncations: enough bytes remain for the counts to be plausible, so the
    # reader has to notice the end inside the section itself.
    name_kv = kv("general.name", STR, s("x" * 40))
    two = gguf([ARCH, name_kv])
    yield "truncated-in-key", two[:24 + len(ARCH) + 5], "metadata key #1: file ends"
    yield "string-past-eof", two[:len(two) - 20], "value of \"general.name\": string value: length 40 is larger than the 20 bytes left"
    three = gguf([ARCH, name_kv, kv("x.count", U64, struct.pack("<Q", 7))])
    yield "truncated-in-value", three[:-3], "value of \"x.count\": value: file ends"
    two_t = gguf([ARCH, name_kv], [T16, tinfo("u", [4, 2], F32T, 32)], DATA * 2)
    start_t = 24 + len(ARCH) + len(name_kv)
    yield "truncated-in-tensor-info", two_t[:start_t + len(T16) + 8 + 1 + 4 + 8], "tensor \"u\" dims: file ends"
    yield "truncated-in-data", valid[:len(valid) - 24], "lies outside the"
    yield "string-length-2^63", gguf([s("k")[:0] + struct.pack("<Q", 2**63) + b"key" + b"\0" * 16], n_kv=1), "length 9223372036854775808 is larger than"
    yield "array-count-2^62", gguf([kv("a", ARR, struct.pack("<IQ", U32, 2**62) + b"\0" * 16)]), "count 4611686018427387904 needs at least 4 bytes"
    yield "tensor-count-past-eof", gguf([ARCH], n_t=1000), "tensor count: count 1000 needs at least 24 bytes"
    yield "kv-count-past-eof", gguf([ARCH], n_kv=2**40), "metadata count: count 1099511627776"
    yield "alignment-0", gguf([ARCH, kv("general.alignment", U32, struct.pack("<I", 0))], [T16], DATA), "alignment 0 is not a power of two"
    yield "alignment-3", gguf([ARCH, kv("general.alignment", U32, struct.pack("<I", 3))], [T16], DATA, align=3), "alignment 3 is not a power of two"
    yield "alignment-string", gguf([kv("general.alignment", STR, s("32"))], [T16], DATA), "has type string, ggml requires uint32"
    yield "five-dims", gguf([ARCH], [tinfo("t", [1, 1, 1, 1, 4], F32T, 0)], DATA), "5 dimensions; ggml supports at most 4"
    yield "ne-overflow", gguf([ARCH], [tinfo("t", [2**32, 2**32], F32T, 0)], DATA), "overflows int64"
    yield "dim-past-int64", gguf([ARCH], [tinfo("t", [2**63], F32T, 0)], DATA), "larger than ggml's int64 limit"
    yield "offset-past-eof", gguf([ARCH], [tinfo("t", [4], F32T, 2**20)], DATA), "lies outside the"
    yield "offset-overflow", gguf([ARCH], [tinfo("t", [4], F32T, 2**64 - 32)], DATA), "lies outside the"
    yield "overlapping-tensors", gguf([ARCH], [tinfo("a", [8], F32T, 0), tinfo("b", [8], F32T, 0)], DATA * 2), "overlaps tensor"
    yield "duplicate-tensor-names", gguf([ARCH], [tinfo("t", [4], F32T, 0), tinfo("t", [4], F32T, 32)], DATA * 2), "duplicate tensor name \"t\""
    yield "duplicate-keys", gguf([ARCH, ARCH]), "duplicate key \"general.architecture\""
    yield "unknown-tensor-type", gguf([ARCH], [tinfo("t", [4], 99, 0)], DATA), "unknown ggml type id 99"
    yield "removed-tensor-type", gguf([ARCH], [tinfo("t", [32], 32, 0)], DATA), "Q4_0_4_8 (id 32) was removed"
    yield "unknown-value-type", gguf([kv("k", 13, b"\0" * 8)]), "unknown metadata value type 13"
    yield "key-invalid-utf8", gguf([kv(b"\xff\xfe", U32, b"\0" * 4)]), "metadata key #0: invalid UTF-8"
    yield "tensor-name-invalid-utf8", gguf([ARCH], [tinfo(b"\xc3", [4], F32T, 0)], DATA), "tensor #0 name: invalid UTF-8"
    yield "misaligned-offset", gguf([ARCH], [tinfo("t", [4], F32T, 4)], DATA), "data offset 4 is not a multiple of the alignment 32"
    yield "ne0-not-block-multiple", gguf([ARCH], [tinfo("t", [33], Q8_0, 0)], DATA * 3), "first dimension 33 is not a multiple of the Q8_0 block size 32"
    nested = struct.pack("<IQ", U32, 1) + b"\0" * 4
    for _ in range(10):
        nested = struct.pack("<IQ", ARR, 1) + nested
    yield "arrays-nested-too-deep", gguf([kv("deep", ARR, nested)]), "arrays nested deeper than 8 levels"
    yield "empty-tensor-name", gguf([ARCH], [tinfo("", [4], F32T, 0)], DATA), "empty tensor name"


def main():
    want = {}
    for name, data, expect in cases():
        want[f"{name}.gguf"] = data
        want[f"{name}.expect"] = (expect + "\n").encode()
    check = "--check" in sys.argv[1:]
    stale = []
    for fname, data in sorted(want.items()):
        p = HERE / fname
        if check:
            if not p.exists() or p.read_bytes() != data:
                stale.append(fname)
        else:
            p.write_bytes(data)
    extra = {p.name for p in HERE.iterdir() if p.suffix in (".gguf", ".expect")} - set(want)
    if check and (stale or extra):
        sys.exit(f"out of date (run {pathlib.Path(__file__).name}): {', '.join(stale + sorted(extra))}")
    for name in extra:
        (HERE / name).unlink()
    print(f"{len(want) // 2} hostile GGUF files {'checked' if check else 'written'}")


if __name__ == "__main__":
    main()
