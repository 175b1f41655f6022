//! The dependency graph of a plan, in compressed rows, and the algorithms on
//! it. Every algorithm is linear in nodes + edges and iterative: no recursion,
//! so a chain of a million achievements cannot overflow the stack.
//!
//! Nodes are achievement indices (file order); an edge `a -> b` means
//! "a depends on b", and cycle paths are written in that direction.

use super::model::Plan;
use std::collections::HashMap;

/// A directed graph: for each node, the nodes it depends on and the nodes
/// that depend on it.
#[derive(Clone, Debug)]
pub struct Dag {
    dep_off: Vec<u32>,
    deps: Vec<u32>,
    rdep_off: Vec<u32>,
    rdeps: Vec<u32>,
}

const NONE: u32 = u32::MAX;

fn csr(n: usize, edges: impl Iterator<Item = (u32, u32)> + Clone) -> (Vec<u32>, Vec<u32>) {
    let mut off = vec![0u32; n + 1];
    for (a, _) in edges.clone() {
        off[a as usize + 1] += 1;
    }
    for i in 0..n {
        off[i + 1] += off[i];
    }
    let mut fill = off.clone();
    let mut out = vec![0u32; off[n] as usize];
    for (a, b) in edges {
        out[fill[a as usize] as usize] = b;
        fill[a as usize] += 1;
    }
    (off, out)
}

impl Dag {
    /// A graph of `n` nodes from `(node, dependency)` pairs; the order of each
    /// node's dependencies is kept.
    pub fn from_edges(n: usize, edges: &[(u32, u32)]) -> Dag {
        assert!(n < NONE as usize, "too many nodes");
        let (dep_off, deps) = csr(n, edges.iter().copied());
        let (rdep_off, rdeps) = csr(n, edges.iter().map(|&(a, b)| (b, a)));
        Dag {
            dep_off,
            deps,
            rdep_off,
            rdeps,
        }
    }

    /// The graph of a plan. IDs resolve to their first occurrence; unknown
    /// dependencies and self-dependencies are left out (validation reports them).
    pub fn from_plan(plan: &Plan) -> Dag {
        Dag::from_plan_with(plan, &id_index(plan))
    }

    /// [`Dag::from_plan`] with the plan's [`id_index`] already built.
    pub fn from_plan_with(plan: &Plan, index: &HashMap<&str, u32>) -> Dag {
        let mut edges =
            Vec::with_capacity(plan.achievements.iter().map(|a| a.dependencies.len()).sum());
        for (i, a) in plan.achievements.iter().enumerate() {
            for d in &a.dependencies {
                if let Some(&j) = index.get(d.as_str()) {
                    if j as usize != i {
                        edges.push((i as u32, j));
                    }
                }
            }
        }
        Dag::from_edges(plan.achievements.len(), &edges)
    }

    pub fn len(&self) -> usize {
        self.dep_off.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn edge_count(&self) -> usize {
        self.deps.len()
    }

    /// What node `i` depends on.
    pub fn deps(&self, i: u32) -> &[u32] {
        &self.deps[self.dep_off[i as usize] as usize..self.dep_off[i as usize + 1] as usize]
    }

    /// What depends on node `i`.
    pub fn dependents(&self, i: u32) -> &[u32] {
        &self.rdeps[self.rdep_off[i as usize] as usize..self.rdep_off[i as usize + 1] as usize]
    }

    /// Dependencies before dependents (Kahn's algorithm, file order among the
    /// ready); `None` when the graph has a cycle.
    pub fn topo_order(&self) -> Option<Vec<u32>> {
        let n = self.len();
        let mut pending: Vec<u32> = (0..n as u32).map(|i| self.deps(i).len() as u32).collect();
        let mut order: Vec<u32> = (0..n as u32)
            .filter(|&i| pending[i as usize] == 0)
            .collect();
        let mut head = 0;
        while head < order.len() {
            let v = order[head];
            head += 1;
            for &w in self.dependents(v) {
                pending[w as usize] -= 1;
                if pending[w as usize] == 0 {
                    order.push(w);
                }
            }
        }
        (order.len() == n).then_some(order)
    }

    /// Strongly connected components that contain a cycle (more than one node,
    /// or a node depending on itself), by an iterative Tarjan. Each component
    /// is sorted by index; components are ordered by their first node.
    pub fn cyclic_components(&self) -> Vec<Vec<u32>> {
        let n = self.len();
        let mut index = vec![NONE; n];
        let mut low = vec![0u32; n];
        let mut on_stack = vec![false; n];
        let mut stack: Vec<u32> = Vec::new();
        let mut calls: Vec<(u32, u32)> = Vec::new();
        let mut next = 0u32;
        let mut out = Vec::new();
        for s in 0..n as u32 {
            if index[s as usize] != NONE {
                continue;
            }
            index[s as usize] = next;
            low[s as usize] = next;
            next += 1;
            stack.push(s);
            on_stack[s as usize] = true;
            calls.push((s, 0));
            while let Some(&mut (v, ref mut pos)) = calls.last_mut() {
                let nbrs = self.deps(v);
                if (*pos as usize) < nbrs.len() {
                    let w = nbrs[*pos as usize];
                    *pos += 1;
                    if index[w as usize] == NONE {
                        index[w as usize] = next;
                        low[w as usize] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w as usize] = true;
                        calls.push((w, 0));
                    } else if on_stack[w as usize] {
                        low[v as usize] = low[v as usize].min(index[w as usize]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(u, _)) = calls.last() {
                    low[u as usize] = low[u as usize].min(low[v as usize]);
                }
                if low[v as usize] == index[v as usize] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().expect("v is on the stack");
                        on_stack[w as usize] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    if comp.len() > 1 || self.deps(v).contains(&v) {
                        comp.sort_unstable();
                        out.push(comp);
                    }
                }
            }
        }
        out.sort_unstable_by_key(|c| c[0]);
        out
    }

    /// A shortest cycle through the first node of each cyclic component, as a
    /// closed path `[a, b, c, a]` (a depends on b, b on c, c on a). Linear in
    /// the components' sizes together.
    pub fn cycles(&self, components: &[Vec<u32>]) -> Vec<Vec<u32>> {
        let n = self.len();
        let mut member = vec![NONE; n];
        let mut parent = vec![NONE; n];
        let mut out = Vec::with_capacity(components.len());
        for (c, comp) in components.iter().enumerate() {
            for &v in comp {
                member[v as usize] = c as u32;
            }
            let s = comp[0];
            let mut queue = vec![s];
            let mut head = 0;
            parent[s as usize] = s;
            let mut last = NONE;
            'bfs: while head < queue.len() {
                let v = queue[head];
                head += 1;
                for &w in self.deps(v) {
                    if w == s {
                        last = v;
                        break 'bfs;
                    }
                    if member[w as usize] == c as u32 && parent[w as usize] == NONE {
                        parent[w as usize] = v;
                        queue.push(w);
                    }
                }
            }
            debug_assert_ne!(last, NONE, "a strongly connected component has a cycle");
            let mut back = vec![s];
            let mut v = last;
            while v != s {
                back.push(v);
                v = parent[v as usize];
            }
            back.push(s);
            back.reverse();
            out.push(back);
            for &v in &queue {
                parent[v as usize] = NONE;
            }
        }
        out
    }

    /// Dependency level of each node in a topological `order`: 0 without
    /// dependencies, else one more than the deepest dependency.
    pub fn levels(&self, order: &[u32]) -> Vec<u32> {
        let mut level = vec![0u32; self.len()];
        for &v in order {
            let l = self
                .deps(v)
                .iter()
                .map(|&d| level[d as usize] + 1)
                .max()
                .unwrap_or(0);
            level[v as usize] = l;
        }
        level
    }

    /// The heaviest path (sum of node `weight`s; ties go to the path with more
    /// nodes, then to the earlier node), dependencies first.
    pub fn longest_path(&self, order: &[u32], weight: &[f64]) -> Vec<u32> {
        let n = self.len();
        let mut best = vec![(0.0f64, 0u32); n];
        let mut pred = vec![NONE; n];
        for &v in order {
            let mut b = (0.0f64, 0u32);
            let mut p = NONE;
            for &d in self.deps(v) {
                let c = best[d as usize];
                if p == NONE || heavier(c, b) {
                    b = c;
                    p = d;
                }
            }
            best[v as usize] = (b.0 + weight[v as usize], b.1 + 1);
            pred[v as usize] = p;
        }
        let mut end = NONE;
        for v in 0..n as u32 {
            if end == NONE {
                end = v;
                continue;
            }
            if heavier(best[v as usize], best[end as usize]) {
                end = v;
            }
        }
        let mut path = Vec::new();
        while end != NONE {
            path.push(end);
            end = pred[end as usize];
        }
        path.reverse();
        path
    }

    /// For each node, the heaviest path from it to the end of the plan
    /// (its own weight included): how much work still hangs on it.
    pub fn tails(&self, order: &[u32], weight: &[f64]) -> Vec<f64> {
        let mut tail = vec![0.0f64; self.len()];
        for &v in order.iter().rev() {
            let m = self
                .dependents(v)
                .iter()
                .map(|&w| tail[w as usize])
                .fold(0.0f64, f64::max);
            tail[v as usize] = m + weight[v as usize];
        }
        tail
    }
}

fn heavier(a: (f64, u32), b: (f64, u32)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

/// ID → index of its first occurrence.
pub fn id_index(plan: &Plan) -> HashMap<&str, u32> {
    let mut m = HashMap::with_capacity(plan.achievements.len());
    for (i, a) in plan.achievements.iter().enumerate() {
        m.entry(a.id.as_str()).or_insert(i as u32);
    }
    m
}

/// Nodes per level: `widths[l]` is how many nodes have level `l`.
pub fn widths(levels: &[u32]) -> Vec<u32> {
    let top = levels.iter().copied().max().map_or(0, |m| m as usize + 1);
    let mut w = vec![0u32; top];
    for &l in levels {
        w[l as usize] += 1;
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topo_levels_and_widths_on_a_diamond() {
        // 0 <- 1, 0 <- 2, {1,2} <- 3
        let g = Dag::from_edges(4, &[(1, 0), (2, 0), (3, 1), (3, 2)]);
        let order = g.topo_order().unwrap();
        assert_eq!(order, [0, 1, 2, 3]);
        let lv = g.levels(&order);
        assert_eq!(lv, [0, 1, 1, 2]);
        assert_eq!(widths(&lv), [1, 2, 1]);
        assert!(g.cyclic_components().is_empty());
    }

    #[test]
    fn two_cycles_are_both_reported_as_closed_paths() {
        // 3-cycle 0 -> 1 -> 2 -> 0, 2-cycle 3 -> 4 -> 3, and 5 depends on the first.
        let g = Dag::from_edges(6, &[(0, 1), (1, 2), (2, 0), (3, 4), (4, 3), (5, 0)]);
        assert!(g.topo_order().is_none());
        let comps = g.cyclic_components();
        assert_eq!(comps, vec![vec![0, 1, 2], vec![3, 4]]);
        assert_eq!(g.cycles(&comps), vec![vec![0, 1, 2, 0], vec![3, 4, 3]]);
    }

    #[test]
    fn self_loop_is_a_cycle() {
        let g = Dag::from_edges(2, &[(1, 1)]);
        let comps = g.cyclic_components();
        assert_eq!(comps, vec![vec![1]]);
        assert_eq!(g.cycles(&comps), vec![vec![1, 1]]);
    }

    #[test]
    fn longest_path_by_weight_then_length() {
        // 0(1) <- 1(5) <- 3(1); 0 <- 2(1) <- 4(1) <- 5(1)
        let g = Dag::from_edges(6, &[(1, 0), (3, 1), (2, 0), (4, 2), (5, 4)]);
        let order = g.topo_order().unwrap();
        assert_eq!(
            g.longest_path(&order, &[1.0, 5.0, 1.0, 1.0, 1.0, 1.0]),
            [0, 1, 3]
        );
        // No estimates: the longest chain.
        assert_eq!(g.longest_path(&order, &[0.0; 6]), [0, 2, 4, 5]);
        let t = g.tails(&order, &[1.0, 5.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(t, [7.0, 6.0, 3.0, 1.0, 2.0, 1.0]);
    }

    #[test]
    fn a_million_deep_chain_does_not_overflow() {
        let n = 1_000_000u32;
        let edges: Vec<(u32, u32)> = (1..n).map(|i| (i, i - 1)).collect();
        let g = Dag::from_edges(n as usize, &edges);
        let order = g.topo_order().unwrap();
        assert_eq!(g.levels(&order)[n as usize - 1], n - 1);
        assert!(g.cyclic_components().is_empty());
        let mut cyc = edges.clone();
        cyc.push((0, n - 1));
        let g = Dag::from_edges(n as usize, &cyc);
        let comps = g.cyclic_components();
        assert_eq!(comps.len(), 1);
        assert_eq!(g.cycles(&comps)[0].len(), n as usize + 1);
    }
}
