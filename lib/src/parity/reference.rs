//! What parity needs from the reference engine, in memory and as a file: the
//! token ids it read, its top-k logits and log-sum-exp at every position, and
//! optionally its greedy continuation. A file (`parity --write-reference`)
//! lets a build without llama.cpp compare against a saved run; it names the
//! model and text by sha256 so it cannot be used against others.

use super::metrics::RefPosition;
use serde_json::{json, Value};

/// The kind a reference file declares.
pub const KIND: &str = "parci.parity-reference";

/// One engine's run over a text.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    /// Which engine and version produced it.
    pub engine: String,
    /// sha256 of the model file it ran.
    pub model_sha256: String,
    /// The text and the ids the reference's tokenizer gave it.
    pub text: String,
    pub ids: Vec<u32>,
    /// One entry per position compared (position `i` predicts `ids[i + 1]`).
    pub positions: Vec<RefPosition>,
    /// Greedy continuation after the whole text, when asked for.
    pub greedy: Option<Vec<u32>>,
}

/// Why a reference file cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReferenceError {
    #[error("not a parity reference file: {0}")]
    Malformed(String),
    #[error("is a reference for model sha256 {found}…, this model is {want}…; write one for this model with --write-reference")]
    OtherModel { found: String, want: String },
    #[error("is a reference for another text (its ids differ from this text's at position {0}); pass the text it was written for or write a new one")]
    OtherText(usize),
}

impl Reference {
    /// The file form: canonical-enough JSON, one position per line.
    pub fn to_json(&self) -> String {
        let head = json!({
            "kind": KIND,
            "engine": self.engine,
            "model_sha256": self.model_sha256,
            "text": self.text,
            "ids": self.ids,
            "greedy": self.greedy,
        });
        let mut out = String::from("{\n");
        for (k, v) in head.as_object().expect("object") {
            out += &format!("  {}: {},\n", json!(k), v);
        }
        out += "  \"positions\": [\n";
        for (i, p) in self.positions.iter().enumerate() {
            // Logits in f32's shortest round-trip form (not widened to f64).
            let top: Vec<String> = p
                .top
                .iter()
                .map(|&(id, l)| format!("[{id},{l:?}]"))
                .collect();
            out += &format!(
                "    {{\"lse\": {}, \"full\": {}, \"top\": [{}]}}{}\n",
                json!(p.lse),
                p.full,
                top.join(","),
                if i + 1 == self.positions.len() {
                    ""
                } else {
                    ","
                }
            );
        }
        out += "  ]\n}\n";
        out
    }

    pub fn from_json(text: &str) -> Result<Reference, ReferenceError> {
        let bad = |m: &str| ReferenceError::Malformed(m.to_string());
        let v: Value = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        if v["kind"] != KIND {
            return Err(bad(&format!("\"kind\" is not {KIND:?}")));
        }
        let ids = |v: &Value, what: &str| -> Result<Vec<u32>, ReferenceError> {
            v.as_array()
                .ok_or_else(|| bad(&format!("{what} is not an array")))?
                .iter()
                .map(|x| x.as_u64().and_then(|t| u32::try_from(t).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(&format!("{what} holds a value that is not a token id")))
        };
        let positions = v["positions"]
            .as_array()
            .ok_or_else(|| bad("\"positions\" is not an array"))?
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let top = p["top"]
                    .as_array()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| bad(&format!("positions[{i}].top is not a non-empty array")))?
                    .iter()
                    .map(|e| {
                        let id = e[0].as_u64().and_then(|t| u32::try_from(t).ok());
                        let l = e[1].as_f64();
                        id.zip(l).map(|(id, l)| (id, l as f32))
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        bad(&format!(
                            "positions[{i}].top holds an entry that is not [id, logit]"
                        ))
                    })?;
                Ok(RefPosition {
                    top,
                    lse: p["lse"]
                        .as_f64()
                        .ok_or_else(|| bad(&format!("positions[{i}].lse is not a number")))?,
                    full: p["full"].as_bool().unwrap_or(false),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let s = |k: &str| -> Result<String, ReferenceError> {
            v[k].as_str()
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("\"{k}\" is not a string")))
        };
        Ok(Reference {
            engine: s("engine")?,
            model_sha256: s("model_sha256")?,
            text: s("text")?,
            ids: ids(&v["ids"], "\"ids\"")?,
            positions,
            greedy: match &v["greedy"] {
                Value::Null => None,
                g => Some(ids(g, "\"greedy\"")?),
            },
        })
    }

    /// Refuses a reference for another model or another token sequence.
    pub fn check(&self, model_sha256: &str, ids: &[u32]) -> Result<(), ReferenceError> {
        if self.model_sha256 != model_sha256 {
            return Err(ReferenceError::OtherModel {
                found: self.model_sha256.chars().take(12).collect(),
                want: model_sha256.chars().take(12).collect(),
            });
        }
        if let Some(i) = (0..self.ids.len().max(ids.len())).find(|&i| self.ids.get(i) != ids.get(i))
        {
            return Err(ReferenceError::OtherText(i));
        }
        Ok(())
    }

    /// The same run keeping, per position, the largest logits until they
    /// hold `mass` of the probability, at most `k` of them (at least one).
    pub fn truncated(&self, mass: f64, k: usize) -> Reference {
        let mut r = self.clone();
        for p in &mut r.positions {
            let mut held = 0.0;
            let keep = p
                .top
                .iter()
                .take(k.max(1))
                .take_while(|&&(_, l)| {
                    let go = held < mass;
                    held += (l as f64 - p.lse).exp();
                    go
                })
                .count()
                .max(1);
            if keep < p.top.len() {
                p.top.truncate(keep);
                p.full = false;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Reference {
        Reference {
            engine: "test".into(),
            model_sha256: "ab".repeat(32),
            text: "Hi \"there\"\n".into(),
            ids: vec![1, 2, 3],
            positions: vec![
                RefPosition::from_logits(&[0.5, -1.25, 3.0], 2),
                RefPosition::from_logits(&[1.0, 0.1, 0.2], 0),
            ],
            greedy: Some(vec![7, 8]),
        }
    }

    #[test]
    fn round_trips_and_refuses_other_models_and_texts() {
        let r = sample();
        let back = Reference::from_json(&r.to_json()).unwrap();
        assert_eq!(back, r);
        assert!(back.check(&"ab".repeat(32), &[1, 2, 3]).is_ok());
        assert!(matches!(
            back.check(&"cd".repeat(32), &[1, 2, 3]),
            Err(ReferenceError::OtherModel { .. })
        ));
        assert_eq!(
            back.check(&"ab".repeat(32), &[1, 2]),
            Err(ReferenceError::OtherText(2))
        );
        assert!(matches!(
            Reference::from_json("{}"),
            Err(ReferenceError::Malformed(_))
        ));
        let t = r.truncated(1.0, 1);
        assert_eq!(t.positions[1].top.len(), 1);
        assert!(!t.positions[1].full);
        // [1.0, 0.2, 0.1]: the largest holds 53.9%, the two largest 78.1%
        assert_eq!(r.truncated(0.5, 8).positions[1].top.len(), 1);
        assert_eq!(r.truncated(0.6, 8).positions[1].top.len(), 2);
        assert_eq!(r.truncated(0.6, 1).positions[1].top.len(), 1);
    }
}
