//! batch-create's work: choose achievements, fill templates, and write the
//! documents transactionally (temporary names, then no-clobber links into
//! place; on any failure everything this run created is removed). `--commit`
//! makes one git commit holding exactly the created files.

use super::fsstate::{Markers, State};
use super::layout::Naming;
use super::model::{is_valid_id, Plan};
use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// Which documents to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Subplans,
    Executions,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Subplans => "subplans",
            Mode::Executions => "executions",
        }
    }
    /// The template file name in `--template-dir`.
    pub fn template_name(self) -> &'static str {
        match self {
            Mode::Subplans => "SUBPLAN.md",
            Mode::Executions => "EXECUTION.md",
        }
    }
    fn builtin(self) -> &'static str {
        match self {
            Mode::Subplans => BUILTIN_SUBPLAN,
            Mode::Executions => BUILTIN_EXECUTION,
        }
    }
}

/// Which achievements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Every achievement on this dependency level that is not complete or skipped.
    Level(u32),
    /// The next runnable batch (as `status` shows it).
    Next,
    /// These IDs, in this order.
    Ids(Vec<String>),
}

pub const BUILTIN_SUBPLAN: &str = "\
# SUBPLAN {{id}}: {{title}}

- Plan: {{plan_name}}
- Achievement: {{id}}
- Depends on: {{dependencies}}
- Estimate: {{estimate}}

## Objective

What this achievement delivers, in one paragraph.

## Approach

## Deliverables

## Tests

## Risks
";

pub const BUILTIN_EXECUTION: &str = "\
# EXECUTION {{id}} #{{index}}: {{title}}

- Plan: {{plan_name}}
- SUBPLAN: {{subplan_link}}
- Depends on: {{dependencies}}
- Estimate: {{estimate}}

## Steps

## Log

## Results

## Follow-ups
";

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 7] = [
    "plan_name",
    "id",
    "title",
    "dependencies",
    "estimate",
    "index",
    "subplan_link",
];

/// A template: its text and where it came from (`None` = built in).
#[derive(Clone, Debug)]
pub struct Template {
    pub text: String,
    pub path: Option<PathBuf>,
}

impl Template {
    /// The built-in template, or `DIR/SUBPLAN.md` / `DIR/EXECUTION.md`.
    /// Unknown placeholders are an error naming the file and line.
    pub fn load(mode: Mode, dir: Option<&Path>) -> Result<Template, String> {
        let t = match dir {
            None => Template {
                text: mode.builtin().to_string(),
                path: None,
            },
            Some(d) => {
                let p = d.join(mode.template_name());
                let text = fs::read_to_string(&p).map_err(|e| {
                    format!(
                        "{}: {e}; --template-dir needs {} for --{}",
                        p.display(),
                        mode.template_name(),
                        mode.as_str()
                    )
                })?;
                Template {
                    text,
                    path: Some(p),
                }
            }
        };
        let mut bad = None;
        scan(&t.text, |name, line| {
            if bad.is_none() && !PLACEHOLDERS.contains(&name) {
                bad = Some((name.to_string(), line));
            }
        });
        if let Some((name, line)) = bad {
            return Err(format!(
                "{}:{line}: unknown placeholder {{{{{name}}}}}; use one of {}",
                t.path
                    .as_deref()
                    .map_or("built-in template".into(), |p| p.display().to_string()),
                PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")
            ));
        }
        Ok(t)
    }

    /// The text with every `{{name}}` replaced by `value(name)`; values are not rescanned.
    pub fn fill(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut rest = self.text.as_str();
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            let name = rest[start + 2..start + 2 + len].trim();
            if !is_name(name) {
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
                continue;
            }
            out.push_str(&rest[..start]);
            out.push_str(&value(name));
            rest = &rest[start + 2 + len + 2..];
        }
        out.push_str(rest);
        out
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// Calls `f(name, line)` for each `{{name}}` in `text`.
fn scan(text: &str, mut f: impl FnMut(&str, usize)) {
    for (i, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(s) = rest.find("{{") {
            let Some(len) = rest[s + 2..].find("}}") else {
                break;
            };
            let name = rest[s + 2..s + 2 + len].trim();
            if is_name(name) {
                f(name, i + 1);
            }
            rest = &rest[s + 2 + len + 2..];
        }
    }
}

/// One document batch-create would write, or leave alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub id: String,
    /// Relative to the plan folder, e.g. `subplans/SUBPLAN_1.2.md`.
    pub rel: String,
    pub action: Action,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Create(Vec<u8>),
    /// Not written; why (the file exists, …).
    Skip(String),
}

/// The achievements a selection names (plan indices, in the order to create).
/// `next` is the next runnable batch in start order, `level_of` each
/// achievement's level. `Err` names the problem and the fix.
pub fn select(
    plan: &Plan,
    level_of: &[u32],
    states: &[State],
    next: &[String],
    sel: &Selection,
) -> Result<Vec<u32>, String> {
    let index = super::dag::id_index(plan);
    match sel {
        Selection::Next => Ok(next.iter().map(|id| index[id.as_str()]).collect()),
        Selection::Level(l) => {
            match level_of.iter().copied().max() {
                None => {
                    return Err(format!(
                        "--level {l}: the plan has no achievements, so no levels; \
                         add achievements to parallel.json first"
                    ))
                }
                Some(0) if *l > 0 => {
                    return Err(format!("--level {l}: the plan has only level 0; pick 0"))
                }
                Some(t) if *l > t => {
                    return Err(format!(
                        "--level {l}: the plan has levels 0 to {t}; pick one of those"
                    ))
                }
                Some(_) => {}
            }
            Ok((0..plan.achievements.len() as u32)
                .filter(|&i| level_of[i as usize] == *l && !states[i as usize].is_done())
                .collect())
        }
        Selection::Ids(ids) => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for id in ids {
                if !is_valid_id(id) {
                    return Err(format!(
                        "--ids: {id:?} is not an achievement ID (letters, digits, '.', '_', '-'; \
                         no paths); pass IDs from the plan"
                    ));
                }
                let Some(&i) = index.get(id.as_str()) else {
                    return Err(format!(
                        "--ids: {id:?} is not in plan {:?}; run status to list its IDs",
                        plan.name
                    ));
                };
                if seen.insert(i) {
                    out.push(i);
                }
            }
            Ok(out)
        }
    }
}

/// A relative path that stays inside the plan folder: no root, no `..`.
pub fn is_contained(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.contains('\\')
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// Refuses a marker folder that is a symlink leading outside the plan folder.
pub fn check_folder(dir: &Path, folder: &str) -> Result<(), String> {
    let f = dir.join(folder);
    let Ok(meta) = fs::symlink_metadata(&f) else {
        return Ok(()); // created by this run, as a real directory
    };
    let root = fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let real = fs::canonicalize(&f).map_err(|e| {
        format!(
            "{}: {e}; it is a dangling symlink: remove it or point it inside the plan folder",
            f.display()
        )
    })?;
    if !real.starts_with(&root) {
        return Err(format!(
            "{}: leads outside the plan folder (to {}); refusing to write there: replace the symlink with a directory",
            f.display(),
            real.display()
        ));
    }
    if !meta.file_type().is_symlink() && !meta.is_dir() {
        return Err(format!(
            "{}: is a file, not a directory; move it away",
            f.display()
        ));
    }
    Ok(())
}

/// The documents for `chosen` achievements: to create, or skipped because a
/// file is there already. For executions, `Err` lists the achievements whose
/// SUBPLAN is missing (nothing is created then).
pub fn plan_documents(
    plan: &Plan,
    dir: &Path,
    chosen: &[u32],
    mode: Mode,
    template: &Template,
    markers: &Markers,
    naming: &Naming,
) -> Result<Vec<Planned>, Refusal> {
    let folder = naming.folder(mode == Mode::Executions);
    check_folder(dir, folder).map_err(Refusal::Unsafe)?;
    if mode == Mode::Executions {
        let missing: Vec<String> = chosen
            .iter()
            .map(|&i| &plan.achievements[i as usize].id)
            .filter(|id| !markers.get(id).is_some_and(|m| m.subplan))
            .cloned()
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::NoSubplan(missing));
        }
    }
    let index = super::dag::id_index(plan);
    let mut out = Vec::with_capacity(chosen.len());
    for &i in chosen {
        let a = &plan.achievements[i as usize];
        let rel = match mode {
            Mode::Subplans => naming.subplan_path(&a.id),
            Mode::Executions => naming.execution_path(&a.id, 1),
        };
        if !is_valid_id(&a.id) || !is_contained(&rel) {
            return Err(Refusal::Unsafe(format!(
                "achievement {:?}: its ID would put a file outside {} ({rel}); IDs are letters, digits, '.', '_', '-'",
                a.id,
                dir.display()
            )));
        }
        let target = dir.join(&rel);
        let existing = match mode {
            Mode::Executions => markers
                .get(&a.id)
                .and_then(|m| m.executions.first())
                .map(|&n| naming.execution_path(&a.id, n)),
            Mode::Subplans => None,
        };
        let action = if fs::symlink_metadata(&target).is_ok() {
            Action::Skip("exists".into())
        } else if let Some(e) = existing {
            Action::Skip(format!("{e} exists"))
        } else {
            let deps: Vec<&str> = a
                .dependencies
                .iter()
                .map(String::as_str)
                .filter(|d| index.contains_key(d))
                .collect();
            let text = template.fill(|name| match name {
                "plan_name" => plan.name.clone(),
                "id" => a.id.clone(),
                "title" => a.label().to_string(),
                "dependencies" if deps.is_empty() => "none".into(),
                "dependencies" => deps.join(", "),
                "estimate" => a
                    .hours
                    .map_or("not estimated".into(), |h| format!("{} h", h.text())),
                "index" => "1".into(),
                "subplan_link" => {
                    // Both layouts keep SUBPLAN and EXECUTION folders side by side.
                    let sub = naming.subplan_path(&a.id);
                    let name = sub.rsplit('/').next().unwrap_or(&sub);
                    format!("[{name}](../{sub})")
                }
                _ => String::new(),
            });
            Action::Create(text.into_bytes())
        };
        out.push(Planned {
            id: a.id.clone(),
            rel,
            action,
        });
    }
    Ok(out)
}

/// Why batch-create will not go ahead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `--executions` for achievements that have no SUBPLAN.
    NoSubplan(Vec<String>),
    /// A path would leave the plan folder.
    Unsafe(String),
}

/// A step of [`apply_with`], for failure injection in tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Writing the temporary file of document `n`.
    Write(usize),
    /// Moving document `n` into place.
    Publish(usize),
}

/// A failed transaction: what failed, and that everything was rolled back.
#[derive(Debug)]
pub struct ApplyError {
    pub path: PathBuf,
    pub error: io::Error,
    /// Files and folders this run had created and removed again.
    pub rolled_back: usize,
    /// Anything the rollback could not remove (should be empty).
    pub left_behind: Vec<PathBuf>,
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(
            f,
            "{}: {}; rolled back: removed the {} this run had created",
            self.path.display(),
            self.error,
            crate::text::count(self.rolled_back as u64, "path")
        )?;
        if !self.left_behind.is_empty() {
            write!(
                f,
                "; could not remove {}",
                self.left_behind
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        Ok(())
    }
}

/// The temporary name of a document while the transaction runs.
pub fn temp_path(target: &Path) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.parci-tmp"))
}

/// What a finished transaction created.
#[derive(Debug)]
pub struct Applied {
    pub files: Vec<PathBuf>,
    /// Folders it had to create.
    pub dirs: Vec<PathBuf>,
}

impl Applied {
    /// Removes everything the transaction created (when a later step, such as
    /// the commit, fails); returns what could not be removed.
    pub fn undo(&self) -> Vec<PathBuf> {
        let mut left = Vec::new();
        for f in &self.files {
            if fs::remove_file(f).is_err() {
                left.push(f.clone());
            }
        }
        for d in self.dirs.iter().rev() {
            if fs::remove_dir(d).is_err() {
                left.push(d.clone());
            }
        }
        left
    }
}

/// Writes `files` (relative path, bytes) under `dir` as one transaction.
pub fn apply(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<Applied, ApplyError> {
    apply_with(dir, files, &mut |_| Ok(()))
}

/// [`apply`], calling `hook` before each step; an error from it is treated
/// like an I/O failure at that step.
pub fn apply_with(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    hook: &mut dyn FnMut(Step) -> io::Result<()>,
) -> Result<Applied, ApplyError> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut temps: Vec<PathBuf> = Vec::new();
    let mut placed: Vec<PathBuf> = Vec::new();
    let result = (|| -> Result<(), (PathBuf, io::Error)> {
        for (n, (rel, bytes)) in files.iter().enumerate() {
            let target = dir.join(rel);
            let parent = target.parent().expect("a file in a folder").to_path_buf();
            if fs::symlink_metadata(&parent).is_err() {
                fs::create_dir(&parent).map_err(|e| (parent.clone(), e))?;
                dirs.push(parent.clone());
            }
            let tmp = temp_path(&target);
            hook(Step::Write(n)).map_err(|e| (tmp.clone(), e))?;
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| {
                    let hint = if e.kind() == io::ErrorKind::AlreadyExists {
                        io::Error::new(
                            e.kind(),
                            "a temporary file of an earlier, interrupted run is in the way; delete it",
                        )
                    } else {
                        e
                    };
                    (tmp.clone(), hint)
                })?;
            temps.push(tmp.clone());
            f.write_all(bytes)
                .and_then(|_| f.sync_all())
                .map_err(|e| (tmp.clone(), e))?;
        }
        for (n, (rel, _)) in files.iter().enumerate() {
            let target = dir.join(rel);
            hook(Step::Publish(n)).map_err(|e| (target.clone(), e))?;
            publish(&temp_path(&target), &target, &mut placed).map_err(|e| (target.clone(), e))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            for t in &temps {
                let _ = fs::remove_file(t);
            }
            let mut synced = HashSet::new();
            for p in &placed {
                if let Some(parent) = p.parent() {
                    if synced.insert(parent.to_path_buf()) {
                        let _ = File::open(parent).and_then(|d| d.sync_all());
                    }
                }
            }
            Ok(Applied {
                files: placed,
                dirs,
            })
        }
        Err((path, error)) => {
            let mut left_behind = Vec::new();
            let mut n = 0;
            for p in placed.iter().chain(&temps) {
                match fs::remove_file(p) {
                    Ok(()) => n += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(_) => left_behind.push(p.clone()),
                }
            }
            for d in dirs.iter().rev() {
                match fs::remove_dir(d) {
                    Ok(()) => n += 1,
                    Err(_) => left_behind.push(d.clone()),
                }
            }
            Err(ApplyError {
                path,
                error,
                rolled_back: n,
                left_behind,
            })
        }
    }
}

/// Moves `tmp` to `target` without ever replacing an existing `target`: a
/// hard link fails if the target exists; where links are unsupported, an
/// existence check and a rename.
/// The target is recorded in `placed` as soon as it exists.
fn publish(tmp: &Path, target: &Path, placed: &mut Vec<PathBuf>) -> io::Result<()> {
    match fs::hard_link(tmp, target) {
        Ok(()) => {
            placed.push(target.to_path_buf());
            fs::remove_file(tmp)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(io::Error::new(
            e.kind(),
            "appeared while batch-create ran; it was not overwritten",
        )),
        Err(_) => {
            if fs::symlink_metadata(target).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "appeared while batch-create ran; it was not overwritten",
                ));
            }
            fs::rename(tmp, target)?;
            placed.push(target.to_path_buf());
            Ok(())
        }
    }
}

/// What `--commit` needs, checked before anything is written.
pub struct GitTarget {
    repo: git2::Repository,
    /// The plan folder relative to the work tree.
    prefix: PathBuf,
    sig: git2::Signature<'static>,
}

/// Finds the repository holding `dir`, the committer, and refuses when any
/// `targets` (relative to `dir`) has uncommitted changes. `time`: commit time
/// in seconds since the epoch (`SOURCE_DATE_EPOCH`), else now.
pub fn git_prepare(dir: &Path, targets: &[String], time: Option<i64>) -> Result<GitTarget, String> {
    let repo = git2::Repository::discover(dir).map_err(|e| {
        format!(
            "{}: not in a git work tree ({}); drop --commit or run inside a repository",
            dir.display(),
            e.message()
        )
    })?;
    let work = repo
        .workdir()
        .ok_or("--commit: the repository is bare; run in a work tree")?;
    let prefix = super::work_tree_prefix(work, dir)?;
    let sig = repo.signature().map_err(|e| {
        format!(
            "--commit: no committer identity ({}); set git config user.name and user.email",
            e.message()
        )
    })?;
    let sig = match time {
        Some(t) => git2::Signature::new(
            sig.name().unwrap_or("parci"),
            sig.email().unwrap_or(""),
            &git2::Time::new(t, 0),
        )
        .map_err(|e| e.message().to_string())?,
        None => sig.to_owned(),
    };
    for rel in targets {
        let p = prefix.join(rel);
        match repo.status_file(&p) {
            Ok(s) if s.is_empty() || s == git2::Status::IGNORED || s == git2::Status::WT_NEW => {}
            Ok(s) => {
                return Err(format!(
                "{}: has uncommitted changes ({s:?}); commit or restore it first, or drop --commit",
                p.display()
            ))
            }
            Err(e) if e.code() == git2::ErrorCode::NotFound => {}
            Err(e) => return Err(format!("{}: {}", p.display(), e.message())),
        }
    }
    Ok(GitTarget { repo, prefix, sig })
}

impl GitTarget {
    /// Commits exactly `created` (relative to the plan folder) on top of HEAD,
    /// whatever else the index holds, and stages them in the index. Returns the commit id.
    pub fn commit(&self, created: &[String], message: &str) -> Result<String, git2::Error> {
        let repo = &self.repo;
        let mut index = git2::Index::new()?;
        let parent = match repo.head() {
            Ok(h) => {
                let c = h.peel_to_commit()?;
                index.read_tree(&c.tree()?)?;
                Some(c)
            }
            Err(_) => None,
        };
        let work = repo.workdir().expect("checked in git_prepare");
        let mut paths = Vec::with_capacity(created.len());
        for rel in created {
            let p = self.prefix.join(rel);
            let bytes =
                fs::read(work.join(&p)).map_err(|e| git2::Error::from_str(&e.to_string()))?;
            let path = p.to_string_lossy().replace('\\', "/");
            let entry = git2::IndexEntry {
                ctime: git2::IndexTime::new(0, 0),
                mtime: git2::IndexTime::new(0, 0),
                dev: 0,
                ino: 0,
                mode: 0o100644,
                uid: 0,
                gid: 0,
                file_size: bytes.len() as u32,
                id: repo.blob(&bytes)?,
                flags: path.len().min(0xfff) as u16,
                flags_extended: 0,
                path: path.clone().into_bytes(),
            };
            index.add(&entry)?;
            paths.push(p);
        }
        let tree = repo.find_tree(index.write_tree_to(repo)?)?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let id = repo.commit(Some("HEAD"), &self.sig, &self.sig, message, &tree, &parents)?;
        let mut real = repo.index()?;
        for p in &paths {
            real.add_path(p)?;
        }
        real.write()?;
        Ok(id.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_refuse_unknown_placeholders() {
        let t = Template::load(Mode::Subplans, None).unwrap();
        let s = t.fill(|n| format!("<{n}>"));
        assert!(s.starts_with("# SUBPLAN <id>: <title>\n"), "{s}");
        assert!(!s.contains("{{"));
        let d = tempfile::tempdir().unwrap();
        fs::write(d.path().join("SUBPLAN.md"), "# {{id}}\n\n{{ owner }}\n").unwrap();
        let e = Template::load(Mode::Subplans, Some(d.path())).unwrap_err();
        assert!(e.ends_with("SUBPLAN.md:3: unknown placeholder {{owner}}; use one of {{plan_name}}, {{id}}, {{title}}, {{dependencies}}, {{estimate}}, {{index}}, {{subplan_link}}"), "{e}");
        let e = Template::load(Mode::Executions, Some(d.path())).unwrap_err();
        assert!(e.contains("--template-dir needs EXECUTION.md"), "{e}");
        // Values are not rescanned.
        let t = Template {
            text: "{{title}} {{id}}".into(),
            path: None,
        };
        assert_eq!(
            t.fill(|n| if n == "title" {
                "{{id}}".into()
            } else {
                "X".into()
            }),
            "{{id}} X"
        );
    }

    #[test]
    fn containment() {
        assert!(is_contained("subplans/SUBPLAN_a.md"));
        for bad in ["../x.md", "/etc/x", "subplans/../../x", "a\\..\\b"] {
            assert!(!is_contained(bad), "{bad}");
        }
    }

    #[test]
    fn ids_that_would_escape_are_refused() {
        let mut p = Plan::parse_text(
            r#"{"plan_name": "P", "achievements": [{"achievement_id": "a", "dependencies": []}]}"#,
        )
        .unwrap();
        let d = tempfile::tempdir().unwrap();
        let t = Template::load(Mode::Subplans, None).unwrap();
        for bad in ["../../etc/x", "/abs", "a/b", ".."] {
            p.achievements[0].id = bad.into();
            let r = plan_documents(
                &p,
                d.path(),
                &[0],
                Mode::Subplans,
                &t,
                &Markers::default(),
                &Naming::new(crate::plan::layout::Layout::Parci, &p),
            );
            assert!(matches!(r, Err(Refusal::Unsafe(_))), "{bad}: {r:?}");
        }
        assert!(fs::read_dir(d.path()).unwrap().next().is_none());
    }

    #[test]
    fn failure_at_any_step_leaves_nothing_behind() {
        let files: Vec<(String, Vec<u8>)> = (0..4)
            .map(|i| (format!("subplans/SUBPLAN_{i}.md"), vec![b'x'; i + 1]))
            .collect();
        for fail in (0..4).map(Step::Write).chain((0..4).map(Step::Publish)) {
            let d = tempfile::tempdir().unwrap();
            fs::write(d.path().join("parallel.json"), "{}").unwrap();
            let e = apply_with(d.path(), &files, &mut |s| {
                if s == fail {
                    Err(io::Error::other("injected"))
                } else {
                    Ok(())
                }
            })
            .unwrap_err();
            assert!(e.left_behind.is_empty(), "{fail:?}: {e}");
            let names: Vec<_> = fs::read_dir(d.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(names, ["parallel.json"], "{fail:?}: {e}");
        }
        let d = tempfile::tempdir().unwrap();
        let placed = apply(d.path(), &files).unwrap();
        assert_eq!(placed.files.len(), 4);
        assert_eq!(placed.dirs, [d.path().join("subplans")]);
        assert_eq!(
            fs::read(d.path().join("subplans/SUBPLAN_3.md")).unwrap(),
            b"xxxx"
        );
        let left: Vec<_> = fs::read_dir(d.path().join("subplans")).unwrap().collect();
        assert_eq!(left.len(), 4, "temporary files left");
        assert!(placed.undo().is_empty());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_existing_target_is_never_replaced() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("subplans")).unwrap();
        let files = vec![
            ("subplans/SUBPLAN_a.md".to_string(), b"new".to_vec()),
            ("subplans/SUBPLAN_b.md".to_string(), b"new".to_vec()),
        ];
        // b appears between the write and the publish steps.
        let e = apply_with(d.path(), &files, &mut |s| {
            if s == Step::Publish(1) {
                fs::write(d.path().join("subplans/SUBPLAN_b.md"), b"theirs")?;
            }
            Ok(())
        })
        .unwrap_err();
        assert_eq!(e.error.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read(d.path().join("subplans/SUBPLAN_b.md")).unwrap(),
            b"theirs"
        );
        assert!(!d.path().join("subplans/SUBPLAN_a.md").exists());
        assert_eq!(fs::read_dir(d.path().join("subplans")).unwrap().count(), 1);
    }
}
