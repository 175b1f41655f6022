//! Where a plan's marker files live and what they are called: parci's own
//! layout, or the one public context-manager plans use on disk. Everything
//! that reads or writes a marker (status, validate-parallel's marker rules,
//! batch-create) asks a [`Naming`], so each layout's rules exist once.
//!
//! | marker | parci | context-manager |
//! |---|---|---|
//! | planned | `subplans/SUBPLAN_<ID>.md` | `subplans/SUBPLAN_<PLAN>_<NN>.md` |
//! | attempt N | `executions/EXECUTION_<ID>_<N>.md` | `execution/EXECUTION_TASK_<PLAN>_<NN>_<MM>.md` |
//! | approved | `reviews/APPROVED_<ID>.md` | `execution/feedbacks/APPROVED_<NN>.md` |
//! | fix asked | `reviews/FIX_<ID>.md` | `execution/feedbacks/FIX_<NN>.md` |
//! | fix answered | — | `execution/feedbacks/FIX_<NN>_RESOLUTION.md` (no effect on status) |
//! | skipped | `reviews/SKIPPED_<ID>.md` | `execution/SKIPPED_<NN>.md` |
//!
//! `<PLAN>` is the plan's `plan_name`, `<NN>` the achievement ID without its
//! dots ("1.1" -> "11"), `<MM>` the attempt with two digits ("01").

use super::model::{is_valid_id, Plan};
use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::time::SystemTime;

/// A marker-file layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Layout {
    Parci,
    ContextManager,
}

impl Layout {
    pub const ALL: [Layout; 2] = [Layout::Parci, Layout::ContextManager];

    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Parci => "parci",
            Layout::ContextManager => "context-manager",
        }
    }

    pub fn parse(s: &str) -> Option<Layout> {
        Layout::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The folders that hold markers, relative to the plan folder.
    pub fn folders(self) -> &'static [&'static str] {
        match self {
            Layout::Parci => &["subplans", "executions", "reviews"],
            Layout::ContextManager => &["subplans", "execution", "execution/feedbacks"],
        }
    }

    /// Whether a FIX written after the APPROVED reopens the achievement.
    /// parci: yes (a review can reopen work). context-manager keeps FIX files
    /// as the record of a review round beside the APPROVED that ended it, and
    /// its status tool lets APPROVED win whatever the times; times after a
    /// git checkout are arbitrary, so comparing them would make its plans'
    /// status random.
    pub fn fix_reopens(self) -> bool {
        self == Layout::Parci
    }
}

/// What kind of marker a file is, and for which achievement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Marker {
    Subplan(String),
    Execution(String, u64),
    Approved(String),
    Fix(String),
    /// context-manager's answer to a FIX; it does not change the status.
    FixResolution(String),
    Skipped(String),
}

impl Marker {
    /// The achievement ID, or for a file that names no achievement of the
    /// plan, the name part it has (an ID, or context-manager's `<NN>`).
    pub fn id(&self) -> &str {
        match self {
            Marker::Subplan(i)
            | Marker::Execution(i, _)
            | Marker::Approved(i)
            | Marker::Fix(i)
            | Marker::FixResolution(i)
            | Marker::Skipped(i) => i,
        }
    }
}

/// Marker files as read: path relative to the plan folder, what it is, its
/// modification time; sorted by path.
pub type Scanned = Vec<(String, Marker, SystemTime)>;

/// A layout bound to one plan: names its files and reads their names back.
#[derive(Clone, Debug)]
pub struct Naming {
    pub layout: Layout,
    plan_name: String,
    /// context-manager: `<NN>` -> the first ID that has it.
    by_key: HashMap<String, String>,
    /// IDs that lose their dots to the same `<NN>`: (first, second).
    pub collisions: Vec<(String, String)>,
}

impl Naming {
    pub fn new(layout: Layout, plan: &Plan) -> Naming {
        let mut by_key: HashMap<String, String> = HashMap::new();
        let mut collisions = Vec::new();
        if layout == Layout::ContextManager {
            for a in &plan.achievements {
                let key = cm_key(&a.id);
                match by_key.get(&key) {
                    Some(first) if *first != a.id => collisions.push((first.clone(), a.id.clone())),
                    Some(_) => {}
                    None => {
                        by_key.insert(key, a.id.clone());
                    }
                }
            }
        }
        Naming {
            layout,
            plan_name: plan.name.clone(),
            by_key,
            collisions,
        }
    }

    /// The name part of an achievement's files: the ID, or its `<NN>`.
    pub fn key(&self, id: &str) -> String {
        match self.layout {
            Layout::Parci => id.to_string(),
            Layout::ContextManager => cm_key(id),
        }
    }

    /// The folder batch-create writes SUBPLAN or EXECUTION documents into.
    pub fn folder(&self, execution: bool) -> &'static str {
        match (self.layout, execution) {
            (_, false) => "subplans",
            (Layout::Parci, true) => "executions",
            (Layout::ContextManager, true) => "execution",
        }
    }

    /// The SUBPLAN file of `id`, relative to the plan folder.
    pub fn subplan_path(&self, id: &str) -> String {
        match self.layout {
            Layout::Parci => format!("subplans/SUBPLAN_{id}.md"),
            Layout::ContextManager => {
                format!("subplans/SUBPLAN_{}_{}.md", self.plan_name, cm_key(id))
            }
        }
    }

    /// Execution attempt `n` of `id`, relative to the plan folder.
    pub fn execution_path(&self, id: &str, n: u64) -> String {
        match self.layout {
            Layout::Parci => format!("executions/EXECUTION_{id}_{n}.md"),
            Layout::ContextManager => format!(
                "execution/EXECUTION_TASK_{}_{}_{n:02}.md",
                self.plan_name,
                cm_key(id)
            ),
        }
    }

    /// The APPROVED, FIX or SKIPPED file of `id` (`kind` is that word).
    pub fn review_path(&self, kind: &str, id: &str) -> String {
        match (self.layout, kind) {
            (Layout::Parci, _) => format!("reviews/{kind}_{id}.md"),
            (Layout::ContextManager, "SKIPPED") => format!("execution/SKIPPED_{}.md", cm_key(id)),
            (Layout::ContextManager, _) => {
                format!("execution/feedbacks/{kind}_{}.md", cm_key(id))
            }
        }
    }

    /// A file pattern for messages: `reviews/FIX_<ID>.md`.
    pub fn review_pattern(&self, kind: &str) -> String {
        match self.layout {
            Layout::Parci => format!("reviews/{kind}_<ID>.md"),
            Layout::ContextManager => format!("execution/feedbacks/{kind}_<NN>.md"),
        }
    }

    /// Reads a marker from its folder (one of [`Layout::folders`]) and file
    /// name; `None` for files that are not markers of this layout.
    pub fn parse(&self, folder: &str, name: &str) -> Option<Marker> {
        let stem = name.strip_suffix(".md")?;
        match self.layout {
            Layout::Parci => parse_parci(folder, stem),
            Layout::ContextManager => self.parse_cm(folder, stem),
        }
    }

    fn parse_cm(&self, folder: &str, stem: &str) -> Option<Marker> {
        let key_ok =
            |k: &str| (!k.is_empty() && is_valid_id(k) && !k.contains('.')).then(|| self.id_of(k));
        let plan_part = |s: &'_ str| -> Option<String> {
            s.strip_prefix(self.plan_name.as_str())?
                .strip_prefix('_')
                .map(str::to_string)
        };
        match folder {
            "subplans" => {
                let rest = plan_part(stem.strip_prefix("SUBPLAN_")?)?;
                Some(Marker::Subplan(key_ok(&rest)?))
            }
            "execution" => {
                if let Some(k) = stem.strip_prefix("SKIPPED_") {
                    return Some(Marker::Skipped(key_ok(k)?));
                }
                // context-manager counts EXECUTION_TASK_<PLAN>_<NN>_* whatever
                // follows; the attempt is that suffix when it is a number.
                let rest = plan_part(stem.strip_prefix("EXECUTION_TASK_")?)?;
                // The <NN> of an achievement of the plan when one fits (an ID
                // may hold '_'), else up to the first '_'.
                let (k, attempt) = rest
                    .match_indices('_')
                    .map(|(i, _)| (&rest[..i], &rest[i + 1..]))
                    .find(|(k, _)| self.by_key.contains_key(*k))
                    .or_else(|| rest.split_once('_'))?;
                if attempt.is_empty() {
                    return None;
                }
                let n = match attempt.parse::<u64>() {
                    Ok(n) if attempt.len() <= 9 => n,
                    _ => 0,
                };
                Some(Marker::Execution(key_ok(k)?, n))
            }
            "execution/feedbacks" => {
                if let Some(k) = stem.strip_prefix("APPROVED_") {
                    Some(Marker::Approved(key_ok(k)?))
                } else {
                    let k = stem.strip_prefix("FIX_")?;
                    match k.strip_suffix("_RESOLUTION") {
                        Some(k) => Some(Marker::FixResolution(key_ok(k)?)),
                        None => Some(Marker::Fix(key_ok(k)?)),
                    }
                }
            }
            _ => None,
        }
    }

    /// The achievement a context-manager `<NN>` names, or the `<NN>` itself
    /// when no achievement has it (an orphan).
    fn id_of(&self, key: &str) -> String {
        self.by_key
            .get(key)
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// Every marker file of this layout in plan folder `dir`, relative to
    /// it and sorted, with its modification time (absent folders are fine;
    /// sub-folders and other files are ignored).
    pub fn scan(&self, dir: &Path) -> io::Result<Scanned> {
        let mut out = Vec::new();
        for folder in self.layout.folders() {
            let d = dir.join(folder);
            let rd = match std::fs::read_dir(&d) {
                Ok(rd) => rd,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
            };
            for e in rd {
                let e = e?;
                let Ok(name) = e.file_name().into_string() else {
                    continue;
                };
                let Some(marker) = self.parse(folder, &name) else {
                    continue;
                };
                let meta = std::fs::metadata(e.path())?;
                if !meta.is_file() {
                    continue;
                }
                let mtime = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
                out.push((format!("{folder}/{name}"), marker, mtime));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The layout of the marker files in `dir`: the one that names more files
    /// of this plan's achievements; on a tie (a new plan has none),
    /// context-manager when one of its signs is there (an `execution/` folder,
    /// or the `PLAN_<PLAN>.md` document context-manager keeps beside
    /// `parallel.json`), else parci.
    /// Returns the layout with the marker files it read (so they are read once).
    pub fn detect(dir: &Path, plan: &Plan) -> std::io::Result<(Naming, Scanned)> {
        let ids: std::collections::HashSet<&str> =
            plan.achievements.iter().map(|a| a.id.as_str()).collect();
        let mut scans = Vec::with_capacity(Layout::ALL.len());
        for layout in Layout::ALL {
            let naming = Naming::new(layout, plan);
            let files = naming.scan(dir)?;
            let n = files
                .iter()
                .filter(|(_, m, _)| ids.contains(m.id()))
                .count();
            scans.push((n, naming, files));
        }
        // The first of the most: parci's on a tie.
        let best = (0..scans.len())
            .rev()
            .max_by_key(|&i| scans[i].0)
            .expect("two layouts");
        let cm_sign =
            dir.join("execution").is_dir() || dir.join(format!("PLAN_{}.md", plan.name)).is_file();
        let pick = if scans[best].0 == 0
            && cm_sign
            && !dir.join("executions").is_dir()
            && !dir.join("reviews").is_dir()
        {
            Layout::ALL
                .iter()
                .position(|&l| l == Layout::ContextManager)
                .expect("listed")
        } else {
            best
        };
        let (_, naming, files) = scans.swap_remove(pick);
        Ok((naming, files))
    }
}

/// context-manager's `<NN>`: the ID without its dots.
fn cm_key(id: &str) -> String {
    id.replace('.', "")
}

fn parse_parci(folder: &str, stem: &str) -> Option<Marker> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(ids: &[&str]) -> Plan {
        let items: Vec<String> = ids
            .iter()
            .map(|i| format!(r#"{{"achievement_id": "{i}", "dependencies": []}}"#))
            .collect();
        Plan::parse_text(&format!(
            r#"{{"plan_name": "P-X", "achievements": [{}]}}"#,
            items.join(",")
        ))
        .unwrap()
    }

    #[test]
    fn parci_names() {
        let n = Naming::new(Layout::Parci, &plan(&["1.2"]));
        assert_eq!(
            n.parse("subplans", "SUBPLAN_1.2.md"),
            Some(Marker::Subplan("1.2".into()))
        );
        assert_eq!(
            n.parse("executions", "EXECUTION_a_b_3.md"),
            Some(Marker::Execution("a_b".into(), 3))
        );
        assert_eq!(
            n.parse("reviews", "FIX_x.md"),
            Some(Marker::Fix("x".into()))
        );
        for (f, name) in [
            ("subplans", "README.md"),
            ("subplans", "SUBPLAN_.md"),
            ("executions", "EXECUTION_a.md"),
            ("executions", "EXECUTION_a_x.md"),
            ("reviews", "APPROVED_a b.md"),
            ("reviews", "NOTES.md"),
            ("other", "SUBPLAN_a.md"),
            ("subplans", "SUBPLAN_a.txt"),
        ] {
            assert_eq!(n.parse(f, name), None, "{f}/{name}");
        }
        assert_eq!(n.subplan_path("1.2"), "subplans/SUBPLAN_1.2.md");
        assert_eq!(n.execution_path("1.2", 3), "executions/EXECUTION_1.2_3.md");
        assert_eq!(n.review_path("FIX", "1.2"), "reviews/FIX_1.2.md");
    }

    #[test]
    fn context_manager_names_round_trip() {
        let n = Naming::new(Layout::ContextManager, &plan(&["1.1", "2.10"]));
        for id in ["1.1", "2.10"] {
            for (rel, want) in [
                (n.subplan_path(id), Marker::Subplan(id.into())),
                (n.execution_path(id, 1), Marker::Execution(id.into(), 1)),
                (n.review_path("APPROVED", id), Marker::Approved(id.into())),
                (n.review_path("FIX", id), Marker::Fix(id.into())),
                (n.review_path("SKIPPED", id), Marker::Skipped(id.into())),
            ] {
                let (folder, name) = rel.rsplit_once('/').unwrap();
                assert_eq!(n.parse(folder, name), Some(want), "{rel}");
            }
        }
        assert_eq!(
            n.execution_path("1.1", 2),
            "execution/EXECUTION_TASK_P-X_11_02.md"
        );
        assert_eq!(
            n.parse("execution/feedbacks", "FIX_210_RESOLUTION.md"),
            Some(Marker::FixResolution("2.10".into()))
        );
        // A file of another plan, or of no achievement (an orphan: its <NN>).
        assert_eq!(n.parse("subplans", "SUBPLAN_OTHER_11.md"), None);
        assert_eq!(
            n.parse("execution/feedbacks", "APPROVED_99.md"),
            Some(Marker::Approved("99".into()))
        );
        assert_eq!(n.parse("execution", "EXECUTION_TASK_P-X_11.md"), None);
        assert_eq!(
            n.parse("execution", "EXECUTION_TASK_P-X_11_retry.md"),
            Some(Marker::Execution("1.1".into(), 0))
        );
    }

    #[test]
    fn ids_that_lose_their_dots_to_the_same_name_collide() {
        let n = Naming::new(Layout::ContextManager, &plan(&["1.11", "2.1", "11.1"]));
        assert_eq!(n.collisions, [("1.11".to_string(), "11.1".to_string())]);
        assert!(Naming::new(Layout::Parci, &plan(&["1.11", "11.1"]))
            .collisions
            .is_empty());
    }

    #[test]
    fn detects_the_layout_from_the_files_present() {
        let p = plan(&["1.1", "1.2"]);
        let d = tempfile::tempdir().unwrap();
        let layout = |d: &Path| Naming::detect(d, &p).unwrap().0.layout;
        assert_eq!(layout(d.path()), Layout::Parci);
        std::fs::write(d.path().join("PLAN_P-X.md"), "# PLAN").unwrap();
        assert_eq!(layout(d.path()), Layout::ContextManager);
        std::fs::remove_file(d.path().join("PLAN_P-X.md")).unwrap();
        std::fs::create_dir_all(d.path().join("execution")).unwrap();
        assert_eq!(layout(d.path()), Layout::ContextManager);
        std::fs::create_dir_all(d.path().join("subplans")).unwrap();
        std::fs::write(d.path().join("subplans/SUBPLAN_1.1.md"), "").unwrap();
        assert_eq!(layout(d.path()), Layout::Parci);
        std::fs::write(d.path().join("subplans/SUBPLAN_P-X_11.md"), "").unwrap();
        std::fs::write(d.path().join("subplans/SUBPLAN_P-X_12.md"), "").unwrap();
        assert_eq!(layout(d.path()), Layout::ContextManager);
    }
}
