//! status: what in a plan is done, what can start next, what blocks the rest;
//! derived from the plan's marker files, never written back.

use clap::Parser;
use parci::cli::{self, Common};
use parci::plan_cli::LayoutArg;
use parci::status::{self, Options, Output, PROGRAM};
use std::path::PathBuf;

/// Show a plan's status from its files: per-level table, counts, the next
/// runnable batch, what blocks the rest, the critical path, how many workers
/// help and how many batches remain.
///
/// Status per achievement: reviews/APPROVED_<ID>.md complete, SKIPPED skipped,
/// running in .parci/run-state.json in_progress, FIX (without a later APPROVED)
/// failed, executions/EXECUTION_<ID>_<N>.md execution_created,
/// subplans/SUBPLAN_<ID>.md subplan_created, else not_started. A plan in
/// context-manager's layout (execution/feedbacks/APPROVED_<NN>.md, ...) is read
/// in its names, detected from the files present (--layout).
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
    /// Marker-file names to read: those of the files present (auto), parci's
    /// (subplans/, executions/, reviews/) or context-manager's (subplans/SUBPLAN_<PLAN>_<NN>.md,
    /// execution/, execution/feedbacks/; <NN> is the ID without its dots)
    #[arg(long, value_enum, default_value_t = LayoutArg::Auto)]
    layout: LayoutArg,
    #[command(flatten)]
    common: Common,
}

impl cli::Program for Args {
    fn common(&self) -> &Common {
        &self.common
    }
}

impl Args {
    fn into_options(self) -> Options {
        Options {
            plan: self.plan,
            format: self.format,
            max_workers: self.max_workers,
            layout: self.layout,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(status::run(&args.into_options(), &env)?.code)
    })
}
