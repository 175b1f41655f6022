//! flamegraph's run: turn the options into a profiling [`Request`] (finding
//! the program or perf-smoke to sample), run the session, and report
//! (receipt, table, step summary, annotations). The program in
//! `src/bin/flamegraph.rs` only turns its flags into [`Options`].

use crate::cli::{Common, Env, Format};
use crate::{emit, exit, flamegraph_text, github};
use anyhow::bail;
use clap::ValueEnum;
use parci_core::gguf::fixture::Preset;
use parci_core::profile::perf_script::FoldOptions;
use parci_core::profile::session::{self, Mode, Request, SamplerChoice, WorkloadSpec};
use parci_core::profile::CallGraph;
use parci_core::receipt::{self, Body, Receipt, Verdict};
use std::path::{Path, PathBuf};

pub const PROGRAM: &str = "flamegraph";

/// `--call-graph fp|dwarf`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum CallGraphArg {
    Fp,
    Dwarf,
}

impl From<CallGraphArg> for CallGraph {
    fn from(c: CallGraphArg) -> Self {
        match c {
            CallGraphArg::Fp => CallGraph::Fp,
            CallGraphArg::Dwarf => CallGraph::Dwarf,
        }
    }
}

/// `--sampler auto|perf|in-process`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum SamplerArg {
    Auto,
    Perf,
    InProcess,
}

impl From<SamplerArg> for SamplerChoice {
    fn from(s: SamplerArg) -> Self {
        match s {
            SamplerArg::Auto => SamplerChoice::Auto,
            SamplerArg::Perf => SamplerChoice::Perf,
            SamplerArg::InProcess => SamplerChoice::InProcess,
        }
    }
}

/// inferno's collapse-perf options, by inferno's names: how perf script
/// output (read with --from-perf-script, or recorded) is folded.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct FoldArgs {
    /// Fold only this perf event [default: each event of the script, one profile each]
    #[arg(long, value_name = "NAME")]
    pub event: Option<String>,
    /// Root frame comm-PID: one tower per process
    #[arg(long)]
    pub pid: bool,
    /// Root frame comm-PID/TID: one tower per thread
    #[arg(long)]
    pub tid: bool,
    /// Kernel frames end in _[k]
    #[arg(long)]
    pub kernel: bool,
    /// JIT frames end in _[j]
    #[arg(long)]
    pub jit: bool,
    /// --kernel and --jit
    #[arg(long)]
    pub all: bool,
    /// Refuse perf script lines inferno skips with a warning (naming the line)
    #[arg(long)]
    pub strict: bool,
}

impl From<FoldArgs> for FoldOptions {
    fn from(a: FoldArgs) -> FoldOptions {
        FoldOptions {
            event: a.event,
            pid: a.pid,
            tid: a.tid,
            kernel: a.kernel || a.all,
            jit: a.jit || a.all,
            strict: a.strict,
        }
    }
}

/// Everything one flamegraph run needs, as values. What is profiled: the
/// `from_perf_script` file, else the `from_folded` file, else `command`
/// when not empty, else the perf-smoke workload the first fields describe.
#[derive(Clone, Debug)]
pub struct Options {
    /// A llama GGUF file for the workload; `None`: the `preset` fixture.
    pub model: Option<PathBuf>,
    pub preset: Preset,
    pub seed: u64,
    /// Decode lengths: one profile each.
    pub tokens: Vec<u64>,
    pub prompt_tokens: u64,
    pub threads: Option<u64>,
    pub repeats: u64,
    pub warmup: u64,
    /// The perf-smoke program to sample; `None`: found (see [`perf_smoke_binary`]).
    pub perf_smoke: Option<PathBuf>,
    pub from_perf_script: Option<PathBuf>,
    pub from_folded: Option<PathBuf>,
    /// A command to profile (a program name is looked up in PATH).
    pub command: Vec<String>,
    /// Sampling frequency in Hz.
    pub frequency: u32,
    pub call_graph: Option<CallGraph>,
    pub sampler: SamplerChoice,
    /// The perf program.
    pub perf: PathBuf,
    pub out_dir: PathBuf,
    pub name: Option<String>,
    pub title: Option<String>,
    pub reverse: bool,
    pub min_width: f64,
    /// Also a differential graph against this folded file.
    pub diff: Option<PathBuf>,
    /// How perf script output is folded.
    pub fold: FoldOptions,
    pub format: Format,
    pub common: Common,
}

/// What a run produced: its exit code, the sealed receipt and the table.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
    pub table: String,
}

/// A program name looked up in PATH (the CLI layer reads the environment).
fn resolve_program(word: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(word);
    if word.contains('/') {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        bail!("{word}: no such program; pass an existing executable after --");
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(word))
        .find(|c| c.is_file())
        .ok_or_else(|| {
            anyhow::anyhow!("{word}: not found in PATH; pass a path to the program after --")
        })
}

/// The perf-smoke to sample: `explicit`, else the `cargo profiling` build,
/// else the one beside this program.
pub fn perf_smoke_binary(explicit: Option<&Path>, env: &Env) -> anyhow::Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let profiling = env.cwd.join("target/profiling/perf-smoke");
    if profiling.is_file() {
        return Ok(PathBuf::from("target/profiling/perf-smoke"));
    }
    let beside = std::env::current_exe()?.with_file_name("perf-smoke");
    if beside.is_file() {
        return Ok(beside);
    }
    bail!("perf-smoke not found (looked for target/profiling/perf-smoke and {}); build it with `cargo profiling --bin perf-smoke` or pass --perf-smoke PATH", beside.display())
}

/// The profiling session `opts` asks for.
pub fn request(opts: &Options, env: &Env) -> anyhow::Result<Request> {
    if !(opts.min_width.is_finite() && opts.min_width >= 0.0) {
        bail!(
            "--min-width {}: give a width in pixels >= 0, e.g. 0.1",
            opts.min_width
        );
    }
    let mode = if let Some(p) = &opts.from_perf_script {
        Mode::PerfScript(p.clone())
    } else if let Some(p) = &opts.from_folded {
        Mode::Folded(p.clone())
    } else if !opts.command.is_empty() {
        let mut cmd = vec![resolve_program(&opts.command[0])?.into_os_string()];
        cmd.extend(opts.command[1..].iter().map(Into::into));
        Mode::Command(cmd, opts.command.clone())
    } else {
        Mode::Workload(WorkloadSpec {
            model: opts.model.clone(),
            preset: opts.preset,
            seed: opts.seed,
            tokens: opts.tokens.clone(),
            prompt_tokens: opts.prompt_tokens,
            threads: opts.threads,
            repeats: opts.repeats,
            warmup: opts.warmup,
            binary: if opts.sampler == SamplerChoice::InProcess {
                PathBuf::from("perf-smoke")
            } else {
                perf_smoke_binary(opts.perf_smoke.as_deref(), env)?
            },
            kernel_mode: env.kernel_mode()?,
        })
    };
    let receipt_dir = match emit::Target::resolve(PROGRAM, &opts.common) {
        emit::Target::File(p) => p
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        emit::Target::Stdout => PathBuf::from("."),
    };
    Ok(Request {
        mode,
        frequency: opts.frequency,
        call_graph: opts.call_graph,
        sampler: opts.sampler,
        perf: opts.perf.clone(),
        out_dir: opts.out_dir.clone(),
        name: opts.name.clone(),
        title: opts.title.clone(),
        reverse: opts.reverse,
        min_width: opts.min_width,
        diff: opts.diff.clone(),
        receipt_dir,
        cwd: env.cwd.clone(),
        fold: opts.fold.clone(),
    })
}

/// Profiles (or renders) what `opts` names: writes the graphs and the
/// receipt, prints what `opts.format` asks for, returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let req = request(opts, env)?;
    let out = session::run(&req)?;
    for w in &out.warnings {
        eprintln!("{PROGRAM}: warning: {w}");
    }
    for (level, list) in [
        (github::Level::Error, &out.errors),
        (github::Level::Warning, &out.warnings),
    ] {
        for m in list {
            github::annotate(env, level, PROGRAM, None, PROGRAM, m);
        }
    }
    let body = Body {
        inputs: out.inputs,
        results: out.results,
        measurements: out.measurements,
        verdict: Verdict::from_findings(out.errors, out.warnings),
    };
    let failed = body.verdict.status == receipt::Status::Fail;
    let table = flamegraph_text::table(&body, &req.receipt_dir);
    github::append_summary(env, &flamegraph_text::summary(&body, &req.receipt_dir))?;
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    match opts.format {
        Format::Text if !opts.common.quiet => print!("{table}"),
        Format::Json => written.echo(),
        _ => {}
    }
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
        table,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use parci_core::gguf::fixture;

    fn opts(dir: &Path) -> Options {
        Options {
            model: None,
            preset: Preset::Tiny,
            seed: fixture::DEFAULT_SEED,
            tokens: vec![1],
            prompt_tokens: 8,
            threads: None,
            repeats: 1,
            warmup: 0,
            perf_smoke: None,
            from_perf_script: None,
            from_folded: None,
            command: vec![],
            frequency: parci_core::profile::DEFAULT_FREQUENCY,
            call_graph: None,
            sampler: SamplerChoice::Auto,
            perf: PathBuf::from("perf"),
            out_dir: dir.join("graphs"),
            name: None,
            title: None,
            reverse: false,
            min_width: parci_core::profile::render::DEFAULT_MIN_WIDTH,
            diff: None,
            fold: FoldOptions::default(),
            format: Format::Text,
            common: Common::quiet_to(dir.join("flamegraph.json")),
        }
    }

    #[test]
    fn folded_stacks_render_with_hotspots_and_a_diff() {
        let t = tempfile::tempdir().unwrap();
        let (new, base) = (t.path().join("new.folded"), t.path().join("base.folded"));
        std::fs::write(&new, "main;decode;matvec 90\nmain;load 10\n").unwrap();
        std::fs::write(&base, "main;decode;matvec 50\nmain;load 50\n").unwrap();
        let o = Options {
            from_folded: Some(new),
            diff: Some(base),
            ..opts(t.path())
        };
        let out = run(&o, &Env::plain(t.path())).unwrap();
        assert_eq!(out.code, exit::PASS, "{}", out.table);
        let r = &out.receipt;
        assert_eq!(r.inputs["mode"], "folded");
        let p = &r.results["profiles"][0];
        assert_eq!(p["weight"], 100);
        assert_eq!(p["top_self"][0]["name"], "matvec", "{p}");
        assert_eq!(p["diff"]["grown"][0]["name"], "matvec", "{p}");
        for f in p["files"].as_array().unwrap() {
            let file = t.path().join(f["path"].as_str().unwrap());
            assert!(file.is_file(), "{}", file.display());
        }
        assert!(t.path().join("flamegraph.json").is_file());
    }

    #[test]
    fn a_bad_min_width_or_a_missing_program_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        let o = Options {
            min_width: -1.0,
            ..opts(t.path())
        };
        let e = request(&o, &env).err().unwrap().to_string();
        assert_eq!(e, "--min-width -1: give a width in pixels >= 0, e.g. 0.1");
        let o = Options {
            command: vec!["./no/such/program".into()],
            ..opts(t.path())
        };
        let e = run(&o, &env).err().unwrap().to_string();
        assert!(e.starts_with("./no/such/program: no such program"), "{e}");
        assert!(!t.path().join("flamegraph.json").exists());
    }
}
