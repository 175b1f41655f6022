//! Status from the file system. The plan's documents are the truth: marker
//! files beside `parallel.json` say how far each achievement got, and
//! run-parallel's state file says what is running now. Nothing is written back.
//!
//! | file (relative to the plan folder)      | status |
//! |---|---|
//! | `reviews/APPROVED_<ID>.md`              | complete (unless a FIX is newer) |
//! | `reviews/SKIPPED_<ID>.md`               | skipped |
//! | `.parci/run-state.json` says `running`  | in_progress (its journal replayed over it) |
//! | `reviews/FIX_<ID>.md`                   | failed |
//! | `executions/EXECUTION_<ID>_<N>.md`      | execution_created |
//! | `subplans/SUBPLAN_<ID>.md`              | subplan_created |
//! | none of these                           | not_started |
//!
//! The first row that applies wins.

use super::model::{is_valid_id, Plan};
use serde_json::Value;
use std::collections::HashMap;
use std::io;
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
    /// Execution indices present (`EXECUTION_<ID>_<N>.md`), sorted.
    pub executions: Vec<u64>,
    /// Modification time of `APPROVED_<ID>.md`, when present.
    pub approved: Option<SystemTime>,
    pub fix: Option<SystemTime>,
    pub skipped: bool,
}

/// The marker files found in a plan folder.
#[derive(Clone, Debug, Default)]
pub struct Markers {
    pub by_id: HashMap<String, MarkerSet>,
    /// Every marker file, relative to the plan folder, sorted.
    pub files: Vec<String>,
}

/// What kind of marker a file name is, and for which ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    Subplan(String),
    Execution(String, u64),
    Approved(String),
    Fix(String),
    Skipped(String),
}

impl Marker {
    /// Reads a marker from its folder (`subplans`, `executions`, `reviews`)
    /// and file name; `None` for files that are not markers.
    pub fn parse(folder: &str, name: &str) -> Option<Marker> {
        let stem = name.strip_suffix(".md")?;
        let id_ok = |id: &str| is_valid_id(id).then(|| id.to_string());
        match folder {
            "subplans" => Some(Marker::Subplan(id_ok(stem.strip_prefix("SUBPLAN_")?)?)),
            "executions" => {
                let rest = stem.strip_prefix("EXECUTION_")?;
                let (id, n) = rest.rsplit_once('_')?;
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) || n.len() > 9 {
                    return None;
                }
                Some(Marker::Execution(id_ok(id)?, n.parse().ok()?))
            }
            "reviews" => {
                if let Some(id) = stem.strip_prefix("APPROVED_") {
                    Some(Marker::Approved(id_ok(id)?))
                } else if let Some(id) = stem.strip_prefix("FIX_") {
                    Some(Marker::Fix(id_ok(id)?))
                } else {
                    Some(Marker::Skipped(id_ok(stem.strip_prefix("SKIPPED_")?)?))
                }
            }
            _ => None,
        }
    }

    pub fn id(&self) -> &str {
        match self {
            Marker::Subplan(i)
            | Marker::Execution(i, _)
            | Marker::Approved(i)
            | Marker::Fix(i)
            | Marker::Skipped(i) => i,
        }
    }
}

/// The folders that hold markers.
pub const MARKER_FOLDERS: [&str; 3] = ["subplans", "executions", "reviews"];

/// The file name of a SUBPLAN marker, relative to the plan folder.
pub fn subplan_path(id: &str) -> String {
    format!("subplans/SUBPLAN_{id}.md")
}

/// The file name of an EXECUTION marker, relative to the plan folder.
pub fn execution_path(id: &str, n: u64) -> String {
    format!("executions/EXECUTION_{id}_{n}.md")
}

impl Markers {
    /// Scans `subplans/`, `executions/` and `reviews/` of a plan folder
    /// (absent folders are fine; sub-folders and other files are ignored).
    pub fn scan(dir: &Path) -> io::Result<Markers> {
        let mut m = Markers::default();
        for folder in MARKER_FOLDERS {
            let d = dir.join(folder);
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
            };
            for e in rd {
                let e = e?;
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                let Some(marker) = Marker::parse(folder, &name) else {
                    continue;
                };
                let meta = std::fs::metadata(e.path())?;
                if !meta.is_file() {
                    continue;
                }
                let set = m.by_id.entry(marker.id().to_string()).or_default();
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                match marker {
                    Marker::Subplan(_) => set.subplan = true,
                    Marker::Execution(_, n) => set.executions.push(n),
                    Marker::Approved(_) => set.approved = Some(mtime),
                    Marker::Fix(_) => set.fix = Some(mtime),
                    Marker::Skipped(_) => set.skipped = true,
                }
                m.files.push(format!("{folder}/{name}"));
            }
        }
        for s in m.by_id.values_mut() {
            s.executions.sort_unstable();
        }
        m.files.sort();
        Ok(m)
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

/// The status of one achievement from its markers and whether it is running.
pub fn derive_one(markers: Option<&MarkerSet>, running: bool) -> State {
    let Some(m) = markers else {
        return if running {
            State::InProgress
        } else {
            State::NotStarted
        };
    };
    let fix_is_later = match (m.approved, m.fix) {
        (Some(a), Some(f)) => f > a,
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
        .map(|a| derive_one(markers.get(&a.id), running.contains(a.id.as_str())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn marker_names() {
        assert_eq!(
            Marker::parse("subplans", "SUBPLAN_1.2.md"),
            Some(Marker::Subplan("1.2".into()))
        );
        assert_eq!(
            Marker::parse("executions", "EXECUTION_a_b_3.md"),
            Some(Marker::Execution("a_b".into(), 3))
        );
        assert_eq!(
            Marker::parse("reviews", "FIX_x.md"),
            Some(Marker::Fix("x".into()))
        );
        for (f, n) in [
            ("subplans", "README.md"),
            ("subplans", "SUBPLAN_.md"),
            ("executions", "EXECUTION_a.md"),
            ("executions", "EXECUTION_a_x.md"),
            ("reviews", "APPROVED_a b.md"),
            ("reviews", "NOTES.md"),
            ("other", "SUBPLAN_a.md"),
            ("subplans", "SUBPLAN_a.txt"),
        ] {
            assert_eq!(Marker::parse(f, n), None, "{f}/{n}");
        }
    }

    #[test]
    fn status_rules_in_order() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let t1 = t0 + Duration::from_secs(1);
        let set = |f: &dyn Fn(&mut MarkerSet)| {
            let mut m = MarkerSet::default();
            f(&mut m);
            m
        };
        assert_eq!(derive_one(None, false), State::NotStarted);
        assert_eq!(derive_one(None, true), State::InProgress);
        let sub = set(&|m| m.subplan = true);
        assert_eq!(derive_one(Some(&sub), false), State::SubplanCreated);
        let exe = set(&|m| {
            m.subplan = true;
            m.executions = vec![1]
        });
        assert_eq!(derive_one(Some(&exe), false), State::ExecutionCreated);
        assert_eq!(derive_one(Some(&exe), true), State::InProgress);
        let fix = set(&|m| m.fix = Some(t0));
        assert_eq!(derive_one(Some(&fix), false), State::Failed);
        assert_eq!(derive_one(Some(&fix), true), State::InProgress);
        let later_fix = set(&|m| {
            m.approved = Some(t0);
            m.fix = Some(t1)
        });
        assert_eq!(derive_one(Some(&later_fix), false), State::Failed);
        let later_ok = set(&|m| {
            m.approved = Some(t1);
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&later_ok), true), State::Complete);
        let same = set(&|m| {
            m.approved = Some(t0);
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&same), false), State::Complete);
        let skip = set(&|m| {
            m.skipped = true;
            m.fix = Some(t0)
        });
        assert_eq!(derive_one(Some(&skip), true), State::Skipped);
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
