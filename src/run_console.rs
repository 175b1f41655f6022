//! run-parallel's console: task output as it happens (`--output prefixed`),
//! as one block per attempt (`grouped`, a `::group::` on GitHub Actions) or
//! not at all (`quiet`), and a progress bar on a terminal.
//!
//! Children write straight into their log files (no pipes: a task that leaves
//! a background process holding its output open cannot stall the run). The
//! console reads those files: live, every [`TICK`], for `prefixed`; once per
//! attempt for `grouped`. Everything prints on the scheduler's thread, one
//! whole line per write, so lines of two tasks never mix.

use parci_core::plan::run::{Hooks, Progress, Status, TaskState};
use parci_core::plan::Achievement;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Duration;

/// How often live output and the progress bar are refreshed.
pub const TICK: Duration = Duration::from_millis(100);

/// `--output`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Each attempt's output as one block when it ends (inside `::group::`
    /// on GitHub Actions)
    Grouped,
    /// Live lines, each prefixed with `[ID] `
    Prefixed,
    /// Task output only in the log files
    Quiet,
}

/// The part of a log file that belongs to the running attempt.
struct Tail {
    id: String,
    path: PathBuf,
    /// Where this attempt's output starts in the file (retries append).
    start: u64,
    /// How far `prefixed` has printed.
    pos: u64,
    /// Bytes after the last newline printed so far.
    partial: Vec<u8>,
}

pub struct Console {
    mode: Output,
    github: bool,
    out: Box<dyn Write>,
    tails: HashMap<usize, Tail>,
    bar: Option<indicatif::ProgressBar>,
}

impl Console {
    /// `to_stderr`: task output goes to stderr (stdout carries the receipt).
    /// `bar`: show a progress bar (stderr is a terminal, not CI, not quiet).
    pub fn new(mode: Output, github: bool, to_stderr: bool, bar: bool, total: usize) -> Console {
        let out: Box<dyn Write> = if to_stderr {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        let bar = bar.then(|| {
            let b = indicatif::ProgressBar::new(total as u64);
            b.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} done · {msg} · ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            b
        });
        Console {
            mode,
            github,
            out,
            tails: HashMap::new(),
            bar,
        }
    }

    /// Writes whole lines, with the progress bar out of the way.
    fn emit(&mut self, text: &[u8]) {
        if text.is_empty() {
            return;
        }
        let out = &mut self.out;
        let mut write = || {
            let _ = out.write_all(text);
            let _ = out.flush();
        };
        match &self.bar {
            Some(b) => b.suspend(write),
            None => write(),
        }
    }

    /// `prefixed`: what task `i` wrote since the last call, whole lines only
    /// unless `last` (then the rest, newline added).
    fn drain(&mut self, i: usize, last: bool) {
        let Some(t) = self.tails.get_mut(&i) else {
            return;
        };
        let prefix = format!("[{}] ", t.id);
        let mut buf = std::mem::take(&mut t.partial);
        if let Ok(mut f) = File::open(&t.path) {
            if f.seek(SeekFrom::Start(t.pos)).is_ok() {
                if let Ok(n) = f.read_to_end(&mut buf) {
                    t.pos += n as u64;
                }
            }
        }
        let cut = if last {
            buf.len()
        } else {
            buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
        };
        t.partial = buf.split_off(cut);
        let mut text = Vec::with_capacity(buf.len() + 16);
        for line in buf.split_inclusive(|&b| b == b'\n') {
            text.extend_from_slice(prefix.as_bytes());
            text.extend_from_slice(line);
            if line.last() != Some(&b'\n') {
                text.push(b'\n');
            }
        }
        self.emit(&text);
    }

    /// `grouped`: the whole attempt as one block.
    fn block(&mut self, tail: &Tail, a: &Achievement, t: &TaskState) {
        let mut body = Vec::new();
        if let Ok(mut f) = File::open(&tail.path) {
            if f.seek(SeekFrom::Start(tail.start)).is_ok() {
                let _ = f.read_to_end(&mut body);
            }
        }
        if !body.is_empty() && body.last() != Some(&b'\n') {
            body.push(b'\n');
        }
        let head = format!("{}: {} ({})", a.id, a.label(), outcome(t));
        let mut text = Vec::with_capacity(body.len() + 128);
        if self.github && !body.is_empty() {
            text.extend_from_slice(format!("::group::{head}\n").as_bytes());
            text.extend_from_slice(&body);
            text.extend_from_slice(b"::endgroup::\n");
        } else {
            text.extend_from_slice(format!("── {head}\n").as_bytes());
            text.extend_from_slice(&body);
        }
        self.emit(&text);
    }

    /// Clears the progress bar before the summary.
    pub fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

/// How an attempt ended, in words.
fn outcome(t: &TaskState) -> String {
    let secs = t.duration_ms.unwrap_or(0.0) / 1e3;
    let how = match (t.status, t.exit_code, t.signal) {
        _ if t.timed_out => "timed out".to_string(),
        (Status::Succeeded, _, _) => "ok".to_string(),
        (Status::Cached, _, _) => "cached: restored, not run".to_string(),
        (_, Some(c), _) => format!("exit {c}"),
        (_, _, Some(s)) => format!("signal {s}"),
        _ => t.because.clone().unwrap_or_else(|| "failed".into()),
    };
    let retry = if t.status == Status::Queued {
        format!(", attempt {}, will retry", t.attempts)
    } else if t.attempts > 1 {
        format!(", attempt {}", t.attempts)
    } else {
        String::new()
    };
    format!("{how} in {secs:.2} s{retry}")
}

impl Hooks for Console {
    fn started(&mut self, i: usize, a: &Achievement, t: &TaskState) {
        if self.mode == Output::Quiet {
            return;
        }
        let Some(path) = t.log.as_deref().map(PathBuf::from) else {
            return;
        };
        let start = std::fs::metadata(&path).map_or(0, |m| m.len());
        self.tails.insert(
            i,
            Tail {
                id: a.id.clone(),
                path,
                start,
                pos: start,
                partial: Vec::new(),
            },
        );
    }

    fn ended(&mut self, i: usize, a: &Achievement, t: &TaskState) {
        match self.mode {
            Output::Quiet => {}
            Output::Prefixed => {
                self.drain(i, true);
                if t.status != Status::Succeeded {
                    let line = format!("[{}] {}\n", a.id, outcome(t));
                    self.emit(line.as_bytes());
                }
            }
            Output::Grouped => {
                if let Some(tail) = self.tails.remove(&i) {
                    self.block(&tail, a, t);
                } else {
                    // Never started (the process could not be spawned).
                    let line = format!("── {}: {} ({})\n", a.id, a.label(), outcome(t));
                    self.emit(line.as_bytes());
                }
            }
        }
        self.tails.remove(&i);
    }

    fn progress(&mut self, p: Progress) {
        if let Some(b) = &self.bar {
            b.set_position(p.finished as u64);
            b.set_message(format!(
                "{} running · {} failed · {} skipped",
                p.running, p.failed, p.skipped
            ));
        }
    }

    fn tick_every(&self) -> Option<Duration> {
        (self.mode == Output::Prefixed || self.bar.is_some()).then_some(TICK)
    }

    fn tick(&mut self) {
        if self.mode != Output::Prefixed {
            return;
        }
        let running: Vec<usize> = self.tails.keys().copied().collect();
        for i in running {
            self.drain(i, false);
        }
    }
}
