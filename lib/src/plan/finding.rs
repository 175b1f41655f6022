//! What validate-parallel reports: a finding of one rule, at a place in the
//! plan (JSON pointer + line:column) or at a marker file. Below the parser
//! ([`super::model`]) and the checks ([`super::validate`]) that both make them.

use serde::Serialize;
use std::fmt;

/// What a finding is about; the names appear in receipts and output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// The file is not JSON (or has duplicate keys).
    Json,
    /// The file breaks `parallel-plan.schema.json`.
    Schema,
    /// `estimated_hours` is a range with low > high.
    Estimate,
    DuplicateId,
    /// Two IDs differ only by case (their files collide on case-insensitive file systems).
    CaseCollision,
    UnknownDependency,
    SelfDependency,
    Cycle,
    /// An achievement is complete but a dependency is not (warning; error with --strict).
    CompleteBeforeDependency,
    /// A marker file names an ID the plan does not have (warning; error with --strict).
    OrphanMarker,
}

impl Rule {
    pub const ALL: [Rule; 10] = [
        Rule::Json,
        Rule::Schema,
        Rule::Estimate,
        Rule::DuplicateId,
        Rule::CaseCollision,
        Rule::UnknownDependency,
        Rule::SelfDependency,
        Rule::Cycle,
        Rule::CompleteBeforeDependency,
        Rule::OrphanMarker,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Json => "json",
            Rule::Schema => "schema",
            Rule::Estimate => "estimate",
            Rule::DuplicateId => "duplicate-id",
            Rule::CaseCollision => "case-collision",
            Rule::UnknownDependency => "unknown-dependency",
            Rule::SelfDependency => "self-dependency",
            Rule::Cycle => "cycle",
            Rule::CompleteBeforeDependency => "complete-before-dependency",
            Rule::OrphanMarker => "orphan-marker",
        }
    }

    /// Rules that only warn unless `--strict`.
    pub fn is_soft(self) -> bool {
        matches!(self, Rule::CompleteBeforeDependency | Rule::OrphanMarker)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in a plan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// RFC 6901 pointer into the plan ("" = the whole file or none).
    pub pointer: String,
    /// 1-based line and column in the plan file, when known.
    pub line: Option<u64>,
    pub column: Option<u64>,
    /// A marker file this finding is about, relative to the plan folder.
    pub file: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Finding {
    pub fn new(rule: Rule, pointer: String, pos: Option<(u64, u64)>, message: String) -> Finding {
        Finding {
            rule,
            severity: if rule.is_soft() {
                Severity::Warning
            } else {
                Severity::Error
            },
            pointer,
            line: pos.map(|p| p.0),
            column: pos.map(|p| p.1),
            file: None,
            message,
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        if let (Some(l), Some(c)) = (self.line, self.column) {
            write!(f, "{l}:{c}: ")?;
        }
        write!(f, "[{}] ", self.rule.as_str())?;
        if !self.pointer.is_empty() {
            write!(f, "{}: ", self.pointer)?;
        }
        f.write_str(&self.message)
    }
}
