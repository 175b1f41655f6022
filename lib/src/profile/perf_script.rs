//! `perf script` text → folded stacks.
//!
//! A strict first pass checks every line (so a corrupt file is named by line
//! number, which inferno's lenient collapser would only log), demangles Rust
//! symbols and drops the period field of event lines: inferno counts a
//! sample's period when one is shown, and a `cpu-clock` period is
//! nanoseconds, so without it every sample counts exactly 1. The cleaned
//! text then goes through inferno's `collapse::perf` for the folding rules
//! (offset stripping, `[unknown]` frames, inlined frames, one event type).

use super::folded::Folded;
use super::ProfileError;
use inferno::collapse::perf::{Folder, Options};
use inferno::collapse::Collapse;
use std::path::Path;

/// What the first pass saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScriptStats {
    /// Event lines (samples) of every event type.
    pub events: u64,
    /// Stack lines.
    pub frames: u64,
    /// Name of the first event type (the one folded), e.g. `cpu-clock`.
    pub event: Option<String>,
}

/// Folds `perf script` output. `file` names the input in errors.
pub fn fold(text: &[u8], file: &Path) -> Result<(Folded, ScriptStats), ProfileError> {
    let (clean, stats) = normalize(text, file)?;
    if stats.events == 0 {
        return Err(ProfileError::input(
            file,
            None,
            "no samples: the perf script is empty; record with `perf record -g -- CMD` and pass \
             the output of `perf script`",
        ));
    }
    let folded = fold_normalized(&clean, &stats, file)?;
    Ok((folded, stats))
}

/// Folds text [`normalize`] returned (with at least one event).
pub fn fold_normalized(
    clean: &[u8],
    stats: &ScriptStats,
    file: &Path,
) -> Result<Folded, ProfileError> {
    let mut out = Vec::new();
    let mut opts = Options::default();
    opts.nthreads = 1;
    // The event to fold is the first sample's, as inferno would find it; named
    // here so inferno need not re-derive it (its own pass asserts it can).
    opts.event_filter = stats.event.clone();
    Folder::from(opts)
        .collapse(clean, &mut out)
        .map_err(|e| ProfileError::input(file, None, format!("cannot fold: {e}")))?;
    let folded_text = String::from_utf8_lossy(&out);
    let folded = Folded::parse(&folded_text, file)?;
    if folded.total() == 0 {
        return Err(ProfileError::input(
            file,
            None,
            format!(
                "{} samples but none has a stack line; record with a call graph (`perf record -g`)",
                stats.events
            ),
        ));
    }
    Ok(folded)
}

fn corrupt(file: &Path, line: usize, raw: &str, why: &str) -> ProfileError {
    ProfileError::input(
        file,
        Some(line as u64 + 1),
        format!(
            "not perf script output: {why} in {:?}; pass the text `perf script` prints",
            super::clip(raw, 60)
        ),
    )
}

/// The first pass: checks the lines, returns the cleaned text and counts.
pub fn normalize(text: &[u8], file: &Path) -> Result<(Vec<u8>, ScriptStats), ProfileError> {
    let mut out = Vec::with_capacity(text.len());
    let mut stats = ScriptStats::default();
    let mut in_event = false;
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let Ok(line) = std::str::from_utf8(raw) else {
            return Err(corrupt(
                file,
                i,
                &String::from_utf8_lossy(raw),
                "bytes that are not UTF-8",
            ));
        };
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() {
            // A blank line ends a sample. Others (before the first sample,
            // or repeated) are dropped: inferno's folder asserts that the
            // first thing it reads is a sample (found by the perf_script
            // fuzz target: a script starting with an empty line panicked).
            if in_event {
                out.push(b'\n');
            }
            in_event = false;
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !in_event {
                return Err(corrupt(file, i, line, "a stack line outside any sample"));
            }
            let cleaned = stack_line(line).ok_or_else(|| {
                corrupt(
                    file,
                    i,
                    line,
                    "a stack line that is not `ADDRESS SYMBOL (OBJECT)`",
                )
            })?;
            stats.frames += 1;
            out.extend_from_slice(cleaned.as_bytes());
            out.push(b'\n');
            continue;
        }
        let (cleaned, event) = event_line(line).ok_or_else(|| {
            corrupt(
                file,
                i,
                line,
                "an event line that is not `COMM PID[/TID] [CPU] TIME: [PERIOD] EVENT:`",
            )
        })?;
        if in_event {
            // A new event without the blank line that separates samples.
            out.push(b'\n');
        }
        stats.events += 1;
        if stats.event.is_none() {
            stats.event = Some(event);
        }
        out.extend_from_slice(cleaned.as_bytes());
        out.push(b'\n');
        in_event = true;
    }
    Ok((out, stats))
}

/// `comm pid[/tid] [cpu] time: [period] event: [frame]` → the line without
/// the period, and the event name (without `:u`-style modifiers).
fn event_line(line: &str) -> Option<(String, String)> {
    // The time is the first word ending in ':' that is `digits.digits:`.
    let mut time_end = None;
    let mut pos = 0;
    for word in line.split(' ') {
        let start = pos;
        pos += word.len() + 1;
        if let Some(t) = word.strip_suffix(':') {
            let mut parts = t.splitn(2, '.');
            let secs = parts.next().unwrap_or("");
            let frac = parts.next().unwrap_or("");
            if !secs.is_empty()
                && secs.bytes().all(|b| b.is_ascii_digit())
                && frac.bytes().all(|b| b.is_ascii_digit())
                && start > 0
            {
                time_end = Some(start + word.len());
                break;
            }
        }
    }
    let time_end = time_end?;
    let head = &line[..time_end];
    // A pid (or pid/tid) word must come before the time, after the command
    // name: inferno's folder (which reads this text next) takes the first
    // word for the command, never for the pid (found by the perf_script fuzz
    // target: `4451  716.759711: cpu-clock:` passed here, not there).
    let has_pid = head.split(' ').skip(1).any(|w| {
        let w = w.trim_start_matches('[');
        !w.is_empty()
            && w.split('/')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    });
    if !has_pid {
        return None;
    }
    let rest = line[time_end..].trim_start();
    // Optional period, then the event name ending in ':'.
    let (first, after) = rest.split_once(' ').unwrap_or((rest, ""));
    let rest = if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        after.trim_start()
    } else {
        rest
    };
    let colon = rest
        .find(": ")
        .or_else(|| rest.ends_with(':').then(|| rest.len() - 1))?;
    let event_full = &rest[..colon];
    if event_full.is_empty() || event_full.contains(' ') {
        return None;
    }
    let event = event_full
        .split(':')
        .next()
        .unwrap_or(event_full)
        .to_string();
    let tail = rest[colon + 1..].trim();
    if tail.is_empty() {
        return Some((format!("{head} {event_full}:"), event));
    }
    // A one-frame sample on the event line itself: the frame is checked and
    // cleaned like any stack line (inferno folds it as one; found by the
    // perf_script fuzz target, which passed a raw tail that panicked inferno).
    let frame = stack_line(tail)?;
    Some((
        format!("{head} {event_full}:  {}", frame.trim_start()),
        event,
    ))
}

/// `ADDR SYM[+OFF] (DSO)` → the same line with a demangled symbol.
fn stack_line(line: &str) -> Option<String> {
    let t = line.trim_start();
    let (addr, rest) = t.split_once(' ')?;
    if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let rest = rest.trim();
    let open = rest
        .rfind(" (")
        .map(|i| i + 1)
        .or_else(|| rest.starts_with('(').then_some(0))?;
    if !rest.ends_with(')') {
        return None;
    }
    let sym = rest[..open].trim();
    let dso = &rest[open..];
    let (name, offset) = match sym.rfind("+0x") {
        Some(i) if sym[i + 3..].bytes().all(|b| b.is_ascii_hexdigit()) => sym.split_at(i),
        _ => (sym, ""),
    };
    let name = if name.is_empty() {
        "[unknown]".to_string()
    } else {
        inferno_safe(demangle(name))
    };
    Some(format!("\t{addr} {name}{offset} {dso}"))
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
        let (f, _) = fold(text.as_bytes(), Path::new("p.txt")).expect("folds");
        assert_eq!(f.total(), 1);
        assert!(
            f.to_text().contains("spin\\u{14a}_0123456789abcde"),
            "{}",
            f.to_text()
        );
    }

    #[test]
    fn an_event_line_without_a_command_name_is_not_one() {
        // Found by the perf_script fuzz target: inferno's folder asserted.
        let text = b"4451    716.759711: cpu-clock: \n\
            \t           31410 busy_loop::hot (/tmp/busy-loop)\n";
        let e = fold(text, Path::new("p.txt")).unwrap_err().to_string();
        assert!(e.contains("p.txt:1"), "{e}");
        assert!(event_line("4451    716.759711: cpu-clock:").is_none());
        assert!(event_line("x 4451    716.759711: cpu-clock:").is_some());
    }

    #[test]
    fn blank_lines_before_the_first_sample_or_between_samples_are_no_sample() {
        let text = b"\n\n\
            busy-loop  4451/4451    716.759711: cpu-clock: \n\
            \t           15705 busy_loop::hot (/tmp/busy-loop)\n\
            \n\n\n\
            busy-loop  4451/4451    716.760711: cpu-clock: \n\
            \t           15705 busy_loop::hot (/tmp/busy-loop)\n";
        let (f, stats) = fold(text, Path::new("p.txt")).expect("two samples");
        assert_eq!(stats.events, 2);
        assert_eq!(f.total(), 2);
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
    fn folds_to_samples_not_periods_with_demangled_names() {
        let (f, stats) = fold(SCRIPT.as_bytes(), Path::new("p.txt")).unwrap();
        assert_eq!(stats.events, 3);
        assert_eq!(stats.event.as_deref(), Some("cpu-clock"));
        assert_eq!(f.total(), 3, "{}", f.to_text());
        assert_eq!(
            f.to_text(),
            "bash;main;exc_page_fault 1\n\
             perf-smoke;main;parci_core::model::Engine::forward;parci_core::quant::matvec::run 2\n"
        );
    }

    #[test]
    fn event_lines_with_and_without_period() {
        let (l, e) = event_line("java 25607 4794564.109216: cycles:").unwrap();
        assert_eq!(
            (l.as_str(), e.as_str()),
            ("java 25607 4794564.109216: cycles:", "cycles")
        );
        let (l, _) =
            event_line("V8 WorkerThread 24636/25607 [000] 94564.109216: 257597 cycles:uppp:")
                .unwrap();
        assert_eq!(
            l,
            "V8 WorkerThread 24636/25607 [000] 94564.109216: cycles:uppp:"
        );
        let (l, _) =
            event_line("false 64414 20110.539270:      34467 cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])")
                .unwrap();
        assert_eq!(
            l,
            "false 64414 20110.539270: cycles:u:  ffffffff9aa3c8de [unknown] ([unknown])"
        );
        // The frame on an event line is a stack line: cleaned, or refused.
        let (l, _) =
            event_line("p 1 2.5: cpu-clock:  55d0 _ZN4core3fmt5write17h0123456789abcdefE (/x)")
                .unwrap();
        assert_eq!(l, "p 1 2.5: cpu-clock:  55d0 core::fmt::write (/x)");
        assert!(
            event_line("x 1 00000: \0\0: \0   1 00: \u{76f}\u{1}\0  1 :   \0   1l ()").is_none()
        );
        assert!(event_line("hello world").is_none());
        assert!(event_line("1234.5: cpu-clock:").is_none(), "no comm/pid");
    }

    #[test]
    fn corrupt_and_empty_scripts_name_the_line() {
        let p = Path::new("p.txt");
        let cases: &[(&[u8], Option<u64>, &str)] = &[
            (b"", None, "no samples"),
            (b"# only a header\n\n", None, "no samples"),
            (
                b"\tabc main (/bin/x)\n",
                Some(1),
                "stack line outside any sample",
            ),
            (
                b"x 1 1.0: cpu-clock:\n\tzz main (/bin/x)\n",
                Some(2),
                "ADDRESS SYMBOL (OBJECT)",
            ),
            (
                b"x 1 1.0: cpu-clock:\n\tabc main\n",
                Some(2),
                "ADDRESS SYMBOL (OBJECT)",
            ),
            (
                b"x 1 1.0: cpu-clock:\n\tabc main (/x)\n\nsomething else\n",
                Some(4),
                "event line",
            ),
            (
                b"x 1 1.0: cpu-clock:\n\tabc m\xff (/x)\n",
                Some(2),
                "not UTF-8",
            ),
            (b"x 1 1.0: cpu-clock:\n\n", None, "none has a stack line"),
        ];
        for (text, line, want) in cases {
            match fold(text, p) {
                Err(ProfileError::Input {
                    line: l, message, ..
                }) => {
                    assert_eq!(l, *line, "{:?}: {message}", String::from_utf8_lossy(text));
                    assert!(message.contains(want), "{message}");
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(text)),
            }
        }
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
