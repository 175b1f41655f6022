//! gguf-dump: reads a GGUF file (validated, zero-copy) and shows its header,
//! metadata and tensor table; optionally writes one tensor dequantized to f32.

use anyhow::{anyhow, bail, Context};
use clap::Parser;
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, gguf_text, github};
use parci_core::fsutil;
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{dump, MappedFile};
use parci_core::receipt::{canonical::finite, Body, FileInput, Verdict};
use serde_json::json;
use std::path::PathBuf;
use std::time::Instant;

const PROGRAM: &str = "gguf-dump";

/// Show a GGUF model file: header, metadata, tensor table, type histogram.
///
/// Exit status: 0 readable (warnings allowed), 1 ggml-compatibility warnings
/// with --strict, 2 not a valid GGUF file or a usage error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  gguf-dump                                         # the small fixture model
  gguf-dump model.gguf
  gguf-dump model.gguf --tensors                    # only the tensor table
  gguf-dump model.gguf --format json --full         # everything, every array element
  gguf-dump model.gguf --tensor output_norm.weight --values npy norm.npy")]
struct Args {
    /// The GGUF file [default: the --preset fixture]
    file: Option<PathBuf>,
    /// Dump parci's fixture model of this size instead of FILE, generating it
    /// under target/parci/models/ when missing or stale
    #[arg(long, value_name = "tiny|small", conflicts_with = "file", value_parser = ["tiny", "small"])]
    preset: Option<String>,
    /// Seed of the --preset fixture
    #[arg(long, default_value_t = fixture::DEFAULT_SEED, requires = "preset")]
    seed: u64,
    /// What to print: text for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Print only the tensor table (text format)
    #[arg(long)]
    tensors: bool,
    /// Inline every element of long arrays (default: arrays over 1024 elements
    /// are summarized by length, first elements and sha256)
    #[arg(long)]
    full: bool,
    /// Fail (exit 1) on what ggml's own reader would refuse, e.g. non-contiguous data
    #[arg(long)]
    strict: bool,
    /// Tensor to write with --values
    #[arg(long, value_name = "NAME", requires = "values")]
    tensor: Option<String>,
    /// Write --tensor dequantized to f32: FORMAT is f32le (raw) or npy, OUT the file
    #[arg(long, num_args = 2, value_names = ["FORMAT", "OUT"], requires = "tensor")]
    values: Option<Vec<String>>,
    #[command(flatten)]
    common: Common,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging(&args.common);
    cli::main_with(PROGRAM, || run(args, Env::read()))
}

fn run(args: Args, env: Env) -> anyhow::Result<u8> {
    let file_path = match &args.file {
        Some(f) => f.clone(),
        None => {
            let preset = Preset::from_name(args.preset.as_deref().unwrap_or("small"))
                .expect("clap checked the name");
            let dir = PathBuf::from("target/parci/models");
            let (p, fresh) = fixture::materialize(&dir, preset, args.seed)
                .with_context(|| format!("{}: cannot write the fixture model", dir.display()))?;
            tracing::info!(path = %p.display(), regenerated = fresh, "fixture model");
            p
        }
    };
    let path = file_path.display().to_string();
    let values = match args.values.as_deref() {
        Some([fmt, out]) if fmt == "f32le" || fmt == "npy" => {
            Some((fmt.clone(), PathBuf::from(out)))
        }
        Some([fmt, _]) => bail!("--values format {fmt:?} is not one of f32le, npy"),
        _ => None,
    };
    let t0 = Instant::now();
    let mapped = MappedFile::open(&file_path)
        .with_context(|| format!("{path}: cannot open; pass an existing GGUF file"))?;
    let g = mapped.parse().map_err(|e| anyhow!("{path}: {e}"))?;
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let file = FileInput {
        path: path.clone(),
        bytes: mapped.bytes().len() as u64,
        sha256: fsutil::sha256_hex(mapped.bytes()),
    };
    let hash_ms = t1.elapsed().as_secs_f64() * 1e3;

    let mut results = dump::describe(&g, args.full);
    results["values"] = serde_json::Value::Null;
    if let (Some(name), Some((fmt, out))) = (&args.tensor, &values) {
        let t = g.tensor(name).ok_or_else(|| {
            let some: Vec<&str> = g.tensors().iter().take(5).map(|t| t.name).collect();
            anyhow!(
                "{path}: no tensor named {name:?}; it has {} tensors, e.g. {}",
                g.tensors().len(),
                some.join(", ")
            )
        })?;
        let mut v = Vec::with_capacity(t.n_elements() as usize);
        parci_core::quant::dequantize(t.ty, t.data, &mut v)
            .map_err(|e| anyhow!("{path}: tensor {name:?}: {e}"))?;
        let bytes = if fmt == "npy" {
            let shape: Vec<u64> = t.shape().iter().rev().copied().collect();
            dump::npy_f32(&shape, &v)
        } else {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
        fsutil::write_atomic(out, &bytes)
            .with_context(|| format!("{}: cannot write the values", out.display()))?;
        results["values"] = json!({"tensor": name, "format": fmt, "count": v.len(), "sha256": fsutil::sha256_hex(&bytes)});
    }

    let warnings: Vec<String> = g
        .warnings()
        .iter()
        .map(|w| format!("byte {}: {}", w.offset, w.message))
        .collect();
    for w in g.warnings() {
        github::annotate(
            &env,
            github::Level::Warning,
            &path,
            None,
            PROGRAM,
            &format!("byte {}: {}", w.offset, w.message),
        );
    }
    let verdict = if args.strict {
        Verdict::from_findings(warnings, vec![])
    } else {
        Verdict::from_findings(vec![], warnings)
    };
    let failed = verdict.status == parci_core::receipt::Status::Fail;
    let body = Body {
        inputs: json!({
            "file": file,
            "full_arrays": args.full,
            "strict": args.strict,
            "values": values.as_ref().map(|(f, o)| json!({"tensor": args.tensor, "format": f, "path": o.display().to_string()})),
        }),
        results,
        measurements: json!({"parse_ms": finite(parse_ms)?, "hash_ms": finite(hash_ms)?}),
        verdict,
    };
    let summary = format!(
        "### {PROGRAM}\n\n`{}`: GGUF v{}, {} metadata, {} tensors, verdict **{}**\n\n",
        github::cell(&path),
        g.version,
        g.kvs().len(),
        g.tensors().len(),
        body.verdict.status.as_str()
    );
    github::append_summary(&env, &summary)?;
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    match args.format {
        Format::Text if !args.common.quiet => {
            print!("{}", gguf_text::render(&path, &g, args.tensors))
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
