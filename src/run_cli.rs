//! run-parallel's CLI side: argument parsers, the signal handler that feeds
//! the executor's interrupt counter, receipt inputs and the summary line.

use parci_core::plan::run::{Outcome, Status};
use parci_core::plan::Plan;
use serde_json::{json, Map, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

pub fn parse_jobs(s: &str) -> Result<usize, String> {
    if s == "auto" {
        return Ok(std::thread::available_parallelism().map_or(1, |n| n.get()));
    }
    match s.parse::<usize>() {
        Ok(0) => Err("-j 0 runs nothing; give 1 or more, or auto".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{s:?} is not a number; give 1 or more, or auto")),
    }
}

pub fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && (0.0..=1e9).contains(&x) => Ok(x),
        _ => Err(format!("{s:?} is not a number of seconds >= 0")),
    }
}

/// Ctrl-C and SIGTERM requests: the first stops the run gracefully, a second
/// kills the running tasks at once (plan::run polls this).
pub static INTERRUPTS: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

pub fn catch_interrupts() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Holds `.parci/run.lock` beside the state file with `flock` for as long
/// as it lives: a second run-parallel on the same plan is refused instead of
/// racing the first over the state file. The kernel drops the lock when the
/// process dies, even by SIGKILL.
pub struct RunLock(#[allow(dead_code)] std::fs::File);

pub fn lock(state_path: &Path) -> anyhow::Result<RunLock> {
    use std::os::fd::AsRawFd;
    let path = state_path.with_file_name("run.lock");
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| anyhow::anyhow!("{}: cannot create: {e}", d.display()))?;
    }
    let f = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("{}: cannot open: {e}", path.display()))?;
    // SAFETY: flock on a file descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        anyhow::bail!(
            "{}: another run-parallel is running this plan; wait for it or stop it",
            path.display()
        );
    }
    Ok(RunLock(f))
}

/// This run's ID: Unix seconds and the process ID (names the log folder).
pub fn run_id() -> String {
    format!(
        "{}-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        std::process::id()
    )
}

/// The receipt's `inputs.commands`: ID -> command hash (null for milestones).
pub fn commands(plan: &Plan) -> Value {
    let m: Map<String, Value> = plan
        .achievements
        .iter()
        .map(|a| (a.id.clone(), json!(a.command_hash())))
        .collect();
    Value::Object(m)
}

/// The one-line end summary.
pub fn summary(o: &Outcome, jobs: usize, log_dir: &Path) -> String {
    let mut parts = vec![format!(
        "{} succeeded ({} resumed)",
        o.count(Status::Succeeded),
        o.tasks.iter().filter(|t| t.resumed).count()
    )];
    for (s, what) in [
        (Status::Failed, "failed"),
        (Status::Skipped, "skipped"),
        (Status::NotRun, "not run"),
        (Status::Interrupted, "interrupted"),
        (Status::Excluded, "excluded"),
    ] {
        let n = o.count(s);
        if n > 0 || matches!(s, Status::Failed) {
            parts.push(format!("{n} {what}"));
        }
    }
    format!(
        "run-parallel: {} tasks: {} in {:.2} s at -j {jobs}; logs in {}\n",
        o.tasks.len(),
        parts.join(", "),
        o.makespan_ms / 1e3,
        log_dir.display()
    )
}

pub fn clip(lines: &[String], n: usize) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().take(n).cloned().collect();
    if lines.len() > n {
        v.push(format!("… and {} more", lines.len() - n));
    }
    v
}
