//! How a task's process is started, watched and stopped: where it may run
//! ([`check_dirs`]), the spawn (own process group, stdin null, output to its
//! log, a parent-death signal on Linux), one waiter thread per process that
//! reports its exit, and the signals of timeouts and interruption (SIGTERM to
//! the group, SIGKILL after the grace period).

use crate::plan::model::Command;
use crate::plan::Plan;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{self, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(super) fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A process ended: which task, how, and when.
pub(super) struct Done {
    pub i: u32,
    pub status: std::io::Result<ExitStatus>,
    pub end: Instant,
    pub end_ms: u64,
}

/// One attempt to start.
pub(super) struct Launch<'a> {
    pub command: &'a Command,
    pub dir: &'a Path,
    pub env: &'a BTreeMap<String, String>,
    pub id: &'a str,
    pub attempt: u32,
    /// Its output file (stdout and stderr).
    pub log: File,
    pub timeout: Option<Duration>,
}

/// The running processes: each one's group, start, timeout and pending
/// SIGKILL. Exits arrive on the channel [`Supervisor::new`] returns.
pub(super) struct Supervisor {
    pgid: Vec<Option<i32>>,
    started: Vec<Option<Instant>>,
    deadline: Vec<Option<Instant>>,
    kill_at: Vec<Option<Instant>>,
    /// Tasks with a process, so that policing costs O(running), not O(tasks).
    live: Vec<u32>,
    grace: Duration,
    tx: mpsc::Sender<Done>,
}

impl Supervisor {
    pub fn new(n: usize, grace: Duration) -> (Supervisor, mpsc::Receiver<Done>) {
        let (tx, rx) = mpsc::channel();
        let s = Supervisor {
            pgid: vec![None; n],
            started: vec![None; n],
            deadline: vec![None; n],
            kill_at: vec![None; n],
            live: Vec::new(),
            grace,
            tx,
        };
        (s, rx)
    }

    /// Starts task `i`. Err: why it could not be started (an attempt that
    /// failed, not an error of the run).
    pub fn spawn(&mut self, i: u32, l: Launch) -> Result<(), String> {
        let err = l
            .log
            .try_clone()
            .map_err(|e| format!("cannot share the log with stderr: {e}"))?;
        let (mut cmd, program) = match l.command {
            Command::Shell(text) => {
                // By full path: `sh` alone costs a failed execve per PATH entry.
                let mut c = process::Command::new("/bin/sh");
                c.arg("-c").arg(text);
                (c, "sh -c")
            }
            Command::Argv(v) => {
                let mut c = process::Command::new(&v[0]);
                c.args(&v[1..]);
                (c, v[0].as_str())
            }
        };
        cmd.current_dir(l.dir)
            .envs(l.env)
            .stdin(Stdio::null())
            .stdout(l.log)
            .stderr(err)
            .env("PARCI_TASK_ID", l.id)
            .env("PARCI_ATTEMPT", l.attempt.to_string())
            .process_group(0);
        #[cfg(target_os = "linux")]
        {
            let parent = std::process::id() as libc::pid_t;
            // SAFETY: prctl, getppid and _exit are async-signal-safe; nothing
            // here allocates or takes a lock.
            unsafe {
                cmd.pre_exec(move || {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    if libc::getppid() != parent {
                        libc::_exit(137);
                    }
                    Ok(())
                });
            }
        }
        let t0 = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {program} in {}: {e}", l.dir.display()))?;
        let k = i as usize;
        self.started[k] = Some(t0);
        self.pgid[k] = Some(child.id() as i32);
        self.deadline[k] = l.timeout.map(|d| t0 + d);
        self.kill_at[k] = None;
        self.live.push(i);
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            let status = child.wait();
            let _ = tx.send(Done {
                i,
                status,
                end: Instant::now(),
                end_ms: unix_ms(),
            });
        });
        Ok(())
    }

    /// When task `i`'s process started (None: it has not).
    pub fn started_at(&self, i: u32) -> Option<Instant> {
        self.started[i as usize]
    }

    /// Task `i`'s process ended: forget its group and its signals.
    pub fn ended(&mut self, i: u32) {
        let k = i as usize;
        self.pgid[k] = None;
        self.deadline[k] = None;
        self.kill_at[k] = None;
        if let Some(p) = self.live.iter().position(|&x| x == i) {
            self.live.swap_remove(p);
        }
    }

    fn signal_group(&self, i: usize, sig: i32) {
        if let Some(pg) = self.pgid[i] {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(-pg, sig);
            }
        }
    }

    /// Timeouts due: SIGTERM the group (SIGKILL after the grace period);
    /// grace periods over: SIGKILL. Returns the tasks that timed out now.
    pub fn police(&mut self, now: Instant) -> Vec<u32> {
        let mut timed_out = Vec::new();
        for k in 0..self.live.len() {
            let i = self.live[k] as usize;
            if self.deadline[i].is_some_and(|d| d <= now) {
                self.deadline[i] = None;
                timed_out.push(i as u32);
                self.signal_group(i, libc::SIGTERM);
                self.kill_at[i] = Some(now + self.grace);
            }
            if self.kill_at[i].is_some_and(|k| k <= now) {
                self.kill_at[i] = None;
                self.signal_group(i, libc::SIGKILL);
            }
        }
        timed_out
    }

    /// Every running group gets SIGTERM (SIGKILL after the grace period), or
    /// SIGKILL at once when `now_kill`.
    pub fn stop(&mut self, now: Instant, now_kill: bool) {
        for k in 0..self.live.len() {
            let i = self.live[k] as usize;
            self.deadline[i] = None;
            if now_kill {
                self.signal_group(i, libc::SIGKILL);
                self.kill_at[i] = None;
            } else if self.kill_at[i].is_none() {
                self.signal_group(i, libc::SIGTERM);
                self.kill_at[i] = Some(now + self.grace);
            }
        }
    }

    /// The next timeout or SIGKILL due.
    pub fn next_due(&self) -> Option<Instant> {
        self.live
            .iter()
            .flat_map(|&i| [self.deadline[i as usize], self.kill_at[i as usize]])
            .flatten()
            .min()
    }
}

/// Checks every `cwd` before anything runs: it must exist and stay inside
/// the plan's repository (the git work tree holding `plan_dir`, else
/// `plan_dir` itself). Err: one line per bad achievement.
pub fn check_dirs(plan: &Plan, plan_dir: &Path) -> Result<(), Vec<String>> {
    let canon = |p: &Path| p.canonicalize();
    let root = git2::Repository::discover(plan_dir)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .unwrap_or_else(|| plan_dir.to_path_buf());
    let root = canon(&root).unwrap_or(root);
    let mut bad = Vec::new();
    for a in &plan.achievements {
        let Some(c) = &a.cwd else { continue };
        match canon(&plan_dir.join(c)) {
            Err(e) => bad.push(format!(
                "{}: cwd {c:?} cannot be used ({e}); create the folder or fix the path",
                a.id
            )),
            Ok(p) if !p.starts_with(&root) => bad.push(format!(
                "{}: cwd {c:?} is {}, outside the repository {}; use a folder inside it",
                a.id,
                p.display(),
                root.display()
            )),
            Ok(p) if !p.is_dir() => bad.push(format!(
                "{}: cwd {c:?} is not a folder; name a folder",
                a.id
            )),
            Ok(_) => {}
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(bad)
    }
}
