//! `verify-receipt --replay` of an instruction-count receipt: the count in
//! perf-smoke's own code repeats to the instruction, so replaying it means
//! counting again and comparing. Counting needs valgrind and the perf-smoke
//! executable, so this runs the perf-smoke beside the running program (they
//! are built and installed together) with `--measure instructions` on the
//! workload the receipt records, and returns that run's results.
//!
//! A count is only comparable with the same valgrind and the same perf-smoke
//! build: with another one the replay is refused (a warning), never failed.

use crate::receipt::ReplayError;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The perf-smoke executable beside this program (`PARCI_PERF_SMOKE`
/// overrides it).
fn perf_smoke() -> Result<PathBuf, ReplayError> {
    if let Some(p) = std::env::var_os("PARCI_PERF_SMOKE") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe()
        .map_err(|e| ReplayError::Refused(format!("cannot find this program's path: {e}")))?;
    let name = format!("perf-smoke{}", std::env::consts::EXE_SUFFIX);
    Ok(me.with_file_name(name))
}

/// Re-counts the workload an instruction receipt records and returns the
/// results block that count gives.
pub fn replay(doc: &Value) -> Result<Value, ReplayError> {
    let rec = &doc["results"]["instructions"];
    let want_valgrind = rec["valgrind"].as_str().unwrap_or("?");
    let have = super::callgrind::valgrind_version().map_err(ReplayError::Refused)?;
    if have != want_valgrind {
        return Err(ReplayError::Refused(format!(
            "the receipt was counted by {want_valgrind}, this host has {have}; replay it where {want_valgrind} is installed"
        )));
    }
    let exe = perf_smoke()?;
    let want_sha = rec["perf_smoke_sha256"].as_str().unwrap_or("?");
    let have_sha = match crate::fsutil::hash_file(&exe) {
        Ok((_, sha)) => sha,
        Err(e) => {
            return Err(ReplayError::Refused(format!(
                "{}: {e}; the replay runs the perf-smoke that counted (sha256 {want_sha})",
                exe.display()
            )))
        }
    };
    if have_sha != want_sha {
        return Err(ReplayError::Refused(format!(
            "{} is another build (sha256 {}…) than the one that counted ({}…); replay with that build (PARCI_PERF_SMOKE=path)",
            exe.display(),
            &have_sha[..12.min(have_sha.len())],
            &want_sha[..12.min(want_sha.len())]
        )));
    }
    let inputs = &doc["inputs"];
    let model = crate::model::smoke::locate_model(&inputs["model"])?;
    let prompt: Vec<String> = inputs["prompt"]
        .as_array()
        .ok_or("inputs.prompt is missing")?
        .iter()
        .map(|v| v.to_string())
        .collect();
    let tokens = inputs["tokens"]
        .as_u64()
        .ok_or("inputs.tokens is missing")?;
    let dir = std::env::temp_dir().join(format!("parci-recount-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let out = dir.join("recount.receipt.json");
    let got = count(
        &exe,
        &model,
        &prompt.join(","),
        tokens,
        inputs["stop_at_eog"] == true,
        &out,
    );
    let _ = std::fs::remove_dir_all(&dir);
    got
}

fn count(
    exe: &Path,
    model: &Path,
    prompt: &str,
    tokens: u64,
    stop_at_eog: bool,
    out: &Path,
) -> Result<Value, ReplayError> {
    let mut cmd = Command::new(exe);
    cmd.arg("--measure")
        .arg("instructions")
        .arg("--model")
        .arg(model)
        .args([
            "--prompt",
            prompt,
            "--tokens",
            &tokens.to_string(),
            "--threads",
            "1",
        ])
        .arg("--quiet")
        .arg("--receipt")
        .arg(out)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    if stop_at_eog {
        cmd.arg("--stop-at-eog");
    }
    let o = cmd
        .output()
        .map_err(|e| format!("{}: cannot run: {e}", exe.display()))?;
    if !o.status.success() {
        let err = String::from_utf8_lossy(&o.stderr);
        return Err(format!(
            "counting again failed ({}): {}",
            o.status,
            err.lines().last().unwrap_or("no message")
        )
        .into());
    }
    let bytes = std::fs::read(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let doc: Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(doc["results"].clone())
}
