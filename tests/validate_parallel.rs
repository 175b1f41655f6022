//! validate-parallel: every rule at its line:column, every exit code and flag,
//! receipts that verify and repeat byte for byte.
mod common;

use common::{plan_text, run_in, verify_receipt, write_tree, Run};
use std::path::Path;

fn vp(dir: &Path, args: &[&str]) -> Run {
    let mut a = vec!["--receipt", "r.json"];
    a.extend_from_slice(args);
    run_in("validate-parallel", dir, &a)
}

/// A plan folder `p/` in a temp dir holding `text`, plus marker files.
fn plan_dir(text: &str, markers: &[(&str, &str)]) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    write_tree(t.path(), &[("p/parallel.json", text)]);
    for (rel, body) in markers {
        write_tree(&t.path().join("p"), &[(rel, body)]);
    }
    t
}

fn receipt(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("r.json")).unwrap()).unwrap()
}

#[test]
fn the_team_plan_and_the_docs_example_are_valid() {
    let t = tempfile::tempdir().unwrap();
    common::copy_tree(
        &common::root().join("tests/data/plans/team"),
        &t.path().join("team"),
    );
    let r = vp(t.path(), &["team"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(
        r.out
            .contains("valid: 35 achievements, 50 dependencies, 11 levels"),
        "{}",
        r.out
    );
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    let doc = common::root().join("docs/examples/plan");
    let r = vp(t.path(), &[doc.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
}

/// Runs on one broken plan; expects exit 1 and `parallel.json:L:C: error[rule]`.
fn expect_error(text: &str, place: &str, rule: &str, fragment: &str) {
    let t = plan_dir(text, &[]);
    let r = vp(t.path(), &["p"]);
    assert_eq!(r.code, 1, "{rule}: {}{}", r.out, r.err);
    let want = format!("p/parallel.json:{place}: error[{rule}]");
    let line = r
        .out
        .lines()
        .find(|l| l.starts_with(&want))
        .unwrap_or_else(|| panic!("no {want:?} in\n{}", r.out));
    assert!(line.contains(fragment), "{line}");
    let rec = receipt(t.path());
    assert_eq!(rec["verdict"]["status"], "fail");
    assert_eq!(rec["results"]["counts"][rule], 1, "{rule}");
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn json_syntax_errors_point_at_the_place() {
    expect_error(
        "{\n  \"plan_name\": \"x\",\n  \"achievements\": [}\n",
        "3:20",
        "json",
        "not valid JSON",
    );
    expect_error(
        "{\"plan_name\": \"x\", \"achievements\": [],\n \"plan_name\": \"y\"}",
        "2:12",
        "json",
        "duplicate key",
    );
}

#[test]
fn schema_errors_have_pointer_line_and_column() {
    let text = plan_text("S", &[("a", &[], ""), ("b c", &["a"], "")]);
    expect_error(&text, "5:24", "schema", "/achievements/1/achievement_id");
    let text = plan_text("S", &[("a", &[], "\"estimated_hours\": \"soon\"")]);
    expect_error(&text, "4:68", "schema", "/achievements/0/estimated_hours");
    let text = plan_text("S", &[("a", &[], "\"estimated_hours\": \"6-4\"")]);
    expect_error(&text, "4:68", "estimate", "low <= high");
    expect_error(
        "{\"achievements\": []}",
        "1:1",
        "schema",
        "\"plan_name\" is a required property",
    );
}

#[test]
fn duplicate_and_case_colliding_ids() {
    let text = plan_text("D", &[("a", &[], ""), ("b", &[], ""), ("a", &[], "")]);
    expect_error(
        &text,
        "6:24",
        "duplicate-id",
        "duplicate ID \"a\": achievement 0 has it already",
    );
    let text = plan_text("C", &[("Auth", &[], ""), ("auth", &[], "")]);
    expect_error(
        &text,
        "5:24",
        "case-collision",
        "\"auth\" differs from \"Auth\"",
    );
}

#[test]
fn unknown_dependencies_suggest_the_closest_id() {
    let text = plan_text("U", &[("2.4", &[], ""), ("3.1", &["2.3"], "")]);
    expect_error(&text, "5:48", "unknown-dependency", "did you mean \"2.4\"?");
    let text = plan_text("U", &[("alpha", &[], ""), ("beta", &["zzz-unrelated"], "")]);
    expect_error(
        &text,
        "5:49",
        "unknown-dependency",
        "add it to the plan or remove the dependency",
    );
}

#[test]
fn self_dependency() {
    let text = plan_text("S", &[("a", &[], ""), ("b", &["a", "b"], "")]);
    expect_error(&text, "5:51", "self-dependency", "b depends on itself");
}

#[test]
fn a_3_cycle_and_a_2_cycle_are_both_reported() {
    let text = plan_text(
        "C",
        &[
            ("a", &["b"], ""),
            ("b", &["c"], ""),
            ("c", &["a"], ""),
            ("d", &["e"], ""),
            ("e", &["d"], ""),
            ("f", &["a", "d"], ""),
        ],
    );
    let t = plan_dir(&text, &[]);
    let r = vp(t.path(), &["p"]);
    assert_eq!(r.code, 1);
    assert!(
        r.out.contains("p/parallel.json:4:46: error[cycle]: /achievements/0/dependencies/0: dependency cycle a -> b -> c -> a"),
        "{}",
        r.out
    );
    assert!(r.out.contains("dependency cycle d -> e -> d"), "{}", r.out);
    let rec = receipt(t.path());
    assert_eq!(
        rec["results"]["cycles"],
        serde_json::json!([["a", "b", "c", "a"], ["d", "e", "d"]])
    );
    assert_eq!(rec["results"]["levels"], serde_json::Value::Null);
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn complete_before_dependency_warns_and_fails_with_strict() {
    let text = plan_text(
        "W",
        &[
            ("a", &[], ""),
            ("b", &["a"], ""),
            ("c", &["a"], "\"status\": \"complete\""),
        ],
    );
    let t = plan_dir(&text, &[("reviews/APPROVED_b.md", "ok")]);
    let r = vp(t.path(), &["p"]);
    assert_eq!(r.code, 0, "{}", r.out);
    assert!(
        r.out.contains("p/parallel.json:5:46: warning[complete-before-dependency]: /achievements/1/dependencies/0: b has reviews/APPROVED_b.md but its dependency a is not_started"),
        "{}",
        r.out
    );
    assert!(
        r.out
            .contains("c is marked \"complete\" in the plan but its dependency a"),
        "{}",
        r.out
    );
    assert_eq!(receipt(t.path())["verdict"]["status"], "warn");
    let r = vp(t.path(), &["p", "--strict"]);
    assert_eq!(r.code, 1);
    assert!(r.out.contains("error[complete-before-dependency]"));
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
    // A skipped dependency counts as done.
    let t = plan_dir(
        &text,
        &[
            ("reviews/APPROVED_b.md", "ok"),
            ("reviews/SKIPPED_a.md", "no"),
        ],
    );
    let r = vp(t.path(), &["p", "--strict"]);
    assert_eq!(r.code, 0, "{}", r.out);
}

#[test]
fn marker_files_for_unknown_ids_warn() {
    let text = plan_text("O", &[("a", &[], "")]);
    let t = plan_dir(
        &text,
        &[
            ("subplans/SUBPLAN_a.md", "x"),
            ("subplans/SUBPLAN_gone.md", "x"),
            ("subplans/notes.md", "not a marker"),
        ],
    );
    let r = vp(t.path(), &["p"]);
    assert_eq!(r.code, 0);
    assert!(
        r.out.contains("p/subplans/SUBPLAN_gone.md: warning[orphan-marker]: subplans/SUBPLAN_gone.md is for \"gone\", which is not in the plan"),
        "{}",
        r.out
    );
    assert!(!r.out.contains("notes.md"));
    assert_eq!(vp(t.path(), &["p", "--strict"]).code, 1);
}

#[test]
fn usage_and_input_errors_exit_2_with_one_line() {
    let t = tempfile::tempdir().unwrap();
    for (args, fragment) in [
        (vec!["missing"], "missing: No such file or directory"),
        (vec!["."], "no parallel.json in this folder"),
        (vec!["--format", "yaml"], "invalid value 'yaml'"),
    ] {
        let r = vp(t.path(), &args);
        assert_eq!(r.code, 2, "{args:?}");
        assert!(r.err.contains(fragment), "{args:?}: {}", r.err);
        if fragment != "invalid value 'yaml'" {
            assert_eq!(r.err.lines().count(), 1, "{}", r.err);
        }
    }
}

#[test]
fn formats_quiet_and_identical_receipts() {
    let t = tempfile::tempdir().unwrap();
    common::copy_tree(
        &common::root().join("tests/data/plans/team"),
        &t.path().join("team"),
    );
    let a = vp(t.path(), &["team", "--format", "json"]);
    assert_eq!(a.code, 0);
    let first = std::fs::read_to_string(t.path().join("r.json")).unwrap();
    assert_eq!(a.out, first);
    let b = run_in(
        "validate-parallel",
        t.path(),
        &["team", "--receipt", "-", "-q"],
    );
    assert_eq!(
        common::without_measurements(&b.out),
        common::without_measurements(&first)
    );
    let q = vp(t.path(), &["team", "-q"]);
    assert_eq!((q.code, q.out.as_str()), (0, ""));
    // Run in the plan folder itself: the default is ./parallel.json.
    let c = run_in(
        "validate-parallel",
        &t.path().join("team"),
        &["--receipt", "../r2.json"],
    );
    assert_eq!(c.code, 0, "{}", c.err);
}

#[test]
fn github_annotations_at_the_line_and_a_step_summary() {
    let text = plan_text("G", &[("a", &[], ""), ("b", &["x"], "")]);
    let t = plan_dir(&text, &[]);
    let summary = t.path().join("summary.md");
    let o = assert_cmd::Command::cargo_bin("validate-parallel")
        .unwrap()
        .current_dir(t.path())
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["p", "--receipt", "r.json"])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("::error file=p/parallel.json,line=5,title=validate-parallel%3A unknown-dependency::b depends on \"x\""),
        "{out}"
    );
    let md = std::fs::read_to_string(summary).unwrap();
    assert!(
        md.contains("| p/parallel.json:5:46 | error | unknown-dependency |"),
        "{md}"
    );
}

#[test]
fn compact_json_keeps_line_and_column_on_every_finding() {
    // No spaces at all: findings inside /achievements/N after a nested
    // object, and on a top-level key after the array, still get a place.
    let text = r#"{"plan_name":"K","achievements":[{"achievement_id":"a","dependencies":[],"x":{"y":[1,{"z":"s,}"}]}},{"achievement_id":"b","dependencies":["zz"]}],"extra":{"k":1}}"#;
    let col = text.find(r#""zz""#).unwrap() + 1;
    expect_error(text, &format!("1:{col}"), "unknown-dependency", "\"zz\"");
}

#[test]
fn schema_and_graph_findings_come_in_one_pass() {
    // An invalid status (schema) and an unknown dependency (graph): both.
    let text = plan_text(
        "O",
        &[
            ("a", &[], "\"status\": \"done\""),
            ("b", &["a", "nope"], ""),
        ],
    );
    let t = plan_dir(&text, &[]);
    let r = vp(t.path(), &["p"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("error[schema]"), "{}", r.out);
    assert!(r.out.contains("error[unknown-dependency]"), "{}", r.out);
    assert!(r.out.contains("2 errors, 0 warnings"), "{}", r.out);
    // The enum finding lists every allowed value and says how to mend it.
    let line = r.out.lines().find(|l| l.contains("error[schema]")).unwrap();
    for v in [
        "not_started",
        "subplan_created",
        "execution_created",
        "in_progress",
        "complete",
        "failed",
        "skipped",
    ] {
        assert!(line.contains(&format!("\"{v}\"")), "{v}: {line}");
    }
    assert!(!line.contains("other candidates"), "{line}");
    assert!(line.ends_with("write one of these values"), "{line}");
    let rec = receipt(t.path());
    assert_eq!(rec["results"]["counts"]["schema"], 1);
    assert_eq!(rec["results"]["counts"]["unknown-dependency"], 1);
    let (code, out) = verify_receipt(&t.path().join("r.json"));
    assert_eq!(code, 0, "{out}");
}

#[test]
fn schema_findings_say_how_to_mend_them() {
    for (text, hint) in [
        (
            r#"{"plan_name": "H", "achievements": [{"achievement_id": "a"}]}"#.to_string(),
            "add \"dependencies\": []",
        ),
        (
            plan_text("H", &[("a b", &[], "")]),
            "an ID is 1-64 letters, digits",
        ),
        (
            plan_text("H", &[("a", &[], "\"estimated_hours\": \"soon\"")]),
            "write a number >= 0 or a range such as \"4-6\"",
        ),
        (
            r#"{"plan_name": "", "achievements": []}"#.to_string(),
            "write a non-empty string",
        ),
    ] {
        let t = plan_dir(&text, &[]);
        let r = vp(t.path(), &["p"]);
        let line = r.out.lines().find(|l| l.contains("error[schema]"));
        assert!(line.is_some_and(|l| l.contains(hint)), "{hint}: {}", r.out);
    }
}

#[test]
fn did_you_mean_never_proposes_the_achievement_itself() {
    // "2.2" is one edit from both "1.2" (the dependent) and "2.1".
    let text = plan_text("M", &[("1.2", &["2.2"], ""), ("2.1", &[], "")]);
    let t = plan_dir(&text, &[]);
    let r = vp(t.path(), &["p"]);
    let line = r
        .out
        .lines()
        .find(|l| l.contains("error[unknown-dependency]"))
        .unwrap_or_else(|| panic!("{}", r.out));
    assert!(!line.contains("did you mean \"1.2\""), "{line}");
    assert!(line.contains("did you mean \"2.1\"?"), "{line}");
    // With no other candidate there is no suggestion at all.
    let text = plan_text("M", &[("1.2", &["2.2"], "")]);
    let t = plan_dir(&text, &[]);
    let r = vp(t.path(), &["p"]);
    assert!(!r.out.contains("did you mean"), "{}", r.out);
    assert!(
        r.out
            .contains("add it to the plan or remove the dependency"),
        "{}",
        r.out
    );
    assert!(r.out.contains("1 error, 0 warnings"), "{}", r.out);
}
