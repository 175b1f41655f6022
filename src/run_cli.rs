//! run-parallel's CLI side: argument parsers, the signal handler that feeds
//! the executor's interrupt counter, receipt inputs, the summary line and the
//! hooks (console, commit queue) of a run.

use parci_core::plan::cache::Mode as CacheMode;
use parci_core::plan::run::{After, Hooks, Outcome, Progress, Status, TaskState};
use parci_core::plan::worktree::{Applied, CommitQueue};
use parci_core::plan::{Achievement, Plan};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// run-parallel's retry flags.
#[derive(clap::Args, Debug)]
pub struct RetryArgs {
    /// Retries of a failed task without its own `retries`
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub retries: u32,
    /// Seconds before the first retry; doubles per retry, capped at 60
    #[arg(long, value_name = "SECS", default_value_t = 1.0, value_parser = parse_secs)]
    pub retry_backoff: f64,
    /// Spread each retry's wait at random over [wait/2, wait], so tasks that
    /// failed together do not retry together
    #[arg(long)]
    pub retry_jitter: bool,
}

/// run-parallel's resource budget flags.
#[derive(clap::Args, Debug)]
pub struct BudgetArgs {
    /// CPUs the running tasks' declared `cpus` may add up to [default: the machine's]
    #[arg(long, value_name = "N", value_parser = parse_amount)]
    pub cpus: Option<f64>,
    /// MB the running tasks' declared `memory_mb` may add up to [default: the machine's]
    #[arg(long, value_name = "MB", value_parser = parse_amount)]
    pub memory: Option<f64>,
    /// Start no new task while the 1-minute load average is at least LOAD
    /// and a task is running (as make -l and ninja -l)
    #[arg(short = 'l', long = "load-average", value_name = "LOAD", value_parser = parse_amount)]
    pub load_average: Option<f64>,
}

/// `--cache`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CacheArg {
    Read,
    Write,
    Readwrite,
}

/// run-parallel's task-cache flags.
#[derive(clap::Args, Debug)]
pub struct CacheArgs {
    /// The task cache: read (restore hits, store nothing), write (run
    /// everything, store successes) or readwrite. Tasks with `inputs` are
    /// keyed by their command, env, inputs' contents and dependencies' keys
    #[arg(long, value_enum, default_value_t = CacheArg::Readwrite, conflicts_with = "no_cache")]
    pub cache: CacheArg,
    /// Neither read nor write the task cache
    #[arg(long)]
    pub no_cache: bool,
    /// The cache folder [default: <plan folder>/.parci/cache]
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// On a cache hit, overwrite outputs that differ from the cached ones
    /// (else they are kept, with a warning)
    #[arg(long)]
    pub force_restore: bool,
    /// Print what changed in task ID's cache key since the last run, and run nothing
    #[arg(long, value_name = "ID")]
    pub explain: Option<String>,
    /// A remote cache speaking Turborepo's HTTP API (turborepo-remote-cache,
    /// or any compatible service), looked up after the local one; the token
    /// comes from PARCI_REMOTE_CACHE_TOKEN (or TURBO_TOKEN), never a flag
    /// [default: TURBO_API]
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// The remote cache's team slug [default: TURBO_TEAM]
    #[arg(long, value_name = "SLUG")]
    pub remote_team: Option<String>,
}

impl CacheArgs {
    /// The cache mode asked for; `None` with `--no-cache`.
    pub fn mode(&self) -> Option<CacheMode> {
        (!self.no_cache).then_some(match self.cache {
            CacheArg::Read => CacheMode::Read,
            CacheArg::Write => CacheMode::Write,
            CacheArg::Readwrite => CacheMode::ReadWrite,
        })
    }
}

pub fn parse_jobs(s: &str) -> Result<usize, String> {
    if s == "auto" {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    match s.parse::<usize>() {
        Ok(0) => Err("-j 0 runs nothing; give 1 or more, or auto".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number; give 1 or more, or auto")),
    }
}

pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1e9).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds >= 0")),
    }
}

/// A non-negative amount (`--cpus`, `--memory`, `-l`).
pub fn parse_amount(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1e12).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number >= 0")),
    }
}

/// Ctrl-C and SIGTERM requests: the first stops the run gracefully, a second
/// kills the running tasks at once (plan::run polls this).
pub static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

pub fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Holds `.parci/run.lock` beside the state file with `flock` for as long
/// as it lives: a second run-parallel on the same plan is refused instead of
/// racing the first over the state file. The kernel drops the lock when the
/// process dies, even by SIGKILL.
pub struct RunLock(#[allow(dead_code)] std::fs::File);

pub fn lock(state_path: &Path) -> anyhow::Result<RunLock> {
    use std::os::fd::AsRawFd;
    let path = state_path.with_file_name("run.lock");
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", d.display()))?;
    }
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!(
            "{}: another run-parallel is running this plan; wait for it or stop it",
            path.display()
        );
    }
    Ok(RunLock(f))
}

/// This run's ID: Unix seconds and the process ID (names the log folder).
pub fn run_id() -> String {
    format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    )
}

/// The receipt's `inputs.commands`: ID -> command hash (null for milestones).
pub fn commands(plan: &Plan) -> Value {
    let m: Map<String, Value> = plan
        .achievements
        .iter()
        .map(|a| (a.id.clone(), json!(a.command_hash())))
        .collect();
    Value::Object(m)
}

/// The one-line end summary.
pub fn summary(o: &Outcome, jobs: usize, log_dir: &Path) -> String {
    let mut parts = vec![format!(
        "{} succeeded ({} resumed)",
        o.count(Status::Succeeded),
        o.tasks.iter().filter(|t| t.resumed).count()
    )];
    for (s, what) in [
        (Status::Cached, "cached"),
        (Status::Failed, "failed"),
        (Status::Skipped, "skipped"),
        (Status::NotRun, "not run"),
        (Status::Interrupted, "interrupted"),
        (Status::Excluded, "excluded"),
    ] {
        let n = o.count(s);
        if n > 0 || matches!(s, Status::Failed) {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "run-parallel: {} tasks: {} in {:.2} s at -j {jobs}; logs in {}\n",
        o.tasks.len(),
        parts.join(", "),
        o.makespan_ms / 1e3,
        log_dir.display()
    )
}

pub fn clip(lines: &[String], n: usize) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().take(n).cloned().collect();
    if lines.len() > n {
        v.push(format!("… and {} more", lines.len() - n));
    }
    v
}

/// Everything run-parallel hooks into a run: the console, and with
/// `--worktrees` the commit queue (each task in its own worktree, its change
/// applied onto the branch when it succeeds, one at a time, in completion
/// order).
pub struct RunHooks {
    pub console: crate::run_console::Console,
    pub queue: Option<CommitQueue>,
    /// Tasks whose change already conflicted once.
    conflicted: HashSet<String>,
}

impl RunHooks {
    pub fn new(console: crate::run_console::Console, queue: Option<CommitQueue>) -> RunHooks {
        RunHooks {
            console,
            queue,
            conflicted: HashSet::new(),
        }
    }
}

impl Hooks for RunHooks {
    fn workdir(&mut self, a: &Achievement, fresh: bool) -> Result<Option<PathBuf>, String> {
        match &mut self.queue {
            // A task with dependencies starts from the branch as it is now,
            // which holds its dependencies' committed changes.
            Some(q) => q
                .prepare(&a.id, fresh || !a.dependencies.is_empty())
                .map(Some),
            None => Ok(None),
        }
    }
    fn started(&mut self, i: usize, a: &Achievement, t: &TaskState) {
        self.console.started(i, a, t)
    }
    fn ended(&mut self, i: usize, a: &Achievement, t: &TaskState) {
        self.console.ended(i, a, t)
    }
    fn succeeded(&mut self, _i: usize, a: &Achievement) -> After {
        let Some(q) = &mut self.queue else {
            return After::Done;
        };
        match q.complete(&a.id, a.label()) {
            Ok(Applied::Commit(sha)) => {
                tracing::info!(id = %a.id, %sha, "committed onto the branch");
                After::Done
            }
            Ok(Applied::NoChanges) => After::Done,
            Ok(Applied::Conflict(why)) if self.conflicted.insert(a.id.clone()) => After::Again(
                format!("its change conflicted ({why}); run again on the new HEAD"),
            ),
            Ok(Applied::Conflict(why)) => {
                let kept = q.keep_branch(&a.id).map_or_else(
                    |e| format!("; its branch could not be kept: {e}"),
                    |b| format!("; its work is on branch {b}"),
                );
                After::Fail(format!(
                    "its change conflicts with the branch, also after a re-run on the new HEAD ({why}){kept}"
                ))
            }
            Err(e) => After::Fail(format!("its change could not be applied: {e}")),
        }
    }
    fn progress(&mut self, p: Progress) {
        self.console.progress(p)
    }
    fn tick_every(&self) -> Option<Duration> {
        self.console.tick_every()
    }
    fn tick(&mut self) {
        self.console.tick()
    }
}
