//! The executor end to end: real processes, the state they leave, resume.

use super::*;
use crate::plan::dag::id_index;
use crate::plan::model::Achievement;
use crate::plan::{Dag, Plan};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub(super) fn plan(items: &[(&str, &[&str], Option<&str>)]) -> Plan {
    let a: Vec<serde_json::Value> = items
        .iter()
        .map(|(id, deps, cmd)| {
            let mut v = serde_json::json!({"achievement_id": id, "dependencies": deps});
            if let Some(c) = cmd {
                v["command"] = serde_json::json!(c);
            }
            v
        })
        .collect();
    Plan::parse_text(&serde_json::json!({"plan_name": "t", "achievements": a}).to_string()).unwrap()
}

fn go(p: &Plan, dir: &Path, keep_going: bool, resume: bool) -> Outcome {
    go_with(p, dir, keep_going, resume, &mut NoHooks)
}

fn go_with(p: &Plan, dir: &Path, keep_going: bool, resume: bool, hooks: &mut dyn Hooks) -> Outcome {
    let dag = Dag::from_plan_with(p, &id_index(p));
    let order = dag.topo_order().unwrap();
    let opts = Options {
        keep_going,
        resume,
        retry_backoff: Duration::ZERO,
        ..Options::new(
            2,
            dir.join("logs"),
            dir.join(".parci/run-state.json"),
            dir.to_path_buf(),
        )
    };
    let prev = StateFile::load(&opts.state_path).unwrap();
    run(p, &dag, &order, prev.as_ref(), &opts, hooks).unwrap()
}

#[test]
fn argv_commands_get_their_env_and_cwd_without_a_shell() {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir(t.path().join("sub")).unwrap();
    let p = Plan::parse_text(
        r#"{"plan_name": "t", "achievements": [
          {"achievement_id": "a", "dependencies": [], "cwd": "sub", "env": {"GREETING": "it's $HOME"},
           "command": ["sh", "-c", "printf '%s|%s|%s' \"$GREETING\" \"$PARCI_TASK_ID\" \"$(pwd)\" > out"]},
          {"achievement_id": "b", "dependencies": [], "command": ["no-such-program-parci", "x"]}
        ]}"#,
    )
    .unwrap();
    let o = go(&p, t.path(), true, false);
    assert_eq!(st(&o), [Status::Succeeded, Status::Failed]);
    let out = std::fs::read_to_string(t.path().join("sub/out")).unwrap();
    let sub = t.path().join("sub").canonicalize().unwrap();
    assert_eq!(out, format!("it's $HOME|a|{}", sub.display()));
    let why = o.tasks[1].because.as_deref().unwrap();
    assert!(
        why.starts_with("cannot start no-such-program-parci in "),
        "{why}"
    );
    assert_eq!(
        o.tasks[1].history.len(),
        1,
        "a start that failed is an attempt"
    );
}

/// Sends every task round again `n` times, recording the calls.
struct Again {
    n: usize,
    fresh: Vec<(String, bool)>,
    ended: Vec<(String, Status)>,
    last: Progress,
}
impl Hooks for Again {
    fn workdir(&mut self, a: &Achievement, fresh: bool) -> Result<Option<PathBuf>, String> {
        self.fresh.push((a.id.clone(), fresh));
        Ok(None)
    }
    fn ended(&mut self, _: usize, a: &Achievement, t: &TaskState) {
        self.ended.push((a.id.clone(), t.status));
    }
    fn succeeded(&mut self, _: usize, _: &Achievement) -> After {
        if self.n == 0 {
            return After::Done;
        }
        self.n -= 1;
        After::Again("conflict in f".into())
    }
    fn progress(&mut self, p: Progress) {
        self.last = p;
    }
    fn tick_every(&self) -> Option<Duration> {
        Some(Duration::from_millis(10))
    }
}

#[test]
fn a_hook_sends_a_task_round_again_once_then_fails_it() {
    let t = tempfile::tempdir().unwrap();
    let p = plan(&[("a", &[], Some("true")), ("b", &["a"], Some("true"))]);
    let mut h = Again {
        n: 1,
        fresh: vec![],
        ended: vec![],
        last: Progress::default(),
    };
    let o = go_with(&p, t.path(), false, false, &mut h);
    assert_eq!(st(&o), [Status::Succeeded, Status::Succeeded]);
    assert_eq!(o.tasks[0].attempts, 2);
    assert_eq!(
        h.fresh,
        [("a".into(), false), ("a".into(), true), ("b".into(), false)]
    );
    assert_eq!(
        h.ended,
        [
            ("a".into(), Status::Queued),
            ("a".into(), Status::Succeeded),
            ("b".into(), Status::Succeeded)
        ]
    );
    assert_eq!((h.last.finished, h.last.total, h.last.running), (2, 2, 0));

    let t = tempfile::tempdir().unwrap();
    let mut h = Again { n: 2, ..h };
    let o = go_with(&p, t.path(), true, false, &mut h);
    assert_eq!(st(&o), [Status::Failed, Status::Skipped]);
    assert_eq!(o.tasks[0].because.as_deref(), Some("conflict in f"));
    assert_eq!((h.last.failed, h.last.skipped), (1, 1));
}

fn st(o: &Outcome) -> Vec<Status> {
    o.tasks.iter().map(|t| t.status).collect()
}

#[test]
fn chain_fail_fast_and_keep_going() {
    use Status::*;
    let p = plan(&[
        ("a", &[], Some("true")),
        ("b", &["a"], Some("exit 3")),
        ("c", &["b"], None),
        ("d", &["c"], Some("true")),
        ("e", &["a"], Some("true")),
    ]);
    let t = tempfile::tempdir().unwrap();
    let o = go(&p, t.path(), true, false);
    assert_eq!(st(&o), [Succeeded, Failed, Skipped, Skipped, Succeeded]);
    assert_eq!(o.tasks[3].because.as_deref(), Some("b"));
    assert_eq!(o.tasks[1].exit_code, Some(3));
    let s = StateFile::load(&t.path().join(".parci/run-state.json"))
        .unwrap()
        .unwrap();
    assert!(!s.active);
    assert_eq!(s.tasks["d"].status, Skipped);
}

#[test]
fn resume_reruns_failed_and_stale_dependents_only() {
    use Status::*;
    let t = tempfile::tempdir().unwrap();
    let marker = t.path().join("ok");
    let cmd = format!("test -e {}", marker.display());
    let p = plan(&[
        ("a", &[], Some("true")),
        ("b", &["a"], Some(cmd.as_str())),
        ("c", &["b"], Some("true")),
    ]);
    let o = go(&p, t.path(), false, false);
    assert_eq!(st(&o), [Succeeded, Failed, NotRun]);
    std::fs::write(&marker, "").unwrap();
    let o = go(&p, t.path(), false, true);
    assert_eq!(st(&o), [Succeeded, Succeeded, Succeeded]);
    assert!(o.tasks[0].resumed && !o.tasks[1].resumed && !o.tasks[2].resumed);
    assert_eq!(o.tasks[0].attempts, 0);
    // A changed command re-runs the task and its dependents.
    let p2 = plan(&[
        ("a", &[], Some("true ")),
        ("b", &["a"], Some(cmd.as_str())),
        ("c", &["b"], Some("true")),
    ]);
    let o = go(&p2, t.path(), false, true);
    assert!(o.tasks.iter().all(|t| !t.resumed && t.status == Succeeded));
}

#[test]
fn retries_until_the_third_attempt_succeeds_and_timeouts_stop_the_group() {
    use Status::*;
    let t = tempfile::tempdir().unwrap();
    let mut p = plan(&[
        (
            "flaky",
            &[],
            Some("echo x >> n; test $(wc -l < n) -ge 3 && test $PARCI_ATTEMPT = 3"),
        ),
        ("slow", &[], Some("trap '' TERM; sleep 30 & wait; sleep 30")),
    ]);
    p.achievements[0].retries = Some(2);
    p.achievements[1].timeout_s = Some(0.2);
    let dag = Dag::from_plan_with(&p, &id_index(&p));
    let order = dag.topo_order().unwrap();
    let opts = Options {
        keep_going: true,
        retry_backoff: Duration::from_millis(1),
        grace: Duration::from_millis(100),
        ..Options::new(
            2,
            t.path().join("logs"),
            t.path().join(".parci/run-state.json"),
            t.path().to_path_buf(),
        )
    };
    let o = run(&p, &dag, &order, None, &opts, &mut NoHooks).unwrap();
    assert_eq!(st(&o), [Succeeded, Failed]);
    assert_eq!(o.tasks[0].attempts, 3);
    assert_eq!(o.tasks[0].history.len(), 3);
    assert_eq!(o.tasks[0].history[0].exit_code, Some(1));
    let slow = &o.tasks[1];
    assert!(slow.timed_out);
    assert_eq!(slow.signal, Some(libc::SIGKILL), "TERM ignored, so KILL");
    assert_eq!(slow.because.as_deref(), Some("timeout after 0.2 s"));
}

#[test]
fn only_takes_dependencies_along_and_skip_counts_as_done() {
    use Status::*;
    let t = tempfile::tempdir().unwrap();
    let p = plan(&[
        ("a", &[], Some("true")),
        ("b", &["a"], Some("exit 1")),
        ("c", &["b"], Some("true")),
        ("d", &[], Some("true")),
    ]);
    let dag = Dag::from_plan_with(&p, &id_index(&p));
    let only = ["c".to_string()];
    let skip = ["b".to_string()];
    let ex = selection(&p, &dag, Some(&only), &skip).unwrap();
    assert_eq!(ex, [false, true, false, true]);
    let e = selection(&p, &dag, None, &["zz".to_string()]).unwrap_err();
    assert_eq!(e, "--skip: \"zz\" is not an achievement of the plan");
    let order = dag.topo_order().unwrap();
    let opts = Options {
        exclude: ex,
        ..Options::new(
            2,
            t.path().join("logs"),
            t.path().join(".parci/run-state.json"),
            t.path().to_path_buf(),
        )
    };
    let o = run(&p, &dag, &order, None, &opts, &mut NoHooks).unwrap();
    assert_eq!(st(&o), [Succeeded, Excluded, Succeeded, Excluded]);
    assert!(o.all_succeeded());
}

#[test]
fn resume_from_a_compacted_state_file_and_its_journal_runs_exactly_the_unfinished_tasks() {
    use Status::*;
    let t = tempfile::tempdir().unwrap();
    let ran = t.path().join("ran");
    let cmd = |id: &str| format!("echo {id} >> {}", ran.display());
    let (ca, cb, cc) = (cmd("a"), cmd("b"), cmd("c"));
    let p = plan(&[
        ("a", &[], Some(ca.as_str())),
        ("b", &["a"], Some(cb.as_str())),
        ("c", &["b"], Some(cc.as_str())),
    ]);
    // A run killed while b ran: its state file says all queued, its journal
    // says a succeeded and b started (and a record for c was cut short).
    let state = t.path().join(".parci/run-state.json");
    std::fs::create_dir_all(state.parent().unwrap()).unwrap();
    let task = |i: usize, s: Status| {
        let mut x = TaskState::new(p.achievements[i].command_hash());
        x.status = s;
        x
    };
    let tasks = ["a", "b", "c"]
        .iter()
        .enumerate()
        .map(|(i, id)| (id.to_string(), task(i, Queued)))
        .collect();
    let file = StateFile {
        version: STATE_VERSION,
        run_id: "killed".into(),
        plan_sha256: String::new(),
        jobs: 2,
        mode: "fail-fast".into(),
        active: true,
        tasks,
    };
    std::fs::write(&state, serde_json::to_vec(&file).unwrap()).unwrap();
    let rec = |id: &str, x: TaskState| serde_json::json!({"id": id, "task": x}).to_string() + "\n";
    let journal = format!(
        "{}\n{}{}{}{}",
        r#"{"journal":1,"run_id":"killed","seq":3}"#,
        rec("a", task(0, Running)),
        rec("a", task(0, Succeeded)),
        rec("b", task(1, Running)),
        &rec("c", task(2, Running))[..20],
    );
    std::fs::write(state.with_extension("journal"), journal).unwrap();
    let o = go(&p, t.path(), false, true);
    assert_eq!(st(&o), [Succeeded, Succeeded, Succeeded]);
    assert!(o.tasks[0].resumed && !o.tasks[1].resumed);
    assert_eq!(std::fs::read_to_string(&ran).unwrap(), "b\nc\n");
    assert!(
        !state.with_extension("journal").exists(),
        "the end of a run folds the journal into the state file"
    );
}
