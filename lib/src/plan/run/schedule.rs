//! What runs next: each task's weight and rank (the ready order), which tasks
//! `--only`/`--skip` leave out, and the dry run's simulation of a run by the
//! same rules.

use super::state::{StateFile, Status};
use crate::plan::{Dag, Plan};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// The scheduling weight of each task: its previous measured duration (ms) when
/// the state has one, else its estimate in ms, plus a hair so that longer
/// chains of unknowns win over shorter ones.
pub fn weights(plan: &Plan, previous: Option<&StateFile>) -> Vec<f64> {
    plan.achievements
        .iter()
        .map(|a| {
            let measured = previous
                .and_then(|p| p.tasks.get(&a.id))
                .filter(|t| t.status == Status::Succeeded && !t.resumed)
                .and_then(|t| t.duration_ms);
            let est = a.hours.map(|h| (h.min + h.max) / 2.0 * 3.6e6);
            measured.or(est).unwrap_or(0.0) + 1e-3
        })
        .collect()
}

/// Each task's place in the ready order (0 runs first): higher priority, then the
/// heaviest remaining path, then ID.
pub fn ranks(plan: &Plan, dag: &Dag, order: &[u32], weight: &[f64]) -> Vec<u32> {
    let tail = dag.tails(order, weight);
    let a = &plan.achievements;
    let mut idx: Vec<u32> = (0..a.len() as u32).collect();
    idx.sort_by(|&x, &y| {
        let (x, y) = (x as usize, y as usize);
        a[y].rank_priority()
            .cmp(&a[x].rank_priority())
            .then(tail[y].total_cmp(&tail[x]))
            .then(a[x].id.cmp(&a[y].id))
    });
    let mut rank = vec![0u32; a.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i as usize] = r as u32;
    }
    rank
}

/// Which tasks `--only IDS` (with their dependencies) and `--skip IDS` leave
/// out, per task in plan order; an unknown ID is an error naming it.
pub fn selection(
    plan: &Plan,
    dag: &Dag,
    only: Option<&[String]>,
    skip: &[String],
) -> Result<Vec<bool>, String> {
    let index = crate::plan::dag::id_index(plan);
    let find = |flag: &str, id: &String| {
        index
            .get(id.as_str())
            .copied()
            .ok_or_else(|| format!("{flag}: {id:?} is not an achievement of the plan"))
    };
    let n = plan.achievements.len();
    let mut exclude = vec![false; n];
    if let Some(only) = only {
        exclude = vec![true; n];
        let mut stack = only
            .iter()
            .map(|id| find("--only", id))
            .collect::<Result<Vec<u32>, _>>()?;
        while let Some(i) = stack.pop() {
            if std::mem::replace(&mut exclude[i as usize], false) {
                stack.extend_from_slice(dag.deps(i));
            }
        }
    }
    for id in skip {
        exclude[find("--skip", id)? as usize] = true;
    }
    Ok(exclude)
}

/// A dry run's schedule: when each task would start and end with `jobs`
/// slots, by the same ranks and rules as a real run (exclusive tasks alone,
/// milestones take no time or slot), with durations from [`weights`].
#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    /// (task index, start ms, end ms), in start order.
    pub slots: Vec<(u32, f64, f64)>,
    pub makespan_ms: f64,
    /// Every task one after another.
    pub sequential_ms: f64,
    /// The heaviest dependency chain, task indices from start to end.
    pub critical_path: Vec<u32>,
    pub critical_ms: f64,
}

/// Simulates a run without starting anything (`--dry-run`).
/// `exclude` (per task, may be empty) are left out as by `--only`/`--skip`:
/// they take no time and no slot.
pub fn simulate(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    weight: &[f64],
    jobs: usize,
    exclude: &[bool],
    budget: &super::resources::Budget,
) -> Schedule {
    let n = plan.achievements.len();
    let out = |i: usize| exclude.get(i).copied().unwrap_or(false);
    let dur = |i: usize| {
        if plan.achievements[i].command.is_none() || out(i) {
            0.0
        } else {
            weight[i]
        }
    };
    let rank = ranks(plan, dag, order, weight);
    let mut by_rank = vec![0u32; n];
    for (i, &r) in rank.iter().enumerate() {
        by_rank[r as usize] = i as u32;
    }
    let mut waiting: Vec<u32> = (0..n as u32).map(|i| dag.deps(i).len() as u32).collect();
    let mut ready: BinaryHeap<Reverse<u32>> = (0..n)
        .filter(|&i| waiting[i] == 0)
        .map(|i| Reverse(rank[i]))
        .collect();
    // (end time in µs, task) of running tasks.
    let mut running: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::new();
    let mut slots = Vec::with_capacity(n);
    let (mut now, mut exclusive) = (0.0f64, false);
    let need = |i: u32| super::resources::need(&plan.achievements[i as usize]);
    let mut used = super::resources::Budget {
        cpus: 0.0,
        memory_mb: 0.0,
    };
    let mut done = |i: u32, ready: &mut BinaryHeap<Reverse<u32>>| {
        for &d in dag.dependents(i) {
            waiting[d as usize] -= 1;
            if waiting[d as usize] == 0 {
                ready.push(Reverse(rank[d as usize]));
            }
        }
    };
    loop {
        while let Some(&Reverse(r)) = ready.peek() {
            let i = by_rank[r as usize];
            let a = &plan.achievements[i as usize];
            if a.command.is_none() || out(i as usize) {
                ready.pop();
                if !out(i as usize) {
                    slots.push((i, now, now));
                }
                done(i, &mut ready);
                continue;
            }
            if exclusive || running.len() >= jobs || (a.exclusive && !running.is_empty()) {
                break;
            }
            if !running.is_empty() && !budget.fits(used, need(i)) {
                break;
            }
            ready.pop();
            used.add(need(i));
            exclusive |= a.exclusive;
            let end = now + dur(i as usize);
            slots.push((i, now, end));
            running.push(Reverse(((end * 1e3) as u64, i)));
        }
        let Some(Reverse((end, i))) = running.pop() else {
            break;
        };
        now = now.max(end as f64 / 1e3);
        used.sub(need(i));
        if plan.achievements[i as usize].exclusive {
            exclusive = false;
        }
        done(i, &mut ready);
    }
    let w: Vec<f64> = (0..n).map(dur).collect();
    let critical_path = dag.longest_path(order, &w);
    Schedule {
        makespan_ms: slots.iter().map(|s| s.2).fold(0.0, f64::max),
        sequential_ms: w.iter().sum(),
        critical_ms: critical_path.iter().map(|&i| w[i as usize]).sum(),
        critical_path,
        slots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::dag::id_index;
    use crate::plan::run::resources::Budget;
    use crate::plan::run::tests::plan;

    #[test]
    fn a_dry_run_schedules_like_the_executor() {
        let mut p = plan(&[
            ("a", &[], Some("x")),
            ("b", &["a"], Some("x")),
            ("c", &[], Some("x")),
            ("m", &["b", "c"], None),
        ]);
        for (i, h) in [(0, 1.0), (1, 2.0), (2, 2.0)] {
            p.achievements[i].hours = Some(crate::plan::Hours::exact(h));
        }
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let order = dag.topo_order().unwrap();
        let w = weights(&p, None);
        let h = 3.6e6;
        let s = simulate(&p, &dag, &order, &w, 2, &[], &Budget::UNLIMITED);
        assert!((s.makespan_ms - 3.0 * h).abs() < 1.0, "{s:?}");
        assert!((s.sequential_ms - 5.0 * h).abs() < 1.0);
        let ids: Vec<&str> = s
            .critical_path
            .iter()
            .map(|&i| p.achievements[i as usize].id.as_str())
            .collect();
        assert_eq!(ids, ["a", "b", "m"]);
        let s1 = simulate(&p, &dag, &order, &w, 1, &[], &Budget::UNLIMITED);
        assert!((s1.makespan_ms - 5.0 * h).abs() < 1.0);
        // --skip b: b takes no time and no slot.
        let s = simulate(
            &p,
            &dag,
            &order,
            &w,
            1,
            &[false, true, false, false],
            &Budget::UNLIMITED,
        );
        assert!((s.makespan_ms - 3.0 * h).abs() < 1.0, "{s:?}");
        assert!(s.slots.iter().all(|x| x.0 != 1), "{s:?}");
    }

    #[test]
    fn ranks_priority_then_longest_path_then_id() {
        let p = plan(&[
            ("z", &[], Some("true")),
            ("y", &[], Some("true")),
            ("x", &["y"], Some("true")),
        ]);
        let dag = Dag::from_plan_with(&p, &id_index(&p));
        let order = dag.topo_order().unwrap();
        let r = ranks(&p, &dag, &order, &weights(&p, None));
        assert_eq!(
            r,
            [2, 0, 1],
            "y heads the longer chain, then x before z by ID"
        );
        let mut p = p;
        p.achievements[0].priority = Some(1);
        let r = ranks(&p, &dag, &order, &weights(&p, None));
        assert_eq!(r, [0, 1, 2], "a higher priority goes first");
    }
}
