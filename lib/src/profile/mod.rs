//! Sampling, folding and rendering: the domain of the `flamegraph` program.
//!
//! - [`perf`]: Linux `perf` as the sampler (probe, record, script).
//! - [`inproc`]: the in-process sampler for the built-in workload when perf
//!   is missing or refused.
//! - [`perf_script`]: `perf script` text → folded stacks (strict, with line
//!   numbers, counts in samples, Rust names demangled), folded by inferno.
//! - [`folded`]: folded stacks, hotspot tables, differences.
//! - [`render`]: deterministic SVGs (plain, icicle, differential) by inferno.
//! - [`receipt`]: the `parci.flamegraph` receipt's blocks and its gates.
//! - [`session`]: one run of the `flamegraph` program, start to receipt.

pub mod folded;
pub mod inproc;
pub mod perf;
pub mod perf_script;
pub mod receipt;
pub mod render;
pub mod session;

pub use folded::{Folded, FrameDelta, FrameShare};

use std::path::{Path, PathBuf};

/// How the sampler walks stacks.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallGraph {
    /// Frame pointers: cheap, needs code built with them (`cargo profiling`).
    Fp,
    /// DWARF unwinding of a copied stack: works without frame pointers,
    /// larger perf.data and slower `perf script`.
    Dwarf,
}

impl CallGraph {
    pub fn name(self) -> &'static str {
        match self {
            CallGraph::Fp => "fp",
            CallGraph::Dwarf => "dwarf",
        }
    }
}

/// Default sampling frequency in Hz: prime, so sampling does not beat in
/// step with periodic work.
pub const DEFAULT_FREQUENCY: u32 = 997;

/// Frames the kernel share counts: the kernel registry's modules
/// (`parci_core::quant::{x86, neon, dot, matvec}`).
pub const KERNEL_MODULES: &[&str] = &[
    "parci_core::quant::x86::",
    "parci_core::quant::x86_legacy::",
    "parci_core::quant::x86_kquants::",
    "parci_core::quant::neon::",
    "parci_core::quant::dot::",
    "parci_core::quant::matvec::",
    "parci_core::quant::unpacked::",
];

/// Whether a frame is a kernel-registry function (also as `<… as …>::f`
/// or `<parci_core::quant::matvec::MatVec>::f`).
pub fn is_kernel_frame(frame: &str) -> bool {
    let f = frame.trim_start_matches('<');
    KERNEL_MODULES.iter().any(|m| f.starts_with(m))
}

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// Bad input data: names the file, the line when known, and the fix.
    #[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input {
        file: PathBuf,
        line: Option<u64>,
        message: String,
    },
    /// The sampler could not run or produced nothing.
    #[error("{0}")]
    Sampler(String),
    #[error(transparent)]
    Receipt(#[from] crate::receipt::ReceiptError),
}

impl From<crate::receipt::canonical::NonFinite> for ProfileError {
    fn from(e: crate::receipt::canonical::NonFinite) -> Self {
        ProfileError::Receipt(e.into())
    }
}

impl ProfileError {
    pub fn input(file: &Path, line: Option<u64>, message: impl Into<String>) -> ProfileError {
        ProfileError::Input {
            file: file.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// `s` cut to `max` characters with `…`.
pub(crate) fn clip(s: &str, max: usize) -> String {
    crate::findings::clip(s, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_frames_are_the_registry_modules() {
        assert!(is_kernel_frame("parci_core::quant::matvec::chunked_row"));
        assert!(is_kernel_frame("parci_core::quant::x86::q8_0_row_avx2"));
        assert!(is_kernel_frame(
            "parci_core::quant::x86_legacy::q4_1_row_avx2"
        ));
        assert!(is_kernel_frame("parci_core::quant::x86_kquants::row2"));
        assert!(is_kernel_frame(
            "parci_core::quant::unpacked::Unpacked::fill"
        ));
        assert!(is_kernel_frame(
            "<parci_core::quant::matvec::MatVec>::matvec"
        ));
        assert!(!is_kernel_frame("parci_core::quant::q8_k::quantize"));
        assert!(!is_kernel_frame("parci_core::model::Engine::forward"));
        assert!(!is_kernel_frame("my::parci_core::quant::x86::f"));
    }

    #[test]
    fn input_errors_name_file_and_line() {
        let e = ProfileError::input(Path::new("a.txt"), Some(3), "bad");
        assert_eq!(e.to_string(), "a.txt:3: bad");
        let e = ProfileError::input(Path::new("a.txt"), None, "bad");
        assert_eq!(e.to_string(), "a.txt: bad");
    }
}
