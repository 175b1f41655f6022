//! gguf-dump's run: find the file (or generate the fixture), read it
//! validated, describe it, write one tensor's values when asked, and report
//! (text, receipt, step summary, annotations). The program in
//! `src/bin/gguf-dump.rs` only turns its flags into [`Options`].

use crate::cli::{self, Common, Env, Format};
use crate::{emit, exit, gguf_text, github};
use anyhow::{anyhow, bail, Context};
use parci_core::fsutil;
use parci_core::gguf::fixture::{self, Preset};
use parci_core::gguf::{dump, MappedFile};
use parci_core::receipt::{canonical::finite, Body, FileInput, Receipt, Verdict};
use parci_core::tokenizer::Tokenizer;
use serde_json::json;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

pub const PROGRAM: &str = "gguf-dump";

/// Everything one gguf-dump run needs, as values.
#[derive(Clone, Debug)]
pub struct Options {
    /// The GGUF file; `None`: the `preset` fixture.
    pub file: Option<PathBuf>,
    pub preset: Preset,
    pub seed: u64,
    /// Where fixtures are generated and cached.
    pub models_dir: PathBuf,
    pub format: Format,
    /// Text shows only the tensor table.
    pub tensors: bool,
    /// Inline every element of long arrays.
    pub full: bool,
    /// What ggml's reader would refuse fails the gate.
    pub strict: bool,
    /// The tensor to write with `values`.
    pub tensor: Option<String>,
    /// Write `tensor` dequantized: format (f32le or npy) and file.
    pub values: Option<(String, PathBuf)>,
    /// Text to turn into ids with the file's tokenizer (checked to be UTF-8).
    pub tokenize: Option<OsString>,
    /// Ids to turn into text, as `1,2,3`.
    pub detokenize: Option<String>,
    pub common: Common,
}

/// What a run produced: its exit code and the sealed receipt.
pub struct Outcome {
    pub code: u8,
    pub receipt: Receipt,
}

/// Reads and describes the file (writing one tensor's values when asked):
/// prints what `opts.format` asks for, writes the receipt, returns the exit code.
pub fn run(opts: &Options, env: &Env) -> anyhow::Result<Outcome> {
    let file_path = match &opts.file {
        Some(f) => f.clone(),
        None => {
            let dir = &opts.models_dir;
            let (p, fresh) = fixture::materialize(dir, opts.preset, opts.seed)
                .with_context(|| format!("{}: cannot write the fixture model", dir.display()))?;
            tracing::info!(path = %p.display(), regenerated = fresh, "fixture model");
            p
        }
    };
    let path = file_path.display().to_string();
    let values = match &opts.values {
        Some((fmt, out)) if fmt == "f32le" || fmt == "npy" => Some((fmt.clone(), out.clone())),
        Some((fmt, _)) => bail!("--values format {fmt:?} is not one of f32le, npy"),
        None => None,
    };
    let tokenize = opts
        .tokenize
        .as_deref()
        .map(|t| cli::utf8_arg("--tokenize", t))
        .transpose()?;
    let detokenize = opts
        .detokenize
        .as_deref()
        .map(|s| cli::parse_ids("--detokenize", s))
        .transpose()?;
    let t0 = Instant::now();
    let mapped = MappedFile::open(&file_path)
        .with_context(|| format!("{path}: cannot open; pass an existing GGUF file"))?;
    let g = mapped.parse().map_err(|e| anyhow!("{path}: {e}"))?;
    let parse_ms = t0.elapsed().as_secs_f64() * 1e3;
    let t1 = Instant::now();
    let file = FileInput {
        path: path.clone(),
        bytes: mapped.bytes().len() as u64,
        sha256: fsutil::sha256_hex(mapped.bytes()),
    };
    let hash_ms = t1.elapsed().as_secs_f64() * 1e3;

    let mut results = dump::describe(&g, opts.full);
    results["values"] = serde_json::Value::Null;
    if let (Some(name), Some((fmt, out))) = (&opts.tensor, &values) {
        let t = g.tensor(name).ok_or_else(|| {
            let some: Vec<&str> = g.tensors().iter().take(5).map(|t| t.name).collect();
            anyhow!(
                "{path}: no tensor named {name:?}; it has {} tensors, e.g. {}",
                g.tensors().len(),
                some.join(", ")
            )
        })?;
        let mut v = Vec::with_capacity(t.n_elements() as usize);
        parci_core::quant::dequantize(t.ty, t.data, &mut v)
            .map_err(|e| anyhow!("{path}: tensor {name:?}: {e}"))?;
        let bytes = if fmt == "npy" {
            let shape: Vec<u64> = t.shape().iter().rev().copied().collect();
            dump::npy_f32(&shape, &v)
        } else {
            v.iter().flat_map(|x| x.to_le_bytes()).collect()
        };
        fsutil::write_atomic(out, &bytes)
            .with_context(|| format!("{}: cannot write the values", out.display()))?;
        results["values"] = json!({"tensor": name, "format": fmt, "count": v.len(), "sha256": fsutil::sha256_hex(&bytes)});
    }

    results["tokens"] = serde_json::Value::Null;
    if tokenize.is_some() || detokenize.is_some() {
        let tok = Tokenizer::from_gguf(&g).map_err(|e| anyhow!("{path}: {e}"))?;
        let ids = match (tokenize, &detokenize) {
            (Some(text), _) => tok
                .encode(text, true, true)
                .map_err(|e| anyhow!("{path}: {e}"))?,
            (None, Some(ids)) => ids.clone(),
            (None, None) => unreachable!(),
        };
        let text = tok
            .decode_text(&ids, true)
            .map_err(|e| anyhow!("{path}: --detokenize: {e}"))?;
        results["tokens"] = json!({
            "tokenizer": tok.summary(),
            "text": tokenize.map_or(text, str::to_string),
            "ids": ids,
            "pieces": tok.pieces(&ids).map_err(|e| anyhow!("{path}: {e}"))?,
        });
    }

    let warnings: Vec<String> = g
        .warnings()
        .iter()
        .map(|w| format!("byte {}: {}", w.offset, w.message))
        .collect();
    for w in g.warnings() {
        github::annotate(
            env,
            github::Level::Warning,
            &path,
            None,
            PROGRAM,
            &format!("byte {}: {}", w.offset, w.message),
        );
    }
    let verdict = if opts.strict {
        Verdict::from_findings(warnings, vec![])
    } else {
        Verdict::from_findings(vec![], warnings)
    };
    let failed = verdict.status == parci_core::receipt::Status::Fail;
    let body = Body {
        inputs: json!({
            "file": file,
            "full_arrays": opts.full,
            "strict": opts.strict,
            "values": values.as_ref().map(|(f, o)| json!({"tensor": opts.tensor, "format": f, "path": o.display().to_string()})),
            "tokenize": tokenize,
            "detokenize": detokenize,
        }),
        results,
        measurements: json!({"parse_ms": finite(parse_ms)?, "hash_ms": finite(hash_ms)?}),
        verdict,
    };
    let summary = format!(
        "### {PROGRAM}\n\n`{}`: GGUF v{}, {} metadata, {} tensors, verdict **{}**\n\n",
        github::cell(&path),
        g.version,
        g.kvs().len(),
        g.tensors().len(),
        body.verdict.status.as_str()
    );
    github::append_summary(env, &summary)?;
    let written = emit::write_receipt(PROGRAM, &opts.common, env, body)?;
    match opts.format {
        Format::Text if !opts.common.quiet => {
            let tokens = &written.receipt.results["tokens"];
            if detokenize.is_some() {
                println!("{}", tokens["text"].as_str().unwrap_or_default());
            } else if tokenize.is_some() {
                println!("{}", gguf_text::ids(&tokens["ids"]));
            } else {
                print!("{}", gguf_text::render(&path, &g, opts.tensors))
            }
        }
        Format::Json => written.echo(),
        _ => {}
    }
    Ok(Outcome {
        code: exit::gate(failed),
        receipt: written.receipt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn opts(dir: &Path) -> Options {
        Options {
            file: None,
            preset: Preset::Tiny,
            seed: fixture::DEFAULT_SEED,
            models_dir: dir.join("models"),
            format: Format::Text,
            tensors: false,
            full: false,
            strict: false,
            tensor: None,
            values: None,
            tokenize: None,
            detokenize: None,
            common: Common::quiet_to(dir.join("dump.json")),
        }
    }

    #[test]
    fn the_fixture_is_described_and_a_tensor_written_as_npy() {
        let t = tempfile::tempdir().unwrap();
        let npy = t.path().join("norm.npy");
        let o = Options {
            tensor: Some("output_norm.weight".into()),
            values: Some(("npy".into(), npy.clone())),
            ..opts(t.path())
        };
        let out = run(&o, &Env::plain(t.path())).unwrap();
        assert_eq!(out.code, exit::PASS);
        let r = &out.receipt;
        assert_eq!(r.schema, "parci.gguf-dump");
        assert_eq!(r.results["values"]["tensor"], "output_norm.weight");
        let bytes = std::fs::read(&npy).unwrap();
        assert!(bytes.starts_with(b"\x93NUMPY"));
        assert_eq!(r.results["values"]["sha256"], fsutil::sha256_hex(&bytes));
        let file = r.inputs["file"]["path"].as_str().unwrap();
        assert!(
            file.starts_with(t.path().join("models").to_str().unwrap()),
            "{file}"
        );
    }

    #[test]
    fn unknown_tensors_and_value_formats_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let env = Env::plain(t.path());
        let o = Options {
            tensor: Some("nope".into()),
            values: Some(("f32le".into(), t.path().join("x.bin"))),
            ..opts(t.path())
        };
        let e = run(&o, &env).err().unwrap().to_string();
        assert!(e.contains(": no tensor named \"nope\"; it has "), "{e}");
        let o = Options {
            tensor: Some("output_norm.weight".into()),
            values: Some(("csv".into(), t.path().join("x.csv"))),
            ..opts(t.path())
        };
        let e = run(&o, &env).err().unwrap().to_string();
        assert_eq!(e, "--values format \"csv\" is not one of f32le, npy");
        let o = Options {
            file: Some(t.path().join("missing.gguf")),
            ..opts(t.path())
        };
        let e = format!("{:#}", run(&o, &env).err().unwrap());
        assert!(
            e.contains("missing.gguf: cannot open; pass an existing GGUF file"),
            "{e}"
        );
    }
}
