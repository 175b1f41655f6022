//! Status from the file system. The plan's documents are the truth: marker
//! files beside `parallel.json` say how far each achievement got, and
//! run-parallel's state file says what is running now. Nothing is written back.
//! Where the files are and what they are called is the layout's business
//! ([`super::layout`]); the rules are the same for every layout:
//!
//! | marker (parci's layout)                 | status |
//! |---|---|
//! | `reviews/APPROVED_<ID>.md`              | complete (unless a FIX is newer, where the layout says so) |
//! | `reviews/SKIPPED_<ID>.md`               | skipped |
//! | `.parci/run-state.json` says `running`  | in_progress (its journal replayed over it) |
//! | `reviews/FIX_<ID>.md`                   | failed |
//! | `executions/EXECUTION_<ID>_<N>.md`      | execution_created |
//! | `subplans/SUBPLAN_<ID>.md`              | subplan_created |
//! | none of these                           | not_started |
//!
//! The first row that applies wins.

use super::layout::{Layout, Marker, Scanned};
use super::model::Plan;
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// Where run-parallel keeps its state, relative to the plan folder.
pub const RUN_STATE_FILE: &str = ".parci/run-state.json";

/// An achievement's status, with the public context-manager names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    NotStarted,
    SubplanCreated,
    ExecutionCreated,
    InProgress,
    Failed,
    Skipped,
    Complete,
}

impl State {
    pub const ALL: [State; 7] = [
        State::NotStarted,
        State::SubplanCreated,
        State::ExecutionCreated,
        State::InProgress,
        State::Failed,
        State::Skipped,
        State::Complete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::NotStarted => "not_started",
            State::SubplanCreated => "subplan_created",
            State::ExecutionCreated => "execution_created",
            State::InProgress => "in_progress",
            State::Failed => "failed",
            State::Skipped => "skipped",
            State::Complete => "complete",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        State::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Complete or skipped: dependents may start.
    pub fn is_done(self) -> bool {
        matches!(self, State::Complete | State::Skipped)
    }

    /// Not started yet, or prepared but not run: can be in a next batch.
    pub fn is_startable(self) -> bool {
        matches!(
            self,
            State::NotStarted | State::SubplanCreated | State::ExecutionCreated
        )
    }
}

/// The marker files of one achievement.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarkerSet {
    pub subplan: bool,
    /// Execution attempts present, sorted.
    pub executions: Vec<u64>,
    /// Modification time of the APPROVED file, when present.
    pub approved: Option<SystemTime>,
    pub fix: Option<SystemTime>,
    pub skipped: bool,
}

/// The marker files found in a plan folder.
#[derive(Clone, Debug)]
pub struct Markers {
    /// The layout they were read in.
    pub layout: Layout,
    pub by_id: HashMap<String, MarkerSet>,
    /// Every marker file, relative to the plan folder, sorted, with what it is.
    pub files: Vec<(String, Marker)>,
}

impl Default for Markers {
    fn default() -> Markers {
        Markers {
            layout: Layout::Parci,
            by_id: HashMap::new(),
            files: Vec::new(),
        }
    }
}

impl Markers {
    /// The markers of files already read in `layout`.
    pub fn from_scanned(layout: Layout, files: Scanned) -> Markers {
        let mut m = Markers {
            layout,
            ..Markers::default()
        };
        for (file, marker, mtime) in files {
            let set = m.by_id.entry(marker.id().to_string()).or_default();
            match marker {
                Marker::Subplan(_) => set.subplan = true,
                Marker::Execution(_, n) => set.executions.push(n),
                Marker::Approved(_) => set.approved = Some(mtime),
                Marker::Fix(_) => set.fix = Some(mtime),
                Marker::FixResolution(_) => {}
                Marker::Skipped(_) => set.skipped = true,
            }
            m.files.push((file, marker));
        }
        for s in m.by_id.values_mut() {
            s.executions.sort_unstable();
        }
        m
    }

    pub fn get(&self, id: &str) -> Option<&MarkerSet> {
        self.by_id.get(id)
    }
}

/// run-parallel's state file, read as far as status needs it:
/// `{"tasks": {"<id>": {"status": "running" | …}}}`. Other fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunState {
    /// IDs whose task status is `running`.
    pub running: Vec<String>,
    /// The file, when it exists.
    pub path: Option<PathBuf>,
    /// run-parallel's journal, when records of it were applied over the file.
    pub journal: Option<PathBuf>,
}

impl RunState {
    /// Reads `.parci/run-state.json` in the plan folder, with run-parallel's
    /// journal (`.parci/run-state.journal`) replayed over it when it belongs
    /// to the same run (docs/run-parallel.md#state-and-resume). Absent is an
    /// empty state; present but unreadable or malformed is an error naming
    /// the place.
    pub fn load(dir: &Path) -> Result<RunState, String> {
        use super::run::replay::{read_stored, ReadError};
        let path = dir.join(RUN_STATE_FILE);
        let stored = match read_stored(&path) {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(RunState::default()),
            Err(ReadError::State(e)) => return Err(format!("{}: {e}", path.display())),
            Err(ReadError::Journal(e)) => return Err(e),
        };
        let shown = path.display();
        let mut v: Value = serde_json::from_slice(&stored.snapshot).map_err(|e| {
            format!("{shown}: not valid JSON ({e}); fix or delete the run-parallel state file")
        })?;
        let run_id = v.get("run_id").and_then(Value::as_str);
        let mut journal = None;
        if let Some(j) = stored.journal.filter(|j| j.applies_to(run_id)) {
            if let Some(Value::Object(tasks)) = v.get_mut("tasks") {
                for (id, task) in j.records::<Value>()? {
                    tasks.insert(id, task);
                }
                journal = Some(super::run::journal::journal_path(&path));
            }
        }
        let tasks = match v.get("tasks") {
            Some(Value::Object(t)) => t,
            None => {
                return Ok(RunState {
                    running: Vec::new(),
                    path: Some(path),
                    journal,
                })
            }
            Some(_) => {
                return Err(format!(
                    "{shown}: /tasks must be an object of ID -> {{\"status\": …}}; fix or delete the file"
                ))
            }
        };
        let mut running = Vec::new();
        for (id, t) in tasks {
            match t.get("status") {
                Some(Value::String(s)) if s == "running" => running.push(id.clone()),
                Some(Value::String(_)) | None => {}
                Some(_) => {
                    return Err(format!(
                        "{shown}: /tasks/{}/status must be a string; fix or delete the file",
                        crate::jsonpos::escape_token(id)
                    ))
                }
            }
        }
        running.sort();
        Ok(RunState {
            running,
            path: Some(path),
            journal,
        })
    }
}

/// The status of one achievement from its markers and whether it is running;
/// `fix_reopens`: a FIX newer than the APPROVED makes it failed again
/// ([`Layout::fix_reopens`]).
pub fn derive_one(markers: Option<&MarkerSet>, running: bool, fix_reopens: bool) -> State {
    let Some(m) = markers else {
        return if running {
            State::InProgress
        } else {
            State::NotStarted
        };
    };
    let fix_is_later = match (m.approved, m.fix) {
        (Some(a), Some(f)) => fix_reopens && f > a,
        _ => false,
    };
    if m.approved.is_some() && !fix_is_later {
        State::Complete
    } else if m.skipped {
        State::Skipped
    } else if running {
        State::InProgress
    } else if m.fix.is_some() {
        State::Failed
    } else if !m.executions.is_empty() {
        State::ExecutionCreated
    } else if m.subplan {
        State::SubplanCreated
    } else {
        State::NotStarted
    }
}

/// The status of every achievement of a plan, in plan order.
pub fn derive(plan: &Plan, markers: &Markers, run: &RunState) -> Vec<State> {
    let running: std::collections::HashSet<&str> = run.running.iter().map(String::as_str).collect();
    plan.achievements
        .iter()
        .map(|a| {
            derive_one(
                markers.get(&a.id),
                running.contains(a.id.as_str()),
                markers.layout.fix_reopens(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn status_rules_in_order() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(1);
        let set = |f: &dyn Fn(&mut MarkerSet)| {
            let mut m = MarkerSet::default();
            f(&mut m);
            m
        };
        assert_eq!(derive_one(None, false, true), State::NotStarted);
        assert_eq!(derive_one(None, true, true), State::InProgress);
        let sub = set(&|m| m.subplan = true);
        assert_eq!(derive_one(Some(&sub), false, true), State::SubplanCreated);
        let exe = set(&|m| {
            m.subplan = true;
            m.executions = vec![1]
        });
        assert_eq!(derive_one(Some(&exe), false, true), State::ExecutionCreated);
        assert_eq!(derive_one(Some(&exe), true, true), State::InProgress);
        let fix = set(&|m| m.fix = Some(t0));
        assert_eq!(derive_one(Some(&fix), false, true), State::Failed);
        assert_eq!(derive_one(Some(&fix), true, true), State::InProgress);
        let later_fix = set(&|m| {
            m.approved = Some(t0);
            m.fix = Some(t1)
        });
        assert_eq!(derive_one(Some(&later_fix), false, true), State::Failed);
        let later_ok = set(&|m| {
            m.approved = Some(t1);
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&later_ok), true, true), State::Complete);
        // context-manager's layout: APPROVED wins whatever the times.
        assert_eq!(derive_one(Some(&later_fix), false, false), State::Complete);
        let same = set(&|m| {
            m.approved = Some(t0);
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&same), false, true), State::Complete);
        let skip = set(&|m| {
            m.skipped = true;
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&skip), true, true), State::Skipped);
    }

    #[test]
    fn run_state_absent_minimal_and_malformed() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(RunState::load(t.path()).unwrap(), RunState::default());
        std::fs::create_dir(t.path().join(".parci")).unwrap();
        let f = t.path().join(RUN_STATE_FILE);
        std::fs::write(
            &f,
            r#"{"tasks": {"b": {"status": "running", "pid": 7}, "a": {"status": "running"}, "c": {"status": "succeeded"}}, "started": 1}"#,
        )
        .unwrap();
        assert_eq!(RunState::load(t.path()).unwrap().running, ["a", "b"]);
        std::fs::write(&f, r#"{"tasks": []}"#).unwrap();
        let e = RunState::load(t.path()).unwrap_err();
        assert!(e.contains("/tasks must be an object"), "{e}");
        std::fs::write(&f, "{").unwrap();
        assert!(RunState::load(t.path())
            .unwrap_err()
            .contains("not valid JSON"));
    }

    #[test]
    fn run_state_replays_run_parallels_journal_of_the_same_run() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join(".parci")).unwrap();
        let f = t.path().join(RUN_STATE_FILE);
        std::fs::write(
            &f,
            r#"{"run_id": "r1", "tasks": {"a": {"status": "running"}, "b": {"status": "queued"}}}"#,
        )
        .unwrap();
        let journal = f.with_extension("journal");
        let write = |run: &str| {
            let text = format!(
                "{{\"journal\":1,\"run_id\":\"{run}\",\"seq\":0}}\n{}\n{}\n{}",
                r#"{"id":"a","task":{"status":"succeeded"}}"#,
                r#"{"id":"b","task":{"status":"running"}}"#,
                r#"{"id":"c","task":{"status":"run"#,
            );
            std::fs::write(&journal, text).unwrap();
        };
        write("r1");
        assert_eq!(RunState::load(t.path()).unwrap().running, ["b"]);
        write("r0");
        assert_eq!(RunState::load(t.path()).unwrap().running, ["a"]);
    }
}
