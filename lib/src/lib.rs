//! `parci-core`: the domain of the parci programs, free of any CLI concern.
//!
//! - [`receipt`]: the receipt envelope, canonical JSON, digests, host and source
//!   fingerprints, the embedded JSON Schemas and the verifier with its gate registry.
//! - [`bench`]: comparing two builds' speed: paired runs, instruction counts.
//! - [`cpu`]: run-time CPU feature detection shared by receipts and kernels.
//! - [`fsutil`]: atomic writes and file hashing.
//! - [`tokenizer`]: text ↔ token ids with a GGUF file's own tokenizer, as llama.cpp.
//! - [`plan`]: `parallel.json` plans: model, DAG algorithms, status, scaffolding.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod attest;
pub mod bench;
pub mod cpu;
pub mod findings;
pub mod fsutil;
pub mod gguf;
pub mod graph;
pub mod jsonpos;
pub mod model;
pub mod parity;
pub mod plan;
pub mod profile;
pub mod quant;
pub mod receipt;
pub mod text;
pub mod tokenizer;
pub mod verify;
