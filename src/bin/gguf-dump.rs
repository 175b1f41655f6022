//! gguf-dump: reads a GGUF file (validated, zero-copy) and shows its header,
//! metadata and tensor table; optionally writes one tensor dequantized to f32.

use clap::Parser;
use parci::cli::{self, Common, Format};
use parci::gguf_dump::{self, Options, PROGRAM};
use parci_core::gguf::fixture::{self, Preset};
use parci_core::model::smoke::MODELS_DIR;
use std::path::PathBuf;

/// Show a GGUF model file: header, metadata, tensor table, type histogram.
///
/// Exit status: 0 readable (warnings allowed), 1 ggml-compatibility warnings
/// with --strict, 2 not a valid GGUF file, a tokenizer parci cannot read
/// (--tokenize/--detokenize) or a usage error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  gguf-dump                                         # the small fixture model
  gguf-dump model.gguf
  gguf-dump model.gguf --tensors                    # only the tensor table
  gguf-dump model.gguf --format json --full         # everything, every array element
  gguf-dump model.gguf --tensor output_norm.weight --values npy norm.npy
  gguf-dump model.gguf --tokenize 'The capital of France is'
  gguf-dump model.gguf --tokenize '<|im_start|>user' --format json  # ids and pieces
  gguf-dump model.gguf --detokenize 504,3575,282,4649,314")]
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
    /// Print the ids the file's own tokenizer gives TEXT, comma-separated, as
    /// llama.cpp would: BOS when the model adds one, special tokens written in
    /// the text (<|im_start|>) recognised. --format json adds each id's piece
    #[arg(long, value_name = "TEXT", value_parser = clap::value_parser!(std::ffi::OsString), conflicts_with_all = ["detokenize", "tensors", "values"])]
    tokenize: Option<std::ffi::OsString>,
    /// Print the text of comma-separated token ids (special tokens as their text)
    #[arg(long, value_name = "IDS", conflicts_with_all = ["tensors", "values"])]
    detokenize: Option<String>,
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
            file: self.file,
            preset: Preset::from_name(self.preset.as_deref().unwrap_or("small"))
                .expect("clap checked the name"),
            seed: self.seed,
            models_dir: PathBuf::from(MODELS_DIR),
            format: self.format,
            tensors: self.tensors,
            full: self.full,
            strict: self.strict,
            tensor: self.tensor,
            values: self.values.map(|v| (v[0].clone(), PathBuf::from(&v[1]))),
            tokenize: self.tokenize,
            detokenize: self.detokenize,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(gguf_dump::run(&args.into_options(), &env)?.code)
    })
}
