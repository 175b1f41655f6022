//! verify-receipt --attestation's checks on a published Sigstore bundle
//! (GitHub Actions, public-good Sigstore; data/sigstore/README.md): the
//! bundle verifies for its subject and signer, and each broken variant is
//! refused with a one-line reason that names the failed check.

use parci_core::attest::{self, AttestError, Policy};
use serde_json::Value;
use std::path::{Path, PathBuf};

const WORKFLOW: &str = "prefix-dev/sigstore-example/.github/workflows/action.yaml";

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/sigstore")
        .join(name)
}

fn subject() -> Vec<u8> {
    std::fs::read(data("signed-package-2.1.0-hb0f4dca_0.conda")).unwrap()
}

fn good() -> Value {
    serde_json::from_slice(&std::fs::read(data("conda-attestation.sigstore.json")).unwrap())
        .unwrap()
}

fn policy(workflow: Option<&str>) -> Policy {
    Policy {
        signer_workflow: workflow.map(str::to_string),
        predicate_type: None,
    }
}

/// Writes `bundle` to a temporary file and verifies `subject` with it.
fn check(bundle: &Value, subject: &[u8], p: &Policy) -> Result<attest::Attested, AttestError> {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("b.sigstore.json");
    std::fs::write(&path, serde_json::to_vec(bundle).unwrap()).unwrap();
    let root = attest::trusted_root(None).unwrap();
    attest::verify(subject, &path, &root, p)
}

fn refused(r: Result<attest::Attested, AttestError>) -> String {
    match r {
        Err(AttestError::Refused(why)) => {
            assert_eq!(why.lines().count(), 1, "{why}");
            why
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_published_bundle_verifies_for_its_subject_and_signer() {
    let a = check(&good(), &subject(), &policy(Some(WORKFLOW))).unwrap();
    assert_eq!(
        a.signer,
        "https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main"
    );
    assert_eq!(a.issuer, attest::GITHUB_ACTIONS_ISSUER);
    assert_eq!(
        a.predicate_type,
        "https://schemas.conda.org/attestations-publish-1.schema.json"
    );
    assert!(a.logged_at.unwrap().starts_with("2025-09-01T"));
    // the ref can be pinned too
    let pinned = format!("{WORKFLOW}@refs/heads/main");
    assert!(check(&good(), &subject(), &policy(Some(&pinned))).is_ok());
}

#[test]
fn another_file_is_refused() {
    let why = refused(check(
        &good(),
        b"a receipt edited after signing\n",
        &policy(Some(WORKFLOW)),
    ));
    assert!(why.contains("not this file"), "{why}");
    assert!(
        why.contains("signed-package-2.1.0-hb0f4dca_0.conda (sha256 54303491a8418fbe)"),
        "{why}"
    );
}

#[test]
fn another_signer_is_refused() {
    let why = refused(check(
        &good(),
        &subject(),
        &policy(Some("parci/parci/.github/workflows/ci.yml")),
    ));
    assert!(
        why.starts_with("signed by https://github.com/prefix-dev/sigstore-example/.github/workflows/action.yaml@refs/heads/main, not by the workflow parci/parci/.github/workflows/ci.yml"),
        "{why}"
    );
    let other_ref = format!("{WORKFLOW}@refs/heads/dev");
    assert!(
        refused(check(&good(), &subject(), &policy(Some(&other_ref))))
            .contains("not by the workflow")
    );
}

#[test]
fn a_bad_signature_is_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut b = good();
    let sig = &mut b["dsseEnvelope"]["signatures"][0]["sig"];
    let mut bytes = b64.decode(sig.as_str().unwrap()).unwrap();
    let n = bytes.len();
    bytes[n - 5] ^= 1;
    *sig = Value::String(b64.encode(bytes));
    let why = refused(check(&b, &subject(), &policy(Some(WORKFLOW))));
    assert!(why.starts_with("the signature does not verify"), "{why}");
}

#[test]
fn a_missing_log_entry_is_refused() {
    let mut b = good();
    b["verificationMaterial"]["tlogEntries"] = Value::Array(Vec::new());
    let why = refused(check(&b, &subject(), &policy(Some(WORKFLOW))));
    assert!(
        why.starts_with("no verifiable transparency-log entry"),
        "{why}"
    );
}

#[test]
fn another_predicate_type_is_refused() {
    let p = Policy {
        signer_workflow: Some(WORKFLOW.into()),
        predicate_type: Some(attest::predicate_type("parci.perf-smoke")),
    };
    let why = refused(check(&good(), &subject(), &p));
    assert!(
        why.contains("not \"https://parci.invalid/attestations/receipt/parci.perf-smoke/v1\""),
        "{why}"
    );
}

#[test]
fn json_lines_hold_several_bundles_and_the_subjects_is_chosen() {
    let t = tempfile::tempdir().unwrap();
    let mut other = good();
    other["dsseEnvelope"]["signatures"][0]["sig"] = Value::String("AAAA".into());
    // the other line attests nothing of ours: its payload names another subject
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = serde_json::json!({"_type": "https://in-toto.io/Statement/v1", "subject": [{"name": "x", "digest": {"sha256": "00".repeat(32)}}], "predicateType": "p", "predicate": {}});
    other["dsseEnvelope"]["payload"] = Value::String(b64.encode(payload.to_string()));
    let path = t.path().join("bundles.jsonl");
    let lines = format!(
        "{}\n{}\n",
        serde_json::to_string(&other).unwrap(),
        serde_json::to_string(&good()).unwrap()
    );
    std::fs::write(&path, lines).unwrap();
    let root = attest::trusted_root(None).unwrap();
    assert!(attest::verify(&subject(), &path, &root, &policy(Some(WORKFLOW))).is_ok());
}

#[test]
fn unreadable_inputs_are_not_refusals() {
    let t = tempfile::tempdir().unwrap();
    let bad = t.path().join("root.json");
    std::fs::write(&bad, "{}").unwrap();
    assert!(matches!(
        attest::trusted_root(Some(&bad)),
        Err(AttestError::Unreadable(_))
    ));
    let not_bundle = t.path().join("x.json");
    std::fs::write(&not_bundle, "{\"hello\": 1}").unwrap();
    let root = attest::trusted_root(None).unwrap();
    let e = attest::verify(b"x", &not_bundle, &root, &policy(None)).unwrap_err();
    assert!(
        matches!(&e, AttestError::Unreadable(m) if m.contains("not a Sigstore bundle")),
        "{e:?}"
    );
}
