//! run-parallel's executor: runs the commands of a plan's achievements as fast
//! as their dependencies allow (docs/run-parallel.md). One file per question,
//! on ninja's model (build.cc, subprocess-posix.cc, build_log.cc):
//!
//! - `schedule.rs`: what runs next. One rank per task computed up front (the
//!   highest `priority`, then the longest remaining path to the end of the
//!   plan, weighted by the previous run's measured durations, else
//!   `estimated_hours`, then the ID), so picking the next ready task is a heap
//!   pop; `--only`/`--skip` selection; the dry run's simulation.
//! - `exec.rs`: the run itself. A task is ready when every dependency
//!   succeeded; `exclusive` tasks run alone. Fail-fast (default): after a
//!   failure nothing new starts, running tasks finish, the rest is `not_run`.
//!   Keep-going: dependents of a failure are `skipped` transitively, each
//!   naming the failed ancestor (`because`). Resume keeps a task when the
//!   previous state says it succeeded with the same command hash and none of
//!   its dependencies runs again.
//! - `retry.rs`: when a failed task is tried again (doubling backoff, jitter).
//! - `process.rs`: how a process is started, watched and stopped: `sh -c
//!   COMMAND` (or an argv) in its own process group, stdin null,
//!   `PARCI_TASK_ID` / `PARCI_ATTEMPT` set, a parent-death signal on Linux;
//!   timeouts and interruption as SIGTERM to the group, SIGKILL after the grace.
//! - `logs.rs`: where task output goes (`<log_dir>/<ID>.log`), the files
//!   created ahead of the scheduler by a helper thread.
//! - `state.rs` and [`journal`]: what is written so a run can resume. Each batch
//!   of transitions is appended to `.parci/run-state.journal` (one line per
//!   task that changed, one `write` each, by a writer thread); the journal is
//!   compacted into `.parci/run-state.json` (the whole state, atomically) when
//!   it grows, when the run goes quiet, at least every second, and at the end.
//!   Readers replay the journal over the state file ([`replay`]).
//! - `report.rs`: the receipt's `results` and `measurements`, the problem
//!   lines, and the verify-receipt gate.

mod exec;
pub mod journal;
mod logs;
mod process;
pub mod replay;
mod report;
pub mod resources;
mod retry;
mod schedule;
mod state;
#[cfg(test)]
mod tests;
pub mod trace;

pub use exec::run;
pub use process::check_dirs;
pub use report::{gate_run_consistent, measurements_json, problems, results_json};
pub use retry::{backoff, jittered};
pub use schedule::{ranks, selection, simulate, weights, Schedule};
pub use state::{Attempt, StateFile, Status, TaskState, STATE_VERSION};

use super::model::Achievement;
use std::path::PathBuf;
use std::time::Duration;

/// What one run is asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    /// Tasks that may run at once (>= 1).
    pub jobs: usize,
    /// Keep going after a failure (else fail fast).
    pub keep_going: bool,
    /// Skip tasks the previous state says succeeded with the same command.
    pub resume: bool,
    pub run_id: String,
    /// Where `<id>.log` files go (created).
    pub log_dir: PathBuf,
    /// The state file (`<plan folder>/.parci/run-state.json`).
    pub state_path: PathBuf,
    /// Working directory of every task (the plan folder).
    pub workdir: PathBuf,
    /// sha256 hex of the plan file, recorded in the state.
    pub plan_sha256: String,
    /// Retries of a task without its own `retries`.
    pub retries: u32,
    /// Wait before the first retry; doubles per retry, capped at 60 s.
    pub retry_backoff: Duration,
    /// Spread retries: each wait is drawn from [wait / 2, wait] ([`jittered`]).
    pub retry_jitter: bool,
    /// Timeout of a task without its own `timeout_s`.
    pub timeout: Option<Duration>,
    /// Between SIGTERM and SIGKILL (timeouts, interruption).
    pub grace: Duration,
    /// Interruption requests (Ctrl-C, SIGTERM) counted by the caller's signal
    /// handler: 1 stops gracefully, 2 kills at once.
    pub interrupt: Option<&'static std::sync::atomic::AtomicU32>,
    /// Per task (plan order): left out of this run. Empty: none.
    pub exclude: Vec<bool>,
    /// What may run at once (`--cpus`, `--memory`).
    pub budget: resources::Budget,
    /// `-l`: start nothing new while the load average is at least this and a task runs.
    pub max_load: Option<f64>,
    /// The task cache (docs/run-parallel.md, "Cache"); none: `--no-cache`.
    pub cache: Option<std::sync::Arc<crate::plan::cache::Session>>,
}

impl Options {
    /// Defaults for everything but the paths and IDs.
    pub fn new(jobs: usize, log_dir: PathBuf, state_path: PathBuf, workdir: PathBuf) -> Options {
        Options {
            jobs,
            keep_going: false,
            resume: false,
            run_id: "run".into(),
            log_dir,
            state_path,
            workdir,
            plan_sha256: String::new(),
            retries: 0,
            retry_backoff: Duration::from_secs(1),
            retry_jitter: false,
            timeout: None,
            grace: Duration::from_secs(5),
            interrupt: None,
            exclude: Vec::new(),
            budget: resources::Budget::UNLIMITED,
            max_load: None,
            cache: None,
        }
    }
}

/// How a run went.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Final state of every task, in plan order.
    pub tasks: Vec<TaskState>,
    /// Task indices in the order they finished (resumed tasks not included).
    pub completion_order: Vec<u32>,
    /// Wall time of the whole run, milliseconds.
    pub makespan_ms: f64,
    /// The previous state file existed and was read.
    pub had_previous: bool,
    /// The run was interrupted.
    pub interrupted: bool,
}

impl Outcome {
    /// Number of tasks per status.
    pub fn count(&self, s: Status) -> usize {
        self.tasks.iter().filter(|t| t.status == s).count()
    }

    /// Every task succeeded (or was left out of the run).
    pub fn all_succeeded(&self) -> bool {
        self.tasks.iter().all(|t| {
            matches!(
                t.status,
                Status::Succeeded | Status::Excluded | Status::Cached
            )
        })
    }
}

/// Counts for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub running: usize,
    /// Succeeded (also resumed, cached and milestones), failed, skipped or excluded.
    pub finished: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// What a task that succeeded leads to, as a hook decides
/// ([`Hooks::succeeded`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// It stays succeeded.
    Done,
    /// Run it once more from a fresh start (`--worktrees`: a change that did
    /// not apply, re-run on the new HEAD). Not a retry: no backoff, and a
    /// second `Again` counts as a failure with this reason.
    Again(String),
    /// It failed after all, for this reason.
    Fail(String),
}

/// What the caller hears and decides during a run, on the scheduler's thread
/// (so implementations need no locks). Every method has a default that does
/// nothing: the console, the progress bar and the commit queue live in the
/// program, not here.
pub trait Hooks {
    /// The folder task `a` runs in before its `cwd` applies; `fresh` asks for
    /// a clean start (an [`After::Again`]). None: the plan folder.
    fn workdir(&mut self, _a: &Achievement, _fresh: bool) -> Result<Option<PathBuf>, String> {
        Ok(None)
    }
    /// An attempt of task `i` started; `t.log` is its output file.
    fn started(&mut self, _i: usize, _a: &Achievement, _t: &TaskState) {}
    /// An attempt of task `i` ended; `t.status` is what follows (`queued`
    /// again when a retry comes).
    fn ended(&mut self, _i: usize, _a: &Achievement, _t: &TaskState) {}
    /// Task `i` exited 0: keep it, run it again, or fail it.
    fn succeeded(&mut self, _i: usize, _a: &Achievement) -> After {
        After::Done
    }
    /// Counts after every batch of transitions, when [`Hooks::tick_every`] is set.
    fn progress(&mut self, _p: Progress) {}
    /// Called at least this often while tasks run (none: never).
    fn tick_every(&self) -> Option<Duration> {
        None
    }
    /// The periodic call (live output).
    fn tick(&mut self) {}
}

/// Hooks that do nothing.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Errors that stop a run before or while it goes (I/O on the state or logs).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Io(String),
}
