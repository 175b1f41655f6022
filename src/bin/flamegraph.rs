//! flamegraph: sampled profiles of the perf-smoke workload or any command,
//! rendered as deterministic SVGs with a hotspot receipt.

use anyhow::bail;
use clap::{Parser, ValueEnum};
use parci::cli::{self, Common, Env, Format};
use parci::{emit, exit, flamegraph_text, github};
use parci_core::gguf::fixture::{self, Preset};
use parci_core::profile::render::DEFAULT_MIN_WIDTH;
use parci_core::profile::session::{self, Mode, Request, SamplerChoice, WorkloadSpec};
use parci_core::profile::{CallGraph, DEFAULT_FREQUENCY};
use parci_core::receipt::{self, Body, Verdict};
use std::path::{Path, PathBuf};

const PROGRAM: &str = "flamegraph";

/// Profile the perf-smoke workload (or any command) and write flame graphs,
/// folded stacks and a hotspot receipt.
///
/// Exit status: 0 pass (warnings allowed), 1 the profiled command failed,
/// 2 bad input, usage error, or perf unusable.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  flamegraph                                  # small fixture, 1- and 10-token profiles
  flamegraph --preset tiny --tokens 10 --reverse
  flamegraph -- target/profiling/perf-smoke --preset tiny
  flamegraph --from-perf-script perf.txt --title 'my run'
  flamegraph --from-folded new.folded --diff main.folded")]
struct Args {
    /// A llama GGUF file for the workload [default: the --preset fixture]
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    model: Option<PathBuf>,
    /// parci's fixture model for the workload
    #[arg(long, value_enum)]
    preset: Option<PresetArg>,
    /// Seed of the fixture and of the drawn prompt
    #[arg(long, default_value_t = fixture::DEFAULT_SEED)]
    seed: u64,
    /// Decode lengths, comma-separated: one profile each (1 shows load and prefill, 10 decode)
    #[arg(long, value_delimiter = ',', default_value = "1,10", value_parser = clap::value_parser!(u64).range(1..=65536))]
    tokens: Vec<u64>,
    /// Prompt length of the workload
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65536))]
    prompt_tokens: u64,
    /// Compute threads of the workload [default: perf-smoke's]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// Timed repeats of the workload (as perf-smoke)
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    repeats: u64,
    /// Warm-up passes of the workload (as perf-smoke)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup: u64,
    /// The perf-smoke program to profile [default: target/profiling/perf-smoke when built, else the one beside this program]
    #[arg(long, value_name = "PATH")]
    perf_smoke: Option<PathBuf>,
    /// Render perf script output instead of sampling
    #[arg(long, value_name = "FILE", conflicts_with_all = ["from_folded", "command", "model", "preset"])]
    from_perf_script: Option<PathBuf>,
    /// Render folded stacks instead of sampling
    #[arg(long, value_name = "FILE", conflicts_with_all = ["command", "model", "preset"])]
    from_folded: Option<PathBuf>,
    /// Sampling frequency in Hz
    #[arg(short = 'F', long, default_value_t = DEFAULT_FREQUENCY, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    frequency: u32,
    /// Stack walking: fp (frame pointers) or dwarf [default: fp; dwarf for a workload binary without frame pointers]
    #[arg(long, value_enum)]
    call_graph: Option<CallGraphArg>,
    /// Which sampler: perf, in-process (built-in workload only), or auto (perf when usable)
    #[arg(long, value_enum, default_value_t = SamplerArg::Auto)]
    sampler: SamplerArg,
    /// The perf program
    #[arg(long, value_name = "PATH", default_value = "perf")]
    perf: PathBuf,
    /// Directory for the SVG, folded and perf.data files
    #[arg(long, value_name = "DIR", default_value = "target/parci/flamegraphs")]
    out_dir: PathBuf,
    /// Base name of the output files [default: preset, model, command or input file name]
    #[arg(long)]
    name: Option<String>,
    /// Title of the graph [default: names the workload, command or input]
    #[arg(long)]
    title: Option<String>,
    /// Icicle view: hot leaf functions on top, their callers below
    #[arg(long)]
    reverse: bool,
    /// Leave out frames narrower than PX pixels
    #[arg(long, value_name = "PX", default_value_t = DEFAULT_MIN_WIDTH)]
    min_width: f64,
    /// Also render a differential graph against BASE.folded and list the frames that grew and shrank most
    #[arg(long, value_name = "BASE.folded")]
    diff: Option<PathBuf>,
    /// What to print on stdout: a table for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
    /// A command to profile (after --)
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum PresetArg {
    Tiny,
    Small,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum CallGraphArg {
    Fp,
    Dwarf,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum SamplerArg {
    Auto,
    Perf,
    InProcess,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    cli::init_logging(&args.common);
    cli::main_with(PROGRAM, || run(args, Env::read()))
}

/// A program name looked up in PATH (the CLI layer reads the environment).
fn resolve_program(word: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(word);
    if word.contains('/') {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("{word}: no such program; pass an existing executable after --");
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(word))
        .find(|c| c.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("{word}: not found in PATH; pass a path to the program after --")
        })
}

/// The perf-smoke to sample: --perf-smoke, else the `cargo profiling` build, else ours.
fn perf_smoke_binary(args: &Args, env: &Env) -> anyhow::Result<PathBuf> {
    if let Some(p) = &args.perf_smoke {
        return Ok(p.clone());
    }
    let profiling = env.cwd.join("target/profiling/perf-smoke");
    if profiling.is_file() {
        return Ok(PathBuf::from("target/profiling/perf-smoke"));
    }
    let beside = std::env::current_exe()?.with_file_name("perf-smoke");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!("perf-smoke not found (looked for target/profiling/perf-smoke and {}); build it with `cargo profiling --bin perf-smoke` or pass --perf-smoke PATH", beside.display())
}

fn request(args: &Args, env: &Env) -> anyhow::Result<Request> {
    if !(args.min_width.is_finite() && args.min_width >= 0.0) {
        bail!(
            "--min-width {}: give a width in pixels >= 0, e.g. 0.1",
            args.min_width
        );
    }
    let mode = if let Some(p) = &args.from_perf_script {
        Mode::PerfScript(p.clone())
    } else if let Some(p) = &args.from_folded {
        Mode::Folded(p.clone())
    } else if !args.command.is_empty() {
        let mut cmd = vec![resolve_program(&args.command[0])?.into_os_string()];
        cmd.extend(args.command[1..].iter().map(Into::into));
        Mode::Command(cmd, args.command.clone())
    } else {
        Mode::Workload(WorkloadSpec {
            model: args.model.clone(),
            preset: match args.preset.unwrap_or(PresetArg::Small) {
                PresetArg::Tiny => Preset::Tiny,
                PresetArg::Small => Preset::Small,
            },
            seed: args.seed,
            tokens: args.tokens.clone(),
            prompt_tokens: args.prompt_tokens,
            threads: args.threads,
            repeats: args.repeats,
            warmup: args.warmup,
            binary: if args.sampler == SamplerArg::InProcess {
                PathBuf::from("perf-smoke")
            } else {
                perf_smoke_binary(args, env)?
            },
            kernel_mode: env.kernel_mode()?,
        })
    };
    let receipt_dir = match emit::Target::resolve(PROGRAM, &args.common) {
        emit::Target::File(p) => p
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        emit::Target::Stdout => PathBuf::from("."),
    };
    Ok(Request {
        mode,
        frequency: args.frequency,
        call_graph: args.call_graph.map(|c| match c {
            CallGraphArg::Fp => CallGraph::Fp,
            CallGraphArg::Dwarf => CallGraph::Dwarf,
        }),
        sampler: match args.sampler {
            SamplerArg::Auto => SamplerChoice::Auto,
            SamplerArg::Perf => SamplerChoice::Perf,
            SamplerArg::InProcess => SamplerChoice::InProcess,
        },
        perf: args.perf.clone(),
        out_dir: args.out_dir.clone(),
        name: args.name.clone(),
        title: args.title.clone(),
        reverse: args.reverse,
        min_width: args.min_width,
        diff: args.diff.clone(),
        receipt_dir,
        cwd: env.cwd.clone(),
    })
}

fn run(args: Args, env: Env) -> anyhow::Result<u8> {
    let req = request(&args, &env)?;
    let out = session::run(&req)?;
    for (level, list) in [
        (github::Level::Error, &out.errors),
        (github::Level::Warning, &out.warnings),
    ] {
        for m in list {
            github::annotate(&env, level, PROGRAM, None, PROGRAM, m);
        }
    }
    let body = Body {
        inputs: out.inputs,
        results: out.results,
        measurements: out.measurements,
        verdict: Verdict::from_findings(out.errors, out.warnings),
    };
    let failed = body.verdict.status == receipt::Status::Fail;
    let table = flamegraph_text::table(&body, &req.receipt_dir);
    github::append_summary(&env, &flamegraph_text::summary(&body, &req.receipt_dir))?;
    let written = emit::write_receipt(PROGRAM, &args.common, &env, body)?;
    match args.format {
        Format::Text if !args.common.quiet => print!("{table}"),
        Format::Json if written.target != emit::Target::Stdout => print!("{}", written.text),
        _ => {}
    }
    Ok(if failed {
        exit::GATE_FAILED
    } else {
        exit::PASS
    })
}
