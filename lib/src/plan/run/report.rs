//! What a run reports: the receipt's `results` and `measurements`, one problem
//! line per task that did not succeed, and the verify-receipt gate of
//! `parci.run-parallel`.

use super::state::{Status, TaskState};
use super::Outcome;
use crate::plan::{Dag, Plan};

/// The receipt's `results`: per task (plan order, keyed by ID) its final
/// status, attempts, dependencies, whether it was resumed and why it did not
/// run; and the totals per status.
pub fn results_json(plan: &Plan, dag: &Dag, o: &Outcome) -> serde_json::Value {
    use serde_json::json;
    let ids = |v: &[u32]| -> Vec<&str> {
        v.iter()
            .map(|&d| plan.achievements[d as usize].id.as_str())
            .collect()
    };
    let mut tasks = serde_json::Map::new();
    for (i, (a, t)) in plan.achievements.iter().zip(&o.tasks).enumerate() {
        tasks.insert(
            a.id.clone(),
            json!({
                "status": t.status.as_str(),
                "attempts": t.attempts,
                "milestone": a.command.is_none(),
                "resumed": t.resumed,
                "dependencies": ids(dag.deps(i as u32)),
                "exit_code": t.exit_code,
                "because": t.because.clone(),
            }),
        );
    }
    json!({
        "tasks": tasks,
        "totals": {
            "tasks": o.tasks.len(),
            "succeeded": o.count(Status::Succeeded),
            "failed": o.count(Status::Failed),
            "skipped": o.count(Status::Skipped),
            "not_run": o.count(Status::NotRun),
            "interrupted": o.count(Status::Interrupted),
            "excluded": o.count(Status::Excluded),
            "cached": o.count(Status::Cached),
            "resumed": o.tasks.iter().filter(|t| t.resumed).count(),
            "milestones": plan.achievements.iter().filter(|a| a.command.is_none()).count(),
        },
    })
}

/// The receipt's `measurements`: makespan, the sum of task durations, speedup,
/// efficiency (speedup / jobs), the lower bound max(critical path, total / jobs)
/// and the makespan against it, per-task durations and the completion order.
/// Only tasks that ran in this run count (resumed ones weigh 0).
pub fn measurements_json(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    jobs: usize,
    o: &Outcome,
) -> Result<serde_json::Value, crate::receipt::canonical::NonFinite> {
    use crate::receipt::canonical::finite;
    use serde_json::json;
    let ran = |t: &TaskState| {
        if t.resumed {
            0.0
        } else {
            t.duration_ms.unwrap_or(0.0)
        }
    };
    let w: Vec<f64> = o.tasks.iter().map(ran).collect();
    let total: f64 = w.iter().sum();
    let critical = dag.tails(order, &w).into_iter().fold(0.0f64, f64::max);
    let bound = critical.max(total / jobs as f64);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let speedup = ratio(total, o.makespan_ms);
    let mut durations = serde_json::Map::new();
    for (a, t) in plan.achievements.iter().zip(&o.tasks) {
        if !t.resumed {
            if let Some(d) = t.duration_ms {
                durations.insert(a.id.clone(), finite(d)?);
            }
        }
    }
    let completion: Vec<&str> = o
        .completion_order
        .iter()
        .map(|&i| plan.achievements[i as usize].id.as_str())
        .collect();
    Ok(json!({
        "makespan_ms": finite(o.makespan_ms)?,
        "task_ms_total": finite(total)?,
        "speedup": finite(speedup)?,
        "efficiency": finite(speedup / jobs as f64)?,
        "critical_path_ms": finite(critical)?,
        "lower_bound_ms": finite(bound)?,
        "makespan_over_bound": finite(ratio(o.makespan_ms, bound))?,
        "durations_ms": durations,
        "completion_order": completion,
    }))
}

/// One line per task that did not succeed, for the summary and the verdict.
pub fn problems(plan: &Plan, o: &Outcome) -> Vec<String> {
    let mut out = Vec::new();
    for (a, t) in plan.achievements.iter().zip(&o.tasks) {
        let line = match t.status {
            Status::Failed => match (t.exit_code, t.signal, &t.because) {
                (_, _, Some(why)) => format!("{} failed: {why}", a.id),
                (Some(c), _, _) => format!("{} failed (exit {c})", a.id),
                (_, Some(s), _) => format!("{} failed (signal {s})", a.id),
                _ => format!("{} failed", a.id),
            },
            Status::Skipped => format!(
                "{} skipped: dependency {} failed",
                a.id,
                t.because.as_deref().unwrap_or("?")
            ),
            Status::NotRun if o.interrupted => format!("{} not run: the run was interrupted", a.id),
            Status::NotRun => format!(
                "{} not run: the run stopped after a failure (fail-fast)",
                a.id
            ),
            Status::Interrupted => format!("{} interrupted", a.id),
            _ => continue,
        };
        out.push(line);
    }
    out
}

/// verify-receipt gate of `parci.run-parallel`: totals agree with the per-task
/// entries, and no task succeeded unless every dependency did.
pub fn gate_run_consistent(doc: &serde_json::Value, out: &mut crate::findings::Findings) {
    let r = &doc["results"];
    let Some(tasks) = r["tasks"].as_object() else {
        return;
    };
    let totals = &r["totals"];
    let count =
        |f: &dyn Fn(&serde_json::Value) -> bool| tasks.values().filter(|t| f(t)).count() as u64;
    if totals["tasks"].as_u64() != Some(tasks.len() as u64) {
        out.error(
            "/results/totals/tasks",
            format!(
                "totals.tasks = {} but {} tasks are listed",
                totals["tasks"],
                tasks.len()
            ),
        );
    }
    for s in [
        Status::Succeeded,
        Status::Failed,
        Status::Skipped,
        Status::NotRun,
        Status::Interrupted,
        Status::Excluded,
        Status::Cached,
    ] {
        let n = count(&|t| t["status"] == s.as_str());
        // receipts from before the cache have no totals.cached
        if s == Status::Cached && totals.get("cached").is_none() && n == 0 {
            continue;
        }
        if totals[s.as_str()].as_u64() != Some(n) {
            out.error(
                format!("/results/totals/{}", s.as_str()),
                format!(
                    "totals.{0} = {1} but {n} tasks are {0}",
                    s.as_str(),
                    totals[s.as_str()]
                ),
            );
        }
    }
    let resumed = count(&|t| t["resumed"] == true);
    if totals["resumed"].as_u64() != Some(resumed) {
        out.error(
            "/results/totals/resumed",
            format!(
                "totals.resumed = {} but {resumed} tasks are resumed",
                totals["resumed"]
            ),
        );
    }
    for (id, t) in tasks {
        if t["status"] != "succeeded" && t["status"] != "cached" {
            continue;
        }
        for d in t["dependencies"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let ds = d.as_str().and_then(|d| tasks.get(d)).map(|x| &x["status"]);
            if ds.is_none_or(|s| s != "succeeded" && s != "excluded" && s != "cached") {
                out.error(
                    format!("/results/tasks/{}", crate::jsonpos::escape_token(id)),
                    format!(
                        "{id} succeeded although its dependency {} is {}",
                        d.as_str().unwrap_or("?"),
                        ds.and_then(|s| s.as_str()).unwrap_or("missing")
                    ),
                );
            }
        }
    }
}
