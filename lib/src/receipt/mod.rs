//! Receipts: the canonical, schema-checked JSON record every program writes.
//!
//! The envelope (docs/receipts.md) is the same for every kind; a kind is named
//! by `schema` = `parci.<program>` and brings its own JSON Schema and semantic
//! gates, registered in [`crate::verify::kinds`]; [`crate::verify`] checks a
//! receipt's bytes. This module knows no domain: it sits below all of them.

pub mod canonical;
mod host;
mod source;

pub use canonical::Finite;
pub use host::{peak_rss_bytes, physical_cores, Host};
pub use source::Source;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// The envelope version this build writes; it reads every `1.x.y`. 1.1.0
/// added `measurements_sha256`, required from then on.
pub const SCHEMA_VERSION: &str = "1.1.0";
/// The major envelope version this build reads.
pub const SCHEMA_MAJOR: u64 = 1;

/// The program that wrote a receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// `rustc --version` of the compiler that built it.
    pub rustc: String,
    /// Cargo profile it was built in (`debug`, `release`, `profiling`, …).
    pub profile: String,
}

impl Tool {
    /// The tool record for program `name` at `version`; compiler and profile are
    /// the ones this build used.
    pub fn new(name: &str, version: &str) -> Tool {
        Tool {
            name: name.to_string(),
            version: version.to_string(),
            rustc: env!("PARCI_RUSTC_VERSION").to_string(),
            profile: env!("PARCI_BUILD_PROFILE").to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

/// The gate's conclusion; `reasons` says why whenever status is not `pass`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    pub reasons: Vec<String>,
}

impl Verdict {
    pub fn pass() -> Verdict {
        Verdict {
            status: Status::Pass,
            reasons: Vec::new(),
        }
    }
    /// `fail` when there are failures, else `warn` when there are warnings, else `pass`.
    pub fn from_findings(failures: Vec<String>, warnings: Vec<String>) -> Verdict {
        if !failures.is_empty() {
            Verdict {
                status: Status::Fail,
                reasons: failures,
            }
        } else if !warnings.is_empty() {
            Verdict {
                status: Status::Warn,
                reasons: warnings,
            }
        } else {
            Verdict::pass()
        }
    }
}

/// A file that determined a result: where, how big, which bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileInput {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl FileInput {
    /// Hashes the file at `path` (streamed).
    pub fn hash(path: &Path) -> std::io::Result<FileInput> {
        let (bytes, sha256) = crate::fsutil::hash_file(path)?;
        Ok(FileInput {
            path: path.to_string_lossy().into_owned(),
            bytes,
            sha256,
        })
    }
}

/// What a program hands over to be sealed into a receipt.
pub struct Body {
    pub inputs: Value,
    pub results: Value,
    pub measurements: Value,
    pub verdict: Verdict,
}

/// A complete receipt. Build with [`Receipt::seal`], render with [`Receipt::to_canonical`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Receipt {
    pub schema: String,
    pub schema_version: String,
    pub tool: Tool,
    pub source: Option<Source>,
    pub host: Host,
    pub inputs: Value,
    pub results: Value,
    pub measurements: Value,
    pub verdict: Verdict,
    pub digest: String,
    /// Each top-level measurement's sealed hash ([`measurements_sha256`]);
    /// empty in receipts written before schema 1.1.0.
    #[serde(default)]
    pub measurements_sha256: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("{0}")]
    NonFinite(#[from] canonical::NonFinite),
    #[error("receipt field cannot be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
}

/// `"sha256:" + hex` of the canonical JSON of {schema, schema_version, inputs, results}.
pub fn digest(schema: &Value, schema_version: &Value, inputs: &Value, results: &Value) -> String {
    let core = json!({
        "schema": schema,
        "schema_version": schema_version,
        "inputs": inputs,
        "results": results,
    });
    format!(
        "sha256:{}",
        crate::fsutil::sha256_hex(canonical::to_string(&core).as_bytes())
    )
}

/// The seal on `measurements`: for each top-level key, the hex sha256 of its
/// value's canonical JSON. Measurements differ run to run, so the digest
/// cannot cover them; the seal makes an edit of one of them, made without
/// hashing it again, fail verification at that measurement's pointer. Like
/// the digest, anyone can recompute it: a signature is what covers a resealed
/// receipt (docs/receipts.md).
pub fn measurements_sha256(measurements: &Value) -> BTreeMap<String, String> {
    measurements
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let hash = crate::fsutil::sha256_hex(canonical::to_string(v).as_bytes());
            (k.clone(), hash)
        })
        .collect()
}

impl Receipt {
    /// Seals a receipt of kind `parci.<program>` (the program is `tool.name`),
    /// computing its digest and the seal on its measurements.
    pub fn seal(tool: Tool, source: Option<Source>, host: Host, body: Body) -> Receipt {
        let schema = format!("parci.{}", tool.name);
        let digest = digest(
            &Value::String(schema.clone()),
            &Value::String(SCHEMA_VERSION.into()),
            &body.inputs,
            &body.results,
        );
        Receipt {
            schema,
            schema_version: SCHEMA_VERSION.to_string(),
            tool,
            source,
            host,
            inputs: body.inputs,
            results: body.results,
            measurements_sha256: measurements_sha256(&body.measurements),
            measurements: body.measurements,
            verdict: body.verdict,
            digest,
        }
    }

    /// The canonical JSON text of this receipt.
    pub fn to_canonical(&self) -> Result<String, ReceiptError> {
        Ok(canonical::to_string(&serde_json::to_value(self)?))
    }
}

/// Receipts larger than this are refused unread (16 MiB).
pub const MAX_RECEIPT_BYTES: u64 = 16 << 20;

/// Why a replay gave no results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// This host cannot reproduce the run (another valgrind, another
    /// perf-smoke build, an ISA it lacks): not evidence against the receipt.
    Refused(String),
    /// The workload the receipt records does not run.
    Failed(String),
}

impl From<String> for ReplayError {
    fn from(s: String) -> Self {
        ReplayError::Failed(s)
    }
}

impl From<&str> for ReplayError {
    fn from(s: &str) -> Self {
        ReplayError::Failed(s.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(results: Value) -> Receipt {
        Receipt::seal(
            Tool::new("verify-receipt", "0.1.0"),
            None,
            Host::detect(),
            Body {
                inputs: json!({"files": []}),
                results,
                measurements: json!({"elapsed_ms": 1.25}),
                verdict: Verdict::pass(),
            },
        )
    }

    #[test]
    fn digest_covers_results_but_not_measurements() {
        let a = sample(json!({"n": 1}));
        let mut b = sample(json!({"n": 1}));
        b.measurements = json!({"elapsed_ms": 99.0});
        assert_eq!(a.digest, b.digest);
        assert_ne!(a.digest, sample(json!({"n": 2})).digest);
        assert!(a.digest.starts_with("sha256:") && a.digest.len() == 7 + 64);
    }

    #[test]
    fn digest_is_independent_of_key_order_in_the_source_text() {
        let x: Value = serde_json::from_str(r#"{"b": 1, "a": {"d": 2, "c": 3}}"#).unwrap();
        let y: Value = serde_json::from_str(r#"{"a": {"c": 3, "d": 2}, "b": 1}"#).unwrap();
        let (s, v) = (json!("parci.x"), json!("1.0.0"));
        assert_eq!(
            digest(&s, &v, &x, &json!({})),
            digest(&s, &v, &y, &json!({}))
        );
        assert_ne!(
            digest(&s, &v, &x, &json!({})),
            digest(&s, &v, &json!({}), &x)
        );
    }

    #[test]
    fn canonical_rendering_is_deterministic() {
        let r = sample(json!({"n": 1}));
        assert_eq!(r.to_canonical().unwrap(), r.to_canonical().unwrap());
        assert!(r.to_canonical().unwrap().ends_with("}\n"));
    }
}
