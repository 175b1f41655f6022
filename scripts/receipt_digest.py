#!/usr/bin/env python3
"""Recomputes parci receipt digests without parci (standard library only).

  python3 scripts/receipt_digest.py RECEIPT...     check each file's digest and,
                                                    from schema 1.1.0, the seal
                                                    on its measurements
  python3 scripts/receipt_digest.py --canonical FILE   print FILE in canonical form

Canonical form (docs/receipts.md): keys sorted, two-space indent, LF, final
newline, non-ASCII as UTF-8, floats in the shortest form that round-trips,
spelled as serde_json spells them (0.00001, 1e-7, 1e+16, 1.5e+300), which is
where Python's repr differs (1e-05 for 0.00001, 1e-07 for 1e-7).
"""
import hashlib
import json
import math
import sys


def fmt_float(x: float) -> str:
    if not math.isfinite(x):
        raise ValueError(f"non-finite number {x} cannot be in a receipt")
    r = repr(x)
    sign = "-" if r.startswith("-") else ""
    r = r.lstrip("-")
    mant, _, exp = r.partition("e")
    ip, _, fp = mant.partition(".")
    e10 = (int(exp) if exp else 0) - len(fp)
    digits = (ip + fp).lstrip("0")
    if not digits:
        return sign + "0.0"
    stripped = digits.rstrip("0")
    e10 += len(digits) - len(stripped)
    digits = stripped
    n = len(digits)
    kk = n + e10  # position of the decimal point from the first digit
    if 0 <= e10 and kk <= 16:
        out = digits + "0" * e10 + ".0"
    elif 0 < kk <= 16:
        out = digits[:kk] + "." + digits[kk:]
    elif -5 < kk <= 0:
        out = "0." + "0" * -kk + digits
    else:
        e = kk - 1
        exp = f"e+{e}" if e >= 0 else f"e{e}"
        out = (digits if n == 1 else f"{digits[0]}.{digits[1:]}") + exp
    return sign + out


def _write(v, level, out):
    pad = "  " * level
    if v is None:
        out.append("null")
    elif v is True:
        out.append("true")
    elif v is False:
        out.append("false")
    elif isinstance(v, int):
        out.append(str(v))
    elif isinstance(v, float):
        out.append(fmt_float(v))
    elif isinstance(v, str):
        out.append(json.dumps(v, ensure_ascii=False))
    elif isinstance(v, list):
        if not v:
            out.append("[]")
            return
        out.append("[\n")
        for i, item in enumerate(v):
            out.append(pad + "  ")
            _write(item, level + 1, out)
            out.append(",\n" if i + 1 < len(v) else "\n")
        out.append(pad + "]")
    elif isinstance(v, dict):
        if not v:
            out.append("{}")
            return
        out.append("{\n")
        keys = sorted(v, key=lambda k: k.encode())
        for i, k in enumerate(keys):
            out.append(pad + "  " + json.dumps(k, ensure_ascii=False) + ": ")
            _write(v[k], level + 1, out)
            out.append(",\n" if i + 1 < len(keys) else "\n")
        out.append(pad + "}")
    else:
        raise TypeError(type(v))


def canonical(v) -> str:
    out = []
    _write(v, 0, out)
    return "".join(out) + "\n"


def digest(receipt) -> str:
    core = {k: receipt[k] for k in ("schema", "schema_version", "inputs", "results")}
    return "sha256:" + hashlib.sha256(canonical(core).encode()).hexdigest()


def measurements_sha256(receipt) -> dict:
    """Per top-level measurement, the hex sha256 of its canonical JSON."""
    return {k: hashlib.sha256(canonical(v).encode()).hexdigest()
            for k, v in receipt["measurements"].items()}


def main(argv):
    if len(argv) == 3 and argv[1] == "--canonical":
        sys.stdout.write(canonical(json.load(open(argv[2], encoding="utf-8"))))
        return 0
    if len(argv) < 2:
        sys.exit(__doc__)
    bad = 0
    for path in argv[1:]:
        r = json.load(open(path, encoding="utf-8"))
        d = digest(r)
        ok = d == r.get("digest")
        if "measurements_sha256" in r or not r.get("schema_version", "").startswith("1.0."):
            ok = ok and measurements_sha256(r) == r.get("measurements_sha256")
        bad += not ok
        print(f"{'ok  ' if ok else 'BAD '} {path} {d}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
