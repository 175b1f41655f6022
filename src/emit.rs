//! Sealing and writing receipts.

use crate::cli::{Common, Env};
use anyhow::Context;
use parci_core::receipt::{Body, Host, Receipt, Source, Tool};
use std::path::PathBuf;

/// Where a receipt goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Stdout,
    File(PathBuf),
}

impl Target {
    /// `--receipt PATH` (`-` = stdout), else `target/parci/<program>.receipt.json`.
    pub fn resolve(program: &str, common: &Common) -> Target {
        match &common.receipt {
            Some(p) if p.as_os_str() == "-" => Target::Stdout,
            Some(p) => Target::File(p.clone()),
            None => {
                Target::File(PathBuf::from("target/parci").join(format!("{program}.receipt.json")))
            }
        }
    }
}

/// A sealed receipt and its canonical text.
pub struct Written {
    pub receipt: Receipt,
    pub text: String,
    pub target: Target,
}

impl Written {
    /// `--format json`: prints the receipt on stdout, unless it went there already.
    pub fn echo(&self) {
        if self.target != Target::Stdout {
            print!("{}", self.text);
        }
    }
}

/// Seals `body` as a receipt of `program` and writes it atomically to its
/// target (or stdout). Host and source are read here, in this run.
pub fn write_receipt(
    program: &str,
    common: &Common,
    env: &Env,
    body: Body,
) -> anyhow::Result<Written> {
    let receipt = Receipt::seal(
        Tool::new(program, env!("CARGO_PKG_VERSION")),
        Source::detect(&env.cwd),
        Host::detect(),
        body,
    );
    let text = receipt.to_canonical()?;
    let target = Target::resolve(program, common);
    match &target {
        Target::Stdout => print!("{text}"),
        Target::File(p) => parci_core::fsutil::write_atomic(p, text.as_bytes())
            .with_context(|| format!("{}: cannot write the receipt; check the directory is writable or pass --receipt PATH", p.display()))?,
    }
    Ok(Written {
        receipt,
        text,
        target,
    })
}
