//! What is written so a run can resume, on the model of ninja's `.ninja_log`:
//! an append-only journal of transitions, replayed on start and compacted from
//! time to time.
//!
//! - **State file** `.parci/run-state.json`: the whole state (a header, then
//!   one line per task), replaced atomically (temporary file, fsync, rename).
//!   Written when a run starts, before its first task; then at every
//!   compaction; and at the end of the run (`active: false`).
//! - **Journal** `.parci/run-state.journal` beside it: a header line
//!   `{"journal":1,"run_id":…,"seq":…}`, then one line `{"id":…,"task":{…}}`
//!   per task that changed in a batch of transitions, each the task's whole
//!   state, each one `write(2)` on an `O_APPEND` file. Appending a record
//!   costs the size of one task, where rewriting the state file cost all of
//!   them (420 KB at 1 000 tasks).
//! - **Replay** ([`super::replay`]): the state file, then the journal's
//!   records in order, each replacing its task, when the journal belongs to
//!   the state file's run; a torn last line is ignored.
//! - **Compaction**: the writer folds the journal into a new state file, then
//!   replaces the journal by an empty one (`seq` + 1). Every record in the old
//!   journal is in the new state file, so a crash between the two steps leaves
//!   a pair that replays to the same state. It compacts when the journal holds
//!   [`COMPACT_RATIO`] records per task, when no record came for [`SETTLE`],
//!   at least every [`MAX_LAG`] while records come, and at the end of the run,
//!   which removes the journal. So the state file alone, for readers that
//!   do not replay, is at most about a second behind.
//! - **Durability**: that of the snapshot-per-batch writer it replaces. A
//!   thread writes, so the scheduler never waits for the disk; it gathers
//!   records for [`GROUP`] (5 ms) between writes, as the old writer skipped
//!   snapshots while one was being written. After `kill -9` the journal holds
//!   every transition but those of the last few milliseconds (the page cache
//!   outlives the process), and a missing one only makes `--resume` run a
//!   finished task again, never skip an unfinished one. Records are not
//!   fsynced (the old writer fsynced each snapshot but not the folder, so
//!   after a power loss it too could come back older): after a power loss
//!   the journal keeps a prefix of its records. State files are fsynced
//!   before their rename, as before.

use super::state::STATE_VERSION;
use super::RunError;
use crate::fsutil;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Compact when the journal holds this many records per task.
pub const COMPACT_RATIO: usize = 4;
/// Compact when no record came for this long (the run is quiet).
pub const SETTLE: Duration = Duration::from_millis(100);
/// Compact at least this often while records keep coming.
pub const MAX_LAG: Duration = Duration::from_secs(1);
/// Group commit: after writing a batch the writer lets the next records gather
/// this long instead of waking for every batch (on a loaded machine each
/// wake-up of another thread is a turn taken from the tasks).
pub const GROUP: Duration = Duration::from_millis(5);

/// The journal beside a state file: `run-state.json` → `run-state.journal`.
pub fn journal_path(state_path: &Path) -> PathBuf {
    state_path.with_extension("journal")
}

/// What the state file's header says about the run.
#[derive(Clone, Debug)]
pub(super) struct Header {
    pub run_id: String,
    pub plan_sha256: String,
    pub jobs: usize,
    pub mode: &'static str,
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

/// The state file's bytes: the header, then `"ID": {task}` per line.
/// `ids` are quoted JSON strings; `tasks` the tasks' JSON, in plan order.
fn snapshot(h: &Header, active: bool, ids: &[String], tasks: &[String]) -> Vec<u8> {
    let size: usize = ids
        .iter()
        .zip(tasks)
        .map(|(i, t)| i.len() + t.len() + 4)
        .sum();
    let mut out = String::with_capacity(size + 256);
    let _ = write!(
        out,
        "{{\n\"version\": {STATE_VERSION},\n\"run_id\": {},\n\"plan_sha256\": {},\n\"jobs\": {},\n\"mode\": \"{}\",\n\"active\": {active},\n\"tasks\": {{\n",
        quote(&h.run_id),
        quote(&h.plan_sha256),
        h.jobs,
        h.mode,
    );
    for (k, (id, task)) in ids.iter().zip(tasks).enumerate() {
        out.push_str(id);
        out.push_str(": ");
        out.push_str(task);
        out.push_str(if k + 1 < ids.len() { ",\n" } else { "\n" });
    }
    out.push_str("}\n}\n");
    out.into_bytes()
}

/// Replaces the journal by one holding only its header, and returns it open
/// for appending. The temporary file and the rename keep the header whole
/// for readers.
fn fresh_journal(path: &Path, run_id: &str, seq: u64) -> io::Result<File> {
    let tmp = path.with_extension("journal.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = File::options().append(true).create_new(true).open(&tmp)?;
    f.write_all(
        format!(
            "{{\"journal\":1,\"run_id\":{},\"seq\":{seq}}}\n",
            quote(run_id)
        )
        .as_bytes(),
    )?;
    std::fs::rename(&tmp, path)?;
    Ok(f)
}

/// The writer thread's side: the state as the disk knows it, and the journal.
struct Disk {
    state_path: PathBuf,
    journal_path: PathBuf,
    header: Header,
    ids: Vec<String>,
    tasks: Vec<String>,
    journal: File,
    seq: u64,
    /// Records in the journal (since the last compaction).
    pending: usize,
    last_record: Instant,
    last_compact: Instant,
    line: String,
}

impl Disk {
    /// The state file of a run starting with `tasks`, and an empty journal.
    fn create(
        state_path: &Path,
        header: Header,
        ids: Vec<String>,
        tasks: Vec<String>,
    ) -> io::Result<Disk> {
        let journal_path = journal_path(state_path);
        fsutil::write_atomic(state_path, &snapshot(&header, true, &ids, &tasks))?;
        let journal = fresh_journal(&journal_path, &header.run_id, 0)?;
        let now = Instant::now();
        Ok(Disk {
            state_path: state_path.to_path_buf(),
            journal_path,
            header,
            ids,
            tasks,
            journal,
            seq: 0,
            pending: 0,
            last_record: now,
            last_compact: now,
            line: String::new(),
        })
    }

    /// One record, one write.
    fn append(&mut self, i: u32, task: String) -> io::Result<()> {
        let i = i as usize;
        self.line.clear();
        self.line.push_str("{\"id\":");
        self.line.push_str(&self.ids[i]);
        self.line.push_str(",\"task\":");
        self.line.push_str(&task);
        self.line.push_str("}\n");
        self.journal.write_all(self.line.as_bytes())?;
        self.tasks[i] = task;
        self.pending += 1;
        self.last_record = Instant::now();
        Ok(())
    }

    /// When the journal is due for compaction if nothing else comes.
    fn due(&self) -> Option<Instant> {
        (self.pending > 0).then(|| (self.last_record + SETTLE).min(self.last_compact + MAX_LAG))
    }

    fn full(&self) -> bool {
        self.pending >= COMPACT_RATIO * self.ids.len().max(1)
    }

    /// Appends a batch; then compacts when due (always when `closed`, which
    /// also removes the journal).
    fn take(&mut self, records: Vec<(u32, String)>, closed: bool) -> io::Result<()> {
        for (i, task) in records {
            self.append(i, task)?;
        }
        if closed {
            self.compact(false)?;
            let _ = std::fs::remove_file(&self.journal_path);
        } else if self.full() || self.due().is_some_and(|d| d <= Instant::now()) {
            self.compact(true)?;
        }
        Ok(())
    }

    fn compact(&mut self, active: bool) -> io::Result<()> {
        let bytes = snapshot(&self.header, active, &self.ids, &self.tasks);
        fsutil::write_atomic(&self.state_path, &bytes)?;
        self.seq += 1;
        self.journal = fresh_journal(&self.journal_path, &self.header.run_id, self.seq)?;
        self.pending = 0;
        self.last_compact = Instant::now();
        Ok(())
    }
}

#[derive(Default)]
struct Queue {
    records: Vec<(u32, String)>,
    closed: bool,
    error: Option<String>,
    /// The writer waits for records (else it is writing, or gathering a
    /// group, and looks again by itself).
    idle: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    cv: Condvar,
}

fn lock(s: &Shared) -> MutexGuard<'_, Queue> {
    s.queue.lock().unwrap_or_else(|e| e.into_inner())
}

/// A run's journal: [`Journal::start`] writes the run's first state file,
/// [`Journal::submit`] hands batches of records to the writer thread,
/// [`Journal::finish`] waits until the final state file is on disk.
pub(super) struct Journal {
    shared: Arc<Shared>,
    handle: JoinHandle<()>,
    path: PathBuf,
}

impl Journal {
    /// Writes the state file for a run starting with `tasks` (their JSON in
    /// plan order; `ids` quoted), and an empty journal, before any task
    /// starts: a kill from here on can never leave the previous run's
    /// state to resume from.
    pub fn start(
        state_path: &Path,
        header: Header,
        ids: Vec<String>,
        tasks: Vec<String>,
    ) -> Result<Journal, RunError> {
        let fail = |e: io::Error| Journal::fail(state_path, e.to_string());
        let disk = Disk::create(state_path, header, ids, tasks).map_err(fail)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            cv: Condvar::new(),
        });
        let s = shared.clone();
        let handle = std::thread::Builder::new()
            .name("parci-journal".into())
            .spawn(move || write_loop(&s, disk))
            .map_err(fail)?;
        Ok(Journal {
            shared,
            handle,
            path: state_path.to_path_buf(),
        })
    }

    fn fail(path: &Path, e: String) -> RunError {
        RunError::Io(format!(
            "{}: cannot write the run state: {e}",
            path.display()
        ))
    }

    /// Hands over (task, its state's JSON) records; an error of an earlier
    /// write stops the run here.
    pub fn submit(&self, records: Vec<(u32, String)>) -> Result<(), RunError> {
        let mut q = lock(&self.shared);
        if let Some(e) = q.error.take() {
            return Err(Journal::fail(&self.path, e));
        }
        if !records.is_empty() {
            q.records.extend(records);
            if q.idle {
                self.shared.cv.notify_one();
            }
        }
        Ok(())
    }

    /// The last records, then the final state file (`active: false`); the
    /// journal is removed. Returns once that is on disk.
    pub fn finish(self, records: Vec<(u32, String)>) -> Result<(), RunError> {
        self.submit(records)?;
        lock(&self.shared).closed = true;
        self.shared.cv.notify_one();
        let _ = self.handle.join();
        match lock(&self.shared).error.take() {
            Some(e) => Err(Journal::fail(&self.path, e)),
            None => Ok(()),
        }
    }
}

fn write_loop(s: &Shared, mut disk: Disk) {
    loop {
        let (records, closed) = {
            let mut q = lock(s);
            while q.records.is_empty() && !q.closed {
                q.idle = true;
                let Some(due) = disk.due() else {
                    q = s.cv.wait(q).unwrap_or_else(|e| e.into_inner());
                    continue;
                };
                let now = Instant::now();
                if due <= now {
                    break;
                }
                q =
                    s.cv.wait_timeout(q, due - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
            }
            q.idle = false;
            (std::mem::take(&mut q.records), q.closed)
        };
        if let Err(e) = disk.take(records, closed) {
            lock(s).error.get_or_insert_with(|| e.to_string());
            // Nothing more is written after a failed write: the journal could
            // otherwise hold a record after a hole.
            if !closed {
                discard_until_closed(s);
            }
            return;
        }
        if closed {
            return;
        }
        // Let the next records gather (only finish() wakes this wait).
        let q = lock(s);
        if !q.closed {
            let _ = s.cv.wait_timeout(q, GROUP);
        }
    }
}

/// After an error: takes records without writing them until the run ends.
fn discard_until_closed(s: &Shared) {
    let mut q = lock(s);
    while !q.closed {
        q.records.clear();
        q = s.cv.wait(q).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::run::{StateFile, Status, TaskState};

    fn header() -> Header {
        Header {
            run_id: "r1".into(),
            plan_sha256: "abc".into(),
            jobs: 2,
            mode: "fail-fast",
        }
    }

    fn task(status: Status) -> String {
        let mut t = TaskState::new(Some("sha256:x".into()));
        t.status = status;
        serde_json::to_string(&t).unwrap()
    }

    /// A run of tasks a and b, both queued, in `dir`.
    fn disk(dir: &Path) -> Disk {
        let ids = vec![quote("a"), quote("b")];
        let tasks = vec![task(Status::Queued), task(Status::Queued)];
        Disk::create(&dir.join("run-state.json"), header(), ids, tasks).unwrap()
    }

    fn statuses(s: &StateFile) -> Vec<Status> {
        s.tasks.values().map(|t| t.status).collect()
    }

    #[test]
    fn each_record_is_one_line_and_replay_gives_the_state_compaction_keeps() {
        let t = tempfile::tempdir().unwrap();
        let mut d = disk(t.path());
        d.append(0, task(Status::Running)).unwrap();
        d.append(0, task(Status::Succeeded)).unwrap();
        d.append(1, task(Status::Running)).unwrap();
        let text = std::fs::read_to_string(&d.journal_path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], r#"{"journal":1,"run_id":"r1","seq":0}"#);
        assert!(lines[3].starts_with(r#"{"id":"b","task":{"status":"running""#));
        // The state file alone is still the run's start; replayed, it is now.
        let alone: StateFile =
            serde_json::from_slice(&std::fs::read(&d.state_path).unwrap()).unwrap();
        assert_eq!(statuses(&alone), [Status::Queued, Status::Queued]);
        let now = StateFile::load(&d.state_path).unwrap().unwrap();
        assert_eq!(statuses(&now), [Status::Succeeded, Status::Running]);
        // Compacted: the file alone says the same, the journal is empty.
        d.compact(true).unwrap();
        let alone: StateFile =
            serde_json::from_slice(&std::fs::read(&d.state_path).unwrap()).unwrap();
        assert_eq!(alone, now);
        assert!(alone.active);
        let text = std::fs::read_to_string(&d.journal_path).unwrap();
        assert_eq!(text, "{\"journal\":1,\"run_id\":\"r1\",\"seq\":1}\n");
        assert_eq!(StateFile::load(&d.state_path).unwrap().unwrap(), now);
    }

    #[test]
    fn a_crash_between_the_two_steps_of_a_compaction_replays_to_the_same_state() {
        let t = tempfile::tempdir().unwrap();
        let mut d = disk(t.path());
        d.append(0, task(Status::Running)).unwrap();
        d.append(1, task(Status::Running)).unwrap();
        d.append(0, task(Status::Failed)).unwrap();
        let before = StateFile::load(&d.state_path).unwrap().unwrap();
        let old_journal = std::fs::read(&d.journal_path).unwrap();
        d.compact(true).unwrap();
        // As if killed after the new state file, before the new journal.
        std::fs::write(&d.journal_path, old_journal).unwrap();
        assert_eq!(StateFile::load(&d.state_path).unwrap().unwrap(), before);
    }

    #[test]
    fn a_journal_with_ratio_records_per_task_is_compacted() {
        let t = tempfile::tempdir().unwrap();
        let mut d = disk(t.path());
        let records = (0..COMPACT_RATIO * 2)
            .map(|k| ((k % 2) as u32, task(Status::Running)))
            .collect();
        d.take(records, false).unwrap();
        assert_eq!(d.seq, 1);
        let text = std::fs::read_to_string(&d.journal_path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
    }

    #[test]
    fn finish_writes_the_final_state_and_removes_the_journal() {
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join(".parci/run-state.json");
        let ids = vec![quote("a"), quote("b")];
        let tasks = vec![task(Status::Queued), task(Status::Queued)];
        let j = Journal::start(&path, header(), ids, tasks).unwrap();
        let first = StateFile::load(&path).unwrap().unwrap();
        assert!(first.active, "written before anything runs");
        j.submit(vec![(0, task(Status::Running))]).unwrap();
        j.submit(vec![
            (0, task(Status::Succeeded)),
            (1, task(Status::Running)),
        ])
        .unwrap();
        j.finish(vec![(1, task(Status::Failed))]).unwrap();
        assert!(!journal_path(&path).exists());
        let s: StateFile = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert!(!s.active);
        assert_eq!(
            (s.run_id.as_str(), s.jobs, s.mode.as_str()),
            ("r1", 2, "fail-fast")
        );
        assert_eq!(statuses(&s), [Status::Succeeded, Status::Failed]);
    }
}
