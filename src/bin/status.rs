//! status: what in a plan is done, what can start next, what blocks the rest;
//! derived from the plan's marker files, never written back.

use clap::{Parser, ValueEnum};
use parci::cli::{self, Common, Env};
use parci::{emit, exit, github, plan_cli};
use parci_core::plan::fsstate::RUN_STATE_FILE;
use parci_core::plan::status;
use parci_core::receipt::{canonical::finite, Body, FileInput, Verdict};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "status";

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Output {
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
}

/// Show a plan's status from its files: per-level table, counts, the next
/// runnable batch, what blocks the rest, the critical path, how many workers
/// help and how many batches remain.
///
/// Status per achievement: reviews/APPROVED_<ID>.md complete, SKIPPED skipped,
/// running in .parci/run-state.json in_progress, FIX (without a later APPROVED)
/// failed, executions/EXECUTION_<ID>_<N>.md execution_created,
/// subplans/SUBPLAN_<ID>.md subplan_created, else not_started.
///
/// Exit status: 0 reported (a stalled plan is verdict warn), 2 the plan is not
/// valid (run validate-parallel) or a usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  status                                             # ./parallel.json
  status docs/examples/plan
  status docs/examples/plan --format mermaid >> plan.md
  status docs/examples/plan --format gha-matrix --max-workers 8 -q")]
struct Args {
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// What to print on stdout
    #[arg(long, value_enum, default_value_t = Output::Table)]
    format: Output,
    /// Cap the recommended worker count (and the batch statistics) at N
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    max_workers: Option<u32>,
    #[command(flatten)]
    common: Common,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging(&args.common);
    cli::main_with(PROGRAM, || run(args, Env::read()))
}

fn run(args: Args, env: Env) -> anyhow::Result<u8> {
    let t0 = Instant::now();
    let l = plan_cli::load_valid(args.plan.as_deref())?;
    let c = &l.checked;
    let (plan, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let order = c.order.as_ref().expect("a valid plan is acyclic");
    let r = status::report(plan, dag, order, &c.states, args.max_workers);
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;

    let run_state = match &l.run.path {
        Some(p) => Some(
            FileInput::hash(p).map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))?,
        ),
        None => None,
    };
    let verdict = match &r.stalled {
        Some(why) => Verdict::from_findings(vec![], vec![why.clone()]),
        None => Verdict::pass(),
    };
    let body = Body {
        inputs: json!({
            "plan": plan_cli::plan_input(&l),
            "markers": plan_cli::markers_input(&l),
            "run_state": run_state,
            "max_workers": args.max_workers,
        }),
        results: serde_json::to_value(&r)?,
        measurements: json!({"elapsed_ms": finite(elapsed_ms)?}),
        verdict,
    };
    github::append_summary(&env, &plan_cli::status_markdown(&r, plan))?;
    if let Some(why) = &r.stalled {
        github::annotate(
            &env,
            github::Level::Warning,
            &l.loc.file.display().to_string(),
            None,
            PROGRAM,
            why,
        );
    }
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    tracing::info!(
        run_state = RUN_STATE_FILE,
        present = l.run.path.is_some(),
        "run state"
    );
    let text = match args.format {
        Output::Table if args.common.quiet => None,
        Output::Table => Some(plan_cli::status_table(&r, plan, &env)),
        Output::Json if written.target == emit::Target::Stdout => None,
        Output::Json => Some(written.text.clone()),
        Output::Markdown => Some(plan_cli::status_markdown(&r, plan)),
        Output::Dot => Some(plan_cli::status_dot(&r, plan)),
        Output::Mermaid => Some(plan_cli::status_mermaid(&r, plan)),
        Output::GhaMatrix => Some(plan_cli::status_gha_matrix(&r, plan)),
    };
    if let Some(t) = text {
        print!("{t}");
    }
    Ok(exit::PASS)
}
