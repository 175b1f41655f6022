//! Every rule validate-parallel checks, as findings at a place in the plan
//! (JSON pointer + line:column) or at a marker file.

use super::dag::{self, Dag};
use super::fsstate::{self, Markers, RunState, State};
use super::layout::{Layout, Naming};
use super::model::{Plan, PlanDoc};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

pub use super::finding::{Finding, Rule, Severity};

/// The outcome of checking a plan.
pub struct Checked {
    /// The typed plan, when the file parsed and met the schema.
    pub plan: Option<Plan>,
    /// Its graph (unknown and self dependencies left out).
    pub dag: Option<Dag>,
    /// A topological order, when the graph is acyclic.
    pub order: Option<Vec<u32>>,
    /// Every cycle, as closed ID paths `[a, b, a]`.
    pub cycles: Vec<Vec<String>>,
    /// Findings, sorted by place.
    pub findings: Vec<Finding>,
    pub markers: Markers,
    /// The marker layout, bound to the plan (parci's when the plan is unreadable).
    pub naming: Naming,
    /// Status of each achievement, from the markers and the run state.
    pub states: Vec<State>,
}

impl Checked {
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Error)
    }
    pub fn warnings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
    }
    /// How many findings each rule produced (every rule, zero included).
    pub fn counts(&self) -> Vec<(Rule, usize)> {
        Rule::ALL
            .iter()
            .map(|&r| (r, self.findings.iter().filter(|f| f.rule == r).count()))
            .collect()
    }
}

/// Edit-distance comparisons spent on "did you mean" suggestions at most, so a
/// plan with thousands of unknown IDs stays fast (later ones get no suggestion).
const SUGGESTION_BUDGET: usize = 2_000_000;

/// Checks a plan read from `doc`, its folder `dir` (for marker files, in
/// `layout`, or the layout detected from the files when `None`) and the run
/// state. `Err` is an I/O error reading the markers.
pub fn check(
    doc: &PlanDoc,
    dir: &Path,
    run: &RunState,
    strict: bool,
    layout: Option<Layout>,
) -> std::io::Result<Checked> {
    // Every rule runs in one pass: the graph rules on whatever could be read,
    // even when the schema failed (then nothing else is reported on).
    let read = doc.read_all();
    let readable = read.findings.is_empty();
    let empty = super::model::Plan {
        name: String::new(),
        achievements: Vec::new(),
        extra: Default::default(),
    };
    let (naming, files) = match (layout, &read.plan) {
        (None, Some(p)) => Naming::detect(dir, p)?,
        (l, p) => {
            let n = Naming::new(l.unwrap_or(Layout::Parci), p.as_ref().unwrap_or(&empty));
            let files = n.scan(dir)?;
            (n, files)
        }
    };
    let markers = Markers::from_scanned(naming.layout, files);
    let mut out = Checked {
        plan: None,
        dag: None,
        order: None,
        cycles: Vec::new(),
        findings: read.findings,
        markers,
        naming,
        states: Vec::new(),
    };
    let Some(plan) = read.plan else {
        finish(&mut out, strict);
        return Ok(out);
    };
    let source = read.source;
    let f = &mut out.findings;
    let index = dag::id_index(&plan);
    let at = |i: usize, tail: &str| format!("/achievements/{}/{tail}", source[i]);

    // Duplicate IDs and IDs that collide by case.
    let mut lower: HashMap<Cow<str>, usize> = HashMap::with_capacity(plan.achievements.len());
    for (i, a) in plan.achievements.iter().enumerate() {
        let first = index[a.id.as_str()] as usize;
        if first != i {
            f.push(doc.finding(
                Rule::DuplicateId,
                at(i, "achievement_id"),
                format!(
                    "duplicate ID {:?}: achievement {} has it already; give each achievement its own ID",
                    a.id, source[first]
                ),
            ));
            continue;
        }
        let key: Cow<str> = if a.id.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(a.id.to_ascii_lowercase())
        } else {
            Cow::Borrowed(a.id.as_str())
        };
        match lower.get(&key) {
            Some(&j) => f.push(doc.finding(
                Rule::CaseCollision,
                at(i, "achievement_id"),
                format!(
                    "ID {:?} differs from {:?} (achievement {}) only by case; their files collide \
                     on case-insensitive file systems: rename one",
                    a.id, plan.achievements[j].id, source[j]
                ),
            )),
            None => {
                lower.insert(key, i);
            }
        }
    }

    // IDs whose marker files would have one name in the layout.
    for (first, second) in &out.naming.collisions {
        let i = index[second.as_str()] as usize;
        f.push(doc.finding(
            Rule::CaseCollision,
            at(i, "achievement_id"),
            format!(
                "IDs {first:?} and {second:?} both name their files {:?} in context-manager's \
                 layout (which drops the dots), so their marker files collide: rename one",
                out.naming.key(second)
            ),
        ));
    }

    // Unknown and self dependencies.
    let mut budget = SUGGESTION_BUDGET;
    for (i, a) in plan.achievements.iter().enumerate() {
        for (k, d) in a.dependencies.iter().enumerate() {
            if *d == a.id {
                f.push(doc.finding(
                    Rule::SelfDependency,
                    at(i, &format!("dependencies/{k}")),
                    format!(
                        "{} depends on itself; remove {d:?} from its dependencies",
                        a.id
                    ),
                ));
            } else if !index.contains_key(d.as_str()) {
                let hint = match closest(d, &a.id, &plan, &mut budget) {
                    Some(s) => format!("did you mean {s:?}?"),
                    None => "add it to the plan or remove the dependency".to_string(),
                };
                f.push(doc.finding(
                    Rule::UnknownDependency,
                    at(i, &format!("dependencies/{k}")),
                    format!(
                        "{} depends on {d:?}, which is not in the plan; {hint}",
                        a.id
                    ),
                ));
            }
        }
    }

    // Cycles: one closed path per strongly connected component.
    let g = Dag::from_plan_with(&plan, &index);
    let order = g.topo_order();
    if order.is_none() {
        let comps = g.cyclic_components();
        for (comp, path) in comps.iter().zip(g.cycles(&comps)) {
            let ids: Vec<String> = path
                .iter()
                .map(|&v| plan.achievements[v as usize].id.clone())
                .collect();
            let first = path[0] as usize;
            let k = plan.achievements[first]
                .dependencies
                .iter()
                .position(|d| *d == ids[1])
                .unwrap_or(0);
            let mut msg = format!(
                "dependency cycle {}; remove one of these dependencies",
                ids.join(" -> ")
            );
            if comp.len() + 1 > path.len() {
                let others: Vec<&str> = comp
                    .iter()
                    .filter(|v| !path.contains(v))
                    .take(10)
                    .map(|&v| plan.achievements[v as usize].id.as_str())
                    .collect();
                let more = comp.len() + 1 - path.len() - others.len();
                msg.push_str(&format!(
                    " (the same knot also holds {}{}; {} achievements in all)",
                    others.join(", "),
                    if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    },
                    comp.len()
                ));
            }
            f.push(doc.finding(Rule::Cycle, at(first, &format!("dependencies/{k}")), msg));
            out.cycles.push(ids);
        }
    }

    // Complete before a dependency; marker files for IDs the plan lacks.
    let states = fsstate::derive(&plan, &out.markers, run);
    let declared = |i: usize| plan.achievements[i].declared_status.as_deref();
    let done =
        |i: usize| states[i].is_done() || matches!(declared(i), Some("complete" | "skipped"));
    for (i, a) in plan.achievements.iter().enumerate() {
        let claim = if states[i] == State::Complete {
            format!("has {}", out.naming.review_path("APPROVED", &a.id))
        } else if declared(i) == Some("complete") {
            "is marked \"complete\" in the plan".to_string()
        } else {
            continue;
        };
        for (k, d) in a.dependencies.iter().enumerate() {
            let Some(&j) = index.get(d.as_str()) else {
                continue;
            };
            if j as usize != i && !done(j as usize) {
                f.push(doc.finding(
                    Rule::CompleteBeforeDependency,
                    at(i, &format!("dependencies/{k}")),
                    format!(
                        "{} {claim} but its dependency {d} is {}; finish {d} first or correct the status",
                        a.id,
                        states[j as usize].as_str()
                    ),
                ));
            }
        }
    }
    for (file, marker) in &out.markers.files {
        if !index.contains_key(marker.id()) {
            let whose = match out.naming.layout {
                Layout::Parci => format!("{:?}", marker.id()),
                Layout::ContextManager => format!(
                    "achievement number {:?} (an ID without its dots)",
                    marker.id()
                ),
            };
            let mut fd = Finding::new(
                Rule::OrphanMarker,
                String::new(),
                None,
                format!(
                    "{file} is for {whose}, which is not in the plan; delete or rename the file, or add the achievement"
                ),
            );
            fd.file = Some(file.clone());
            f.push(fd);
        }
    }
    if readable {
        out.states = states;
        out.order = order;
        out.dag = Some(g);
        out.plan = Some(plan);
    }
    finish(&mut out, strict);
    Ok(out)
}

fn finish(out: &mut Checked, strict: bool) {
    if strict {
        for f in &mut out.findings {
            f.severity = Severity::Error;
        }
    }
    out.findings.sort_by_key(|f| {
        (
            f.file.is_some(),
            f.file.clone(),
            f.line.unwrap_or(0),
            f.column.unwrap_or(0),
        )
    });
}

/// The existing ID closest to `missing`: equal ignoring case, else the smallest
/// edit distance up to a third of its length (at most 3), first in file order.
/// Never `own`, the ID of the achievement that has the dependency: following
/// that suggestion would make a self-dependency.
fn closest(missing: &str, own: &str, plan: &Plan, budget: &mut usize) -> Option<String> {
    let limit = (missing.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    for a in &plan.achievements {
        if *budget == 0 {
            break;
        }
        *budget -= 1;
        if a.id == own {
            continue;
        }
        if a.id.eq_ignore_ascii_case(missing) {
            return Some(a.id.clone());
        }
        let cap = best.map_or(limit, |b| b.0.saturating_sub(1));
        if let Some(d) = bounded_distance(missing.as_bytes(), a.id.as_bytes(), cap) {
            if best.is_none_or(|b| d < b.0) {
                best = Some((d, &a.id));
            }
        }
    }
    best.map(|b| b.1.to_string())
}

/// Levenshtein distance of two byte strings when it is at most `cap`.
fn bounded_distance(a: &[u8], b: &[u8], cap: usize) -> Option<usize> {
    if a.len().abs_diff(b.len()) > cap {
        return None;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, &x) in a.iter().enumerate() {
        cur[0] = i + 1;
        let mut row_min = cur[0];
        for (j, &y) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(x != y);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
            row_min = row_min.min(cur[j + 1]);
        }
        if row_min > cap {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    (prev[b.len()] <= cap).then_some(prev[b.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(bounded_distance(b"2.3", b"2.4", 1), Some(1));
        assert_eq!(bounded_distance(b"kitten", b"sitting", 3), Some(3));
        assert_eq!(bounded_distance(b"kitten", b"sitting", 2), None);
        assert_eq!(bounded_distance(b"a", b"abcd", 2), None);
    }
}
