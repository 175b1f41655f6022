#!/usr/bin/env bash
# Prints one table of the receipts under DIR (default target/parci): program,
# verdict, receipt path; appends it as Markdown to $GITHUB_STEP_SUMMARY when set.
# Exit 1 when a receipt's verdict is fail or a file is not a receipt.
set -euo pipefail
dir=${1:-target/parci}
exec python3 - "$dir" <<'PY'
import json, os, pathlib, sys
root = pathlib.Path(sys.argv[1])
rows, bad = [], 0
for p in sorted(root.rglob("*.json")):
    try:
        r = json.loads(p.read_text())
        prog, verdict = r["tool"]["name"], r["verdict"]["status"]
    except (ValueError, KeyError, TypeError):
        prog, verdict = "?", "not a receipt"
    bad += verdict not in ("pass", "warn")
    rows.append((prog, verdict, str(p)))
if not rows:
    print(f"no receipts under {root}")
    sys.exit(1)
w = [max(len(r[i]) for r in rows + [("program", "verdict", "receipt")]) for i in range(3)]
line = lambda r: "  ".join(c.ljust(w[i]) for i, c in enumerate(r)).rstrip()
print(line(("program", "verdict", "receipt")))
print(line(tuple("-" * n for n in w)))
for r in rows:
    print(line(r))
summary = os.environ.get("GITHUB_STEP_SUMMARY")
if summary:
    with open(summary, "a") as f:
        f.write("### parci receipts\n\n| program | verdict | receipt |\n|---|---|---|\n")
        f.writelines(f"| {a} | {b} | `{c}` |\n" for a, b, c in rows)
        f.write("\n")
sys.exit(1 if bad else 0)
PY
