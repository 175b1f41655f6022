//! The host fingerprint: what machine a receipt was measured on.

use serde::{Deserialize, Serialize};
use sysinfo::{CpuRefreshKind, MemoryRefreshKind, RefreshKind, System};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Host {
    pub os: String,
    pub kernel: String,
    pub arch: String,
    pub cpu: String,
    pub cpu_features: Vec<String>,
    pub logical_cpus: u64,
    pub memory_bytes: u64,
}

impl Host {
    /// Reads the fingerprint of this machine. Fields the OS does not expose are
    /// reported as "unknown" (strings) or 0 (numbers), never guessed.
    pub fn detect() -> Host {
        let sys = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(CpuRefreshKind::nothing())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        )
        .ok();
        let unknown = || "unknown".to_string();
        let cpu = sys
            .as_ref()
            .and_then(|s| s.cpus().first().map(|c| c.brand().trim().to_string()))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(unknown);
        let logical_cpus = sys
            .as_ref()
            .map(|s| s.cpus().len() as u64)
            .filter(|&n| n > 0)
            .or_else(|| {
                std::thread::available_parallelism()
                    .ok()
                    .map(|n| n.get() as u64)
            })
            .unwrap_or(0);
        Host {
            os: System::long_os_version()
                .or_else(|_| System::name())
                .unwrap_or_else(|_| std::env::consts::OS.to_string()),
            kernel: System::kernel_version().unwrap_or_else(|_| unknown()),
            arch: std::env::consts::ARCH.to_string(),
            cpu,
            cpu_features: crate::cpu::features()
                .into_iter()
                .map(str::to_string)
                .collect(),
            logical_cpus,
            memory_bytes: sys.as_ref().map(|s| s.total_memory()).unwrap_or(0),
        }
    }
}

/// Physical cores (the default worker count for compute), falling back to
/// the logical count where the OS does not tell them apart.
pub fn physical_cores() -> usize {
    System::physical_core_count()
        .ok()
        .filter(|&n| n > 0)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
}

/// This process's peak resident set in bytes (`VmHWM`), where the OS says.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #[test]
    fn detect_reports_this_machine() {
        let h = super::Host::detect();
        assert_eq!(h.arch, std::env::consts::ARCH);
        assert!(h.logical_cpus >= 1);
        #[cfg(target_os = "linux")]
        assert!(h.memory_bytes > 0);
        assert_eq!(h, super::Host::detect(), "fingerprint must be stable");
        assert!(super::physical_cores() >= 1);
        assert!(super::physical_cores() as u64 <= h.logical_cpus);
        #[cfg(target_os = "linux")]
        {
            // other tests share the process: only a lower bound is certain
            let v = vec![1u8; 64 << 20];
            std::hint::black_box(&v);
            assert!(super::peak_rss_bytes().unwrap() >= 64 << 20);
        }
    }
}
