//! parci's tokenizer against llama.cpp's ids: for every string of
//! tests/data/tokenizer/corpus.json and every vocabulary there, encoding with
//! parse_special on and off, decoding (special tokens as text and dropped),
//! the special ids and the end-of-generation set must equal what the pinned
//! llama.cpp wrote (`bash scripts/tokenizer-golden.sh`, docs/tokenizer-golden.md).
//!
//! The two published models come from scripts/models.sh; the vocabulary-only
//! files (one per pre-tokenizer family) from llama.cpp's source tree that
//! scripts/llama-cpp.sh unpacks. scripts/test.sh runs both; a missing file
//! fails with the command that makes it.

mod common;

use parci_core::gguf::MappedFile;
use parci_core::tokenizer::Tokenizer;
use serde_json::Value;
use std::path::PathBuf;

fn data(name: &str) -> Value {
    let p = common::root().join("tests/data/tokenizer").join(name);
    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap()
}

/// Where the golden file's model lives, checked against its sha256.
fn model_file(golden: &Value) -> PathBuf {
    let name = golden["model"].as_str().unwrap();
    let (dir, how) = if name.starts_with("ggml-vocab-") {
        ("target/llama.cpp/src/models", "bash scripts/llama-cpp.sh")
    } else {
        ("target/parci/models", "bash scripts/models.sh")
    };
    let p = common::root().join(dir).join(name);
    assert!(
        p.is_file(),
        "{} is missing: run `{how}` (scripts/test.sh does)",
        p.display()
    );
    let (_, sha) = parci_core::fsutil::hash_file(&p).unwrap();
    assert_eq!(
        sha,
        golden["model_sha256"].as_str().unwrap(),
        "{} is not the file the golden data was made from: run `bash scripts/tokenizer-golden.sh`",
        p.display()
    );
    p
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn opt_id(v: &Value) -> Option<u32> {
    v.as_i64().filter(|&i| i >= 0).map(|i| i as u32)
}

fn check(golden_name: &str) {
    let corpus = data("corpus.json");
    let golden = data(golden_name);
    let path = model_file(&golden);
    let mapped = MappedFile::open(&path).unwrap();
    let g = mapped.parse().unwrap();
    let t = Tokenizer::from_gguf(&g).unwrap();

    let info = &golden["tokenizer"];
    assert_eq!(t.n_tokens() as u64, info["n_tokens"].as_u64().unwrap());
    assert_eq!(t.add_bos(), info["add_bos"].as_bool().unwrap());
    assert_eq!(t.bos(), opt_id(&info["bos"]), "bos");
    assert_eq!(t.eos(), opt_id(&info["eos"]), "eos");
    // info["eot"] is llama.cpp's pick among several candidates by hash-map
    // order (see lib/src/tokenizer/vocab.rs); parci does not expose one.
    assert_eq!(
        t.eog(),
        ids(&info["eog"]).as_slice(),
        "end-of-generation set"
    );

    let texts: Vec<&str> = corpus
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    let mut bad = Vec::new();
    let cases = golden["cases"].as_array().unwrap();
    assert_eq!(cases.len(), texts.len());
    for c in cases {
        let id = c["id"].as_u64().unwrap() as usize;
        let text = texts[id];
        let special = ids(&c["parse_special"]);
        let plain = ids(&c["plain"]);
        let got = t.encode(text, true, true).unwrap();
        if got != special {
            bad.push(format!(
                "#{id} {text:?} parse_special: parci {got:?}, llama.cpp {special:?}"
            ));
        }
        let got = t.encode(text, true, false).unwrap();
        if got != plain {
            bad.push(format!(
                "#{id} {text:?} plain: parci {got:?}, llama.cpp {plain:?}"
            ));
        }
        let want = match c["detokenized"].as_str() {
            Some(s) => s.as_bytes().to_vec(),
            None => hex(c["detokenized_hex"].as_str().unwrap()),
        };
        let got = t.decode(&special, true, true).unwrap();
        if got != want {
            bad.push(format!(
                "#{id} {text:?} detokenized: parci {:?}, llama.cpp {:?}",
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            ));
        }
        if let Some(s) = c["detokenized_nospecial"].as_str() {
            let got =
                String::from_utf8_lossy(&t.decode(&special, true, false).unwrap()).into_owned();
            if got != s {
                bad.push(format!(
                    "#{id} {text:?} detokenized_nospecial: parci {got:?}, llama.cpp {s:?}"
                ));
            }
        }
        let roundtrip = t.decode(&plain, true, true).unwrap() == text.as_bytes();
        if roundtrip != c["plain_roundtrip"].as_bool().unwrap() {
            bad.push(format!(
                "#{id} {text:?} plain round trip: parci {roundtrip}"
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{golden_name}: {} differences from llama.cpp; first ones:\n{}",
        bad.len(),
        bad.iter().take(25).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn smollm2_bpe_smollm() {
    check("smollm2.json");
}

#[test]
fn gemma3_sentencepiece() {
    check("gemma3.json");
}

#[test]
fn gpt2_pre_tokenizer() {
    check("vocab-gpt-2.json");
}

#[test]
fn llama3_pre_tokenizer() {
    check("vocab-llama-bpe.json");
}

#[test]
fn qwen2_pre_tokenizer() {
    check("vocab-qwen2.json");
}

#[test]
fn default_pre_tokenizer() {
    check("vocab-gpt-neox.json");
}

#[test]
fn starcoder_pre_tokenizer() {
    check("vocab-starcoder.json");
}

#[test]
fn falcon_pre_tokenizer() {
    check("vocab-falcon.json");
}

#[test]
fn mpt_pre_tokenizer() {
    check("vocab-mpt.json");
}

#[test]
fn sentencepiece_with_space_prefix() {
    check("vocab-llama-spm.json");
}

#[test]
fn sentencepiece_phi3_rstrip() {
    check("vocab-phi-3.json");
}
