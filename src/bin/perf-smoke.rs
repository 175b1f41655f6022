//! perf-smoke: a real greedy decode on a llama GGUF model, timed, with the
//! kernels that ran and an output digest anyone can replay.

use clap::Parser;
use parci::cli::{self, Common, Format, PresetArg};
use parci::perf_smoke::{self, BaselineTrust, Debug, Measure, OnOff, Options, Prompt, PROGRAM};
use parci_core::gguf::fixture;
use parci_core::model::smoke::MODELS_DIR;
use std::path::PathBuf;

/// Decode a llama GGUF model greedily and time it: the PR performance gate.
///
/// Exit status: 0 pass (warnings allowed), 1 slower than the baseline or the
/// --against build by more than --max-regression (or repeats disagreed), 2 bad
/// input or usage error (also: valgrind missing for --measure instructions,
/// builds that decode to different outputs for --against).
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  perf-smoke                                     # small fixture, 8 prompt + 32 decode tokens
  perf-smoke --preset tiny --tokens 8 --repeats 1
  perf-smoke --model llama.gguf --threads 1
  perf-smoke --model SmolLM2-135M-Instruct.Q4_1.gguf --text 'The capital of France is' --tokens 8
  perf-smoke --model model.gguf --text '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' --stop-at-eog
  perf-smoke --baseline main.receipt.json --max-regression 10
  perf-smoke --measure instructions --baseline main-instructions.receipt.json
  perf-smoke --against ../base/target/release/perf-smoke --threads 1
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
    /// wall: time the repeats. instructions: count instructions and
    /// estimated cycles per token under valgrind's callgrind (one thread,
    /// the best ISA valgrind runs; repeatable on a busy machine)
    #[arg(long, value_enum, default_value_t = Measure::Wall)]
    measure: Measure,
    /// A previous perf-smoke receipt of the same --measure kind (same model;
    /// wall: same threads; instructions: same prompt and tokens) to compare with
    #[arg(long, value_name = "RECEIPT", conflicts_with = "against")]
    baseline: Option<PathBuf>,
    /// Another build's perf-smoke executable: run it and this one alternately
    /// on the same workload and fail when this one is slower per decode token
    /// beyond --max-regression with 99% confidence
    #[arg(long, value_name = "PERF_SMOKE", conflicts_with = "measure")]
    against: Option<PathBuf>,
    /// Pairs of runs at most for --against (it stops early when the answer is clear)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(10..=1000), requires = "against")]
    pairs: u64,
    /// Fail (exit 1) beyond PCT percent: slower decode than --baseline
    /// [default: only warn, from 5%], more instructions per decode token
    /// [default: 1], or slower than --against [default: 1]
    #[arg(long, value_name = "PCT")]
    max_regression: Option<f64>,
    #[command(flatten)]
    trust: BaselineTrust,
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
            trust: self.trust,
            bmf: self.bmf,
            measure: self.measure,
            against: self.against,
            pairs: self.pairs,
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
