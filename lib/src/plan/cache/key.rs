//! What a task's cache key is made of, and what changed since the last one.
//!
//! The key is `sha256:` of the canonical JSON of: parci's version, the
//! command (string or argv), `cwd`, `env`, the values of `env_keys` (absent
//! variables as null), the `outputs` globs, each input file's path and
//! content hash (sorted by path), and the keys of the dependencies. A task
//! without `inputs` has no key and is never cached; nor is a task with a
//! dependency that has none (its outputs are not described, so a dependent
//! could not know whether they changed). A milestone's key is its
//! dependencies' keys.

use crate::plan::model::Achievement;
use crate::plan::{Dag, Plan};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// A task's key and what it was computed from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub key: String,
    pub command_hash: Option<String>,
    /// Input path (relative to the plan folder, `/`-separated) → sha256.
    pub inputs: BTreeMap<String, String>,
    /// `env_keys` variable → sha256 of its value (null: unset); values are
    /// hashed because they may be secrets.
    pub env: BTreeMap<String, Option<String>>,
    /// Dependency ID → its key.
    pub deps: BTreeMap<String, String>,
}

/// Each task's key record, or why it has none.
pub type Keys = Vec<Result<Record, String>>;

/// Files matching `globs` under `dir`: relative `/`-separated paths, sorted,
/// regular files only (a directory match is walked).
pub fn expand(dir: &Path, globs: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for g in globs {
        if Path::new(g).is_absolute() || g.split('/').any(|c| c == "..") {
            return Err(format!(
                "{g:?}: globs are relative to the plan folder and stay inside it"
            ));
        }
        let pattern = dir.join(g);
        let paths = glob::glob(&pattern.to_string_lossy())
            .map_err(|e| format!("{g:?}: not a glob ({e})"))?;
        for p in paths {
            let p = p.map_err(|e| format!("{g:?}: {e}"))?;
            walk(dir, &p, &mut out)?;
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn walk(dir: &Path, p: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let meta = std::fs::symlink_metadata(p).map_err(|e| format!("{}: {e}", p.display()))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(p)
            .map_err(|e| format!("{}: {e}", p.display()))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            walk(dir, &e, out)?;
        }
    } else {
        let rel = p.strip_prefix(dir).unwrap_or(p);
        let s: Vec<String> = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.push(s.join("/"));
    }
    Ok(())
}

/// Every task's key (plan order), reading the inputs under `dir` now and
/// the `env_keys` values from `env` (the dry run's and `--explain`'s view;
/// a run computes each task's key again just before it starts, [`refresh`],
/// when its dependencies have written what it reads).
pub fn keys(plan: &Plan, dag: &Dag, dir: &Path, env: &dyn Fn(&str) -> Option<String>) -> Keys {
    let mut keys: Keys = vec![Err(String::new()); plan.achievements.len()];
    // a valid plan is acyclic (run-parallel validates first)
    for i in dag.topo_order().unwrap_or_default() {
        keys[i as usize] = one(plan, dag, i, dir, env, &keys);
    }
    keys
}

/// Recomputes task `i`'s key in `keys` from its inputs now and its
/// dependencies' keys there (milestone dependencies recomputed first).
pub fn refresh(
    plan: &Plan,
    dag: &Dag,
    i: u32,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    keys: &mut Keys,
) {
    for &d in dag.deps(i) {
        if plan.achievements[d as usize].command.is_none() {
            refresh(plan, dag, d, dir, env, keys);
        }
    }
    keys[i as usize] = one(plan, dag, i, dir, env, keys);
}

/// Task `i`'s key from its dependencies' entries in `keys`.
fn one(
    plan: &Plan,
    dag: &Dag,
    i: u32,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    keys: &Keys,
) -> Result<Record, String> {
    let mut deps = BTreeMap::new();
    for &d in dag.deps(i) {
        let da = &plan.achievements[d as usize];
        match &keys[d as usize] {
            Ok(r) => {
                deps.insert(da.id.clone(), r.key.clone());
            }
            Err(_) => {
                return Err(format!(
                    "never cached: dependency {} has no cache key",
                    da.id
                ))
            }
        }
    }
    record(&plan.achievements[i as usize], dir, env, deps)
}

fn record(
    a: &Achievement,
    dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    deps: BTreeMap<String, String>,
) -> Result<Record, String> {
    if a.command.is_some() && a.inputs.is_empty() {
        return Err("never cached: no inputs".into());
    }
    let mut inputs = BTreeMap::new();
    for f in expand(dir, &a.inputs).map_err(|e| format!("never cached: inputs: {e}"))? {
        let (_, sha) = crate::fsutil::hash_file(&dir.join(&f))
            .map_err(|e| format!("never cached: cannot read input {f}: {e}"))?;
        inputs.insert(f, sha);
    }
    let envs: BTreeMap<String, Option<String>> = a
        .env_keys
        .iter()
        .map(|k| {
            (
                k.clone(),
                env(k).map(|v| crate::fsutil::sha256_hex(v.as_bytes())),
            )
        })
        .collect();
    let doc = json!({
        "parci": env!("CARGO_PKG_VERSION"),
        "command": a.command.as_ref().map(|c| c.to_json()),
        "cwd": a.cwd,
        "env": a.env,
        "env_keys": envs,
        "outputs": a.outputs,
        "inputs": inputs,
        "deps": deps,
    });
    let key = format!(
        "sha256:{}",
        crate::fsutil::sha256_hex(crate::receipt::canonical::to_string(&doc).as_bytes())
    );
    Ok(Record {
        key,
        command_hash: a.command_hash(),
        inputs,
        env: envs,
        deps,
    })
}

/// What differs between the `old` record and the `new` one, one line each
/// (empty: the same key).
pub fn explain(old: &Record, new: &Record) -> Vec<String> {
    let mut out = Vec::new();
    if old.command_hash != new.command_hash {
        out.push("the command, its env or its cwd changed".into());
    }
    diff(&mut out, "input", &old.inputs, &new.inputs);
    let some = |m: &BTreeMap<String, Option<String>>| -> BTreeMap<String, String> {
        m.iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or_else(|| "unset".into())))
            .collect()
    };
    diff(&mut out, "variable", &some(&old.env), &some(&new.env));
    diff(&mut out, "dependency", &old.deps, &new.deps);
    if out.is_empty() && old.key != new.key {
        out.push("the outputs or parci's version changed".into());
    }
    out
}

fn diff(
    out: &mut Vec<String>,
    what: &str,
    old: &BTreeMap<String, String>,
    new: &BTreeMap<String, String>,
) {
    for (k, v) in new {
        match old.get(k) {
            None => out.push(format!("{what} {k} added")),
            Some(o) if o != v => out.push(format!(
                "{what} {k} changed{}",
                if what == "dependency" {
                    " (its key)"
                } else {
                    ""
                }
            )),
            _ => {}
        }
    }
    for k in old.keys().filter(|k| !new.contains_key(*k)) {
        out.push(format!("{what} {k} removed"));
    }
}

/// A record as JSON (stored beside the cache for `--explain`).
pub fn to_json(r: &Record) -> Value {
    serde_json::to_value(r).expect("a record serializes")
}
