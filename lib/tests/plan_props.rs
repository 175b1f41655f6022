//! Property tests of the plan DAG algorithms against brute force, and the
//! whole pipeline (parse, validate, status) on 100 000-achievement plans.

use parci_core::plan::dag::Dag;
use parci_core::plan::fsstate::{RunState, State};
use parci_core::plan::{status, validate, PlanDoc};
use proptest::prelude::*;
use std::collections::HashSet;
use std::path::Path;

/// Nodes reachable from `s` in one or more steps.
fn reach(g: &Dag, s: u32) -> HashSet<u32> {
    let mut seen = HashSet::new();
    let mut stack: Vec<u32> = g.deps(s).to_vec();
    while let Some(v) = stack.pop() {
        if seen.insert(v) {
            stack.extend_from_slice(g.deps(v));
        }
    }
    seen
}

fn graph(n: usize, raw: &[(u32, u32)]) -> (Dag, Vec<(u32, u32)>) {
    let mut edges: Vec<(u32, u32)> = raw
        .iter()
        .map(|&(a, b)| (a % n as u32, b % n as u32))
        .collect();
    edges.sort_unstable();
    edges.dedup();
    (Dag::from_edges(n, &edges), edges)
}

/// A random DAG: edges only from a later to an earlier position of a random permutation.
fn dag(n: usize, raw: &[(u32, u32)], perm_seed: u64) -> (Dag, Vec<(u32, u32)>) {
    let mut perm: Vec<u32> = (0..n as u32).collect();
    let mut s = perm_seed | 1;
    for i in (1..n).rev() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        perm.swap(i, (s % (i as u64 + 1)) as usize);
    }
    let pairs: Vec<(u32, u32)> = raw
        .iter()
        .map(|&(a, b)| (a % n as u32, b % n as u32))
        .filter(|(a, b)| a != b)
        .map(|(a, b)| (perm[a.max(b) as usize], perm[a.min(b) as usize]))
        .collect();
    graph(n, &pairs)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn levels_respect_every_edge(n in 1usize..60, raw in prop::collection::vec((0u32..1000, 0u32..1000), 0..200), seed in any::<u64>()) {
        let (g, edges) = dag(n, &raw, seed);
        let order = g.topo_order().expect("a DAG has a topological order");
        prop_assert_eq!(order.len(), n);
        let mut pos = vec![0usize; n];
        for (i, &v) in order.iter().enumerate() { pos[v as usize] = i; }
        let lv = g.levels(&order);
        for &(a, b) in &edges {
            prop_assert!(pos[b as usize] < pos[a as usize], "dependency after dependent");
            prop_assert!(lv[a as usize] > lv[b as usize], "level does not respect {} -> {}", a, b);
        }
        for v in 0..n as u32 {
            let want = g.deps(v).iter().map(|&d| lv[d as usize] + 1).max().unwrap_or(0);
            prop_assert_eq!(lv[v as usize], want, "levels are minimal");
        }
        prop_assert!(g.cyclic_components().is_empty());
    }

    #[test]
    fn every_cycle_is_found_and_every_reported_cycle_is_real(n in 1usize..30, raw in prop::collection::vec((0u32..1000, 0u32..1000), 0..60)) {
        let (g, edges) = graph(n, &raw);
        let edge: HashSet<(u32, u32)> = edges.iter().copied().collect();
        let reaches: Vec<HashSet<u32>> = (0..n as u32).map(|v| reach(&g, v)).collect();
        let on_cycle: HashSet<u32> = (0..n as u32).filter(|&v| reaches[v as usize].contains(&v)).collect();
        let comps = g.cyclic_components();
        let reported: HashSet<u32> = comps.iter().flatten().copied().collect();
        prop_assert_eq!(&reported, &on_cycle, "no cycle missed, no acyclic node reported");
        prop_assert_eq!(g.topo_order().is_none(), !on_cycle.is_empty());
        for c in &comps {
            for &a in c { for &b in c {
                prop_assert!(a == b || reaches[a as usize].contains(&b), "{} and {} are not strongly connected", a, b);
            }}
        }
        for (comp, path) in comps.iter().zip(g.cycles(&comps)) {
            prop_assert!(path.len() >= 2);
            prop_assert_eq!(path.first(), path.last());
            let inner: HashSet<u32> = path[..path.len() - 1].iter().copied().collect();
            prop_assert_eq!(inner.len(), path.len() - 1, "a simple cycle");
            for w in path.windows(2) {
                prop_assert!(edge.contains(&(w[0], w[1])), "{} -> {} is not a dependency", w[0], w[1]);
                prop_assert!(comp.contains(&w[0]));
            }
        }
    }

    #[test]
    fn critical_path_is_the_heaviest_path(n in 1usize..12, raw in prop::collection::vec((0u32..100, 0u32..100), 0..30), seed in any::<u64>(), w in prop::collection::vec(0u8..10, 12)) {
        let (g, _) = dag(n, &raw, seed);
        let order = g.topo_order().unwrap();
        let weight: Vec<f64> = (0..n).map(|i| w[i] as f64).collect();
        let path = g.longest_path(&order, &weight);
        for p in path.windows(2) {
            prop_assert!(g.deps(p[1]).contains(&p[0]), "not a path");
        }
        // Brute force: the heaviest path ending anywhere, by exhaustive search.
        let mut best = 0.0f64;
        let mut stack: Vec<(u32, f64)> = (0..n as u32).map(|v| (v, weight[v as usize])).collect();
        while let Some((v, s)) = stack.pop() {
            best = best.max(s);
            for &d in g.deps(v) { stack.push((d, s + weight[d as usize])); }
        }
        let got: f64 = path.iter().map(|&v| weight[v as usize]).sum();
        prop_assert_eq!(got, best);
        let tails = g.tails(&order, &weight);
        prop_assert_eq!(tails.iter().copied().fold(0.0, f64::max), best);
    }
}

fn plan_json(n: usize, deps: impl Fn(usize) -> Vec<usize>) -> String {
    let mut s = String::from("{\"plan_name\": \"BIG\", \"achievements\": [\n");
    for i in 0..n {
        let d: Vec<String> = deps(i).iter().map(|j| format!("\"a{j}\"")).collect();
        s.push_str(&format!(
            "{{\"achievement_id\": \"a{i}\", \"dependencies\": [{}], \"estimated_hours\": \"{}-{}\"}}{}\n",
            d.join(", "),
            i % 5,
            i % 5 + 2,
            if i + 1 < n { "," } else { "" }
        ));
    }
    s.push_str("]}\n");
    s
}

fn pipeline(text: String) -> (validate::Checked, status::Report) {
    let doc = PlanDoc::from_bytes(Path::new("parallel.json"), text.into_bytes());
    let empty = tempfile::tempdir().unwrap();
    let c = validate::check(&doc, empty.path(), &RunState::default(), false, None).unwrap();
    assert_eq!(c.errors().count(), 0, "{:?}", c.findings.first());
    let (p, g, o) = (
        c.plan.as_ref().unwrap(),
        c.dag.as_ref().unwrap(),
        c.order.as_ref().unwrap(),
    );
    let r = status::report(p, g, o, &c.states, Some(16));
    (c, r)
}

#[test]
fn a_100_000_chain_goes_through_the_whole_pipeline() {
    let n = 100_000;
    let (c, r) = pipeline(plan_json(n, |i| if i == 0 { vec![] } else { vec![i - 1] }));
    assert_eq!(c.order.as_ref().unwrap().len(), n);
    assert_eq!(r.levels.len(), n);
    assert_eq!(r.critical_path.ids.len(), n);
    assert_eq!(r.next_batch, ["a0"]);
    assert_eq!(r.parallelization.recommended_workers, 1);
    assert_eq!(r.parallelization.parallel_share, 0.0);
    // Close the chain into one 100 000-long cycle: found, without recursion.
    let mut text = plan_json(n, |i| if i == 0 { vec![] } else { vec![i - 1] });
    text = text.replacen(
        "\"a0\", \"dependencies\": []",
        &format!("\"a0\", \"dependencies\": [\"a{}\"]", n - 1),
        1,
    );
    let doc = PlanDoc::from_bytes(Path::new("parallel.json"), text.into_bytes());
    let empty = tempfile::tempdir().unwrap();
    let c = validate::check(&doc, empty.path(), &RunState::default(), false, None).unwrap();
    assert_eq!(c.cycles.len(), 1);
    assert_eq!(c.cycles[0].len(), n + 1);
}

#[test]
fn a_100_000_random_dag_with_300_000_edges() {
    let n = 100_000;
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let deps: Vec<Vec<usize>> = (0..n)
        .map(|i| {
            let mut d: Vec<usize> = if i == 0 {
                vec![]
            } else {
                (0..3).map(|_| (next() % i as u64) as usize).collect()
            };
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let edges: usize = deps.iter().map(Vec::len).sum();
    assert!(edges > 290_000, "{edges}");
    let (c, r) = pipeline(plan_json(n, |i| deps[i].clone()));
    let g = c.dag.as_ref().unwrap();
    assert_eq!(g.edge_count(), edges);
    let lv = &r.level_of;
    for (i, d) in deps.iter().enumerate() {
        for &j in d {
            assert!(lv[i] > lv[j]);
        }
    }
    assert!(c.states.iter().all(|&s| s == State::NotStarted));
    assert_eq!(r.next_batch, ["a0"]);
    assert_eq!(r.total as usize, n);
    assert!(r.parallelization.recommended_workers <= 16);
}
