//! flamegraph: sampled profiles of the perf-smoke workload or any command,
//! rendered as deterministic SVGs with a hotspot receipt.

use clap::Parser;
use parci::cli::{self, Common, Format, PresetArg};
use parci::flamegraph::{self, CallGraphArg, FoldArgs, Options, SamplerArg, PROGRAM};
use parci_core::gguf::fixture;
use parci_core::profile::render::DEFAULT_MIN_WIDTH;
use parci_core::profile::DEFAULT_FREQUENCY;
use std::path::PathBuf;

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
  flamegraph --from-perf-script perf.txt --event cycles --pid --kernel
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
    #[command(flatten)]
    fold: FoldArgs,
    /// What to print on stdout: a table for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
    /// A command to profile (after --)
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

impl cli::Program for Args {
    fn common(&self) -> &Common {
        &self.common
    }
}

impl Args {
    fn into_options(self) -> Options {
        Options {
            model: self.model,
            preset: self.preset.unwrap_or(PresetArg::Small).into(),
            seed: self.seed,
            tokens: self.tokens,
            prompt_tokens: self.prompt_tokens,
            threads: self.threads,
            repeats: self.repeats,
            warmup: self.warmup,
            perf_smoke: self.perf_smoke,
            from_perf_script: self.from_perf_script,
            from_folded: self.from_folded,
            command: self.command,
            frequency: self.frequency,
            call_graph: self.call_graph.map(Into::into),
            sampler: self.sampler.into(),
            perf: self.perf,
            out_dir: self.out_dir,
            name: self.name,
            title: self.title,
            reverse: self.reverse,
            min_width: self.min_width,
            diff: self.diff,
            fold: self.fold.into(),
            format: self.format,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(flamegraph::run(&args.into_options(), &env)?.code)
    })
}
