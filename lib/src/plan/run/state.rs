//! What a task's state is: the records of the state file
//! (`.parci/run-state.json`) and of the journal appended on top of it. How a
//! previous run's state is read back ([`StateFile::load`]: the compacted file
//! with the journal replayed over it) is [`super::replay`]'s question; this
//! file is the types only, below the journal and the replay that use them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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
    /// Not run: its cache key matched a stored artifact, whose outputs were
    /// restored and whose log was replayed; counts as succeeded.
    Cached,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Queued,
        Status::Running,
        Status::Succeeded,
        Status::Failed,
        Status::Skipped,
        Status::NotRun,
        Status::Interrupted,
        Status::Excluded,
        Status::Cached,
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
            Status::Cached => "cached",
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
    pub(super) fn new(command_hash: Option<String>) -> TaskState {
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
