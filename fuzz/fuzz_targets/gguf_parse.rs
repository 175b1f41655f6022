//! Any bytes: the GGUF reader returns Ok or Err, never panics, and whatever it
//! accepts can be walked completely (every array element, every tensor slice).
//! When the metadata holds a tokenizer parci reads, encoding text (fixed
//! strings with special-token look-alikes, and the input's own last bytes)
//! and decoding the ids never panics either.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::gguf::{Gguf, Value};
use parci_core::tokenizer::Tokenizer;

fuzz_target!(|data: &[u8]| {
    if let Ok(g) = Gguf::parse(data) {
        for kv in g.kvs() {
            if let Value::Array(a) = kv.value {
                for v in a.iter() {
                    std::hint::black_box(v);
                }
            }
        }
        for t in g.tensors() {
            std::hint::black_box(t.data.iter().fold(0u8, |a, b| a ^ b));
        }
        if let Ok(tok) = Tokenizer::from_gguf(&g) {
            let tail = String::from_utf8_lossy(&data[data.len().saturating_sub(48)..]);
            for text in ["", " a<s>b  \n\t1234 'll", "<|im_start|>é🦀", &tail] {
                for special in [false, true] {
                    if let Ok(ids) = tok.encode(text, true, special) {
                        std::hint::black_box(tok.decode(&ids, true, true).ok());
                        std::hint::black_box(tok.decode_text(&ids, false).ok());
                    }
                }
            }
        }
    }
});
