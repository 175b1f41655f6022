//! The `parci` CLI layer shared by every program: common flags, exit codes,
//! receipt emission, GitHub Actions output and logging. Programs in `src/bin/`
//! parse their arguments, call `parci-core`, and report through this crate.
//! This is the only layer that reads environment variables.

pub mod batch_create;
pub mod cli;
pub mod emit;
pub mod exit;
pub mod flamegraph;
pub mod flamegraph_text;
pub mod gguf_dump;
pub mod gguf_text;
pub mod github;
pub mod parity;
#[cfg(feature = "llama-cpp")]
pub mod parity_llama;
pub mod perf_common;
pub mod perf_instructions;
pub mod perf_paired;
pub mod perf_smoke;
pub mod plan_cli;
pub mod run_cli;
pub mod run_console;
pub mod run_parallel;
pub mod status;
pub mod validate_parallel;
pub mod verify_receipt;

pub use parci_core as core;
