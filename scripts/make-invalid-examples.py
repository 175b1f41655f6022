#!/usr/bin/env python3
"""Regenerates receipts/examples/invalid/ from the valid fail-verdict example.

Each invalid receipt breaks exactly one rule; beside it, NAME.expect holds the
message fragment verify-receipt must print for it. Where a mutation touches
inputs or results the digest is recomputed, so the digest is not what fails.
Run from anywhere: python3 scripts/make-invalid-examples.py [--check]
With --check nothing is written: exit 1 if the committed files differ from
what this script makes (the test suite runs that).
"""
import copy
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SRC = ROOT / "receipts/examples/valid/verify-receipt-fail.json"
OUT = ROOT / "receipts/examples/invalid"


sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from receipt_digest import canonical, digest, measurements_sha256  # noqa: E402


def reseal(r):
    r["digest"] = digest(r)
    r["measurements_sha256"] = measurements_sha256(r)
    return r


def plan_cases():
    """Mutations of the plan receipts (validate-parallel, status, batch-create, run-parallel)."""
    out = {}

    def mutate(src, name, expect, fn):
        r = json.loads((ROOT / "receipts/examples/valid" / src).read_text())
        assert reseal(copy.deepcopy(r)) == r
        fn(r)
        out[name] = (canonical(reseal(r)), expect)

    mutate("validate-parallel-cycles.json", "validate-parallel-counts-mismatch", "counts add up to 4 but errors + warnings = 5",
           lambda r: r["results"].update(errors=4))
    mutate("validate-parallel-cycles.json", "validate-parallel-open-cycle", "a cycle path must end where it starts",
           lambda r: r["results"]["cycles"][0].pop())
    mutate("validate-parallel-cycles.json", "validate-parallel-unknown-rule", "/results/findings/0/rule",
           lambda r: r["results"]["findings"][0].update(rule="vibes"))
    mutate("status-example.json", "status-count-mismatch", "counts.complete = 3 but 2 statuses say complete",
           lambda r: r["results"]["counts"].update(complete=3))
    mutate("status-example.json", "status-next-batch-not-startable", "1.1 is in the next batch but is complete",
           lambda r: r["results"]["next_batch"].append("1.1"))
    mutate("status-example.json", "status-bad-status", "/results/statuses/1.1",
           lambda r: r["results"]["statuses"].update({"1.1": "done"}))
    mutate("batch-create-dry-run.json", "batch-create-dry-run-created", "a dry run created files",
           lambda r: r["results"]["created"].append({k: r["results"]["to_create"][0][k] for k in ("path", "bytes", "sha256")}))

    def succeeded_after_failure(r):
        r["results"]["tasks"]["release"].update(status="succeeded", because=None)
        r["results"]["totals"]["succeeded"] += 1
        r["results"]["totals"]["skipped"] -= 1

    mutate("run-parallel-keep-going.json", "run-parallel-totals-mismatch", "totals.failed = 2 but 1 tasks are failed",
           lambda r: r["results"]["totals"].update(failed=2))
    mutate("run-parallel-keep-going.json", "run-parallel-succeeded-after-failed-dependency",
           "release succeeded although its dependency test is failed", succeeded_after_failure)
    mutate("run-parallel-keep-going.json", "run-parallel-bad-status", "/results/tasks/test/status",
           lambda r: r["results"]["tasks"]["test"].update(status="exploded"))
    mutate("run-parallel-keep-going.json", "run-parallel-makespan-edited",
           "speedup is", lambda r: r["measurements"].update(makespan_ms=r["measurements"]["makespan_ms"] / 2))
    mutate("run-parallel-keep-going.json", "run-parallel-duration-edited",
           "task_ms_total is", lambda r: r["measurements"]["durations_ms"].update(build=0.5))
    return out


def main():
    base = json.loads(SRC.read_text())
    assert reseal(copy.deepcopy(base)) == base, "python canonical form disagrees"
    assert base["verdict"]["status"] == "fail" and base["results"]["summary"]["invalid"] > 0
    text = canonical(base)
    cases = {}
    cases.update(plan_cases())

    def mutate(name, expect, fn, seal=True):
        r = copy.deepcopy(base)
        fn(r)
        cases[name] = (canonical(reseal(r) if seal else r), expect)

    cases["empty"] = ("", "file is empty")
    cases["truncated"] = (text[: len(text) // 2], "not valid JSON: EOF while parsing")
    cases["not-an-object"] = ("[]\n", "missing string field `schema`")
    cases["duplicate-key"] = (text.replace('{\n  "digest"', '{\n  "verdict": {},\n  "digest"', 1), 'duplicate key "verdict"')
    cases["number-out-of-range"] = (text.replace('"bytes_read": ', '"bytes_read": 1e999, "x": ', 1), "number out of range")
    raw = text.encode().replace(b'"host": {', b'"host": {"\xff": 1, ', 1)
    mutate("unknown-kind", 'unknown kind "parci.nope"', lambda r: r.update(schema="parci.nope"))
    mutate("unsupported-version", 'unsupported schema_version "2.0.0"', lambda r: r.update(schema_version="2.0.0"))
    mutate("digest-mismatch", "digest mismatch", lambda r: r["inputs"].update(kind="parci.verify-receipt"), seal=False)
    mutate("missing-digest", '"digest" is a required property', lambda r: r.pop("digest"), seal=False)
    mutate("bad-verdict-status", "/verdict/status", lambda r: r["verdict"].update(status="maybe"))
    mutate("bad-input-sha256", "/inputs/files/0/sha256", lambda r: r["inputs"]["files"][0].update(sha256="not-a-hash"))
    mutate("bad-commit", "/source/commit", lambda r: r["source"].update(commit="HEAD~1"))
    mutate("extra-field", "Additional properties are not allowed ('created' was unexpected)", lambda r: r.update(created="yesterday"))
    mutate("zero-cpus", "/host/logical_cpus", lambda r: r["host"].update(logical_cpus=0))
    mutate("summary-inconsistent", "summary says total = 7 but results/files lists 2", lambda r: r["results"]["summary"].update(total=7))
    mutate("verdict-contradicts-results", 'verdict is "pass" but 2 of 2 files are invalid', lambda r: r.update(verdict={"status": "pass", "reasons": []}))
    mutate("fail-without-reason", 'verdict is "fail" but gives no reason', lambda r: r["verdict"].update(reasons=[]))
    mutate("tool-not-kind", 'tool.name is "perf-smoke"', lambda r: r["tool"].update(name="perf-smoke"))
    mutate("measurement-wrong-type", "/measurements/elapsed_ms", lambda r: r["measurements"].update(elapsed_ms="fast"))
    # The seal on measurements (schema 1.1.0): an edit made without hashing again.
    mutate("measurement-edited", "/measurements/elapsed_ms: edited after the receipt was written",
           lambda r: r["measurements"].update(elapsed_ms=r["measurements"]["elapsed_ms"] / 10), seal=False)
    mutate("measurement-added", "/measurements/cpu_ms: added after the receipt was written",
           lambda r: r["measurements"].update(cpu_ms=1.0), seal=False)
    mutate("measurements-unsealed", '"measurements_sha256" is a required property',
           lambda r: r.pop("measurements_sha256"), seal=False)

    dump = json.loads((ROOT / "receipts/examples/valid/gguf-dump-tiny.json").read_text())
    assert reseal(copy.deepcopy(dump)) == dump

    def mutate_dump(name, expect, fn):
        r = copy.deepcopy(dump)
        fn(r)
        cases[name] = (canonical(reseal(r)), expect)

    mutate_dump("gguf-dump-count-mismatch", "counts.tensors = 22 but 21 tensors are listed",
                lambda r: r["results"]["counts"].update(tensors=22))
    mutate_dump("gguf-dump-histogram-mismatch", "histogram says 2 F32 tensors",
                lambda r: r["results"]["type_histogram"]["F32"].update(tensors=2))
    mutate_dump("gguf-dump-bad-version", "/results/version",
                lambda r: r["results"].update(version=1))

    par = json.loads((ROOT / "receipts/examples/valid/parity-smollm2.json").read_text())
    assert reseal(copy.deepcopy(par)) == par

    def edit_kl(r):
        r["results"]["per_position"][3]["kl"] = 0.5

    r = copy.deepcopy(par)
    edit_kl(r)
    cases["parity-position-edited"] = (canonical(reseal(r)), "summary.kl_mean is")

    smoke = json.loads((ROOT / "receipts/examples/valid/perf-smoke-tiny.json").read_text())
    assert reseal(copy.deepcopy(smoke)) == smoke

    def mutate_smoke(name, expect, fn, seal=True):
        r = copy.deepcopy(smoke)
        fn(r)
        cases[name] = (canonical(reseal(r) if seal else r), expect)

    def rename_kernel(r):
        k = r["results"]["kernels"]
        k["tq2_0_dot_q8k_turbo"] = k.pop("tq2_0_dot_q8k_scalar")

    def avx512_without_host(r):
        k = r["results"]["kernels"]
        k["tq2_0_dot_q8k_avx512"] = k.pop("tq2_0_dot_q8k_scalar")
        r["results"]["isa"] = "avx512"
        r["host"]["cpu_features"] = [f for f in r["host"]["cpu_features"] if not f.startswith("avx512")]

    def first_token(r):
        r["results"]["generated"][0] += 1

    def eog_without_flag(r):
        r["results"]["stop"] = {"reason": "eog", "token": 2}

    mutate_smoke("perf-smoke-token-edited", "digest mismatch", first_token, seal=False)
    mutate_smoke("perf-smoke-eog-without-flag",
                 "decoding stopped at an end-of-generation token but inputs.stop_at_eog is not set",
                 eog_without_flag)
    mutate_smoke("perf-smoke-kernel-renamed", 'kernel "tq2_0_dot_q8k_turbo" is not a kernel of this build', rename_kernel)
    mutate_smoke("perf-smoke-avx512-on-host-without", "kernel tq2_0_dot_q8k_avx512 needs CPU features avx512f", avx512_without_host)
    mutate_smoke("perf-smoke-count-mismatch", "7 tokens generated but inputs.tokens asks for 8",
                 lambda r: r["results"].update(generated=r["results"]["generated"][:7], generated_count=7))
    mutate_smoke("perf-smoke-no-kernels", "no kernel ran", lambda r: r["results"].update(kernels={}))
    mutate_smoke("perf-smoke-no-quantized-kernel", "the model has quantized tensors (Q8_0, TQ2_0) but no quantized-weight kernel ran",
                 lambda r: r["results"].update(kernels={"f32_dot_f32_scalar": 100}))
    mutate_smoke("perf-smoke-zero-rate", "/measurements/decode_tok_s", lambda r: r["measurements"].update(decode_tok_s=0))
    mutate_smoke("perf-smoke-rate-edited", "/measurements/decode_tok_s is 99999 but the median of the recorded runs gives",
                 lambda r: r["measurements"].update(decode_tok_s=99999))

    def step_edited(r):
        r["measurements"]["runs"][0]["per_token_ms"][0] /= 10

    mutate_smoke("perf-smoke-step-edited", "/measurements/decode_tok_s_runs/0 is", step_edited)
    mutate_smoke("perf-smoke-load-ms-edited", "/measurements/load_ms: edited after the receipt was written",
                 lambda r: r["measurements"].update(load_ms=r["measurements"]["load_ms"] / 2), seal=False)
    mutate_smoke("perf-smoke-p90-edited", "/measurements/per_token_ms/p90 is",
                 lambda r: r["measurements"]["per_token_ms"].update(p90=r["measurements"]["per_token_ms"]["p90"] / 2))

    flame = json.loads((ROOT / "receipts/examples/valid/flamegraph-tiny.json").read_text())
    assert reseal(copy.deepcopy(flame)) == flame

    def mutate_flame(name, expect, fn):
        r = copy.deepcopy(flame)
        fn(r)
        cases[name] = (canonical(reseal(r)), expect)

    def self_rows_repeated(r):
        rows = r["results"]["profiles"][0]["top_self"]
        r["results"]["profiles"][0]["top_self"] = [copy.deepcopy(rows[0]) for _ in range(8)]

    def percent_off(r):
        r["results"]["profiles"][0]["top_self"][0]["percent"] += 1

    mutate_flame("flamegraph-zero-weight", "/results/profiles/0/weight",
                 lambda r: r["results"]["profiles"][0].update(weight=0))
    mutate_flame("flamegraph-percent-over-100", "/results/profiles/0/top_inclusive/0/percent",
                 lambda r: r["results"]["profiles"][0]["top_inclusive"][0].update(percent=100.5))
    mutate_flame("flamegraph-total-time-edited", "the sampled runs, folds and renders it lists take",
                 lambda r: r["measurements"].update(total_ms=1.0))
    mutate_flame("flamegraph-self-sum-over-100", "a stack has one leaf, so they sum to at most 100", self_rows_repeated)
    top = flame["results"]["profiles"][0]
    mutate_flame("flamegraph-percent-inconsistent",
                 f'{top["top_self"][0]["weight"]} of {top["weight"]} {top["weight_unit"]} is', percent_off)

    files = {"invalid-utf8.json": raw, "invalid-utf8.expect": b"not valid JSON\n"}
    for name, (body, expect) in cases.items():
        files[f"{name}.json"] = body.encode()
        files[f"{name}.expect"] = (expect + "\n").encode()

    if "--check" in sys.argv[1:]:
        on_disk = {p.name: p.read_bytes() for p in OUT.iterdir()} if OUT.exists() else {}
        stale = sorted(n for n in files.keys() | on_disk.keys() if files.get(n) != on_disk.get(n))
        if stale:
            print("out of date (run scripts/make-invalid-examples.py):", ", ".join(stale))
            sys.exit(1)
        print(f"{len(files) // 2} invalid examples are up to date")
        return
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    for name, data in sorted(files.items()):
        (OUT / name).write_bytes(data)
    print(f"wrote {len(files) // 2} invalid examples to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
