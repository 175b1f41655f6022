//! Findings: what a check found, at which place in a JSON document. The
//! smallest module of the crate, below everything: the receipt verifier and
//! every domain's gates write into a [`Findings`]; it imports nothing of parci.

use serde::Serialize;

/// One problem, at a place in the document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// RFC 6901 pointer into the checked document ("" = the whole document).
    pub pointer: String,
    /// 1-based line where the value starts, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub message: String,
}

/// Findings collected by the checks: `errors` make a receipt invalid, `warnings` do not.
#[derive(Debug, Default)]
pub struct Findings {
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

/// Longest message or echoed value kept in a finding; hostile files can hold
/// megabyte strings that would otherwise be copied into every output.
pub const MAX_MESSAGE_CHARS: usize = 400;

/// `s` cut to at most `max` characters, marked with `…` when cut.
pub fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

impl Findings {
    pub fn finding(pointer: String, message: String) -> Finding {
        Finding {
            pointer: clip(&pointer, MAX_MESSAGE_CHARS),
            line: None,
            message: clip(&message, MAX_MESSAGE_CHARS),
        }
    }
    pub fn error(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.errors
            .push(Self::finding(pointer.into(), message.into()));
    }
    pub fn warn(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.warnings
            .push(Self::finding(pointer.into(), message.into()));
    }
}
