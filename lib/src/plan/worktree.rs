//! The commit queue behind `run-parallel --worktrees` (docs/run-parallel.md,
//! "Commit queue").
//!
//! Every task runs in a fresh git worktree of its own, on a branch
//! `parci/<run>/<id>` started from the commit the run started at. When a task
//! succeeds, [`CommitQueue::complete`] commits what it changed there and
//! cherry-picks that commit onto the user's current branch, updating the
//! user's index and working tree with a safe checkout. A change that does not
//! apply cleanly is reported as [`Applied::Conflict`] and leaves the branch,
//! the index and the working tree untouched; the caller may run the task once
//! more in a worktree prepared at the branch's new HEAD.
//!
//! Worktrees live in `<git common dir>/parci-worktrees/<run>/<id>`: outside the
//! user's tree (so neither `git status` nor a build tool walking the tree sees
//! them), on the same file system as the repository (cheap checkouts), and
//! gone with the repository if it is deleted.
//!
//! Nothing here forces a checkout or resets anything: the user's uncommitted
//! work can only make an apply fail, never be overwritten.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use git2::{
    BranchType, CheckoutNotificationType, IndexAddOption, Oid, Repository, Signature, Status,
    StatusOptions, WorktreeAddOptions, WorktreePruneOptions,
};
use sha2::{Digest, Sha256};

/// What [`CommitQueue::complete`] did with a task's work.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// A new commit (its id) is on the user's branch.
    Commit(String),
    /// The task changed nothing (or nothing the branch does not already have).
    NoChanges,
    /// The change does not apply on the branch's current HEAD; nothing was
    /// touched. The text names the paths.
    Conflict(String),
}

/// One task's worktree.
struct Task {
    /// The worktree's name (its admin directory under `<common>/worktrees`).
    name: String,
    /// The worktree's root.
    path: PathBuf,
    /// Short branch name, `parci/<run>/<id>`.
    branch: String,
    /// The commit the worktree started from.
    base: Oid,
    /// Cleanup leaves the branch ([`CommitQueue::keep_branch`]).
    keep: bool,
}

/// The commit queue of one run. See the module documentation.
pub struct CommitQueue {
    repo: Repository,
    /// The run id, made safe for ref and file names.
    run: String,
    /// The user's branch, e.g. `refs/heads/main`.
    branch_ref: String,
    /// HEAD when the queue was opened.
    start: Oid,
    /// The directory given to [`CommitQueue::open`], relative to the work tree.
    prefix: PathBuf,
    /// `<common dir>/parci-worktrees`.
    root: PathBuf,
    tasks: BTreeMap<String, Task>,
}

fn gerr(what: &str, e: git2::Error) -> String {
    format!("{what}: {}", e.message())
}

/// A string usable as a worktree name, a path component and a ref name
/// component. Returned as is when it already is one; otherwise the unsafe
/// characters become `_` and a short hash of the original keeps distinct
/// inputs distinct.
fn sanitize(s: &str) -> String {
    let clean: String = s
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let ok = clean == s
        && !s.is_empty()
        && !s.starts_with(['.', '-'])
        && !s.ends_with('.')
        && !s.contains("..")
        && !s.ends_with(".lock");
    if ok {
        return clean;
    }
    let mut clean = clean.replace('.', "_");
    if clean.starts_with('-') {
        clean.replace_range(0..1, "_");
    }
    format!("{clean}-{}", short_hash(s))
}

fn short_hash(s: &str) -> String {
    Sha256::digest(s.as_bytes())[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// At most `max` items, then "and N more".
fn list(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// The author and committer of the commits: `user.name` and `user.email` from
/// the repository's configuration, each falling back to
/// `parci <parci@localhost>` when not configured.
fn signature(repo: &Repository) -> Result<Signature<'static>, String> {
    let cfg = repo.config().map_err(|e| gerr("git config", e))?;
    signature_from(&cfg)
}

fn signature_from(cfg: &git2::Config) -> Result<Signature<'static>, String> {
    let get = |key: &str, default: &str| {
        cfg.get_string(key)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_string())
    };
    Signature::now(
        &get("user.name", "parci"),
        &get("user.email", "parci@localhost"),
    )
    .map_err(|e| gerr("signature", e))
}

/// `prefix` as a git path with a trailing `/` (empty for the root).
fn prefix_slash(prefix: &Path) -> String {
    let p = prefix.to_string_lossy().replace('\\', "/");
    if p.is_empty() {
        p
    } else {
        format!("{p}/")
    }
}

impl CommitQueue {
    /// Opens the repository containing `dir`. Refused: a bare repository, a
    /// detached or unborn HEAD, and a work tree with uncommitted changes
    /// (untracked files count, ignored ones do not). `run_id` names the
    /// branches and directories of this run.
    pub fn open(dir: &Path, run_id: &str) -> Result<CommitQueue, String> {
        let repo = Repository::discover(dir).map_err(|e| {
            format!(
                "{}: not in a git work tree ({}); --worktrees needs a repository",
                dir.display(),
                e.message()
            )
        })?;
        if repo.is_bare() {
            return Err(format!(
                "{}: the repository is bare; --worktrees needs a work tree",
                repo.path().display()
            ));
        }
        let work = repo.workdir().ok_or("the repository has no work tree")?;
        let prefix = super::work_tree_prefix(work, dir)?;
        if repo.state() != git2::RepositoryState::Clean {
            return Err(format!(
                "{}: a {:?} is in progress; finish or abort it before --worktrees",
                work.display(),
                repo.state()
            ));
        }
        if repo.head_detached().unwrap_or(false) {
            return Err(format!(
                "{}: HEAD is detached; --worktrees commits onto a branch: git switch BRANCH first",
                work.display()
            ));
        }
        let head = repo.head().map_err(|e| {
            format!(
                "{}: HEAD has no commit ({}); --worktrees needs a first commit",
                work.display(),
                e.message()
            )
        })?;
        let branch_ref = head
            .name()
            .ok()
            .filter(|n| n.starts_with("refs/heads/"))
            .ok_or_else(|| format!("{}: HEAD is not on a branch", work.display()))?
            .to_string();
        let start = head.peel_to_commit().map_err(|e| gerr("HEAD", e))?.id();
        drop(head);

        let mut opts = StatusOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .include_ignored(false)
            .exclude_submodules(false);
        let statuses = repo
            .statuses(Some(&mut opts))
            .map_err(|e| gerr("git status", e))?;
        // run-parallel's own state folder beside the plan is not the user's change.
        let own = format!("{}.parci/", prefix_slash(&prefix));
        let dirty: Vec<String> = statuses
            .iter()
            .filter(|e| e.status() != Status::CURRENT && !e.status().contains(Status::IGNORED))
            .filter(|e| !e.path_bytes().starts_with(own.as_bytes()))
            .map(|e| e.path().unwrap_or("?").to_string())
            .collect();
        drop(statuses);
        if !dirty.is_empty() {
            return Err(format!(
                "{}: uncommitted changes in {}; --worktrees applies each task's commit onto your branch: commit or stash them first",
                work.display(),
                list(&dirty, 5)
            ));
        }

        let root = repo.commondir().join("parci-worktrees");
        Ok(CommitQueue {
            run: sanitize(run_id),
            branch_ref,
            start,
            prefix,
            root,
            tasks: BTreeMap::new(),
            repo,
        })
    }

    /// The commit the run started from.
    pub fn start(&self) -> String {
        self.start.to_string()
    }

    /// The user's branch, e.g. `refs/heads/main`.
    pub fn branch(&self) -> &str {
        &self.branch_ref
    }

    /// Creates a fresh worktree for task `id` and returns the directory the
    /// task runs in: the worktree's counterpart of the directory given to
    /// [`CommitQueue::open`]. `at_head == false`: at the commit the run
    /// started from; `true`: at the user's branch as it is now (the re-run
    /// after a conflict). A previous worktree of the task is removed first.
    pub fn prepare(&mut self, id: &str, at_head: bool) -> Result<PathBuf, String> {
        let sid = sanitize(id);
        let task = Task {
            name: format!("parci-{}-{sid}", short_hash(&format!("{}\0{id}", self.run))),
            path: self.root.join(&self.run).join(&sid),
            branch: format!("parci/{}/{sid}", self.run),
            base: if at_head {
                self.repo
                    .refname_to_id(&self.branch_ref)
                    .map_err(|e| gerr(&self.branch_ref, e))?
            } else {
                self.start
            },
            keep: false,
        };
        if let Some(old) = self.tasks.remove(id) {
            remove(&self.repo, &old)?;
        }
        // Left over by an interrupted run with the same id.
        remove(&self.repo, &task)?;

        let fail = |what: &str, e: git2::Error| format!("task {id}: {what}: {}", e.message());
        let commit = self
            .repo
            .find_commit(task.base)
            .map_err(|e| fail("commit", e))?;
        let branch = self
            .repo
            .branch(&task.branch, &commit, true)
            .map_err(|e| fail(&format!("creating branch {}", task.branch), e))?;
        if let Some(parent) = task.path.parent() {
            fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut opts = WorktreeAddOptions::new();
        opts.reference(Some(branch.get()));
        // Recorded before the worktree exists: cleanup removes whatever part
        // of it was made.
        let path = task.path.clone();
        self.tasks.insert(id.to_string(), task);
        self.repo
            .worktree(&self.tasks[id].name, &path, Some(&opts))
            .map_err(|e| fail(&format!("creating worktree {}", path.display()), e))?;
        let dir = path.join(&self.prefix);
        fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        tracing::debug!(task = id, dir = %dir.display(), "worktree ready");
        Ok(dir)
    }

    /// The root of task `id`'s worktree, if it has one.
    pub fn worktree_path(&self, id: &str) -> Option<&Path> {
        self.tasks.get(id).map(|t| t.path.as_path())
    }

    /// Task `id` succeeded: commits everything it changed in its worktree
    /// (`.gitignore` respected) as "`<id>: <title>`", then applies that change
    /// (against the commit its worktree started from) onto the user's branch
    /// as a new commit with the same message, and updates the user's index
    /// and working tree with a safe checkout. On [`Applied::Conflict`] the
    /// branch, the index and the working tree are as they were.
    pub fn complete(&mut self, id: &str, title: &str) -> Result<Applied, String> {
        let task = self
            .tasks
            .get(id)
            .ok_or_else(|| format!("task {id}: no worktree prepared"))?;
        let fail = |what: &str, e: git2::Error| format!("task {id}: {what}: {}", e.message());
        let message = format!("{id}: {title}");
        let sig = signature(&self.repo)?;

        // 1. Commit in the worktree.
        let base = self
            .repo
            .find_commit(task.base)
            .map_err(|e| fail("base commit", e))?;
        let Some(done) = self.commit_worktree(task, &base, &message, &sig)? else {
            return Ok(Applied::NoChanges);
        };

        // 2. Cherry-pick onto the user's branch, in memory.
        let repo = &self.repo;
        let head_ref = repo.head().map_err(|e| fail("HEAD", e))?;
        if head_ref.name().ok() != Some(self.branch_ref.as_str()) {
            return Err(format!(
                "task {id}: HEAD is no longer on {} (now {}); its commit {done} stays on branch {}",
                self.branch_ref,
                head_ref.name().unwrap_or("detached"),
                task.branch
            ));
        }
        let head = head_ref.peel_to_commit().map_err(|e| fail("HEAD", e))?;
        drop(head_ref);
        let ours = head.tree().map_err(|e| fail("HEAD tree", e))?;
        let theirs = repo
            .find_commit(done)
            .and_then(|c| c.tree())
            .map_err(|e| fail("task tree", e))?;
        let ancestor = base.tree().map_err(|e| fail("base tree", e))?;
        let mut merged = repo
            .merge_trees(&ancestor, &ours, &theirs, None)
            .map_err(|e| fail("merging", e))?;
        if merged.has_conflicts() {
            let mut paths: Vec<String> = merged
                .conflicts()
                .map_err(|e| fail("conflicts", e))?
                .filter_map(Result::ok)
                .filter_map(|c| c.our.or(c.their).or(c.ancestor))
                .map(|e| String::from_utf8_lossy(&e.path).into_owned())
                .collect();
            paths.dedup();
            return Ok(Applied::Conflict(format!(
                "conflict in {} against {}; the task's work is commit {}",
                list(&paths, 10),
                &head.id().to_string()[..12],
                &done.to_string()[..12]
            )));
        }
        let new_tree_id = merged
            .write_tree_to(repo)
            .map_err(|e| fail("writing merged tree", e))?;
        if new_tree_id == ours.id() {
            return Ok(Applied::NoChanges);
        }
        let new_tree = repo
            .find_tree(new_tree_id)
            .map_err(|e| fail("merged tree", e))?;
        let new = repo
            .commit(None, &sig, &sig, &message, &new_tree, &[&head])
            .map_err(|e| fail("committing", e))?;

        // 3. Safe checkout from HEAD's tree to the new one: refused, before
        //    anything is written, when a file it must touch differs from HEAD.
        let mut blocked = Vec::new();
        let checked = {
            let mut co = git2::build::CheckoutBuilder::new();
            co.safe()
                .notify_on(CheckoutNotificationType::CONFLICT)
                .notify(|_, path, _, _, _| {
                    if let Some(p) = path {
                        blocked.push(p.display().to_string());
                    }
                    true
                });
            repo.checkout_tree(new_tree.as_object(), Some(&mut co))
        };
        if let Err(e) = checked {
            if blocked.is_empty() {
                return Err(fail("updating your working tree", e));
            }
            return Ok(Applied::Conflict(format!(
                "your working tree has changes in {} that the task's commit {} would overwrite",
                list(&blocked, 10),
                &done.to_string()[..12]
            )));
        }

        // 4. Advance the branch, unless it moved meanwhile.
        if let Err(e) = repo.reference_matching(
            &self.branch_ref,
            new,
            true,
            head.id(),
            &format!("run-parallel --worktrees: {message}"),
        ) {
            // Put the working tree back as safely as it was moved.
            let mut co = git2::build::CheckoutBuilder::new();
            co.safe();
            let _ = repo.checkout_tree(ours.as_object(), Some(&mut co));
            return Err(fail(
                &format!("{} moved while the commit was applied", self.branch_ref),
                e,
            ));
        }
        tracing::debug!(task = id, commit = %new, "applied");
        Ok(Applied::Commit(new.to_string()))
    }

    /// Commits everything task `task` changed in its worktree; `None` when its
    /// tree is still `base`'s.
    fn commit_worktree(
        &self,
        task: &Task,
        base: &git2::Commit<'_>,
        message: &str,
        sig: &Signature<'_>,
    ) -> Result<Option<Oid>, String> {
        let fail = |what: &str, e: git2::Error| format!("{}: {what}: {}", task.branch, e.message());
        let wt = Repository::open(&task.path).map_err(|e| fail("opening worktree", e))?;
        let mut index = wt.index().map_err(|e| fail("worktree index", e))?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, None)
            .and_then(|_| index.update_all(["*"], None))
            .and_then(|_| index.write())
            .map_err(|e| fail("adding changes", e))?;
        let tree_id = index.write_tree().map_err(|e| fail("writing tree", e))?;
        if tree_id == base.tree_id() {
            return Ok(None);
        }
        let tree = wt.find_tree(tree_id).map_err(|e| fail("tree", e))?;
        let parent = wt
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(|e| fail("worktree HEAD", e))?;
        let done = wt
            .commit(Some("HEAD"), sig, sig, message, &tree, &[&parent])
            .map_err(|e| fail("committing in the worktree", e))?;
        Ok(Some(done))
    }

    /// Removes task `id`'s worktree now and keeps its branch (with the task's
    /// commit, after [`CommitQueue::complete`]) through cleanup, e.g. for a
    /// conflict the user resolves by hand. Returns the branch's name.
    pub fn keep_branch(&mut self, id: &str) -> Result<String, String> {
        let task = self
            .tasks
            .get_mut(id)
            .ok_or_else(|| format!("task {id}: no worktree prepared"))?;
        task.keep = true;
        remove(&self.repo, task)?;
        Ok(task.branch.clone())
    }

    /// Removes every worktree and branch this queue created, and their admin
    /// entries. Idempotent; errors are logged, not returned.
    pub fn cleanup(&mut self) {
        for (id, task) in std::mem::take(&mut self.tasks) {
            if let Err(e) = remove(&self.repo, &task) {
                tracing::warn!(task = id, "cleanup: {e}");
            }
        }
        // Only when empty: another run may be using its own directory.
        let _ = fs::remove_dir(self.root.join(&self.run));
        let _ = fs::remove_dir(&self.root);
    }
}

impl Drop for CommitQueue {
    fn drop(&mut self) {
        self.cleanup();
    }
}

/// Removes a task's worktree (directory and admin entry) and, unless kept,
/// its branch, whichever of them exist.
fn remove(repo: &Repository, task: &Task) -> Result<(), String> {
    if let Ok(wt) = repo.find_worktree(&task.name) {
        let mut opts = WorktreePruneOptions::new();
        opts.valid(true).working_tree(true).locked(true);
        if let Err(e) = wt.prune(Some(&mut opts)) {
            tracing::debug!(worktree = task.name, "prune: {}", e.message());
        }
    }
    if task.path.exists() {
        fs::remove_dir_all(&task.path).map_err(|e| format!("{}: {e}", task.path.display()))?;
    }
    // The admin entry of a worktree whose directory was already gone.
    if let Ok(wt) = repo.find_worktree(&task.name) {
        let mut opts = WorktreePruneOptions::new();
        opts.valid(true).working_tree(true).locked(true);
        wt.prune(Some(&mut opts))
            .map_err(|e| gerr(&format!("pruning worktree {}", task.name), e))?;
    }
    match repo.find_branch(&task.branch, BranchType::Local) {
        Ok(_) if task.keep => Ok(()),
        Ok(mut b) => b
            .delete()
            .map_err(|e| gerr(&format!("deleting branch {}", task.branch), e)),
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// Runs the git CLI (not libgit2) in `dir`; panics on failure.
    fn git(dir: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Tester")
            .env("GIT_AUTHOR_EMAIL", "tester@example.com")
            .env("GIT_COMMITTER_NAME", "Tester")
            .env("GIT_COMMITTER_EMAIL", "tester@example.com")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A repository on `main` with one commit: a.txt, b.txt, sub/c.txt and a
    /// .gitignore ignoring `*.log` and `target/`.
    fn repo() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        git(p, &["init", "-q", "-b", "main"]);
        git(p, &["config", "user.name", "Tester"]);
        git(p, &["config", "user.email", "tester@example.com"]);
        fs::write(p.join("a.txt"), "a1\na2\na3\n").unwrap();
        fs::write(p.join("b.txt"), "b1\nb2\n").unwrap();
        fs::create_dir(p.join("sub")).unwrap();
        fs::write(p.join("sub/c.txt"), "c\n").unwrap();
        fs::write(p.join(".gitignore"), "*.log\ntarget/\n").unwrap();
        git(p, &["add", "-A"]);
        git(p, &["commit", "-q", "-m", "start"]);
        d
    }

    fn head(p: &Path) -> String {
        git(p, &["rev-parse", "HEAD"]).trim().to_string()
    }

    fn subjects(p: &Path) -> Vec<String> {
        git(p, &["log", "--format=%s"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn worktrees(p: &Path) -> usize {
        git(p, &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| l.starts_with("worktree "))
            .count()
    }

    /// `git worktree list --porcelain` without the HEAD lines (the main
    /// worktree's HEAD moves when a commit is applied).
    fn worktree_list(p: &Path) -> String {
        git(p, &["worktree", "list", "--porcelain"])
            .lines()
            .filter(|l| !l.starts_with("HEAD "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn parci_branches(p: &Path) -> String {
        git(p, &["branch", "--list", "parci/*"])
    }

    #[test]
    fn dirty_trees_detached_heads_and_bare_repositories_are_refused() {
        let d = repo();
        let p = d.path();
        fs::write(p.join("a.txt"), "changed\n").unwrap();
        let e = CommitQueue::open(p, "r").err().unwrap();
        assert!(e.contains("a.txt") && e.contains("commit or stash"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
        git(p, &["checkout", "--", "a.txt"]);

        fs::write(p.join("sub/new.txt"), "x\n").unwrap();
        let e = CommitQueue::open(p, "r").err().unwrap();
        assert!(
            e.contains("sub/new.txt") && e.contains("commit or stash"),
            "{e}"
        );
        fs::remove_file(p.join("sub/new.txt")).unwrap();

        // Staged but not committed counts too.
        fs::write(p.join("b.txt"), "staged\n").unwrap();
        git(p, &["add", "b.txt"]);
        let e = CommitQueue::open(p, "r").err().unwrap();
        assert!(e.contains("b.txt"), "{e}");
        git(p, &["reset", "-q", "--hard"]);

        // Ignored files do not count.
        fs::write(p.join("run.log"), "x\n").unwrap();
        fs::create_dir(p.join("target")).unwrap();
        fs::write(p.join("target/out"), "x\n").unwrap();
        let q = CommitQueue::open(p, "r").unwrap();
        assert_eq!(q.start(), head(p));
        assert_eq!(q.branch(), "refs/heads/main");
        drop(q);

        fs::write(p.join(".git/MERGE_HEAD"), head(p) + "\n").unwrap();
        let e = CommitQueue::open(p, "r").err().unwrap();
        assert!(e.contains("in progress"), "{e}");
        fs::remove_file(p.join(".git/MERGE_HEAD")).unwrap();

        git(p, &["checkout", "-q", "--detach"]);
        let e = CommitQueue::open(p, "r").err().unwrap();
        assert!(e.contains("detached"), "{e}");
        git(p, &["checkout", "-q", "main"]);

        let bare = tempfile::tempdir().unwrap();
        git(bare.path(), &["init", "-q", "--bare"]);
        let e = CommitQueue::open(bare.path(), "r").err().unwrap();
        assert!(e.contains("bare"), "{e}");

        let empty = tempfile::tempdir().unwrap();
        git(empty.path(), &["init", "-q"]);
        let e = CommitQueue::open(empty.path(), "r").err().unwrap();
        assert!(e.contains("first commit"), "{e}");
    }

    #[test]
    fn successes_land_on_the_branch_in_completion_order() {
        let d = repo();
        let p = d.path();
        let start = head(p);
        let mut q = CommitQueue::open(p, "run1").unwrap();
        let a = q.prepare("a", false).unwrap();
        let b = q.prepare("b", false).unwrap();
        assert_ne!(a, b);
        for dir in [&a, &b] {
            // Outside the user's tree, a work tree of its own for git.
            assert!(
                dir.starts_with(p.join(".git/parci-worktrees/run1")),
                "{}",
                dir.display()
            );
            let top = git(dir, &["rev-parse", "--show-toplevel"]);
            assert_eq!(Path::new(top.trim()), fs::canonicalize(dir).unwrap());
            assert_eq!(head(dir), start);
        }
        // a edits a.txt and deletes sub/c.txt, b edits b.txt and adds a file;
        // both leave ignored output behind.
        fs::write(a.join("a.txt"), "a1\nA2\na3\n").unwrap();
        fs::remove_file(a.join("sub/c.txt")).unwrap();
        fs::write(a.join("build.log"), "noise\n").unwrap();
        fs::write(b.join("b.txt"), "b1\nB2\n").unwrap();
        fs::create_dir_all(b.join("new/deep")).unwrap();
        fs::write(b.join("new/deep/f.txt"), "f\n").unwrap();
        fs::create_dir_all(b.join("target")).unwrap();
        fs::write(b.join("target/bin"), "x\n").unwrap();

        let rb = q.complete("b", "second task").unwrap();
        let ra = q.complete("a", "first task").unwrap();
        let (Applied::Commit(cb), Applied::Commit(ca)) = (&rb, &ra) else {
            panic!("{rb:?} {ra:?}");
        };
        assert_eq!(
            subjects(p),
            ["a: first task", "b: second task", "start"],
            "completion order"
        );
        assert_eq!(&head(p), ca);
        assert_eq!(git(p, &["rev-parse", "HEAD~1"]).trim(), cb);
        assert_eq!(git(p, &["rev-parse", "HEAD~2"]).trim(), start);
        assert_eq!(
            git(p, &["log", "-1", "--format=%an <%ae>"]).trim(),
            "Tester <tester@example.com>"
        );
        // The user's working tree and index have both changes, nothing else.
        assert_eq!(fs::read_to_string(p.join("a.txt")).unwrap(), "a1\nA2\na3\n");
        assert_eq!(fs::read_to_string(p.join("b.txt")).unwrap(), "b1\nB2\n");
        assert_eq!(fs::read_to_string(p.join("new/deep/f.txt")).unwrap(), "f\n");
        assert!(!p.join("sub/c.txt").exists());
        assert!(!p.join("build.log").exists() && !p.join("target").exists());
        assert_eq!(git(p, &["status", "--porcelain"]), "");
        let files = git(p, &["ls-files"]);
        assert!(
            !files.contains("build.log") && !files.contains("target/"),
            "{files}"
        );
        // Each commit holds only its task's change.
        assert_eq!(
            git(p, &["show", "--name-only", "--format=", "HEAD"]).trim(),
            "a.txt\nsub/c.txt"
        );
        // The task's commit stays on its branch until cleanup.
        assert_eq!(
            git(p, &["log", "-1", "--format=%s", "parci/run1/b"]).trim(),
            "b: second task"
        );
    }

    #[test]
    fn a_conflict_touches_nothing_and_a_rerun_at_head_applies() {
        let d = repo();
        let p = d.path();
        let mut q = CommitQueue::open(p, "r").unwrap();
        let x = q.prepare("x", false).unwrap();
        let y = q.prepare("y", false).unwrap();
        fs::write(x.join("a.txt"), "a1\nX\na3\n").unwrap();
        fs::write(y.join("a.txt"), "a1\nY\na3\n").unwrap();
        // y also changes a file x did not touch: nothing of it may land.
        fs::write(y.join("b.txt"), "b1\nY\n").unwrap();
        assert!(matches!(q.complete("x", "x").unwrap(), Applied::Commit(_)));

        let before = (
            head(p),
            git(p, &["status", "--porcelain"]),
            git(p, &["ls-files", "-s"]),
        );
        let r = q.complete("y", "y").unwrap();
        let Applied::Conflict(msg) = &r else {
            panic!("{r:?}")
        };
        assert!(msg.contains("a.txt") && !msg.contains("b.txt"), "{msg}");
        // The message names the task's commit, which has the whole change.
        let sha = git(p, &["rev-parse", "parci/r/y"]);
        assert!(msg.contains(&sha[..12]), "{msg}");
        let after = (
            head(p),
            git(p, &["status", "--porcelain"]),
            git(p, &["ls-files", "-s"]),
        );
        assert_eq!(before, after);
        assert_eq!(fs::read_to_string(p.join("a.txt")).unwrap(), "a1\nX\na3\n");
        assert_eq!(fs::read_to_string(p.join("b.txt")).unwrap(), "b1\nb2\n");
        assert_eq!(subjects(p), ["x: x", "start"]);

        // The one re-run, at the branch's new HEAD: it sees x's change.
        let y2 = q.prepare("y", true).unwrap();
        assert_eq!(head(&y2), head(p));
        assert_eq!(fs::read_to_string(y2.join("a.txt")).unwrap(), "a1\nX\na3\n");
        fs::write(y2.join("a.txt"), "a1\nX\nY\n").unwrap();
        fs::write(y2.join("b.txt"), "b1\nY\n").unwrap();
        assert!(matches!(q.complete("y", "y").unwrap(), Applied::Commit(_)));
        assert_eq!(subjects(p), ["y: y", "x: x", "start"]);
        assert_eq!(fs::read_to_string(p.join("a.txt")).unwrap(), "a1\nX\nY\n");
        assert_eq!(git(p, &["status", "--porcelain"]), "");
        assert_eq!(worktrees(p), 3, "x and the re-prepared y");

        // A conflict the user wants to resolve by hand: its branch survives
        // cleanup, its worktree does not.
        let z = q.prepare("z", false).unwrap();
        fs::write(z.join("a.txt"), "Z\n").unwrap();
        assert!(matches!(
            q.complete("z", "z").unwrap(),
            Applied::Conflict(_)
        ));
        assert_eq!(q.keep_branch("z").unwrap(), "parci/r/z");
        assert!(!z.exists());
        drop(q);
        assert_eq!(worktrees(p), 1);
        assert_eq!(parci_branches(p).trim(), "parci/r/z");
        assert_eq!(
            git(p, &["log", "-1", "--format=%s", "parci/r/z"]).trim(),
            "z: z"
        );
    }

    #[test]
    fn local_edits_in_the_users_tree_are_never_overwritten() {
        let d = repo();
        let p = d.path();
        let mut q = CommitQueue::open(p, "r").unwrap();
        let t = q.prepare("t", false).unwrap();
        fs::write(t.join("a.txt"), "task\n").unwrap();
        fs::write(t.join("b.txt"), "task\n").unwrap();
        fs::write(t.join("new.txt"), "task\n").unwrap();
        // While the task runs, the user edits b.txt and creates new.txt;
        // a.txt they leave alone.
        fs::write(p.join("b.txt"), "mine\n").unwrap();
        fs::write(p.join("new.txt"), "mine\n").unwrap();
        let before = (head(p), git(p, &["ls-files", "-s"]));
        let r = q.complete("t", "t").unwrap();
        let Applied::Conflict(msg) = &r else {
            panic!("{r:?}")
        };
        assert!(msg.contains("b.txt") && msg.contains("new.txt"), "{msg}");
        assert!(!msg.contains("a.txt"), "{msg}");
        // Nothing written, not even the file that could have been.
        assert_eq!((head(p), git(p, &["ls-files", "-s"])), before);
        assert_eq!(fs::read_to_string(p.join("a.txt")).unwrap(), "a1\na2\na3\n");
        assert_eq!(fs::read_to_string(p.join("b.txt")).unwrap(), "mine\n");
        assert_eq!(fs::read_to_string(p.join("new.txt")).unwrap(), "mine\n");
        assert_eq!(git(p, &["status", "--porcelain"]), " M b.txt\n?? new.txt\n");
    }

    #[test]
    fn the_identity_comes_from_git_config_else_parci() {
        let d = tempfile::tempdir().unwrap();
        let mut cfg = git2::Config::open(&d.path().join("config")).unwrap();
        let s = signature_from(&cfg).unwrap();
        assert_eq!(
            (s.name().ok(), s.email().ok()),
            (Some("parci"), Some("parci@localhost"))
        );
        cfg.set_str("user.name", "Ada").unwrap();
        cfg.set_str("user.email", "ada@example.com").unwrap();
        let s = signature_from(&cfg).unwrap();
        assert_eq!(
            (s.name().ok(), s.email().ok()),
            (Some("Ada"), Some("ada@example.com"))
        );
    }

    #[test]
    fn a_task_that_commits_by_itself_lands_as_one_commit() {
        let d = repo();
        let p = d.path();
        let mut q = CommitQueue::open(p, "r").unwrap();
        let t = q.prepare("t", false).unwrap();
        fs::write(t.join("a.txt"), "committed by the task\n").unwrap();
        git(&t, &["commit", "-q", "-am", "inside"]);
        fs::write(t.join("b.txt"), "left uncommitted\n").unwrap();
        assert!(matches!(
            q.complete("t", "both").unwrap(),
            Applied::Commit(_)
        ));
        assert_eq!(subjects(p), ["t: both", "start"]);
        assert_eq!(
            git(p, &["show", "--name-only", "--format=", "HEAD"]).trim(),
            "a.txt\nb.txt"
        );
        assert_eq!(git(p, &["status", "--porcelain"]), "");
    }

    #[test]
    fn a_task_that_changed_nothing_makes_no_commit() {
        let d = repo();
        let p = d.path();
        let before = head(p);
        let mut q = CommitQueue::open(p, "r").unwrap();
        let t = q.prepare("quiet", false).unwrap();
        fs::write(t.join("only.log"), "ignored output\n").unwrap();
        assert_eq!(q.complete("quiet", "nothing").unwrap(), Applied::NoChanges);
        assert_eq!(head(p), before);
        assert_eq!(subjects(p), ["start"]);
        assert_eq!(git(p, &["status", "--porcelain"]), "");
        assert!(q.complete("never-prepared", "x").is_err());
    }

    #[test]
    fn cleanup_and_drop_remove_every_worktree_and_branch() {
        let d = repo();
        let p = d.path();
        let original = worktree_list(p);
        let ids = ["1.2", "with space", "a/b", "..", "x.lock", "-dash"];
        let mut q = CommitQueue::open(p, "run 7").unwrap();
        let mut dirs = Vec::new();
        for id in ids {
            let dir = q.prepare(id, false).unwrap();
            assert!(dir.join("a.txt").is_file(), "{id}: {}", dir.display());
            dirs.push(dir);
        }
        // Sanitized names stay distinct and readable when already valid.
        assert!(dirs[0].ends_with("run_7-".to_string() + &short_hash("run 7") + "/1.2"));
        assert_eq!(worktrees(p), 1 + ids.len());
        assert_eq!(parci_branches(p).lines().count(), ids.len());
        // Re-preparing replaces, it does not add.
        q.prepare("1.2", false).unwrap();
        assert_eq!(worktrees(p), 1 + ids.len());

        q.cleanup();
        assert_eq!(worktree_list(p), original);
        assert_eq!(parci_branches(p), "");
        assert!(dirs.iter().all(|d| !d.exists()));
        let common = p.join(".git");
        assert!(!common.join("parci-worktrees").exists());
        assert_eq!(
            fs::read_dir(common.join("worktrees"))
                .map(|d| d.count())
                .unwrap_or(0),
            0
        );
        q.cleanup(); // idempotent

        // Drop cleans up too, including a task that already committed.
        let mut q = CommitQueue::open(p, "r2").unwrap();
        let t = q.prepare("t", false).unwrap();
        fs::write(t.join("b.txt"), "t\n").unwrap();
        assert!(matches!(q.complete("t", "t").unwrap(), Applied::Commit(_)));
        assert_eq!(worktrees(p), 2);
        drop(q);
        assert_eq!(worktree_list(p), original);
        assert_eq!(parci_branches(p), "");
        assert!(!t.exists());

        // Leftovers of an interrupted run with the same id are replaced.
        let mut q = CommitQueue::open(p, "r3").unwrap();
        q.prepare("t", false).unwrap();
        std::mem::forget(q); // as if killed
        let mut q2 = CommitQueue::open(p, "r3").unwrap();
        q2.prepare("t", false).unwrap();
        assert_eq!(worktrees(p), 2);
        q2.cleanup();
        assert_eq!(worktree_list(p), original);
    }

    #[test]
    fn a_plan_in_a_subdirectory_runs_in_the_matching_subdirectory() {
        let d = repo();
        let p = d.path();
        let mut q = CommitQueue::open(&p.join("sub"), "r").unwrap();
        let t = q.prepare("t", false).unwrap();
        assert!(t.ends_with("sub"), "{}", t.display());
        assert_eq!(fs::read_to_string(t.join("c.txt")).unwrap(), "c\n");
        // A relative path in the task lands in the same place for the user.
        fs::write(t.join("c.txt"), "C\n").unwrap();
        assert!(matches!(
            q.complete("t", "edit c").unwrap(),
            Applied::Commit(_)
        ));
        assert_eq!(fs::read_to_string(p.join("sub/c.txt")).unwrap(), "C\n");
        assert_eq!(git(p, &["status", "--porcelain"]), "");
    }
}
