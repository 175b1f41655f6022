//! batch-create's run: pick the batch, fill the templates, preview, confirm,
//! create the files transactionally (and commit them), and report. The
//! program in `src/bin/batch-create.rs` only turns its flags into [`Options`].

use crate::cli::{Common, Env, Format};
use crate::{emit, exit, github, plan_cli};
use anyhow::{anyhow, bail};
use parci_core::plan::scaffold::{self, Action, Mode, Refusal, Selection, Template};
use parci_core::plan::{self, status};
use parci_core::receipt::{canonical::finite, Body, FileInput, Receipt, Verdict};
use parci_core::text::count;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "batch-create";

/// Everything one batch-create run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// The plan folder or file; `None`: the current directory.
    pub plan: Option<PathBuf>,
    /// SUBPLANs or first EXECUTIONs.
    pub mode: Mode,
    /// Marker-file layout (`Auto`: the layout the plan already uses, parci's for a new plan).
    pub layout: plan_cli::LayoutArg,

    /// Which achievements.
    pub selection: Selection,
    /// Preview only: nothing is written to the plan folder.
    pub dry_run: bool,
    /// Do not ask (required when stdin is not a terminal).
    pub yes: bool,
    /// Templates from here instead of the built-in ones.
    pub template_dir: Option<PathBuf>,
    /// One git commit holding exactly the created files.
    pub commit: bool,
    pub format: Format,
    pub common: Common,
}

/// What a run produced: its exit code, the receipt, the files created
/// (relative to the plan folder).
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub created: Vec<String>,
}

/// Selects, previews, confirms and creates the documents: prints what
/// `opts.format` asks for, writes the receipt, returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let (mode, sel) = (opts.mode, &opts.selection);
    let l = plan_cli::load_valid(opts.plan.as_deref(), opts.layout)?;
    let c = &l.checked;
    let (p, dag) = (
        c.plan.as_ref().expect("valid"),
        c.dag.as_ref().expect("valid"),
    );
    let r = status::report(p, dag, c.order.as_ref().expect("acyclic"), &c.states, None);
    let chosen =
        scaffold::select(p, &r.level_of, &c.states, &r.next_batch, sel).map_err(|e| anyhow!(e))?;
    let template = Template::load(mode, opts.template_dir.as_deref()).map_err(|e| anyhow!(e))?;
    let show = |rel: &str| plan::shown(&l.loc.dir, rel);
    let (docs, refused) = match scaffold::plan_documents(
        p, &l.loc.dir, &chosen, mode, &template, &c.markers, &c.naming,
    ) {
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
    let quiet = opts.common.quiet || opts.format == Format::Json;
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
    if refused.is_empty() && !to_create.is_empty() && !opts.dry_run {
        let targets: Vec<String> = to_create.iter().map(|(r, _)| r.clone()).collect();
        let git = if opts.commit {
            let epoch = env.source_date_epoch;
            Some(scaffold::git_prepare(&l.loc.dir, &targets, epoch).map_err(|e| anyhow!(e))?)
        } else {
            None
        };
        if confirm(opts.yes, to_create.len(), &l.loc.dir)? {
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
        "{PROGRAM}: {}: {} to create, {} skipped{}{}",
        count(
            chosen.len() as u64,
            match mode {
                Mode::Subplans => "subplan",
                Mode::Executions => "execution",
            }
        ),
        to_create.len(),
        docs.len() - to_create.len(),
        if opts.dry_run {
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
        env,
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
    let selection = match sel {
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
            "layout": l.checked.naming.layout.as_str(),
            "mode": mode.as_str(),
            "selection": selection,
            "template": template_input,
            "dry_run": opts.dry_run,
            "commit": opts.commit,
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
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    if opts.format == Format::Json {
        written.echo();
    }
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
        created,
    })
}

/// `--yes`, or `y` at a terminal prompt; without a terminal and `--yes`, an error.
fn confirm(yes: bool, n: usize, dir: &std::path::Path) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "stdin is not a terminal, so nobody can confirm: pass --yes to create the {} listed above (or --dry-run to only preview)",
            count(n as u64, "file")
        );
    }
    eprint!(
        "Create {} in {}? [y/N] ",
        count(n as u64, "file"),
        dir.display()
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// A plan folder: `b` depends on `a`.
    fn plan(dir: &Path) {
        let text = r#"{"plan_name": "t", "achievements": [
  {"achievement_id": "a", "dependencies": [], "title": "First"},
  {"achievement_id": "b", "dependencies": ["a"]}
]}"#;
        std::fs::write(dir.join("parallel.json"), text).unwrap();
    }

    fn opts(dir: &Path, mode: Mode, selection: Selection) -> Options {
        Options {
            layout: plan_cli::LayoutArg::Auto,
            plan: Some(dir.to_path_buf()),
            mode,
            selection,
            dry_run: false,
            yes: true,
            template_dir: None,
            commit: false,
            format: Format::Text,
            common: Common::quiet_to(dir.join("receipt.json")),
        }
    }

    #[test]
    fn the_next_batch_gets_its_subplans_once() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path());
        let env = Env::plain(t.path());
        let o = opts(t.path(), Mode::Subplans, Selection::Next);
        let dry = run(
            &Options {
                dry_run: true,
                ..o.clone()
            },
            &env,
        )
        .unwrap();
        assert_eq!((dry.code, dry.created.len()), (exit::PASS, 0));
        assert_eq!(dry.receipt.results["to_create"][0]["id"], "a");
        assert!(
            !t.path().join("subplans").exists(),
            "a dry run writes nothing"
        );

        let out = run(&o, &env).unwrap();
        assert_eq!(out.code, exit::PASS);
        assert_eq!(out.created, ["subplans/SUBPLAN_a.md"]);
        let text = std::fs::read_to_string(t.path().join("subplans/SUBPLAN_a.md")).unwrap();
        assert!(text.contains("First"), "{text}");
        assert_eq!(out.receipt.results["selected"], json!(["a"]));

        let again = run(&o, &env).unwrap();
        assert!(again.created.is_empty());
        assert_eq!(again.receipt.results["skipped"][0]["id"], "a");
    }

    #[test]
    fn executions_without_a_subplan_are_refused() {
        let t = tempfile::tempdir().unwrap();
        plan(t.path());
        let o = opts(t.path(), Mode::Executions, Selection::Ids(vec!["b".into()]));
        let out = run(&o, &Env::plain(t.path())).unwrap();
        assert_eq!(out.code, exit::GATE_FAILED);
        assert_eq!(out.receipt.results["refused"], json!(["b"]));
        assert!(out.receipt.verdict.reasons[0].starts_with("--executions needs a SUBPLAN first"));
        assert!(!t.path().join("executions").exists());
    }
}
