//! status's run: load the valid plan, derive the report from its files,
//! and render it (table, receipt, Markdown, DOT, Mermaid, a GitHub Actions
//! matrix). The program in `src/bin/status.rs` only turns its flags into
//! [`Options`].

use crate::cli::{Common, Env};
use crate::{emit, exit, github, plan_cli};
use clap::ValueEnum;
use parci_core::plan::fsstate::RUN_STATE_FILE;
use parci_core::plan::status;
use parci_core::receipt::{canonical::finite, Body, FileInput, Receipt, Verdict};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "status";

/// What `--format` prints on stdout.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Per-level table and summary, for people
    Table,
    /// This run's receipt
    Json,
    /// A Markdown report
    Markdown,
    /// Graphviz DOT, coloured by status
    Dot,
    /// Mermaid flowchart, coloured by status
    Mermaid,
    /// The next batch as a GitHub Actions matrix: {"include":[{"id":…,"title":…}]}
    GhaMatrix,
    /// A Markdown prompt asking an assistant to propose parallel.json for
    /// the plan document, with the independence checklist, the three
    /// parallelization levels and the current graph
    Prompt,
}

/// Everything one status run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// The plan folder or file; `None`: the current directory.
    pub plan: Option<PathBuf>,
    pub format: Output,
    /// Cap the recommended worker count (and the batch statistics).
    pub max_workers: Option<u32>,
    /// Marker-file layout (`Auto`: detected from the files).
    pub layout: plan_cli::LayoutArg,
    pub common: Common,
}

/// What a run produced: its exit code, the receipt, what went to stdout.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub text: Option<String>,
}

/// Reports the plan's status: prints what `opts.format` asks for, writes
/// the receipt, returns the exit code (0: a report is not a gate).
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let l = plan_cli::load_valid(opts.plan.as_deref(), opts.layout)?;
    let c = &l.checked;
    let (plan, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let order = c.order.as_ref().expect("a valid plan is acyclic");
    let r = status::report(plan, dag, order, &c.states, opts.max_workers);
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;

    let hash = |p: &Option<PathBuf>| -> anyhow::Result<Option<FileInput>> {
        p.as_ref()
            .map(|p| {
                FileInput::hash(p).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))
            })
            .transpose()
    };
    let (run_state, run_state_journal) = (hash(&l.run.path)?, hash(&l.run.journal)?);
    let verdict = match &r.stalled {
        Some(why) => Verdict::from_findings(vec![], vec![why.clone()]),
        None => Verdict::pass(),
    };
    let body = Body {
        inputs: json!({
            "plan": plan_cli::plan_input(&l),
            "markers": plan_cli::markers_input(&l),
            "layout": l.checked.naming.layout.as_str(),
            "run_state": run_state,
            "run_state_journal": run_state_journal,
            "max_workers": opts.max_workers,
        }),
        results: serde_json::to_value(&r)?,
        measurements: json!({"elapsed_ms": finite(elapsed_ms)?}),
        verdict,
    };
    github::append_summary(env, &plan_cli::status_markdown(&r, plan))?;
    if let Some(why) = &r.stalled {
        github::annotate(
            env,
            github::Level::Warning,
            &l.loc.file.display().to_string(),
            None,
            PROGRAM,
            why,
        );
    }
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    tracing::info!(
        run_state = RUN_STATE_FILE,
        present = l.run.path.is_some(),
        "run state"
    );
    let text = match opts.format {
        Output::Table if opts.common.quiet => None,
        Output::Table => Some(plan_cli::status_table(&r, plan, env)),
        Output::Json if written.target == emit::Target::Stdout => None,
        Output::Json => Some(written.text.clone()),
        Output::Markdown => Some(plan_cli::status_markdown(&r, plan)),
        Output::Dot => Some(plan_cli::status_dot(&r, plan)),
        Output::Mermaid => Some(plan_cli::status_mermaid(&r, plan)),
        Output::GhaMatrix => Some(plan_cli::status_gha_matrix(&r, plan)),
        Output::Prompt => Some(plan_cli::status_prompt(
            &r,
            plan,
            plan_document(&l.loc.dir).as_deref(),
        )),
    };
    if let Some(t) = &text {
        print!("{t}");
    }
    crate::cli::release((l, r));
    Ok(Outcome {
        code: exit::PASS,
        receipt: written.receipt,
        text,
    })
}

/// The plan document beside the plan: the first `PLAN_*.md` (context-manager's
/// naming) in the plan folder, by name.
fn plan_document(dir: &std::path::Path) -> Option<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("PLAN_") && n.ends_with(".md"))
        })
        .collect();
    docs.sort();
    docs.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A plan folder: `a` approved, `b` and `c` after it.
    fn plan(dir: &Path) {
        let text = r#"{"plan_name": "t", "achievements": [
  {"achievement_id": "a", "dependencies": []},
  {"achievement_id": "b", "dependencies": ["a"]},
  {"achievement_id": "c", "dependencies": ["b"]}
]}"#;
        std::fs::write(dir.join("parallel.json"), text).unwrap();
        std::fs::create_dir(dir.join("reviews")).unwrap();
        std::fs::write(dir.join("reviews/APPROVED_a.md"), "ok\n").unwrap();
    }

    fn opts(dir: &Path, format: Output) -> Options {
        Options {
            layout: plan_cli::LayoutArg::Auto,
            plan: Some(dir.to_path_buf()),
            format,
            max_workers: None,
            common: Common::quiet_to(dir.join("status.json")),
        }
    }

    #[test]
    fn the_report_follows_the_marker_files() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path());
        let env = Env::plain(t.path());
        let out = run(&opts(t.path(), Output::GhaMatrix), &env).unwrap();
        assert_eq!(out.code, exit::PASS);
        let matrix: serde_json::Value = serde_json::from_str(&out.text.unwrap()).unwrap();
        assert_eq!(matrix["include"][0]["id"], "b");
        let r = &out.receipt;
        assert_eq!(r.results["counts"]["complete"], 1);
        let markers = r.inputs["markers"].as_array().unwrap();
        assert!(
            markers.len() == 1
                && markers[0]
                    .as_str()
                    .unwrap()
                    .ends_with("reviews/APPROVED_a.md")
        );
        // A quiet table prints nothing; the receipt is the same.
        let table = run(&opts(t.path(), Output::Table), &env).unwrap();
        assert!(table.text.is_none());
        assert_eq!(table.receipt.digest, r.digest);
    }

    #[test]
    fn an_invalid_plan_is_an_error_naming_validate_parallel() {
        let t = tempfile::tempdir().unwrap();
        let text = r#"{"plan_name": "t", "achievements": [
  {"achievement_id": "a", "dependencies": ["zz"]}
]}"#;
        std::fs::write(t.path().join("parallel.json"), text).unwrap();
        let e = run(&opts(t.path(), Output::Table), &Env::plain(t.path()))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("the plan is not valid") && e.contains("run validate-parallel"),
            "{e}"
        );
    }
}
