//! validate + status on plans of 10 000, 100 000 and 1 000 000 achievements
//! with three dependencies each (300 000 edges at 100 000).
//! Run: cargo bench -p parci-core --bench plan  (docs/performance.md)

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use parci_core::plan::fsstate::RunState;
use parci_core::plan::{status, validate, Dag, PlanDoc};
use std::path::Path;
use std::time::Duration;

#[path = "support/plan_gen.rs"]
mod plan_gen;
use plan_gen::plan_text;

fn bench(c: &mut Criterion) {
    let empty = std::env::temp_dir().join("parci-bench-plan-empty");
    std::fs::create_dir_all(&empty).unwrap();
    let mut g = c.benchmark_group("plan");
    g.sample_size(10).warm_up_time(Duration::from_secs(1));
    for n in [10_000usize, 100_000, 1_000_000] {
        let text = plan_text(n);
        g.bench_with_input(BenchmarkId::new("validate+status", n), &text, |b, text| {
            b.iter(|| {
                let doc = PlanDoc::from_bytes(Path::new("parallel.json"), text.as_bytes().to_vec());
                let ck = validate::check(&doc, &empty, &RunState::default(), false, None).unwrap();
                assert_eq!(ck.errors().count(), 0);
                let (p, d, o) = (
                    ck.plan.as_ref().unwrap(),
                    ck.dag.as_ref().unwrap(),
                    ck.order.as_ref().unwrap(),
                );
                let r = status::report(p, d, o, &ck.states, None);
                std::hint::black_box(r.next_batch.len())
            })
        });
        let doc = PlanDoc::from_bytes(Path::new("parallel.json"), text.into_bytes());
        let plan = doc.parse().unwrap();
        g.bench_with_input(BenchmarkId::new("dag-only", n), &plan, |b, plan| {
            b.iter(|| {
                let d = Dag::from_plan(plan);
                let o = d.topo_order().unwrap();
                let lv = d.levels(&o);
                std::hint::black_box((d.cyclic_components().len(), lv.len()))
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
