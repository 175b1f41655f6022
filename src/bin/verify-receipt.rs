//! verify-receipt: checks parci receipts against their schema, their digest and
//! their kind's semantic gates, and writes a receipt of its own.

use clap::Parser;
use parci::cli::{self, Common, Format, SignerArgs};
use parci::verify_receipt::{self, Options, PROGRAM};
use std::path::PathBuf;

/// Check parci receipts: JSON Schema, digest, and each kind's semantic gates.
///
/// Exit status: 0 every receipt valid, 1 any invalid, 2 usage or I/O error.
#[derive(Parser, Debug)]
#[command(name = PROGRAM, version, after_help = "\
Examples:
  verify-receipt                                  # every receipt under target/parci
  verify-receipt receipts/examples/valid
  verify-receipt --replay target/parci/perf-smoke.receipt.json   # re-run the decode
  verify-receipt --kind parci.verify-receipt out.json --format json
  verify-receipt baseline.json --attestation baseline.json.sigstore.json \
      --signer-workflow octo/parci/.github/workflows/ci.yml")]
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
    /// Also require this Sigstore bundle (a GitHub artifact attestation,
    /// JSON or JSON Lines) to attest the one receipt given: signature,
    /// certificate chain, transparency-log inclusion, subject digest,
    /// predicate type of the receipt's kind, and --signer-workflow. Checked
    /// offline against --trusted-root
    #[arg(long, value_name = "BUNDLE")]
    attestation: Option<PathBuf>,
    #[command(flatten)]
    signer: SignerArgs,
    /// What to print on stdout: a line per file, or this run's receipt
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
            paths: self.paths,
            kind: self.kind,
            replay: self.replay,
            attestation: self.attestation,
            signer: self.signer,
            format: self.format,
            common: self.common,
        }
    }
}

fn main() -> std::process::ExitCode {
    cli::program(PROGRAM, |args: Args, env| {
        Ok(verify_receipt::run(&args.into_options(), &env)?.code)
    })
}
