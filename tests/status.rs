//! status: every status rule from marker files and the run state, every
//! format, the next batch, stalls, worker caps, exit codes, receipts.
mod common;

use common::{plan_text, run_in, verify_receipt, write_tree, Run};
use serde_json::{json, Value};
use std::path::Path;

fn status(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--receipt", "r.json"];
    a.extend_from_slice(args);
    run_in("status", dir, &a)
}

fn receipt(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap()
}

fn team() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    common::copy_tree(
        &common::root().join("tests/data/plans/team"),
        &t.path().join("team"),
    );
    t
}

#[test]
fn team_plan_table_next_batch_and_critical_path() {
    let t = team();
    let before = common::snapshot(&t.path().join("team"));
    let r = status(t.path(), &["team"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out
            .starts_with("plan INFERENCE-CI: 35 achievements, 9 done (25.71%)\n"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("  complete 8, execution_created 2, failed 1, not_started 21, skipped 1, subplan_created 2\n"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("next batch (3): 2.3, 3.1, 5.2\n"),
        "{}",
        r.out
    );
    assert!(r.out.contains("failed, need a fix (1): 1.3\n"), "{}", r.out);
    assert!(r.out.contains("  2.5 waits on 2.3\n"), "{}", r.out);
    assert!(
        r.out.contains("remaining critical path (8 achievements, 45-71 h): 2.3 -> 2.5 -> 2.6 -> 2.9 -> 4.4 -> 5.5 -> 7.1 -> 7.2\n"),
        "{}",
        r.out
    );
    // The level table: level, id, status, estimate, title.
    assert!(
        r.out
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>()
                == ["2", "1.3", "failed", "3-5", "Fixture", "model", "generator"]),
        "{}",
        r.out
    );
    // Status is derived, never written back.
    assert_eq!(common::snapshot(&t.path().join("team")), before);
    let rec = receipt(t.path());
    assert_eq!(rec["results"]["next_batch"], json!(["2.3", "3.1", "5.2"]));
    assert_eq!(rec["results"]["statuses"]["2.4"], "skipped");
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
}

fn set_mtime(p: &Path, secs: u64) {
    let f = std::fs::File::options().write(true).open(p).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap();
}

#[test]
fn every_status_rule_from_the_file_system() {
    let ids = [
        "ok", "skip", "fix", "refixed", "exe", "sub", "none", "run", "fixrun",
    ];
    let items: Vec<(&str, &[&str], &str)> = ids.iter().map(|i| (*i, &[][..], "")).collect();
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[
            ("p/parallel.json", &plan_text("R", &items)),
            ("p/reviews/APPROVED_ok.md", ""),
            ("p/reviews/FIX_ok.md", ""),
            ("p/reviews/SKIPPED_skip.md", ""),
            ("p/reviews/FIX_fix.md", ""),
            ("p/reviews/APPROVED_refixed.md", ""),
            ("p/reviews/FIX_refixed.md", ""),
            ("p/executions/EXECUTION_exe_3.md", ""),
            ("p/subplans/SUBPLAN_exe.md", ""),
            ("p/subplans/SUBPLAN_sub.md", ""),
            ("p/subplans/SUBPLAN_run.md", ""),
            ("p/reviews/FIX_fixrun.md", ""),
            (
                "p/.parci/run-state.json",
                r#"{"tasks": {"run": {"status": "running"}, "fixrun": {"status": "running"}, "none": {"status": "queued"}, "ok": {"status": "running"}}}"#,
            ),
        ],
    );
    let p = t.path().join("p/reviews");
    set_mtime(&p.join("APPROVED_ok.md"), 2000); // APPROVED after FIX: complete
    set_mtime(&p.join("FIX_ok.md"), 1000);
    set_mtime(&p.join("APPROVED_refixed.md"), 1000); // FIX after APPROVED: failed
    set_mtime(&p.join("FIX_refixed.md"), 2000);
    let r = status(t.path(), &["p", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let rec = receipt(t.path());
    assert_eq!(
        rec["results"]["statuses"],
        json!({"ok": "complete", "skip": "skipped", "fix": "failed", "refixed": "failed",
               "exe": "execution_created", "sub": "subplan_created", "none": "not_started",
               "run": "in_progress", "fixrun": "in_progress"})
    );
    assert_eq!(
        rec["inputs"]["run_state"]["path"],
        "p/.parci/run-state.json"
    );
    assert_eq!(rec["results"]["in_progress"], json!(["run", "fixrun"]));
    assert_eq!(rec["results"]["next_batch"], json!(["exe", "sub", "none"]));
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    // A malformed state file is an input error naming it.
    write_tree(t.path(), &[("p/.parci/run-state.json", "{\"tasks\": 3}")]);
    let r = status(t.path(), &["p"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .contains("p/.parci/run-state.json: /tasks must be an object"),
        "{}",
        r.err
    );
}

#[test]
fn stalled_plans_say_why_and_in_flight_work_is_not_all_complete() {
    let text = plan_text("S", &[("a", &[], ""), ("b", &["a"], ""), ("c", &[], "")]);
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[
            ("p/parallel.json", &text),
            ("p/reviews/FIX_a.md", ""),
            (
                "p/.parci/run-state.json",
                r#"{"tasks": {"c": {"status": "running"}}}"#,
            ),
        ],
    );
    let r = status(t.path(), &["p"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out.contains("stalled: nothing can start: 3 achievements remain; waiting on 1 in progress (c); 1 failed and need a fix (a review asked for one in a FIX file): a\n"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("complete or skipped"));
    assert_eq!(receipt(t.path())["verdict"]["status"], "warn");
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    // Everything approved but one still running: not "all complete".
    write_tree(
        t.path(),
        &[
            ("p/reviews/APPROVED_a.md", ""),
            ("p/reviews/APPROVED_b.md", ""),
        ],
    );
    std::fs::remove_file(t.path().join("p/reviews/FIX_a.md")).unwrap();
    let r = status(t.path(), &["p"]);
    assert!(
        r.out.contains(
            "stalled: nothing can start: 1 achievement remains; waiting on 1 in progress (c)"
        ),
        "{}",
        r.out
    );
    std::fs::remove_file(t.path().join("p/.parci/run-state.json")).unwrap();
    write_tree(t.path(), &[("p/reviews/APPROVED_c.md", "")]);
    let r = status(t.path(), &["p"]);
    assert!(
        r.out.contains("all achievements are complete or skipped\n"),
        "{}",
        r.out
    );
    assert_eq!(receipt(t.path())["verdict"]["status"], "pass");
}

#[test]
fn graph_and_matrix_formats() {
    let t = team();
    let m = status(t.path(), &["team", "--format", "gha-matrix", "-q"]);
    assert_eq!(m.code, 0);
    let v: Value = serde_json::from_str(&m.out).unwrap();
    assert_eq!(
        v,
        json!({"include": [
            {"id": "2.3", "title": "TQ1_0 blocks"},
            {"id": "3.1", "title": "Tensor specs"},
            {"id": "5.2", "title": "Canonical JSON and digest"}]})
    );
    let d = status(t.path(), &["team", "--format", "dot"]).out;
    assert!(d.starts_with("digraph \"INFERENCE-CI\" {\n"), "{d}");
    assert!(
        d.contains(
            "\"1.3\" [label=\"1.3\\nFixture model generator\\nfailed\", fillcolor=\"#f8d7da\""
        ),
        "{d}"
    );
    assert!(d.contains("  \"1.1\" -> \"1.3\";\n"), "{d}");
    assert_eq!(d.matches(" -> ").count(), 50);
    let mm = status(t.path(), &["team", "--format", "mermaid"]).out;
    assert!(mm.starts_with("flowchart LR\n"));
    assert!(
        mm.contains("  n4[\"1.3<br/>Fixture model generator\"]:::failed\n"),
        "{mm}"
    );
    assert!(mm.contains("  n2 --> n4\n"), "{mm}");
    assert!(mm.contains("classDef complete fill:#b7e4c7"));
    let md = status(t.path(), &["team", "--format", "markdown"]).out;
    assert!(md.starts_with("### Plan INFERENCE-CI\n\n9 of 35 achievements done (**25.71%**) · next batch: 2.3, 3.1, 5.2\n"), "{md}");
    assert!(
        md.contains("| 2 | `1.3` | failed | 3-5 | Fixture model generator |  |\n"),
        "{md}"
    );
    let j = status(t.path(), &["team", "--format", "json"]);
    assert_eq!(
        j.out,
        std::fs::read_to_string(t.path().join("r.json")).unwrap()
    );
}

#[test]
fn max_workers_caps_the_recommendation() {
    let t = team();
    status(t.path(), &["team", "-q"]);
    let free = receipt(t.path())["results"]["parallelization"].clone();
    assert_eq!(free["recommended_workers"], 6);
    let r = status(t.path(), &["team", "--max-workers", "2"]);
    assert!(
        r.out
            .contains("recommended workers 2 (widest level 6, --max-workers 2)"),
        "{}",
        r.out
    );
    let rec = receipt(t.path());
    assert_eq!(rec["results"]["parallelization"]["recommended_workers"], 2);
    let workers: Vec<u64> = rec["results"]["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["workers"].as_u64().unwrap())
        .collect();
    assert_eq!(workers, [1, 2]);
    let r = status(t.path(), &["team", "--max-workers", "0"]);
    assert_eq!(r.code, 2);
}

#[test]
fn invalid_plans_and_bad_paths_exit_2_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[(
            "p/parallel.json",
            &plan_text(
                "X",
                &[("a", &["b"], ""), ("b", &["a"], ""), ("c", &["zz"], "")],
            ),
        )],
    );
    let r = status(t.path(), &["p"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.err.lines().count(), 1, "{}", r.err);
    assert!(
        r.err.starts_with("status: error: p/parallel.json:4:46: the plan is not valid: [cycle] dependency cycle a -> b -> a"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("(1 more); run validate-parallel p/parallel.json"),
        "{}",
        r.err
    );
    assert!(!t.path().join("r.json").exists());
    let r = status(t.path(), &["nowhere"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("nowhere: No such file"), "{}", r.err);
}

#[test]
fn two_runs_give_identical_receipts_apart_from_measurements() {
    let t = team();
    let a = run_in("status", t.path(), &["team", "--receipt", "-", "-q"]);
    let b = run_in("status", t.path(), &["team", "--receipt", "-", "-q"]);
    assert_eq!(a.code, 0);
    assert_eq!(
        common::without_measurements(&a.out),
        common::without_measurements(&b.out)
    );
    let strip = |s: &str| {
        s.lines()
            .filter(|l| !l.contains("elapsed_ms"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&a.out), strip(&b.out));
}

/// `status --format json` lists every achievement with its level, and the
/// levels are networkx's topological generations of the same graph (a
/// 300-achievement random DAG, dependencies drawn from earlier ones).
#[test]
fn every_achievements_level_is_networkx_topological_generation() {
    let t = tempfile::tempdir().unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let n = 300;
    let achievements: Vec<Value> = (0..n)
        .map(|i| {
            let k = if i == 0 { 0 } else { next() % 4 };
            let mut deps: Vec<String> = (0..k).map(|_| format!("a{}", next() % i.max(1))).collect();
            deps.sort();
            deps.dedup();
            json!({"achievement_id": format!("a{i}"), "title": format!("step {i}"), "dependencies": deps, "estimated_hours": (i % 5 + 1) as f64})
        })
        .collect();
    let dir = t.path().join("p");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("parallel.json"),
        serde_json::to_string(&json!({"plan_name": "random", "achievements": achievements}))
            .unwrap(),
    )
    .unwrap();
    let r = status(t.path(), &["p", "--format", "json"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let doc: Value = serde_json::from_str(&r.out).unwrap();
    let rows = doc["results"]["achievements"].as_array().unwrap();
    assert_eq!(rows.len(), n as usize);
    assert_eq!(rows[0]["id"], "a0");
    assert_eq!(rows[0]["title"], "step 0");
    assert_eq!(rows[0]["hours"], json!({"min": 1.0, "max": 1.0}));
    let ours: serde_json::Map<String, Value> = rows
        .iter()
        .map(|r| (r["id"].as_str().unwrap().to_string(), r["level"].clone()))
        .collect();
    let script = r#"
import json, sys
import networkx as nx
plan = json.load(open(sys.argv[1]))
g = nx.DiGraph()
for a in plan["achievements"]:
    g.add_node(a["achievement_id"])
    for d in a["dependencies"]:
        g.add_edge(d, a["achievement_id"])
levels = {v: i for i, gen in enumerate(nx.topological_generations(g)) for v in gen}
print(json.dumps(levels))
"#;
    let o = std::process::Command::new(common::venv_bin("python"))
        .args(["-c", script])
        .arg(dir.join("parallel.json"))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let theirs: serde_json::Map<String, Value> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(ours, theirs);
    // blocked_by: nothing is done, so every dependency blocks
    let a = rows
        .iter()
        .find(|r| !r["blocked_by"].as_array().unwrap().is_empty())
        .unwrap();
    assert!(a["blocked_by"]
        .as_array()
        .unwrap()
        .iter()
        .all(|d| d.as_str().unwrap().starts_with('a')));
    assert!(rows.iter().any(|r| r["on_critical_path"] == true));
    verify_receipt(&t.path().join("r.json"));
}

/// `--format prompt`: the discovery prompt names the plan document, the
/// three levels, the independence checklist and every achievement of the
/// current graph with its level and dependencies.
#[test]
fn prompt_format_asks_for_parallel_json_with_the_checklist_and_the_graph() {
    let t = team();
    let dir = t.path().join("team");
    std::fs::write(dir.join("PLAN_INFERENCE-CI.md"), "# PLAN\n").unwrap();
    let r = status(t.path(), &["team", "--format", "prompt"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(r.out.contains("PLAN_INFERENCE-CI.md"), "{}", r.out);
    for needle in [
        "Level 1",
        "Level 2",
        "Level 3",
        "**Technical**",
        "**Testing**",
        "**Mergeability**",
        "parallelization_level",
    ] {
        assert!(r.out.contains(needle), "{needle} missing:\n{}", r.out);
    }
    let doc = receipt(t.path());
    let rows = doc["results"]["achievements"].as_array().unwrap();
    for a in rows {
        let line = format!("| {} | {} |", a["level"], a["id"].as_str().unwrap());
        assert!(r.out.contains(&line), "{line} missing");
    }
    assert_eq!(
        r.out
            .lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| level"))
            .count(),
        rows.len()
    );
}

#[test]
fn mermaid_labels_of_untitled_achievements_have_no_empty_line() {
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[(
            "p/parallel.json",
            &plan_text("U", &[("a", &[], ""), ("b", &["a"], "\"title\": \"Bee\"")]),
        )],
    );
    let mm = status(t.path(), &["p", "--format", "mermaid"]).out;
    assert!(mm.contains("  n0[\"a\"]:::not_started\n"), "{mm}");
    assert!(mm.contains("  n1[\"b<br/>Bee\"]:::not_started\n"), "{mm}");
    assert!(!mm.contains("<br/>\""), "{mm}");
    let text = status(t.path(), &["p"]).out;
    assert!(text.contains("plan U: 2 achievements, 0 done"), "{text}");
    assert!(text.contains("critical path (2 achievements"), "{text}");
}
