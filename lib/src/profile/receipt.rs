//! The `parci.flamegraph` receipt: the JSON blocks built from folded stacks,
//! and the semantic gates `verify-receipt` runs on it.

use super::folded::{Folded, FrameDelta, FrameShare};
use crate::findings::Findings;
use crate::receipt::canonical::finite;
use crate::receipt::ReceiptError;
use serde_json::{json, Value};
use std::path::Path;

/// Rows in each hotspot table.
pub const TOP_FRAMES: usize = 20;
/// Rows in each table of changes (`--diff`).
pub const TOP_CHANGES: usize = 10;

fn shares(v: &[FrameShare]) -> Result<Value, ReceiptError> {
    v.iter()
        .map(|f| {
            Ok(json!({
                "name": f.name,
                "weight": f.samples,
                "percent": finite(f.percent)?,
            }))
        })
        .collect::<Result<Vec<_>, ReceiptError>>()
        .map(Value::Array)
}

/// `top_self` and `top_inclusive` of a profile.
pub fn hotspots(f: &Folded) -> Result<(Value, Value), ReceiptError> {
    Ok((
        shares(&f.top_self(TOP_FRAMES))?,
        shares(&f.top_inclusive(TOP_FRAMES))?,
    ))
}

fn deltas(v: &[FrameDelta]) -> Result<Value, ReceiptError> {
    v.iter()
        .map(|d| {
            Ok(json!({
                "name": d.name,
                "base_percent": finite(d.base_percent)?,
                "percent": finite(d.percent)?,
                "delta_points": finite(d.delta_points)?,
            }))
        })
        .collect::<Result<Vec<_>, ReceiptError>>()
        .map(Value::Array)
}

/// `{grown, shrunk}`: the frames whose self share changed most since `base`.
pub fn changes(now: &Folded, base: &Folded) -> Result<Value, ReceiptError> {
    let (grown, shrunk) = now.self_changes(base, TOP_CHANGES);
    Ok(json!({
        "base_weight": base.total(),
        "grown": deltas(&grown)?,
        "shrunk": deltas(&shrunk)?,
    }))
}

/// Allowed rounding slack when shares are summed.
const EPS: f64 = 1e-6;

/// Semantic gates of `parci.flamegraph` (after its schema passed): every
/// profile has weight, each table row's percent is its weight over the
/// profile's, rows never exceed the profile, self shares sum to at most 100,
/// and the kernel share is consistent with its weight.
pub fn gate_flamegraph(doc: &Value, out: &mut Findings) {
    gate_flamegraph_times(doc, out);
    let profiles = doc["results"]["profiles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, p) in profiles.iter().enumerate() {
        let at = format!("/results/profiles/{i}");
        let total = p["weight"].as_u64().unwrap_or(0);
        let unit = p["weight_unit"].as_str().unwrap_or("samples");
        if let Some(n) = p["samples"].as_u64() {
            if unit == "samples" && n != total {
                out.error(
                    format!("{at}/samples"),
                    format!("{n} samples, but counted in samples the profile weighs {total}"),
                );
            }
        }
        if total == 0 {
            out.error(
                format!("{at}/weight"),
                "the profile weighs nothing; a flame graph of nothing proves nothing",
            );
            continue;
        }
        for table in ["top_self", "top_inclusive"] {
            let rows = p[table].as_array().map(Vec::as_slice).unwrap_or(&[]);
            let mut sum = 0.0;
            for (j, r) in rows.iter().enumerate() {
                let weight = r["weight"].as_u64().unwrap_or(0);
                let percent = r["percent"].as_f64().unwrap_or(f64::NAN);
                let want = 100.0 * weight as f64 / total as f64;
                if weight > total {
                    out.error(
                        format!("{at}/{table}/{j}/weight"),
                        format!("{weight} {unit} in one frame but the profile has {total}"),
                    );
                }
                if !(0.0..=100.0).contains(&percent) || (percent - want).abs() > EPS {
                    out.error(
                        format!("{at}/{table}/{j}/percent"),
                        format!("percent is {percent} but {weight} of {total} {unit} is {want:.6}"),
                    );
                }
                sum += percent;
            }
            if table == "top_self" && sum > 100.0 + EPS {
                out.error(
                    format!("{at}/top_self"),
                    format!(
                        "self shares sum to {sum:.6}%; a stack has one leaf, so they sum to at most 100"
                    ),
                );
            }
        }
        let k = &p["kernel_share"];
        if k.is_object() {
            let weight = k["weight"].as_u64().unwrap_or(0);
            let percent = k["percent"].as_f64().unwrap_or(f64::NAN);
            let want = 100.0 * weight as f64 / total as f64;
            if weight > total || (percent - want).abs() > EPS {
                out.error(
                    format!("{at}/kernel_share/percent"),
                    format!(
                        "kernel share is {percent}% but {weight} of {total} {unit} is {want:.6}%"
                    ),
                );
            }
        }
    }
}

/// The measurement gate of `parci.flamegraph`: the whole run took at least
/// as long as the sampled runs, folds and renders it lists.
fn gate_flamegraph_times(doc: &Value, out: &mut Findings) {
    let m = &doc["measurements"];
    let Some(total) = m["total_ms"].as_f64() else {
        return;
    };
    let parts: f64 = m["profiles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
        .iter()
        .map(|p| {
            ["duration_ms", "fold_ms", "render_ms"]
                .iter()
                .map(|k| p[*k].as_f64().unwrap_or(0.0))
                .sum::<f64>()
        })
        .sum();
    if total < parts * (1.0 - 1e-9) {
        out.error(
            "/measurements/total_ms",
            format!(
                "the run took {total} ms but the sampled runs, folds and renders it lists take {parts} ms"
            ),
        );
    }
}

/// File gate of `parci.flamegraph`: each SVG and folded file the receipt
/// lists that is present beside the receipt (paths are relative to the
/// receipt's directory) must have the recorded size and sha256. Absent files
/// are not checked: a receipt may travel without its pictures.
pub fn gate_files_beside(doc: &Value, dir: &Path, out: &mut Findings) {
    let profiles = doc["results"]["profiles"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, p) in profiles.iter().enumerate() {
        let files = p["files"].as_array().map(Vec::as_slice).unwrap_or(&[]);
        for (j, f) in files.iter().enumerate() {
            let Some(rel) = f["path"].as_str() else {
                continue;
            };
            let path = dir.join(rel);
            if !path.is_file() {
                continue;
            }
            let at = format!("/results/profiles/{i}/files/{j}/sha256");
            match crate::fsutil::hash_file(&path) {
                Err(e) => out.error(at, format!("{}: cannot read ({e})", path.display())),
                Ok((bytes, sha)) => {
                    if Some(sha.as_str()) != f["sha256"].as_str()
                        || Some(bytes) != f["bytes"].as_u64()
                    {
                        out.error(
                            at,
                            format!(
                                "{} has sha256 {sha} ({bytes} bytes) but the receipt records {} ({} bytes); \
                                 the file was changed or replaced after the receipt was written",
                                path.display(),
                                f["sha256"].as_str().unwrap_or("?"),
                                f["bytes"]
                            ),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(total: u64, rows: Value) -> Value {
        json!({"results": {"profiles": [{
            "weight": total,
            "top_self": rows.clone(),
            "top_inclusive": [],
            "kernel_share": null,
            "files": [],
        }]}})
    }

    fn errors(d: &Value) -> Vec<String> {
        let mut f = Findings::default();
        gate_flamegraph(d, &mut f);
        f.errors
            .into_iter()
            .map(|e| format!("{} {}", e.pointer, e.message))
            .collect()
    }

    #[test]
    fn consistent_tables_pass() {
        let d = doc(
            4,
            json!([{"name": "a", "weight": 3, "percent": 75.0}, {"name": "b", "weight": 1, "percent": 25.0}]),
        );
        assert!(errors(&d).is_empty(), "{:?}", errors(&d));
    }

    #[test]
    fn each_rule_fails_when_broken() {
        let e = errors(&doc(0, json!([])));
        assert!(e[0].contains("weighs nothing"), "{e:?}");
        let e = errors(&doc(
            4,
            json!([{"name": "a", "weight": 3, "percent": 70.0}]),
        ));
        assert!(e[0].contains("3 of 4 samples is 75"), "{e:?}");
        let e = errors(&doc(
            4,
            json!([{"name": "a", "weight": 3, "percent": 75.0}, {"name": "b", "weight": 3, "percent": 75.0}]),
        ));
        assert!(
            e.iter().any(|m| m.contains("self shares sum to 150")),
            "{e:?}"
        );
        let e = errors(&doc(
            4,
            json!([{"name": "a", "weight": 5, "percent": 125.0}]),
        ));
        assert!(
            e.iter().any(|m| m.contains("5 samples in one frame")),
            "{e:?}"
        );
        let mut d = doc(4, json!([]));
        d["results"]["profiles"][0]["kernel_share"] = json!({"weight": 2, "percent": 60.0});
        assert!(
            errors(&d)[0].contains("kernel share is 60"),
            "{:?}",
            errors(&d)
        );
    }

    #[test]
    fn files_beside_the_receipt_must_match() {
        let dir = std::env::temp_dir().join(format!("parci-fg-gate-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("flamegraphs")).unwrap();
        std::fs::write(dir.join("flamegraphs/a.svg"), b"<svg/>").unwrap();
        let sha = crate::fsutil::sha256_hex(b"<svg/>");
        let mk = |sha: &str| {
            json!({"results": {"profiles": [{"files": [
                {"path": "flamegraphs/a.svg", "bytes": 6, "sha256": sha},
                {"path": "flamegraphs/absent.folded", "bytes": 1, "sha256": sha},
            ]}]}})
        };
        let mut f = Findings::default();
        gate_files_beside(&mk(&sha), &dir, &mut f);
        assert!(f.errors.is_empty(), "{:?}", f.errors);
        let mut f = Findings::default();
        gate_files_beside(&mk(&"0".repeat(64)), &dir, &mut f);
        assert_eq!(
            f.errors.len(),
            1,
            "absent files are skipped, changed ones are not"
        );
        assert!(f.errors[0].message.contains("changed or replaced"));
        assert_eq!(f.errors[0].pointer, "/results/profiles/0/files/0/sha256");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
