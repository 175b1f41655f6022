//! Opens and parses one GGUF file, then prints the time it took and the peak
//! resident set (VmHWM), to show that tensor data is mapped, not copied.
//! Run: cargo run --release -p parci-core --example gguf_parse_rss -- FILE

use parci_core::gguf::MappedFile;
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: gguf_parse_rss FILE.gguf");
        std::process::exit(2);
    };
    let t = Instant::now();
    let f = MappedFile::open(path.as_ref()).unwrap_or_else(|e| panic!("open: {e}"));
    let g = f.parse().unwrap_or_else(|e| panic!("parse: {e}"));
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let data: u64 = g.tensors().iter().map(|t| t.size).sum();
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "VmHWM: unknown".into());
    println!(
        "parse {ms:.2} ms; file {} bytes; metadata {} bytes; tensor data {data} bytes; {hwm}",
        g.file_len(),
        g.data_offset
    );
}
