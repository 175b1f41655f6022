//! What `flamegraph` prints: the text table for people and the Markdown
//! step summary for GitHub (the latter reads the run's URL from the
//! environment, as only this layer may).

use crate::github;
use parci_core::receipt::Body;
use serde_json::Value;
use std::path::Path;

const PROGRAM: &str = "flamegraph";

fn profiles(body: &Body) -> &[Value] {
    body.results["profiles"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// `1234567 ns in 42 samples`, `60 samples`: a profile's weight as people read it.
fn amount(p: &Value) -> String {
    let unit = p["weight_unit"].as_str().unwrap_or("samples");
    match (unit, p["samples"].as_u64()) {
        ("samples", _) | (_, None) => format!("{} {unit}", p["weight"]),
        (_, Some(n)) => format!(
            "{} {unit} in {}",
            p["weight"],
            parci_core::text::count(n, "sample")
        ),
    }
}

fn file_of(p: &Value, role: &str, dir: &Path) -> String {
    p["files"]
        .as_array()
        .and_then(|fs| fs.iter().find(|f| f["role"] == role))
        .and_then(|f| f["path"].as_str())
        .map(|rel| dir.join(rel).display().to_string())
        .unwrap_or_default()
}

/// The text a person reads.
pub fn table(body: &Body, dir: &Path) -> String {
    let s = &body.results["sampler"];
    let mut out = format!(
        "flamegraph  sampler {}{}\n  why          {}\n",
        s["name"].as_str().unwrap_or("?"),
        match (
            s["event"].as_str(),
            s["call_graph"].as_str(),
            s["frequency"].as_u64()
        ) {
            (Some(e), Some(c), Some(f)) => format!(" ({e}, {c} call graph, {f} Hz)"),
            (None, Some(c), Some(f)) => format!(" ({c} call graph, {f} Hz)"),
            _ => String::new(),
        },
        s["why"].as_str().unwrap_or("")
    );
    for p in profiles(body) {
        out += &format!(
            "\n{}: {}, {} stacks\n  svg          {}\n  folded       {}\n",
            p["name"].as_str().unwrap_or("?"),
            amount(p),
            p["stacks"],
            file_of(p, "svg", dir),
            file_of(p, "folded", dir)
        );
        if p["diff"].is_object() {
            out += &format!("  diff svg     {}\n", file_of(p, "diff-svg", dir));
        }
        let k = &p["kernel_share"];
        if k.is_object() {
            out += &format!(
                "  kernel share {:.1}% of {}",
                k["percent"].as_f64().unwrap_or(0.0),
                p["weight_unit"].as_str().unwrap_or("samples")
            );
            if let Some(m) = k["perf_smoke_matvec_share_percent"].as_f64() {
                out += &format!(" (perf-smoke matvec share {m:.1}%)");
            }
            out += "\n";
        }
        out += &format!(
            "  top self {:>11}      %  frame\n",
            p["weight_unit"].as_str().unwrap_or("samples")
        );
        for r in p["top_self"].as_array().into_iter().flatten().take(10) {
            out += &format!(
                "             {:>8} {:>6.2}  {}\n",
                r["weight"],
                r["percent"].as_f64().unwrap_or(0.0),
                r["name"].as_str().unwrap_or("?")
            );
        }
        for (key, label) in [("grown", "grew"), ("shrunk", "shrank")] {
            for r in p["diff"][key].as_array().into_iter().flatten().take(5) {
                out += &format!(
                    "  {label:<6} {:>+7.2} pts  {}\n",
                    r["delta_points"].as_f64().unwrap_or(0.0),
                    r["name"].as_str().unwrap_or("?")
                );
            }
        }
    }
    out += &format!("verdict      {}\n", body.verdict.status.as_str());
    for reason in &body.verdict.reasons {
        out += &format!("  - {reason}\n");
    }
    out
}

/// The step summary: hotspots per profile and where the SVGs are.
pub fn summary(body: &Body, dir: &Path) -> String {
    let run_url = match (
        std::env::var("GITHUB_SERVER_URL"),
        std::env::var("GITHUB_REPOSITORY"),
        std::env::var("GITHUB_RUN_ID"),
    ) {
        (Ok(s), Ok(r), Ok(i)) => format!("{s}/{r}/actions/runs/{i}#artifacts"),
        _ => String::new(),
    };
    let mut md = format!("### {PROGRAM}\n\n");
    if run_url.is_empty() {
        md += "SVGs are in the `flamegraphs` artifact of this run.\n\n";
    } else {
        md += &format!("SVGs: the [`flamegraphs` artifact]({run_url}) of this run.\n\n");
    }
    for p in profiles(body) {
        md += &format!(
            "**{}** ({}, `{}`)\n\n| self % | frame |\n|---:|---|\n",
            github::cell(p["name"].as_str().unwrap_or("?")),
            amount(p),
            github::cell(&file_of(p, "svg", dir))
        );
        for r in p["top_self"].as_array().into_iter().flatten().take(5) {
            md += &format!(
                "| {:.1} | `{}` |\n",
                r["percent"].as_f64().unwrap_or(0.0),
                github::cell(r["name"].as_str().unwrap_or("?"))
            );
        }
        md += "\n";
    }
    md
}
