//! Flags every program shares, the process environment read once, and the
//! `main` wrapper that turns errors into one line and an exit code.

use clap::{ArgAction, Args, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

/// Flags every program takes (flattened into each program's args).
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Where to write the receipt; `-` writes it to stdout
    /// [default: target/parci/<program>.receipt.json]
    #[arg(long, value_name = "PATH", global = true)]
    pub receipt: Option<PathBuf>,
    /// Print nothing on stdout but what --format asks for; errors still go to stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log more to stderr: -v info, -vv debug, -vvv trace (RUST_LOG overrides).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
}

/// Whose signature an attestation must carry, and the root that vouches
/// for it (verify-receipt --attestation, perf-smoke --baseline).
#[derive(Args, Debug, Clone, Default)]
pub struct SignerArgs {
    /// The attestation must be signed by this GitHub Actions workflow:
    /// OWNER/REPO/.github/workflows/FILE, or FILE@REF for one ref only
    /// [default: any signer the trusted root vouches for]
    #[arg(long, value_name = "WORKFLOW", value_parser = workflow_arg)]
    pub signer_workflow: Option<String>,
    /// Sigstore trusted root to verify against (trusted_root.json, e.g. from
    /// `gh attestation trusted-root`) [default: Sigstore's public-good root
    /// as built in]
    #[arg(long, value_name = "FILE")]
    pub trusted_root: Option<PathBuf>,
}

impl SignerArgs {
    /// The trusted root these flags name, or the exit-2 error saying why not.
    pub fn root(&self) -> anyhow::Result<parci_core::attest::TrustedRoot> {
        parci_core::attest::trusted_root(self.trusted_root.as_deref()).map_err(anyhow::Error::msg)
    }

    pub fn policy(&self) -> parci_core::attest::Policy {
        parci_core::attest::Policy {
            signer_workflow: self.signer_workflow.clone(),
            predicate_type: None,
        }
    }

    /// What a receipt records of these flags.
    pub fn inputs(&self, bundle: &std::path::Path) -> anyhow::Result<serde_json::Value> {
        let file = |p: &std::path::Path| {
            parci_core::receipt::FileInput::hash(p)
                .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))
        };
        Ok(serde_json::json!({
            "bundle": file(bundle)?,
            "trusted_root": self.trusted_root.as_deref().map(file).transpose()?,
            "signer_workflow": self.signer_workflow,
        }))
    }
}

/// `OWNER/REPO/.github/workflows/FILE[@REF]`.
fn workflow_arg(v: &str) -> Result<String, String> {
    let (path, r#ref) = match v.split_once('@') {
        Some((p, r)) => (p, Some(r)),
        None => (v, None),
    };
    let parts: Vec<&str> = path.split('/').collect();
    let ok = parts.len() == 5
        && parts[2] == ".github"
        && parts[3] == "workflows"
        && parts.iter().all(|p| !p.is_empty())
        && r#ref.is_none_or(|r| !r.is_empty());
    if ok {
        Ok(v.to_string())
    } else {
        Err(format!(
            "{v:?} is not OWNER/REPO/.github/workflows/FILE[@REF] (e.g. octo/parci/.github/workflows/ci.yml)"
        ))
    }
}

/// What goes to stdout: text for people, or the receipt itself.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

/// A text argument that must be UTF-8 (`--text`, `--tokenize`): taken as an
/// `OsString` so that bytes that are not UTF-8 get this one-line error (exit
/// 2) instead of clap's usage screen.
pub fn utf8_arg<'a>(flag: &str, v: &'a std::ffi::OsStr) -> anyhow::Result<&'a str> {
    if let Some(s) = v.to_str() {
        return Ok(s);
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let b = v.as_bytes();
        let e = std::str::from_utf8(b).expect_err("to_str failed");
        let at = e.valid_up_to();
        anyhow::bail!(
            "{flag}: the text is not valid UTF-8 (byte 0x{:02X} at offset {at}); pass UTF-8 text",
            b[at]
        )
    }
    #[cfg(not(unix))]
    anyhow::bail!("{flag}: the text is not valid Unicode; pass UTF-8 text")
}

/// Token ids as `1,2,3` (spaces allowed), for `--detokenize`.
pub fn parse_ids(flag: &str, s: &str) -> anyhow::Result<Vec<u32>> {
    s.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<u32>().map_err(|_| {
                anyhow::anyhow!("{flag}: {t:?} is not a token id; pass ids like 1,2,3")
            })
        })
        .collect()
}

/// What the CLI layer reads from the environment, once, at start-up.
#[derive(Clone, Debug)]
pub struct Env {
    /// `GITHUB_ACTIONS=true`: emit workflow-command annotations.
    pub github_actions: bool,
    /// `GITHUB_STEP_SUMMARY`: a Markdown file to append a summary to.
    pub step_summary: Option<PathBuf>,
    /// Colour on stdout: a terminal and `NO_COLOR` unset or empty.
    pub color: bool,
    /// Directory whose git work tree is the receipt's `source`.
    pub cwd: PathBuf,
    /// `PARCI_KERNELS`: force a kernel ISA (scalar, avx2, avx512) or `auto`.
    pub kernels: Option<String>,
    /// `CI` set (and not `false` or `0`): no progress bars.
    pub ci: bool,
    /// `SOURCE_DATE_EPOCH`, when it is a number: the time of commits parci makes.
    pub source_date_epoch: Option<i64>,
}

impl Env {
    pub fn read() -> Env {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Env {
            github_actions: std::env::var("GITHUB_ACTIONS").is_ok_and(|v| v == "true"),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            color: std::io::stdout().is_terminal() && var("NO_COLOR").is_none(),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            kernels: std::env::var("PARCI_KERNELS")
                .ok()
                .filter(|v| !v.is_empty()),
            ci: std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0"),
            source_date_epoch: std::env::var("SOURCE_DATE_EPOCH")
                .ok()
                .and_then(|s| s.parse().ok()),
        }
    }

    /// The kernel mode `PARCI_KERNELS` asks for (default auto), checked against
    /// this CPU: an unknown name or an ISA the host lacks is an error, never a
    /// silent fallback.
    pub fn kernel_mode(&self) -> anyhow::Result<parci_core::quant::kernels::KernelMode> {
        use parci_core::quant::kernels::KernelMode;
        let Some(name) = &self.kernels else {
            return Ok(KernelMode::Auto);
        };
        let mode =
            KernelMode::parse(name).map_err(|e| anyhow::anyhow!("PARCI_KERNELS={name}: {e}"))?;
        mode.resolve()
            .map_err(|e| anyhow::anyhow!("PARCI_KERNELS={name}: {e}"))?;
        Ok(mode)
    }

    /// Wraps `text` in an ANSI colour when colour is on (`code`: 31 red, 32 green, 33 yellow).
    pub fn paint(&self, code: u8, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

#[cfg(test)]
impl Env {
    /// No GitHub, no colour, no CI, automatic kernels: what in-process tests run under.
    pub(crate) fn plain(cwd: &std::path::Path) -> Env {
        Env {
            github_actions: false,
            step_summary: None,
            color: false,
            cwd: cwd.to_path_buf(),
            kernels: None,
            ci: false,
            source_date_epoch: None,
        }
    }
}

#[cfg(test)]
impl Common {
    /// Quiet, with the receipt written to `receipt`.
    pub(crate) fn quiet_to(receipt: impl Into<PathBuf>) -> Common {
        Common {
            receipt: Some(receipt.into()),
            quiet: true,
            verbose: 0,
        }
    }
}

/// Sets up `tracing` on stderr: RUST_LOG when set, else warn/info/debug/trace by `-v` count.
pub fn init_logging(common: &Common) {
    init_logging_with(common, &[]);
}

/// [`init_logging`] with extra `target=level` directives (e.g. a program's
/// `--parallel-debug`) on top of the `-v` level; RUST_LOG still wins.
pub fn init_logging_with(common: &Common, directives: &[&str]) {
    use tracing_subscriber::EnvFilter;
    let level = match common.verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let spec = std::iter::once(level)
        .chain(directives.iter().copied())
        .collect::<Vec<_>>()
        .join(",");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(spec));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none())
        .with_target(!directives.is_empty())
        .try_init();
}

/// A program's parsed arguments, as [`program`] needs them: where its common
/// flags are, and the logging directives its own flags add.
pub trait Program: clap::Parser {
    fn common(&self) -> &Common;
    /// Extra `target=level` directives for [`init_logging_with`] (e.g. a
    /// program's `--parallel-debug`); none by default.
    fn log_directives(&self) -> &'static [&'static str] {
        &[]
    }
}

/// A program's whole `main`: parse the arguments (clap itself answers
/// `--help`, `--version` and usage errors), set up logging, then run `body`
/// with the environment read once, under [`main_with`].
pub fn program<A: Program>(
    name: &str,
    body: impl FnOnce(A, Env) -> anyhow::Result<u8>,
) -> ExitCode {
    PROCESS_EXITS_AFTER_RUN.store(true, std::sync::atomic::Ordering::Relaxed);
    let args = A::parse();
    init_logging_with(args.common(), args.log_directives());
    main_with(name, || body(args, Env::read()))
}

/// Set by [`program`]: this process ends when the run returns.
static PROCESS_EXITS_AFTER_RUN: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Drops `value`, except in a program, which is about to exit: there its
/// memory goes back with the process instead of being freed piece by piece
/// (walking a 100 000-achievement plan, its graph and its report to free them
/// was 10-14 % of `status` on such a plan). A run driven from a test, or any
/// caller other than [`program`], frees as usual.
pub fn release<T>(value: T) {
    if PROCESS_EXITS_AFTER_RUN.load(std::sync::atomic::Ordering::Relaxed) {
        std::mem::forget(value);
    } else {
        drop(value);
    }
}

/// parci's fixture model sizes, as `--preset` takes them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum PresetArg {
    Tiny,
    Small,
}

impl From<PresetArg> for parci_core::gguf::fixture::Preset {
    fn from(p: PresetArg) -> Self {
        match p {
            PresetArg::Tiny => Self::Tiny,
            PresetArg::Small => Self::Small,
        }
    }
}

/// Runs a program body: `Ok(code)` exits with it; `Err` prints one line
/// `<program>: error: <cause chain>` on stderr and exits [`crate::exit::USAGE`].
///
/// A closed stdout (`program | head`) ends the program quietly, as it does
/// `cat`: SIGPIPE gets its default action back (Rust ignores it, which turns
/// every later `print!` into a panic). Receipts are written to a temp file and
/// renamed, so nothing is left half-written.
pub fn main_with(program: &str, body: impl FnOnce() -> anyhow::Result<u8>) -> ExitCode {
    // SAFETY: signal() with SIG_DFL installs no handler; no other thread runs yet.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    match body() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let msg = format!("{e:#}").replace('\n', " ");
            eprintln!("{program}: error: {msg}");
            ExitCode::from(crate::exit::USAGE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Env;
    use std::path::PathBuf;

    fn env(kernels: Option<&str>) -> Env {
        Env {
            github_actions: false,
            step_summary: None,
            color: false,
            cwd: PathBuf::from("."),
            kernels: kernels.map(str::to_string),
            ci: false,
            source_date_epoch: None,
        }
    }

    #[test]
    fn kernel_mode_from_the_environment_value() {
        use parci_core::quant::kernels::KernelMode;
        assert_eq!(env(None).kernel_mode().unwrap(), KernelMode::Auto);
        assert_eq!(
            env(Some("scalar")).kernel_mode().unwrap(),
            KernelMode::Scalar
        );
        let e = env(Some("sse9")).kernel_mode().unwrap_err().to_string();
        assert!(
            e.starts_with("PARCI_KERNELS=sse9: unknown kernel mode"),
            "{e}"
        );
        if !parci_core::quant::kernels::Isa::Avx512.available() {
            assert!(
                env(Some("avx512")).kernel_mode().is_err(),
                "no silent fallback"
            );
        }
    }
}
