//! Any bytes as `parallel.json`: parsing and every validate check (schema,
//! duplicate IDs, unknown dependencies, cycles, line:column of each finding)
//! end in findings, never a panic; a plan that validates feeds `status`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parci_core::plan::fsstate::RunState;
use parci_core::plan::layout::Layout;
use parci_core::plan::model::PlanDoc;
use parci_core::plan::{status, validate};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let doc = PlanDoc::from_bytes(Path::new("parallel.json"), data.to_vec());
    // A folder with no marker files: the fuzzer explores the JSON, not the disk.
    let dir = Path::new("/nonexistent/parci-fuzz-plan");
    // Both marker layouts: their names and ID collisions are part of the checks.
    let layout = match data.len() % 3 {
        0 => None,
        1 => Some(Layout::Parci),
        _ => Some(Layout::ContextManager),
    };
    let Ok(c) = validate::check(&doc, dir, &RunState::default(), true, layout) else {
        return;
    };
    for f in &c.findings {
        std::hint::black_box(f);
    }
    if let (Some(plan), Some(dag), Some(order)) = (&c.plan, &c.dag, &c.order) {
        let r = status::report(plan, dag, order, &c.states, Some(4));
        std::hint::black_box(&r);
    }
});
