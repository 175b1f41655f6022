//! The status report of a valid (acyclic) plan: what is done, what can start
//! next, what waits on what, the critical path, how much can run in parallel
//! and how many batches the rest takes at N workers.
//!
//! Work is weighed by the upper end of `estimated_hours` (pessimistic; an
//! achievement without an estimate weighs 0). When no achievement has an
//! estimate, every achievement weighs 1 and `weight_unit` says `achievements`.

use super::dag::{widths, Dag};
use super::fsstate::State;
use super::model::{Hours, Plan};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

/// A range of hours in a report.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct HoursRange {
    pub min: f64,
    pub max: f64,
}

impl From<Hours> for HoursRange {
    fn from(h: Hours) -> Self {
        HoursRange {
            min: round2(h.min),
            max: round2(h.max),
        }
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// A path through the plan, dependencies first.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathReport {
    pub ids: Vec<String>,
    pub hours: HoursRange,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LevelRow {
    pub level: u32,
    /// Achievements on this level.
    pub width: u32,
    /// Of which complete or skipped.
    pub done: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Blocked {
    pub id: String,
    /// Its dependencies that are not complete or skipped.
    pub waiting_on: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Parallelization {
    /// Share of the remaining work off the remaining critical path: what extra
    /// workers can take on (0 = strictly sequential).
    pub parallel_share: f64,
    /// Remaining work / remaining critical path: the most any number of workers can gain.
    pub max_speedup: f64,
    /// Most achievements on one level of the remaining work.
    pub widest_level: u32,
    /// The widest remaining level, capped by `--max-workers`.
    pub recommended_workers: u32,
    pub max_workers: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BatchStat {
    pub workers: u32,
    /// Rounds needed for the remaining work, each round starting when the
    /// previous one ended (batch by batch, as batch-create and CI fan-out do).
    pub batches: u32,
    /// Sum over rounds of the longest upper estimate in the round.
    pub hours: f64,
}

/// Everything `status` shows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub plan_name: String,
    pub total: u32,
    /// Achievements per status (all seven, zero included).
    pub counts: BTreeMap<&'static str, u32>,
    /// (complete + skipped) / total × 100, two decimals.
    pub percent_complete: f64,
    /// Status of each achievement by ID.
    pub statuses: BTreeMap<String, &'static str>,
    /// Dependency level of each achievement, in plan order (same order as the plan).
    #[serde(skip)]
    pub level_of: Vec<u32>,
    pub levels: Vec<LevelRow>,
    /// Not complete, not running, every dependency complete or skipped; in the
    /// order to start them (priority, then most work hanging on it, then plan order).
    pub next_batch: Vec<String>,
    pub in_progress: Vec<String>,
    /// Failed (a FIX review without a later APPROVED): need a fix before anything after them.
    pub failed: Vec<String>,
    /// Blocked achievements (the receipt lists the first [`MAX_BLOCKED_LISTED`]).
    #[serde(serialize_with = "first_blocked")]
    pub blocked: Vec<Blocked>,
    /// How many achievements are blocked in all.
    pub blocked_total: u32,
    /// Why nothing can start although work remains; `None` otherwise.
    pub stalled: Option<String>,
    pub weight_unit: &'static str,
    pub hours: HoursTotals,
    pub critical_path: PathReport,
    pub remaining_critical_path: PathReport,
    pub parallelization: Parallelization,
    pub batches: Vec<BatchStat>,
    /// One record per achievement, in plan order: what the table shows of it.
    pub achievements: Vec<AchievementRow>,
}

/// An achievement as `status --format json` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AchievementRow {
    pub id: String,
    pub title: Option<String>,
    pub status: &'static str,
    /// Dependency level: 0 without dependencies, else 1 + the highest level
    /// of its dependencies.
    pub level: u32,
    /// `estimated_hours` as a range, or null.
    pub hours: Option<HoursRange>,
    /// Its dependencies that are not complete or skipped.
    pub blocked_by: Vec<String>,
    /// On the plan's critical path (the longest path by upper estimate).
    pub on_critical_path: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HoursTotals {
    pub total: HoursRange,
    pub done: HoursRange,
    pub remaining: HoursRange,
    /// Achievements without `estimated_hours`.
    pub unestimated: u32,
}

/// Blocked achievements listed in a receipt at most (`blocked_total` counts all),
/// so a 100 000-achievement plan's receipt stays well inside verify-receipt's cap.
pub const MAX_BLOCKED_LISTED: usize = 1000;

fn first_blocked<S: serde::Serializer>(b: &[Blocked], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(b.iter().take(MAX_BLOCKED_LISTED))
}

/// Builds the report. `order` is a topological order of `dag`; `states` the
/// status of each achievement.
pub fn report(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    states: &[State],
    max_workers: Option<u32>,
) -> Report {
    let n = plan.achievements.len();
    let ids = |v: &[u32]| -> Vec<String> {
        v.iter()
            .map(|&i| plan.achievements[i as usize].id.clone())
            .collect()
    };
    let mut counts: BTreeMap<&'static str, u32> =
        State::ALL.iter().map(|s| (s.as_str(), 0)).collect();
    for s in states {
        *counts.get_mut(s.as_str()).expect("all states") += 1;
    }
    let done_n = states.iter().filter(|s| s.is_done()).count() as u64;
    let percent_complete = (done_n * 10_000 + n as u64 / 2)
        .checked_div(n as u64)
        .map_or(100.0, |q| q as f64 / 100.0);

    let level_of = dag.levels(order);
    let mut levels: Vec<LevelRow> = widths(&level_of)
        .into_iter()
        .enumerate()
        .map(|(l, w)| LevelRow {
            level: l as u32,
            width: w,
            done: 0,
        })
        .collect();
    for (i, &l) in level_of.iter().enumerate() {
        if states[i].is_done() {
            levels[l as usize].done += 1;
        }
    }

    // Weights: upper estimates, or one per achievement when nothing is estimated.
    let estimated = plan.achievements.iter().any(|a| a.hours.is_some());
    let weight_unit = if estimated { "hours" } else { "achievements" };
    let weight: Vec<f64> = plan
        .achievements
        .iter()
        .map(|a| {
            if estimated {
                a.hours.map_or(0.0, |h| h.max)
            } else {
                1.0
            }
        })
        .collect();
    let remaining_weight: Vec<f64> = (0..n)
        .map(|i| if states[i].is_done() { 0.0 } else { weight[i] })
        .collect();
    let hours_of = |path: &[u32]| -> HoursRange {
        let mut h = Hours::exact(0.0);
        for &v in path {
            if let Some(x) = plan.achievements[v as usize].hours {
                h.min += x.min;
                h.max += x.max;
            }
        }
        h.into()
    };
    let whole = dag.longest_path(order, &weight);
    let rest: Vec<u32> = dag
        .longest_path(order, &remaining_weight)
        .into_iter()
        .filter(|&v| !states[v as usize].is_done())
        .collect();

    // Next batch, running, failed, blocked.
    let tails = dag.tails(order, &remaining_weight);
    let deps_done = |i: u32| dag.deps(i).iter().all(|&d| states[d as usize].is_done());
    let mut next: Vec<u32> = (0..n as u32)
        .filter(|&i| states[i as usize].is_startable() && deps_done(i))
        .collect();
    next.sort_by_key(|&i| start_key(plan, &tails, i));
    let in_progress: Vec<u32> = (0..n as u32)
        .filter(|&i| states[i as usize] == State::InProgress)
        .collect();
    let failed: Vec<u32> = (0..n as u32)
        .filter(|&i| states[i as usize] == State::Failed)
        .collect();
    let blocked: Vec<Blocked> = (0..n as u32)
        .filter(|&i| !states[i as usize].is_done() && !deps_done(i))
        .map(|i| Blocked {
            id: plan.achievements[i as usize].id.clone(),
            waiting_on: dag
                .deps(i)
                .iter()
                .filter(|&&d| !states[d as usize].is_done())
                .map(|&d| plan.achievements[d as usize].id.clone())
                .collect(),
        })
        .collect();
    let remaining = n - done_n as usize;
    let stalled = (next.is_empty() && remaining > 0).then(|| {
        let list = |v: &[u32]| {
            let shown: Vec<String> = ids(&v[..v.len().min(10)]);
            let more = v.len().saturating_sub(10);
            if more > 0 {
                format!("{} and {more} more", shown.join(", "))
            } else {
                shown.join(", ")
            }
        };
        let mut why = Vec::new();
        if !in_progress.is_empty() {
            why.push(format!(
                "waiting on {} in progress ({})",
                in_progress.len(),
                list(&in_progress)
            ));
        }
        if !failed.is_empty() {
            why.push(format!(
                "{} failed and need a fix (a review asked for one in a FIX file): {}",
                failed.len(),
                list(&failed)
            ));
        }
        format!(
            "nothing can start: {} {}; {}",
            crate::text::count(remaining as u64, "achievement"),
            if remaining == 1 { "remains" } else { "remain" },
            why.join("; ")
        )
    });

    // Remaining levels: levels of the work left, done dependencies ignored.
    let mut rlevel = vec![0u32; n];
    let mut rwidth: Vec<u32> = Vec::new();
    for &v in order {
        if states[v as usize].is_done() {
            continue;
        }
        let l = dag
            .deps(v)
            .iter()
            .filter(|&&d| !states[d as usize].is_done())
            .map(|&d| rlevel[d as usize] + 1)
            .max()
            .unwrap_or(0);
        rlevel[v as usize] = l;
        if rwidth.len() <= l as usize {
            rwidth.resize(l as usize + 1, 0);
        }
        rwidth[l as usize] += 1;
    }
    let widest = rwidth.iter().copied().max().unwrap_or(0);
    let recommended = max_workers.map_or(widest, |m| widest.min(m.max(1)));
    let work: f64 = remaining_weight.iter().sum();
    let span: f64 = rest.iter().map(|&v| remaining_weight[v as usize]).sum();
    let parallelization = Parallelization {
        parallel_share: if work > 0.0 {
            ((work - span) / work * 10_000.0).round() / 10_000.0
        } else {
            0.0
        },
        max_speedup: if span > 0.0 { round2(work / span) } else { 1.0 },
        widest_level: widest,
        recommended_workers: recommended,
        max_workers,
    };

    // Batch statistics at 1, 2, 4, … workers up to the recommended count.
    let mut counts_w: Vec<u32> = [1u32, 2, 4, 8, 16, 32, 64]
        .into_iter()
        .filter(|&w| w < recommended)
        .collect();
    if recommended > 0 {
        counts_w.push(recommended);
    }
    let sim = Sim::new(plan, dag, states, &tails, &remaining_weight);
    // Independent simulations: one per worker count, in parallel (order kept).
    let batches = {
        use rayon::prelude::*;
        counts_w.par_iter().map(|&w| sim.run(w)).collect()
    };

    let (mut total, mut done_h) = (Hours::exact(0.0), Hours::exact(0.0));
    let mut unestimated = 0;
    for (i, a) in plan.achievements.iter().enumerate() {
        match a.hours {
            Some(h) => {
                total.min += h.min;
                total.max += h.max;
                if states[i].is_done() {
                    done_h.min += h.min;
                    done_h.max += h.max;
                }
            }
            None => unestimated += 1,
        }
    }
    let mut on_path = vec![false; n];
    for &v in &whole {
        on_path[v as usize] = true;
    }
    let achievements = (0..n)
        .map(|i| {
            let a = &plan.achievements[i];
            AchievementRow {
                id: a.id.clone(),
                title: a.title.clone(),
                status: states[i].as_str(),
                level: level_of[i],
                hours: a.hours.map(Into::into),
                blocked_by: dag
                    .deps(i as u32)
                    .iter()
                    .filter(|&&d| !states[d as usize].is_done())
                    .map(|&d| plan.achievements[d as usize].id.clone())
                    .collect(),
                on_critical_path: on_path[i],
            }
        })
        .collect();
    Report {
        plan_name: plan.name.clone(),
        total: n as u32,
        counts,
        percent_complete,
        statuses: plan
            .achievements
            .iter()
            .zip(states)
            .map(|(a, s)| (a.id.clone(), s.as_str()))
            .collect(),
        level_of,
        levels,
        next_batch: ids(&next),
        in_progress: ids(&in_progress),
        failed: ids(&failed),
        blocked_total: blocked.len() as u32,
        blocked,
        stalled,
        weight_unit,
        hours: HoursTotals {
            total: total.into(),
            done: done_h.into(),
            remaining: Hours {
                min: total.min - done_h.min,
                max: total.max - done_h.max,
            }
            .into(),
            unestimated,
        },
        critical_path: PathReport {
            ids: ids(&whole),
            hours: hours_of(&whole),
        },
        remaining_critical_path: PathReport {
            ids: ids(&rest),
            hours: hours_of(&rest),
        },
        parallelization,
        batches,
        achievements,
    }
}

/// Start order: higher priority (absent is 0), then most remaining work
/// hanging on it, then plan order.
fn start_key(plan: &Plan, tails: &[f64], i: u32) -> (Reverse<u64>, Reverse<u64>, u32) {
    let a = &plan.achievements[i as usize];
    (
        Reverse(a.rank_priority()),
        Reverse(tails[i as usize].to_bits()),
        i,
    )
}

/// Round-by-round list scheduling of the remaining work.
struct Sim<'a> {
    plan: &'a Plan,
    dag: &'a Dag,
    states: &'a [State],
    weight: &'a [f64],
    /// Each achievement's place in start order (by [`start_key`], which is
    /// unique): the ready heap compares one u32 instead of a key tuple.
    rank: Vec<u32>,
    /// Dependencies not done, per achievement.
    pending: Vec<u32>,
}

impl<'a> Sim<'a> {
    fn new(
        plan: &'a Plan,
        dag: &'a Dag,
        states: &'a [State],
        tails: &'a [f64],
        weight: &'a [f64],
    ) -> Self {
        let n = states.len() as u32;
        Sim {
            plan,
            dag,
            states,
            weight,
            rank: {
                let mut by_key: Vec<u32> = (0..n).collect();
                by_key.sort_unstable_by_key(|&i| start_key(plan, tails, i));
                let mut rank = vec![0u32; n as usize];
                for (r, &i) in by_key.iter().enumerate() {
                    rank[i as usize] = r as u32;
                }
                rank
            },
            pending: (0..n)
                .map(|i| {
                    dag.deps(i)
                        .iter()
                        .filter(|&&d| !states[d as usize].is_done())
                        .count() as u32
                })
                .collect(),
        }
    }

    fn run(&self, workers: u32) -> BatchStat {
        let n = self.states.len();
        if workers == 1 {
            // One at a time: a batch per achievement left, their hours summed.
            let left = (0..n).filter(|&i| !self.states[i].is_done());
            let (count, hours) = left.fold((0u32, 0.0), |(c, h), i| (c + 1, h + self.weight[i]));
            return BatchStat {
                workers,
                batches: count,
                hours: round2(hours),
            };
        }
        let mut pending = self.pending.clone();
        let key = |i: u32| Reverse(self.rank[i as usize]);
        let mut ready: BinaryHeap<(Reverse<u32>, u32)> = (0..n as u32)
            .filter(|&i| !self.states[i as usize].is_done() && pending[i as usize] == 0)
            .map(|i| (key(i), i))
            .collect();
        let (mut batches, mut hours) = (0u32, 0.0f64);
        let mut round = Vec::new();
        let mut deferred = Vec::new();
        while !ready.is_empty() {
            round.clear();
            while let Some((k, i)) = ready.pop() {
                if self.plan.achievements[i as usize].exclusive {
                    if round.is_empty() {
                        round.push(i);
                        break;
                    }
                    deferred.push((k, i));
                    continue;
                }
                round.push(i);
                if round.len() as u32 >= workers {
                    break;
                }
            }
            ready.extend(deferred.drain(..));
            batches += 1;
            hours += round
                .iter()
                .map(|&i| self.weight[i as usize])
                .fold(0.0, f64::max);
            for &v in &round {
                for &w in self.dag.dependents(v) {
                    pending[w as usize] -= 1;
                    if pending[w as usize] == 0 {
                        ready.push((key(w), w));
                    }
                }
            }
        }
        BatchStat {
            workers,
            batches,
            hours: round2(hours),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::fsstate::State::*;

    fn plan(text: &str) -> (Plan, Dag, Vec<u32>) {
        let p = Plan::parse_text(text).unwrap();
        let g = Dag::from_plan(&p);
        let o = g.topo_order().unwrap();
        (p, g, o)
    }

    const DIAMOND: &str = r#"{"plan_name": "D", "achievements": [
        {"achievement_id": "a", "dependencies": [], "estimated_hours": 2},
        {"achievement_id": "b", "dependencies": ["a"], "estimated_hours": "3-5"},
        {"achievement_id": "c", "dependencies": ["a"], "estimated_hours": 1, "priority": 1},
        {"achievement_id": "d", "dependencies": ["b", "c"], "estimated_hours": 1}]}"#;

    #[test]
    fn next_batch_blocked_and_critical_path() {
        let (p, g, o) = plan(DIAMOND);
        let r = report(
            &p,
            &g,
            &o,
            &[Complete, NotStarted, SubplanCreated, NotStarted],
            None,
        );
        assert_eq!(r.next_batch, ["c", "b"], "priority 1 before the default 0");
        assert_eq!(r.blocked.len(), 1);
        assert_eq!(r.blocked[0].waiting_on, ["b", "c"]);
        assert_eq!(r.percent_complete, 25.0);
        assert_eq!(r.critical_path.ids, ["a", "b", "d"]);
        assert_eq!(r.critical_path.hours, HoursRange { min: 6.0, max: 8.0 });
        assert_eq!(r.remaining_critical_path.ids, ["b", "d"]);
        assert_eq!(r.remaining_critical_path.hours.max, 6.0);
        assert_eq!(r.parallelization.widest_level, 2);
        assert_eq!(r.parallelization.recommended_workers, 2);
        // work 7, span 6
        assert_eq!(r.parallelization.parallel_share, 0.1429);
        assert_eq!(
            r.batches,
            vec![
                BatchStat {
                    workers: 1,
                    batches: 3,
                    hours: 7.0
                },
                BatchStat {
                    workers: 2,
                    batches: 2,
                    hours: 6.0
                }
            ]
        );
        assert!(r.stalled.is_none());
        let capped = report(
            &p,
            &g,
            &o,
            &[Complete, NotStarted, SubplanCreated, NotStarted],
            Some(1),
        );
        assert_eq!(capped.parallelization.recommended_workers, 1);
    }

    #[test]
    fn stalled_says_why_and_in_progress_is_not_next() {
        let (p, g, o) = plan(DIAMOND);
        let r = report(
            &p,
            &g,
            &o,
            &[Complete, InProgress, Failed, NotStarted],
            None,
        );
        assert!(r.next_batch.is_empty());
        let why = r.stalled.unwrap();
        assert!(why.contains("3 achievements remain"), "{why}");
        assert!(why.contains("in progress (b)"), "{why}");
        assert!(
            why.contains("need a fix (a review asked for one in a FIX file): c"),
            "{why}"
        );
        let all = report(&p, &g, &o, &[Complete, Skipped, Complete, Complete], None);
        assert!(all.stalled.is_none() && all.next_batch.is_empty());
        assert_eq!(all.percent_complete, 100.0);
        assert_eq!(all.parallelization.recommended_workers, 0);
    }

    #[test]
    fn exclusive_runs_alone() {
        let (p, g, o) = plan(
            r#"{"plan_name": "E", "achievements": [
            {"achievement_id": "a", "dependencies": []},
            {"achievement_id": "b", "dependencies": [], "exclusive": true},
            {"achievement_id": "c", "dependencies": []}]}"#,
        );
        let r = report(&p, &g, &o, &[NotStarted; 3], None);
        assert_eq!(r.weight_unit, "achievements");
        let at3 = r.batches.iter().find(|b| b.workers == 3).unwrap();
        assert_eq!(at3.batches, 2);
    }
}
