//! run-parallel's task cache on a real plan folder: a second run executes
//! nothing and restores every output byte for byte; changing one input
//! reruns exactly that task and its dependents; --explain names the file;
//! a damaged entry is a miss with a warning, never a failure.

mod common;

use assert_cmd::Command;
use serde_json::Value as J;
use std::path::Path;

fn plan(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(dir.join("src/a.txt"), "alpha\n").unwrap();
    std::fs::write(dir.join("src/b.txt"), "beta\n").unwrap();
    // each task appends to runs.log, so what ran is visible
    std::fs::write(
        dir.join("parallel.json"),
        r#"{"plan_name": "cache", "achievements": [
 {"achievement_id": "upper", "dependencies": [], "inputs": ["src/a.txt"], "outputs": ["out/upper.txt"],
  "command": "echo upper >> runs.log && mkdir -p out && tr a-z A-Z < src/a.txt > out/upper.txt && echo made upper"},
 {"achievement_id": "count", "dependencies": [], "inputs": ["src/b.txt"], "outputs": ["out/count.txt", "out/bin"],
  "command": "echo count >> runs.log && mkdir -p out && wc -c < src/b.txt > out/count.txt && printf '#!/bin/sh\\n' > out/bin && chmod 755 out/bin"},
 {"achievement_id": "join", "dependencies": ["upper", "count"], "inputs": ["out/upper.txt", "out/count.txt"], "outputs": ["out/join.txt"],
  "command": "echo join >> runs.log && cat out/upper.txt out/count.txt > out/join.txt"},
 {"achievement_id": "done", "dependencies": ["join"]}
]}"#,
    )
    .unwrap();
}

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let o = Command::cargo_bin("run-parallel")
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("CI", "true")
        .args(args)
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Which tasks ran since the last call (and empties the record).
fn ran(dir: &Path) -> Vec<String> {
    let p = dir.join("runs.log");
    let text = std::fs::read_to_string(&p).unwrap_or_default();
    let _ = std::fs::remove_file(&p);
    let mut v: Vec<String> = text.lines().map(str::to_string).collect();
    v.sort();
    v
}

fn outputs(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    ["out/upper.txt", "out/count.txt", "out/bin", "out/join.txt"]
        .iter()
        .map(|p| {
            let f = dir.join(p);
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            (p.to_string(), std::fs::read(&f).unwrap(), mode)
        })
        .collect()
}

#[test]
fn unchanged_tasks_are_restored_and_changed_ones_rerun_with_their_dependents() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    plan(d);
    let (code, out, err) = run(d, &["-q", "--receipt", "r1.json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), ["count", "join", "upper"]);
    let first = outputs(d);

    // second run: nothing executes, every output comes back byte-identical
    std::fs::remove_dir_all(d.join("out")).unwrap();
    let (code, out, err) = run(d, &["--receipt", "r2.json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), Vec::<String>::new(), "no task ran");
    assert_eq!(outputs(d), first);
    assert!(out.contains("3 cached"), "{out}");
    assert!(
        out.contains("made upper"),
        "the cached log is replayed: {out}"
    );
    let r: J = serde_json::from_str(&std::fs::read_to_string(d.join("r2.json")).unwrap()).unwrap();
    assert_eq!(r["results"]["totals"]["cached"], 3);
    assert_eq!(r["results"]["tasks"]["upper"]["status"], "cached");
    let v = Command::cargo_bin("verify-receipt")
        .unwrap()
        .current_dir(d)
        .arg("r2.json")
        .output()
        .unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));

    // one input changes: --explain names it, and only it and its dependents run
    std::fs::write(d.join("src/a.txt"), "alpha two\n").unwrap();
    let (_, explained, _) = run(d, &["--explain", "upper"]);
    assert_eq!(explained.trim(), "input src/a.txt changed");
    let (code, out, err) = run(d, &["-q"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), ["join", "upper"]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/join.txt")).unwrap(),
        "ALPHA TWO\n5\n"
    );

    // the dry run lists keys and hits
    let (_, json, _) = run(d, &["--dry-run", "--format", "json"]);
    let j: J = serde_json::from_str(&json).unwrap();
    let tasks = j["tasks"].as_array().unwrap();
    assert!(
        tasks
            .iter()
            .all(|t| t["id"] == "done" || t["cached"] == true),
        "{j}"
    );
    assert!(tasks[0]["key"].as_str().unwrap().starts_with("sha256:"));

    // --no-cache runs everything; --cache read stores nothing new
    let (code, _, _) = run(d, &["-q", "--no-cache"]);
    assert_eq!(code, 0);
    assert_eq!(ran(d), ["count", "join", "upper"]);
}

#[test]
fn a_damaged_entry_is_a_miss_with_a_warning_and_edited_outputs_are_kept() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    plan(d);
    assert_eq!(run(d, &["-q"]).0, 0);
    ran(d);
    // cut every artifact in half
    for e in std::fs::read_dir(d.join(".parci/cache")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "zst") {
            let b = std::fs::read(&p).unwrap();
            std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        }
    }
    let (code, out, err) = run(d, &["--receipt", "r.json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), ["count", "join", "upper"], "misses: everything ran");
    assert!(
        err.contains("is damaged") && err.contains("running the task"),
        "{err}"
    );
    let r: J = serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["verdict"]["status"], "warn");

    // an output edited by hand is kept on a hit, unless --force-restore
    std::fs::write(d.join("out/upper.txt"), "mine\n").unwrap();
    let (code, _, err) = run(d, &["-q"]);
    assert_eq!(code, 0);
    assert!(err.contains("were kept: out/upper.txt"), "{err}");
    assert_eq!(
        std::fs::read_to_string(d.join("out/upper.txt")).unwrap(),
        "mine\n"
    );
    run(d, &["-q", "--force-restore"]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/upper.txt")).unwrap(),
        "ALPHA\n"
    );
}

/// --trace writes the run in the Chrome trace event format: checked by
/// check-jsonschema against the format's documented shape, one complete
/// event per task, cache hits in category `cached`.
#[test]
fn trace_is_chrome_trace_event_format() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    plan(d);
    assert_eq!(run(d, &["-q", "--trace", "t1.json"]).0, 0);
    assert_eq!(run(d, &["-q", "--trace", "t2.json"]).0, 0);
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chrome-trace.schema.json");
    for f in ["t1.json", "t2.json"] {
        let o = std::process::Command::new(common::venv_bin("check-jsonschema"))
            .arg("--schemafile")
            .arg(&schema)
            .arg(d.join(f))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let j: J = serde_json::from_str(&std::fs::read_to_string(d.join("t2.json")).unwrap()).unwrap();
    let spans: Vec<&J> = j["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(
        spans.len(),
        3,
        "the three tasks (the milestone has no span)"
    );
    assert!(spans
        .iter()
        .all(|e| e["cat"] == "cached" && e["args"]["cached"] == true));
}

/// --affected BASE runs the tasks whose inputs changed since BASE (here an
/// uncommitted edit) and their dependents; the rest are excluded.
#[test]
fn affected_runs_changed_tasks_and_their_dependents() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    plan(d);
    let git = |args: &[&str]| {
        let o = std::process::Command::new("git")
            .current_dir(d)
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(
        d.join(".gitignore"),
        "out/\n.parci/\nruns.log\ntarget/\n*.json\n!parallel.json\n",
    )
    .unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "base"]);
    // a first full run leaves the outputs (ignored by git) in place
    assert_eq!(run(d, &["-q", "--no-cache"]).0, 0);
    ran(d);
    // nothing changed: nothing runs
    let (code, out, err) = run(d, &["-q", "--no-cache", "--affected", "HEAD"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), Vec::<String>::new());
    // b.txt edited: count and its dependent join run, upper does not
    std::fs::write(d.join("src/b.txt"), "beta beta\n").unwrap();
    let (code, out, err) = run(
        d,
        &["--no-cache", "--affected", "HEAD", "--receipt", "a.json"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), ["count", "join"]);
    assert_eq!(
        std::fs::read_to_string(d.join("out/join.txt")).unwrap(),
        "ALPHA\n10\n"
    );
    let r: J = serde_json::from_str(&std::fs::read_to_string(d.join("a.json")).unwrap()).unwrap();
    assert_eq!(r["results"]["tasks"]["upper"]["status"], "excluded");
    assert_eq!(r["inputs"]["affected"], "HEAD");
    let (code, _, err) = run(d, &["--affected", "no-such-branch"]);
    assert_eq!(code, 2);
    assert!(err.contains("not a commit of this repository"), "{err}");
}

/// Resource budgets: three tasks that each need 2 CPUs run one at a time
/// under --cpus 2 at -j 3 (each holds a lock directory and fails if another
/// holds it: an overlap fails the run, whatever the timing); the dry run
/// simulates the same rule; a task larger than the budget is refused before
/// anything runs.
#[test]
fn tasks_start_only_when_their_declared_resources_fit() {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    let task = |id: &str| {
        format!(
            r#"{{"achievement_id": "{id}", "dependencies": [], "cpus": 2, "memory_mb": 100, "estimated_hours": 1,
                "command": "mkdir held || exit 9; sleep 0.2; echo {id} >> runs.log; rmdir held"}}"#
        )
    };
    std::fs::write(
        d.join("parallel.json"),
        format!(
            r#"{{"plan_name": "res", "achievements": [{}, {}, {}]}}"#,
            task("x"),
            task("y"),
            task("z")
        ),
    )
    .unwrap();
    let (code, out, err) = run(d, &["-q", "-j", "3", "--cpus", "2", "--receipt", "r.json"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(ran(d), ["x", "y", "z"]);
    let r: J = serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["inputs"]["budget"]["cpus"], 2.0);
    // the dry run: one at a time under the budget, all at once without
    let (_, one, _) = run(d, &["--dry-run", "-j", "3", "--cpus", "2"]);
    let (_, all, _) = run(d, &["--dry-run", "-j", "3", "--cpus", "6"]);
    let makespan = |s: &str| {
        s.lines()
            .find(|l| l.contains("makespan"))
            .unwrap_or("")
            .to_string()
    };
    assert_ne!(makespan(&one), makespan(&all), "{one}\n{all}");
    // larger than the whole budget: refused, nothing runs
    let (code, _, err) = run(d, &["-q", "--cpus", "1"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("x needs 2 CPUs"), "{err}");
    assert_eq!(ran(d), Vec::<String>::new());
    let (code, _, err) = run(d, &["-q", "--memory", "50"]);
    assert_eq!(code, 2, "{err}");
}
