//! Folded stacks (`root;caller;callee COUNT`, one line per distinct stack):
//! a strict parser with line numbers, the canonical text, and the hotspot
//! tables (self and inclusive samples) and differences a receipt reports.

use super::ProfileError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Sampled stacks: stack (frames root first, joined by `;`) → samples.
/// A `BTreeMap`, so iteration and the canonical text are sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Folded {
    stacks: BTreeMap<String, u64>,
}

/// One row of a hotspot table.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameShare {
    pub name: String,
    pub samples: u64,
    /// `100 * samples / total`.
    pub percent: f64,
}

/// A frame whose self share changed between two profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct FrameDelta {
    pub name: String,
    /// Self share in the base profile, percent of its samples.
    pub base_percent: f64,
    /// Self share in this profile, percent of its samples.
    pub percent: f64,
    /// `percent - base_percent`, in percentage points.
    pub delta_points: f64,
}

impl Folded {
    pub fn new() -> Folded {
        Folded::default()
    }

    /// Adds `count` samples of `stack` (frames joined by `;`, root first).
    pub fn add(&mut self, stack: &str, count: u64) {
        if count == 0 || stack.is_empty() {
            return;
        }
        *self.stacks.entry(stack.to_string()).or_default() += count;
    }

    /// Adds `count` samples of the stack made of `frames` (root first).
    /// A `;` inside a frame name (Rust's `[u8; 4]`) becomes `,`, so it
    /// cannot split the frame when the text is read back.
    pub fn add_frames<S: AsRef<str>>(&mut self, frames: &[S], count: u64) {
        let stack = frames
            .iter()
            .map(|f| f.as_ref().replace(';', ","))
            .collect::<Vec<_>>()
            .join(";");
        self.add(&stack, count);
    }

    /// Total samples.
    pub fn total(&self) -> u64 {
        self.stacks.values().sum()
    }

    /// Distinct stacks.
    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }

    pub fn stacks(&self) -> impl Iterator<Item = (&str, u64)> {
        self.stacks.iter().map(|(s, &n)| (s.as_str(), n))
    }

    /// Parses folded text. Blank lines and comments (`#` alone or followed by
    /// whitespace: `# x`, `#\tx`) are skipped; every other line must be
    /// `STACK COUNT` with a non-empty stack and a non-negative integer count.
    /// `file` names the input in errors. The comment rule is the one the
    /// written text reads back under: a stack `#` written as `# 50` would be
    /// a comment, so `#\t50` is one too, never a stack.
    pub fn parse(text: &str, file: &Path) -> Result<Folded, ProfileError> {
        let mut out = Folded::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            let comment = line.strip_prefix('#').is_some_and(|rest| {
                rest.is_empty() || rest.starts_with(|c: char| c.is_whitespace())
            });
            if line.is_empty() || comment {
                continue;
            }
            let bad = |why: &str| ProfileError::Input {
                file: file.to_path_buf(),
                line: Some(i as u64 + 1),
                message: format!(
                    "{why} in {:?}; a folded line is `frame;frame;frame COUNT` \
                     (as written by inferno-collapse-perf or stackcollapse-perf.pl)",
                    super::clip(line, 60)
                ),
            };
            let Some((stack, count)) = line.rsplit_once(|c: char| c.is_ascii_whitespace()) else {
                return Err(bad("no sample count"));
            };
            // Extra spaces before the count are separators, except that a
            // last frame of one space (perf's symbol-less frame) stays one.
            // Only ASCII whitespace separates: a frame may end in any other.
            let stack = match stack.trim_end_matches(|c: char| c.is_ascii_whitespace()) {
                t if t.ends_with(';') && stack.len() > t.len() => &stack[..t.len() + 1],
                t => t,
            };
            let Ok(count) = count.parse::<u64>() else {
                return Err(bad("the sample count is not a whole number"));
            };
            if stack.is_empty() {
                return Err(bad("no stack before the count"));
            }
            if let Some((_, prev)) = stack.rsplit_once(|c: char| c.is_ascii_whitespace()) {
                if prev.parse::<u64>().is_ok() {
                    return Err(bad(
                        "two sample counts (a differential line); pass the two profiles as \
                         --from-folded NEW --diff BASE",
                    ));
                }
            }
            // A frame of spaces is a name (perf prints one for a symbol-less
            // frame, and inferno and stackcollapse-perf.pl keep it); nothing
            // at all between two `;` is not.
            if stack.split(';').any(str::is_empty) {
                return Err(bad("an empty frame between `;`"));
            }
            out.add(stack, count);
        }
        Ok(out)
    }

    /// The canonical text: stacks sorted, `STACK COUNT\n` each. The same
    /// profile always gives the same bytes.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (stack, n) in &self.stacks {
            s.push_str(stack);
            s.push(' ');
            s.push_str(&n.to_string());
            s.push('\n');
        }
        s
    }

    fn percent(&self, samples: u64) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            100.0 * samples as f64 / total as f64
        }
    }

    /// Samples per leaf frame (where the CPU was when sampled).
    pub fn self_samples(&self) -> BTreeMap<&str, u64> {
        let mut m: BTreeMap<&str, u64> = BTreeMap::new();
        for (stack, &n) in &self.stacks {
            let leaf = stack.rsplit(';').next().unwrap_or(stack);
            *m.entry(leaf).or_default() += n;
        }
        m
    }

    /// Samples per frame anywhere on the stack, counted once per stack even
    /// when the frame recurses.
    pub fn inclusive_samples(&self) -> BTreeMap<&str, u64> {
        let mut m: BTreeMap<&str, u64> = BTreeMap::new();
        for (stack, &n) in &self.stacks {
            let frames: BTreeSet<&str> = stack.split(';').collect();
            for f in frames {
                *m.entry(f).or_default() += n;
            }
        }
        m
    }

    fn top(&self, m: BTreeMap<&str, u64>, n: usize) -> Vec<FrameShare> {
        let mut v: Vec<(&str, u64)> = m.into_iter().collect();
        // Most samples first; ties by name, so the order is total.
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        v.into_iter()
            .take(n)
            .map(|(name, samples)| FrameShare {
                name: name.to_string(),
                samples,
                percent: self.percent(samples),
            })
            .collect()
    }

    /// The `n` frames with the most self samples.
    pub fn top_self(&self, n: usize) -> Vec<FrameShare> {
        self.top(self.self_samples(), n)
    }

    /// The `n` frames with the most inclusive samples.
    pub fn top_inclusive(&self, n: usize) -> Vec<FrameShare> {
        self.top(self.inclusive_samples(), n)
    }

    /// Samples whose stack has at least one frame for which `pred` holds.
    pub fn samples_where(&self, pred: impl Fn(&str) -> bool) -> u64 {
        self.stacks
            .iter()
            .filter(|(stack, _)| stack.split(';').any(&pred))
            .map(|(_, &n)| n)
            .sum()
    }

    /// Percent of all samples whose stack has a frame for which `pred` holds.
    pub fn share_where(&self, pred: impl Fn(&str) -> bool) -> f64 {
        self.percent(self.samples_where(pred))
    }

    /// Frames whose self share grew most and shrank most since `base`
    /// (shares, so profiles of different lengths compare): up to `n` each,
    /// largest change first, ties by name.
    pub fn self_changes(&self, base: &Folded, n: usize) -> (Vec<FrameDelta>, Vec<FrameDelta>) {
        let now = self.self_samples();
        let was = base.self_samples();
        let names: BTreeSet<&str> = now.keys().chain(was.keys()).copied().collect();
        let deltas: Vec<FrameDelta> = names
            .into_iter()
            .map(|name| {
                let percent = self.percent(now.get(name).copied().unwrap_or(0));
                let base_percent = base.percent(was.get(name).copied().unwrap_or(0));
                FrameDelta {
                    name: name.to_string(),
                    base_percent,
                    percent,
                    delta_points: percent - base_percent,
                }
            })
            .collect();
        let mut grown: Vec<FrameDelta> = deltas
            .iter()
            .filter(|d| d.delta_points > 0.0)
            .cloned()
            .collect();
        grown.sort_by(|a, b| {
            b.delta_points
                .total_cmp(&a.delta_points)
                .then(a.name.cmp(&b.name))
        });
        grown.truncate(n);
        let mut shrunk: Vec<FrameDelta> = deltas
            .into_iter()
            .filter(|d| d.delta_points < 0.0)
            .collect();
        shrunk.sort_by(|a, b| {
            a.delta_points
                .total_cmp(&b.delta_points)
                .then(a.name.cmp(&b.name))
        });
        shrunk.truncate(n);
        (grown, shrunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Folded, ProfileError> {
        Folded::parse(s, Path::new("in.folded"))
    }

    #[test]
    fn a_last_frame_of_one_space_is_kept() {
        // inferno folds perf's symbol-less frame as " " (as stackcollapse-perf.pl does).
        let f = Folded::parse("java;Interpreter;  7\njava;x   2\n", Path::new("f")).unwrap();
        assert_eq!(f.to_text(), "java;Interpreter;  7\njava;x 2\n");
        assert_eq!(Folded::parse(&f.to_text(), Path::new("f")).unwrap(), f);
    }

    /// Found by the CI fuzz pass: a last frame of U+205F (a Unicode space,
    /// three bytes) after `;` was cut inside the character, a panic.
    #[test]
    fn a_last_frame_of_unicode_whitespace_is_a_name_not_a_separator() {
        let f = parse("a;\u{205f} 30\nb;\u{205f}  2\n").unwrap();
        assert_eq!(f.to_text(), "a;\u{205f} 30\nb;\u{205f} 2\n");
        assert_eq!(parse(&f.to_text()).unwrap(), f);
    }

    #[test]
    fn parses_sums_duplicates_and_writes_sorted_text() {
        let f = parse("# comment\nmain;b 2\n\nmain;a;x 3\nmain;b 1\n").unwrap();
        assert_eq!(f.total(), 6);
        assert_eq!(f.len(), 2);
        assert_eq!(f.to_text(), "main;a;x 3\nmain;b 3\n");
        assert_eq!(parse(&f.to_text()).unwrap(), f);
    }

    /// Found by the CI fuzz pass: `#\t50` parsed as the stack `#`, whose
    /// written line `# 50` then read back as a comment and lost 50 samples.
    #[test]
    fn a_hash_and_whitespace_is_a_comment_in_both_directions() {
        for text in ["#\t50\n", "# 50\n", "#\u{a0}50\n", "#\n", "a;b 1\n#\t7\n"] {
            let f = parse(text).unwrap();
            assert_eq!(parse(&f.to_text()).unwrap(), f, "{text:?}");
        }
        assert_eq!(parse("#\t50\n").unwrap().total(), 0);
        // a root frame that only starts with `#` is a frame
        let f = parse("#x;y 3\n").unwrap();
        assert_eq!((f.total(), parse(&f.to_text()).unwrap()), (3, f));
    }

    #[test]
    fn frames_may_contain_spaces() {
        let f = parse("main;<T as core::fmt::Debug>::fmt 4\n").unwrap();
        assert_eq!(f.top_self(1)[0].name, "<T as core::fmt::Debug>::fmt");
    }

    #[test]
    fn malformed_lines_name_the_line() {
        for (text, line, want) in [
            ("a;b 1\nnocount\n", 2, "no sample count"),
            ("a;b x\n", 1, "not a whole number"),
            ("a;b -1\n", 1, "not a whole number"),
            ("a;b 1.5\n", 1, "not a whole number"),
            ("a;b 1\n\n 7\n", 3, "no sample count"),
            ("a;;b 1\n", 1, "empty frame"),
            ("a;b 1 2\n", 1, "two sample counts"),
        ] {
            match parse(text) {
                Err(ProfileError::Input {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, Some(line), "{text:?}");
                    assert!(message.contains(want), "{text:?}: {message}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn self_and_inclusive_tables() {
        let f = parse("m;a;k 6\nm;a 2\nm;b;k 1\nm;r;r;r 1\n").unwrap();
        let s = f.top_self(10);
        assert_eq!(s[0].name, "k");
        assert_eq!(s[0].samples, 7);
        assert!((s[0].percent - 70.0).abs() < 1e-12);
        assert_eq!(s.iter().map(|x| x.samples).sum::<u64>(), 10);
        let inc = f.top_inclusive(10);
        assert_eq!((inc[0].name.as_str(), inc[0].samples), ("m", 10));
        assert_eq!((inc[1].name.as_str(), inc[1].samples), ("a", 8));
        // recursion counts once per stack
        assert_eq!(inc.iter().find(|x| x.name == "r").unwrap().samples, 1);
        assert_eq!(f.top_self(2).len(), 2);
        assert_eq!(f.samples_where(|fr| fr == "k"), 7);
        assert!((f.share_where(|fr| fr == "b") - 10.0).abs() < 1e-12);
    }

    #[test]
    fn frames_with_semicolons_are_kept_whole() {
        let mut f = Folded::new();
        f.add_frames(&["main", "f<[u8; 4]>"], 3);
        assert_eq!(f.to_text(), "main;f<[u8, 4]> 3\n");
    }

    #[test]
    fn changes_compare_shares_not_counts() {
        let base = parse("m;a 50\nm;b 50\n").unwrap();
        let now = parse("m;a 300\nm;b 100\nm;c 100\n").unwrap();
        let (grown, shrunk) = now.self_changes(&base, 10);
        assert_eq!(grown[0].name, "c");
        assert!((grown[0].delta_points - 20.0).abs() < 1e-9);
        assert_eq!(grown[1].name, "a");
        assert!((grown[1].delta_points - 10.0).abs() < 1e-9);
        assert_eq!(shrunk.len(), 1);
        assert_eq!(shrunk[0].name, "b");
        assert!((shrunk[0].delta_points + 30.0).abs() < 1e-9);
    }
}
