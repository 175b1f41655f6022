//! batch-create: selection, templates, preview and confirmation, idempotence,
//! refusal, transactional rollback, path escapes, --commit.
mod common;

use common::{plan_text, run_in, snapshot, verify_receipt, write_tree, Run};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn bc(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--receipt", "r.json"];
    a.extend_from_slice(args);
    run_in("batch-create", dir, &a)
}

fn receipt(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap()
}

/// a <- b, a <- c, {b, c} <- d, e alone; a approved.
fn plan() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let text = plan_text(
        "BATCH",
        &[
            ("a", &[], "\"title\": \"Alpha\", \"estimated_hours\": 1"),
            (
                "b",
                &["a"],
                "\"title\": \"Beta\", \"estimated_hours\": \"4-6\"",
            ),
            ("c", &["a"], ""),
            ("d", &["b", "c"], "\"title\": \"Delta\""),
            ("e", &[], "\"title\": \"Echo\""),
        ],
    );
    write_tree(
        t.path(),
        &[
            ("p/parallel.json", &text),
            ("p/subplans/SUBPLAN_a.md", "mine\n"),
            ("p/reviews/APPROVED_a.md", ""),
        ],
    );
    t
}

#[test]
fn dry_run_previews_and_leaves_the_tree_byte_identical() {
    let t = plan();
    let before = snapshot(&t.path().join("p"));
    let r = bc(t.path(), &["--subplans", "p", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        r.out,
        "create  p/subplans/SUBPLAN_b.md (199 bytes)\ncreate  p/subplans/SUBPLAN_c.md (204 bytes)\ncreate  p/subplans/SUBPLAN_e.md (210 bytes)\n\
         batch-create: 3 subplans: 3 to create, 0 skipped (dry run: nothing written)\n"
    );
    assert_eq!(snapshot(&t.path().join("p")), before);
    let rec = receipt(t.path());
    assert_eq!(rec["results"]["created"], serde_json::json!([]));
    assert_eq!(rec["results"]["to_create"].as_array().unwrap().len(), 3);
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    // Two dry runs: identical receipts apart from measurements.
    let a = run_in(
        "batch-create",
        t.path(),
        &["--subplans", "p", "--dry-run", "--receipt", "-", "-q"],
    );
    let b = run_in(
        "batch-create",
        t.path(),
        &["--subplans", "p", "--dry-run", "--receipt", "-", "-q"],
    );
    assert_eq!(
        common::without_measurements(&a.out),
        common::without_measurements(&b.out)
    );
}

#[test]
fn creates_from_the_template_then_is_idempotent() {
    let t = plan();
    let r = bc(t.path(), &["--subplans", "p", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let b = std::fs::read_to_string(t.path().join("p/subplans/SUBPLAN_b.md")).unwrap();
    assert!(b.starts_with("# SUBPLAN b: Beta\n\n- Plan: BATCH\n- Achievement: b\n- Depends on: a\n- Estimate: 4-6 h\n"), "{b}");
    let c = std::fs::read_to_string(t.path().join("p/subplans/SUBPLAN_c.md")).unwrap();
    assert!(
        c.contains("# SUBPLAN c: c\n") && c.contains("- Estimate: not estimated\n"),
        "{c}"
    );
    assert_eq!(
        std::fs::read_to_string(t.path().join("p/subplans/SUBPLAN_a.md")).unwrap(),
        "mine\n"
    );
    let rec = receipt(t.path());
    let created = rec["results"]["created"].as_array().unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(
        created[0]["sha256"],
        parci_core::fsutil::sha256_hex(b.as_bytes())
    );
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    // Second run: everything exists, nothing is created, nothing asked.
    let before = snapshot(&t.path().join("p"));
    let r = bc(t.path(), &["--subplans", "p", "--ids", "a,b,c,e"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("skip    p/subplans/SUBPLAN_a.md (exists)\n"),
        "{}",
        r.out
    );
    assert!(
        r.out.ends_with("4 subplans: 0 to create, 4 skipped\n"),
        "{}",
        r.out
    );
    assert_eq!(snapshot(&t.path().join("p")), before);
    let rec = receipt(t.path());
    assert_eq!(
        rec["results"]["skipped"][0]["sha256"],
        parci_core::fsutil::sha256_hex(b"mine\n")
    );
}

#[test]
fn without_a_terminal_it_needs_yes() {
    let t = plan();
    let before = snapshot(&t.path().join("p"));
    let r = bc(t.path(), &["--subplans", "p"]);
    assert_eq!(r.code, 2);
    assert!(
        r.out.contains("create  p/subplans/SUBPLAN_b.md"),
        "preview first: {}",
        r.out
    );
    assert!(
        r.err.contains("stdin is not a terminal, so nobody can confirm: pass --yes to create the 3 files listed above"),
        "{}",
        r.err
    );
    assert_eq!(snapshot(&t.path().join("p")), before);
}

#[test]
fn executions_need_their_subplan() {
    let t = plan();
    let before = snapshot(&t.path().join("p"));
    let r = bc(t.path(), &["--executions", "p", "--ids", "a,b,e", "--yes"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.err.contains("--executions needs a SUBPLAN first; none for: b, e (run batch-create --subplans for them)"),
        "{}",
        r.err
    );
    assert_eq!(snapshot(&t.path().join("p")), before);
    let rec = receipt(t.path());
    assert_eq!(rec["results"]["refused"], serde_json::json!(["b", "e"]));
    assert_eq!(rec["verdict"]["status"], "fail");
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    let r = bc(t.path(), &["--executions", "p", "--ids", "a", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.err);
    let x = std::fs::read_to_string(t.path().join("p/executions/EXECUTION_a_1.md")).unwrap();
    assert!(x.starts_with("# EXECUTION a #1: Alpha\n"), "{x}");
    assert!(
        x.contains("[SUBPLAN_a.md](../subplans/SUBPLAN_a.md)"),
        "{x}"
    );
}

#[test]
fn selection_by_level_ids_and_next() {
    let t = plan();
    let r = bc(t.path(), &["--subplans", "p", "--level", "1", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(
        r.out.contains("SUBPLAN_b.md")
            && r.out.contains("SUBPLAN_c.md")
            && !r.out.contains("SUBPLAN_e.md"),
        "{}",
        r.out
    );
    // Level 0 without the complete achievement a.
    let r = bc(t.path(), &["--subplans", "p", "--level", "0", "--dry-run"]);
    assert!(
        r.out.starts_with("create  p/subplans/SUBPLAN_e.md"),
        "{}",
        r.out
    );
    assert!(r.out.contains("1 subplan: 1 to create"), "{}", r.out);
    let r = bc(
        t.path(),
        &["--subplans", "p", "--ids", "d,e,d", "--dry-run"],
    );
    assert!(r.out.contains("2 subplans: 2 to create"), "{}", r.out);
    assert_eq!(
        receipt(t.path())["results"]["selected"],
        serde_json::json!(["d", "e"])
    );
    for (args, fragment) in [
        (
            vec!["--level", "9"],
            "--level 9: the plan has levels 0 to 2",
        ),
        (
            vec!["--ids", "zz"],
            "--ids: \"zz\" is not in plan \"BATCH\"",
        ),
        (vec!["--ids", "../x"], "is not an achievement ID"),
        (vec!["--level", "1", "--next"], "cannot be used with"),
    ] {
        let mut a = vec!["--subplans", "p", "--dry-run"];
        a.extend(args.iter());
        let r = bc(t.path(), &a);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.err.contains(fragment), "{args:?}: {}", r.err);
    }
    let r = bc(t.path(), &["p"]);
    assert_eq!(r.code, 2);
    assert!(r.err.contains("--subplans"), "{}", r.err);
}

#[test]
fn template_dir_overrides_and_unknown_placeholders_fail() {
    let t = plan();
    write_tree(
        t.path(),
        &[(
            "tpl/SUBPLAN.md",
            "{{plan_name}}/{{id}}: {{title}} after {{dependencies}} ({{estimate}})\n",
        )],
    );
    let r = bc(
        t.path(),
        &[
            "--subplans",
            "p",
            "--ids",
            "b",
            "--template-dir",
            "tpl",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.err);
    assert_eq!(
        std::fs::read_to_string(t.path().join("p/subplans/SUBPLAN_b.md")).unwrap(),
        "BATCH/b: Beta after a (4-6 h)\n"
    );
    assert_eq!(
        receipt(t.path())["inputs"]["template"]["path"],
        "tpl/SUBPLAN.md"
    );
    write_tree(t.path(), &[("tpl/SUBPLAN.md", "# {{id}}\n{{owner}}\n")]);
    let r = bc(
        t.path(),
        &[
            "--subplans",
            "p",
            "--ids",
            "c",
            "--template-dir",
            "tpl",
            "--yes",
        ],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.err
            .contains("tpl/SUBPLAN.md:2: unknown placeholder {{owner}}"),
        "{}",
        r.err
    );
}

#[test]
fn an_injected_failure_midway_leaves_no_file_behind() {
    let t = plan();
    // A leftover temporary of an interrupted run sits where the third
    // document's temporary goes: two documents are written, the third fails.
    write_tree(t.path(), &[("p/subplans/.SUBPLAN_e.md.parci-tmp/x", "")]);
    let before = snapshot(&t.path().join("p"));
    let r = bc(t.path(), &["--subplans", "p", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains(".SUBPLAN_e.md.parci-tmp: a temporary file of an earlier, interrupted run is in the way"), "{}", r.err);
    assert!(
        r.err.contains("rolled back: removed the 2 paths"),
        "{}",
        r.err
    );
    assert_eq!(snapshot(&t.path().join("p")), before);
}

#[cfg(unix)]
#[test]
fn folders_that_lead_outside_the_plan_are_refused() {
    let t = plan();
    std::fs::create_dir(t.path().join("outside")).unwrap();
    std::fs::create_dir_all(t.path().join("q")).unwrap();
    std::fs::copy(
        t.path().join("p/parallel.json"),
        t.path().join("q/parallel.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(t.path().join("outside"), t.path().join("q/subplans")).unwrap();
    let r = bc(t.path(), &["--subplans", "q", "--yes"]);
    assert_eq!(r.code, 2);
    assert!(
        r.err.contains("q/subplans: leads outside the plan folder"),
        "{}",
        r.err
    );
    assert_eq!(
        std::fs::read_dir(t.path().join("outside")).unwrap().count(),
        0
    );
    // A symlink that stays inside the plan folder is fine.
    std::fs::remove_file(t.path().join("q/subplans")).unwrap();
    std::fs::create_dir(t.path().join("q/docs")).unwrap();
    std::os::unix::fs::symlink("docs", t.path().join("q/subplans")).unwrap();
    let r = bc(t.path(), &["--subplans", "q", "--yes"]);
    assert_eq!(r.code, 0, "{}", r.err);
    assert!(t.path().join("q/docs/SUBPLAN_e.md").exists());
}

fn git(dir: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn commit_holds_exactly_the_created_files() {
    let t = plan();
    let d = t.path();
    git(d, &["init", "-q", "-b", "main"]);
    git(d, &["config", "user.name", "Test"]);
    git(d, &["config", "user.email", "t@example.invalid"]);
    write_tree(
        d,
        &[("other.txt", "x"), ("p/subplans/SUBPLAN_c.md", "tracked\n")],
    );
    git(d, &["add", "p", "other.txt"]);
    git(d, &["commit", "-q", "-m", "plan"]);
    write_tree(d, &[("staged.txt", "unrelated")]);
    git(d, &["add", "staged.txt"]);
    // A target path with uncommitted changes (a tracked SUBPLAN deleted): refused.
    std::fs::remove_file(d.join("p/subplans/SUBPLAN_c.md")).unwrap();
    let before = snapshot(&d.join("p"));
    let r = bc(d, &["--subplans", "p", "--yes", "--commit"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(
        r.err
            .contains("p/subplans/SUBPLAN_c.md: has uncommitted changes"),
        "{}",
        r.err
    );
    assert_eq!(snapshot(&d.join("p")), before);
    git(d, &["checkout", "--", "p/subplans/SUBPLAN_c.md"]);

    let r = bc(d, &["--subplans", "p", "--yes", "--commit"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let files = git(d, &["show", "--name-only", "--format=", "HEAD"]);
    assert_eq!(files, "p/subplans/SUBPLAN_b.md\np/subplans/SUBPLAN_e.md\n");
    let head = git(d, &["rev-parse", "HEAD"]);
    assert_eq!(receipt(d)["results"]["commit"], head.trim());
    // The unrelated staged file is still staged, not committed; the work tree is clean otherwise.
    let st = git(d, &["status", "--porcelain"]);
    assert!(st.contains("A  staged.txt"), "{st}");
    assert!(!st.contains("SUBPLAN"), "{st}");
    let (code, out) = verify_receipt(&d.join("r.json"));
    assert_eq!(code, 0, "{out}");
    // Outside a repository --commit is refused before anything is written.
    let u = plan();
    let r = bc(u.path(), &["--subplans", "p", "--yes", "--commit"]);
    if r.code != 2 {
        // The temp dir may sit inside some repository; then it must have committed.
        assert_eq!(r.code, 0);
    } else {
        assert!(r.err.contains("not in a git work tree"), "{}", r.err);
        assert!(!u.path().join("p/subplans/SUBPLAN_b.md").exists());
    }
}

#[test]
fn an_empty_plan_says_it_has_no_levels() {
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[(
            "p/parallel.json",
            r#"{"plan_name": "E", "achievements": []}"#,
        )],
    );
    let r = bc(t.path(), &["--subplans", "p", "--level", "0", "--yes"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(
        r.err
            .contains("--level 0: the plan has no achievements, so no levels"),
        "{}",
        r.err
    );
    assert!(!r.err.contains("0 to -"), "{}", r.err);
}

#[test]
fn one_file_is_one_file() {
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[("p/parallel.json", &plan_text("O", &[("a", &[], "")]))],
    );
    // No terminal to confirm on: the refusal counts the files right.
    let r = bc(t.path(), &["--subplans", "p"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(
        r.err
            .contains("pass --yes to create the 1 file listed above"),
        "{}",
        r.err
    );
}
