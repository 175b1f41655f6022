//! The `parci.perf-smoke` receipt kind: how its results block is built from a
//! [`Pass`], its semantic gates, and the replay `verify-receipt --replay`
//! runs. One place for each, so perf-smoke and the verifier cannot drift.

use super::workload::{self, Pass, Workload};
use super::Model;
use crate::findings::Findings;
use crate::gguf::fixture::{self, Preset};
use crate::gguf::{Gguf, MappedFile};
use crate::graph::ExecutionPlan;
use crate::quant::kernels::{Isa, Kernel, KernelMode};
use crate::receipt::ReplayError;
use crate::tokenizer::{Tokenizer, TokenizerError};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where fixture models are generated and cached.
pub const MODELS_DIR: &str = "target/parci/models";

/// `inputs.model` of a receipt: what file ran, by content.
pub fn model_input(path: &Path, bytes: &[u8], g: &Gguf, preset: Option<(Preset, u64)>) -> Value {
    let mut types: BTreeMap<&str, u64> = BTreeMap::new();
    for t in g.tensors() {
        *types.entry(t.ty.name()).or_default() += 1;
    }
    json!({
        "path": path.display().to_string(),
        "bytes": bytes.len() as u64,
        "sha256": crate::fsutil::sha256_hex(bytes),
        "arch": g.get_str("general.architecture").unwrap_or("unknown"),
        "parameters": g.tensors().iter().map(|t| t.n_elements()).sum::<u64>(),
        "tensor_types": types,
        "preset": preset.map(|(p, _)| p.name()),
        "seed": preset.map(|(_, s)| s),
    })
}

/// The `results` block: everything a replay must reproduce exactly. With a
/// tokenizer, `text` is the continuation as text (special tokens written
/// out, bytes that are not UTF-8 replaced).
pub fn results(
    pass: &Pass,
    isa: Isa,
    plan: &ExecutionPlan,
    tok: Option<&Tokenizer>,
) -> Result<Value, TokenizerError> {
    let kernels: Map<String, Value> = pass
        .kernels
        .iter()
        .map(|(id, n)| (id.clone(), json!(n)))
        .collect();
    let text = tok.map(|t| t.decode_text(&pass.tokens, true)).transpose()?;
    Ok(json!({
        "generated": pass.tokens,
        "generated_count": pass.tokens.len(),
        "text": text,
        "stop": match pass.stopped_by {
            Some(id) => json!({"reason": "eog", "token": id}),
            None => json!({"reason": "tokens", "token": null}),
        },
        "output_digest": pass.output_digest(),
        "kernels": kernels,
        "isa": isa.suffix(),
        "plan_digest": plan.digest(),
        "unused_tensors": plan.unused,
    }))
}

fn is_quantized(name: &str) -> bool {
    !matches!(name, "F32" | "F16" | "BF16" | "F64")
}

/// Semantic gates of `parci.perf-smoke` (run after its schema passed).
pub fn gate_perf_smoke(doc: &Value, out: &mut Findings) {
    let r = &doc["results"];
    let kernels = r["kernels"].as_object().cloned().unwrap_or_default();
    if kernels.is_empty() {
        out.error(
            "/results/kernels",
            "no kernel ran: the decode did no matrix work",
        );
    }
    let features: Vec<&str> = doc["host"]["cpu_features"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut quantized_kernel = false;
    for id in kernels.keys() {
        let ptr = format!(
            "/results/kernels/{}",
            id.replace('~', "~0").replace('/', "~1")
        );
        let Some(k) = Kernel::from_id(id) else {
            out.error(
                ptr,
                format!(
                    "kernel {id:?} is not a kernel of this build (known: {})",
                    known_ids()
                ),
            );
            continue;
        };
        let missing: Vec<&str> = k
            .isa
            .features()
            .iter()
            .copied()
            .filter(|f| !features.contains(f))
            .collect();
        if !missing.is_empty() {
            out.error(
                ptr,
                format!(
                    "kernel {id} needs CPU features {} that the receipt's host.cpu_features lacks",
                    missing.join(", ")
                ),
            );
        }
        quantized_kernel |= is_quantized(k.op.weights().name());
    }
    let quantized_model: Vec<&str> = doc["inputs"]["model"]["tensor_types"]
        .as_object()
        .map(|m| {
            m.keys()
                .map(String::as_str)
                .filter(|t| is_quantized(t))
                .collect()
        })
        .unwrap_or_default();
    if !quantized_model.is_empty() && !kernels.is_empty() && !quantized_kernel {
        out.error(
            "/results/kernels",
            format!(
                "the model has quantized tensors ({}) but no quantized-weight kernel ran",
                quantized_model.join(", ")
            ),
        );
    }
    let want = doc["inputs"]["tokens"].as_u64();
    let generated = r["generated"].as_array().map(|a| a.len() as u64);
    let eog = r["stop"]["reason"] == "eog";
    if eog && doc["inputs"]["stop_at_eog"] != true {
        out.error(
            "/results/stop",
            "decoding stopped at an end-of-generation token but inputs.stop_at_eog is not set",
        );
    }
    if eog && !(generated.unwrap_or(0) >= 1 && generated < want) {
        out.error(
            "/results/generated",
            format!(
                "an end-of-generation stop leaves between 1 and inputs.tokens - 1 tokens, found {}",
                generated.map_or("none".into(), |n| n.to_string())
            ),
        );
    }
    if !eog && want != generated {
        out.error(
            "/results/generated",
            format!(
                "{} tokens generated but inputs.tokens asks for {}",
                generated.map_or("no".into(), |n| n.to_string()),
                want.map_or("?".into(), |n| n.to_string())
            ),
        );
    }
    if r["generated_count"].as_u64() != generated {
        out.error(
            "/results/generated_count",
            "generated_count differs from the length of generated",
        );
    }
    let m = &doc["measurements"];
    if m["instructions"].is_object() {
        gate_instructions(doc, generated, out);
        return;
    }
    if m["paired"].is_object() {
        crate::bench::paired::gate(doc, out);
        return;
    }
    for key in ["prefill_tok_s", "decode_tok_s"] {
        match m[key].as_f64() {
            Some(v) if v.is_finite() && v > 0.0 => {}
            _ => out.error(
                format!("/measurements/{key}"),
                format!("{key} must be a finite rate above 0, found {}", m[key]),
            ),
        }
    }
    crate::bench::wall::gate(doc, out);
}

fn known_ids() -> String {
    let ids: Vec<String> = Kernel::all().into_iter().map(Kernel::id).collect();
    crate::findings::clip(&ids.join(", "), 200)
}

/// The model a receipt names: the recorded file when present with the same
/// sha256, else the fixture regenerated from its preset and seed.
pub fn locate_model(model: &Value) -> Result<PathBuf, String> {
    let path = model["path"].as_str().unwrap_or_default();
    let want = model["sha256"].as_str().unwrap_or_default();
    if !path.is_empty() && Path::new(path).is_file() {
        match crate::fsutil::hash_file(Path::new(path)) {
            Ok((_, got)) if got == want => return Ok(PathBuf::from(path)),
            _ => {}
        }
    }
    let preset = model["preset"].as_str().and_then(Preset::from_name);
    match (preset, model["seed"].as_u64()) {
        (Some(p), Some(seed)) => {
            let (p, _) = fixture::materialize(Path::new(MODELS_DIR), p, seed)
                .map_err(|e| format!("cannot regenerate the {} fixture: {e}", p.name()))?;
            let got = crate::fsutil::hash_file(&p).map_err(|e| e.to_string())?.1;
            if got != want {
                return Err(format!(
                    "the regenerated {} fixture (seed {seed}) hashes to {got}, the receipt says {want}",
                    model["preset"].as_str().unwrap_or("?")
                ));
            }
            Ok(p)
        }
        _ => Err(format!(
            "model {path:?} with sha256 {want} is not here and the receipt names no preset to regenerate it from"
        )),
    }
}

/// File gate of `parci.perf-smoke`: when the baseline the receipt was
/// compared with is still here (its recorded path, as given or beside the
/// receipt, with its recorded sha256), the comparison is recomputed from
/// the two receipts: the baseline's figure recorded in this one must be the
/// baseline's own. A baseline that is gone or was replaced is not checked.
pub fn gate_baseline_beside(doc: &Value, dir: &Path, out: &mut Findings) {
    let file = &doc["inputs"]["baseline"]["file"];
    let (Some(rel), Some(sha)) = (file["path"].as_str(), file["sha256"].as_str()) else {
        return;
    };
    // a receipt-sized regular file only: the path comes from the file under
    // verification
    let candidate = |p: &Path| {
        std::fs::metadata(p)
            .is_ok_and(|m| m.is_file() && m.len() <= crate::receipt::MAX_RECEIPT_BYTES)
            && crate::fsutil::hash_file(p).is_ok_and(|(_, got)| got == sha)
    };
    let found = [Path::new(rel).to_path_buf(), dir.join(rel)]
        .into_iter()
        .find(|p| candidate(p));
    let Some(path) = found else { return };
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let Ok(base) = serde_json::from_slice::<Value>(&bytes) else {
        return;
    };
    let (at, recorded, theirs) = if doc["measurements"]["instructions"].is_object() {
        (
            "/measurements/baseline/decode_instructions_per_token",
            &doc["measurements"]["baseline"]["decode_instructions_per_token"],
            &base["results"]["instructions"]["decode"]["instructions_per_token"],
        )
    } else {
        (
            "/measurements/baseline/decode_tok_s",
            &doc["measurements"]["baseline"]["decode_tok_s"],
            &base["measurements"]["decode_tok_s"],
        )
    };
    if recorded.as_f64() != theirs.as_f64() {
        out.error(
            at,
            format!(
                "{recorded} but the baseline receipt {} records {theirs}: the comparison was edited",
                path.display()
            ),
        );
    }
}

/// An instruction count: the decode counted instructions for as many
/// tokens as were generated, the prefill for the prompt's; per-token
/// figures are their quotients; the whole count (a measurement) holds the
/// own count (a result) of each phase.
fn gate_instructions(doc: &Value, generated: Option<u64>, out: &mut Findings) {
    let own = &doc["results"]["instructions"];
    let all = &doc["measurements"]["instructions"];
    if !own.is_object() {
        out.error(
            "/results/instructions",
            "an instruction count without the own-code count in results; re-measure with this perf-smoke",
        );
        return;
    }
    let prompt = doc["inputs"]["prompt"].as_array().map(|p| p.len() as u64);
    for (phase, tokens) in [
        ("prefill", prompt),
        ("decode", generated.filter(|&n| n > 0)),
    ] {
        let o = &own[phase];
        let n = o["instructions"].as_u64().unwrap_or(0);
        if phase == "decode" && n == 0 {
            out.error(
                "/results/instructions/decode/instructions",
                "the decode counted no instructions: callgrind did not see the decode phase",
            );
        }
        for (at, v) in [("results", o), ("measurements", &all[phase])] {
            if v["tokens"].as_u64() != tokens {
                out.error(
                    format!("/{at}/instructions/{phase}/tokens"),
                    format!("{phase} tokens differ from the tokens it ran (the prompt's, or those generated)"),
                );
            }
            let count = v["instructions"].as_u64().unwrap_or(0) as f64;
            let per = v["instructions_per_token"].as_f64().unwrap_or(f64::NAN);
            let want = count / v["tokens"].as_u64().unwrap_or(1).max(1) as f64;
            if (per - want).abs() > want.abs() * 1e-9 + 1e-6 {
                out.error(
                    format!("/{at}/instructions/{phase}/instructions_per_token"),
                    format!("{per} is not instructions / tokens ({want})"),
                );
            }
        }
        // the whole count's figures follow from callgrind's events
        let m = &all[phase];
        let events = crate::bench::callgrind::Costs(
            m["events"]
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                        .collect()
                })
                .unwrap_or_default(),
        );
        let tokens = m["tokens"].as_u64().unwrap_or(1).max(1) as f64;
        let cycles = events.estimated_cycles();
        for (field, recorded, want) in [
            (
                "instructions",
                m["instructions"].as_f64(),
                events.get("Ir") as f64,
            ),
            (
                "estimated_cycles",
                m["estimated_cycles"].as_f64(),
                cycles as f64,
            ),
            (
                "estimated_cycles_per_token",
                m["estimated_cycles_per_token"].as_f64(),
                cycles as f64 / tokens,
            ),
        ] {
            if !recorded.is_some_and(|v| (v - want).abs() <= want.abs() * 1e-12) {
                out.error(
                    format!("/measurements/instructions/{phase}/{field}"),
                    format!("{} but the recorded events give {want}", m[field]),
                );
            }
        }
        if all[phase]["instructions"].as_u64().unwrap_or(0) < n {
            out.error(
                format!("/measurements/instructions/{phase}/instructions"),
                format!("the whole count is below the own-code count in results ({n})"),
            );
        }
    }
}

/// The kernel mode that reruns on exactly the ISA a receipt recorded.
fn mode_for(isa: &str) -> Result<KernelMode, ReplayError> {
    let mode = match isa {
        "avx512vnni" | "avx512" => "avx512",
        other => other,
    };
    let m = KernelMode::parse(mode).map_err(|e| e.to_string())?;
    let got = m
        .resolve()
        .map_err(|e| ReplayError::Refused(format!("this host cannot run it: {e}")))?;
    if got.suffix() != isa {
        return Err(ReplayError::Refused(format!(
            "the receipt ran {isa} kernels, this host picks {} for that mode",
            got.suffix()
        )));
    }
    Ok(m)
}

/// Re-runs the workload a perf-smoke receipt records and returns the
/// results block it produces now (the caller compares).
pub fn replay(doc: &Value) -> Result<Value, ReplayError> {
    let inputs = &doc["inputs"];
    let path = locate_model(&inputs["model"])?;
    let shown = path.display();
    let mapped = MappedFile::open(&path).map_err(|e| format!("{shown}: {e}"))?;
    let g = mapped.parse().map_err(|e| format!("{shown}: {e}"))?;
    let ids = |v: &Value, what: &str| -> Result<Vec<u32>, String> {
        v.as_array()
            .ok_or(format!("{what} is missing"))?
            .iter()
            .map(|v| v.as_u64().and_then(|t| u32::try_from(t).ok()))
            .collect::<Option<_>>()
            .ok_or(format!("{what} holds a value that is not a token id"))
    };
    let prompt = ids(&inputs["prompt"], "inputs.prompt")?;
    let text = inputs["text"].as_str();
    let stop_at_eog = inputs["stop_at_eog"] == true;
    let tok = tokenizer(&g, text.is_some() || stop_at_eog).map_err(|e| format!("{shown}: {e}"))?;
    if let (Some(text), Some(t)) = (text, &tok) {
        let now = t
            .encode(text, true, true)
            .map_err(|e| format!("{shown}: {e}"))?;
        if now != prompt {
            return Err(format!(
                "inputs.text tokenizes to {now:?} with {shown}, but the receipt's inputs.prompt is {prompt:?}"
            )
            .into());
        }
    }
    let w = Workload {
        prompt,
        tokens: inputs["tokens"]
            .as_u64()
            .ok_or("inputs.tokens is missing")? as usize,
        threads: inputs["threads"].as_u64().unwrap_or(1).max(1) as usize,
        mode: mode_for(doc["results"]["isa"].as_str().unwrap_or("scalar"))?,
        stop: stop_ids(tok.as_ref(), stop_at_eog),
    };
    let plan = crate::graph::build(&g, workload::n_ctx(&w) as u64, true)
        .map_err(|e| format!("{shown}: {e}"))?;
    let model = Model::new(&g, &plan).map_err(|e| e.to_string())?;
    let pass = workload::run(&model, &w).map_err(|e| e.to_string())?;
    let isa = w.mode.resolve().map_err(|e| e.to_string())?;
    results(&pass, isa, &plan, tok.as_ref()).map_err(|e| format!("{shown}: {e}").into())
}

/// The file's tokenizer. `required` (a text prompt, an end-of-generation
/// stop): a file parci cannot tokenize is an error; otherwise the tokenizer
/// is used when it loads (to show the continuation as text) and skipped when
/// it does not.
pub fn tokenizer(g: &Gguf, required: bool) -> Result<Option<Tokenizer>, TokenizerError> {
    match Tokenizer::from_gguf(g) {
        Ok(t) => Ok(Some(t)),
        Err(e) if required => Err(e),
        Err(_) => Ok(None),
    }
}

/// The ids that end decoding: the end-of-generation set when asked for.
pub fn stop_ids(tok: Option<&Tokenizer>, stop_at_eog: bool) -> Vec<u32> {
    match tok {
        Some(t) if stop_at_eog => t.eog().to_vec(),
        _ => Vec::new(),
    }
}
