//! `run-parallel --affected BASE`: the tasks whose `inputs` match a file
//! that differs between BASE and the working tree (committed, staged or
//! not, and untracked files), plus everything that depends on them. A task
//! without `inputs` counts as affected (nothing says what it reads).

use crate::plan::{Dag, Plan};
use std::path::Path;

/// Per task (plan order): affected by the changes since `base`.
pub fn affected(plan: &Plan, dag: &Dag, plan_dir: &Path, base: &str) -> Result<Vec<bool>, String> {
    let changed = changed_files(plan_dir, base)?;
    let mut out: Vec<bool> = plan
        .achievements
        .iter()
        .map(|a| {
            a.command.is_some()
                && (a.inputs.is_empty()
                    || a.inputs
                        .iter()
                        .any(|g| changed.iter().any(|f| matches(g, f))))
        })
        .collect();
    // dependents of an affected task are affected (topological order)
    for i in dag.topo_order().unwrap_or_default() {
        if dag.deps(i).iter().any(|&d| out[d as usize]) {
            out[i as usize] = true;
        }
    }
    Ok(out)
}

/// Whether input glob `g` covers file `f` (both relative to the plan
/// folder): the glob matches the file or one of its parent folders.
fn matches(g: &str, f: &str) -> bool {
    let Ok(p) = glob::Pattern::new(g) else {
        return false;
    };
    let mut path = Path::new(f);
    loop {
        if p.matches_path(path) {
            return true;
        }
        match path.parent() {
            Some(q) if !q.as_os_str().is_empty() => path = q,
            _ => return false,
        }
    }
}

/// Files that differ between `base` and the working tree, relative to
/// `plan_dir` (files outside it are left out).
pub fn changed_files(plan_dir: &Path, base: &str) -> Result<Vec<String>, String> {
    let repo = git2::Repository::discover(plan_dir).map_err(|e| {
        format!(
            "--affected: {} is not in a git repository ({})",
            plan_dir.display(),
            e.message()
        )
    })?;
    let tree = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_tree())
        .map_err(|e| format!("--affected {base}: not a commit of this repository ({}); pass a branch, tag or commit", e.message()))?;
    let mut opts = git2::DiffOptions::new();
    opts.include_untracked(true).recurse_untracked_dirs(true);
    let diff = repo
        .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut opts))
        .map_err(|e| format!("--affected {base}: {}", e.message()))?;
    let root = repo
        .workdir()
        .ok_or("--affected: a bare repository has no working tree")?;
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let dir = plan_dir
        .canonicalize()
        .unwrap_or_else(|_| plan_dir.to_path_buf());
    let mut out = Vec::new();
    for d in diff.deltas() {
        for f in [d.old_file().path(), d.new_file().path()]
            .into_iter()
            .flatten()
        {
            if let Ok(rel) = root.join(f).strip_prefix(&dir) {
                let s: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(s.join("/"));
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_cover_files_and_folders() {
        assert!(matches("src/*.rs", "src/a.rs"));
        assert!(!matches("src/*.rs", "src/a.c"));
        assert!(matches("src", "src/deep/a.c"));
        assert!(matches("**/*.md", "docs/x/readme.md"));
        assert!(!matches("docs", "src/docs.rs"));
    }
}
