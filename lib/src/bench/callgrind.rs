//! Instruction counts of a program phase from a callgrind output file
//! (valgrind's callgrind format, version 1; `valgrind --tool=callgrind`).
//!
//! perf-smoke runs its workload under callgrind with collection switched on
//! only inside the two marked phases (`--collect-atstart=no` and a
//! `--toggle-collect` per marker, workload.rs), so the file's totals are
//! prefill + decode and nothing of start-up. The prefill's share is its
//! marker function's inclusive cost: the cost lines of its own `fn=` blocks
//! plus the inclusive costs of the calls they make (the line after each
//! `calls=`). The decode is the rest.

use std::collections::HashMap;

/// Event counts by name (`Ir`, `D1mr`, …), as callgrind's `events:` line
/// names them; a missing event is 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Costs(pub Vec<(String, u64)>);

impl Costs {
    pub fn get(&self, event: &str) -> u64 {
        self.0
            .iter()
            .find(|(e, _)| e == event)
            .map_or(0, |(_, v)| *v)
    }

    /// `self − other`, event by event (saturating).
    pub fn minus(&self, other: &Costs) -> Costs {
        Costs(
            self.0
                .iter()
                .map(|(e, v)| (e.clone(), v.saturating_sub(other.get(e))))
                .collect(),
        )
    }

    /// Estimated cycles, as callgrind_annotate and KCachegrind's "cycle
    /// estimation" weigh the simulated cache: every instruction 1, an L1
    /// miss (instruction or data, read or write) 10 more, a last-level miss
    /// 100 more: `Ir + 10·(I1mr + D1mr + D1mw) + 100·(ILmr + DLmr + DLmw)`.
    /// Without `--cache-sim=yes` the miss events are absent and this is Ir.
    pub fn estimated_cycles(&self) -> u64 {
        let g = |e| self.get(e);
        g("Ir")
            + 10 * (g("I1mr") + g("D1mr") + g("D1mw"))
            + 100 * (g("ILmr") + g("DLmr") + g("DLmw"))
    }
}

/// The formula of [`Costs::estimated_cycles`], for receipts.
pub const CYCLES_FORMULA: &str = "Ir + 10*(I1mr + D1mr + D1mw) + 100*(ILmr + DLmr + DLmw)";

/// What one callgrind output file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The `totals:` (or `summary:`) line: everything collected.
    pub totals: Costs,
    /// Inclusive cost of each function whose name starts with one of the
    /// asked prefixes, by prefix.
    pub inclusive: HashMap<String, Costs>,
}

/// Parses callgrind output `text`, summing the inclusive cost of functions
/// whose (demangled) names start with each of `prefixes`.
pub fn parse(text: &str, prefixes: &[&str]) -> Result<Profile, String> {
    let mut events: Vec<String> = Vec::new();
    let mut positions = 1usize;
    let mut totals: Option<Vec<u64>> = None;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut sums: Vec<Vec<u64>> = vec![Vec::new(); prefixes.len()];
    // which prefix the current fn= block counts for
    let mut current: Option<usize> = None;
    let mut call_line_next = false;
    let add = |acc: &mut Vec<u64>, v: &[u64]| {
        if acc.len() < v.len() {
            acc.resize(v.len(), 0);
        }
        for (a, b) in acc.iter_mut().zip(v) {
            *a += b;
        }
    };
    for (no, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}", no + 1);
        if let Some(v) = line.strip_prefix("events:") {
            events = v.split_whitespace().map(str::to_string).collect();
        } else if let Some(v) = line.strip_prefix("positions:") {
            positions = v.split_whitespace().count().max(1);
        } else if let Some(v) = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))
        {
            let v = numbers(v).ok_or_else(|| at("totals are not numbers"))?;
            totals = Some(v);
        } else if let Some(v) = line.strip_prefix("fn=") {
            let name = resolve(&mut names, v);
            current = prefixes.iter().position(|p| name.starts_with(p));
            call_line_next = false;
        } else if let Some(v) = line.strip_prefix("cfn=") {
            resolve(&mut names, v);
        } else if line.starts_with("calls=") {
            call_line_next = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '*')) {
            let costs = numbers_after(line, positions)
                .ok_or_else(|| at("a cost line that is not numbers"))?;
            // a call's line is the callee's inclusive cost; a plain line is
            // self cost: both belong to the current function's inclusive cost
            if let Some(i) = current {
                add(&mut sums[i], &costs);
            }
            call_line_next = false;
        } else if call_line_next && !line.is_empty() {
            return Err(at("a calls= line is not followed by its cost line"));
        }
    }
    if events.is_empty() {
        return Err("no events: line; is this a callgrind output file?".into());
    }
    let totals = totals.ok_or("no totals: or summary: line; the run did not finish")?;
    let named = |v: &[u64]| {
        Costs(
            events
                .iter()
                .enumerate()
                .map(|(i, e)| (e.clone(), v.get(i).copied().unwrap_or(0)))
                .collect(),
        )
    };
    Ok(Profile {
        totals: named(&totals),
        inclusive: prefixes
            .iter()
            .zip(&sums)
            .map(|(p, s)| (p.to_string(), named(s)))
            .collect(),
    })
}

/// `(id) name` defines id; `(id)` refers to it; a bare name has no id.
fn resolve(names: &mut HashMap<String, String>, v: &str) -> String {
    let v = v.trim();
    if let Some(rest) = v.strip_prefix('(') {
        if let Some((id, name)) = rest.split_once(')') {
            let name = name.trim();
            if name.is_empty() {
                return names.get(id).cloned().unwrap_or_default();
            }
            names.insert(id.to_string(), name.to_string());
            return name.to_string();
        }
    }
    v.to_string()
}

fn numbers(s: &str) -> Option<Vec<u64>> {
    s.split_whitespace().map(|t| t.parse().ok()).collect()
}

/// The costs of a cost line: the numbers after its `positions` position
/// columns (which may be relative: `+3`, `-2`, `*`).
fn numbers_after(line: &str, positions: usize) -> Option<Vec<u64>> {
    let mut t = line.split_whitespace();
    for _ in 0..positions {
        t.next()?;
    }
    t.map(|x| x.parse().ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The shape callgrind 3.19 writes: name compression, a self line, a call
    // with its inclusive line, relative positions, cache events.
    const OUT: &str = "# callgrind format
version: 1
creator: callgrind-3.19.0
positions: line
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 1000 300 100 2 20 5 1 2 3

fl=(1) lib.rs
fn=(1) parci_core::model::workload::measured_prefill::h0123
10 5 1
cfn=(2) parci_core::model::Engine::feed_batch
calls=2 40
+2 295 99 40 1 10 2 0 1 1
fn=(2)
40 295 99 40 1 10 2 0 1 1
fn=(3) parci_core::model::workload::measured_decode::habcd
5 100
cfn=(2)
calls=1 40
* 600 200 60 1 10 3 1 1 2
totals: 1000 300 100 2 20 5 1 2 3
";

    #[test]
    fn inclusive_cost_is_self_plus_calls() {
        let p = parse(
            OUT,
            &["parci_core::model::workload::measured_prefill", "nothing"],
        )
        .unwrap();
        let pre = &p.inclusive["parci_core::model::workload::measured_prefill"];
        assert_eq!(pre.get("Ir"), 300);
        assert_eq!(pre.get("Dr"), 100);
        assert_eq!(pre.get("DLmw"), 1);
        assert_eq!(p.inclusive["nothing"].get("Ir"), 0);
        assert_eq!(p.totals.get("Ir"), 1000);
        let decode = p.totals.minus(pre);
        assert_eq!(decode.get("Ir"), 700);
        // 700 + 10·(1 + 10 + 3) + 100·(1 + 1 + 2)
        assert_eq!(decode.estimated_cycles(), 700 + 140 + 400);
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        assert!(parse("hello\n", &[]).unwrap_err().contains("no events"));
        let cut = "events: Ir\nfn=(1) f\n1 5\n";
        assert!(parse(cut, &["f"]).unwrap_err().contains("did not finish"));
        let bad = "events: Ir\nfn=(1) f\n1 x\ntotals: 5\n";
        assert!(parse(bad, &["f"]).unwrap_err().contains("line 3"));
    }
}
