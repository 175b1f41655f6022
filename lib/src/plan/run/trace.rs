//! `run-parallel --trace FILE`: the run as a Chrome trace (the Trace Event
//! Format's JSON object form), which Perfetto (ui.perfetto.dev) and
//! chrome://tracing open. Each task that ran or was restored is one
//! complete event (`"ph": "X"`) on a worker lane (`tid`): lanes are handed
//! out in start order, a task taking the lowest lane free when it started,
//! so there are never more lanes than tasks at once. Cache hits are in
//! category `cached`, tasks that ran in `task`; `args` carries the status,
//! attempts, exit code and title. Times are microseconds from the first
//! start.

use super::{Outcome, Status};
use crate::plan::Plan;
use serde_json::{json, Value};

/// The trace of run `o` of `plan`, named `name`.
pub fn chrome(plan: &Plan, o: &Outcome, name: &str) -> Value {
    // (start µs, end µs, task) of every task with a start
    let mut spans: Vec<(u64, u64, usize)> = o
        .tasks
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let start = t.start_ms? * 1000;
            let dur = (t.duration_ms.unwrap_or(0.0) * 1000.0).round().max(1.0) as u64;
            Some((start, start + dur, i))
        })
        .collect();
    spans.sort();
    let origin = spans.first().map_or(0, |s| s.0);
    let mut lane_free_at: Vec<u64> = Vec::new();
    let mut events = vec![json!({
        "name": "process_name", "ph": "M", "pid": 1, "tid": 0,
        "args": {"name": format!("run-parallel {name}")},
    })];
    let mut spans_out = Vec::new();
    for (start, end, i) in spans {
        let lane = match lane_free_at.iter().position(|&f| f <= start) {
            Some(l) => l,
            None => {
                lane_free_at.push(0);
                lane_free_at.len() - 1
            }
        };
        lane_free_at[lane] = end;
        let (a, t) = (&plan.achievements[i], &o.tasks[i]);
        spans_out.push(json!({
            "name": a.id,
            "cat": if t.status == Status::Cached { "cached" } else { "task" },
            "ph": "X",
            "ts": start - origin,
            "dur": end - start,
            "pid": 1,
            "tid": lane + 1,
            "args": {
                "title": a.label(),
                "status": t.status.as_str(),
                "cached": t.status == Status::Cached,
                "attempts": t.attempts,
                "exit_code": t.exit_code,
            },
        }));
    }
    for l in 0..lane_free_at.len() {
        events.push(json!({
            "name": "thread_name", "ph": "M", "pid": 1, "tid": l + 1,
            "args": {"name": format!("lane {}", l + 1)},
        }));
    }
    events.extend(spans_out);
    json!({
        "traceEvents": events,
        "displayTimeUnit": "ms",
        "otherData": {"tool": "run-parallel", "version": env!("CARGO_PKG_VERSION")},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::run::TaskState;

    fn task(status: Status, start_ms: u64, dur_ms: f64) -> TaskState {
        TaskState {
            status,
            command_hash: None,
            attempts: 1,
            exit_code: Some(0),
            signal: None,
            start_ms: Some(start_ms),
            end_ms: Some(start_ms + dur_ms as u64),
            duration_ms: Some(dur_ms),
            because: None,
            resumed: false,
            log: None,
            timed_out: false,
            history: vec![],
        }
    }

    #[test]
    fn overlapping_tasks_get_lanes_and_hits_are_marked() {
        let plan = Plan::parse_text(
            r#"{"plan_name": "t", "achievements": [
              {"achievement_id": "a", "dependencies": [], "command": "true"},
              {"achievement_id": "b", "dependencies": [], "command": "true"},
              {"achievement_id": "c", "dependencies": ["a"], "command": "true"}]}"#,
        )
        .unwrap();
        let o = Outcome {
            tasks: vec![
                task(Status::Succeeded, 1000, 50.0),
                task(Status::Succeeded, 1010, 100.0),
                task(Status::Cached, 1060, 2.0),
            ],
            completion_order: vec![0, 2, 1],
            makespan_ms: 110.0,
            had_previous: false,
            interrupted: false,
        };
        let t = chrome(&plan, &o, "p");
        let ev = t["traceEvents"].as_array().unwrap();
        let x: Vec<&Value> = ev.iter().filter(|e| e["ph"] == "X").collect();
        let by = |id: &str| *x.iter().find(|e| e["name"] == id).unwrap();
        assert_eq!(
            (by("a")["tid"].as_u64(), by("b")["tid"].as_u64()),
            (Some(1), Some(2))
        );
        // c starts after a ended: a's lane again
        assert_eq!(by("c")["tid"], 1);
        assert_eq!(by("c")["cat"], "cached");
        assert_eq!(by("a")["ts"], 0);
        assert_eq!(by("b")["ts"], 10_000);
        assert_eq!(by("b")["dur"], 100_000);
        assert_eq!(ev.iter().filter(|e| e["name"] == "thread_name").count(), 2);
    }
}
