//! The source fingerprint: which commit of which work tree produced a receipt.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// Full hex id of HEAD's commit; `None` on an unborn branch.
    pub commit: Option<String>,
    /// Branch name; `None` on a detached HEAD.
    pub branch: Option<String>,
    /// Tracked files differ from HEAD (index or work tree), as `git describe --dirty`.
    pub dirty: bool,
}

impl Source {
    /// Fingerprint of the git work tree containing `dir`; `None` outside one
    /// (or in a bare repository).
    pub fn detect(dir: &Path) -> Option<Source> {
        let repo = git2::Repository::discover(dir).ok()?;
        if repo.is_bare() {
            return None;
        }
        let (commit, branch) = match repo.head() {
            Ok(head) => {
                let commit = head.peel_to_commit().ok().map(|c| c.id().to_string());
                let branch = head
                    .is_branch()
                    .then(|| head.shorthand().ok().map(str::to_string))
                    .flatten();
                (commit, branch)
            }
            // Unborn branch: HEAD names a branch that has no commit yet.
            Err(_) => {
                let branch = repo
                    .find_reference("HEAD")
                    .ok()
                    .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_string))
                    .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_string));
                (None, branch)
            }
        };
        let mut opts = git2::StatusOptions::new();
        opts.include_untracked(false)
            .include_ignored(false)
            .exclude_submodules(true);
        let dirty = repo
            .statuses(Some(&mut opts))
            .map(|s| s.iter().any(|e| e.status() != git2::Status::CURRENT))
            .unwrap_or(false);
        Some(Source {
            commit,
            branch,
            dirty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Source;
    use std::process::Command;

    fn git(dir: &std::path::Path, args: &[&str]) {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=t",
                "-c",
                "user.email=t@t",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn outside_a_work_tree_is_none() {
        let d = tempfile::tempdir().unwrap();
        // A tempdir may itself sit inside a repository on odd setups; only assert
        // when git agrees it is outside one.
        let inside = Command::new("git")
            .args(["rev-parse", "--is-inside-work-tree"])
            .current_dir(d.path())
            .output()
            .unwrap()
            .status
            .success();
        assert_eq!(Source::detect(d.path()).is_some(), inside);
    }

    #[test]
    fn unborn_then_committed_then_dirty() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q", "-b", "trunk"]);
        let s = Source::detect(d.path()).unwrap();
        assert_eq!(s.commit, None);
        assert_eq!(s.branch.as_deref(), Some("trunk"));
        assert!(!s.dirty);

        std::fs::write(d.path().join("a"), "1").unwrap();
        git(d.path(), &["add", "a"]);
        git(d.path(), &["commit", "-q", "-m", "a"]);
        let s = Source::detect(d.path()).unwrap();
        assert_eq!(s.commit.as_ref().map(|c| c.len()), Some(40));
        assert!(!s.dirty);

        std::fs::write(d.path().join("untracked"), "x").unwrap();
        assert!(
            !Source::detect(d.path()).unwrap().dirty,
            "untracked is not dirty"
        );
        std::fs::write(d.path().join("a"), "2").unwrap();
        assert!(Source::detect(d.path()).unwrap().dirty);

        git(d.path(), &["checkout", "-q", "--detach"]);
        assert_eq!(Source::detect(d.path()).unwrap().branch, None);
    }
}
