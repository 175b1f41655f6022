//! perf-smoke's two ways of comparing builds: instruction counts under
//! callgrind (repeatable on a busy machine) and paired runs against another
//! build (`--against`). No assertion here depends on timing: the paired
//! decision's false-alarm rate and power are measured on synthetic samples
//! in parci_core::bench::paired; these tests check counts, refusals and
//! receipts.

mod common;

use assert_cmd::Command;
use serde_json::Value as J;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

fn perf_smoke(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin("perf-smoke")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("RUST_LOG")
        .env_remove("PARCI_KERNELS")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn read(p: &Path) -> J {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

const TINY: [&str; 6] = ["--preset", "tiny", "--prompt-tokens", "4", "--tokens", "6"];

fn instructions(dir: &Path, receipt: &str, extra: &[&str]) -> (i32, String, String) {
    let mut a: Vec<&str> = TINY.to_vec();
    a.extend(["--measure", "instructions", "--receipt", receipt]);
    a.extend(extra);
    perf_smoke(dir, &a)
}

/// Two counts of the same build agree exactly in perf-smoke's own code (and
/// to 0.01% with the C library's) while another thread keeps the second
/// core busy; the receipts verify and replay; an edited count fails
/// verification, a resealed one fails the replay; a baseline of the same
/// count passes and one with 10% fewer instructions fails.
#[test]
fn instruction_counts_repeat_under_load_and_gate_a_baseline() {
    let t = tempfile::tempdir().unwrap();
    let stop = AtomicBool::new(false);
    let (a, b) = std::thread::scope(|s| {
        s.spawn(|| {
            let mut x = 0u64;
            while !stop.load(Ordering::Relaxed) {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        });
        // a 64-token prompt: with the tiny fixture's 4, the prefill is 6.7 M
        // instructions and the few thousand that vary with the heap's
        // layout are 0.03%; at 64 tokens (100 M) they are under 0.001%
        let small = [
            "--preset",
            "tiny",
            "--prompt-tokens",
            "64",
            "--tokens",
            "6",
            "--measure",
            "instructions",
        ];
        let run = |r: &str| {
            let mut a = small.to_vec();
            a.extend(["--receipt", r]);
            perf_smoke(t.path(), &a)
        };
        let a = run("a.json");
        let b = run("b.json");
        stop.store(true, Ordering::Relaxed);
        (a, b)
    });
    assert_eq!(a.0, 0, "{}{}", a.1, a.2);
    assert_eq!(b.0, 0, "{}{}", b.1, b.2);
    assert!(a.1.contains("M instructions/token"), "{}", a.1);
    let (ra, rb) = (
        read(&t.path().join("a.json")),
        read(&t.path().join("b.json")),
    );
    // the own-code counts are results: equal to the instruction
    assert_eq!(ra["results"], rb["results"]);
    assert!(
        ra["results"]["instructions"]["decode"]["instructions"]
            .as_u64()
            .unwrap()
            > 100_000
    );
    assert_eq!(ra["inputs"]["measure"], "instructions");
    assert_eq!(ra["inputs"]["threads"], 1);
    for phase in ["prefill", "decode"] {
        let n = |r: &J| {
            r["measurements"]["instructions"][phase]["instructions"]
                .as_u64()
                .unwrap()
        };
        let (x, y) = (n(&ra) as f64, n(&rb) as f64);
        assert!(x > 1e5, "{phase}: {x} instructions");
        let diff = (x - y).abs() / x;
        assert!(
            diff < 1e-4,
            "{phase}: {x} vs {y} instructions ({:.5}%)",
            diff * 100.0
        );
    }
    assert_eq!(
        ra["measurements"]["instructions"]["decode"]["tokens"],
        ra["results"]["generated_count"]
    );
    let v = Command::cargo_bin("verify-receipt")
        .unwrap()
        .current_dir(t.path())
        .args(["--replay", "a.json", "--receipt", "replay.json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{out}");
    assert!(
        !out.contains("refused"),
        "the replay compared nothing: {out}"
    );

    // a whole-count figure (a measurement) edited alone: the recorded
    // events no longer give it
    let mut cyc = ra.clone();
    let c = &mut cyc["measurements"]["instructions"]["decode"]["estimated_cycles"];
    *c = J::from(c.as_u64().unwrap() / 2);
    let path = t.path().join("cycles.json");
    std::fs::write(&path, parci_core::receipt::canonical::to_string(&cyc)).unwrap();
    let (code, msg) = common::verify_receipt(&path);
    assert_eq!(code, 1, "{msg}");
    assert!(
        msg.contains("/measurements/instructions/decode/estimated_cycles: "),
        "{msg}"
    );

    // one count edited: the digest says so
    let mut edited = ra.clone();
    edited["results"]["instructions"]["decode"]["instructions"] = J::from(123_456);
    let path = t.path().join("edited.json");
    std::fs::write(&path, parci_core::receipt::canonical::to_string(&edited)).unwrap();
    let (code, msg) = common::verify_receipt(&path);
    assert_ne!(code, 0);
    assert!(msg.contains("/digest"), "{msg}");
    // ... and resealed with its per-token figure: valid, but the replay
    // counts again and names the field
    let d = &mut edited["results"]["instructions"]["decode"];
    d["instructions_per_token"] = J::from(123_456.0 / d["tokens"].as_f64().unwrap());
    common::reseal(&mut edited);
    std::fs::write(&path, parci_core::receipt::canonical::to_string(&edited)).unwrap();
    assert_eq!(common::verify_receipt(&path).0, 0);
    let v = Command::cargo_bin("verify-receipt")
        .unwrap()
        .current_dir(t.path())
        .args(["--replay", "edited.json", "--receipt", "replay2.json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "/results/instructions/decode/instructions: replay: the recorded results say 123456"
        ),
        "{out}"
    );

    // the same count as a baseline passes at the 1% default (tiny fixture)
    let base = instructions(t.path(), "base.json", &[]);
    assert_eq!(base.0, 0, "{}{}", base.1, base.2);
    let c = instructions(t.path(), "c.json", &["--baseline", "base.json"]);
    assert_eq!(c.0, 0, "{}{}", c.1, c.2);
    let rc = read(&t.path().join("c.json"));
    assert!(
        rc["measurements"]["baseline"]["change_pct"]
            .as_f64()
            .unwrap()
            .abs()
            < 0.01
    );
    // a baseline that did 10% less work per decode token: this run regressed
    // (resealed: as a baseline it is verified, and only the own-code count
    // in results is read)
    let mut fast = read(&t.path().join("base.json"));
    let d = &mut fast["results"]["instructions"]["decode"];
    let n = (d["instructions"].as_f64().unwrap() / 1.1).round();
    d["instructions"] = J::from(n as u64);
    d["instructions_per_token"] = J::from(n / d["tokens"].as_f64().unwrap());
    common::reseal(&mut fast);
    std::fs::write(
        t.path().join("fast.json"),
        parci_core::receipt::canonical::to_string(&fast),
    )
    .unwrap();
    let d = instructions(t.path(), "d.json", &["--baseline", "fast.json"]);
    assert_eq!(d.0, 1, "{}{}", d.1, d.2);
    let rd = read(&t.path().join("d.json"));
    let reason = rd["verdict"]["reasons"][0].as_str().unwrap();
    assert!(
        reason.contains("more instructions per token in perf-smoke's own code than the baseline"),
        "{reason}"
    );
    // ... unless the limit allows it
    let e = instructions(
        t.path(),
        "e.json",
        &["--baseline", "fast.json", "--max-regression", "15"],
    );
    assert_eq!(e.0, 0, "{}{}", e.1, e.2);
}

#[test]
fn instruction_mode_refusals_are_one_line_exit_2() {
    let t = tempfile::tempdir().unwrap();
    let (code, _, err) = instructions(t.path(), "a.json", &["--threads", "2"]);
    assert_eq!(code, 2);
    assert!(err.contains("repeatable on one thread only"), "{err}");
    // a wall-clock receipt is not an instruction baseline
    let mut wall: Vec<&str> = TINY.to_vec();
    wall.extend(["--repeats", "1", "--warmup", "0", "--receipt", "wall.json"]);
    assert_eq!(perf_smoke(t.path(), &wall).0, 0);
    let (code, _, err) = instructions(t.path(), "b.json", &["--baseline", "wall.json"]);
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
    assert!(err.contains("not an instruction count"), "{err}");
    assert!(!t.path().join("b.json").exists());
    // --max-regression with nothing to compare
    let mut a: Vec<&str> = TINY.to_vec();
    a.extend(["--max-regression", "5"]);
    let (code, _, err) = perf_smoke(t.path(), &a);
    assert_eq!(code, 2);
    assert!(err.contains("nothing to compare with"), "{err}");
}

/// --against refuses a build that decodes to other outputs (a wrapper that
/// changes the prompt it is given stands for such a build), and a path that
/// is no executable.
#[cfg(unix)]
#[test]
fn against_refuses_builds_that_compute_different_things() {
    use std::os::unix::fs::PermissionsExt;
    let t = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("perf-smoke");
    let other = t.path().join("other-perf-smoke");
    // the same perf-smoke, but its prompt's first id becomes 1
    std::fs::write(
        &other,
        format!(
            "#!/bin/sh\nout=\"\"\nnext=\nfor a in \"$@\"; do\n  if [ \"$next\" = 1 ]; then a=\"1,${{a#*,}}\"; next=; fi\n  [ \"$a\" = --prompt ] && next=1\n  out=\"$out '$a'\"\ndone\neval exec '{}' $out\n",
            bin.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut a: Vec<&str> = TINY.to_vec();
    a.extend([
        "--threads",
        "1",
        "--against",
        other.to_str().unwrap(),
        "--receipt",
        "p.json",
    ]);
    let (code, out, err) = perf_smoke(t.path(), &a);
    assert_eq!((code, err.lines().count()), (2, 1), "{out}{err}");
    assert!(err.contains("they compute different things"), "{err}");
    assert!(!t.path().join("p.json").exists());

    let mut a: Vec<&str> = TINY.to_vec();
    a.extend(["--against", "no-such-perf-smoke"]);
    let (code, _, err) = perf_smoke(t.path(), &a);
    assert_eq!(code, 2);
    assert!(err.contains("no-such-perf-smoke: cannot read"), "{err}");
}

/// The same build on both sides: the receipt records every pair in the
/// order run, an interval around the estimate, and verifies. (The verdict
/// is not asserted: that is the calibrated decision's job, not a timed test.)
#[test]
fn against_records_every_pair_and_verifies() {
    let t = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("perf-smoke");
    let mut a: Vec<&str> = TINY.to_vec();
    a.extend([
        "--threads",
        "1",
        "--against",
        bin.to_str().unwrap(),
        "--pairs",
        "10",
        "--receipt",
        "p.json",
        "--bmf",
        "p.bmf",
    ]);
    let (code, out, err) = perf_smoke(t.path(), &a);
    assert!(code == 0 || code == 1, "{out}{err}");
    let r = read(&t.path().join("p.json"));
    let p = &r["measurements"]["paired"];
    let pairs = p["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 10, "--pairs 10 is the budget and the minimum");
    for (i, x) in pairs.iter().enumerate() {
        assert_eq!(x["first"], if i % 2 == 0 { "base" } else { "head" });
        let ratio = x["head_ms"].as_f64().unwrap() / x["base_ms"].as_f64().unwrap();
        assert!(((ratio - 1.0) * 100.0 - x["change_pct"].as_f64().unwrap()).abs() < 1e-9);
    }
    let c = &p["change_pct"];
    assert!(
        c["low"].as_f64() <= c["estimate"].as_f64() && c["estimate"].as_f64() <= c["high"].as_f64()
    );
    assert_eq!(r["inputs"]["against"]["path"], bin.to_str().unwrap());
    let bmf = read(&t.path().join("p.bmf"));
    let m = &bmf["perf-smoke/tiny-seed0/threads-1"]["paired-change-pct"];
    assert_eq!(m["lower_value"], c["low"]);
    assert_eq!(m["upper_value"], c["high"]);
    assert!(out.contains("99% interval"), "{out}");
    let v = Command::cargo_bin("verify-receipt")
        .unwrap()
        .current_dir(t.path())
        .arg("p.json")
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // the estimate, or one pair's time, edited alone: recomputed from the
    // pairs, it no longer agrees
    for (edit, pointer) in [
        (
            "/measurements/paired/change_pct/estimate",
            "/measurements/paired/change_pct/estimate",
        ),
        (
            "/measurements/paired/pairs/3/head_ms",
            "/measurements/paired/pairs/3/change_pct",
        ),
    ] {
        let mut e = r.clone();
        let x = e.pointer_mut(edit).unwrap();
        *x = J::from(x.as_f64().unwrap() * 1.5 + 0.5);
        let path = t.path().join("edited.json");
        std::fs::write(&path, parci_core::receipt::canonical::to_string(&e)).unwrap();
        let (code, msg) = common::verify_receipt(&path);
        assert_eq!(code, 1, "{msg}");
        assert!(msg.contains(&format!("{pointer}: ")), "{edit}: {msg}");
    }
}
