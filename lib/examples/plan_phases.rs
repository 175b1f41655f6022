//! Times each phase of validate + status on a generated plan of N achievements
//! with three dependencies each: `cargo run --release -p parci-core --example plan_phases -- 100000`.

use parci_core::plan::fsstate::RunState;
use parci_core::plan::{status, validate, Dag, PlanDoc};
use parci_core::receipt::canonical;
use std::path::Path;
use std::time::Instant;

#[path = "../benches/support/plan_gen.rs"]
mod plan_gen;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let text = plan_gen::plan_text(n);
    println!("{n} achievements, {} MB", text.len() / 1_000_000);
    let t = Instant::now();
    let v = canonical::parse_strict(text.as_bytes()).unwrap();
    println!(
        "strict JSON parse   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let schema: serde_json::Value =
        serde_json::from_str(parci_core::plan::model::PLAN_SCHEMA).unwrap();
    let val = jsonschema::options().build(&schema).unwrap();
    assert!(val.is_valid(&v));
    println!(
        "schema              {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let doc = PlanDoc::from_bytes(Path::new("parallel.json"), text.into_bytes());
    let plan = doc.parse().unwrap();
    println!(
        "parse (all three)   {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let g = Dag::from_plan(&plan);
    let o = g.topo_order().unwrap();
    println!(
        "dag + topo          {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let empty = tempfile::tempdir().unwrap();
    let t = Instant::now();
    let ck = validate::check(&doc, empty.path(), &RunState::default(), false, None).unwrap();
    println!(
        "check (with parse)  {:>8.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    let r = status::report(&plan, &g, &o, &ck.states, None);
    println!(
        "status report       {:>8.1} ms ({} batch stats)",
        t.elapsed().as_secs_f64() * 1e3,
        r.batches.len()
    );
}
