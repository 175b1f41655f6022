//! Semantic gates of the plan receipts (`parci.validate-parallel`,
//! `parci.status`, `parci.batch-create`): rules their schemas cannot express,
//! run by verify-receipt after the schema passed.

use crate::findings::Findings;
use serde_json::Value;
use std::collections::HashSet;

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn verdict(doc: &Value) -> &str {
    doc["verdict"]["status"].as_str().unwrap_or("")
}

/// Counts, listed findings, error/warning totals, cycles and the verdict agree.
pub fn gate_validate_consistent(doc: &Value, out: &mut Findings) {
    let r = &doc["results"];
    let by_rule: u64 = r["counts"]
        .as_object()
        .map_or(0, |m| m.values().map(num).sum());
    let (errors, warnings) = (num(&r["errors"]), num(&r["warnings"]));
    if errors + warnings != by_rule {
        out.error(
            "/results/counts",
            format!(
                "counts add up to {by_rule} but errors + warnings = {}",
                errors + warnings
            ),
        );
    }
    let listed = arr(&r["findings"]);
    let not_listed = num(&r["findings_not_listed"]);
    if listed.len() as u64 + not_listed != by_rule {
        out.error(
            "/results/findings",
            format!(
                "{} findings listed + {not_listed} not listed, but counts add up to {by_rule}",
                listed.len()
            ),
        );
    }
    if not_listed == 0 {
        let listed_errors = listed.iter().filter(|f| f["severity"] == "error").count() as u64;
        if listed_errors != errors {
            out.error(
                "/results/errors",
                format!("errors = {errors} but {listed_errors} listed findings are errors"),
            );
        }
    }
    if doc["inputs"]["strict"] == true && warnings > 0 {
        out.error(
            "/results/warnings",
            format!("--strict makes every finding an error, yet {warnings} warnings are counted"),
        );
    }
    let cycles = arr(&r["cycles"]);
    if cycles.len() as u64 != num(&r["counts"]["cycle"]) {
        out.error(
            "/results/cycles",
            format!(
                "{} cycles listed but counts.cycle = {}",
                cycles.len(),
                num(&r["counts"]["cycle"])
            ),
        );
    }
    for (i, c) in cycles.iter().enumerate() {
        let c = arr(c);
        if c.first() != c.last() {
            out.error(
                format!("/results/cycles/{i}"),
                "a cycle path must end where it starts",
            );
        }
    }
    let want = if errors > 0 {
        "fail"
    } else if warnings > 0 {
        "warn"
    } else {
        "pass"
    };
    if verdict(doc) != want {
        out.error(
            "/verdict/status",
            format!(
                "verdict is {:?} but there are {errors} errors and {warnings} warnings (expected {want:?})",
                verdict(doc)
            ),
        );
    }
}

/// Counts equal the statuses, levels cover every achievement, the next batch
/// is startable, `stalled` and the verdict agree, batches shrink with workers.
pub fn gate_status_consistent(doc: &Value, out: &mut Findings) {
    let r = &doc["results"];
    let total = num(&r["total"]);
    let statuses = r["statuses"].as_object();
    let n = statuses.map_or(0, |m| m.len()) as u64;
    if n != total {
        out.error(
            "/results/total",
            format!("total = {total} but {n} statuses are listed"),
        );
    }
    if let (Some(counts), Some(st)) = (r["counts"].as_object(), statuses) {
        for (k, v) in counts {
            let actual = st.values().filter(|s| s.as_str() == Some(k)).count() as u64;
            if num(v) != actual {
                out.error(
                    format!("/results/counts/{k}"),
                    format!("counts.{k} = {} but {actual} statuses say {k}", num(v)),
                );
            }
        }
    }
    let done = num(&r["counts"]["complete"]) + num(&r["counts"]["skipped"]);
    let pct = (done * 10_000 + total / 2)
        .checked_div(total)
        .map_or(100.0, |q| q as f64 / 100.0);
    if r["percent_complete"].as_f64() != Some(pct) {
        out.error(
            "/results/percent_complete",
            format!(
                "percent_complete is {} but {done} of {total} are done ({pct})",
                r["percent_complete"]
            ),
        );
    }
    let levels = arr(&r["levels"]);
    let width: u64 = levels.iter().map(|l| num(&l["width"])).sum();
    let ldone: u64 = levels.iter().map(|l| num(&l["done"])).sum();
    if width != total || ldone != done {
        out.error(
            "/results/levels",
            format!("levels hold {width} achievements ({ldone} done) but the plan has {total} ({done} done)"),
        );
    }
    let listed = arr(&r["blocked"]).len() as u64;
    let blocked_total = num(&r["blocked_total"]);
    if blocked_total < listed || (listed < 1000 && blocked_total != listed) {
        out.error(
            "/results/blocked_total",
            format!("blocked_total = {blocked_total} but {listed} blocked achievements are listed"),
        );
    }
    let blocked: HashSet<&str> = arr(&r["blocked"])
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    for (i, id) in arr(&r["next_batch"]).iter().enumerate() {
        let id = id.as_str().unwrap_or("");
        let st = statuses.and_then(|m| m.get(id)).and_then(Value::as_str);
        if !matches!(
            st,
            Some("not_started" | "subplan_created" | "execution_created")
        ) || blocked.contains(id)
        {
            out.error(
                format!("/results/next_batch/{i}"),
                format!(
                    "{id} is in the next batch but is {} or blocked",
                    st.unwrap_or("unknown")
                ),
            );
        }
    }
    let stalled = !r["stalled"].is_null();
    let should = arr(&r["next_batch"]).is_empty() && done < total;
    if stalled != should {
        out.error(
            "/results/stalled",
            format!(
                "stalled is {} but the next batch has {} achievements and {} remain",
                if stalled { "set" } else { "null" },
                arr(&r["next_batch"]).len(),
                total - done.min(total)
            ),
        );
    }
    let want = if stalled { "warn" } else { "pass" };
    if verdict(doc) != want {
        out.error(
            "/verdict/status",
            format!(
                "verdict is {:?} but the plan is {}stalled",
                verdict(doc),
                if stalled { "" } else { "not " }
            ),
        );
    }
    let remaining = total.saturating_sub(done);
    let mut last = 0;
    for (i, b) in arr(&r["batches"]).iter().enumerate() {
        let (w, n) = (num(&b["workers"]), num(&b["batches"]));
        if w <= last {
            out.error(
                format!("/results/batches/{i}/workers"),
                format!("worker counts must increase; {w} follows {last}"),
            );
        }
        if w * n < remaining || n > remaining {
            out.error(
                format!("/results/batches/{i}/batches"),
                format!("{n} batches of at most {w} cannot hold exactly the {remaining} remaining achievements"),
            );
        }
        last = w;
    }
    let p = &r["parallelization"];
    if let Some(m) = p["max_workers"].as_u64() {
        if num(&p["recommended_workers"]) > m {
            out.error(
                "/results/parallelization/recommended_workers",
                format!(
                    "recommends {} workers above --max-workers {m}",
                    num(&p["recommended_workers"])
                ),
            );
        }
    }
}

/// Created files are what the preview listed (same hashes), nothing is
/// created on a dry run or a refusal, no path is listed twice, and the verdict
/// passes exactly when everything listed was created (or it was a dry run).
pub fn gate_batch_consistent(doc: &Value, out: &mut Findings) {
    let r = &doc["results"];
    let dry = doc["inputs"]["dry_run"] == true;
    let planned: std::collections::HashMap<&str, &Value> = arr(&r["to_create"])
        .iter()
        .filter_map(|f| Some((f["path"].as_str()?, &f["sha256"])))
        .collect();
    let created = arr(&r["created"]);
    if dry && !created.is_empty() {
        out.error("/results/created", "a dry run created files");
    }
    if !arr(&r["refused"]).is_empty() && !created.is_empty() {
        out.error(
            "/results/created",
            "achievements were refused, yet files were created: it is all or nothing",
        );
    }
    for (i, c) in created.iter().enumerate() {
        let p = c["path"].as_str().unwrap_or("");
        match planned.get(p) {
            Some(h) if **h == c["sha256"] => {}
            Some(_) => out.error(
                format!("/results/created/{i}/sha256"),
                format!("{p} differs from what the preview listed"),
            ),
            None => out.error(
                format!("/results/created/{i}/path"),
                format!("{p} was created but the preview did not list it"),
            ),
        }
    }
    let mut seen = HashSet::new();
    for (i, f) in arr(&r["to_create"])
        .iter()
        .chain(arr(&r["skipped"]))
        .enumerate()
    {
        let p = f["path"].as_str().unwrap_or("");
        if !seen.insert(p) {
            out.error(
                "/results",
                format!("{p} is listed twice (entry {i} of to_create + skipped)"),
            );
        }
    }
    let complete = dry || created.len() == planned.len();
    let ok = complete && arr(&r["refused"]).is_empty();
    if (verdict(doc) == "pass") != ok {
        out.error(
            "/verdict/status",
            format!(
                "verdict is {:?} but {} of {} files were created{}",
                verdict(doc),
                created.len(),
                planned.len(),
                if arr(&r["refused"]).is_empty() {
                    ""
                } else {
                    " and achievements were refused"
                }
            ),
        );
    }
    if !r["commit"].is_null() && (doc["inputs"]["commit"] != true || created.is_empty()) {
        out.error(
            "/results/commit",
            "a commit is recorded without --commit or without created files",
        );
    }
}
