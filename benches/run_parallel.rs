//! run-parallel against the tools it replaces: the scheduling overhead per task
//! (1 000 `true` tasks, against a shell loop and `xargs -P`) and the makespan
//! of a 200-task DAG of `sleep`s (against the lower bound and `make -j`).
//! Prints Markdown tables (median and min of several runs) for
//! docs/performance.md.
//!
//! Run: `cargo bench --bench run_parallel`. `PARCI_BENCH_QUICK=1` shrinks the
//! sizes (smoke run); `PARCI_BENCH_REPS=N` sets the runs per measurement
//! (default 5, 1 when quick); `PARCI_BENCH_ONLY=overhead` or `=makespan` runs
//! one of the two parts; `PARCI_BENCH_BASELINE=PATH` adds the overhead rows of
//! another run-parallel binary (an older build), interleaved with the others. Under `cargo test` (no `--bench` argument) it runs the
//! quick sizes once as a smoke test. It never asserts on time.

use parci_core::bench::wall::median;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const RP: &str = env!("CARGO_BIN_EXE_run-parallel");

struct Cfg {
    reps: usize,
    /// Tasks of the overhead plans.
    n_tasks: usize,
    /// Tasks of the sleep DAG.
    n_dag: usize,
    /// Sleep durations are drawn from 50–600 ms, times this.
    time_scale: f64,
    jobs: Vec<usize>,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let quick =
        !bench || std::env::var("PARCI_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let reps = std::env::var("PARCI_BENCH_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&r: &usize| r >= 1)
        .unwrap_or(if quick { 1 } else { 5 });
    let cfg = if quick {
        Cfg {
            reps,
            n_tasks: 50,
            n_dag: 20,
            time_scale: 0.1,
            jobs: vec![4],
        }
    } else {
        Cfg {
            reps,
            n_tasks: 1000,
            n_dag: 200,
            time_scale: 1.0,
            jobs: vec![4, 8],
        }
    };
    let tmp = tempfile::tempdir().expect("a temporary folder");
    println!(
        "run-parallel bench: {} runs per measurement (median / min), nproc {}{}\n",
        cfg.reps,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if quick { ", QUICK sizes" } else { "" }
    );
    let only = std::env::var("PARCI_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "overhead" {
        overhead(&cfg, tmp.path());
    }
    if only.is_empty() || only == "makespan" {
        makespan(&cfg, tmp.path());
    }
}

// ---------------------------------------------------------------- helpers

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Wall time in ms of a command that must succeed.
fn timed(cmd: &mut Command) -> f64 {
    let t = Instant::now();
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("the command starts");
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ms
}

fn sh(script: &str) -> f64 {
    timed(Command::new("sh").arg("-c").arg(script))
}

/// One run of run-parallel on a plan folder, from a fresh state (no previous
/// durations: the ranks come from `estimated_hours`). Logs go under `cwd`.
/// Returns the wall time and the receipt's measurements.
fn run_parallel(dir: &Path, cwd: &Path, jobs: usize) -> (f64, Value) {
    run_parallel_bin(Path::new(RP), dir, cwd, jobs)
}

/// [`run_parallel`] with the binary at `bin`.
fn run_parallel_bin(bin: &Path, dir: &Path, cwd: &Path, jobs: usize) -> (f64, Value) {
    let _ = std::fs::remove_dir_all(dir.join(".parci"));
    let receipt = dir.join("receipt.json");
    let ms = timed(
        Command::new(bin)
            .arg(dir)
            .args(["-j", &jobs.to_string(), "-q", "--receipt"])
            .arg(&receipt)
            .current_dir(cwd),
    );
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&receipt).expect("the receipt")).expect("JSON");
    (ms, doc["measurements"].clone())
}

/// Writes `parallel.json` into a new folder `dir`: task i runs `commands[i]`
/// after `deps[i]`, weighed `hours[i]`.
fn write_plan(dir: &Path, commands: &[String], deps: &[Vec<usize>], hours: &[f64]) {
    std::fs::create_dir_all(dir).unwrap();
    let achievements: Vec<Value> = (0..commands.len())
        .map(|i| {
            json!({
                "achievement_id": format!("t{i}"),
                "title": format!("task {i}"),
                "dependencies": deps[i].iter().map(|d| format!("t{d}")).collect::<Vec<_>>(),
                "estimated_hours": hours[i],
                "command": commands[i],
            })
        })
        .collect();
    let plan = json!({"plan_name": "RUN-PARALLEL-BENCH", "achievements": achievements});
    std::fs::write(
        dir.join("parallel.json"),
        serde_json::to_vec_pretty(&plan).unwrap(),
    )
    .unwrap();
}

fn s(ms: f64) -> String {
    format!("{:.2}", ms / 1e3)
}

// ---------------------------------------------------------------- overhead

fn overhead(cfg: &Cfg, tmp: &Path) {
    let n = cfg.n_tasks;
    let commands = vec!["true".to_string(); n];
    let hours = vec![1.0; n];
    let indep = tmp.join("independent");
    write_plan(&indep, &commands, &vec![Vec::new(); n], &hours);
    let chain = tmp.join("chain");
    let chain_deps: Vec<Vec<usize>> = (0..n)
        .map(|i| if i == 0 { vec![] } else { vec![i - 1] })
        .collect();
    write_plan(&chain, &commands, &chain_deps, &hours);
    let lp = format!("i=0; while [ $i -lt {n} ]; do sh -c true; i=$((i+1)); done");
    let xargs = format!("seq {n} | xargs -P 2 -n 1 sh -c true");

    let baseline = std::env::var_os("PARCI_BENCH_BASELINE").map(std::path::PathBuf::from);
    // Interleaved, so a burst of load from the neighbours hits every row alike.
    let mut names = vec![
        "run-parallel -j 2, independent",
        "xargs -P 2 -n 1 sh -c true",
        "shell loop, sh -c true (serial)",
        "run-parallel -j 2, chain",
    ];
    if baseline.is_some() {
        names.extend([
            "baseline run-parallel -j 2, independent",
            "baseline run-parallel -j 2, chain",
        ]);
    }
    let mut wall: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let mut inner: Vec<Vec<f64>> = vec![Vec::new(); 4];
    for _ in 0..cfg.reps {
        let (w, m) = run_parallel(&indep, tmp, 2);
        wall[0].push(w);
        inner[0].push(m["makespan_ms"].as_f64().unwrap());
        wall[1].push(sh(&xargs));
        wall[2].push(sh(&lp));
        let (w, m) = run_parallel(&chain, tmp, 2);
        wall[3].push(w);
        inner[1].push(m["makespan_ms"].as_f64().unwrap());
        if let Some(b) = &baseline {
            let (w, m) = run_parallel_bin(b, &indep, tmp, 2);
            wall[4].push(w);
            inner[2].push(m["makespan_ms"].as_f64().unwrap());
            let (w, m) = run_parallel_bin(b, &chain, tmp, 2);
            wall[5].push(w);
            inner[3].push(m["makespan_ms"].as_f64().unwrap());
        }
    }
    let med: Vec<f64> = wall.iter().map(|v| median(v)).collect();
    let mut t = String::new();
    writeln!(t, "### Overhead per task: {n} tasks `true`\n").unwrap();
    writeln!(
        t,
        "| runner | wall s, median | wall s, min | ms / task (median) | run-parallel's own makespan s (median) |"
    )
    .unwrap();
    writeln!(t, "|---|---|---|---|---|").unwrap();
    for (k, name) in names.iter().enumerate() {
        let own = match k {
            0 => s(median(&inner[0])),
            3 => s(median(&inner[1])),
            4 => s(median(&inner[2])),
            5 => s(median(&inner[3])),
            _ => "—".into(),
        };
        writeln!(
            t,
            "| {name} | {} | {} | {:.3} | {own} |",
            s(med[k]),
            s(min(&wall[k])),
            med[k] / n as f64
        )
        .unwrap();
    }
    let per = |a: f64, b: f64| (a - b) / n as f64;
    writeln!(t, "\n| overhead per task (wall) | median | min |").unwrap();
    writeln!(t, "|---|---|---|").unwrap();
    writeln!(
        t,
        "| independent, run-parallel -j 2 − xargs -P 2 | {:.3} ms | {:.3} ms |",
        per(med[0], med[1]),
        per(min(&wall[0]), min(&wall[1]))
    )
    .unwrap();
    writeln!(
        t,
        "| independent, run-parallel -j 2 − shell loop | {:.3} ms | {:.3} ms |",
        per(med[0], med[2]),
        per(min(&wall[0]), min(&wall[2]))
    )
    .unwrap();
    writeln!(
        t,
        "| chain, run-parallel -j 2 − shell loop | {:.3} ms | {:.3} ms |",
        per(med[3], med[2]),
        per(min(&wall[3]), min(&wall[2]))
    )
    .unwrap();
    if baseline.is_some() {
        for (k, what) in [(4, "independent"), (5, "chain")] {
            writeln!(
                t,
                "| baseline {what}, run-parallel -j 2 − shell loop | {:.3} ms | {:.3} ms |",
                per(med[k], med[2]),
                per(min(&wall[k]), min(&wall[2]))
            )
            .unwrap();
        }
    }
    println!("{t}");
}

// ---------------------------------------------------------------- makespan

/// xorshift64*: a fixed sequence for a given seed, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Durations (ms, multiples of 10 from 50 to 600) and dependencies (0–3
/// distinct earlier tasks) of an `n`-task DAG.
fn dag(n: usize, seed: u64) -> (Vec<f64>, Vec<Vec<usize>>) {
    let mut r = Rng(seed);
    let mut dur = Vec::with_capacity(n);
    let mut deps = Vec::with_capacity(n);
    for i in 0..n {
        dur.push(50.0 + 10.0 * r.below(56) as f64);
        let k = if i == 0 { 0 } else { r.below(4) as usize };
        let mut d: Vec<usize> = Vec::new();
        for _ in 0..k {
            let p = r.below(i as u64) as usize;
            if !d.contains(&p) {
                d.push(p);
            }
        }
        d.sort_unstable();
        deps.push(d);
    }
    (dur, deps)
}

/// Longest path from each task to the end of the plan, itself included.
fn tails(dur: &[f64], deps: &[Vec<usize>]) -> Vec<f64> {
    let n = dur.len();
    let mut tail = dur.to_vec();
    // Dependencies point to earlier tasks: reverse index order is a
    // reverse topological order.
    for i in (0..n).rev() {
        for &d in &deps[i] {
            tail[d] = tail[d].max(dur[d] + tail[i]);
        }
    }
    tail
}

/// The makespan of a list schedule at `jobs` with zero overhead: the longest
/// remaining path first (ties by index), as run-parallel ranks them.
fn list_schedule(dur: &[f64], deps: &[Vec<usize>], jobs: usize) -> f64 {
    let n = dur.len();
    let tail = tails(dur, deps);
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut dependents = vec![Vec::new(); n];
    for (i, ds) in deps.iter().enumerate() {
        for &d in ds {
            dependents[d].push(i);
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|&i| waiting[i] == 0).collect();
    let mut running: Vec<(f64, usize)> = Vec::new();
    let mut now = 0.0f64;
    let mut end = 0.0f64;
    loop {
        while running.len() < jobs && !ready.is_empty() {
            let (k, _) = ready
                .iter()
                .enumerate()
                .max_by(|a, b| tail[*a.1].total_cmp(&tail[*b.1]).then(b.1.cmp(a.1)))
                .unwrap();
            let i = ready.swap_remove(k);
            running.push((now + dur[i], i));
        }
        let Some((k, _)) = running
            .iter()
            .enumerate()
            .min_by(|a, b| a.1 .0.total_cmp(&b.1 .0))
        else {
            break;
        };
        let (t, i) = running.swap_remove(k);
        now = t;
        end = end.max(t);
        for &d in &dependents[i] {
            waiting[d] -= 1;
            if waiting[d] == 0 {
                ready.push(d);
            }
        }
    }
    end
}

fn makespan(cfg: &Cfg, tmp: &Path) {
    let n = cfg.n_dag;
    let (base, deps) = dag(n, 0x9E37_79B9_7F4A_7C15);
    let dur: Vec<f64> = base.iter().map(|d| d * cfg.time_scale).collect();
    let secs = |ms: f64| format!("{:.3}", ms / 1e3);
    let commands: Vec<String> = dur.iter().map(|&d| format!("sleep {}", secs(d))).collect();
    // estimated_hours proportional to the real duration: seconds as hours.
    let hours: Vec<f64> = dur.iter().map(|d| d / 1e3).collect();
    let dir = tmp.join("dag");
    write_plan(&dir, &commands, &deps, &hours);
    let makefile = dir.join("Makefile");
    let mut mk = String::new();
    let all: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    writeln!(mk, ".PHONY: all {}\nall: {}", all.join(" "), all.join(" ")).unwrap();
    for i in 0..n {
        let pre: Vec<String> = deps[i].iter().map(|d| format!("t{d}")).collect();
        writeln!(mk, "t{i}: {}\n\t@{}", pre.join(" "), commands[i]).unwrap();
    }
    std::fs::write(&makefile, mk).unwrap();
    let has_make = Command::new("make")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());

    let total: f64 = dur.iter().sum();
    let critical = tails(&dur, &deps).into_iter().fold(0.0, f64::max);
    let edges: usize = deps.iter().map(Vec::len).sum();
    let mut t = String::new();
    writeln!(
        t,
        "### Makespan: {n}-task DAG of `sleep`s ({edges} edges, {} to {} s each, sum {} s, critical path {} s)\n",
        secs(min(&dur)),
        secs(dur.iter().copied().fold(0.0, f64::max)),
        s(total),
        s(critical)
    )
    .unwrap();
    writeln!(
        t,
        "| -j | lower bound s | list schedule, 0 overhead, s | run-parallel makespan s, median / min | ÷ bound | run-parallel wall s, median / min | make -j wall s, median / min | make ÷ bound |"
    )
    .unwrap();
    writeln!(t, "|---|---|---|---|---|---|---|---|").unwrap();
    let mut notes = String::new();
    for &j in &cfg.jobs {
        let bound = critical.max(total / j as f64);
        let ideal = list_schedule(&dur, &deps, j);
        let (mut rp_span, mut rp_wall, mut mk_wall) = (Vec::new(), Vec::new(), Vec::new());
        let mut task_total = Vec::new();
        for _ in 0..cfg.reps {
            let (w, m) = run_parallel(&dir, tmp, j);
            rp_wall.push(w);
            rp_span.push(m["makespan_ms"].as_f64().unwrap());
            task_total.push(m["task_ms_total"].as_f64().unwrap());
            if has_make {
                mk_wall.push(timed(
                    Command::new("make")
                        .args(["-s", "-f"])
                        .arg(&makefile)
                        .args(["-j", &j.to_string(), "all"])
                        .current_dir(&dir),
                ));
            }
        }
        let (mk, mk_ratio) = if has_make {
            (
                format!("{} / {}", s(median(&mk_wall)), s(min(&mk_wall))),
                format!("{:.3}", median(&mk_wall) / bound),
            )
        } else {
            ("make not found".into(), "—".into())
        };
        writeln!(
            t,
            "| {j} | {} | {} | {} / {} | {:.3} | {} / {} | {mk} | {mk_ratio} |",
            s(bound),
            s(ideal),
            s(median(&rp_span)),
            s(min(&rp_span)),
            median(&rp_span) / bound,
            s(median(&rp_wall)),
            s(min(&rp_wall)),
        )
        .unwrap();
        writeln!(
            notes,
            "- -j {j}: tasks took {} s in all as measured by run-parallel (median), {} s nominal: {:.1} ms per task above its sleep",
            s(median(&task_total)),
            s(total),
            (median(&task_total) - total) / n as f64
        )
        .unwrap();
    }
    println!("{t}\n{notes}");
}
