//! Verification of one receipt: strict parse, kind and version, JSON Schema,
//! digest recomputation, then the kind's semantic gates from the registry.
//!
//! This module sits above every domain: [`kinds`] is the one place that names
//! them all (their schemas, gates and replays). The domains own their gates and
//! depend only on [`crate::findings`] and [`crate::receipt`] below them.

pub mod kinds;

pub use crate::findings::{clip, Finding, Findings, MAX_MESSAGE_CHARS};
use crate::jsonpos;
use crate::receipt::{canonical, FileInput, SCHEMA_MAJOR};
use serde_json::Value;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

pub use crate::receipt::MAX_RECEIPT_BYTES;
/// At most this many schema errors are reported per file.
pub const MAX_SCHEMA_ERRORS: usize = 50;

/// The outcome for one file.
#[derive(Debug)]
pub struct Report {
    pub file: FileInput,
    /// The `schema` the file declared, when it declared one.
    pub kind: Option<String>,
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
    /// Who signed it, when `--attestation` verified a bundle for it.
    pub attested: Option<crate::attest::Attested>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.errors.is_empty()
    }
}

/// A Sigstore bundle kept beside the receipt it attests
/// (`RECEIPT.sigstore.json`): JSON, but not a receipt.
pub fn is_bundle(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".sigstore.json"))
}

/// Expands files and directories into the receipt files to check: a file is
/// taken as given; a directory is walked (sorted, symlinked directories not
/// followed) for `*.json`, leaving out Sigstore bundles (`*.sigstore.json`).
/// An error names the path that cannot be read.
pub fn collect(
    paths: &[std::path::PathBuf],
) -> Result<Vec<std::path::PathBuf>, (std::path::PathBuf, io::Error)> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| (p.clone(), e))?;
        if !meta.is_dir() {
            out.push(p.clone());
            continue;
        }
        let mut stack = vec![p.clone()];
        while let Some(dir) = stack.pop() {
            let mut entries: Vec<_> = std::fs::read_dir(&dir)
                .and_then(|rd| {
                    rd.map(|e| e.map(|e| e.path()))
                        .collect::<io::Result<Vec<_>>>()
                })
                .map_err(|e| (dir.clone(), e))?;
            entries.sort();
            let mut subdirs = Vec::new();
            for e in entries {
                let ft = std::fs::symlink_metadata(&e)
                    .map_err(|err| (e.clone(), err))?
                    .file_type();
                if ft.is_dir() {
                    subdirs.push(e);
                } else if e.extension().is_some_and(|x| x == "json") && !is_bundle(&e) {
                    out.push(e);
                }
            }
            // Depth-first in name order: push reversed so the first pops first.
            stack.extend(subdirs.into_iter().rev());
        }
    }
    Ok(out)
}

/// The `parci.verify-receipt` receipt body for a set of reports.
pub fn body(
    reports: &[Report],
    expect_kind: Option<&str>,
    replay: bool,
    attestation: Value,
    elapsed_ms: f64,
) -> Result<crate::receipt::Body, crate::receipt::ReceiptError> {
    use serde_json::json;
    let files: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "path": r.file.path,
                "sha256": r.file.sha256,
                "kind": r.kind,
                "status": if r.is_valid() { "valid" } else { "invalid" },
                "findings": r.errors,
                "warnings": r.warnings,
                "attested": r.attested.as_ref().map(|a| json!({
                    "signer": a.signer,
                    "issuer": a.issuer,
                    "predicate_type": a.predicate_type,
                    "logged_at": a.logged_at,
                })),
            })
        })
        .collect();
    let invalid: Vec<&Report> = reports.iter().filter(|r| !r.is_valid()).collect();
    let reasons = invalid
        .iter()
        .map(|r| format!("{}: {}", r.file.path, r.errors[0].message))
        .collect();
    Ok(crate::receipt::Body {
        inputs: json!({
            "files": reports.iter().map(|r| &r.file).collect::<Vec<_>>(),
            "kind": expect_kind,
            "replay": replay,
            "attestation": attestation,
        }),
        results: json!({
            "files": files,
            "summary": {
                "total": reports.len(),
                "valid": reports.len() - invalid.len(),
                "invalid": invalid.len(),
            },
        }),
        measurements: json!({
            "elapsed_ms": canonical::finite(elapsed_ms)?,
            "bytes_read": reports.iter().map(|r| r.file.bytes).sum::<u64>(),
        }),
        verdict: crate::receipt::Verdict::from_findings(reasons, Vec::new()),
    })
}

/// Reads and verifies the receipt at `path`. `Err` only for I/O failures (the
/// file cannot be opened or read); everything about its content is a finding.
pub fn verify_file(path: &Path, expect_kind: Option<&str>) -> io::Result<Report> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    if len > MAX_RECEIPT_BYTES {
        let file = FileInput::hash(path)?;
        let mut out = Findings::default();
        out.error(
            "",
            format!(
                "file is {len} bytes; receipts are capped at {MAX_RECEIPT_BYTES} bytes (16 MiB) \
                 and this is not one"
            ),
        );
        return Ok(Report {
            file,
            kind: None,
            errors: out.errors,
            warnings: out.warnings,
            attested: None,
        });
    }
    let mut bytes = Vec::with_capacity(len as usize);
    f.by_ref()
        .take(MAX_RECEIPT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    let file = FileInput {
        path: path.to_string_lossy().into_owned(),
        bytes: bytes.len() as u64,
        sha256: crate::fsutil::sha256_hex(&bytes),
    };
    let (kind, mut out) = if bytes.len() as u64 > MAX_RECEIPT_BYTES {
        let mut out = Findings::default();
        out.error("", "file grew past the 16 MiB cap while being read");
        (None, out)
    } else {
        verify_bytes(&bytes, expect_kind)
    };
    if out.errors.is_empty() {
        file_gates(path, &bytes, kind.as_deref(), &mut out);
    }
    for f in out.errors.iter_mut().chain(out.warnings.iter_mut()) {
        if f.line.is_none() {
            f.line = jsonpos::locate(&bytes, &f.pointer).map(|(l, _)| l);
        }
    }
    Ok(Report {
        file,
        kind,
        errors: out.errors,
        warnings: out.warnings,
        attested: None,
    })
}

/// `verify-receipt --attestation`: checks that `bundle` attests the receipt
/// at `path` (its bytes as verified, its kind's predicate type) under
/// `policy`. A refusal is an error finding on `report`; `Err` only when
/// the bundle or file cannot be read.
pub fn attest_into(
    path: &Path,
    bundle: &Path,
    root: &crate::attest::TrustedRoot,
    policy: &crate::attest::Policy,
    report: &mut Report,
) -> Result<(), crate::attest::AttestError> {
    use crate::attest::{self, AttestError};
    let bytes = std::fs::read(path)
        .map_err(|e| AttestError::Unreadable(format!("{}: {e}", path.display())))?;
    if crate::fsutil::sha256_hex(&bytes) != report.file.sha256 {
        report.errors.push(Findings::finding(
            String::new(),
            "attestation: the file changed since it was verified".into(),
        ));
        return Ok(());
    }
    let policy = attest::Policy {
        predicate_type: report.kind.as_deref().map(attest::predicate_type),
        ..policy.clone()
    };
    match attest::verify(&bytes, bundle, root, &policy) {
        Ok(a) => report.attested = Some(a),
        Err(AttestError::Refused(why)) => report.errors.push(Findings::finding(
            String::new(),
            format!("attestation {}: {why}", bundle.display()),
        )),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// Runs the kind's [`kinds::FILE_GATES`] with the receipt's directory.
fn file_gates(path: &Path, bytes: &[u8], kind: Option<&str>, out: &mut Findings) {
    let gates: Vec<kinds::FileGate> = kinds::FILE_GATES
        .iter()
        .filter(|(k, _)| Some(*k) == kind)
        .map(|(_, g)| *g)
        .collect();
    if gates.is_empty() {
        return;
    }
    let Ok(doc) = canonical::parse_strict(bytes) else {
        return;
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    for gate in gates {
        gate(&doc, dir, out);
    }
}

/// `verify-receipt --replay`: re-runs the workload a valid receipt records
/// (for kinds with a replay) and requires the identical `results` block.
/// Returns whether a replay ran; a difference or a workload that cannot run
/// here is an error finding on `report`.
pub fn replay_into(path: &Path, report: &mut Report) -> io::Result<bool> {
    let Some(kind) = report.kind.as_deref().and_then(kinds::find) else {
        return Ok(false);
    };
    let Some(replay) = kind.replay else {
        return Ok(false);
    };
    let bytes = std::fs::read(path)?;
    if crate::fsutil::sha256_hex(&bytes) != report.file.sha256 {
        report.errors.push(Findings::finding(
            String::new(),
            "replay: the file changed since it was verified".into(),
        ));
        return Ok(true);
    }
    let Ok(doc) = canonical::parse_strict(&bytes) else {
        return Ok(false);
    };
    let mut out = Findings::default();
    match replay(&doc) {
        Err(kinds::ReplayError::Failed(why)) => out.error("/inputs", format!("replay: {why}")),
        Err(kinds::ReplayError::Refused(why)) => out.warn(
            "/inputs",
            format!("replay refused, nothing compared: {why}"),
        ),
        Ok(now) => {
            if let Some((ptr, was, is)) = first_difference(&doc["results"], &now, "/results".into())
            {
                out.error(
                    ptr,
                    format!("replay: the recorded results say {was}, re-running the workload gives {is}"),
                );
            }
        }
    }
    for mut f in out.errors {
        f.line = jsonpos::locate(&bytes, &f.pointer).map(|(l, _)| l);
        report.errors.push(f);
    }
    report.warnings.extend(out.warnings);
    Ok(true)
}

/// The first place (JSON pointer, in document order) where `a` and `b` differ,
/// with both values clipped for a message.
pub fn first_difference(a: &Value, b: &Value, at: String) -> Option<(String, String, String)> {
    let esc = |k: &str| k.replace('~', "~0").replace('/', "~1");
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                (Some(p), Some(q)) => first_difference(p, q, format!("{at}/{}", esc(k))),
                (p, q) => Some((
                    format!("{at}/{}", esc(k)),
                    p.map_or("nothing".into(), |v| clip(&v.to_string(), 80)),
                    q.map_or("nothing".into(), |v| clip(&v.to_string(), 80)),
                )),
            })
        }
        (Value::Array(x), Value::Array(y)) => x
            .iter()
            .zip(y)
            .enumerate()
            .find_map(|(i, (p, q))| first_difference(p, q, format!("{at}/{i}")))
            .or_else(|| {
                (x.len() != y.len()).then(|| {
                    (
                        at.clone(),
                        format!("{} items", x.len()),
                        format!("{} items", y.len()),
                    )
                })
            }),
        _ if a == b => None,
        _ => Some((at, clip(&a.to_string(), 80), clip(&b.to_string(), 80))),
    }
}

/// Verifies receipt bytes; returns the declared kind and the findings.
pub fn verify_bytes(bytes: &[u8], expect_kind: Option<&str>) -> (Option<String>, Findings) {
    let mut out = Findings::default();
    let doc = match canonical::parse_strict(bytes) {
        Ok(v) => v,
        Err(e) => {
            let line = (e.line() > 0).then_some(e.line() as u64);
            let what = if bytes.iter().all(u8::is_ascii_whitespace) {
                "file is empty; a receipt is a JSON object".to_string()
            } else {
                format!("not valid JSON: {e}")
            };
            out.error("", what);
            out.errors[0].line = line;
            return (None, out);
        }
    };
    let Some(kind_name) = doc.get("schema").and_then(Value::as_str) else {
        out.error(
            "",
            "missing string field `schema`; a receipt names its kind as \"parci.<program>\"",
        );
        return (None, out);
    };
    let kind_name = clip(kind_name, 64);
    if let Some(want) = expect_kind {
        if want != kind_name {
            out.error(
                "/schema",
                format!("kind is {kind_name:?}, expected {want:?} (--kind)"),
            );
            return (Some(kind_name), out);
        }
    }
    let Some(kind) = kinds::find(&kind_name) else {
        let known: Vec<_> = kinds::KINDS.iter().map(|k| k.name).collect();
        out.error(
            "/schema",
            format!(
                "unknown kind {kind_name:?}; this build knows {}",
                known.join(", ")
            ),
        );
        return (Some(kind_name), out);
    };
    if let Some(v) = doc.get("schema_version").and_then(Value::as_str) {
        let major = v.split('.').next().and_then(|m| m.parse::<u64>().ok());
        if major.is_some() && major != Some(SCHEMA_MAJOR) {
            out.error(
                "/schema_version",
                format!("unsupported schema_version {v:?}; this build reads {SCHEMA_MAJOR}.x.y"),
            );
            return (Some(kind_name), out);
        }
    }

    let validator = kinds::validator(kind);
    for e in validator.iter_errors(&doc).take(MAX_SCHEMA_ERRORS) {
        out.error(e.instance_path().as_str(), format!("schema: {e}"));
    }
    let schema_ok = out.errors.is_empty();

    check_digest(&doc, &mut out);
    check_measurements_seal(&doc, &mut out);
    if schema_ok {
        for gate in kinds::ENVELOPE_GATES.iter().chain(kind.gates) {
            gate(&doc, &mut out);
        }
    }
    (Some(kind_name), out)
}

fn check_digest(doc: &Value, out: &mut Findings) {
    // A missing or malformed digest is a schema finding already.
    let Some(claimed) = doc.get("digest").and_then(Value::as_str) else {
        return;
    };
    let parts: Option<Vec<&Value>> = ["schema", "schema_version", "inputs", "results"]
        .iter()
        .map(|k| doc.get(*k))
        .collect();
    let Some(p) = parts else { return };
    let actual = crate::receipt::digest(p[0], p[1], p[2], p[3]);
    if actual != claimed {
        out.error(
            "/digest",
            format!(
                "digest mismatch: the file says {claimed} but its schema, schema_version, inputs \
                 and results hash to {actual}; the receipt was edited after it was written"
            ),
        );
    }
}

/// The measurements against their seal: each top-level measurement must hash
/// to the value `measurements_sha256` recorded when the receipt was written.
/// A receipt from before schema 1.1.0 has no seal: a warning, since its
/// measurements cannot be checked this way.
fn check_measurements_seal(doc: &Value, out: &mut Findings) {
    let Some(measurements) = doc.get("measurements").filter(|m| m.is_object()) else {
        return; // a schema finding already
    };
    let Some(sealed) = doc.get("measurements_sha256").and_then(Value::as_object) else {
        let old = doc["schema_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("1.0."));
        if old && doc.get("measurements_sha256").is_none() {
            out.warn(
                "/measurements",
                "not sealed: schema_version 1.0.x receipts have no measurements_sha256, so an \
                 edited measurement cannot be detected; run the program again for a sealed receipt",
            );
        }
        return; // otherwise missing or malformed: a schema finding already
    };
    let actual = crate::receipt::measurements_sha256(measurements);
    for (key, hash) in &actual {
        let pointer = format!("/measurements/{}", crate::jsonpos::escape_token(key));
        match sealed.get(key).map(|v| v.as_str()) {
            Some(Some(want)) if want == hash => {}
            Some(Some(want)) => out.error(
                pointer,
                format!(
                    "edited after the receipt was written: it hashes to sha256 {} but \
                     measurements_sha256 sealed {}",
                    &hash[..16],
                    want.get(..16).unwrap_or(want)
                ),
            ),
            Some(None) => {} // not a string: a schema finding already
            None => out.error(
                pointer,
                "added after the receipt was written: measurements_sha256 has no seal for it",
            ),
        }
    }
    for key in sealed.keys().filter(|k| !actual.contains_key(*k)) {
        out.error(
            format!("/measurements/{}", crate::jsonpos::escape_token(key)),
            "removed after the receipt was written: measurements_sha256 seals it but it is gone",
        );
    }
}

/// Envelope gate: a verdict other than `pass` says why.
pub fn gate_verdict_has_reasons(doc: &Value, out: &mut Findings) {
    let status = doc["verdict"]["status"].as_str().unwrap_or("");
    let reasons = doc["verdict"]["reasons"].as_array().map_or(0, Vec::len);
    if status != "pass" && reasons == 0 {
        out.error(
            "/verdict/reasons",
            format!("verdict is {status:?} but gives no reason; a non-pass verdict must say why"),
        );
    }
}

/// Envelope gate: the program named in `tool` is the one the kind names.
pub fn gate_tool_matches_kind(doc: &Value, out: &mut Findings) {
    let kind = doc["schema"].as_str().unwrap_or("");
    let tool = doc["tool"]["name"].as_str().unwrap_or("");
    if kind.strip_prefix("parci.") != Some(tool) {
        out.error(
            "/tool/name",
            format!(
                "tool.name is {tool:?} but a {kind} receipt is written by {:?}",
                kind.trim_start_matches("parci.")
            ),
        );
    }
}

/// verify-receipt's `bytes_read` is the sum of the sizes of the files it
/// lists.
pub fn gate_bytes_read(doc: &Value, out: &mut Findings) {
    let sum: u64 = doc["inputs"]["files"]
        .as_array()
        .map_or(0, |a| a.iter().filter_map(|f| f["bytes"].as_u64()).sum());
    let got = &doc["measurements"]["bytes_read"];
    if got.as_u64() != Some(sum) {
        out.error(
            "/measurements/bytes_read",
            format!("{got} but the input files' sizes add up to {sum}"),
        );
    }
}

/// `parci.verify-receipt` gate: the summary and verdict agree with the files listed.
pub fn gate_summary_consistent(doc: &Value, out: &mut Findings) {
    let files = doc["results"]["files"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let inputs = doc["inputs"]["files"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let valid = files.iter().filter(|f| f["status"] == "valid").count() as u64;
    let invalid = files.len() as u64 - valid;
    let summary = &doc["results"]["summary"];
    for (field, want) in [
        ("total", files.len() as u64),
        ("valid", valid),
        ("invalid", invalid),
    ] {
        let got = summary[field].as_u64().unwrap_or(u64::MAX);
        if got != want {
            out.error(
                format!("/results/summary/{field}"),
                format!("summary says {field} = {got} but results/files lists {want}"),
            );
        }
    }
    if inputs.len() != files.len() {
        out.error(
            "/results/files",
            format!(
                "{} results for {} input files; every input file gets exactly one result",
                files.len(),
                inputs.len()
            ),
        );
    }
    for (i, (inp, res)) in inputs.iter().zip(files).enumerate() {
        if inp["path"] != res["path"] || inp["sha256"] != res["sha256"] {
            out.error(
                format!("/results/files/{i}"),
                format!(
                    "result {i} is for {} but input {i} is {}",
                    res["path"], inp["path"]
                ),
            );
        }
        let has_errors = res["findings"].as_array().is_some_and(|a| !a.is_empty());
        if has_errors != (res["status"] == "invalid") {
            out.error(
                format!("/results/files/{i}/status"),
                format!(
                    "status is {} but the file has {} findings; invalid exactly when there are findings",
                    res["status"],
                    res["findings"].as_array().map_or(0, Vec::len)
                ),
            );
        }
    }
    let status = doc["verdict"]["status"].as_str().unwrap_or("");
    let want = if invalid > 0 { "fail" } else { "pass" };
    if status != want {
        out.error(
            "/verdict/status",
            format!(
                "verdict is {status:?} but {invalid} of {} files are invalid; expected {want:?}",
                files.len()
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_bytes_give_one_finding_each() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "file is empty"),
            (b"  \n", "file is empty"),
            (b"{\"schema\": ", "not valid JSON"),
            (b"[1,2]", "missing string field `schema`"),
            (b"{\"schema\": \"parci.nope\"}", "unknown kind"),
            (b"{\"a\":1,\"a\":2}", "duplicate key"),
            (b"{\"x\": 1e999}", "not valid JSON"),
            (b"{\"x\": \"\xff\"}", "not valid JSON"),
        ];
        for (bytes, want) in cases {
            let (_, f) = verify_bytes(bytes, None);
            assert_eq!(f.errors.len(), 1, "{:?}", String::from_utf8_lossy(bytes));
            assert!(
                f.errors[0].message.contains(want),
                "{:?}: {}",
                want,
                f.errors[0].message
            );
        }
    }

    #[test]
    fn deep_nesting_is_refused_without_overflow() {
        let deep = "[".repeat(100_000);
        let (_, f) = verify_bytes(deep.as_bytes(), None);
        assert!(
            f.errors[0].message.contains("recursion limit"),
            "{}",
            f.errors[0].message
        );
    }

    #[test]
    fn unsupported_major_version_is_named() {
        let (_, f) = verify_bytes(
            br#"{"schema":"parci.verify-receipt","schema_version":"2.0.0"}"#,
            None,
        );
        assert_eq!(f.errors.len(), 1);
        assert!(f.errors[0]
            .message
            .contains("unsupported schema_version \"2.0.0\""));
    }

    #[test]
    fn expected_kind_mismatch() {
        let (_, f) = verify_bytes(
            br#"{"schema":"parci.verify-receipt"}"#,
            Some("parci.perf-smoke"),
        );
        assert!(f.errors[0]
            .message
            .contains("expected \"parci.perf-smoke\""));
    }
}
