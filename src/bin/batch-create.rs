//! batch-create: scaffolds SUBPLAN or EXECUTION documents for a batch of a
//! plan's achievements, transactionally, never overwriting a file.

use clap::{ArgGroup, Parser};
use parci::batch_create::{self, Options, PROGRAM};
use parci::cli::{self, Common, Format};
use parci::plan_cli::LayoutArg;
use parci_core::plan::scaffold::{Mode, Selection};
use std::path::PathBuf;

/// Create SUBPLAN (or first EXECUTION) documents for a batch of achievements,
/// from templates filled with the plan's data. Existing files are never
/// overwritten (they are skipped); all files are written to temporary names
/// and moved into place at the end, and any failure removes what this run
/// created. Shows a preview first, then asks (or needs --yes without a terminal).
///
/// Exit status: 0 done (or nothing to do, or a dry run), 1 refused (--executions
/// without SUBPLANs) or declined at the prompt, 2 usage, plan or I/O error
/// (nothing written).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  batch-create --subplans --dry-run                  # preview the next batch in ./
  batch-create --subplans docs/examples/plan --next --yes
  batch-create --executions plans/q3 --ids 2.1,2.3 --yes --commit
  batch-create --subplans plans/q3 --level 2 --template-dir plans/templates --yes")]
#[command(group(ArgGroup::new("mode").required(true).args(["subplans", "executions"])))]
#[command(group(ArgGroup::new("which").args(["level", "next", "ids"])))]
struct Args {
    /// Create SUBPLAN documents: subplans/SUBPLAN_<ID>.md (context-manager's
    /// layout: subplans/SUBPLAN_<PLAN>_<NN>.md)
    #[arg(long)]
    subplans: bool,
    /// Create first EXECUTION documents: executions/EXECUTION_<ID>_1.md
    /// (context-manager's: execution/EXECUTION_TASK_<PLAN>_<NN>_01.md); each needs its SUBPLAN
    #[arg(long)]
    executions: bool,
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Every achievement on dependency level N that is not complete or skipped
    #[arg(long, value_name = "N")]
    level: Option<u32>,
    /// The next runnable batch, as status shows it [default]
    #[arg(long)]
    next: bool,
    /// These achievements (comma-separated IDs)
    #[arg(long, value_name = "A,B", value_delimiter = ',', num_args = 1..)]
    ids: Vec<String>,
    /// Show what would be created and stop; nothing is written to the plan folder
    #[arg(long)]
    dry_run: bool,
    /// Do not ask; required when stdin is not a terminal
    #[arg(short, long)]
    yes: bool,
    /// Read SUBPLAN.md / EXECUTION.md templates from DIR instead of the built-in ones
    #[arg(long, value_name = "DIR")]
    template_dir: Option<PathBuf>,
    /// Make one git commit holding exactly the created files
    #[arg(long)]
    commit: bool,
    /// What to print: the preview for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Marker-file names to write: the layout the plan already uses (auto;
    /// parci's for a plan without any), parci's or context-manager's (docs/plans.md)
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
            mode: if self.subplans {
                Mode::Subplans
            } else {
                Mode::Executions
            },
            selection: match (self.level, self.ids.is_empty()) {
                (Some(l), _) => Selection::Level(l),
                (None, false) => Selection::Ids(self.ids),
                (None, true) => Selection::Next,
            },
            dry_run: self.dry_run,
            yes: self.yes,
            template_dir: self.template_dir,
            commit: self.commit,
            format: self.format,
            layout: self.layout,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(batch_create::run(&args.into_options(), &env)?.code)
    })
}
