//! parity: does parci compute what llama.cpp computes on the same file?

use clap::Parser;
use parci::cli::{self, Common, Format};
use parci::parity::{self, Options, RefSource, PROGRAM};
use parci_core::parity::Thresholds;
use std::path::PathBuf;

/// Compare parci's logits with llama.cpp's on the same model and text.
///
/// Both engines read the same token ids (llama.cpp's tokenizer when it is the
/// reference); at every position parity compares the full logit vectors: KL
/// divergence of parci from the reference over the softmax, same top-1 token,
/// cosine, max |Δ log p| (llama-perplexity --kl-divergence's definitions).
///
/// Exit status: 0 within the thresholds, 1 outside them, 2 bad input (a
/// reference for another model or text, a model llama.cpp cannot load, a
/// text beyond the context) or a usage error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  parity --model SmolLM2-135M-Instruct.Q4_1.gguf                      # live llama.cpp, the built-in text
  parity --model m.gguf --text 'The capital of France is' --greedy 16
  parity --model m.gguf --write-reference m.parity.json               # save llama.cpp's run
  parity --model m.gguf --reference-file m.parity.json                # compare without llama.cpp
  parity --model m.gguf --reference parci --write-reference base.json  # a baseline of this parci build")]
struct Args {
    /// The GGUF model file
    #[arg(long, value_name = "FILE")]
    model: PathBuf,
    /// The text both engines read [default: the opening of A Tale of Two Cities]
    #[arg(long, value_name = "TEXT", value_parser = clap::value_parser!(std::ffi::OsString), conflicts_with = "text_file")]
    text: Option<std::ffi::OsString>,
    /// Read the text from FILE
    #[arg(long, value_name = "FILE")]
    text_file: Option<PathBuf>,
    /// Compare the first N positions only [default: every position of the text]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    positions: Option<u64>,
    /// Also decode N tokens greedily after the text in both engines and report where they part
    #[arg(long, value_name = "N", default_value_t = 0)]
    greedy: u64,
    /// The reference engine: llama.cpp (needs a build with --features
    /// llama-cpp), or parci itself, to save a baseline with --write-reference
    /// that another build of parci is then compared with
    #[arg(long, value_name = "ENGINE", value_parser = ["llama.cpp", "parci"], conflicts_with = "reference_file")]
    reference: Option<String>,
    /// Compare with a reference saved by --write-reference instead of running llama.cpp
    #[arg(long, value_name = "REF")]
    reference_file: Option<PathBuf>,
    /// Save the reference's run (top-k logits and log-sum-exp per position) to REF
    #[arg(long, value_name = "REF", conflicts_with = "reference_file")]
    write_reference: Option<PathBuf>,
    /// --write-reference keeps per position the largest logits holding 99.9%
    /// of the probability, at most K of them
    #[arg(long, value_name = "K", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    top_k: u64,
    /// The live reference decodes the text one token per call (as generation
    /// runs) instead of in one batch (as a prompt is prefilled)
    #[arg(long)]
    reference_sequential: bool,
    /// Fail (exit 1) when fewer positions than PCT percent have the same top-1 token
    #[arg(long, value_name = "PCT", default_value_t = 99.5)]
    min_same_top1: f64,
    /// Fail (exit 1) when the mean KL divergence is above X nats
    #[arg(long, value_name = "X", default_value_t = 1e-3)]
    max_mean_kl: f64,
    /// parci's compute threads [default: physical cores]
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    threads: Option<u64>,
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
}

impl Args {
    fn into_options(self) -> Options {
        Options {
            model: self.model,
            text: self.text,
            text_file: self.text_file,
            positions: self.positions.map(|n| n as usize),
            greedy: self.greedy as usize,
            reference: match (self.reference_file, self.reference.as_deref()) {
                (Some(f), _) => RefSource::File(f),
                (None, Some("parci")) => RefSource::Parci,
                (None, _) => RefSource::LlamaCpp,
            },
            write_reference: self.write_reference,
            top_k: self.top_k as usize,
            reference_sequential: self.reference_sequential,
            thresholds: Thresholds {
                min_same_top1_pct: self.min_same_top1,
                max_mean_kl: self.max_mean_kl,
            },
            threads: self.threads,
            format: self.format,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(parity::run(&args.into_options(), &env)?.code)
    })
}
