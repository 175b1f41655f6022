//! Any bytes: the GGUF reader returns Ok or Err, never panics, and whatever it
//! accepts can be walked completely (every array element, every tensor slice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::gguf::{Gguf, Value};

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
    }
});
