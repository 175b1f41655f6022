//! The `parallel.json` model. Parsing is three steps, each reporting findings
//! with a JSON pointer and a line:column: strict JSON (duplicate keys refused),
//! the embedded JSON Schema (`receipts/schemas/parallel-plan.schema.json`), then
//! the typed [`Plan`]. Fields the model does not know are kept in `extra`.

use super::finding::{Finding, Rule};
use crate::jsonpos;
use crate::receipt::canonical;
use jsonschema::Validator;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, OnceLock};

/// The JSON Schema of `parallel.json` (draft 2020-12).
pub const PLAN_SCHEMA: &str = include_str!("../../../receipts/schemas/parallel-plan.schema.json");

/// Achievement IDs: `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$` (also enforced by the schema).
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Plans larger than this are refused unread (256 MiB).
pub const MAX_PLAN_BYTES: u64 = 256 << 20;

static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| {
    let schema: Value = serde_json::from_str(PLAN_SCHEMA).expect("embedded plan schema is JSON");
    jsonschema::options()
        .build(&schema)
        .expect("embedded plan schema compiles")
});

/// An estimate in hours: a number (`min == max`) or a range `"4-6"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hours {
    pub min: f64,
    pub max: f64,
}

impl Hours {
    /// Parses `"4"`, `"4-6"`, `"1.5 - 2"` (an en dash works too); `None` when
    /// it is not one of those or `min > max`.
    pub fn parse_range(s: &str) -> Option<Hours> {
        let num = |t: &str| -> Option<f64> {
            let t = t.trim();
            let ok = !t.is_empty()
                && t.bytes().all(|c| c.is_ascii_digit() || c == b'.')
                && t.bytes().filter(|&c| c == b'.').count() <= 1
                && !t.starts_with('.')
                && !t.ends_with('.');
            ok.then(|| t.parse().ok()).flatten()
        };
        let (lo, hi) = match s.split_once(['-', '–']) {
            Some((a, b)) => (num(a)?, num(b)?),
            None => {
                let v = num(s)?;
                (v, v)
            }
        };
        (lo <= hi && hi.is_finite()).then_some(Hours { min: lo, max: hi })
    }

    pub fn exact(h: f64) -> Hours {
        Hours { min: h, max: h }
    }

    /// `"5"` or `"4-6"`, as people write it.
    pub fn text(&self) -> String {
        if self.min == self.max {
            fmt_hours(self.min)
        } else {
            format!("{}-{}", fmt_hours(self.min), fmt_hours(self.max))
        }
    }
}

/// Hours without a trailing `.0`.
pub fn fmt_hours(h: f64) -> String {
    if h.fract() == 0.0 && h.abs() < 1e15 {
        format!("{}", h as i64)
    } else {
        format!("{}", (h * 100.0).round() / 100.0)
    }
}

/// One achievement, with the public context-manager fields and parci's own.
#[derive(Clone, Debug, PartialEq)]
pub struct Achievement {
    pub id: String,
    pub title: Option<String>,
    pub dependencies: Vec<String>,
    /// The `status` written in the file. parci derives status from the file
    /// system instead ([`super::fsstate`]); this is what the file claims.
    pub declared_status: Option<String>,
    pub hours: Option<Hours>,
    /// Among runnable achievements a higher priority starts first; absent is 0.
    pub priority: Option<u64>,
    /// What run-parallel runs; none: a milestone.
    pub command: Option<Command>,
    /// Extra environment of the command.
    pub env: BTreeMap<String, String>,
    /// Working directory of the command, relative to the plan folder (checked
    /// to stay inside the repository by run-parallel).
    pub cwd: Option<String>,
    pub timeout_s: Option<f64>,
    pub retries: Option<u64>,
    pub exclusive: bool,
    /// Cache key inputs: globs of files, relative to the plan folder (none:
    /// the task is never cached).
    pub inputs: Vec<String>,
    /// What a cache entry stores and restores: globs, relative to the plan folder.
    pub outputs: Vec<String>,
    /// Environment variables whose values count in the cache key.
    pub env_keys: Vec<String>,
    /// CPUs the command needs of `--cpus` while it runs (none: 0).
    pub cpus: Option<f64>,
    /// Memory the command needs of `--memory`, MB (none: 0).
    pub memory_mb: Option<f64>,
    /// Fields this model does not know, kept as written.
    pub extra: Map<String, Value>,
}

impl Achievement {
    /// The title, or the ID when there is none.
    pub fn label(&self) -> &str {
        self.title.as_deref().unwrap_or(&self.id)
    }

    /// The priority, 0 when absent (higher starts first).
    pub fn rank_priority(&self) -> u64 {
        self.priority.unwrap_or(0)
    }

    /// `sha256:` of everything that decides what the command does: the
    /// command, its `env` and its `cwd`, as canonical JSON. None: a milestone.
    pub fn command_hash(&self) -> Option<String> {
        let c = self.command.as_ref()?;
        let mut m = Map::new();
        m.insert("command".into(), c.to_json());
        if let Some(d) = &self.cwd {
            m.insert("cwd".into(), Value::String(d.clone()));
        }
        if !self.env.is_empty() {
            let env = self
                .env
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())));
            m.insert("env".into(), Value::Object(env.collect()));
        }
        let text = crate::receipt::canonical::to_string(&Value::Object(m));
        Some(format!(
            "sha256:{}",
            crate::fsutil::sha256_hex(text.as_bytes())
        ))
    }
}

/// An achievement's `command`: a string run by `sh -c`, or an argv array run
/// directly (no shell, no quoting).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Argv(Vec<String>),
}

impl Command {
    /// As written in the plan.
    pub fn to_json(&self) -> Value {
        match self {
            Command::Shell(s) => Value::String(s.clone()),
            Command::Argv(v) => Value::Array(v.iter().cloned().map(Value::String).collect()),
        }
    }

    /// A line `sh` runs the same way: the shell text, or each argument
    /// single-quoted when it needs it.
    pub fn shell_line(&self) -> String {
        match self {
            Command::Shell(s) => s.clone(),
            Command::Argv(v) => v.iter().map(|a| sh_quote(a)).collect::<Vec<_>>().join(" "),
        }
    }
}

/// `s` as one `sh` word: unchanged when it only has safe characters, else in
/// single quotes (a `'` inside becomes `'\''`).
pub fn sh_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// A parsed plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub name: String,
    pub achievements: Vec<Achievement>,
    /// Top-level fields this model does not know (e.g. `parallelization_level`).
    pub extra: Map<String, Value>,
}

/// The text of a plan file and what parsing it found.
pub struct PlanDoc {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    /// Byte offset of each line start, for pointer → line:column.
    line_starts: Vec<usize>,
    items: OnceLock<Vec<usize>>,
}

impl PlanDoc {
    /// Reads a plan file; `Err` is an I/O problem (missing, unreadable, too big).
    pub fn read(path: &Path) -> std::io::Result<PlanDoc> {
        let len = std::fs::metadata(path)?.len();
        if len > MAX_PLAN_BYTES {
            return Err(std::io::Error::other(format!(
                "file is {len} bytes; plans are capped at {MAX_PLAN_BYTES} bytes"
            )));
        }
        Ok(PlanDoc::from_bytes(path, std::fs::read(path)?))
    }

    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> PlanDoc {
        let mut line_starts = vec![0];
        line_starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, &b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        PlanDoc {
            path: path.to_path_buf(),
            bytes,
            line_starts,
            items: OnceLock::new(),
        }
    }

    /// 1-based line and column (characters) of byte offset `at`.
    pub fn line_col(&self, at: usize) -> (u64, u64) {
        let line = self.line_starts.partition_point(|&s| s <= at) - 1;
        let start = self.line_starts[line];
        let col = String::from_utf8_lossy(&self.bytes[start..at.min(self.bytes.len())])
            .chars()
            .count();
        (line as u64 + 1, col as u64 + 1)
    }

    /// Where the value at `pointer` starts. Pointers into `/achievements/N`
    /// use one pass over the array (cached), so many findings stay linear.
    pub fn position(&self, pointer: &str) -> Option<(u64, u64)> {
        let at = match pointer.strip_prefix("/achievements/").and_then(|rest| {
            let (i, tail) = rest.split_once('/').unwrap_or((rest, ""));
            Some((i.parse::<usize>().ok()?, tail))
        }) {
            Some((i, tail)) => {
                let items = self.items.get_or_init(|| {
                    jsonpos::array_items(&self.bytes, "/achievements").unwrap_or_default()
                });
                let start = *items.get(i)?;
                if tail.is_empty() {
                    start
                } else {
                    start + jsonpos::offset(&self.bytes[start..], &format!("/{tail}"))?
                }
            }
            None => jsonpos::offset(&self.bytes, pointer)?,
        };
        Some(self.line_col(at))
    }

    /// A finding at `pointer`, located in this text.
    pub fn finding(&self, rule: Rule, pointer: String, message: String) -> Finding {
        let pos = self.position(&pointer);
        Finding::new(rule, pointer, pos, message)
    }

    /// Strict JSON, the schema, then the typed plan. `Err` holds every
    /// finding: of the JSON step when it failed, else the schema's (capped at
    /// [`MAX_SCHEMA_FINDINGS`]) and the typed step's (estimate ranges).
    pub fn parse(&self) -> Result<Plan, Vec<Finding>> {
        let r = self.read_all();
        match r.plan {
            Some(p) if r.findings.is_empty() => Ok(p),
            _ => Err(r.findings),
        }
    }

    /// Everything that could be read, with every finding: a plan that fails
    /// the schema is still read as far as it can be (achievements without a
    /// string ID left out, fields of the wrong type ignored), so the graph
    /// rules can run on it in the same pass. `plan` is `None` only when the
    /// text is not JSON or not an object.
    pub fn read_all(&self) -> PlanRead {
        let value = match canonical::parse_strict(&self.bytes) {
            Ok(v) => v,
            Err(e) => {
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                return PlanRead {
                    plan: None,
                    source: Vec::new(),
                    findings: vec![Finding::new(
                        Rule::Json,
                        String::new(),
                        (e.line() > 0).then(|| (e.line() as u64, e.column() as u64)),
                        format!("not valid JSON: {msg}; fix the syntax at this place"),
                    )],
                };
            }
        };
        let mut findings: Vec<Finding> = VALIDATOR
            .iter_errors(&value)
            .take(MAX_SCHEMA_FINDINGS)
            .map(|e| {
                let ptr = e.instance_path().as_str().to_string();
                self.finding(Rule::Schema, ptr, super::schema_findings::message(&e))
            })
            .collect();
        let (plan, source, typed) = self.typed(value);
        for f in typed {
            if !findings.iter().any(|s| s.pointer == f.pointer) {
                findings.push(f);
            }
        }
        PlanRead {
            plan,
            source,
            findings,
        }
    }

    /// The typed plan from JSON, leniently: see [`PlanDoc::read_all`].
    /// Returns the plan, the array index of each achievement read, and the
    /// findings of the typed step.
    fn typed(&self, value: Value) -> (Option<Plan>, Vec<usize>, Vec<Finding>) {
        let Value::Object(mut top) = value else {
            return (None, Vec::new(), Vec::new());
        };
        let name = match top.remove("plan_name") {
            Some(Value::String(s)) => s,
            _ => String::new(),
        };
        let list = match top.remove("achievements") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let mut source = Vec::with_capacity(list.len());
        let mut bad = Vec::new();
        let mut achievements = Vec::with_capacity(list.len());
        for (i, item) in list.into_iter().enumerate() {
            let Value::Object(mut m) = item else {
                continue;
            };
            let mut take_str = |k: &str| match m.remove(k) {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            let Some(id) = take_str("achievement_id") else {
                continue;
            };
            source.push(i);
            let title = take_str("title");
            let declared_status = take_str("status");
            let command = match m.remove("command") {
                Some(Value::String(s)) => Some(Command::Shell(s)),
                Some(Value::Array(a)) => Some(Command::Argv(
                    a.into_iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect(),
                )),
                _ => None,
            };
            let cwd = match m.remove("cwd") {
                Some(Value::String(s)) => Some(s),
                _ => None,
            };
            let env = match m.remove("env") {
                Some(Value::Object(o)) => o
                    .into_iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
                    .collect(),
                _ => BTreeMap::new(),
            };
            let hours = match m.remove("estimated_hours") {
                Some(Value::Number(n)) => n.as_f64().map(Hours::exact),
                Some(Value::String(s)) => match Hours::parse_range(&s) {
                    Some(h) => Some(h),
                    None => {
                        bad.push(self.finding(
                            Rule::Estimate,
                            format!("/achievements/{i}/estimated_hours"),
                            format!(
                                "{id}: estimated_hours {s:?} is not a range low-high with low <= high; \
                                 write e.g. \"4-6\" or a number"
                            ),
                        ));
                        None
                    }
                },
                _ => None,
            };
            let dependencies = match m.remove("dependencies") {
                Some(Value::Array(a)) => a
                    .into_iter()
                    .filter_map(|d| match d {
                        Value::String(s) => Some(s),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let int = |v: Value| v.as_u64().or_else(|| v.as_f64().map(|f| f as u64));
            let priority = m.remove("priority").and_then(int);
            let timeout_s = m.remove("timeout_s").and_then(|v| v.as_f64());
            let retries = m.remove("retries").and_then(int);
            let exclusive = m
                .remove("exclusive")
                .and_then(|v| v.as_bool())
                .unwrap_or(false);
            let mut strings = |k: &str| match m.remove(k) {
                Some(Value::Array(a)) => a
                    .into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            };
            let (inputs, outputs, env_keys) =
                (strings("inputs"), strings("outputs"), strings("env_keys"));
            let cpus = m.remove("cpus").and_then(|v| v.as_f64());
            let memory_mb = m.remove("memory_mb").and_then(|v| v.as_f64());
            achievements.push(Achievement {
                id,
                title,
                dependencies,
                declared_status,
                hours,
                priority,
                command,
                env,
                cwd,
                timeout_s,
                retries,
                exclusive,
                inputs,
                outputs,
                env_keys,
                cpus,
                memory_mb,
                extra: m,
            });
        }
        let plan = Plan {
            name,
            achievements,
            extra: top,
        };
        (Some(plan), source, bad)
    }
}

/// What [`PlanDoc::read_all`] could read.
pub struct PlanRead {
    /// The plan as far as it could be read.
    pub plan: Option<Plan>,
    /// For each achievement of `plan`, its index in the file's array.
    pub source: Vec<usize>,
    /// Every finding of the JSON, schema and typed steps.
    pub findings: Vec<Finding>,
}

/// At most this many schema findings are reported for one plan.
pub const MAX_SCHEMA_FINDINGS: usize = 200;

impl Plan {
    /// Parses plan text (tests and benchmarks); findings become one string.
    pub fn parse_text(text: &str) -> Result<Plan, String> {
        PlanDoc::from_bytes(Path::new("parallel.json"), text.as_bytes().to_vec())
            .parse()
            .map_err(|f| {
                f.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            })
    }

    /// Total estimated hours (min, max); achievements without an estimate count 0.
    pub fn total_hours(&self) -> Hours {
        let mut t = Hours::exact(0.0);
        for a in &self.achievements {
            if let Some(h) = a.hours {
                t.min += h.min;
                t.max += h.max;
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_ranges() {
        assert_eq!(
            Hours::parse_range("4-6"),
            Some(Hours { min: 4.0, max: 6.0 })
        );
        assert_eq!(
            Hours::parse_range(" 1.5 – 2 "),
            Some(Hours { min: 1.5, max: 2.0 })
        );
        assert_eq!(Hours::parse_range("3"), Some(Hours::exact(3.0)));
        for bad in ["6-4", "", "-", "4-", "a-b", "1..2", ".5", "4-6-8", "1e3"] {
            assert_eq!(Hours::parse_range(bad), None, "{bad}");
        }
        assert_eq!(Hours { min: 4.0, max: 6.0 }.text(), "4-6");
        assert_eq!(Hours::exact(2.5).text(), "2.5");
    }

    #[test]
    fn ids() {
        for ok in ["1.1", "A", "a-b_c.d", &"x".repeat(64)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", ".a", "-a", "a/b", "..", "a b", &"x".repeat(65), "é"] {
            assert!(!is_valid_id(bad), "{bad}");
        }
    }

    #[test]
    fn parses_public_and_parci_fields_and_keeps_unknown_ones() {
        let p = Plan::parse_text(
            r#"{"plan_name": "P", "parallelization_level": "level_2", "achievements": [
              {"achievement_id": "1.1", "dependencies": [], "status": "not_started",
               "estimated_hours": "4-6", "executor": "e1"},
              {"achievement_id": "1.2", "title": "T", "dependencies": ["1.1"], "estimated_hours": 2,
               "priority": 1, "command": "make", "timeout_s": 60, "retries": 2, "exclusive": true}
            ]}"#,
        )
        .unwrap();
        assert_eq!(p.name, "P");
        assert_eq!(p.extra["parallelization_level"], "level_2");
        let a = &p.achievements[0];
        assert_eq!(a.hours, Some(Hours { min: 4.0, max: 6.0 }));
        assert_eq!(a.extra["executor"], "e1");
        assert_eq!(a.declared_status.as_deref(), Some("not_started"));
        let b = &p.achievements[1];
        assert_eq!(
            (b.priority, b.retries, b.timeout_s, b.exclusive),
            (Some(1), Some(2), Some(60.0), true)
        );
        assert_eq!(b.dependencies, ["1.1"]);
        assert_eq!(b.command, Some(Command::Shell("make".into())));
        assert_eq!(p.total_hours(), Hours { min: 6.0, max: 8.0 });
    }

    #[test]
    fn argv_commands_env_and_cwd() {
        let p = Plan::parse_text(
            r#"{"plan_name": "P", "achievements": [
              {"achievement_id": "a", "dependencies": [], "command": ["printf", "%s\n", "it's"],
               "env": {"A_1": "x"}, "cwd": "sub/dir"},
              {"achievement_id": "b", "dependencies": [], "command": ["printf", "%s\n", "it's"]}
            ]}"#,
        )
        .unwrap();
        let (a, b) = (&p.achievements[0], &p.achievements[1]);
        assert_eq!(
            a.command,
            Some(Command::Argv(vec![
                "printf".into(),
                "%s\n".into(),
                "it's".into()
            ]))
        );
        assert_eq!(a.env["A_1"], "x");
        assert_eq!(a.cwd.as_deref(), Some("sub/dir"));
        assert_eq!(
            b.command.as_ref().unwrap().shell_line(),
            "printf '%s\n' 'it'\\''s'"
        );
        // env and cwd are part of what the command does.
        assert_ne!(a.command_hash(), b.command_hash());
        assert!(a.command_hash().unwrap().starts_with("sha256:"));
        for bad in [
            r#""command": []"#,
            r#""command": [""]"#,
            r#""command": ["a", 1]"#,
            r#""env": {"1X": "v"}"#,
            r#""env": {"X": 1}"#,
            r#""cwd": "/abs""#,
        ] {
            let text = format!(
                r#"{{"plan_name": "P", "achievements": [{{"achievement_id": "a", "dependencies": [], {bad}}}]}}"#
            );
            assert!(Plan::parse_text(&text).is_err(), "{bad}");
        }
    }

    #[test]
    fn findings_carry_pointer_line_and_column() {
        let text = "{\n  \"plan_name\": \"P\",\n  \"achievements\": [\n    {\"achievement_id\": \"a\", \"dependencies\": []},\n    {\"achievement_id\": \"b c\", \"dependencies\": []}\n  ]\n}\n";
        let doc = PlanDoc::from_bytes(Path::new("p.json"), text.as_bytes().to_vec());
        let f = doc.parse().unwrap_err();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].pointer, "/achievements/1/achievement_id");
        assert_eq!((f[0].line, f[0].column), (Some(5), Some(24)));
        let dup = PlanDoc::from_bytes(
            Path::new("p.json"),
            b"{\"plan_name\": \"a\",\n \"plan_name\": \"b\", \"achievements\": []}".to_vec(),
        );
        let f = dup.parse().unwrap_err();
        assert_eq!(f[0].rule, Rule::Json);
        assert!(f[0].message.contains("duplicate key"), "{}", f[0].message);
        assert_eq!(f[0].line, Some(2));
        let range = PlanDoc::from_bytes(
            Path::new("p.json"),
            br#"{"plan_name": "a", "achievements": [{"achievement_id": "x", "dependencies": [], "estimated_hours": "6-4"}]}"#.to_vec(),
        );
        let f = range.parse().unwrap_err();
        assert_eq!(f[0].rule, Rule::Estimate);
        assert_eq!((f[0].line, f[0].column), (Some(1), Some(100)));
    }
}
