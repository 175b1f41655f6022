//! Any bytes as `perf script` output: folding ends in stacks or one error,
//! never a panic, and the folded profile it gives is one parci can read back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::profile::folded::Folded;
use parci_core::profile::perf_script;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok((f, _stats)) = perf_script::fold(data, Path::new("perf.script")) else {
        return;
    };
    let again = Folded::parse(&f.to_text(), Path::new("out.folded")).expect("own output parses");
    assert_eq!(again.total(), f.total());
});
