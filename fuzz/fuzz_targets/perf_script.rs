//! Any bytes as `perf script` output: folding ends in stacks or one error,
//! never a panic (parci's pass must keep inferno from panicking), and every
//! folded profile it gives is one parci can read back. Strict and lenient
//! reading agree on the input both accept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::profile::folded::Folded;
use parci_core::profile::perf_script::{self, FoldOptions};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let opts = FoldOptions {
        pid: data.first().is_some_and(|b| b & 1 == 1),
        kernel: data.first().is_some_and(|b| b & 2 == 2),
        jit: data.first().is_some_and(|b| b & 4 == 4),
        ..FoldOptions::default()
    };
    let Ok((events, stats)) = perf_script::fold(data, Path::new("perf.script"), &opts) else {
        return;
    };
    for e in &events {
        let again =
            Folded::parse(&e.folded.to_text(), Path::new("out.folded")).expect("own output parses");
        assert_eq!(again.total(), e.folded.total());
    }
    let strict = FoldOptions {
        strict: true,
        ..opts
    };
    if let Ok((same, _)) = perf_script::fold(data, Path::new("perf.script"), &strict) {
        assert_eq!(stats.warnings_total, 0, "strict accepted what lenient warned about");
        assert_eq!(same, events);
    }
});
