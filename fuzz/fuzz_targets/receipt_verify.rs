//! Any bytes as a receipt: the verifier returns findings, never panics, and a
//! receipt it accepts has a kind and no errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::verify::verify_bytes;

fuzz_target!(|data: &[u8]| {
    let (kind, findings) = verify_bytes(data, None);
    if findings.errors.is_empty() {
        assert!(kind.is_some(), "a receipt without errors names its kind");
    }
    // Pinning the kind must never turn an invalid receipt into a valid one.
    if let Some(k) = &kind {
        let (_, pinned) = verify_bytes(data, Some(k));
        assert_eq!(pinned.errors.is_empty(), findings.errors.is_empty());
    }
});
