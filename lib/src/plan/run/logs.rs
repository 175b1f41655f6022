//! Where task output goes: `<log_dir>/<ID>.log`, truncated by the first
//! attempt of a run, appended to by retries.
//!
//! Creating a file is not free: on ext4 under a neighbour's I/O it was measured
//! at 0.7 ms (median; tens of µs on tmpfs), most of run-parallel's per-task
//! cost in a chain, where every start is on the critical path
//! (docs/performance.md). So a helper thread creates the logs ahead of the
//! scheduler, in rank order (the order tasks are picked in), holding at most a
//! few open files, and the scheduler takes an opened file when there is one.
//! Opening in the child instead (between fork and exec) would take the cost
//! off the scheduler's thread but not off a chain's critical path. A task the
//! helper has not reached yet is opened by the scheduler as before; one the
//! helper is opening right now is waited for (at most one open), so a file is
//! never truncated after its task started writing. Files made ahead for tasks
//! that never start (fail-fast, interruption) are removed at the end, so the
//! folder holds a log for every task that ran and nothing else.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

enum Slot {
    /// Not made ahead (yet).
    Idle,
    /// The helper is creating it.
    Opening,
    /// Created ahead, empty, waiting for its task.
    Ready(File, PathBuf),
    /// The scheduler has it (or made it itself): the helper keeps off.
    Taken,
}

struct Pool {
    slots: Vec<Slot>,
    /// Files in `Ready` or `Opening`.
    held: usize,
    /// At most this many held.
    cap: usize,
    stop: bool,
}

struct Shared {
    pool: Mutex<Pool>,
    /// The helper waits here for room (woken when half the files are taken,
    /// not at every take: one wake-up per cap / 2 tasks).
    room: Condvar,
    /// The scheduler waits here for a file the helper is opening.
    opened: Condvar,
}

fn lock(s: &Shared) -> MutexGuard<'_, Pool> {
    s.pool.lock().unwrap_or_else(|e| e.into_inner())
}

/// The log files of one run.
pub(super) struct Logs {
    shared: Arc<Shared>,
    helper: Option<JoinHandle<()>>,
}

impl Logs {
    /// Starts the helper on `ahead`: (task, its log path) in the order the
    /// tasks are expected to start, of `n` tasks in all; it holds at most
    /// `cap` files made ahead.
    pub fn start(n: usize, ahead: Vec<(u32, PathBuf)>, cap: usize) -> Logs {
        let shared = Arc::new(Shared {
            pool: Mutex::new(Pool {
                slots: (0..n).map(|_| Slot::Idle).collect(),
                held: 0,
                cap: cap.max(1),
                stop: false,
            }),
            room: Condvar::new(),
            opened: Condvar::new(),
        });
        let s = shared.clone();
        let helper = (!ahead.is_empty()).then(|| {
            std::thread::Builder::new()
                .name("parci-logs".into())
                .spawn(move || make_ahead(&s, ahead))
                .expect("a thread starts")
        });
        Logs { shared, helper }
    }

    /// The output file of task `i`'s next attempt at `path`: the first attempt
    /// (`first`) starts it empty, later ones append.
    pub fn open(&self, i: u32, path: &PathBuf, first: bool) -> io::Result<File> {
        if !first {
            return File::options().create(true).append(true).open(path);
        }
        let mut g = lock(&self.shared);
        loop {
            match std::mem::replace(&mut g.slots[i as usize], Slot::Taken) {
                Slot::Ready(f, _) => {
                    g.held -= 1;
                    if g.held == g.cap / 2 {
                        self.shared.room.notify_one();
                    }
                    return Ok(f);
                }
                Slot::Opening => {
                    g.slots[i as usize] = Slot::Opening;
                    g = self
                        .shared
                        .opened
                        .wait(g)
                        .unwrap_or_else(|e| e.into_inner());
                }
                Slot::Idle | Slot::Taken => break,
            }
        }
        drop(g);
        File::options()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
    }
}

impl Drop for Logs {
    /// Stops the helper and removes what it made for tasks that never started.
    fn drop(&mut self) {
        lock(&self.shared).stop = true;
        self.shared.room.notify_all();
        if let Some(h) = self.helper.take() {
            let _ = h.join();
        }
        let mut g = lock(&self.shared);
        for s in &mut g.slots {
            if let Slot::Ready(f, path) = std::mem::replace(s, Slot::Taken) {
                drop(f);
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// The helper: creates the logs in `ahead` order, `cap` at most held; when
/// full, it waits until half are taken.
fn make_ahead(s: &Shared, ahead: Vec<(u32, PathBuf)>) {
    for (i, path) in ahead {
        let k = i as usize;
        {
            let mut g = lock(s);
            if g.held >= g.cap {
                while !g.stop && g.held > g.cap / 2 && matches!(g.slots[k], Slot::Idle) {
                    g = s.room.wait(g).unwrap_or_else(|e| e.into_inner());
                }
            }
            if g.stop {
                return;
            }
            if !matches!(g.slots[k], Slot::Idle) {
                continue;
            }
            g.slots[k] = Slot::Opening;
            g.held += 1;
        }
        let f = File::options()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&path);
        let mut g = lock(s);
        g.slots[k] = match f {
            Ok(f) => Slot::Ready(f, path),
            Err(_) => {
                // The scheduler opens it itself and reports the error.
                g.held -= 1;
                Slot::Idle
            }
        };
        s.opened.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_ahead_or_not_every_first_attempt_starts_empty_and_retries_append() {
        let t = tempfile::tempdir().unwrap();
        let path = |i: u32| t.path().join(format!("{i}.log"));
        for i in 0..6 {
            std::fs::write(path(i), "from an earlier run\n").unwrap();
        }
        // Tasks 0..4 are made ahead (two at a time), 4 and 5 are not.
        let logs = Logs::start(6, (0..4).map(|i| (i, path(i))).collect(), 2);
        for i in [1, 0, 5, 3, 2, 4] {
            let mut f = logs.open(i, &path(i), true).unwrap();
            io::Write::write_all(&mut f, b"attempt 1\n").unwrap();
            let mut f = logs.open(i, &path(i), false).unwrap();
            io::Write::write_all(&mut f, b"attempt 2\n").unwrap();
        }
        drop(logs);
        for i in 0..6 {
            let text = std::fs::read_to_string(path(i)).unwrap();
            assert_eq!(text, "attempt 1\nattempt 2\n", "task {i}");
        }
    }

    #[test]
    fn logs_made_for_tasks_that_never_started_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let path = |i: u32| t.path().join(format!("{i}.log"));
        let logs = Logs::start(3, (0..3).map(|i| (i, path(i))).collect(), 8);
        drop(logs.open(1, &path(1), true).unwrap());
        drop(logs);
        assert!(path(1).exists());
        assert!(!path(0).exists() && !path(2).exists());
    }
}
