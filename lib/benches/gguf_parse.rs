//! Open + parse of a GGUF file with a 262 144-entry vocabulary and 1 000 tensors.
//! Run: cargo bench -p parci-core --bench gguf_parse  (docs/performance.md)

use criterion::{criterion_group, criterion_main, Criterion};
use parci_core::gguf::{benchfile, MappedFile};
use std::path::Path;

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/parci/bench");
    let path = benchfile::ensure(&dir).expect("write the benchmark file");
    c.bench_function("gguf open+parse (262144 vocab, 1000 tensors)", |b| {
        b.iter(|| {
            let f = MappedFile::open(&path).unwrap();
            let g = f.parse().unwrap();
            assert_eq!(g.tensors().len(), benchfile::TENSORS);
            std::hint::black_box(g.kvs().len())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
