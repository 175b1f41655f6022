//! run-parallel: runs a plan's commands concurrently, as fast as the
//! dependencies allow, resumably, and leaves a receipt.

use anyhow::{anyhow, bail};
use clap::Parser;
use parci::cli::{self, Common, Env, Format};
use parci::run_console::{Console, Output};
use parci::{emit, exit, github, plan_cli, run_cli};
use parci_core::plan::fsstate::RUN_STATE_FILE;
use parci_core::plan::run::{self, Options, StateFile};
use parci_core::receipt::{Body, FileInput, Verdict};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

const PROGRAM: &str = "run-parallel";

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
    /// Retries of a failed task without its own `retries`
    #[arg(long, value_name = "N", default_value_t = 0)]
    retries: u32,
    /// Seconds before the first retry; doubles per retry, capped at 60
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = run_cli::parse_secs)]
    retry_backoff: f64,
    /// Spread each retry's wait at random over [wait/2, wait], so tasks that
    /// failed together do not retry together
    #[arg(long)]
    retry_jitter: bool,
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
    /// Seconds between SIGTERM and SIGKILL (timeouts, Ctrl-C)
    #[arg(long, value_name = "SECS", default_value_t = 5.0, value_parser = run_cli::parse_secs)]
    grace: f64,
    /// What to print on stdout: a summary, or the receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging(&args.common);
    cli::main_with(PROGRAM, || go(args, Env::read()))
}

fn go(args: Args, env: Env) -> anyhow::Result<u8> {
    let l = plan_cli::load_valid(args.plan.as_deref())?;
    let c = &l.checked;
    let (plan, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let order = c.order.as_ref().expect("a valid plan is acyclic");
    let exclude = run::selection(plan, dag, args.only.as_deref(), &args.skip)
        .map_err(|e| anyhow!("{e}; IDs are those of {}", l.loc.file.display()))?;
    if let Err(bad) = run::check_dirs(plan, &l.loc.dir) {
        bail!("{}: {}", l.loc.file.display(), bad.join("; "));
    }
    let state_path = l.loc.dir.join(RUN_STATE_FILE);
    let previous = StateFile::load(&state_path).map_err(|e| anyhow!(e))?;
    if let Some(p) = previous.as_ref().filter(|p| p.active) {
        let running: Vec<&str> = (p.tasks.iter())
            .filter(|(_, t)| t.status == run::Status::Running)
            .map(|(id, _)| id.as_str())
            .collect();
        tracing::warn!(?running, "the previous run did not end cleanly (killed?)");
    }
    if let Some(emit) = &args.emit {
        if emit[0] != "github-actions" {
            bail!(
                "--emit {}: unknown kind; the one there is: github-actions",
                emit[0]
            );
        }
        let file = Path::new(&emit[1]);
        let dir = l.loc.dir.display().to_string();
        let text = parci_core::plan::emit_gha::workflow(plan, dag, order, &dir)
            .map_err(|e| anyhow!("{}: {e}", l.loc.file.display()))?;
        if file.as_os_str() == "-" {
            print!("{text}");
        } else {
            parci_core::fsutil::write_atomic(file, text.as_bytes())
                .map_err(|e| anyhow!("{}: cannot write: {e}", file.display()))?;
        }
        return Ok(exit::PASS);
    }
    if args.dry_run {
        let w = run::weights(plan, previous.as_ref());
        let s = run::simulate(plan, dag, order, &w, args.jobs, &exclude);
        print!("{}", plan_cli::schedule_text(plan, &s, args.jobs));
        return Ok(exit::PASS);
    }
    let _lock = run_cli::lock(&state_path)?;
    let resumed_from = match (&previous, args.resume) {
        (Some(_), true) => Some(FileInput::hash(&state_path)?),
        (None, true) => bail!(
            "{}: no state file to resume from; run without --resume first",
            state_path.display()
        ),
        _ => None,
    };
    let plan_input = plan_cli::plan_input(&l);
    let run_id = run_cli::run_id();
    let queue = if args.worktrees {
        Some(
            parci_core::plan::worktree::CommitQueue::open(&l.loc.dir, &run_id)
                .map_err(|e| anyhow!(e))?,
        )
    } else {
        None
    };
    let opts = Options {
        jobs: args.jobs,
        keep_going: args.keep_going,
        resume: args.resume,
        log_dir: PathBuf::from("target/parci/runs").join(&run_id),
        run_id,
        state_path,
        workdir: l.loc.dir.clone(),
        plan_sha256: plan_input.sha256.clone(),
        retries: args.retries,
        retry_backoff: Duration::from_secs_f64(args.retry_backoff),
        retry_jitter: args.retry_jitter,
        timeout: args.timeout.map(Duration::from_secs_f64),
        grace: Duration::from_secs_f64(args.grace),
        interrupt: Some(&run_cli::INTERRUPTS),
        exclude,
    };
    run_cli::catch_interrupts();
    let receipt_on_stdout = matches!(args.format, Format::Json)
        || args.common.receipt.as_deref() == Some(Path::new("-"));
    let bar = std::io::stderr().is_terminal() && !env.ci && !args.common.quiet;
    let console = Console::new(
        if args.common.quiet {
            Output::Quiet
        } else {
            args.output
        },
        env.github_actions,
        receipt_on_stdout,
        bar,
        plan.achievements.len(),
    );
    let mut hooks = run_cli::RunHooks::new(console, queue);
    let o = run::run(plan, dag, order, previous.as_ref(), &opts, &mut hooks);
    hooks.console.finish();
    let start_commit = hooks.queue.as_ref().map(|q| q.start());
    // Worktrees and their branches go now, whatever happened.
    if let Some(mut q) = hooks.queue.take() {
        q.cleanup();
    }
    let o = o?;

    let problems = run::problems(plan, &o);
    let verdict = Verdict::from_findings(run_cli::clip(&problems, 50), vec![]);
    let body = Body {
        inputs: json!({
            "plan": plan_input,
            "jobs": opts.jobs,
            "mode": if opts.keep_going { "keep-going" } else { "fail-fast" },
            "resume": opts.resume,
            "resumed_from": resumed_from,
            "retries": opts.retries,
            "retry_backoff_s": args.retry_backoff,
            "retry_jitter": args.retry_jitter,
            "timeout_s": args.timeout,
            "only": args.only,
            "skip": args.skip,
            "commands": run_cli::commands(plan),
            "worktrees": args.worktrees,
            "start_commit": start_commit,
        }),
        results: run::results_json(plan, dag, &o),
        measurements: run::measurements_json(plan, dag, order, opts.jobs, &o)?,
        verdict,
    };
    for p in &problems {
        github::annotate(
            &env,
            github::Level::Error,
            &l.loc.file.display().to_string(),
            None,
            PROGRAM,
            p,
        );
    }
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    let summary = run_cli::summary(&o, opts.jobs, &opts.log_dir);
    github::append_summary(&env, &format!("### run-parallel\n\n{summary}"))?;
    match args.format {
        Format::Json if written.target != emit::Target::Stdout => print!("{}", written.text),
        Format::Json => {}
        Format::Text if args.common.quiet => {}
        Format::Text => {
            for p in &problems {
                println!("  {p}");
            }
            print!("{summary}");
        }
    }
    Ok(if o.interrupted {
        exit::INTERRUPTED
    } else if o.all_succeeded() {
        exit::PASS
    } else {
        exit::GATE_FAILED
    })
}
