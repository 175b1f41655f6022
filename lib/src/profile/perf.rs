//! Linux `perf` as the sampler: is it there, will the kernel let it sample,
//! which event works, then `perf record` and `perf script`.

use super::{CallGraph, ProfileError};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Where the kernel's perf policy lives.
pub const PARANOID_FILE: &str = "/proc/sys/kernel/perf_event_paranoid";

/// How to make perf usable, for error messages.
pub const ENABLE_HINT: &str = "install perf (Debian/Ubuntu: apt-get install linux-perf or \
    linux-tools-$(uname -r)) and allow sampling (sudo sysctl kernel.perf_event_paranoid=1, or \
    run as root)";

/// A perf that recorded a test sample on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Perf {
    pub program: PathBuf,
    /// `perf --version`, e.g. `perf version 6.1.187`.
    pub version: String,
    /// The event to sample: `cycles` when the CPU counts it, else `cpu-clock`.
    pub event: String,
    /// `kernel.perf_event_paranoid`, when readable.
    pub paranoid: Option<i64>,
    /// Why this event (and this sampler) was chosen, for the receipt.
    pub why: String,
}

impl Perf {
    /// `--no-bpf-event` when this perf knows it (perf 5.1 and later). At start
    /// perf record otherwise reads the info of every BPF program loaded in
    /// the kernel, to symbolise JIT-ed BPF code: measured here at 0.8 s of the
    /// 1.2 s a `perf record -- true` takes. parci profiles user programs; BPF
    /// frames, if any were sampled, stay unnamed.
    fn record_flags(&self) -> &'static [&'static str] {
        if knows_no_bpf_event(&self.version) {
            &["--no-bpf-event"]
        } else {
            &[]
        }
    }
}

/// Whether `perf version X.Y...` is 5.1 or later.
fn knows_no_bpf_event(version: &str) -> bool {
    let v = version.trim_start_matches("perf version ");
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    let major: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    let minor: u32 = it.next().and_then(|x| x.parse().ok()).unwrap_or(0);
    (major, minor) >= (5, 1)
}

/// Why perf cannot sample here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unusable {
    /// No perf binary (or it is a wrapper without a perf for this kernel).
    Missing(String),
    /// The kernel refused (perf_event_paranoid, seccomp, no permission).
    Refused(String),
    /// perf ran but its test record failed for another reason.
    Broken(String),
}

impl Unusable {
    pub fn message(&self) -> &str {
        match self {
            Unusable::Missing(m) | Unusable::Refused(m) | Unusable::Broken(m) => m,
        }
    }
}

/// `kernel.perf_event_paranoid`, when the file can be read.
pub fn paranoid() -> Option<i64> {
    std::fs::read_to_string(PARANOID_FILE)
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn refusal(text: &str) -> bool {
    let t = text.to_ascii_lowercase();
    t.contains("perf_event_paranoid")
        || t.contains("permission denied")
        || t.contains("access to performance monitoring")
        || t.contains("operation not permitted")
}

/// First line of perf's complaint, without noise.
fn first_error_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with("[ perf record"))
        .map(|l| super::clip(l, 160))
        .unwrap_or_else(|| "no message".into())
}

/// Checks that `program` (a path or a name looked up in PATH) is a working
/// perf: it runs, the kernel allows a test record in `scratch`, and the
/// event it will sample is known.
pub fn probe(program: &Path, scratch: &Path) -> Result<Perf, Unusable> {
    let shown = program.display();
    let version = match Command::new(program).arg("--version").output() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Unusable::Missing(format!(
                "{shown}: not found; {ENABLE_HINT}"
            )))
        }
        Err(e) => {
            return Err(Unusable::Missing(format!(
                "{shown}: cannot run ({e}); {ENABLE_HINT}"
            )))
        }
        Ok(o)
            if !o.status.success()
                || !String::from_utf8_lossy(&o.stdout).starts_with("perf version") =>
        {
            let text = String::from_utf8_lossy(&o.stderr).into_owned()
                + &String::from_utf8_lossy(&o.stdout);
            return Err(Unusable::Missing(format!(
                "{shown} --version failed ({}); {ENABLE_HINT}",
                first_error_line(&text)
            )));
        }
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
    };
    let paranoid = paranoid();
    std::fs::create_dir_all(scratch)
        .map_err(|e| Unusable::Broken(format!("{}: cannot create ({e})", scratch.display())))?;
    let cache = ProbeCache::new(program, &version, paranoid, scratch);
    if let Some(p) = cache.as_ref().and_then(ProbeCache::load) {
        return Ok(p);
    }
    let bpf: &[&str] = if knows_no_bpf_event(&version) {
        &["--no-bpf-event"]
    } else {
        &[]
    };
    let data = scratch.join(".probe.perf.data");
    let try_event = |event: &str| -> Result<(), String> {
        let out = Command::new(program)
            .arg("record")
            .args(bpf)
            .args(["-q", "-e", event, "-F", "997", "-g", "-o"])
            .arg(&data)
            .args(["--", "true"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(text);
        }
        // perf may silently fall back from cycles to cpu-clock; ask what it recorded.
        let ev = Command::new(program)
            .args(["evlist", "-i"])
            .arg(&data)
            .output()
            .map_err(|e| e.to_string())?;
        let recorded = String::from_utf8_lossy(&ev.stdout);
        if recorded
            .lines()
            .any(|l| l.trim().split(':').next() == Some(event))
        {
            Ok(())
        } else {
            Err(format!("perf recorded {:?} instead", recorded.trim()))
        }
    };
    let result = match try_event("cycles") {
        Ok(()) => Ok(("cycles".to_string(), "hardware cycles are counted".to_string())),
        Err(hw) => match try_event("cpu-clock") {
            Ok(()) => Ok((
                "cpu-clock".to_string(),
                format!(
                    "hardware events are not supported here (cycles: {}), so the software cpu-clock event samples",
                    first_error_line(&hw)
                ),
            )),
            Err(e) => Err(e),
        },
    };
    let _ = std::fs::remove_file(&data);
    let _ = std::fs::remove_file(scratch.join(".probe.perf.data.old"));
    match result {
        Ok((event, why_event)) => {
            let p = Perf {
                program: program.to_path_buf(),
                why: format!(
                    "{version} recorded a test sample (kernel.perf_event_paranoid = {}); {why_event}",
                    paranoid.map_or("unknown".into(), |p| p.to_string())
                ),
                version,
                event,
                paranoid,
            };
            if let Some(c) = &cache {
                c.store(&p);
            }
            Ok(p)
        }
        Err(text) if refusal(&text) => Err(Unusable::Refused(format!(
            "{shown}: the kernel refused to sample (kernel.perf_event_paranoid = {}: {}); allow it \
             with `sudo sysctl kernel.perf_event_paranoid=1` or run as root",
            paranoid.map_or("unknown".into(), |p| p.to_string()),
            first_error_line(&text)
        ))),
        Err(text) => Err(Unusable::Broken(format!(
            "{shown}: a test `perf record` failed ({}); {ENABLE_HINT}",
            first_error_line(&text)
        ))),
    }
}

/// The probe's verdict, kept in the scratch folder (`.perf-probe`) so
/// that only the first profile pays for test records (two `perf record`s where
/// hardware events fall back to cpu-clock). It holds for one perf binary (path,
/// size, modification time, version) on one boot of one kernel, at one
/// `perf_event_paranoid` and user: any change runs the probe again. Only a
/// working perf is remembered, so a fixed perf is seen at once; a perf that
/// stops working after it was remembered fails in the real record instead,
/// with perf's own message.
struct ProbeCache {
    file: PathBuf,
    key: String,
}

impl ProbeCache {
    const FILE: &'static str = ".perf-probe";

    fn new(program: &Path, version: &str, paranoid: Option<i64>, scratch: &Path) -> Option<Self> {
        // A path names one file: its size and modification time count too. A
        // bare name is whatever `PATH` finds (the CLI layer owns the
        // environment), so it is keyed by name and version.
        let binary = if program.components().count() > 1 {
            let resolved = std::fs::canonicalize(program).ok()?;
            let meta = std::fs::metadata(&resolved).ok()?;
            let mtime = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_nanos();
            format!("{}|{}|{mtime}", resolved.display(), meta.len())
        } else {
            program.display().to_string()
        };
        let read = |p: &str| std::fs::read_to_string(p).map(|s| s.trim().to_string());
        let kernel = read("/proc/sys/kernel/osrelease").ok()?;
        let boot = read("/proc/sys/kernel/random/boot_id").ok()?;
        // SAFETY: geteuid has no preconditions and cannot fail.
        let euid = unsafe { libc::geteuid() };
        Some(ProbeCache {
            file: scratch.join(Self::FILE),
            key: format!("{binary}|{version}|{kernel}|{boot}|{paranoid:?}|{euid}"),
        })
    }

    fn load(&self) -> Option<Perf> {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&self.file).ok()?).ok()?;
        if v["key"].as_str() != Some(self.key.as_str()) {
            return None;
        }
        let s = |k: &str| v[k].as_str().map(str::to_string);
        let p = Perf {
            program: PathBuf::from(s("program")?),
            version: s("version")?,
            event: s("event")?,
            paranoid: v["paranoid"].as_i64(),
            why: format!(
                "{} (the verdict of an earlier test record, kept in {} for this perf binary, \
                 kernel boot, paranoid level and user)",
                s("why")?,
                Self::FILE
            ),
        };
        tracing::debug!(file = %self.file.display(), "perf probe verdict from the cache");
        Some(p)
    }

    fn store(&self, p: &Perf) {
        let doc = serde_json::json!({
            "key": self.key,
            "program": p.program.to_string_lossy(),
            "version": p.version,
            "event": p.event,
            "paranoid": p.paranoid,
            "why": p.why,
        });
        // A cache that cannot be written only costs the next run a probe.
        if let Err(e) = crate::fsutil::write_atomic(&self.file, doc.to_string().as_bytes()) {
            tracing::debug!(file = %self.file.display(), "perf probe verdict not cached: {e}");
        }
    }
}

/// What to record.
#[derive(Clone, Debug)]
pub struct Record<'a> {
    pub perf: &'a Perf,
    pub frequency: u32,
    pub call_graph: CallGraph,
    /// perf.data to write.
    pub data: &'a Path,
    /// Program (already resolved) and its arguments.
    pub command: &'a [OsString],
}

/// A finished `perf record`.
#[derive(Debug)]
pub struct Recorded {
    /// Exit status of the profiled command (perf returns it).
    pub status: ExitStatus,
    pub wall: Duration,
    pub data_bytes: u64,
}

/// Runs the command under `perf record`. Its stdout and stderr go to this
/// process's stderr, so stdout stays free for the receipt.
pub fn record(r: &Record) -> Result<Recorded, ProfileError> {
    let mut cmd = Command::new(&r.perf.program);
    cmd.arg("record")
        .args(r.perf.record_flags())
        .args(["-q", "-e", &r.perf.event, "-F"])
        .arg(r.frequency.to_string())
        .args(["--call-graph", r.call_graph.name(), "-o"])
        .arg(r.data)
        .arg("--")
        .args(r.command)
        .stdin(Stdio::null());
    if let Ok(fd) = std::io::stderr().as_fd_clone() {
        cmd.stdout(fd);
    }
    let t = Instant::now();
    let status = cmd.status().map_err(|e| {
        ProfileError::Sampler(format!(
            "{}: cannot run ({e}); {ENABLE_HINT}",
            r.perf.program.display()
        ))
    })?;
    let wall = t.elapsed();
    let data_bytes = std::fs::metadata(r.data).map(|m| m.len()).unwrap_or(0);
    Ok(Recorded {
        status,
        wall,
        data_bytes,
    })
}

/// Clones stderr for a child's stdout.
trait AsFdClone {
    fn as_fd_clone(&self) -> std::io::Result<Stdio>;
}

impl AsFdClone for std::io::Stderr {
    fn as_fd_clone(&self) -> std::io::Result<Stdio> {
        use std::os::fd::AsFd;
        Ok(Stdio::from(self.as_fd().try_clone_to_owned()?))
    }
}

/// The text `perf script` prints for `data`. `inline` asks perf to add
/// inlined frames from debug info where it can.
pub fn script_text(perf: &Perf, data: &Path, inline: bool) -> Result<Vec<u8>, ProfileError> {
    let out = Command::new(&perf.program)
        .args([
            "script",
            "-F",
            "comm,pid,tid,time,period,event,ip,sym,dso",
            "-i",
        ])
        .arg(data)
        .arg(if inline { "--inline" } else { "--no-inline" })
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            ProfileError::Sampler(format!(
                "{}: cannot run perf script ({e})",
                perf.program.display()
            ))
        })?;
    if !out.status.success() {
        return Err(ProfileError::Sampler(format!(
            "{}: perf script failed ({})",
            data.display(),
            first_error_line(&String::from_utf8_lossy(&out.stderr))
        )));
    }
    Ok(out.stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_perf_is_missing() {
        let d = std::env::temp_dir().join(format!("parci-perf-probe-{}", std::process::id()));
        match probe(Path::new("/nonexistent/perf"), &d) {
            Err(Unusable::Missing(m)) => assert!(m.contains("not found"), "{m}"),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn no_bpf_event_from_perf_5_1_on() {
        assert!(knows_no_bpf_event("perf version 6.1.187"));
        assert!(knows_no_bpf_event("perf version 5.1.0"));
        assert!(knows_no_bpf_event("perf version 10.0"));
        assert!(!knows_no_bpf_event("perf version 5.0.21"));
        assert!(!knows_no_bpf_event("perf version 4.19.0"));
        assert!(!knows_no_bpf_event("not perf"));
    }

    #[test]
    fn a_probe_verdict_is_reused_only_for_the_same_key() {
        let d = tempfile::tempdir().unwrap();
        let perf = Perf {
            program: PathBuf::from("perf"),
            version: "perf version 6.1.0".into(),
            event: "cpu-clock".into(),
            paranoid: Some(2),
            why: "because".into(),
        };
        let c = ProbeCache::new(Path::new("perf"), &perf.version, Some(2), d.path()).unwrap();
        assert_eq!(c.load(), None, "nothing cached yet");
        c.store(&perf);
        let again = c.load().unwrap();
        assert_eq!((&again.event, &again.version), (&perf.event, &perf.version));
        assert!(again
            .why
            .starts_with("because (the verdict of an earlier test record"));
        // Another paranoid level, perf version or binary: probe again.
        for other in [
            ProbeCache::new(Path::new("perf"), &perf.version, Some(1), d.path()),
            ProbeCache::new(Path::new("perf"), "perf version 6.2.0", Some(2), d.path()),
            ProbeCache::new(Path::new("perf2"), &perf.version, Some(2), d.path()),
        ] {
            assert_eq!(other.unwrap().load(), None);
        }
        // A file path is keyed by its content's size and time too.
        let bin = d.path().join("perf");
        std::fs::write(&bin, "#!/bin/sh\n").unwrap();
        let c = ProbeCache::new(&bin, &perf.version, Some(2), d.path()).unwrap();
        c.store(&perf);
        assert!(c.load().is_some());
        std::fs::write(&bin, "#!/bin/sh\nexit 0\n").unwrap();
        let c2 = ProbeCache::new(&bin, &perf.version, Some(2), d.path()).unwrap();
        assert_eq!(c2.load(), None, "a changed perf binary is probed again");
        // The cache sits in the out dir beside receipts: `verify-receipt DIR`
        // reads every *.json there, so the cache must not look like one.
        assert!(!ProbeCache::FILE.ends_with(".json"));
        // A damaged cache file is no verdict.
        std::fs::write(d.path().join(ProbeCache::FILE), "{not json").unwrap();
        assert_eq!(c.load(), None);
    }

    #[test]
    fn refusals_are_recognised() {
        assert!(refusal(
            "Error:\nAccess to performance monitoring and observability operations is limited."
        ));
        assert!(refusal("perf_event_open(..., PERF_FLAG_FD_CLOEXEC) failed with unexpected error 1 (Operation not permitted)"));
        assert!(!refusal("invalid or unsupported event: 'cyclez'"));
    }
}
