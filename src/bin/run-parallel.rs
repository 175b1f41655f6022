//! run-parallel: runs a plan's commands concurrently, as fast as the
//! dependencies allow, resumably, and leaves a receipt.

use anyhow::{anyhow, bail};
use clap::Parser;
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, github, plan_cli};
use parci_core::plan::fsstate::RUN_STATE_FILE;
use parci_core::plan::run::{self, Options, StateFile};
use parci_core::receipt::{Body, FileInput, Verdict};
use serde_json::json;
use std::path::PathBuf;

const PROGRAM: &str = "run-parallel";

/// Run the `command` of every achievement of a plan, each as soon as its
/// dependencies succeeded, up to -j at a time: lowest priority first, then the
/// longest remaining path, then ID. Each task runs as `sh -c COMMAND` in the
/// plan folder, in its own process group, stdin closed, with PARCI_TASK_ID and
/// PARCI_ATTEMPT set; its output goes to target/parci/runs/<run>/<ID>.log. An
/// achievement without a command is a milestone: it completes when its
/// dependencies do. `exclusive` tasks run alone.
///
/// The state of every task is kept in <plan folder>/.parci/run-state.json
/// (rewritten atomically on every transition; status reads it); --resume skips
/// tasks that succeeded with the same command, unless something under them
/// runs again.
///
/// Exit status: 0 every task succeeded, 1 a task failed (others skipped or not
/// run; the receipt says which and why), 2 the plan is not valid or a usage or
/// I/O error (nothing ran).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  run-parallel                                       # ./parallel.json, -j auto
  run-parallel docs/examples/plan -j 4 --keep-going
  run-parallel docs/examples/plan --resume           # after a failure or kill")]
struct Args {
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Tasks at once: a number >= 1, or `auto` (available parallelism)
    #[arg(short, long, value_name = "N|auto", default_value = "auto", value_parser = parse_jobs)]
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
    /// What to print on stdout: a summary, or the receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
}

fn parse_jobs(s: &str) -> Result<usize, String> {
    if s == "auto" {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    match s.parse::<usize>() {
        Ok(0) => Err("-j 0 runs nothing; give 1 or more, or auto".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number; give 1 or more, or auto")),
    }
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
    let state_path = l.loc.dir.join(RUN_STATE_FILE);
    let previous = StateFile::load(&state_path).map_err(|e| anyhow!(e))?;
    if let Some(p) = previous.as_ref().filter(|p| p.active) {
        let running: Vec<&str> = (p.tasks.iter())
            .filter(|(_, t)| t.status == run::Status::Running)
            .map(|(id, _)| id.as_str())
            .collect();
        tracing::warn!(?running, "the previous run did not end cleanly (killed?)");
    }
    let resumed_from = match (&previous, args.resume) {
        (Some(_), true) => Some(FileInput::hash(&state_path)?),
        (None, true) => bail!(
            "{}: no state file to resume from; run without --resume first",
            state_path.display()
        ),
        _ => None,
    };
    let plan_input = plan_cli::plan_input(&l);
    let run_id = format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    );
    let opts = Options {
        jobs: args.jobs,
        keep_going: args.keep_going,
        resume: args.resume,
        log_dir: PathBuf::from("target/parci/runs").join(&run_id),
        run_id,
        state_path,
        workdir: l.loc.dir.clone(),
        plan_sha256: plan_input.sha256.clone(),
    };
    let o = run::run(plan, dag, order, previous.as_ref(), &opts)?;

    let problems = run::problems(plan, &o);
    let verdict = Verdict::from_findings(clip(&problems, 50), vec![]);
    let commands: serde_json::Map<String, serde_json::Value> = (plan.achievements.iter())
        .map(|a| {
            (
                a.id.clone(),
                json!(a.command.as_deref().map(run::command_hash)),
            )
        })
        .collect();
    let body = Body {
        inputs: json!({
            "plan": plan_input,
            "jobs": opts.jobs,
            "mode": if opts.keep_going { "keep-going" } else { "fail-fast" },
            "resume": opts.resume,
            "resumed_from": resumed_from,
            "commands": commands,
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
    let summary = format!(
        "run-parallel: {} tasks: {} succeeded ({} resumed), {} failed, {} skipped, {} not run in {:.2} s at -j {}; logs in {}\n",
        o.tasks.len(),
        o.count(run::Status::Succeeded),
        o.tasks.iter().filter(|t| t.resumed).count(),
        o.count(run::Status::Failed),
        o.count(run::Status::Skipped),
        o.count(run::Status::NotRun),
        o.makespan_ms / 1e3,
        opts.jobs,
        opts.log_dir.display(),
    );
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
    Ok(if o.all_succeeded() {
        exit::PASS
    } else {
        exit::GATE_FAILED
    })
}

fn clip(lines: &[String], n: usize) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().take(n).cloned().collect();
    if lines.len() > n {
        v.push(format!("… and {} more", lines.len() - n));
    }
    v
}
