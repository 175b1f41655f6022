//! Plans: the `parallel.json` model, DAG algorithms, status derived from the
//! file system, validation and scaffolding (docs/plans.md).
//!
//! - [`model`]: parsing `parallel.json` (strict JSON, the embedded JSON Schema,
//!   then a typed [`model::Plan`]); `estimated_hours` as a number or a range.
//! - [`dag`]: the dependency graph in compressed rows and every algorithm on it,
//!   linear in nodes + edges and iterative (a 1 000 000-deep chain is fine).
//! - [`layout`]: where marker files live and what they are called (parci's or
//!   context-manager's names), detected from the files present.
//! - [`fsstate`]: marker files and the run-parallel state file → [`State`].
//! - [`validate`]: every rule validate-parallel checks, as findings.
//! - [`status`]: the status report (levels, next batch, blocked, critical path,
//!   parallelization potential, batch statistics).
//! - [`run`]: run-parallel's executor (scheduling, processes, state, resume).
//! - [`scaffold`]: batch-create's selection, templates and transactional writes.
//! - [`worktree`]: `run-parallel --worktrees`' commit queue (a git worktree per
//!   task, each success cherry-picked onto the user's branch).
//!
//! The three programs share all of this; they only parse arguments and print.

pub mod affected;
pub mod cache;
pub mod dag;
pub mod emit_gha;
pub mod finding;
pub mod fsstate;
pub mod gates;
pub mod layout;
pub mod model;
pub mod run;
pub mod scaffold;
mod schema_findings;
pub mod status;
pub mod validate;
pub mod worktree;

pub use dag::Dag;
pub use fsstate::{Markers, RunState, State};
pub use model::{Achievement, Hours, Plan, PlanDoc};

use std::path::{Path, PathBuf};

/// The plan file's name inside a plan folder.
pub const PLAN_FILE: &str = "parallel.json";

/// Where a plan lives: the file and the folder its documents are in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The `parallel.json` file.
    pub file: PathBuf,
    /// The folder beside it (`subplans/`, `executions/`, `reviews/` live here).
    pub dir: PathBuf,
}

/// Resolves `PLAN_DIR|FILE` (default `.`): a directory means its
/// `parallel.json`; a file is taken as the plan and its folder as the plan folder.
pub fn locate(arg: Option<&Path>) -> Result<Location, String> {
    let p = arg.unwrap_or(Path::new("."));
    let meta = std::fs::metadata(p).map_err(|e| {
        format!(
            "{}: {e}; pass a plan folder or its {PLAN_FILE}",
            p.display()
        )
    })?;
    if meta.is_dir() {
        let file = p.join(PLAN_FILE);
        if !file.is_file() {
            return Err(format!(
                "{}: no {PLAN_FILE} in this folder; pass the plan folder or the plan file",
                p.display()
            ));
        }
        Ok(Location {
            file,
            dir: p.to_path_buf(),
        })
    } else {
        let dir = match p.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(Location {
            file: p.to_path_buf(),
            dir,
        })
    }
}

/// The path of `rel` inside the plan folder, as shown in messages and receipts
/// (`plan/subplans/SUBPLAN_A.md`, or `subplans/SUBPLAN_A.md` for `.`).
pub fn shown(dir: &Path, rel: &str) -> String {
    if dir == Path::new(".") {
        rel.to_string()
    } else {
        dir.join(rel).to_string_lossy().into_owned()
    }
}

/// `dir` relative to the git work tree `work` (both canonicalized), or an
/// error naming both when `dir` is outside it.
pub(crate) fn work_tree_prefix(work: &Path, dir: &Path) -> Result<PathBuf, String> {
    let work = std::fs::canonicalize(work).map_err(|e| format!("{}: {e}", work.display()))?;
    let abs = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    abs.strip_prefix(&work).map(Path::to_path_buf).map_err(|_| {
        format!(
            "{}: outside the work tree {}",
            dir.display(),
            work.display()
        )
    })
}
