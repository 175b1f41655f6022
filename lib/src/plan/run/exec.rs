//! The run itself: which tasks are ready, what each transition leads to
//! (success releases dependents, failure stops or skips, a failed attempt may
//! be retried, a hook may send a success round again), and the loop that
//! starts ready tasks, waits for exits, timeouts and retries, and hands every
//! batch of transitions to the journal.

use super::journal::{Header, Journal};
use super::logs::Logs;
use super::process::{unix_ms, Done, Launch, Supervisor};
use super::resources::{self, Budget};
use super::retry::{backoff, jittered, random_unit};
use super::schedule::{ranks, weights};
use super::state::{Attempt, StateFile, Status, TaskState};
use super::{After, Hooks, Options, Outcome, Progress, RunError};
use crate::plan::{Dag, Plan};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct Exec<'a> {
    plan: &'a Plan,
    dag: &'a Dag,
    opts: &'a Options,
    tasks: Vec<TaskState>,
    /// Dependencies not yet succeeded.
    waiting: Vec<u32>,
    rank: Vec<u32>,
    by_rank: Vec<u32>,
    ready: BinaryHeap<Reverse<u32>>,
    completion: Vec<u32>,
    running: usize,
    /// Resources held by the running tasks.
    used: Budget,
    exclusive_running: bool,
    failed: bool,
    /// Tasks changed since the last batch went to the journal.
    dirty: Vec<u32>,
    procs: Supervisor,
    logs: Option<Logs>,
    /// Failed attempts waiting for their retry.
    delayed: Vec<(Instant, u32)>,
    stopping: bool,
    /// Tasks a hook sent round again ([`After::Again`]) and their reason.
    again: Vec<Option<String>>,
    hooks: &'a mut dyn Hooks,
}

impl Exec<'_> {
    fn succeed(&mut self, i: u32) {
        self.tasks[i as usize].status = Status::Succeeded;
        self.release(i);
    }

    /// `i` is done: its dependents wait for one dependency less.
    fn release(&mut self, i: u32) {
        self.dirty.push(i);
        for &d in self.dag.dependents(i) {
            let w = &mut self.waiting[d as usize];
            *w -= 1;
            if *w == 0 && self.tasks[d as usize].status == Status::Queued {
                self.ready.push(Reverse(self.rank[d as usize]));
            }
        }
    }

    fn fail(&mut self, i: u32) {
        self.tasks[i as usize].status = Status::Failed;
        self.dirty.push(i);
        self.failed = true;
        if !self.opts.keep_going {
            return;
        }
        let cause = self.plan.achievements[i as usize].id.clone();
        let mut stack: Vec<u32> = self.dag.dependents(i).to_vec();
        while let Some(d) = stack.pop() {
            let t = &mut self.tasks[d as usize];
            if t.status != Status::Queued {
                continue;
            }
            t.status = Status::Skipped;
            self.dirty.push(d);
            t.because = Some(cause.clone());
            stack.extend_from_slice(self.dag.dependents(d));
        }
    }

    /// The journal records of the tasks changed since the last call: (task,
    /// its state's JSON), each task once.
    fn records(&mut self) -> Vec<(u32, String)> {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        dirty
            .into_iter()
            .map(|i| {
                let json = serde_json::to_string(&self.tasks[i as usize])
                    .expect("a task state serializes");
                (i, json)
            })
            .collect()
    }

    /// Serves task `i` from the cache when its key hits: outputs restored,
    /// log written to `log_path`, status `cached`, dependents released.
    fn cached(&mut self, i: u32, log_path: &std::path::Path) -> bool {
        let Some(c) = &self.opts.cache else {
            return false;
        };
        let a = &self.plan.achievements[i as usize];
        let start = unix_ms();
        let t0 = Instant::now();
        c.refresh(self.plan, self.dag, i);
        let Some(log) = c.hit(i as usize, &a.id) else {
            return false;
        };
        let t = &mut self.tasks[i as usize];
        t.status = Status::Cached;
        t.log = Some(log_path.to_string_lossy().into_owned());
        t.start_ms = Some(start);
        self.hooks.started(i as usize, a, &self.tasks[i as usize]);
        if let Err(e) = std::fs::write(log_path, &log) {
            tracing::warn!(task = %a.id, "cannot replay the cached log: {e}");
        }
        let t = &mut self.tasks[i as usize];
        t.end_ms = Some(unix_ms());
        t.duration_ms = Some(t0.elapsed().as_secs_f64() * 1e3);
        self.dirty.push(i);
        self.completion.push(i);
        self.release(i);
        self.hooks.ended(i as usize, a, &self.tasks[i as usize]);
        true
    }

    /// Starts task `i`; a process that cannot be started is a recorded failure.
    fn start(&mut self, i: u32) -> Result<(), RunError> {
        let plan = self.plan;
        let a = &plan.achievements[i as usize];
        let command = a.command.as_ref().expect("milestones never start");
        let base = self.hooks.workdir(a, self.again[i as usize].is_some());
        let dir = match (&base, &a.cwd) {
            (Ok(Some(b)), Some(c)) => b.join(c),
            (Ok(Some(b)), None) => b.clone(),
            (_, Some(c)) => self.opts.workdir.join(c),
            (_, None) => self.opts.workdir.clone(),
        };
        let log_path = self.opts.log_dir.join(format!("{}.log", a.id));
        let first = self.tasks[i as usize].attempts == 0;
        if first && self.cached(i, &log_path) {
            return Ok(());
        }
        let logs = self.logs.as_ref().expect("logs live while tasks start");
        let log = logs.open(i, &log_path, first).map_err(|e| {
            RunError::Io(format!(
                "{}: cannot create the log: {e}",
                log_path.display()
            ))
        })?;
        let t = &mut self.tasks[i as usize];
        t.attempts += 1;
        t.status = Status::Running;
        self.dirty.push(i);
        t.log = Some(log_path.to_string_lossy().into_owned());
        t.start_ms = Some(unix_ms());
        t.timed_out = false;
        // Before the spawn: the log holds nothing of this attempt yet.
        self.hooks.started(i as usize, a, t);
        let timeout = a
            .timeout_s
            .map(Duration::from_secs_f64)
            .or(self.opts.timeout);
        let spawned = base.and_then(|_| {
            self.procs.spawn(
                i,
                Launch {
                    command,
                    dir: &dir,
                    env: &a.env,
                    id: &a.id,
                    attempt: t.attempts,
                    log,
                    timeout,
                },
            )
        });
        match spawned {
            Ok(()) => {
                self.running += 1;
                self.used.add(resources::need(a));
                self.exclusive_running |= a.exclusive;
            }
            Err(msg) => {
                if let Ok(mut f) = std::fs::File::options().append(true).open(&log_path) {
                    let _ = writeln!(f, "run-parallel: {msg}");
                }
                let t = &mut self.tasks[i as usize];
                t.end_ms = t.start_ms;
                t.duration_ms = Some(0.0);
                t.because = Some(msg);
                (t.exit_code, t.signal, t.timed_out) = (None, None, false);
                t.history.push(Attempt {
                    exit_code: None,
                    signal: None,
                    duration_ms: 0.0,
                    timed_out: false,
                });
                self.completion.push(i);
                self.fail(i);
                self.hooks.ended(i as usize, a, &self.tasks[i as usize]);
            }
        }
        Ok(())
    }

    fn finish(&mut self, d: Done) {
        use std::os::unix::process::ExitStatusExt;
        let i = d.i as usize;
        self.running -= 1;
        self.used.sub(resources::need(&self.plan.achievements[i]));
        let started = self.procs.started_at(d.i);
        self.procs.ended(d.i);
        if self.plan.achievements[i].exclusive {
            self.exclusive_running = false;
        }
        let t = &mut self.tasks[i];
        t.end_ms = Some(d.end_ms);
        if let Some(s) = started {
            t.duration_ms = Some(d.end.duration_since(s).as_secs_f64() * 1e3);
        }
        let ok = match d.status {
            Ok(st) => {
                t.exit_code = st.code();
                t.signal = st.signal();
                st.success()
            }
            Err(e) => {
                t.because = Some(format!("cannot wait for the process: {e}"));
                false
            }
        };
        t.history.push(Attempt {
            exit_code: t.exit_code,
            signal: t.signal,
            duration_ms: t.duration_ms.unwrap_or(0.0),
            timed_out: t.timed_out,
        });
        if t.timed_out && !ok {
            let secs = self.plan.achievements[i]
                .timeout_s
                .or(self.opts.timeout.map(|d| d.as_secs_f64()))
                .unwrap_or(0.0);
            t.because = Some(format!("timeout after {secs} s"));
        }
        let retries = self.plan.achievements[i]
            .retries
            .map_or(self.opts.retries, |r| r.min(u32::MAX as u64) as u32);
        let a = &self.plan.achievements[i];
        if !ok && self.stopping {
            t.status = Status::Interrupted;
            self.dirty.push(d.i);
            self.completion.push(d.i);
        } else if !ok && t.attempts <= retries {
            t.status = Status::Queued;
            self.dirty.push(d.i);
            let mut wait = backoff(self.opts.retry_backoff, t.attempts);
            if self.opts.retry_jitter {
                wait = jittered(wait, random_unit());
            }
            self.delayed.push((Instant::now() + wait, d.i));
        } else if !ok {
            self.completion.push(d.i);
            self.fail(d.i);
        } else {
            match self.hooks.succeeded(i, a) {
                After::Done => {
                    if let (Some(c), Some(log)) = (&self.opts.cache, &t.log) {
                        c.save(i, &a.id, &a.outputs, std::path::Path::new(log));
                    }
                    self.completion.push(d.i);
                    self.succeed(d.i);
                }
                After::Again(why) if self.again[i].is_none() && !self.stopping => {
                    self.again[i] = Some(why);
                    t.status = Status::Queued;
                    self.dirty.push(d.i);
                    self.ready.push(Reverse(self.rank[i]));
                }
                After::Again(why) | After::Fail(why) => {
                    t.because = Some(why);
                    self.completion.push(d.i);
                    self.fail(d.i);
                }
            }
        }
        self.hooks.ended(i, a, &self.tasks[i]);
    }

    /// Counts for [`Hooks::progress`].
    fn progress(&self) -> Progress {
        let mut p = Progress {
            total: self.tasks.len(),
            running: self.running,
            ..Progress::default()
        };
        for t in &self.tasks {
            match t.status {
                Status::Succeeded | Status::Excluded | Status::Cached => p.finished += 1,
                Status::Failed | Status::Interrupted => {
                    p.finished += 1;
                    p.failed += 1
                }
                Status::Skipped => {
                    p.finished += 1;
                    p.skipped += 1
                }
                _ => {}
            }
        }
        p
    }

    /// Timeouts due and grace periods over ([`Supervisor::police`]).
    fn police(&mut self, now: Instant) {
        for i in self.procs.police(now) {
            self.tasks[i as usize].timed_out = true;
        }
    }

    /// Stops the run: nothing new starts, every running group gets SIGTERM
    /// (SIGKILL after the grace period, or at once when `now_kill`).
    fn stop(&mut self, now: Instant, now_kill: bool) {
        self.stopping = true;
        self.delayed.clear();
        self.procs.stop(now, now_kill);
    }

    /// The next moment something is due (a timeout, a SIGKILL, a retry).
    fn next_due(&self) -> Option<Instant> {
        let a = self.procs.next_due();
        let b = self.delayed.iter().map(|d| d.0).min();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// The tasks' states before anything runs: queued, or kept from `previous`
/// when resuming (it succeeded with the same command hash and every
/// dependency is kept too; a milestone is kept when everything under it is).
fn initial(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    previous: Option<&StateFile>,
    resume: bool,
) -> Vec<TaskState> {
    let mut tasks: Vec<TaskState> = plan
        .achievements
        .iter()
        .map(|a| TaskState::new(a.command_hash()))
        .collect();
    let (true, Some(prev)) = (resume, previous) else {
        return tasks;
    };
    let mut kept = vec![false; tasks.len()];
    for &i in order {
        let i = i as usize;
        let a = &plan.achievements[i];
        let deps_kept = dag.deps(i as u32).iter().all(|&d| kept[d as usize]);
        if a.command.is_none() {
            kept[i] = deps_kept;
            continue;
        }
        let Some(p) = prev.tasks.get(&a.id) else {
            continue;
        };
        if deps_kept && p.status == Status::Succeeded && p.command_hash == tasks[i].command_hash {
            kept[i] = true;
            let t = &mut tasks[i];
            t.status = Status::Succeeded;
            t.resumed = true;
            t.duration_ms = p.duration_ms;
            t.log = p.log.clone();
        }
    }
    tasks
}

/// Runs the plan. `order` is a topological order of `dag` (the plan is valid).
/// `previous` is the state file read before the run (for resume and weights).
pub fn run(
    plan: &Plan,
    dag: &Dag,
    order: &[u32],
    previous: Option<&StateFile>,
    opts: &Options,
    hooks: &mut dyn Hooks,
) -> Result<Outcome, RunError> {
    assert!(opts.jobs >= 1, "jobs >= 1 is checked by the caller");
    let n = plan.achievements.len();
    std::fs::create_dir_all(&opts.log_dir).map_err(|e| {
        RunError::Io(format!(
            "{}: cannot create the log folder: {e}",
            opts.log_dir.display()
        ))
    })?;
    let rank = ranks(plan, dag, order, &weights(plan, previous));
    let mut by_rank = vec![0u32; n];
    for (i, &r) in rank.iter().enumerate() {
        by_rank[r as usize] = i as u32;
    }
    let (procs, rx) = Supervisor::new(n, opts.grace);
    let mut ex = Exec {
        plan,
        dag,
        opts,
        waiting: (0..n as u32).map(|i| dag.deps(i).len() as u32).collect(),
        tasks: initial(plan, dag, order, previous, opts.resume),
        rank,
        by_rank,
        ready: BinaryHeap::new(),
        completion: Vec::new(),
        running: 0,
        used: Budget {
            cpus: 0.0,
            memory_mb: 0.0,
        },
        exclusive_running: false,
        failed: false,
        dirty: Vec::new(),
        procs,
        logs: None,
        delayed: Vec::new(),
        stopping: false,
        again: vec![None; n],
        hooks,
    };
    let tick = ex.hooks.tick_every();
    let mut wait_cap = Duration::from_secs(3600);
    // Resumed tasks count as succeeded dependencies; the rest with nothing to
    // wait for are ready.
    for &i in order {
        if opts.exclude.get(i as usize).copied().unwrap_or(false) {
            let t = &mut ex.tasks[i as usize];
            t.status = Status::Excluded;
            t.resumed = false;
            t.duration_ms = None;
            ex.release(i);
        } else if ex.tasks[i as usize].resumed {
            ex.succeed(i);
        }
    }
    for i in 0..n as u32 {
        if dag.deps(i).is_empty() && ex.tasks[i as usize].status == Status::Queued {
            ex.ready.push(Reverse(ex.rank[i as usize]));
        }
    }
    // Logs of the tasks that may run, in the order they are picked; a few
    // per slot ahead, so a chain never waits for a file to be created.
    let ahead = (ex.by_rank.iter())
        .filter(|&&i| {
            plan.achievements[i as usize].command.is_some()
                && ex.tasks[i as usize].status == Status::Queued
        })
        .map(|&i| {
            let id = &plan.achievements[i as usize].id;
            (i, opts.log_dir.join(format!("{id}.log")))
        })
        .collect();
    ex.logs = Some(Logs::start(n, ahead, (4 * opts.jobs).clamp(8, 64)));
    let header = Header {
        run_id: opts.run_id.clone(),
        plan_sha256: opts.plan_sha256.clone(),
        jobs: opts.jobs,
        mode: if opts.keep_going {
            "keep-going"
        } else {
            "fail-fast"
        },
    };
    let ids = (plan.achievements.iter())
        .map(|a| serde_json::to_string(&a.id).expect("a string serializes"))
        .collect();
    let states = (ex.tasks.iter())
        .map(|t| serde_json::to_string(t).expect("a task state serializes"))
        .collect();
    ex.dirty.clear();
    let t0 = Instant::now();
    let journal = Journal::start(&opts.state_path, header, ids, states)?;
    let mut interrupts_seen = 0;
    // Interrupt flags are polled; hooks ask for their own period.
    if opts.interrupt.is_some() {
        wait_cap = Duration::from_millis(50);
    }
    if let Some(every) = tick {
        wait_cap = wait_cap.min(every);
    }
    loop {
        let now = Instant::now();
        let intr = opts
            .interrupt
            .map_or(0, |a| a.load(std::sync::atomic::Ordering::SeqCst));
        if intr > interrupts_seen {
            interrupts_seen = intr;
            ex.stop(now, intr >= 2);
        }
        ex.police(now);
        let stopped = ex.stopping || (ex.failed && !opts.keep_going);
        if stopped {
            ex.delayed.clear();
        }
        let mut k = 0;
        while k < ex.delayed.len() {
            if ex.delayed[k].0 <= now {
                let (_, i) = ex.delayed.swap_remove(k);
                ex.ready.push(Reverse(ex.rank[i as usize]));
            } else {
                k += 1;
            }
        }
        let mut load_held = false;
        loop {
            if ex.stopping || (ex.failed && !opts.keep_going) {
                break;
            }
            let Some(&Reverse(r)) = ex.ready.peek() else {
                break;
            };
            let i = ex.by_rank[r as usize];
            let a = &plan.achievements[i as usize];
            // Excluded after it became ready (its dependencies were
            // excluded before it in the first pass): never start it.
            if ex.tasks[i as usize].status != Status::Queued {
                ex.ready.pop();
                continue;
            }
            if a.command.is_none() {
                ex.ready.pop();
                ex.completion.push(i);
                ex.succeed(i);
                continue;
            }
            if ex.exclusive_running || ex.running >= opts.jobs || (a.exclusive && ex.running > 0) {
                break;
            }
            // the top task waits for room (never overtaken: no starvation)
            if ex.running > 0 && !opts.budget.fits(ex.used, resources::need(a)) {
                break;
            }
            if ex.running > 0 {
                if let Some(l) = opts.max_load {
                    if resources::load_average().is_some_and(|x| x >= l) {
                        load_held = true;
                        break;
                    }
                }
            }
            ex.ready.pop();
            ex.start(i)?;
        }
        if ex.running == 0 && (ex.delayed.is_empty() || stopped) {
            break;
        }
        journal.submit(ex.records())?;
        if tick.is_some() {
            let p = ex.progress();
            ex.hooks.progress(p);
            ex.hooks.tick();
        }
        let mut wait = ex.next_due().map_or(Duration::from_secs(3600), |d| {
            d.saturating_duration_since(now)
        });
        wait = wait.min(wait_cap);
        if load_held {
            // look at the load again soon
            wait = wait.min(Duration::from_millis(250));
        }
        match rx.recv_timeout(wait) {
            Ok(d) => ex.finish(d),
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the supervisor holds tx"),
        }
        while let Ok(d) = rx.try_recv() {
            ex.finish(d);
        }
    }
    // Files made ahead for tasks that never started go now.
    ex.logs = None;
    for i in 0..n {
        if ex.tasks[i].status == Status::Queued {
            // Keep-going skips dependents of a failure explicitly; what is
            // still queued was stopped by fail-fast or an interruption.
            ex.tasks[i].status = Status::NotRun;
            ex.dirty.push(i as u32);
        }
    }
    if tick.is_some() {
        let p = ex.progress();
        ex.hooks.progress(p);
    }
    journal.finish(ex.records())?;
    Ok(Outcome {
        makespan_ms: t0.elapsed().as_secs_f64() * 1e3,
        tasks: ex.tasks,
        completion_order: ex.completion,
        had_previous: previous.is_some(),
        interrupted: ex.stopping,
    })
}
