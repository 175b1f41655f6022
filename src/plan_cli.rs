//! What validate-parallel, status and batch-create share on the CLI side:
//! loading a plan with one-line errors, findings as text and annotations,
//! and the renderings of a status report.

use crate::cli::Env;
use crate::github;
use anyhow::{anyhow, bail};
use parci_core::plan::layout::Layout;
use parci_core::plan::status::Report;
use parci_core::plan::validate::{self, Checked, Finding, Severity};
use parci_core::plan::{self, Location, PlanDoc, RunState};
use parci_core::receipt::FileInput;
use parci_core::text::count;
use serde_json::{json, Value};
use std::path::Path;

/// `--layout`: whose marker-file names to read (batch-create writes them too).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    /// The layout of the files present; parci's for a plan without any
    #[default]
    Auto,
    /// subplans/SUBPLAN_<ID>.md, executions/, reviews/ (docs/plans.md)
    Parci,
    /// subplans/SUBPLAN_<PLAN>_<NN>.md, execution/, execution/feedbacks/
    ContextManager,
}

impl LayoutArg {
    /// The layout asked for; `None`: detect it.
    pub fn layout(self) -> Option<Layout> {
        match self {
            LayoutArg::Auto => None,
            LayoutArg::Parci => Some(Layout::Parci),
            LayoutArg::ContextManager => Some(Layout::ContextManager),
        }
    }
}

/// A plan that was read and checked.
pub struct Loaded {
    pub loc: Location,
    pub doc: PlanDoc,
    pub checked: Checked,
    pub run: RunState,
}

/// Reads and checks the plan at `arg` (folder or file). I/O problems are errors.
pub fn load(
    arg: Option<&Path>,
    strict: bool,
    with_run_state: bool,
    layout: LayoutArg,
) -> anyhow::Result<Loaded> {
    let loc = plan::locate(arg).map_err(|e| anyhow!(e))?;
    let doc = PlanDoc::read(&loc.file).map_err(|e| {
        anyhow!(
            "{}: cannot read: {e}; pass a readable plan file",
            loc.file.display()
        )
    })?;
    let run = if with_run_state {
        RunState::load(&loc.dir).map_err(|e| anyhow!(e))?
    } else {
        RunState::default()
    };
    let checked = validate::check(&doc, &loc.dir, &run, strict, layout.layout())
        .map_err(|e| anyhow!("{}: cannot read the marker files: {e}", loc.dir.display()))?;
    Ok(Loaded {
        loc,
        doc,
        checked,
        run,
    })
}

/// [`load`], and an error (exit 2) unless the plan is valid: the first error,
/// where it is, and how many more validate-parallel would show.
pub fn load_valid(arg: Option<&Path>, layout: LayoutArg) -> anyhow::Result<Loaded> {
    let l = load(arg, false, true, layout)?;
    let errors: Vec<&Finding> = l.checked.errors().collect();
    if let Some(first) = errors.first() {
        let more = match errors.len() {
            1 => String::new(),
            n => format!(" ({} more)", n - 1),
        };
        bail!(
            "{}: the plan is not valid: {}{more}; run validate-parallel {} for every finding",
            place(&l.loc, first),
            first_line(first),
            l.loc.file.display()
        );
    }
    Ok(l)
}

fn first_line(f: &Finding) -> String {
    format!("[{}] {}", f.rule.as_str(), f.message)
}

/// `plan/parallel.json:12:5` or `plan/reviews/FIX_x.md`.
pub fn place(loc: &Location, f: &Finding) -> String {
    match (&f.file, f.line, f.column) {
        (Some(file), _, _) => plan::shown(&loc.dir, file),
        (None, Some(l), Some(c)) => format!("{}:{l}:{c}", loc.file.display()),
        _ => loc.file.display().to_string(),
    }
}

/// One line per finding: `file:line:col: error[rule]: pointer: message`.
pub fn finding_text(loc: &Location, f: &Finding) -> String {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let ptr = if f.pointer.is_empty() {
        String::new()
    } else {
        format!("{}: ", f.pointer)
    };
    format!(
        "{}: {sev}[{}]: {ptr}{}",
        place(loc, f),
        f.rule.as_str(),
        f.message
    )
}

/// GitHub annotations for findings, at their file and line.
pub fn annotate(env: &Env, loc: &Location, program: &str, findings: &[Finding]) {
    for f in findings {
        let level = match f.severity {
            Severity::Error => github::Level::Error,
            Severity::Warning => github::Level::Warning,
        };
        let (file, line) = match &f.file {
            Some(file) => (plan::shown(&loc.dir, file), None),
            None => (loc.file.display().to_string(), f.line),
        };
        github::annotate(
            env,
            level,
            &file,
            line,
            &format!("{program}: {}", f.rule.as_str()),
            &f.message,
        );
    }
}

/// The plan file as a receipt input.
pub fn plan_input(l: &Loaded) -> FileInput {
    FileInput {
        path: l.loc.file.display().to_string(),
        bytes: l.doc.bytes.len() as u64,
        sha256: parci_core::fsutil::sha256_hex(&l.doc.bytes),
    }
}

/// The marker files as a receipt input (paths as shown, sorted).
pub fn markers_input(l: &Loaded) -> Value {
    json!(l
        .checked
        .markers
        .files
        .iter()
        .map(|(f, _)| plan::shown(&l.loc.dir, f))
        .collect::<Vec<_>>())
}

/// Truncates a list for people: the first `n`, then "… and k more".
pub fn some(items: &[String], n: usize) -> String {
    let mut s = items[..items.len().min(n)].join(", ");
    if items.len() > n {
        s.push_str(&format!(" … and {} more", items.len() - n));
    }
    s
}

const SHOW: usize = 20;

/// The people's view: levels, counts, next batch, blocked, critical path, parallelism.
pub fn status_table(r: &Report, plan: &plan::Plan, env: &Env) -> String {
    let mut o = String::new();
    let done: u32 = r.counts["complete"] + r.counts["skipped"];
    o.push_str(&format!(
        "plan {}: {}, {done} done ({}%)\n",
        r.plan_name,
        count(r.total, "achievement"),
        r.percent_complete
    ));
    let counts: Vec<String> = r
        .counts
        .iter()
        .filter(|(_, &n)| n > 0)
        .map(|(s, n)| format!("{s} {n}"))
        .collect();
    o.push_str(&format!("  {}\n\n", counts.join(", ")));
    let idw = plan
        .achievements
        .iter()
        .map(|a| a.id.len())
        .max()
        .unwrap_or(2)
        .clamp(2, 24);
    o.push_str(&format!(
        "  {:<5} {:<idw$}  {:<17}  {:>7}  title\n",
        "level", "id", "status", "hours"
    ));
    let mut rows: Vec<usize> = (0..plan.achievements.len()).collect();
    rows.sort_by_key(|&i| (r.level_of[i], i));
    for (shown, &i) in rows.iter().enumerate() {
        if shown == 200 {
            o.push_str(&format!(
                "  … {} more rows (--format json has all)\n",
                rows.len() - shown
            ));
            break;
        }
        let a = &plan.achievements[i];
        let st = r.statuses[&a.id];
        let painted = match st {
            "complete" | "skipped" => env.paint(32, &format!("{st:<17}")),
            "failed" => env.paint(31, &format!("{st:<17}")),
            "in_progress" => env.paint(33, &format!("{st:<17}")),
            _ => format!("{st:<17}"),
        };
        o.push_str(&format!(
            "  {:<5} {:<idw$}  {painted}  {:>7}  {}\n",
            r.level_of[i],
            a.id,
            a.hours.map_or("-".into(), |h| h.text()),
            a.title.as_deref().unwrap_or("")
        ));
    }
    o.push('\n');
    let widths: Vec<String> = r
        .levels
        .iter()
        .map(|l| format!("L{} {}/{}", l.level, l.done, l.width))
        .collect();
    o.push_str(&format!("levels (done/width): {}\n", some(&widths, SHOW)));
    if let Some(why) = &r.stalled {
        o.push_str(&format!("{}: {why}\n", env.paint(31, "stalled")));
    } else if r.next_batch.is_empty() {
        o.push_str("all achievements are complete or skipped\n");
    } else {
        o.push_str(&format!(
            "next batch ({}): {}\n",
            r.next_batch.len(),
            some(&r.next_batch, SHOW)
        ));
    }
    if !r.in_progress.is_empty() {
        o.push_str(&format!(
            "in progress ({}): {}\n",
            r.in_progress.len(),
            some(&r.in_progress, SHOW)
        ));
    }
    if !r.failed.is_empty() {
        o.push_str(&format!(
            "failed, need a fix ({}): {}\n",
            r.failed.len(),
            some(&r.failed, SHOW)
        ));
    }
    if !r.blocked.is_empty() {
        o.push_str(&format!("blocked ({}):\n", r.blocked.len()));
        for b in r.blocked.iter().take(SHOW) {
            o.push_str(&format!("  {} waits on {}\n", b.id, some(&b.waiting_on, 8)));
        }
        if r.blocked.len() > SHOW {
            o.push_str(&format!("  … and {} more\n", r.blocked.len() - SHOW));
        }
    }
    let unit = if r.weight_unit == "hours" {
        "h"
    } else {
        " achievements"
    };
    let hours = |h: &parci_core::plan::status::HoursRange| {
        if r.weight_unit != "hours" {
            String::new()
        } else if h.min == h.max {
            format!(", {} h", plan::model::fmt_hours(h.max))
        } else {
            format!(
                ", {}-{} h",
                plan::model::fmt_hours(h.min),
                plan::model::fmt_hours(h.max)
            )
        }
    };
    o.push_str(&format!(
        "critical path ({}{}): {}\n",
        count(r.critical_path.ids.len() as u64, "achievement"),
        hours(&r.critical_path.hours),
        some(&r.critical_path.ids, SHOW).replace(", ", " -> ")
    ));
    o.push_str(&format!(
        "remaining critical path ({}{}): {}\n",
        count(r.remaining_critical_path.ids.len() as u64, "achievement"),
        hours(&r.remaining_critical_path.hours),
        some(&r.remaining_critical_path.ids, SHOW).replace(", ", " -> ")
    ));
    let p = &r.parallelization;
    o.push_str(&format!(
        "parallel: {:.0}% of the remaining work is off the critical path (speed-up at most {}x); \
         recommended workers {} (widest level {}{})\n",
        p.parallel_share * 100.0,
        p.max_speedup,
        p.recommended_workers,
        p.widest_level,
        p.max_workers
            .map_or(String::new(), |m| format!(", --max-workers {m}"))
    ));
    if !r.batches.is_empty() {
        let b: Vec<String> = r
            .batches
            .iter()
            .map(|b| {
                format!(
                    "{}: {}, {}{unit}",
                    count(b.workers as u64, "worker"),
                    count(b.batches as u64, "batch"),
                    plan::model::fmt_hours(b.hours)
                )
            })
            .collect();
        o.push_str(&format!("batches: {}\n", b.join("; ")));
    }
    o
}

/// A Markdown report (step summaries, issues, PRs).
pub fn status_markdown(r: &Report, plan: &plan::Plan) -> String {
    let done: u32 = r.counts["complete"] + r.counts["skipped"];
    let mut o = format!(
        "### Plan {}\n\n{done} of {} done (**{}%**)",
        github::cell(&r.plan_name),
        count(r.total, "achievement"),
        r.percent_complete
    );
    match (&r.stalled, r.next_batch.is_empty()) {
        (Some(why), _) => o.push_str(&format!(" · **stalled**: {}", github::cell(why))),
        (None, true) => o.push_str(" · all complete"),
        (None, false) => o.push_str(&format!(
            " · next batch: {}",
            github::cell(&some(&r.next_batch, SHOW))
        )),
    }
    o.push_str(
        "\n\n| level | id | status | hours | title | waits on |\n|---|---|---|---|---|---|\n",
    );
    let waits: std::collections::HashMap<&str, &Vec<String>> = r
        .blocked
        .iter()
        .map(|b| (b.id.as_str(), &b.waiting_on))
        .collect();
    let mut rows: Vec<usize> = (0..plan.achievements.len()).collect();
    rows.sort_by_key(|&i| (r.level_of[i], i));
    for &i in rows.iter().take(500) {
        let a = &plan.achievements[i];
        o.push_str(&format!(
            "| {} | `{}` | {} | {} | {} | {} |\n",
            r.level_of[i],
            a.id,
            r.statuses[&a.id],
            a.hours.map_or("".into(), |h| h.text()),
            github::cell(a.title.as_deref().unwrap_or("")),
            waits
                .get(a.id.as_str())
                .map_or(String::new(), |w| some(w, 8))
        ));
    }
    if rows.len() > 500 {
        o.push_str(&format!("\n… {} more rows\n", rows.len() - 500));
    }
    o.push_str(&format!(
        "\nCritical path remaining: {} ({}); recommended workers: {}\n\n",
        github::cell(&some(&r.remaining_critical_path.ids, SHOW).replace(", ", " → ")),
        count(r.remaining_critical_path.ids.len() as u64, "achievement"),
        r.parallelization.recommended_workers
    ));
    o
}

fn color(status: &str) -> (&'static str, &'static str) {
    // (fill, stroke)
    match status {
        "complete" => ("#b7e4c7", "#2d6a4f"),
        "skipped" => ("#e9ecef", "#6c757d"),
        "failed" => ("#f8d7da", "#b02a37"),
        "in_progress" => ("#fff3bf", "#b08900"),
        "execution_created" => ("#d0ebff", "#1c7ed6"),
        "subplan_created" => ("#e7f5ff", "#4dabf7"),
        _ => ("#ffffff", "#495057"),
    }
}

/// Graphviz: one node per achievement coloured by status, an edge from each
/// dependency to what depends on it.
pub fn status_dot(r: &Report, plan: &plan::Plan) -> String {
    let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
    let mut o = format!(
        "digraph {} {{\n  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"sans-serif\"];\n",
        q(&r.plan_name)
    );
    for a in &plan.achievements {
        let st = r.statuses[&a.id];
        let (fill, stroke) = color(st);
        let label = match &a.title {
            Some(t) => format!(
                "{}\\n{}\\n{st}",
                a.id,
                t.replace('\\', "\\\\").replace('"', "\\\"")
            ),
            None => format!("{}\\n{st}", a.id),
        };
        o.push_str(&format!(
            "  {} [label=\"{label}\", fillcolor=\"{fill}\", color=\"{stroke}\"];\n",
            q(&a.id)
        ));
    }
    for a in &plan.achievements {
        for d in &a.dependencies {
            o.push_str(&format!("  {} -> {};\n", q(d), q(&a.id)));
        }
    }
    o.push_str("}\n");
    o
}

/// Mermaid flowchart, for Markdown that renders it (GitHub does).
pub fn status_mermaid(r: &Report, plan: &plan::Plan) -> String {
    // Mermaid node names: n<index>; labels quoted.
    let mut o = String::from("flowchart LR\n");
    let idx = parci_core::plan::dag::id_index(plan);
    for (i, a) in plan.achievements.iter().enumerate() {
        let label = match a.title.as_deref() {
            Some(t) if !t.trim().is_empty() => format!("{}<br/>{t}", a.id),
            _ => a.id.clone(),
        }
        .replace('"', "#quot;");
        o.push_str(&format!("  n{i}[\"{label}\"]:::{}\n", r.statuses[&a.id]));
    }
    for (i, a) in plan.achievements.iter().enumerate() {
        for d in &a.dependencies {
            if let Some(j) = idx.get(d.as_str()) {
                o.push_str(&format!("  n{j} --> n{i}\n"));
            }
        }
    }
    for s in parci_core::plan::State::ALL {
        let (fill, stroke) = color(s.as_str());
        o.push_str(&format!(
            "  classDef {} fill:{fill},stroke:{stroke}\n",
            s.as_str()
        ));
    }
    o
}

/// The next batch as a GitHub Actions matrix: `{"include":[{"id":…,"title":…}]}`.
pub fn status_gha_matrix(r: &Report, plan: &plan::Plan) -> String {
    let idx = parci_core::plan::dag::id_index(plan);
    let include: Vec<Value> = r
        .next_batch
        .iter()
        .map(|id| {
            let a = &plan.achievements[idx[id.as_str()] as usize];
            json!({"id": a.id, "title": a.label()})
        })
        .collect();
    format!("{}\n", json!({ "include": include }))
}

/// `status --format prompt`: a Markdown prompt asking an assistant to
/// propose a `parallel.json` for the plan document `doc` (a `PLAN_*.md`
/// beside the plan, when there is one), with the independence checklist,
/// the three parallelization levels of context-manager's discovery, the
/// fields parci reads, and the plan's current graph.
pub fn status_prompt(r: &Report, plan: &plan::Plan, doc: Option<&std::path::Path>) -> String {
    let mut out = String::from(
        "# Find the parallel work in this plan

",
    );
    out += &match doc {
        Some(d) => format!(
            "Read the plan document `{}` and propose a `parallel.json` for it: which achievements \
             can be worked on at the same time, and what each one must wait for.\n\n",
            d.display()
        ),
        None => "Read the plan below and propose an improved `parallel.json` for it: which achievements \
                 can be worked on at the same time, and what each one must wait for.\n\n"
            .to_string(),
    };
    out += "## Three levels of parallelism\n\n\
        1. **Level 1, one achievement, several executions**: the same achievement split into parts \
        that separate people or agents can do at once (one test file per module, one kernel per format).\n\
        2. **Level 2, achievements of the same priority**: achievements of one priority band that \
        do not depend on each other.\n\
        3. **Level 3, across priorities**: a later achievement that needs nothing from the earlier \
        ones and can start now.\n\n\
        Say which level each parallel group is, and set `parallelization_level` to the highest one used \
        (`level_1`, `level_2` or `level_3`).\n\n";
    out += "## Two achievements are independent only if all of these hold\n\n\
        - **Technical**: neither needs code, data, an interface or a decision the other produces; \
        they do not edit the same files or the same functions.\n\
        - **Testing**: each can be tested on its own, without the other being finished, and their \
        tests do not share state (fixtures, ports, databases, files).\n\
        - **Mergeability**: their changes can be merged in either order without conflicts, and \
        neither changes a shared configuration, schema or build file the other relies on.\n\n\
        When in doubt, add the dependency: a missing edge breaks a build, an extra one only costs time.\n\n";
    out += "## What to write\n\n\
        A JSON object: `plan_name`, `parallelization_level`, and `achievements`, each with \
        `achievement_id`, `title`, `dependencies` (IDs it must wait for), `estimated_hours` \
        (a number or `\"low-high\"`), and where it helps `priority`, `command`, `inputs` and `outputs`. \
        No cycles. Then explain each dependency in one line. `validate-parallel` checks the result.\n\n";
    out += &format!(
        "## The current graph ({}, {})\n\n| level | ID | title | depends on | hours | status |\n|---|---|---|---|---|---|\n",
        count(r.total, "achievement"),
        count(r.levels.len() as u64, "level")
    );
    let idx = parci_core::plan::dag::id_index(plan);
    let mut rows: Vec<&parci_core::plan::status::AchievementRow> = r.achievements.iter().collect();
    rows.sort_by_key(|a| (a.level, idx[a.id.as_str()]));
    for a in rows {
        let deps = &plan.achievements[idx[a.id.as_str()] as usize].dependencies;
        let hours = a.hours.as_ref().map_or("?".to_string(), |h| {
            if h.min == h.max {
                format!("{}", h.max)
            } else {
                format!("{}-{}", h.min, h.max)
            }
        });
        out += &format!(
            "| {} | {} | {} | {} | {hours} | {} |\n",
            a.level,
            a.id,
            a.title.as_deref().unwrap_or("").replace('|', "\\|"),
            if deps.is_empty() {
                "-".to_string()
            } else {
                deps.join(", ")
            },
            a.status
        );
    }
    out += &format!(
        "\nCritical path: {} ({} h at most).\n",
        r.critical_path.ids.join(" → "),
        r.critical_path.hours.max
    );
    out
}

/// Milliseconds as people read a duration: `850 ms`, `12.5 s`, `3.25 h`.
pub fn human_ms(ms: f64) -> String {
    if ms < 1e3 {
        format!("{ms:.0} ms")
    } else if ms < 3.6e6 {
        format!("{:.1} s", ms / 1e3)
    } else {
        format!("{:.2} h", ms / 3.6e6)
    }
}

/// run-parallel --dry-run: the simulated schedule, makespan against
/// sequential time, and the critical path.
pub fn schedule_text(plan: &plan::Plan, s: &plan::run::Schedule, jobs: usize) -> String {
    use std::fmt::Write;
    let id = |i: u32| plan.achievements[i as usize].id.as_str();
    let mut out = format!(
        "dry run: {} at -j {jobs}, nothing started\n{:>10}  {:>10}  id\n",
        count(plan.achievements.len() as u64, "task"),
        "start",
        "end"
    );
    for &(i, a, b) in &s.slots {
        let kind = if plan.achievements[i as usize].command.is_none() {
            "  (milestone)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>10}  {:>10}  {}{kind}",
            human_ms(a),
            human_ms(b),
            id(i)
        );
    }
    let speedup = if s.makespan_ms > 0.0 {
        s.sequential_ms / s.makespan_ms
    } else {
        1.0
    };
    let _ = writeln!(
        out,
        "estimated makespan {} against {} sequential (speedup {speedup:.2})",
        human_ms(s.makespan_ms),
        human_ms(s.sequential_ms)
    );
    let path: Vec<&str> = s.critical_path.iter().map(|&i| id(i)).collect();
    let _ = writeln!(
        out,
        "critical path ({}): {}",
        human_ms(s.critical_ms),
        path.join(" -> ")
    );
    // Batches: the tasks that start at the same moment (milestones take no slot).
    let mut batches: Vec<(f64, Vec<&str>)> = Vec::new();
    for &(i, a, _) in &s.slots {
        if plan.achievements[i as usize].command.is_none() {
            continue;
        }
        match batches.last_mut() {
            Some((t, ids)) if *t == a => ids.push(id(i)),
            _ => batches.push((a, vec![id(i)])),
        }
    }
    let _ = writeln!(out, "batches ({}):", batches.len());
    for (k, (t, ids)) in batches.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {:>3}  at {:>9}  {}",
            k + 1,
            human_ms(*t),
            ids.join(", ")
        );
    }
    let tasks: usize = batches.iter().map(|b| b.1.len()).sum();
    let widest = batches.iter().map(|b| b.1.len()).max().unwrap_or(0);
    let bound = s.critical_ms.max(s.sequential_ms / jobs as f64);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    let _ = writeln!(
        out,
        "batch statistics: {}, {:.1} tasks per batch (widest {widest}), slot use {:.0}% of {jobs}, makespan {:.2}x the lower bound {}",
        count(batches.len() as u64, "batch"),
        ratio(tasks as f64, batches.len() as f64),
        100.0 * ratio(s.sequential_ms, s.makespan_ms * jobs as f64),
        ratio(s.makespan_ms, bound),
        human_ms(bound)
    );
    out
}
