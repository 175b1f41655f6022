//! validate-parallel: gates a parallel.json plan: JSON and schema, IDs,
//! dependencies, cycles, statuses against marker files.

use clap::Parser;
use parci::cli::{self, Common, Format};
use parci::plan_cli::LayoutArg;
use parci::validate_parallel::{self, Options, PROGRAM};
use std::path::PathBuf;

/// Check a parallel.json plan: schema (with line:column), duplicate and
/// case-colliding IDs, unknown and self dependencies, every cycle, complete
/// achievements with unfinished dependencies, marker files for unknown IDs.
///
/// Exit status: 0 valid (warnings allowed), 1 findings (warnings too with
/// --strict), 2 usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  validate-parallel                                  # ./parallel.json
  validate-parallel docs/examples/plan
  validate-parallel plans/q3/parallel.json --strict --format json")]
struct Args {
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Warnings fail too: complete-before-dependency and orphan-marker
    #[arg(long)]
    strict: bool,
    /// What to print: findings for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Marker-file names to check: those of the files present (auto), parci's
    /// or context-manager's (docs/plans.md, "Marker layouts")
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
            strict: self.strict,
            format: self.format,
            layout: self.layout,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(validate_parallel::run(&args.into_options(), &env)?.code)
    })
}
