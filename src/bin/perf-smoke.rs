//! perf-smoke: a real greedy decode on a llama GGUF model, timed, with the
//! kernels that ran and an output digest anyone can replay.

use clap::Parser;
use parci::cli::{self, Common, Format, PresetArg};
use parci::perf_smoke::{self, Debug, OnOff, Options, Prompt, PROGRAM};
use parci_core::gguf::fixture;
use parci_core::model::smoke::MODELS_DIR;
use std::path::PathBuf;

/// Decode a llama GGUF model greedily and time it: the PR performance gate.
///
/// Exit status: 0 pass (warnings allowed), 1 slower than the baseline by more
/// than --max-regression (or repeats disagreed), 2 bad input or usage error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  perf-smoke                                     # small fixture, 8 prompt + 32 decode tokens
  perf-smoke --preset tiny --tokens 8 --repeats 1
  perf-smoke --model llama.gguf --threads 1
  perf-smoke --model SmolLM2-135M-Instruct.Q4_1.gguf --text 'The capital of France is' --tokens 8
  perf-smoke --model model.gguf --text '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' --stop-at-eog
  perf-smoke --baseline main.receipt.json --max-regression 10
  PARCI_KERNELS=scalar perf-smoke --bmf target/parci/perf-smoke.bmf.json")]
struct Args {
    /// A llama GGUF file to run [default: the --preset fixture]
    #[arg(long, value_name = "FILE", conflicts_with = "preset")]
    model: Option<PathBuf>,
    /// parci's fixture model, generated once under target/parci/models/
    #[arg(long, value_enum)]
    preset: Option<PresetArg>,
    /// Seed of the fixture and of the drawn prompt
    #[arg(long, default_value_t = fixture::DEFAULT_SEED)]
    seed: u64,
    /// Prompt length, drawn from the vocabulary with --seed
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=65536), conflicts_with_all = ["prompt", "text"])]
    prompt_tokens: u64,
    /// Exact prompt token ids, comma-separated (instead of a drawn prompt)
    #[arg(
        long,
        value_name = "IDS",
        value_delimiter = ',',
        conflicts_with = "text"
    )]
    prompt: Option<Vec<u32>>,
    /// Prompt text, turned into ids by the model's own tokenizer as llama.cpp
    /// would (BOS when the model adds one; <|im_start|> and other special
    /// tokens written in the text are recognised). The continuation is shown
    /// as text
    #[arg(long, value_name = "TEXT", value_parser = clap::value_parser!(std::ffi::OsString))]
    text: Option<std::ffi::OsString>,
    /// End decoding at an end-of-generation token (<|im_end|>, <end_of_turn>,
    /// EOS); --tokens is then the most to decode and decode tok/s counts what was decoded
    #[arg(long)]
    stop_at_eog: bool,
    /// Tokens to decode
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=65536))]
    tokens: u64,
    /// Timed repeats after the warm-up; the median is reported
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    repeats: u64,
    /// Untimed warm-up passes
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(0..=100))]
    warmup: u64,
    /// Compute threads [default: physical cores]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
    /// A previous perf-smoke receipt (same model and threads) to compare decode tok/s with
    #[arg(long, value_name = "RECEIPT")]
    baseline: Option<PathBuf>,
    /// Fail (exit 1) when decode is more than PCT percent slower than --baseline
    /// [default: only warn, from 5%]
    #[arg(long, value_name = "PCT", requires = "baseline")]
    max_regression: Option<f64>,
    /// Also write the measurements in Bencher Metric Format to OUT
    #[arg(long, value_name = "OUT")]
    bmf: Option<PathBuf>,
    /// Build layer specs in parallel (on) or one after another (off); the plans are identical
    #[arg(long, value_enum, default_value_t = OnOff::On)]
    parallel_graph: OnOff,
    /// Threads of the graph builder's spec phase [default: logical CPUs]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    parallel_threads: Option<u64>,
    /// Graph builder logging on stderr: none, basic (info), verbose (debug per layer), all (trace, every target)
    #[arg(long, value_enum, default_value_t = Debug::None)]
    parallel_debug: Debug,
    /// Show a progress bar while the graph is built (on a terminal)
    #[arg(long)]
    parallel_progress: bool,
    /// What to print on stdout: a table for people, or this run's receipt
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    #[command(flatten)]
    common: Common,
}

impl cli::Program for Args {
    fn common(&self) -> &Common {
        &self.common
    }
    fn log_directives(&self) -> &'static [&'static str] {
        self.parallel_debug.directives()
    }
}

impl Args {
    fn into_options(self) -> Options {
        Options {
            model: self.model,
            preset: self.preset.unwrap_or(PresetArg::Small).into(),
            models_dir: PathBuf::from(MODELS_DIR),
            seed: self.seed,
            prompt: match (self.text, self.prompt) {
                (Some(t), _) => Prompt::Text(t),
                (None, Some(ids)) => Prompt::Ids(ids),
                (None, None) => Prompt::Drawn(self.prompt_tokens),
            },
            stop_at_eog: self.stop_at_eog,
            tokens: self.tokens,
            repeats: self.repeats,
            warmup: self.warmup,
            threads: self.threads,
            baseline: self.baseline,
            max_regression: self.max_regression,
            bmf: self.bmf,
            parallel_graph: self.parallel_graph == OnOff::On,
            parallel_threads: self.parallel_threads,
            parallel_progress: self.parallel_progress,
            format: self.format,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(perf_smoke::run(&args.into_options(), &env)?.code)
    })
}
