//! Any text as folded stacks (`frame;frame count` lines): parsing ends in a
//! profile or one error, never a panic; what parses survives a round trip
//! through the folded text parci writes and its ranked frame tables.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::profile::folded::Folded;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(f) = Folded::parse(text, Path::new("in.folded")) else {
        return;
    };
    let again = Folded::parse(&f.to_text(), Path::new("out.folded")).expect("own output parses");
    assert_eq!(again.total(), f.total(), "round trip keeps every sample");
    assert_eq!(again.to_text(), f.to_text(), "round trip is a fixed point");
    std::hint::black_box((f.top_self(10), f.top_inclusive(10)));
});
