//! verify-receipt: checks parci receipts against their schema, their digest and
//! their kind's semantic gates, and writes a receipt of its own.

use anyhow::{bail, Context};
use clap::Parser;
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, github};
use parci_core::verify::{self, kinds};
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "verify-receipt";

/// Check parci receipts: JSON Schema, digest, and each kind's semantic gates.
///
/// Exit status: 0 every receipt valid, 1 any invalid, 2 usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  verify-receipt                                  # every receipt under target/parci
  verify-receipt receipts/examples/valid
  verify-receipt --replay target/parci/perf-smoke.receipt.json   # re-run the decode
  verify-receipt --kind parci.verify-receipt out.json --format json")]
struct Args {
    /// Receipt files, or directories searched recursively for *.json [default: target/parci]
    paths: Vec<PathBuf>,
    /// Require every receipt to be of this kind, e.g. parci.verify-receipt
    #[arg(long, value_name = "KIND")]
    kind: Option<String>,
    /// Also re-run the workload of each valid receipt whose kind records one
    /// (parci.perf-smoke) and require the identical results block
    #[arg(long)]
    replay: bool,
    /// What to print on stdout: a line per file, or this run's receipt
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
    if let Some(k) = &args.kind {
        if kinds::find(k).is_none() {
            let known: Vec<_> = kinds::KINDS.iter().map(|k| k.name).collect();
            bail!(
                "--kind {k:?} is not a kind this build knows; use one of {}",
                known.join(", ")
            );
        }
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("target/parci")]
    } else {
        args.paths
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
    let mut reports = Vec::with_capacity(files.len());
    for f in &files {
        let mut r = verify::verify_file(f, args.kind.as_deref())
            .with_context(|| format!("{}: cannot read", f.display()))?;
        if args.replay && r.is_valid() {
            let ran = verify::replay_into(f, &mut r)
                .with_context(|| format!("{}: cannot read", f.display()))?;
            tracing::info!(file = %f.display(), ran, "replay");
        }
        tracing::debug!(file = %f.display(), errors = r.errors.len(), "verified");
        reports.push(r);
    }
    let elapsed_ms = start.elapsed().as_secs_f64() * 1e3;
    let body = verify::body(&reports, args.kind.as_deref(), args.replay, elapsed_ms)?;
    let failed = body.verdict.status == parci_core::receipt::Status::Fail;

    let show_text = args.format == Format::Text && !args.common.quiet;
    for r in &reports {
        report_file(&env, r, show_text);
    }
    let invalid = reports.iter().filter(|r| !r.is_valid()).count();
    let summary = format!(
        "{PROGRAM}: {} files: {} valid, {invalid} invalid",
        reports.len(),
        reports.len() - invalid
    );
    github::append_summary(&env, &step_summary(&reports, &summary))?;
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    if show_text {
        println!("{summary}");
    } else if args.format == Format::Json && written.target != emit::Target::Stdout {
        print!("{}", written.text);
    }
    Ok(if failed {
        exit::GATE_FAILED
    } else {
        exit::PASS
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
        [] => println!("{}  {} ({kind})", env.paint(32, "PASS"), r.file.path),
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
