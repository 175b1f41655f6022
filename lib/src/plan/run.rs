//! run-parallel's executor: runs the commands of a plan's achievements as fast
//! as their dependencies allow (docs/run-parallel.md).
//!
//! - **Scheduling.** A task is ready when every dependency succeeded. Among
//!   ready tasks the highest `priority` goes first (absent is 0, as in the
//!   plan model), then the longest remaining path to the end of
//!   the plan (weighted by the previous run's measured durations when the state
//!   file has them, else `estimated_hours`), then the ID. The order is one rank
//!   per task computed up front, so picking the next task is a heap pop.
//!   `exclusive` tasks run alone: they start when nothing runs, and nothing
//!   starts while they run.
//! - **Processes.** `sh -c COMMAND` in the plan folder, in its own process
//!   group, stdin null, `PARCI_TASK_ID` / `PARCI_ATTEMPT` set, stdout and
//!   stderr to `<log_dir>/<id>.log`. On Linux each task gets a parent-death
//!   signal (SIGKILL), so it does not outlive the executor's thread.
//! - **Failures.** Fail-fast (default): after a failure nothing new starts,
//!   running tasks finish, the rest is `not_run`. Keep-going: every task whose
//!   dependencies all succeeded runs; dependents of a failure are `skipped`
//!   transitively, each naming the failed ancestor (`because`).
//! - **State.** [`StateFile`] at `.parci/run-state.json` beside the plan,
//!   rewritten atomically (temp, fsync, rename) after every batch of
//!   transitions, by a writer thread so that the scheduler never waits for the
//!   disk: a newer snapshot replaces one not yet written, so the file is always
//!   one whole snapshot, at most one batch behind while tasks run, and exact
//!   when the run ends. A lagging file is safe for resume: it can only say a
//!   finished task is unfinished (it runs again), never the reverse.
//! - **Resume.** A task is not run again when the previous state says it
//!   succeeded with the same command hash and none of its dependencies runs
//!   again (a re-run dependency makes the dependent's result stale).

use super::model::{Achievement, Command};
use super::{Dag, Plan};
use crate::fsutil;
use serde::{Deserialize, Serialize};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::Write;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{self, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Version of the state file format this build writes.
pub const STATE_VERSION: u32 = 1;

/// A task's status in the state file and the receipt. status reads
/// `running` as `in_progress` and ignores the others (docs/plans.md).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for dependencies or a free slot.
    Queued,
    Running,
    Succeeded,
    Failed,
    /// A dependency failed (`because` names the failed ancestor).
    Skipped,
    /// Never started: the run stopped first (fail-fast, interruption).
    NotRun,
    /// Running when the run was interrupted (Ctrl-C, SIGTERM); stopped.
    Interrupted,
    /// Left out of this run (`--skip`, or outside `--only`); counts as done
    /// for its dependents.
    Excluded,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Skipped,
        Status::NotRun,
        Status::Interrupted,
        Status::Excluded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::NotRun => "not_run",
            Status::Interrupted => "interrupted",
            Status::Excluded => "excluded",
        }
    }
}

/// One task in the state file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskState {
    pub status: Status,
    /// `sha256:<hex>` of the command; null for a milestone (no command).
    #[serde(default)]
    pub command_hash: Option<String>,
    /// Processes started for this task in this run (0 for milestones, resumed tasks).
    #[serde(default)]
    pub attempts: u32,
    /// Exit code of the last attempt, when it exited.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Signal that ended the last attempt, when one did.
    #[serde(default)]
    pub signal: Option<i32>,
    /// Start and end of the last attempt, milliseconds since the Unix epoch.
    #[serde(default)]
    pub start_ms: Option<u64>,
    #[serde(default)]
    pub end_ms: Option<u64>,
    /// How long the last attempt ran, in milliseconds (measured, monotonic).
    #[serde(default)]
    pub duration_ms: Option<f64>,
    /// Skipped: the failed ancestor. Failed without a process: why.
    #[serde(default)]
    pub because: Option<String>,
    /// Succeeded in an earlier run and not run again (`--resume`).
    #[serde(default)]
    pub resumed: bool,
    /// The task's output file.
    #[serde(default)]
    pub log: Option<String>,
    /// The last attempt ran past its timeout and was stopped.
    #[serde(default)]
    pub timed_out: bool,
    /// Every attempt of this run, in order.
    #[serde(default)]
    pub history: Vec<Attempt>,
}

/// One attempt of a task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: f64,
    pub timed_out: bool,
}

impl TaskState {
    fn new(command_hash: Option<String>) -> TaskState {
        TaskState {
            status: Status::Queued,
            command_hash,
            attempts: 0,
            exit_code: None,
            signal: None,
            start_ms: None,
            end_ms: None,
            duration_ms: None,
            because: None,
            resumed: false,
            log: None,
            timed_out: false,
            history: Vec::new(),
        }
    }
}

/// `.parci/run-state.json`: `{"tasks": {"<id>": {"status": …, …}}, …}`; the
/// part status reads (docs/plans.md) plus what resume and scheduling need.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub run_id: String,
    /// sha256 of the plan file this run executes.
    pub plan_sha256: String,
    pub jobs: usize,
    /// `fail-fast` or `keep-going`.
    pub mode: String,
    /// Set while the run is going; false once it ended (also after a failure).
    pub active: bool,
    pub tasks: BTreeMap<String, TaskState>,
}

impl StateFile {
    /// Reads a state file; `None` when there is none. A file this build cannot
    /// read is an error naming it (resume must not guess).
    pub fn load(path: &Path) -> Result<Option<StateFile>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            format!(
                "{}: not a run-parallel state file ({e}); delete it to start afresh",
                path.display()
            )
        })
    }
}

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
        }
    }
}

/// The wait before retry `n` (1-based): `base * 2^(n-1)`, capped at 60 s.
pub fn backoff(base: Duration, n: u32) -> Duration {
    base.saturating_mul(1u32 << n.saturating_sub(1).min(20))
        .min(Duration::from_secs(60))
}

/// "Equal jitter": `wait` scaled into [wait / 2, wait] by `unit` in [0, 1),
/// so retries of many tasks that failed together do not all land at once,
/// and none comes sooner than half the backoff.
pub fn jittered(wait: Duration, unit: f64) -> Duration {
    wait.mul_f64(0.5 + 0.5 * unit.clamp(0.0, 1.0))
}

/// A number in [0, 1) from the process's random hash keys and the clock.
fn random_unit() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos() ^ u128::from(unix_ms()));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
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
        self.tasks
            .iter()
            .all(|t| matches!(t.status, Status::Succeeded | Status::Excluded))
    }
}

/// Counts for a progress display.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub total: usize,
    pub running: usize,
    /// Succeeded (also resumed and milestones), failed, skipped or excluded.
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

/// The scheduling weight of each task: its previous measured duration (ms) when
/// the state has one, else its estimate in ms, plus a hair so that longer
/// chains of unknowns win over shorter ones.
pub fn weights(plan: &Plan, previous: Option<&StateFile>) -> Vec<f64> {
    plan.achievements
        .iter()
        .map(|a| {
            let measured = previous
                .and_then(|p| p.tasks.get(&a.id))
                .filter(|t| t.status == Status::Succeeded && !t.resumed)
                .and_then(|t| t.duration_ms);
            let est = a.hours.map(|h| (h.min + h.max) / 2.0 * 3.6e6);
            measured.or(est).unwrap_or(0.0) + 1e-3
        })
        .collect()
}

/// Each task's place in the ready order (0 runs first): higher priority, then the
/// heaviest remaining path, then ID.
pub fn ranks(plan: &Plan, dag: &Dag, order: &[u32], weight: &[f64]) -> Vec<u32> {
    let tail = dag.tails(order, weight);
    let a = &plan.achievements;
    let mut idx: Vec<u32> = (0..a.len() as u32).collect();
    idx.sort_by(|&x, &y| {
        let (x, y) = (x as usize, y as usize);
        a[y].rank_priority()
            .cmp(&a[x].rank_priority())
            .then(tail[y].total_cmp(&tail[x]))
            .then(a[x].id.cmp(&a[y].id))
    });
    let mut rank = vec![0u32; a.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// Errors that stop a run before or while it goes (I/O on the state or logs).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Io(String),
}

/// Writes the state file on its own thread, so the scheduler never waits for
/// a disk: each submission replaces any not yet written (the file always holds
/// one whole snapshot, at most one transition batch behind while the run goes),
/// and [`Writer::finish`] waits until the final one is on disk.
struct Writer {
    shared: std::sync::Arc<(std::sync::Mutex<Slot>, std::sync::Condvar)>,
    handle: std::thread::JoinHandle<()>,
    path: PathBuf,
}

#[derive(Default)]
struct Slot {
    next: Option<Vec<u8>>,
    closed: bool,
    error: Option<String>,
}

impl Writer {
    fn spawn(path: PathBuf) -> Writer {
        let shared = std::sync::Arc::new((
            std::sync::Mutex::new(Slot::default()),
            std::sync::Condvar::new(),
        ));
        let (s, p) = (shared.clone(), path.clone());
        let handle = std::thread::spawn(move || loop {
            let bytes = {
                let mut g = s.0.lock().unwrap_or_else(|e| e.into_inner());
                while g.next.is_none() && !g.closed {
                    g = s.1.wait(g).unwrap_or_else(|e| e.into_inner());
                }
                match g.next.take() {
                    Some(b) => b,
                    None => return,
                }
            };
            if let Err(e) = fsutil::write_atomic(&p, &bytes) {
                let mut g = s.0.lock().unwrap_or_else(|e| e.into_inner());
                g.error.get_or_insert_with(|| e.to_string());
            }
        });
        Writer {
            shared,
            handle,
            path,
        }
    }

    fn fail(path: &Path, e: String) -> RunError {
        RunError::Io(format!(
            "{}: cannot write the run state: {e}",
            path.display()
        ))
    }

    fn submit(&self, bytes: Vec<u8>) -> Result<(), RunError> {
        let mut g = self.shared.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = g.error.take() {
            return Err(Writer::fail(&self.path, e));
        }
        g.next = Some(bytes);
        self.shared.1.notify_one();
        Ok(())
    }

    fn finish(self, bytes: Vec<u8>) -> Result<(), RunError> {
        self.submit(bytes)?;
        self.shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .closed = true;
        self.shared.1.notify_one();
        let _ = self.handle.join();
        let e = self
            .shared
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .error
            .take();
        match e {
            Some(e) => Err(Writer::fail(&self.path, e)),
            None => Ok(()),
        }
    }
}

struct Done {
    i: u32,
    status: std::io::Result<ExitStatus>,
    end: Instant,
    end_ms: u64,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

struct Exec<'a> {
    plan: &'a Plan,
    dag: &'a Dag,
    opts: &'a Options,
    tasks: Vec<TaskState>,
    /// Dependencies not yet succeeded.
    waiting: Vec<u32>,
    rank: Vec<u32>,
    by_rank: Vec<u32>,
    ready: BinaryHeap<Reverse<u32>>,
    started: Vec<Option<Instant>>,
    completion: Vec<u32>,
    running: usize,
    exclusive_running: bool,
    failed: bool,
    /// Serialized state line per task, and the tasks changed since.
    frags: Vec<String>,
    dirty: Vec<u32>,
    /// Process group of each running task.
    pgid: Vec<Option<i32>>,
    /// When a running task times out, and when a signalled one gets SIGKILL.
    deadline: Vec<Option<Instant>>,
    kill_at: Vec<Option<Instant>>,
    /// Failed attempts waiting for their retry.
    delayed: Vec<(Instant, u32)>,
    stopping: bool,
    /// Tasks a hook sent round again ([`After::Again`]) and their reason.
    again: Vec<Option<String>>,
    hooks: &'a mut dyn Hooks,
}

impl Exec<'_> {
    fn succeed(&mut self, i: u32) {
        self.tasks[i as usize].status = Status::Succeeded;
        self.release(i);
    }

    /// `i` is done: its dependents wait for one dependency less.
    fn release(&mut self, i: u32) {
        self.dirty.push(i);
        for &d in self.dag.dependents(i) {
            let w = &mut self.waiting[d as usize];
            *w -= 1;
            if *w == 0 && self.tasks[d as usize].status == Status::Queued {
                self.ready.push(Reverse(self.rank[d as usize]));
            }
        }
    }

    fn fail(&mut self, i: u32) {
        self.tasks[i as usize].status = Status::Failed;
        self.dirty.push(i);
        self.failed = true;
        if !self.opts.keep_going {
            return;
        }
        let cause = self.plan.achievements[i as usize].id.clone();
        let mut stack: Vec<u32> = self.dag.dependents(i).to_vec();
        while let Some(d) = stack.pop() {
            let t = &mut self.tasks[d as usize];
            if t.status != Status::Queued {
                continue;
            }
            t.status = Status::Skipped;
            self.dirty.push(d);
            t.because = Some(cause.clone());
            stack.extend_from_slice(self.dag.dependents(d));
        }
    }

    /// The state file's bytes: a header, then one line per task. Only the
    /// tasks that changed since the last call are serialized again.
    fn state_bytes(&mut self, active: bool) -> Vec<u8> {
        let q = |x: &str| serde_json::to_string(x).expect("a string serializes");
        for i in std::mem::take(&mut self.dirty) {
            let i = i as usize;
            self.frags[i] = format!(
                "{}: {}",
                q(&self.plan.achievements[i].id),
                serde_json::to_string(&self.tasks[i]).expect("a task state serializes")
            );
        }
        let mode = if self.opts.keep_going {
            "keep-going"
        } else {
            "fail-fast"
        };
        let mut out = format!(
            "{{\n\"version\": {STATE_VERSION},\n\"run_id\": {},\n\"plan_sha256\": {},\n\"jobs\": {},\n\"mode\": \"{mode}\",\n\"active\": {active},\n\"tasks\": {{\n",
            q(&self.opts.run_id),
            q(&self.opts.plan_sha256),
            self.opts.jobs,
        );
        for (k, f) in self.frags.iter().enumerate() {
            out.push_str(f);
            out.push_str(if k + 1 < self.frags.len() {
                ",\n"
            } else {
                "\n"
            });
        }
        out.push_str("}\n}\n");
        out.into_bytes()
    }

    /// Starts task `i`; a process that cannot be started is a recorded failure.
    fn start(&mut self, i: u32, tx: &mpsc::Sender<Done>) -> Result<(), RunError> {
        let plan = self.plan;
        let a = &plan.achievements[i as usize];
        let command = a.command.as_ref().expect("milestones never start");
        let base = self.hooks.workdir(a, self.again[i as usize].is_some());
        let dir = match (&base, &a.cwd) {
            (Ok(Some(b)), Some(c)) => b.join(c),
            (Ok(Some(b)), None) => b.clone(),
            (_, Some(c)) => self.opts.workdir.join(c),
            (_, None) => self.opts.workdir.clone(),
        };
        let log_path = self.opts.log_dir.join(format!("{}.log", a.id));
        let log = File::options()
            .create(true)
            .write(true)
            .append(self.tasks[i as usize].attempts > 0)
            .truncate(self.tasks[i as usize].attempts == 0)
            .open(&log_path)
            .map_err(|e| {
                RunError::Io(format!(
                    "{}: cannot create the log: {e}",
                    log_path.display()
                ))
            })?;
        let err = log
            .try_clone()
            .map_err(|e| RunError::Io(format!("{}: {e}", log_path.display())))?;
        let t = &mut self.tasks[i as usize];
        t.attempts += 1;
        t.status = Status::Running;
        self.dirty.push(i);
        t.log = Some(log_path.to_string_lossy().into_owned());
        t.start_ms = Some(unix_ms());
        let (mut cmd, program) = match command {
            Command::Shell(text) => {
                // By full path: `sh` alone costs a failed execve per PATH entry.
                let mut c = process::Command::new("/bin/sh");
                c.arg("-c").arg(text);
                (c, "sh -c")
            }
            Command::Argv(v) => {
                let mut c = process::Command::new(&v[0]);
                c.args(&v[1..]);
                (c, v[0].as_str())
            }
        };
        cmd.current_dir(&dir)
            .envs(&a.env)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .env("PARCI_TASK_ID", &a.id)
            .env("PARCI_ATTEMPT", t.attempts.to_string())
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing
            // here allocates or takes a lock.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != parent {
                        libc::_exit(137);
                    }
                    Ok(())
                });
            }
        }
        // Before the spawn: the log holds nothing of this attempt yet.
        self.hooks.started(i as usize, a, t);
        let t0 = Instant::now();
        let spawned = match base {
            Ok(_) => cmd
                .spawn()
                .map_err(|e| format!("cannot start {program} in {}: {e}", dir.display())),
            Err(e) => Err(e),
        };
        match spawned {
            Ok(mut child) => {
                self.started[i as usize] = Some(t0);
                self.pgid[i as usize] = Some(child.id() as i32);
                let timeout = a
                    .timeout_s
                    .map(Duration::from_secs_f64)
                    .or(self.opts.timeout);
                self.deadline[i as usize] = timeout.map(|d| t0 + d);
                t.timed_out = false;
                self.running += 1;
                self.exclusive_running |= a.exclusive;
                let tx = tx.clone();
                std::thread::spawn(move || {
                    let status = child.wait();
                    let _ = tx.send(Done {
                        i,
                        status,
                        end: Instant::now(),
                        end_ms: unix_ms(),
                    });
                });
            }
            Err(msg) => {
                if let Ok(mut f) = File::options().append(true).open(&log_path) {
                    let _ = writeln!(f, "run-parallel: {msg}");
                }
                t.end_ms = t.start_ms;
                t.duration_ms = Some(0.0);
                t.because = Some(msg);
                (t.exit_code, t.signal, t.timed_out) = (None, None, false);
                t.history.push(Attempt {
                    exit_code: None,
                    signal: None,
                    duration_ms: 0.0,
                    timed_out: false,
                });
                self.completion.push(i);
                self.fail(i);
                self.hooks.ended(i as usize, a, &self.tasks[i as usize]);
            }
        }
        Ok(())
    }

    fn finish(&mut self, d: Done) {
        let i = d.i as usize;
        self.running -= 1;
        self.pgid[i] = None;
        self.deadline[i] = None;
        self.kill_at[i] = None;
        if self.plan.achievements[i].exclusive {
            self.exclusive_running = false;
        }
        let t = &mut self.tasks[i];
        t.end_ms = Some(d.end_ms);
        if let Some(s) = self.started[i] {
            t.duration_ms = Some(d.end.duration_since(s).as_secs_f64() * 1e3);
        }
        let ok = match d.status {
            Ok(st) => {
                t.exit_code = st.code();
                t.signal = st.signal();
                st.success()
            }
            Err(e) => {
                t.because = Some(format!("cannot wait for the process: {e}"));
                false
            }
        };
        t.history.push(Attempt {
            exit_code: t.exit_code,
            signal: t.signal,
            duration_ms: t.duration_ms.unwrap_or(0.0),
            timed_out: t.timed_out,
        });
        if t.timed_out && !ok {
            let secs = self.plan.achievements[i]
                .timeout_s
                .or(self.opts.timeout.map(|d| d.as_secs_f64()))
                .unwrap_or(0.0);
            t.because = Some(format!("timeout after {secs} s"));
        }
        let retries = self.plan.achievements[i]
            .retries
            .map_or(self.opts.retries, |r| r.min(u32::MAX as u64) as u32);
        let a = &self.plan.achievements[i];
        if !ok && self.stopping {
            t.status = Status::Interrupted;
            self.dirty.push(d.i);
            self.completion.push(d.i);
        } else if !ok && t.attempts <= retries {
            t.status = Status::Queued;
            self.dirty.push(d.i);
            let mut wait = backoff(self.opts.retry_backoff, t.attempts);
            if self.opts.retry_jitter {
                wait = jittered(wait, random_unit());
            }
            self.delayed.push((Instant::now() + wait, d.i));
        } else if !ok {
            self.completion.push(d.i);
            self.fail(d.i);
        } else {
            match self.hooks.succeeded(i, a) {
                After::Done => {
                    self.completion.push(d.i);
                    self.succeed(d.i);
                }
                After::Again(why) if self.again[i].is_none() && !self.stopping => {
                    self.again[i] = Some(why);
                    t.status = Status::Queued;
                    self.dirty.push(d.i);
                    self.ready.push(Reverse(self.rank[i]));
                }
                After::Again(why) | After::Fail(why) => {
                    t.because = Some(why);
                    self.completion.push(d.i);
                    self.fail(d.i);
                }
            }
        }
        self.hooks.ended(i, a, &self.tasks[i]);
    }

    /// Counts for [`Hooks::progress`].
    fn progress(&self) -> Progress {
        let mut p = Progress {
            total: self.tasks.len(),
            running: self.running,
            ..Progress::default()
        };
        for t in &self.tasks {
            match t.status {
                Status::Succeeded | Status::Excluded => p.finished += 1,
                Status::Failed | Status::Interrupted => {
                    p.finished += 1;
                    p.failed += 1
                }
                Status::Skipped => {
                    p.finished += 1;
                    p.skipped += 1
                }
                _ => {}
            }
        }
        p
    }

    fn signal_group(&self, i: usize, sig: i32) {
        if let Some(pg) = self.pgid[i] {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(-pg, sig);
            }
        }
    }

    /// Timeouts due: SIGTERM the group (SIGKILL after the grace period);
    /// grace periods over: SIGKILL.
    fn police(&mut self, now: Instant) {
        for i in 0..self.pgid.len() {
            if self.pgid[i].is_none() {
                continue;
            }
            if self.deadline[i].is_some_and(|d| d <= now) {
                self.deadline[i] = None;
                self.tasks[i].timed_out = true;
                self.signal_group(i, libc::SIGTERM);
                self.kill_at[i] = Some(now + self.opts.grace);
            }
            if self.kill_at[i].is_some_and(|k| k <= now) {
                self.kill_at[i] = None;
                self.signal_group(i, libc::SIGKILL);
            }
        }
    }

    /// Stops the run: nothing new starts, every running group gets SIGTERM
    /// (SIGKILL after the grace period, or at once when `now_kill`).
    fn stop(&mut self, now: Instant, now_kill: bool) {
        self.stopping = true;
        self.delayed.clear();
        for i in 0..self.pgid.len() {
            if self.pgid[i].is_none() {
                continue;
            }
            self.deadline[i] = None;
            if now_kill {
                self.signal_group(i, libc::SIGKILL);
                self.kill_at[i] = None;
            } else if self.kill_at[i].is_none() {
                self.signal_group(i, libc::SIGTERM);
                self.kill_at[i] = Some(now + self.opts.grace);
            }
        }
    }

    /// The next moment something is due (a timeout, a SIGKILL, a retry).
    fn next_due(&self) -> Option<Instant> {
        let a = self
            .deadline
            .iter()
            .chain(&self.kill_at)
            .flatten()
            .min()
            .copied();
        let b = self.delayed.iter().map(|d| d.0).min();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Runs the plan. `order` is a topological order of `dag` (the plan is valid).
/// `previous` is the state file read before the run (for resume and weights).
pub fn run(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    previous: Option<&StateFile>,
    opts: &Options,
    hooks: &mut dyn Hooks,
) -> Result<Outcome, RunError> {
    assert!(opts.jobs >= 1, "jobs >= 1 is checked by the caller");
    let n = plan.achievements.len();
    std::fs::create_dir_all(&opts.log_dir).map_err(|e| {
        RunError::Io(format!(
            "{}: cannot create the log folder: {e}",
            opts.log_dir.display()
        ))
    })?;
    let rank = ranks(plan, dag, order, &weights(plan, previous));
    let mut by_rank = vec![0u32; n];
    for (i, &r) in rank.iter().enumerate() {
        by_rank[r as usize] = i as u32;
    }
    let mut tasks: Vec<TaskState> = plan
        .achievements
        .iter()
        .map(|a| TaskState::new(a.command_hash()))
        .collect();
    if let (true, Some(prev)) = (opts.resume, previous) {
        // kept: this task's result from the previous run still holds (a
        // milestone holds when everything under it does).
        let mut kept = vec![false; n];
        for &i in order {
            let i = i as usize;
            let a = &plan.achievements[i];
            let deps_kept = dag.deps(i as u32).iter().all(|&d| kept[d as usize]);
            if a.command.is_none() {
                kept[i] = deps_kept;
                continue;
            }
            let Some(p) = prev.tasks.get(&a.id) else {
                continue;
            };
            if deps_kept && p.status == Status::Succeeded && p.command_hash == tasks[i].command_hash
            {
                kept[i] = true;
                let t = &mut tasks[i];
                t.status = Status::Succeeded;
                t.resumed = true;
                t.duration_ms = p.duration_ms;
                t.log = p.log.clone();
            }
        }
    }
    let mut ex = Exec {
        plan,
        dag,
        opts,
        waiting: (0..n as u32).map(|i| dag.deps(i).len() as u32).collect(),
        tasks,
        rank,
        by_rank,
        ready: BinaryHeap::new(),
        started: vec![None; n],
        completion: Vec::new(),
        running: 0,
        exclusive_running: false,
        failed: false,
        frags: vec![String::new(); n],
        dirty: (0..n as u32).collect(),
        pgid: vec![None; n],
        deadline: vec![None; n],
        kill_at: vec![None; n],
        delayed: Vec::new(),
        stopping: false,
        again: vec![None; n],
        hooks,
    };
    let tick = ex.hooks.tick_every();
    let mut wait_cap = Duration::from_secs(3600);
    // Resumed tasks count as succeeded dependencies; the rest with nothing to
    // wait for are ready.
    for &i in order {
        if opts.exclude.get(i as usize).copied().unwrap_or(false) {
            let t = &mut ex.tasks[i as usize];
            t.status = Status::Excluded;
            t.resumed = false;
            t.duration_ms = None;
            ex.release(i);
        } else if ex.tasks[i as usize].resumed {
            ex.succeed(i);
        }
    }
    for i in 0..n as u32 {
        if dag.deps(i).is_empty() && ex.tasks[i as usize].status == Status::Queued {
            ex.ready.push(Reverse(ex.rank[i as usize]));
        }
    }
    let t0 = Instant::now();
    let writer = Writer::spawn(opts.state_path.clone());
    let (tx, rx) = mpsc::channel::<Done>();
    let mut interrupts_seen = 0;
    // Interrupt flags are polled; hooks ask for their own period.
    if opts.interrupt.is_some() {
        wait_cap = Duration::from_millis(50);
    }
    if let Some(every) = tick {
        wait_cap = wait_cap.min(every);
    }
    loop {
        let now = Instant::now();
        let intr = opts
            .interrupt
            .map_or(0, |a| a.load(std::sync::atomic::Ordering::SeqCst));
        if intr > interrupts_seen {
            interrupts_seen = intr;
            ex.stop(now, intr >= 2);
        }
        ex.police(now);
        let stopped = ex.stopping || (ex.failed && !opts.keep_going);
        if stopped {
            ex.delayed.clear();
        }
        let mut k = 0;
        while k < ex.delayed.len() {
            if ex.delayed[k].0 <= now {
                let (_, i) = ex.delayed.swap_remove(k);
                ex.ready.push(Reverse(ex.rank[i as usize]));
            } else {
                k += 1;
            }
        }
        loop {
            if ex.stopping || (ex.failed && !opts.keep_going) {
                break;
            }
            let Some(&Reverse(r)) = ex.ready.peek() else {
                break;
            };
            let i = ex.by_rank[r as usize];
            let a = &plan.achievements[i as usize];
            if a.command.is_none() {
                ex.ready.pop();
                ex.completion.push(i);
                ex.succeed(i);
                continue;
            }
            if ex.exclusive_running || ex.running >= opts.jobs || (a.exclusive && ex.running > 0) {
                break;
            }
            ex.ready.pop();
            ex.start(i, &tx)?;
        }
        if ex.running == 0 && (ex.delayed.is_empty() || stopped) {
            break;
        }
        writer.submit(ex.state_bytes(true))?;
        if tick.is_some() {
            let p = ex.progress();
            ex.hooks.progress(p);
            ex.hooks.tick();
        }
        let mut wait = ex.next_due().map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(now)
        });
        wait = wait.min(wait_cap);
        match rx.recv_timeout(wait) {
            Ok(d) => ex.finish(d),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("tx is held here"),
        }
        while let Ok(d) = rx.try_recv() {
            ex.finish(d);
        }
    }
    for t in &mut ex.tasks {
        if t.status == Status::Queued {
            // Keep-going skips dependents of a failure explicitly; what is
            // still queued was stopped by fail-fast or an interruption.
            t.status = Status::NotRun;
        }
    }
    ex.dirty = (0..n as u32).collect();
    if tick.is_some() {
        let p = ex.progress();
        ex.hooks.progress(p);
    }
    writer.finish(ex.state_bytes(false))?;
    Ok(Outcome {
        makespan_ms: t0.elapsed().as_secs_f64() * 1e3,
        tasks: ex.tasks,
        completion_order: ex.completion,
        had_previous: previous.is_some(),
        interrupted: ex.stopping,
    })
}

/// Checks every `cwd` before anything runs: it must exist and stay inside
/// the plan's repository (the git work tree holding `plan_dir`, else
/// `plan_dir` itself). Err: one line per bad achievement.
pub fn check_dirs(plan: &Plan, plan_dir: &Path) -> Result<(), Vec<String>> {
    let canon = |p: &Path| p.canonicalize();
    let root = git2::Repository::discover(plan_dir)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| plan_dir.to_path_buf());
    let root = canon(&root).unwrap_or(root);
    let mut bad = Vec::new();
    for a in &plan.achievements {
        let Some(c) = &a.cwd else { continue };
        match canon(&plan_dir.join(c)) {
            Err(e) => bad.push(format!(
                "{}: cwd {c:?} cannot be used ({e}); create the folder or fix the path",
                a.id
            )),
            Ok(p) if !p.starts_with(&root) => bad.push(format!(
                "{}: cwd {c:?} is {}, outside the repository {}; use a folder inside it",
                a.id,
                p.display(),
                root.display()
            )),
            Ok(p) if !p.is_dir() => bad.push(format!(
                "{}: cwd {c:?} is not a folder; name a folder",
                a.id
            )),
            Ok(_) => {}
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}

/// Which tasks `--only IDS` (with their dependencies) and `--skip IDS` leave
/// out, per task in plan order; an unknown ID is an error naming it.
pub fn selection(
    plan: &Plan,
    dag: &Dag,
    only: Option<&[String]>,
    skip: &[String],
) -> Result<Vec<bool>, String> {
    let index = super::dag::id_index(plan);
    let find = |flag: &str, id: &String| {
        index
            .get(id.as_str())
            .copied()
            .ok_or_else(|| format!("{flag}: {id:?} is not an achievement of the plan"))
    };
    let n = plan.achievements.len();
    let mut exclude = vec![false; n];
    if let Some(only) = only {
        exclude = vec![true; n];
        let mut stack = only
            .iter()
            .map(|id| find("--only", id))
            .collect::<Result<Vec<u32>, _>>()?;
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut exclude[i as usize], false) {
                stack.extend_from_slice(dag.deps(i));
            }
        }
    }
    for id in skip {
        exclude[find("--skip", id)? as usize] = true;
    }
    Ok(exclude)
}

/// A dry run's schedule: when each task would start and end with `jobs`
/// slots, by the same ranks and rules as a real run (exclusive tasks alone,
/// milestones take no time or slot), with durations from [`weights`].
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// (task index, start ms, end ms), in start order.
    pub slots: Vec<(u32, f64, f64)>,
    pub makespan_ms: f64,
    /// Every task one after another.
    pub sequential_ms: f64,
    /// The heaviest dependency chain, task indices from start to end.
    pub critical_path: Vec<u32>,
    pub critical_ms: f64,
}

/// Simulates a run without starting anything (`--dry-run`).
/// `exclude` (per task, may be empty) are left out as by `--only`/`--skip`:
/// they take no time and no slot.
pub fn simulate(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    weight: &[f64],
    jobs: usize,
    exclude: &[bool],
) -> Schedule {
    let n = plan.achievements.len();
    let out = |i: usize| exclude.get(i).copied().unwrap_or(false);
    let dur = |i: usize| {
        if plan.achievements[i].command.is_none() || out(i) {
            0.0
        } else {
            weight[i]
        }
    };
    let rank = ranks(plan, dag, order, weight);
    let mut by_rank = vec![0u32; n];
    for (i, &r) in rank.iter().enumerate() {
        by_rank[r as usize] = i as u32;
    }
    let mut waiting: Vec<u32> = (0..n as u32).map(|i| dag.deps(i).len() as u32).collect();
    let mut ready: BinaryHeap<Reverse<u32>> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| Reverse(rank[i]))
        .collect();
    // (end time in µs, task) of running tasks.
    let mut running: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
    let mut slots = Vec::with_capacity(n);
    let (mut now, mut exclusive) = (0.0f64, false);
    let mut done = |i: u32, ready: &mut BinaryHeap<Reverse<u32>>| {
        for &d in dag.dependents(i) {
            waiting[d as usize] -= 1;
            if waiting[d as usize] == 0 {
                ready.push(Reverse(rank[d as usize]));
            }
        }
    };
    loop {
        while let Some(&Reverse(r)) = ready.peek() {
            let i = by_rank[r as usize];
            let a = &plan.achievements[i as usize];
            if a.command.is_none() || out(i as usize) {
                ready.pop();
                if !out(i as usize) {
                    slots.push((i, now, now));
                }
                done(i, &mut ready);
                continue;
            }
            if exclusive || running.len() >= jobs || (a.exclusive && !running.is_empty()) {
                break;
            }
            ready.pop();
            exclusive |= a.exclusive;
            let end = now + dur(i as usize);
            slots.push((i, now, end));
            running.push(Reverse(((end * 1e3) as u64, i)));
        }
        let Some(Reverse((end, i))) = running.pop() else {
            break;
        };
        now = now.max(end as f64 / 1e3);
        if plan.achievements[i as usize].exclusive {
            exclusive = false;
        }
        done(i, &mut ready);
    }
    let w: Vec<f64> = (0..n).map(dur).collect();
    let critical_path = dag.longest_path(order, &w);
    Schedule {
        makespan_ms: slots.iter().map(|s| s.2).fold(0.0, f64::max),
        sequential_ms: w.iter().sum(),
        critical_ms: critical_path.iter().map(|&i| w[i as usize]).sum(),
        critical_path,
        slots,
    }
}

/// The receipt's `results`: per task (plan order, keyed by ID) its final
/// status, attempts, dependencies, whether it was resumed and why it did not
/// run; and the totals per status.
pub fn results_json(plan: &Plan, dag: &Dag, o: &Outcome) -> serde_json::Value {
    use serde_json::json;
    let ids = |v: &[u32]| -> Vec<&str> {
        v.iter()
            .map(|&d| plan.achievements[d as usize].id.as_str())
            .collect()
    };
    let mut tasks = serde_json::Map::new();
    for (i, (a, t)) in plan.achievements.iter().zip(&o.tasks).enumerate() {
        tasks.insert(
            a.id.clone(),
            json!({
                "status": t.status.as_str(),
                "attempts": t.attempts,
                "milestone": a.command.is_none(),
                "resumed": t.resumed,
                "dependencies": ids(dag.deps(i as u32)),
                "exit_code": t.exit_code,
                "because": t.because.clone(),
            }),
        );
    }
    json!({
        "tasks": tasks,
        "totals": {
            "tasks": o.tasks.len(),
            "succeeded": o.count(Status::Succeeded),
            "failed": o.count(Status::Failed),
            "skipped": o.count(Status::Skipped),
            "not_run": o.count(Status::NotRun),
            "interrupted": o.count(Status::Interrupted),
            "excluded": o.count(Status::Excluded),
            "resumed": o.tasks.iter().filter(|t| t.resumed).count(),
            "milestones": plan.achievements.iter().filter(|a| a.command.is_none()).count(),
        },
    })
}

/// The receipt's `measurements`: makespan, the sum of task durations, speedup,
/// efficiency (speedup / jobs), the lower bound max(critical path, total / jobs)
/// and the makespan against it, per-task durations and the completion order.
/// Only tasks that ran in this run count (resumed ones weigh 0).
pub fn measurements_json(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    jobs: usize,
    o: &Outcome,
) -> Result<serde_json::Value, crate::receipt::canonical::NonFinite> {
    use crate::receipt::canonical::finite;
    use serde_json::json;
    let ran = |t: &TaskState| {
        if t.resumed {
            0.0
        } else {
            t.duration_ms.unwrap_or(0.0)
        }
    };
    let w: Vec<f64> = o.tasks.iter().map(ran).collect();
    let total: f64 = w.iter().sum();
    let critical = dag.tails(order, &w).into_iter().fold(0.0f64, f64::max);
    let bound = critical.max(total / jobs as f64);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let speedup = ratio(total, o.makespan_ms);
    let mut durations = serde_json::Map::new();
    for (a, t) in plan.achievements.iter().zip(&o.tasks) {
        if !t.resumed {
            if let Some(d) = t.duration_ms {
                durations.insert(a.id.clone(), finite(d)?);
            }
        }
    }
    let completion: Vec<&str> = o
        .completion_order
        .iter()
        .map(|&i| plan.achievements[i as usize].id.as_str())
        .collect();
    Ok(json!({
        "makespan_ms": finite(o.makespan_ms)?,
        "task_ms_total": finite(total)?,
        "speedup": finite(speedup)?,
        "efficiency": finite(speedup / jobs as f64)?,
        "critical_path_ms": finite(critical)?,
        "lower_bound_ms": finite(bound)?,
        "makespan_over_bound": finite(ratio(o.makespan_ms, bound))?,
        "durations_ms": durations,
        "completion_order": completion,
    }))
}

/// One line per task that did not succeed, for the summary and the verdict.
pub fn problems(plan: &Plan, o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    for (a, t) in plan.achievements.iter().zip(&o.tasks) {
        let line = match t.status {
            Status::Failed => match (t.exit_code, t.signal, &t.because) {
                (_, _, Some(why)) => format!("{} failed: {why}", a.id),
                (Some(c), _, _) => format!("{} failed (exit {c})", a.id),
                (_, Some(s), _) => format!("{} failed (signal {s})", a.id),
                _ => format!("{} failed", a.id),
            },
            Status::Skipped => format!(
                "{} skipped: dependency {} failed",
                a.id,
                t.because.as_deref().unwrap_or("?")
            ),
            Status::NotRun if o.interrupted => format!("{} not run: the run was interrupted", a.id),
            Status::NotRun => format!(
                "{} not run: the run stopped after a failure (fail-fast)",
                a.id
            ),
            Status::Interrupted => format!("{} interrupted", a.id),
            _ => continue,
        };
        out.push(line);
    }
    out
}

/// verify-receipt gate of `parci.run-parallel`: totals agree with the per-task
/// entries, and no task succeeded unless every dependency did.
pub fn gate_run_consistent(doc: &serde_json::Value, out: &mut crate::findings::Findings) {
    let r = &doc["results"];
    let Some(tasks) = r["tasks"].as_object() else {
        return;
    };
    let totals = &r["totals"];
    let count =
        |f: &dyn Fn(&serde_json::Value) -> bool| tasks.values().filter(|t| f(t)).count() as u64;
    if totals["tasks"].as_u64() != Some(tasks.len() as u64) {
        out.error(
            "/results/totals/tasks",
            format!(
                "totals.tasks = {} but {} tasks are listed",
                totals["tasks"],
                tasks.len()
            ),
        );
    }
    for s in [
        Status::Succeeded,
        Status::Failed,
        Status::Skipped,
        Status::NotRun,
        Status::Interrupted,
        Status::Excluded,
    ] {
        let n = count(&|t| t["status"] == s.as_str());
        if totals[s.as_str()].as_u64() != Some(n) {
            out.error(
                format!("/results/totals/{}", s.as_str()),
                format!(
                    "totals.{0} = {1} but {n} tasks are {0}",
                    s.as_str(),
                    totals[s.as_str()]
                ),
            );
        }
    }
    let resumed = count(&|t| t["resumed"] == true);
    if totals["resumed"].as_u64() != Some(resumed) {
        out.error(
            "/results/totals/resumed",
            format!(
                "totals.resumed = {} but {resumed} tasks are resumed",
                totals["resumed"]
            ),
        );
    }
    for (id, t) in tasks {
        if t["status"] != "succeeded" {
            continue;
        }
        for d in t["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let ds = d.as_str().and_then(|d| tasks.get(d)).map(|x| &x["status"]);
            if ds.is_none_or(|s| s != "succeeded" && s != "excluded") {
                out.error(
                    format!("/results/tasks/{}", crate::jsonpos::escape_token(id)),
                    format!(
                        "{id} succeeded although its dependency {} is {}",
                        d.as_str().unwrap_or("?"),
                        ds.and_then(|s| s.as_str()).unwrap_or("missing")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::dag::id_index;

    fn plan(items: &[(&str, &[&str], Option<&str>)]) -> Plan {
        let a: Vec<serde_json::Value> = items
            .iter()
            .map(|(id, deps, cmd)| {
                let mut v = serde_json::json!({"achievement_id": id, "dependencies": deps});
                if let Some(c) = cmd {
                    v["command"] = serde_json::json!(c);
                }
                v
            })
            .collect();
        Plan::parse_text(&serde_json::json!({"plan_name": "t", "achievements": a}).to_string())
            .unwrap()
    }

    fn go(p: &Plan, dir: &Path, keep_going: bool, resume: bool) -> Outcome {
        go_with(p, dir, keep_going, resume, &mut NoHooks)
    }

    fn go_with(
        p: &Plan,
        dir: &Path,
        keep_going: bool,
        resume: bool,
        hooks: &mut dyn Hooks,
    ) -> Outcome {
        let dag = Dag::from_plan_with(p, &id_index(p));
        let order = dag.topo_order().unwrap();
        let opts = Options {
            keep_going,
            resume,
            retry_backoff: Duration::ZERO,
            ..Options::new(
                2,
                dir.join("logs"),
                dir.join(".parci/run-state.json"),
                dir.to_path_buf(),
            )
        };
        let prev = StateFile::load(&opts.state_path).unwrap();
        run(p, &dag, &order, prev.as_ref(), &opts, hooks).unwrap()
    }

    #[test]
    fn argv_commands_get_their_env_and_cwd_without_a_shell() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("sub")).unwrap();
        let p = Plan::parse_text(
            r#"{"plan_name": "t", "achievements": [
              {"achievement_id": "a", "dependencies": [], "cwd": "sub", "env": {"GREETING": "it's $HOME"},
               "command": ["sh", "-c", "printf '%s|%s|%s' \"$GREETING\" \"$PARCI_TASK_ID\" \"$(pwd)\" > out"]},
              {"achievement_id": "b", "dependencies": [], "command": ["no-such-program-parci", "x"]}
            ]}"#,
        )
        .unwrap();
        let o = go(&p, t.path(), true, false);
        assert_eq!(st(&o), [Status::Succeeded, Status::Failed]);
        let out = std::fs::read_to_string(t.path().join("sub/out")).unwrap();
        let sub = t.path().join("sub").canonicalize().unwrap();
        assert_eq!(out, format!("it's $HOME|a|{}", sub.display()));
        let why = o.tasks[1].because.as_deref().unwrap();
        assert!(
            why.starts_with("cannot start no-such-program-parci in "),
            "{why}"
        );
        assert_eq!(
            o.tasks[1].history.len(),
            1,
            "a start that failed is an attempt"
        );
    }

    /// Sends every task round again `n` times, recording the calls.
    struct Again {
        n: usize,
        fresh: Vec<(String, bool)>,
        ended: Vec<(String, Status)>,
        last: Progress,
    }
    impl Hooks for Again {
        fn workdir(&mut self, a: &Achievement, fresh: bool) -> Result<Option<PathBuf>, String> {
            self.fresh.push((a.id.clone(), fresh));
            Ok(None)
        }
        fn ended(&mut self, _: usize, a: &Achievement, t: &TaskState) {
            self.ended.push((a.id.clone(), t.status));
        }
        fn succeeded(&mut self, _: usize, _: &Achievement) -> After {
            if self.n == 0 {
                return After::Done;
            }
            self.n -= 1;
            After::Again("conflict in f".into())
        }
        fn progress(&mut self, p: Progress) {
            self.last = p;
        }
        fn tick_every(&self) -> Option<Duration> {
            Some(Duration::from_millis(10))
        }
    }

    #[test]
    fn a_hook_sends_a_task_round_again_once_then_fails_it() {
        let t = tempfile::tempdir().unwrap();
        let p = plan(&[("a", &[], Some("true")), ("b", &["a"], Some("true"))]);
        let mut h = Again {
            n: 1,
            fresh: vec![],
            ended: vec![],
            last: Progress::default(),
        };
        let o = go_with(&p, t.path(), false, false, &mut h);
        assert_eq!(st(&o), [Status::Succeeded, Status::Succeeded]);
        assert_eq!(o.tasks[0].attempts, 2);
        assert_eq!(
            h.fresh,
            [("a".into(), false), ("a".into(), true), ("b".into(), false)]
        );
        assert_eq!(
            h.ended,
            [
                ("a".into(), Status::Queued),
                ("a".into(), Status::Succeeded),
                ("b".into(), Status::Succeeded)
            ]
        );
        assert_eq!((h.last.finished, h.last.total, h.last.running), (2, 2, 0));

        let t = tempfile::tempdir().unwrap();
        let mut h = Again { n: 2, ..h };
        let o = go_with(&p, t.path(), true, false, &mut h);
        assert_eq!(st(&o), [Status::Failed, Status::Skipped]);
        assert_eq!(o.tasks[0].because.as_deref(), Some("conflict in f"));
        assert_eq!((h.last.failed, h.last.skipped), (1, 1));
    }

    fn st(o: &Outcome) -> Vec<Status> {
        o.tasks.iter().map(|t| t.status).collect()
    }

    #[test]
    fn chain_fail_fast_and_keep_going() {
        use Status::*;
        let p = plan(&[
            ("a", &[], Some("true")),
            ("b", &["a"], Some("exit 3")),
            ("c", &["b"], None),
            ("d", &["c"], Some("true")),
            ("e", &["a"], Some("true")),
        ]);
        let t = tempfile::tempdir().unwrap();
        let o = go(&p, t.path(), true, false);
        assert_eq!(st(&o), [Succeeded, Failed, Skipped, Skipped, Succeeded]);
        assert_eq!(o.tasks[3].because.as_deref(), Some("b"));
        assert_eq!(o.tasks[1].exit_code, Some(3));
        let s = StateFile::load(&t.path().join(".parci/run-state.json"))
            .unwrap()
            .unwrap();
        assert!(!s.active);
        assert_eq!(s.tasks["d"].status, Skipped);
    }

    #[test]
    fn resume_reruns_failed_and_stale_dependents_only() {
        use Status::*;
        let t = tempfile::tempdir().unwrap();
        let marker = t.path().join("ok");
        let cmd = format!("test -e {}", marker.display());
        let p = plan(&[
            ("a", &[], Some("true")),
            ("b", &["a"], Some(cmd.as_str())),
            ("c", &["b"], Some("true")),
        ]);
        let o = go(&p, t.path(), false, false);
        assert_eq!(st(&o), [Succeeded, Failed, NotRun]);
        std::fs::write(&marker, "").unwrap();
        let o = go(&p, t.path(), false, true);
        assert_eq!(st(&o), [Succeeded, Succeeded, Succeeded]);
        assert!(o.tasks[0].resumed && !o.tasks[1].resumed && !o.tasks[2].resumed);
        assert_eq!(o.tasks[0].attempts, 0);
        // A changed command re-runs the task and its dependents.
        let p2 = plan(&[
            ("a", &[], Some("true ")),
            ("b", &["a"], Some(cmd.as_str())),
            ("c", &["b"], Some("true")),
        ]);
        let o = go(&p2, t.path(), false, true);
        assert!(o.tasks.iter().all(|t| !t.resumed && t.status == Succeeded));
    }

    #[test]
    fn retries_until_the_third_attempt_succeeds_and_timeouts_stop_the_group() {
        use Status::*;
        let t = tempfile::tempdir().unwrap();
        let mut p = plan(&[
            (
                "flaky",
                &[],
                Some("echo x >> n; test $(wc -l < n) -ge 3 && test $PARCI_ATTEMPT = 3"),
            ),
            ("slow", &[], Some("trap '' TERM; sleep 30 & wait; sleep 30")),
        ]);
        p.achievements[0].retries = Some(2);
        p.achievements[1].timeout_s = Some(0.2);
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let order = dag.topo_order().unwrap();
        let opts = Options {
            keep_going: true,
            retry_backoff: Duration::from_millis(1),
            grace: Duration::from_millis(100),
            ..Options::new(
                2,
                t.path().join("logs"),
                t.path().join(".parci/run-state.json"),
                t.path().to_path_buf(),
            )
        };
        let o = run(&p, &dag, &order, None, &opts, &mut NoHooks).unwrap();
        assert_eq!(st(&o), [Succeeded, Failed]);
        assert_eq!(o.tasks[0].attempts, 3);
        assert_eq!(o.tasks[0].history.len(), 3);
        assert_eq!(o.tasks[0].history[0].exit_code, Some(1));
        let slow = &o.tasks[1];
        assert!(slow.timed_out);
        assert_eq!(slow.signal, Some(libc::SIGKILL), "TERM ignored, so KILL");
        assert_eq!(slow.because.as_deref(), Some("timeout after 0.2 s"));
    }

    #[test]
    fn a_dry_run_schedules_like_the_executor() {
        let mut p = plan(&[
            ("a", &[], Some("x")),
            ("b", &["a"], Some("x")),
            ("c", &[], Some("x")),
            ("m", &["b", "c"], None),
        ]);
        for (i, h) in [(0, 1.0), (1, 2.0), (2, 2.0)] {
            p.achievements[i].hours = Some(crate::plan::Hours::exact(h));
        }
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let order = dag.topo_order().unwrap();
        let w = weights(&p, None);
        let h = 3.6e6;
        let s = simulate(&p, &dag, &order, &w, 2, &[]);
        assert!((s.makespan_ms - 3.0 * h).abs() < 1.0, "{s:?}");
        assert!((s.sequential_ms - 5.0 * h).abs() < 1.0);
        let ids: Vec<&str> = s
            .critical_path
            .iter()
            .map(|&i| p.achievements[i as usize].id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "m"]);
        let s1 = simulate(&p, &dag, &order, &w, 1, &[]);
        assert!((s1.makespan_ms - 5.0 * h).abs() < 1.0);
        // --skip b: b takes no time and no slot.
        let s = simulate(&p, &dag, &order, &w, 1, &[false, true, false, false]);
        assert!((s.makespan_ms - 3.0 * h).abs() < 1.0, "{s:?}");
        assert!(s.slots.iter().all(|x| x.0 != 1), "{s:?}");
    }

    #[test]
    fn only_takes_dependencies_along_and_skip_counts_as_done() {
        use Status::*;
        let t = tempfile::tempdir().unwrap();
        let p = plan(&[
            ("a", &[], Some("true")),
            ("b", &["a"], Some("exit 1")),
            ("c", &["b"], Some("true")),
            ("d", &[], Some("true")),
        ]);
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let only = ["c".to_string()];
        let skip = ["b".to_string()];
        let ex = selection(&p, &dag, Some(&only), &skip).unwrap();
        assert_eq!(ex, [false, true, false, true]);
        let e = selection(&p, &dag, None, &["zz".to_string()]).unwrap_err();
        assert_eq!(e, "--skip: \"zz\" is not an achievement of the plan");
        let order = dag.topo_order().unwrap();
        let opts = Options {
            exclude: ex,
            ..Options::new(
                2,
                t.path().join("logs"),
                t.path().join(".parci/run-state.json"),
                t.path().to_path_buf(),
            )
        };
        let o = run(&p, &dag, &order, None, &opts, &mut NoHooks).unwrap();
        assert_eq!(st(&o), [Succeeded, Excluded, Succeeded, Excluded]);
        assert!(o.all_succeeded());
    }

    #[test]
    fn backoff_doubles_and_caps_at_a_minute() {
        let b = Duration::from_secs(1);
        assert_eq!(backoff(b, 1), Duration::from_secs(1));
        assert_eq!(backoff(b, 3), Duration::from_secs(4));
        assert_eq!(backoff(b, 40), Duration::from_secs(60));
        let w = Duration::from_secs(8);
        assert_eq!(jittered(w, 0.0), Duration::from_secs(4));
        assert_eq!(jittered(w, 0.5), Duration::from_secs(6));
        assert!(jittered(w, 0.999_999) <= w);
        let draws: Vec<f64> = (0..64).map(|_| random_unit()).collect();
        assert!(draws.iter().all(|u| (0.0..1.0).contains(u)));
        assert!(
            draws.iter().any(|&u| u != draws[0]),
            "the draws are not one constant"
        );
    }

    #[test]
    fn ranks_priority_then_longest_path_then_id() {
        let p = plan(&[
            ("z", &[], Some("true")),
            ("y", &[], Some("true")),
            ("x", &["y"], Some("true")),
        ]);
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let order = dag.topo_order().unwrap();
        let r = ranks(&p, &dag, &order, &weights(&p, None));
        assert_eq!(
            r,
            [2, 0, 1],
            "y heads the longer chain, then x before z by ID"
        );
        let mut p = p;
        p.achievements[0].priority = Some(1);
        let r = ranks(&p, &dag, &order, &weights(&p, None));
        assert_eq!(r, [0, 1, 2], "a higher priority goes first");
    }
}
