//! `perf script` text → folded stacks, folded as inferno folds it.
//!
//! inferno's `collapse::perf` does the folding, with its rules and options:
//! each sample weighs its period (nanoseconds of `cpu-clock`, cycles, page
//! faults, …; 1 when perf printed none), symbol offsets are dropped, perf's
//! partially demangled Rust names are mended, `--pid`/`--tid` split the root
//! frame, `--kernel`/`--jit` annotate frames. parci adds two passes around it:
//!
//! - before: a check that reads every line the way inferno's folder reads it
//!   (the same state machine: event line, stack lines, blank line), so every
//!   line inferno would skip with a warning is a warning here too, with its
//!   line number (`--strict` refuses it), and the events are counted; lines
//!   that would make inferno panic (found by fuzzing) are made safe;
//! - after: every Rust frame still mangled (legacy `_ZN…E`, v0 `_R…`) is
//!   demangled, its hash dropped after demangling (C++ names are untouched).
//!
//! A script with several events is folded once per event (inferno folds the
//! first one unless told which; parci keeps them all, each its own profile).

use super::folded::Folded;
use super::ProfileError;
use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use std::borrow::Cow;
use std::path::Path;

/// How to fold: inferno's collapse-perf options, by their names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FoldOptions {
    /// Fold only this event (`None`: each event of the script on its own).
    pub event: Option<String>,
    /// Root frame `comm-PID` (`--pid`).
    pub pid: bool,
    /// Root frame `comm-PID/TID` (`--tid`).
    pub tid: bool,
    /// Kernel frames end in `_[k]` (`--kernel`).
    pub kernel: bool,
    /// JIT frames end in `_[j]` (`--jit`).
    pub jit: bool,
    /// Refuse lines inferno would fold past with a warning.
    pub strict: bool,
}

/// One event type of a script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventCount {
    /// `cpu-clock`, `cycles`, … (without `:u`-style modifiers).
    pub name: String,
    /// Its samples (event lines).
    pub samples: u64,
    /// How many of them show a period.
    pub with_period: u64,
}

impl EventCount {
    /// What a folded count of this event is: `ns` for the clock events, the
    /// event itself for counting events, `samples` when perf printed no period.
    pub fn unit(&self) -> String {
        if self.with_period == 0 {
            return "samples".into();
        }
        match self.name.as_str() {
            "cpu-clock" | "task-clock" => "ns".into(),
            e => e.to_string(),
        }
    }
}

/// What the checking pass saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Event lines read as samples, of every event.
    pub samples: u64,
    /// Stack lines read as frames.
    pub frames: u64,
    /// Each event type, in order of first appearance.
    pub events: Vec<EventCount>,
    /// Lines inferno skips with a warning: `LINE: what` (the first
    /// [`MAX_WARNINGS`]; `warnings_total` counts them all).
    pub warnings: Vec<String>,
    pub warnings_total: u64,
}

/// Warnings kept by line; the rest are counted.
pub const MAX_WARNINGS: usize = 20;

/// One event, folded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventProfile {
    pub event: String,
    /// Unit of the counts ([`EventCount::unit`]).
    pub unit: String,
    pub samples: u64,
    pub folded: Folded,
}

/// Folds `perf script` output: one profile per event (or the one asked
/// for), each with at least one stack. `file` names the input in errors.
pub fn fold(
    text: &[u8],
    file: &Path,
    opts: &FoldOptions,
) -> Result<(Vec<EventProfile>, ScriptStats), ProfileError> {
    let (clean, stats) = check(text, file, opts.strict)?;
    let events = fold_checked(&clean, &stats, file, opts)?;
    Ok((events, stats))
}

/// [`fold`] of text [`check`] returned, with what it saw: one profile per
/// event (or the one asked for), each with at least one stack.
pub fn fold_checked(
    clean: &[u8],
    stats: &ScriptStats,
    file: &Path,
    opts: &FoldOptions,
) -> Result<Vec<EventProfile>, ProfileError> {
    if stats.samples == 0 {
        let why = stats
            .warnings
            .first()
            .map(|w| format!(" (line {w})"))
            .unwrap_or_default();
        return Err(ProfileError::input(
            file,
            None,
            format!(
                "no samples{why}: the perf script is empty or not perf script output; record with \
                 `perf record -g -- CMD` and pass the output of `perf script`"
            ),
        ));
    }
    let chosen: Vec<&EventCount> = match &opts.event {
        Some(e) => match stats.events.iter().find(|x| &x.name == e) {
            Some(x) => vec![x],
            None => {
                return Err(ProfileError::input(
                    file,
                    None,
                    format!(
                        "--event {e}: the perf script has no such event; it has {}",
                        event_list(stats)
                    ),
                ))
            }
        },
        None => stats.events.iter().collect(),
    };
    let mut out = Vec::new();
    for ev in chosen {
        let folded = fold_event(clean, file, &ev.name, opts)?;
        if !folded.is_empty() {
            out.push(EventProfile {
                event: ev.name.clone(),
                unit: ev.unit(),
                samples: ev.samples,
                folded,
            });
        }
    }
    if out.is_empty() {
        return Err(ProfileError::input(
            file,
            None,
            format!(
                "{} but none has a stack line; record with a call graph (`perf record -g`)",
                crate::text::count(stats.samples, "sample")
            ),
        ));
    }
    Ok(out)
}

/// `cycles (120 samples), instructions (118 samples)`.
pub fn event_list(stats: &ScriptStats) -> String {
    stats
        .events
        .iter()
        .map(|e| format!("{} ({})", e.name, crate::text::count(e.samples, "sample")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// inferno's fold of one event of checked text, names demangled.
fn fold_event(
    clean: &[u8],
    file: &Path,
    event: &str,
    opts: &FoldOptions,
) -> Result<Folded, ProfileError> {
    let mut o = Options::default();
    o.nthreads = 1;
    // Named, so inferno need not find it itself (its own pass asserts on
    // input that starts without a sample; found by the perf_script fuzz target).
    o.event_filter = Some(event.to_string());
    o.include_pid = opts.pid;
    o.include_tid = opts.tid;
    o.annotate_kernel = opts.kernel;
    o.annotate_jit = opts.jit;
    let mut out = Vec::new();
    Folder::from(o)
        .collapse(clean, &mut out)
        .map_err(|e| ProfileError::input(file, None, format!("cannot fold: {e}")))?;
    let raw = Folded::parse(&String::from_utf8_lossy(&out), file)?;
    let mut folded = Folded::new();
    for (stack, n) in raw.stacks() {
        let frames: Vec<Cow<str>> = stack.split(';').map(demangle_frame).collect();
        folded.add_frames(&frames, n);
    }
    Ok(folded)
}

/// A folded frame with a still-mangled Rust name demangled, inferno's
/// annotation (`_[k]`, `_[j]`, `_[i]`) kept.
pub fn demangle_frame(frame: &str) -> Cow<'_, str> {
    let (name, note) = ["_[k]", "_[j]", "_[i]"]
        .iter()
        .find_map(|a| frame.strip_suffix(a).map(|n| (n, *a)))
        .unwrap_or((frame, ""));
    if !(name.starts_with("_ZN") || name.starts_with("_R")) {
        return Cow::Borrowed(frame);
    }
    match rustc_demangle::try_demangle(name) {
        Ok(d) => Cow::Owned(format!("{d:#}{note}")),
        Err(_) => Cow::Borrowed(frame),
    }
}

fn warn(stats: &mut ScriptStats, line: usize, raw: &str, why: &str) {
    stats.warnings_total += 1;
    if stats.warnings.len() < MAX_WARNINGS {
        stats
            .warnings
            .push(format!("{}: {why}: {:?}", line + 1, super::clip(raw, 60)));
    }
}

/// The checking pass: reads the lines as inferno's folder does, counts the
/// events, notes (or with `strict` refuses) what inferno would skip, and
/// returns the text inferno is given (the input, with the lines that would
/// make it panic made safe).
pub fn check(
    text: &[u8],
    file: &Path,
    strict: bool,
) -> Result<(Vec<u8>, ScriptStats), ProfileError> {
    let mut out = Vec::with_capacity(text.len());
    let mut stats = ScriptStats::default();
    let mut in_event = false;
    let note = |stats: &mut ScriptStats, i: usize, raw: &str, why: &str| {
        if strict {
            return Err(ProfileError::input(
                file,
                Some(i as u64 + 1),
                format!(
                    "not perf script output: {why} in {:?}; pass the text `perf script` prints \
                     (without --strict such lines are skipped with a warning, as inferno does)",
                    super::clip(raw, 60)
                ),
            ));
        }
        warn(stats, i, raw, why);
        Ok(())
    };
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line: Cow<str> = match std::str::from_utf8(raw) {
            Ok(l) => Cow::Borrowed(l),
            Err(_) => {
                let lossy = String::from_utf8_lossy(raw).into_owned();
                note(
                    &mut stats,
                    i,
                    &lossy,
                    "bytes that are not UTF-8 (read as U+FFFD)",
                )?;
                Cow::Owned(lossy)
            }
        };
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() {
            // A blank line ends a sample; others are nothing to inferno.
            if in_event {
                out.push(b'\n');
            }
            in_event = false;
            continue;
        }
        if in_event {
            match stack_line(line) {
                Some(safe) => {
                    stats.frames += 1;
                    out.extend_from_slice(safe.as_bytes());
                    out.push(b'\n');
                }
                None => note(
                    &mut stats,
                    i,
                    line,
                    "a stack line that is not `ADDRESS SYMBOL (OBJECT)`, skipped",
                )?,
            }
            continue;
        }
        match event_line(line) {
            Some(ev) => {
                stats.samples += 1;
                match ev.event {
                    // No `:` after the TID: inferno keeps the sample under
                    // whichever event it folds.
                    None => note(&mut stats, i, line, "an event line without an event name")?,
                    Some(name) => match stats.events.iter_mut().find(|e| e.name == name) {
                        Some(e) => {
                            e.samples += 1;
                            e.with_period += u64::from(ev.period);
                        }
                        None => stats.events.push(EventCount {
                            name: name.to_string(),
                            samples: 1,
                            with_period: u64::from(ev.period),
                        }),
                    },
                }
                let tail_ok = match ev.tail {
                    None => true,
                    Some(t) => stack_line(t).is_some(),
                };
                if !tail_ok {
                    note(
                        &mut stats,
                        i,
                        line,
                        "a one-frame sample whose frame is not `ADDRESS SYMBOL (OBJECT)`, skipped",
                    )?;
                    // inferno ends a sample on its event line when a frame follows.
                    continue;
                }
                let safe = match ev.tail.and_then(|t| stack_line(t).filter(|s| s != t)) {
                    Some(s) => format!("{}  {}", &line[..ev.tail_at], s.trim_start()),
                    None => line.to_string(),
                };
                out.extend_from_slice(safe.as_bytes());
                out.push(b'\n');
                // A sample whose frame is on its event line ends there.
                in_event = ev.tail.is_none();
                if !in_event {
                    stats.frames += 1;
                }
            }
            None => {
                note(
                    &mut stats,
                    i,
                    line,
                    "an event line that is not `COMM [PID/]TID [CPU] [TIME:] [PERIOD] EVENT:`, skipped",
                )?;
                // inferno reads the lines after it as event lines too.
            }
        }
    }
    Ok((out, stats))
}

/// An event line as inferno reads it.
#[derive(Debug, PartialEq, Eq)]
struct EventLine<'a> {
    /// `None` when no `:` follows the TID.
    event: Option<&'a str>,
    /// Whether a period precedes the event name.
    period: bool,
    /// A one-frame stack on the event line itself.
    tail: Option<&'a str>,
    /// Where that frame starts.
    tail_at: usize,
}

/// inferno's reading of an event line: the command, then the first word of
/// digits (`TID` or `PID/TID`) followed by a space; after it, the text up to
/// the next `:` (an optional time), then `[PERIOD] EVENT` up to the next `:`,
/// then an optional frame. `None`: inferno calls it a weird event line.
fn event_line(line: &str) -> Option<EventLine<'_>> {
    let end = pid_end(line)?;
    let rest = &line[end..];
    let mut parts = rest.splitn(3, ':').skip(1);
    let (event, period) = match parts.next() {
        Some(period_and_event) => {
            let mut words = period_and_event.rsplit(' ');
            let event = words.next().unwrap_or("");
            (
                Some(event),
                words.next().is_some_and(|w| w.parse::<u64>().is_ok()),
            )
        }
        None => (None, false),
    };
    let (tail, tail_at) = match parts.next() {
        Some(post) => {
            let start = post.find([':', ' ']).map(|i| i + 1).unwrap_or(0);
            let t = post[start..].trim();
            if t.is_empty() {
                (None, 0)
            } else {
                let at = t.as_ptr() as usize - line.as_ptr() as usize;
                (Some(t), at)
            }
        }
        None => (None, 0),
    };
    Some(EventLine {
        event,
        period,
        tail,
        tail_at,
    })
}

/// Where the `[PID/]TID ` word of an event line ends (after its space), as
/// inferno finds it: the first all-digit word, not the first, followed by a space.
fn pid_end(line: &str) -> Option<usize> {
    let mut all_digits = false;
    let mut last_was_space = false;
    for (idx, c) in line.char_indices() {
        if c == ' ' {
            if all_digits && !last_was_space {
                return Some(idx + 1);
            }
            all_digits = true;
        } else if c == '/' || c.is_ascii_digit() {
        } else {
            all_digits = false;
        }
        last_was_space = c == ' ';
    }
    None
}

/// A stack line as inferno reads it (`ADDR SYM[+OFF] (OBJECT)`); `None` when
/// inferno calls it weird. The line comes back unchanged, or with the name
/// made safe for inferno ([`inferno_safe`]).
fn stack_line(line: &str) -> Option<String> {
    let t = line.trim_start();
    let (pc, rest) = t.split_once(' ')?;
    let (sym, module) = rest.rsplit_once(' ')?;
    if !module.starts_with('(') || !module.ends_with(')') {
        return None;
    }
    let sym = sym.trim();
    let (name, offset) = match sym.rfind("+0x") {
        Some(i) if sym[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => sym.split_at(i),
        _ => (sym, ""),
    };
    let safe = inferno_safe(name.to_string());
    if safe == name {
        return Some(line.to_string());
    }
    Some(format!("\t{} {safe}{offset} {module}", pc.trim_end()))
}

/// Bytes at the end of a name inferno's folder reads as a Rust hash
/// (`h` + 16 hex digits).
const INFERNO_HASH_BYTES: usize = 17;

/// `name` with the characters that straddle its 17th byte from the end
/// written as `\u{…}`: inferno's folder slices every name there to look for
/// a Rust hash, and panics when that is inside a character (found by the
/// perf_script fuzz target; inferno 0.12.8, collapse/common.rs). Names whose
/// cut falls on a character boundary, which is all ASCII names, are unchanged.
fn inferno_safe(mut name: String) -> String {
    while name.len() >= INFERNO_HASH_BYTES {
        let cut = name.len() - INFERNO_HASH_BYTES;
        if name.is_char_boundary(cut) {
            break;
        }
        let start = (0..cut)
            .rev()
            .find(|&i| name.is_char_boundary(i))
            .unwrap_or(0);
        let c = name[start..].chars().next().expect("a char starts here");
        name.replace_range(
            start..start + c.len_utf8(),
            &format!("\\u{{{:x}}}", c as u32),
        );
    }
    name
}

/// Rust symbols as people read them: mangled names (legacy `_ZN…E` and v0
/// `_R…`) demangled, and the `::h0123…` hash suffix perf leaves on legacy
/// names removed. Anything else is returned as it is.
pub fn demangle(sym: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(sym) {
        return format!("{d:#}");
    }
    strip_hash(sym).to_string()
}

/// `path::to::f::h0123456789abcdef` → `path::to::f`.
fn strip_hash(sym: &str) -> &str {
    if let Some(i) = sym.rfind("::h") {
        let h = &sym[i + 3..];
        if h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return &sym[..i];
        }
    }
    sym
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold_default(text: &[u8]) -> Result<(Vec<EventProfile>, ScriptStats), ProfileError> {
        fold(text, Path::new("p.txt"), &FoldOptions::default())
    }

    #[test]
    fn a_name_inferno_would_cut_inside_a_character_is_escaped_there() {
        // Found by the perf_script fuzz target: 'Ŋ' (2 bytes) straddled the
        // 17th byte from the end, where inferno's folder slices every name.
        let name = "busy_loop::spinŊ_0123456789abcde";
        assert!(!name.is_char_boundary(name.len() - 17));
        let safe = inferno_safe(name.to_string());
        assert_eq!(safe, "busy_loop::spin\\u{14a}_0123456789abcde");
        assert!(safe.is_char_boundary(safe.len() - 17));
        for ok in [
            "main",
            "ŊŊŊ",
            "ascii_only_names_are_never_changed_at_all",
            "x_Ŋ_y",
        ] {
            assert_eq!(inferno_safe(ok.to_string()), ok);
        }
        let text = format!(
            "busy-loop 4451/4451 716.759711: cpu-clock:\n\t 15705 {name} (/tmp/busy-loop)\n"
        );
        let (p, _) = fold_default(text.as_bytes()).expect("folds");
        assert_eq!(p[0].folded.total(), 1);
        assert!(
            p[0].folded
                .to_text()
                .contains("spin\\u{14a}_0123456789abcde"),
            "{}",
            p[0].folded.to_text()
        );
    }

    #[test]
    fn lines_inferno_skips_are_warnings_with_their_line_and_strict_refuses_them() {
        // An event line without a command name is a weird event line to inferno.
        let text = b"4451    716.759711: cpu-clock: \n\
            \t           31410 busy_loop::hot (/tmp/busy-loop)\n\
            \n\
            busy-loop 4451/4451 716.760711: 1000 cpu-clock:\n\
            \t           31410 busy_loop::hot (/tmp/busy-loop)\n\
            \t           THIS_IS_A_WEIRD_LINE\n";
        let (p, stats) = fold_default(text).expect("folds past them");
        assert_eq!(p[0].folded.to_text(), "busy-loop;busy_loop::hot 1000\n");
        assert_eq!(stats.warnings_total, 3, "{:?}", stats.warnings);
        assert!(
            stats.warnings[0].starts_with("1: an event line"),
            "{:?}",
            stats.warnings
        );
        assert!(
            stats.warnings[2].starts_with("6: a stack line"),
            "{:?}",
            stats.warnings
        );
        let strict = FoldOptions {
            strict: true,
            ..FoldOptions::default()
        };
        let e = fold(text, Path::new("p.txt"), &strict)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("p.txt:1: not perf script output: an event line"),
            "{e}"
        );
    }

    #[test]
    fn blank_lines_before_the_first_sample_or_between_samples_are_no_sample() {
        let text = b"\n\n\
            busy-loop  4451/4451    716.759711: cpu-clock: \n\
            \t           15705 busy_loop::hot (/tmp/busy-loop)\n\
            \n\n\n\
            busy-loop  4451/4451    716.760711: cpu-clock: \n\
            \t           15705 busy_loop::hot (/tmp/busy-loop)\n";
        let (p, stats) = fold_default(text).expect("two samples");
        assert_eq!(stats.samples, 2);
        assert_eq!(p[0].folded.total(), 2);
        assert_eq!(p[0].unit, "samples");
    }

    const SCRIPT: &str = "\
# ========
# captured on: x
bash 28276  7305.831700:    1003009 cpu-clock: 
\tffffffff821f5127 exc_page_fault+0xd7 ([kernel.kallsyms])
\t           3309d main+0x1d (/usr/bin/bash)

perf-smoke 10/11 [001] 7305.832690:    2000000 cpu-clock:u: 
\t  55d0 _ZN10parci_core5quant6matvec3run17h0123456789abcdefE+0x10 (/x/perf-smoke)
\t  55e0 parci_core::model::Engine::forward::hfedcba9876543210 (/x/perf-smoke)
\t  55f0 main (/x/perf-smoke)

perf-smoke 10/11 [001] 7305.833690:    1000 cpu-clock:u: 
\t  55d0 _ZN10parci_core5quant6matvec3run17h0123456789abcdefE+0x10 (/x/perf-smoke)
\t  55e0 parci_core::model::Engine::forward::hfedcba9876543210 (/x/perf-smoke)
\t  55f0 main (/x/perf-smoke)
";

    #[test]
    fn samples_weigh_their_period_and_rust_names_are_demangled() {
        let (p, stats) = fold_default(SCRIPT.as_bytes()).unwrap();
        assert_eq!(stats.samples, 3);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].event, "cpu-clock");
        assert_eq!(p[0].unit, "ns");
        assert_eq!(p[0].samples, 3);
        assert_eq!(
            p[0].folded.to_text(),
            "bash;main;exc_page_fault 1003009\n\
             perf-smoke;main;parci_core::model::Engine::forward;parci_core::quant::matvec::run 2001000\n"
        );
        let k = FoldOptions {
            kernel: true,
            pid: true,
            ..FoldOptions::default()
        };
        let (p, _) = fold(SCRIPT.as_bytes(), Path::new("p.txt"), &k).unwrap();
        assert!(
            p[0].folded
                .to_text()
                .starts_with("bash-?;main;exc_page_fault_[k] 1003009\n"),
            "{}",
            p[0].folded.to_text()
        );
    }

    #[test]
    fn each_event_is_its_own_profile_or_the_one_asked_for() {
        let text = b"a 1 1.0: 7 cycles:\n\t1 f (/x)\n\na 1 1.1: 9 instructions:\n\t1 g (/x)\n\na 1 1.2: 3 cycles:\n\t1 f (/x)\n";
        let (p, stats) = fold_default(text).unwrap();
        assert_eq!(
            event_list(&stats),
            "cycles (2 samples), instructions (1 sample)"
        );
        let got: Vec<(&str, &str, String)> = p
            .iter()
            .map(|e| (e.event.as_str(), e.unit.as_str(), e.folded.to_text()))
            .collect();
        assert_eq!(
            got,
            [
                ("cycles", "cycles", "a;f 10\n".to_string()),
                ("instructions", "instructions", "a;g 9\n".to_string())
            ]
        );
        let one = FoldOptions {
            event: Some("instructions".into()),
            ..FoldOptions::default()
        };
        let (p, _) = fold(text, Path::new("p.txt"), &one).unwrap();
        assert_eq!(p.len(), 1);
        let none = FoldOptions {
            event: Some("page-faults".into()),
            ..FoldOptions::default()
        };
        let e = fold(text, Path::new("p.txt"), &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--event page-faults: the perf script has no such event; it has cycles (2 samples), instructions (1 sample)"), "{e}");
    }

    #[test]
    fn event_lines_as_inferno_reads_them() {
        let e = event_line("java 25607 4794564.109216: cycles:").unwrap();
        assert_eq!((e.event, e.period, e.tail), (Some("cycles"), false, None));
        let e = event_line("V8 WorkerThread 24636/25607 [000] 94564.109216: 257597 cycles:uppp:")
            .unwrap();
        assert_eq!((e.event, e.period), (Some("cycles"), true));
        let line = "false 64414 20110.539270:      34467 cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])";
        let e = event_line(line).unwrap();
        assert_eq!(e.tail, Some("ffffffff9aa3c8de [unknown] ([unknown])"));
        assert_eq!(&line[e.tail_at..], "ffffffff9aa3c8de [unknown] ([unknown])");
        // perf 3.x: no time field; padded command names (no call graph).
        // (inferno takes the event from the second `:`-separated field, so
        // without a time the name it finds is empty.)
        let e = event_line("swapper     0 cycles: ").unwrap();
        assert_eq!(e.event, Some(""));
        assert!(event_line("           false 39654 19115.489713:          1 cycles:u:  ffffffff9b201293 [unknown] ([unknown])").is_some());
        assert!(event_line("hello world").is_none());
        assert!(event_line("1234.5: cpu-clock:").is_none(), "no comm/pid");
        assert!(
            event_line("4451 716.759711: cpu-clock:").is_none(),
            "the first word is the command"
        );
    }

    #[test]
    fn refusals_name_what_they_refused() {
        let p = Path::new("p.txt");
        for (text, want) in [
            (&b""[..], "no samples"),
            (b"# only a header\n\n", "no samples"),
            (b"{\"json\": 1}\n", "no samples (line 1: an event line"),
            (
                b"x 1 1.0: cpu-clock:\n\n",
                "1 sample but none has a stack line",
            ),
        ] {
            let e = fold(text, p, &FoldOptions::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{:?}: {e}", String::from_utf8_lossy(text));
        }
        // Non-UTF-8 bytes: inferno reads them as U+FFFD; a warning here.
        let (f, stats) = fold_default(b"x 1 1.0: cpu-clock:\n\tabc m\xff (/x)\n").unwrap();
        assert_eq!(f[0].folded.to_text(), "x;m\u{fffd} 1\n");
        assert!(
            stats.warnings[0].starts_with("2: bytes that are not UTF-8"),
            "{:?}",
            stats.warnings
        );
    }

    #[test]
    fn frames_demangle_after_folding_and_keep_inferno_annotations() {
        assert_eq!(
            demangle_frame("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(
            demangle_frame("_ZN4core3fmt5write17h0123456789abcdefE_[k]"),
            "core::fmt::write_[k]"
        );
        assert_eq!(demangle_frame("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
        assert_eq!(
            demangle_frame("_ZN2os5sleepEv"),
            "_ZN2os5sleepEv",
            "C++ stays"
        );
        assert_eq!(demangle_frame("memcpy_[j]"), "memcpy_[j]");
        // Found by the perf_script fuzz target: a name whose last 4 bytes
        // start inside a character.
        assert_eq!(demangle_frame("„"), "„");
        assert_eq!(demangle_frame("ab„"), "ab„");
    }

    #[test]
    fn demangles_legacy_v0_and_hash_suffixed_names() {
        assert_eq!(
            demangle("_ZN4core3fmt5write17h0123456789abcdefE"),
            "core::fmt::write"
        );
        assert_eq!(demangle("_RNvCs1234_7mycrate3foo"), "mycrate::foo");
        assert_eq!(demangle("a::b::h0123456789abcdef"), "a::b");
        assert_eq!(demangle("memcpy"), "memcpy");
        assert_eq!(demangle("a::h12"), "a::h12");
    }
}
