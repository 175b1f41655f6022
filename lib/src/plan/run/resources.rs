//! Resource budgets, as ninja's pools and Bazel's local resources have
//! them: an achievement may declare `cpus` and `memory_mb`; a task starts
//! only when its needs fit beside those of the tasks running, within
//! `--cpus` and `--memory` (default: the machine's). A task that declares
//! nothing needs nothing (so plans without these fields run as before). The
//! ready task of highest rank waits for room rather than being overtaken,
//! so a large task is never starved by small ones. A task that could never
//! fit is refused before the run starts. `-l LOAD` holds new tasks back
//! while the 1-minute load average is at or above LOAD and a task is
//! running, as `make -l` and `ninja -l` do.

use crate::plan::model::Achievement;

/// What may run at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Budget {
    pub cpus: f64,
    pub memory_mb: f64,
}

/// What a task needs (zero when it declares nothing).
pub fn need(a: &Achievement) -> Budget {
    Budget {
        cpus: a.cpus.unwrap_or(0.0),
        memory_mb: a.memory_mb.unwrap_or(0.0),
    }
}

impl Budget {
    /// No limit.
    pub const UNLIMITED: Budget = Budget {
        cpus: f64::INFINITY,
        memory_mb: f64::INFINITY,
    };

    /// This machine's logical CPUs and memory.
    pub fn machine() -> Budget {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        use sysinfo::{MemoryRefreshKind, RefreshKind, System};
        let s = System::new_with_specifics(
            RefreshKind::nothing().with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        Budget {
            cpus,
            // unknown memory: no memory limit
            memory_mb: s
                .ok()
                .map(|s| s.total_memory())
                .filter(|&m| m > 0)
                .map_or(f64::INFINITY, |m| (m / (1 << 20)) as f64),
        }
    }

    /// Whether `need` fits beside `used`.
    pub fn fits(&self, used: Budget, need: Budget) -> bool {
        used.cpus + need.cpus <= self.cpus + 1e-9
            && used.memory_mb + need.memory_mb <= self.memory_mb + 1e-9
    }

    pub fn add(&mut self, b: Budget) {
        self.cpus += b.cpus;
        self.memory_mb += b.memory_mb;
    }

    pub fn sub(&mut self, b: Budget) {
        self.cpus -= b.cpus;
        self.memory_mb -= b.memory_mb;
    }
}

/// Tasks that need more than the whole budget, as messages (ID first).
pub fn too_large(achievements: &[Achievement], budget: &Budget) -> Vec<String> {
    achievements
        .iter()
        .filter(|a| a.command.is_some())
        .filter_map(|a| {
            let n = need(a);
            (!budget.fits(Budget { cpus: 0.0, memory_mb: 0.0 }, n)).then(|| {
                format!(
                    "{} needs {} CPUs and {} MB but the budget is {} CPUs and {} MB; raise --cpus/--memory or lower its cpus/memory_mb",
                    a.id, n.cpus, n.memory_mb, budget.cpus, budget.memory_mb
                )
            })
        })
        .collect()
}

/// The 1-minute load average (Linux `/proc/loadavg`), if known.
pub fn load_average() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/loadavg").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
