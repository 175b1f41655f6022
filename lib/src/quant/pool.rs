//! A fixed team of worker threads for matrix-vector products, handed work by
//! spinning as ggml's CPU backend does, not by a task queue.
//!
//! A decode step runs ~200 matrix-vector products of a few hundred
//! microseconds or less each (SmolLM2's 576 × 576 projections take ~20 µs).
//! A general pool pays a queue push, a wake-up and a join per product, which
//! on two cores ate the second core's gain. Here the caller publishes one job
//! (a closure over part indices) by bumping an epoch counter, works on part 0
//! itself, and spins until every worker has finished its part. Workers spin
//! on the epoch for a while after each job (the next product is usually
//! microseconds away), then park until the next publish unparks them.
//!
//! Each part is a fixed range of rows, so which thread computes a row never
//! changes its bits.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Busy spins before a waiting thread starts yielding its core instead.
const SPINS_BEFORE_YIELD: u32 = 2_000;
/// Spins and yields before an idle worker parks (well under a millisecond).
const SPINS_BEFORE_PARK: u32 = 20_000;

/// The job a publish hands out: part `i` of `parts` (lifetime erased; the
/// publisher waits for every part before its borrow ends).
type Job = *const (dyn Fn(usize) + Sync);

struct Shared {
    epoch: AtomicU64,
    done: AtomicUsize,
    stop: AtomicBool,
    job: UnsafeCell<Option<Job>>,
    /// A worker's part panicked: the publisher re-raises it.
    panicked: AtomicBool,
}

// SAFETY: `job` is written only by the publisher while no worker reads it
// (between jobs, all workers have reported done) and read by workers only
// after the epoch's Release/Acquire pair makes the write visible.
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

pub struct Team {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One publish at a time: `run` takes `&self`, and two callers sharing
    /// a team would otherwise race on the job slot and the done count.
    publishing: std::sync::Mutex<()>,
}

impl Team {
    /// `threads - 1` workers (the caller is the first thread).
    pub fn new(threads: usize) -> std::io::Result<Team> {
        let shared = Arc::new(Shared {
            epoch: AtomicU64::new(0),
            done: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            job: UnsafeCell::new(None),
            panicked: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(threads.saturating_sub(1));
        for part in 1..threads.max(1) {
            let s = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("parci-matvec-{part}"))
                .spawn(move || worker(&s, part))?;
            workers.push(handle);
        }
        Ok(Team {
            shared,
            workers,
            publishing: std::sync::Mutex::new(()),
        })
    }

    /// Threads in the team, the caller included.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `f(0)` on this thread and `f(i)` on worker i, for i in 0..threads;
    /// returns when all have finished.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        if self.workers.is_empty() {
            f(0);
            return;
        }
        let _one = self
            .publishing
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let s = &*self.shared;
        // SAFETY: no worker reads `job` now (all reported done for the last
        // epoch); the transmute only erases the lifetime, and this function
        // does not return before every worker is done with it.
        unsafe {
            *s.job.get() = Some(std::mem::transmute::<*const (dyn Fn(usize) + Sync + '_), Job>(f));
        }
        s.done.store(0, Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::Release);
        for w in &self.workers {
            w.thread().unpark();
        }
        let mine = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(0)));
        let want = self.workers.len();
        let mut spins = 0u32;
        while s.done.load(Ordering::Acquire) < want {
            // On a machine busier than its cores a worker may be off-CPU:
            // past a short spin, give the core away instead of burning the
            // time slice it needs.
            spins += 1;
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
            } else {
                std::thread::yield_now();
            }
        }
        // SAFETY: every worker is done with the job.
        unsafe { *s.job.get() = None };
        if let Err(p) = mine {
            std::panic::resume_unwind(p);
        }
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a matvec worker thread panicked");
        }
    }
}

fn worker(s: &Shared, part: usize) {
    let mut seen = 0u64;
    loop {
        let mut spins = 0u32;
        let epoch = loop {
            let e = s.epoch.load(Ordering::Acquire);
            if e != seen {
                break e;
            }
            if s.stop.load(Ordering::Relaxed) {
                return;
            }
            spins += 1;
            if spins < SPINS_BEFORE_YIELD {
                std::hint::spin_loop();
            } else if spins < SPINS_BEFORE_PARK {
                // Free the core for whoever else is runnable (the caller's
                // single-threaded work included) while still answering fast.
                std::thread::yield_now();
            } else {
                // An unpark between the load above and this park makes it
                // return at once: no publish is lost.
                std::thread::park();
            }
        };
        seen = epoch;
        // SAFETY: the publisher wrote `job` before the Release bump we
        // acquired and keeps the closure alive until we report done.
        let job = unsafe { (*s.job.get()).expect("a published job") };
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { (*job)(part) }));
        if r.is_err() {
            s.panicked.store(true, Ordering::Relaxed);
        }
        s.done.fetch_add(1, Ordering::Release);
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            w.thread().unpark();
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn every_part_runs_once_per_job() {
        for threads in [1, 2, 3] {
            let team = Team::new(threads).unwrap();
            assert_eq!(team.threads(), threads);
            for round in 0..1000usize {
                let hits = Mutex::new(vec![0usize; threads]);
                team.run(&|i| hits.lock().unwrap()[i] += round + 1);
                assert_eq!(*hits.lock().unwrap(), vec![round + 1; threads]);
            }
        }
    }

    #[test]
    fn callers_sharing_a_team_take_turns() {
        let team = Team::new(2).unwrap();
        let n = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for _ in 0..2 {
                sc.spawn(|| {
                    for _ in 0..500 {
                        team.run(&|_| {
                            n.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
            }
        });
        assert_eq!(n.load(Ordering::Relaxed), 2 * 500 * 2);
    }

    #[test]
    fn parked_workers_wake_for_the_next_job() {
        let team = Team::new(2).unwrap();
        let n = AtomicUsize::new(0);
        team.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        // long enough for the worker to give up spinning and park
        std::thread::sleep(std::time::Duration::from_millis(50));
        team.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn a_worker_panic_reaches_the_caller() {
        let team = Team::new(2).unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            team.run(&|i| assert_eq!(i, 0, "part {i} fails"))
        }));
        assert!(r.is_err());
        // and the team still works afterwards
        let n = AtomicUsize::new(0);
        team.run(&|_| {
            n.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(n.load(Ordering::Relaxed), 2);
    }
}
