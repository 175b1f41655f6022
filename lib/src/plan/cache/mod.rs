//! run-parallel's task cache (docs/run-parallel.md, "Cache"): a task whose
//! key ([`key`]) matches a stored artifact ([`store`]) is not run; its
//! outputs are restored and its log replayed, and it is recorded as
//! `cached`. On success a task with a key stores its outputs and log.
//!
//! The executor calls [`Session::hit`] before starting a task and
//! [`Session::save`] after it succeeds, on its own thread (artifacts are a
//! task's declared outputs, small next to a task's run). Problems with the
//! cache never fail a task or the run: a damaged artifact is a miss, a
//! failed store is a warning ([`Session::warnings`]).

pub mod key;
pub mod remote;
pub mod store;

use crate::plan::{Dag, Plan};
use key::{Keys, Record};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use store::{Artifact, Local};

/// `--cache`: which ways the cache is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Read,
    Write,
    ReadWrite,
}

impl Mode {
    pub fn reads(self) -> bool {
        self != Mode::Write
    }
    pub fn writes(self) -> bool {
        self != Mode::Read
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Write => "write",
            Mode::ReadWrite => "readwrite",
        }
    }
}

/// The cache for one run.
#[derive(Debug)]
pub struct Session {
    pub mode: Mode,
    pub local: Local,
    /// The plan folder: input and output globs are relative to it.
    pub dir: PathBuf,
    /// Overwrite outputs that differ from a hit's.
    pub force_restore: bool,
    /// The shared tier, looked up after the local one.
    pub remote: Option<remote::Remote>,
    /// Each task's key (plan order), computed again as each task starts.
    keys: Mutex<Keys>,
    /// The `env_keys` variables' values at the start of the run.
    env: BTreeMap<String, Option<String>>,
    warnings: Mutex<Vec<String>>,
    /// Task index → where its artifact came from, for the hits.
    hits: Mutex<BTreeMap<usize, &'static str>>,
}

/// Where `--explain` finds the keys of the last run: beside the cache.
pub fn records_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join("keys.json")
}

impl Session {
    /// A session with the keys of `plan` as they are now; `env` gives the
    /// `env_keys` variables' values (read once, here).
    pub fn new(
        mode: Mode,
        cache_dir: PathBuf,
        force_restore: bool,
        plan: &Plan,
        dag: &Dag,
        dir: PathBuf,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Session {
        let vars: BTreeMap<String, Option<String>> = plan
            .achievements
            .iter()
            .flat_map(|a| a.env_keys.iter())
            .map(|k| (k.clone(), env(k)))
            .collect();
        let keys = key::keys(plan, dag, &dir, env);
        Session {
            mode,
            local: Local { dir: cache_dir },
            dir,
            force_restore,
            remote: None,
            keys: Mutex::new(keys),
            env: vars,
            warnings: Mutex::new(Vec::new()),
            hits: Mutex::new(BTreeMap::new()),
        }
    }

    fn warn(&self, w: String) {
        tracing::warn!("{w}");
        self.warnings.lock().expect("not poisoned").push(w);
    }

    /// Warnings so far (damaged artifacts, outputs kept, stores that failed).
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().expect("not poisoned").clone()
    }

    /// Tasks served from the cache, by plan index.
    pub fn hits(&self) -> BTreeMap<usize, &'static str> {
        self.hits.lock().expect("not poisoned").clone()
    }

    /// Task `i`'s key, if it has one.
    pub fn key(&self, i: usize) -> Option<String> {
        let keys = self.keys.lock().expect("not poisoned");
        keys.get(i)?.as_ref().ok().map(|r| r.key.clone())
    }

    /// Every task's key record or why it has none (plan order).
    pub fn records(&self) -> Keys {
        self.keys.lock().expect("not poisoned").clone()
    }

    /// Computes task `i`'s key again, now that its dependencies are done.
    pub fn refresh(&self, plan: &Plan, dag: &Dag, i: u32) {
        let env = |k: &str| self.env.get(k).cloned().flatten();
        let mut keys = self.keys.lock().expect("not poisoned");
        key::refresh(plan, dag, i, &self.dir, &env, &mut keys);
    }

    /// The artifact stored for task `i` (`id` for messages), if any: the
    /// local tier, then the remote one (a remote hit is kept locally too);
    /// a damaged or unsigned one is a miss with a warning.
    pub fn lookup(&self, i: usize, id: &str) -> Option<(Artifact, &'static str)> {
        if !self.mode.reads() {
            return None;
        }
        let key = self.key(i)?;
        let key = key.as_str();
        let shown = self.local.path(key);
        match self.local.get(key) {
            Ok(Some(bytes)) => match store::unpack(&bytes) {
                Ok(a) => return Some((a, "local")),
                Err(e) => self.warn(format!(
                    "{id}: cache entry {} is damaged ({e}); running the task",
                    shown.display()
                )),
            },
            Ok(None) => {}
            Err(e) => self.warn(format!("{id}: cache entry {}: {e}", shown.display())),
        }
        let r = self.remote.as_ref()?;
        let hash = store::hex_of(key);
        match r.get(hash) {
            Ok(remote::Fetched::Hit(bytes)) => match store::unpack(&bytes) {
                Ok(a) => {
                    if self.mode.writes() {
                        if let Err(e) = self.local.put(key, &bytes) {
                            self.warn(format!(
                                "{id}: cannot keep the remote artifact locally: {e}"
                            ));
                        }
                    }
                    Some((a, "remote"))
                }
                Err(e) => {
                    self.warn(format!(
                        "{id}: remote artifact {hash} is damaged ({e}); running the task"
                    ));
                    None
                }
            },
            Ok(remote::Fetched::Miss) => None,
            Ok(remote::Fetched::BadSignature) => {
                self.warn(format!(
                    "{id}: remote artifact {hash} has no valid signature (x-artifact-tag); not used, running the task"
                ));
                None
            }
            Err(e) => {
                self.warn(e);
                None
            }
        }
    }

    /// Serves task `i` from the cache when it can: restores its outputs
    /// and returns the cached log. None: run it.
    pub fn hit(&self, i: usize, id: &str) -> Option<Vec<u8>> {
        let (a, from) = self.lookup(i, id)?;
        let r = match store::restore(&a, &self.dir, self.force_restore) {
            Ok(r) => r,
            Err(e) => {
                self.warn(format!(
                    "{id}: cannot restore the cached outputs ({e}); running the task"
                ));
                return None;
            }
        };
        if !r.kept.is_empty() {
            self.warn(format!(
                "{id}: cached, but {} differ from the cache and were kept: {}; pass --force-restore to overwrite them",
                r.kept.len(),
                r.kept.join(", ")
            ));
        }
        self.hits.lock().expect("not poisoned").insert(i, from);
        Some(a.log)
    }

    /// After task `i` succeeded: stores its outputs (`outputs` globs) and
    /// its log, when the mode writes and the task has a key.
    pub fn save(&self, i: usize, id: &str, outputs: &[String], log: &Path) {
        if !self.mode.writes() {
            return;
        }
        let Some(key) = self.key(i) else {
            return;
        };
        let key = key.as_str();
        let stored = key::expand(&self.dir, outputs).and_then(|paths| {
            let log = std::fs::read(log).map_err(|e| format!("log {}: {e}", log.display()))?;
            let a = store::collect(&self.dir, &paths, log)?;
            let bytes = store::pack(&a).map_err(|e| e.to_string())?;
            self.local.put(key, &bytes).map_err(|e| e.to_string())?;
            match &self.remote {
                Some(r) => r.put(store::hex_of(key), &bytes),
                None => Ok(()),
            }
        });
        if let Err(e) = stored {
            self.warn(format!("{id}: cache: {e}"));
        }
    }

    /// Writes every keyed task's record (for `--explain`) beside the cache.
    pub fn write_records(&self, ids: &[&str]) -> std::io::Result<()> {
        let keys = self.records();
        let m: BTreeMap<&str, &Record> = ids
            .iter()
            .zip(&keys)
            .filter_map(|(id, k)| k.as_ref().ok().map(|r| (*id, r)))
            .collect();
        std::fs::create_dir_all(&self.local.dir)?;
        let text = serde_json::to_string_pretty(&m).expect("records serialize");
        crate::fsutil::write_atomic(&records_path(&self.local.dir), text.as_bytes())
    }
}

/// `--explain ID`: what changed in task `id`'s key since the records at
/// `cache_dir` were written, one line each.
pub fn explain(
    cache_dir: &Path,
    id: &str,
    now: &Result<Record, String>,
) -> Result<Vec<String>, String> {
    let now = now.as_ref().map_err(|why| format!("{id}: {why}"))?;
    let path = records_path(cache_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(_) => {
            return Ok(vec![format!(
                "{id}: no earlier run recorded its key ({} is missing)",
                path.display()
            )])
        }
    };
    let old: BTreeMap<String, Record> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a key record file ({e}); delete it", path.display()))?;
    Ok(match old.get(id) {
        None => vec![format!("{id}: no earlier run recorded its key")],
        Some(o) if o.key == now.key => vec![format!(
            "{id}: unchanged ({}); a cached run restores it",
            now.key
        )],
        Some(o) => key::explain(o, now),
    })
}
