//! Hostile GGUF input: the committed corpus (one rule broken per file) is
//! refused with each file's own message, without panicking and without
//! allocating more than a small multiple of the file's size; randomly mutated
//! valid files never panic.
mod common;

use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{Gguf, Value};
use proptest::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts live and peak heap bytes per thread, so parallel tests do not mix.
struct Counting;
thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|c| {
            c.set(c.get() + l.size());
            let _ = PEAK.try_with(|p| p.set(p.get().max(c.get())));
        });
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        let _ = LIVE.try_with(|c| c.set(c.get().saturating_sub(l.size())));
        unsafe { System.dealloc(p, l) }
    }
}
#[global_allocator]
static ALLOC: Counting = Counting;

/// Peak heap bytes allocated by `f` on this thread beyond what was live before.
fn peak_alloc<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    let out = f();
    (out, PEAK.with(Cell::get) - base)
}

#[test]
fn corpus_is_up_to_date() {
    let out = std::process::Command::new("python3")
        .arg(common::root().join("tests/data/gguf-bad/make.py"))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_hostile_file_is_refused_for_its_own_reason() {
    let dir = common::root().join("tests/data/gguf-bad");
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_none_or(|x| x != "gguf") {
            continue;
        }
        let bytes = std::fs::read(&p).unwrap();
        let expect = std::fs::read_to_string(p.with_extension("expect")).unwrap();
        let (result, peak) = peak_alloc(|| Gguf::parse(&bytes).map(|g| g.tensors().len()));
        let err = match result {
            Ok(_) => panic!("{} was accepted", p.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            err.contains(expect.trim()),
            "{}: expected {:?} in {err:?}",
            p.display(),
            expect.trim()
        );
        assert!(
            err.starts_with("byte "),
            "errors name the byte offset: {err}"
        );
        assert!(
            peak <= 4 * bytes.len() + 64 * 1024,
            "{}: {peak} bytes allocated for a {}-byte file",
            p.display(),
            bytes.len()
        );
        assert!(
            seen.insert(err.clone()),
            "two files give the same message: {err}"
        );
        n += 1;
    }
    assert!(n >= 25, "only {n} hostile files");
}

fn touch_everything(g: &Gguf) -> usize {
    let mut n = 0;
    for kv in g.kvs() {
        if let Value::Array(a) = kv.value {
            n += a.iter().count();
        }
    }
    n + g.tensors().iter().map(|t| t.data.len()).sum::<usize>()
}

fn small_valid_file() -> Vec<u8> {
    // The tiny fixture with its vocabulary: strings, arrays, many tensors.
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(|| fixture::generate(Preset::Tiny, 3))
        .clone()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// Random byte edits anywhere in the header and metadata: never a panic,
    /// and whatever parses can be walked completely.
    #[test]
    fn mutated_files_never_panic(edits in prop::collection::vec((0usize..60_000, any::<u8>()), 1..8),
                                 cut in prop::option::of(0usize..70_000)) {
        let mut bytes = small_valid_file();
        let header_end = 60_000.min(bytes.len());
        for (at, b) in edits {
            bytes[at % header_end] = b;
        }
        if let Some(c) = cut {
            bytes.truncate(c.min(bytes.len()));
        }
        let (r, peak) = peak_alloc(|| Gguf::parse(&bytes).map(|g| touch_everything(&g)));
        let _ = r;
        prop_assert!(peak <= 4 * bytes.len() + 64 * 1024);
    }
}
