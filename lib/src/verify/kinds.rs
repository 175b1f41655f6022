//! The kind registry: every receipt kind this build knows, its JSON Schema
//! (embedded from `receipts/schemas/`) and its semantic gates. A new kind is one
//! entry in [`KINDS`]; the verifier's core never changes for it.

use crate::findings::Findings;
use jsonschema::{Registry, Validator};
use serde_json::Value;
use std::sync::LazyLock;

/// A semantic gate: checks one rule on a receipt that already passed its schema,
/// adding a finding per violation.
pub type Gate = fn(&Value, &mut Findings);

pub struct Kind {
    /// `parci.<program>`.
    pub name: &'static str,
    /// The kind's JSON Schema text.
    pub schema: &'static str,
    /// Rules a schema cannot express; run after the schema passed.
    pub gates: &'static [Gate],
    /// Re-runs the recorded workload and returns the results block it gives
    /// now (`verify-receipt --replay`); `None` for kinds with nothing to re-run.
    pub replay: Option<Replay>,
}

/// A replay: the receipt in, this run's `results` out (or why it cannot run).
pub type Replay = fn(&Value) -> Result<Value, ReplayError>;

pub use crate::receipt::ReplayError;
/// Base URI of the schema `$id`s. `.invalid` never resolves: schemas are only
/// ever read from this build (or the repository), never fetched.
pub const SCHEMA_BASE: &str = "https://parci.invalid/schemas/";

pub const ENVELOPE_SCHEMA: &str = include_str!("../../../receipts/schemas/envelope.schema.json");

pub static KINDS: &[Kind] = &[
    Kind {
        name: "parci.verify-receipt",
        schema: include_str!("../../../receipts/schemas/verify-receipt.schema.json"),
        gates: &[super::gate_summary_consistent, super::gate_bytes_read],
        replay: None,
    },
    Kind {
        name: "parci.gguf-dump",
        schema: include_str!("../../../receipts/schemas/gguf-dump.schema.json"),
        gates: &[crate::gguf::dump::gate_consistent],
        replay: None,
    },
    Kind {
        name: "parci.perf-smoke",
        schema: include_str!("../../../receipts/schemas/perf-smoke.schema.json"),
        gates: &[crate::model::smoke::gate_perf_smoke],
        replay: Some(replay_perf_smoke),
    },
    Kind {
        name: "parci.parity",
        schema: include_str!("../../../receipts/schemas/parity.schema.json"),
        gates: &[crate::parity::gate_parity],
        replay: None,
    },
    Kind {
        name: "parci.validate-parallel",
        schema: include_str!("../../../receipts/schemas/validate-parallel.schema.json"),
        gates: &[crate::plan::gates::gate_validate_consistent],
        replay: None,
    },
    Kind {
        name: "parci.status",
        schema: include_str!("../../../receipts/schemas/status.schema.json"),
        gates: &[crate::plan::gates::gate_status_consistent],
        replay: None,
    },
    Kind {
        name: "parci.batch-create",
        schema: include_str!("../../../receipts/schemas/batch-create.schema.json"),
        gates: &[crate::plan::gates::gate_batch_consistent],
        replay: None,
    },
    Kind {
        name: "parci.flamegraph",
        schema: include_str!("../../../receipts/schemas/flamegraph.schema.json"),
        gates: &[crate::profile::receipt::gate_flamegraph],
        replay: None,
    },
    Kind {
        name: "parci.run-parallel",
        schema: include_str!("../../../receipts/schemas/run-parallel.schema.json"),
        gates: &[crate::plan::run::gate_run_consistent],
        replay: None,
    },
];

/// Gates every kind gets, before its own.
pub static ENVELOPE_GATES: &[Gate] = &[
    super::gate_verdict_has_reasons,
    super::gate_tool_matches_kind,
];

/// A gate that also reads files beside the receipt: the receipt, the
/// directory it is in, the findings.
pub type FileGate = fn(&Value, &std::path::Path, &mut Findings);

/// File gates by kind, run by `verify::verify_file` when every other check
/// passed (kept apart from [`Kind`] so adding one touches no other entry).
pub static FILE_GATES: &[(&str, FileGate)] = &[
    (
        "parci.flamegraph",
        crate::profile::receipt::gate_files_beside,
    ),
    (
        "parci.perf-smoke",
        crate::model::smoke::gate_baseline_beside,
    ),
];

/// A perf-smoke receipt is replayed by counting again when it is an
/// instruction count, else by decoding again.
fn replay_perf_smoke(doc: &Value) -> Result<Value, ReplayError> {
    if doc["results"]["instructions"].is_object() {
        crate::bench::recount::replay(doc)
    } else {
        crate::model::smoke::replay(doc)
    }
}

pub fn find(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// The file name a kind's schema has in `receipts/schemas/`.
pub fn schema_file(kind: &Kind) -> String {
    format!(
        "{}.schema.json",
        kind.name.strip_prefix("parci.").unwrap_or(kind.name)
    )
}

fn parse(text: &str, what: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("embedded schema {what} is not JSON: {e}"))
}

static REGISTRY: LazyLock<Registry<'static>> = LazyLock::new(|| {
    let mut resources = vec![(
        format!("{SCHEMA_BASE}envelope.schema.json"),
        parse(ENVELOPE_SCHEMA, "envelope"),
    )];
    for k in KINDS {
        resources.push((
            format!("{SCHEMA_BASE}{}", schema_file(k)),
            parse(k.schema, k.name),
        ));
    }
    Registry::new()
        .extend(resources)
        .and_then(|b| b.prepare())
        .expect("embedded schemas form a valid registry")
});

static VALIDATORS: LazyLock<Vec<Validator>> = LazyLock::new(|| {
    KINDS
        .iter()
        .map(|k| {
            jsonschema::options()
                .with_registry(&REGISTRY)
                .build(&parse(k.schema, k.name))
                .unwrap_or_else(|e| panic!("embedded schema of {} does not compile: {e}", k.name))
        })
        .collect()
});

/// The compiled validator of a kind from [`KINDS`].
pub fn validator(kind: &Kind) -> &'static Validator {
    let i = KINDS
        .iter()
        .position(|k| std::ptr::eq(k, kind))
        .expect("kind comes from KINDS");
    &VALIDATORS[i]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_schema_compiles_and_is_a_2020_12_schema() {
        for k in KINDS {
            let v = parse(k.schema, k.name);
            assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
            assert_eq!(v["$id"], format!("{SCHEMA_BASE}{}", schema_file(k)));
            assert_eq!(v["properties"]["schema"]["const"], k.name);
            let _ = validator(k);
        }
    }

    #[test]
    fn every_schema_file_on_disk_is_registered() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../receipts/schemas");
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            let Some(kind) = name.strip_suffix(".schema.json") else {
                continue;
            };
            if kind == "envelope" || kind == "parallel-plan" {
                continue;
            }
            assert!(
                find(&format!("parci.{kind}")).is_some(),
                "{name} is not in KINDS"
            );
        }
    }
}
