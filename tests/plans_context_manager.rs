//! context-manager's plans through parci: its two real plans (statuses equal
//! to what its own status tool says, no orphan warnings), its marker layout,
//! and the inputs and expected outcomes of its tests for validation, status,
//! level filtering and batch creation, recreated as parci cases. Each case
//! either agrees or says why parci decides differently (docs/plans.md,
//! "context-manager's tests").
mod common;

use common::{run_in, write_tree, Run};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

const DATA: &str = "tests/data/context-manager";

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Recreates a real plan under `dir/<name>`: its parallel.json and every
/// other file by name, with each FIX written after its APPROVED (the order
/// a checkout may give; context-manager's layout must not depend on it).
fn recreate(dir: &Path, name: &str) {
    let src = common::root().join(DATA).join(name);
    let plan = dir.join(name);
    std::fs::create_dir_all(&plan).unwrap();
    std::fs::copy(src.join("parallel.json"), plan.join("parallel.json")).unwrap();
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for rel in std::fs::read_to_string(src.join("files.txt"))
        .unwrap()
        .lines()
    {
        let p = plan.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, format!("{rel}\n")).unwrap();
        let name = p.file_name().unwrap().to_str().unwrap();
        let t = if name.starts_with("FIX_") {
            t0 + Duration::from_secs(3600)
        } else {
            t0
        };
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(t)
            .unwrap();
    }
}

fn statuses(receipt: &Value) -> BTreeMap<String, String> {
    receipt["results"]["achievements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                a["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn the_real_plans_get_context_managers_own_statuses_and_no_orphan_warnings() {
    let expected = json(&common::root().join(DATA).join("expected-status.json"));
    let t = tempfile::tempdir().unwrap();
    for (name, n) in [
        ("PARALLEL-EXECUTION-AUTOMATION", 9),
        ("GRAPHRAG-OBSERVABILITY-VALIDATION", 24),
    ] {
        recreate(t.path(), name);
        let r = run_in("status", t.path(), &[name, "--format", "json"]);
        assert_eq!(r.code, 0, "{name}: {}{}", r.out, r.err);
        let got = statuses(&serde_json::from_str(&r.out).unwrap());
        let want: BTreeMap<String, String> = expected[name]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect();
        assert_eq!(want.len(), n);
        assert_eq!(got, want, "{name}");

        let r = run_in(
            "validate-parallel",
            t.path(),
            &[name, "--receipt", "v.json"],
        );
        assert_eq!(r.code, 0, "{name}: {}{}", r.out, r.err);
        assert!(!r.out.contains("orphan-marker"), "{name}: {}", r.out);
        let v = json(&t.path().join("v.json"));
        assert_eq!(v["inputs"]["layout"], "context-manager");
        assert_eq!(v["results"]["counts"]["orphan-marker"], 0);
        assert_eq!(v["results"]["warnings"], 0, "{name}");
        let markers = v["inputs"]["markers"].as_array().unwrap().len();
        assert!(markers >= 20, "{name}: {markers} markers");

        // Read in parci's names instead, the same files are what the issue
        // found: nothing recognised, a SUBPLAN warning per file.
        let r = run_in(
            "validate-parallel",
            t.path(),
            &[name, "--layout", "parci", "--receipt", "p.json"],
        );
        let p = json(&t.path().join("p.json"));
        assert!(
            p["results"]["counts"]["orphan-marker"].as_u64().unwrap() >= 9,
            "{}",
            r.out
        );
    }
}

#[test]
fn batch_create_writes_in_the_layout_the_plan_uses() {
    let t = tempfile::tempdir().unwrap();
    recreate(t.path(), "GRAPHRAG-OBSERVABILITY-VALIDATION");
    let r = run_in(
        "batch-create",
        t.path(),
        &[
            "--subplans",
            "GRAPHRAG-OBSERVABILITY-VALIDATION",
            "--ids",
            "5.3",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let plan = t.path().join("GRAPHRAG-OBSERVABILITY-VALIDATION");
    let sub = plan.join("subplans/SUBPLAN_GRAPHRAG-OBSERVABILITY-VALIDATION_53.md");
    assert!(sub.is_file(), "{}", r.out);
    let r = run_in(
        "batch-create",
        t.path(),
        &[
            "--executions",
            "GRAPHRAG-OBSERVABILITY-VALIDATION",
            "--ids",
            "5.3",
            "--yes",
        ],
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let exe = plan.join("execution/EXECUTION_TASK_GRAPHRAG-OBSERVABILITY-VALIDATION_53_01.md");
    let text = std::fs::read_to_string(&exe).unwrap();
    assert!(
        text.contains(
            "[SUBPLAN_GRAPHRAG-OBSERVABILITY-VALIDATION_53.md](../subplans/SUBPLAN_GRAPHRAG-OBSERVABILITY-VALIDATION_53.md)"
        ),
        "{text}"
    );
    // status reads back what batch-create wrote.
    let r = run_in(
        "status",
        t.path(),
        &["GRAPHRAG-OBSERVABILITY-VALIDATION", "--format", "json"],
    );
    let s = statuses(&serde_json::from_str(&r.out).unwrap());
    assert_eq!(s["5.3"], "execution_created");

    // A new plan, with no marker files and no sign of context-manager: parci's names.
    write_tree(
        t.path(),
        &[(
            "new/parallel.json",
            r#"{"plan_name": "N", "achievements": [{"achievement_id": "1.1", "dependencies": []}]}"#,
        )],
    );
    let r = run_in("batch-create", t.path(), &["--subplans", "new", "--yes"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(t.path().join("new/subplans/SUBPLAN_1.1.md").is_file());
    // --layout names it outright.
    let r = run_in(
        "batch-create",
        t.path(),
        &[
            "--executions",
            "new",
            "--yes",
            "--layout",
            "context-manager",
        ],
    );
    // In context-manager's names there is no SUBPLAN for 1.1 yet.
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.err.contains("none for: 1.1"), "{}", r.err);
}

#[test]
fn ids_that_lose_their_dots_to_one_file_name_are_one_clear_error() {
    let t = tempfile::tempdir().unwrap();
    write_tree(
        t.path(),
        &[
            ("p/PLAN_C.md", "# PLAN\n"),
            (
                "p/parallel.json",
                r#"{"plan_name": "C", "achievements": [
  {"achievement_id": "1.11", "dependencies": []},
  {"achievement_id": "11.1", "dependencies": []}
]}"#,
            ),
        ],
    );
    let r = run_in("validate-parallel", t.path(), &["p"]);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    let line = r
        .out
        .lines()
        .find(|l| l.contains("error[case-collision]"))
        .unwrap_or_else(|| panic!("{}", r.out));
    assert!(line.starts_with("p/parallel.json:3:22: "), "{line}");
    assert!(
        line.contains("IDs \"1.11\" and \"11.1\" both name their files \"111\""),
        "{line}"
    );
    // status refuses the plan, pointing at validate-parallel.
    let r = run_in("status", t.path(), &["p"]);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("[case-collision]"), "{}", r.err);
    // In parci's layout the two IDs name different files: valid.
    let r = run_in("validate-parallel", t.path(), &["p", "--layout", "parci"]);
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
}

// ---------------------------------------------------------------------------
// context-manager's test cases (FernandoBDAF/context-manager at 736a3d4:
// LLM/tests/scripts/validation/test_validate_parallel_json.py,
// LLM/tests/scripts/generation/test_batch_subplan.py, test_batch_execution.py,
// test_parallel_workflow.py, LLM/tests/dashboard/test_parallel_detector.py).

/// What parci is asked.
#[derive(Clone, Copy, Debug)]
enum Act {
    Validate,
    Status,
    /// batch-create with these arguments (the plan folder is appended).
    Batch(&'static [&'static str]),
}

/// What the case expects of parci.
#[derive(Clone, Copy, Debug)]
enum Expect {
    Valid,
    /// Exit 1; every fragment in the findings.
    Invalid(&'static [&'static str]),
    /// Exactly this many findings of one rule.
    Count(&'static str, u64),
    /// No finding of this rule (the other rules may find something).
    NoFinding(&'static str),
    /// Exit 2 (usage, I/O or an invalid plan); every fragment on stderr.
    Refused(&'static [&'static str]),
    Statuses(&'static [(&'static str, &'static str)]),
    Levels(&'static [(&'static str, u64)]),
    /// The achievements on one level, in plan order.
    Level(u64, &'static [&'static str]),
    /// The next runnable batch, as a set.
    Next(&'static [&'static str]),
    /// batch-create: these files exist afterwards (relative to the plan
    /// folder), and those do not.
    Files(&'static [&'static str], &'static [&'static str]),
    /// batch-create --executions refused (exit 1) for these missing SUBPLANs;
    /// nothing written.
    NoSubplan(&'static [&'static str]),
}

struct Case {
    /// context-manager's test: file::class::function.
    cm: &'static str,
    /// parallel.json; `None`: the folder has none.
    plan: Option<&'static str>,
    /// Files in the plan folder: (path, content).
    files: &'static [(&'static str, &'static str)],
    act: Act,
    expect: Expect,
    /// Why parci decides differently from context-manager's expectation, when it does.
    differs: Option<&'static str>,
}

const ONE: &str = r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[]}]}"#;
const TWO: &str = r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]}]}"#;
const MY_TWO: &str = r#"{"plan_name":"MY-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]}]}"#;
const MY_ONE: &str = r#"{"plan_name":"MY-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[]}]}"#;
const FX: &str = r#"{"plan_name":"TEST-PLAN","achievements":[{"achievement_id":"3.1","title":"Achievement 3.1","dependencies":[],"estimated_hours":"3-4"},{"achievement_id":"3.2","title":"Achievement 3.2","dependencies":[],"estimated_hours":"3-4"},{"achievement_id":"3.3","title":"Achievement 3.3","dependencies":[],"estimated_hours":"3-4"}]}"#;

/// context-manager's batch tools take the plan's name from `PLAN_<name>.md`.
const PLAN_DOC: (&str, &str) = ("PLAN_MY-PLAN.md", "# PLAN\n");
const SUB11: (&str, &str) = ("subplans/SUBPLAN_MY-PLAN_11.md", "# SUBPLAN 1.1\n");
const SUB12: (&str, &str) = ("subplans/SUBPLAN_MY-PLAN_12.md", "# SUBPLAN 1.2\n");
const EXE11: (&str, &str) = ("execution/EXECUTION_TASK_MY-PLAN_11_01.md", "# Existing\n");
const EXE12: (&str, &str) = ("execution/EXECUTION_TASK_MY-PLAN_12_01.md", "# Existing\n");

// Reasons parci decides differently, shared by several cases.
const LEVEL_OPTIONAL: &str = "parallelization_level is informative in parci (docs/plans.md: \
     kept, not checked); plans written by other tools omit it or use their own words";
const ID_FORM: &str = "parci's IDs are 1-64 letters, digits, '.', '_', '-' (run-parallel plans \
     name tasks by word); the X.Y form is context-manager's convention, not a rule of the format";
const NEEDS_NAME: &str = "input recreated with \"plan_name\" and \"dependencies\", which parci's \
     format requires (context-manager's batch tools read the name from PLAN_<name>.md and treat a \
     missing dependencies list as empty); outcome agrees";
const NEEDS_SUBPLANS: &str = "input recreated with the SUBPLANs present: parci's --executions \
     needs each achievement's SUBPLAN first (context-manager's detection helper does not look); \
     outcome agrees";

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- test_validate_parallel_json.py::TestSchemaValidation
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_valid_level1_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"not_started"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_valid_level2_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_2","achievements":[{"achievement_id":"3.1","dependencies":["2.2"],"status":"not_started"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::NoFinding("schema"), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_valid_level3_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_3","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"not_started"},{"achievement_id":"2.1","dependencies":["1.1"],"status":"not_started"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_missing_plan_name",
        plan: Some(r#"{"parallelization_level":"level_1","achievements":[]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[schema]", "\"plan_name\" is a required property", "add \"plan_name\""]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_missing_parallelization_level",
        plan: Some(r#"{"plan_name":"TEST-PLAN","achievements":[]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: Some(LEVEL_OPTIONAL) },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_missing_achievements",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1"}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["\"achievements\" is a required property"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_invalid_parallelization_level",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"invalid","achievements":[]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: Some(LEVEL_OPTIONAL) },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_achievements_not_array",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":"not an array"}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["/achievements", "\"array\"", "make \"achievements\" an array"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_missing_achievement_id",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"dependencies":[]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["\"achievement_id\" is a required property"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_invalid_achievement_id_format",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"invalid","dependencies":[]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: Some(ID_FORM) },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_missing_dependencies",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["\"dependencies\" is a required property", "add \"dependencies\": []"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_dependencies_not_array",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":"not an array"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["/achievements/0/dependencies", "\"array\""]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_invalid_dependency_id_format",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":["invalid"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[unknown-dependency]", "depends on \"invalid\""]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestSchemaValidation::test_invalid_status_value",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"invalid_status"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["/achievements/0/status", "\"invalid_status\" is not one of", "\"skipped\""]), differs: None },
    // --- TestCircularDependencies
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_no_dependencies",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_linear_dependencies",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":["1.2"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_simple_cycle",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["1.2"]},{"achievement_id":"1.2","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[cycle]", "1.1 -> 1.2 -> 1.1"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_complex_cycle",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["1.2"]},{"achievement_id":"1.2","dependencies":["1.3"]},{"achievement_id":"1.3","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[cycle]", "1.1 -> 1.2 -> 1.3 -> 1.1"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_self_dependency",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[self-dependency]", "1.1 depends on itself"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_multiple_independent_chains",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"2.1","dependencies":[]},{"achievement_id":"2.2","dependencies":["2.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestCircularDependencies::test_partial_cycle",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"2.1","dependencies":["2.2"]},{"achievement_id":"2.2","dependencies":["2.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[cycle]", "2.1 -> 2.2 -> 2.1"]), differs: None },
    // --- TestDependencyExistence
    Case { cm: "test_validate_parallel_json.py::TestDependencyExistence::test_all_dependencies_exist",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":["1.1","1.2"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestDependencyExistence::test_missing_dependency",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["2.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["1.1 depends on \"2.1\", which is not in the plan"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestDependencyExistence::test_multiple_missing_dependencies",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["2.1","2.2","2.3"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Count("unknown-dependency", 3), differs: None },
    // --- TestValidateParallelJson
    Case { cm: "test_validate_parallel_json.py::TestValidateParallelJson::test_valid_file",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_validate_parallel_json.py::TestValidateParallelJson::test_file_not_found",
        plan: None, files: &[], act: Act::Validate, expect: Expect::Refused(&["no parallel.json"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestValidateParallelJson::test_malformed_json",
        plan: Some("{invalid json"), files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[json]", "not valid JSON"]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestValidateParallelJson::test_file_with_cycle",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":["1.2"]},{"achievement_id":"1.2","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[cycle]", "dependency cycle"]), differs: None },
    // --- TestStatusDetection (context-manager's layout; markers in the plan folder)
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_not_started_status",
        plan: Some(ONE), files: &[], act: Act::Status, expect: Expect::Statuses(&[("1.1", "not_started")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_subplan_created_status",
        plan: Some(ONE), files: &[("subplans/SUBPLAN_TEST-PLAN_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "subplan_created")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_execution_created_status",
        plan: Some(ONE), files: &[("execution/EXECUTION_TASK_TEST-PLAN_11_01.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "execution_created")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_complete_status",
        plan: Some(ONE), files: &[("execution/feedbacks/APPROVED_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "complete")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_failed_status",
        plan: Some(ONE), files: &[("execution/feedbacks/FIX_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "failed")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_skipped_status",
        plan: Some(ONE), files: &[("execution/SKIPPED_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "skipped")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_status_priority_complete_over_failed",
        plan: Some(ONE), files: &[("execution/feedbacks/APPROVED_11.md", ""), ("execution/feedbacks/FIX_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "complete")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_get_parallel_status",
        plan: Some(TWO), files: &[("subplans/SUBPLAN_TEST-PLAN_11.md", "")], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "subplan_created"), ("1.2", "not_started")]), differs: None },
    Case { cm: "test_validate_parallel_json.py::TestStatusDetection::test_enrich_parallel_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","achievements":[{"achievement_id":"1.1","dependencies":[]}]}"#), files: &[], act: Act::Status,
        expect: Expect::Statuses(&[("1.1", "not_started")]), differs: None },
    // --- test_batch_subplan.py::TestDependencyLevel (0-based levels)
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_0",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.1", 0), ("1.2", 0)]), differs: None },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_1",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.1", 0), ("1.2", 1)]), differs: None },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_2",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":["1.2"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.1", 0), ("1.2", 1), ("1.3", 2)]), differs: None },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_multiple_deps",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]},{"achievement_id":"1.3","dependencies":["1.1","1.2"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.3", 1)]), differs: None },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_complex",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":[]},{"achievement_id":"2.1","dependencies":["1.2","1.3"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.1", 0), ("1.2", 1), ("1.3", 0), ("2.1", 2)]), differs: None },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_not_found",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":["1.2"]}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[unknown-dependency]", "\"1.2\", which is not in the plan"]),
        differs: Some("context-manager gives an ID that is not in the plan level 0 (and so a dependency on it counts as met); \
            parci has no level for it: a dependency on a missing ID is an unknown-dependency error, since the work it names was never planned") },
    Case { cm: "test_batch_subplan.py::TestDependencyLevel::test_calculate_dependency_level_memoization",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":["1.2"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Levels(&[("1.1", 0), ("1.2", 1), ("1.3", 2)]), differs: None },
    // --- test_batch_subplan.py::TestFiltering (filter_by_dependency_level keeps plan order)
    Case { cm: "test_batch_subplan.py::TestFiltering::test_filter_by_dependency_level_0",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":[]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Level(0, &["1.1", "1.3"]), differs: None },
    Case { cm: "test_batch_subplan.py::TestFiltering::test_filter_by_dependency_level_1",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]},{"achievement_id":"1.3","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Level(1, &["1.2", "1.3"]), differs: None },
    Case { cm: "test_batch_subplan.py::TestFiltering::test_filter_by_dependency_level_empty",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Level(2, &[]), differs: None },
    Case { cm: "test_batch_subplan.py::TestFiltering::test_filter_by_dependency_level_empty_list",
        plan: Some(r#"{"plan_name":"T","achievements":[]}"#),
        files: &[], act: Act::Status, expect: Expect::Level(0, &[]), differs: None },
    // --- test_batch_subplan.py::TestDetection (detect_missing_subplans: what --subplans would create)
    Case { cm: "test_batch_subplan.py::TestDetection::test_detect_missing_subplans_none_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, ("subplans/.keep", "")], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_11.md", "subplans/SUBPLAN_MY-PLAN_12.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestDetection::test_detect_missing_subplans_all_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_11.md", "subplans/SUBPLAN_MY-PLAN_12.md"], &["subplans/SUBPLAN_1.1.md"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestDetection::test_detect_missing_subplans_some_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_12.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestDetection::test_detect_missing_subplans_no_subplans_dir",
        plan: Some(MY_ONE), files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_11.md"], &[]), differs: Some(NEEDS_NAME) },
    // --- TestSubplanCreation and TestBatchCreation
    Case { cm: "test_batch_subplan.py::TestSubplanCreation::test_create_subplan_file",
        plan: Some(MY_ONE), files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--ids", "1.1", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_11.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_no_parallel_json",
        plan: None, files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Refused(&["no parallel.json"]), differs: None },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_invalid_json",
        plan: Some("invalid json"), files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Refused(&["the plan is not valid", "not valid JSON"]), differs: None },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_dry_run",
        plan: Some(MY_TWO), files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--dry-run"]),
        expect: Expect::Files(&[], &["subplans/SUBPLAN_MY-PLAN_11.md", "subplans/SUBPLAN_MY-PLAN_12.md"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_cancelled",
        plan: Some(MY_ONE), files: &[PLAN_DOC], act: Act::Batch(&["--subplans"]),
        expect: Expect::Refused(&["pass --yes"]),
        differs: Some("nobody answers \"n\" here: without a terminal batch-create refuses to ask (exit 2, pass --yes); \
            nothing is created either way") },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_success",
        plan: Some(MY_TWO), files: &[PLAN_DOC], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_11.md", "subplans/SUBPLAN_MY-PLAN_12.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_subplan.py::TestBatchCreation::test_batch_create_subplans_skip_existing",
        plan: Some(MY_TWO), files: &[PLAN_DOC, ("subplans/SUBPLAN_MY-PLAN_11.md", "# Existing\n")], act: Act::Batch(&["--subplans", "--yes"]),
        expect: Expect::Files(&["subplans/SUBPLAN_MY-PLAN_12.md"], &[]), differs: Some(NEEDS_NAME) },
    // --- test_batch_execution.py
    Case { cm: "test_batch_execution.py::TestPrerequisiteValidation::test_validate_subplan_prerequisites_all_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md", "execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestPrerequisiteValidation::test_validate_subplan_prerequisites_none_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, ("subplans/.keep", "")], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::NoSubplan(&["1.1", "1.2"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestPrerequisiteValidation::test_validate_subplan_prerequisites_some_missing",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::NoSubplan(&["1.2"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestDetection::test_detect_missing_executions_none_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12, ("execution/.keep", "")], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md", "execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &[]), differs: Some(NEEDS_SUBPLANS) },
    Case { cm: "test_batch_execution.py::TestDetection::test_detect_missing_executions_all_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12, EXE11, EXE12], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md", "execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &["execution/EXECUTION_TASK_MY-PLAN_11_02.md"]), differs: Some(NEEDS_SUBPLANS) },
    Case { cm: "test_batch_execution.py::TestDetection::test_detect_missing_executions_some_exist",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12, EXE11], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &[]), differs: Some(NEEDS_SUBPLANS) },
    Case { cm: "test_batch_execution.py::TestDetection::test_detect_missing_executions_no_execution_dir",
        plan: Some(MY_ONE), files: &[PLAN_DOC, SUB11], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md"], &[]), differs: Some(NEEDS_SUBPLANS) },
    Case { cm: "test_batch_execution.py::TestExecutionCreation::test_create_execution_file",
        plan: Some(MY_ONE), files: &[PLAN_DOC, SUB11], act: Act::Batch(&["--executions", "--ids", "1.1", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md"], &[]), differs: Some(NEEDS_SUBPLANS) },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_no_parallel_json",
        plan: None, files: &[PLAN_DOC], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Refused(&["no parallel.json"]), differs: None },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_missing_subplans",
        plan: Some(MY_TWO), files: &[PLAN_DOC, ("subplans/.keep", "")], act: Act::Batch(&["--executions"]),
        expect: Expect::NoSubplan(&["1.1", "1.2"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_dry_run",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12], act: Act::Batch(&["--executions", "--dry-run"]),
        expect: Expect::Files(&[], &["execution/EXECUTION_TASK_MY-PLAN_11_01.md"]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_cancelled",
        plan: Some(MY_ONE), files: &[PLAN_DOC, SUB11], act: Act::Batch(&["--executions"]),
        expect: Expect::Refused(&["pass --yes"]),
        differs: Some("nobody answers \"n\" here: without a terminal batch-create refuses to ask (exit 2, pass --yes); \
            nothing is created either way") },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_success",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_11_01.md", "execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &[]), differs: Some(NEEDS_NAME) },
    Case { cm: "test_batch_execution.py::TestBatchCreation::test_batch_create_executions_skip_existing",
        plan: Some(MY_TWO), files: &[PLAN_DOC, SUB11, SUB12, EXE11], act: Act::Batch(&["--executions", "--yes"]),
        expect: Expect::Files(&["execution/EXECUTION_TASK_MY-PLAN_12_01.md"], &[]), differs: Some(NEEDS_NAME) },
    // --- test_parallel_workflow.py (validation and detection of parallel.json)
    Case { cm: "test_parallel_workflow.py::TestValidation::test_validate_valid_parallel_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"not_started"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_parallel_workflow.py::TestValidation::test_validate_invalid_json_shows_errors",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"invalid_level","achievements":[]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: Some(LEVEL_OPTIONAL) },
    Case { cm: "test_parallel_workflow.py::TestValidation::test_validate_malformed_json",
        plan: Some("{invalid json"), files: &[], act: Act::Validate, expect: Expect::Invalid(&["error[json]"]), differs: None },
    Case { cm: "test_parallel_workflow.py::TestValidation::test_detect_and_validate_combined",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_2","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"not_started"},{"achievement_id":"1.2","dependencies":["1.1"],"status":"not_started"}]}"#),
        files: &[], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_parallel_workflow.py::TestValidation::test_detect_and_validate_missing_file",
        plan: None, files: &[], act: Act::Validate, expect: Expect::Refused(&["no parallel.json"]), differs: None },
    Case { cm: "test_parallel_workflow.py::TestIntegration::test_full_workflow_with_parallel_json",
        plan: Some(r#"{"plan_name":"TEST-PLAN","parallelization_level":"level_1","achievements":[{"achievement_id":"1.1","dependencies":[],"status":"not_started"}]}"#),
        files: &[("PLAN_TEST-PLAN.md", "# PLAN: TEST-PLAN\n")], act: Act::Validate, expect: Expect::Valid, differs: None },
    Case { cm: "test_parallel_workflow.py::TestIntegration::test_backward_compatibility_without_parallel_json",
        plan: None, files: &[], act: Act::Validate, expect: Expect::Refused(&["no parallel.json"]), differs: None },
    // --- test_parallel_detector.py (groups of incomplete achievements by level)
    Case { cm: "test_parallel_detector.py::TestParallelDetector::test_detect_parallel_opportunities_groups",
        plan: Some(FX), files: &[("PLAN_TEST-PLAN.md", "# Test Plan\n")], act: Act::Status, expect: Expect::Level(0, &["3.1", "3.2", "3.3"]),
        differs: Some("input recreated with achievement_id and title: the dashboard turns its own id/name spelling into those before grouping; outcome agrees") },
    Case { cm: "test_parallel_detector.py::TestParallelDetector::test_detect_parallel_opportunities_empty_plan",
        plan: None, files: &[], act: Act::Status, expect: Expect::Refused(&["no parallel.json"]),
        differs: Some("a folder without parallel.json is not a plan to parci (exit 2, naming the file); the dashboard shows no groups") },
    Case { cm: "test_parallel_detector.py::TestParallelDetector::test_filter_incomplete_achievements",
        plan: Some(FX), files: &[("PLAN_TEST-PLAN.md", "# Test Plan\n"), ("execution/feedbacks/APPROVED_31.md", "")], act: Act::Status,
        expect: Expect::Next(&["3.2", "3.3"]),
        differs: Some("input recreated with achievement_id and title: the dashboard turns its own id/name spelling into those before grouping; outcome agrees") },
    Case { cm: "test_parallel_detector.py::TestParallelGroup::test_get_first_incomplete_group",
        plan: Some(r#"{"plan_name":"TEST","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"2.1","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Next(&["1.1"]), differs: None },
    Case { cm: "test_parallel_detector.py::TestIntegration::test_filter_by_dependency_level_integration",
        plan: Some(r#"{"plan_name":"T","achievements":[{"achievement_id":"1.1","dependencies":[]},{"achievement_id":"1.2","dependencies":[]},{"achievement_id":"2.1","dependencies":["1.1"]}]}"#),
        files: &[], act: Act::Status, expect: Expect::Level(0, &["1.1", "1.2"]), differs: None },
];

/// Runs one case in a fresh folder; `Err` says how parci's outcome differs
/// from the expectation.
fn run_case(c: &Case) -> Result<(), String> {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("PLAN");
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(p) = c.plan {
        std::fs::write(dir.join("parallel.json"), p).unwrap();
    }
    for (rel, body) in c.files {
        write_tree(&dir, &[(rel, body)]);
    }
    let before = common::snapshot(&dir);
    let r: Run = match c.act {
        Act::Validate => run_in("validate-parallel", t.path(), &["PLAN"]),
        Act::Status => run_in("status", t.path(), &["PLAN", "--format", "json"]),
        Act::Batch(args) => {
            let mut a = args.to_vec();
            a.push("PLAN");
            run_in("batch-create", t.path(), &a)
        }
    };
    let all = format!("{}{}", r.out, r.err);
    let fail = |why: String| Err(format!("{why}\n--- exit {}\n{all}", r.code));
    let status_json = || -> Result<Value, String> {
        serde_json::from_str(&r.out).map_err(|e| format!("status --format json: {e}\n{all}"))
    };
    match c.expect {
        Expect::Valid if r.code != 0 => return fail("expected valid".into()),
        Expect::Valid => {}
        Expect::Invalid(frags) => {
            if r.code != 1 {
                return fail("expected exit 1 (invalid)".into());
            }
            if let Some(f) = frags.iter().find(|f| !r.out.contains(**f)) {
                return fail(format!("no {f:?} in the findings"));
            }
        }
        Expect::Count(rule, n) => {
            let got = r
                .out
                .lines()
                .filter(|l| l.contains(&format!("error[{rule}]")))
                .count() as u64;
            if got != n || r.code != 1 {
                return fail(format!("expected {n} {rule} findings, got {got}"));
            }
        }
        Expect::NoFinding(rule) => {
            if r.out.contains(&format!("[{rule}]")) || r.code == 2 {
                return fail(format!("expected no {rule} finding"));
            }
        }
        Expect::Refused(frags) => {
            if r.code != 2 {
                return fail("expected exit 2".into());
            }
            if let Some(f) = frags.iter().find(|f| !r.err.contains(**f)) {
                return fail(format!("no {f:?} on stderr"));
            }
        }
        Expect::Statuses(want) => {
            let got = statuses(&status_json()?);
            for (id, s) in want {
                if got.get(*id).map(String::as_str) != Some(*s) {
                    return fail(format!("{id}: expected {s}, got {:?}", got.get(*id)));
                }
            }
        }
        Expect::Levels(want) => {
            let j = status_json()?;
            for (id, l) in want {
                let got = j["results"]["achievements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["id"] == *id)
                    .map(|a| a["level"].clone());
                if got != Some(Value::from(*l)) {
                    return fail(format!("{id}: expected level {l}, got {got:?}"));
                }
            }
        }
        Expect::Level(level, want) => {
            let j = status_json()?;
            let got: Vec<&str> = j["results"]["achievements"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|a| a["level"] == level)
                .map(|a| a["id"].as_str().unwrap())
                .collect();
            if got != want {
                return fail(format!("level {level}: expected {want:?}, got {got:?}"));
            }
        }
        Expect::Next(want) => {
            let j = status_json()?;
            let mut got: Vec<&str> = j["results"]["next_batch"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            got.sort_unstable();
            if got != want {
                return fail(format!("next batch: expected {want:?}, got {got:?}"));
            }
        }
        Expect::Files(present, absent) => {
            if r.code != 0 {
                return fail("expected exit 0".into());
            }
            if let Some(p) = present.iter().find(|p| !dir.join(p).is_file()) {
                return fail(format!("{p} does not exist"));
            }
            if let Some(p) = absent.iter().find(|p| dir.join(p).exists()) {
                return fail(format!("{p} exists"));
            }
            // Files that were there are untouched (skipped, never overwritten).
            for (p, bytes) in before.iter().filter(|(p, _)| p.is_file()) {
                if std::fs::read(p).ok().as_ref() != Some(bytes) {
                    return fail(format!("{} changed", p.display()));
                }
            }
        }
        Expect::NoSubplan(ids) => {
            if r.code != 1 {
                return fail("expected exit 1 (refused)".into());
            }
            let want = format!("none for: {}", ids.join(", "));
            if !r.err.contains(&want) {
                return fail(format!("no {want:?} on stderr"));
            }
        }
    }
    // Nothing is written where nothing should be.
    if !matches!(c.expect, Expect::Files(..)) && common::snapshot(&dir) != before {
        return fail("the plan folder changed".into());
    }
    Ok(())
}

#[test]
fn context_managers_own_test_cases_agree_or_say_why_not() {
    let mut failures = Vec::new();
    for c in CASES {
        if let Err(e) = run_case(c) {
            failures.push(format!("{}: {e}", c.cm));
        }
        if let Some(why) = c.differs {
            assert!(why.len() > 40, "{}: a reason is a sentence", c.cm);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // Every in-scope case of the five files is here, once.
    let mut names: Vec<&str> = CASES.iter().map(|c| c.cm).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), CASES.len());
    assert_eq!(CASES.len(), 85);
    let differ = CASES.iter().filter(|c| c.differs.is_some()).count();
    let outcome_differs = CASES
        .iter()
        .filter(|c| c.differs.is_some_and(|d| !d.contains("outcome agrees")))
        .count();
    // docs/plans.md states these counts.
    assert_eq!((differ, outcome_differs), (30, 8));
}
