//! Instruction counts of program phases from a callgrind output file
//! (valgrind's callgrind format, version 1; `valgrind --tool=callgrind`).
//!
//! perf-smoke runs its workload under callgrind with collection switched on
//! only inside the two marked phases (`--collect-atstart=no` and a
//! `--toggle-collect` per marker, workload.rs) and with every function's
//! cost kept apart by its chain of callers (`--separate-callers=N`), so a
//! function context's name is `f'caller'caller'…` and names its phase's
//! marker. Each self-cost line then belongs to exactly one phase and one
//! object file: the executable's own code, or a shared library (the C
//! library's allocator and memory routines, the loader).
//!
//! The split matters because only the executable's own count repeats to
//! the instruction: glibc's `malloc`, `free`, `memset` and `memcpy` take a
//! path that depends on the heap's layout at the phase's start, which
//! start-up work of varying size (host facts, clock strings, thread
//! timing) changes from run to run by a few thousand instructions in tens
//! of millions. So the own count is a result (exact, replayable) and the
//! total a measurement.

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

    /// `self + other`, event by event.
    pub fn plus(&self, other: &Costs) -> Costs {
        Costs(
            self.0
                .iter()
                .map(|(e, v)| (e.clone(), v.saturating_add(other.get(e))))
                .collect(),
        )
    }

    /// Estimated cycles, as callgrind_annotate and KCachegrind's "cycle
    /// estimation" weigh the simulated cache: every instruction 1, an L1
    /// miss (instruction or data, read or write) 10 more, a last-level miss
    /// 100 more: `Ir + 10·(I1mr + D1mr + D1mw) + 100·(ILmr + DLmr + DLmw)`.
    /// Without `--cache-sim=yes` the miss events are absent and this is Ir.
    /// Saturating: a receipt under verification may hold any numbers.
    pub fn estimated_cycles(&self) -> u64 {
        let g = |e: &str| self.get(e);
        let sum = |a: &[&str]| a.iter().fold(0u64, |s, &e| s.saturating_add(g(e)));
        g("Ir")
            .saturating_add(sum(&["I1mr", "D1mr", "D1mw"]).saturating_mul(10))
            .saturating_add(sum(&["ILmr", "DLmr", "DLmw"]).saturating_mul(100))
    }
}

/// The formula of [`Costs::estimated_cycles`], for receipts.
pub const CYCLES_FORMULA: &str = "Ir + 10*(I1mr + D1mr + D1mw) + 100*(ILmr + DLmr + DLmw)";

/// One phase's costs, split by where the instructions ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Phase {
    /// In the profiled executable (the `cmd:` line's program).
    pub own: Costs,
    /// In shared libraries (C library, loader).
    pub libraries: Costs,
}

impl Phase {
    pub fn total(&self) -> Costs {
        self.own.plus(&self.libraries)
    }
}

/// What one callgrind output file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Profile {
    /// The `totals:` (or `summary:`) line: everything collected.
    pub totals: Costs,
    /// Each asked marker's phase: the self costs of every function context
    /// whose caller chain holds the marker, by marker.
    pub phases: HashMap<String, Phase>,
}

/// Parses callgrind output `text` written with `--separate-callers`,
/// summing each self cost into the phase of the marker its caller chain
/// names (`markers`: function name prefixes). A collected cost whose chain
/// names no marker is an error: the chains were cut short (raise
/// `--separate-callers`) or collection ran outside the markers.
pub fn parse(text: &str, markers: &[&str]) -> Result<Profile, String> {
    let mut events: Vec<String> = Vec::new();
    let mut positions = 1usize;
    let mut totals: Option<Vec<u64>> = None;
    let mut program: Option<String> = None;
    let mut names: HashMap<String, String> = HashMap::new();
    let mut objects: HashMap<String, String> = HashMap::new();
    // [marker][own, libraries]
    let mut sums: Vec<[Vec<u64>; 2]> = vec![[Vec::new(), Vec::new()]; markers.len()];
    let mut object = String::new();
    let mut function = String::new();
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
        } else if let Some(v) = line.strip_prefix("cmd:") {
            program = v.split_whitespace().next().map(str::to_string);
        } else if let Some(v) = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))
        {
            let v = numbers(v).ok_or_else(|| at("totals are not numbers"))?;
            totals = Some(v);
        } else if let Some(v) = line.strip_prefix("ob=") {
            object = resolve(&mut objects, v);
        } else if let Some(v) = line.strip_prefix("cob=") {
            resolve(&mut objects, v);
        } else if let Some(v) = line.strip_prefix("fn=") {
            function = resolve(&mut names, v);
            call_line_next = false;
        } else if let Some(v) = line.strip_prefix("cfn=") {
            resolve(&mut names, v);
        } else if line.starts_with("calls=") {
            call_line_next = true;
        } else if line.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '+' | '-' | '*')) {
            let costs = numbers_after(line, positions)
                .ok_or_else(|| at("a cost line that is not numbers"))?;
            // a call's line is the callee's inclusive cost, counted where
            // the callee's own lines are: only self lines are summed
            if std::mem::take(&mut call_line_next) || costs.iter().all(|&c| c == 0) {
                continue;
            }
            let chain = function.split('\'');
            let Some(m) = chain
                .into_iter()
                .find_map(|f| markers.iter().position(|p| f.starts_with(p)))
            else {
                return Err(at(&format!(
                    "{} has a cost but no marker among its callers; the caller chains are cut short (raise --separate-callers)",
                    function.split('\'').next().unwrap_or("?")
                )));
            };
            let own = program.as_deref() == Some(object.as_str());
            add(&mut sums[m][usize::from(!own)], &costs);
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
        phases: markers
            .iter()
            .zip(&sums)
            .map(|(p, [own, libs])| {
                let phase = Phase {
                    own: named(own),
                    libraries: named(libs),
                };
                (p.to_string(), phase)
            })
            .collect(),
    })
}

/// `valgrind --version` (`valgrind-3.19.0`): counts are compared only
/// between runs of one version.
pub fn valgrind_version() -> Result<String, String> {
    match std::process::Command::new("valgrind")
        .arg("--version")
        .output()
    {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        _ => Err("valgrind is not installed (or does not run)".into()),
    }
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

    const PRE: &str = "parci_core::model::workload::measured_prefill";
    const DEC: &str = "parci_core::model::workload::measured_decode";

    // The shape callgrind 3.19 writes with --separate-callers: name
    // compression, contexts named by their callers, self lines, a call
    // with its inclusive line (not summed again), relative positions,
    // objects, cache events.
    const OUT: &str = "# callgrind format
version: 1
creator: callgrind-3.19.0
cmd:  /bin/perf-smoke --quiet
positions: line
events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
summary: 1000 300 100 2 20 5 1 2 3

ob=(1) /bin/perf-smoke
fl=(1) lib.rs
fn=(1) parci_core::model::workload::measured_prefill::h0123'parci_core::model::workload::run
10 5 1
cfn=(2) feed_batch'parci_core::model::workload::measured_prefill::h0123'parci_core::model::workload::run
calls=2 40
+2 295 99 40 1 10 2 0 1 1
fn=(2)
40 195 99 40 1 10 2 0 1 1
cob=(2) /lib/libc.so.6
cfn=(3) malloc'feed_batch'parci_core::model::workload::measured_prefill::h0123'parci_core::model::workload::run
calls=1 0
40 100
ob=(2)
fn=(3)
0 100
ob=(1)
fn=(4) parci_core::model::workload::measured_decode::habcd'parci_core::model::workload::run
5 100
cfn=(5) feed_batch'parci_core::model::workload::measured_decode::habcd'parci_core::model::workload::run
calls=1 40
* 600 200 60 1 10 3 1 1 2
fn=(5)
40 600 200 60 1 10 3 1 1 2
totals: 1000 300 100 2 20 5 1 2 3
";

    #[test]
    fn each_self_cost_goes_to_its_callers_marker_and_object() {
        let p = parse(OUT, &[PRE, DEC]).unwrap();
        let pre = &p.phases[PRE];
        assert_eq!(pre.own.get("Ir"), 5 + 195);
        assert_eq!(pre.libraries.get("Ir"), 100);
        assert_eq!(pre.total().get("Ir"), 300);
        assert_eq!(pre.total().get("Dr"), 1 + 99);
        let dec = &p.phases[DEC];
        assert_eq!(dec.own.get("Ir"), 700);
        assert_eq!(
            dec.libraries,
            Costs(p.totals.0.iter().map(|(e, _)| (e.clone(), 0)).collect())
        );
        assert_eq!(
            p.totals.get("Ir"),
            pre.total().get("Ir") + dec.total().get("Ir")
        );
        // 700 + 10·(1 + 10 + 3) + 100·(1 + 1 + 2)
        assert_eq!(dec.total().estimated_cycles(), 700 + 140 + 400);
    }

    #[test]
    fn broken_files_say_what_is_wrong() {
        assert!(parse("hello\n", &[]).unwrap_err().contains("no events"));
        let cut = "events: Ir\nfn=(1) f'measured\n1 5\n";
        assert!(parse(cut, &["measured"])
            .unwrap_err()
            .contains("did not finish"));
        let bad = "events: Ir\nfn=(1) f'measured\n1 x\ntotals: 5\n";
        assert!(parse(bad, &["measured"]).unwrap_err().contains("line 3"));
        let short = "events: Ir\nfn=(1) f'g\n1 5\ntotals: 5\n";
        let e = parse(short, &["measured"]).unwrap_err();
        assert!(e.contains("line 3: f has a cost but no marker"), "{e}");
    }
}
