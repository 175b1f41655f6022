//! verify-receipt: every exit code, every flag, the examples, hostile input.
mod common;

use assert_cmd::Command;
use std::fs;
use std::path::Path;

/// verify-receipt run from the repo root, writing its receipt to `receipt`.
fn vr_to(receipt: &Path) -> Command {
    let mut c = Command::cargo_bin("verify-receipt").unwrap();
    c.current_dir(common::root())
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("RUST_LOG")
        .arg("--receipt")
        .arg(receipt);
    c
}

/// verify-receipt writing its receipt to `dir/out.json`.
fn vr(dir: &Path) -> Command {
    vr_to(&dir.join("out.json"))
}

fn run(c: &mut Command) -> (i32, String, String) {
    let o = c.output().unwrap();
    (
        o.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn valid_examples_pass_and_the_receipt_verifies() {
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(vr(t.path()).arg("receipts/examples/valid"));
    assert_eq!(code, 0, "{out}{err}");
    let n = std::fs::read_dir(common::root().join("receipts/examples/valid"))
        .unwrap()
        .count();
    assert!(n >= 3);
    assert!(
        out.contains(&format!("{n} files: {n} valid, 0 invalid")),
        "{out}"
    );
    // Its own receipt is a valid parci.verify-receipt receipt.
    let (code, out, _) = run(vr_to(&t.path().join("again.json"))
        .arg("--kind")
        .arg("parci.verify-receipt")
        .arg(t.path().join("out.json")));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn each_invalid_example_fails_for_its_documented_reason() {
    let dir = common::root().join("receipts/examples/invalid");
    let mut n = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let expect = fs::read_to_string(p.with_extension("expect"))
            .unwrap_or_else(|_| panic!("{} has no .expect beside it", p.display()));
        let t = tempfile::tempdir().unwrap();
        let (code, out, err) = run(vr(t.path()).arg(&p));
        assert_eq!(code, 1, "{}: {out}{err}", p.display());
        assert!(
            out.contains(expect.trim()),
            "{}: expected {:?} in\n{out}",
            p.display(),
            expect.trim()
        );
        assert!(!err.contains("panicked"), "{err}");
        // The receipt records the failure too.
        let r: serde_json::Value =
            serde_json::from_slice(&fs::read(t.path().join("out.json")).unwrap()).unwrap();
        assert_eq!(r["verdict"]["status"], "fail");
        assert_eq!(r["results"]["files"][0]["status"], "invalid");
        n += 1;
    }
    assert!(n >= 12, "only {n} invalid examples");
}

#[test]
fn mixed_directory_exits_1_and_counts_both() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("mix");
    fs::create_dir_all(d.join("sub")).unwrap();
    fs::copy(
        common::root().join("receipts/examples/valid/verify-receipt-pass.json"),
        d.join("a.json"),
    )
    .unwrap();
    fs::write(d.join("sub/b.json"), "{").unwrap();
    fs::write(d.join("notes.txt"), "not a receipt, not *.json").unwrap();
    let (code, out, _) = run(vr(t.path()).arg(&d));
    assert_eq!(code, 1);
    assert!(out.contains("2 files: 1 valid, 1 invalid"), "{out}");
    let a = out.find("a.json").unwrap();
    let b = out.find("sub/b.json").unwrap();
    assert!(a < b, "files are reported in sorted order");
}

#[test]
fn usage_and_io_errors_exit_2_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    let empty = t.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["does/not/exist.json".into()],
            "does/not/exist.json: No such file",
        ),
        (vec![empty.to_string_lossy().into()], "nothing to verify"),
        (
            vec![
                "--kind".into(),
                "parci.nope".into(),
                "receipts/examples/valid".into(),
            ],
            "not a kind this build knows",
        ),
        (
            vec!["--format".into(), "yaml".into()],
            "invalid value 'yaml'",
        ),
    ];
    for (args, want) in cases {
        let (code, out, err) = run(vr(t.path()).args(&args));
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
        if !args.contains(&"--format".to_string()) {
            assert_eq!(err.lines().count(), 1, "one line: {err}");
        }
    }
}

#[test]
fn kind_filter_rejects_other_kinds() {
    let t = tempfile::tempdir().unwrap();
    let (code, out, _) = run(vr(t.path()).args([
        "--kind",
        "parci.verify-receipt",
        "receipts/examples/valid/verify-receipt-pass.json",
        "receipts/examples/valid/verify-receipt-fail.json",
    ]));
    assert_eq!(code, 0, "{out}");
    let (code, out, _) =
        run(vr(t.path()).args(["--kind", "parci.verify-receipt", "receipts/examples/valid"]));
    assert_eq!(code, 1, "the gguf-dump example is another kind: {out}");
    assert!(out.contains("gguf-dump-tiny.json:"), "{out}");
    // A receipt of the right shape but declared as another (unknown) kind.
    let (code, out, _) = run(vr(t.path()).args([
        "--kind",
        "parci.verify-receipt",
        "receipts/examples/invalid/unknown-kind.json",
    ]));
    assert_eq!(code, 1);
    assert!(
        out.contains("expected \"parci.verify-receipt\" (--kind)"),
        "{out}"
    );
}

#[test]
fn json_format_and_stdout_receipt() {
    let t = tempfile::tempdir().unwrap();
    let (code, out, _) = run(vr(t.path()).args(["--format", "json", "receipts/examples/valid"]));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "parci.verify-receipt");
    assert_eq!(out, fs::read_to_string(t.path().join("out.json")).unwrap());

    let mut c = Command::cargo_bin("verify-receipt").unwrap();
    let o = c
        .current_dir(common::root())
        .args(["--receipt", "-", "--quiet", "receipts/examples/valid"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["results"]["summary"]["invalid"], 0);
    assert!(v["results"]["summary"]["valid"].as_u64().unwrap() >= 3);
}

#[test]
fn quiet_prints_nothing_on_success() {
    let t = tempfile::tempdir().unwrap();
    let (code, out, err) = run(vr(t.path()).args(["-q", "receipts/examples/valid"]));
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn two_runs_give_identical_receipts_apart_from_measurements() {
    let t = tempfile::tempdir().unwrap();
    let mut texts = Vec::new();
    for name in ["1.json", "2.json"] {
        let (code, ..) = run(vr_to(&t.path().join(name))
            .args(["receipts/examples/valid", "receipts/examples/invalid"]));
        assert_eq!(code, 1);
        texts.push(fs::read_to_string(t.path().join(name)).unwrap());
    }
    assert_eq!(
        common::without_measurements(&texts[0]),
        common::without_measurements(&texts[1])
    );
    // Byte-identical apart from the measurements block and its seal.
    let strip = |s: &str| {
        let a = s.find("  \"measurements\": {").unwrap();
        let b = a + s[a..].find("\n  },\n  \"results\"").unwrap();
        format!("{}{}", &s[..a], &s[b..])
    };
    assert_eq!(strip(&texts[0]), strip(&texts[1]));
}

#[test]
fn github_annotations_and_step_summary() {
    let t = tempfile::tempdir().unwrap();
    let summary = t.path().join("summary.md");
    fs::write(&summary, "before\n").unwrap();
    let (code, out, _) = run(vr(t.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .arg("receipts/examples/invalid/zero-cpus.json"));
    assert_eq!(code, 1);
    assert!(
        out.contains("::error file=receipts/examples/invalid/zero-cpus.json,line=29,title=verify-receipt::/host/logical_cpus: schema: 0 is less than the minimum of 1"),
        "{out}"
    );
    let md = fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("before\n### verify-receipt"), "{md}");
    assert!(
        md.contains(
            "| receipts/examples/invalid/zero-cpus.json | parci.verify-receipt | **invalid** |"
        ),
        "{md}"
    );
}

#[test]
fn receipt_write_failure_is_a_usage_error() {
    let t = tempfile::tempdir().unwrap();
    let blocker = t.path().join("file");
    fs::write(&blocker, "x").unwrap();
    let (code, _, err) = run(Command::cargo_bin("verify-receipt")
        .unwrap()
        .current_dir(common::root())
        .arg("--receipt")
        .arg(blocker.join("r.json"))
        .arg("receipts/examples/valid"));
    assert_eq!(code, 2);
    assert!(err.contains("cannot write the receipt"), "{err}");
}

/// Hostile inputs: each exits 1 with one finding line and no panic, and no run
/// holds more than 200 MB resident (checked from the kernel's accounting of
/// finished children, so no timing is involved).
#[test]
fn hostile_inputs_fail_cleanly_and_stay_small() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let big = d.join("big.json");
    fs::File::create(&big).unwrap().set_len(100 << 20).unwrap();
    let deep = d.join("deep.json");
    fs::write(&deep, "[".repeat(100_000) + &"]".repeat(100_000)).unwrap();
    let deep_obj = d.join("deep-obj.json");
    fs::write(&deep_obj, "{\"a\":".repeat(100_000)).unwrap();
    let long = d.join("long-string.json");
    fs::write(
        &long,
        format!("{{\"schema\": \"{}\"}}", "x".repeat(15 << 20)),
    )
    .unwrap();
    let cases = [
        (big, "capped at 16777216 bytes"),
        (deep, "recursion limit exceeded"),
        (deep_obj, "recursion limit exceeded"),
        (long, "unknown kind"),
    ];
    for (p, want) in &cases {
        let (code, out, err) = run(vr(d).arg(p));
        assert_eq!(code, 1, "{}: {out}{err}", p.display());
        assert!(out.contains(want), "{}: {out}", p.display());
        assert_eq!(out.lines().count(), 2, "one finding line + summary: {out}");
        assert!(!err.contains("panicked"));
    }
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage only writes into the struct we pass.
    assert_eq!(
        unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) },
        0
    );
    let max_rss_mb = ru.ru_maxrss / 1024; // Linux reports KiB
    assert!(max_rss_mb < 200, "a child used {max_rss_mb} MB resident");
}

/// --attestation at the command line: a published GitHub attestation
/// (lib/tests/data/sigstore) given for one of parci's receipts is refused
/// in one line naming the subject it does attest; the flags' misuse exits 2.
/// (That the same bundle verifies for its own subject, and each broken
/// variant's reason, is lib/tests/attest.rs.)
#[test]
fn attestation_of_another_subject_fails_and_misuse_exits_2() {
    let t = tempfile::tempdir().unwrap();
    let bundle = "lib/tests/data/sigstore/conda-attestation.sigstore.json";
    let receipt = "receipts/examples/valid/perf-smoke-instructions-tiny.json";
    let (code, out, err) = run(vr(t.path()).args([
        receipt,
        "--attestation",
        bundle,
        "--signer-workflow",
        "octo/parci/.github/workflows/ci.yml",
    ]));
    assert_eq!(code, 1, "{out}{err}");
    let fail: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fail.len(), 1, "{out}");
    assert!(
        fail[0].contains(&format!("attestation {bundle}: the bundle attests signed-package-2.1.0-hb0f4dca_0.conda (sha256 54303491a8418fbe), not this file")),
        "{out}"
    );
    let own: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(t.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(own["inputs"]["attestation"]["bundle"]["path"], bundle);
    assert_eq!(
        own["inputs"]["attestation"]["signer_workflow"],
        "octo/parci/.github/workflows/ci.yml"
    );
    assert_eq!(
        own["results"]["files"][0]["attested"],
        serde_json::Value::Null
    );

    for (args, says) in [
        (
            vec!["receipts/examples/valid", "--attestation", bundle],
            "a bundle attests one receipt",
        ),
        (
            vec![receipt, "--attestation", "no/such.sigstore.json"],
            "no/such.sigstore.json: cannot read",
        ),
        (
            vec![receipt, "--attestation", receipt],
            "not a Sigstore bundle",
        ),
        (
            vec![
                receipt,
                "--signer-workflow",
                "octo/parci/.github/workflows/ci.yml",
            ],
            "pass --attestation BUNDLE too",
        ),
        (
            vec![receipt, "--attestation", bundle, "--trusted-root", receipt],
            "not a Sigstore trusted root",
        ),
    ] {
        let (code, out, err) = run(vr(t.path()).args(&args));
        assert_eq!((code, err.lines().count()), (2, 1), "{args:?}: {out}{err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    let (code, _, err) = run(vr(t.path()).args([
        receipt,
        "--attestation",
        bundle,
        "--signer-workflow",
        "octo/parci/ci.yml",
    ]));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is not OWNER/REPO/.github/workflows/FILE[@REF]"),
        "{err}"
    );
}

/// verify-receipt's own `bytes_read` is the sum of the listed files' sizes:
/// edited alone, it fails.
#[test]
fn bytes_read_follows_from_the_files() {
    let t = tempfile::tempdir().unwrap();
    let own = t.path().join("own.json");
    let (code, out, err) = run(vr_to(&own).arg("receipts/examples/valid"));
    assert_eq!(code, 0, "{out}{err}");
    let mut doc: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&own).unwrap()).unwrap();
    let b = &mut doc["measurements"]["bytes_read"];
    *b = serde_json::Value::from(b.as_u64().unwrap() + 1);
    fs::write(&own, parci_core::receipt::canonical::to_string(&doc)).unwrap();
    let (code, msg) = common::verify_receipt(&own);
    assert_eq!(code, 1, "{msg}");
    assert!(msg.contains("/measurements/bytes_read: "), "{msg}");
}
