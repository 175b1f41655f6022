#!/usr/bin/env python3
"""gguf-py as the dequantization oracle for whole GGUF tensors (parci's
K-quant interop tests).

  kquant_oracle.py digests FILE TYPE[,TYPE...]
      print JSON [{"name", "type", "n", "sha256"}] for every tensor of FILE
      whose type is listed: n values of gguf-py's dequantization, and the
      sha256 of those values as float32 little-endian bytes (row-major, the
      tensor's data order)
"""
import hashlib
import json
import sys

import numpy as np
import gguf


def digests(path, types):
    r = gguf.GGUFReader(path)
    out = []
    for t in r.tensors:
        if t.tensor_type.name not in types:
            continue
        x = gguf.dequantize(t.data, t.tensor_type).astype("<f4")
        out.append({
            "name": t.name,
            "type": t.tensor_type.name,
            "n": int(x.size),
            "sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest(),
        })
    return out


def main(argv):
    if len(argv) == 4 and argv[1] == "digests":
        print(json.dumps(digests(argv[2], set(argv[3].split(",")))))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
