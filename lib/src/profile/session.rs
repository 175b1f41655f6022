//! One `flamegraph` run: pick the sampler, sample (or read existing data),
//! fold, render, write the files, and build the receipt's blocks.

use super::folded::Folded;
use super::perf::{self, Perf, Unusable};
use super::render::{self, RenderOptions};
use super::{inproc, perf_script, receipt as fr, CallGraph, ProfileError};
use crate::gguf::fixture::{self, Preset};
use crate::gguf::MappedFile;
use crate::model::smoke::MODELS_DIR;
use crate::model::workload::{self, Workload};
use crate::model::Model;
use crate::quant::kernels::KernelMode;
use crate::receipt::canonical::finite;
use crate::receipt::{FileInput, Host, Source};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// perf-smoke's workload, as `flamegraph` runs it.
#[derive(Clone, Debug)]
pub struct WorkloadSpec {
    pub model: Option<PathBuf>,
    pub preset: Preset,
    pub seed: u64,
    pub tokens: Vec<u64>,
    pub prompt_tokens: u64,
    pub threads: Option<u64>,
    pub repeats: u64,
    pub warmup: u64,
    /// The perf-smoke program perf samples.
    pub binary: PathBuf,
    /// Kernel mode for the in-process run (perf-smoke reads PARCI_KERNELS itself).
    pub kernel_mode: KernelMode,
}

#[derive(Clone, Debug)]
pub enum Mode {
    Workload(WorkloadSpec),
    /// Program (resolved to a path) and arguments, plus the words as given.
    Command(Vec<OsString>, Vec<String>),
    PerfScript(PathBuf),
    Folded(PathBuf),
}

impl Mode {
    fn name(&self) -> &'static str {
        match self {
            Mode::Workload(_) => "workload",
            Mode::Command(..) => "command",
            Mode::PerfScript(_) => "perf-script",
            Mode::Folded(_) => "folded",
        }
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SamplerChoice {
    Auto,
    Perf,
    InProcess,
}

impl SamplerChoice {
    pub fn name(self) -> &'static str {
        match self {
            SamplerChoice::Auto => "auto",
            SamplerChoice::Perf => "perf",
            SamplerChoice::InProcess => "in-process",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Request {
    pub mode: Mode,
    pub frequency: u32,
    /// `None`: frame pointers, or DWARF when the sampled binary has none.
    pub call_graph: Option<CallGraph>,
    pub sampler: SamplerChoice,
    /// The perf program (a path, or a name looked up in PATH).
    pub perf: PathBuf,
    pub out_dir: PathBuf,
    pub name: Option<String>,
    pub title: Option<String>,
    pub reverse: bool,
    pub min_width: f64,
    pub diff: Option<PathBuf>,
    /// Output paths in the receipt are relative to this directory.
    pub receipt_dir: PathBuf,
    /// Working directory (git source for the subtitle).
    pub cwd: PathBuf,
    /// How perf script output is folded (inferno's collapse-perf options).
    pub fold: perf_script::FoldOptions,
}

/// The receipt blocks and findings of a run.
#[derive(Debug)]
pub struct Outcome {
    pub inputs: Value,
    pub results: Value,
    pub measurements: Value,
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// One profile before it is written.
struct Profile {
    name: String,
    tokens: Option<u64>,
    title: String,
    folded: Folded,
    /// What a folded count is: `samples`, or a perf event's unit (`ns`, …).
    unit: String,
    /// Samples taken, when the input says (a folded file only has weights).
    samples: Option<u64>,
    command_status: Option<i32>,
    duration: Option<Duration>,
    fold_time: Duration,
    perf_data_bytes: Option<u64>,
    matvec_share: Option<f64>,
}

/// The sampler that ran, for `results.sampler`.
struct SamplerInfo {
    name: &'static str,
    version: Option<String>,
    event: Option<String>,
    call_graph: Option<CallGraph>,
    frequency: Option<u32>,
    why: String,
    binary: Option<(String, String, bool)>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A profile name: letters, digits, `.`, `_`, `-`.
pub fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while out.starts_with(['.', '_', '-']) {
        out.remove(0);
    }
    if out.is_empty() {
        "profile".into()
    } else {
        out
    }
}

/// `path` relative to `dir`, lexically (both taken from `cwd` when relative).
pub fn relative_to(path: &Path, dir: &Path, cwd: &Path) -> String {
    let norm = |p: &Path| -> Vec<String> {
        let abs = if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        };
        let mut v: Vec<String> = Vec::new();
        for c in abs.components() {
            match c {
                Component::Normal(s) => v.push(s.to_string_lossy().into_owned()),
                Component::ParentDir => {
                    v.pop();
                }
                _ => {}
            }
        }
        v
    };
    let (p, d) = (norm(path), norm(dir));
    let common = p.iter().zip(&d).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".into(); d.len() - common];
    parts.extend(p[common..].iter().cloned());
    parts.join("/")
}

fn read_file(path: &Path, what: &str) -> Result<(Vec<u8>, FileInput), ProfileError> {
    let bytes = std::fs::read(path).map_err(|e| {
        ProfileError::input(
            path,
            None,
            format!("cannot read the {what} ({e}); pass an existing file"),
        )
    })?;
    let file = FileInput {
        path: path.display().to_string(),
        bytes: bytes.len() as u64,
        sha256: crate::fsutil::sha256_hex(&bytes),
    };
    Ok((bytes, file))
}

fn parse_folded(path: &Path, what: &str) -> Result<(Folded, FileInput), ProfileError> {
    let (bytes, file) = read_file(path, what)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        ProfileError::input(
            path,
            None,
            format!("not UTF-8 text ({e}); pass a folded stacks file"),
        )
    })?;
    let f = Folded::parse(text, path)?;
    if f.total() == 0 {
        return Err(ProfileError::input(
            path,
            None,
            "no samples: the folded file has no stack with a count above 0",
        ));
    }
    Ok((f, file))
}

/// Which sampler runs, or why none can.
enum Chosen {
    Perf(Perf),
    InProcess(String),
}

fn choose(req: &Request, scratch: &Path, in_process_ok: bool) -> Result<Chosen, ProfileError> {
    if req.sampler == SamplerChoice::InProcess {
        if !in_process_ok {
            return Err(ProfileError::Sampler(
                "--sampler in-process profiles the built-in workload only; a command needs perf"
                    .into(),
            ));
        }
        return Ok(Chosen::InProcess(
            "--sampler in-process asked for it".into(),
        ));
    }
    match perf::probe(&req.perf, scratch) {
        Ok(p) => Ok(Chosen::Perf(p)),
        Err(u) if req.sampler == SamplerChoice::Auto && in_process_ok && inproc::AVAILABLE => Ok(
            Chosen::InProcess(format!("perf is not usable: {}", u.message())),
        ),
        Err(u) => {
            let what = match u {
                Unusable::Missing(_) => "perf is missing",
                Unusable::Refused(_) => "perf was refused",
                Unusable::Broken(_) => "perf does not work",
            };
            let m = u.message();
            Err(ProfileError::Sampler(if in_process_ok {
                format!("{what}: {m} (or pass --sampler in-process)")
            } else {
                format!("{what}, and profiling a command needs it: {m}")
            }))
        }
    }
}

/// Cargo profile of a binary, from its directory (`target/<profile>/name`).
fn binary_profile(p: &Path) -> String {
    p.parent()
        .and_then(|d| d.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "unknown".into())
}

pub fn run(req: &Request) -> Result<Outcome, ProfileError> {
    let t0 = Instant::now();
    let source = Source::detect(&req.cwd);
    let host = Host::detect();
    let diff_base = req
        .diff
        .as_deref()
        .map(|p| parse_folded(p, "--diff base"))
        .transpose()?;
    let scratch = req.out_dir.clone();
    let mut warnings = Vec::new();
    let mut errors = Vec::new();
    let mut source_file = None;
    let mut workload_input = Value::Null;
    let mut command_input = Value::Null;
    let (sampler, profiles) = match &req.mode {
        Mode::Folded(p) => {
            let t = Instant::now();
            let (f, file) = parse_folded(p, "folded stacks file")?;
            source_file = Some(file);
            existing(
                req,
                p,
                vec![Fold {
                    suffix: None,
                    folded: f,
                    unit: "samples".into(),
                    samples: None,
                }],
                t.elapsed(),
                "folded stacks",
                "rendered from an existing folded file",
            )
        }
        Mode::PerfScript(p) => {
            let (bytes, file) = read_file(p, "perf script output")?;
            let t = Instant::now();
            let (events, stats) = perf_script::fold(&bytes, p, &req.fold)?;
            warnings.extend(script_warnings(p, &stats));
            source_file = Some(file);
            let several = events.len() > 1;
            let folds = events
                .into_iter()
                .map(|e| Fold {
                    suffix: several.then(|| e.event.clone()),
                    folded: e.folded,
                    unit: e.unit,
                    samples: Some(e.samples),
                })
                .collect();
            existing(
                req,
                p,
                folds,
                t.elapsed(),
                "perf script",
                "folded from existing perf script output",
            )
        }
        Mode::Command(cmd, shown) => {
            command_input = json!(shown);
            let Chosen::Perf(p) = choose(req, &scratch, false)? else {
                unreachable!("commands are only profiled with perf")
            };
            let cg = req.call_graph.unwrap_or(CallGraph::Fp);
            let base = req
                .name
                .clone()
                .unwrap_or_else(|| stem(Path::new(&shown[0])));
            let name = sanitize_name(&base);
            let prof = perf_profile(req, &p, cg, &name, cmd, &shown.join(" "))?;
            if let Some(code) = prof.command_status.filter(|&c| c != 0) {
                errors.push(format!(
                    "{} exited with status {code}; the profile covers the run up to its exit",
                    shown.join(" ")
                ));
            }
            let info = perf_sampler(&p, cg, req.frequency, None);
            (
                info,
                vec![Profile {
                    title: req.title.clone().unwrap_or_else(|| shown.join(" ")),
                    ..prof
                }],
            )
        }
        Mode::Workload(w) => {
            let (model_path, preset) = match &w.model {
                Some(m) => (m.clone(), None),
                None => {
                    let dir = Path::new(MODELS_DIR);
                    let (p, _) = fixture::materialize(dir, w.preset, w.seed).map_err(|e| {
                        ProfileError::input(
                            dir,
                            None,
                            format!("cannot write the fixture model ({e})"),
                        )
                    })?;
                    (p, Some(w.preset))
                }
            };
            let model_file = FileInput::hash(&model_path).map_err(|e| {
                ProfileError::input(
                    &model_path,
                    None,
                    format!("cannot read ({e}); pass an existing llama GGUF file"),
                )
            })?;
            workload_input = json!({
                "model": model_file,
                "preset": preset.map(Preset::name),
                "seed": w.seed,
                "tokens": w.tokens,
                "prompt_tokens": w.prompt_tokens,
                "threads": w.threads,
                "repeats": w.repeats,
                "warmup": w.warmup,
            });
            let base = req.name.clone().unwrap_or_else(|| match preset {
                Some(p) => p.name().to_string(),
                None => stem(&model_path),
            });
            let base = sanitize_name(&base);
            let label = match preset {
                Some(p) => format!("perf-smoke {} fixture", p.name()),
                None => format!("perf-smoke {}", model_path.display()),
            };
            match choose(req, &scratch, true)? {
                Chosen::Perf(p) => {
                    let fp = binary_profile(&w.binary) == "profiling";
                    let cg = match req.call_graph {
                        Some(c) => {
                            if c == CallGraph::Fp && !fp {
                                warnings.push(format!(
                                    "{} is not a `cargo profiling` build, so frame-pointer stacks may be broken; \
                                     build it with `cargo profiling --bin perf-smoke` or pass --call-graph dwarf",
                                    w.binary.display()
                                ));
                            }
                            c
                        }
                        None if fp => CallGraph::Fp,
                        None => CallGraph::Dwarf,
                    };
                    let mut profiles = Vec::new();
                    for &n in &w.tokens {
                        let name = format!("{base}-{n}tok");
                        let smoke_receipt =
                            req.out_dir.join(format!("{name}.perf-smoke.receipt.json"));
                        let mut cmd: Vec<OsString> = vec![w.binary.clone().into()];
                        cmd.extend(["--model".into(), model_path.clone().into_os_string()]);
                        for (flag, v) in [
                            ("--seed", Some(w.seed)),
                            ("--tokens", Some(n)),
                            ("--prompt-tokens", Some(w.prompt_tokens)),
                            ("--repeats", Some(w.repeats)),
                            ("--warmup", Some(w.warmup)),
                            ("--threads", w.threads),
                        ] {
                            if let Some(v) = v {
                                cmd.push(flag.into());
                                cmd.push(v.to_string().into());
                            }
                        }
                        cmd.extend([
                            "--receipt".into(),
                            smoke_receipt.clone().into_os_string(),
                            "-q".into(),
                        ]);
                        let mut prof = perf_profile(req, &p, cg, &name, &cmd, &label)?;
                        if let Some(code) = prof.command_status.filter(|&c| c != 0) {
                            return Err(ProfileError::Sampler(format!(
                                "{} exited with status {code}; run it alone to see why",
                                w.binary.display()
                            )));
                        }
                        prof.tokens = Some(n);
                        prof.matvec_share = std::fs::read(&smoke_receipt)
                            .ok()
                            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                            .and_then(|v| v["measurements"]["matvec_share"].as_f64());
                        prof.title = req.title.clone().unwrap_or_else(|| {
                            format!("{label}: {} prompt + {n} decode tokens", w.prompt_tokens)
                        });
                        profiles.push(prof);
                    }
                    let binary = (
                        w.binary.display().to_string(),
                        binary_profile(&w.binary),
                        fp,
                    );
                    (perf_sampler(&p, cg, req.frequency, Some(binary)), profiles)
                }
                Chosen::InProcess(why) => {
                    let profile = crate::receipt::Tool::new("", "").profile;
                    let fp = profile == "profiling";
                    if !fp {
                        warnings.push(format!(
                            "the in-process sampler walks frame pointers, and this flamegraph is a `{profile}` build \
                             without them: stacks are shallow; build it with `cargo profiling --bin flamegraph`"
                        ));
                    }
                    let mut profiles = Vec::new();
                    for &n in &w.tokens {
                        let name = format!("{base}-{n}tok");
                        let mut prof = inproc_profile(req, w, &model_path, n, &name)?;
                        prof.title = req.title.clone().unwrap_or_else(|| {
                            format!(
                                "{label} (in-process): {} prompt + {n} decode tokens",
                                w.prompt_tokens
                            )
                        });
                        profiles.push(prof);
                    }
                    let exe = std::env::current_exe()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|_| "flamegraph".into());
                    (
                        SamplerInfo {
                            name: inproc::NAME,
                            version: Some(inproc::VERSION.into()),
                            event: None,
                            call_graph: Some(CallGraph::Fp),
                            frequency: Some(req.frequency),
                            why,
                            binary: Some((exe, profile, fp)),
                        },
                        profiles,
                    )
                }
            }
        }
    };
    if diff_base.is_some() && profiles.len() != 1 {
        return Err(ProfileError::Sampler(format!(
            "--diff compares one profile with its base, but this run makes {}; pass a single --tokens value",
            profiles.len()
        )));
    }

    // Render and write.
    let subtitle_tail = format!(
        "commit {} · {} ({})",
        source
            .as_ref()
            .and_then(|s| s.commit.as_deref())
            .map(|c| format!(
                "{}{}",
                &c[..c.len().min(12)],
                if source.as_ref().is_some_and(|s| s.dirty) {
                    "+dirty"
                } else {
                    ""
                }
            ))
            .unwrap_or_else(|| "none".into()),
        host.cpu,
        host.arch
    );
    let mut results_profiles = Vec::new();
    let mut measured = Vec::new();
    for prof in &profiles {
        let total = prof.folded.total();
        let amount = match (&prof.samples, prof.unit.as_str()) {
            (_, "samples") => format!("{total} samples"),
            (Some(n), unit) => format!("{total} {unit} in {}", crate::text::count(*n, "sample")),
            (None, unit) => format!("{total} {unit}"),
        };
        let how = match (sampler.name, sampler.frequency) {
            ("none", _) | (_, None) => amount,
            (n, Some(f)) => format!("{amount} at {f} Hz ({n})"),
        };
        let opts = RenderOptions {
            title: prof.title.clone(),
            subtitle: Some(format!("{how} · {subtitle_tail}")),
            reverse: req.reverse,
            min_width: req.min_width,
            count_name: prof.unit.clone(),
        };
        let t = Instant::now();
        let svg = render::svg(&prof.folded, &opts)
            .map_err(|e| ProfileError::Sampler(format!("cannot render: {e}")))?;
        let mut outputs = vec![
            ("svg", req.out_dir.join(format!("{}.svg", prof.name)), svg),
            (
                "folded",
                req.out_dir.join(format!("{}.folded", prof.name)),
                prof.folded.to_text().into_bytes(),
            ),
        ];
        let mut diff = Value::Null;
        if let Some((base, base_file)) = &diff_base {
            let dopts = RenderOptions {
                title: format!("{} vs {}", prof.title, base_file.path),
                subtitle: Some(format!(
                    "red grew, blue shrank (base scaled to this profile's samples) · {how}"
                )),
                ..opts.clone()
            };
            let dsvg = render::diff_svg(base, &prof.folded, &dopts).map_err(|e| {
                ProfileError::Sampler(format!("cannot render the differential graph: {e}"))
            })?;
            outputs.push((
                "diff-svg",
                req.out_dir.join(format!("{}.diff.svg", prof.name)),
                dsvg,
            ));
            diff = fr::changes(&prof.folded, base)?;
        }
        let render_time = t.elapsed();
        let mut files = Vec::new();
        for (role, path, bytes) in &outputs {
            crate::fsutil::write_atomic(path, bytes).map_err(|e| {
                ProfileError::input(
                    path,
                    None,
                    format!("cannot write ({e}); pass a writable --out-dir"),
                )
            })?;
            files.push(json!({
                "role": role,
                "path": relative_to(path, &req.receipt_dir, &req.cwd),
                "bytes": bytes.len() as u64,
                "sha256": crate::fsutil::sha256_hex(bytes),
            }));
        }
        let (top_self, top_inclusive) = fr::hotspots(&prof.folded)?;
        let kernel_share = if matches!(req.mode, Mode::Workload(_)) {
            let samples = prof.folded.samples_where(super::is_kernel_frame);
            let percent = prof.folded.share_where(super::is_kernel_frame);
            let smoke = prof.matvec_share.map(|s| 100.0 * s);
            let difference = smoke.map(|s| percent - s);
            json!({
                "weight": samples,
                "percent": finite(percent)?,
                "perf_smoke_matvec_share_percent": smoke.map(finite).transpose()?,
                "difference_points": difference.map(finite).transpose()?,
            })
        } else {
            Value::Null
        };
        results_profiles.push(json!({
            "name": prof.name,
            "tokens": prof.tokens,
            "weight": total,
            "weight_unit": prof.unit,
            "samples": prof.samples,
            "stacks": prof.folded.len(),
            "command_status": prof.command_status,
            "files": files,
            "top_self": top_self,
            "top_inclusive": top_inclusive,
            "kernel_share": kernel_share,
            "diff": diff,
        }));
        measured.push(json!({
            "name": prof.name,
            "duration_ms": prof.duration.map(|d| finite(ms(d))).transpose()?,
            "fold_ms": finite(ms(prof.fold_time))?,
            "render_ms": finite(ms(render_time))?,
            "perf_data_bytes": prof.perf_data_bytes,
        }));
    }
    let inputs = json!({
        "mode": req.mode.name(),
        "workload": workload_input,
        "command": command_input,
        "source": source_file,
        "diff_base": diff_base.as_ref().map(|(_, f)| f),
        "frequency": req.frequency,
        "call_graph": req.call_graph.unwrap_or(CallGraph::Fp).name(),
        "sampler": req.sampler.name(),
        "render": {
            "title": req.title,
            "reverse": req.reverse,
            "min_width": finite(req.min_width)?,
        },
    });
    let results = json!({
        "sampler": {
            "name": sampler.name,
            "version": sampler.version,
            "event": sampler.event,
            "call_graph": sampler.call_graph.map(CallGraph::name),
            "frequency": sampler.frequency,
            "why": sampler.why,
            "binary": sampler.binary.map(|(path, profile, fp)| json!({"path": path, "profile": profile, "frame_pointers": fp})),
        },
        "profiles": results_profiles,
    });
    let measurements = json!({
        "profiles": measured,
        "total_ms": finite(ms(t0.elapsed()))?,
    });
    Ok(Outcome {
        inputs,
        results,
        measurements,
        errors,
        warnings,
    })
}

/// Folded data read from a file: one per perf event (`suffix` names the
/// event when there are several).
struct Fold {
    suffix: Option<String>,
    folded: Folded,
    unit: String,
    samples: Option<u64>,
}

/// The profiles of a run that renders existing data (`what`: the kind of
/// input, for the default title; `why`: what the receipt says of the sampler).
fn existing(
    req: &Request,
    p: &Path,
    folds: Vec<Fold>,
    fold_time: std::time::Duration,
    what: &str,
    why: &str,
) -> (SamplerInfo, Vec<Profile>) {
    let name = req.name.clone().unwrap_or_else(|| stem(p));
    let title = req
        .title
        .clone()
        .unwrap_or_else(|| format!("{} ({what})", p.display()));
    let profiles = folds
        .into_iter()
        .map(|f| Profile {
            title: match &f.suffix {
                Some(e) => format!("{title}: {e}"),
                None => title.clone(),
            },
            name: sanitize_name(&match &f.suffix {
                Some(e) => format!("{name}-{e}"),
                None => name.clone(),
            }),
            tokens: None,
            folded: f.folded,
            unit: f.unit,
            samples: f.samples,
            command_status: None,
            duration: None,
            fold_time,
            perf_data_bytes: None,
            matvec_share: None,
        })
        .collect();
    (
        none_sampler(&format!("{why}; nothing was sampled")),
        profiles,
    )
}

/// The checking pass's warnings as the receipt and stderr show them.
fn script_warnings(file: &Path, stats: &perf_script::ScriptStats) -> Vec<String> {
    let mut out: Vec<String> = stats
        .warnings
        .iter()
        .map(|w| {
            format!(
                "{}:{w} (inferno skips it too; --strict refuses it)",
                file.display()
            )
        })
        .collect();
    let more = stats.warnings_total - stats.warnings.len() as u64;
    if more > 0 {
        out.push(format!("{}: {} more skipped lines", file.display(), more));
    }
    out
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "profile".into())
}

fn none_sampler(why: &str) -> SamplerInfo {
    SamplerInfo {
        name: "none",
        version: None,
        event: None,
        call_graph: None,
        frequency: None,
        why: why.into(),
        binary: None,
    }
}

fn perf_sampler(
    p: &Perf,
    cg: CallGraph,
    frequency: u32,
    binary: Option<(String, String, bool)>,
) -> SamplerInfo {
    SamplerInfo {
        name: "perf",
        version: Some(p.version.clone()),
        event: Some(p.event.clone()),
        call_graph: Some(cg),
        frequency: Some(frequency),
        why: p.why.clone(),
        binary,
    }
}

/// Records `cmd` under perf, then folds `perf script`.
fn perf_profile(
    req: &Request,
    p: &Perf,
    cg: CallGraph,
    name: &str,
    cmd: &[OsString],
    shown: &str,
) -> Result<Profile, ProfileError> {
    std::fs::create_dir_all(&req.out_dir).map_err(|e| {
        ProfileError::input(
            &req.out_dir,
            None,
            format!("cannot create ({e}); pass a writable --out-dir"),
        )
    })?;
    let data = req.out_dir.join(format!("{name}.perf.data"));
    let rec = perf::record(&perf::Record {
        perf: p,
        frequency: req.frequency,
        call_graph: cg,
        data: &data,
        command: cmd,
    })?;
    let status = rec.status.code();
    let t = Instant::now();
    let text = perf::script_text(p, &data, true)?;
    let (clean, stats) = perf_script::check(&text, &data, req.fold.strict)?;
    if stats.samples == 0 {
        return Err(ProfileError::Sampler(format!(
            "{shown} exited (status {}) after {:.0} ms before perf took a sample; profile something that runs \
             longer than one sample period (1/{} s) or raise --frequency",
            status.map_or("killed by a signal".into(), |c| c.to_string()),
            ms(rec.wall),
            req.frequency
        )));
    }
    // parci records one event (perf's own choice, `p.event`); its fold is the profile.
    let mut events = perf_script::fold_checked(&clean, &stats, &data, &req.fold)?;
    let ev = events.remove(0);
    Ok(Profile {
        name: name.to_string(),
        tokens: None,
        title: shown.to_string(),
        folded: ev.folded,
        unit: ev.unit,
        samples: Some(ev.samples),
        command_status: status,
        duration: Some(rec.wall),
        fold_time: t.elapsed(),
        perf_data_bytes: Some(rec.data_bytes),
        matvec_share: None,
    })
}

/// Loads the model and runs the workload in this process under the sampler.
fn inproc_profile(
    req: &Request,
    w: &WorkloadSpec,
    model_path: &Path,
    tokens: u64,
    name: &str,
) -> Result<Profile, ProfileError> {
    let shown = model_path.display().to_string();
    let bad = |m: String| ProfileError::input(model_path, None, m);
    let run = || -> Result<(Duration, Duration), ProfileError> {
        let mapped = MappedFile::open(model_path).map_err(|e| {
            bad(format!(
                "cannot open ({e}); pass an existing llama GGUF file"
            ))
        })?;
        let g = mapped.parse().map_err(|e| bad(e.to_string()))?;
        let n_vocab = crate::graph::hparams(&g)
            .map_err(|e| bad(e.to_string()))?
            .n_vocab;
        let wl = Workload {
            prompt: workload::prompt(n_vocab, w.seed, w.prompt_tokens as usize),
            tokens: tokens as usize,
            threads: w
                .threads
                .unwrap_or(crate::receipt::physical_cores() as u64)
                .max(1) as usize,
            mode: w.kernel_mode,
            stop: vec![],
        };
        let plan = crate::graph::build(&g, workload::n_ctx(&wl) as u64, true)
            .map_err(|e| bad(e.to_string()))?;
        let model = Model::new(&g, &plan).map_err(|e| bad(e.to_string()))?;
        let (mut decode, mut matvec) = (Duration::ZERO, Duration::ZERO);
        for i in 0..w.warmup + w.repeats {
            let pass = workload::run(&model, &wl).map_err(|e| bad(format!("{shown}: {e}")))?;
            if i >= w.warmup {
                decode += pass.decode();
                matvec += pass.decode_matvec;
            }
        }
        Ok((decode, matvec))
    };
    let (result, folded, wall) = inproc::sample(req.frequency, run)?;
    let (decode, matvec) = result?;
    if folded.total() == 0 {
        return Err(ProfileError::Sampler(format!(
            "the in-process sampler took no sample in {:.0} ms of the workload; raise --tokens or --repeats",
            ms(wall)
        )));
    }
    let samples = folded.total();
    Ok(Profile {
        name: name.to_string(),
        tokens: Some(tokens),
        title: String::new(),
        folded,
        unit: "samples".into(),
        samples: Some(samples),
        command_status: None,
        duration: Some(wall),
        fold_time: Duration::ZERO,
        perf_data_bytes: None,
        matvec_share: (decode > Duration::ZERO)
            .then(|| (matvec.as_secs_f64() / decode.as_secs_f64()).clamp(0.0, 1.0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_relative_paths() {
        assert_eq!(sanitize_name("my prog!"), "my-prog-");
        assert_eq!(sanitize_name("..x"), "x");
        assert_eq!(sanitize_name(""), "profile");
        let cwd = Path::new("/w");
        assert_eq!(
            relative_to(
                Path::new("target/parci/flamegraphs/a.svg"),
                Path::new("target/parci"),
                cwd
            ),
            "flamegraphs/a.svg"
        );
        assert_eq!(
            relative_to(Path::new("/tmp/o/a.svg"), Path::new("/tmp/r"), cwd),
            "../o/a.svg"
        );
        assert_eq!(
            relative_to(Path::new("a.svg"), Path::new("."), cwd),
            "a.svg"
        );
    }
}
