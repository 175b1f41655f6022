//! run-parallel's CLI side: argument parsers, the signal handler that feeds
//! the executor's interrupt counter, receipt inputs, the summary line and the
//! hooks (console, commit queue) of a run.

use parci_core::plan::run::{After, Hooks, Outcome, Progress, Status, TaskState};
use parci_core::plan::worktree::{Applied, CommitQueue};
use parci_core::plan::{Achievement, Plan};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

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
