//! parci folds `perf script` as inferno does: on the inputs of inferno's own
//! collapse-perf tests (lib/tests/data/inferno, with FlameGraph's), parci's
//! folded stacks equal the inferno library's, as multisets of stacks with
//! their weights, for default options and for each option inferno's tests
//! have an expected file for (--pid, --tid, --kernel, --jit, --all).

use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use parci_core::profile::folded::Folded;
use parci_core::profile::perf_script::{fold, FoldOptions};
use std::path::{Path, PathBuf};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/inferno")
}

/// Every input: inferno's own and FlameGraph's.
fn inputs() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = ["inferno", "flamegraph"]
        .iter()
        .flat_map(|d| std::fs::read_dir(data().join(d)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .collect();
    v.sort();
    v
}

/// What the inferno library folds, with inferno's option names.
fn inferno_fold(text: &[u8], opt: &str) -> Folded {
    let mut o = Options::default();
    o.nthreads = 1;
    match opt {
        "" => {}
        "pid" => o.include_pid = true,
        "tid" => o.include_tid = true,
        "kernel" => o.annotate_kernel = true,
        "jit" => o.annotate_jit = true,
        "all" => {
            o.annotate_kernel = true;
            o.annotate_jit = true;
        }
        _ => unreachable!("{opt}"),
    }
    let mut out = Vec::new();
    Folder::from(o).collapse(text, &mut out).unwrap();
    Folded::parse(&String::from_utf8(out).unwrap(), Path::new("inferno")).unwrap()
}

/// parci's fold of the event inferno folds (the first one) with `opt`, as
/// flamegraph's flags name it.
fn parci_fold(path: &Path, text: &[u8], opt: &str) -> Option<Folded> {
    let o = FoldOptions {
        pid: opt == "pid",
        tid: opt == "tid",
        kernel: opt == "kernel" || opt == "all",
        jit: opt == "jit" || opt == "all",
        ..FoldOptions::default()
    };
    match fold(text, path, &o) {
        Ok((events, _)) => Some(events.into_iter().next().unwrap().folded),
        Err(e) => {
            assert!(
                e.to_string().contains("no samples"),
                "{}: {e}",
                path.display()
            );
            None
        }
    }
}

fn compare(path: &Path, opt: &str) -> Result<(), String> {
    let text = std::fs::read(path).unwrap();
    let want = inferno_fold(&text, opt);
    let got = parci_fold(path, &text, opt).unwrap_or_default();
    if got == want {
        return Ok(());
    }
    let w: Vec<_> = want.stacks().collect();
    let g: Vec<_> = got.stacks().collect();
    let first = w
        .iter()
        .zip(&g)
        .find(|(a, b)| a != b)
        .map(|(a, b)| format!("inferno {a:?}\n    parci   {b:?}"))
        .unwrap_or_else(|| format!("{} stacks against {}", w.len(), g.len()));
    Err(format!("{} [{opt}]: {first}", path.display()))
}

#[test]
fn default_options_fold_every_input_as_inferno_does() {
    let files = inputs();
    assert_eq!(files.len(), 23, "{files:?}");
    let failures: Vec<String> = files.iter().filter_map(|p| compare(p, "").err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn each_option_folds_as_inferno_does_where_its_tests_have_an_expected_file() {
    // inferno's tests: every FlameGraph input with pid, tid, kernel, jit and
    // all (and addrs, which flamegraph has no flag for); its own
    // sourcepawn-jitdump with jit and versioned-vmlinux with kernel.
    let mut cases: Vec<(PathBuf, &str)> = Vec::new();
    for p in inputs()
        .iter()
        .filter(|p| p.parent().unwrap().ends_with("flamegraph"))
    {
        for opt in ["pid", "tid", "kernel", "jit", "all"] {
            cases.push((p.clone(), opt));
        }
    }
    let own = data().join("inferno");
    cases.push((own.join("sourcepawn-jitdump.txt"), "jit"));
    cases.push((own.join("versioned-vmlinux.txt"), "kernel"));
    assert_eq!(cases.len(), 13 * 5 + 2);
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|(p, o)| compare(p, o).err())
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn weights_are_periods_and_rust_names_end_up_demangled() {
    // FlameGraph's page-fault profile: samples weigh the faults they count.
    let p = data().join("flamegraph/perf-java-faults-01.txt");
    let text = std::fs::read(&p).unwrap();
    let (events, stats) = fold(&text, &p, &FoldOptions::default()).unwrap();
    assert_eq!(events[0].event, "page-faults");
    assert_eq!(events[0].unit, "page-faults");
    assert!(
        events[0].folded.total() > stats.samples,
        "periods, not counts"
    );
    // The Rust profile: perf's half-demangled names are mended by inferno
    // before the hash goes.
    let p = data().join("flamegraph/perf-rust-Yamakaky-dcpu.txt");
    let text = std::fs::read(&p).unwrap();
    let (events, _) = fold(&text, &p, &FoldOptions::default()).unwrap();
    let t = events[0].folded.to_text();
    assert!(!t.contains("$u7b$") && !t.contains("$LT$"), "escapes left");
    assert!(t.contains("_{{closure}}"), "closures demangled");
}
