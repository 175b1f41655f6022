//! The in-process sampler, for the built-in workload when perf is missing or
//! refused: `pprof` (SIGPROF timer, CPU time of this process) with its
//! frame-pointer unwinder, which checks every frame address before reading
//! it, plus a blocklist so samples landing inside libc, libgcc, pthread or
//! the vDSO are dropped rather than unwound (the classic unwinding hazards).
//! Stacks are only as deep as frame pointers go: build with `cargo profiling`.

use super::folded::Folded;
use super::ProfileError;
use std::time::{Duration, Instant};

/// Name of this sampler in receipts.
pub const NAME: &str = "pprof";

/// Shared objects whose samples are dropped, not unwound.
pub const BLOCKLIST: &[&str] = &["libc", "libgcc", "pthread", "vdso"];

/// Whether this build can sample in-process.
pub const AVAILABLE: bool = cfg!(target_os = "linux");

/// Version of the sampling crate, for the receipt.
pub const VERSION: &str = "pprof 0.15 (frame-pointer unwinder)";

/// Runs `work` while sampling this process at `frequency` Hz; returns its
/// result, the folded stacks (root = thread name) and the wall time.
#[cfg(target_os = "linux")]
pub fn sample<T>(
    frequency: u32,
    work: impl FnOnce() -> T,
) -> Result<(T, Folded, Duration), ProfileError> {
    let freq = i32::try_from(frequency).unwrap_or(i32::MAX);
    let guard = pprof::ProfilerGuardBuilder::default()
        .frequency(freq)
        .blocklist(BLOCKLIST)
        .build()
        .map_err(|e| ProfileError::Sampler(format!("cannot start the in-process sampler: {e}")))?;
    let t = Instant::now();
    let value = work();
    let wall = t.elapsed();
    let report = guard
        .report()
        .build()
        .map_err(|e| ProfileError::Sampler(format!("in-process sampler report failed: {e}")))?;
    drop(guard);
    let mut folded = Folded::new();
    for (frames, &count) in &report.data {
        let mut stack = vec![frames.thread_name_or_id()];
        for frame in frames.frames.iter().rev() {
            for sym in frame.iter().rev() {
                let raw = String::from_utf8_lossy(sym.raw_name()).into_owned();
                let file = sym
                    .filename
                    .as_ref()
                    .map(|f| f.to_string_lossy().into_owned());
                stack.push(qualify(&raw, file.as_deref()));
            }
        }
        // Frames of the sampler itself sit at the leaf end; drop them.
        while stack.len() > 1
            && stack.last().is_some_and(|f| {
                f.starts_with("pprof::") || f.starts_with("backtrace::") || f == "__restore_rt"
            })
        {
            stack.pop();
        }
        folded.add_frames(&stack, u64::try_from(count).unwrap_or(0));
    }
    Ok((value, folded, wall))
}

/// A frame name as perf would show it. Symbols resolved from DWARF carry
/// short names (`chunked_row<…>`, `{closure#0}`), not the mangled path; for
/// parci-core's own code the path is rebuilt from the source file
/// (`lib/src/quant/matvec.rs` → `parci_core::quant::matvec::`), so names and
/// the kernel share match what perf reports.
pub fn qualify(raw: &str, file: Option<&str>) -> String {
    let name = super::perf_script::demangle(raw);
    if rustc_demangle::try_demangle(raw).is_ok() || name.starts_with("parci_core::") {
        return name;
    }
    let Some(rel) = file
        .and_then(|f| f.rsplit_once("/lib/src/"))
        .map(|(_, r)| r)
    else {
        return name;
    };
    let module = rel
        .strip_suffix(".rs")
        .unwrap_or(rel)
        .trim_end_matches("/mod")
        .replace('/', "::");
    if module == "lib" {
        format!("parci_core::{name}")
    } else {
        format!("parci_core::{module}::{name}")
    }
}

#[cfg(not(target_os = "linux"))]
pub fn sample<T>(
    _frequency: u32,
    _work: impl FnOnce() -> T,
) -> Result<(T, Folded, Duration), ProfileError> {
    Err(ProfileError::Sampler(
        "in-process sampling is only built on Linux".into(),
    ))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// This process's CPU time: the clock the sampler's SIGPROF timer runs on.
    fn cpu_time() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes the timespec we pass and nothing else.
        unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Spins until the process used `ms` of CPU time (not wall time: on a
    /// loaded machine 300 ms of wall time can be almost no CPU time, and the
    /// profiling timer counts CPU time).
    #[inline(never)]
    fn spin_in_process_sampler_test(ms: u64) -> u64 {
        let end = cpu_time() + Duration::from_millis(ms);
        let mut x = 1u64;
        while cpu_time() < end {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        x
    }

    #[test]
    fn dwarf_short_names_get_their_module_path() {
        assert_eq!(
            qualify(
                "chunked_row<parci_core::quant::dot::Q8_0Act>",
                Some("/w/lib/src/quant/matvec.rs")
            ),
            "parci_core::quant::matvec::chunked_row<parci_core::quant::dot::Q8_0Act>"
        );
        assert_eq!(
            qualify("run", Some("/w/lib/src/model/mod.rs")),
            "parci_core::model::run"
        );
        assert_eq!(
            qualify("run", Some("/rustc/x/library/std/src/rt.rs")),
            "run"
        );
        assert_eq!(
            qualify("_ZN4core3fmt5write17h0123456789abcdefE", None),
            "core::fmt::write"
        );
    }

    #[test]
    fn samples_this_process() {
        let (_, folded, _) = sample(997, || spin_in_process_sampler_test(300)).unwrap();
        // 300 ms of CPU time is 75 periods of a 250 Hz tick, the coarsest
        // SIGPROF a kernel gives: samples are certain, their number is not.
        assert!(folded.total() > 0, "no samples in 300 ms of CPU time");
    }
}
