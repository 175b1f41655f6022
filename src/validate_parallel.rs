//! validate-parallel's run: read and check the plan, and report the
//! findings (text, annotations, step summary table, receipt). The program in
//! `src/bin/validate-parallel.rs` only turns its flags into [`Options`].

use crate::cli::{Common, Env, Format};
use crate::{emit, exit, github, plan_cli};
use parci_core::plan::validate::Severity;
use parci_core::receipt::{canonical::finite, Body, Receipt, Verdict};
use parci_core::text::count;
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "validate-parallel";
/// Findings listed in the receipt at most (counts always cover all of them).
const MAX_LISTED: usize = 1000;

/// Everything one validate-parallel run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// The plan folder or file; `None`: the current directory.
    pub plan: Option<PathBuf>,
    /// Warnings fail too.
    pub strict: bool,
    pub format: Format,
    /// Marker-file layout (`Auto`: detected from the files).
    pub layout: plan_cli::LayoutArg,
    pub common: Common,
}

/// What a run produced: its exit code and the sealed receipt.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
}

/// Checks the plan: prints the findings (or the receipt), annotates, writes
/// the receipt, returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let l = plan_cli::load(opts.plan.as_deref(), opts.strict, false, opts.layout)?;
    let elapsed_ms = t0.elapsed().as_secs_f64() * 1e3;
    let c = &l.checked;
    let errors = c.errors().count();
    let warnings = c.warnings().count();
    plan_cli::annotate(env, &l.loc, PROGRAM, &c.findings);

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
            "layout": l.checked.naming.layout.as_str(),
            "strict": opts.strict,
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
            "{PROGRAM}: {}: valid: {}, {}, {}",
            l.loc.file.display(),
            count(
                body.results["achievements"].as_u64().unwrap_or(0),
                "achievement"
            ),
            count(
                body.results["dependencies"].as_u64().unwrap_or(0),
                "dependency"
            ),
            count(body.results["levels"].as_u64().unwrap_or(0), "level")
        ),
        _ => format!(
            "{PROGRAM}: {}: {}, {}",
            l.loc.file.display(),
            count(errors as u64, "error"),
            count(warnings as u64, "warning")
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
    github::append_summary(env, &md)?;
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    match opts.format {
        Format::Text if !opts.common.quiet => {
            for f in &c.findings {
                println!("{}", plan_cli::finding_text(&l.loc, f));
            }
            println!("{summary}");
        }
        Format::Json => written.echo(),
        _ => {}
    }
    crate::cli::release(l);
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn opts(dir: &Path) -> Options {
        Options {
            layout: plan_cli::LayoutArg::Auto,
            plan: Some(dir.to_path_buf()),
            strict: false,
            format: Format::Text,
            common: Common::quiet_to(dir.join("validate.json")),
        }
    }

    fn write(dir: &Path, achievements: &str) {
        let text = format!(r#"{{"plan_name": "t", "achievements": [{achievements}]}}"#);
        std::fs::write(dir.join("parallel.json"), text).unwrap();
    }

    #[test]
    fn a_valid_plan_passes_and_a_cycle_fails() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        write(
            t.path(),
            r#"{"achievement_id": "a", "dependencies": []},
               {"achievement_id": "b", "dependencies": ["a"]}"#,
        );
        let ok = run(&opts(t.path()), &env).unwrap();
        assert_eq!(ok.code, exit::PASS);
        assert_eq!(ok.receipt.results["levels"], 2);
        assert_eq!(ok.receipt.results["dependencies"], 1);

        write(
            t.path(),
            r#"{"achievement_id": "a", "dependencies": ["b"]},
               {"achievement_id": "b", "dependencies": ["a"]}"#,
        );
        let bad = run(&opts(t.path()), &env).unwrap();
        assert_eq!(bad.code, exit::GATE_FAILED);
        assert_eq!(bad.receipt.results["cycles"].as_array().unwrap().len(), 1);
        assert!(
            bad.receipt.verdict.reasons[0].contains("error["),
            "{:?}",
            bad.receipt.verdict
        );
    }

    #[test]
    fn strict_turns_an_orphan_marker_into_a_failure() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        write(t.path(), r#"{"achievement_id": "a", "dependencies": []}"#);
        std::fs::create_dir(t.path().join("reviews")).unwrap();
        std::fs::write(t.path().join("reviews/APPROVED_zz.md"), "").unwrap();
        let lax = run(&opts(t.path()), &env).unwrap();
        assert_eq!(lax.code, exit::PASS);
        assert_eq!(lax.receipt.results["warnings"], 1);
        let strict = Options {
            strict: true,
            ..opts(t.path())
        };
        assert_eq!(run(&strict, &env).unwrap().code, exit::GATE_FAILED);
    }
}
