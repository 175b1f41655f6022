//! Does this Sigstore bundle attest this file, signed by this workflow?
//!
//! A receipt a gate reads is attested in CI by GitHub's artifact
//! attestations (`actions/attest`): an in-toto statement whose subject is
//! the receipt's sha256 and whose predicate type names its kind, signed
//! with a short-lived Fulcio certificate bound to the workflow run and
//! logged in Rekor. [`verify`] checks such a bundle offline against a
//! trusted root (Sigstore's public-good root, embedded, or a file):
//! certificate chain and SCT, transparency-log inclusion, the DSSE
//! signature, the subject digest, and the signer. All cryptography is
//! sigstore-verify's; this module only chooses the policy and says in one
//! line why a bundle is refused.

use serde_json::Value;
pub use sigstore_verify::trust_root::TrustedRoot;
use sigstore_verify::trust_root::SIGSTORE_PRODUCTION_TRUSTED_ROOT;
use sigstore_verify::types::{Bundle, Sha256Hash};
use sigstore_verify::{Error as SigError, TransparencyLogError, VerificationPolicy, Verifier};
use std::path::Path;

/// The OIDC issuer of GitHub Actions' workflow identity tokens.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// The in-toto predicate type of an attested receipt of `kind`
/// (`parci.perf-smoke`). `.invalid`: a name, never fetched.
pub fn predicate_type(kind: &str) -> String {
    format!("https://parci.invalid/attestations/receipt/{kind}/v1")
}

/// What to require of a bundle beyond a valid signature over the file.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// `OWNER/REPO/.github/workflows/FILE`, optionally `@REF`: the signing
    /// certificate must name this workflow (any ref without `@`). `None`
    /// accepts any signer the trusted root vouches for.
    pub signer_workflow: Option<String>,
    /// The statement's predicate type must be this.
    pub predicate_type: Option<String>,
}

/// Who signed, and what the log says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attested {
    /// The certificate's identity (for GitHub: the workflow's URL and ref).
    pub signer: String,
    pub issuer: String,
    pub predicate_type: String,
    /// When the transparency log recorded the signature (RFC 3339).
    pub logged_at: Option<String>,
}

/// Why a bundle does not attest a file.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AttestError {
    /// The bundle or trusted root cannot be read or parsed (exit 2).
    #[error("{0}")]
    Unreadable(String),
    /// It was read and does not attest the file as asked (a failed check).
    #[error("{0}")]
    Refused(String),
}

/// A trusted root: the file given, or Sigstore's public-good root as
/// embedded in sigstore-verify.
pub fn trusted_root(path: Option<&Path>) -> Result<TrustedRoot, AttestError> {
    match path {
        Some(p) => TrustedRoot::from_file(p).map_err(|e| {
            AttestError::Unreadable(format!(
                "{}: not a Sigstore trusted root ({e}); pass a trusted_root.json (e.g. from gh attestation trusted-root)",
                p.display()
            ))
        }),
        None => TrustedRoot::from_json(SIGSTORE_PRODUCTION_TRUSTED_ROOT)
            .map_err(|e| AttestError::Unreadable(format!("the embedded trusted root: {e}"))),
    }
}

/// Verifies that the bundle at `bundle` attests `subject` (the file's
/// bytes) under `policy`, against `root`. A bundle file holds one bundle
/// (JSON) or several (JSON Lines, as `actions/attest` and `gh attestation
/// download` write them): the one whose subject is the file is checked.
pub fn verify(
    subject: &[u8],
    bundle: &Path,
    root: &TrustedRoot,
    policy: &Policy,
) -> Result<Attested, AttestError> {
    let shown = bundle.display();
    let text = std::fs::read_to_string(bundle)
        .map_err(|e| AttestError::Unreadable(format!("{shown}: cannot read: {e}")))?;
    let digest = crate::fsutil::sha256_hex(subject);
    let candidates = bundles(&text)
        .map_err(|e| AttestError::Unreadable(format!("{shown}: not a Sigstore bundle: {e}")))?;
    let (raw, statement) = candidates
        .iter()
        .find(|(_, st)| {
            st.as_ref()
                .is_some_and(|st| subjects(st).iter().any(|(_, d)| *d == digest))
        })
        .or(candidates.first())
        .ok_or_else(|| AttestError::Unreadable(format!("{shown}: holds no bundle")))?;
    let Some(statement) = statement else {
        return Err(AttestError::Refused(
            "the bundle signs a message, not an in-toto statement about a file; attest receipts with actions/attest".into(),
        ));
    };
    let subs = subjects(statement);
    if !subs.iter().any(|(_, d)| *d == digest) {
        let named: Vec<String> = subs
            .iter()
            .map(|(n, d)| format!("{n} (sha256 {})", &d[..d.len().min(16)]))
            .collect();
        return Err(AttestError::Refused(format!(
            "the bundle attests {}, not this file (sha256 {}): the file was changed or this is another file's bundle",
            if named.is_empty() { "no sha256 subject".into() } else { named.join(", ") },
            &digest[..16]
        )));
    }
    let bundle = Bundle::from_json(raw)
        .map_err(|e| AttestError::Unreadable(format!("{shown}: not a Sigstore bundle: {e}")))?;
    let sig_policy = match &policy.signer_workflow {
        Some(_) => VerificationPolicy::any_identity().require_issuer(GITHUB_ACTIONS_ISSUER),
        None => VerificationPolicy::any_identity(),
    };
    let digest_hash = Sha256Hash::from_hex(&digest)
        .map_err(|e| AttestError::Unreadable(format!("sha256 of the file: {e}")))?;
    let verifier = Verifier::new(root)
        .map_err(|e| AttestError::Unreadable(format!("the trusted root: {e}")))?;
    let result = verifier
        .verify(digest_hash, &bundle, &sig_policy)
        .map_err(|e| AttestError::Refused(reason(&e)))?;
    let signer = result
        .identity()
        .map(|s| s.as_str().to_string())
        .unwrap_or_default();
    let issuer = result.issuer().unwrap_or_default().to_string();
    if let Some(want) = &policy.signer_workflow {
        if !signed_by(&signer, want) {
            return Err(AttestError::Refused(format!(
                "signed by {signer}, not by the workflow {want}: a foreign or forked signer"
            )));
        }
    }
    let predicate_type = statement["predicateType"]
        .as_str()
        .unwrap_or("")
        .to_string();
    if let Some(want) = &policy.predicate_type {
        if &predicate_type != want {
            return Err(AttestError::Refused(format!(
                "the statement's predicate type is {predicate_type:?}, not {want:?}: it attests something other than this kind of receipt"
            )));
        }
    }
    Ok(Attested {
        signer,
        issuer,
        predicate_type,
        logged_at: result.integrated_time().map(|t| t.to_string()),
    })
}

/// Whether a certificate identity `https://github.com/OWNER/REPO/.github/
/// workflows/FILE@REF` is the workflow `want` (`OWNER/REPO/.github/
/// workflows/FILE`, any ref; with `@REF`, that ref only).
fn signed_by(identity: &str, want: &str) -> bool {
    let Some(rest) = identity.strip_prefix("https://github.com/") else {
        return false;
    };
    if want.contains('@') {
        return rest == want;
    }
    rest.strip_prefix(want).is_some_and(|r| r.starts_with('@'))
}

/// One line saying which check failed, from sigstore-verify's error.
fn reason(e: &SigError) -> String {
    match e {
        SigError::SignatureInvalid(_) => format!("the signature does not verify ({e})"),
        SigError::ArtifactMismatch(_) => format!("the bundle does not attest this file ({e})"),
        SigError::IdentityMismatch { .. } | SigError::IssuerMismatch { .. } => {
            format!("not signed by a GitHub Actions workflow ({e})")
        }
        SigError::TransparencyLog(TransparencyLogError::InclusionProof(_))
        | SigError::TransparencyLog(TransparencyLogError::Checkpoint(_))
        | SigError::TransparencyLog(TransparencyLogError::InclusionPromise(_)) => {
            format!("the transparency-log proof does not verify ({e})")
        }
        SigError::TransparencyLog(_) => format!("the transparency-log entry is not valid ({e})"),
        SigError::Certificate(_) => format!("the signing certificate is not trusted ({e})"),
        other => {
            let s = other.to_string();
            if s.contains("inclusion proof") || s.contains("tlog") || s.contains("log entr") {
                format!("no verifiable transparency-log entry ({s})")
            } else {
                format!("the bundle does not verify ({s})")
            }
        }
    }
}

/// The bundles in a file (one JSON document, or JSON Lines), each with its
/// raw text and its in-toto statement (`None` for a message signature).
fn bundles(text: &str) -> Result<Vec<(String, Option<Value>)>, String> {
    let docs: Vec<String> = match serde_json::from_str::<Value>(text) {
        Ok(_) => vec![text.to_string()],
        Err(_) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
    };
    docs.into_iter()
        .map(|raw| {
            let v: Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
            if !v["mediaType"]
                .as_str()
                .is_some_and(|m| m.starts_with("application/vnd.dev.sigstore.bundle"))
            {
                return Err("no Sigstore bundle mediaType".to_string());
            }
            let statement = match v["dsseEnvelope"]["payload"].as_str() {
                Some(p) => {
                    use base64::Engine;
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(p)
                        .map_err(|e| format!("the DSSE payload is not base64: {e}"))?;
                    Some(
                        serde_json::from_slice(&bytes)
                            .map_err(|e| format!("the DSSE payload is not JSON: {e}"))?,
                    )
                }
                None => None,
            };
            Ok((raw, statement))
        })
        .collect()
}

/// The statement's subjects as (name, sha256 hex).
fn subjects(statement: &Value) -> Vec<(String, String)> {
    statement["subject"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| {
                    let d = s["digest"]["sha256"].as_str()?;
                    Some((
                        s["name"].as_str().unwrap_or("").to_string(),
                        d.to_ascii_lowercase(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workflow_is_matched_by_path_and_optionally_ref() {
        let id = "https://github.com/o/r/.github/workflows/ci.yml@refs/heads/main";
        assert!(signed_by(id, "o/r/.github/workflows/ci.yml"));
        assert!(signed_by(
            id,
            "o/r/.github/workflows/ci.yml@refs/heads/main"
        ));
        assert!(!signed_by(
            id,
            "o/r/.github/workflows/ci.yml@refs/heads/dev"
        ));
        assert!(!signed_by(id, "o/r/.github/workflows/ci"));
        assert!(!signed_by(id, "o/r2/.github/workflows/ci.yml"));
        assert!(!signed_by(
            "https://gitlab.com/o/r/.github/workflows/ci.yml@x",
            "o/r/.github/workflows/ci.yml"
        ));
    }
}
