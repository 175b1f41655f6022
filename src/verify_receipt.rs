//! verify-receipt's run: collect the receipt files, verify (and replay)
//! each, and report (a line per file, annotations, step summary, its own
//! receipt). The program in `src/bin/verify-receipt.rs` only turns its flags
//! into [`Options`].

use crate::cli::{Common, Env, Format, SignerArgs};
use crate::{emit, exit, github};
use anyhow::{bail, Context};
use parci_core::receipt::Receipt;
use parci_core::verify::{self, kinds};
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "verify-receipt";

/// Everything one verify-receipt run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// Receipt files or directories searched for *.json; empty: target/parci.
    pub paths: Vec<PathBuf>,
    /// Every receipt must be of this kind.
    pub kind: Option<String>,
    /// Also re-run the workload of receipts whose kind records one.
    pub replay: bool,
    /// A Sigstore bundle that must attest the one receipt given.
    pub attestation: Option<PathBuf>,
    pub signer: SignerArgs,
    pub format: Format,
    pub common: Common,
}

/// What a run produced: its exit code, its own receipt, one report per file.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub reports: Vec<verify::Report>,
}

/// Verifies every receipt `opts` names: prints a line per file (or the
/// receipt), annotates, writes its own receipt, returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    if let Some(k) = &opts.kind {
        if kinds::find(k).is_none() {
            let known: Vec<_> = kinds::KINDS.iter().map(|k| k.name).collect();
            bail!(
                "--kind {k:?} is not a kind this build knows; use one of {}",
                known.join(", ")
            );
        }
    }
    let paths = if opts.paths.is_empty() {
        vec![PathBuf::from("target/parci")]
    } else {
        opts.paths.clone()
    };
    let start = Instant::now();
    let files = verify::collect(&paths).map_err(|(p, e)| {
        anyhow::anyhow!(
            "{}: {e}; pass receipt files or directories that exist",
            p.display()
        )
    })?;
    if files.is_empty() {
        bail!(
            "no *.json receipts under {}; nothing to verify",
            join(&paths)
        );
    }
    if opts.attestation.is_none()
        && (opts.signer.signer_workflow.is_some() || opts.signer.trusted_root.is_some())
    {
        bail!("--signer-workflow and --trusted-root say how to check an attestation; pass --attestation BUNDLE too");
    }
    let attestation = match &opts.attestation {
        Some(b) => {
            if files.len() != 1 {
                bail!(
                    "--attestation {}: a bundle attests one receipt, and {} were given; pass the one receipt file it was made for",
                    b.display(),
                    files.len()
                );
            }
            Some((b, opts.signer.root()?, opts.signer.inputs(b)?))
        }
        None => None,
    };
    let mut reports = Vec::with_capacity(files.len());
    for f in &files {
        let mut r = verify::verify_file(f, opts.kind.as_deref())
            .with_context(|| format!("{}: cannot read", f.display()))?;
        if let Some((bundle, root, _)) = &attestation {
            verify::attest_into(f, bundle, root, &opts.signer.policy(), &mut r)
                .map_err(anyhow::Error::msg)?;
        }
        if opts.replay && r.is_valid() {
            let ran = verify::replay_into(f, &mut r)
                .with_context(|| format!("{}: cannot read", f.display()))?;
            tracing::info!(file = %f.display(), ran, "replay");
        }
        tracing::debug!(file = %f.display(), errors = r.errors.len(), "verified");
        reports.push(r);
    }
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    let attested = attestation.map_or(serde_json::Value::Null, |(_, _, v)| v);
    let body = verify::body(
        &reports,
        opts.kind.as_deref(),
        opts.replay,
        attested,
        elapsed_ms,
    )?;
    let failed = body.verdict.status == parci_core::receipt::Status::Fail;

    let show_text = opts.format == Format::Text && !opts.common.quiet;
    for r in &reports {
        report_file(env, r, show_text);
    }
    let invalid = reports.iter().filter(|r| !r.is_valid()).count();
    let summary = format!(
        "{PROGRAM}: {} files: {} valid, {invalid} invalid",
        reports.len(),
        reports.len() - invalid
    );
    github::append_summary(env, &step_summary(&reports, &summary))?;
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    if show_text {
        println!("{summary}");
    } else if opts.format == Format::Json {
        written.echo();
    }
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
        reports,
    })
}

fn join(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn place(r: &verify::Report, f: &verify::Finding) -> String {
    let loc = f.line.map_or(String::new(), |l| format!(":{l}"));
    let ptr = if f.pointer.is_empty() {
        String::new()
    } else {
        format!(" {}:", f.pointer)
    };
    format!("{}{loc}:{ptr} {}", r.file.path, f.message)
}

fn report_file(env: &Env, r: &verify::Report, show: bool) {
    let kind = r.kind.as_deref().unwrap_or("unknown kind");
    for (level, list) in [
        (github::Level::Error, &r.errors),
        (github::Level::Warning, &r.warnings),
    ] {
        for f in list {
            let msg = if f.pointer.is_empty() {
                f.message.clone()
            } else {
                format!("{}: {}", f.pointer, f.message)
            };
            github::annotate(env, level, &r.file.path, f.line, PROGRAM, &msg);
        }
    }
    if !show {
        return;
    }
    match r.errors.as_slice() {
        [] => {
            println!("{}  {} ({kind})", env.paint(32, "PASS"), r.file.path);
            if let Some(a) = &r.attested {
                println!(
                    "      attested: signed by {}, logged {}",
                    a.signer,
                    a.logged_at.as_deref().unwrap_or("at an unknown time")
                );
            }
        }
        [only] => println!("{}  {}", env.paint(31, "FAIL"), place(r, only)),
        many => {
            println!(
                "{}  {} ({kind}): {} findings",
                env.paint(31, "FAIL"),
                r.file.path,
                many.len()
            );
            for f in many {
                println!("      {}", place(r, f));
            }
        }
    }
    for w in &r.warnings {
        println!("{}  {}", env.paint(33, "warn"), place(r, w));
    }
}

fn step_summary(reports: &[verify::Report], summary: &str) -> String {
    let mut md = format!("### {PROGRAM}\n\n{summary}\n\n| file | kind | verdict | first finding |\n|---|---|---|---|\n");
    for r in reports {
        let first = r.errors.first().map_or(String::new(), |f| {
            github::cell(&format!("{} {}", f.pointer, f.message))
        });
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            github::cell(&r.file.path),
            github::cell(r.kind.as_deref().unwrap_or("?")),
            if r.is_valid() { "valid" } else { "**invalid**" },
            first
        ));
    }
    md.push('\n');
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn examples(which: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("receipts/examples")
            .join(which)
    }

    fn opts(paths: Vec<PathBuf>, receipt: &Path) -> Options {
        Options {
            paths,
            kind: None,
            replay: false,
            attestation: None,
            signer: SignerArgs::default(),
            format: Format::Text,
            common: Common::quiet_to(receipt),
        }
    }

    #[test]
    fn the_valid_examples_pass_and_the_result_is_a_receipt_too() {
        let t = tempfile::tempdir().unwrap();
        let own = t.path().join("v.json");
        let out = run(&opts(vec![examples("valid")], &own), &Env::plain(t.path())).unwrap();
        assert_eq!(out.code, exit::PASS);
        assert!(out.reports.len() > 3 && out.reports.iter().all(|r| r.is_valid()));
        assert_eq!(out.receipt.schema, "parci.verify-receipt");
        // Its own receipt verifies as its kind.
        let o = Options {
            kind: Some("parci.verify-receipt".into()),
            ..opts(vec![own], &t.path().join("w.json"))
        };
        assert_eq!(run(&o, &Env::plain(t.path())).unwrap().code, exit::PASS);
    }

    #[test]
    fn a_digest_mismatch_fails_and_unknown_kinds_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        let bad = examples("invalid/digest-mismatch.json");
        let out = run(&opts(vec![bad], &t.path().join("v.json")), &env).unwrap();
        assert_eq!(out.code, exit::GATE_FAILED);
        assert!(!out.reports[0].is_valid());
        let o = Options {
            kind: Some("parci.nope".into()),
            ..opts(vec![examples("valid")], &t.path().join("w.json"))
        };
        let e = run(&o, &env).err().unwrap().to_string();
        assert!(
            e.starts_with("--kind \"parci.nope\" is not a kind this build knows"),
            "{e}"
        );
        let empty = t.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = run(&opts(vec![empty], &t.path().join("x.json")), &env)
            .err()
            .unwrap();
        assert!(
            e.to_string().starts_with("no *.json receipts under "),
            "{e}"
        );
    }
}
