//! How a run's state is read back: the state file, then the journal's
//! records replayed over it (the format and its writer: [`super::journal`]).
//! Used by `--resume` ([`super::StateFile::load`]) and by status
//! ([`crate::plan::fsstate::RunState::load`]).
//!
//! - Records apply only when the journal's `run_id` is the state file's (a
//!   journal left by another run is ignored).
//! - What follows the last newline is a record cut short by a kill and is
//!   ignored; any other line that does not parse is an error naming the file
//!   and the line.
//! - The journal is read first and its header again last; when a compaction
//!   came in between (another `seq`), everything is read again. A state file
//!   newer than the journal read is fine: it holds every record of it.

use super::journal::journal_path;
use super::state::{StateFile, TaskState};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::{Path, PathBuf};

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

impl StateFile {
    /// Reads the state a run left: the state file with its journal replayed
    /// over it (the journal's records since the last compaction, when it
    /// belongs to the same run; a torn last line is ignored). `None` when
    /// there is no state file. A file this build cannot read is an error
    /// naming it (resume must not guess).
    pub fn load(path: &Path) -> Result<Option<StateFile>, String> {
        let stored = match read_stored(path) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(None),
            Err(ReadError::State(e)) => {
                return Err(format!("{}: cannot read: {e}", path.display()))
            }
            Err(ReadError::Journal(e)) => return Err(e),
        };
        let mut state: StateFile = serde_json::from_slice(&stored.snapshot).map_err(|e| {
            format!(
                "{}: not a run-parallel state file ({e}); delete it to start afresh",
                path.display()
            )
        })?;
        if let Some(j) = stored.journal.filter(|j| j.applies_to(Some(&state.run_id))) {
            for (id, task) in j.records::<TaskState>()? {
                state.tasks.insert(id, task);
            }
        }
        Ok(Some(state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::run::{StateFile, Status};

    /// A state file of run `r1` (a and b queued) and a journal of `run_id`
    /// holding `lines` after its header, written as given.
    fn stored(dir: &Path, run_id: &str, lines: &str) -> PathBuf {
        let state = dir.join("run-state.json");
        let q = r#"{"status": "queued", "command_hash": "sha256:x"}"#;
        std::fs::write(
            &state,
            format!(
                r#"{{"version": 1, "run_id": "r1", "plan_sha256": "", "jobs": 1, "mode": "fail-fast", "active": true, "tasks": {{"a": {q}, "b": {q}}}}}"#
            ),
        )
        .unwrap();
        let header = format!(r#"{{"journal":1,"run_id":"{run_id}","seq":0}}"#);
        std::fs::write(journal_path(&state), format!("{header}\n{lines}")).unwrap();
        state
    }

    fn rec(id: &str, status: &str) -> String {
        format!(r#"{{"id":"{id}","task":{{"status":"{status}","command_hash":"sha256:x"}}}}"#)
    }

    fn statuses(state: &Path) -> Vec<Status> {
        let s = StateFile::load(state).unwrap().unwrap();
        s.tasks.values().map(|t| t.status).collect()
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_bad_line_before_it_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let running = rec("a", "running");
        let torn = &rec("b", "succeeded")[..30];
        let state = stored(t.path(), "r1", &format!("{running}\n{torn}"));
        assert_eq!(statuses(&state), [Status::Running, Status::Queued]);
        // Only a header, itself cut short: nothing to replay.
        std::fs::write(journal_path(&state), r#"{"journal":1,"run_"#).unwrap();
        assert_eq!(statuses(&state), [Status::Queued, Status::Queued]);
        // A whole line that is not a record is not a torn write: an error.
        let state = stored(t.path(), "r1", &format!("{torn}\n{running}\n"));
        let e = StateFile::load(&state).unwrap_err();
        assert!(
            e.contains("run-state.journal:2: not a run-parallel journal record"),
            "{e}"
        );
    }

    #[test]
    fn a_journal_of_another_run_is_ignored() {
        let t = tempfile::tempdir().unwrap();
        let state = stored(t.path(), "r0", &format!("{}\n", rec("a", "succeeded")));
        assert_eq!(statuses(&state), [Status::Queued, Status::Queued]);
        let state = stored(t.path(), "r1", &format!("{}\n", rec("a", "succeeded")));
        assert_eq!(statuses(&state), [Status::Succeeded, Status::Queued]);
    }

    #[test]
    fn no_state_file_is_no_state_whatever_journal_lies_beside_it() {
        let t = tempfile::tempdir().unwrap();
        let state = stored(t.path(), "r1", &format!("{}\n", rec("a", "running")));
        std::fs::remove_file(&state).unwrap();
        assert!(read_stored(&state).unwrap().is_none());
        assert_eq!(StateFile::load(&state).unwrap(), None);
    }
}
