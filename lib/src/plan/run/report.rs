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

/// What a run's figures derive from its task durations, critical path, jobs
/// and makespan: computed here for the receipt, and again by the gate.
struct Figures {
    total: f64,
    speedup: f64,
    efficiency: f64,
    bound: f64,
    over_bound: f64,
}

impl Figures {
    fn of(durations: &[f64], critical: f64, jobs: usize, makespan: f64) -> Figures {
        let total: f64 = durations.iter().sum();
        let bound = critical.max(total / jobs as f64);
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        let speedup = ratio(total, makespan);
        Figures {
            total,
            speedup,
            efficiency: speedup / jobs as f64,
            bound,
            over_bound: ratio(makespan, bound),
        }
    }
}

/// The measurement gate of `parci.run-parallel`: the totals, ratios and
/// bound are what the recorded durations, critical path, jobs and makespan
/// give; the critical path lies between the longest task and the sum, the
/// makespan is at least the critical path, and every task with a duration
/// completed (milestones and cache hits complete without one).
fn gate_run_measurements(doc: &serde_json::Value, out: &mut crate::findings::Findings) {
    let m = &doc["measurements"];
    let Some(durations) = m["durations_ms"].as_object() else {
        return;
    };
    // In plan order (the receipt's task order), as the figures were summed.
    let order: Vec<&String> = doc["results"]["tasks"]
        .as_object()
        .map(|t| t.keys().filter(|k| durations.contains_key(*k)).collect())
        .unwrap_or_default();
    if order.len() != durations.len() {
        out.error(
            "/measurements/durations_ms",
            "a duration for a task the results do not list",
        );
        return;
    }
    let w: Vec<f64> = order
        .iter()
        .map(|k| durations[k.as_str()].as_f64().unwrap_or(f64::NAN))
        .collect();
    let (Some(critical), Some(makespan), Some(jobs)) = (
        m["critical_path_ms"].as_f64(),
        m["makespan_ms"].as_f64(),
        doc["inputs"]["jobs"].as_u64().filter(|&j| j > 0),
    ) else {
        return;
    };
    let f = Figures::of(&w, critical, jobs as usize, makespan);
    let same = |a: f64, b: f64| a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs());
    for (k, want) in [
        ("task_ms_total", f.total),
        ("speedup", f.speedup),
        ("efficiency", f.efficiency),
        ("lower_bound_ms", f.bound),
        ("makespan_over_bound", f.over_bound),
    ] {
        if !m[k].as_f64().is_some_and(|v| same(v, want)) {
            out.error(
                format!("/measurements/{k}"),
                format!(
                    "{k} is {} but the recorded durations, critical path, jobs and makespan give {want}",
                    m[k]
                ),
            );
        }
    }
    let longest = w.iter().copied().fold(0.0f64, f64::max);
    if critical < longest * (1.0 - 1e-9) || critical > f.total * (1.0 + 1e-9) {
        out.error(
            "/measurements/critical_path_ms",
            format!(
                "the critical path ({critical} ms) must lie between the longest task ({longest} ms) and the sum of all ({} ms)",
                f.total
            ),
        );
    }
    if makespan < critical * (1.0 - 1e-9) {
        out.error(
            "/measurements/makespan_ms",
            format!(
                "the makespan ({makespan} ms) is shorter than the critical path ({critical} ms)"
            ),
        );
    }
    let done: Vec<&str> = m["completion_order"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    if let Some(k) = durations.keys().find(|k| !done.contains(&k.as_str())) {
        out.error(
            "/measurements/completion_order",
            format!("{k} has a duration but is not in the completion order"),
        );
    }
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
    let critical = dag.tails(order, &w).into_iter().fold(0.0f64, f64::max);
    let f = Figures::of(&w, critical, jobs, o.makespan_ms);
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
        "task_ms_total": finite(f.total)?,
        "speedup": finite(f.speedup)?,
        "efficiency": finite(f.efficiency)?,
        "critical_path_ms": finite(critical)?,
        "lower_bound_ms": finite(f.bound)?,
        "makespan_over_bound": finite(f.over_bound)?,
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
/// entries, no task succeeded unless every dependency did, and the
/// measurements agree with each other ([`gate_run_measurements`]).
pub fn gate_run_consistent(doc: &serde_json::Value, out: &mut crate::findings::Findings) {
    gate_run_measurements(doc, out);
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
