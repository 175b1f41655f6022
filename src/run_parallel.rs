//! run-parallel's run: load and check the plan, then emit it as a workflow,
//! print its dry-run schedule, or run it (lock, state, console, commit queue)
//! and report (receipt, summary, annotations). The program in
//! `src/bin/run-parallel.rs` only turns its flags into [`Options`].

use crate::cli::{Common, Env, Format};
use crate::run_console::{Console, Output};
use crate::{emit, exit, github, plan_cli, run_cli};
use anyhow::{anyhow, bail};
use parci_core::plan::cache::{self, key, Mode as CacheMode, Session};
use parci_core::plan::fsstate::RUN_STATE_FILE;
use parci_core::plan::run::{self, StateFile};
use parci_core::plan::worktree::CommitQueue;
use parci_core::receipt::{Body, FileInput, Receipt, Verdict};
use serde_json::json;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const PROGRAM: &str = "run-parallel";

/// What to do with a valid plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Run its commands.
    Run,
    /// Print the schedule the jobs would give; nothing runs, nothing is written.
    DryRun,
    /// Write the plan as a workflow of `kind` to `file` (`-`: stdout).
    Emit { kind: String, file: PathBuf },
}

impl Action {
    /// From `--emit KIND FILE` (clap gives exactly two values) and `--dry-run`;
    /// `--emit` wins.
    pub fn from_flags(emit: Option<Vec<String>>, dry_run: bool) -> Action {
        match (emit.as_deref(), dry_run) {
            (Some([kind, file, ..]), _) => Action::Emit {
                kind: kind.clone(),
                file: PathBuf::from(file),
            },
            (_, true) => Action::DryRun,
            _ => Action::Run,
        }
    }
}

/// Everything one run-parallel run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// The plan folder or file; `None`: the current directory.
    pub plan: Option<PathBuf>,
    pub action: Action,
    pub jobs: usize,
    pub keep_going: bool,
    pub resume: bool,
    pub retries: u32,
    /// Seconds before the first retry.
    pub retry_backoff: f64,
    pub retry_jitter: bool,
    /// Seconds a task without its own timeout may run.
    pub timeout: Option<f64>,
    pub only: Option<Vec<String>>,
    pub skip: Vec<String>,
    pub output: Output,
    pub worktrees: bool,
    /// Seconds between SIGTERM and SIGKILL.
    pub grace: f64,
    /// Task logs go to `<runs_dir>/<run id>/`.
    pub runs_dir: PathBuf,
    /// The task cache's mode; none: `--no-cache`.
    pub cache: Option<CacheMode>,
    /// The cache folder; none: `<plan folder>/.parci/cache`.
    pub cache_dir: Option<PathBuf>,
    /// Overwrite outputs that differ from a cache hit's.
    pub force_restore: bool,
    /// Say what changed in this task's cache key, and do nothing else.
    pub explain: Option<String>,
    /// Write the run as a Chrome trace (Perfetto, chrome://tracing) here.
    pub trace: Option<PathBuf>,
    /// The remote cache's base URL (Turborepo's API); none: `TURBO_API`, else local only.
    pub remote_cache: Option<String>,
    /// The remote cache's team slug; none: `TURBO_TEAM`.
    pub remote_team: Option<String>,
    /// Run only the tasks whose inputs changed since this git revision,
    /// and their dependents.
    pub affected: Option<String>,
    /// CPUs the tasks' declared `cpus` may add up to; none: the machine's.
    pub cpus: Option<f64>,
    /// MB the tasks' declared `memory_mb` may add up to; none: the machine's.
    pub memory: Option<f64>,
    /// `-l`: hold new tasks while the load average is at least this.
    pub max_load: Option<f64>,
    pub format: Format,
    pub common: Common,
}

/// What a run produced: its exit code and, when tasks ran, the receipt.
pub struct Outcome {
    pub code: u8,
    pub receipt: Option<Receipt>,
}

impl Outcome {
    fn done(code: u8) -> Outcome {
        Outcome {
            code,
            receipt: None,
        }
    }
}

/// Runs, dry-runs or emits the plan (see [`Action`]): prints what
/// `opts.format` asks for, keeps the state file, writes the receipt.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let l = plan_cli::load_valid(opts.plan.as_deref(), plan_cli::LayoutArg::Auto)?;
    let c = &l.checked;
    let (plan, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let order = c.order.as_ref().expect("a valid plan is acyclic");
    let mut exclude = run::selection(plan, dag, opts.only.as_deref(), &opts.skip)
        .map_err(|e| anyhow!("{e}; IDs are those of {}", l.loc.file.display()))?;
    if let Some(base) = &opts.affected {
        let hit = parci_core::plan::affected::affected(plan, dag, &l.loc.dir, base)
            .map_err(|e| anyhow!(e))?;
        exclude.resize(plan.achievements.len(), false);
        for (x, h) in exclude.iter_mut().zip(hit) {
            *x |= !h;
        }
    }
    if let Err(bad) = run::check_dirs(plan, &l.loc.dir) {
        bail!("{}: {}", l.loc.file.display(), bad.join("; "));
    }
    let machine = run::resources::Budget::machine();
    let budget = run::resources::Budget {
        cpus: opts.cpus.unwrap_or(machine.cpus),
        memory_mb: opts.memory.unwrap_or(machine.memory_mb),
    };
    let too_large = run::resources::too_large(&plan.achievements, &budget);
    if let Some(first) = too_large.first() {
        bail!("{}: {first}", l.loc.file.display());
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
    let cache_dir = opts
        .cache_dir
        .clone()
        .unwrap_or_else(|| l.loc.dir.join(".parci/cache"));
    let env_var = |k: &str| std::env::var(k).ok();
    if let Some(id) = &opts.explain {
        let Some(i) = plan.achievements.iter().position(|a| &a.id == id) else {
            bail!(
                "--explain {id}: no such achievement in {}; pass one of its IDs",
                l.loc.file.display()
            );
        };
        let keys = key::keys(plan, dag, &l.loc.dir, &env_var);
        let lines = cache::explain(&cache_dir, id, &keys[i]).map_err(|e| anyhow!(e))?;
        for line in lines {
            println!("{line}");
        }
        return Ok(Outcome::done(exit::PASS));
    }
    match &opts.action {
        Action::Emit { kind, file } => {
            if kind != "github-actions" {
                bail!("--emit {kind}: unknown kind; the one there is: github-actions");
            }
            let dir = l.loc.dir.display().to_string();
            let text = parci_core::plan::emit_gha::workflow(plan, dag, order, &dir)
                .map_err(|e| anyhow!("{}: {e}", l.loc.file.display()))?;
            if file.as_os_str() == "-" {
                print!("{text}");
            } else {
                parci_core::fsutil::write_atomic(file, text.as_bytes())
                    .map_err(|e| anyhow!("{}: cannot write: {e}", file.display()))?;
            }
            return Ok(Outcome::done(exit::PASS));
        }
        Action::DryRun => {
            let w = run::weights(plan, previous.as_ref());
            let s = run::simulate(plan, dag, order, &w, opts.jobs, &exclude, &budget);
            let keys = key::keys(plan, dag, &l.loc.dir, &env_var);
            let session = match opts.cache {
                Some(m) => {
                    let mut s = Session::new(
                        m,
                        cache_dir.clone(),
                        false,
                        plan,
                        dag,
                        l.loc.dir.clone(),
                        &env_var,
                    );
                    s.remote = remote(opts)?;
                    Some(s)
                }
                None => None,
            };
            let rows: Vec<serde_json::Value> = plan
                .achievements
                .iter()
                .enumerate()
                .map(|(i, a)| {
                    // local file, else the remote's HEAD
                    let hit = session
                        .as_ref()
                        .filter(|c| c.mode.reads())
                        .is_some_and(|c| {
                            c.key(i).is_some_and(|k| {
                                c.local.path(&k).is_file()
                                    || c.remote.as_ref().is_some_and(|r| {
                                        r.exists(cache::store::hex_of(&k)).unwrap_or_else(|e| {
                                            eprintln!("run-parallel: warning: {e}");
                                            false
                                        })
                                    })
                            })
                        });
                    json!({
                        "id": a.id,
                        "key": keys[i].as_ref().ok().map(|r| r.key.clone()),
                        "cached": if a.command.is_none() { None } else { Some(hit) },
                        "never_cached": keys[i].as_ref().err(),
                    })
                })
                .collect();
            match opts.format {
                Format::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"jobs": opts.jobs, "tasks": rows}))?
                ),
                Format::Text => {
                    print!("{}", plan_cli::schedule_text(plan, &s, opts.jobs));
                    print!("{}", cache_text(&rows));
                }
            }
            return Ok(Outcome::done(exit::PASS));
        }
        Action::Run => {}
    }
    let _lock = run_cli::lock(&state_path)?;
    // What --resume read: the state file, and the journal replayed over it
    // when one was beside it (records of a killed run).
    let journal = run::journal::journal_path(&state_path);
    let resumed_journal = match opts.resume && journal.is_file() {
        true => Some(FileInput::hash(&journal)?),
        false => None,
    };
    let resumed_from = match (&previous, opts.resume) {
        (Some(_), true) => Some(FileInput::hash(&state_path)?),
        (None, true) => bail!(
            "{}: no state file to resume from; run without --resume first",
            state_path.display()
        ),
        _ => None,
    };
    let plan_input = plan_cli::plan_input(&l);
    let run_id = run_cli::run_id();
    let queue = if opts.worktrees {
        Some(CommitQueue::open(&l.loc.dir, &run_id).map_err(|e| anyhow!(e))?)
    } else {
        None
    };
    let ropts = run::Options {
        jobs: opts.jobs,
        keep_going: opts.keep_going,
        resume: opts.resume,
        log_dir: opts.runs_dir.join(&run_id),
        run_id,
        state_path,
        workdir: l.loc.dir.clone(),
        plan_sha256: plan_input.sha256.clone(),
        retries: opts.retries,
        retry_backoff: Duration::from_secs_f64(opts.retry_backoff),
        retry_jitter: opts.retry_jitter,
        timeout: opts.timeout.map(Duration::from_secs_f64),
        grace: Duration::from_secs_f64(opts.grace),
        interrupt: Some(&run_cli::INTERRUPTS),
        exclude,
        budget,
        max_load: opts.max_load,
        // --worktrees: a task's outputs become a commit in its own worktree,
        // not files in the plan folder the cache restores into: no cache.
        cache: match opts.cache.filter(|_| !opts.worktrees) {
            Some(m) => {
                let mut s = Session::new(
                    m,
                    cache_dir.clone(),
                    opts.force_restore,
                    plan,
                    dag,
                    l.loc.dir.clone(),
                    &env_var,
                );
                s.remote = remote(opts)?;
                Some(std::sync::Arc::new(s))
            }
            None => None,
        },
    };
    run_cli::catch_interrupts();
    let receipt_on_stdout = matches!(opts.format, Format::Json)
        || opts.common.receipt.as_deref() == Some(Path::new("-"));
    let bar = std::io::stderr().is_terminal() && !env.ci && !opts.common.quiet;
    let console = Console::new(
        if opts.common.quiet {
            Output::Quiet
        } else {
            opts.output
        },
        env.github_actions,
        receipt_on_stdout,
        bar,
        plan.achievements.len(),
    );
    let mut hooks = run_cli::RunHooks::new(console, queue);
    let o = run::run(plan, dag, order, previous.as_ref(), &ropts, &mut hooks);
    hooks.console.finish();
    let start_commit = hooks.queue.as_ref().map(|q| q.start());
    // Worktrees and their branches go now, whatever happened.
    if let Some(mut q) = hooks.queue.take() {
        q.cleanup();
    }
    let o = o?;

    if let Some(path) = &opts.trace {
        let trace = run::trace::chrome(plan, &o, &l.loc.file.display().to_string());
        let text = serde_json::to_string(&trace)?;
        parci_core::fsutil::write_atomic(path, text.as_bytes())
            .map_err(|e| anyhow!("{}: cannot write the trace: {e}", path.display()))?;
    }
    let problems = run::problems(plan, &o);
    let mut warnings = Vec::new();
    if let Some(c) = &ropts.cache {
        warnings = c.warnings();
        let ids: Vec<&str> = plan.achievements.iter().map(|a| a.id.as_str()).collect();
        if let Err(e) = c.write_records(&ids) {
            warnings.push(format!(
                "{}: cannot record the cache keys: {e}",
                cache_dir.display()
            ));
        }
    }
    for w in &warnings {
        eprintln!("run-parallel: warning: {w}");
    }
    let verdict =
        Verdict::from_findings(run_cli::clip(&problems, 50), run_cli::clip(&warnings, 50));
    let body = Body {
        inputs: json!({
            "plan": plan_input,
            "jobs": ropts.jobs,
            "mode": if ropts.keep_going { "keep-going" } else { "fail-fast" },
            "resume": ropts.resume,
            "resumed_from": resumed_from,
            "resumed_journal": resumed_journal,
            "retries": ropts.retries,
            "retry_backoff_s": opts.retry_backoff,
            "retry_jitter": opts.retry_jitter,
            "timeout_s": opts.timeout,
            "only": opts.only,
            "skip": opts.skip,
            "affected": opts.affected,
            "budget": {"cpus": finite_or_null(budget.cpus), "memory_mb": finite_or_null(budget.memory_mb), "max_load": opts.max_load},
            "commands": run_cli::commands(plan),
            "worktrees": opts.worktrees,
            "start_commit": start_commit,
            "cache": ropts.cache.as_ref().map(|c| json!({
                "mode": c.mode.name(),
                "dir": c.local.dir.display().to_string(),
                "force_restore": c.force_restore,
                "remote": c.remote.as_ref().map(|r| json!({
                    "url": r.base(),
                    "team": r.team(),
                    "signed": r.signed(),
                })),
            })),
        }),
        results: run::results_json(plan, dag, &o),
        measurements: run::measurements_json(plan, dag, order, ropts.jobs, &o)?,
        verdict,
    };
    for p in &problems {
        github::annotate(
            env,
            github::Level::Error,
            &l.loc.file.display().to_string(),
            None,
            PROGRAM,
            p,
        );
    }
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    let summary = run_cli::summary(&o, ropts.jobs, &ropts.log_dir);
    github::append_summary(env, &format!("### run-parallel\n\n{summary}"))?;
    match opts.format {
        Format::Json => written.echo(),
        Format::Text if opts.common.quiet => {}
        Format::Text => {
            for p in &problems {
                println!("  {p}");
            }
            print!("{summary}");
        }
    }
    let code = if o.interrupted {
        exit::INTERRUPTED
    } else {
        exit::gate(!o.all_succeeded())
    };
    Ok(Outcome {
        code,
        receipt: Some(written.receipt),
    })
}

/// The remote tier from `--remote-cache`/`--remote-team`, else Turborepo's
/// `TURBO_API`/`TURBO_TEAM`; the token from `PARCI_REMOTE_CACHE_TOKEN`, else
/// `TURBO_TOKEN`; the signing key from `PARCI_REMOTE_CACHE_SIGNATURE_KEY`,
/// else `TURBO_REMOTE_CACHE_SIGNATURE_KEY`. None: no URL anywhere.
fn remote(opts: &Options) -> anyhow::Result<Option<cache::remote::Remote>> {
    let var = |a: &str, b: &str| {
        std::env::var(a)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| std::env::var(b).ok().filter(|v| !v.is_empty()))
    };
    let Some(url) = opts
        .remote_cache
        .clone()
        .or_else(|| var("TURBO_API", "TURBO_API"))
    else {
        return Ok(None);
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("--remote-cache {url}: not an http(s) URL; pass e.g. https://cache.example.com");
    }
    let Some(team) = opts
        .remote_team
        .clone()
        .or_else(|| var("TURBO_TEAM", "TURBO_TEAM"))
    else {
        bail!("--remote-cache {url}: no team; pass --remote-team SLUG (or set TURBO_TEAM)");
    };
    let token = var("PARCI_REMOTE_CACHE_TOKEN", "TURBO_TOKEN");
    let key = var(
        "PARCI_REMOTE_CACHE_SIGNATURE_KEY",
        "TURBO_REMOTE_CACHE_SIGNATURE_KEY",
    )
    .map(String::into_bytes);
    Ok(Some(cache::remote::Remote::new(&url, &team, token, key)))
}

/// A budget as JSON: a number, or null when unlimited.
fn finite_or_null(x: f64) -> serde_json::Value {
    if x.is_finite() {
        json!(x)
    } else {
        serde_json::Value::Null
    }
}

/// The dry run's cache lines: each task's key and whether it would hit.
fn cache_text(rows: &[serde_json::Value]) -> String {
    let mut out = String::from("cache:\n");
    for r in rows {
        let id = r["id"].as_str().unwrap_or("?");
        let line = match (
            r["key"].as_str(),
            r["cached"].as_bool(),
            r["never_cached"].as_str(),
        ) {
            (_, None, _) => continue,
            (Some(k), Some(hit), _) => format!(
                "  {id:<20} {}  {}",
                &k[..k.len().min(19)],
                if hit {
                    "hit: restored, not run"
                } else {
                    "miss: runs"
                }
            ),
            (None, _, Some(why)) => format!("  {id:<20} {why}"),
            _ => continue,
        };
        out += &line;
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan folder: `b` after `a`, `c` fails unless `ok`.
    fn plan(dir: &Path, c_ok: bool) {
        let c = if c_ok { "true" } else { "exit 3" };
        let text = format!(
            r#"{{"plan_name": "t", "achievements": [
  {{"achievement_id": "a", "dependencies": [], "command": "echo a > a.out"}},
  {{"achievement_id": "b", "dependencies": ["a"], "command": "cat a.out > b.out"}},
  {{"achievement_id": "c", "dependencies": [], "command": "{c}"}}
]}}"#
        );
        std::fs::write(dir.join("parallel.json"), text).unwrap();
    }

    fn opts(dir: &Path) -> Options {
        Options {
            plan: Some(dir.to_path_buf()),
            action: Action::Run,
            jobs: 2,
            keep_going: true,
            resume: false,
            retries: 0,
            retry_backoff: 0.0,
            retry_jitter: false,
            timeout: Some(60.0),
            only: None,
            skip: vec![],
            output: Output::Quiet,
            worktrees: false,
            grace: 1.0,
            runs_dir: dir.join("runs"),
            cache: Some(CacheMode::ReadWrite),
            cache_dir: None,
            force_restore: false,
            explain: None,
            trace: None,
            remote_cache: None,
            remote_team: None,
            affected: None,
            cpus: None,
            memory: None,
            max_load: None,
            format: Format::Text,
            common: Common::quiet_to(dir.join("run.json")),
        }
    }

    #[test]
    fn tasks_run_in_dependency_order_and_the_receipt_says_so() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path(), true);
        let out = run(&opts(t.path()), &Env::plain(t.path())).unwrap();
        assert_eq!(out.code, exit::PASS);
        assert_eq!(
            std::fs::read_to_string(t.path().join("b.out")).unwrap(),
            "a\n"
        );
        let r = out.receipt.unwrap();
        assert_eq!(r.schema, "parci.run-parallel");
        assert_eq!(r.inputs["mode"], "keep-going");
        assert!(t.path().join(RUN_STATE_FILE).is_file());
    }

    #[test]
    fn a_failing_task_fails_the_gate_and_resume_skips_what_succeeded() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path(), false);
        let env = Env::plain(t.path());
        let failed = run(&opts(t.path()), &env).unwrap();
        assert_eq!(failed.code, exit::GATE_FAILED);
        let r = failed.receipt.unwrap();
        assert!(
            r.verdict.reasons.iter().any(|m| m.contains('c')),
            "{:?}",
            r.verdict
        );
        plan(t.path(), true);
        std::fs::remove_file(t.path().join("b.out")).unwrap();
        let o = Options {
            resume: true,
            ..opts(t.path())
        };
        let resumed = run(&o, &env).unwrap();
        assert_eq!(resumed.code, exit::PASS);
        let inputs = &resumed.receipt.unwrap().inputs;
        assert!(inputs["resumed_from"].is_object());
        // A run that ended folded its journal into the state file and removed it.
        assert!(inputs["resumed_journal"].is_null());
        assert!(
            !t.path().join("b.out").exists(),
            "b succeeded before: not run again"
        );
    }

    #[test]
    fn emit_and_dry_run_start_nothing() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path(), true);
        let env = Env::plain(t.path());
        let wf = t.path().join("wf.yml");
        let emit = Options {
            action: Action::Emit {
                kind: "github-actions".into(),
                file: wf.clone(),
            },
            ..opts(t.path())
        };
        assert_eq!(run(&emit, &env).unwrap().code, exit::PASS);
        assert!(std::fs::read_to_string(&wf).unwrap().contains("needs:"));
        let dry = Options {
            action: Action::DryRun,
            ..opts(t.path())
        };
        let out = run(&dry, &env).unwrap();
        assert!(out.receipt.is_none());
        assert!(!t.path().join("a.out").exists() && !t.path().join("run.json").exists());
        let bad = Options {
            action: Action::Emit {
                kind: "gitlab".into(),
                file: wf,
            },
            ..opts(t.path())
        };
        let e = run(&bad, &env).err().unwrap().to_string();
        assert_eq!(
            e,
            "--emit gitlab: unknown kind; the one there is: github-actions"
        );
    }
}
