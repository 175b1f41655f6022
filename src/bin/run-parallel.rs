//! run-parallel: runs a plan's commands concurrently, as fast as the
//! dependencies allow, resumably, and leaves a receipt.

use clap::Parser;
use parci::cli::{self, Common, Format};
use parci::run_cli::{self, BudgetArgs, CacheArgs, RetryArgs};
use parci::run_console::Output;
use parci::run_parallel::{self, Action, Options, PROGRAM};
use std::path::PathBuf;

/// Run the `command` of every achievement of a plan, each as soon as its
/// dependencies succeeded, up to -j at a time: highest priority first, then
/// the longest remaining path, then ID. A string command runs as `sh -c
/// COMMAND`, an argv array without a shell; in the plan folder (or its `cwd`),
/// with its `env`, in its own process group, stdin closed, with PARCI_TASK_ID
/// and PARCI_ATTEMPT set; its output goes to target/parci/runs/<run>/<ID>.log
/// and to the console (--output). An
/// achievement without a command is a milestone: it completes when its
/// dependencies do. `exclusive` tasks run alone.
///
/// The state of every task is kept in <plan folder>/.parci/run-state.json
/// (rewritten atomically on every transition; status reads it); --resume skips
/// tasks that succeeded with the same command, unless something under them
/// runs again.
///
/// Failed tasks are retried (--retries or their `retries`) after a doubling
/// backoff; a task past its timeout gets SIGTERM to its process group, then
/// SIGKILL. Ctrl-C or SIGTERM stops the run the same way (a second one kills
/// at once) and saves the state.
///
/// Exit status: 0 every task succeeded, 1 a task failed (others skipped or not
/// run; the receipt says which and why), 2 the plan is not valid or a usage or
/// I/O error (nothing ran), 130 interrupted.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  run-parallel                                       # ./parallel.json, -j auto
  run-parallel docs/examples/plan -j 4 --keep-going
  run-parallel docs/examples/plan --resume           # after a failure or kill
  run-parallel docs/examples/plan -j 8 --dry-run     # the schedule, nothing run
  run-parallel docs/examples/plan --emit github-actions .github/workflows/plan.yml")]
struct Args {
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Tasks at once: a number >= 1, or `auto` (available parallelism)
    #[arg(short, long, value_name = "N|auto", default_value = "auto", value_parser = run_cli::parse_jobs)]
    jobs: usize,
    /// After a failure, run every task whose dependencies all succeeded
    /// (dependents of a failure are skipped)
    #[arg(long, overrides_with = "fail_fast")]
    keep_going: bool,
    /// After a failure, start nothing new; running tasks finish (the default)
    #[arg(long, overrides_with = "keep_going")]
    fail_fast: bool,
    /// Skip tasks that succeeded in the previous run with the same command
    #[arg(long)]
    resume: bool,
    /// Seconds a task without its own `timeout_s` may run; then SIGTERM to its
    /// process group, SIGKILL after --grace
    #[arg(long, value_name = "SECS", value_parser = run_cli::parse_secs)]
    timeout: Option<f64>,
    /// Run only these IDs (comma-separated) and what they depend on
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    only: Option<Vec<String>>,
    /// Leave these IDs (comma-separated) out; their dependents still run
    #[arg(long, value_name = "IDS", value_delimiter = ',')]
    skip: Vec<String>,
    /// Start nothing: `--emit github-actions FILE` writes the plan as a
    /// workflow (one job per command, needs: from the dependencies); `-` for stdout
    #[arg(long, num_args = 2, value_names = ["KIND", "FILE"])]
    emit: Option<Vec<String>>,
    /// Start nothing: print the schedule -j would give (estimated from the
    /// previous run's durations, else estimated_hours), the makespan against
    /// sequential time and the critical path. No state, no receipt.
    #[arg(long)]
    dry_run: bool,
    /// Task output on the console: grouped (one block per attempt when it
    /// ends; ::group:: on GitHub Actions), prefixed (live lines, `[ID] `
    /// first) or quiet (log files only). A progress bar shows on a terminal.
    #[arg(long, value_enum, default_value_t = Output::Grouped)]
    output: Output,
    /// Run each task in its own git worktree made from the starting commit;
    /// when one succeeds, commit its changes ("ID: title") and apply them onto
    /// the current branch, one at a time in completion order. A change that
    /// conflicts runs once more on the new HEAD, then fails as a conflict.
    /// Uncommitted changes in your tree are refused up front; nothing is
    /// force-reset; worktrees are removed at the end, also after Ctrl-C.
    #[arg(long)]
    worktrees: bool,
    #[command(flatten)]
    retry: RetryArgs,
    #[command(flatten)]
    cache: CacheArgs,
    /// Write the run as a Chrome trace: each task a span on its worker lane,
    /// cache hits marked; open it in ui.perfetto.dev or chrome://tracing
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Run only the tasks whose inputs match a file changed between BASE (a
    /// branch, tag or commit) and the working tree, and their dependents;
    /// tasks without inputs count as changed. The others are excluded
    #[arg(long, value_name = "BASE")]
    affected: Option<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// Seconds between SIGTERM and SIGKILL (timeouts, Ctrl-C)
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = run_cli::parse_secs)]
    grace: f64,
    /// What to print on stdout: a summary, or the receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
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
            action: Action::from_flags(self.emit, self.dry_run),
            jobs: self.jobs,
            keep_going: self.keep_going,
            resume: self.resume,
            retries: self.retry.retries,
            retry_backoff: self.retry.retry_backoff,
            retry_jitter: self.retry.retry_jitter,
            timeout: self.timeout,
            only: self.only,
            skip: self.skip,
            output: self.output,
            worktrees: self.worktrees,
            grace: self.grace,
            runs_dir: PathBuf::from("target/parci/runs"),
            cache: self.cache.mode(),
            cache_dir: self.cache.cache_dir,
            force_restore: self.cache.force_restore,
            explain: self.cache.explain,
            trace: self.trace,
            remote_cache: self.cache.remote_cache,
            remote_team: self.cache.remote_team,
            affected: self.affected,
            cpus: self.budget.cpus,
            memory: self.budget.memory,
            max_load: self.budget.load_average,
            format: self.format,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(run_parallel::run(&args.into_options(), &env)?.code)
    })
}
