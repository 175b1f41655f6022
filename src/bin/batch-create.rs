//! batch-create: scaffolds SUBPLAN or EXECUTION documents for a batch of a
//! plan's achievements, transactionally, never overwriting a file.

use anyhow::{anyhow, bail};
use clap::{ArgGroup, Parser};
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, github, plan_cli};
use parci_core::plan::scaffold::{self, Action, Mode, Refusal, Selection, Template};
use parci_core::plan::{self, status};
use parci_core::receipt::{canonical::finite, Body, FileInput, Verdict};
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "batch-create";

/// Create SUBPLAN (or first EXECUTION) documents for a batch of achievements,
/// from templates filled with the plan's data. Existing files are never
/// overwritten (they are skipped); all files are written to temporary names
/// and moved into place at the end, and any failure removes what this run
/// created. Shows a preview first, then asks (or needs --yes without a terminal).
///
/// Exit status: 0 done (or nothing to do, or a dry run), 1 refused (--executions
/// without SUBPLANs) or declined at the prompt, 2 usage, plan or I/O error
/// (nothing written).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  batch-create --subplans --dry-run                  # preview the next batch in ./
  batch-create --subplans docs/examples/plan --next --yes
  batch-create --executions plans/q3 --ids 2.1,2.3 --yes --commit
  batch-create --subplans plans/q3 --level 2 --template-dir plans/templates --yes")]
#[command(group(ArgGroup::new("mode").required(true).args(["subplans", "executions"])))]
#[command(group(ArgGroup::new("which").args(["level", "next", "ids"])))]
struct Args {
    /// Create subplans/SUBPLAN_<ID>.md
    #[arg(long)]
    subplans: bool,
    /// Create executions/EXECUTION_<ID>_1.md (each needs its SUBPLAN)
    #[arg(long)]
    executions: bool,
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Every achievement on dependency level N that is not complete or skipped
    #[arg(long, value_name = "N")]
    level: Option<u32>,
    /// The next runnable batch, as status shows it [default]
    #[arg(long)]
    next: bool,
    /// These achievements (comma-separated IDs)
    #[arg(long, value_name = "A,B", value_delimiter = ',', num_args = 1..)]
    ids: Vec<String>,
    /// Show what would be created and stop; nothing is written to the plan folder
    #[arg(long)]
    dry_run: bool,
    /// Do not ask; required when stdin is not a terminal
    #[arg(short, long)]
    yes: bool,
    /// Read SUBPLAN.md / EXECUTION.md templates from DIR instead of the built-in ones
    #[arg(long, value_name = "DIR")]
    template_dir: Option<PathBuf>,
    /// Make one git commit holding exactly the created files
    #[arg(long)]
    commit: bool,
    /// What to print: the preview for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging(&args.common);
    cli::main_with(PROGRAM, || run(args, Env::read()))
}

fn run(args: Args, env: Env) -> anyhow::Result<u8> {
    let t0 = Instant::now();
    let mode = if args.subplans {
        Mode::Subplans
    } else {
        Mode::Executions
    };
    let sel = match (&args.level, args.ids.is_empty()) {
        (Some(l), _) => Selection::Level(*l),
        (None, false) => Selection::Ids(args.ids.clone()),
        (None, true) => Selection::Next,
    };
    let l = plan_cli::load_valid(args.plan.as_deref())?;
    let c = &l.checked;
    let (p, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let r = status::report(p, dag, c.order.as_ref().expect("acyclic"), &c.states, None);
    let chosen =
        scaffold::select(p, &r.level_of, &c.states, &r.next_batch, &sel).map_err(|e| anyhow!(e))?;
    let template = Template::load(mode, args.template_dir.as_deref()).map_err(|e| anyhow!(e))?;
    let show = |rel: &str| plan::shown(&l.loc.dir, rel);
    let (docs, refused) =
        match scaffold::plan_documents(p, &l.loc.dir, &chosen, mode, &template, &c.markers) {
            Ok(d) => (d, vec![]),
            Err(Refusal::Unsafe(e)) => bail!(e),
            Err(Refusal::NoSubplan(ids)) => (vec![], ids),
        };
    let to_create: Vec<(String, Vec<u8>)> = docs
        .iter()
        .filter_map(|d| match &d.action {
            Action::Create(b) => Some((d.rel.clone(), b.clone())),
            Action::Skip(_) => None,
        })
        .collect();
    let quiet = args.common.quiet || args.format == Format::Json;
    let say = |s: String| {
        if !quiet {
            println!("{s}");
        }
    };
    for d in &docs {
        match &d.action {
            Action::Create(b) => say(format!("create  {} ({} bytes)", show(&d.rel), b.len())),
            Action::Skip(why) => say(format!("skip    {} ({why})", show(&d.rel))),
        }
    }
    let mut reasons = Vec::new();
    if !refused.is_empty() {
        reasons.push(format!(
            "--executions needs a SUBPLAN first; none for: {} (run batch-create --subplans for them)",
            plan_cli::some(&refused, 50)
        ));
        eprintln!("{PROGRAM}: refused: {}", reasons[0]);
    }
    let mut created: Vec<String> = Vec::new();
    let mut commit_id = None;
    if refused.is_empty() && !to_create.is_empty() && !args.dry_run {
        let targets: Vec<String> = to_create.iter().map(|(r, _)| r.clone()).collect();
        let git = if args.commit {
            let epoch = std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.parse().ok());
            Some(scaffold::git_prepare(&l.loc.dir, &targets, epoch).map_err(|e| anyhow!(e))?)
        } else {
            None
        };
        if confirm(&args, to_create.len(), &l.loc.dir)? {
            let applied = scaffold::apply(&l.loc.dir, &to_create).map_err(|e| anyhow!("{e}"))?;
            if let Some(g) = &git {
                let msg = format!(
                    "batch-create: {} {} for plan {}\n\n{}\n",
                    targets.len(),
                    mode.as_str(),
                    p.name,
                    targets.join("\n")
                );
                match g.commit(&targets, &msg) {
                    Ok(id) => commit_id = Some(id),
                    Err(e) => {
                        let left = applied.undo();
                        bail!(
                            "--commit failed ({}); the created files were removed again{}",
                            e.message(),
                            if left.is_empty() {
                                String::new()
                            } else {
                                format!(" except {left:?}")
                            }
                        );
                    }
                }
            }
            created = targets;
        } else {
            reasons.push("declined at the prompt: nothing was written".into());
        }
    }
    let summary = format!(
        "{PROGRAM}: {} {}: {} to create, {} skipped{}{}",
        chosen.len(),
        mode.as_str(),
        to_create.len(),
        docs.len() - to_create.len(),
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        },
        if created.is_empty() {
            String::new()
        } else {
            format!(", {} created", created.len())
        }
    );
    say(summary.clone());
    github::append_summary(
        &env,
        &format!("### {PROGRAM}\n\n{}\n\n", github::cell(&summary)),
    )?;

    let entry = |rel: &str| -> anyhow::Result<Value> {
        let f = FileInput::hash(&l.loc.dir.join(rel)).ok();
        Ok(
            json!({"path": show(rel), "bytes": f.as_ref().map(|f| f.bytes), "sha256": f.map(|f| f.sha256)}),
        )
    };
    let mut skipped = Vec::new();
    let mut planned = Vec::new();
    for d in &docs {
        match &d.action {
            Action::Create(b) => planned.push(json!({"id": d.id, "path": show(&d.rel), "bytes": b.len(), "sha256": parci_core::fsutil::sha256_hex(b)})),
            Action::Skip(why) => {
                let mut e = entry(&d.rel)?;
                e["id"] = json!(d.id);
                e["reason"] = json!(why);
                skipped.push(e);
            }
        }
    }
    let created_json: Vec<Value> = created
        .iter()
        .map(|rel| entry(rel))
        .collect::<anyhow::Result<_>>()?;
    let selection = match &sel {
        Selection::Next => json!({"kind": "next"}),
        Selection::Level(n) => json!({"kind": "level", "level": n}),
        Selection::Ids(ids) => json!({"kind": "ids", "ids": ids}),
    };
    let template_input = match &template.path {
        Some(tp) => Some(FileInput::hash(tp).map_err(|e| anyhow!("{}: {e}", tp.display()))?),
        None => None,
    };
    let failed = !reasons.is_empty();
    let body = Body {
        inputs: json!({
            "plan": plan_cli::plan_input(&l),
            "markers": plan_cli::markers_input(&l),
            "mode": mode.as_str(),
            "selection": selection,
            "template": template_input,
            "dry_run": args.dry_run,
            "commit": args.commit,
        }),
        results: json!({
            "plan_name": p.name,
            "selected": chosen.iter().map(|&i| &p.achievements[i as usize].id).collect::<Vec<_>>(),
            "to_create": planned,
            "created": created_json,
            "skipped": skipped,
            "refused": refused,
            "commit": commit_id,
        }),
        measurements: json!({"elapsed_ms": finite(t0.elapsed().as_secs_f64() * 1e3)?}),
        verdict: Verdict::from_findings(reasons, vec![]),
    };
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    if args.format == Format::Json && written.target != emit::Target::Stdout {
        print!("{}", written.text);
    }
    Ok(if failed {
        exit::GATE_FAILED
    } else {
        exit::PASS
    })
}

/// `--yes`, or `y` at a terminal prompt; without a terminal and `--yes`, an error.
fn confirm(args: &Args, n: usize, dir: &std::path::Path) -> anyhow::Result<bool> {
    if args.yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "stdin is not a terminal, so nobody can confirm: pass --yes to create the {n} files listed above (or --dry-run to only preview)"
        );
    }
    eprint!("Create {n} files in {}? [y/N] ", dir.display());
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}
