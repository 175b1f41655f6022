//! GGUF: a hardened zero-copy reader, a writer with gguf-py's layout rules,
//! the ggml type table, and deterministic llama fixture models.
//! Guarantees are listed in docs/architecture.md ("The GGUF loader").

pub mod benchfile;
pub mod dump;
pub mod fixture;
pub mod reader;
pub mod types;
pub mod writer;

pub use reader::{
    Array, ErrorKind, GStr, Gguf, GgufError, KeyError, Kv, MappedFile, TensorInfo, Value,
    ValueType, Warning,
};
pub use types::{GgmlType, TypeError};
pub use writer::{OwnedValue, Writer};
