//! Exit codes, one place for every program (documented in docs/receipts.md).

/// Every gate passed (warnings allowed).
pub const PASS: u8 = 0;
/// A gate failed; a receipt with verdict `fail` was still written.
pub const GATE_FAILED: u8 = 1;
/// Usage or input error: one line on stderr names the file, the place and the fix.
pub const USAGE: u8 = 2;
/// Interrupted by SIGINT/SIGTERM.
pub const INTERRUPTED: u8 = 130;

/// The exit code of a gate: [`GATE_FAILED`] when it failed, else [`PASS`].
pub fn gate(failed: bool) -> u8 {
    if failed {
        GATE_FAILED
    } else {
        PASS
    }
}
