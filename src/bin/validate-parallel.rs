//! validate-parallel: gates a parallel.json plan: JSON and schema, IDs,
//! dependencies, cycles, statuses against marker files.

use clap::Parser;
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, github, plan_cli};
use parci_core::plan::validate::Severity;
use parci_core::receipt::{canonical::finite, Body, Verdict};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "validate-parallel";
/// Findings listed in the receipt at most (counts always cover all of them).
const MAX_LISTED: usize = 1000;

/// Check a parallel.json plan: schema (with line:column), duplicate and
/// case-colliding IDs, unknown and self dependencies, every cycle, complete
/// achievements with unfinished dependencies, marker files for unknown IDs.
///
/// Exit status: 0 valid (warnings allowed), 1 findings (warnings too with
/// --strict), 2 usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  validate-parallel                                  # ./parallel.json
  validate-parallel docs/examples/plan
  validate-parallel plans/q3/parallel.json --strict --format json")]
struct Args {
    /// The plan folder (holding parallel.json) or the plan file [default: .]
    plan: Option<PathBuf>,
    /// Warnings fail too: complete-before-dependency and orphan-marker
    #[arg(long)]
    strict: bool,
    /// What to print: findings for people, or this run's receipt
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
    let l = plan_cli::load(args.plan.as_deref(), args.strict, false)?;
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    let c = &l.checked;
    let errors = c.errors().count();
    let warnings = c.warnings().count();
    plan_cli::annotate(&env, &l.loc, PROGRAM, &c.findings);

    let levels = match (&c.dag, &c.order) {
        (Some(g), Some(o)) => json!(parci_core::plan::dag::widths(&g.levels(o)).len()),
        _ => json!(null),
    };
    let reason = |f: &parci_core::plan::validate::Finding| plan_cli::finding_text(&l.loc, f);
    let verdict = Verdict::from_findings(
        c.errors().take(20).map(reason).collect(),
        c.warnings().take(20).map(reason).collect(),
    );
    let failed = errors > 0;
    let counts: serde_json::Map<String, serde_json::Value> = c
        .counts()
        .into_iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    let plan = c.plan.as_ref();
    let body = Body {
        inputs: json!({
            "plan": plan_cli::plan_input(&l),
            "markers": plan_cli::markers_input(&l),
            "strict": args.strict,
        }),
        results: json!({
            "plan_name": plan.map(|p| p.name.clone()),
            "achievements": plan.map(|p| p.achievements.len()),
            "dependencies": c.dag.as_ref().map(|g| g.edge_count()),
            "levels": levels,
            "cycles": c.cycles,
            "counts": counts,
            "errors": errors,
            "warnings": warnings,
            "findings": c.findings.iter().take(MAX_LISTED).collect::<Vec<_>>(),
            "findings_not_listed": c.findings.len().saturating_sub(MAX_LISTED),
        }),
        measurements: json!({"elapsed_ms": finite(elapsed_ms)?}),
        verdict,
    };
    let summary = match (errors, warnings) {
        (0, 0) => format!(
            "{PROGRAM}: {}: valid: {} achievements, {} dependencies, {} levels",
            l.loc.file.display(),
            body.results["achievements"],
            body.results["dependencies"],
            body.results["levels"]
        ),
        _ => format!(
            "{PROGRAM}: {}: {errors} errors, {warnings} warnings",
            l.loc.file.display()
        ),
    };
    let mut md = format!("### {PROGRAM}\n\n{}\n\n", github::cell(&summary));
    if !c.findings.is_empty() {
        md.push_str("| place | severity | rule | finding |\n|---|---|---|---|\n");
        for f in c.findings.iter().take(50) {
            md.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                github::cell(&plan_cli::place(&l.loc, f)),
                if f.severity == Severity::Error {
                    "error"
                } else {
                    "warning"
                },
                f.rule.as_str(),
                github::cell(&f.message)
            ));
        }
        md.push('\n');
    }
    github::append_summary(&env, &md)?;
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    match args.format {
        Format::Text if !args.common.quiet => {
            for f in &c.findings {
                println!("{}", plan_cli::finding_text(&l.loc, f));
            }
            println!("{summary}");
        }
        Format::Json if written.target != emit::Target::Stdout => print!("{}", written.text),
        _ => {}
    }
    Ok(if failed {
        exit::GATE_FAILED
    } else {
        exit::PASS
    })
}
