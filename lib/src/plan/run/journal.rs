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
//! - **Replay** ([`read_stored`]): the state file, then the journal's records
//!   in order, each replacing its task, when the journal's `run_id` is the
//!   state file's (a journal left by another run is ignored). What follows the
//!   last newline is a record cut short by a kill and is ignored; any other
//!   line that does not parse is an error naming the file and line.
//! - **Compaction**: the writer folds the journal into a new state file, then
//!   replaces the journal by an empty one (`seq` + 1). Every record in the old
//!   journal is in the new state file, so a crash between the two steps leaves
//!   a pair that replays to the same state. It compacts when the journal holds
//!   [`COMPACT_RATIO`] records per task, when no record came for [`SETTLE`],
//!   at least every [`MAX_LAG`] while records come, and at the end of the run,
//!   which removes the journal. So the state file alone, for readers that
//!   do not replay, is at most about a second behind.
//! - **Durability**: the same as the snapshot-per-batch writer it replaces. A
//!   thread writes, so the scheduler never waits for the disk; after `kill -9`
//!   everything handed to the writer before its last batch is on disk (the
//!   page cache outlives the process). Records are not fsynced: after a power
//!   loss the journal keeps a prefix of its records (the state reads older,
//!   which only makes `--resume` run a finished task again); state files are
//!   fsynced before their rename, as before.

use super::state::STATE_VERSION;
use super::RunError;
use crate::fsutil;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, Read, Write};
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

// ---------------------------------------------------------------- reading

/// A state file and the journal to replay over it, read so that they fit.
pub struct Stored {
    pub snapshot: Vec<u8>,
    pub journal: Option<JournalText>,
}

/// A journal's header and its complete record lines.
pub struct JournalText {
    path: PathBuf,
    run_id: String,
    seq: u64,
    lines: Vec<String>,
}

#[derive(Deserialize)]
struct HeaderLine {
    #[allow(dead_code)]
    journal: u32,
    run_id: String,
    seq: u64,
}

#[derive(Deserialize)]
struct Record<T> {
    id: String,
    task: T,
}

impl JournalText {
    /// Whether this journal continues the state file of `run_id`.
    pub fn applies_to(&self, run_id: Option<&str>) -> bool {
        run_id == Some(self.run_id.as_str())
    }

    /// The records, in order: (task ID, its state).
    pub fn records<T: DeserializeOwned>(&self) -> Result<Vec<(String, T)>, String> {
        self.lines
            .iter()
            .enumerate()
            .map(|(k, line)| {
                serde_json::from_str::<Record<T>>(line)
                    .map(|r| (r.id, r.task))
                    .map_err(|e| {
                        format!(
                            "{}:{}: not a run-parallel journal record ({e}); delete the file to start afresh",
                            self.path.display(),
                            k + 2
                        )
                    })
            })
            .collect()
    }
}

/// Why [`read_stored`] failed.
#[derive(Debug)]
pub enum ReadError {
    /// The state file exists but cannot be read.
    State(io::Error),
    /// The journal cannot be read or is not one (a message naming it).
    Journal(String),
}

/// Reads the journal at `path`: None when there is none, or when not even
/// its header is complete.
fn read_journal(path: &Path) -> Result<Option<JournalText>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
    };
    // After the last newline: a record cut short by a kill; ignored.
    let Some(end) = bytes.iter().rposition(|&b| b == b'\n') else {
        return Ok(None);
    };
    let bad = |what: String| {
        format!(
            "{}: not a run-parallel journal ({what}); delete the file to start afresh",
            path.display()
        )
    };
    let text = std::str::from_utf8(&bytes[..end]).map_err(|e| bad(e.to_string()))?;
    let mut lines = text.split('\n');
    let first = lines.next().unwrap_or("");
    let h: HeaderLine = serde_json::from_str(first).map_err(|e| bad(format!("line 1: {e}")))?;
    Ok(Some(JournalText {
        path: path.to_path_buf(),
        run_id: h.run_id,
        seq: h.seq,
        lines: lines.map(str::to_string).collect(),
    }))
}

/// The journal's header alone, when it is there and whole.
fn journal_id(path: &Path) -> Option<(String, u64)> {
    let f = File::open(path).ok()?;
    let mut line = String::new();
    io::BufReader::new(f).take(4096).read_line(&mut line).ok()?;
    let h: HeaderLine = serde_json::from_str(line.strip_suffix('\n')?).ok()?;
    Some((h.run_id, h.seq))
}

/// Reads the state file at `state_path` and its journal: None when there is
/// no state file. The journal is read first and its header again last; when
/// a compaction came in between (another `seq`), it reads again, so the
/// records never miss a compaction they belong before. (A state file newer
/// than the journal read is fine: it holds every record of it.)
pub fn read_stored(state_path: &Path) -> Result<Option<Stored>, ReadError> {
    let jp = journal_path(state_path);
    let mut snapshot = Vec::new();
    for _ in 0..5 {
        let journal = read_journal(&jp).map_err(ReadError::Journal)?;
        snapshot = match std::fs::read(state_path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(ReadError::State(e)),
        };
        let before = journal.as_ref().map(|j| (j.run_id.clone(), j.seq));
        if before == journal_id(&jp) {
            return Ok(Some(Stored { snapshot, journal }));
        }
    }
    // Compacted under our feet every time: the state file alone (it can only
    // lag behind the run, never run ahead of it).
    Ok(Some(Stored {
        snapshot,
        journal: None,
    }))
}
